/* p2p-dht-signal.c: the sealed envelope of signaling messages carried by
 * the DHT (p2p-dht-signal.h). Pure: no I/O, no clock (the caller gives
 * the time).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-dht-signal.h"
#include "p2p/p2p-error.h"

#include <string.h>
#include <sodium.h>

GBytes *
p2p_dht_signal_seal (const P2pPeerId *to, gint64 expires, const char *message, gsize len,
    GError **error)
{
  guint8 curve_pk[crypto_box_PUBLICKEYBYTES];
  g_autoptr (GString) plain = g_string_new (P2P_DHT_SIGNAL_CONTEXT "\n");
  gsize sealed_len;
  guint8 *sealed;

  if (crypto_sign_ed25519_pk_to_curve25519 (curve_pk, to->key) != 0) {
    char id[P2P_PEER_ID_TEXT_LEN + 1];

    p2p_peer_id_format (to, id);
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "peer ID %s is not a usable public key: cannot seal a message to it", id);
    return NULL;
  }
  g_string_append_printf (plain, "%" G_GINT64_FORMAT "\n", expires);
  g_string_append_len (plain, message, len);
  sealed_len = plain->len + crypto_box_SEALBYTES;
  if (sealed_len > P2P_DHT_SIGNAL_VALUE_MAX) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "signaling message of %" G_GSIZE_FORMAT " bytes is too large for the DHT "
        "(at most %d sealed)", len, P2P_DHT_SIGNAL_VALUE_MAX);
    return NULL;
  }
  sealed = g_malloc (sealed_len);
  crypto_box_seal (sealed, (const guint8 *) plain->str, plain->len, curve_pk);
  return g_bytes_new_take (sealed, sealed_len);
}

char *
p2p_dht_signal_open (P2pIdentity *identity, const guint8 *data, gsize size, gint64 now,
    gsize *len, gint64 *expires, GError **error)
{
  const guint8 *ed_sk = p2p_identity_get_secret_key (identity);
  guint8 curve_pk[crypto_box_PUBLICKEYBYTES];
  guint8 curve_sk[crypto_box_SECRETKEYBYTES];
  g_autofree char *plain = NULL;
  gsize plain_len;
  const char *p, *nl;
  gint64 exp = 0;
  int rc;

  if (size > P2P_DHT_SIGNAL_VALUE_MAX) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "DHT signaling value of %" G_GSIZE_FORMAT " bytes (at most %d)", size,
        P2P_DHT_SIGNAL_VALUE_MAX);
    return NULL;
  }
  if (size < crypto_box_SEALBYTES) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED,
        "DHT signaling value too short to be sealed");
    return NULL;
  }
  plain_len = size - crypto_box_SEALBYTES;
  plain = g_malloc (plain_len + 1);
  /* our Ed25519 key pair as X25519 (the secret never leaves this frame);
   * a key of ours always converts (it was made by libsodium) */
  rc = crypto_sign_ed25519_pk_to_curve25519 (curve_pk,
      p2p_identity_get_peer_id (identity)->key);
  crypto_sign_ed25519_sk_to_curve25519 (curve_sk, ed_sk);
  if (rc == 0)
    rc = crypto_box_seal_open ((guint8 *) plain, data, size, curve_pk, curve_sk);
  sodium_memzero (curve_sk, sizeof curve_sk);
  if (rc != 0) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED,
        "DHT signaling value not sealed to this peer (or altered)");
    return NULL;
  }
  plain[plain_len] = '\0';
  if (memchr (plain, '\0', plain_len) != NULL
      || !g_str_has_prefix (plain, P2P_DHT_SIGNAL_CONTEXT "\n")) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "DHT signaling value without the " P2P_DHT_SIGNAL_CONTEXT " header (or with a NUL byte)");
    return NULL;
  }
  p = plain + strlen (P2P_DHT_SIGNAL_CONTEXT "\n");
  nl = strchr (p, '\n');
  if (nl == NULL || nl == p || nl - p > 18) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "DHT signaling value without an expiry line");
    return NULL;
  }
  for (const char *c = p; c < nl; c++) {
    if (!g_ascii_isdigit (*c)) {
      g_set_error_literal (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
          "DHT signaling value with a malformed expiry");
      return NULL;
    }
    exp = exp * 10 + (*c - '0');
  }
  if (exp < now || exp > now + P2P_DHT_SIGNAL_MAX_AHEAD_S) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "DHT signaling message %s (expiry %" G_GINT64_FORMAT ", now %" G_GINT64_FORMAT ")",
        exp < now ? "expired" : "dated too far ahead", exp, now);
    return NULL;
  }
  if (expires)
    *expires = exp;
  *len = plain_len - (nl + 1 - plain);
  return g_strndup (nl + 1, *len);
}
