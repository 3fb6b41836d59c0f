/* p2p-json.h (internal): the one way to parse JSON text that came from a
 * peer or a server (rendezvous messages, ICE offer/answer payloads).
 *
 * json-glib 1.6 recurses once per nesting level and accepts a superset of
 * JSON ('single quotes', comments, ...), so a pre-scan that only counts
 * brackets can be desynchronised (a '"' inside single quotes or a comment
 * hides the brackets that follow). p2p_json_check() is a complete RFC 8259
 * recogniser (iterative, no recursion): anything it accepts is strict JSON,
 * and the depth it counts is the depth json-glib will recurse to.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Deepest nesting of arrays/objects accepted (the protocol needs 2). */
#define P2P_JSON_MAX_DEPTH 16
/* Largest JSON text accepted, bytes (= the rendezvous message limit). */
#define P2P_JSON_MAX_SIZE (64 * 1024)

/* TRUE if @text (@len bytes, need not be NUL-terminated) is one RFC 8259
 * JSON value: UTF-8 without NUL bytes, no comments, single quotes,
 * unquoted keys, trailing commas, NaN or other extensions; strings without
 * raw control characters, "\u0000" or unpaired surrogates; at most
 * P2P_JSON_MAX_DEPTH levels. Errors: LIMIT_EXCEEDED (over
 * P2P_JSON_MAX_SIZE), PROTOCOL (anything else), the message starting with
 * @what and naming the byte offset. */
gboolean p2p_json_check (const char *text, gsize len, const char *what, GError **error);

/* p2p_json_check() then json-glib: the root node (transfer full) or NULL
 * with the error of the check or "@what is not valid JSON: ..." (PROTOCOL). */
JsonNode *p2p_json_parse (const char *text, gsize len, const char *what, GError **error);

G_END_DECLS
