/* test-p2psimnet.c: whole pipelines through p2psimnet: FLAC and Opus decode
 * bit-exactly over a lossy link in reliable delivery; events and timestamps
 * arrive unchanged; datagram delivery loses only what the link lost and says
 * so in stats; NULL <-> PLAYING cycles; the same input and seed give the
 * same delivered buffers and trace-hash under the system clock and under a
 * GstTestClock, in increasing PTS order; reordered and duplicated datagrams
 * come out once each, in order; no element waits on the pipeline clock; a
 * link that cannot connect is an error that says why.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-gst-test-util.h"
#include <gst/check/gsttestclock.h>

static guint64 n_handoffs;
/* the PTS of the first and the last buffer that reached the sink */
static GstClockTime first_pts, last_pts;
/* net-stats of the element named "net", read at EOS (NULL in NULL state) */
static GstStructure *last_stats;

static void
on_handoff (GstElement *fakesink, GstBuffer *buf, GstPad *pad, GByteArray *out)
{
  GstMapInfo map;

  gst_buffer_map (buf, &map, GST_MAP_READ);
  g_byte_array_append (out, map.data, map.size);
  gst_buffer_unmap (buf, &map);
  if (n_handoffs == 0)
    first_pts = GST_BUFFER_PTS (buf);
  last_pts = GST_BUFFER_PTS (buf);
  n_handoffs++;
}

/* Runs @desc (which has a "fakesink name=out") to EOS and returns what
 * reached the sink. */
static GByteArray *
run_and_collect (const char *desc, GstElement **keep_pipeline)
{
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);
  GstElement *out;
  GByteArray *bytes = g_byte_array_new ();
  GstMessage *msg;

  fail_unless (pipeline != NULL, "%s: %s", desc, err ? err->message : "");
  n_handoffs = 0;
  out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  g_object_set (out, "signal-handoffs", TRUE, "sync", FALSE, NULL);
  g_signal_connect (out, "handoff", G_CALLBACK (on_handoff), bytes);
  msg = p2p_test_run_pipeline (pipeline);
  p2p_test_assert_eos (msg);
  gst_message_unref (msg);
  g_clear_pointer (&last_stats, gst_structure_free);
  {
    GstElement *net = gst_bin_get_by_name (GST_BIN (pipeline), "net");

    if (net) {
      g_object_get (net, "net-stats", &last_stats, NULL);
      gst_object_unref (net);
    }
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_signal_handlers_disconnect_by_data (out, bytes);
  gst_object_unref (out);
  if (keep_pipeline)
    *keep_pipeline = pipeline;
  else
    gst_object_unref (pipeline);
  return bytes;
}

/* @tail_slack: bytes the link may add at the end. Buffer metas are not
 * carried (docs/elements.md): an Opus stream's GstAudioClippingMeta, which
 * trims the encoder's padding from the last frame, is lost, so the decoder
 * outputs that padding (pre-skip and end padding, at most one frame) around
 * the identical samples. */
static void
compare_decoded_full (const char *encode, const char *decode, const char *link,
    guint tail_slack)
{
  g_autofree char *direct = g_strdup_printf ("%s ! %s ! fakesink name=out",
      encode, decode);
  g_autofree char *through = g_strdup_printf ("%s ! %s ! %s ! fakesink name=out",
      encode, link, decode);
  GByteArray *a = run_and_collect (direct, NULL);
  GByteArray *b = run_and_collect (through, NULL);

  fail_unless (a->len > 10000, "direct decode gave %u bytes", a->len);
  if (tail_slack == 0)
    fail_unless_equals_int (b->len, a->len);
  fail_unless (b->len >= a->len && b->len <= a->len + tail_slack,
      "%u bytes after the link, %u direct", b->len, a->len);
  {
    gboolean found = FALSE;

    for (guint off = 0; off + a->len <= b->len && !found; off += 4)
      found = memcmp (b->data + off, a->data, a->len) == 0;
    fail_unless (found, "decoded PCM differs after the p2p link");
  }
  g_byte_array_unref (a);
  g_byte_array_unref (b);
}

static void
compare_decoded (const char *encode, const char *decode, const char *link)
{
  compare_decoded_full (encode, decode, link, 0);
}

GST_START_TEST (test_flac_bit_exact_lossy)
{
  compare_decoded ("audiotestsrc num-buffers=50 samplesperbuffer=1024 ! "
      "audio/x-raw,rate=44100,channels=2 ! flacenc ! flacparse", "flacdec",
      "p2psimnet loss=0.05 latency=5 seed=7");
}
GST_END_TEST;

GST_START_TEST (test_opus_bit_exact_lossy)
{
  /* one 20 ms frame of 48 kHz stereo S16 */
  compare_decoded_full ("audiotestsrc num-buffers=50 ! "
      "audio/x-raw,rate=48000,channels=2 ! opusenc", "opusdec",
      "p2psimnet loss=0.05 latency=5 seed=11", 48 * 20 * 4);
}
GST_END_TEST;

/* Runs @func on a thread of its own and waits for it. p2psimnet works in
 * the thread that pushes into it, so with a harness the TLS stack runs in
 * the calling thread: on the test's main thread, LeakSanitizer's scan of
 * that thread's dynamic TLS blocks (gnutls, loaded with the plugin) crashes
 * in some memory layouts ("Tracer caught signal 11", glibc 2.36 + GCC 12
 * libasan); on a thread that has exited there is nothing to scan. */
static void
run_in_thread (GThreadFunc func, gpointer data)
{
  g_thread_join (g_thread_new ("simnet-test", func, data));
}

static gpointer
events_through_simnet (gpointer unused)
{
  GstHarness *h = gst_harness_new_with_padnames ("p2psimnet", "sink", "src");
  GstSegment seg, *expected = &seg;
  GstEvent *ev;
  const GstSegment *got = NULL;
  gboolean saw_caps = FALSE, saw_seg = FALSE, saw_tag = FALSE;

  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = 5 * GST_SECOND;
  seg.base = 1 * GST_SECOND;
  seg.position = 5 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start ("simnet")));
  {
    g_autoptr (GstCaps) caps = gst_caps_from_string ("video/x-test, width=(int)7");

    fail_unless (gst_harness_push_event (h, gst_event_new_caps (caps)));
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  fail_unless (gst_harness_push_event (h, gst_event_new_tag (gst_tag_list_new
              (GST_TAG_TITLE, "through the sim", NULL))));
  for (guint i = 0; i < 5; i++) {
    GstBuffer *buf = gst_buffer_new_memdup ("abcdefgh", 8);

    GST_BUFFER_PTS (buf) = 5 * GST_SECOND + i * GST_MSECOND;
    GST_BUFFER_DURATION (buf) = GST_MSECOND;
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  for (guint i = 0; i < 5; i++) {
    GstBuffer *buf = gst_harness_pull (h);

    fail_unless (buf != NULL);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), 5 * GST_SECOND + i * GST_MSECOND);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf), GST_MSECOND);
    fail_unless (gst_buffer_memcmp (buf, 0, "abcdefgh", 8) == 0);
    gst_buffer_unref (buf);
  }
  while ((ev = gst_harness_try_pull_event (h))) {
    switch (GST_EVENT_TYPE (ev)) {
      case GST_EVENT_CAPS:{
        GstCaps *caps;
        gint w = 0;

        gst_event_parse_caps (ev, &caps);
        fail_unless (gst_structure_get_int (gst_caps_get_structure (caps, 0),
                "width", &w));
        fail_unless_equals_int (w, 7);
        saw_caps = TRUE;
        break;
      }
      case GST_EVENT_SEGMENT:
        gst_event_parse_segment (ev, &got);
        fail_unless (gst_segment_is_equal (got, expected));
        saw_seg = TRUE;
        break;
      case GST_EVENT_TAG:{
        GstTagList *tags;
        g_autofree char *title = NULL;

        gst_event_parse_tag (ev, &tags);
        fail_unless (gst_tag_list_get_string (tags, GST_TAG_TITLE, &title));
        fail_unless_equals_string (title, "through the sim");
        fail_unless_equals_int (gst_tag_list_n_tags (tags), 1);
        saw_tag = TRUE;
        break;
      }
      default:
        break;
    }
    gst_event_unref (ev);
  }
  fail_unless (saw_caps && saw_seg && saw_tag);
  gst_harness_teardown (h);
  return NULL;
}

GST_START_TEST (test_events_through_simnet)
{
  run_in_thread (events_through_simnet, NULL);
}
GST_END_TEST;

static guint64
count_buffers_through (const char *link, guint64 *lost)
{
  g_autofree char *desc = g_strdup_printf ("audiotestsrc num-buffers=200 "
      "samplesperbuffer=480 ! audio/x-raw,rate=48000,channels=1 ! opusenc "
      "frame-size=10 ! %s ! fakesink name=out", link);
  GstElement *pipeline = NULL;
  GByteArray *bytes;
  guint64 n;

  bytes = run_and_collect (desc, &pipeline);
  g_byte_array_unref (bytes);
  n = n_handoffs;
  fail_unless (last_stats != NULL);
  fail_unless (gst_structure_get_uint64 (last_stats, "datagrams-lost", lost));
  g_clear_pointer (&last_stats, gst_structure_free);
  gst_object_unref (pipeline);
  return n;
}

GST_START_TEST (test_datagram_losses)
{
  guint64 lost = 0, n;

  /* no loss on the link: every datagram arrives */
  n = count_buffers_through ("p2psimnet name=net delivery=datagram", &lost);
  GST_INFO ("lossless: %" G_GUINT64_FORMAT " buffers, %" G_GUINT64_FORMAT
      " lost", n, lost);
  fail_unless_equals_uint64 (lost, 0);
  {
    guint64 total = n;
    GstClockTime all_first = first_pts, all_last = last_pts;
    gboolean first_lost = FALSE, last_lost = FALSE;
    guint seed, runs = 0;

    /* seeds until one run lost the first datagram and one (maybe another)
     * the last (each about one run in five at 20 % loss; which seeds
     * depends on every packet the stack sends, so they are searched, not
     * written down). Every run: what did not arrive is exactly what stats
     * call lost, a loss at the start or at the end (no gap shows it) too
     * (issue 16 item 15). */
    for (seed = 1; seed <= 200 && !(first_lost && last_lost); seed++) {
      g_autofree char *link = g_strdup_printf ("p2psimnet name=net delivery=datagram "
          "loss=0.2 seed=%u", seed);

      n = count_buffers_through (link, &lost);
      runs++;
      GST_INFO ("20%% loss, seed %u: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
          " buffers, %" G_GUINT64_FORMAT " lost", seed, n, total, lost);
      fail_unless (lost > 0, "no loss reported at 20 %% loss (seed %u)", seed);
      fail_unless (n < total);
      fail_unless_equals_uint64 (n + lost, total);
      first_lost |= first_pts > all_first;
      last_lost |= last_pts < all_last;
    }
    fail_unless (first_lost && last_lost, "in %u runs, the first datagram lost: %d, the "
        "last: %d", runs, first_lost, last_lost);
  }
}
GST_END_TEST;

GST_START_TEST (test_simnet_state_cycles)
{
  GstElement *pipeline = gst_parse_launch ("audiotestsrc is-live=true ! "
      "p2psimnet ! fakesink", NULL);

  fail_unless (pipeline != NULL);
  for (guint i = 0; i < 10; i++) {
    fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
        GST_STATE_CHANGE_FAILURE);
    fail_if (gst_element_get_state (pipeline, NULL, NULL,
            P2P_TEST_TIMEOUT_S * GST_SECOND) == GST_STATE_CHANGE_FAILURE);
    fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
  }
  gst_object_unref (pipeline);
}
GST_END_TEST;

/* The link runs on virtual time derived from the buffers, never on the
 * pipeline clock: under a GstTestClock that is never advanced the stream
 * still reaches EOS, and no element ever waits on that clock (one that did
 * would stay a pending clock id, as the clock never reaches its time). */
GST_START_TEST (test_follows_test_clock)
{
  GstElement *pipeline = gst_parse_launch ("audiotestsrc num-buffers=20 ! "
      "opusenc ! p2psimnet name=net latency=50 ! opusdec ! fakesink sync=false",
      NULL);
  GstClock *clock = gst_test_clock_new ();
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = NULL;

  fail_unless (pipeline != NULL);
  gst_pipeline_use_clock (GST_PIPELINE (pipeline), clock);
  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  /* bounded: P2P_TEST_TIMEOUT_S in 10 ms looks at the clock's waiters */
  for (guint i = 0; i < P2P_TEST_TIMEOUT_S * 100 && !msg; i++) {
    msg = gst_bus_timed_pop_filtered (bus, 10 * GST_MSECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    fail_unless_equals_int (gst_test_clock_peek_id_count (GST_TEST_CLOCK
            (clock)), 0);
  }
  fail_unless (msg != NULL, "no EOS");
  p2p_test_assert_eos (msg);
  gst_message_unref (msg);
  fail_unless_equals_uint64 (gst_clock_get_time (clock), 0);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (clock);
  gst_object_unref (pipeline);
}
GST_END_TEST;

/* trace-hash and net-stats: NULL before READY, then the link's SHA-256 and
 * counters (a lossy reliable run drops packets and still delivers all). */
GST_START_TEST (test_trace_hash_and_stats)
{
  GstElement *pipeline = gst_parse_launch ("audiotestsrc num-buffers=20 ! "
      "opusenc ! p2psimnet name=net loss=0.05 seed=3 ! fakesink", NULL);
  GstElement *net;
  GstMessage *msg;
  g_autofree char *hash = NULL;
  GstStructure *stats = NULL;
  guint64 sent = 0, delivered = 0, lost = 0;

  fail_unless (pipeline != NULL);
  net = gst_bin_get_by_name (GST_BIN (pipeline), "net");
  g_object_get (net, "trace-hash", &hash, "net-stats", &stats, NULL);
  fail_unless (hash == NULL && stats == NULL);
  msg = p2p_test_run_pipeline (pipeline);
  p2p_test_assert_eos (msg);
  gst_message_unref (msg);
  g_object_get (net, "trace-hash", &hash, "net-stats", &stats, NULL);
  fail_unless (hash != NULL && strlen (hash) == 64, "hash %s", hash);
  fail_unless (strspn (hash, "0123456789abcdef") == 64);
  fail_unless (stats != NULL);
  fail_unless (gst_structure_get_uint64 (stats, "packets-sent", &sent));
  fail_unless (gst_structure_get_uint64 (stats, "packets-delivered", &delivered));
  fail_unless (gst_structure_get_uint64 (stats, "dropped-loss", &lost));
  fail_unless (sent >= 10 && lost > 0 && delivered > 0 && delivered < sent,
      "sent %" G_GUINT64_FORMAT " delivered %" G_GUINT64_FORMAT " lost %"
      G_GUINT64_FORMAT, sent, delivered, lost);
  gst_structure_free (stats);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_clear_pointer (&hash, g_free);
  g_object_get (net, "trace-hash", &hash, NULL);
  fail_unless (hash == NULL);
  gst_object_unref (net);
  gst_object_unref (pipeline);
}
GST_END_TEST;

/* ---- determinism: same input + same seed = same output, any clock ---- */

typedef struct {
  GArray *pts;                  /* GstClockTime of each delivered buffer */
  char *hash;
} RunResult;

static void
run_result_clear (RunResult *r)
{
  g_array_unref (r->pts);
  g_free (r->hash);
}

static void
on_pts_handoff (GstElement *fakesink, GstBuffer *buf, GstPad *pad, GArray *pts)
{
  GstClockTime t = GST_BUFFER_PTS (buf);

  g_array_append_val (pts, t);
}

/* audiotestsrc (200 buffers) -> lossy datagram link -> fakesink, under the
 * system clock. */
static RunResult
run_pipeline_pts (guint64 seed)
{
  g_autofree char *desc = g_strdup_printf ("audiotestsrc num-buffers=200 "
      "samplesperbuffer=256 ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! "
      "p2psimnet name=net loss=0.1 latency=20 jitter=5 delivery=datagram "
      "seed=%" G_GUINT64_FORMAT " ! fakesink name=out signal-handoffs=true "
      "sync=false", seed);
  GstElement *pipeline = gst_parse_launch (desc, NULL);
  GstElement *out, *net;
  GstMessage *msg;
  RunResult r = { g_array_new (FALSE, FALSE, sizeof (GstClockTime)), NULL };

  fail_unless (pipeline != NULL);
  out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  net = gst_bin_get_by_name (GST_BIN (pipeline), "net");
  g_signal_connect (out, "handoff", G_CALLBACK (on_pts_handoff), r.pts);
  msg = p2p_test_run_pipeline (pipeline);
  p2p_test_assert_eos (msg);
  gst_message_unref (msg);
  g_object_get (net, "trace-hash", &r.hash, NULL);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_signal_handlers_disconnect_by_data (out, r.pts);
  gst_object_unref (out);
  gst_object_unref (net);
  gst_object_unref (pipeline);
  return r;
}

typedef struct {
  guint64 seed;
  RunResult r;
} HarnessRun;

/* The same stream pushed through a GstHarness running on a GstTestClock
 * that never moves. */
static gpointer
harness_run (gpointer data)
{
  HarnessRun *run = data;
  guint64 seed = run->seed;
  GstHarness *h = gst_harness_new_with_padnames ("p2psimnet", "sink", "src");
  RunResult r = { g_array_new (FALSE, FALSE, sizeof (GstClockTime)), NULL };
  GstBuffer *buf;

  /* read when the link is set up, at the first data */
  gst_util_set_object_arg (G_OBJECT (h->element), "delivery", "datagram");
  g_object_set (h->element, "loss", 0.1, "latency", 20, "jitter", 5,
      "seed", seed, NULL);
  gst_harness_use_testclock (h);
  gst_harness_set_src_caps_str (h,
      "audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved");
  for (guint i = 0; i < 200; i++) {
    buf = gst_buffer_new_allocate (NULL, 512, NULL);
    gst_buffer_memset (buf, 0, (guint8) i, 512);
    GST_BUFFER_PTS (buf) = gst_util_uint64_scale (i * 256, GST_SECOND, 48000);
    GST_BUFFER_DURATION (buf) = gst_util_uint64_scale (256, GST_SECOND, 48000);
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  while ((buf = gst_harness_try_pull (h))) {
    GstClockTime t = GST_BUFFER_PTS (buf);

    g_array_append_val (r.pts, t);
    gst_buffer_unref (buf);
  }
  g_object_get (h->element, "trace-hash", &r.hash, NULL);
  gst_harness_teardown (h);
  run->r = r;
  return NULL;
}

static RunResult
run_harness_pts (guint64 seed)
{
  HarnessRun run = { seed, { NULL, NULL } };

  run_in_thread (harness_run, &run);
  return run.r;
}

/* Each buffer later than the one before: none duplicated, none reordered. */
static void
assert_pts_increase (GArray *pts)
{
  for (guint i = 1; i < pts->len; i++)
    fail_unless (g_array_index (pts, GstClockTime, i) >
        g_array_index (pts, GstClockTime, i - 1), "buffer %u: PTS %"
        GST_TIME_FORMAT " after %" GST_TIME_FORMAT, i,
        GST_TIME_ARGS (g_array_index (pts, GstClockTime, i)),
        GST_TIME_ARGS (g_array_index (pts, GstClockTime, i - 1)));
}

static void
assert_same_runs (RunResult (*run) (guint64 seed))
{
  RunResult ref = run (5), other;

  GST_INFO ("%u of 200 buffers delivered, hash %s", ref.pts->len, ref.hash);
  fail_unless (ref.hash != NULL);
  fail_unless (ref.pts->len > 100 && ref.pts->len < 200,
      "%u buffers delivered", ref.pts->len);
  assert_pts_increase (ref.pts);
  for (guint i = 1; i < 5; i++) {
    RunResult again = run (5);

    fail_unless_equals_string (again.hash, ref.hash);
    fail_unless_equals_int (again.pts->len, ref.pts->len);
    fail_unless (memcmp (again.pts->data, ref.pts->data,
            ref.pts->len * sizeof (GstClockTime)) == 0,
        "run %u delivered other buffers", i);
    run_result_clear (&again);
  }
  other = run (6);
  fail_unless (g_strcmp0 (other.hash, ref.hash) != 0);
  fail_unless (other.pts->len != ref.pts->len
      || memcmp (other.pts->data, ref.pts->data,
          ref.pts->len * sizeof (GstClockTime)) != 0,
      "seed 6 delivered the same buffers as seed 5");
  run_result_clear (&other);
  run_result_clear (&ref);
}

GST_START_TEST (test_deterministic_system_clock)
{
  assert_same_runs (run_pipeline_pts);
}
GST_END_TEST;

GST_START_TEST (test_deterministic_test_clock)
{
  assert_same_runs (run_harness_pts);
}
GST_END_TEST;

/* Datagrams reordered and duplicated by the link come out once each, in
 * order (the jitter buffer), and whatever did not come out is counted lost. */
GST_START_TEST (test_datagram_reorder_duplicate)
{
  g_autofree char *desc = g_strdup_printf ("audiotestsrc num-buffers=200 "
      "samplesperbuffer=256 ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! "
      "p2psimnet name=net latency=20 jitter=10 reorder=0.3 duplicate=0.2 "
      "delivery=datagram seed=9 ! fakesink name=out signal-handoffs=true "
      "sync=false");
  GstElement *pipeline = gst_parse_launch (desc, NULL);
  GstElement *out, *net;
  GstMessage *msg;
  g_autoptr (GArray) pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  GstStructure *stats = NULL;
  guint64 lost = 0, reordered = 0, duplicated = 0;

  fail_unless (pipeline != NULL);
  out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  net = gst_bin_get_by_name (GST_BIN (pipeline), "net");
  g_signal_connect (out, "handoff", G_CALLBACK (on_pts_handoff), pts);
  msg = p2p_test_run_pipeline (pipeline);
  p2p_test_assert_eos (msg);
  gst_message_unref (msg);
  g_object_get (net, "net-stats", &stats, NULL);
  fail_unless (gst_structure_get_uint64 (stats, "datagrams-lost", &lost));
  fail_unless (gst_structure_get_uint64 (stats, "packets-reordered", &reordered));
  fail_unless (gst_structure_get_uint64 (stats, "packets-duplicated",
          &duplicated));
  gst_structure_free (stats);
  GST_INFO ("%u delivered, %" G_GUINT64_FORMAT " lost, %" G_GUINT64_FORMAT
      " reordered, %" G_GUINT64_FORMAT " duplicated", pts->len, lost,
      reordered, duplicated);
  fail_unless (reordered > 0 && duplicated > 0);
  assert_pts_increase (pts);
  fail_unless_equals_uint64 (pts->len + lost, 200);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_signal_handlers_disconnect_by_data (out, pts);
  gst_object_unref (out);
  gst_object_unref (net);
  gst_object_unref (pipeline);
}
GST_END_TEST;

/* failure-rate 1.0: the link cannot connect; the error says why */
GST_START_TEST (test_connection_failure)
{
  GstElement *pipeline = gst_parse_launch ("audiotestsrc num-buffers=10 ! "
      "p2psimnet failure-rate=1.0 ! fakesink", NULL);
  GstMessage *msg;
  g_autoptr (GError) err = NULL;
  g_autofree char *dbg = NULL;

  fail_unless (pipeline != NULL);
  msg = p2p_test_run_pipeline (pipeline);
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_ERROR);
  gst_message_parse_error (msg, &err, &dbg);
  fail_unless (strstr (err->message, "did not connect") != NULL, "%s",
      err->message);
  fail_unless (strstr (err->message, "failure-rate") != NULL, "%s",
      err->message);
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}
GST_END_TEST;

/* p2psimnet is a plain element. The SIMULATOR_P2P_* variables are its
 * defaults, as
 * docs/configuration.md says (issue 18: SIMULATOR_P2P_PACKET_LOSS=0.5 gave
 * dropped-loss=0); a property overrides its variable; a value the parser
 * refuses fails the start naming the variable. */
GST_START_TEST (test_env_defaults)
{
  GstElement *e;
  guint latency = 0;
  guint64 seed = 0, lost = 0, n;
  double loss = 0;

  g_setenv ("SIMULATOR_P2P_PACKET_LOSS", "0.5", TRUE);
  g_setenv ("SIMULATOR_P2P_LATENCY_MS", "20", TRUE);
  g_setenv ("SIMULATOR_P2P_SEED", "9", TRUE);
  e = gst_element_factory_make ("p2psimnet", NULL);
  /* a plain element: no bin without children, no async-handling,
   * message-forward or GstChildProxy in gst-inspect-1.0 (issue 16 item 8) */
  fail_if (GST_IS_BIN (e));
  fail_if (g_object_class_find_property (G_OBJECT_GET_CLASS (e), "async-handling") != NULL);
  g_object_get (e, "loss", &loss, "latency", &latency, "seed", &seed, NULL);
  fail_unless (loss == 0.5, "loss %g", loss);
  fail_unless_equals_int (latency, 20);
  fail_unless_equals_uint64 (seed, 9);
  gst_object_unref (e);

  /* the variables act: datagrams are lost on the link */
  n = count_buffers_through ("p2psimnet name=net delivery=datagram latency=0", &lost);
  fail_unless (lost > 0, "SIMULATOR_P2P_PACKET_LOSS=0.5 lost nothing (%" G_GUINT64_FORMAT
      " arrived)", n);
  /* a property wins over its variable */
  n = count_buffers_through ("p2psimnet name=net delivery=datagram latency=0 loss=0", &lost);
  fail_unless_equals_uint64 (lost, 0);

  g_setenv ("SIMULATOR_P2P_PACKET_LOSS", "2", TRUE);
  {
    GstElement *pipeline = gst_parse_launch ("audiotestsrc num-buffers=3 ! p2psimnet ! "
        "fakesink", NULL);
    GstMessage *msg;
    g_autoptr (GError) err = NULL;
    g_autofree char *dbg = NULL;

    /* refused at NULL -> READY, not at the first data */
    fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_PLAYING),
        GST_STATE_CHANGE_FAILURE);
    msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (pipeline), GST_MESSAGE_ERROR);
    fail_unless (msg != NULL);
    gst_message_parse_error (msg, &err, &dbg);
    fail_unless (strstr (err->message, "SIMULATOR_P2P_PACKET_LOSS") != NULL, "%s",
        err->message);
    gst_message_unref (msg);
    gst_element_set_state (pipeline, GST_STATE_NULL);
    gst_object_unref (pipeline);
  }
  g_unsetenv ("SIMULATOR_P2P_PACKET_LOSS");
  g_unsetenv ("SIMULATOR_P2P_LATENCY_MS");
  g_unsetenv ("SIMULATOR_P2P_SEED");

  /* a bad variable the element does not use is none of its business
   * (before: "Invalid network setting in the environment" at the first
   * buffer; found in a test author's walkthrough) */
  g_setenv ("P2P_LISTEN_PORT", "abc", TRUE);
  n = count_buffers_through ("p2psimnet name=net delivery=datagram latency=0", &lost);
  fail_unless (n > 0);
  g_unsetenv ("P2P_LISTEN_PORT");
}
GST_END_TEST;

/* The latency query: upstream's plus latency + jitter, and in datagram
 * delivery the jitter buffer's wait too (jitter + 1 ms, + max(latency,
 * 10 ms) with reorder): 40 + 15 + (15 + 1 + 40) = 111 ms over upstream's
 * 10. Before, datagram delivery left the wait out and a sync sink got
 * reordered buffers late (found in a test author's walkthrough). */
GST_START_TEST (test_latency_query)
{
  static const struct {
    const char *delivery;
    GstClockTime min;
  } cases[] = {
    { "reliable", (10 + 40 + 15) * GST_MSECOND },
    { "datagram", (10 + 40 + 15 + 15 + 1 + 40) * GST_MSECOND },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstHarness *h = gst_harness_new_with_padnames ("p2psimnet", "sink", "src");
    g_autoptr (GstQuery) q = gst_query_new_latency ();
    GstClockTime min, max;
    gboolean live;

    gst_util_set_object_arg (G_OBJECT (h->element), "delivery", cases[i].delivery);
    g_object_set (h->element, "latency", 40, "jitter", 15, "reorder", 0.1, NULL);
    gst_harness_set_live (h, TRUE);
    gst_harness_set_upstream_latency (h, 10 * GST_MSECOND);
    fail_unless (gst_pad_peer_query (h->sinkpad, q));
    gst_query_parse_latency (q, &live, &min, &max);
    fail_unless (live);
    fail_unless_equals_uint64 (min, cases[i].min);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

/* delivery=datagram: buffers too big for a datagram are dropped, counted
 * in net-stats, and said once on the bus (RESOURCE/WRITE WARNING); the
 * small ones go through. Before, only a debug line said why most of the
 * data was lost (found in a test author's walkthrough). */
static gpointer
too_big_warns (gpointer unused)
{
  GstHarness *h = gst_harness_new_with_padnames ("p2psimnet", "sink", "src");
  g_autoptr (GstBus) bus = gst_bus_new ();
  g_autoptr (GstStructure) stats = NULL;
  GstSegment seg;
  GstMessage *msg;
  guint warnings = 0;
  guint64 too_big = 0;
  const gsize sizes[] = { 100, 200000, 100, 200000, 200000, 100 };

  gst_element_set_bus (h->element, bus);
  gst_util_set_object_arg (G_OBJECT (h->element), "delivery", "datagram");
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start ("big")));
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, sizes[i], NULL);

    gst_buffer_memset (buf, 0, 'x', sizes[i]);
    GST_BUFFER_PTS (buf) = i * 10 * GST_MSECOND;
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  for (guint i = 0; i < 3; i++) {
    GstBuffer *buf = gst_harness_pull (h);

    fail_unless_equals_uint64 (gst_buffer_get_size (buf), 100);
    gst_buffer_unref (buf);
  }
  g_object_get (h->element, "net-stats", &stats, NULL);
  fail_unless (gst_structure_get_uint64 (stats, "datagrams-too-big", &too_big));
  fail_unless_equals_uint64 (too_big, 3);
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING))) {
    g_autoptr (GError) err = NULL;

    gst_message_parse_warning (msg, &err, NULL);
    fail_unless (g_error_matches (err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE));
    fail_unless (strstr (err->message, "do not fit in a datagram") != NULL, "%s",
        err->message);
    warnings++;
    gst_message_unref (msg);
  }
  fail_unless_equals_int (warnings, 1);
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);
  return NULL;
}

GST_START_TEST (test_too_big_datagram_warns)
{
  run_in_thread (too_big_warns, NULL);
}
GST_END_TEST;

/* Untimed data (a BYTES segment, buffers without timestamps, as from
 * filesrc before a parser) flows through: each buffer comes out before
 * the next goes in, not all at EOS (found in a test author's
 * walkthrough: filesrc ! p2psimnet ! fakesink held the whole file). */
static gpointer
untimed_flows (gpointer unused)
{
  GstHarness *h = gst_harness_new_with_padnames ("p2psimnet", "sink", "src");
  GstSegment seg;

  g_object_set (h->element, "latency", 20, NULL);
  gst_segment_init (&seg, GST_FORMAT_BYTES);
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start ("bytes")));
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  for (guint i = 0; i < 5; i++) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, 1000, NULL);
    GstBuffer *out;

    gst_buffer_memset (buf, 0, 'a' + i, 1000);
    GST_BUFFER_OFFSET (buf) = i * 1000;
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
    out = gst_harness_try_pull (h);
    fail_unless (out != NULL, "buffer %u did not come out before the next went in", i);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), i * 1000);
    fail_unless (gst_buffer_memcmp (out, 999, (char[]) { 'a' + i }, 1) == 0);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
  return NULL;
}

GST_START_TEST (test_untimed_flows)
{
  run_in_thread (untimed_flows, NULL);
}
GST_END_TEST;

/* A stream faster than its link (768 kbit/s of raw audio into 16 kbit/s):
 * QUIC takes it all, so at EOS a backlog of 100 virtual seconds is still
 * in flight; it is delivered whole (192000 bytes), not cut with an error
 * after 60 virtual s (before: 3 buffers out and "did not deliver the end
 * of the stream"; found in a test author's walkthrough). */
GST_START_TEST (test_slow_link_backlog_at_eos)
{
  GByteArray *bytes = run_and_collect ("audiotestsrc num-buffers=200 samplesperbuffer=480 ! "
      "audio/x-raw,rate=48000,channels=1 ! p2psimnet name=net bandwidth=16 ! "
      "fakesink name=out", NULL);
  guint64 now = 0;

  fail_unless_equals_uint64 (n_handoffs, 200);
  fail_unless_equals_int (bytes->len, 200 * 480 * 2);
  fail_unless (last_stats && gst_structure_get_uint64 (last_stats, "now", &now));
  fail_unless (now > 60 * GST_SECOND, "virtual time %" G_GUINT64_FORMAT, now);
  g_byte_array_unref (bytes);
}
GST_END_TEST;

/* delivery=datagram, loss 0.3: caps change after buffer 19. No buffer
 * comes out under the caps on the wrong side of the change, for 20 seeds:
 * the datagrams carry the epoch of the events before them (capability
 * "datagram-epoch"), so one sent after the new caps waits for them, and
 * one sent before that arrives after them is late. Before, when the
 * caps' packet was lost and retransmitted, later datagrams went out first
 * under the old caps (4 of 20 seeds; found in a test author's
 * walkthrough). */
typedef struct {
  GstCaps *caps;
  guint wrong, buffers;
} CapsOrder;

static GstPadProbeReturn
caps_order_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  CapsOrder *c = data;

  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
      GstCaps *caps;

      gst_event_parse_caps (ev, &caps);
      gst_caps_replace (&c->caps, caps);
    }
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER (info);
    gint rate = 0;

    c->buffers++;
    fail_unless (c->caps != NULL);
    gst_structure_get_int (gst_caps_get_structure (c->caps, 0), "rate", &rate);
    /* buffers 20.. were sent after the change to 44100 */
    if ((GST_BUFFER_PTS (b) >= 200 * GST_MSECOND) != (rate == 44100)) {
      GST_INFO ("buffer %" GST_TIME_FORMAT " under rate %d", GST_TIME_ARGS (GST_BUFFER_PTS (b)),
          rate);
      c->wrong++;
    }
  }
  return GST_PAD_PROBE_OK;
}

static gpointer
datagram_caps_order (gpointer data)
{
  guint *bad_seeds = data;

  for (guint64 seed = 1; seed <= 20; seed++) {
    GstHarness *h = gst_harness_new_parse ("p2psimnet delivery=datagram latency=20 loss=0.3");
    g_autoptr (GstElement) net = gst_harness_find_element (h, "p2psimnet");
    g_autoptr (GstPad) src = gst_element_get_static_pad (net, "src");
    CapsOrder c = { NULL, 0, 0 };

    g_object_set (net, "seed", seed, NULL);
    gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
        caps_order_probe, &c, NULL);
    gst_harness_set_src_caps_str (h,
        "audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved");
    for (guint i = 0; i < 60; i++) {
      GstBuffer *b;

      if (i == 20) {
        g_autoptr (GstCaps) caps = gst_caps_from_string
            ("audio/x-raw,format=S16LE,rate=44100,channels=1,layout=interleaved");

        fail_unless (gst_harness_push_event (h, gst_event_new_caps (caps)));
      }
      b = gst_buffer_new_allocate (NULL, 100, NULL);
      GST_BUFFER_PTS (b) = i * 10 * GST_MSECOND;
      GST_BUFFER_DURATION (b) = 10 * GST_MSECOND;
      fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
    }
    fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
    /* (a 30 % loss leaves some of each side) */
    fail_unless (c.buffers > 10, "seed %" G_GUINT64_FORMAT ": %u buffers", seed, c.buffers);
    if (c.wrong > 0)
      (*bad_seeds)++;
    gst_clear_caps (&c.caps);
    gst_harness_teardown (h);
  }
  return NULL;
}

GST_START_TEST (test_datagram_caps_order)
{
  guint bad_seeds = 0;

  run_in_thread (datagram_caps_order, &bad_seeds);
  fail_unless_equals_int (bad_seeds, 0);
}
GST_END_TEST;

static Suite *
p2psimnet_suite (void)
{
  Suite *s = suite_create ("p2psimnet");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 240);
  tcase_add_test (tc, test_events_through_simnet);
  tcase_add_test (tc, test_flac_bit_exact_lossy);
  tcase_add_test (tc, test_opus_bit_exact_lossy);
  tcase_add_test (tc, test_datagram_losses);
  tcase_add_test (tc, test_simnet_state_cycles);
  tcase_add_test (tc, test_follows_test_clock);
  tcase_add_test (tc, test_datagram_reorder_duplicate);
  tcase_add_test (tc, test_trace_hash_and_stats);
  tcase_add_test (tc, test_deterministic_system_clock);
  tcase_add_test (tc, test_deterministic_test_clock);
  tcase_add_test (tc, test_connection_failure);
  tcase_add_test (tc, test_env_defaults);
  tcase_add_test (tc, test_latency_query);
  tcase_add_test (tc, test_too_big_datagram_warns);
  tcase_add_test (tc, test_untimed_flows);
  tcase_add_test (tc, test_slow_link_backlog_at_eos);
  tcase_add_test (tc, test_datagram_caps_order);
  return s;
}

GST_CHECK_MAIN (p2psimnet);
