/* p2p-gst-test-util.h: helpers shared by the element tests (gst-check; the
 * unit tests have theirs in p2p-test-util.h): bounded waits on signals and
 * the bus, sim-network names, a p2psink and its p2psrc receivers in
 * harnesses (P2pTestSender), running a pipeline to EOS, test buffers and
 * stream headers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <string.h>
#include <unistd.h>
#include <p2p/p2p.h>

/* Every wait in these tests is bounded by this (seconds). */
#define P2P_TEST_TIMEOUT_S 60

/* A sim network name unique to this process and call. */
static inline char *
p2p_test_network_name (const char *what)
{
  static gint counter = 0;

  return g_strdup_printf ("test-%s-%d-%d", what, (int) getpid (),
      g_atomic_int_add (&counter, 1));
}

/* Counts "peer-added" / "peer-removed" of a p2psink. */
typedef struct {
  GMutex lock;
  GCond cond;
  guint added, removed;
  /* the sink's n-peers read in the last "peer-removed" handler */
  guint n_peers_at_removed;
} PeerCounter;

static void
peer_counter_added (GstElement *sink, const char *peer_id, PeerCounter *c)
{
  fail_unless (peer_id != NULL && strlen (peer_id) == 55);
  g_mutex_lock (&c->lock);
  c->added++;
  g_cond_broadcast (&c->cond);
  g_mutex_unlock (&c->lock);
}

static void
peer_counter_removed (GstElement *sink, const char *peer_id, PeerCounter *c)
{
  guint n = 0;

  g_object_get (sink, "n-peers", &n, NULL);
  g_mutex_lock (&c->lock);
  c->n_peers_at_removed = n;
  c->removed++;
  g_cond_broadcast (&c->cond);
  g_mutex_unlock (&c->lock);
}

static inline void
peer_counter_init (PeerCounter *c, GstElement *sink)
{
  memset (c, 0, sizeof *c);
  g_mutex_init (&c->lock);
  g_cond_init (&c->cond);
  g_signal_connect (sink, "peer-added", G_CALLBACK (peer_counter_added), c);
  g_signal_connect (sink, "peer-removed", G_CALLBACK (peer_counter_removed), c);
}

static inline void
peer_counter_clear (PeerCounter *c, GstElement *sink)
{
  g_signal_handlers_disconnect_by_data (sink, c);
  /* a handler that was running when its emission began may still be in
   * its locked part: it leaves it first */
  g_mutex_lock (&c->lock);
  g_mutex_unlock (&c->lock);
  g_mutex_clear (&c->lock);
  g_cond_clear (&c->cond);
}

/* Waits until @added receivers were added (bounded); FALSE on timeout. */
static inline gboolean
peer_counter_wait_added (PeerCounter *c, guint added)
{
  gint64 deadline = g_get_monotonic_time () + P2P_TEST_TIMEOUT_S * G_TIME_SPAN_SECOND;
  gboolean ok = TRUE;

  g_mutex_lock (&c->lock);
  while (c->added < added && ok)
    ok = g_cond_wait_until (&c->cond, &c->lock, deadline);
  ok = c->added >= added;
  g_mutex_unlock (&c->lock);
  return ok;
}

static inline gboolean
peer_counter_wait_removed (PeerCounter *c, guint removed)
{
  gint64 deadline = g_get_monotonic_time () + P2P_TEST_TIMEOUT_S * G_TIME_SPAN_SECOND;
  gboolean ok = TRUE;

  g_mutex_lock (&c->lock);
  while (c->removed < removed && ok)
    ok = g_cond_wait_until (&c->cond, &c->lock, deadline);
  ok = c->removed >= removed;
  g_mutex_unlock (&c->lock);
  return ok;
}

/* P2P_ELEMENTS_TRANSPORT=quic runs the two-element tests over real QUIC
 * on loopback instead of the simulator. */
static inline gboolean
p2p_test_use_quic (void)
{
  return g_strcmp0 (g_getenv ("P2P_ELEMENTS_TRANSPORT"), "quic") == 0;
}

/* How a receiver names @sink: its peer ID on the simulator; over QUIC
 * ID@127.0.0.1:PORT (one address: a ticket lists every local address and the
 * dialer races them, so the sink may see a short-lived duplicate). */
static inline char *
p2p_test_peer_of (GstElement *sink)
{
  g_autofree char *id = NULL, *ticket = NULL;
  g_autoptr (P2pPeerInfo) info = NULL;
  const char *const *addrs;
  const char *colon;

  g_object_get (sink, "peer-id", &id, "ticket", &ticket, NULL);
  fail_unless (id != NULL && strlen (id) == 55);
  if (!p2p_test_use_quic ())
    return g_steal_pointer (&id);
  fail_unless (ticket != NULL);
  info = p2p_peer_info_parse (ticket, NULL);
  fail_unless (info != NULL);
  addrs = p2p_peer_info_get_addresses (info);
  fail_unless (addrs && addrs[0]);
  colon = strrchr (addrs[0], ':');
  fail_unless (colon != NULL);
  return g_strdup_printf ("%s@127.0.0.1%s", id, colon);
}

/* A p2psink on the named sim network, listening, not waiting for a peer
 * unless @wait_for_peer, async off (for GstHarness). */
static inline GstElement *
p2p_test_make_sink (const char *network, gboolean wait_for_peer)
{
  GstElement *sink = gst_element_factory_make ("p2psink", NULL);

  fail_unless (sink != NULL);
  g_object_set (sink, "transport", p2p_test_use_quic ()? 0 : 1,
      "sim-network", network, "port", 0, "wait-for-peer", wait_for_peer, "async", FALSE,
      "eos-timeout", 10000, NULL);
  return sink;
}

static inline GstElement *
p2p_test_make_src (const char *network, const char *peer)
{
  GstElement *src = gst_element_factory_make ("p2psrc", NULL);

  fail_unless (src != NULL);
  g_object_set (src, "transport", p2p_test_use_quic ()? 0 : 1,
      "sim-network", network, "peer", peer, NULL);
  return src;
}

/* A p2psink in a harness, and what its receivers need to reach it. */
typedef struct {
  char *network;
  GstElement *sink;
  GstHarness *hsink;
  PeerCounter peers;
  char *peer_id;
} P2pTestSender;

/* A listening p2psink in a harness on its own network (p2p_test_make_sink),
 * with its PeerCounter; @first_prop: "name", value, ... NULL, set on the
 * sink before it starts. */
static inline void
p2p_test_sender_start (P2pTestSender *s, const char *what, gboolean wait_for_peer,
    const char *first_prop, ...)
{
  va_list ap;

  s->network = p2p_test_network_name (what);
  s->sink = p2p_test_make_sink (s->network, wait_for_peer);
  if (first_prop) {
    va_start (ap, first_prop);
    g_object_set_valist (G_OBJECT (s->sink), first_prop, ap);
    va_end (ap);
  }
  peer_counter_init (&s->peers, s->sink);
  s->hsink = gst_harness_new_with_element (s->sink, "sink", NULL);
  /* a file-like sender: its buffers wait for the first receiver
   * (a live upstream on a clock would drop them) */
  gst_harness_set_live (s->hsink, FALSE);
  gst_object_unref (s->sink);   /* the harness holds it */
  s->peer_id = p2p_test_peer_of (s->sink);
}

static inline void
p2p_test_sender_stop (P2pTestSender *s)
{
  GstElement *sink = gst_object_ref (s->sink);

  /* the sink stops first: its stop waits for its receivers' threads, which
   * emit "peer-removed"; one emitted while the counter was cleared aborted
   * a run ("g_mutex_clear() called on uninitialised or locked mutex": a
   * receiver leaving as the test ended) */
  gst_harness_teardown (s->hsink);
  peer_counter_clear (&s->peers, sink);
  gst_object_unref (sink);
  g_free (s->network);
  g_free (s->peer_id);
}

/* A p2psrc of @s's sink in a playing harness; @first_prop: "name", value,
 * ... NULL, set on the source before it starts. */
static inline GstHarness *
p2p_test_receiver_start (P2pTestSender *s, const char *first_prop, ...)
{
  GstElement *src = p2p_test_make_src (s->network, s->peer_id);
  GstHarness *h;
  va_list ap;

  if (first_prop) {
    va_start (ap, first_prop);
    g_object_set_valist (G_OBJECT (src), first_prop, ap);
    va_end (ap);
  }
  h = gst_harness_new_with_element (src, NULL, "src");
  gst_object_unref (src);
  gst_harness_play (h);
  return h;
}

/* Runs @pipeline until EOS or an error (bounded). Returns the error message
 * (transfer full) or NULL after EOS. */
static inline GstMessage *
p2p_test_run_pipeline (GstElement *pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;

  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_timed_pop_filtered (bus, P2P_TEST_TIMEOUT_S * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "pipeline timed out");
  gst_object_unref (bus);
  return msg;
}

static inline void
p2p_test_assert_eos (GstMessage *msg)
{
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    char *dbg = NULL;

    gst_message_parse_error (msg, &err, &dbg);
    fail ("pipeline error from %s: %s (%s)", GST_OBJECT_NAME (msg->src),
        err->message, GST_STR_NULL (dbg));
  }
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_EOS);
}

/* Counts the debug log lines of one category that start with @prefix: the
 * way to see that an element reached a state it has no signal or stats for
 * (a wait it entered, a retry it made). The category logs at LOG level while
 * the probe runs (gst-check runs each test in a process of its own). */
typedef struct _P2pLogProbeBox P2pLogProbeBox;

typedef struct {
  GMutex lock;
  GCond cond;
  const char *category;
  const char *prefix;
  guint count;
  P2pLogProbeBox *box;
} P2pLogProbe;

/* What the log function is registered with. GStreamer may still call a
 * removed log function from a thread that was already walking the old
 * list, so the probe (on its test's stack) is reached only through this
 * box, which stop() empties under its lock and which is never freed (kept
 * reachable in p2p_log_probe_boxes). */
struct _P2pLogProbeBox {
  GMutex lock;
  P2pLogProbe *probe;
};

static GPtrArray *p2p_log_probe_boxes;

static void
p2p_log_probe_log (GstDebugCategory *category, GstDebugLevel level,
    const gchar *file, const gchar *function, gint line, GObject *object,
    GstDebugMessage *message, gpointer user_data)
{
  P2pLogProbeBox *box = user_data;
  P2pLogProbe *p;
  const char *text;

  g_mutex_lock (&box->lock);
  p = box->probe;
  if (p && g_strcmp0 (gst_debug_category_get_name (category), p->category) == 0
      && (text = gst_debug_message_get (message)) != NULL && g_str_has_prefix (text, p->prefix)) {
    g_mutex_lock (&p->lock);
    p->count++;
    g_cond_broadcast (&p->cond);
    g_mutex_unlock (&p->lock);
  }
  g_mutex_unlock (&box->lock);
}

static inline void
p2p_log_probe_start (P2pLogProbe *p, const char *category, const char *prefix)
{
  memset (p, 0, sizeof *p);
  g_mutex_init (&p->lock);
  g_cond_init (&p->cond);
  p->category = category;
  p->prefix = prefix;
  p->box = g_new0 (P2pLogProbeBox, 1);
  g_mutex_init (&p->box->lock);
  p->box->probe = p;
  if (p2p_log_probe_boxes == NULL)
    p2p_log_probe_boxes = g_ptr_array_new ();
  g_ptr_array_add (p2p_log_probe_boxes, p->box);
  gst_debug_set_threshold_for_name (category, GST_LEVEL_LOG);
  gst_debug_add_log_function (p2p_log_probe_log, p->box, NULL);
}

/* Waits (bounded) until @count lines were logged; FALSE on timeout. */
static inline gboolean
p2p_log_probe_wait (P2pLogProbe *p, guint count)
{
  gint64 deadline = g_get_monotonic_time () + P2P_TEST_TIMEOUT_S * G_TIME_SPAN_SECOND;
  gboolean ok;

  g_mutex_lock (&p->lock);
  while (p->count < count && g_cond_wait_until (&p->cond, &p->lock, deadline));
  ok = p->count >= count;
  g_mutex_unlock (&p->lock);
  return ok;
}

static inline guint
p2p_log_probe_stop (P2pLogProbe *p)
{
  guint count;

  gst_debug_remove_log_function_by_data (p->box);
  gst_debug_unset_threshold_for_name (p->category);
  /* a late call of the removed function now finds no probe */
  g_mutex_lock (&p->box->lock);
  p->box->probe = NULL;
  g_mutex_unlock (&p->box->lock);
  g_mutex_lock (&p->lock);
  count = p->count;
  g_mutex_unlock (&p->lock);
  g_mutex_clear (&p->lock);
  g_cond_clear (&p->cond);
  return count;
}

/* Buffer @i of a test stream: @size bytes of a pattern of @i, PTS 1 s +
 * i * 20 ms, DTS 1 ms earlier, duration 20 ms, offsets i and i + 1, DELTA_UNIT
 * unless i % 3 == 0. */
static inline GstBuffer *
p2p_test_buffer_new (guint i, gsize size)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, size, NULL);
  GstMapInfo map;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (gsize k = 0; k < size; k++)
    map.data[k] = (guint8) (i * 31 + k);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = GST_SECOND + i * 20 * GST_MSECOND;
  GST_BUFFER_DTS (buf) = GST_SECOND + i * 20 * GST_MSECOND - GST_MSECOND;
  GST_BUFFER_DURATION (buf) = 20 * GST_MSECOND;
  GST_BUFFER_OFFSET (buf) = i;
  GST_BUFFER_OFFSET_END (buf) = i + 1;
  if (i % 3)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  return buf;
}

/* Fails unless @buf is p2p_test_buffer_new (@i, @size): bytes, timestamps,
 * offsets and the DELTA_UNIT flag. */
static inline void
p2p_test_buffer_check (GstBuffer *buf, guint i, gsize size)
{
  GstBuffer *expected = p2p_test_buffer_new (i, size);
  GstMapInfo a, b;

  fail_unless (buf != NULL, "buffer %u missing", i);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), GST_BUFFER_PTS (expected));
  fail_unless_equals_uint64 (GST_BUFFER_DTS (buf), GST_BUFFER_DTS (expected));
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf), 20 * GST_MSECOND);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), i);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), i + 1);
  fail_unless_equals_int (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT),
      (i % 3) != 0);
  gst_buffer_map (buf, &a, GST_MAP_READ);
  gst_buffer_map (expected, &b, GST_MAP_READ);
  fail_unless_equals_int (a.size, b.size);
  fail_unless (memcmp (a.data, b.data, a.size) == 0, "buffer %u differs", i);
  gst_buffer_unmap (buf, &a);
  gst_buffer_unmap (expected, &b);
  gst_buffer_unref (expected);
}

/* The caps and segment of p2p_test_push_stream_headers. */
#define P2P_TEST_STREAM_ID "p2p-test/stream/peers"
#define P2P_TEST_CAPS "application/x-p2p-test, rate=(int)48000"

static inline void
p2p_test_segment_init (GstSegment *seg)
{
  gst_segment_init (seg, GST_FORMAT_TIME);
  /* buffer 0's DTS: its running time is the base, so a receiver that is
   * not live never takes it for a late join */
  seg->start = GST_SECOND - GST_MSECOND;
  seg->base = 2 * GST_SECOND;
  seg->time = 3 * GST_SECOND;
}

/* Pushes stream-start, caps, segment (p2p_test_segment_init) and a title
 * tag into the sink harness @h. */
static inline void
p2p_test_push_stream_headers (GstHarness *h)
{
  GstCaps *caps = gst_caps_from_string (P2P_TEST_CAPS);
  GstSegment seg;

  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start (P2P_TEST_STREAM_ID)));
  fail_unless (gst_harness_push_event (h, gst_event_new_caps (caps)));
  gst_caps_unref (caps);
  p2p_test_segment_init (&seg);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  fail_unless (gst_harness_push_event (h, gst_event_new_tag (gst_tag_list_new
              (GST_TAG_TITLE, "p2p test", NULL))));
}

/* Checks what a receiving harness @h got from a sender that pushed
 * p2p_test_push_stream_headers, buffers @from .. @to - 1
 * (p2p_test_buffer_new (i, @size)) and EOS: the events in order with the
 * sender's values (the segment is returned in @seg when not NULL: a live
 * receiver shifts it), each buffer identical, then EOS. */
static inline void
p2p_test_expect_stream (GstHarness *h, guint from, guint to, gsize size, GstSegment *seg)
{
  gboolean got_ss = FALSE, got_caps = FALSE, got_seg = FALSE, got_tag = FALSE;
  GstEvent *ev;

  while (!got_tag) {
    ev = gst_harness_pull_event (h);
    fail_unless (ev != NULL, "stream headers missing");
    switch (GST_EVENT_TYPE (ev)) {
      case GST_EVENT_STREAM_START:{
        const char *id;

        gst_event_parse_stream_start (ev, &id);
        fail_unless_equals_string (id, P2P_TEST_STREAM_ID);
        got_ss = TRUE;
        break;
      }
      case GST_EVENT_CAPS:{
        GstCaps *caps, *expected = gst_caps_from_string (P2P_TEST_CAPS);

        fail_unless (got_ss, "caps before the stream-start");
        gst_event_parse_caps (ev, &caps);
        fail_unless (gst_caps_is_equal (caps, expected));
        gst_caps_unref (expected);
        got_caps = TRUE;
        break;
      }
      case GST_EVENT_SEGMENT:{
        const GstSegment *s;
        GstSegment expected;

        fail_unless (got_caps);
        gst_event_parse_segment (ev, &s);
        p2p_test_segment_init (&expected);
        fail_unless_equals_int (s->format, GST_FORMAT_TIME);
        fail_unless_equals_uint64 (s->time, expected.time);
        if (seg)
          *seg = *s;
        else
          fail_unless (gst_segment_is_equal (s, &expected));
        got_seg = TRUE;
        break;
      }
      case GST_EVENT_TAG:{
        GstTagList *tags;
        char *title = NULL;

        gst_event_parse_tag (ev, &tags);
        fail_unless (gst_tag_list_get_string (tags, GST_TAG_TITLE, &title));
        fail_unless_equals_string (title, "p2p test");
        g_free (title);
        got_tag = TRUE;
        break;
      }
      default:
        break;
    }
    gst_event_unref (ev);
  }
  for (guint i = from; i < to; i++) {
    GstBuffer *buf = gst_harness_pull (h);

    p2p_test_buffer_check (buf, i, size);
    gst_buffer_unref (buf);
  }
  /* a live receiver sends its segment with the first buffer */
  fail_unless (got_seg || seg != NULL);
  for (;;) {
    gboolean eos;

    ev = gst_harness_pull_event (h);
    fail_unless (ev != NULL, "no EOS");
    eos = GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT && seg) {
      const GstSegment *s;

      gst_event_parse_segment (ev, &s);
      *seg = *s;
      got_seg = TRUE;
    }
    gst_event_unref (ev);
    if (eos)
      break;
  }
  fail_unless (got_seg, "no segment");
}
