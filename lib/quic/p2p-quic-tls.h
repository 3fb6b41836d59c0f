/* p2p-quic-tls.h (internal): the TLS part of a P2pQuicSession: gnutls with
 * the identity's Ed25519 raw public key for ngtcp2, and the peer-key check.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include "p2p/p2p-identity.h"
#include "p2p/p2p-peer-id.h"

G_BEGIN_DECLS

typedef struct {
  gnutls_session_t session;
  gnutls_certificate_credentials_t cred;
  gboolean is_server;
  P2pPeerId expected;           /* client: the peer ID it dialed */
  GPtrArray *allowed;           /* server: P2pPeerId* allowed (owned), NULL = anyone */
  P2pPeerId peer_id;            /* the peer's key, once verified */
  gboolean have_peer_id;
  gboolean ignore_client_key;   /* tests only: a server that asks for no client key */
  char *auth_error;             /* why the peer's key was refused */
} P2pQuicTls;

/* Sets up @t (is_server, expected/allowed filled in by the caller) for
 * @identity; @ref becomes the gnutls session pointer that ngtcp2's crypto
 * callbacks use. CONNECTION_FAILED on a gnutls error. */
gboolean p2p_quic_tls_init (P2pQuicTls *t, P2pIdentity *identity, ngtcp2_crypto_conn_ref *ref,
    GError **error);
void p2p_quic_tls_clear (P2pQuicTls *t);
/* The peer-key check of the TLS verify callback: 0 if the peer's single
 * raw public key (@certs, @n, of certificate type @type) is an Ed25519 key
 * that @t accepts (then peer_id/have_peer_id are set), else
 * GNUTLS_E_CERTIFICATE_ERROR with the reason in auth_error. */
int p2p_quic_tls_check_peer (P2pQuicTls *t, gnutls_certificate_type_t type,
    const gnutls_datum_t *certs, unsigned int n);
/* Tests: @t presents no key of its own from now on (before the handshake). */
void p2p_quic_tls_forget_own_key (P2pQuicTls *t);
/* Provided by the owner of @ref (p2p-quic-session.c): its P2pQuicTls. */
P2pQuicTls *p2p_quic_tls_from_ref (ngtcp2_crypto_conn_ref *ref);

G_END_DECLS
