/* test-jitter.c: the datagram reorder buffer shared by p2psrc and
 * p2psimnet (gst/gstp2pjitter.c): order, late and duplicate datagrams,
 * overflow, gaps counted as lost and marked DISCONT, the wait, tail loss. */
#include <gst/check/gstcheck.h>
#include "gstp2pjitter.h"
#include "gstp2preceiver.h"
#include "gstp2pmedia.h"

static GstBuffer *
buf (guint64 pts)
{
  GstBuffer *b = gst_buffer_new ();

  GST_BUFFER_PTS (b) = pts;
  return b;
}

/* Pops the head, checks its PTS, the gap before it and its DISCONT flag. */
static void
expect_pop (GstP2pJitter *j, guint64 pts, guint64 lost)
{
  guint64 got_lost = 99;
  GstBuffer *b = gst_p2p_jitter_pop (j, &got_lost);

  fail_unless_equals_uint64 (GST_BUFFER_PTS (b), pts);
  fail_unless_equals_uint64 (got_lost, lost);
  fail_unless_equals_int (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DISCONT), lost > 0);
  gst_buffer_unref (b);
}

GST_START_TEST (test_reorder_late_duplicate)
{
  GstP2pJitter j;

  gst_p2p_jitter_init (&j, 0);
  fail_unless (gst_p2p_jitter_is_empty (&j));
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 12, 100, buf (12)), GST_P2P_JITTER_HELD);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 10, 101, buf (10)), GST_P2P_JITTER_HELD);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 11, 102, buf (11)), GST_P2P_JITTER_HELD);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 11, 103, buf (99)), GST_P2P_JITTER_DUPLICATE);
  /* nothing expected yet: the lowest leaves at once and sets the baseline */
  fail_unless (gst_p2p_jitter_head_ready (&j, 0, 1000));
  expect_pop (&j, 10, 0);
  expect_pop (&j, 11, 0);
  expect_pop (&j, 12, 0);
  fail_unless (gst_p2p_jitter_is_empty (&j));
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 12, 104, buf (12)), GST_P2P_JITTER_LATE);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 5, 105, buf (5)), GST_P2P_JITTER_LATE);
  fail_unless (gst_p2p_jitter_is_empty (&j));
  gst_p2p_jitter_reset (&j);
}
GST_END_TEST;

GST_START_TEST (test_gap_waits_then_counts_lost)
{
  GstP2pJitter j;

  gst_p2p_jitter_init (&j, 0);
  gst_p2p_jitter_expect (&j, 0);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 3, 1000, buf (3)), GST_P2P_JITTER_HELD);
  /* 0..2 missing: the head waits until arrival + wait */
  fail_unless_equals_uint64 (gst_p2p_jitter_head_due (&j, 50), 1050);
  fail_if (gst_p2p_jitter_head_ready (&j, 1049, 50));
  fail_unless (gst_p2p_jitter_head_ready (&j, 1050, 50));
  expect_pop (&j, 3, 3);
  /* an in-order head leaves at once */
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 4, 2000, buf (4)), GST_P2P_JITTER_HELD);
  fail_unless (gst_p2p_jitter_head_ready (&j, 2000, 50));
  expect_pop (&j, 4, 0);
  /* a loss at the tail shows no gap: counted when the sender's count is known */
  fail_unless_equals_uint64 (gst_p2p_jitter_lose_until (&j, 8), 3);
  fail_unless_equals_uint64 (gst_p2p_jitter_lose_until (&j, 8), 0);
  fail_unless_equals_uint64 (gst_p2p_jitter_head_due (&j, 50), G_MAXUINT64);
  gst_p2p_jitter_reset (&j);
}
GST_END_TEST;

/* Found in review: 3 is lost, 6 arrives at 0, then 5 at 150 and 4 at 300
 * (wait 200): the head (4) leaves at 200, when the gap has been waited for
 * since 6 came, not at 500 (its own arrival + wait), and a sink whose
 * latency is the wait would not drop 6 as late. */
GST_START_TEST (test_late_arrivals_do_not_restart_wait)
{
  GstP2pJitter j;

  gst_p2p_jitter_init (&j, 0);
  gst_p2p_jitter_expect (&j, 3);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 6, 0, buf (6)), GST_P2P_JITTER_HELD);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 5, 150, buf (5)), GST_P2P_JITTER_HELD);
  fail_unless_equals_uint64 (gst_p2p_jitter_head_due (&j, 200), 200);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 4, 300, buf (4)), GST_P2P_JITTER_HELD);
  fail_unless_equals_uint64 (gst_p2p_jitter_head_due (&j, 200), 200);
  fail_if (gst_p2p_jitter_head_ready (&j, 199, 200));
  fail_unless (gst_p2p_jitter_head_ready (&j, 300, 200));
  expect_pop (&j, 4, 1);
  expect_pop (&j, 5, 0);
  expect_pop (&j, 6, 0);
  /* in order, each waits from its own arrival: a later gap is not given
   * the time of an earlier one */
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 9, 1000, buf (9)), GST_P2P_JITTER_HELD);
  fail_unless_equals_uint64 (gst_p2p_jitter_head_due (&j, 200), 1200);
  gst_p2p_jitter_reset (&j);
}
GST_END_TEST;

GST_START_TEST (test_overflow_and_append)
{
  GstP2pJitter j;

  gst_p2p_jitter_init (&j, 2);
  gst_p2p_jitter_expect (&j, 0);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 5, 1, buf (5)), GST_P2P_JITTER_HELD);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 6, 2, buf (6)), GST_P2P_JITTER_HELD);
  /* a third held buffer drops the oldest */
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 7, 3, buf (7)),
      GST_P2P_JITTER_HELD_OVERFLOW);
  expect_pop (&j, 6, 6);
  expect_pop (&j, 7, 0);
  /* buffers from the reliable stream follow in order, no gap */
  gst_p2p_jitter_append (&j, 4, buf (100));
  gst_p2p_jitter_append (&j, 5, buf (101));
  fail_unless (gst_p2p_jitter_head_ready (&j, 5, 1000));
  expect_pop (&j, 100, 0);
  expect_pop (&j, 101, 0);
  gst_p2p_jitter_reset (&j);
}
GST_END_TEST;

/* issue 11 item 6: held datagrams are bounded in bytes: the oldest datagram
 * goes (counted in "dropped", its gap lost and DISCONT), buffers from the
 * reliable stream are never dropped and are counted apart. */
static GstBuffer *
sized (guint64 pts, gsize size)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, size, NULL);

  GST_BUFFER_PTS (b) = pts;
  return b;
}

GST_START_TEST (test_byte_bound)
{
  GstP2pJitter j;

  gst_p2p_jitter_init (&j, 0);
  gst_p2p_jitter_set_max_bytes (&j, 3000);
  gst_p2p_jitter_expect (&j, 0);
  /* a stream buffer first: it does not count against the datagram bound */
  gst_p2p_jitter_append (&j, 0, sized (100, 5000));
  fail_unless_equals_uint64 (gst_p2p_jitter_get_stream_bytes (&j),
      5000 + GST_P2P_JITTER_STREAM_ITEM_OVERHEAD);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 1, 1, sized (1, 1000)),
      GST_P2P_JITTER_HELD);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 2, 2, sized (2, 1000)),
      GST_P2P_JITTER_HELD);
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 3, 3, sized (3, 1000)),
      GST_P2P_JITTER_HELD);
  fail_unless_equals_uint64 (gst_p2p_jitter_get_bytes (&j),
      8000 + GST_P2P_JITTER_STREAM_ITEM_OVERHEAD);
  /* 2000 more bytes: datagrams 1 and 2 go (not the stream buffer) */
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 4, 4, sized (4, 2000)),
      GST_P2P_JITTER_HELD_OVERFLOW);
  fail_unless_equals_uint64 (j.dropped, 2);
  fail_unless_equals_uint64 (gst_p2p_jitter_get_bytes (&j),
      5000 + GST_P2P_JITTER_STREAM_ITEM_OVERHEAD + 3000);
  expect_pop (&j, 100, 0);
  fail_unless_equals_uint64 (gst_p2p_jitter_get_stream_bytes (&j), 0);
  expect_pop (&j, 3, 2);        /* 1 and 2 were dropped: a gap, DISCONT */
  expect_pop (&j, 4, 0);
  fail_unless_equals_uint64 (gst_p2p_jitter_get_bytes (&j), 0);
  gst_p2p_jitter_reset (&j);
}
GST_END_TEST;

/* Review of issue 11, finding 2: the reliable-stream queue counted only
 * payload bytes, so empty BUFFER frames (45 bytes on the wire, ~300 bytes
 * held each) never filled it and p2psrc kept reading them without bound.
 * Each stream buffer now counts GST_P2P_JITTER_STREAM_ITEM_OVERHEAD more,
 * and at most GST_P2P_JITTER_MAX_STREAM_ITEMS are held. */
GST_START_TEST (test_security_stream_empty_buffers)
{
  GstP2pJitter j;
  guint pushed = 0;

  gst_p2p_jitter_init (&j, 4096);
  gst_p2p_jitter_set_max_bytes (&j, 8 * 1024 * 1024);
  /* p2psrc's reader: read the next message only while the queue has room */
  for (guint i = 0; i < 100000 && !gst_p2p_jitter_stream_full (&j); i++) {
    gst_p2p_jitter_append (&j, i, gst_buffer_new ());
    pushed++;
  }
  fail_unless_equals_int (pushed, GST_P2P_JITTER_MAX_STREAM_ITEMS);
  fail_unless_equals_int (gst_p2p_jitter_get_stream_items (&j),
      GST_P2P_JITTER_MAX_STREAM_ITEMS);
  fail_unless (gst_p2p_jitter_stream_full (&j));
  /* empty buffers are not free: 4096 of them count 2 MiB */
  fail_unless_equals_uint64 (gst_p2p_jitter_get_stream_bytes (&j),
      (guint64) GST_P2P_JITTER_MAX_STREAM_ITEMS * GST_P2P_JITTER_STREAM_ITEM_OVERHEAD);
  fail_unless_equals_uint64 (gst_p2p_jitter_get_bytes (&j),
      2 * 1024 * 1024);
  /* one leaves: room for one more */
  expect_pop (&j, GST_CLOCK_TIME_NONE, 0);
  fail_if (gst_p2p_jitter_stream_full (&j));
  fail_unless_equals_int (gst_p2p_jitter_get_stream_items (&j),
      GST_P2P_JITTER_MAX_STREAM_ITEMS - 1);
  fail_unless_equals_uint64 (gst_p2p_jitter_get_stream_bytes (&j),
      (guint64) (GST_P2P_JITTER_MAX_STREAM_ITEMS - 1)
      * GST_P2P_JITTER_STREAM_ITEM_OVERHEAD);
  gst_p2p_jitter_reset (&j);
  fail_unless_equals_int (gst_p2p_jitter_get_stream_items (&j), 0);
  fail_unless_equals_uint64 (gst_p2p_jitter_get_stream_bytes (&j), 0);

  /* 1-byte buffers under a byte bound (p2psrc: bytes + one maximum message
   * of 1 MiB must stay within max-queue-bytes; 2 MiB here): the bound is
   * reached after 2045 buffers (1 MiB / 513, plus the one that crosses it),
   * not 1 048 576 */
  pushed = 0;
  for (guint i = 0; i < 100000 && !gst_p2p_jitter_stream_full (&j)
      && gst_p2p_jitter_get_stream_bytes (&j) + 1024 * 1024 <= 2 * 1024 * 1024;
      i++) {
    gst_p2p_jitter_append (&j, i, sized (i, 1));
    pushed++;
  }
  fail_unless_equals_int (pushed, 1024 * 1024 / (1 + GST_P2P_JITTER_STREAM_ITEM_OVERHEAD) + 1);
  fail_unless_equals_uint64 (gst_p2p_jitter_get_stream_bytes (&j),
      (guint64) pushed * (1 + GST_P2P_JITTER_STREAM_ITEM_OVERHEAD));
  /* datagrams keep counting their payload only */
  fail_unless_equals_int (gst_p2p_jitter_insert (&j, 100000, 0, sized (0, 10)),
      GST_P2P_JITTER_HELD);
  fail_unless_equals_uint64 (gst_p2p_jitter_get_bytes (&j),
      (guint64) pushed * (1 + GST_P2P_JITTER_STREAM_ITEM_OVERHEAD) + 10);
  gst_p2p_jitter_reset (&j);
}
GST_END_TEST;

/* The receiver with epochs (capability "datagram-epoch"): a datagram of a
 * later epoch than the stream reached waits for the stream (also past its
 * wait), is not drained before an event it was sent after, goes once the
 * DATAGRAM_EPOCH that follows that event is taken; one of an earlier
 * epoch that arrives after the stream moved on is late. Without epochs the
 * plain layout decodes as before. */
static GstMiniObject *
frame_object (GBytes *msg)
{
  g_autoptr (GError) err = NULL;
  GstMiniObject *obj = gst_p2p_media_message_to_object (msg, &err);

  fail_unless (obj != NULL, "%s", err ? err->message : "");
  return obj;
}

static void
queue_epoch (GstP2pReceiver *r, guint64 epoch)
{
  g_autoptr (GBytes) m = gst_p2p_media_datagram_epoch_message (epoch);

  gst_p2p_receiver_queue_stream (r, frame_object (m), g_bytes_get_size (m));
}

static void
hold (GstP2pReceiver *r, guint64 seqnum, guint64 epoch, guint64 pts, gboolean epochs)
{
  g_autoptr (GstBuffer) in = buf (pts);
  g_autoptr (GBytes) dg = epochs ? gst_p2p_media_buffer_to_datagram_epoch (in, seqnum,
      epoch) : gst_p2p_media_buffer_to_datagram (in, seqnum);
  guint64 got = 99;
  GstBuffer *b = gst_p2p_receiver_decode_datagram (r, dg, &got);

  fail_unless (b != NULL);
  fail_unless_equals_uint64 (got, seqnum);
  gst_p2p_receiver_hold_datagram (r, seqnum, 0, b);
}

static GstEventType
next_event_type (GstP2pReceiver *r)
{
  GstMiniObject *o = gst_p2p_receiver_next (r, 1000000, 10, FALSE, FALSE);
  GstEventType t;

  fail_unless (o != NULL && GST_IS_EVENT (o));
  t = GST_EVENT_TYPE (o);
  gst_mini_object_unref (o);
  return t;
}

static void
next_buffer_pts (GstP2pReceiver *r, guint64 pts)
{
  GstMiniObject *o = gst_p2p_receiver_next (r, 1000000, 10, FALSE, FALSE);

  fail_unless (o != NULL && GST_IS_BUFFER (o));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (o), pts);
  gst_mini_object_unref (o);
}

GST_START_TEST (test_receiver_epochs)
{
  GstP2pReceiver r;
  GstSegment seg;
  g_autoptr (GstCaps) caps = gst_caps_new_empty_simple ("application/x-b");

  gst_p2p_receiver_init (&r, NULL, GST_CAT_DEFAULT, 0);
  gst_p2p_receiver_use_epochs (&r, TRUE);
  gst_p2p_receiver_expect (&r, 0);
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_p2p_receiver_queue_stream (&r, GST_MINI_OBJECT_CAST (gst_event_new_segment (&seg)), 10);
  queue_epoch (&r, 1);
  /* 0 of epoch 1; 1 of epoch 2, sent after new caps that did not come yet */
  hold (&r, 0, 1, 0, TRUE);
  hold (&r, 1, 2, 10, TRUE);
  fail_unless_equals_int (next_event_type (&r), GST_EVENT_SEGMENT);
  next_buffer_pts (&r, 0);
  /* its wait is long over: it still waits for the stream */
  fail_unless (gst_p2p_receiver_next (&r, 1000000, 10, FALSE, FALSE) == NULL);
  fail_unless_equals_uint64 (gst_p2p_receiver_datagram_due (&r, 10), G_MAXUINT64);
  /* the caps come: not drained before them, out after their epoch mark */
  gst_p2p_receiver_queue_stream (&r, GST_MINI_OBJECT_CAST (gst_event_new_caps (caps)), 10);
  queue_epoch (&r, 2);
  fail_unless_equals_int (next_event_type (&r), GST_EVENT_CAPS);
  next_buffer_pts (&r, 10);
  /* 2 of epoch 1 (sent before the caps) arrives now: late */
  hold (&r, 2, 1, 20, TRUE);
  fail_unless (gst_p2p_receiver_next (&r, 1000000, 10, FALSE, FALSE) == NULL);
  fail_unless_equals_uint64 (r.datagrams_late, 1);
  gst_p2p_receiver_reset (&r);

  /* without epochs: the plain layout */
  gst_p2p_receiver_expect (&r, 0);
  gst_p2p_receiver_queue_stream (&r, GST_MINI_OBJECT_CAST (gst_event_new_segment (&seg)), 10);
  hold (&r, 0, 0, 30, FALSE);
  fail_unless_equals_int (next_event_type (&r), GST_EVENT_SEGMENT);
  next_buffer_pts (&r, 30);
  gst_p2p_receiver_reset (&r);
}
GST_END_TEST;

static Suite *
jitter_suite (void)
{
  Suite *s = suite_create ("p2pjitter");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_reorder_late_duplicate);
  tcase_add_test (tc, test_gap_waits_then_counts_lost);
  tcase_add_test (tc, test_late_arrivals_do_not_restart_wait);
  tcase_add_test (tc, test_overflow_and_append);
  tcase_add_test (tc, test_byte_bound);

  tc = tcase_create ("security");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_security_stream_empty_buffers);
  tcase_add_test (tc, test_receiver_epochs);
  return s;
}

GST_CHECK_MAIN (jitter);
