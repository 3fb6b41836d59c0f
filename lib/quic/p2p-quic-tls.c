/* p2p-quic-tls.c: the TLS 1.3 side of a QUIC session: gnutls configured
 * for ngtcp2 with the identity's Ed25519 key as a raw public key (RFC 7250)
 * on both sides, ALPN gst-p2p/1 mandatory, and the check of the peer's key:
 * the client compares it with the peer ID it dialed, the server learns the
 * dialer's peer ID and checks the allow-list. A refused key fails the
 * handshake (TLS alert) before any application data.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-tls.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-macros.h"

#include <gnutls/abstract.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#define PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:" \
  "+CHACHA20-POLY1305:-CTYPE-ALL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK:-SIGN-ALL:" \
  "+SIGN-EDDSA-ED25519:%DISABLE_TLS13_COMPAT_MODE"

static int
verify_peer_cb (gnutls_session_t tls)
{
  P2pQuicTls *s = p2p_quic_tls_from_ref (gnutls_session_get_ptr (tls));
  const gnutls_datum_t *certs;
  unsigned int n = 0;

  certs = gnutls_certificate_get_peers (tls, &n);
  return p2p_quic_tls_check_peer (s, gnutls_certificate_type_get2 (tls, GNUTLS_CTYPE_PEERS),
      certs, n);
}

int
p2p_quic_tls_check_peer (P2pQuicTls *s, gnutls_certificate_type_t type,
    const gnutls_datum_t *certs, unsigned int n)
{
  gnutls_pubkey_t pk = NULL;
  gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
  gnutls_datum_t x = { NULL, 0 };
  P2pPeerId got;
  char got_s[P2P_PEER_ID_TEXT_LEN + 1], exp_s[P2P_PEER_ID_TEXT_LEN + 1];
  int ret;

  g_clear_pointer (&s->auth_error, g_free);
  if (type != GNUTLS_CRT_RAWPK) {
    s->auth_error = g_strdup ("peer did not present a raw public key");
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  if (certs == NULL || n != 1) {
    s->auth_error = g_strdup ("peer presented no key");
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  if (gnutls_pubkey_init (&pk) < 0) {
    s->auth_error = g_strdup ("out of memory checking the peer's key");
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  ret = gnutls_pubkey_import (pk, &certs[0], GNUTLS_X509_FMT_DER);
  if (ret >= 0)
    ret = gnutls_pubkey_export_ecc_raw (pk, &curve, &x, NULL);
  gnutls_pubkey_deinit (pk);
  if (ret < 0 || curve != GNUTLS_ECC_CURVE_ED25519 || x.size != P2P_PEER_ID_KEY_LEN) {
    gnutls_free (x.data);
    s->auth_error = g_strdup ("peer presented a key that is not an Ed25519 key");
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  p2p_peer_id_from_key (&got, x.data);
  gnutls_free (x.data);
  p2p_peer_id_format (&got, got_s);

  if (!s->is_server) {
    if (!p2p_peer_id_equal (&got, &s->expected)) {
      p2p_peer_id_format (&s->expected, exp_s);
      s->auth_error = g_strdup_printf ("peer presented key %s, expected %s", got_s, exp_s);
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
  } else if (s->allowed != NULL) {
    gboolean ok = FALSE;

    for (guint i = 0; i < s->allowed->len && !ok; i++)
      ok = p2p_peer_id_equal (&got, g_ptr_array_index (s->allowed, i));
    if (!ok) {
      s->auth_error = g_strdup_printf ("peer %s is not in allowed-peers", got_s);
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
  }
  s->peer_id = got;
  s->have_peer_id = TRUE;
  return 0;
}

gboolean
p2p_quic_tls_init (P2pQuicTls *s, P2pIdentity *identity, ngtcp2_crypto_conn_ref *ref,
    GError **error)
{
  const guint8 *sk = p2p_identity_get_secret_key (identity);
  gnutls_datum_t seed = { (unsigned char *) sk, 32 };
  gnutls_datum_t pub = { (unsigned char *) sk + 32, 32 };
  gnutls_datum_t alpn = { (unsigned char *) P2P_ALPN, sizeof (P2P_ALPN) - 1 };
  gnutls_privkey_t priv = NULL;
  gnutls_pubkey_t pubkey = NULL;
  gnutls_pcert_st pcert;
  unsigned int flags;
  const char *err_pos = NULL;
  int ret;

  if ((ret = gnutls_certificate_allocate_credentials (&s->cred)) < 0)
    goto fail;
  gnutls_certificate_set_verify_function (s->cred, verify_peer_cb);
  if ((ret = gnutls_privkey_init (&priv)) < 0)
    goto fail;
  if ((ret = gnutls_privkey_import_ecc_raw (priv, GNUTLS_ECC_CURVE_ED25519, &pub, NULL,
              &seed)) < 0) {
    gnutls_privkey_deinit (priv);
    goto fail;
  }
  if ((ret = gnutls_pubkey_init (&pubkey)) < 0) {
    gnutls_privkey_deinit (priv);
    goto fail;
  }
  if ((ret = gnutls_pubkey_import_privkey (pubkey, priv, 0, 0)) < 0 ||
      (ret = gnutls_pcert_import_rawpk (&pcert, pubkey, 0)) < 0) {
    gnutls_pubkey_deinit (pubkey);
    gnutls_privkey_deinit (priv);
    goto fail;
  }
  /* pcert now owns pubkey; the credentials take pcert and priv. */
  if ((ret = gnutls_certificate_set_key (s->cred, NULL, 0, &pcert, 1, priv)) < 0) {
    gnutls_pcert_deinit (&pcert);
    gnutls_privkey_deinit (priv);
    goto fail;
  }

  flags = GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA | GNUTLS_ENABLE_RAWPK;
  flags |= s->is_server ? (GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET) : GNUTLS_CLIENT;
  if ((ret = gnutls_init (&s->session, flags)) < 0)
    goto fail;
  ret = s->is_server ? ngtcp2_crypto_gnutls_configure_server_session (s->session)
      : ngtcp2_crypto_gnutls_configure_client_session (s->session);
  if (ret != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "could not configure the QUIC TLS session (ngtcp2_crypto_gnutls)");
    return FALSE;
  }
  if ((ret = gnutls_priority_set_direct (s->session, PRIORITY, &err_pos)) < 0)
    goto fail;
  if ((ret = gnutls_credentials_set (s->session, GNUTLS_CRD_CERTIFICATE, s->cred)) < 0)
    goto fail;
  if (s->is_server)
    gnutls_certificate_server_set_request (s->session,
        s->ignore_client_key ? GNUTLS_CERT_IGNORE : GNUTLS_CERT_REQUIRE);
  if ((ret = gnutls_alpn_set_protocols (s->session, &alpn, 1, GNUTLS_ALPN_MANDATORY)) < 0)
    goto fail;
  gnutls_session_set_ptr (s->session, ref);
  return TRUE;

fail:
  g_set_error (error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
      "could not set up TLS with the identity key: %s", gnutls_strerror (ret));
  return FALSE;
}

void
p2p_quic_tls_forget_own_key (P2pQuicTls *s)
{
  gnutls_certificate_credentials_t cred = NULL;

  if (gnutls_certificate_allocate_credentials (&cred) < 0)
    return;
  gnutls_certificate_set_verify_function (cred, verify_peer_cb);
  if (gnutls_credentials_set (s->session, GNUTLS_CRD_CERTIFICATE, cred) < 0) {
    gnutls_certificate_free_credentials (cred);
    return;
  }
  gnutls_certificate_free_credentials (s->cred);
  s->cred = cred;
}

void
p2p_quic_tls_clear (P2pQuicTls *s)
{
  if (s->session)
    gnutls_deinit (s->session);
  s->session = NULL;
  if (s->cred)
    gnutls_certificate_free_credentials (s->cred);
  s->cred = NULL;
  g_clear_pointer (&s->allowed, g_ptr_array_unref);
  g_clear_pointer (&s->auth_error, g_free);
}
