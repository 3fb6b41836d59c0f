/* p2p-quic-packet.c: what the endpoint asks of a QUIC packet before any
 * session exists: is it a client Initial, its destination connection ID,
 * the stateless Retry (address validation token check and the Retry
 * packet), and the Stateless Reset (its token, derived from the identity,
 * and the packet). Declared in p2p-quic-session.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-session.h"

#include <string.h>
#include <sodium.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "p2p-ngtcp2-compat.h"

gboolean
p2p_quic_packet_is_initial (const guint8 *pkt, gsize len)
{
  ngtcp2_pkt_hd hd;

  if (pkt == NULL || len == 0)
    return FALSE;
  return ngtcp2_accept (&hd, pkt, len) == 0;
}

gboolean
p2p_quic_packet_get_dcid (const guint8 *pkt, gsize len, gsize short_dcid_len, guint8 *dcid,
    gsize *dcid_len)
{
  ngtcp2_version_cid vc;
  int rv;

  if (pkt == NULL || len == 0 || dcid == NULL || dcid_len == NULL)
    return FALSE;
  rv = ngtcp2_pkt_decode_version_cid (&vc, pkt, len, short_dcid_len);
  if (rv != 0 && rv != NGTCP2_ERR_VERSION_NEGOTIATION)
    return FALSE;
  if (vc.dcidlen > P2P_QUIC_MAX_CID_LEN)
    return FALSE;
  if (vc.dcidlen)
    memcpy (dcid, vc.dcid, vc.dcidlen);
  *dcid_len = vc.dcidlen;
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* stateless Retry */

P2pQuicTokenCheck
p2p_quic_retry_check (const guint8 *pkt, gsize len, const guint8 *secret, gconstpointer sa,
    gsize salen, guint64 timeout_ns, guint64 now, guint8 *odcid, gsize *odcid_len)
{
  ngtcp2_pkt_hd hd;
  ngtcp2_cid cid;

  g_return_val_if_fail (secret != NULL && sa != NULL, P2P_QUIC_TOKEN_INVALID);
  g_return_val_if_fail (odcid != NULL && odcid_len != NULL, P2P_QUIC_TOKEN_INVALID);

  if (pkt == NULL || len == 0 || ngtcp2_accept (&hd, pkt, len) != 0)
    return P2P_QUIC_TOKEN_INVALID;
  /* We never send NEW_TOKEN: anything but a Retry token is as good as none. */
  if (p2p_ng_pkt_hd_tokenlen (&hd) == 0 ||
      p2p_ng_pkt_hd_token (&hd)[0] != NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY)
    return P2P_QUIC_TOKEN_NONE;
  if (ngtcp2_crypto_verify_retry_token (&cid, p2p_ng_pkt_hd_token (&hd),
          p2p_ng_pkt_hd_tokenlen (&hd), secret,
          P2P_QUIC_RETRY_SECRET_LEN, hd.version, sa, (ngtcp2_socklen) salen, &hd.dcid,
          timeout_ns, now) != 0)
    return P2P_QUIC_TOKEN_INVALID;
  memcpy (odcid, cid.data, cid.datalen);
  *odcid_len = cid.datalen;
  return P2P_QUIC_TOKEN_VALID;
}

gsize
p2p_quic_retry_write (const guint8 *pkt, gsize len, const guint8 *secret, gconstpointer sa,
    gsize salen, guint64 now, guint8 *out, gsize outlen)
{
  guint8 token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
  ngtcp2_pkt_hd hd;
  ngtcp2_cid scid;
  ngtcp2_ssize tokenlen, n;

  g_return_val_if_fail (secret != NULL && sa != NULL && out != NULL, 0);

  if (pkt == NULL || len == 0 || ngtcp2_accept (&hd, pkt, len) != 0)
    return 0;
  if (sodium_init () < 0)
    g_error ("libsodium could not be initialised");
  scid.datalen = P2P_QUIC_SCID_LEN;
  randombytes_buf (scid.data, scid.datalen);
  tokenlen = ngtcp2_crypto_generate_retry_token (token, secret, P2P_QUIC_RETRY_SECRET_LEN,
      hd.version, sa, (ngtcp2_socklen) salen, &scid, &hd.dcid, now);
  if (tokenlen < 0)
    return 0;
  n = ngtcp2_crypto_write_retry (out, outlen, hd.version, &hd.scid, &scid, &hd.dcid, token,
      (size_t) tokenlen);
  return n > 0 ? (gsize) n : 0;
}

gsize
p2p_quic_refusal_write (const guint8 *pkt, gsize len, const char *reason, guint8 *out,
    gsize outlen)
{
  ngtcp2_pkt_hd hd;
  ngtcp2_ssize n;

  g_return_val_if_fail (reason != NULL && out != NULL, 0);

  if (pkt == NULL || len == 0 || ngtcp2_accept (&hd, pkt, len) != 0)
    return 0;
  n = ngtcp2_crypto_write_connection_close (out, outlen, hd.version, &hd.scid, &hd.dcid,
      NGTCP2_CONNECTION_REFUSED, (const uint8_t *) reason, strlen (reason));
  return n > 0 ? (gsize) n : 0;
}

/* Our connection IDs: a random part and a MAC of it under the endpoint's
 * key (cfg.cid_key), so that the endpoint can tell a connection ID that it
 * issued (a connection that is alive, closing or was just refused: never
 * reset) from one of an earlier run of the same peer (reset). Without the
 * key the IDs look random and unlinkable. */
#define CID_MAC_LEN 8

/* The first CID_MAC_LEN bytes of BLAKE2b-128 (16 bytes is libsodium's
 * shortest output). */
static void
cid_mac (const guint8 *key, const guint8 *cid, gsize len, guint8 *mac)
{
  guint8 full[crypto_generichash_BYTES_MIN];

  if (crypto_generichash (full, sizeof full, cid, len - CID_MAC_LEN, key,
          P2P_QUIC_CID_KEY_LEN) != 0)
    g_error ("BLAKE2b failed");
  memcpy (mac, full, CID_MAC_LEN);
}

void
p2p_quic_cid_new (const guint8 *key, guint8 *cid)
{
  randombytes_buf (cid, P2P_QUIC_SCID_LEN - CID_MAC_LEN);
  cid_mac (key, cid, P2P_QUIC_SCID_LEN, cid + P2P_QUIC_SCID_LEN - CID_MAC_LEN);
}

gboolean
p2p_quic_cid_is_ours (const guint8 *key, const guint8 *cid, gsize len)
{
  guint8 mac[CID_MAC_LEN];

  if (len != P2P_QUIC_SCID_LEN)
    return FALSE;
  cid_mac (key, cid, len, mac);
  return sodium_memcmp (mac, cid + len - CID_MAC_LEN, CID_MAC_LEN) == 0;
}

/* Stateless Reset (RFC 9000 section 10.3). The token of a connection ID
 * is BLAKE2b-128 of the endpoint's port and the ID, keyed with a key
 * derived from the identity's secret seed (crypto_kdf; the connection IDs
 * are all P2P_QUIC_SCID_LEN bytes, 10.3.2). The same peer restarted on the
 * same port computes it when the connection's state is gone, and tells the
 * other end at once instead of leaving it to time out. The port keeps one
 * listener of an identity from producing the tokens of another endpoint of
 * the same identity (another port, an ICE session: port 0), whose
 * connection IDs it cannot tell from foreign ones (RFC 9000 10.3.2: no
 * reset oracle). Nobody without the secret can compute one. */
void
p2p_quic_stateless_reset_token (P2pIdentity *identity, guint16 port, const guint8 *cid,
    gsize cid_len, guint8 *token)
{
  guint8 key[crypto_generichash_KEYBYTES];
  guint8 be_port[2] = { port >> 8, port & 0xff };
  crypto_generichash_state st;

  if (identity == NULL) {
    randombytes_buf (token, NGTCP2_STATELESS_RESET_TOKENLEN);
    return;
  }
  G_STATIC_ASSERT (crypto_kdf_KEYBYTES == crypto_sign_SEEDBYTES);
  crypto_kdf_derive_from_key (key, sizeof key, 1, "p2preset", p2p_identity_get_secret_key (identity));
  crypto_generichash_init (&st, key, sizeof key, NGTCP2_STATELESS_RESET_TOKENLEN);
  crypto_generichash_update (&st, be_port, sizeof be_port);
  crypto_generichash_update (&st, cid, cid_len);
  crypto_generichash_final (&st, token, NGTCP2_STATELESS_RESET_TOKENLEN);
  sodium_memzero (key, sizeof key);
}

gsize
p2p_quic_stateless_reset_write (P2pIdentity *identity, const guint8 *cid_key, guint16 port,
    const guint8 *pkt, gsize len, guint8 *out, gsize outlen)
{
  guint8 dcid[P2P_QUIC_MAX_CID_LEN], token[NGTCP2_STATELESS_RESET_TOKENLEN];
  guint8 rand[P2P_QUIC_STATELESS_RESET_LEN];
  gsize dcid_len = 0, n;
  ngtcp2_ssize rv;

  /* only for a short-header packet to a connection ID of ours that this
   * endpoint did not issue, and smaller than the packet (no loop between
   * two endpoints that lost their state, no amplification): 42 bytes, or
   * one less than the packet, at least the 21 of the shortest reset (so a
   * kept connection's ~40-byte PING gets one too) */
  if (identity == NULL || pkt == NULL || len <= P2P_QUIC_STATELESS_RESET_MIN_LEN
      || (pkt[0] & 0x80) != 0
      || !p2p_quic_packet_get_dcid (pkt, len, P2P_QUIC_SCID_LEN, dcid, &dcid_len)
      || dcid_len != P2P_QUIC_SCID_LEN || p2p_quic_cid_is_ours (cid_key, dcid, dcid_len))
    return 0;
  n = MIN (len - 1, P2P_QUIC_STATELESS_RESET_LEN);
  if (outlen < n)
    return 0;
  p2p_quic_stateless_reset_token (identity, port, dcid, dcid_len, token);
  randombytes_buf (rand, sizeof rand);
  /* (the first random byte becomes the header's) */
  rv = ngtcp2_pkt_write_stateless_reset (out, n, token, rand,
      n - NGTCP2_STATELESS_RESET_TOKENLEN);
  return rv > 0 ? (gsize) rv : 0;
}
