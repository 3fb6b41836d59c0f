/* test-quic-provider.c: P2pQuicProvider over UDP loopback: direct mode
 * (ID@HOST:PORT, tickets, bad peer strings, nobody listening, pool reuse,
 * bare IDs without rendezvous, cancellation, listen errors) and the
 * rendezvous + ICE route (a p2p-rendezvous subprocess on 127.0.0.1 port 0:
 * bare peer IDs, unknown IDs, the fallback from silent addresses), and the
 * allow-list passed down to TLS and to the ICE responder (issue 11 item 4),
 * the responder's max_pending and duplicate offers (issue 19).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "p2p/p2p.h"
#include "p2p-quic-provider-private.h"
#include "p2p-signaling.h"
#include "p2p-test-util.h"

typedef struct {
  P2pQuicProvider *a;           /* listens */
  P2pQuicProvider *b;           /* connects */
  P2pListener *listener;
  guint16 port;
  char *a_id;
} Fixture;

static P2pConfig *
test_config (guint idle_ms)
{
  P2pConfig *cfg = p2p_config_new ();

  cfg->idle_timeout_ms = idle_ms;
  cfg->keepalive_ms = 0;
  cfg->listen_port = 0;
  /* nothing announced on, or asked of, the machine's own networks (the
   * LAN discovery tests run in a namespace of their own: test-discovery) */
  cfg->mdns = FALSE;
  /* and no ICE connectivity checks to the machine's own addresses */
  return p2p_test_ice_on_loopback (cfg);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (P2pConfig) cfg = test_config (data ? GPOINTER_TO_UINT (data) : 5000);
  g_autoptr (P2pIdentity) ida = p2p_identity_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketAddress) local = NULL;

  f->a = p2p_quic_provider_new (ida, cfg);
  f->b = p2p_quic_provider_new (NULL, cfg);
  f->listener = p2p_provider_listen (P2P_PROVIDER (f->a), "127.0.0.1:0", &error);
  g_assert_no_error (error);
  local = p2p_listener_get_local_address (f->listener);
  f->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
  g_assert_cmpuint (f->port, >, 0);
  f->a_id = p2p_identity_dup_peer_id_string (ida);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  p2p_listener_close (f->listener);
  g_clear_object (&f->listener);
  g_clear_object (&f->b);
  g_clear_object (&f->a);
  g_free (f->a_id);
}

static gboolean
cancel_cb (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

/* A cancellable cancelled after @ms by a helper thread's context. */
typedef struct {
  GMainContext *ctx;
  GMainLoop *loop;
  GThread *thread;
} Timer;

static gpointer
timer_thread (gpointer data)
{
  Timer *t = data;

  g_main_context_push_thread_default (t->ctx);
  g_main_loop_run (t->loop);
  g_main_context_pop_thread_default (t->ctx);
  return NULL;
}

static Timer *
timer_new (void)
{
  Timer *t = g_new0 (Timer, 1);

  t->ctx = g_main_context_new ();
  t->loop = g_main_loop_new (t->ctx, FALSE);
  t->thread = g_thread_new ("test-timer", timer_thread, t);
  return t;
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
timer_free (Timer *t)
{
  GSource *src = g_idle_source_new ();

  g_source_set_callback (src, quit_cb, t->loop, NULL);
  g_source_attach (src, t->ctx);
  g_source_unref (src);
  g_thread_join (t->thread);
  g_main_loop_unref (t->loop);
  g_main_context_unref (t->ctx);
  g_free (t);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Timer, timer_free)

static GCancellable *
timeout_cancellable (Timer *t, guint ms)
{
  GCancellable *c = g_cancellable_new ();
  GSource *src = g_timeout_source_new (ms);

  g_source_set_callback (src, cancel_cb, g_object_ref (c), g_object_unref);
  g_source_attach (src, t->ctx);
  g_source_unref (src);
  return c;
}

static P2pConnection *
accept_bounded (Fixture *f, Timer *t)
{
  g_autoptr (GCancellable) c = timeout_cancellable (t, 10000);
  g_autoptr (GError) error = NULL;
  P2pConnection *conn = p2p_listener_accept (f->listener, c, &error);

  g_assert_no_error (error);
  return conn;
}

/* b dials a's listener: the dialled connection, and the accepted one in
 * *@server (both transfer full). */
static P2pConnection *
connect_pair (Fixture *f, Timer *t, P2pConnection **server)
{
  g_autofree char *peer = g_strdup_printf ("%s@127.0.0.1:%u", f->a_id, f->port);
  g_autoptr (GError) error = NULL;
  P2pConnection *conn = p2p_provider_connect (P2P_PROVIDER (f->b), peer, NULL, &error);

  g_assert_no_error (error);
  *server = accept_bounded (f, t);
  return conn;
}

static void
exchange (Timer *t, P2pConnection *from, P2pConnection *to, const char *text)
{
  g_autoptr (GBytes) out = g_bytes_new (text, strlen (text));
  g_autoptr (GBytes) in = NULL;
  g_autoptr (GCancellable) c = timeout_cancellable (t, 10000);
  g_autoptr (GError) error = NULL;

  g_assert_true (p2p_connection_send (from, out, c, &error));
  g_assert_no_error (error);
  in = p2p_connection_receive (to, c, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (in, out));
}

static void
test_connect_id_at_host_port (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  g_autofree char *peer = g_strdup_printf ("%s@127.0.0.1:%u", f->a_id, f->port);
  g_autoptr (GCancellable) c = timeout_cancellable (t, 10000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) cb = p2p_provider_connect (P2P_PROVIDER (f->b), peer, c, &error);
  g_autoptr (P2pConnection) ca = NULL;
  g_autofree char *seen = NULL;
  P2pConnectionStats st;

  g_assert_no_error (error);
  ca = accept_bounded (f, t);
  seen = p2p_peer_id_to_string (p2p_connection_get_peer_id (cb));
  g_assert_cmpstr (seen, ==, f->a_id);
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (ca),
      p2p_provider_get_local_peer_id (P2P_PROVIDER (f->b))));
  exchange (t, cb, ca, "over ID@HOST:PORT");
  exchange (t, ca, cb, "and back");
  p2p_connection_get_stats (cb, &st);
  g_assert_cmpint (st.path_kind, ==, P2P_PATH_KIND_DIRECT);
  g_assert_cmpuint (st.rtt_us, >, 0);
}

/* ID@localhost:PORT to a listener on IPv4: GLib resolves "localhost" to
 * ::1 first, and only that one was dialled ("Connection refused"): every
 * address of a name races now (found in a new-user walkthrough). */
static void
test_connect_localhost (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  g_autofree char *peer = g_strdup_printf ("%s@localhost:%u", f->a_id, f->port);
  g_autoptr (GCancellable) c = timeout_cancellable (t, 10000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) cb = p2p_provider_connect (P2P_PROVIDER (f->b), peer, c, &error);
  g_autoptr (P2pConnection) ca = NULL;

  g_assert_no_error (error);
  ca = accept_bounded (f, t);
  exchange (t, cb, ca, "over ID@localhost:PORT");
}

static void
test_connect_ticket (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  g_autofree char *ticket = p2p_listener_get_ticket (f->listener);
  g_autoptr (GCancellable) c = timeout_cancellable (t, 10000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) cb = NULL;
  g_autoptr (P2pConnection) ca = NULL;

  g_assert_true (g_str_has_prefix (ticket, "p2p1"));
  cb = p2p_provider_connect (P2P_PROVIDER (f->b), ticket, c, &error);
  g_assert_no_error (error);
  ca = accept_bounded (f, t);
  exchange (t, cb, ca, "over a ticket");
}

static void
test_ticket_any_address (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pListener) l = p2p_provider_listen (P2P_PROVIDER (f->a), ":0", &error);
  g_autofree char *ticket = NULL;
  g_autoptr (P2pPeerInfo) info = NULL;
  const char *const *addrs;
  guint n = 0;

  g_assert_no_error (error);
  ticket = p2p_listener_get_ticket (l);
  info = p2p_peer_info_parse (ticket, &error);
  g_assert_no_error (error);
  addrs = p2p_peer_info_get_addresses (info);
  while (addrs[n])
    n++;
  g_assert_cmpuint (n, >=, 1);
  /* Loopback comes last: the machine's own addresses are tried as well. */
  g_assert_true (g_str_has_prefix (addrs[n - 1], "127.0.0.1:"));
  p2p_listener_close (l);
}

static void
test_bad_peer (Fixture *f, gconstpointer data)
{
  const char *bad[] = { "", "not a peer", "p2p1zzzz", "abc@127.0.0.1:1" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (P2pConnection) c = p2p_provider_connect (P2P_PROVIDER (f->b), bad[i], NULL, &error);

    g_assert_null (c);
    g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  }
}

static void
test_bare_id_no_rendezvous (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c = p2p_provider_connect (P2P_PROVIDER (f->b), f->a_id, NULL, &error);

  g_assert_null (c);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "P2P_BOOTSTRAP_PEERS"));
  g_assert_nonnull (strstr (error->message, f->a_id));
}

/* P2P_RELAY_POLICY=relay-only: a ticket's direct address is never dialed
 * (it would show this host's address to the peer): without a rendezvous
 * the dial fails at once, saying why, and the listener saw nobody. */
static void
test_relay_only_no_direct (Fixture *f, gconstpointer data)
{
  g_autoptr (P2pConfig) cfg = test_config (5000);
  g_autoptr (P2pQuicProvider) ro = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c = NULL;
  g_autoptr (GVariant) stats = NULL;
  g_autofree char *hinted = g_strdup_printf ("%s@127.0.0.1:%u", f->a_id, f->port);
  guint64 accepts = 99;
  gint64 t0;

  cfg->relay_policy = P2P_RELAY_POLICY_RELAY_ONLY;
  ro = p2p_quic_provider_new (NULL, cfg);
  t0 = g_get_monotonic_time ();
  c = p2p_provider_connect (P2P_PROVIDER (ro), hinted, NULL, &error);
  g_assert_null (c);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "relay-only"));
  g_assert_nonnull (strstr (error->message, f->a_id));
  /* decided without waiting for any answer */
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 1000 * 1000);
  stats = p2p_provider_get_stats (P2P_PROVIDER (f->a));
  g_assert_true (g_variant_lookup (stats, "accepts", "t", &accepts));
  g_assert_cmpuint (accepts, ==, 0);
  /* the same provider without the policy connects (the address is good) */
  g_clear_error (&error);
  {
    g_autoptr (P2pConnection) ok = p2p_provider_connect (P2P_PROVIDER (f->b), hinted, NULL,
        &error);

    g_assert_no_error (error);
    g_assert_nonnull (ok);
  }
}

/* A UDP port that is bound (so no ICMP) but never answers. */
static GSocket *
silent_socket (guint16 *port)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  GSocket *s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
      G_SOCKET_PROTOCOL_UDP, &error);

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (s, sa, FALSE, &error));
  bound = g_socket_get_local_address (s, &error);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  return s;
}

static void
test_nobody_listening (Fixture *f, gconstpointer data)
{
  guint16 port;
  g_autoptr (GSocket) silent G_GNUC_UNUSED = silent_socket (&port); /* holds the port */
  g_autofree char *peer = g_strdup_printf ("%s@127.0.0.1:%u", f->a_id, port);
  g_autofree char *addr = g_strdup_printf ("127.0.0.1:%u", port);
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (P2pConnection) c = p2p_provider_connect (P2P_PROVIDER (f->b), peer, NULL, &error);

  g_assert_null (c);
  g_assert_true (g_error_matches (error, P2P_ERROR, P2P_ERROR_TIMEOUT) ||
      g_error_matches (error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED));
  g_assert_nonnull (strstr (error->message, addr));
  /* idle timeout 500 ms here */
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 5 * G_TIME_SPAN_SECOND);
}

static void
test_cancel_connect (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  guint16 port;
  g_autoptr (GSocket) silent G_GNUC_UNUSED = silent_socket (&port); /* holds the port */
  g_autofree char *peer = g_strdup_printf ("%s@127.0.0.1:%u", f->a_id, port);
  g_autoptr (GCancellable) c = timeout_cancellable (t, 100);
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (P2pConnection) conn = p2p_provider_connect (P2P_PROVIDER (f->b), peer, c, &error);

  g_assert_null (conn);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* Well before the 5 s idle timeout. */
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 3 * G_TIME_SPAN_SECOND);
}

/* A connect cancelled while its dial still runs does not catch the next
 * connect to the same peer: that one dials afresh and succeeds (it joined
 * the cancelled dial and failed with CANCELLED). */
static void
test_connect_after_cancel (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  guint16 port;
  g_autoptr (GSocket) silent G_GNUC_UNUSED = silent_socket (&port);
  g_autofree char *dead = g_strdup_printf ("%s@127.0.0.1:%u", f->a_id, port);
  g_autofree char *live = g_strdup_printf ("%s@127.0.0.1:%u", f->a_id, f->port);
  g_autoptr (GCancellable) c = timeout_cancellable (t, 100);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) none = p2p_provider_connect (P2P_PROVIDER (f->b), dead, c, &error);
  g_autoptr (P2pConnection) conn = NULL;
  g_autoptr (P2pConnection) s = NULL;

  g_assert_null (none);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  conn = p2p_provider_connect (P2P_PROVIDER (f->b), live, NULL, &error);
  g_assert_no_error (error);
  s = accept_bounded (f, t);
  exchange (t, conn, s, "after a cancelled dial");
}

/* p2p_connection_abort_stream(): the peer writing on the stream is told to
 * stop (its write fails at once, not after the receiver's 16 MiB window
 * fills and the bound expires), and the aborted stream's reads fail. */
typedef struct {
  P2pConnection *conn;
  GCancellable *cancel;
  gsize want, got;
  GChecksum *sum;
} Drain;

static gpointer
drain_thread (gpointer data)
{
  Drain *d = data;

  while (d->got < d->want) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) m = p2p_connection_receive (d->conn, d->cancel, &error);

    if (m == NULL)
      break;
    g_checksum_update (d->sum, g_bytes_get_data (m, NULL), g_bytes_get_size (m));
    d->got += g_bytes_get_size (m);
  }
  return NULL;
}

/* Inside a batch (p2p_connection_batch_begin), blocking calls that must
 * wait for the network thread hand over what the batch holds first: a
 * send of more than the send queue holds and a stream open complete
 * (they waited forever on the work the batch kept back). */
static void
test_batch_blocking (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  g_autoptr (GCancellable) c = timeout_cancellable (t, 20000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) s = NULL;
  g_autoptr (P2pConnection) cb = connect_pair (f, t, &s);
  g_autoptr (GIOStream) io = NULL;
  g_autoptr (GChecksum) sent = g_checksum_new (G_CHECKSUM_SHA256);
  Drain d = { s, c, 16 << 20, 0, g_checksum_new (G_CHECKSUM_SHA256) };
  GThread *reader;

  reader = g_thread_new ("drain", drain_thread, &d);
  p2p_connection_batch_begin ();
  for (guint i = 0; i < 256 && !error; i++) {
    guint8 *buf = g_malloc (65536);
    g_autoptr (GBytes) m = NULL;

    memset (buf, i, 65536);
    m = g_bytes_new_take (buf, 65536);
    if (p2p_connection_send (cb, m, c, &error))
      g_checksum_update (sent, g_bytes_get_data (m, NULL), 65536);
  }
  g_assert_no_error (error);
  io = p2p_connection_open_stream (cb, c, &error);
  g_assert_no_error (error);
  g_assert_nonnull (io);
  p2p_connection_batch_end ();
  g_thread_join (reader);
  g_assert_false (g_cancellable_is_cancelled (c));
  g_assert_cmpuint (d.got, ==, 16 << 20);
  g_assert_cmpstr (g_checksum_get_string (d.sum), ==, g_checksum_get_string (sent));
  g_checksum_free (d.sum);
}

/* p2p_connection_write_stream_bytes(): 8 MiB given as GBytes of 256 KiB
 * (more than the stream buffer: the writes wait for room) and read back
 * whole and in order after a header written the GOutputStream way; a
 * stream of another connection is refused. */
static void
test_write_stream_bytes (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  g_autoptr (GCancellable) c = timeout_cancellable (t, 20000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) s = NULL;
  g_autoptr (P2pConnection) cb = connect_pair (f, t, &s);
  g_autoptr (GIOStream) mine = NULL;
  g_autoptr (GIOStream) theirs = NULL;
  g_autoptr (GChecksum) sent = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr (GChecksum) got = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buf = g_malloc (65536);
  g_autoptr (GBytes) one = g_bytes_new_static ("x", 1);
  gsize total = 0, n;
  char head[6] = { 0 };

  mine = p2p_connection_open_stream (cb, c, &error);
  g_assert_no_error (error);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (mine), "head:", 5,
          NULL, c, &error));
  for (guint i = 0; i < 32; i++) {
    guint8 *chunk = g_malloc (256 * 1024);
    g_autoptr (GBytes) b = NULL;

    for (gsize k = 0; k < 256 * 1024; k++)
      chunk[k] = (guint8) (i * 7 + k);
    b = g_bytes_new_take (chunk, 256 * 1024);
    g_checksum_update (sent, g_bytes_get_data (b, NULL), 256 * 1024);
    if (i == 0) {
      /* the peer accepts the stream once something arrived */
      g_assert_true (p2p_connection_write_stream_bytes (cb, mine, b, c, &error));
      g_assert_no_error (error);
      theirs = p2p_connection_accept_stream (s, c, &error);
      g_assert_no_error (error);
      g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (theirs), head, 5,
              &n, c, &error));
      g_assert_cmpstr (head, ==, "head:");
      continue;
    }
    /* the reader must run beside the writer: 8 MiB is more than the
     * buffers hold; read what is there after each write */
    g_assert_true (p2p_connection_write_stream_bytes (cb, mine, b, c, &error));
    g_assert_no_error (error);
    while (total < (i - 1) * 256 * 1024) {
      gssize r = g_input_stream_read (g_io_stream_get_input_stream (theirs), buf, 65536, c,
          &error);

      g_assert_no_error (error);
      g_assert_cmpint (r, >, 0);
      g_checksum_update (got, buf, r);
      total += r;
    }
  }
  g_assert_true (g_output_stream_close (g_io_stream_get_output_stream (mine), c, &error));
  g_assert_no_error (error);
  for (;;) {
    gssize r = g_input_stream_read (g_io_stream_get_input_stream (theirs), buf, 65536, c,
        &error);

    g_assert_no_error (error);
    if (r == 0)
      break;
    g_checksum_update (got, buf, r);
    total += r;
  }
  g_assert_cmpuint (total, ==, 32 * 256 * 1024);
  g_assert_cmpstr (g_checksum_get_string (got), ==, g_checksum_get_string (sent));
  /* a stream of another connection */
  g_assert_false (p2p_connection_write_stream_bytes (s, mine, one, c, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean dropped, freed;
} LastRef;

static void
drop_on_datagram (P2pConnection *conn, GBytes *datagram, gpointer data)
{
  LastRef *r = data;

  g_mutex_lock (&r->lock);
  if (r->dropped) {
    g_mutex_unlock (&r->lock);
    return;
  }
  r->dropped = TRUE;
  g_mutex_unlock (&r->lock);
  g_signal_handlers_disconnect_by_func (conn, drop_on_datagram, data);
  g_object_unref (conn);        /* the test's reference: the last one */
}

static void
last_ref_freed (gpointer data, GObject *where_the_object_was)
{
  LastRef *r = data;

  g_mutex_lock (&r->lock);
  r->freed = TRUE;
  g_cond_broadcast (&r->cond);
  g_mutex_unlock (&r->lock);
}

/* A "datagram-received" handler that lets the application's last
 * reference go (it runs on the network thread, right after the packet was
 * decrypted): the connection is freed afterwards, outside the packet's
 * delivery. */
static void
test_datagram_handler_drops_last_ref (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  g_autoptr (GError) error = NULL;
  P2pConnection *s = NULL;
  g_autoptr (P2pConnection) cb = connect_pair (f, t, &s);
  g_autoptr (GBytes) d = g_bytes_new_static ("last", 4);
  LastRef r = { 0 };
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  g_mutex_init (&r.lock);
  g_cond_init (&r.cond);
  g_object_weak_ref (G_OBJECT (s), last_ref_freed, &r);
  g_signal_connect (s, "datagram-received", G_CALLBACK (drop_on_datagram), &r);
  g_assert_true (p2p_connection_wait_handshake (cb, NULL, &error));
  /* a datagram may be lost: another one after each 50 ms without the
   * connection freed (bounded: 10 s) */
  g_mutex_lock (&r.lock);
  while (!r.freed && g_get_monotonic_time () < end) {
    g_mutex_unlock (&r.lock);
    g_assert_true (p2p_connection_send_datagram (cb, d, &error));
    g_mutex_lock (&r.lock);
    if (!r.freed)
      g_cond_wait_until (&r.cond, &r.lock, g_get_monotonic_time () + 50 * G_TIME_SPAN_MILLISECOND);
  }
  g_assert_true (r.dropped);
  g_assert_true (r.freed);
  g_mutex_unlock (&r.lock);
  g_mutex_clear (&r.lock);
  g_cond_clear (&r.cond);
}

static void
test_abort_stream (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  g_autoptr (GCancellable) c = timeout_cancellable (t, 10000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) s = NULL;
  g_autoptr (P2pConnection) cb = connect_pair (f, t, &s);
  g_autoptr (GIOStream) mine = NULL;
  g_autoptr (GIOStream) theirs = NULL;
  g_autofree guint8 *chunk = g_malloc0 (65536);
  guint8 x = 0;
  gsize n = 0;
  guint64 total = 0;

  mine = p2p_connection_open_stream (cb, c, &error);
  g_assert_no_error (error);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (mine), "x", 1, &n,
          c, &error));
  theirs = p2p_connection_accept_stream (s, c, &error);
  g_assert_no_error (error);
  g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (theirs), &x, 1, &n, c,
          &error));
  g_assert_cmpint (x, ==, 'x');

  p2p_connection_abort_stream (cb, mine);
  while (total < 256 * 1024 * 1024
      && g_output_stream_write_all (g_io_stream_get_output_stream (theirs), chunk, 65536, &n, c,
          &error))
    total += 65536;
  g_assert_nonnull (error);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  g_assert_nonnull (strstr (error->message, "stopped"));
  g_test_message ("the writer stopped after %" G_GUINT64_FORMAT " bytes: %s", total,
      error->message);
  g_clear_error (&error);
  g_assert_cmpint (g_input_stream_read (g_io_stream_get_input_stream (mine), &x, 1, c, &error),
      <, 0);
  g_assert_nonnull (error);
}

/* A stream dropped with data that arrived but was never read gives that
 * data's flow control credit back to the connection: 20 answers of 4 MiB
 * (80 MiB, more than the connection's window even once auto-tuned to its
 * 64 MiB maximum) each delivered unread and then aborted (as p2psrc's
 * read-ahead is on a seek) or dropped, and a last one still arrives whole.
 * Before, the window shrank by each unread answer and the last transfer
 * stalled for good. */
#define CREDIT_ANSWER (4 << 20)

static void
test_abort_credit (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  g_autoptr (GCancellable) c = timeout_cancellable (t, 30000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) s = NULL;
  g_autoptr (P2pConnection) cb = connect_pair (f, t, &s);
  g_autofree guint8 *answer = g_malloc (CREDIT_ANSWER);
  g_autofree guint8 *got = g_malloc (CREDIT_ANSWER);
  gsize n = 0;

  for (guint i = 0; i < CREDIT_ANSWER; i++)
    answer[i] = (guint8) (i * 7 + i / 4096);
  for (guint round = 0; round <= 20; round++) {
    g_autoptr (GIOStream) mine = p2p_connection_open_stream (cb, c, &error);
    g_autoptr (GIOStream) theirs = NULL;
    P2pConnectionStats st;
    guint64 before;

    g_assert_no_error (error);
    g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (mine), "?", 1, &n,
            c, &error));
    theirs = p2p_connection_accept_stream (s, c, &error);
    g_assert_no_error (error);
    p2p_connection_get_stats (cb, &st);
    before = st.bytes_received;
    g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (theirs), answer,
            CREDIT_ANSWER, &n, c, &error));
    g_assert_no_error (error);
    if (round == 20) {
      /* the last answer: read whole, intact */
      g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (mine), got,
              CREDIT_ANSWER, &n, c, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (n, ==, CREDIT_ANSWER);
      g_assert_true (memcmp (got, answer, CREDIT_ANSWER) == 0);
      break;
    }
    /* the answer is delivered (bounded), then dropped unread */
    while (!g_cancellable_is_cancelled (c)) {
      p2p_connection_get_stats (cb, &st);
      if (st.bytes_received - before >= CREDIT_ANSWER)
        break;
      g_usleep (1000);
    }
    g_assert_false (g_cancellable_is_cancelled (c));
    if (round % 2 == 0)
      p2p_connection_abort_stream (cb, mine);
    /* odd rounds: only dropped (the stream objects go) */
  }
  g_assert_false (g_cancellable_is_cancelled (c));
}

static void
test_pool_reuse (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  g_autofree char *peer = g_strdup_printf ("%s@127.0.0.1:%u", f->a_id, f->port);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c1 = p2p_provider_connect (P2P_PROVIDER (f->b), peer, NULL, &error);
  g_autoptr (P2pConnection) c2 = NULL;
  g_autoptr (P2pConnection) c3 = NULL;
  g_autoptr (P2pConnection) s1 = NULL;
  g_autoptr (P2pConnection) s2 = NULL;
  g_autoptr (GBytes) end = NULL;
  g_autoptr (GCancellable) cancel = timeout_cancellable (t, 10000);

  g_assert_no_error (error);
  s1 = accept_bounded (f, t);
  c2 = p2p_provider_connect (P2P_PROVIDER (f->b), peer, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (c1 == c2);     /* same live connection, shared */
  exchange (t, c2, s1, "shared");

  /* Once closed, the next connect dials a new connection. */
  p2p_connection_close (c1, "done");
  end = p2p_connection_receive (s1, cancel, &error);
  g_assert_null (end);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_CLOSED);
  g_clear_error (&error);
  c3 = p2p_provider_connect (P2P_PROVIDER (f->b), peer, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (c3 != c1);
  s2 = accept_bounded (f, t);
  exchange (t, c3, s2, "fresh");
}

static void
test_listen_errors (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *taken = g_strdup_printf ("127.0.0.1:%u", f->port);
  g_autoptr (P2pListener) l = p2p_provider_listen (P2P_PROVIDER (f->a), taken, &error);

  g_assert_null (l);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, taken));
  g_clear_error (&error);
  l = p2p_provider_listen (P2P_PROVIDER (f->a), "no-such-address", &error);
  g_assert_null (l);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
}

static void
test_properties (Fixture *f, gconstpointer data)
{
  g_autoptr (P2pIdentity) id = NULL;
  P2pConfig *cfg = NULL;

  g_object_get (f->a, "identity", &id, "config", &cfg, NULL);
  g_assert_true (P2P_IS_IDENTITY (id));
  g_assert_nonnull (cfg);
  g_assert_cmpuint (cfg->idle_timeout_ms, ==, 5000);
  p2p_config_free (cfg);
  g_assert_true (P2P_IS_PROVIDER (f->a));
}

static void
test_provider_gone (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  g_autofree char *peer = g_strdup_printf ("%s@127.0.0.1:%u", f->a_id, f->port);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) cb = p2p_provider_connect (P2P_PROVIDER (f->b), peer, NULL, &error);
  g_autoptr (P2pConnection) ca = NULL;
  g_autoptr (GBytes) msg = NULL;
  g_autoptr (GCancellable) c = timeout_cancellable (t, 10000);

  g_assert_no_error (error);
  ca = accept_bounded (f, t);
  /* The provider goes away under a live connection: it is aborted. (Its
   * network thread may hold the last reference for a moment after a
   * completion, so wait on the connection rather than assume.) */
  g_clear_object (&f->b);
  msg = p2p_connection_receive (cb, c, &error);
  g_assert_null (msg);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_CLOSED);
  g_assert_nonnull (strstr (error->message, "provider shut down"));
  g_assert_false (p2p_connection_is_connected (cb));
  g_clear_error (&error);
  /* Its peer learns about it (the abort sends a CONNECTION_CLOSE). */
  msg = p2p_connection_receive (ca, c, &error);
  g_assert_null (msg);
  g_assert_nonnull (error);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  /* Dropping the connection after its provider is harmless. */
  g_clear_object (&cb);
}

/* A ticket naming the listener under several addresses, the first one
 * where nothing listens (127.0.0.2, same port: the listener is bound to
 * 127.0.0.1), then the right one: one connection results, through the
 * second. Loopback only: a ticket of a listener on every interface (":0")
 * would list the machine's own addresses, which tests never aim at. */
static void
test_connect_multi_address_ticket (Fixture *f, gconstpointer data)
{
  g_autoptr (Timer) t = timer_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pListener) l = p2p_provider_listen (P2P_PROVIDER (f->a), "127.0.0.1:0", &error);
  g_autoptr (P2pPeerInfo) own = NULL;
  g_autoptr (P2pPeerInfo) multi = NULL;
  g_autoptr (GSocketAddress) local = NULL;
  g_autofree char *own_ticket = NULL, *ticket = NULL, *wrong = NULL, *right = NULL;
  g_autoptr (GCancellable) c = timeout_cancellable (t, 10000);
  g_autoptr (P2pConnection) cb = NULL;
  g_autoptr (P2pConnection) ca = NULL;
  g_autoptr (GBytes) out = g_bytes_new_static ("multi", 5);
  g_autoptr (GBytes) in = NULL;
  guint16 port;

  g_assert_no_error (error);
  own_ticket = p2p_listener_get_ticket (l);
  own = p2p_peer_info_parse (own_ticket, &error);
  g_assert_no_error (error);
  local = p2p_listener_get_local_address (l);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
  wrong = g_strdup_printf ("127.0.0.2:%u", port);
  right = g_strdup_printf ("127.0.0.1:%u", port);
  multi = p2p_peer_info_new (p2p_peer_info_get_peer_id (own));
  g_assert_true (p2p_peer_info_add_address (multi, wrong, NULL));
  g_assert_true (p2p_peer_info_add_address (multi, right, NULL));
  ticket = p2p_peer_info_to_ticket (multi);
  cb = p2p_provider_connect (P2P_PROVIDER (f->b), ticket, c, &error);
  g_assert_no_error (error);
  ca = p2p_listener_accept (l, c, &error);
  g_assert_no_error (error);
  g_assert_true (p2p_connection_send (cb, out, c, &error));
  in = p2p_connection_receive (ca, c, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (in, out));
  p2p_listener_close (l);
}


/* ------------------------------------------------------------ rendezvous */


typedef struct {
  GSubprocess *rdv;
  char *url;
  P2pQuicProvider *a;           /* listens, registered */
  P2pQuicProvider *b;           /* dials */
  P2pListener *listener;
  char *a_id;
  Timer *t;
} Rdv;

static void
rdv_setup (Rdv *r, gconstpointer data)
{
  g_autoptr (P2pConfig) cfg = test_config (5000);
  g_autoptr (P2pIdentity) ida = p2p_identity_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) c = NULL;

  r->t = timer_new ();
  r->rdv = p2p_test_start_rendezvous (&r->url);
  cfg->bootstrap_peers = g_strsplit (r->url, ",", -1);
  r->a = p2p_quic_provider_new (ida, cfg);
  r->b = p2p_quic_provider_new (NULL, cfg);
  r->a_id = p2p_identity_dup_peer_id_string (ida);
  r->listener = p2p_provider_listen (P2P_PROVIDER (r->a), "127.0.0.1:0", &error);
  g_assert_no_error (error);
  /* The listener registers in the background; wait for it (bounded). */
  c = timeout_cancellable (r->t, 10000);
  g_assert_true (p2p_quic_provider_wait_registered (r->a, c, &error));
  g_assert_no_error (error);
}

static void
rdv_teardown (Rdv *r, gconstpointer data)
{
  p2p_listener_close (r->listener);
  g_clear_object (&r->listener);
  g_clear_object (&r->b);
  g_clear_object (&r->a);
  p2p_test_stop_rendezvous (r->rdv);
  g_free (r->url);
  g_free (r->a_id);
  timer_free (r->t);
}

static void
test_rdv_bare_id (Rdv *r, gconstpointer data)
{
  g_autoptr (GCancellable) c = timeout_cancellable (r->t, 20000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) cb = NULL;
  g_autoptr (P2pConnection) ca = NULL;
  g_autoptr (P2pConnection) again = NULL;
  g_autoptr (GBytes) out = g_bytes_new_static ("by bare peer ID", 15);
  g_autoptr (GBytes) back = g_bytes_new_static ("over ICE", 8);
  g_autoptr (GBytes) in = NULL;
  P2pConnectionStats st;

  cb = p2p_provider_connect (P2P_PROVIDER (r->b), r->a_id, c, &error);
  g_assert_no_error (error);
  g_assert_nonnull (cb);
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (cb),
      p2p_provider_get_local_peer_id (P2P_PROVIDER (r->a))));
  /* The ICE connection arrives in the same listener as direct ones. */
  ca = p2p_listener_accept (r->listener, c, &error);
  g_assert_no_error (error);
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (ca),
      p2p_provider_get_local_peer_id (P2P_PROVIDER (r->b))));
  g_assert_true (p2p_connection_send (cb, out, c, &error));
  in = p2p_connection_receive (ca, c, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (in, out));
  g_clear_pointer (&in, g_bytes_unref);
  g_assert_true (p2p_connection_send (ca, back, c, &error));
  in = p2p_connection_receive (cb, c, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (in, back));
  p2p_connection_get_stats (cb, &st);
  g_assert_cmpint (st.path_kind, ==, P2P_PATH_KIND_DIRECT);
  p2p_connection_get_stats (ca, &st);
  g_assert_cmpint (st.path_kind, ==, P2P_PATH_KIND_DIRECT);
  /* Pooled like a direct connection. */
  again = p2p_provider_connect (P2P_PROVIDER (r->b), r->a_id, c, &error);
  g_assert_no_error (error);
  g_assert_true (again == cb);
}

/* A ws:// URL on 127.0.0.1 where nothing listens (a port just released). */
static char *
dead_rendezvous_url (void)
{
  g_autoptr (GSocket) s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
      G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  guint16 port;

  g_assert_true (g_socket_bind (s, any, TRUE, NULL));
  bound = g_socket_get_local_address (s, NULL);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_socket_close (s, NULL);
  return g_strdup_printf ("ws://127.0.0.1:%u/", port);
}

static P2pQuicProvider *
provider_with_rendezvous (P2pIdentity *id, const char *const *urls)
{
  g_autoptr (P2pConfig) cfg = test_config (5000);

  cfg->bootstrap_peers = g_strdupv ((char **) urls);
  return p2p_quic_provider_new (id, cfg);
}

/* P2P_BOOTSTRAP_PEERS with several servers: every one is used. The
 * listener registers at all it can reach (the first is down); a dialer
 * whose first server is down, or does not know the peer, finds it through
 * the next; with every server down the error names each. */
static void
test_rdv_several_servers (void)
{
  g_autoptr (Timer) t = timer_new ();
  g_autofree char *dead = dead_rendezvous_url ();
  g_autofree char *url1 = NULL, *url2 = NULL;
  GSubprocess *rdv1 = p2p_test_start_rendezvous (&url1);
  GSubprocess *rdv2 = p2p_test_start_rendezvous (&url2);
  g_autoptr (P2pIdentity) ida = p2p_identity_new ();
  g_autofree char *a_id = p2p_identity_dup_peer_id_string (ida);
  const char *a_urls[] = { dead, url2, NULL };
  const char *b_urls[] = { dead, url1, url2, NULL };
  const char *none[] = { dead, dead, NULL };
  g_autoptr (P2pQuicProvider) a = provider_with_rendezvous (ida, a_urls);
  g_autoptr (P2pQuicProvider) b = provider_with_rendezvous (NULL, b_urls);
  g_autoptr (P2pQuicProvider) lost = provider_with_rendezvous (NULL, none);
  g_autoptr (P2pListener) l = NULL;
  g_autoptr (GCancellable) c = timeout_cancellable (t, 20000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) cb = NULL;
  g_autoptr (P2pConnection) ca = NULL;
  g_autoptr (GBytes) out = g_bytes_new_static ("through the third server", 24);
  g_autoptr (GBytes) in = NULL;
  P2pConnection *nothing;

  l = p2p_provider_listen (P2P_PROVIDER (a), "127.0.0.1:0", &error);
  g_assert_no_error (error);
  g_assert_true (p2p_quic_provider_wait_registered (a, c, &error));
  g_assert_no_error (error);

  /* b: server 1 is down, server 2 answers "not registered", server 3 has a */
  cb = p2p_provider_connect (P2P_PROVIDER (b), a_id, c, &error);
  g_assert_no_error (error);
  ca = p2p_listener_accept (l, c, &error);
  g_assert_no_error (error);
  g_assert_true (p2p_connection_send (cb, out, c, &error));
  in = p2p_connection_receive (ca, c, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (in, out));

  nothing = p2p_provider_connect (P2P_PROVIDER (lost), a_id, c, &error);
  g_assert_null (nothing);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "through the rendezvous: no rendezvous server "
          "could be reached"));
  g_assert_false (g_cancellable_is_cancelled (c));

  p2p_listener_close (l);
  g_clear_object (&a);
  g_clear_object (&b);
  p2p_test_stop_rendezvous (rdv1);
  p2p_test_stop_rendezvous (rdv2);
}

static void
test_rdv_unknown_id (Rdv *r, gconstpointer data)
{
  g_autoptr (P2pIdentity) nobody = p2p_identity_new ();
  g_autofree char *id = p2p_identity_dup_peer_id_string (nobody);
  g_autoptr (GCancellable) c = timeout_cancellable (r->t, 10000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) conn = p2p_provider_connect (P2P_PROVIDER (r->b), id, c, &error);

  /* the rendezvous's answer, not a wait: a timeout would end in
   * G_IO_ERROR_CANCELLED (the cancellable) or P2P_ERROR_TIMEOUT */
  g_assert_null (conn);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, id));
  g_assert_nonnull (strstr (error->message, "not registered"));
  g_assert_false (g_cancellable_is_cancelled (c));
}

/* ID@HOST:PORT at an address that never answers: the rendezvous route
 * starts after 1.5 s and wins. */
static void
test_rdv_fallback (Rdv *r, gconstpointer data)
{
  guint16 port;
  g_autoptr (GSocket) silent G_GNUC_UNUSED = silent_socket (&port); /* holds the port */
  g_autofree char *peer = g_strdup_printf ("%s@127.0.0.1:%u", r->a_id, port);
  g_autoptr (GCancellable) c = timeout_cancellable (r->t, 20000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) cb = NULL;
  g_autoptr (P2pConnection) ca = NULL;
  g_autoptr (GBytes) out = g_bytes_new_static ("fallback", 8);
  g_autoptr (GBytes) in = NULL;
  gint64 t0 = g_get_monotonic_time ();

  cb = p2p_provider_connect (P2P_PROVIDER (r->b), peer, c, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 1400 * G_TIME_SPAN_MILLISECOND);
  ca = p2p_listener_accept (r->listener, c, &error);
  g_assert_no_error (error);
  g_assert_true (p2p_connection_send (cb, out, c, &error));
  in = p2p_connection_receive (ca, c, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (in, out));
}

/* A dial by ID cancelled while it waits (for the peer's answer): CANCELLED
 * at once. The peer is registered but not answering (it never listened). */
static void
test_rdv_cancel (Rdv *r, gconstpointer data)
{
  g_autoptr (P2pConfig) cfg = test_config (5000);
  g_autoptr (P2pQuicProvider) mute = NULL;
  g_autofree char *mute_id = NULL;
  g_autoptr (GCancellable) c = timeout_cancellable (r->t, 10000);
  g_autoptr (GCancellable) soon = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) conn = NULL;
  gint64 t0;

  cfg->bootstrap_peers = g_strsplit (r->url, ",", -1);
  mute = p2p_quic_provider_new (NULL, cfg);
  mute_id = p2p_peer_id_to_string (p2p_provider_get_local_peer_id (P2P_PROVIDER (mute)));
  g_assert_true (p2p_quic_provider_wait_registered (mute, c, &error));
  g_assert_no_error (error);
  /* Registered already: returns at once. */
  g_assert_true (p2p_quic_provider_wait_registered (mute, c, &error));
  t0 = g_get_monotonic_time ();
  soon = timeout_cancellable (r->t, 300);
  conn = p2p_provider_connect (P2P_PROVIDER (r->b), mute_id, soon, &error);
  g_assert_null (conn);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 3 * G_TIME_SPAN_SECOND);
}

static void
test_wait_registered_errors (void)
{
  g_autoptr (P2pConfig) cfg = test_config (5000);
  g_autoptr (P2pQuicProvider) p = p2p_quic_provider_new (NULL, cfg);
  g_autoptr (P2pQuicProvider) q = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancelled = g_cancellable_new ();
  guint16 port;
  g_autoptr (GSocket) silent G_GNUC_UNUSED = silent_socket (&port);

  g_assert_false (p2p_quic_provider_wait_registered (p, NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "P2P_BOOTSTRAP_PEERS"));
  g_clear_error (&error);

  /* A rendezvous URL where nothing listens (a closed TCP port): NETWORK. */
  cfg->bootstrap_peers = g_new0 (char *, 2);
  cfg->bootstrap_peers[0] = g_strdup_printf ("ws://127.0.0.1:%u/", port);
  q = p2p_quic_provider_new (NULL, cfg);
  g_assert_false (p2p_quic_provider_wait_registered (q, NULL, &error));
  g_assert_nonnull (error);
  g_assert_true (error->domain == P2P_ERROR);
  g_assert_true (strstr (error->message, "127.0.0.1") != NULL);
  g_clear_error (&error);

  g_cancellable_cancel (cancelled);
  g_assert_false (p2p_quic_provider_wait_registered (q, cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* ------------------------------------------------------------ allow-list */

static P2pConfig *
allowing (const P2pConfig *base, P2pIdentity *who)
{
  P2pConfig *cfg = p2p_config_copy (base);
  g_autofree char *id = p2p_identity_dup_peer_id_string (who);
  g_autoptr (GError) error = NULL;

  g_assert_true (p2p_config_set_allowed_peers (cfg, id, &error));
  g_assert_no_error (error);
  return cfg;
}

/* @b dials @peer; the first connection @l accepts is @b's; data both ways. */
static void
allowed_peer_gets_in (Timer *t, P2pQuicProvider *b, const char *peer, P2pListener *l,
    const char *text)
{
  g_autoptr (GCancellable) c = timeout_cancellable (t, 20000);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) cb = p2p_provider_connect (P2P_PROVIDER (b), peer, c, &error);
  g_autoptr (P2pConnection) ca = NULL;

  g_assert_no_error (error);
  ca = p2p_listener_accept (l, c, &error);
  g_assert_no_error (error);
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (ca),
      p2p_provider_get_local_peer_id (P2P_PROVIDER (b))));
  exchange (t, cb, ca, text);
  exchange (t, ca, cb, "and back");
}

/* Issue 11 item 4, direct route: a listener with an allow-list refuses a
 * stranger in the TLS handshake (AUTHENTICATION_FAILED at the dialer; the
 * listener never accepts it: the first connection it accepts is the
 * allowed peer's, dialled afterwards), and the allowed peer still gets
 * through, data both ways. */
static void
test_allowed_peers_tls (void)
{
  g_autoptr (Timer) t = timer_new ();
  g_autoptr (P2pConfig) base = test_config (5000);
  g_autoptr (P2pIdentity) idb = p2p_identity_new ();
  g_autoptr (P2pConfig) cfg = allowing (base, idb);
  g_autoptr (P2pQuicProvider) a = p2p_quic_provider_new (NULL, cfg);
  g_autoptr (P2pQuicProvider) b = p2p_quic_provider_new (idb, base);
  g_autoptr (P2pQuicProvider) stranger = p2p_quic_provider_new (NULL, base);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pListener) l = p2p_provider_listen (P2P_PROVIDER (a), "127.0.0.1:0", &error);
  g_autoptr (GSocketAddress) local = NULL;
  g_autofree char *a_id = p2p_peer_id_to_string (p2p_provider_get_local_peer_id (P2P_PROVIDER (a)));
  g_autofree char *stranger_id = p2p_peer_id_to_string (
      p2p_provider_get_local_peer_id (P2P_PROVIDER (stranger)));
  g_autofree char *peer = NULL;
  g_autoptr (GCancellable) c = timeout_cancellable (t, 10000);
  g_autoptr (P2pConnection) cs = NULL;

  g_assert_no_error (error);
  local = p2p_listener_get_local_address (l);
  peer = g_strdup_printf ("%s@127.0.0.1:%u", a_id,
      g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));

  cs = p2p_provider_connect (P2P_PROVIDER (stranger), peer, c, &error);
  g_assert_null (cs);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_assert_nonnull (strstr (error->message, stranger_id));
  g_assert_nonnull (strstr (error->message, "not in allowed-peers"));
  g_clear_error (&error);

  allowed_peer_gets_in (t, b, peer, l, "allowed, direct");
  p2p_listener_close (l);
}

/* p2p_provider_get_stats() (issue 18) after a known sequence: a stranger
 * refused by the allow-list, two allowed peers accepted, one of them then
 * closed. Counted on both sides, by outcome and reason. */
static guint64
stat_u64 (P2pQuicProvider *p, const char *key)
{
  g_autoptr (GVariant) v = p2p_provider_get_stats (P2P_PROVIDER (p));
  guint64 n = G_MAXUINT64;

  g_assert_true (g_variant_lookup (v, key, "t", &n));
  return n;
}

static guint64
stat_by (P2pQuicProvider *p, const char *table, const char *key)
{
  g_autoptr (GVariant) v = p2p_provider_get_stats (P2P_PROVIDER (p));
  g_autoptr (GVariant) t = g_variant_lookup_value (v, table, G_VARIANT_TYPE ("a{st}"));
  guint64 n = 0;

  g_assert_nonnull (t);
  g_variant_lookup (t, key, "t", &n);
  return n;
}

static guint
stat_active (P2pQuicProvider *p)
{
  g_autoptr (GVariant) v = p2p_provider_get_stats (P2P_PROVIDER (p));
  guint32 n = G_MAXUINT32;

  g_assert_true (g_variant_lookup (v, "active", "u", &n));
  return n;
}

/* waits (at most 5 s) until stat_u64 (p, key) == want */
static void
wait_stat (P2pQuicProvider *p, const char *key, guint64 want)
{
  for (guint i = 0; i < 500 && stat_u64 (p, key) != want; i++)
    g_usleep (10000);
  g_assert_cmpuint (stat_u64 (p, key), ==, want);
}

static void
test_provider_stats (void)
{
  g_autoptr (Timer) t = timer_new ();
  g_autoptr (P2pConfig) base = test_config (5000);
  g_autoptr (P2pConfig) cfg = p2p_config_copy (base);
  g_autoptr (P2pIdentity) id1 = p2p_identity_new ();
  g_autoptr (P2pIdentity) id2 = p2p_identity_new ();
  g_autofree char *s1 = p2p_identity_dup_peer_id_string (id1);
  g_autofree char *s2 = p2p_identity_dup_peer_id_string (id2);
  g_autofree char *both = g_strdup_printf ("%s,%s", s1, s2);
  g_autoptr (P2pQuicProvider) a = NULL;
  g_autoptr (P2pQuicProvider) b1 = p2p_quic_provider_new (id1, base);
  g_autoptr (P2pQuicProvider) b2 = p2p_quic_provider_new (id2, base);
  g_autoptr (P2pQuicProvider) stranger = p2p_quic_provider_new (NULL, base);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pListener) l = NULL;
  g_autoptr (GSocketAddress) local = NULL;
  g_autoptr (GCancellable) c = timeout_cancellable (t, 20000);
  g_autoptr (P2pConnection) cs = NULL, c1 = NULL, c2 = NULL, a1 = NULL, a2 = NULL;
  g_autoptr (GVariant) all = NULL;
  g_autoptr (GVariant) hist = NULL;
  g_autofree char *a_id = NULL, *peer = NULL;
  guint32 bound;
  guint64 cumulative = 0;
  gdouble sum = -1;

  g_assert_true (p2p_config_set_allowed_peers (cfg, both, &error));
  a = p2p_quic_provider_new (NULL, cfg);
  l = p2p_provider_listen (P2P_PROVIDER (a), "127.0.0.1:0", &error);
  g_assert_no_error (error);
  a_id = p2p_peer_id_to_string (p2p_provider_get_local_peer_id (P2P_PROVIDER (a)));
  local = p2p_listener_get_local_address (l);
  peer = g_strdup_printf ("%s@127.0.0.1:%u", a_id,
      g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));

  /* nothing yet */
  g_assert_cmpuint (stat_u64 (a, "accepts"), ==, 0);
  g_assert_cmpuint (stat_active (a), ==, 0);

  cs = p2p_provider_connect (P2P_PROVIDER (stranger), peer, c, &error);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_clear_error (&error);
  c1 = p2p_provider_connect (P2P_PROVIDER (b1), peer, c, &error);
  g_assert_no_error (error);
  a1 = p2p_listener_accept (l, c, &error);
  g_assert_no_error (error);
  c2 = p2p_provider_connect (P2P_PROVIDER (b2), peer, c, &error);
  g_assert_no_error (error);
  a2 = p2p_listener_accept (l, c, &error);
  g_assert_no_error (error);

  /* the listener's side */
  wait_stat (a, "refused", 1);
  g_assert_cmpuint (stat_by (a, "refused-by-reason", "authentication-failed"), ==, 1);
  g_assert_cmpuint (stat_u64 (a, "accepts"), ==, 2);
  g_assert_cmpuint (stat_u64 (a, "established"), ==, 2);
  g_assert_cmpuint (stat_u64 (a, "paths-direct"), ==, 2);
  g_assert_cmpuint (stat_u64 (a, "paths-relay"), ==, 0);
  g_assert_cmpuint (stat_u64 (a, "dials-ok"), ==, 0);
  g_assert_cmpuint (stat_active (a), ==, 2);
  all = p2p_provider_get_stats (P2P_PROVIDER (a));
  hist = g_variant_lookup_value (all, "setup-ms-buckets", G_VARIANT_TYPE ("a(ut)"));
  g_assert_nonnull (hist);
  g_assert_cmpuint (g_variant_n_children (hist), ==, 10);
  g_variant_get_child (hist, 9, "(ut)", &bound, &cumulative);
  g_assert_cmpuint (bound, ==, G_MAXUINT32);
  g_assert_cmpuint (cumulative, ==, 2);          /* every setup is counted once */
  g_assert_true (g_variant_lookup (all, "setup-ms-sum", "d", &sum));
  g_assert_cmpfloat (sum, >, 0);

  /* the dialers' side */
  g_assert_cmpuint (stat_u64 (b1, "dials-ok"), ==, 1);
  g_assert_cmpuint (stat_u64 (b1, "dials-failed"), ==, 0);
  g_assert_cmpuint (stat_u64 (b1, "accepts"), ==, 0);
  g_assert_cmpuint (stat_active (b1), ==, 1);
  g_assert_cmpuint (stat_u64 (stranger, "dials-ok"), ==, 0);
  g_assert_cmpuint (stat_u64 (stranger, "dials-failed"), ==, 1);
  g_assert_cmpuint (stat_by (stranger, "dials-failed-by-error", "authentication-failed"), ==, 1);

  /* one closes: "closed" grows on both sides, "active" falls */
  p2p_connection_close (c1, "done");
  wait_stat (b1, "closed", 1);
  wait_stat (a, "closed", 1);
  g_assert_cmpuint (stat_active (a), ==, 1);
  g_assert_cmpuint (stat_active (b1), ==, 0);
  g_assert_cmpuint (stat_u64 (a, "accepts"), ==, 2);     /* totals never fall */
  p2p_listener_close (l);
}

/* A list that names nobody or holds a bad entry, set by hand in the
 * struct (the parsers refuse both): listen fails, it never means "anyone". */
static void
test_allowed_peers_listen_errors (void)
{
  g_autoptr (P2pConfig) empty = test_config (5000);
  g_autoptr (P2pConfig) bad = test_config (5000);
  g_autoptr (P2pQuicProvider) p = NULL;
  g_autoptr (P2pQuicProvider) q = NULL;
  g_autoptr (P2pListener) l = NULL;
  g_autoptr (GError) error = NULL;

  empty->allowed_peers = g_new0 (char *, 1);
  p = p2p_quic_provider_new (NULL, empty);
  l = p2p_provider_listen (P2P_PROVIDER (p), "127.0.0.1:0", &error);
  g_assert_null (l);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "allowed-peers: 0 entries"));
  g_clear_error (&error);

  bad->allowed_peers = g_strsplit ("nonsense", ",", -1);
  q = p2p_quic_provider_new (NULL, bad);
  l = p2p_provider_listen (P2P_PROVIDER (q), "127.0.0.1:0", &error);
  g_assert_null (l);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "Invalid peer ID \"nonsense\" in allowed-peers"));
}

/* A provider allowing only @allowed, listening on 127.0.0.1 (*l) and
 * registered at base's rendezvous. */
static P2pQuicProvider *
listen_allowing (Timer *t, const P2pConfig *base, P2pIdentity *allowed, P2pListener **l)
{
  g_autoptr (P2pConfig) cfg = allowing (base, allowed);
  g_autoptr (GCancellable) c = timeout_cancellable (t, 20000);
  g_autoptr (GError) error = NULL;
  P2pQuicProvider *a = p2p_quic_provider_new (NULL, cfg);

  *l = p2p_provider_listen (P2P_PROVIDER (a), "127.0.0.1:0", &error);
  g_assert_no_error (error);
  g_assert_true (p2p_quic_provider_wait_registered (a, c, &error));
  g_assert_no_error (error);
  return a;
}

static void
signaling_connected_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  GError **error = data;

  if (!p2p_signaling_connect_finish (P2P_SIGNALING (source), res, error))
    g_assert_nonnull (*error);
  g_object_set_data (source, "done", GINT_TO_POINTER (1));
}

/* A P2pSignaling on this thread's default context, registered at @url. */
static P2pSignaling *
register_at (const char *url, P2pIdentity *id)
{
  P2pSignaling *sig = p2p_signaling_new (id);
  g_autoptr (GError) error = NULL;

  p2p_signaling_connect_async (sig, url, NULL, signaling_connected_cb, &error);
  WAIT_FOR (g_object_get_data (G_OBJECT (sig), "done") != NULL);
  g_assert_no_error (error);
  return sig;
}

static void
count_signal (P2pSignaling *sig, const P2pPeerId *from, const char *text, gpointer data)
{
  (*(guint *) data)++;
}

/* An ICE offer as a dialer sends it (lib/ice/p2p-ice-connect.h), session
 * @session, its one host candidate 127.0.0.1:@port. */
static char *
offer_text (guint session, guint16 port)
{
  /* Fresh (ts now) and with a nonce of its own per session, so the
   * responder's replay check treats a repeated session as a replay. */
  return g_strdup_printf ("{\"kind\":\"ice-offer\",\"session\":\"%032x\","
      "\"ts\":%" G_GINT64_FORMAT ",\"nonce\":\"%032x\","
      "\"ufrag\":\"abcd\",\"pwd\":\"0123456789abcdefghijkl\",\"candidates\":"
      "[\"a=candidate:1 1 UDP 2130706431 127.0.0.1 %u typ host\"]}", session,
      g_get_real_time () / 1000, session ^ 0x5a5a5a5au, port);
}

/* Issue 11 item 4, ICE route: a stranger's signed offers through the
 * rendezvous (realistic ones: candidates naming a UDP port it holds) get
 * no answer, and the listener starts no ICE agent for them (its counters:
 * 3 offers ignored, 1 agent, the allowed peer's); the allowed peer still
 * connects by bare ID, data both ways. Ordering, not timing, makes the
 * checks sound: the stranger's offers reach the rendezvous before its
 * marker to a third peer, so the listener reads them before the allowed
 * peer's offer; the listener's answer to that peer is sent after anything
 * it would have sent the stranger. */
static void
test_allowed_peers_ice (void)
{
  g_autoptr (Timer) t = timer_new ();
  g_autofree char *url = NULL;
  GSubprocess *rdv = p2p_test_start_rendezvous (&url);
  g_autoptr (P2pConfig) base = test_config (5000);
  g_autoptr (P2pIdentity) idb = p2p_identity_new ();
  g_autoptr (P2pIdentity) ids = p2p_identity_new ();
  g_autoptr (P2pIdentity) idm = p2p_identity_new ();
  g_autoptr (P2pQuicProvider) a = NULL;
  g_autoptr (P2pQuicProvider) b = NULL;
  g_autoptr (P2pListener) l = NULL;
  g_autoptr (P2pSignaling) stranger = NULL;
  g_autoptr (P2pSignaling) marker = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *a_id = NULL;
  guint16 port;
  g_autoptr (GSocket) silent G_GNUC_UNUSED = silent_socket (&port);
  guint from_a = 0, marks = 0;
  P2pIceCounters n;

  base->bootstrap_peers = g_strsplit (url, ",", -1);
  a = listen_allowing (t, base, idb, &l);
  b = p2p_quic_provider_new (idb, base);
  a_id = p2p_peer_id_to_string (p2p_provider_get_local_peer_id (P2P_PROVIDER (a)));

  stranger = register_at (url, ids);
  marker = register_at (url, idm);
  g_signal_connect (stranger, "signal", G_CALLBACK (count_signal), &from_a);
  g_signal_connect (marker, "signal", G_CALLBACK (count_signal), &marks);
  for (guint i = 0; i < 3; i++) {
    g_autofree char *offer = offer_text (i + 1, port);

    g_assert_true (p2p_signaling_send (stranger, p2p_provider_get_local_peer_id (P2P_PROVIDER (a)),
        offer, &error));
    g_assert_no_error (error);
  }
  g_assert_true (p2p_signaling_send (stranger, p2p_identity_get_peer_id (idm), "marker", &error));
  WAIT_FOR (marks == 1);

  allowed_peer_gets_in (t, b, a_id, l, "allowed, over ICE");

  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (from_a, ==, 0);
  p2p_quic_provider_get_ice_counters (a, &n);
  g_assert_cmpuint (n.offers_ignored, ==, 3);
  g_assert_cmpuint (n.agents_started, ==, 1);

  p2p_signaling_close (stranger);
  p2p_signaling_close (marker);
  p2p_listener_close (l);
  g_clear_object (&b);
  g_clear_object (&a);
  p2p_test_stop_rendezvous (rdv);
}

typedef struct {
  guint answers, errors;
  char *error_text;             /* the last "ice-error" */
} Replies;

static void
count_reply (P2pSignaling *sig, const P2pPeerId *from, const char *text, gpointer data)
{
  Replies *r = data;

  if (strstr (text, "\"kind\":\"ice-answer\"")) {
    r->answers++;
  } else if (strstr (text, "\"kind\":\"ice-error\"")) {
    r->errors++;
    g_free (r->error_text);
    r->error_text = g_strdup (text);
  }
}

/* Issue 19 (the ICE responder's max_pending and duplicate offers, through
 * the provider): an allowed peer's 17 distinct offers plus one repeated
 * session: 4 answers (4 agents: a quarter of the default max_pending, 16,
 * per peer, so that one peer cannot hold every slot: security review), the
 * 13 others refused with an "ice-error" (the last names its session), the
 * duplicate ignored (no agent, no reply). */
static void
test_ice_offers_max_pending (void)
{
  g_autoptr (Timer) t = timer_new ();
  g_autofree char *url = NULL;
  GSubprocess *rdv = p2p_test_start_rendezvous (&url);
  g_autoptr (P2pConfig) base = test_config (5000);
  g_autoptr (P2pIdentity) idp = p2p_identity_new ();
  g_autoptr (P2pQuicProvider) a = NULL;
  g_autoptr (P2pListener) l = NULL;
  g_autoptr (P2pSignaling) peer = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *last_session = g_strdup_printf ("\"session\":\"%032x\"", 17);
  guint16 port;
  g_autoptr (GSocket) silent G_GNUC_UNUSED = silent_socket (&port);
  Replies r = { 0 };
  P2pIceCounters n;

  base->bootstrap_peers = g_strsplit (url, ",", -1);
  a = listen_allowing (t, base, idp, &l);

  peer = register_at (url, idp);
  g_signal_connect (peer, "signal", G_CALLBACK (count_reply), &r);
  for (guint i = 0; i < 18; i++) {
    g_autofree char *offer = offer_text (i == 0 ? 1 : i, port); /* 1, 1 again, 2..17 */

    g_assert_true (p2p_signaling_send (peer, p2p_provider_get_local_peer_id (P2P_PROVIDER (a)),
        offer, &error));
    g_assert_no_error (error);
  }
  WAIT_FOR (r.answers + r.errors == 17);
  g_assert_cmpuint (r.answers, ==, 4);
  g_assert_cmpuint (r.errors, ==, 13);
  g_assert_nonnull (strstr (r.error_text, last_session));
  g_assert_nonnull (strstr (r.error_text, "too many connections being set up from this peer"));
  p2p_quic_provider_get_ice_counters (a, &n);
  g_assert_cmpuint (n.agents_started, ==, 4);
  g_assert_cmpuint (n.offers_ignored, ==, 0);

  g_free (r.error_text);
  p2p_signaling_close (peer);
  p2p_listener_close (l);
  g_clear_object (&a);
  p2p_test_stop_rendezvous (rdv);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, data) \
  g_test_add ("/quic-provider/" path, Fixture, data, fixture_setup, fn, fixture_teardown)
  ADD ("connect-id-at-host-port", test_connect_id_at_host_port, NULL);
  ADD ("connect-localhost", test_connect_localhost, NULL);
  ADD ("connect-ticket", test_connect_ticket, NULL);
  ADD ("ticket-any-address", test_ticket_any_address, NULL);
  ADD ("bad-peer", test_bad_peer, NULL);
  ADD ("bare-id-no-rendezvous", test_bare_id_no_rendezvous, NULL);
  ADD ("relay-only-no-direct", test_relay_only_no_direct, NULL);
  ADD ("nobody-listening", test_nobody_listening, GUINT_TO_POINTER (500));
  ADD ("cancel-connect", test_cancel_connect, NULL);
  ADD ("connect-after-cancel", test_connect_after_cancel, NULL);
  ADD ("abort-stream", test_abort_stream, NULL);
  ADD ("write-stream-bytes", test_write_stream_bytes, NULL);
  ADD ("datagram-handler-drops-last-ref", test_datagram_handler_drops_last_ref, NULL);
  ADD ("abort-credit", test_abort_credit, NULL);
  ADD ("batch-blocking", test_batch_blocking, NULL);
  ADD ("pool-reuse", test_pool_reuse, NULL);
  ADD ("listen-errors", test_listen_errors, NULL);
  ADD ("properties", test_properties, NULL);
  ADD ("provider-gone", test_provider_gone, NULL);
  ADD ("connect-multi-address-ticket", test_connect_multi_address_ticket, NULL);
#define RDV(path, fn) \
  g_test_add ("/quic-provider/rendezvous/" path, Rdv, NULL, rdv_setup, fn, rdv_teardown)
  RDV ("bare-id", test_rdv_bare_id);
  RDV ("unknown-id", test_rdv_unknown_id);
  RDV ("fallback-from-silent-address", test_rdv_fallback);
  RDV ("cancel-while-waiting", test_rdv_cancel);
  g_test_add_func ("/quic-provider/rendezvous/wait-registered-errors", test_wait_registered_errors);
  g_test_add_func ("/quic-provider/rendezvous/several-servers", test_rdv_several_servers);
  g_test_add_func ("/security/allowed-peers-tls", test_allowed_peers_tls);
  g_test_add_func ("/quic-provider/stats", test_provider_stats);
  g_test_add_func ("/security/allowed-peers-listen-errors", test_allowed_peers_listen_errors);
  g_test_add_func ("/security/allowed-peers-ice", test_allowed_peers_ice);
  g_test_add_func ("/security/ice-offers-max-pending-and-duplicates", test_ice_offers_max_pending);
  return g_test_run ();
}
