/* sim-soak.c: randomized transfers through the sim provider (real QUIC over
 * the simulated network). Per seed it draws link parameters (latency
 * 0..200 ms, jitter, loss 0..10 %, duplication, reordering, bandwidth) and a
 * payload (16..256 KiB in messages of 1 byte..64 KiB), sends it from a
 * dialer to a listener and compares the bytes.
 *
 *   sim-soak [--runs N] [--seed S] [--verbose]
 *
 * Runs seeds S, S+1, ..., S+N-1 (default: 200 runs from seed 1). On a
 * failure it prints the seed, the parameters and the command that replays
 * exactly that run, and exits 1.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-private.h"
#include "p2p/p2p-error.h"
#include "p2p-test-util.h"

#include <string.h>

#define MS G_GUINT64_CONSTANT (1000000)
#define S (1000 * MS)

typedef struct {
  P2pSimLinkParams link;
  gsize payload;
  gsize msg_size;
} Params;

static void
draw_params (guint64 seed, Params *p)
{
  guint32 words[2] = { (guint32) seed, (guint32) (seed >> 32) };
  g_autoptr (GRand) r = g_rand_new_with_seed_array (words, 2);

  p2p_sim_link_params_init (&p->link);
  p->link.latency_ms = g_rand_int_range (r, 0, 201);
  p->link.jitter_ms = g_rand_int_range (r, 0, p->link.latency_ms / 4 + 2);
  p->link.loss = g_rand_double_range (r, 0.0, 0.10);
  p->link.duplicate = g_rand_double_range (r, 0.0, 0.03);
  p->link.reorder = g_rand_double_range (r, 0.0, 0.03);
  p->link.bandwidth_kbps = g_rand_boolean (r) ? 0 : (guint) g_rand_int_range (r, 1000, 50001);
  p->payload = g_rand_int_range (r, 16 * 1024, 256 * 1024 + 1);
  p->msg_size = g_rand_int_range (r, 1, 64 * 1024 + 1);
}

static char *
describe (const Params *p)
{
  return g_strdup_printf ("latency=%ums jitter=%ums loss=%.4f dup=%.4f reorder=%.4f "
      "bandwidth=%ukbps payload=%" G_GSIZE_FORMAT " msg=%" G_GSIZE_FORMAT, p->link.latency_ms,
      p->link.jitter_ms, p->link.loss, p->link.duplicate, p->link.reorder,
      p->link.bandwidth_kbps, p->payload, p->msg_size);
}

typedef struct {
  P2pTestConnectResult connect;
  P2pListener *listener;
  P2pConnection *server;
  const guint8 *data;
  gsize total, msg_size, sent;
  GByteArray *received;
  GError *error;
} Run;

static gboolean
step (gpointer user_data)
{
  Run *r = user_data;

  if (!r->connect.done)
    return FALSE;
  if (r->connect.error) {
    r->error = g_error_copy (r->connect.error);
    return TRUE;
  }
  if (r->server == NULL) {
    g_autoptr (GError) error = NULL;

    r->server = p2p_listener_accept (r->listener, NULL, &error);
    if (r->server == NULL) {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        r->error = g_steal_pointer (&error);
        return TRUE;
      }
    }
  }
  while (r->sent < r->total) {
    gsize n = MIN (r->msg_size, r->total - r->sent);
    g_autoptr (GBytes) m = g_bytes_new_static (r->data + r->sent, n);
    g_autoptr (GError) error = NULL;

    if (!p2p_connection_send (r->connect.conn, m, NULL, &error)) {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        r->error = g_steal_pointer (&error);
        return TRUE;
      }
      break;
    }
    r->sent += n;
  }
  while (r->server) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) m = p2p_connection_receive (r->server, NULL, &error);

    if (m == NULL) {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        r->error = g_steal_pointer (&error);
        return TRUE;
      }
      break;
    }
    g_byte_array_append (r->received, g_bytes_get_data (m, NULL), g_bytes_get_size (m));
  }
  return r->received->len >= r->total;
}

/* One run; returns NULL on success, else what went wrong. */
static char *
run_seed (guint64 seed, const Params *p, guint64 *virtual_ns, char **trace_hash)
{
  g_autoptr (P2pSimNetwork) net = p2p_sim_network_new (seed);
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pProvider) server = NULL, client = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *server_id = NULL;
  g_autofree guint8 *data = g_malloc (p->payload);
  g_autoptr (GRand) fill = g_rand_new_with_seed ((guint32) (seed * 2654435761u));
  Run r = { 0 };
  char *problem = NULL;
  gboolean ok;

  for (gsize i = 0; i < p->payload; i++)
    data[i] = g_rand_int (fill) & 0xff;
  p2p_sim_network_set_trace (net, TRUE);
  p2p_sim_network_set_trace_limit (net, 1);
  if (!p2p_sim_network_set_default_link (net, &p->link, &error))
    return g_strdup_printf ("bad parameters: %s", error->message);
  cfg->idle_timeout_ms = 60000;
  cfg->keepalive_ms = 5000;
  cfg->listen_port = 4433;
  server = p2p_sim_provider_new (net, NULL, cfg);
  client = p2p_sim_provider_new (net, NULL, cfg);
  r.listener = p2p_provider_listen (server, NULL, &error);
  if (r.listener == NULL)
    return g_strdup_printf ("listen failed: %s", error->message);
  r.data = data;
  r.total = p->payload;
  r.msg_size = p->msg_size;
  r.received = g_byte_array_new ();
  server_id = p2p_peer_id_to_string (p2p_provider_get_local_peer_id (server));
  p2p_provider_connect_async (client, server_id, NULL, p2p_test_connect_cb, &r.connect);

  ok = p2p_sim_network_run_until_cond (net, step, &r, 1800 * S);
  if (r.error)
    problem = g_strdup_printf ("%s error: %s", p2p_error_code_to_string (r.error->code),
        r.error->message);
  else if (!ok)
    problem = g_strdup_printf ("stalled: %u of %" G_GSIZE_FORMAT " bytes after %.1f virtual s",
        r.received->len, r.total, p2p_sim_network_now (net) / 1e9);
  else if (r.received->len != r.total || memcmp (r.received->data, data, r.total) != 0) {
    gsize at = 0;

    while (at < MIN (r.received->len, r.total) && r.received->data[at] == data[at])
      at++;
    problem = g_strdup_printf ("byte difference at offset %" G_GSIZE_FORMAT " (received %u of %"
        G_GSIZE_FORMAT " bytes)", at, r.received->len, r.total);
  }
  *virtual_ns = p2p_sim_network_now (net);
  *trace_hash = p2p_sim_network_get_trace_hash (net);

  if (r.connect.conn)
    p2p_connection_close (r.connect.conn, "done");
  g_clear_object (&r.connect.conn);
  g_clear_error (&r.connect.error);
  g_clear_object (&r.server);
  p2p_listener_close (r.listener);
  g_clear_object (&r.listener);
  g_clear_object (&client);
  g_clear_object (&server);
  p2p_sim_network_run_until_idle (net, 300 * S);
  g_byte_array_unref (r.received);
  g_clear_error (&r.error);
  return problem;
}

int
main (int argc, char **argv)
{
  gint64 runs = 200;
  gint64 first = 1;
  gboolean verbose = FALSE;
  GOptionEntry entries[] = {
    { "runs", 'n', 0, G_OPTION_ARG_INT64, &runs, "Number of seeds to run (default 200)", "N" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &first, "First seed (default 1)", "S" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "One line per run", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) octx = g_option_context_new ("- soak the simulator with QUIC");
  g_autoptr (GError) error = NULL;
  guint failures = 0;
  gint64 t0 = g_get_monotonic_time ();

  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error)) {
    g_printerr ("sim-soak: %s\n", error->message);
    return 2;
  }
  if (runs < 1 || first < 0) {
    g_printerr ("sim-soak: --runs must be at least 1 and --seed at least 0\n");
    return 2;
  }
  /* this thread is the simulated network's thread */
  if (!g_main_context_acquire (g_main_context_default ())) {
    g_printerr ("sim-soak: cannot acquire the main context\n");
    return 2;
  }

  for (gint64 i = 0; i < runs; i++) {
    guint64 seed = (guint64) first + (guint64) i;
    Params p;
    guint64 vns = 0;
    g_autofree char *desc = NULL, *hash = NULL;
    g_autofree char *problem = NULL;

    draw_params (seed, &p);
    desc = describe (&p);
    problem = run_seed (seed, &p, &vns, &hash);
    if (problem) {
      failures++;
      g_print ("FAIL seed=%" G_GUINT64_FORMAT " %s: %s\n"
          "  reproduce: %s --runs 1 --seed %" G_GUINT64_FORMAT " --verbose\n",
          seed, desc, problem, argv[0], seed);
    } else if (verbose) {
      g_print ("ok seed=%" G_GUINT64_FORMAT " %s virtual_s=%.2f trace_hash=%s\n", seed, desc,
          vns / 1e9, hash);
    }
  }
  g_main_context_release (g_main_context_default ());
  g_print ("sim-soak: %" G_GINT64_FORMAT " runs from seed %" G_GINT64_FORMAT ", %u failed, "
      "%.1f s\n", runs, first, failures, (g_get_monotonic_time () - t0) / 1e6);
  return failures ? 1 : 0;
}
