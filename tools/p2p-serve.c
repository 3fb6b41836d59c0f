/* p2p-serve.c: serve a directory's files to peers on demand (issue 13):
 *
 *   p2p-serve DIR [--port N] [--identity KEY] [--allowed-peers IDS]
 *             [--rendezvous URL ...]
 *
 * Prints "peer-id: ..." and "ticket: ..." on stdout once it listens (scripts
 * wait for these lines), then serves the regular files under DIR, read-only,
 * through P2pFileService (docs/protocol.md "File requests") until SIGINT or
 * SIGTERM. Errors are one line on stderr and exit status 1.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <glib-unix.h>
#include <gio/gio.h>

#include "p2p/p2p.h"
#include "p2p-metrics.h"

static int opt_port = G_MININT;        /* not given */
static char *opt_bind_address;
static char *opt_identity;
static char *opt_allowed;
static char **opt_rendezvous;
static int opt_max_streams_per_peer = G_MININT;
static int opt_max_streams = G_MININT;
static char *opt_metrics;

static GOptionEntry entries[] = {
  { "port", 'p', 0, G_OPTION_ARG_INT, &opt_port, "UDP port (default P2P_LISTEN_PORT or 8800; 0 = any)", "PORT" },
  { "bind-address", 'b', 0, G_OPTION_ARG_STRING, &opt_bind_address, "local IP address to listen on (default: every interface; the ticket then lists every address of the machine)", "IP" },
  { "identity", 'i', 0, G_OPTION_ARG_FILENAME, &opt_identity, "key file (created if missing; default: $P2P_IDENTITY_FILE, else p2p-id's default key file if it exists, else a fresh key)", "FILE" },
  { "allowed-peers", 'a', 0, G_OPTION_ARG_STRING, &opt_allowed, "only these peer IDs (comma separated) may connect", "IDS" },
  { "rendezvous", 'r', 0, G_OPTION_ARG_STRING_ARRAY, &opt_rendezvous, "rendezvous server URL (repeatable): be reachable by peer ID", "URL" },
  { "max-streams-per-peer", 0, 0, G_OPTION_ARG_INT, &opt_max_streams_per_peer, "requests of one peer at a time (default 16)", "N" },
  { "metrics", 0, 0, G_OPTION_ARG_STRING, &opt_metrics, "serve Prometheus metrics on http://IP:PORT/metrics and /healthz (port 0 = any; the URL is printed as \"metrics: URL\")", "IP:PORT" },
  { "max-streams", 0, 0, G_OPTION_ARG_INT, &opt_max_streams, "requests at a time, all peers (default 64)", "N" },
  { NULL }
};

static gboolean
on_signal (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_CONTINUE;
}

typedef struct {
  P2pProvider *provider;
  P2pFileService *service;
} Metrics;

static void
fill_metrics (GString *out, gpointer data)
{
  Metrics *m = data;
  g_autoptr (GVariant) stats = p2p_provider_get_stats (m->provider);
  guint64 requests = 0, bytes = 0;

  g_object_get (m->service, "requests", &requests, "bytes-sent", &bytes, NULL);
  p2p_metrics_add (out, "p2p_serve_requests_total", "counter", "file requests served", requests);
  p2p_metrics_add (out, "p2p_serve_bytes_sent_total", "counter", "file bytes sent", bytes);
  p2p_metrics_add_provider_stats (out, "p2p_serve", stats);
}

static int
die (const char *what, const GError *error)
{
  g_printerr ("p2p-serve: %s: %s\n", what, error->message);
  return 1;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new ("DIR");
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pIdentity) identity = NULL;
  g_autoptr (P2pConfig) config = NULL;
  g_autoptr (P2pProvider) provider = NULL;
  g_autoptr (P2pListener) listener = NULL;
  g_autoptr (P2pFileService) service = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autofree char *addr = NULL, *ticket = NULL, *id = NULL, *metrics_url = NULL;
  P2pMetricsServer *metrics = NULL;
  Metrics mdata;

  g_log_writer_default_set_use_stderr (TRUE);
  g_option_context_set_summary (ctx,
      "Serve the regular files under DIR, read-only, to peers: players open\n"
      "p2p://PEER/path/to/file (p2psrc). Prints \"peer-id: ...\" and \"ticket: ...\"\n"
      "on stdout when ready; stops on SIGINT or SIGTERM.");
  g_option_context_set_description (ctx,
      "Environment: P2P_LISTEN_PORT, P2P_BOOTSTRAP_PEERS, P2P_RELAY_SERVERS, P2P_STUN_SERVERS,\n"
      "P2P_IDENTITY_FILE (docs/configuration.md).");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("p2p-serve: %s (try --help)\n", error->message);
    return 1;
  }
  if (argc != 2) {
    g_printerr ("p2p-serve: give exactly one directory to serve (try --help)\n");
    return 1;
  }
  /* out-of-range values are errors, not silently the default */
  if (opt_port != G_MININT && (opt_port < 0 || opt_port > 65535)) {
    g_printerr ("p2p-serve: --port %d: give a UDP port, 0 to 65535 (0 = any)\n", opt_port);
    return 1;
  }
  if (opt_max_streams != G_MININT && (opt_max_streams < 1 || opt_max_streams > 4096)) {
    g_printerr ("p2p-serve: --max-streams %d: give 1 to 4096\n", opt_max_streams);
    return 1;
  }
  if (opt_max_streams_per_peer != G_MININT
      && (opt_max_streams_per_peer < 1 || opt_max_streams_per_peer > 4096)) {
    g_printerr ("p2p-serve: --max-streams-per-peer %d: give 1 to 4096\n",
        opt_max_streams_per_peer);
    return 1;
  }
  if (opt_port == G_MININT)
    opt_port = -1;
  service = p2p_file_service_new (argv[1], &error);
  if (!service)
    return die ("cannot serve", error);
  if (opt_max_streams_per_peer != G_MININT)
    g_object_set (service, "max-streams-per-peer", (guint) opt_max_streams_per_peer, NULL);
  if (opt_max_streams != G_MININT)
    g_object_set (service, "max-streams", (guint) opt_max_streams, NULL);

  {
    /* --rendezvous takes P2P_BOOTSTRAP_PEERS' place, checked by the same
     * rules (a ws:// or wss:// URL, or dht://) */
    g_auto (GStrv) envp = g_get_environ ();

    /* --port stands for P2P_LISTEN_PORT (a bad one does not matter then) */
    if (opt_port >= 0)
      envp = g_environ_unsetenv (envp, "P2P_LISTEN_PORT");

    if (opt_rendezvous) {
      g_autofree char *list = g_strjoinv (",", opt_rendezvous);

      envp = g_environ_setenv (envp, "P2P_BOOTSTRAP_PEERS", list, TRUE);
    }
    config = p2p_config_new_from_environ ((const char *const *) envp, &error);
    if (!config)
      return die (opt_rendezvous ? "--rendezvous or the environment" : "configuration", error);
  }
  if (opt_port >= 0)
    config->listen_port = opt_port;
  if (opt_allowed && !p2p_config_set_allowed_peers (config, opt_allowed, &error))
    return die ("--allowed-peers", error);
  {
    /* as p2psink: a peer ID that stays across restarts when there is a key */
    g_autofree char *key = p2p_identity_choose_file (opt_identity, config->identity_file, NULL);

    identity = key ? p2p_identity_load_or_create (key, &error) : p2p_identity_new ();
    if (!identity)
      return die ("identity", error);
    if (!key)
      g_printerr ("p2p-serve: no key file (--identity, $P2P_IDENTITY_FILE or p2p-id's "
          "default): an ephemeral identity, the peer ID changes every run\n");
  }
  provider = p2p_provider_new_from_config (identity, config, &error);
  if (!provider)
    return die ("cannot start", error);
  addr = p2p_config_listen_address (config, opt_bind_address, opt_port);
  listener = p2p_provider_listen (provider, addr, &error);
  if (!listener)
    return die ("cannot listen", error);
  p2p_file_service_attach_listener (service, listener);

  ticket = p2p_listener_get_ticket (listener);
  id = p2p_identity_dup_peer_id_string (identity);
  if (opt_metrics) {
    mdata = (Metrics) { provider, service };
    metrics = p2p_metrics_server_new (opt_metrics, fill_metrics, &mdata, &error);
    if (!metrics)
      return die ("metrics", error);
    metrics_url = p2p_metrics_server_dup_url (metrics);
  }
  /* peer-id first, always (scripts take the first line) */
  g_print ("peer-id: %s\nticket: %s\n", id, ticket);
  if (metrics_url)
    g_print ("metrics: %s\n", metrics_url);
  g_printerr ("serving %s\n", p2p_file_service_get_root (service));
  fflush (stdout);

  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, on_signal, loop);
  g_unix_signal_add (SIGTERM, on_signal, loop);
  g_main_loop_run (loop);

  p2p_metrics_server_free (metrics);
  p2p_listener_close (listener);
  p2p_file_service_stop (service);
  return 0;
}
