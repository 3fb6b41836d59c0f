/* bench-pipeline.c: a gst-launch-1.0 that measures, for the benchmark scripts.
 *
 * Runs one pipeline description (parsed with gst_parse_launch(), exactly as
 * gst-launch-1.0 does) and prints one line of key=value figures when it ends:
 *
 *   start_ns=…  play_ns=…  first_ns=…  last_ns=…  end_ns=…  bytes=…  buffers=…
 *   exit=eos|first|idle|timeout|error|signal
 *
 * All times are CLOCK_MONOTONIC nanoseconds (one clock for every process of
 * the machine, so two processes' figures can be compared). start_ns is taken
 * first thing in main(), before gst_init(). first_ns/last_ns are the times
 * the first and the last buffer reached the sink pad of the element named by
 * --probe (normally the final filesink or fakesink), bytes/buffers what went
 * through it. play_ns is when the pipeline was built (plugins loaded) and
set to PLAYING; end_ns is when the run ended (EOS, error, idle, timeout).
 *
 *   --probe NAME        element whose sink pad is measured (required)
 *   --timeout SEC       give up after SEC seconds (exit status 3)
 *   --exit-on-first     stop at the first buffer (connection setup benchmark)
 *   --idle-exit MS      stop when no buffer came for MS ms after the first one
 *                       (for senders that do not carry EOS, e.g. SRT)
 *   --print NAME.PROP   print NAME.PROP=value once the pipeline is starting
 *                       (e.g. a p2psink's peer-id or ticket), then "ready"
 *   --print-end NAME.PROP  print NAME.PROP=value when the run ends, before
 *                       the figures (e.g. a p2psink's n-peers)
 *
 * Exit status: 0 on EOS, first buffer or idle, 1 on a pipeline error (the
 * message goes to stderr), 2 on bad usage, 3 on timeout. Only after EOS is
 * the pipeline shut down; otherwise the process leaves right after printing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/gst.h>
#include <glib-unix.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  GMainLoop *loop;
  GstElement *pipeline;
  gboolean exit_on_first;
  guint idle_ms;
  const char *result;
  int status;
  /* written by the streaming thread, read after the loop stopped */
  gint64 first_ns;
  gint64 last_ns;
  guint64 bytes;
  guint64 buffers;
  gint first_seen;              /* atomic */
} Bench;

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static gboolean
quit_idle (gpointer data)
{
  Bench *b = data;

  if (b->result == NULL)
    b->result = "first";
  g_main_loop_quit (b->loop);
  return G_SOURCE_REMOVE;
}

static void
count_buffer (Bench *b, GstBuffer *buf, gint64 t)
{
  if (b->buffers == 0)
    b->first_ns = t;
  b->last_ns = t;
  b->buffers++;
  b->bytes += gst_buffer_get_size (buf);
}

static gboolean
count_list_item (GstBuffer **buf, guint idx, gpointer data)
{
  Bench *b = data;

  count_buffer (b, *buf, b->last_ns);
  return TRUE;
}

static GstPadProbeReturn
probe_cb (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Bench *b = data;
  gint64 t = now_ns ();

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    count_buffer (b, GST_PAD_PROBE_INFO_BUFFER (info), t);
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    if (b->buffers == 0)
      b->first_ns = t;
    b->last_ns = t;
    gst_buffer_list_foreach (GST_PAD_PROBE_INFO_BUFFER_LIST (info),
        count_list_item, b);
  }
  if (b->exit_on_first && g_atomic_int_compare_and_exchange (&b->first_seen,
          0, 1))
    g_idle_add (quit_idle, b);
  return GST_PAD_PROBE_OK;
}

static gboolean
idle_check (gpointer data)
{
  Bench *b = data;
  gint64 last = b->last_ns;     /* a racy read is fine: a heuristic */

  if (b->buffers > 0 && now_ns () - last > (gint64) b->idle_ms * 1000000) {
    b->result = "idle";
    g_main_loop_quit (b->loop);
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
timeout_cb (gpointer data)
{
  Bench *b = data;

  g_printerr ("bench-pipeline: timed out\n");
  b->result = "timeout";
  b->status = 3;
  g_main_loop_quit (b->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
signal_cb (gpointer data)
{
  Bench *b = data;

  b->result = "signal";
  g_main_loop_quit (b->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
bus_cb (GstBus *bus, GstMessage *msg, gpointer data)
{
  Bench *b = data;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_EOS:
      b->result = "eos";
      g_main_loop_quit (b->loop);
      break;
    case GST_MESSAGE_ERROR:{
      g_autoptr (GError) err = NULL;
      g_autofree char *dbg = NULL;

      gst_message_parse_error (msg, &err, &dbg);
      g_printerr ("bench-pipeline: error from %s: %s (%s)\n",
          GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), err->message,
          dbg ? dbg : "no details");
      b->result = "error";
      b->status = 1;
      g_main_loop_quit (b->loop);
      break;
    }
    default:
      break;
  }
  return TRUE;
}

static gboolean
print_property (GstElement *pipeline, const char *spec)
{
  g_auto (GStrv) parts = g_strsplit (spec, ".", 2);
  g_autoptr (GstElement) el = NULL;
  GParamSpec *pspec;
  g_auto (GValue) v = G_VALUE_INIT;
  g_autofree char *s = NULL;

  if (g_strv_length (parts) != 2) {
    g_printerr ("bench-pipeline: --print wants NAME.PROPERTY, got \"%s\"\n",
        spec);
    return FALSE;
  }
  el = gst_bin_get_by_name (GST_BIN (pipeline), parts[0]);
  if (el == NULL) {
    g_printerr ("bench-pipeline: no element named \"%s\"\n", parts[0]);
    return FALSE;
  }
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (el), parts[1]);
  if (pspec == NULL) {
    g_printerr ("bench-pipeline: %s has no property \"%s\"\n", parts[0],
        parts[1]);
    return FALSE;
  }
  g_value_init (&v, pspec->value_type);
  g_object_get_property (G_OBJECT (el), parts[1], &v);
  s = G_VALUE_HOLDS_STRING (&v) ? g_value_dup_string (&v)
      : gst_value_serialize (&v);
  printf ("%s=%s\n", spec, s ? s : "");
  return TRUE;
}

int
main (int argc, char **argv)
{
  gint64 start_ns = now_ns (), play_ns = 0;
  Bench b = { 0, };
  g_autofree char *probe_name = NULL;
  g_autofree char *print_spec = NULL;
  g_autofree char *print_end = NULL;
  int timeout_s = 0;
  g_autoptr (GError) err = NULL;
  g_autoptr (GOptionContext) ctx = NULL;
  g_autoptr (GstElement) probed = NULL;
  g_autoptr (GstPad) pad = NULL;
  g_autoptr (GstBus) bus = NULL;
  GOptionEntry entries[] = {
    {"probe", 0, 0, G_OPTION_ARG_STRING, &probe_name,
        "Element whose sink pad is measured", "NAME"},
    {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s,
        "Give up after SEC seconds", "SEC"},
    {"exit-on-first", 0, 0, G_OPTION_ARG_NONE, &b.exit_on_first,
        "Stop at the first buffer", NULL},
    {"idle-exit", 0, 0, G_OPTION_ARG_INT, &b.idle_ms,
        "Stop when no buffer came for MS ms after the first", "MS"},
    {"print", 0, 0, G_OPTION_ARG_STRING, &print_spec,
        "Print NAME.PROP once started, then \"ready\"", "NAME.PROP"},
    {"print-end", 0, 0, G_OPTION_ARG_STRING, &print_end,
        "Print NAME.PROP when the run ends", "NAME.PROP"},
    {NULL}
  };
  guint bus_watch;

  ctx = g_option_context_new ("PIPELINE-DESCRIPTION");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("bench-pipeline: %s\n", err->message);
    return 2;
  }
  if (argc < 2 || probe_name == NULL || timeout_s < 0) {
    g_printerr ("usage: bench-pipeline --probe NAME [--timeout SEC] "
        "[--exit-on-first] [--idle-exit MS] [--print NAME.PROP] "
        "[--print-end NAME.PROP] "
        "PIPELINE-DESCRIPTION\n");
    return 2;
  }

  b.pipeline = gst_parse_launchv ((const char **) argv + 1, &err);
  if (b.pipeline == NULL) {
    g_printerr ("bench-pipeline: bad pipeline: %s\n", err->message);
    return 2;
  }
  if (err != NULL) {
    /* gst-launch-1.0 would go on with a partial pipeline: a benchmark
     * must not */
    g_printerr ("bench-pipeline: bad pipeline: %s\n", err->message);
    gst_object_unref (b.pipeline);
    return 2;
  }
  if (!GST_IS_BIN (b.pipeline)) {
    g_printerr ("bench-pipeline: the description must name several "
        "elements\n");
    gst_object_unref (b.pipeline);
    return 2;
  }
  probed = gst_bin_get_by_name (GST_BIN (b.pipeline), probe_name);
  if (probed == NULL || (pad = gst_element_get_static_pad (probed,
              "sink")) == NULL) {
    g_printerr ("bench-pipeline: no element named \"%s\" with a sink pad\n",
        probe_name);
    gst_object_unref (b.pipeline);
    return 2;
  }
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_BUFFER_LIST, probe_cb, &b, NULL);

  b.loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (b.pipeline);
  bus_watch = gst_bus_add_watch (bus, bus_cb, &b);
  g_unix_signal_add (SIGINT, signal_cb, &b);
  g_unix_signal_add (SIGTERM, signal_cb, &b);
  if (timeout_s > 0)
    g_timeout_add_seconds (timeout_s, timeout_cb, &b);
  if (b.idle_ms > 0)
    g_timeout_add (MIN (b.idle_ms / 4 + 1, 50), idle_check, &b);

  play_ns = now_ns ();
  if (gst_element_set_state (b.pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    /* the error message on the bus says why */
    b.status = 1;
    b.result = "error";
    while (TRUE) {
      g_autoptr (GstMessage) m = gst_bus_pop_filtered (bus,
          GST_MESSAGE_ERROR);
      if (m == NULL)
        break;
      bus_cb (bus, m, &b);
    }
    g_printerr ("bench-pipeline: the pipeline did not start\n");
  } else {
    if (print_spec != NULL && !print_property (b.pipeline, print_spec))
      b.status = 2;
    else {
      if (print_spec != NULL) {
        printf ("ready\n");
        fflush (stdout);
      }
      g_main_loop_run (b.loop);
    }
  }

  /* Figures first: tearing down a connection is not part of them. */
  if (print_end != NULL && b.status != 2)
    print_property (b.pipeline, print_end);
  printf ("start_ns=%" G_GINT64_FORMAT " play_ns=%" G_GINT64_FORMAT
      " first_ns=%" G_GINT64_FORMAT " last_ns=%" G_GINT64_FORMAT " end_ns=%"
      G_GINT64_FORMAT " bytes=%" G_GUINT64_FORMAT " buffers=%"
      G_GUINT64_FORMAT " exit=%s\n", start_ns, play_ns, b.first_ns,
      b.last_ns, now_ns (), b.bytes, b.buffers, b.result ? b.result : "none");
  fflush (stdout);

  /* After anything but EOS the peer may be stalled, and some elements
   * (srtsrc) then block in their teardown: the figures are out, so leave. */
  if (g_strcmp0 (b.result, "eos") != 0) {
    fflush (stderr);
    _exit (b.status);
  }

  gst_element_set_state (b.pipeline, GST_STATE_NULL);
  g_source_remove (bus_watch);
  gst_object_unref (b.pipeline);
  g_main_loop_unref (b.loop);
  return b.status;
}
