/* test-udp-socket.c: P2pUdpSocket on loopback: datagram exchange with
 * content checks, batches, ordered timers, close, MTU, bad bind addresses.
 * Every wait is on an event, bounded by a 5 s guard timeout.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <p2p/p2p.h>
#include "p2p-udp-socket.h"

#define GUARD_MS 5000

typedef struct {
  GPtrArray *data;              /* GBytes* */
  GPtrArray *from;              /* GSocketAddress* */
  gboolean destroyed;
} Inbox;

static void
inbox_init (Inbox *in)
{
  in->data = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  in->from = g_ptr_array_new_with_free_func (g_object_unref);
  in->destroyed = FALSE;
}

static void
inbox_clear (Inbox *in)
{
  g_clear_pointer (&in->data, g_ptr_array_unref);
  g_clear_pointer (&in->from, g_ptr_array_unref);
}

static void
on_receive (P2pDatagramSocket *sock, GSocketAddress *from, const guint8 *data, gsize len,
    gpointer user_data)
{
  Inbox *in = user_data;

  g_ptr_array_add (in->data, g_bytes_new (data, len));
  g_ptr_array_add (in->from, g_object_ref (from));
}

static void
on_destroy (gpointer user_data)
{
  ((Inbox *) user_data)->destroyed = TRUE;
}

static gboolean
guard_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates @ctx until *@count >= @want or the guard expires. */
static gboolean
wait_count (GMainContext *ctx, const guint *count, guint want)
{
  gboolean expired = FALSE;
  g_autoptr (GSource) guard = g_timeout_source_new (GUARD_MS);

  g_source_set_callback (guard, guard_cb, &expired, NULL);
  g_source_attach (guard, ctx);
  while (*count < want && !expired)
    g_main_context_iteration (ctx, TRUE);
  g_source_destroy (guard);
  return *count >= want;
}

static P2pUdpSocket *
new_loopback (GMainContext *ctx)
{
  g_autoptr (GError) error = NULL;
  P2pUdpSocket *s = p2p_udp_socket_new ("127.0.0.1:0", ctx, &error);

  g_assert_no_error (error);
  g_assert_nonnull (s);
  return s;
}

static guint16
local_port (P2pUdpSocket *s)
{
  g_autoptr (GSocketAddress) addr =
      p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (s));

  g_assert_true (G_IS_INET_SOCKET_ADDRESS (addr));
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (addr));
}

static void
test_exchange (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (P2pUdpSocket) a = new_loopback (ctx);
  g_autoptr (P2pUdpSocket) b = new_loopback (ctx);
  g_autoptr (GSocketAddress) addr_a = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (a));
  g_autoptr (GSocketAddress) addr_b = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (b));
  g_autoptr (GError) error = NULL;
  Inbox ia, ib;
  guint i;

  g_assert_cmpuint (local_port (a), !=, 0);
  g_assert_cmpuint (local_port (b), !=, local_port (a));
  g_assert_true (p2p_datagram_socket_get_context (P2P_DATAGRAM_SOCKET (a)) == ctx);
  g_assert_cmpint (p2p_datagram_socket_get_kind (P2P_DATAGRAM_SOCKET (a)), ==,
      P2P_PATH_KIND_DIRECT);
  g_assert_cmpuint (p2p_datagram_socket_get_mtu (P2P_DATAGRAM_SOCKET (a)), ==, 1452);

  inbox_init (&ia);
  inbox_init (&ib);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (a), on_receive, &ia, on_destroy);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (b), on_receive, &ib, on_destroy);

  /* 100 datagrams a -> b, more than one receive batch, content checked */
  for (i = 0; i < 100; i++) {
    guint8 buf[1452];

    memset (buf, (int) i, sizeof buf);
    g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (a), addr_b, buf,
            100 + i, &error));
    g_assert_no_error (error);
  }
  g_assert_true (wait_count (ctx, &ib.data->len, 100));
  for (i = 0; i < 100; i++) {
    gsize len;
    const guint8 *p = g_bytes_get_data (ib.data->pdata[i], &len);

    /* loopback keeps the order */
    g_assert_cmpuint (len, ==, 100 + i);
    g_assert_cmpuint (p[0], ==, i);
    g_assert_cmpuint (p[len - 1], ==, i);
    g_assert_true (g_inet_socket_address_get_port (ib.from->pdata[i]) == local_port (a));
  }

  /* and back, to the address the datagram came from */
  g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (b), ib.from->pdata[0],
          (const guint8 *) "pong", 4, &error));
  g_assert_true (wait_count (ctx, &ia.data->len, 1));
  g_assert_cmpmem (g_bytes_get_data (ia.data->pdata[0], NULL), 4, "pong", 4);
  g_assert_true (g_inet_socket_address_get_port (ia.from->pdata[0]) == local_port (b));
  {
    g_autofree char *host = g_inet_address_to_string (
        g_inet_socket_address_get_address (ia.from->pdata[0]));

    g_assert_cmpstr (host, ==, "127.0.0.1");
  }
  (void) addr_a;

  g_clear_object (&a);
  g_assert_true (ia.destroyed);
  g_clear_object (&b);
  g_assert_true (ib.destroyed);
  inbox_clear (&ia);
  inbox_clear (&ib);
  while (g_main_context_iteration (ctx, FALSE));
}

typedef struct {
  guint received;
  guint at_timer;               /* received when the timer fired */
  gboolean fired;
} SlowInbox;

static void
on_receive_slowly (P2pDatagramSocket *sock, GSocketAddress *from, const guint8 *data,
    gsize len, gpointer user_data)
{
  SlowInbox *in = user_data;

  g_usleep (1000);              /* a slow handler: 1 ms a datagram */
  in->received++;
}

static gboolean
slow_timer_cb (gpointer user_data)
{
  SlowInbox *in = user_data;

  in->at_timer = in->received;
  in->fired = TRUE;
  return G_SOURCE_REMOVE;
}

/* A dispatch of the receive source is bounded in time as well as in
 * datagrams: with 100 datagrams waiting and a handler taking 1 ms each, a
 * timer due 1 ms later runs after one or two batches (16 datagrams each),
 * not after all 100 (one dispatch took them all before). */
static void
test_receive_budget (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (P2pUdpSocket) a = new_loopback (ctx);
  g_autoptr (P2pUdpSocket) b = new_loopback (ctx);
  g_autoptr (GSocketAddress) addr_b = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (b));
  g_autoptr (GSource) timer = NULL;
  SlowInbox in = { 0 };

  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (b), on_receive_slowly, &in, NULL);
  for (guint i = 0; i < 100; i++) {
    g_autoptr (GError) error = NULL;
    guint8 buf[100] = { (guint8) i };

    g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (a), addr_b, buf,
            sizeof buf, &error));
    g_assert_no_error (error);
  }
  timer = g_timeout_source_new (1);
  g_source_set_callback (timer, slow_timer_cb, &in, NULL);
  g_source_attach (timer, ctx);
  g_assert_true (wait_count (ctx, &in.received, 100));
  g_assert_true (in.fired);
  g_test_message ("the timer ran after %u of 100 datagrams", in.at_timer);
  g_assert_cmpuint (in.at_timer, <=, 48);
  g_clear_object (&b);
  g_clear_object (&a);
  while (g_main_context_iteration (ctx, FALSE));
}

/* A burst of equal-sized datagrams sent in one go (UDP GSO where the
 * kernel has it) arrives as those datagrams, whole and in order, also when
 * the receiver gets them coalesced (UDP GRO): 40 of 1400 bytes and a last
 * one of 333, then a burst of one. */
static void
test_segments (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (P2pUdpSocket) a = new_loopback (ctx);
  g_autoptr (P2pUdpSocket) b = new_loopback (ctx);
  g_autoptr (GSocketAddress) addr_b = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (b));
  g_autoptr (GError) error = NULL;
  const gsize seg = 1400, n = 41, last = 333;
  gsize total = seg * (n - 1) + last;
  g_autofree guint8 *buf = g_malloc (total);
  Inbox ib;

  for (gsize i = 0; i < total; i++)
    buf[i] = (guint8) (i / seg * 7 + i % 251);
  inbox_init (&ib);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (b), on_receive, &ib, on_destroy);
  g_assert_true (p2p_datagram_socket_send_segments_to (P2P_DATAGRAM_SOCKET (a), addr_b, buf,
          total, seg, &error));
  g_assert_no_error (error);
  g_assert_true (p2p_datagram_socket_send_segments_to (P2P_DATAGRAM_SOCKET (a), addr_b,
          (const guint8 *) "one", 3, seg, &error));
  g_assert_true (wait_count (ctx, &ib.data->len, n + 1));
  g_assert_cmpuint (ib.data->len, ==, n + 1);
  for (gsize i = 0; i < n; i++) {
    gsize len;
    const guint8 *p = g_bytes_get_data (ib.data->pdata[i], &len);

    g_assert_cmpuint (len, ==, i < n - 1 ? seg : last);
    g_assert_cmpmem (p, len, buf + i * seg, len);
  }
  g_assert_cmpmem (g_bytes_get_data (ib.data->pdata[n], NULL), 3, "one", 3);
  g_clear_object (&b);
  inbox_clear (&ib);
  while (g_main_context_iteration (ctx, FALSE));
}

static void
on_unreachable (P2pDatagramSocket *sock, GSocketAddress *to, const char *reason,
    gpointer user_data)
{
  (*(guint *) user_data)++;
}

/* An ICMP port unreachable for a datagram sent to one peer (its process
 * died) is pending on the socket (IP_RECVERR) and makes the next send()
 * fail, whoever that one goes to: a server's datagram to every other peer
 * was lost that way, once per datagram the dead peer was sent (a live
 * receiver beside a dead one waited seconds for its first buffer). The
 * send to the live peer goes out, bursts (GSO) too, and the dead peer's
 * address is still reported as unreachable. */
static void
test_other_peer_unreachable (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (P2pUdpSocket) a = new_loopback (ctx);
  g_autoptr (P2pUdpSocket) b = new_loopback (ctx);
  g_autoptr (P2pUdpSocket) gone = new_loopback (ctx);
  g_autoptr (GSocketAddress) addr_b = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (b));
  g_autoptr (GSocketAddress) addr_gone =
      p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (gone));
  int fd = g_socket_get_fd (p2p_udp_socket_get_socket (a));
  guint unreachable = 0;
  Inbox ib;

  inbox_init (&ib);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (b), on_receive, &ib, on_destroy);
  p2p_datagram_socket_set_unreachable_func (P2P_DATAGRAM_SOCKET (a), on_unreachable,
      &unreachable, NULL);
  g_clear_object (&gone);       /* its port is closed now */
  for (guint round = 0; round < 3; round++) {
    g_autoptr (GError) error = NULL;
    GPollFD pfd = { fd, G_IO_ERR, 0 };
    guint8 buf[3 * 1000];

    memset (buf, 'a' + round, sizeof buf);
    g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (a), addr_gone,
            (const guint8 *) "x", 1, &error));
    g_assert_no_error (error);
    /* the ICMP error is pending (poll says so); the context has not run,
     * so nothing read it yet */
    g_assert_cmpint (g_poll (&pfd, 1, 1000), ==, 1);
    g_assert_true (pfd.revents & G_IO_ERR);
    if (round < 2) {
      g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (a), addr_b, buf, 100,
              &error));
    } else {
      g_assert_true (p2p_datagram_socket_send_segments_to (P2P_DATAGRAM_SOCKET (a), addr_b,
              buf, sizeof buf, 1000, &error));
    }
    g_assert_no_error (error);
  }
  g_assert_true (wait_count (ctx, &ib.data->len, 5));
  g_assert_cmpuint (ib.data->len, ==, 5);
  for (guint i = 0; i < 5; i++) {
    gsize len;
    const guint8 *p = g_bytes_get_data (ib.data->pdata[i], &len);

    g_assert_cmpuint (len, ==, i < 2 ? 100 : 1000);
    g_assert_cmpint (p[0], ==, i < 2 ? 'a' + i : 'c');
  }
  g_assert_true (wait_count (ctx, &unreachable, 1));
  g_assert_cmpuint (p2p_udp_socket_get_send_drops (a), ==, 0);
  g_clear_object (&b);
  inbox_clear (&ib);
  while (g_main_context_iteration (ctx, FALSE));
}

static void
test_ipv6 (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pUdpSocket) a = p2p_udp_socket_new ("[::1]:0", ctx, &error);
  g_autoptr (P2pUdpSocket) b = NULL;
  g_autoptr (GSocketAddress) addr_b = NULL;
  Inbox ib;

  if (a == NULL && g_error_matches (error, P2P_ERROR, P2P_ERROR_NETWORK)) {
    g_test_skip ("no IPv6 loopback on this machine");
    return;
  }
  g_assert_no_error (error);
  b = p2p_udp_socket_new ("[::1]:0", ctx, &error);
  g_assert_no_error (error);
  addr_b = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (b));
  g_assert_cmpint (g_socket_address_get_family (addr_b), ==, G_SOCKET_FAMILY_IPV6);
  inbox_init (&ib);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (b), on_receive, &ib, NULL);
  g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (a), addr_b,
          (const guint8 *) "v6", 2, &error));
  g_assert_true (wait_count (ctx, &ib.data->len, 1));
  g_assert_cmpmem (g_bytes_get_data (ib.data->pdata[0], NULL), 2, "v6", 2);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (b), NULL, NULL, NULL);
  inbox_clear (&ib);
}

static void
test_mtu (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (P2pUdpSocket) a = new_loopback (ctx);
  g_autoptr (P2pUdpSocket) b = new_loopback (ctx);
  g_autoptr (GSocketAddress) addr_b = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (b));
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *big = g_malloc (65527);
  guint mtu = 0;
  Inbox ib;

  for (gsize i = 0; i < 65527; i++)
    big[i] = (guint8) (i * 7);
  g_assert_false (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (a), addr_b, big, 1453,
          &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "1453 bytes exceeds the socket MTU of 1452"));
  g_clear_error (&error);

  /* raised for loopback: a 65000-byte datagram arrives whole */
  p2p_udp_socket_set_mtu (a, 65000);
  g_object_get (a, "mtu", &mtu, NULL);
  g_assert_cmpuint (mtu, ==, 65000);
  inbox_init (&ib);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (b), on_receive, &ib, NULL);
  g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (a), addr_b, big, 65000,
          &error));
  g_assert_no_error (error);
  g_assert_true (wait_count (ctx, &ib.data->len, 1));
  g_assert_cmpmem (g_bytes_get_data (ib.data->pdata[0], NULL),
      g_bytes_get_size (ib.data->pdata[0]), big, 65000);

  /* beyond what IPv4 carries: a NETWORK error, not a crash */
  g_object_set (a, "mtu", 65527, NULL);
  g_assert_false (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (a), addr_b, big, 65527,
          &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_NETWORK);
  g_assert_cmpuint (p2p_udp_socket_get_send_drops (a), ==, 0);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (b), NULL, NULL, NULL);
  inbox_clear (&ib);
}

/* ---- timers ---- */

typedef struct {
  GArray *order;                /* guint tags in firing order */
  P2pUdpSocket *sock;
  guint64 fired_at[8];
  guint64 deadline[8];
} TimerLog;

typedef struct {
  TimerLog *log;
  guint tag;
} TimerArg;

static void
timer_cb (gpointer user_data)
{
  TimerArg *arg = user_data;

  arg->log->fired_at[arg->tag] = p2p_datagram_socket_now (P2P_DATAGRAM_SOCKET (arg->log->sock));
  g_array_append_val (arg->log->order, arg->tag);
}

static void
test_timers (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (P2pUdpSocket) s = new_loopback (ctx);
  P2pDatagramSocket *ds = P2P_DATAGRAM_SOCKET (s);
  TimerLog log = { g_array_new (FALSE, FALSE, sizeof (guint)), s, { 0 }, { 0 } };
  TimerArg args[6];
  guint64 now = p2p_datagram_socket_now (ds);
  guint64 mono = (guint64) g_get_monotonic_time () * 1000;
  static const guint64 offsets_ms[6] = { 30, 10, 20, 10, 0, 40 };
  guint ids[6];
  guint i;

  /* now() is monotonic nanoseconds */
  g_assert_cmpuint (now, <=, mono);
  g_assert_cmpuint (mono - now, <, 1000000000);

  for (i = 0; i < 6; i++) {
    args[i] = (TimerArg) { &log, i };
    log.deadline[i] = now + offsets_ms[i] * 1000000;
    ids[i] = p2p_datagram_socket_add_timer (ds, log.deadline[i], timer_cb, &args[i]);
    g_assert_cmpuint (ids[i], !=, 0);
    for (guint j = 0; j < i; j++)
      g_assert_cmpuint (ids[i], !=, ids[j]);
  }
  /* cancel the 40 ms one; cancelling twice or an unknown id is harmless */
  p2p_datagram_socket_cancel_timer (ds, ids[5]);
  p2p_datagram_socket_cancel_timer (ds, ids[5]);
  p2p_datagram_socket_cancel_timer (ds, 0);
  p2p_datagram_socket_cancel_timer (ds, 987654);

  g_assert_true (wait_count (ctx, &log.order->len, 5));
  /* deadline order; equal deadlines in creation order */
  g_assert_cmpuint (g_array_index (log.order, guint, 0), ==, 4);
  g_assert_cmpuint (g_array_index (log.order, guint, 1), ==, 1);
  g_assert_cmpuint (g_array_index (log.order, guint, 2), ==, 3);
  g_assert_cmpuint (g_array_index (log.order, guint, 3), ==, 2);
  g_assert_cmpuint (g_array_index (log.order, guint, 4), ==, 0);
  for (i = 0; i < 5; i++)
    g_assert_cmpuint (log.fired_at[i], >=, log.deadline[i]);

  /* the cancelled one never fires: wait past its deadline on another timer */
  args[5].tag = 5;
  p2p_datagram_socket_add_timer (ds, now + 60 * 1000000, timer_cb, &args[4]);
  g_assert_true (wait_count (ctx, &log.order->len, 6));
  g_assert_cmpuint (g_array_index (log.order, guint, 5), ==, 4);
  g_assert_cmpuint (log.fired_at[5], ==, 0);

  /* timers do not fire after close */
  p2p_datagram_socket_add_timer (ds, 0, timer_cb, &args[0]);
  p2p_datagram_socket_close (ds);
  while (g_main_context_iteration (ctx, FALSE));
  g_assert_cmpuint (log.order->len, ==, 6);
  g_array_unref (log.order);
}

static void
test_close (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (P2pUdpSocket) a = new_loopback (ctx);
  g_autoptr (P2pUdpSocket) b = new_loopback (ctx);
  g_autoptr (P2pUdpSocket) c = new_loopback (ctx);
  g_autoptr (GSocketAddress) addr_b = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (b));
  g_autoptr (GSocketAddress) addr_c = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (c));
  g_autoptr (GError) error = NULL;
  Inbox ib, ic;

  inbox_init (&ib);
  inbox_init (&ic);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (b), on_receive, &ib, NULL);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (c), on_receive, &ic, NULL);

  /* a datagram is in b's kernel buffer when b closes: never delivered.
   * c receives a marker sent after it, so we know it was processed. */
  g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (a), addr_b,
          (const guint8 *) "x", 1, &error));
  p2p_datagram_socket_close (P2P_DATAGRAM_SOCKET (b));
  p2p_datagram_socket_close (P2P_DATAGRAM_SOCKET (b));     /* idempotent */
  g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (a), addr_c,
          (const guint8 *) "marker", 6, &error));
  g_assert_true (wait_count (ctx, &ic.data->len, 1));
  g_assert_cmpuint (ib.data->len, ==, 0);

  /* sending on a closed socket is CLOSED */
  g_assert_false (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (b), addr_c,
          (const guint8 *) "y", 1, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_CLOSED);
  g_assert_null (p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (b)));

  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (b), NULL, NULL, NULL);
  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (c), NULL, NULL, NULL);
  inbox_clear (&ib);
  inbox_clear (&ic);
}

/* Receiver that closes its socket from inside the callback: the rest of the
 * batch is not delivered. */
static void
on_receive_close (P2pDatagramSocket *sock, GSocketAddress *from, const guint8 *data,
    gsize len, gpointer user_data)
{
  guint *n = user_data;

  (*n)++;
  p2p_datagram_socket_close (sock);
}

static void
test_close_in_callback (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (P2pUdpSocket) a = new_loopback (ctx);
  g_autoptr (P2pUdpSocket) b = new_loopback (ctx);
  g_autoptr (GSocketAddress) addr_b = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (b));
  guint n = 0;

  p2p_datagram_socket_set_receive_func (P2P_DATAGRAM_SOCKET (b), on_receive_close, &n, NULL);
  for (int i = 0; i < 5; i++)
    g_assert_true (p2p_datagram_socket_send_to (P2P_DATAGRAM_SOCKET (a), addr_b,
            (const guint8 *) "z", 1, NULL));
  g_assert_true (wait_count (ctx, &n, 1));
  while (g_main_context_iteration (ctx, FALSE));
  g_assert_cmpuint (n, ==, 1);
}

static void
test_bad_bind (void)
{
  static const struct {
    const char *addr;
    gint code;
    const char *msg;
  } cases[] = {
    { "", P2P_ERROR_INVALID_ARGUMENT, "*empty bind address*" },
    { "127.0.0.1", P2P_ERROR_INVALID_ARGUMENT, "*missing ':PORT'*" },
    { "127.0.0.1:", P2P_ERROR_INVALID_ARGUMENT, "*port must be a number 0..65535*" },
    { "127.0.0.1:65536", P2P_ERROR_INVALID_ARGUMENT, "*port must be a number*" },
    { "127.0.0.1:-1", P2P_ERROR_INVALID_ARGUMENT, "*port must be a number*" },
    { "127.0.0.1:80x", P2P_ERROR_INVALID_ARGUMENT, "*port must be a number*" },
    { "nonsense.invalid:0", P2P_ERROR_INVALID_ARGUMENT, "*not an IP address*" },
    { "::1:0", P2P_ERROR_INVALID_ARGUMENT, "*in brackets*" },
    { "[::1:0", P2P_ERROR_INVALID_ARGUMENT, "*expected [IPV6]:PORT*" },
    { "[127.0.0.1]:0", P2P_ERROR_INVALID_ARGUMENT, "*not an IPv6 address*" },
    /* TEST-NET-1: not an address of this machine */
    { "192.0.2.1:0", P2P_ERROR_NETWORK, "*cannot bind UDP socket to '192.0.2.1:0'*" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (P2pUdpSocket) s = p2p_udp_socket_new (cases[i].addr, NULL, &error);

    g_assert_null (s);
    g_assert_error (error, P2P_ERROR, cases[i].code);
    if (!g_pattern_match_simple (cases[i].msg, error->message))
      g_error ("'%s': unexpected message '%s'", cases[i].addr, error->message);
  }
}

static void
test_port_in_use (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (P2pUdpSocket) a = new_loopback (ctx);
  g_autofree char *addr = g_strdup_printf ("127.0.0.1:%u", local_port (a));
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pUdpSocket) b = p2p_udp_socket_new (addr, ctx, &error);

  g_assert_null (b);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, "or 0 for any free port"));
}

static void
test_any_and_localhost (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pUdpSocket) any = p2p_udp_socket_new (":0", ctx, &error);
  g_autoptr (P2pUdpSocket) lh = NULL;
  g_autoptr (GSocketAddress) a1 = NULL;
  g_autoptr (GSocketAddress) a2 = NULL;
  g_autofree char *s1 = NULL;
  g_autofree char *s2 = NULL;

  g_assert_no_error (error);
  lh = p2p_udp_socket_new ("LocalHost:0", ctx, &error);
  g_assert_no_error (error);
  a1 = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (any));
  a2 = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (lh));
  s1 = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (a1)));
  s2 = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (a2)));
  g_assert_cmpstr (s1, ==, "0.0.0.0");
  g_assert_cmpstr (s2, ==, "127.0.0.1");
  g_assert_nonnull (p2p_udp_socket_get_socket (lh));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/udp-socket/exchange", test_exchange);
  g_test_add_func ("/udp-socket/segments", test_segments);
  g_test_add_func ("/udp-socket/receive-budget", test_receive_budget);
  g_test_add_func ("/udp-socket/other-peer-unreachable", test_other_peer_unreachable);
  g_test_add_func ("/udp-socket/ipv6", test_ipv6);
  g_test_add_func ("/udp-socket/mtu", test_mtu);
  g_test_add_func ("/udp-socket/timers", test_timers);
  g_test_add_func ("/udp-socket/close", test_close);
  g_test_add_func ("/udp-socket/close-in-callback", test_close_in_callback);
  g_test_add_func ("/udp-socket/bad-bind", test_bad_bind);
  g_test_add_func ("/udp-socket/port-in-use", test_port_in_use);
  g_test_add_func ("/udp-socket/any-and-localhost", test_any_and_localhost);
  return g_test_run ();
}
