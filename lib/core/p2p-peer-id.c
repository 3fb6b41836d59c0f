/* p2p-peer-id.c: peer IDs (Ed25519 public keys) and their 55-character text
 * form: lowercase base32 of key(32) || CRC-16/CCITT-FALSE(key) big-endian
 * (docs/peer-id.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-peer-id.h"

#include <string.h>

#include "p2p/p2p-error.h"
#include "p2p-base32.h"
#include "p2p-checksum.h"

#define PEER_ID_RAW_LEN (P2P_PEER_ID_KEY_LEN + 2)

G_DEFINE_BOXED_TYPE (P2pPeerId, p2p_peer_id, p2p_peer_id_copy, p2p_peer_id_free)

/**
 * p2p_peer_id_parse:
 * @text: the 55-character text form (upper case accepted)
 * @out: (out caller-allocates): the parsed ID
 * @error: a #GError, P2P_ERROR_INVALID_ARGUMENT on failure
 *
 * Returns: (skip): TRUE if @text is a valid peer ID (bindings return the
 *   parsed ID and raise the error instead).
 */
gboolean
p2p_peer_id_parse (const char *text, P2pPeerId *out, GError **error)
{
  guint8 raw[PEER_ID_RAW_LEN + 1];
  gsize raw_len = 0;
  gsize len;
  guint16 crc;

  g_return_val_if_fail (out != NULL, FALSE);

  if (text == NULL) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "no peer ID given (NULL)");
    return FALSE;
  }
  len = strlen (text);
  if (len != P2P_PEER_ID_TEXT_LEN) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "a peer ID has %d characters, got %" G_GSIZE_FORMAT,
        P2P_PEER_ID_TEXT_LEN, len);
    return FALSE;
  }
  if (!p2p_base32_decode (text, len, raw, &raw_len, "peer ID", 0, error))
    return FALSE;
  g_assert (raw_len == PEER_ID_RAW_LEN);

  crc = p2p_crc16_ccitt_false (raw, P2P_PEER_ID_KEY_LEN);
  if (raw[P2P_PEER_ID_KEY_LEN] != (crc >> 8) || raw[P2P_PEER_ID_KEY_LEN + 1] != (crc & 0xff)) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "checksum mismatch: the peer ID has a typo");
    return FALSE;
  }
  memcpy (out->key, raw, P2P_PEER_ID_KEY_LEN);
  return TRUE;
}

/**
 * p2p_peer_id_format: (skip)
 * @id: a peer ID
 * @buf: (out caller-allocates): at least P2P_PEER_ID_TEXT_LEN + 1 bytes
 *
 * Writes the NUL-terminated text form of @id into @buf. Bindings use
 * p2p_peer_id_to_string().
 */
void
p2p_peer_id_format (const P2pPeerId *id, char buf[P2P_PEER_ID_TEXT_LEN + 1])
{
  guint8 raw[PEER_ID_RAW_LEN];
  guint16 crc;

  g_return_if_fail (id != NULL && buf != NULL);

  crc = p2p_crc16_ccitt_false (id->key, P2P_PEER_ID_KEY_LEN);
  memcpy (raw, id->key, P2P_PEER_ID_KEY_LEN);
  raw[P2P_PEER_ID_KEY_LEN] = crc >> 8;
  raw[P2P_PEER_ID_KEY_LEN + 1] = crc & 0xff;
  p2p_base32_encode_into (raw, sizeof raw, buf);
}

/**
 * p2p_peer_id_to_string:
 * @id: a peer ID
 *
 * Returns: (transfer full): the 55-character text form of @id.
 */
char *
p2p_peer_id_to_string (const P2pPeerId *id)
{
  char *buf;

  g_return_val_if_fail (id != NULL, NULL);

  buf = g_malloc (P2P_PEER_ID_TEXT_LEN + 1);
  p2p_peer_id_format (id, buf);
  return buf;
}

/**
 * p2p_peer_id_from_key:
 * @out: (out caller-allocates): the peer ID
 * @key: (array fixed-size=32): the 32-byte Ed25519 public key
 *
 * Makes the peer ID of a public key.
 */
void
p2p_peer_id_from_key (P2pPeerId *out, const guint8 key[P2P_PEER_ID_KEY_LEN])
{
  g_return_if_fail (out != NULL && key != NULL);
  memcpy (out->key, key, P2P_PEER_ID_KEY_LEN);
}

/**
 * p2p_peer_id_equal:
 * @a: a peer ID
 * @b: another peer ID
 *
 * Returns: TRUE when @a and @b are the same key.
 */
gboolean
p2p_peer_id_equal (const P2pPeerId *a, const P2pPeerId *b)
{
  g_return_val_if_fail (a != NULL && b != NULL, FALSE);
  return memcmp (a->key, b->key, P2P_PEER_ID_KEY_LEN) == 0;
}

/**
 * p2p_peer_id_hash:
 * @id: a peer ID
 *
 * Returns: a hash of @id, for #GHashTable with p2p_peer_id_equal().
 */
guint
p2p_peer_id_hash (const P2pPeerId *id)
{
  guint h;

  g_return_val_if_fail (id != NULL, 0);
  /* The key is uniformly random: its first bytes are a good hash. */
  memcpy (&h, id->key, sizeof h);
  return h;
}

/**
 * p2p_peer_id_copy:
 * @id: a peer ID
 *
 * Returns: (transfer full): a copy of @id, freed with p2p_peer_id_free().
 */
P2pPeerId *
p2p_peer_id_copy (const P2pPeerId *id)
{
  g_return_val_if_fail (id != NULL, NULL);
  return g_memdup2 (id, sizeof *id);
}

/**
 * p2p_peer_id_free:
 * @id: (nullable): a peer ID from p2p_peer_id_copy()
 */
void
p2p_peer_id_free (P2pPeerId *id)
{
  g_free (id);
}
