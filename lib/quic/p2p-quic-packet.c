/* p2p-quic-packet.c: what the endpoint asks of a QUIC packet before any
 * session exists: is it a client Initial, its destination connection ID,
 * and the stateless Retry (address validation token check and the Retry
 * packet). Declared in p2p-quic-session.h.
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
