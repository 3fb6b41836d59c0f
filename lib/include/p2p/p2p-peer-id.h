/* p2p-peer-id.h: peer IDs (Ed25519 public keys) and their text form.
 *
 * Text form (docs/peer-id.md): lowercase RFC 4648 base32, no padding, of the
 * 32 key bytes followed by a 2-byte CRC-16/CCITT of the key: 55 characters.
 * The CRC detects every burst of up to 16 bits, so any single-character
 * change (5 bits) is always rejected, never parsed as another valid ID.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>
#include "p2p-macros.h"

G_BEGIN_DECLS

#define P2P_PEER_ID_KEY_LEN 32
#define P2P_PEER_ID_TEXT_LEN 55

typedef struct {
  guint8 key[P2P_PEER_ID_KEY_LEN];
} P2pPeerId;

#define P2P_TYPE_PEER_ID (p2p_peer_id_get_type ())
P2P_EXPORT GType p2p_peer_id_get_type (void);

/* Parses the text form. On error returns FALSE and sets P2P_ERROR_INVALID_ARGUMENT
 * with a message naming the problem (length, character and position, checksum). */
P2P_EXPORT gboolean p2p_peer_id_parse (const char *text, P2pPeerId *out, GError **error);
/* (transfer full): the 55-character text form. */
P2P_EXPORT char *p2p_peer_id_to_string (const P2pPeerId *id);
/* Writes the text form into @buf (at least P2P_PEER_ID_TEXT_LEN + 1 bytes). */
P2P_EXPORT void p2p_peer_id_format (const P2pPeerId *id, char buf[P2P_PEER_ID_TEXT_LEN + 1]);
P2P_EXPORT void p2p_peer_id_from_key (P2pPeerId *out, const guint8 key[P2P_PEER_ID_KEY_LEN]);
P2P_EXPORT gboolean p2p_peer_id_equal (const P2pPeerId *a, const P2pPeerId *b);
P2P_EXPORT guint p2p_peer_id_hash (const P2pPeerId *id);
P2P_EXPORT P2pPeerId *p2p_peer_id_copy (const P2pPeerId *id);
P2P_EXPORT void p2p_peer_id_free (P2pPeerId *id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (P2pPeerId, p2p_peer_id_free)

G_END_DECLS
