/* test-sim-network.c: the simulated network without QUIC: exact timing in
 * virtual time, loss within a binomial bound, bandwidth spacing, queue tail
 * drop, MTU, partitions, crashes, duplication, reordering, failure rate,
 * timers, clock modes, named networks and determinism of the trace.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-private.h"
#include "p2p/p2p-error.h"

#include <math.h>
#include <string.h>

#define MS G_GUINT64_CONSTANT (1000000)

static guint32 send_counter;

typedef struct {
  P2pSimNetwork *net;
  GArray *times;      /* guint64 arrival times */
  GPtrArray *payloads;/* GBytes */
  GPtrArray *froms;   /* char * */
} Rx;

static void
on_rx (P2pDatagramSocket *sock, GSocketAddress *from, const guint8 *data, gsize len,
    gpointer user_data)
{
  Rx *rx = user_data;
  guint64 now = p2p_datagram_socket_now (sock);

  g_array_append_val (rx->times, now);
  g_ptr_array_add (rx->payloads, g_bytes_new (data, len));
  g_ptr_array_add (rx->froms, g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (from)));
}

static Rx *
rx_new (void)
{
  Rx *rx = g_new0 (Rx, 1);

  rx->times = g_array_new (FALSE, FALSE, sizeof (guint64));
  rx->payloads = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  rx->froms = g_ptr_array_new_with_free_func (g_free);
  return rx;
}

static void
rx_free (gpointer p)
{
  Rx *rx = p;

  g_array_unref (rx->times);
  g_ptr_array_unref (rx->payloads);
  g_ptr_array_unref (rx->froms);
  g_free (rx);
}

typedef struct {
  P2pSimNetwork *net;
  guint a, b;
  P2pSimSocket *sa, *sb;
  GSocketAddress *addr_b, *addr_a;
  Rx *rx_a, *rx_b;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->net = p2p_sim_network_new (GPOINTER_TO_UINT (data) ? GPOINTER_TO_UINT (data) : 7);
  f->a = p2p_sim_network_add_node (f->net, "a");
  f->b = p2p_sim_network_add_node (f->net, "b");
  g_assert_cmpuint (f->a, ==, 1);
  g_assert_cmpuint (f->b, ==, 2);
  f->sa = p2p_sim_socket_new (f->net, f->a, 0, &error);
  g_assert_no_error (error);
  f->sb = p2p_sim_socket_new (f->net, f->b, 5000, &error);
  g_assert_no_error (error);
  f->addr_a = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (f->sa));
  f->addr_b = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (f->sb));
  send_counter = 0;
  f->rx_a = rx_new ();
  f->rx_b = rx_new ();
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (f->sa), on_rx, f->rx_a, NULL);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (f->sb), on_rx, f->rx_b, NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->sa);
  g_clear_object (&f->sb);
  g_clear_object (&f->addr_a);
  g_clear_object (&f->addr_b);
  g_clear_object (&f->net);
  rx_free (f->rx_a);
  rx_free (f->rx_b);
}

/* Sends @n datagrams of @size bytes numbered by a counter reset per test. */
static void
send_n (Fixture *f, P2pSimSocket *from, GSocketAddress *to, guint n, gsize size)
{
  g_autofree guint8 *buf = g_malloc0 (size);
  guint i;

  for (i = 0; i < n; i++) {
    g_autoptr (GError) error = NULL;
    guint32 seq = send_counter++;

    if (size >= 4) {
      buf[0] = seq >> 24;
      buf[1] = seq >> 16;
      buf[2] = seq >> 8;
      buf[3] = seq;
    }
    g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (from), to, buf, size,
            &error));
    g_assert_no_error (error);
  }
}

static guint32
seq_of (GBytes *b)
{
  const guint8 *d = g_bytes_get_data (b, NULL);

  return ((guint32) d[0] << 24) | ((guint32) d[1] << 16) | ((guint32) d[2] << 8) | d[3];
}

static void
set_link (Fixture *f, guint latency, guint jitter, double loss, double dup, double reorder,
    guint kbps, guint queue)
{
  P2pSimLinkParams p;
  g_autoptr (GError) error = NULL;

  p2p_sim_link_params_init (&p);
  p.latency_ms = latency;
  p.jitter_ms = jitter;
  p.loss = loss;
  p.duplicate = dup;
  p.reorder = reorder;
  p.bandwidth_kbps = kbps;
  if (queue)
    p.queue_bytes = queue;
  g_assert_true (p2p_sim_network_set_default_link (f->net, &p, &error));
  g_assert_no_error (error);
}

/* ------------------------------------------------------------------ */

static void
test_addresses_and_basics (Fixture *f, gconstpointer data)
{
  g_autofree char *sa = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (f->addr_a));
  g_autofree char *sb = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (f->addr_b));
  g_autoptr (GInetAddress) ia = p2p_sim_network_get_node_address (f->net, f->b);
  g_autoptr (GInetAddress) other = g_inet_address_new_from_string ("10.78.0.2");

  g_assert_cmpstr (sa, ==, "10.77.0.1:49152");
  g_assert_cmpstr (sb, ==, "10.77.0.2:5000");
  g_assert_cmpuint (p2p_sim_network_find_node (f->net, ia), ==, f->b);
  g_assert_cmpuint (p2p_sim_network_find_node (f->net, other), ==, 0);
  g_assert_null (p2p_sim_network_get_node_address (f->net, 99));
  g_assert_cmpuint (p2p_datagram_socket_get_kind (P2P_DATAGRAM_SOCKET (f->sa)), ==,
      P2P_PATH_KIND_SIMULATED);
  g_assert_cmpuint (p2p_datagram_socket_get_mtu (P2P_DATAGRAM_SOCKET (f->sa)), ==, 1452);
  g_assert_true (p2p_datagram_socket_get_context (P2P_DATAGRAM_SOCKET (f->sa))
      == g_main_context_default ());
  g_assert_cmpuint (p2p_sim_network_get_seed (f->net), ==, 7);
  g_assert_null (p2p_sim_network_get_name (f->net));
  g_assert_cmpuint (p2p_sim_network_get_clock_mode (f->net), ==, P2P_SIM_CLOCK_MANUAL);
  g_assert_cmpuint (p2p_sim_network_now (f->net), ==, 0);
}

static void
test_latency_exact (Fixture *f, gconstpointer data)
{
  P2pSimStats st;

  set_link (f, 50, 0, 0, 0, 0, 0, 0);
  p2p_sim_network_advance (f->net, 3 * MS);
  send_n (f, f->sa, f->addr_b, 3, 100);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  g_assert_cmpuint (f->rx_b->times->len, ==, 3);
  for (guint i = 0; i < 3; i++) {
    g_assert_cmpuint (g_array_index (f->rx_b->times, guint64, i), ==, 53 * MS);
    g_assert_cmpuint (seq_of (f->rx_b->payloads->pdata[i]), ==, i);
    g_assert_cmpstr (f->rx_b->froms->pdata[i], ==, "10.77.0.1:49152");
  }
  g_assert_cmpuint (p2p_sim_network_now (f->net), ==, 53 * MS);
  p2p_sim_network_get_stats (f->net, &st);
  g_assert_cmpuint (st.packets_sent, ==, 3);
  g_assert_cmpuint (st.packets_delivered, ==, 3);
  g_assert_cmpuint (st.bytes_sent, ==, 300);
  g_assert_cmpuint (st.bytes_delivered, ==, 300);
}

static void
test_jitter_bounds (Fixture *f, gconstpointer data)
{
  guint64 lo = G_MAXUINT64, hi = 0;

  set_link (f, 20, 10, 0, 0, 0, 0, 0);
  send_n (f, f->sa, f->addr_b, 200, 10);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  g_assert_cmpuint (f->rx_b->times->len, ==, 200);
  for (guint i = 0; i < 200; i++) {
    guint64 t = g_array_index (f->rx_b->times, guint64, i);

    g_assert_cmpuint (t, >=, 20 * MS);
    g_assert_cmpuint (t, <=, 30 * MS);
    lo = MIN (lo, t);
    hi = MAX (hi, t);
    if (i > 0)   /* delivered in time order */
      g_assert_cmpuint (t, >=, g_array_index (f->rx_b->times, guint64, i - 1));
  }
  /* uniform over 10 ms: 200 draws spread over most of it */
  g_assert_cmpuint (hi - lo, >, 8 * MS);
}

static void
test_loss_binomial (Fixture *f, gconstpointer data)
{
  const guint n = 20000;
  const double p = 0.1;
  P2pSimStats st;
  double mean = n * (1 - p), sd = sqrt (n * p * (1 - p));

  set_link (f, 1, 0, p, 0, 0, 0, 0);
  send_n (f, f->sa, f->addr_b, n, 8);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  p2p_sim_network_get_stats (f->net, &st);
  g_assert_cmpuint (st.packets_delivered + st.dropped_loss, ==, n);
  g_assert_cmpuint (f->rx_b->times->len, ==, st.packets_delivered);
  /* 5 standard deviations: fails with probability < 1e-6 for a random seed */
  g_assert_cmpfloat (fabs ((double) st.packets_delivered - mean), <, 5 * sd);
}

static void
test_bandwidth_spacing (Fixture *f, gconstpointer data)
{
  /* 1000 kbit/s: a 1000-byte packet takes 8 ms to serialise */
  set_link (f, 10, 0, 0, 0, 0, 1000, 0);
  send_n (f, f->sa, f->addr_b, 5, 1000);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  g_assert_cmpuint (f->rx_b->times->len, ==, 5);
  for (guint i = 0; i < 5; i++)
    g_assert_cmpuint (g_array_index (f->rx_b->times, guint64, i), ==, (10 + 8 * (i + 1)) * MS);
}

static void
test_queue_tail_drop (Fixture *f, gconstpointer data)
{
  P2pSimStats st;

  /* queue of 3000 bytes (including the packet on the wire) */
  set_link (f, 10, 0, 0, 0, 0, 1000, 3000);
  send_n (f, f->sa, f->addr_b, 10, 1000);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  p2p_sim_network_get_stats (f->net, &st);
  g_assert_cmpuint (st.packets_delivered, ==, 3);
  g_assert_cmpuint (st.dropped_queue, ==, 7);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (seq_of (f->rx_b->payloads->pdata[i]), ==, i);
  /* once drained the queue accepts again */
  send_n (f, f->sa, f->addr_b, 1, 1000);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  g_assert_cmpuint (f->rx_b->times->len, ==, 4);
}

static void
test_mtu (Fixture *f, gconstpointer data)
{
  P2pSimStats st;
  P2pSimLinkParams p;
  g_autoptr (GError) error = NULL;

  send_n (f, f->sa, f->addr_b, 1, 1452);
  send_n (f, f->sa, f->addr_b, 1, 1453);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  p2p_sim_network_get_stats (f->net, &st);
  g_assert_cmpuint (st.packets_delivered, ==, 1);
  g_assert_cmpuint (st.dropped_mtu, ==, 1);
  g_assert_cmpuint (g_bytes_get_size (f->rx_b->payloads->pdata[0]), ==, 1452);

  /* a per-pair override with a bigger MTU for a -> b only */
  p2p_sim_link_params_init (&p);
  p.mtu = 9000;
  g_assert_true (p2p_sim_network_set_link (f->net, f->a, f->b, &p, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (p2p_sim_network_get_mtu_towards (f->net, f->a, f->addr_b), ==, 9000);
  g_assert_cmpuint (p2p_sim_network_get_mtu_towards (f->net, f->b, f->addr_a), ==, 1452);
  send_n (f, f->sa, f->addr_b, 1, 8000);
  send_n (f, f->sb, f->addr_a, 1, 8000);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  g_assert_cmpuint (f->rx_b->times->len, ==, 2);
  g_assert_cmpuint (f->rx_a->times->len, ==, 0);
  p2p_sim_network_clear_link (f->net, f->a, f->b);
  g_assert_cmpuint (p2p_sim_network_get_mtu_towards (f->net, f->a, f->addr_b), ==, 1452);
}

static void
test_directional_override (Fixture *f, gconstpointer data)
{
  P2pSimLinkParams p;
  g_autoptr (GError) error = NULL;

  set_link (f, 10, 0, 0, 0, 0, 0, 0);
  p2p_sim_link_params_init (&p);
  p.latency_ms = 70;
  g_assert_true (p2p_sim_network_set_link (f->net, f->b, f->a, &p, &error));
  send_n (f, f->sa, f->addr_b, 1, 10);
  send_n (f, f->sb, f->addr_a, 1, 10);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  g_assert_cmpuint (g_array_index (f->rx_b->times, guint64, 0), ==, 10 * MS);
  g_assert_cmpuint (g_array_index (f->rx_a->times, guint64, 0), ==, 70 * MS);

  g_assert_false (p2p_sim_network_set_link (f->net, f->a, 42, &p, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "no node 42"));
}

static void
test_partition_heal (Fixture *f, gconstpointer data)
{
  P2pSimStats st;

  set_link (f, 10, 0, 0, 0, 0, 0, 0);
  p2p_sim_network_partition (f->net, f->b, f->a);
  send_n (f, f->sa, f->addr_b, 2, 10);
  send_n (f, f->sb, f->addr_a, 2, 10);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  p2p_sim_network_get_stats (f->net, &st);
  g_assert_cmpuint (st.dropped_partition, ==, 4);
  g_assert_cmpuint (st.packets_delivered, ==, 0);

  p2p_sim_network_heal (f->net, f->a, f->b);
  send_n (f, f->sa, f->addr_b, 1, 10);
  /* a packet in flight when the partition starts is lost too */
  p2p_sim_network_advance (f->net, 5 * MS);
  p2p_sim_network_partition (f->net, f->a, f->b);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  p2p_sim_network_get_stats (f->net, &st);
  g_assert_cmpuint (st.dropped_partition, ==, 5);

  p2p_sim_network_heal_all (f->net);
  send_n (f, f->sa, f->addr_b, 1, 10);
  send_n (f, f->sb, f->addr_a, 1, 10);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  g_assert_cmpuint (f->rx_b->times->len, ==, 1);
  g_assert_cmpuint (f->rx_a->times->len, ==, 1);
}

static gboolean timer_fired;

static void
on_timer_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
}

static void
test_crash (Fixture *f, gconstpointer data)
{
  P2pSimStats st;
  gboolean fired = FALSE;
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pSimSocket) fresh = NULL;

  set_link (f, 10, 0, 0, 0, 0, 0, 0);
  send_n (f, f->sa, f->addr_b, 1, 10);       /* in flight when b crashes */
  p2p_datagram_socket_add_timer (P2P_DATAGRAM_SOCKET (f->sb), 20 * MS, on_timer_flag, &fired);
  p2p_sim_network_advance (f->net, 1 * MS);
  p2p_sim_network_crash_node (f->net, f->b);
  g_assert_true (p2p_sim_network_node_is_crashed (f->net, f->b));
  send_n (f, f->sa, f->addr_b, 1, 10);
  send_n (f, f->sb, f->addr_a, 1, 10);       /* the crashed node sends nothing */
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  p2p_sim_network_get_stats (f->net, &st);
  g_assert_cmpuint (st.dropped_crash, ==, 3);
  g_assert_cmpuint (st.packets_delivered, ==, 0);
  g_assert_false (fired);

  /* binding on a crashed node fails */
  g_assert_null (p2p_sim_socket_new (f->net, f->b, 0, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_NETWORK);
  g_clear_error (&error);

  /* after a restart the old socket stays dead; a new one works */
  p2p_sim_network_restart_node (f->net, f->b);
  g_assert_false (p2p_sim_network_node_is_crashed (f->net, f->b));
  g_assert_false (p2p_sim_network_binding_alive (f->net, f->b, 5000));
  g_clear_object (&f->sb);
  fresh = p2p_sim_socket_new (f->net, f->b, 5000, &error);
  g_assert_no_error (error);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (fresh), on_rx, f->rx_b, NULL);
  send_n (f, f->sa, f->addr_b, 1, 10);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  g_assert_cmpuint (f->rx_b->times->len, ==, 1);
}

static void
test_duplicate_reorder (Fixture *f, gconstpointer data)
{
  P2pSimStats st;
  gboolean out_of_order = FALSE;

  set_link (f, 20, 0, 0, 1.0, 0, 0, 0);
  send_n (f, f->sa, f->addr_b, 10, 8);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  p2p_sim_network_get_stats (f->net, &st);
  g_assert_cmpuint (st.packets_duplicated, ==, 10);
  g_assert_cmpuint (f->rx_b->times->len, ==, 20);

  set_link (f, 20, 0, 0, 0, 0.3, 0, 0);
  g_ptr_array_set_size (f->rx_b->payloads, 0);
  for (guint i = 0; i < 100; i++) {
    send_n (f, f->sa, f->addr_b, 1, 8);
    p2p_sim_network_advance (f->net, 1 * MS);
  }
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  g_assert_cmpuint (f->rx_b->payloads->len, ==, 100);
  for (guint i = 1; i < 100; i++)
    if (seq_of (f->rx_b->payloads->pdata[i]) < seq_of (f->rx_b->payloads->pdata[i - 1]))
      out_of_order = TRUE;
  g_assert_true (out_of_order);
  p2p_sim_network_get_stats (f->net, &st);
  g_assert_cmpuint (st.packets_reordered, >, 10);
  g_assert_cmpuint (st.packets_reordered, <, 60);
}

static void
test_failure_rate (Fixture *f, gconstpointer data)
{
  P2pSimLinkParams p;
  P2pSimStats st;
  g_autoptr (GError) error = NULL;

  p2p_sim_link_params_init (&p);
  p.failure_rate = 1.0;
  g_assert_true (p2p_sim_network_set_default_link (f->net, &p, &error));
  send_n (f, f->sa, f->addr_b, 3, 8);
  send_n (f, f->sb, f->addr_a, 1, 8);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  p2p_sim_network_get_stats (f->net, &st);
  g_assert_cmpuint (st.dropped_failure, ==, 4);
  g_assert_true (p2p_sim_network_flow_is_failed (f->net, f->addr_a, f->addr_b));
  g_assert_true (p2p_sim_network_flow_is_failed (f->net, f->addr_b, f->addr_a));

  /* the decision is per flow and sticks: lowering the rate does not revive it */
  p.failure_rate = 0.0;
  g_assert_true (p2p_sim_network_set_default_link (f->net, &p, &error));
  send_n (f, f->sa, f->addr_b, 1, 8);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  g_assert_cmpuint (f->rx_b->times->len, ==, 0);
  /* a new flow (other port) is decided with the new rate */
  {
    g_autoptr (P2pSimSocket) s2 = p2p_sim_socket_new (f->net, f->a, 0, &error);

    g_assert_no_error (error);
    send_n (f, s2, f->addr_b, 1, 8);
    g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
    g_assert_cmpuint (f->rx_b->times->len, ==, 1);
  }
}

static void
test_unbound_and_errors (Fixture *f, gconstpointer data)
{
  P2pSimStats st;
  P2pSimLinkParams p;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketAddress) nowhere = g_inet_socket_address_new_from_string ("10.77.0.2", 1);
  g_autoptr (GSocketAddress) offnet = g_inet_socket_address_new_from_string ("192.0.2.1", 9);
  g_autoptr (GSocketAddress) v6 = g_inet_socket_address_new_from_string ("::1", 9);
  guint8 byte = 0;

  send_n (f, f->sa, nowhere, 1, 8);
  send_n (f, f->sa, offnet, 1, 8);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 10000 * MS));
  p2p_sim_network_get_stats (f->net, &st);
  g_assert_cmpuint (st.dropped_unbound, ==, 2);

  g_assert_false (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (f->sa), v6, &byte, 1, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_assert_null (p2p_sim_socket_new (f->net, 9, 0, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "no node 9"));
  g_clear_error (&error);
  g_assert_null (p2p_sim_socket_new (f->net, f->b, 5000, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, "already in use"));
  g_clear_error (&error);

  p2p_sim_link_params_init (&p);
  p.loss = 1.5;
  g_assert_false (p2p_sim_network_set_default_link (f->net, &p, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "loss=1.5"));
  g_clear_error (&error);
  p2p_sim_link_params_init (&p);
  p.mtu = 100;
  g_assert_false (p2p_sim_link_params_validate (&p, &error));
  g_assert_nonnull (strstr (error->message, "mtu=100"));
  g_clear_error (&error);
  p2p_sim_link_params_init (&p);
  p.latency_ms = 700000;
  g_assert_false (p2p_sim_link_params_validate (&p, &error));
  g_assert_nonnull (strstr (error->message, "latency-ms=700000"));
  g_clear_error (&error);
  p2p_sim_link_params_init (&p);
  p.queue_bytes = 0;
  g_assert_false (p2p_sim_link_params_validate (&p, &error));
  g_assert_nonnull (strstr (error->message, "queue-bytes"));
  g_clear_error (&error);
  p2p_sim_link_params_init (&p);
  p.duplicate = NAN;
  g_assert_false (p2p_sim_link_params_validate (&p, &error));
  g_assert_nonnull (strstr (error->message, "duplicate"));
  g_clear_error (&error);

  /* a closed socket refuses to send */
  p2p_datagram_socket_close (P2P_DATAGRAM_SOCKET (f->sa));
  p2p_datagram_socket_close (P2P_DATAGRAM_SOCKET (f->sa));
  g_assert_false (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (f->sa), f->addr_b, &byte, 1,
          &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_CLOSED);
}

static void
on_order (gpointer data)
{
  GString *s = ((gpointer *) data)[0];

  g_string_append (s, ((gpointer *) data)[1]);
}

static void
test_timers (Fixture *f, gconstpointer data)
{
  g_autoptr (GString) s = g_string_new (NULL);
  gpointer d1[2] = { s, "1" }, d2[2] = { s, "2" }, d3[2] = { s, "3" }, d4[2] = { s, "4" };
  P2pDatagramSocket *sock = P2P_DATAGRAM_SOCKET (f->sa);
  guint id;

  p2p_datagram_socket_add_timer (sock, 30 * MS, on_order, d3);
  p2p_datagram_socket_add_timer (sock, 10 * MS, on_order, d1);
  p2p_datagram_socket_add_timer (sock, 10 * MS, on_order, d2);   /* same time: FIFO */
  id = p2p_datagram_socket_add_timer (sock, 20 * MS, on_order, d4);
  g_assert_cmpuint (id, !=, 0);
  p2p_datagram_socket_cancel_timer (sock, id);
  g_assert_cmpuint (p2p_sim_network_get_next_deadline (f->net), ==, 10 * MS);
  p2p_sim_network_advance (f->net, 10 * MS);
  g_assert_cmpstr (s->str, ==, "12");
  g_assert_cmpuint (p2p_sim_network_now (f->net), ==, 10 * MS);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 1000 * MS));
  g_assert_cmpstr (s->str, ==, "123");
  g_assert_cmpuint (p2p_sim_network_now (f->net), ==, 30 * MS);
  g_assert_cmpuint (p2p_sim_network_get_next_deadline (f->net), ==, G_MAXUINT64);

  /* a timer in the past fires at once; a closed socket's timers never fire */
  p2p_datagram_socket_add_timer (sock, 1 * MS, on_order, d4);
  p2p_sim_network_advance (f->net, 0);
  g_assert_cmpstr (s->str, ==, "1234");
  timer_fired = FALSE;
  p2p_datagram_socket_add_timer (sock, 40 * MS, on_timer_flag, &timer_fired);
  p2p_datagram_socket_close (sock);
  g_assert_true (p2p_sim_network_run_until_idle (f->net, 1000 * MS));
  g_assert_false (timer_fired);
}

static void
rearm (gpointer data)
{
  P2pDatagramSocket *sock = data;

  p2p_datagram_socket_add_timer (sock, p2p_datagram_socket_now (sock) + 10 * MS, rearm, sock);
}

static gboolean
idle_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
cond_rx (gpointer data)
{
  Rx *rx = data;

  return rx->times->len >= 2;
}

static void
test_run_bounds_and_context (Fixture *f, gconstpointer data)
{
  gboolean idle_ran = FALSE;

  /* a periodic timer never lets the network go idle: the bound stops it */
  rearm (f->sa);
  g_assert_false (p2p_sim_network_run_until_idle (f->net, 95 * MS));
  g_assert_cmpuint (p2p_sim_network_now (f->net), ==, 95 * MS);

  /* run_until_cond stops as soon as the predicate holds */
  set_link (f, 5, 0, 0, 0, 0, 0, 0);
  send_n (f, f->sb, f->addr_a, 3, 8);
  g_assert_true (p2p_sim_network_run_until_cond (f->net, cond_rx, f->rx_a, 1000 * MS));
  g_assert_cmpuint (f->rx_a->times->len, ==, 2);
  g_assert_cmpuint (p2p_sim_network_now (f->net), ==, 100 * MS);
  /* predicate never true: FALSE at the bound */
  g_assert_false (p2p_sim_network_run_until_cond (f->net, cond_rx, f->rx_b, 50 * MS));
  g_assert_cmpuint (p2p_sim_network_now (f->net), ==, 150 * MS);

  /* the context is dispatched while running */
  g_idle_add (idle_flag, &idle_ran);
  p2p_sim_network_advance (f->net, 1 * MS);
  g_assert_true (idle_ran);
  p2p_datagram_socket_close (P2P_DATAGRAM_SOCKET (f->sa));
  p2p_sim_network_run_until (f->net, 10 * MS);   /* in the past: no-op */
  g_assert_cmpuint (p2p_sim_network_now (f->net), ==, 151 * MS);
}

/* A fixed mixed workload; returns the trace hash and fills @st. With
 * @reseed the network is built with seed 5 and then given @seed. */
static char *
run_scenario_full (guint64 seed, gboolean reseed, P2pSimStats *st, char **trace)
{
  Fixture f = { 0 };
  char *hash;

  fixture_setup (&f, GUINT_TO_POINTER (reseed ? 5 : (guint) seed));
  if (reseed)
    g_object_set (f.net, "seed", seed, NULL);
  p2p_sim_network_set_trace (f.net, TRUE);
  set_link (&f, 25, 5, 0.05, 0.02, 0.05, 4000, 20000);
  for (guint i = 0; i < 300; i++) {
    send_n (&f, f.sa, f.addr_b, 2, 200 + i);
    send_n (&f, f.sb, f.addr_a, 1, 100);
    p2p_sim_network_advance (f.net, 1 * MS);
  }
  g_assert_true (p2p_sim_network_run_until_idle (f.net, 10000 * MS));
  p2p_sim_network_get_stats (f.net, st);
  hash = p2p_sim_network_get_trace_hash (f.net);
  if (trace)
    *trace = p2p_sim_network_dup_trace (f.net);
  fixture_teardown (&f, NULL);
  return hash;
}

static char *
run_scenario (guint64 seed, P2pSimStats *st, char **trace)
{
  return run_scenario_full (seed, FALSE, st, trace);
}

static void
test_determinism (void)
{
  P2pSimStats s1, s2, s3;
  g_autofree char *t1 = NULL, *t2 = NULL;
  g_autofree char *h1 = run_scenario (42, &s1, &t1);
  g_autofree char *h2 = run_scenario (42, &s2, &t2);
  g_autofree char *h3 = run_scenario (43, &s3, NULL);
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);

  g_assert_cmpuint (strlen (h1), ==, 64);
  g_assert_cmpstr (h1, ==, h2);
  g_assert_cmpstr (t1, ==, t2);
  g_assert_cmpmem (&s1, sizeof s1, &s2, sizeof s2);
  g_assert_cmpstr (h1, !=, h3);
  g_assert_true (s1.dropped_loss != s3.dropped_loss || s1.packets_duplicated != s3.packets_duplicated);
  g_assert_cmpuint (s1.dropped_loss, >, 0);
  g_assert_cmpuint (s1.packets_duplicated, >, 0);
  g_assert_cmpuint (s1.dropped_queue, >, 0);
  /* the hash is the SHA-256 of the trace text */
  g_checksum_update (sum, (const guchar *) t1, strlen (t1));
  g_assert_cmpstr (g_checksum_get_string (sum), ==, h1);
  g_assert_true (g_str_has_prefix (t1, "0 send 10.77.0.1:49152 10.77.0.2:5000 200\n"));
  g_assert_nonnull (strstr (t1, " deliver 10.77.0.1:49152 10.77.0.2:5000 "));
  g_assert_nonnull (strstr (t1, " drop(loss) "));
}

static guint64 fake_now;

static guint64
fake_clock (gpointer data)
{
  return fake_now;
}

static void
test_follow_mode (Fixture *f, gconstpointer data)
{
  set_link (f, 30, 0, 0, 0, 0, 0, 0);
  fake_now = 1000 * MS;
  p2p_sim_network_set_clock_func (f->net, fake_clock, NULL, NULL);
  g_assert_cmpuint (p2p_sim_network_get_clock_mode (f->net), ==, P2P_SIM_CLOCK_FOLLOW);
  g_assert_cmpuint (p2p_sim_network_now (f->net), ==, 1000 * MS);
  send_n (f, f->sa, f->addr_b, 1, 8);
  g_assert_cmpuint (p2p_sim_network_get_next_deadline (f->net), ==, 1030 * MS);
  fake_now = 1029 * MS;
  g_assert_cmpuint (p2p_sim_network_process_due (f->net, fake_now), ==, 0);
  g_assert_cmpuint (f->rx_b->times->len, ==, 0);
  fake_now = 1030 * MS;
  g_assert_cmpuint (p2p_sim_network_process_due (f->net, fake_now), ==, 1);
  g_assert_cmpuint (f->rx_b->times->len, ==, 1);
  g_assert_cmpuint (g_array_index (f->rx_b->times, guint64, 0), ==, 1030 * MS);

  /* the network's own source processes due events when the context runs
   * (it was armed for 30 ms of wall time: the external clock's distance) */
  send_n (f, f->sa, f->addr_b, 1, 8);
  fake_now = 1100 * MS;
  for (guint i = 0; i < 100 && f->rx_b->times->len < 2; i++)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (f->rx_b->times->len, ==, 2);
  /* time never goes backwards */
  fake_now = 5 * MS;
  g_assert_cmpuint (p2p_sim_network_now (f->net), ==, 1100 * MS);
  p2p_sim_network_set_manual (f->net);
  g_assert_cmpuint (p2p_sim_network_get_clock_mode (f->net), ==, P2P_SIM_CLOCK_MANUAL);
}

static gboolean
rx_one (gpointer data)
{
  return ((Rx *) data)->times->len >= 1;
}

typedef struct {
  GMutex lock;
  GCond cond;
  guint got;
  gboolean on_net_thread;
  GMainContext *ctx;
} Waiter;

static void
on_rx_threaded (P2pDatagramSocket *sock, GSocketAddress *from, const guint8 *data, gsize len,
    gpointer user_data)
{
  Waiter *w = user_data;

  g_mutex_lock (&w->lock);
  w->got++;
  w->on_net_thread = g_main_context_is_owner (w->ctx);
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

static void
test_follow_real_time_thread (void)
{
  /* a named network: own thread, real time; 2 ms latency */
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pSimNetwork) n1 = p2p_sim_network_get_named ("test-net", &error);
  g_autoptr (P2pSimNetwork) n2 = p2p_sim_network_get_named ("test-net", &error);
  g_autoptr (P2pSimNetwork) other = p2p_sim_network_get_named ("other", &error);

  g_assert_no_error (error);
  g_assert_true (n1 == n2);
  g_assert_true (n1 != other);
  g_assert_cmpstr (p2p_sim_network_get_name (n1), ==, "test-net");
  g_assert_cmpuint (p2p_sim_network_get_clock_mode (n1), ==, P2P_SIM_CLOCK_FOLLOW);
  g_assert_null (p2p_sim_network_get_named ("", &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* real time on the network's own thread: a datagram arrives by itself */
  {
    Waiter w = { 0 };
    guint na = p2p_sim_network_add_node (n1, "a"), nb = p2p_sim_network_add_node (n1, "b");
    g_autoptr (P2pSimSocket) sa = p2p_sim_socket_new (n1, na, 0, &error);
    g_autoptr (P2pSimSocket) sb = p2p_sim_socket_new (n1, nb, 0, &error);
    g_autoptr (GSocketAddress) to = NULL;
    gint64 end = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
    guint8 byte = 1;

    g_assert_no_error (error);
    g_object_set (n1, "latency-ms", 1, NULL);
    w.ctx = p2p_sim_network_get_context (n1);
    g_assert_true (w.ctx != g_main_context_default ());
    p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (sb), on_rx_threaded, &w, NULL);
    to = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (sb));
    g_mutex_lock (&w.lock);
    g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (sa), to, &byte, 1, &error));
    while (w.got == 0 && g_cond_wait_until (&w.cond, &w.lock, end))
      ;
    g_assert_cmpuint (w.got, ==, 1);
    g_assert_true (w.on_net_thread);
    g_mutex_unlock (&w.lock);
    p2p_datagram_socket_close (P2P_DATAGRAM_SOCKET (sb));
    g_mutex_clear (&w.lock);
    g_cond_clear (&w.cond);
  }
  (void) rx_one;
}

static void
test_named_env_error (void)
{
  if (g_test_subprocess ()) {
    g_autoptr (GError) error = NULL;

    g_setenv ("SIMULATOR_P2P_PACKET_LOSS", "lots", TRUE);
    g_assert_null (p2p_sim_network_get_named ("bad-env", &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "SIMULATOR_P2P_PACKET_LOSS"));
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static void
test_config_and_properties (void)
{
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pSimNetwork) net = NULL;
  P2pSimLinkParams p;
  guint lat = 0;
  double loss = 0;

  cfg->sim_latency_ms = 40;
  cfg->sim_jitter_ms = 3;
  cfg->sim_packet_loss = 0.25;
  cfg->sim_bandwidth_kbps = 2000;
  cfg->sim_failure_rate = 0.5;
  cfg->sim_seed = 99;
  net = p2p_sim_network_new_from_config (cfg, NULL);
  p2p_sim_network_get_default_link (net, &p);
  g_assert_cmpuint (p.latency_ms, ==, 40);
  g_assert_cmpuint (p.jitter_ms, ==, 3);
  g_assert_cmpfloat (p.loss, ==, 0.25);
  g_assert_cmpuint (p.bandwidth_kbps, ==, 2000);
  g_assert_cmpfloat (p.failure_rate, ==, 0.5);
  g_assert_cmpuint (p2p_sim_network_get_seed (net), ==, 99);

  g_object_set (net, "latency-ms", 12, "loss", 0.5, "mtu", 1280, "duplicate", 0.1,
      "reorder", 0.2, "queue-bytes", 1000, NULL);
  g_object_get (net, "latency-ms", &lat, "loss", &loss, NULL);
  g_assert_cmpuint (lat, ==, 12);
  g_assert_cmpfloat (loss, ==, 0.5);
  p2p_sim_network_get_default_link (net, &p);
  g_assert_cmpuint (p.mtu, ==, 1280);
  g_assert_cmpuint (p.queue_bytes, ==, 1000);
  g_assert_cmpfloat (p.duplicate, ==, 0.1);
  g_assert_cmpfloat (p.reorder, ==, 0.2);

  /* re-seeding restarts the PRNG: same drops as a fresh network */
  {
    P2pSimStats s1, s2;
    g_autofree char *h1 = run_scenario (77, &s1, NULL);
    g_autofree char *h2 = run_scenario_full (77, TRUE, &s2, NULL);

    g_assert_cmpstr (h1, ==, h2);
    g_assert_cmpmem (&s1, sizeof s1, &s2, sizeof s2);
  }
}

static void
test_registry (void)
{
  g_autoptr (P2pSimNetwork) net = p2p_sim_network_new (1);
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  g_autoptr (GSocketAddress) addr = NULL;
  g_autoptr (GSocketAddress) found = NULL;
  guint n = p2p_sim_network_add_node (net, NULL);

  addr = p2p_sim_network_make_address (net, n, 4433);
  g_assert_null (p2p_sim_network_lookup_peer (net, p2p_identity_get_peer_id (id)));
  p2p_sim_network_register_peer (net, p2p_identity_get_peer_id (id), addr);
  found = p2p_sim_network_lookup_peer (net, p2p_identity_get_peer_id (id));
  g_assert_nonnull (found);
  g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (found)), ==, 4433);
  p2p_sim_network_unregister_peer (net, p2p_identity_get_peer_id (id));
  g_assert_null (p2p_sim_network_lookup_peer (net, p2p_identity_get_peer_id (id)));
}

#define ADD(name, func) \
  g_test_add ("/sim-network/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("basics", test_addresses_and_basics);
  ADD ("latency-exact", test_latency_exact);
  ADD ("jitter-bounds", test_jitter_bounds);
  ADD ("loss-binomial", test_loss_binomial);
  ADD ("bandwidth-spacing", test_bandwidth_spacing);
  ADD ("queue-tail-drop", test_queue_tail_drop);
  ADD ("mtu", test_mtu);
  ADD ("directional-override", test_directional_override);
  ADD ("partition-heal", test_partition_heal);
  ADD ("crash", test_crash);
  ADD ("duplicate-reorder", test_duplicate_reorder);
  ADD ("failure-rate", test_failure_rate);
  ADD ("unbound-and-errors", test_unbound_and_errors);
  ADD ("timers", test_timers);
  ADD ("run-bounds-and-context", test_run_bounds_and_context);
  ADD ("follow-mode", test_follow_mode);
  g_test_add_func ("/sim-network/determinism", test_determinism);
  g_test_add_func ("/sim-network/named", test_follow_real_time_thread);
  g_test_add_func ("/sim-network/named-env-error", test_named_env_error);
  g_test_add_func ("/sim-network/config-and-properties", test_config_and_properties);
  g_test_add_func ("/sim-network/registry", test_registry);
  return g_test_run ();
}
