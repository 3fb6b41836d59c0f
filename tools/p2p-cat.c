/* p2p-cat.c: netcat over gst-p2p: pipe bytes between two peers, through
 * NATs when needed. Uses the library without GStreamer.
 *
 *   p2p-cat listen [--port P]              # prints "ticket: ..." on stderr
 *   p2p-cat connect TICKET < file          # or ID@HOST:PORT, or a bare ID
 *   p2p-cat connect ID --rendezvous ws://HOST:PORT/ --relay turn://u:p@IP:3478
 *
 * The listener writes what arrives (messages concatenated) to stdout until
 * the peer closes; the dialer sends stdin in 64 KiB messages, then closes
 * gracefully. Both print "path: direct|relay" on stderr once connected;
 * --ping adds setup time and RTT. Errors are one plain line on stderr and
 * exit code 1.
 *
 * Direct dialing (tickets, ID@HOST:PORT) goes through the public provider
 * (P2pQuicProvider). Peers named by bare ID with --rendezvous go through
 * the rendezvous and ICE (lib/p2p-ice-connect.h) on a network thread of
 * p2p-cat's own, and a listener with --rendezvous also answers ICE offers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>
#include <errno.h>

#include "p2p/p2p.h"
#include "p2p-signaling.h"
#include "p2p-ice-connect.h"
#include "p2p-net-thread.h"

#define CHUNK (64 * 1024)
#define CLOSE_WAIT_US (10 * G_USEC_PER_SEC)

static int opt_port = -1;
static char *opt_identity;
static char *opt_rendezvous;
static char **opt_relays;
static char *opt_stun;
static gboolean opt_relay_only;
static gboolean opt_ping;
static int opt_timeout = 30;

static GOptionEntry entries[] = {
  { "port", 'p', 0, G_OPTION_ARG_INT, &opt_port, "listen: UDP port (default P2P_LISTEN_PORT or 8800; 0 = any)", "PORT" },
  { "identity", 'i', 0, G_OPTION_ARG_FILENAME, &opt_identity, "key file (created if missing; default: a fresh key)", "FILE" },
  { "rendezvous", 'r', 0, G_OPTION_ARG_STRING, &opt_rendezvous, "rendezvous server URL (ws://HOST:PORT/): reach/be reached by peer ID", "URL" },
  { "relay", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_relays, "TURN relay turn://USER:PASS@IP:PORT[?transport=tcp] (repeatable)", "URL" },
  { "stun", 0, 0, G_OPTION_ARG_STRING, &opt_stun, "STUN server HOST:PORT", "HOST:PORT" },
  { "relay-only", 0, 0, G_OPTION_ARG_NONE, &opt_relay_only, "use only relayed (TURN) candidates", NULL },
  { "ping", 0, 0, G_OPTION_ARG_NONE, &opt_ping, "print setup time, RTT and path kind", NULL },
  { "timeout", 't', 0, G_OPTION_ARG_INT, &opt_timeout, "connect: give up after SECONDS (default 30)", "SECONDS" },
  { NULL }
};

static int
die (const char *what, const GError *error)
{
  g_printerr ("p2p-cat: %s%s%s\n", what ? what : "", what ? ": " : "", error->message);
  return 1;
}

/* ---- ICE side (bare peer IDs through the rendezvous) ---- */

typedef struct {
  P2pNetThread *net;
  P2pSignaling *signaling;
  P2pIceResponder *responder;
  P2pIdentity *identity;
  P2pConfig *config;
  char *url;
  GAsyncQueue *incoming;      /* listen: accepted P2pConnection* */
  /* connect / registration results */
  GMutex lock;
  GCond cond;
  gboolean done;
  GError *error;
  P2pConnection *conn;
  P2pPeerId peer;
} Ice;

static void
ice_signal_done (Ice *ice, P2pConnection *conn, GError *error)
{
  g_mutex_lock (&ice->lock);
  ice->conn = conn;
  ice->error = error;
  ice->done = TRUE;
  g_cond_broadcast (&ice->cond);
  g_mutex_unlock (&ice->lock);
}

static gboolean
ice_wait (Ice *ice, gint64 deadline)
{
  g_mutex_lock (&ice->lock);
  while (!ice->done)
    if (!g_cond_wait_until (&ice->cond, &ice->lock, deadline))
      break;
  gboolean done = ice->done;
  ice->done = FALSE;
  g_mutex_unlock (&ice->lock);
  return done;
}

static void
on_ice_accepted (P2pConnection *conn, gpointer user_data)
{
  Ice *ice = user_data;
  g_async_queue_push (ice->incoming, g_object_ref (conn));
}

static void
on_ice_dialed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Ice *ice = user_data;
  GError *error = NULL;
  P2pConnection *conn = p2p_ice_connect_finish (result, &error);
  ice_signal_done (ice, conn, error);
}

static void
on_registered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Ice *ice = user_data;
  GError *error = NULL;
  if (!p2p_signaling_connect_finish (P2P_SIGNALING (source), result, &error)) {
    ice_signal_done (ice, NULL, error);
    return;
  }
  if (ice->incoming)
    ice->responder = p2p_ice_responder_new (ice->signaling, ice->identity, ice->config, NULL,
        NULL, 0, on_ice_accepted, ice);
  ice_signal_done (ice, NULL, NULL);
}

static gboolean
ice_start_net (gpointer data)
{
  Ice *ice = data;
  ice->signaling = p2p_signaling_new (ice->identity);
  p2p_signaling_connect_async (ice->signaling, ice->url, NULL, on_registered, ice);
  return G_SOURCE_REMOVE;
}

static gboolean
ice_dial_net (gpointer data)
{
  Ice *ice = data;
  p2p_ice_connect_async (ice->signaling, ice->identity, ice->config, &ice->peer, NULL, NULL,
      on_ice_dialed, ice);
  return G_SOURCE_REMOVE;
}

static void
ice_stop_net (gpointer data)
{
  Ice *ice = data;
  g_clear_pointer (&ice->responder, p2p_ice_responder_free);
  if (ice->signaling)
    p2p_signaling_close (ice->signaling);
  g_clear_object (&ice->signaling);
}

static Ice *
ice_start (P2pIdentity *identity, const P2pConfig *config, const char *url, gboolean listen,
    GError **error)
{
  Ice *ice = g_new0 (Ice, 1);
  g_mutex_init (&ice->lock);
  g_cond_init (&ice->cond);
  ice->identity = g_object_ref (identity);
  ice->config = p2p_config_copy (config);
  ice->url = g_strdup (url);
  ice->incoming = listen ? g_async_queue_new_full (g_object_unref) : NULL;
  ice->net = p2p_net_thread_new ("p2p-cat-ice");
  p2p_net_thread_invoke (ice->net, ice_start_net, ice, NULL);
  if (!ice_wait (ice, g_get_monotonic_time () + 15 * G_USEC_PER_SEC)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_TIMEOUT, "the rendezvous %s did not answer", url);
  } else if (ice->error) {
    g_propagate_error (error, g_steal_pointer (&ice->error));
  } else {
    return ice;
  }
  p2p_net_thread_invoke_sync (ice->net, ice_stop_net, ice);
  return ice; /* caller frees with ice_free; error set */
}

static void
ice_free (Ice *ice)
{
  if (!ice)
    return;
  p2p_net_thread_invoke_sync (ice->net, ice_stop_net, ice);
  p2p_net_thread_unref (ice->net);
  g_clear_object (&ice->conn);
  g_clear_error (&ice->error);
  if (ice->incoming)
    g_async_queue_unref (ice->incoming);
  g_object_unref (ice->identity);
  p2p_config_free (ice->config);
  g_free (ice->url);
  g_mutex_clear (&ice->lock);
  g_cond_clear (&ice->cond);
  g_free (ice);
}

/* ---- common ---- */

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean closed;
} CloseWait;

static void
on_conn_closed (P2pConnection *conn, const GError *error, gpointer user_data)
{
  CloseWait *w = user_data;
  g_mutex_lock (&w->lock);
  w->closed = TRUE;
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
}

static void
report_path (P2pConnection *conn, gint64 start_us, const char *role)
{
  P2pConnectionStats st;
  p2p_connection_get_stats (conn, &st);
  g_autofree char *peer = p2p_peer_id_to_string (p2p_connection_get_peer_id (conn));
  g_printerr ("connected: %s %s\n", role, peer);
  g_printerr ("path: %s\n", p2p_path_kind_to_string (st.path_kind));
  if (opt_ping) {
    /* From the start of this command (rendezvous, ICE and QUIC included). */
    g_printerr ("setup: %.1f ms (QUIC handshake %.1f ms)\n",
        (g_get_monotonic_time () - start_us) / 1000.0, st.setup_time_us / 1000.0);
    g_printerr ("rtt: %.1f ms\n", st.rtt_us / 1000.0);
  }
}

static P2pIdentity *
load_identity (GError **error)
{
  if (opt_identity)
    return p2p_identity_load_or_create (opt_identity, error);
  return p2p_identity_new ();
}

static P2pConfig *
make_config (GError **error)
{
  P2pConfig *cfg = p2p_config_new_from_env (error);
  if (!cfg)
    return NULL;
  if (opt_port >= 0)
    cfg->listen_port = opt_port;
  /* p2p-cat drives the rendezvous + ICE route itself (lib/p2p-ice-connect.h)
   * and keeps it away from the provider, so that one process never holds
   * two registrations of its peer ID (the newer would replace the older).
   * P2P_BOOTSTRAP_PEERS is the default of --rendezvous. */
  if (!opt_rendezvous && cfg->bootstrap_peers && cfg->bootstrap_peers[0])
    opt_rendezvous = g_strdup (cfg->bootstrap_peers[0]);
  g_clear_pointer (&cfg->bootstrap_peers, g_strfreev);
  if (opt_relays) {
    g_strfreev (cfg->relay_servers);
    cfg->relay_servers = g_strdupv (opt_relays);
  }
  if (opt_stun) {
    g_strfreev (cfg->stun_servers);
    cfg->stun_servers = g_strsplit (opt_stun, ",", -1);
  }
  if (opt_relay_only)
    cfg->relay_policy = P2P_RELAY_POLICY_RELAY_ONLY;
  return cfg;
}

/* ---- listen ---- */

typedef struct {
  P2pListener *listener;
  GAsyncQueue *incoming;
  GCancellable *cancel;
} AcceptThread;

static gpointer
accept_thread (gpointer data)
{
  AcceptThread *a = data;
  g_autoptr (GError) error = NULL;
  P2pConnection *conn = p2p_listener_accept (a->listener, a->cancel, &error);
  if (conn)
    g_async_queue_push (a->incoming, conn);
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_printerr ("p2p-cat: accept: %s\n", error->message);
  return NULL;
}

static int
do_listen (P2pIdentity *identity, P2pConfig *config)
{
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_autoptr (P2pProvider) provider = p2p_provider_new_from_config (identity, config, &error);
  if (!provider)
    return die ("cannot start", error);
  g_autofree char *addr = opt_port >= 0 ? g_strdup_printf (":%d", opt_port) : NULL;
  g_autoptr (P2pListener) listener = p2p_provider_listen (provider, addr, &error);
  if (!listener)
    return die ("cannot listen", error);

  g_autofree char *ticket = p2p_listener_get_ticket (listener);
  g_autofree char *id = p2p_identity_dup_peer_id_string (identity);
  g_printerr ("ticket: %s\npeer-id: %s\n", ticket, id);

  g_autoptr (GAsyncQueue) incoming = g_async_queue_new_full (g_object_unref);
  Ice *ice = NULL;
  if (opt_rendezvous) {
    ice = ice_start (identity, config, opt_rendezvous, TRUE, &error);
    if (error) {
      ice_free (ice);
      return die ("rendezvous", error);
    }
    g_printerr ("registered: %s\n", opt_rendezvous);
  }

  AcceptThread a = { listener, incoming, g_cancellable_new () };
  GThread *t = g_thread_new ("p2p-cat-accept", accept_thread, &a);
  P2pConnection *conn = NULL;
  while (!conn) {
    conn = g_async_queue_timeout_pop (incoming, 100 * 1000);
    if (!conn && ice)
      conn = g_async_queue_try_pop (ice->incoming);
  }
  g_cancellable_cancel (a.cancel);
  g_thread_join (t);
  g_object_unref (a.cancel);

  report_path (conn, start, "from");
  int rc = 0;
  for (;;) {
    g_autoptr (GError) rerr = NULL;
    g_autoptr (GBytes) msg = p2p_connection_receive (conn, NULL, &rerr);
    if (!msg) {
      if (!g_error_matches (rerr, P2P_ERROR, P2P_ERROR_CLOSED)) {
        rc = die ("receive", rerr);
      }
      break;
    }
    gsize len;
    const guint8 *d = g_bytes_get_data (msg, &len);
    if (len && fwrite (d, 1, len, stdout) != len) {
      g_printerr ("p2p-cat: cannot write to stdout\n");
      rc = 1;
      break;
    }
  }
  fflush (stdout);
  p2p_connection_close (conn, "done");
  g_object_unref (conn);
  p2p_listener_close (listener);
  ice_free (ice);
  return rc;
}

/* ---- connect ---- */

typedef struct {
  GMainLoop *loop;
  P2pConnection *conn;
  GError *error;
  GCancellable *cancel;
  gboolean timed_out;
} Bounded;

static void
bounded_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Bounded *b = data;
  b->conn = p2p_provider_connect_finish (P2P_PROVIDER (source), res, &b->error);
  g_main_loop_quit (b->loop);
}

static gboolean
bounded_timeout (gpointer data)
{
  Bounded *b = data;
  b->timed_out = TRUE;
  g_cancellable_cancel (b->cancel);
  return G_SOURCE_REMOVE;
}

/* p2p_provider_connect() bounded by --timeout. */
static P2pConnection *
connect_bounded (P2pProvider *provider, const char *peer, GError **error)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_main_context_push_thread_default (ctx);
  Bounded b = { g_main_loop_new (ctx, FALSE), NULL, NULL, g_cancellable_new (), FALSE };
  GSource *t = g_timeout_source_new_seconds (opt_timeout);
  g_source_set_callback (t, bounded_timeout, &b, NULL);
  g_source_attach (t, ctx);
  p2p_provider_connect_async (provider, peer, b.cancel, bounded_done, &b);
  g_main_loop_run (b.loop);
  g_source_destroy (t);
  g_source_unref (t);
  g_main_context_pop_thread_default (ctx);
  g_main_loop_unref (b.loop);
  g_object_unref (b.cancel);
  if (!b.conn && b.timed_out) {
    g_clear_error (&b.error);
    g_set_error (error, P2P_ERROR, P2P_ERROR_TIMEOUT,
        "peer %s did not answer within %d s (is it running, and is the address reachable?)",
        peer, opt_timeout);
    return NULL;
  }
  if (!b.conn)
    g_propagate_error (error, b.error);
  return b.conn;
}

static int
do_connect (P2pIdentity *identity, P2pConfig *config, const char *peer)
{
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_autoptr (P2pPeerInfo) info = p2p_peer_info_parse (peer, &error);
  if (!info)
    return die ("bad peer", error);

  g_autoptr (P2pProvider) provider = NULL;
  Ice *ice = NULL;
  g_autoptr (P2pConnection) conn = NULL;
  const char *const *addrs = p2p_peer_info_get_addresses (info);
  gboolean by_id = !addrs || !addrs[0];

  if (by_id && opt_rendezvous) {
    ice = ice_start (identity, config, opt_rendezvous, FALSE, &error);
    if (error) {
      ice_free (ice);
      return die ("rendezvous", error);
    }
    ice->peer = *p2p_peer_info_get_peer_id (info);
    p2p_net_thread_invoke (ice->net, ice_dial_net, ice, NULL);
    if (!ice_wait (ice, start + (gint64) opt_timeout * G_USEC_PER_SEC)) {
      g_set_error (&error, P2P_ERROR, P2P_ERROR_TIMEOUT, "no connection within %d s", opt_timeout);
    } else if (ice->error) {
      g_propagate_error (&error, g_steal_pointer (&ice->error));
    } else {
      conn = g_steal_pointer (&ice->conn);
    }
  } else {
    provider = p2p_provider_new_from_config (identity, config, &error);
    if (provider) {
      conn = connect_bounded (provider, peer, &error);
    }
  }
  if (!conn) {
    int rc = die ("cannot connect", error);
    ice_free (ice);
    return rc;
  }

  report_path (conn, start, "to");
  CloseWait w = { 0 };
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  gulong hid = g_signal_connect (conn, "closed", G_CALLBACK (on_conn_closed), &w);

  int rc = 0;
  guint8 *buf = g_malloc (CHUNK);
  for (;;) {
    gsize got = 0;
    gboolean eof = FALSE;
    while (got < CHUNK) {
      gssize n = read (STDIN_FILENO, buf + got, CHUNK - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        g_printerr ("p2p-cat: cannot read stdin: %s\n", g_strerror (errno));
        rc = 1;
        break;
      }
      if (n == 0) {
        eof = TRUE;
        break;
      }
      got += n;
    }
    if (rc)
      break;
    if (got > 0) {
      g_autoptr (GBytes) msg = g_bytes_new (buf, got);
      g_autoptr (GError) serr = NULL;
      if (!p2p_connection_send (conn, msg, NULL, &serr)) {
        rc = die ("send", serr);
        break;
      }
    }
    if (eof)
      break;
  }
  g_free (buf);

  /* Graceful close: wait until the peer has everything and closed too. */
  p2p_connection_close (conn, "done");
  g_mutex_lock (&w.lock);
  gint64 deadline = g_get_monotonic_time () + CLOSE_WAIT_US;
  while (!w.closed)
    if (!g_cond_wait_until (&w.cond, &w.lock, deadline))
      break;
  gboolean closed = w.closed;
  g_mutex_unlock (&w.lock);
  g_signal_handler_disconnect (conn, hid);
  if (!closed && rc == 0) {
    g_printerr ("p2p-cat: the peer did not confirm the close within %d s\n",
        (int) (CLOSE_WAIT_US / G_USEC_PER_SEC));
    rc = 1;
  }
  g_clear_object (&conn);
  ice_free (ice);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  return rc;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new ("listen | connect PEER");
  g_option_context_set_summary (ctx,
      "Pipe bytes between two peers over authenticated QUIC.\n\n"
      "  listen            wait for one peer; print its data on stdout. The first line on\n"
      "                    stderr is \"ticket: ...\": give it to the other side.\n"
      "  connect PEER      send stdin to PEER (a ticket, ID@HOST:PORT, or a peer ID with\n"
      "                    --rendezvous), then close.\n\n"
      "Both print \"path: direct\" or \"path: relay\" on stderr once connected.");
  g_option_context_set_description (ctx,
      "Environment: P2P_LISTEN_PORT, P2P_BOOTSTRAP_PEERS, P2P_RELAY_SERVERS, P2P_STUN_SERVERS,\n"
      "P2P_RELAY_POLICY, P2P_IDENTITY_FILE (docs/configuration.md). Exit status 1 on any error.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("p2p-cat: %s (try --help)\n", error->message);
    return 1;
  }
  if (argc < 2 || (!g_str_equal (argv[1], "listen") && !g_str_equal (argv[1], "connect"))) {
    g_printerr ("p2p-cat: expected \"listen\" or \"connect PEER\" (try --help)\n");
    return 1;
  }
  gboolean listen = g_str_equal (argv[1], "listen");
  if ((listen && argc != 2) || (!listen && argc != 3)) {
    g_printerr ("p2p-cat: %s\n", listen ? "listen takes no argument" : "connect needs exactly one PEER");
    return 1;
  }
  if (opt_port > 65535 || opt_port < -1) {
    g_printerr ("p2p-cat: --port %d: expected 0..65535\n", opt_port);
    return 1;
  }
  if (opt_timeout <= 0) {
    g_printerr ("p2p-cat: --timeout must be positive\n");
    return 1;
  }
  g_autoptr (P2pConfig) config = make_config (&error);
  if (!config)
    return die (NULL, error);
  g_autoptr (P2pIdentity) identity = load_identity (&error);
  if (!identity)
    return die ("identity", error);

  return listen ? do_listen (identity, config) : do_connect (identity, config, argv[2]);
}
