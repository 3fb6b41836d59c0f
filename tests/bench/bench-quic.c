/* bench-quic.c: QUIC bulk throughput over UDP loopback between two
 * processes, against a TCP loopback baseline moving the same bytes.
 *
 *   bench-quic run [BYTES]          both benchmarks, prints one line:
 *       quic quic_mbps=… tcp_mbps=… ratio=… lost_bytes=…
 *   bench-quic listen BYTES [IP]    QUIC receiver on IP (default 127.0.0.1):
 *                                   prints its ticket, then "received BYTES SHA256"
 *   bench-quic send TICKET BYTES    QUIC sender: prints "sent BYTES SHA256 SECONDS"
 *   bench-quic tcp BYTES            TCP sender/receiver pair (fork), prints
 *                                   "tcp BYTES SHA256-match SECONDS"
 *   bench-quic tcp-recv IP BYTES    TCP receiver on IP: prints "port N", then
 *                                   "tcp BYTES SHA256 SECONDS" (two machines or
 *                                   namespaces: tests/bench/link.sh)
 *   bench-quic tcp-send IP:PORT BYTES   its sender
 *
 * Payload: 64 KiB messages (p2p_connection_send) cut from a fixed
 * pseudo-random pattern, each stamped with its sequence number, so
 * reordering, loss or duplication changes the receiver's SHA-256 (gnutls,
 * hardware accelerated, the same for both transports). Time runs from the
 * first byte sent to the receiver's acknowledgement of the last one.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p2p/p2p.h"

#define CHUNK (64 * 1024)
#define PATTERN (1024 * 1024 + CHUNK)
#define DEFAULT_BYTES (256 * 1024 * 1024)

static guint8 *pattern;

static void
make_pattern (void)
{
  guint32 x = 0x2545F491;

  pattern = g_malloc (PATTERN);
  for (gsize i = 0; i < PATTERN; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    pattern[i] = (guint8) x;
  }
}

/* Message @seq of a stream: a pattern slice with the sequence number in front. */
static void
fill_chunk (guint8 *buf, guint64 seq, gsize len)
{
  memcpy (buf, pattern + (seq * 4099) % (PATTERN - CHUNK), len);
  memcpy (buf, &seq, MIN (len, sizeof seq));
}

static char *
hash_hex (gnutls_hash_hd_t h)
{
  guint8 d[32];
  GString *s = g_string_new (NULL);

  gnutls_hash_deinit (h, d);
  for (guint i = 0; i < 32; i++)
    g_string_append_printf (s, "%02x", d[i]);
  return g_string_free (s, FALSE);
}

/* The environment's configuration (P2P_CONGESTION_CONTROL, ...), with
 * the benchmark's own timeouts and ports. */
static P2pConfig *
bench_config (void)
{
  g_autoptr (GError) error = NULL;
  P2pConfig *cfg = p2p_config_new_from_env (&error);

  if (cfg == NULL)
    g_error ("bench-quic: %s", error->message);

  cfg->idle_timeout_ms = 30000;
  cfg->listen_port = 0;
  return cfg;
}

static int
cmd_listen (guint64 total, const char *ip)
{
  g_autoptr (P2pConfig) cfg = bench_config ();
  g_autoptr (P2pQuicProvider) prov = p2p_quic_provider_new (NULL, cfg);
  g_autoptr (GError) error = NULL;
  g_autofree char *bind = g_strdup_printf ("%s:0", ip);
  g_autoptr (P2pListener) l = p2p_provider_listen (P2P_PROVIDER (prov), bind, &error);
  g_autoptr (P2pConnection) conn = NULL;
  g_autofree char *ticket = NULL;
  g_autofree char *hex = NULL;
  gnutls_hash_hd_t h;
  guint64 got = 0;

  if (l == NULL) {
    g_printerr ("bench-quic listen: %s\n", error->message);
    return 1;
  }
  ticket = p2p_listener_get_ticket (l);
  g_print ("%s\n", ticket);
  fflush (stdout);
  conn = p2p_listener_accept (l, NULL, &error);
  if (conn == NULL) {
    g_printerr ("bench-quic listen: accept: %s\n", error->message);
    return 1;
  }
  gnutls_hash_init (&h, GNUTLS_DIG_SHA256);
  while (got < total) {
    g_autoptr (GBytes) msg = p2p_connection_receive (conn, NULL, &error);
    gsize len;
    const guint8 *data;

    if (msg == NULL) {
      g_printerr ("bench-quic listen: receive after %" G_GUINT64_FORMAT " bytes: %s\n", got,
          error->message);
      break;
    }
    data = g_bytes_get_data (msg, &len);
    gnutls_hash (h, data, len);
    got += len;
  }
  hex = hash_hex (h);
  {
    g_autoptr (GBytes) ack = g_bytes_new (hex, strlen (hex));

    p2p_connection_send (conn, ack, NULL, NULL);
  }
  /* Wait for the sender to close after reading the acknowledgement. */
  {
    g_autoptr (GBytes) end = p2p_connection_receive (conn, NULL, NULL);
  }
  g_print ("received %" G_GUINT64_FORMAT " %s\n", got, hex);
  return got == total ? 0 : 1;
}

static int
cmd_send (const char *ticket, guint64 total)
{
  g_autoptr (P2pConfig) cfg = bench_config ();
  g_autoptr (P2pQuicProvider) prov = p2p_quic_provider_new (NULL, cfg);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) conn = p2p_provider_connect (P2P_PROVIDER (prov), ticket, NULL, &error);
  g_autoptr (GBytes) ack = NULL;
  g_autofree char *hex = NULL;
  gnutls_hash_hd_t h;
  gint64 t0;
  guint64 seq = 0;
  P2pConnectionStats st;

  if (conn == NULL) {
    g_printerr ("bench-quic send: connect: %s\n", error->message);
    return 1;
  }
  /* The expected digest, computed before the clock starts (the TCP sender
   * does not hash either). */
  gnutls_hash_init (&h, GNUTLS_DIG_SHA256);
  {
    guint8 *buf = g_malloc (CHUNK);

    for (guint64 off = 0; off < total; off += CHUNK, seq++) {
      gsize len = MIN (CHUNK, total - off);

      fill_chunk (buf, seq, len);
      gnutls_hash (h, buf, len);
    }
    g_free (buf);
  }
  hex = hash_hex (h);
  seq = 0;
  t0 = g_get_monotonic_time ();
  for (guint64 off = 0; off < total; off += CHUNK, seq++) {
    gsize len = MIN (CHUNK, total - off);
    guint8 *buf = g_malloc (len);
    g_autoptr (GBytes) msg = NULL;

    fill_chunk (buf, seq, len);
    msg = g_bytes_new_take (buf, len);
    if (!p2p_connection_send (conn, msg, NULL, &error)) {
      g_printerr ("bench-quic send: %s\n", error->message);
      return 1;
    }
  }
  ack = p2p_connection_receive (conn, NULL, &error);
  if (ack == NULL) {
    g_printerr ("bench-quic send: no acknowledgement: %s\n", error->message);
    return 1;
  }
  p2p_connection_get_stats (conn, &st);
  g_print ("sent %" G_GUINT64_FORMAT " %s %.6f %s lost=%" G_GUINT64_FORMAT " pkts=%"
      G_GUINT64_FORMAT " rtt_us=%" G_GUINT64_FORMAT "\n", total, hex,
      (g_get_monotonic_time () - t0) / 1e6,
      g_bytes_get_size (ack) == 64 && memcmp (g_bytes_get_data (ack, NULL), hex, 64) == 0
      ? "match" : "MISMATCH", st.packets_lost, st.packets_sent, st.rtt_us);
  p2p_connection_close (conn, "done");
  {
    /* Let the close reach the peer before the provider goes away. */
    g_autoptr (GBytes) end = p2p_connection_receive (conn, NULL, NULL);
  }
  return 0;
}

/* ---- TCP baseline: the same bytes, same chunking, two processes ---- */

static int
cmd_tcp (guint64 total)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketListener) lst = g_socket_listener_new ();
  guint16 port = g_socket_listener_add_any_inet_port (lst, NULL, &error);
  pid_t pid;

  if (port == 0) {
    g_printerr ("bench-quic tcp: %s\n", error->message);
    return 1;
  }
  pid = fork ();
  if (pid == 0) {
    /* child: sender */
    g_autoptr (GSocketClient) client = g_socket_client_new ();
    g_autoptr (GSocketConnection) c = g_socket_client_connect_to_host (client, "127.0.0.1",
        port, NULL, &error);
    GOutputStream *out;
    GInputStream *in;
    guint8 *buf = g_malloc (CHUNK);
    char ack[64];
    gsize n;
    guint64 seq = 0;

    if (c == NULL)
      _exit (2);
    out = g_io_stream_get_output_stream (G_IO_STREAM (c));
    in = g_io_stream_get_input_stream (G_IO_STREAM (c));
    for (guint64 off = 0; off < total; off += CHUNK, seq++) {
      gsize len = MIN (CHUNK, total - off);

      fill_chunk (buf, seq, len);
      if (!g_output_stream_write_all (out, buf, len, NULL, NULL, NULL))
        _exit (3);
    }
    if (!g_input_stream_read_all (in, ack, sizeof ack, &n, NULL, NULL) || n != sizeof ack)
      _exit (4);
    _exit (0);
  } else {
    g_autoptr (GSocketConnection) c = g_socket_listener_accept (lst, NULL, NULL, &error);
    GInputStream *in;
    guint8 *buf = g_malloc (CHUNK);
    gnutls_hash_hd_t h;
    guint64 got = 0;
    gint64 t0;
    g_autofree char *hex = NULL;
    int status = 0;

    if (c == NULL) {
      g_printerr ("bench-quic tcp: accept: %s\n", error->message);
      return 1;
    }
    in = g_io_stream_get_input_stream (G_IO_STREAM (c));
    gnutls_hash_init (&h, GNUTLS_DIG_SHA256);
    t0 = g_get_monotonic_time ();
    while (got < total) {
      gssize r = g_input_stream_read (in, buf, CHUNK, NULL, &error);

      if (r <= 0)
        break;
      gnutls_hash (h, buf, r);
      got += r;
    }
    hex = hash_hex (h);
    g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (c)), hex, 64, NULL,
        NULL, NULL);
    waitpid (pid, &status, 0);
    g_print ("tcp %" G_GUINT64_FORMAT " %s %.6f\n", got, hex, (g_get_monotonic_time () - t0) / 1e6);
    g_free (buf);
    return got == total && WIFEXITED (status) && WEXITSTATUS (status) == 0 ? 0 : 1;
  }
}

/* $BENCH_TCP_CC (e.g. "cubic"): the congestion control of the TCP
 * baseline's sockets instead of the kernel's default (TCP_CONGESTION). */
static void
set_tcp_cc (GSocket *sock)
{
  const char *cc = g_getenv ("BENCH_TCP_CC");

  if (cc && *cc && setsockopt (g_socket_get_fd (sock), IPPROTO_TCP, TCP_CONGESTION, cc,
          strlen (cc)) != 0)
    g_printerr ("bench-quic: TCP_CONGESTION %s: %s\n", cc, g_strerror (errno));
}

/* The TCP baseline across two hosts (namespaces): the receiver hashes and
 * answers the digest, timed from its first byte to its last. */
static int
cmd_tcp_recv (const char *ip, guint64 total)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketListener) lst = g_socket_listener_new ();
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (ip);
  g_autoptr (GSocketAddress) sa = NULL, bound = NULL;
  g_autoptr (GSocketConnection) c = NULL;
  guint8 *buf = g_malloc (CHUNK);
  gnutls_hash_hd_t h;
  guint64 got = 0;
  gint64 t0 = 0;
  g_autofree char *hex = NULL;

  if (ia == NULL) {
    g_printerr ("bench-quic tcp-recv: not an IP address: %s\n", ip);
    return 2;
  }
  sa = g_inet_socket_address_new (ia, 0);
  if (!g_socket_listener_add_address (lst, sa, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
          NULL, &bound, &error)) {
    g_printerr ("bench-quic tcp-recv: %s\n", error->message);
    return 1;
  }
  g_print ("port %u\n", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  fflush (stdout);
  c = g_socket_listener_accept (lst, NULL, NULL, &error);
  if (c == NULL) {
    g_printerr ("bench-quic tcp-recv: accept: %s\n", error->message);
    return 1;
  }
  set_tcp_cc (g_socket_connection_get_socket (c));
  gnutls_hash_init (&h, GNUTLS_DIG_SHA256);
  while (got < total) {
    gssize r = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (c)), buf, CHUNK,
        NULL, &error);

    if (r <= 0)
      break;
    if (got == 0)
      t0 = g_get_monotonic_time ();
    gnutls_hash (h, buf, r);
    got += r;
  }
  hex = hash_hex (h);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (c)), hex, 64, NULL,
      NULL, NULL);
  g_print ("tcp %" G_GUINT64_FORMAT " %s %.6f\n", got, hex, (g_get_monotonic_time () - t0) / 1e6);
  g_free (buf);
  return got == total ? 0 : 1;
}

static int
cmd_tcp_send (const char *hostport, guint64 total)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) c = g_socket_client_connect_to_host (client, hostport, 0, NULL,
      &error);
  guint8 *buf;
  char ack[64];
  gsize n;
  guint64 seq = 0;

  if (c == NULL) {
    g_printerr ("bench-quic tcp-send: %s\n", error->message);
    return 1;
  }
  set_tcp_cc (g_socket_connection_get_socket (c));
  buf = g_malloc (CHUNK);
  for (guint64 off = 0; off < total; off += CHUNK, seq++) {
    gsize len = MIN (CHUNK, total - off);

    fill_chunk (buf, seq, len);
    if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (c)), buf, len,
            NULL, NULL, &error)) {
      g_printerr ("bench-quic tcp-send: %s\n", error->message);
      return 1;
    }
  }
  g_free (buf);
  if (!g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (c)), ack, sizeof ack,
          &n, NULL, NULL) || n != sizeof ack)
    return 1;
  return 0;
}

/* ---- orchestration ---- */

static char *
self_path (void)
{
  return g_file_read_link ("/proc/self/exe", NULL);
}

static int
cmd_run (guint64 total)
{
  g_autofree char *exe = self_path ();
  g_autofree char *bytes = g_strdup_printf ("%" G_GUINT64_FORMAT, total);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) lp = NULL, sp = NULL, tp = NULL;
  g_autoptr (GDataInputStream) lin = NULL;
  g_autofree char *ticket = NULL;
  g_autofree char *lout = NULL, *sout = NULL, *tout = NULL;
  g_auto (GStrv) lw = NULL, sw = NULL, tw = NULL;
  double qs, ts, quic_mbps, tcp_mbps;
  guint64 lost;

  lp = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, exe, "listen", bytes, NULL);
  if (lp == NULL)
    goto fail;
  lin = g_data_input_stream_new (g_subprocess_get_stdout_pipe (lp));
  ticket = g_data_input_stream_read_line (lin, NULL, NULL, &error);
  if (ticket == NULL)
    goto fail;
  sp = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, exe, "send", ticket, bytes, NULL);
  if (sp == NULL || !g_subprocess_communicate_utf8 (sp, NULL, NULL, &sout, NULL, &error))
    goto fail;
  lout = g_data_input_stream_read_line (lin, NULL, NULL, &error);
  g_subprocess_wait (lp, NULL, NULL);
  tp = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, exe, "tcp", bytes, NULL);
  if (tp == NULL || !g_subprocess_communicate_utf8 (tp, NULL, NULL, &tout, NULL, &error))
    goto fail;
  g_printerr ("# %s# %s\n# %s", sout ? sout : "(no sender output)\n",
      lout ? lout : "(no receiver output)", tout ? tout : "(no tcp output)\n");
  if (sout == NULL || lout == NULL || tout == NULL)
    goto fail;
  sw = g_strsplit (g_strstrip (sout), " ", -1);
  lw = g_strsplit (g_strstrip (lout), " ", -1);
  tw = g_strsplit (g_strstrip (tout), " ", -1);
  if (g_strv_length (sw) < 4 || g_strv_length (lw) < 3 || g_strv_length (tw) < 4)
    goto fail;
  /* lost = sent - received intact (everything, if the hashes differ) */
  lost = total - MIN (total, g_ascii_strtoull (lw[1], NULL, 10));
  if (g_strcmp0 (sw[2], lw[2]) != 0)
    lost = total;
  qs = g_ascii_strtod (sw[3], NULL);
  ts = g_ascii_strtod (tw[3], NULL);
  quic_mbps = qs > 0 ? total * 8.0 / qs / 1e6 : 0;
  tcp_mbps = ts > 0 ? total * 8.0 / ts / 1e6 : 0;
  if (g_strcmp0 (tw[2], sw[2]) != 0)
    g_printerr ("# warning: TCP and QUIC payload hashes differ\n");
  g_print ("quic quic_mbps=%.0f tcp_mbps=%.0f ratio=%.2f lost_bytes=%" G_GUINT64_FORMAT "\n",
      quic_mbps, tcp_mbps, tcp_mbps > 0 ? quic_mbps / tcp_mbps : 0, lost);
  return lost == 0 ? 0 : 1;

fail:
  g_printerr ("bench-quic run: %s\n", error ? error->message : "a child failed");
  if (lp)
    g_subprocess_force_exit (lp);
  g_print ("quic quic_mbps=0 tcp_mbps=0 ratio=0 lost_bytes=%" G_GUINT64_FORMAT "\n", total);
  return 1;
}

int
main (int argc, char **argv)
{
  guint64 total = DEFAULT_BYTES;

  make_pattern ();
  if (argc >= 2 && strcmp (argv[1], "run") == 0) {
    if (argc >= 3)
      total = g_ascii_strtoull (argv[2], NULL, 10);
    return cmd_run (total);
  }
  if ((argc == 3 || argc == 4) && strcmp (argv[1], "listen") == 0)
    return cmd_listen (g_ascii_strtoull (argv[2], NULL, 10), argc == 4 ? argv[3] : "127.0.0.1");
  if (argc == 4 && strcmp (argv[1], "tcp-recv") == 0)
    return cmd_tcp_recv (argv[2], g_ascii_strtoull (argv[3], NULL, 10));
  if (argc == 4 && strcmp (argv[1], "tcp-send") == 0)
    return cmd_tcp_send (argv[2], g_ascii_strtoull (argv[3], NULL, 10));
  if (argc == 4 && strcmp (argv[1], "send") == 0)
    return cmd_send (argv[2], g_ascii_strtoull (argv[3], NULL, 10));
  if (argc == 3 && strcmp (argv[1], "tcp") == 0)
    return cmd_tcp (g_ascii_strtoull (argv[2], NULL, 10));
  g_printerr ("usage: %s run [BYTES] | listen BYTES [IP] | send TICKET BYTES | tcp BYTES"
      " | tcp-recv IP BYTES | tcp-send IP:PORT BYTES\n", argv[0]);
  return 2;
}
