/* test-sim-provider.c: the sim provider with the real QUIC stack over the
 * simulated network, in MANUAL clock mode on the test thread: handshake,
 * try_send and batches, 16 MiB through loss/reordering/duplication, partitions (timeout and
 * recovery), failure rate, 100 peers on one listener, same seed = same trace,
 * listen and connect errors, provider selection.
 *
 * Everything runs on this thread, which owns the network's context for the
 * whole test: connect_async completes through the context; accept, send and
 * receive are called from run_until_cond predicates and return WOULD_BLOCK
 * instead of waiting (no helper threads: runs are deterministic).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-private.h"
#include "p2p/p2p-error.h"
#include "p2p-test-util.h"
#include "p2p/p2p-peer-info.h"
#include "p2p/p2p-quic-provider.h"

#include <string.h>

#define MS G_GUINT64_CONSTANT (1000000)
#define S (1000 * MS)

typedef struct {
  P2pSimNetwork *net;
  P2pConfig *cfg;
  P2pProvider *server, *client;
  P2pListener *listener;
} Env;

static void
env_init (Env *e, guint64 seed, guint latency_ms, guint idle_timeout_ms)
{
  g_autoptr (GError) error = NULL;

  /* this thread is the network thread for the whole test */
  g_assert_true (g_main_context_acquire (g_main_context_default ()));
  e->net = p2p_sim_network_new (seed);
  g_object_set (e->net, "latency-ms", latency_ms, NULL);
  e->cfg = p2p_config_new ();
  e->cfg->idle_timeout_ms = idle_timeout_ms;
  e->cfg->keepalive_ms = idle_timeout_ms / 4;
  e->cfg->listen_port = 4433;
  e->cfg->max_connections = 200;
  e->server = p2p_sim_provider_new (e->net, NULL, e->cfg);
  e->client = p2p_sim_provider_new (e->net, NULL, e->cfg);
  e->listener = p2p_provider_listen (e->server, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (e->listener);
}

static void
env_clear (Env *e)
{
  if (e->listener)
    p2p_listener_close (e->listener);
  g_clear_object (&e->listener);
  g_clear_object (&e->client);
  g_clear_object (&e->server);
  /* let closes and their timers finish */
  if (e->net)
    p2p_sim_network_run_until_idle (e->net, 120 * S);
  g_clear_object (&e->net);
  g_clear_pointer (&e->cfg, p2p_config_free);
  g_main_context_release (g_main_context_default ());
}

static char *
peer_text (P2pProvider *p)
{
  return p2p_peer_id_to_string (p2p_provider_get_local_peer_id (p));
}

/* Connects @client to @peer; returns the connection or NULL + error. */
static P2pConnection *
connect_sync_virtual (P2pSimNetwork *net, P2pProvider *client, const char *peer,
    GError **error)
{
  P2pTestConnectResult r = { 0 };

  p2p_provider_connect_async (client, peer, NULL, p2p_test_connect_cb, &r);
  g_assert_true (p2p_sim_network_run_until_cond (net, p2p_test_connect_done, &r, 600 * S));
  if (r.error)
    g_propagate_error (error, r.error);
  return r.conn;
}

typedef struct {
  P2pListener *listener;
  GPtrArray *accepted;
  guint want;
} Acceptor;

static gboolean
accept_some (gpointer data)
{
  Acceptor *a = data;

  while (a->accepted->len < a->want) {
    g_autoptr (GError) error = NULL;
    P2pConnection *c = p2p_listener_accept (a->listener, NULL, &error);

    if (c == NULL) {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
      break;
    }
    g_ptr_array_add (a->accepted, c);
  }
  return a->accepted->len >= a->want;
}

static P2pConnection *
accept_one (Env *e)
{
  Acceptor a = { e->listener, g_ptr_array_new_with_free_func (g_object_unref), 1 };
  P2pConnection *c;

  g_assert_true (p2p_sim_network_run_until_cond (e->net, accept_some, &a, 60 * S));
  c = g_object_ref (a.accepted->pdata[0]);
  g_ptr_array_unref (a.accepted);
  return c;
}

/* ---------------------------------------------------------------- pump */

typedef struct {
  P2pConnection *tx, *rx;
  gsize msg_size, total;
  gsize sent, received;
  guint32 counter;
  GChecksum *tx_sum, *rx_sum;
  GError *error;
  gboolean stop_sending;
  gboolean try_send;            /* p2p_connection_try_send/_try_receive instead of
                                 * send/receive */
  guint would_block;            /* how often try_send found the queue full */
} Pump;

static void
pump_init (Pump *p, P2pConnection *tx, P2pConnection *rx, gsize total, gsize msg_size)
{
  memset (p, 0, sizeof *p);
  p->tx = tx;
  p->rx = rx;
  p->total = total;
  p->msg_size = msg_size;
  p->tx_sum = g_checksum_new (G_CHECKSUM_SHA256);
  p->rx_sum = g_checksum_new (G_CHECKSUM_SHA256);
}

static void
pump_clear (Pump *p)
{
  g_checksum_free (p->tx_sum);
  g_checksum_free (p->rx_sum);
  g_clear_error (&p->error);
}

static GBytes *
make_message (Pump *p)
{
  gsize n = MIN (p->msg_size, p->total - p->sent);
  guint8 *buf = g_malloc (n);

  for (gsize i = 0; i < n; i++)
    buf[i] = (guint8) ((p->counter * 131 + i * 7) ^ (i >> 8));
  p->counter++;
  return g_bytes_new_take (buf, n);
}

static gboolean
pump_step (gpointer data)
{
  Pump *p = data;

  while (!p->stop_sending && p->sent < p->total && p->error == NULL) {
    g_autoptr (GBytes) m = make_message (p);
    g_autoptr (GError) error = NULL;

    if (!(p->try_send ? p2p_connection_try_send (p->tx, m, &error)
            : p2p_connection_send (p->tx, m, NULL, &error))) {
      p->counter--;
      if (p->try_send && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        p->would_block++;
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        p->error = g_steal_pointer (&error);
      break;
    }
    g_checksum_update (p->tx_sum, g_bytes_get_data (m, NULL), g_bytes_get_size (m));
    p->sent += g_bytes_get_size (m);
  }
  while (p->error == NULL) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) m = p->try_send ? p2p_connection_try_receive (p->rx, &error)
        : p2p_connection_receive (p->rx, NULL, &error);

    if (m == NULL) {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        p->error = g_steal_pointer (&error);
      break;
    }
    g_checksum_update (p->rx_sum, g_bytes_get_data (m, NULL), g_bytes_get_size (m));
    p->received += g_bytes_get_size (m);
  }
  return p->error != NULL || (p->received >= p->total && p->sent >= p->total);
}

typedef struct {
  P2pConnection *rx[2];
  GBytes *got[2];
} ReceiveBoth;

static gboolean
receive_both (gpointer data)
{
  ReceiveBoth *r = data;

  for (guint i = 0; i < 2; i++) {
    g_autoptr (GError) error = NULL;

    if (r->got[i] == NULL)
      r->got[i] = p2p_connection_receive (r->rx[i], NULL, &error);
    if (r->got[i] == NULL)
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  }
  return r->got[0] && r->got[1];
}

/* p2p_connection_batch_begin/end: what two connections queue inside a
 * (nested) batch waits for the outermost end, then both arrive. */
static void
check_batch (P2pSimNetwork *net, P2pConnection *c, P2pConnection *s)
{
  g_autoptr (GBytes) a = g_bytes_new_static ("batched one way", 15);
  g_autoptr (GBytes) b = g_bytes_new_static ("and the other", 13);
  g_autoptr (GError) error = NULL;
  ReceiveBoth r = { { s, c }, { NULL, NULL } };
  guint64 t0;

  /* nothing pending from before (the batch holds work scheduled inside
   * it; in MANUAL mode also what this thread's network dispatch schedules) */
  g_assert_false (p2p_sim_network_run_until_cond (net, receive_both, &r, 50 * MS));
  p2p_connection_batch_begin ();
  p2p_connection_batch_begin ();
  g_assert_true (p2p_connection_try_send (c, a, &error));
  g_assert_no_error (error);
  g_assert_true (p2p_connection_send (s, b, NULL, &error));
  g_assert_no_error (error);
  /* 500 ms (virtual, 25 round trips): nothing leaves */
  g_assert_false (p2p_sim_network_run_until_cond (net, receive_both, &r, 500 * MS));
  g_assert_null (r.got[0]);
  g_assert_null (r.got[1]);
  p2p_connection_batch_end ();
  g_assert_false (p2p_sim_network_run_until_cond (net, receive_both, &r, 100 * MS));
  g_assert_null (r.got[0]);
  p2p_connection_batch_end ();
  t0 = p2p_sim_network_now (net);
  g_assert_true (p2p_sim_network_run_until_cond (net, receive_both, &r, 1 * S));
  /* one way: 10 ms */
  g_assert_cmpuint (p2p_sim_network_now (net) - t0, <, 30 * MS);
  g_assert_true (g_bytes_equal (r.got[0], a));
  g_assert_true (g_bytes_equal (r.got[1], b));
  g_bytes_unref (r.got[0]);
  g_bytes_unref (r.got[1]);
}

/* ---------------------------------------------------------------- tests */

static void
test_handshake (void)
{
  Env e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c = NULL, again = NULL, by_ticket = NULL;
  g_autoptr (P2pConnection) s = NULL;
  g_autofree char *server_id = NULL, *ticket = NULL;
  g_autoptr (GSocketAddress) local = NULL;
  P2pConnectionStats st;

  env_init (&e, 1, 10, 5000);
  server_id = peer_text (e.server);
  c = connect_sync_virtual (e.net, e.client, server_id, &error);
  g_assert_no_error (error);
  g_assert_nonnull (c);
  s = accept_one (&e);
  g_assert_true (p2p_connection_is_connected (c));
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (c),
          p2p_provider_get_local_peer_id (e.server)));
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (s),
          p2p_provider_get_local_peer_id (e.client)));
  p2p_connection_get_stats (c, &st);
  g_assert_cmpuint (st.path_kind, ==, P2P_PATH_KIND_SIMULATED);
  /* one round trip of 20 ms at least, a few at most */
  g_assert_cmpuint (st.rtt_us, >=, 20000);
  g_assert_cmpuint (st.rtt_us, <, 60000);
  g_assert_cmpuint (p2p_sim_provider_get_node (P2P_SIM_PROVIDER (e.server)), ==, 1);
  g_assert_true (p2p_sim_provider_get_network (P2P_SIM_PROVIDER (e.server)) == e.net);

  local = p2p_listener_get_local_address (e.listener);
  {
    g_autofree char *a = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (local));

    g_assert_cmpstr (a, ==, "10.77.0.1:4433");
  }

  /* pooled: the same peer again gives the same connection, also by ticket */
  again = connect_sync_virtual (e.net, e.client, server_id, &error);
  g_assert_no_error (error);
  g_assert_true (again == c);
  ticket = p2p_listener_get_ticket (e.listener);
  by_ticket = connect_sync_virtual (e.net, e.client, ticket, &error);
  g_assert_no_error (error);
  g_assert_true (by_ticket == c);

  /* a message each way */
  {
    Pump p;

    pump_init (&p, c, s, 1000, 1000);
    g_assert_true (p2p_sim_network_run_until_cond (e.net, pump_step, &p, 10 * S));
    g_assert_no_error (p.error);
    g_assert_cmpstr (g_checksum_get_string (p.tx_sum), ==, g_checksum_get_string (p.rx_sum));
    pump_clear (&p);
    pump_init (&p, s, c, 3000, 1000);
    g_assert_true (p2p_sim_network_run_until_cond (e.net, pump_step, &p, 10 * S));
    g_assert_no_error (p.error);
    g_assert_cmpstr (g_checksum_get_string (p.tx_sum), ==, g_checksum_get_string (p.rx_sum));
    pump_clear (&p);
    /* try_send: 8 MiB, more than the send queue holds: it says
     * WOULD_BLOCK when full, never blocks, and every byte arrives in order
     * (taken with try_receive, WOULD_BLOCK while nothing has arrived) */
    pump_init (&p, c, s, 8 << 20, 60000);
    p.try_send = TRUE;
    g_assert_true (p2p_sim_network_run_until_cond (e.net, pump_step, &p, 60 * S));
    g_assert_no_error (p.error);
    g_assert_cmpuint (p.received, ==, 8 << 20);
    g_assert_cmpuint (p.would_block, >, 0);
    g_assert_cmpstr (g_checksum_get_string (p.tx_sum), ==, g_checksum_get_string (p.rx_sum));
    pump_clear (&p);
  }
  check_batch (e.net, c, s);
  {
    g_autoptr (GError) err = NULL;

    /* nothing waiting: WOULD_BLOCK; after the peer's close: CLOSED */
    g_assert_null (p2p_connection_try_receive (s, &err));
    g_assert_error (err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
    g_clear_error (&err);
    p2p_connection_close (c, "bye");
    p2p_sim_network_run_until_idle (e.net, 10 * S);
    g_assert_null (p2p_connection_try_receive (s, &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_CLOSED);
  }
  g_clear_object (&c);
  g_clear_object (&again);
  g_clear_object (&by_ticket);
  g_clear_object (&s);
  env_clear (&e);
}

static void
test_connect_errors (void)
{
  Env e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pIdentity) stranger = p2p_identity_new ();
  g_autofree char *sid = p2p_identity_dup_peer_id_string (stranger);
  g_autofree char *server_id = NULL, *hinted = NULL;
  g_autoptr (P2pConnection) c = NULL;

  env_init (&e, 2, 10, 2000);
  /* unknown peer ID: PEER_NOT_FOUND, decided without any packet */
  g_assert_null (connect_sync_virtual (e.net, e.client, sid, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, sid));
  g_assert_nonnull (strstr (error->message, "is not on simulated network (unnamed)"));
  g_clear_error (&error);
  g_assert_cmpuint (p2p_sim_network_now (e.net), ==, 0);

  g_assert_null (connect_sync_virtual (e.net, e.client, "not-a-peer", &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* ID@HOST:PORT to the right node but a port nobody listens on: the dial
   * times out after the idle timeout (virtual) */
  server_id = peer_text (e.server);
  hinted = g_strdup_printf ("%s@10.77.0.1:9", server_id);
  g_assert_null (connect_sync_virtual (e.net, e.client, hinted, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_TIMEOUT);
  g_clear_error (&error);
  g_assert_cmpuint (p2p_sim_network_now (e.net), >=, 2 * S);

  /* the wrong key at the registered address: AUTHENTICATION_FAILED */
  {
    g_autoptr (GSocketAddress) addr = p2p_listener_get_local_address (e.listener);

    p2p_sim_network_register_peer (e.net, p2p_identity_get_peer_id (stranger), addr);
    g_assert_null (connect_sync_virtual (e.net, e.client, sid, &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
    g_clear_error (&error);
  }

  /* cancelled before it starts */
  {
    g_autoptr (GCancellable) cancel = g_cancellable_new ();
    P2pTestConnectResult r = { 0 };

    g_cancellable_cancel (cancel);
    p2p_provider_connect_async (e.client, server_id, cancel, p2p_test_connect_cb, &r);
    g_assert_true (p2p_sim_network_run_until_cond (e.net, p2p_test_connect_done, &r, 10 * S));
    g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error (&r.error);
  }

  /* listen errors: port in use, foreign host */
  g_assert_null (p2p_provider_listen (e.server, ":4433", &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, "already in use"));
  g_clear_error (&error);
  g_assert_null (p2p_provider_listen (e.server, "192.0.2.1:80", &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "10.77.0.1"));
  g_clear_error (&error);
  g_assert_null (p2p_provider_listen (e.server, ":99999", &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  {
    g_autoptr (P2pListener) l2 = p2p_provider_listen (e.server, "10.77.0.1:0", &error);

    g_assert_no_error (error);
    g_assert_nonnull (l2);
    p2p_listener_close (l2);
  }
  env_clear (&e);
}

static void
test_lossy_16mib (void)
{
  Env e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c = NULL, s = NULL;
  g_autofree char *server_id = NULL;
  P2pSimStats st;
  Pump p;

  env_init (&e, 5, 10, 10000);
  g_object_set (e.net, "jitter-ms", 2, "loss", 0.05, "duplicate", 0.02, "reorder", 0.02, NULL);
  server_id = peer_text (e.server);
  c = connect_sync_virtual (e.net, e.client, server_id, &error);
  g_assert_no_error (error);
  s = accept_one (&e);

  pump_init (&p, c, s, 16 * 1024 * 1024, 64 * 1024);
  g_assert_true (p2p_sim_network_run_until_cond (e.net, pump_step, &p, 1200 * S));
  g_assert_no_error (p.error);
  g_assert_cmpuint (p.received, ==, 16 * 1024 * 1024);
  g_assert_cmpstr (g_checksum_get_string (p.tx_sum), ==, g_checksum_get_string (p.rx_sum));
  p2p_sim_network_get_stats (e.net, &st);
  g_assert_cmpuint (st.dropped_loss, >, 0);
  g_assert_cmpuint (st.packets_duplicated, >, 0);
  g_assert_cmpuint (st.packets_reordered, >, 0);
  g_test_message ("16 MiB in %.1f virtual s, %" G_GUINT64_FORMAT " packets, %" G_GUINT64_FORMAT
      " lost", p2p_sim_network_now (e.net) / 1e9, st.packets_sent, st.dropped_loss);
  pump_clear (&p);
  g_clear_object (&c);
  g_clear_object (&s);
  env_clear (&e);
}

typedef struct {
  gboolean closed;
  GError *error;
} Closed;

static void
on_closed (P2pConnection *conn, const GError *error, gpointer user_data)
{
  Closed *cl = user_data;

  cl->closed = TRUE;
  g_clear_error (&cl->error);
  if (error)
    cl->error = g_error_copy (error);
}

static gboolean
is_closed (gpointer data)
{
  return ((Closed *) data)->closed;
}

static void
test_partition_timeout (void)
{
  Env e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c = NULL, s = NULL;
  g_autofree char *server_id = NULL;
  Closed cl = { 0 };
  guint64 t0;

  env_init (&e, 6, 10, 3000);
  server_id = peer_text (e.server);
  c = connect_sync_virtual (e.net, e.client, server_id, &error);
  g_assert_no_error (error);
  s = accept_one (&e);
  g_signal_connect (c, "closed", G_CALLBACK (on_closed), &cl);

  p2p_sim_network_partition (e.net, 1, 2);
  t0 = p2p_sim_network_now (e.net);
  g_assert_true (p2p_sim_network_run_until_cond (e.net, is_closed, &cl, 60 * S));
  g_assert_error (cl.error, P2P_ERROR, P2P_ERROR_TIMEOUT);
  g_assert_cmpuint (p2p_sim_network_now (e.net) - t0, >=, 2 * S);
  g_assert_cmpuint (p2p_sim_network_now (e.net) - t0, <=, 10 * S);
  g_assert_false (p2p_connection_is_connected (c));
  {
    g_autoptr (GBytes) m = p2p_connection_receive (c, NULL, &error);

    g_assert_null (m);
    g_assert_error (error, P2P_ERROR, P2P_ERROR_TIMEOUT);
    g_clear_error (&error);
  }
  g_clear_error (&cl.error);
  g_signal_handlers_disconnect_by_data (c, &cl);
  g_clear_object (&c);
  g_clear_object (&s);
  env_clear (&e);
}

static void
test_partition_recovers (void)
{
  Env e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c = NULL, s = NULL;
  g_autofree char *server_id = NULL;
  Closed cl = { 0 };
  Pump p;

  env_init (&e, 7, 10, 5000);
  server_id = peer_text (e.server);
  c = connect_sync_virtual (e.net, e.client, server_id, &error);
  g_assert_no_error (error);
  s = accept_one (&e);
  g_signal_connect (c, "closed", G_CALLBACK (on_closed), &cl);

  /* queue 1 MiB, partition for 2 s (shorter than the 5 s idle timeout) */
  pump_init (&p, c, s, 1024 * 1024, 16 * 1024);
  p2p_sim_network_partition (e.net, 1, 2);
  g_assert_false (p2p_sim_network_run_until_cond (e.net, pump_step, &p, 2 * S));
  g_assert_no_error (p.error);
  g_assert_cmpuint (p.received, ==, 0);
  p2p_sim_network_heal (e.net, 1, 2);
  g_assert_true (p2p_sim_network_run_until_cond (e.net, pump_step, &p, 120 * S));
  g_assert_no_error (p.error);
  g_assert_cmpuint (p.received, ==, 1024 * 1024);
  g_assert_cmpstr (g_checksum_get_string (p.tx_sum), ==, g_checksum_get_string (p.rx_sum));
  g_assert_false (cl.closed);
  g_assert_true (p2p_connection_is_connected (c));
  pump_clear (&p);
  g_signal_handlers_disconnect_by_data (c, &cl);
  g_clear_object (&c);
  g_clear_object (&s);
  env_clear (&e);
}

/* The client's network changes under a live transfer (server -> client,
 * like p2psink -> p2psrc): its NAT rebinds, or it moves to a new address.
 * The server sees packets with the connection's ID from an unknown
 * address, validates the new path and carries on there: every byte
 * arrives once, the connection stays up, and the transfer resumes within
 * a few round trips (virtual time, 10 ms each way). */
typedef struct {
  Pump p;
  P2pSimNetwork *net;
  gsize move_at;
  gsize last_received;
  guint64 last_progress_ns, max_gap_ns;
} MoveRun;

static gboolean
pump_until_move (gpointer data)
{
  MoveRun *m = data;

  return pump_step (&m->p) || m->p.received >= m->move_at;
}

/* Pumps and keeps the longest time without anything received. */
static gboolean
pump_watch_gap (gpointer data)
{
  MoveRun *m = data;
  gboolean done = pump_step (&m->p);
  guint64 now = p2p_sim_network_now (m->net);

  if (m->p.received > m->last_received) {
    m->max_gap_ns = MAX (m->max_gap_ns, now - m->last_progress_ns);
    m->last_received = m->p.received;
    m->last_progress_ns = now;
  }
  return done;
}

/* "path-changed" of the server's connection: old and new kind, in order */
static void
on_moved (P2pConnection *conn, P2pPathKind old_kind, P2pPathKind new_kind, gpointer data)
{
  GArray *kinds = data;

  g_array_append_val (kinds, old_kind);
  g_array_append_val (kinds, new_kind);
}

static void
run_client_moves (guint64 seed, gboolean new_address)
{
  g_autoptr (GArray) kinds = g_array_new (FALSE, FALSE, sizeof (P2pPathKind));
  Env e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c = NULL, s = NULL;
  g_autofree char *server_id = NULL;
  g_autoptr (GInetAddress) before = NULL, after = NULL;
  Closed cl = { 0 };
  MoveRun m = { 0 };
  Pump back;
  P2pConnectionStats st;
  guint client;

  env_init (&e, seed, 10, 10000);
  server_id = peer_text (e.server);
  c = connect_sync_virtual (e.net, e.client, server_id, &error);
  g_assert_no_error (error);
  s = accept_one (&e);
  g_signal_connect (s, "closed", G_CALLBACK (on_closed), &cl);
  g_signal_connect (s, "path-changed", G_CALLBACK (on_moved), kinds);
  client = p2p_sim_provider_get_node (P2P_SIM_PROVIDER (e.client));
  before = p2p_sim_network_get_node_address (e.net, client);

  pump_init (&m.p, s, c, 8 * 1024 * 1024, 16 * 1024);
  m.move_at = 2 * 1024 * 1024;
  g_assert_true (p2p_sim_network_run_until_cond (e.net, pump_until_move, &m, 120 * S));
  g_assert_no_error (m.p.error);
  m.net = e.net;
  m.last_received = m.p.received;
  m.last_progress_ns = p2p_sim_network_now (e.net);
  if (new_address)
    p2p_sim_network_change_node_address (e.net, client);
  else
    p2p_sim_network_rebind_node (e.net, client);
  after = p2p_sim_network_get_node_address (e.net, client);
  g_assert_true (new_address != g_inet_address_equal (before, after));

  g_assert_true (p2p_sim_network_run_until_cond (e.net, pump_watch_gap, &m, 600 * S));
  g_assert_no_error (m.p.error);
  g_assert_cmpuint (m.p.received, ==, 8 * 1024 * 1024);
  g_assert_cmpstr (g_checksum_get_string (m.p.tx_sum), ==, g_checksum_get_string (m.p.rx_sum));
  p2p_connection_get_stats (s, &st);
  g_assert_cmpuint (st.migrations, ==, 1);
  /* the migration is a path change of the same kind, signalled and counted */
  g_assert_cmpuint (st.path_changes, ==, 1);
  g_assert_cmpuint (kinds->len, ==, 2);
  g_assert_cmpint (g_array_index (kinds, P2pPathKind, 0), ==, P2P_PATH_KIND_SIMULATED);
  g_assert_cmpint (g_array_index (kinds, P2pPathKind, 1), ==, P2P_PATH_KIND_SIMULATED);
  g_test_message ("%s: longest time without data after the move %.0f ms (virtual)",
      new_address ? "new address" : "NAT rebinding", m.max_gap_ns / 1e6);
  /* a few round trips (20 ms each), not a timeout */
  g_assert_cmpuint (m.max_gap_ns, <, 1 * S);

  /* and the other way, from the new address */
  pump_init (&back, c, s, 512 * 1024, 16 * 1024);
  g_assert_true (p2p_sim_network_run_until_cond (e.net, pump_step, &back, 120 * S));
  g_assert_no_error (back.error);
  g_assert_cmpstr (g_checksum_get_string (back.tx_sum), ==, g_checksum_get_string (back.rx_sum));
  g_assert_false (cl.closed);
  g_assert_true (p2p_connection_is_connected (s));
  pump_clear (&back);
  pump_clear (&m.p);
  g_signal_handlers_disconnect_by_data (s, &cl);
  g_signal_handlers_disconnect_by_data (s, kinds);
  g_clear_object (&c);
  g_clear_object (&s);
  env_clear (&e);
}

static void
test_nat_rebinding (void)
{
  run_client_moves (21, FALSE);
}

static void
test_address_change (void)
{
  run_client_moves (22, TRUE);
}

static void
test_crash (void)
{
  Env e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c = NULL, s = NULL;
  g_autofree char *server_id = NULL;
  Closed cl = { 0 };
  P2pSimStats st;

  env_init (&e, 13, 10, 3000);
  server_id = peer_text (e.server);
  c = connect_sync_virtual (e.net, e.client, server_id, &error);
  g_assert_no_error (error);
  s = accept_one (&e);
  g_signal_connect (c, "closed", G_CALLBACK (on_closed), &cl);

  /* the server's host dies: the client times out */
  p2p_sim_network_crash_node (e.net, 1);
  g_assert_true (p2p_sim_network_run_until_cond (e.net, is_closed, &cl, 60 * S));
  g_assert_error (cl.error, P2P_ERROR, P2P_ERROR_TIMEOUT);
  p2p_sim_network_get_stats (e.net, &st);
  g_assert_cmpuint (st.dropped_crash, >, 0);
  g_clear_error (&cl.error);
  g_signal_handlers_disconnect_by_data (c, &cl);
  g_clear_object (&c);

  /* back up, but its listening socket died with it: the dial times out */
  p2p_sim_network_restart_node (e.net, 1);
  g_assert_null (connect_sync_virtual (e.net, e.client, server_id, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_TIMEOUT);
  g_clear_object (&s);
  env_clear (&e);
}

static void
test_failure_rate (void)
{
  Env e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *server_id = NULL;

  env_init (&e, 8, 10, 2000);
  g_object_set (e.net, "failure-rate", 1.0, NULL);
  server_id = peer_text (e.server);
  g_assert_null (connect_sync_virtual (e.net, e.client, server_id, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED);
  g_assert_nonnull (strstr (error->message, "simulated connection failure (failure-rate=1)"));
  env_clear (&e);
}

static void
test_hundred_peers (void)
{
  Env e = { 0 };
  g_autofree char *server_id = NULL;
  GPtrArray *clients = g_ptr_array_new_with_free_func (g_object_unref);
  P2pTestConnectResult *results = g_new0 (P2pTestConnectResult, 100);
  Acceptor a;
  guint i;

  env_init (&e, 9, 20, 10000);
  server_id = peer_text (e.server);
  a.listener = e.listener;
  a.accepted = g_ptr_array_new_with_free_func (g_object_unref);
  a.want = 100;
  for (i = 0; i < 100; i++) {
    P2pProvider *p = p2p_sim_provider_new (e.net, NULL, e.cfg);

    g_ptr_array_add (clients, p);
    p2p_provider_connect_async (p, server_id, NULL, p2p_test_connect_cb, &results[i]);
  }
  g_assert_true (p2p_sim_network_run_until_cond (e.net, accept_some, &a, 120 * S));
  for (i = 0; i < 100; i++) {
    if (!results[i].done)
      g_assert_true (p2p_sim_network_run_until_cond (e.net, p2p_test_connect_done, &results[i], 60 * S));
    g_assert_no_error (results[i].error);
    g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (results[i].conn),
            p2p_provider_get_local_peer_id (e.server)));
  }
  /* every client appears exactly once among the accepted connections */
  for (i = 0; i < 100; i++) {
    guint found = 0;

    for (guint j = 0; j < a.accepted->len; j++)
      if (p2p_peer_id_equal (p2p_connection_get_peer_id (a.accepted->pdata[j]),
              p2p_provider_get_local_peer_id (clients->pdata[i])))
        found++;
    g_assert_cmpuint (found, ==, 1);
  }
  for (i = 0; i < 100; i++)
    g_clear_object (&results[i].conn);
  g_free (results);
  g_ptr_array_unref (a.accepted);
  g_ptr_array_unref (clients);
  env_clear (&e);
}

static char *
traced_run (guint64 seed, P2pSimStats *st)
{
  Env e = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c = NULL, s = NULL;
  g_autofree char *server_id = NULL;
  char *hash;
  Pump p;

  env_init (&e, seed, 15, 5000);
  p2p_sim_network_set_trace (e.net, TRUE);
  p2p_sim_network_set_trace_limit (e.net, 1);
  g_object_set (e.net, "jitter-ms", 3, "loss", 0.03, "duplicate", 0.01, "reorder", 0.01, NULL);
  server_id = peer_text (e.server);
  c = connect_sync_virtual (e.net, e.client, server_id, &error);
  g_assert_no_error (error);
  s = accept_one (&e);
  pump_init (&p, c, s, 256 * 1024, 8 * 1024);
  g_assert_true (p2p_sim_network_run_until_cond (e.net, pump_step, &p, 600 * S));
  g_assert_no_error (p.error);
  g_assert_cmpstr (g_checksum_get_string (p.tx_sum), ==, g_checksum_get_string (p.rx_sum));
  pump_clear (&p);
  hash = p2p_sim_network_get_trace_hash (e.net);
  p2p_sim_network_get_stats (e.net, st);
  g_clear_object (&c);
  g_clear_object (&s);
  env_clear (&e);
  return hash;
}

static void
test_same_seed_same_trace (void)
{
  P2pSimStats s1, s2, s3;
  g_autofree char *h1 = traced_run (11, &s1);
  g_autofree char *h2 = traced_run (11, &s2);
  g_autofree char *h3 = traced_run (12, &s3);

  g_assert_cmpstr (h1, ==, h2);
  g_assert_cmpmem (&s1, sizeof s1, &s2, sizeof s2);
  g_assert_cmpstr (h1, !=, h3);
}

static void
test_select (void)
{
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pProvider) q = NULL, s = NULL;

  q = p2p_provider_new_from_config (NULL, cfg, &error);
  g_assert_no_error (error);
  g_assert_true (P2P_IS_QUIC_PROVIDER (q));

  cfg->implementation = P2P_IMPLEMENTATION_SIM;
  cfg->sim_latency_ms = 33;
  cfg->sim_seed = 5;
  s = p2p_provider_new_from_config (NULL, cfg, &error);
  g_assert_no_error (error);
  g_assert_true (P2P_IS_SIM_PROVIDER (s));
  {
    P2pSimNetwork *net = p2p_sim_provider_get_network (P2P_SIM_PROVIDER (s));
    P2pSimLinkParams link;

    g_assert_cmpstr (p2p_sim_network_get_name (net), ==, "default");
    g_assert_cmpuint (p2p_sim_network_get_seed (net), ==, 5);
    p2p_sim_network_get_default_link (net, &link);
    g_assert_cmpuint (link.latency_ms, ==, 33);
  }
}

/* The named network runs on its own thread in real time: the blocking API
 * works from this thread (what the GStreamer elements do). */
static void
test_named_blocking (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pSimNetwork) net = p2p_sim_network_get_named ("blocking-test", &error);
  g_autoptr (P2pProvider) a = NULL, b = NULL;
  g_autoptr (P2pListener) l = NULL;
  g_autoptr (P2pConnection) c = NULL, s = NULL;
  g_autoptr (GBytes) got = NULL;
  g_autoptr (GBytes) msg = g_bytes_new_static ("hello", 5);
  g_autofree char *id = NULL;

  g_assert_no_error (error);
  g_object_set (net, "latency-ms", 1, NULL);
  a = p2p_sim_provider_new (net, NULL, NULL);
  b = p2p_sim_provider_new (net, NULL, NULL);
  l = p2p_provider_listen (a, ":0", &error);
  g_assert_no_error (error);
  id = peer_text (a);
  c = p2p_provider_connect (b, id, NULL, &error);
  g_assert_no_error (error);
  s = p2p_listener_accept (l, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (p2p_connection_send (c, msg, NULL, &error));
  got = p2p_connection_receive (s, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (got, msg));
  p2p_connection_close (c, "done");
  p2p_listener_close (l);
}

/* FOLLOW mode on real time with loss: 512 KiB arrive intact through the
 * blocking API (the network's own thread runs QUIC). */
static void
test_named_lossy_real_time (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pSimNetwork) net = p2p_sim_network_get_named ("lossy-real-time", &error);
  g_autoptr (P2pProvider) a = NULL, b = NULL;
  g_autoptr (P2pListener) l = NULL;
  g_autoptr (P2pConnection) c = NULL, s = NULL;
  g_autoptr (GChecksum) tx = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr (GChecksum) rx = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *id = NULL;
  gsize got = 0;
  gint64 t0 = g_get_monotonic_time ();

  g_assert_no_error (error);
  g_object_set (net, "latency-ms", 5, "loss", 0.05, NULL);
  a = p2p_sim_provider_new (net, NULL, NULL);
  b = p2p_sim_provider_new (net, NULL, NULL);
  l = p2p_provider_listen (a, ":0", &error);
  g_assert_no_error (error);
  id = peer_text (a);
  c = p2p_provider_connect (b, id, NULL, &error);
  g_assert_no_error (error);
  s = p2p_listener_accept (l, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 16; i++) {
    guint8 buf[32 * 1024];
    g_autoptr (GBytes) m = NULL;

    memset (buf, i, sizeof buf);
    buf[0] = ~i;
    m = g_bytes_new (buf, sizeof buf);
    g_checksum_update (tx, buf, sizeof buf);
    g_assert_true (p2p_connection_send (c, m, NULL, &error));
    g_assert_no_error (error);
  }
  while (got < 16 * 32 * 1024) {
    g_autoptr (GBytes) m = p2p_connection_receive (s, NULL, &error);

    g_assert_no_error (error);
    g_checksum_update (rx, g_bytes_get_data (m, NULL), g_bytes_get_size (m));
    got += g_bytes_get_size (m);
  }
  g_assert_cmpstr (g_checksum_get_string (tx), ==, g_checksum_get_string (rx));
  g_test_message ("512 KiB at 5 ms / 5%% loss in real time: %.2f s",
      (g_get_monotonic_time () - t0) / 1e6);
  p2p_connection_close (c, "done");
  p2p_listener_close (l);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sim-provider/handshake", test_handshake);
  g_test_add_func ("/sim-provider/connect-errors", test_connect_errors);
  g_test_add_func ("/sim-provider/lossy-16mib", test_lossy_16mib);
  g_test_add_func ("/sim-provider/partition-timeout", test_partition_timeout);
  g_test_add_func ("/sim-provider/partition-recovers", test_partition_recovers);
  g_test_add_func ("/sim-provider/crash", test_crash);
  g_test_add_func ("/sim-provider/nat-rebinding", test_nat_rebinding);
  g_test_add_func ("/sim-provider/address-change", test_address_change);
  g_test_add_func ("/sim-provider/failure-rate", test_failure_rate);
  g_test_add_func ("/sim-provider/hundred-peers", test_hundred_peers);
  g_test_add_func ("/sim-provider/same-seed-same-trace", test_same_seed_same_trace);
  g_test_add_func ("/sim-provider/select", test_select);
  g_test_add_func ("/sim-provider/named-blocking", test_named_blocking);
  g_test_add_func ("/sim-provider/named-lossy-real-time", test_named_lossy_real_time);
  return g_test_run ();
}
