/* p2p-base32.h: internal helpers shared by peer IDs and tickets: lowercase
 * RFC 4648 base32 without padding, and p2p_describe_char(). Not installed.
 * (It includes p2p-checksum.h, the CRCs of the same text forms.)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include "p2p-checksum.h"

G_BEGIN_DECLS

/* Length of the base32 text of @n_bytes bytes (no padding). */
gsize p2p_base32_encoded_len (gsize n_bytes);

/* Writes the lowercase base32 text of @data into @out, which must hold
 * p2p_base32_encoded_len (@len) + 1 bytes (NUL-terminated). */
void p2p_base32_encode_into (const guint8 *data, gsize len, char *out);

/* (transfer full) lowercase base32 text of @data, no padding. */
char *p2p_base32_encode (const guint8 *data, gsize len);

/* Decodes @len characters of @text (a-z, A-Z, 2-7; no padding) into @out,
 * which must hold @len * 5 / 8 bytes; the decoded length is returned in
 * @out_len. The unused trailing bits must be zero. @what names the text in
 * error messages ("peer ID", "ticket"); @pos_offset is added to character
 * positions in messages (positions are 1-based). Errors are
 * P2P_ERROR_INVALID_ARGUMENT. */
gboolean p2p_base32_decode (const char *text, gsize len, guint8 *out, gsize *out_len,
    const char *what, gsize pos_offset, GError **error);

/* A printable rendering of character @c for error messages:
 * "'x'" for printable ASCII, "byte 0xNN" otherwise. */
char *p2p_describe_char (char c);

G_END_DECLS
