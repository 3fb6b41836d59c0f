/* bench-latency.c: one-way latency of live buffers, sender and receiver
 * pipelines in one process (one clock).
 *
 *   bench-latency [--transport p2p|udp] [--seconds N] [--timeout SEC]
 *                 [--turn-server turn://U:P@IP:PORT]
 *
 * Sender:   audiotestsrc is-live=true (10 ms buffers of 44.1 kHz stereo S16,
 *           1764 bytes) ! p2psink delivery=datagram   (or ! udpsink)
 * Receiver: p2psrc delivery=datagram peer=ID@127.0.0.1:PORT ! fakesink
 *           (or udpsrc ! fakesink)
 *
 * A pad probe on the sending sink's sink pad writes CLOCK_MONOTONIC (ns) and
 * a sequence number into the first bytes of each buffer's payload, the
 * moment the buffer reaches the sink; a probe on the receiving fakesink's
 * sink pad reads them back when the buffer arrives there. The difference is
 * the one-way latency of the transport, with the sending and receiving
 * elements themselves in it (p2psrc's jitter buffer passes in-order
 * buffers at once). Buffers of the first 0.5 s after the first arrival are
 * not counted (connection warm-up). Prints one line:
 *
 *   transport=p2p median_ms=… p99_ms=… max_ms=… samples=… path=…
 *
 * With --turn-server (p2p only) the receiver dials through that TURN relay
 * with relay-only policy (P2P_RELAY_POLICY=relay-only must be set by the
 * caller for the policy).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/gst.h>
#include <gio/gio.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAGIC 0x50324c54u       /* "P2LT" */
#define WARMUP_NS (500 * G_GINT64_CONSTANT (1000000))

typedef struct {
  GMainLoop *loop;
  GMutex lock;
  GArray *lat_ns;               /* gint64 */
  guint32 seq;
  gint64 first_arrival;
  int status;
} Bench;

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static GstPadProbeReturn
stamp_cb (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Bench *b = data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstMapInfo map;
  guint32 magic = GUINT32_TO_BE (MAGIC), seq;
  gint64 t;

  if (gst_buffer_get_size (buf) < 16)
    return GST_PAD_PROBE_OK;
  buf = gst_buffer_make_writable (buf);
  GST_PAD_PROBE_INFO_DATA (info) = buf;
  if (!gst_buffer_map (buf, &map, GST_MAP_WRITE))
    return GST_PAD_PROBE_OK;
  g_mutex_lock (&b->lock);
  seq = b->seq++;
  seq = GUINT32_TO_BE (seq); /* the macro may evaluate its argument twice */
  g_mutex_unlock (&b->lock);
  t = GINT64_TO_BE (now_ns ());
  memcpy (map.data, &magic, 4);
  memcpy (map.data + 4, &seq, 4);
  memcpy (map.data + 8, &t, 8);
  gst_buffer_unmap (buf, &map);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
arrive_cb (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Bench *b = data;
  gint64 t = now_ns (), sent_at;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  guint8 head[16];
  guint32 magic;

  if (gst_buffer_extract (buf, 0, head, 16) != 16)
    return GST_PAD_PROBE_OK;
  memcpy (&magic, head, 4);
  if (GUINT32_FROM_BE (magic) != MAGIC)
    return GST_PAD_PROBE_OK;
  memcpy (&sent_at, head + 8, 8);
  sent_at = GINT64_FROM_BE (sent_at);
  g_mutex_lock (&b->lock);
  if (b->first_arrival == 0)
    b->first_arrival = t;
  if (t - b->first_arrival >= WARMUP_NS) {
    gint64 lat = t - sent_at;

    g_array_append_val (b->lat_ns, lat);
  }
  g_mutex_unlock (&b->lock);
  return GST_PAD_PROBE_OK;
}

static gboolean
bus_cb (GstBus *bus, GstMessage *msg, gpointer data)
{
  Bench *b = data;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) err = NULL;
    g_autofree char *dbg = NULL;

    gst_message_parse_error (msg, &err, &dbg);
    g_printerr ("bench-latency: error from %s: %s (%s)\n",
        GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), err->message,
        dbg ? dbg : "no details");
    b->status = 1;
    g_main_loop_quit (b->loop);
  }
  return TRUE;
}

static gboolean
quit_cb (gpointer data)
{
  Bench *b = data;

  g_main_loop_quit (b->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
timeout_cb (gpointer data)
{
  Bench *b = data;

  g_printerr ("bench-latency: timed out\n");
  b->status = 3;
  g_main_loop_quit (b->loop);
  return G_SOURCE_REMOVE;
}

static guint16
free_udp_port (GError **error)
{
  g_autoptr (GSocket) sock = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;

  sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
      G_SOCKET_PROTOCOL_UDP, error);
  if (sock == NULL || !g_socket_bind (sock, any, FALSE, error))
    return 0;
  bound = g_socket_get_local_address (sock, error);
  if (bound == NULL)
    return 0;
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static gint
cmp_i64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

static double
pct_ms (GArray *sorted, double p)
{
  gsize rank;

  if (sorted->len == 0)
    return -1;
  rank = (gsize) (p / 100.0 * sorted->len + 0.999999);
  rank = CLAMP (rank, 1, sorted->len);
  return g_array_index (sorted, gint64, rank - 1) / 1e6;
}

static GstElement *
launch (const char *desc, Bench *b)
{
  g_autoptr (GError) err = NULL;
  GstElement *p = gst_parse_launch (desc, &err);
  g_autoptr (GstBus) bus = NULL;

  /* a missing element is a recoverable parse error: a partial pipeline
   * and @err set */
  if (p == NULL || err != NULL) {
    g_printerr ("bench-latency: cannot make \"%s\": %s\n", desc,
        err ? err->message : "no pipeline");
    g_clear_object (&p);
    return NULL;
  }
  bus = gst_element_get_bus (p);
  gst_bus_add_watch (bus, bus_cb, b);
  return p;
}

static gboolean
add_probe (GstElement *pipeline, const char *name, GstPadProbeCallback cb,
    Bench *b)
{
  g_autoptr (GstElement) el = gst_bin_get_by_name (GST_BIN (pipeline), name);
  g_autoptr (GstPad) pad = el ? gst_element_get_static_pad (el, "sink") : NULL;

  if (pad == NULL)
    return FALSE;
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, cb, b, NULL);
  return TRUE;
}

static void
stop (GstElement *p)
{
  if (p == NULL)
    return;
  gst_element_set_state (p, GST_STATE_NULL);
  {
    g_autoptr (GstBus) bus = gst_element_get_bus (p);
    gst_bus_remove_watch (bus);
  }
  gst_object_unref (p);
}

int
main (int argc, char **argv)
{
  Bench b = { 0, };
  g_autofree char *transport = NULL;
  g_autofree char *turn = NULL;
  int seconds = 10, timeout_s = 60;
  GOptionEntry entries[] = {
    {"transport", 0, 0, G_OPTION_ARG_STRING, &transport, "p2p or udp", "T"},
    {"seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "Seconds to measure", "N"},
    {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s, "Give up after SEC",
        "SEC"},
    {"turn-server", 0, 0, G_OPTION_ARG_STRING, &turn,
        "p2p: the receiver's TURN relay", "URL"},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("");
  g_autoptr (GError) err = NULL;
  g_autofree char *send_desc = NULL;
  g_autofree char *recv_desc = NULL;
  g_autofree char *path = NULL;
  GstElement *sender = NULL, *receiver = NULL;
  gboolean p2p;
  guint16 port;
  const char *caps = "audio/x-raw,format=S16LE,rate=44100,channels=2,"
      "layout=interleaved";

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("bench-latency: %s\n", err->message);
    return 2;
  }
  if (transport == NULL)
    transport = g_strdup ("p2p");
  p2p = g_str_equal (transport, "p2p");
  if ((!p2p && !g_str_equal (transport, "udp")) || seconds < 1
      || timeout_s < seconds + 1) {
    g_printerr ("bench-latency: --transport is p2p or udp, --seconds >= 1, "
        "--timeout > --seconds\n");
    return 2;
  }
  port = free_udp_port (&err);
  if (port == 0) {
    g_printerr ("bench-latency: no free UDP port: %s\n", err->message);
    return 1;
  }

  g_mutex_init (&b.lock);
  b.lat_ns = g_array_new (FALSE, FALSE, sizeof (gint64));
  b.loop = g_main_loop_new (NULL, FALSE);

  if (p2p) {
    send_desc = g_strdup_printf ("audiotestsrc is-live=true "
        "samplesperbuffer=441 wave=silence ! %s ! p2psink name=sink "
        "transport=quic delivery=datagram wait-for-peer=false port=%u", caps,
        port);
  } else {
    send_desc = g_strdup_printf ("audiotestsrc is-live=true "
        "samplesperbuffer=441 wave=silence ! %s ! udpsink name=sink "
        "host=127.0.0.1 port=%u sync=false async=false", caps, port);
    recv_desc = g_strdup_printf ("udpsrc address=127.0.0.1 port=%u "
        "caps=\"%s\" ! fakesink name=out sync=false async=false", port, caps);
  }
  sender = launch (send_desc, &b);
  if (sender == NULL || !add_probe (sender, "sink", stamp_cb, &b)) {
    b.status = 2;
    goto out;
  }

  if (p2p) {
    g_autoptr (GstElement) sink = NULL;
    g_autofree char *id = NULL;

    /* the listener first; its (ephemeral) peer ID exists from READY */
    if (gst_element_set_state (sender, GST_STATE_PLAYING) ==
        GST_STATE_CHANGE_FAILURE) {
      g_printerr ("bench-latency: the sender did not start\n");
      b.status = 1;
      goto out;
    }
    sink = gst_bin_get_by_name (GST_BIN (sender), "sink");
    g_object_get (sink, "peer-id", &id, NULL);
    recv_desc = g_strdup_printf ("p2psrc name=src transport=quic "
        "delivery=datagram peer=%s@127.0.0.1:%u%s%s ! fakesink name=out "
        "sync=false async=false", id, port, turn ? " turn-server=" : "",
        turn ? turn : "");
  }
  receiver = launch (recv_desc, &b);
  if (receiver == NULL || !add_probe (receiver, "out", arrive_cb, &b)) {
    b.status = 2;
    goto out;
  }
  if (gst_element_set_state (receiver, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    g_printerr ("bench-latency: the receiver did not start\n");
    b.status = 1;
    goto out;
  }
  if (!p2p && gst_element_set_state (sender, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    g_printerr ("bench-latency: the sender did not start\n");
    b.status = 1;
    goto out;
  }

  /* measure "seconds" after the warm-up; bounded by the timeout */
  g_timeout_add (seconds * 1000 + WARMUP_NS / 1000000 + 1000, quit_cb, &b);
  g_timeout_add_seconds (timeout_s, timeout_cb, &b);
  g_main_loop_run (b.loop);

  if (p2p) {
    g_autoptr (GstElement) src = gst_bin_get_by_name (GST_BIN (receiver),
        "src");
    GstStructure *stats = NULL;

    g_object_get (src, "stats", &stats, NULL);
    if (stats != NULL) {
      const char *p = gst_structure_get_string (stats, "path");

      path = g_strdup (p);
      gst_structure_free (stats);
    }
  }

out:
  g_mutex_lock (&b.lock);
  g_array_sort (b.lat_ns, cmp_i64);
  printf ("transport=%s median_ms=%.3f p99_ms=%.3f max_ms=%.3f samples=%u "
      "path=%s\n", transport, pct_ms (b.lat_ns, 50), pct_ms (b.lat_ns, 99),
      pct_ms (b.lat_ns, 100), b.lat_ns->len,
      path ? path : (p2p ? "unknown" : "udp"));
  g_mutex_unlock (&b.lock);
  fflush (stdout);
  if (b.lat_ns->len == 0 && b.status == 0) {
    g_printerr ("bench-latency: no buffer arrived\n");
    b.status = 1;
  }
  stop (receiver);
  stop (sender);
  g_array_unref (b.lat_ns);
  g_main_loop_unref (b.loop);
  g_mutex_clear (&b.lock);
  return b.status;
}
