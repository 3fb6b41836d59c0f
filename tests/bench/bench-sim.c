/* bench-sim.c: how much faster than real time the simulator runs the real
 * QUIC stack. 60 simulated seconds of a 1.4 Mbit/s stream (175 messages/s of
 * 1 KiB, sent at a steady virtual rate) over a link of 25 ms one way (50 ms
 * RTT) with 2 % loss, through the sim provider, in MANUAL clock mode.
 *
 * Prints: sim seed=S trace_hash=H simulated_s=X wall_s=Y speedup=Z messages=N
 * The seed is SIMULATOR_P2P_SEED (default 1); the same seed gives the same
 * trace_hash. Exits 1 if a message is missing or corrupted.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-private.h"
#include "p2p/p2p-error.h"
#include "p2p-test-util.h"

#include <string.h>

#define MS G_GUINT64_CONSTANT (1000000)
#define S (1000 * MS)
#define RATE 175
#define MSG_SIZE 1024
#define SECONDS 60

typedef struct {
  P2pListener *listener;
  P2pConnection *server;
  guint received;
  guint expected;
  gboolean corrupt;
  GError *error;
} Rx;

static gboolean
drain (gpointer data)
{
  Rx *rx = data;

  if (rx->server == NULL) {
    g_autoptr (GError) error = NULL;

    rx->server = p2p_listener_accept (rx->listener, NULL, &error);
    if (rx->server == NULL)
      return FALSE;
  }
  for (;;) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) m = p2p_connection_receive (rx->server, NULL, &error);
    const guint8 *d;

    if (m == NULL) {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) && !rx->error)
        rx->error = g_steal_pointer (&error);
      break;
    }
    d = g_bytes_get_data (m, NULL);
    if (g_bytes_get_size (m) != MSG_SIZE || d[0] != (rx->received & 0xff)
        || d[MSG_SIZE - 1] != ((rx->received >> 8) & 0xff))
      rx->corrupt = TRUE;
    rx->received++;
  }
  return rx->received >= rx->expected || rx->error != NULL;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConfig) env = p2p_config_new_from_env (&error);
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pSimNetwork) net = NULL;
  g_autoptr (P2pProvider) server = NULL, client = NULL;
  g_autofree char *server_id = NULL, *hash = NULL;
  P2pTestConnectResult cr = { 0 };
  Rx rx = { 0 };
  guint64 seed, start, end;
  gint64 t0, t1;
  guint8 buf[MSG_SIZE];
  double wall, simulated;

  if (env == NULL) {
    g_printerr ("bench-sim: %s\n", error->message);
    return 2;
  }
  seed = env->sim_seed;
  if (!g_main_context_acquire (g_main_context_default ()))
    return 2;

  t0 = g_get_monotonic_time ();
  net = p2p_sim_network_new (seed);
  p2p_sim_network_set_trace (net, TRUE);
  p2p_sim_network_set_trace_limit (net, 1);
  g_object_set (net, "latency-ms", 25, "loss", 0.02, NULL);
  cfg->listen_port = 4433;
  server = p2p_sim_provider_new (net, NULL, cfg);
  client = p2p_sim_provider_new (net, NULL, cfg);
  rx.listener = p2p_provider_listen (server, NULL, &error);
  if (rx.listener == NULL) {
    g_printerr ("bench-sim: %s\n", error->message);
    return 1;
  }
  server_id = p2p_peer_id_to_string (p2p_provider_get_local_peer_id (server));
  p2p_provider_connect_async (client, server_id, NULL, p2p_test_connect_cb, &cr);
  if (!p2p_sim_network_run_until_cond (net, p2p_test_connect_done, &cr, 60 * S) || cr.error) {
    g_printerr ("bench-sim: connect failed: %s\n", cr.error ? cr.error->message : "timeout");
    return 1;
  }

  rx.expected = RATE * SECONDS;
  start = p2p_sim_network_now (net);
  for (guint k = 0; k < rx.expected; k++) {
    g_autoptr (GBytes) m = NULL;

    p2p_sim_network_run_until (net, start + (guint64) k * S / RATE);
    drain (&rx);
    memset (buf, k & 0xff, sizeof buf);
    buf[MSG_SIZE - 1] = (k >> 8) & 0xff;
    m = g_bytes_new (buf, sizeof buf);
    if (!p2p_connection_send (cr.conn, m, NULL, &error)) {
      g_printerr ("bench-sim: send %u failed: %s\n", k, error->message);
      return 1;
    }
  }
  p2p_sim_network_run_until_cond (net, drain, &rx, 60 * S);
  end = p2p_sim_network_now (net);
  t1 = g_get_monotonic_time ();
  hash = p2p_sim_network_get_trace_hash (net);

  wall = (t1 - t0) / 1e6;
  simulated = end / 1e9;
  g_print ("sim seed=%" G_GUINT64_FORMAT " trace_hash=%s simulated_s=%.3f wall_s=%.3f "
      "speedup=%.0f messages=%u\n", seed, hash, simulated, wall, simulated / MAX (wall, 1e-6),
      rx.received);

  p2p_connection_close (cr.conn, "done");
  g_clear_object (&cr.conn);
  g_clear_object (&rx.server);
  p2p_listener_close (rx.listener);
  g_clear_object (&rx.listener);
  g_clear_object (&client);
  g_clear_object (&server);
  p2p_sim_network_run_until_idle (net, 120 * S);
  g_main_context_release (g_main_context_default ());

  if (rx.error || rx.corrupt || rx.received != rx.expected) {
    g_printerr ("bench-sim: received %u of %u messages%s%s%s\n", rx.received, rx.expected,
        rx.corrupt ? ", corrupted" : "", rx.error ? ": " : "", rx.error ? rx.error->message : "");
    return 1;
  }
  return 0;
}
