/* test-quic-session.c: the sans-I/O QUIC session, two sessions pumped in
 * memory by a tiny scheduler with one-way latency, optional loss and a
 * virtual clock (no sockets, no sleeps, bounded in steps and virtual time).
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>
#include <sodium.h>
#include <glib/gstdio.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include <p2p/p2p.h>
#include "p2p-quic-session.h"
#include "p2p-ngtcp2-mem.h"
#include "p2p-quic-tls.h"
#include <gnutls/abstract.h>

#define MS (G_GUINT64_CONSTANT (1000000))
#define SEC (1000 * MS)

typedef struct _Pair Pair;

typedef struct {
  Pair *pair;
  int idx;
  gboolean established;
  gboolean closed;
  GError *error;
  char *reason;
  guint n_messages;
  guint messages_at_close;
  gboolean hold_messages;       /* do not consume: receive backpressure */
  guint64 held;
  gboolean keep_messages;
  GPtrArray *messages;          /* GBytes* when keep_messages */
  GChecksum *rx_sum;
  gint64 *sum_us;
  guint64 rx_bytes;
  GPtrArray *datagrams;         /* GBytes* */
  guint writable_count;
  /* extra streams */
  gint64 stream_id;
  GByteArray *stream_rx;
  gboolean stream_fin;
  gboolean echo;                /* echo stream data back */
  GByteArray *echo_pending;
  gboolean echo_fin_pending;
  guint stream_resets;
} Side;

typedef struct {
  guint64 at;
  int dst;
  GBytes *pkt;
} Pkt;

struct _Pair {
  P2pIdentity *id[2];
  P2pQuicSessionConfig cfg[2];
  P2pPeerId expected;
  GPtrArray *allowed;
  P2pQuicSession *s[2];
  Side side[2];
  GQueue wire;
  guint64 now, latency;
  double loss;
  GRand *rand;
  gboolean cut;
  GBytes *first_initial;        /* the client's first packet, for replay */
  GBytes *last_to_server;       /* a recent real packet, for truncation */
  GError *server_error;
  guint8 buf[65536];
  guint64 packets;
  /* impairments of the stress test */
  double dup;                   /* probability a packet is delivered twice */
  guint64 jitter;               /* extra delay drawn in [0, jitter] per copy */
  gboolean close_server_at_start;
  gboolean server_sends_early;  /* queue messages as soon as the server exists */
  guint32 early_msgs;
};

/* ---- callbacks ---- */

static void
on_established (P2pQuicSession *s, gpointer ud)
{
  Side *side = ud;

  g_assert_false (side->established);
  side->established = TRUE;
}

static void
on_message (P2pQuicSession *s, GBytes *m, gpointer ud)
{
  Side *side = ud;
  gsize len;
  const guint8 *d = g_bytes_get_data (m, &len);

  g_assert_true (side->established);
  side->n_messages++;
  side->rx_bytes += len;
  if (side->hold_messages)
    side->held += len;
  else
    p2p_quic_session_message_consumed (s, len, 1);
  if (side->rx_sum && len) {
    gint64 t0 = g_get_monotonic_time ();

    g_checksum_update (side->rx_sum, d, len);
    *side->sum_us += g_get_monotonic_time () - t0;
  }
  if (side->keep_messages)
    g_ptr_array_add (side->messages, m);
  else
    g_bytes_unref (m);
}

static void
on_datagram (P2pQuicSession *s, const guint8 *data, gsize len, gpointer ud)
{
  Side *side = ud;

  g_assert_true (side->established);
  g_ptr_array_add (side->datagrams, g_bytes_new (data, len));
}

static void
on_writable (P2pQuicSession *s, gpointer ud)
{
  Side *side = ud;

  side->writable_count++;
}

static void
on_stream_opened (P2pQuicSession *s, gint64 id, gpointer ud)
{
  Side *side = ud;

  g_assert_true (side->established);
  side->stream_id = id;
  side->stream_fin = FALSE;
  g_byte_array_set_size (side->stream_rx, 0);
}

static void
echo_flush (Side *side)
{
  P2pQuicSession *s = side->pair->s[side->idx];

  if (side->echo_pending && side->echo_pending->len > 0) {
    g_autoptr (GError) err = NULL;
    gssize n = p2p_quic_session_stream_write (s, side->stream_id, side->echo_pending->data,
        side->echo_pending->len, &err);

    g_assert_no_error (err);
    g_byte_array_remove_range (side->echo_pending, 0, (guint) n);
  }
  if (side->echo_fin_pending && side->echo_pending->len == 0) {
    p2p_quic_session_stream_finish (s, side->stream_id);
    side->echo_fin_pending = FALSE;
  }
}

static void
on_stream_data (P2pQuicSession *s, gint64 id, const guint8 *data, gsize len, gboolean fin,
    gpointer ud)
{
  Side *side = ud;

  g_assert_cmpint (id, ==, side->stream_id);
  g_assert_false (side->stream_fin);
  if (id != side->stream_id)
    return;
  if (len)
    g_byte_array_append (side->stream_rx, data, len);
  side->stream_fin = fin;
  p2p_quic_session_stream_consumed (s, id, len);
  if (side->echo) {
    if (len)
      g_byte_array_append (side->echo_pending, data, len);
    side->echo_fin_pending |= fin;
    echo_flush (side);
  }
}

static void
on_stream_writable (P2pQuicSession *s, gint64 id, gpointer ud)
{
  Side *side = ud;

  if (side->echo)
    echo_flush (side);
}

static void
on_stream_reset (P2pQuicSession *s, gint64 id, guint64 app_error, gpointer ud)
{
  Side *side = ud;

  side->stream_resets++;
}

static void
on_closed (P2pQuicSession *s, const GError *error, const char *reason, gpointer ud)
{
  Side *side = ud;

  g_assert_false (side->closed);
  g_assert_cmpint (p2p_quic_session_get_state (s), ==, P2P_QUIC_STATE_CLOSED);
  side->closed = TRUE;
  side->error = error ? g_error_copy (error) : NULL;
  side->reason = g_strdup (reason);
  side->messages_at_close = side->n_messages;
  g_test_message ("side %d closed: %s (reason \"%s\")", side->idx,
      error ? error->message : "no error", reason);
}

static const P2pQuicSessionCallbacks callbacks = {
  .established = on_established,
  .message = on_message,
  .datagram = on_datagram,
  .writable = on_writable,
  .stream_opened = on_stream_opened,
  .stream_data = on_stream_data,
  .stream_writable = on_stream_writable,
  .stream_reset = on_stream_reset,
  .closed = on_closed,
};

/* ---- the pair and its scheduler ---- */

static Pair *
pair_new (void)
{
  Pair *p = g_new0 (Pair, 1);

  for (int i = 0; i < 2; i++) {
    p->id[i] = p2p_identity_new ();
    p2p_quic_session_config_init (&p->cfg[i]);
    p->side[i].pair = p;
    p->side[i].idx = i;
    p->side[i].messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
    p->side[i].datagrams = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
    p->side[i].stream_rx = g_byte_array_new ();
    p->side[i].echo_pending = g_byte_array_new ();
    p->side[i].stream_id = -1;
  }
  p->expected = *p2p_identity_get_peer_id (p->id[1]);
  p->now = 1 * SEC;
  p->latency = 10 * MS;
  p->rand = g_rand_new_with_seed (12345);
  g_queue_init (&p->wire);
  return p;
}

static void
pkt_free (gpointer data)
{
  Pkt *k = data;

  g_bytes_unref (k->pkt);
  g_free (k);
}

static void
pair_free (Pair *p)
{
  for (int i = 0; i < 2; i++) {
    p2p_quic_session_free (p->s[i]);
    g_object_unref (p->id[i]);
    g_clear_error (&p->side[i].error);
    g_free (p->side[i].reason);
    g_ptr_array_unref (p->side[i].messages);
    g_ptr_array_unref (p->side[i].datagrams);
    g_byte_array_unref (p->side[i].stream_rx);
    g_byte_array_unref (p->side[i].echo_pending);
    if (p->side[i].rx_sum)
      g_checksum_free (p->side[i].rx_sum);
  }
  g_queue_clear_full (&p->wire, pkt_free);
  if (p->allowed)
    g_ptr_array_unref (p->allowed);
  g_clear_pointer (&p->first_initial, g_bytes_unref);
  g_clear_pointer (&p->last_to_server, g_bytes_unref);
  g_clear_error (&p->server_error);
  g_rand_free (p->rand);
  g_free (p);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Pair, pair_free)

static void
pair_start (Pair *p)
{
  g_autoptr (GError) err = NULL;

  p->s[0] = p2p_quic_session_new_client (p->id[0], &p->expected, &p->cfg[0], &callbacks,
      &p->side[0], p->now, &err);
  g_assert_no_error (err);
  g_assert_nonnull (p->s[0]);
  g_assert_true (p2p_quic_session_is_client (p->s[0]));
  g_assert_cmpint (p2p_quic_session_get_state (p->s[0]), ==, P2P_QUIC_STATE_HANDSHAKING);
}

static gint
pkt_cmp (gconstpointer a, gconstpointer b, gpointer data)
{
  const Pkt *x = a, *y = b;

  /* stable: equal times keep their insertion order */
  return x->at > y->at ? 1 : 0;
}

static GBytes *make_bytes (gsize len, guint32 seed);

static void
pair_flush (Pair *p)
{
  for (int i = 0; i < 2; i++) {
    if (p->s[i] == NULL)
      continue;
    for (guint n = 0; n < 100000; n++) {
      gsize len = p2p_quic_session_write (p->s[i], p->buf, sizeof (p->buf), p->now);
      Pkt *k;

      if (len == 0)
        break;
      g_assert_cmpuint (len, <=, sizeof (p->buf));
      p->packets++;
      if (i == 0 && p->first_initial == NULL)
        p->first_initial = g_bytes_new (p->buf, len);
      if (p->cut || (p->loss > 0 && g_rand_double (p->rand) < p->loss))
        continue;
      for (guint copy = 0; copy < 2; copy++) {
        if (copy == 1 && !(p->dup > 0 && g_rand_double (p->rand) < p->dup))
          break;
        k = g_new0 (Pkt, 1);
        k->at = p->now + p->latency;
        if (p->jitter > 0)
          k->at += (guint64) (g_rand_double (p->rand) * p->jitter);
        k->dst = 1 - i;
        k->pkt = g_bytes_new (p->buf, len);
        if (p->jitter > 0)
          g_queue_insert_sorted (&p->wire, k, pkt_cmp, NULL);
        else
          g_queue_push_tail (&p->wire, k);
      }
    }
  }
}

static void
deliver (Pair *p, Pkt *k)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (k->pkt, &len);

  if (k->dst == 1 && p->s[1] == NULL) {
    if (!p2p_quic_packet_is_initial (d, len))
      return;
    p->s[1] = p2p_quic_session_new_server (p->id[1], d, len, &p->cfg[1], p->allowed,
        &callbacks, &p->side[1], p->now, &p->server_error);
    g_assert_no_error (p->server_error);
    g_assert_false (p2p_quic_session_is_client (p->s[1]));
    if (p->close_server_at_start)
      p2p_quic_session_close (p->s[1], P2P_DISCONNECT_NORMAL, NULL);
    /* 0.5-RTT data: reaches the client before its handshake is confirmed */
    for (guint32 i = 0; p->server_sends_early && i < p->early_msgs; i++) {
      g_autoptr (GBytes) m = make_bytes (1 + (i * 7919) % 3000, 1000 + i);

      g_assert_true (p2p_quic_session_send_message (p->s[1], m, NULL));
    }
    return;
  }
  if (k->dst == 1) {
    g_clear_pointer (&p->last_to_server, g_bytes_unref);
    p->last_to_server = g_bytes_ref (k->pkt);
  }
  if (p->s[k->dst])
    p2p_quic_session_receive (p->s[k->dst], d, len, p->now);
}

/* One scheduler step: flush, advance to the next event, process it.
 * Returns FALSE when nothing is scheduled any more. */
static gboolean
pair_step (Pair *p, guint64 limit)
{
  guint64 next = G_MAXUINT64;
  Pkt *k;

  pair_flush (p);
  if ((k = g_queue_peek_head (&p->wire)) != NULL)
    next = k->at;
  for (int i = 0; i < 2; i++)
    if (p->s[i])
      next = MIN (next, p2p_quic_session_get_deadline (p->s[i]));
  if (next == G_MAXUINT64)
    return FALSE;
  if (next > limit) {
    p->now = MAX (p->now, limit);
    return FALSE;
  }
  if (next > p->now)
    p->now = next;
  while ((k = g_queue_peek_head (&p->wire)) != NULL && k->at <= p->now) {
    g_queue_pop_head (&p->wire);
    deliver (p, k);
    pkt_free (k);
  }
  for (int i = 0; i < 2; i++)
    if (p->s[i] && p2p_quic_session_get_deadline (p->s[i]) <= p->now)
      p2p_quic_session_handle_timeout (p->s[i], p->now);
  return TRUE;
}

typedef gboolean (*PairPred) (Pair *p, gpointer data);

static gboolean
pair_run (Pair *p, PairPred pred, gpointer data, guint64 max_virtual)
{
  guint64 end = p->now + max_virtual;

  for (guint steps = 0; steps < 5000000; steps++) {
    if (pred && pred (p, data))
      return TRUE;
    if (p->now >= end || !pair_step (p, end))
      break;
  }
  pair_flush (p);
  return pred ? pred (p, data) : TRUE;
}

static gboolean
pred_established (Pair *p, gpointer data)
{
  return (p->side[0].established && p->side[1].established) || p->side[0].closed ||
      p->side[1].closed;
}

static gboolean
pred_both_closed (Pair *p, gpointer data)
{
  return p->side[0].closed && (p->side[1].closed || p->s[1] == NULL);
}

static gboolean
pred_any_closed (Pair *p, gpointer data)
{
  return p->side[0].closed || p->side[1].closed;
}

static gboolean
pred_messages (Pair *p, gpointer data)
{
  return p->side[1].n_messages >= GPOINTER_TO_UINT (data) || p->side[1].closed;
}

static void
pair_establish (Pair *p)
{
  pair_start (p);
  g_assert_true (pair_run (p, pred_established, NULL, 10 * SEC));
  g_assert_true (p->side[0].established);
  g_assert_true (p->side[1].established);
}

static GBytes *
make_bytes (gsize len, guint32 seed)
{
  guint8 *d = g_malloc (len + 8);
  guint64 x = seed * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15) + 1;

  for (gsize i = 0; i < len; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy (d + i, &x, 8);
  }
  return g_bytes_new_take (d, len);
}

/* ---- tests ---- */

static void
test_handshake (void)
{
  g_autoptr (Pair) p = pair_new ();
  P2pConnectionStats st;

  pair_establish (p);
  g_assert_true (p2p_peer_id_equal (p2p_quic_session_get_peer_id (p->s[0]),
          p2p_identity_get_peer_id (p->id[1])));
  g_assert_true (p2p_peer_id_equal (p2p_quic_session_get_peer_id (p->s[1]),
          p2p_identity_get_peer_id (p->id[0])));
  g_assert_cmpint (p2p_quic_session_get_state (p->s[0]), ==, P2P_QUIC_STATE_ESTABLISHED);
  g_assert_cmpint (p2p_quic_session_get_state (p->s[1]), ==, P2P_QUIC_STATE_ESTABLISHED);
  p2p_quic_session_get_stats (p->s[0], &st);
  /* client: 2 round trips of 20 ms (TLS + HANDSHAKE_DONE/Handshake frame) */
  g_assert_cmpuint (st.setup_time_us, >=, 20000);
  g_assert_cmpuint (st.setup_time_us, <, 200000);
  g_assert_cmpuint (st.rtt_us, >=, 19000);
  g_assert_cmpuint (st.packets_sent, >, 0);
  g_assert_cmpuint (st.bytes_received, >, 0);
  p2p_quic_session_get_stats (p->s[1], &st);
  g_assert_cmpuint (st.setup_time_us, >, 0);
  g_assert_cmpuint (p2p_quic_session_get_send_queue_high (p->s[0]), ==, 4 * 1024 * 1024);
}

static void
test_wrong_key (void)
{
  g_autoptr (Pair) p = pair_new ();
  g_autoptr (P2pIdentity) other = p2p_identity_new ();
  g_autoptr (GBytes) m = make_bytes (100, 1);
  g_autofree char *want = p2p_identity_dup_peer_id_string (other);
  g_autofree char *got = p2p_identity_dup_peer_id_string (p->id[1]);

  p->expected = *p2p_identity_get_peer_id (other);
  pair_start (p);
  g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
  g_assert_true (pair_run (p, pred_both_closed, NULL, 10 * SEC));
  g_assert_false (p->side[0].established);
  g_assert_false (p->side[1].established);
  g_assert_error (p->side[0].error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_assert_nonnull (strstr (p->side[0].error->message, want));
  g_assert_nonnull (strstr (p->side[0].error->message, got));
  g_assert_nonnull (strstr (p->side[0].error->message, "expected"));
  g_assert_error (p->side[1].error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_assert_cmpuint (p->side[0].n_messages + p->side[1].n_messages, ==, 0);
  /* closing period ends; nothing scheduled any more */
  pair_run (p, NULL, NULL, 10 * SEC);
  g_assert_cmpuint (p2p_quic_session_get_deadline (p->s[0]), ==, G_MAXUINT64);
}

/* Issue 11, defence in depth: a client that presents no key (TLS error
 * path) is refused with AUTHENTICATION_FAILED; the server never reports
 * ESTABLISHED without the client's verified key. */
static void
test_client_without_key (void)
{
  g_autoptr (Pair) p = pair_new ();
  g_autoptr (GBytes) m = make_bytes (100, 1);

  pair_start (p);
  p2p_quic_session_test_forget_key (p->s[0]);
  g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
  g_assert_true (pair_run (p, pred_both_closed, NULL, 10 * SEC));
  g_assert_false (p->side[0].established);
  g_assert_false (p->side[1].established);
  g_assert_error (p->side[1].error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_assert_error (p->side[0].error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_assert_null (p2p_quic_session_get_peer_id (p->s[1]));
  g_assert_cmpuint (p->side[1].n_messages, ==, 0);
  g_test_message ("server: %s; client: %s", p->side[1].error->message,
      p->side[0].error->message);
}

/* The same refusal one layer up: a server whose TLS did not ask for the
 * client's key (a misconfiguration) still never reports ESTABLISHED. */
static void
test_server_requires_client_key (void)
{
  g_autoptr (Pair) p = pair_new ();
  g_autoptr (GBytes) m = make_bytes (100, 1);

  p->cfg[1].test_ignore_client_key = TRUE;
  pair_start (p);
  g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
  g_assert_true (pair_run (p, pred_both_closed, NULL, 10 * SEC));
  g_assert_false (p->side[1].established);
  g_assert_error (p->side[1].error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_assert_nonnull (strstr (p->side[1].error->message, "presented no key"));
  g_assert_null (p2p_quic_session_get_peer_id (p->s[1]));
  g_assert_nonnull (p->side[0].error);
  g_assert_cmpuint (p->side[1].n_messages, ==, 0);
}

/* DER SubjectPublicKeyInfo of a fresh key of @algo (@bits) into @out. */
static void
spki_of_new_key (gnutls_pk_algorithm_t algo, unsigned int bits, gnutls_datum_t *out)
{
  gnutls_privkey_t priv;
  gnutls_pubkey_t pub;

  g_assert_cmpint (gnutls_privkey_init (&priv), ==, 0);
  g_assert_cmpint (gnutls_privkey_generate (priv, algo, bits, 0), ==, 0);
  g_assert_cmpint (gnutls_pubkey_init (&pub), ==, 0);
  g_assert_cmpint (gnutls_pubkey_import_privkey (pub, priv, 0, 0), ==, 0);
  g_assert_cmpint (gnutls_pubkey_export2 (pub, GNUTLS_X509_FMT_DER, out), ==, 0);
  gnutls_pubkey_deinit (pub);
  gnutls_privkey_deinit (priv);
}

static void
assert_key_refused (P2pQuicTls *t, gnutls_certificate_type_t type, const gnutls_datum_t *certs,
    unsigned int n, const char *why)
{
  g_assert_cmpint (p2p_quic_tls_check_peer (t, type, certs, n), ==, GNUTLS_E_CERTIFICATE_ERROR);
  g_assert_nonnull (t->auth_error);
  g_assert_nonnull (strstr (t->auth_error, why));
  g_assert_false (t->have_peer_id);
}

/* Issue 11, defence in depth: every error path of the TLS peer-key check. */
static void
test_peer_key_check (void)
{
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  g_autoptr (P2pIdentity) other = p2p_identity_new ();
  const guint8 *sk = p2p_identity_get_secret_key (id);
  gnutls_datum_t raw = { (unsigned char *) sk + 32, 32 };
  gnutls_datum_t ecdsa = { NULL, 0 }, ed = { NULL, 0 }, two[2];
  guint8 junk[44] = { 0x30, 0x2a, 0x30, 0x05 };
  gnutls_datum_t junkd = { junk, sizeof junk };
  gnutls_pubkey_t pub;
  P2pQuicTls t = { 0 };

  t.is_server = TRUE;
  /* the peer's own Ed25519 key as a SubjectPublicKeyInfo */
  g_assert_cmpint (gnutls_pubkey_init (&pub), ==, 0);
  g_assert_cmpint (gnutls_pubkey_import_ecc_raw (pub, GNUTLS_ECC_CURVE_ED25519, &raw, NULL), ==,
      0);
  g_assert_cmpint (gnutls_pubkey_export2 (pub, GNUTLS_X509_FMT_DER, &ed), ==, 0);
  gnutls_pubkey_deinit (pub);
  spki_of_new_key (GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), &ecdsa);

  assert_key_refused (&t, GNUTLS_CRT_X509, &ed, 1, "did not present a raw public key");
  assert_key_refused (&t, GNUTLS_CRT_RAWPK, NULL, 0, "presented no key");
  two[0] = ed;
  two[1] = ed;
  assert_key_refused (&t, GNUTLS_CRT_RAWPK, two, 2, "presented no key");
  assert_key_refused (&t, GNUTLS_CRT_RAWPK, &ecdsa, 1, "not an Ed25519 key");
  assert_key_refused (&t, GNUTLS_CRT_RAWPK, &junkd, 1, "not an Ed25519 key");
  /* a client dialing someone else refuses this key */
  t.is_server = FALSE;
  t.expected = *p2p_identity_get_peer_id (other);
  assert_key_refused (&t, GNUTLS_CRT_RAWPK, &ed, 1, "expected");
  /* the right Ed25519 key passes and names the peer */
  t.expected = *p2p_identity_get_peer_id (id);
  g_assert_cmpint (p2p_quic_tls_check_peer (&t, GNUTLS_CRT_RAWPK, &ed, 1), ==, 0);
  g_assert_true (t.have_peer_id);
  g_assert_true (p2p_peer_id_equal (&t.peer_id, p2p_identity_get_peer_id (id)));
  gnutls_free (ecdsa.data);
  gnutls_free (ed.data);
  p2p_quic_tls_clear (&t);
}

static void
test_allow_list (void)
{
  g_autoptr (Pair) p = pair_new ();
  g_autoptr (P2pIdentity) other = p2p_identity_new ();
  g_autoptr (GBytes) m = make_bytes (100, 1);
  g_autofree char *client = p2p_identity_dup_peer_id_string (p->id[0]);

  p->allowed = g_ptr_array_new_with_free_func ((GDestroyNotify) p2p_peer_id_free);
  g_ptr_array_add (p->allowed, p2p_peer_id_copy (p2p_identity_get_peer_id (other)));
  pair_start (p);
  g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
  g_assert_true (pair_run (p, pred_both_closed, NULL, 10 * SEC));
  g_assert_false (p->side[0].established);
  g_assert_false (p->side[1].established);
  g_assert_error (p->side[1].error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_assert_nonnull (strstr (p->side[1].error->message, "not in allowed-peers"));
  g_assert_nonnull (strstr (p->side[1].error->message, client));
  g_assert_error (p->side[0].error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_assert_nonnull (strstr (p->side[0].error->message, "not in allowed-peers"));
  g_assert_cmpuint (p->side[1].n_messages, ==, 0);

  /* and a listed client is accepted */
  {
    g_autoptr (Pair) q = pair_new ();

    q->allowed = g_ptr_array_new_with_free_func ((GDestroyNotify) p2p_peer_id_free);
    g_ptr_array_add (q->allowed, p2p_peer_id_copy (p2p_identity_get_peer_id (other)));
    g_ptr_array_add (q->allowed, p2p_peer_id_copy (p2p_identity_get_peer_id (q->id[0])));
    pair_establish (q);
  }
}

static void
test_message_sizes (void)
{
  g_autoptr (Pair) p = pair_new ();
  gsize sizes[] = { 0, 1, P2P_MAX_MESSAGE_SIZE };
  g_autoptr (GBytes) big = make_bytes (P2P_MAX_MESSAGE_SIZE + 1, 9);
  g_autoptr (GError) err = NULL;

  p->side[1].keep_messages = TRUE;
  pair_establish (p);
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    g_autoptr (GBytes) m = make_bytes (sizes[i], i);

    g_assert_true (p2p_quic_session_send_message (p->s[0], m, &err));
    g_assert_no_error (err);
  }
  g_assert_false (p2p_quic_session_send_message (p->s[0], big, &err));
  g_assert_error (err, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_assert_nonnull (strstr (err->message, "1048577"));
  g_assert_nonnull (strstr (err->message, "1048576"));
  g_assert_true (pair_run (p, pred_messages, GUINT_TO_POINTER (3), 10 * SEC));
  g_assert_cmpuint (p->side[1].messages->len, ==, 3);
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    g_autoptr (GBytes) m = make_bytes (sizes[i], i);

    g_assert_true (g_bytes_equal (m, g_ptr_array_index (p->side[1].messages, i)));
  }
  /* everything acknowledged: nothing queued */
  pair_run (p, NULL, NULL, 1 * SEC);
  g_assert_cmpuint (p2p_quic_session_get_send_queued (p->s[0]), ==, 0);
}

static void
test_order (void)
{
  g_autoptr (Pair) p = pair_new ();

  p->side[1].keep_messages = TRUE;
  pair_establish (p);
  for (guint32 i = 0; i < 1000; i++) {
    g_autoptr (GBytes) m = make_bytes (1 + (i * 37) % 3000, i);

    g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
  }
  /* and the other direction at the same time */
  for (guint32 i = 0; i < 10; i++) {
    g_autoptr (GBytes) m = make_bytes (10, i);

    g_assert_true (p2p_quic_session_send_message (p->s[1], m, NULL));
  }
  g_assert_true (pair_run (p, pred_messages, GUINT_TO_POINTER (1000), 20 * SEC));
  g_assert_true (pair_run (p, NULL, NULL, 1 * SEC));
  g_assert_cmpuint (p->side[0].n_messages, ==, 10);
  for (guint32 i = 0; i < 1000; i++) {
    g_autoptr (GBytes) m = make_bytes (1 + (i * 37) % 3000, i);

    g_assert_true (g_bytes_equal (m, g_ptr_array_index (p->side[1].messages, i)));
  }
}

typedef struct {
  guint64 total, sent, msg_size;
  GChecksum *tx_sum;
  guint32 seq;
  gboolean blocked;
  guint writable_seen;
  gint64 test_us;               /* wall time spent generating and hashing */
} Bulk;

static gboolean
pred_bulk (Pair *p, gpointer data)
{
  Bulk *b = data;
  P2pQuicSession *s = p->s[0];

  /* the test's producer: fill up to the high watermark, then wait for
   * writable() (backpressure as an owner would apply it) */
  if (b->blocked && p->side[0].writable_count != b->writable_seen)
    b->blocked = FALSE;
  while (!b->blocked && b->sent < b->total) {
    gsize n = (gsize) MIN (b->msg_size, b->total - b->sent);
    gint64 t0 = g_get_monotonic_time ();
    g_autoptr (GBytes) m = make_bytes (n, b->seq++);

    g_checksum_update (b->tx_sum, g_bytes_get_data (m, NULL), n);
    b->test_us += g_get_monotonic_time () - t0;
    g_assert_true (p2p_quic_session_send_message (s, m, NULL));
    b->sent += n;
    if (p2p_quic_session_get_send_queued (s) >= p2p_quic_session_get_send_queue_high (s)) {
      b->blocked = TRUE;
      b->writable_seen = p->side[0].writable_count;
    }
  }
  return p->side[1].rx_bytes >= b->total || p->side[1].closed || p->side[0].closed;
}

static void
run_bulk (guint64 total, double loss, gsize udp, const char *label)
{
  g_autoptr (Pair) p = pair_new ();
  Bulk b = { total, 0, 64 * 1024, g_checksum_new (G_CHECKSUM_SHA256), 0, FALSE, 0, 0 };
  double net;
  gint64 t0;
  double secs;
  P2pConnectionStats st;

  p->cfg[0].max_udp_payload = p->cfg[1].max_udp_payload = udp;
  /* a live peer, even on a lossy link, never trips the liveness timeout */
  p->cfg[0].liveness_timeout_ns = p->cfg[1].liveness_timeout_ns = 1 * SEC;
  p->side[1].rx_sum = g_checksum_new (G_CHECKSUM_SHA256);
  p->side[1].sum_us = &b.test_us;
  pair_establish (p);
  p->loss = loss;
  t0 = g_get_monotonic_time ();
  g_assert_true (pair_run (p, pred_bulk, &b, 600 * SEC));
  secs = (g_get_monotonic_time () - t0) / 1e6;
  net = secs - b.test_us / 1e6;
  g_assert_cmpuint (p->side[1].rx_bytes, ==, total);
  g_assert_cmpstr (g_checksum_get_string (b.tx_sum), ==,
      g_checksum_get_string (p->side[1].rx_sum));
  p2p_quic_session_get_stats (p->s[0], &st);
  g_test_message ("%s: %" G_GUINT64_FORMAT " MiB in %.3f s wall (%.1f MB/s; %.1f MB/s "
      "without the test's data generation and SHA-256), %.3f s virtual, "
      "rtt %" G_GUINT64_FORMAT " us, cwnd %" G_GUINT64_FORMAT ", sent %" G_GUINT64_FORMAT
      " packets, lost %" G_GUINT64_FORMAT ", retransmitted %" G_GUINT64_FORMAT, label,
      total >> 20, secs, total / 1e6 / secs, total / 1e6 / net, (p->now - SEC) / 1e9, st.rtt_us,
      st.cwnd,
      st.packets_sent, st.packets_lost, st.packets_retransmitted);
  if (loss > 0)
    g_assert_cmpuint (st.packets_lost, >, 0);
  g_assert_cmpuint (p->side[0].writable_count, >, 0);
  g_assert_cmpuint (st.messages_sent, ==, b.seq);
  g_checksum_free (b.tx_sum);
}

static guint64
large_mb (void)
{
  const char *env = g_getenv ("P2P_TEST_LARGE_MB");

  return env ? g_ascii_strtoull (env, NULL, 10) : 64;
}

static void
test_bulk_64mib (void)
{
  run_bulk (large_mb () << 20, 0, 0, "messages, 1452-byte packets");
}

static void
test_bulk_jumbo (void)
{
  run_bulk (large_mb () << 20, 0, 65000, "messages, 65000-byte packets");
}

static void
test_loss (void)
{
  run_bulk (4 << 20, 0.05, 0, "messages with 5% loss");
}

/* Small messages on a lossy link (10 %): every one arrives intact and in
 * order. A packet carries many of them, so ngtcp2 makes STREAM frames of
 * more than 3 buffers and then, retransmitting or acknowledging parts of
 * them, loses some of those frames' memory (ngtcp2 before 1.6.0, issue
 * 1244): the session's allocator frees them with the session
 * (p2p-ngtcp2-mem.h), where LeakSanitizer reported them before. */
static void
test_loss_small_messages (void)
{
  const guint32 n = 20000;
  guint reclaimed = p2p_ng_mem_reclaimed ();

  {
    g_autoptr (Pair) p = pair_new ();

    p->cfg[0].liveness_timeout_ns = p->cfg[1].liveness_timeout_ns = 1 * SEC;
    p->side[1].keep_messages = TRUE;
    pair_establish (p);
    p->loss = 0.1;
    for (guint32 i = 0; i < n; i++) {
      g_autoptr (GBytes) m = make_bytes (1 + i % 40, i);

      g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
    }
    g_assert_true (pair_run (p, pred_messages, GUINT_TO_POINTER (n), 120 * SEC));
    g_assert_cmpuint (p->side[1].n_messages, ==, n);
    for (guint32 i = 0; i < n; i++) {
      g_autoptr (GBytes) m = make_bytes (1 + i % 40, i);

      g_assert_true (g_bytes_equal (m, g_ptr_array_index (p->side[1].messages, i)));
    }
  }
  g_test_message ("ngtcp2 blocks freed with the sessions: %u",
      p2p_ng_mem_reclaimed () - reclaimed);
#if NGTCP2_VERSION_NUM < 0x010600
  /* this ngtcp2 lost frames here: the test took the path it is about */
  g_assert_cmpuint (p2p_ng_mem_reclaimed (), >, reclaimed);
#endif
}

static gboolean pred_messages_at_client (Pair *p, gpointer data);
static gboolean pred_client_closed (Pair *p, gpointer data);

/* The peer vanishes (every packet lost from now on) while messages wait
 * for acknowledgement: the sender closes with TIMEOUT after the liveness
 * timeout (2 s here), long before the idle timeout (30 s). With nothing in
 * flight the silent peer is not declared gone. */
static void
test_liveness (void)
{
  {
    g_autoptr (Pair) p = pair_new ();
    guint64 cut_at;

    p->cfg[0].liveness_timeout_ns = p->cfg[1].liveness_timeout_ns = 2 * SEC;
    pair_establish (p);
    g_assert_false (pair_run (p, pred_any_closed, NULL, 1 * SEC));
    p->cut = TRUE;
    cut_at = p->now;
    for (guint i = 0; i < 20; i++) {
      g_autoptr (GBytes) m = make_bytes (10000, i);

      g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
    }
    g_assert_true (pair_run (p, pred_any_closed, NULL, 30 * SEC));
    g_assert_true (p->side[0].closed);
    g_assert_error (p->side[0].error, P2P_ERROR, P2P_ERROR_TIMEOUT);
    g_assert_nonnull (strstr (p->side[0].error->message, "the peer stopped answering"));
    g_assert_nonnull (strstr (p->side[0].error->message, "bytes unacknowledged for 2.0 s"));
    g_assert_cmpuint (p->now - cut_at, >=, 2 * SEC);
    g_assert_cmpuint (p->now - cut_at, <=, 2 * SEC + 10 * MS);
  }
  {
    g_autoptr (Pair) p = pair_new ();

    p->cfg[0].liveness_timeout_ns = p->cfg[1].liveness_timeout_ns = 2 * SEC;
    pair_establish (p);
    g_assert_false (pair_run (p, pred_any_closed, NULL, 1 * SEC));
    p->cut = TRUE;
    g_assert_false (pair_run (p, pred_any_closed, NULL, 20 * SEC));
  }
  /* the vanished peer's address still sends something: junk (a new
   * process on its port, a spoofer), with a short header. ngtcp2 drops it
   * (it does not decrypt): it is no word from the peer, and the sender
   * still closes after the liveness timeout. (Before, each one restarted
   * the liveness clock: the sender waited for the idle timeout, 30 s.) */
  {
    g_autoptr (Pair) p = pair_new ();
    guint64 cut_at;

    p->cfg[0].liveness_timeout_ns = p->cfg[1].liveness_timeout_ns = 2 * SEC;
    pair_establish (p);
    for (guint i = 0; i < 3; i++) {
      g_autoptr (GBytes) m = make_bytes (100, i);

      g_assert_true (p2p_quic_session_send_message (p->s[1], m, NULL));
    }
    g_assert_true (pair_run (p, pred_messages_at_client, GUINT_TO_POINTER (3), 5 * SEC));
    p->cut = TRUE;
    cut_at = p->now;
    for (guint i = 0; i < 20; i++) {
      g_autoptr (GBytes) m = make_bytes (10000, i);

      g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
    }
    for (guint round = 0; round < 300 && !p->side[0].closed; round++) {
      guint8 junk[40];

      if (pair_run (p, pred_any_closed, NULL, 50 * MS))
        break;
      for (guint j = 0; j < sizeof junk; j++)
        junk[j] = (guint8) g_rand_int (p->rand);
      junk[0] = 0x40 | (junk[0] & 0x3f);        /* a short header */
      p2p_quic_session_receive (p->s[0], junk, sizeof junk, p->now);
    }
    g_assert_true (p->side[0].closed);
    g_assert_error (p->side[0].error, P2P_ERROR, P2P_ERROR_TIMEOUT);
    g_assert_nonnull (strstr (p->side[0].error->message, "the peer stopped answering"));
    g_test_message ("closed %.2f s after the cut, junk every 50 ms",
        (p->now - cut_at) / 1e9);
    g_assert_cmpuint (p->now - cut_at, <=, 2 * SEC + 100 * MS);
  }
  /* a receiver (nothing of its own in flight) notices a vanished sender
   * when its keepalive goes unanswered: keepalive + liveness after the
   * last packet (5 + 4 s, the defaults), not the 30 s idle timeout */
  {
    g_autoptr (Pair) p = pair_new ();
    guint64 cut_at;

    for (int i = 0; i < 2; i++) {
      p->cfg[i].liveness_timeout_ns = 4 * SEC;
      p->cfg[i].keepalive_ns = 5 * SEC;
    }
    pair_establish (p);
    for (guint i = 0; i < 20; i++) {
      g_autoptr (GBytes) m = make_bytes (10000, i);

      g_assert_true (p2p_quic_session_send_message (p->s[1], m, NULL));
    }
    g_assert_true (pair_run (p, pred_messages_at_client, GUINT_TO_POINTER (20), 10 * SEC));
    p->cut = TRUE;
    cut_at = p->now;
    g_assert_true (pair_run (p, pred_client_closed, NULL, 60 * SEC));
    g_assert_error (p->side[0].error, P2P_ERROR, P2P_ERROR_TIMEOUT);
    g_assert_nonnull (strstr (p->side[0].error->message, "the peer stopped answering"));
    g_test_message ("receiver noticed after %.2f s", (p->now - cut_at) / 1e9);
    g_assert_cmpuint (p->now - cut_at, <=, 9 * SEC + 100 * MS);
  }
}

static gboolean
pred_client_closed (Pair *p, gpointer data)
{
  return p->side[0].closed;
}

static gboolean
pred_messages_at_client (Pair *p, gpointer data)
{
  return p->side[0].n_messages >= GPOINTER_TO_UINT (data) || p->side[0].closed;
}

static void
test_datagram (void)
{
  g_autoptr (Pair) p = pair_new ();
  gsize max;
  g_autoptr (GBytes) d = NULL;
  g_autoptr (GError) err = NULL;

  pair_establish (p);
  max = p2p_quic_session_get_max_datagram_size (p->s[0]);
  g_assert_cmpuint (max, >=, 1100);
  g_assert_cmpuint (max, <=, 1452 - 40);
  d = make_bytes (max, 77);
  g_assert_true (p2p_quic_session_send_datagram (p->s[0], g_bytes_get_data (d, NULL), max, &err));
  g_assert_no_error (err);
  g_assert_false (p2p_quic_session_send_datagram (p->s[0], g_bytes_get_data (d, NULL),
          max + 1, &err));
  g_assert_error (err, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  {
    g_autofree char *a = g_strdup_printf ("%" G_GSIZE_FORMAT, max);
    g_autofree char *b = g_strdup_printf ("%" G_GSIZE_FORMAT, max + 1);

    g_assert_nonnull (strstr (err->message, a));
    g_assert_nonnull (strstr (err->message, b));
  }
  g_clear_error (&err);
  pair_run (p, NULL, NULL, 1 * SEC);
  g_assert_cmpuint (p->side[1].datagrams->len, ==, 1);
  g_assert_true (g_bytes_equal (d, g_ptr_array_index (p->side[1].datagrams, 0)));

  /* a burst beyond the queue bound drops (counted), never fails */
  for (guint i = 0; i < 1000; i++) {
    gboolean ok = p2p_quic_session_send_datagram (p->s[0], (const guint8 *) "x", 1, &err);

    g_assert_no_error (err);
    g_assert_true (ok);
  }
  pair_run (p, NULL, NULL, 1 * SEC);
  {
    P2pConnectionStats st;

    p2p_quic_session_get_stats (p->s[0], &st);
    g_assert_cmpuint (st.datagrams_dropped, >, 0);
    g_assert_cmpuint (st.datagrams_sent + st.datagrams_dropped, ==, 1001);
    g_assert_cmpuint (p->side[1].datagrams->len, ==, st.datagrams_sent);
  }
}

static void
test_datagram_jumbo (void)
{
  g_autoptr (Pair) p = pair_new ();
  gsize max;
  g_autoptr (GBytes) d = NULL;

  p->cfg[0].max_udp_payload = p->cfg[1].max_udp_payload = 65000;
  pair_establish (p);
  max = p2p_quic_session_get_max_datagram_size (p->s[0]);
  g_assert_cmpuint (max, >, 60000);
  d = make_bytes (max, 78);
  g_assert_true (p2p_quic_session_send_datagram (p->s[0], g_bytes_get_data (d, NULL), max, NULL));
  pair_run (p, NULL, NULL, 1 * SEC);
  g_assert_cmpuint (p->side[1].datagrams->len, ==, 1);
  g_assert_true (g_bytes_equal (d, g_ptr_array_index (p->side[1].datagrams, 0)));
}

static void
test_vanish (void)
{
  g_autoptr (Pair) p = pair_new ();
  guint64 cut_at;

  p->cfg[0].idle_timeout_ns = p->cfg[1].idle_timeout_ns = 5 * SEC;
  pair_establish (p);
  p->cut = TRUE;
  cut_at = p->now;
  g_assert_true (pair_run (p, pred_both_closed, NULL, 60 * SEC));
  g_assert_error (p->side[0].error, P2P_ERROR, P2P_ERROR_TIMEOUT);
  g_assert_error (p->side[1].error, P2P_ERROR, P2P_ERROR_TIMEOUT);
  g_assert_nonnull (strstr (p->side[0].error->message, "5.0 s"));
  g_assert_cmpuint (p->now - cut_at, <=, 5 * SEC + 100 * MS);
  g_assert_cmpuint (p->now - cut_at, >=, 4 * SEC);
}

static void
test_handshake_timeout (void)
{
  g_autoptr (Pair) p = pair_new ();

  p->cfg[0].idle_timeout_ns = 3 * SEC;
  p->cut = TRUE;
  pair_start (p);
  g_assert_true (pair_run (p, pred_both_closed, NULL, 60 * SEC));
  g_assert_error (p->side[0].error, P2P_ERROR, P2P_ERROR_TIMEOUT);
  g_assert_cmpuint (p->now, <=, 1 * SEC + 3 * SEC + 100 * MS);
}

/* A session playing a peer of versions @min..@max (the test override of
 * the Handshake, docs/protocol.md §3.1). */
static void
set_versions (Pair *p, int i, guint64 min, guint64 max)
{
  p->cfg[i].protocol_version_min = min;
  p->cfg[i].protocol_version = max;
}

/* A version-N peer (1..1, this build) against a version-N+1 peer (1..2,
 * which still speaks 1) in both roles: they settle on 1 and exchange
 * messages; two version-N+1 peers use 2. */
static void
test_version_negotiation (void)
{
  static const struct {
    guint64 cmin, cmax, smin, smax, expect;
  } cases[] = {
    { 1, 1, 1, 2, 1 },          /* version-N dialer, version-N+1 listener */
    { 1, 2, 1, 1, 1 },          /* version-N+1 dialer, version-N listener */
    { 1, 2, 1, 2, 2 },          /* both N+1 */
    { 2, 3, 1, 2, 2 },          /* N+1 that dropped 1 against N..N+1 */
    { 1, 5, 3, 4, 4 },
  };

  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++) {
    g_autoptr (Pair) p = pair_new ();
    g_autoptr (GBytes) m = make_bytes (100, 3);

    g_test_message ("dialer %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT ", listener %"
        G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT, cases[c].cmin, cases[c].cmax, cases[c].smin,
        cases[c].smax);
    set_versions (p, 0, cases[c].cmin, cases[c].cmax);
    set_versions (p, 1, cases[c].smin, cases[c].smax);
    pair_start (p);
    g_assert_cmpuint (p2p_quic_session_get_protocol_version (p->s[0]), ==, 0);
    g_assert_true (pair_run (p, pred_established, NULL, 10 * SEC));
    g_assert_true (p->side[0].established && p->side[1].established);
    for (int i = 0; i < 2; i++)
      g_assert_cmpuint (p2p_quic_session_get_protocol_version (p->s[i]), ==, cases[c].expect);
    g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
    g_assert_true (pair_run (p, pred_messages, GUINT_TO_POINTER (1), 10 * SEC));
    g_assert_cmpuint (p->side[1].n_messages, ==, 1);
  }
}

/* Each side sees exactly the bits the other advertised (unknown ones
 * included); this build advertises P2P_CAPABILITIES_LOCAL by default. */
static void
test_capabilities (void)
{
  g_autoptr (Pair) p = pair_new ();
  guint64 future = G_GUINT64_CONSTANT (1) << 40;

  g_assert_cmphex (p->cfg[0].capabilities, ==,
      P2P_CAPABILITY_FILES | P2P_CAPABILITY_STREAM_POSITION | P2P_CAPABILITY_DATAGRAM_EPOCH);
  p->cfg[0].capabilities = P2P_CAPABILITY_FILES | future;
  p->cfg[1].capabilities = 0;   /* an older peer: no file service */
  pair_start (p);
  g_assert_cmphex (p2p_quic_session_get_peer_capabilities (p->s[0]), ==, 0);
  g_assert_true (pair_run (p, pred_established, NULL, 10 * SEC));
  g_assert_true (p->side[0].established && p->side[1].established);
  g_assert_cmphex (p2p_quic_session_get_peer_capabilities (p->s[1]), ==,
      P2P_CAPABILITY_FILES | future);
  g_assert_cmphex (p2p_quic_session_get_peer_capabilities (p->s[0]), ==, 0);
  g_assert_cmpstr (p2p_capability_to_name (P2P_CAPABILITY_FILES), ==, "files");
  g_assert_null (p2p_capability_to_name (future));
  g_assert_cmphex (p2p_capability_from_name ("files"), ==, P2P_CAPABILITY_FILES);
  g_assert_cmpstr (p2p_capability_to_name (P2P_CAPABILITY_STREAM_POSITION), ==,
      "stream-position");
  g_assert_cmphex (p2p_capability_from_name ("stream-position"), ==,
      P2P_CAPABILITY_STREAM_POSITION);
  g_assert_cmphex (p2p_capability_from_name ("telepathy"), ==, 0);
}

/* No common version: both sides fail with VERSION_MISMATCH and a text
 * that names both ranges, nothing is delivered. */
static void
check_version_mismatch (guint64 cmin, guint64 cmax, guint64 smin, guint64 smax,
    const char *expect)
{
  g_autoptr (Pair) p = pair_new ();
  g_autoptr (GBytes) m = make_bytes (10, 1);

  set_versions (p, 0, cmin, cmax);
  set_versions (p, 1, smin, smax);
  pair_start (p);
  g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
  g_assert_true (pair_run (p, pred_both_closed, NULL, 10 * SEC));
  for (int i = 0; i < 2; i++) {
    g_assert_false (p->side[i].established);
    g_assert_error (p->side[i].error, P2P_ERROR, P2P_ERROR_VERSION_MISMATCH);
    g_assert_cmpuint (p->side[i].n_messages, ==, 0);
    g_assert_cmpuint (p2p_quic_session_get_protocol_version (p->s[i]), ==, 0);
  }
  /* the listener sees the dialer's Handshake first and refuses it */
  g_assert_cmpstr (p->side[1].error->message, ==, expect);
  g_assert_true (g_str_has_prefix (p->side[0].error->message, "peer closed the connection: "));
  g_assert_cmpstr (p->side[0].error->message + strlen ("peer closed the connection: "), ==,
      expect);
}

static void
test_version_mismatch (void)
{
  /* a newer dialer that dropped version 1 */
  check_version_mismatch (2, 3, 1, 1, "no common gst-p2p protocol version: "
      "the dialer speaks versions 2 to 3, the listener speaks version 1");
  /* a newer listener that dropped version 1 */
  check_version_mismatch (1, 1, 2, 2, "no common gst-p2p protocol version: "
      "the dialer speaks version 1, the listener speaks version 2");
}

static void
test_garbage (void)
{
  g_autoptr (Pair) p = pair_new ();
  g_autoptr (GRand) r = g_rand_new_with_seed (7);
  guint8 junk[1500];
  gsize len;
  const guint8 *d;
  P2pConnectionStats before, after;

  p->side[1].keep_messages = TRUE;
  pair_establish (p);
  p2p_quic_session_get_stats (p->s[1], &before);

  for (guint i = 0; i < 200; i++) {
    gsize n = 1 + g_rand_int_range (r, 0, sizeof (junk));

    for (gsize j = 0; j < n; j++)
      junk[j] = (guint8) g_rand_int (r);
    if (i % 4 == 0)
      junk[0] |= 0x80;          /* long header */
    if (i % 4 == 1)
      junk[0] = 0x40 | (junk[0] & 0x3f);        /* short header */
    p2p_quic_session_receive (p->s[1], junk, n, p->now);
  }
  /* truncated real packets */
  g_assert_nonnull (p->last_to_server);
  d = g_bytes_get_data (p->last_to_server, &len);
  for (gsize n = 1; n < len; n += 7)
    p2p_quic_session_receive (p->s[1], d, n, p->now);
  /* a bit flip in a real packet */
  memcpy (junk, d, MIN (len, sizeof (junk)));
  junk[len / 2] ^= 1;
  p2p_quic_session_receive (p->s[1], junk, len, p->now);
  /* the client's replayed Initial */
  d = g_bytes_get_data (p->first_initial, &len);
  p2p_quic_session_receive (p->s[1], d, len, p->now);
  g_assert_true (p2p_quic_packet_is_initial (d, len));

  g_assert_cmpint (p2p_quic_session_get_state (p->s[1]), ==, P2P_QUIC_STATE_ESTABLISHED);
  for (guint i = 0; i < 10; i++) {
    g_autoptr (GBytes) m = make_bytes (1000, i);

    g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
  }
  g_assert_true (pair_run (p, pred_messages, GUINT_TO_POINTER (10), 5 * SEC));
  g_assert_false (p->side[0].closed);
  g_assert_false (p->side[1].closed);
  p2p_quic_session_get_stats (p->s[1], &after);
  g_assert_cmpuint (after.packets_received, >, before.packets_received + 200);
}

static void
test_packet_helpers (void)
{
  g_autoptr (Pair) p = pair_new ();
  guint8 dcid[P2P_QUIC_MAX_CID_LEN];
  gsize dlen = 0;
  gsize len;
  const guint8 *d;
  guint8 junk[3] = { 0xc0, 0, 0 };
  g_autoptr (GError) err = NULL;

  pair_start (p);
  pair_flush (p);
  d = g_bytes_get_data (p->first_initial, &len);
  g_assert_true (p2p_quic_packet_is_initial (d, len));
  g_assert_true (p2p_quic_packet_get_dcid (d, len, P2P_QUIC_SCID_LEN, dcid, &dlen));
  g_assert_cmpuint (dlen, ==, P2P_QUIC_SCID_LEN);
  g_assert_false (p2p_quic_packet_is_initial (d, 20));
  g_assert_false (p2p_quic_packet_is_initial (junk, sizeof (junk)));
  g_assert_false (p2p_quic_packet_is_initial (NULL, 0));
  g_assert_false (p2p_quic_packet_get_dcid (junk, sizeof (junk), 18, dcid, &dlen));
  g_assert_false (p2p_quic_packet_get_dcid (d, 0, 18, dcid, &dlen));
  g_assert_null (p2p_quic_session_new_server (p->id[1], junk, sizeof (junk), NULL, NULL,
          &callbacks, &p->side[1], p->now, &err));
  g_assert_error (err, P2P_ERROR, P2P_ERROR_PROTOCOL);
  g_clear_error (&err);
  {
    /* a real Initial with a damaged payload: header fine, decryption fails */
    g_autofree guint8 *bad = g_memdup2 (d, len);

    bad[len - 5] ^= 0x55;
    g_assert_true (p2p_quic_packet_is_initial (bad, len));
    g_assert_null (p2p_quic_session_new_server (p->id[1], bad, len, NULL, NULL, &callbacks,
            &p->side[1], p->now, &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_nonnull (strstr (err->message, "first packet"));
    g_clear_error (&err);
  }

  /* after the handshake, short-header packets carry the server's SCID length */
  pair_run (p, pred_established, NULL, 10 * SEC);
  g_assert_nonnull (p->last_to_server);
  d = g_bytes_get_data (p->last_to_server, &len);
  g_assert_true (p2p_quic_packet_get_dcid (d, len, P2P_QUIC_SCID_LEN, dcid, &dlen));
  g_assert_cmpuint (dlen, ==, P2P_QUIC_SCID_LEN);
  g_assert_false (p2p_quic_packet_is_initial (d, len));
}

static void
test_handshake_loss (void)
{
  /* 30% loss in both directions during the handshake, several seeds */
  for (guint32 seed = 1; seed <= 8; seed++) {
    g_autoptr (Pair) p = pair_new ();
    g_autoptr (GBytes) m = make_bytes (3000, seed);

    g_rand_set_seed (p->rand, seed);
    p->loss = 0.3;
    p->side[1].keep_messages = TRUE;
    pair_start (p);
    g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
    g_assert_true (pair_run (p, pred_messages, GUINT_TO_POINTER (1), 30 * SEC));
    g_assert_true (p->side[0].established || !p->side[0].closed);
    g_assert_true (p->side[1].established);
    g_assert_true (g_bytes_equal (m, g_ptr_array_index (p->side[1].messages, 0)));
  }
}

static void
test_silent_client (void)
{
  /* a client that goes silent after its first Initial: the server's
   * handshake times out after its idle timeout */
  g_autoptr (Pair) p = pair_new ();

  p->cfg[1].idle_timeout_ns = 4 * SEC;
  pair_start (p);
  while (p->s[1] == NULL)
    g_assert_true (pair_step (p, G_MAXUINT64));
  p->cut = TRUE;
  g_assert_true (pair_run (p, pred_any_closed, NULL, 60 * SEC));
  g_assert_true (p->side[1].closed);
  g_assert_false (p->side[1].established);
  g_assert_error (p->side[1].error, P2P_ERROR, P2P_ERROR_TIMEOUT);
  g_assert_nonnull (strstr (p->side[1].error->message, "4.0 s"));
  g_assert_cmpuint (p->now, <=, 1 * SEC + 10 * MS + 4 * SEC + 100 * MS);
}

static void
test_graceful_close (void)
{
  g_autoptr (Pair) p = pair_new ();
  g_autoptr (GError) err = NULL;

  pair_establish (p);
  for (guint i = 0; i < 100; i++) {
    g_autoptr (GBytes) m = make_bytes (20000, i);

    g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
  }
  p2p_quic_session_close (p->s[0], P2P_DISCONNECT_NORMAL, "bye now");
  g_assert_cmpint (p2p_quic_session_get_state (p->s[0]), ==, P2P_QUIC_STATE_CLOSING);
  {
    g_autoptr (GBytes) x = g_bytes_new_static ("x", 1);

    g_assert_false (p2p_quic_session_send_message (p->s[0], x, &err));
  }
  g_assert_error (err, P2P_ERROR, P2P_ERROR_CLOSED);
  g_assert_true (pair_run (p, pred_both_closed, NULL, 10 * SEC));
  g_assert_no_error (p->side[0].error);
  g_assert_no_error (p->side[1].error);
  g_assert_cmpstr (p->side[1].reason, ==, "bye now");
  g_assert_cmpstr (p->side[0].reason, ==, "bye now");
  g_assert_cmpuint (p->side[1].messages_at_close, ==, 100);
  /* a close with an error code: the peer gets CLOSED with the reason */
  {
    g_autoptr (Pair) q = pair_new ();

    pair_establish (q);
    p2p_quic_session_close (q->s[1], P2P_DISCONNECT_LIMIT, "too many peers");
    g_assert_true (pair_run (q, pred_both_closed, NULL, 10 * SEC));
    g_assert_error (q->side[0].error, P2P_ERROR, P2P_ERROR_CLOSED);
    g_assert_nonnull (strstr (q->side[0].error->message, "too many peers"));
    g_assert_cmpstr (q->side[0].reason, ==, "too many peers");
    g_assert_no_error (q->side[1].error);
  }
  /* abort: immediate, the error reaches the peer */
  {
    g_autoptr (Pair) q = pair_new ();
    g_autoptr (GError) e = g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL, "bad media frame");

    pair_establish (q);
    p2p_quic_session_abort (q->s[0], e);
    g_assert_true (pair_run (q, pred_both_closed, NULL, 10 * SEC));
    g_assert_error (q->side[0].error, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_error (q->side[1].error, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_nonnull (strstr (q->side[1].error->message, "bad media frame"));
  }
  /* close_now on a close still draining (the messages are lost on the way
   * for 2 s, so they are never all acknowledged): the CONNECTION_CLOSE
   * leaves at once with the reason of the close (the driver's last word
   * when the connection is dropped; a refused receiver timed out without it) */
  {
    g_autoptr (Pair) q = pair_new ();
    guint64 start;

    pair_establish (q);
    q->cut = TRUE;
    for (guint i = 0; i < 40; i++) {
      g_autoptr (GBytes) m = make_bytes (60000, i);

      g_assert_true (p2p_quic_session_send_message (q->s[1], m, NULL));
    }
    p2p_quic_session_close (q->s[1], P2P_DISCONNECT_LIMIT, "too many receivers");
    g_assert_false (pair_run (q, pred_any_closed, NULL, 2 * SEC));
    g_assert_cmpint (p2p_quic_session_get_state (q->s[1]), ==, P2P_QUIC_STATE_CLOSING);
    q->cut = FALSE;
    start = q->now;
    p2p_quic_session_close_now (q->s[1]);
    g_assert_cmpint (p2p_quic_session_get_state (q->s[1]), ==, P2P_QUIC_STATE_CLOSED);
    g_assert_true (pair_run (q, pred_both_closed, NULL, 10 * SEC));
    g_assert_cmpuint (q->now - start, <=, q->latency + 1 * MS);
    g_assert_error (q->side[0].error, P2P_ERROR, P2P_ERROR_CLOSED);
    g_assert_cmpstr (q->side[0].reason, ==, "too many receivers");
  }
  /* close_now without a close: a normal close, no reason */
  {
    g_autoptr (Pair) q = pair_new ();

    pair_establish (q);
    p2p_quic_session_close_now (q->s[1]);
    g_assert_true (pair_run (q, pred_both_closed, NULL, 10 * SEC));
    g_assert_no_error (q->side[0].error);
    g_assert_cmpstr (q->side[0].reason, ==, "");
  }
  /* close during the handshake */
  {
    g_autoptr (Pair) q = pair_new ();

    pair_start (q);
    p2p_quic_session_close (q->s[0], P2P_DISCONNECT_NORMAL, "never mind");
    g_assert_true (pair_run (q, pred_both_closed, NULL, 10 * SEC));
    g_assert_no_error (q->side[0].error);
    g_assert_cmpstr (q->side[0].reason, ==, "never mind");
  }
}

typedef struct {
  GBytes *data;
  gsize written;
  gint64 id;
  gboolean finished;
  gboolean by_ref;              /* p2p_quic_session_stream_write_bytes, the whole rest */
  guint partial_takes;          /* by_ref: writes that took part of what they were given */
} StreamJob;

static gboolean
pred_stream (Pair *p, gpointer user_data)
{
  StreamJob *j = user_data;
  gsize total = g_bytes_get_size (j->data);

  while (j->written < total) {
    g_autoptr (GError) err = NULL;
    gsize chunk = MIN (64 * 1024, total - j->written);
    gssize n;

    if (j->by_ref) {
      g_autoptr (GBytes) rest = g_bytes_new_from_bytes (j->data, j->written,
          total - j->written);

      n = p2p_quic_session_stream_write_bytes (p->s[0], j->id, rest, &err);
      if (n > 0 && (gsize) n < total - j->written)
        j->partial_takes++;
    } else {
      n = p2p_quic_session_stream_write (p->s[0], j->id,
          (const guint8 *) g_bytes_get_data (j->data, NULL) + j->written, chunk, &err);
    }
    g_assert_no_error (err);
    if (n == 0)
      break;
    j->written += (gsize) n;
  }
  if (j->written == total && !j->finished) {
    p2p_quic_session_stream_finish (p->s[0], j->id);
    j->finished = TRUE;
  }
  return p->side[0].stream_fin || p->side[0].closed || p->side[1].closed;
}

static void
test_extra_stream (void)
{
  g_autoptr (Pair) p = pair_new ();
  g_autoptr (GBytes) data = make_bytes (4 << 20, 5);
  g_autoptr (GError) err = NULL;
  StreamJob j = { data, 0, -1, FALSE };
  guint8 b = 0;

  p->side[1].echo = TRUE;
  pair_establish (p);
  j.id = p2p_quic_session_open_stream (p->s[0], &err);
  g_assert_no_error (err);
  g_assert_cmpint (j.id, >, 0);
  g_assert_cmpint (j.id % 4, ==, 0);    /* client-initiated bidirectional */
  p->side[0].stream_id = j.id;
  g_assert_true (pair_run (p, pred_stream, &j, 60 * SEC));
  g_assert_true (p->side[0].stream_fin);
  g_assert_cmpint (p->side[1].stream_id, ==, j.id);
  g_assert_cmpuint (p->side[1].stream_rx->len, ==, 4 << 20);
  g_assert_cmpuint (p->side[0].stream_rx->len, ==, 4 << 20);
  g_assert_cmpmem (p->side[0].stream_rx->data, 4 << 20, g_bytes_get_data (data, NULL), 4 << 20);

  /* errors: unknown stream, write after finish */
  g_assert_cmpint (p2p_quic_session_stream_write (p->s[0], 9999, &b, 1, &err), ==, -1);
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&err);

  /* reset reaches the peer */
  p->side[1].echo = FALSE;
  {
    gint64 id2 = p2p_quic_session_open_stream (p->s[0], &err);

    g_assert_no_error (err);
    g_assert_cmpint (p2p_quic_session_stream_write (p->s[0], id2, &b, 1, &err), ==, 1);
    pair_run (p, NULL, NULL, 200 * MS);
    g_assert_cmpint (p->side[1].stream_id, ==, id2);
    p2p_quic_session_stream_reset (p->s[0], id2, 42);
    pair_run (p, NULL, NULL, 200 * MS);
    g_assert_cmpuint (p->side[1].stream_resets, ==, 1);
    g_assert_cmpint (p2p_quic_session_stream_write (p->s[0], id2, &b, 1, &err), ==, -1);
    g_assert_nonnull (err);
  }
}

/* Connection IDs carry a MAC under their endpoint's key; a Stateless
 * Reset answers a foreign one only, and its token is the identity's (the
 * same after the key file is loaded again: a restarted peer computes it). */
static void
test_cid_and_reset (void)
{
  guint8 k1[P2P_QUIC_CID_KEY_LEN], k2[P2P_QUIC_CID_KEY_LEN];
  guint8 cid[P2P_QUIC_SCID_LEN], cid2[P2P_QUIC_SCID_LEN], pkt[64], out[128];
  guint8 tok[16], tok2[16];
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  g_autoptr (P2pIdentity) again = NULL;
  g_autofree char *dir = g_dir_make_tmp ("p2p-reset-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "key", NULL);
  g_autoptr (GError) err = NULL;

  randombytes_buf (k1, sizeof k1);
  randombytes_buf (k2, sizeof k2);
  p2p_quic_cid_new (k1, cid);
  p2p_quic_cid_new (k1, cid2);
  g_assert_true (p2p_quic_cid_is_ours (k1, cid, sizeof cid));
  g_assert_true (p2p_quic_cid_is_ours (k1, cid2, sizeof cid2));
  g_assert_false (p2p_quic_cid_is_ours (k2, cid, sizeof cid));
  g_assert_false (p2p_quic_cid_is_ours (k1, cid, sizeof cid - 1));
  g_assert_true (memcmp (cid, cid2, sizeof cid) != 0);
  cid2[0] ^= 1;
  g_assert_false (p2p_quic_cid_is_ours (k1, cid2, sizeof cid2));

  /* a short-header packet to cid */
  randombytes_buf (pkt, sizeof pkt);
  pkt[0] = 0x41;
  memcpy (pkt + 1, cid, sizeof cid);
  g_assert_cmpuint (p2p_quic_stateless_reset_write (id, k1, 4433, pkt, sizeof pkt, out, sizeof out),
      ==, 0);                   /* issued under k1: ours */
  g_assert_cmpuint (p2p_quic_stateless_reset_write (id, k2, 4433, pkt, sizeof pkt, out, sizeof out),
      ==, P2P_QUIC_STATELESS_RESET_LEN);
  g_assert_cmpuint (out[0] & 0xc0, ==, 0x40);     /* looks like a short header */
  p2p_quic_stateless_reset_token (id, 4433, cid, sizeof cid, tok);
  g_assert_cmpmem (out + P2P_QUIC_STATELESS_RESET_LEN - 16, 16, tok, 16);
  /* another port's token differs: no listener gives out another
   * endpoint's */
  p2p_quic_stateless_reset_token (id, 4434, cid, sizeof cid, tok2);
  g_assert_true (memcmp (tok, tok2, 16) != 0);
  /* a ~40-byte PING gets a reset one byte shorter; none for a packet no
   * longer than the shortest reset, a long header, no identity */
  g_assert_cmpuint (p2p_quic_stateless_reset_write (id, k2, 4433, pkt, 40, out, sizeof out),
      ==, 39);
  g_assert_cmpmem (out + 39 - 16, 16, tok, 16);
  g_assert_cmpuint (p2p_quic_stateless_reset_write (id, k2, 4433, pkt,
          P2P_QUIC_STATELESS_RESET_MIN_LEN, out, sizeof out), ==, 0);
  pkt[0] = 0xc1;
  g_assert_cmpuint (p2p_quic_stateless_reset_write (id, k2, 4433, pkt, sizeof pkt, out, sizeof out),
      ==, 0);
  pkt[0] = 0x41;
  g_assert_cmpuint (p2p_quic_stateless_reset_write (NULL, k2, 4433, pkt, sizeof pkt, out, sizeof out),
      ==, 0);

  /* the token: the identity's, whoever loads its key */
  g_assert_true (p2p_identity_save (id, path, &err));
  g_assert_no_error (err);
  again = p2p_identity_new_from_file (path, &err);
  g_assert_no_error (err);
  p2p_quic_stateless_reset_token (again, 4433, cid, sizeof cid, tok2);
  g_assert_cmpmem (tok, 16, tok2, 16);
  {
    g_autoptr (P2pIdentity) other = p2p_identity_new ();

    p2p_quic_stateless_reset_token (other, 4433, cid, sizeof cid, tok2);
    g_assert_true (memcmp (tok, tok2, 16) != 0);
  }
  g_unlink (path);
  g_rmdir (dir);
}

/* The same echo with the data given by reference, the whole rest at each
 * write: the session takes what fits (a slice of the caller's GBytes) and
 * the bytes still arrive whole and in order. */
static void
test_stream_write_bytes (void)
{
  g_autoptr (Pair) p = pair_new ();
  g_autoptr (GBytes) data = make_bytes (4 << 20, 9);
  g_autoptr (GError) err = NULL;
  StreamJob j = { data, 0, -1, FALSE, TRUE, 0 };

  p->side[1].echo = TRUE;
  pair_establish (p);
  j.id = p2p_quic_session_open_stream (p->s[0], &err);
  g_assert_no_error (err);
  p->side[0].stream_id = j.id;
  g_assert_true (pair_run (p, pred_stream, &j, 60 * SEC));
  g_assert_true (p->side[0].stream_fin);
  /* 4 MiB against a 1 MiB stream buffer: most writes took a part */
  g_assert_cmpuint (j.partial_takes, >=, 3);
  g_assert_cmpuint (p->side[0].stream_rx->len, ==, 4 << 20);
  g_assert_cmpmem (p->side[0].stream_rx->data, 4 << 20, g_bytes_get_data (data, NULL), 4 << 20);
}

static gboolean
pred_open_early (Pair *p, gpointer data)
{
  return p2p_quic_session_is_open_early (p->s[0]) || p->side[0].closed;
}

static gboolean
pred_echo_fin (Pair *p, gpointer data)
{
  return p->side[0].stream_fin || p->side[0].closed || p->side[1].closed;
}

/* early_streams: a client request rides with the client's Finished; the
 * answer is back 2 round trips after the start (3 when the client waits to
 * be established); a refused client's early request never reaches the
 * server's application. RTT here: 2 x 10 ms. */
static void
test_early_streams (void)
{
  g_autoptr (GError) err = NULL;

  for (guint refused = 0; refused < 2; refused++) {
    g_autoptr (Pair) p = pair_new ();
    g_autoptr (P2pIdentity) other = p2p_identity_new ();
    const guint8 req[] = "GET /01.flac";
    guint64 t0 = p->now;
    gint64 id;

    p->cfg[0].early_streams = TRUE;
    p->side[1].echo = TRUE;
    if (refused) {
      p->allowed = g_ptr_array_new_with_free_func ((GDestroyNotify) p2p_peer_id_free);
      g_ptr_array_add (p->allowed, p2p_peer_id_copy (p2p_identity_get_peer_id (other)));
    }
    pair_start (p);
    g_assert_false (p2p_quic_session_is_open_early (p->s[0]));
    g_assert_true (pair_run (p, pred_open_early, NULL, 10 * SEC));
    /* one round trip: TLS done, the server authenticated; not established */
    g_assert_true (p2p_quic_session_is_open_early (p->s[0]));
    g_assert_false (p->side[0].established);
    g_assert_cmpuint (p->now - t0, <, 30 * MS);
    {
      P2pConnectionStats st;

      /* usable now: that is its setup time (what a dial reports) */
      p2p_quic_session_get_stats (p->s[0], &st);
      g_assert_cmpuint (st.setup_time_us, >=, 20000);
      g_assert_cmpuint (st.setup_time_us, <, 30000);
    }
    id = p2p_quic_session_open_stream (p->s[0], &err);
    g_assert_no_error (err);
    g_assert_cmpint (id, >, 0);
    p->side[0].stream_id = id;
    g_assert_cmpint (p2p_quic_session_stream_write (p->s[0], id, req, sizeof req, &err), ==,
        sizeof req);
    p2p_quic_session_stream_finish (p->s[0], id);
    g_assert_true (pair_run (p, pred_echo_fin, NULL, 10 * SEC));
    if (!refused) {
      g_assert_true (p->side[0].stream_fin);
      g_assert_cmpmem (p->side[0].stream_rx->data, p->side[0].stream_rx->len, req, sizeof req);
      /* two round trips (40 ms) and the time to process them */
      g_assert_cmpuint (p->now - t0, <, 50 * MS);
      g_assert_true (p->side[0].established);
      g_assert_false (p2p_quic_session_is_open_early (p->s[0]));
    } else {
      g_assert_true (pair_run (p, pred_both_closed, NULL, 10 * SEC));
      g_assert_error (p->side[0].error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
      g_assert_cmpint (p->side[1].stream_id, ==, -1);   /* never delivered */
      g_assert_cmpuint (p->side[0].stream_rx->len, ==, 0);
    }
  }
  /* without early_streams a client opens streams only once established */
  {
    g_autoptr (Pair) p = pair_new ();

    pair_start (p);
    g_assert_true (pair_run (p, pred_established, NULL, 10 * SEC));
    g_assert_false (p2p_quic_session_is_open_early (p->s[0]));
  }
}

static void
test_open_stream_errors (void)
{
  g_autoptr (Pair) p = pair_new ();
  g_autoptr (GError) err = NULL;

  pair_start (p);
  g_assert_cmpint (p2p_quic_session_open_stream (p->s[0], &err), ==, -1);
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&err);
  g_assert_cmpuint (p2p_quic_session_get_max_datagram_size (p->s[0]), ==, 0);
  g_assert_false (p2p_quic_session_send_datagram (p->s[0], (const guint8 *) "x", 1, &err));
  g_assert_error (err, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&err);
  pair_run (p, pred_established, NULL, 10 * SEC);
  /* the peer allows 100 bidirectional streams at a time (one is the control stream) */
  for (guint i = 0; i < 99; i++) {
    g_assert_cmpint (p2p_quic_session_open_stream (p->s[0], &err), >=, 0);
    g_assert_no_error (err);
  }
  g_assert_cmpint (p2p_quic_session_open_stream (p->s[0], &err), ==, -1);
  g_assert_error (err, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
}

static void
test_keepalive (void)
{
  g_autoptr (Pair) p = pair_new ();

  p->cfg[0].idle_timeout_ns = p->cfg[1].idle_timeout_ns = 3 * SEC;
  p->cfg[0].keepalive_ns = 1 * SEC;
  pair_establish (p);
  g_assert_false (pair_run (p, pred_any_closed, NULL, 20 * SEC));
  g_assert_cmpint (p2p_quic_session_get_state (p->s[0]), ==, P2P_QUIC_STATE_ESTABLISHED);
  g_assert_cmpint (p2p_quic_session_get_state (p->s[1]), ==, P2P_QUIC_STATE_ESTABLISHED);
  g_assert_cmpuint (p->now, >=, 20 * SEC);

  /* without keepalive the same idle connection times out */
  {
    g_autoptr (Pair) q = pair_new ();

    q->cfg[0].idle_timeout_ns = q->cfg[1].idle_timeout_ns = 3 * SEC;
    pair_establish (q);
    g_assert_true (pair_run (q, pred_both_closed, NULL, 20 * SEC));
    g_assert_error (q->side[0].error, P2P_ERROR, P2P_ERROR_TIMEOUT);
  }
}

/* A CONNECTION_CLOSE without a reason phrase (cc->reason == NULL on the
 * receiving side) is a normal close or a CLOSED/PROTOCOL error, never a crash. */
static void
test_close_without_reason (void)
{
  /* abort with an empty message: application close, code ABORT, no reason */
  for (guint k = 0; k < 2; k++) {
    g_autoptr (Pair) q = pair_new ();
    g_autoptr (GError) e = k == 0 ? g_error_new_literal (P2P_ERROR, P2P_ERROR_CLOSED, "")
        : g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "");

    pair_establish (q);
    p2p_quic_session_abort (q->s[k], e);
    g_assert_true (pair_run (q, pred_both_closed, NULL, 10 * SEC));
    g_assert_error (q->side[k].error, e->domain, e->code);
    g_assert_error (q->side[1 - k].error, P2P_ERROR, P2P_ERROR_CLOSED);
    g_assert_nonnull (strstr (q->side[1 - k].error->message, "peer closed the connection"));
    g_assert_cmpstr (q->side[1 - k].reason, ==, "");
  }
  /* a graceful close with a NULL reason: normal close, reason "" on both sides */
  {
    g_autoptr (Pair) q = pair_new ();

    pair_establish (q);
    p2p_quic_session_close (q->s[1], P2P_DISCONNECT_NORMAL, NULL);
    g_assert_true (pair_run (q, pred_both_closed, NULL, 10 * SEC));
    g_assert_no_error (q->side[0].error);
    g_assert_no_error (q->side[1].error);
    g_assert_cmpstr (q->side[0].reason, ==, "");
    g_assert_cmpstr (q->side[1].reason, ==, "");
  }
  /* the server closes with a NULL reason during the handshake: its
   * CONNECTION_CLOSE (in Initial/Handshake packets) carries no reason */
  {
    g_autoptr (Pair) q = pair_new ();

    q->close_server_at_start = TRUE;
    pair_start (q);
    g_assert_true (pair_run (q, pred_both_closed, NULL, 10 * SEC));
    g_assert_false (q->side[0].established);
    g_assert_nonnull (q->side[0].reason);
    if (q->side[0].error)
      g_assert_true (q->side[0].error->domain == P2P_ERROR);
    g_assert_no_error (q->side[1].error);
  }
}

/* Data integrity under duplication, reordering, loss and early data: the
 * first flight is duplicated and reordered, so stream data (messages of
 * both sides) arrives before the handshake is confirmed / before the
 * peer's Handshake frame. Each seed checks total bytes and SHA-256 both ways. */
typedef struct {
  guint64 total[2];
  GChecksum *tx_sum[2];
} Stress;

static gboolean
pred_stress (Pair *p, gpointer data)
{
  Stress *st = data;

  return (p->side[1].rx_bytes >= st->total[0] && p->side[0].rx_bytes >= st->total[1]) ||
      p->side[0].closed || p->side[1].closed;
}

static void
test_integrity_stress (void)
{
  gint64 sum_us = 0;
  guint seeds = g_test_slow () ? 500 : 50;

#if defined(__SANITIZE_ADDRESS__)
  /* libngtcp2 0.12.1 (Debian 12) leaks small blocks allocated inside
   * ngtcp2_conn_read_pkt / handle_expiry under duplication + reordering,
   * not freed by ngtcp2_conn_del (likely a reorder-buffer leak such as the
   * one upstream fixed in PR #1245): not ours; keep LSan quiet here only. */
  __lsan_disable ();
#endif

  for (guint seed = 1; seed <= seeds; seed++) {
    g_autoptr (Pair) p = pair_new ();
    Stress st = { { 0, 0 }, { g_checksum_new (G_CHECKSUM_SHA256),
        g_checksum_new (G_CHECKSUM_SHA256) } };
    guint32 n_client = 40 + seed % 40;

    g_rand_set_seed (p->rand, seed);
    p->dup = 0.2 + (seed % 5) * 0.05;
    p->loss = (seed % 4) * 0.03;
    p->jitter = (5 + seed % 20) * MS;   /* up to 2.5x the latency: reordering */
    p->server_sends_early = TRUE;
    p->early_msgs = 5 + seed % 10;
    for (int i = 0; i < 2; i++) {
      p->side[i].rx_sum = g_checksum_new (G_CHECKSUM_SHA256);
      p->side[i].sum_us = &sum_us;
    }
    /* server's messages: generated in deliver() the same way */
    for (guint32 i = 0; i < p->early_msgs; i++) {
      g_autoptr (GBytes) m = make_bytes (1 + (i * 7919) % 3000, 1000 + i);

      g_checksum_update (st.tx_sum[1], g_bytes_get_data (m, NULL), g_bytes_get_size (m));
      st.total[1] += g_bytes_get_size (m);
    }
    pair_start (p);
    /* the client's messages are queued before anything was sent: they go
     * out in the first 1-RTT packets, with the handshake still going on */
    for (guint32 i = 0; i < n_client; i++) {
      g_autoptr (GBytes) m = make_bytes (1 + (i * 104729 + seed) % 9000, seed * 1000 + i);

      g_checksum_update (st.tx_sum[0], g_bytes_get_data (m, NULL), g_bytes_get_size (m));
      st.total[0] += g_bytes_get_size (m);
      g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
    }
    g_assert_true (pair_run (p, pred_stress, &st, 60 * SEC));
    g_assert_false (p->side[0].closed);
    g_assert_false (p->side[1].closed);
    g_assert_cmpuint (p->side[1].rx_bytes, ==, st.total[0]);
    g_assert_cmpuint (p->side[0].rx_bytes, ==, st.total[1]);
    g_assert_cmpuint (p->side[1].n_messages, ==, n_client);
    g_assert_cmpuint (p->side[0].n_messages, ==, p->early_msgs);
    g_assert_cmpstr (g_checksum_get_string (st.tx_sum[0]), ==,
        g_checksum_get_string (p->side[1].rx_sum));
    g_assert_cmpstr (g_checksum_get_string (st.tx_sum[1]), ==,
        g_checksum_get_string (p->side[0].rx_sum));
    /* nothing more arrives afterwards (duplicates still in flight) */
    g_assert_true (pair_run (p, NULL, NULL, 2 * SEC));
    g_assert_cmpuint (p->side[1].rx_bytes, ==, st.total[0]);
    g_assert_cmpuint (p->side[0].rx_bytes, ==, st.total[1]);
    g_checksum_free (st.tx_sum[0]);
    g_checksum_free (st.tx_sum[1]);
  }
#if defined(__SANITIZE_ADDRESS__)
  __lsan_enable ();
#endif
}

/* The message stream's send watermark (where senders wait) grows with the
 * congestion window with the default setting (4 windows, at least 4 MiB,
 * at most 32 MiB): after 24 MiB across a 50 ms RTT path it is above 4 MiB
 * (a fixed 4 MiB capped a lossy long path at about 240 Mbit/s,
 * docs/performance.md); a watermark set in the configuration stays. */
static void
test_send_queue_grows (void)
{
  for (int fixed = 0; fixed < 2; fixed++) {
    g_autoptr (Pair) p = pair_new ();
    gsize start, high;

    p->latency = 25 * MS;
    if (fixed)
      p->cfg[0].send_queue_high = 1024 * 1024;
    pair_establish (p);
    start = p2p_quic_session_get_send_queue_high (p->s[0]);
    g_assert_cmpuint (start, ==, fixed ? 1024 * 1024 : 4 * 1024 * 1024);
    for (guint i = 0; i < 384; i++) {
      g_autoptr (GBytes) m = make_bytes (65536, i);

      g_assert_true (p2p_quic_session_send_message (p->s[0], m, NULL));
    }
    g_assert_true (pair_run (p, pred_messages, GUINT_TO_POINTER (384), 120 * SEC));
    g_assert_cmpuint (p->side[1].n_messages, ==, 384);
    high = p2p_quic_session_get_send_queue_high (p->s[0]);
    g_test_message ("watermark after 24 MiB: %" G_GSIZE_FORMAT " bytes%s", high,
        fixed ? " (set to 1 MiB)" : "");
    if (fixed) {
      g_assert_cmpuint (high, ==, 1024 * 1024);
    } else {
      g_assert_cmpuint (high, >, 4 * 1024 * 1024);
      g_assert_cmpuint (high, <=, 32 * 1024 * 1024);
    }
  }
}

/* Found in review: a message's frame header is credited back at once, so
 * empty messages cost the peer 2 bytes of window and the receiver ~64 bytes
 * of memory each, without bound while the application does not read (a
 * file service never does: 830 MB after 27 MiB of them). More than
 * recv_window / 32 (at least 65536) unread messages close the connection
 * with LIMIT; read ones do not count. */
static void
test_unread_messages_bounded (void)
{
  g_autoptr (Pair) p = pair_new ();
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  const guint max = 65536;      /* recv_window 1 MiB: the least */

  p->cfg[1].recv_window = 1024 * 1024;
  p->side[1].hold_messages = TRUE;
  pair_establish (p);
  for (guint i = 0; i < max; i++)
    g_assert_true (p2p_quic_session_send_message (p->s[0], empty, NULL));
  g_assert_true (pair_run (p, pred_messages, GUINT_TO_POINTER (max), 60 * SEC));
  pair_run (p, NULL, NULL, 1 * SEC);
  g_assert_false (p->side[1].closed);
  /* read (consumed) messages do not count */
  p2p_quic_session_message_consumed (p->s[1], 0, 10);
  for (guint i = 0; i < 10; i++)
    g_assert_true (p2p_quic_session_send_message (p->s[0], empty, NULL));
  g_assert_true (pair_run (p, pred_messages, GUINT_TO_POINTER (max + 10), 10 * SEC));
  pair_run (p, NULL, NULL, 1 * SEC);
  g_assert_false (p->side[1].closed);
  /* one more unread: the receiver closes, and says why */
  g_assert_true (p2p_quic_session_send_message (p->s[0], empty, NULL));
  g_assert_true (pair_run (p, pred_both_closed, NULL, 10 * SEC));
  g_assert_cmpuint (p->side[1].n_messages, ==, max + 10);
  g_assert_error (p->side[1].error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_assert_nonnull (strstr (p->side[1].error->message, "65536 messages"));
  g_assert_nonnull (p->side[0].reason);
  g_assert_nonnull (strstr (p->side[0].reason, "did not read"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/quic-session/handshake", test_handshake);
  g_test_add_func ("/quic-session/wrong-key", test_wrong_key);
  g_test_add_func ("/quic-session/allow-list", test_allow_list);
  g_test_add_func ("/security/client-without-key", test_client_without_key);
  g_test_add_func ("/security/peer-key-check", test_peer_key_check);
  g_test_add_func ("/security/server-requires-client-key", test_server_requires_client_key);
  g_test_add_func ("/quic-session/message-sizes", test_message_sizes);
  g_test_add_func ("/security/unread-messages-bounded", test_unread_messages_bounded);
  g_test_add_func ("/quic-session/order", test_order);
  g_test_add_func ("/quic-session/bulk-64mib", test_bulk_64mib);
  g_test_add_func ("/quic-session/bulk-jumbo", test_bulk_jumbo);
  g_test_add_func ("/quic-session/loss", test_loss);
  g_test_add_func ("/quic-session/loss-small-messages", test_loss_small_messages);
  g_test_add_func ("/quic-session/datagram", test_datagram);
  g_test_add_func ("/quic-session/datagram-jumbo", test_datagram_jumbo);
  g_test_add_func ("/quic-session/vanish", test_vanish);
  g_test_add_func ("/quic-session/handshake-timeout", test_handshake_timeout);
  g_test_add_func ("/quic-session/version-mismatch", test_version_mismatch);
  g_test_add_func ("/quic-session/version-negotiation", test_version_negotiation);
  g_test_add_func ("/quic-session/capabilities", test_capabilities);
  g_test_add_func ("/quic-session/garbage", test_garbage);
  g_test_add_func ("/quic-session/packet-helpers", test_packet_helpers);
  g_test_add_func ("/quic-session/handshake-loss", test_handshake_loss);
  g_test_add_func ("/quic-session/silent-client", test_silent_client);
  g_test_add_func ("/quic-session/graceful-close", test_graceful_close);
  g_test_add_func ("/quic-session/liveness", test_liveness);
  g_test_add_func ("/quic-session/extra-stream", test_extra_stream);
  g_test_add_func ("/quic-session/stream-write-bytes", test_stream_write_bytes);
  g_test_add_func ("/quic-session/cid-and-reset", test_cid_and_reset);
  g_test_add_func ("/quic-session/open-stream-errors", test_open_stream_errors);
  g_test_add_func ("/quic-session/early-streams", test_early_streams);
  g_test_add_func ("/quic-session/keepalive", test_keepalive);
  g_test_add_func ("/quic-session/close-without-reason", test_close_without_reason);
  g_test_add_func ("/quic-session/integrity-stress", test_integrity_stress);
  g_test_add_func ("/quic-session/send-queue-grows", test_send_queue_grows);
  return g_test_run ();
}
