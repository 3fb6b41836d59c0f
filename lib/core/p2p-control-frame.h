/* p2p-control-frame.h (internal): the control-stream frames of the QUIC
 * session (docs/protocol.md §3.1-3.3, §4.1): HANDSHAKE, KEEPALIVE and
 * DISCONNECT and the disconnect codes. Only the session speaks them; the
 * media and message frames, and the capability registry a HANDSHAKE
 * advertises, are public (p2p/p2p-frame.h). Not installed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-frame.h"

G_BEGIN_DECLS

/* Frame types of the control stream (the other types are P2pFrameType's). */
typedef enum {
  P2P_FRAME_HANDSHAKE = 0x01,   /* version varint, capabilities varint */
  P2P_FRAME_KEEPALIVE = 0x02,   /* empty */
  P2P_FRAME_DISCONNECT = 0x03,  /* code varint, reason UTF-8 (rest of body) */
} P2pControlFrameType;

/* Disconnect codes */
typedef enum {
  P2P_DISCONNECT_NORMAL = 0,
  P2P_DISCONNECT_VERSION_MISMATCH = 1,
  P2P_DISCONNECT_PROTOCOL_ERROR = 2,
  P2P_DISCONNECT_NOT_ALLOWED = 3,
  P2P_DISCONNECT_LIMIT = 4,
} P2pDisconnectCode;

/* ---- encoding ---- */
/* HANDSHAKE of a peer speaking only @version. */
void p2p_frame_append_handshake (GByteArray *out, guint64 version, guint64 capabilities);
/* HANDSHAKE of a peer speaking @min_version to @max_version (the
 * min_version field is left out when they are equal). */
void p2p_frame_append_handshake_range (GByteArray *out, guint64 min_version,
    guint64 max_version, guint64 capabilities);
void p2p_frame_append_disconnect (GByteArray *out, guint64 code, const char *reason);

/* ---- body parsing (strict: every byte accounted for) ---- */
/* @version: the highest version the sender speaks. */
gboolean p2p_frame_parse_handshake (const guint8 *body, gsize len,
    guint64 *version, guint64 *capabilities, GError **error);
/* @min_version: the lowest (= @max_version when the field is absent). */
gboolean p2p_frame_parse_handshake_range (const guint8 *body, gsize len,
    guint64 *min_version, guint64 *max_version, guint64 *capabilities, GError **error);
/* @reason: (out) (transfer full) valid UTF-8. */
gboolean p2p_frame_parse_disconnect (const guint8 *body, gsize len,
    guint64 *code, char **reason, GError **error);

G_END_DECLS
