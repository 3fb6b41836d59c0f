/* p2p-cat.c: netcat over gst-p2p: pipe bytes between two peers, through
 * NATs when needed. Uses the library without GStreamer.
 *
 *   p2p-cat listen [--port P]              # prints "ticket: ..." on stderr
 *   p2p-cat connect TICKET < file          # or ID@HOST:PORT, or a bare ID
 *   p2p-cat connect ID --rendezvous ws://HOST:PORT/ --relay turn://u:p@IP:3478
 *
 * The listener writes what arrives (messages concatenated) to stdout until
 * the peer closes; the dialer sends stdin in 64 KiB messages, then closes
 * gracefully. Both print "path: direct|relay" and "protocol: version N, peer
 * capabilities: files,stream-position,datagram-epoch" on stderr once connected, and
 * "path-changed: OLD -> NEW after N ms" whenever the path changes (relay ->
 * direct);
 * --ping adds setup time and RTT. Errors are one plain line on stderr and
 * exit code 1.
 *
 * Everything goes through the public provider API (P2pQuicProvider):
 * tickets and ID@HOST:PORT are dialled directly; a bare peer ID goes
 * through the rendezvous (--rendezvous or P2P_BOOTSTRAP_PEERS) and ICE; a
 * listener with a rendezvous registers there and also accepts over ICE.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>
#include <errno.h>

#include "p2p/p2p.h"

#define CHUNK (64 * 1024)
#define CLOSE_WAIT_US (10 * G_USEC_PER_SEC)
#define REGISTER_WAIT_MS 15000

static int opt_port = -1;
static char *opt_bind_address;
static char *opt_identity;
static char *opt_rendezvous;
static char **opt_relays;
static char *opt_stun;
static gboolean opt_relay_only;
static gboolean opt_ping;
static int opt_timeout = 30;

static GOptionEntry entries[] = {
  { "port", 'p', 0, G_OPTION_ARG_INT, &opt_port, "listen: UDP port (default P2P_LISTEN_PORT or 8800; 0 = any)", "PORT" },
  { "bind-address", 'b', 0, G_OPTION_ARG_STRING, &opt_bind_address, "listen: local IP address to listen on (default: every interface; the ticket then lists every address of the machine)", "IP" },
  { "identity", 'i', 0, G_OPTION_ARG_FILENAME, &opt_identity, "key file (created if missing; default: listen: $P2P_IDENTITY_FILE, else p2p-id's default key file if it exists, else a fresh key; connect: a fresh key)", "FILE" },
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

/* "path-changed: relay -> direct after N ms" (from the command's start):
 * e.g. ICE found a direct pair after starting on a TURN relay. */
static void
on_path_changed (P2pConnection *conn, P2pPathKind old_kind, P2pPathKind new_kind,
    gpointer data)
{
  const gint64 *start_us = data;

  g_printerr ("path-changed: %s -> %s after %.1f ms\n", p2p_path_kind_to_string (old_kind),
      p2p_path_kind_to_string (new_kind), (g_get_monotonic_time () - *start_us) / 1000.0);
}

static void
free_start (gpointer data, GClosure *closure)
{
  g_free (data);
}

static void
report_path (P2pConnection *conn, gint64 start_us, const char *role)
{
  P2pConnectionStats st;
  g_signal_connect_data (conn, "path-changed", G_CALLBACK (on_path_changed),
      g_memdup2 (&start_us, sizeof start_us), free_start, 0);
  p2p_connection_get_stats (conn, &st);
  g_autofree char *peer = p2p_peer_id_to_string (p2p_connection_get_peer_id (conn));
  g_printerr ("connected: %s %s\n", role, peer);
  g_printerr ("path: %s\n", p2p_path_kind_to_string (st.path_kind));
  {
    g_auto (GStrv) caps = p2p_connection_list_capabilities (conn);
    g_autofree char *list = g_strjoinv (",", caps);

    /* docs/protocol.md §3.1 */
    g_printerr ("protocol: version %u, peer capabilities: %s\n",
        p2p_connection_get_protocol_version (conn), list[0] ? list : "(none)");
  }
  if (opt_ping) {
    /* From the start of this command (rendezvous, ICE and QUIC included). */
    g_printerr ("setup: %.1f ms (QUIC handshake %.1f ms)\n",
        (g_get_monotonic_time () - start_us) / 1000.0, st.setup_time_us / 1000.0);
    g_printerr ("rtt: %.1f ms\n", st.rtt_us / 1000.0);
  }
}

/* One line of the provider's counters (p2p_provider_get_stats(),
 * docs/observability.md) once connected. */
static void
report_provider (P2pProvider *provider)
{
  g_autoptr (GVariant) st = p2p_provider_get_stats (provider);
  guint64 ok = 0, failed = 0, accepts = 0, direct = 0, relay = 0;

  g_variant_lookup (st, "dials-ok", "t", &ok);
  g_variant_lookup (st, "dials-failed", "t", &failed);
  g_variant_lookup (st, "accepts", "t", &accepts);
  g_variant_lookup (st, "paths-direct", "t", &direct);
  g_variant_lookup (st, "paths-relay", "t", &relay);
  g_printerr ("provider: dials-ok %" G_GUINT64_FORMAT ", dials-failed %" G_GUINT64_FORMAT
      ", accepts %" G_GUINT64_FORMAT ", paths direct %" G_GUINT64_FORMAT " relay %"
      G_GUINT64_FORMAT "\n", ok, failed, accepts, direct, relay);
}

/* listen: as p2psink (--identity, $P2P_IDENTITY_FILE, p2p-id's default
 * key file if it exists); connect: as p2psrc (--identity, else a fresh
 * key). */
static P2pIdentity *
load_identity (gboolean listen, const P2pConfig *config, GError **error)
{
  g_autofree char *key = listen ? p2p_identity_choose_file (opt_identity, config->identity_file,
      NULL) : g_strdup (opt_identity);

  if (key)
    return p2p_identity_load_or_create (key, error);
  if (listen)
    g_printerr ("p2p-cat: no key file (--identity, $P2P_IDENTITY_FILE or p2p-id's default): "
        "an ephemeral identity, the peer ID changes every run\n");
  return p2p_identity_new ();
}

static P2pConfig *
make_config (GError **error)
{
  g_auto (GStrv) envp = g_get_environ ();
  P2pConfig *cfg;

  /* --port stands for P2P_LISTEN_PORT (a bad one does not matter then) */
  if (opt_port >= 0)
    envp = g_environ_unsetenv (envp, "P2P_LISTEN_PORT");
  cfg = p2p_config_new_from_environ ((const char *const *) envp, error);
  if (!cfg)
    return NULL;
  if (opt_port >= 0)
    cfg->listen_port = opt_port;
  /* P2P_BOOTSTRAP_PEERS is the default of --rendezvous. */
  if (opt_rendezvous) {
    g_strfreev (cfg->bootstrap_peers);
    cfg->bootstrap_peers = g_strsplit (opt_rendezvous, ",", -1);
  }
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
  P2pQuicProvider *provider;
  GCancellable *cancel;
  GMainLoop *loop;
  gboolean ok;
  GError *error;
} RegJob;

static gboolean
reg_timeout (gpointer data)
{
  g_cancellable_cancel (((RegJob *) data)->cancel);
  return G_SOURCE_REMOVE;
}

static gboolean
reg_quit (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static gpointer
reg_thread (gpointer data)
{
  RegJob *j = data;
  j->ok = p2p_quic_provider_wait_registered (j->provider, j->cancel, &j->error);
  g_main_context_invoke (g_main_loop_get_context (j->loop), reg_quit, j->loop);
  return NULL;
}

/* Waits (at most REGISTER_WAIT_MS) until the rendezvous has our peer ID. */
static gboolean
wait_registered (P2pProvider *provider, const char *url, GError **error)
{
  if (!P2P_IS_QUIC_PROVIDER (provider))
    return TRUE;
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  RegJob j = { P2P_QUIC_PROVIDER (provider), g_cancellable_new (), g_main_loop_new (ctx, FALSE) };
  GSource *t = g_timeout_source_new (REGISTER_WAIT_MS);
  g_source_set_callback (t, reg_timeout, &j, NULL);
  g_source_attach (t, ctx);
  GThread *th = g_thread_new ("p2p-cat-register", reg_thread, &j);
  g_main_loop_run (j.loop);
  g_thread_join (th);
  g_source_destroy (t);
  g_source_unref (t);
  g_main_loop_unref (j.loop);
  if (!j.ok && g_error_matches (j.error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_clear_error (&j.error);
    g_set_error (&j.error, P2P_ERROR, P2P_ERROR_TIMEOUT,
        "the rendezvous server %s did not confirm our registration within %d s", url,
        REGISTER_WAIT_MS / 1000);
  }
  g_object_unref (j.cancel);
  if (!j.ok)
    g_propagate_error (error, j.error);
  return j.ok;
}

static int
do_listen (P2pIdentity *identity, P2pConfig *config)
{
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_autoptr (P2pProvider) provider = p2p_provider_new_from_config (identity, config, &error);
  if (!provider)
    return die ("cannot start", error);
  g_autofree char *addr = p2p_config_listen_address (config, opt_bind_address, opt_port);
  g_autoptr (P2pListener) listener = p2p_provider_listen (provider, addr, &error);
  if (!listener)
    return die ("cannot listen", error);

  g_autofree char *ticket = p2p_listener_get_ticket (listener);
  g_autofree char *id = p2p_identity_dup_peer_id_string (identity);
  g_printerr ("ticket: %s\npeer-id: %s\n", ticket, id);

  {
    /* the first rendezvous of P2P_BOOTSTRAP_PEERS (dht:// entries are not) */
    const char *rdv = NULL;

    for (guint i = 0; config->bootstrap_peers && config->bootstrap_peers[i] && !rdv; i++) {
      if (g_str_has_prefix (config->bootstrap_peers[i], "ws://")
          || g_str_has_prefix (config->bootstrap_peers[i], "wss://"))
        rdv = config->bootstrap_peers[i];
    }
    if (rdv) {
      if (!wait_registered (provider, rdv, &error))
        return die ("rendezvous", error);
      g_printerr ("registered: %s\n", rdv);
    }
  }

  g_autoptr (P2pConnection) conn = p2p_listener_accept (listener, NULL, &error);
  if (!conn)
    return die ("accept", error);

  report_path (conn, start, "from");
  report_provider (provider);
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
  p2p_listener_close (listener);
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

  g_autoptr (P2pProvider) provider = p2p_provider_new_from_config (identity, config, &error);
  g_autoptr (P2pConnection) conn = NULL;
  if (provider)
    conn = connect_bounded (provider, peer, &error);
  if (!conn)
    return die ("cannot connect", error);

  report_path (conn, start, "to");
  report_provider (provider);
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
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  return rc;
}

/* ls PEER [PATH] / get PEER PATH: a peer's file service (p2p-serve, a
 * player's P2pFileService): the entries of a directory (kind, size, name;
 * the empty path is the served directory), or a file's bytes on stdout. */
static int
do_files (P2pIdentity *identity, P2pConfig *config, gboolean list, const char *peer,
    const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pProvider) provider = p2p_provider_new_from_config (identity, config, &error);
  g_autoptr (P2pConnection) conn = NULL;
  int rc = 0;

  if (provider)
    conn = connect_bounded (provider, peer, &error);
  if (!conn)
    return die ("cannot connect", error);
  if (list) {
    g_autoptr (GPtrArray) listing = p2p_file_client_list (conn, path, NULL, &error);

    if (!listing) {
      g_printerr ("p2p-cat: cannot list \"%s\": %s\n", path, error->message);
      rc = 1;
    }
    for (guint i = 0; listing && i < listing->len; i++) {
      GFileInfo *info = g_ptr_array_index (listing, i);
      GFileType type = g_file_info_get_file_type (info);

      /* the names as they are (UTF-8), not converted to the locale's
       * character set as g_print() does ('?' for every non-ASCII
       * character in the C locale): a name is copied into a URI */
      printf ("%s\t%" G_GOFFSET_FORMAT "\t%s\n", type == G_FILE_TYPE_DIRECTORY ? "dir"
          : type == G_FILE_TYPE_REGULAR ? "file" : type == G_FILE_TYPE_SYMBOLIC_LINK ? "link"
          : "other", g_file_info_get_size (info), g_file_info_get_name (info));
    }
  } else {
    g_autoptr (GIOStream) s = p2p_file_client_send_request (conn, P2P_FILE_REQUEST_GET, path,
        0, P2P_FILE_TO_END, NULL, &error);
    P2pFileHeader hdr;
    guint8 *buf = g_malloc (CHUNK);
    guint64 left = 0;

    if (!s || !p2p_file_client_read_header (s, &hdr, NULL, &error)) {
      g_printerr ("p2p-cat: cannot get \"%s\": %s\n", path, error->message);
      rc = 1;
    } else {
      left = hdr.body_len;
    }
    while (rc == 0 && left > 0) {
      gssize n = g_input_stream_read (g_io_stream_get_input_stream (s), buf,
          MIN (left, CHUNK), NULL, &error);

      if (n <= 0) {
        g_printerr ("p2p-cat: \"%s\" ended after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
            " bytes: %s\n", path, hdr.body_len - left, hdr.body_len,
            error ? error->message : "end of stream");
        rc = 1;
        break;
      }
      if (fwrite (buf, 1, n, stdout) != (gsize) n) {
        g_printerr ("p2p-cat: cannot write stdout: %s\n", g_strerror (errno));
        rc = 1;
        break;
      }
      left -= n;
    }
    g_free (buf);
    if (fflush (stdout) != 0 && rc == 0) {
      g_printerr ("p2p-cat: cannot write stdout: %s\n", g_strerror (errno));
      rc = 1;
    }
  }
  p2p_connection_close (conn, "done");
  return rc;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new ("listen | connect PEER | ls PEER [PATH] | get PEER PATH");

  /* stdout carries the peer's bytes: every log line (G_MESSAGES_DEBUG
   * included) must go to stderr, never into the data. */
  g_log_writer_default_set_use_stderr (TRUE);
  g_option_context_set_summary (ctx,
      "Pipe bytes between two peers over authenticated QUIC.\n\n"
      "  listen            wait for one peer; print its data on stdout. The first line on\n"
      "                    stderr is \"ticket: ...\": give it to the other side.\n"
      "  connect PEER      send stdin to PEER (a ticket, ID@HOST:PORT, or a bare peer ID:\n"
      "                    found on the LAN by mDNS, in a DHT (dht:// in P2P_BOOTSTRAP_PEERS)\n"
      "                    or through --rendezvous), then close.\n"
      "  ls PEER [PATH]    list a directory of PEER's file service (p2p-serve): one line\n"
      "                    per entry, KIND<tab>SIZE<tab>NAME (KIND: file, dir, other);\n"
      "                    no PATH: the served directory itself.\n"
      "  get PEER PATH     write the file PATH of PEER's file service to stdout.\n\n"
      "Both print \"path: direct\" or \"path: relay\" on stderr once connected.");
  g_option_context_set_description (ctx,
      "Environment: P2P_LISTEN_PORT, P2P_BOOTSTRAP_PEERS, P2P_RELAY_SERVERS, P2P_STUN_SERVERS,\n"
      "P2P_RELAY_POLICY, P2P_IDENTITY_FILE, P2P_MDNS (docs/configuration.md). Exit status 1 on any error.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("p2p-cat: %s (try --help)\n", error->message);
    return 1;
  }
  if (argc >= 2 && (g_str_equal (argv[1], "ls") || g_str_equal (argv[1], "get"))) {
    gboolean list = g_str_equal (argv[1], "ls");

    if (argc < 3 || argc > 4 || (!list && argc != 4)) {
      g_printerr ("p2p-cat: %s\n", list ? "ls needs PEER and at most one PATH"
          : "get needs PEER and PATH");
      return 1;
    }
    g_autoptr (P2pConfig) fconfig = make_config (&error);
    if (!fconfig)
      return die (NULL, error);
    g_autoptr (P2pIdentity) fidentity = load_identity (FALSE, fconfig, &error);
    if (!fidentity)
      return die ("identity", error);
    return do_files (fidentity, fconfig, list, argv[2], argc == 4 ? argv[3] : "");
  }
  if (argc < 2 || (!g_str_equal (argv[1], "listen") && !g_str_equal (argv[1], "connect"))) {
    g_printerr ("p2p-cat: expected \"listen\", \"connect PEER\", \"ls PEER [PATH]\" or "
        "\"get PEER PATH\" (try --help)\n");
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
  g_autoptr (P2pIdentity) identity = load_identity (listen, config, &error);
  if (!identity)
    return die ("identity", error);

  return listen ? do_listen (identity, config) : do_connect (identity, config, argv[2]);
}
