/* gstp2psrc-segment.c: the segments p2psrc pushes. Live (delivery=datagram
 * or is-live): the sender's segment waits for its first buffer and is
 * shifted so that this buffer plays now. Not live: the sender's segment
 * unchanged, except for a late joiner, whose segments are shifted back by
 * how late it joined (issue 16 item 2).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psrc-private.h"

#define GST_CAT_DEFAULT gst_p2p_src_debug

/* The pipeline's running time now: from the clock in PLAYING; before (the
 * task runs from PAUSED on, and the clock comes with PLAYING) the running
 * time PLAYING will start from. @playing: (out) (optional): whether it
 * came from the clock. */
static GstClockTime
current_running_time (GstP2pSrc *self, gboolean *playing)
{
  GstElement *element = GST_ELEMENT (self);
  g_autoptr (GstClock) clock = NULL;
  GstClockTime now, base_time, start_time;
  gboolean is_playing;

  GST_OBJECT_LOCK (self);
  is_playing = GST_STATE (self) == GST_STATE_PLAYING;
  clock = element->clock ? gst_object_ref (element->clock) : NULL;
  base_time = element->base_time;
  start_time = element->start_time;
  GST_OBJECT_UNLOCK (self);
  if (playing)
    *playing = is_playing && clock;
  if (is_playing && clock) {
    now = gst_clock_get_time (clock);
    return now > base_time ? now - base_time : 0;
  }
  return GST_CLOCK_TIME_IS_VALID (start_time) ? start_time : 0;
}

/* A live receiver (delivery=datagram or is-live): the segment goes out with
 * the first buffer after it, shifted so that this buffer's running time is
 * the clock's running time now (the sink then plays it "latency" later). A
 * late joiner thus plays at once from the sender's current position,
 * whatever the sender's running time: when the shift is backwards by more
 * than the segment's base, the rest moves its offset
 * (gst_segment_offset_running_time), which a base clamped at 0 could not
 * do (issue 16 item 2). */
void
gst_p2p_src_push_pending_segment (GstP2pSrc *self, GstClockTime ts)
{
  GstEvent *ev = g_steal_pointer (&self->pending_segment);
  const GstSegment *seg = NULL;
  GstSegment segment;
  GstClockTime buf_rt, now_rt;
  gboolean playing;

  if (!ev)
    return;
  gst_event_parse_segment (ev, &seg);
  segment = *seg;
  if (segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (ts)) {
    now_rt = current_running_time (self, NULL);
    buf_rt = gst_segment_to_running_time (&segment, GST_FORMAT_TIME, ts);
    if (GST_CLOCK_TIME_IS_VALID (buf_rt)) {
      GstSegment shifted = segment;

      /* running times are below 2^63 ns: the difference fits */
      if (gst_segment_offset_running_time (&shifted, GST_FORMAT_TIME,
              (gint64) now_rt - (gint64) buf_rt))
        segment = shifted;
      else
        GST_WARNING_OBJECT (self, "cannot shift the segment by %"
            GST_STIME_FORMAT, GST_STIME_ARGS ((gint64) now_rt - (gint64) buf_rt));
      GST_DEBUG_OBJECT (self, "live segment base %" GST_TIME_FORMAT " offset %"
          GST_TIME_FORMAT ": first buffer at running time %" GST_TIME_FORMAT,
          GST_TIME_ARGS (segment.base), GST_TIME_ARGS (segment.offset),
          GST_TIME_ARGS (gst_segment_to_running_time (&segment, GST_FORMAT_TIME, ts)));
    }
  }
  /* placed by a buffer: the next buffers check whether the running time
   * stood still (gst_p2p_src_live_check_buffer) */
  self->live_anchored = segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (ts);
  self->live_segment = segment;
  self->live_anchor_rt = current_running_time (self, &playing);
  self->live_anchor_us = g_get_monotonic_time ();
  self->live_late_since_us = 0;
  self->live_dropping = FALSE;
  g_mutex_lock (&self->lock);
  self->live_maybe_paused = !playing;
  g_mutex_unlock (&self->lock);
  gst_event_unref (ev);
  gst_pad_push_event (self->srcpad, gst_event_new_segment (&segment));
}

/* The running time may stand still this long between two buffers before
 * the segment moves (a pause shorter than this adds at most as much to the
 * delay); well above the drift between the pipeline's clock and the
 * monotonic clock over the gap between two buffers */
#define LIVE_PAUSE_THRESHOLD (50 * GST_MSECOND)

/* How late (beyond the pipeline's latency) buffers may keep arriving, and for how long,
 * before the segment moves for them (gst_p2p_src_live_check_buffer) */
#define LIVE_LATE_THRESHOLD (200 * GST_MSECOND)
#define LIVE_LATE_REANCHOR_US (1000 * G_GINT64_CONSTANT (1000))

/* A live source's running time goes on while the pipeline is PAUSED only
 * in the sender's pipeline: the sender kept sending, and what arrived
 * meanwhile waited here. Kept in the segment placed before, it would all
 * be played in turn, and the delay from the sender would grow by every
 * pause (measured: 2 s after a 2 s pause). A GstBaseSrc live source
 * (alsasrc, udpsrc with do-timestamp) drops what came while paused and
 * timestamps what comes next from the clock; here the segment is moved
 * by the time the running time stood still, so that a buffer arriving now
 * plays "latency" from now again, and the buffers that are then too late
 * to play (those that arrived while paused, except the last "latency" or
 * so) are dropped. */
gboolean
gst_p2p_src_live_check_buffer (GstP2pSrc *self, GstBuffer *buf)
{
  GstClockTime ts = GST_BUFFER_DTS_OR_PTS (buf);
  GstClockTime now_rt, buf_rt, expected, pipeline_latency, due;
  gboolean playing, maybe_paused;
  gint64 now_us;
  guint latency;

  if (!self->live_anchored)
    return TRUE;
  now_rt = current_running_time (self, &playing);
  if (!playing)
    return TRUE;                /* checked in PLAYING, against the last check */
  g_mutex_lock (&self->lock);
  maybe_paused = self->live_maybe_paused;
  self->live_maybe_paused = FALSE;
  g_mutex_unlock (&self->lock);
  GST_OBJECT_LOCK (self);
  latency = self->latency;
  pipeline_latency = self->pipeline_latency;
  GST_OBJECT_UNLOCK (self);
  now_us = g_get_monotonic_time ();
  expected = self->live_anchor_rt
      + (GstClockTime) MAX (now_us - self->live_anchor_us, 0) * GST_USECOND;
  if (maybe_paused && expected > now_rt + LIVE_PAUSE_THRESHOLD) {
    GstClockTimeDiff stood = GST_CLOCK_DIFF (now_rt, expected);
    GstSegment moved = self->live_segment;

    if (gst_segment_offset_running_time (&moved, GST_FORMAT_TIME, -stood)) {
      GST_INFO_OBJECT (self, "the running time stood still for %" GST_STIME_FORMAT
          " (paused): playing from what arrives now, %u ms from now",
          GST_STIME_ARGS (stood), latency);
      self->live_segment = moved;
      self->live_late_since_us = 0;
      self->live_dropping = TRUE;
      self->live_dropped = 0;
      gst_pad_push_event (self->srcpad, gst_event_new_segment (&moved));
    }
  }
  self->live_anchor_rt = now_rt;
  self->live_anchor_us = now_us;
  if (self->live_dropping) {
    buf_rt = gst_segment_to_running_time (&self->live_segment, GST_FORMAT_TIME, ts);
    if (GST_CLOCK_TIME_IS_VALID (ts)
        && (!GST_CLOCK_TIME_IS_VALID (buf_rt)
            || buf_rt + latency * GST_MSECOND < now_rt)) {
      self->live_dropped++;
      GST_LOG_OBJECT (self, "dropping %" GST_PTR_FORMAT ": arrived while paused", buf);
      return FALSE;
    }
    self->live_dropping = FALSE;
    if (self->live_dropped > 0) {
      GST_INFO_OBJECT (self, "dropped %" G_GUINT64_FORMAT " buffers that arrived "
          "while paused", self->live_dropped);
      self->live_discont = TRUE;
    }
  }
  /* The sender's stream fell behind this pipeline's clock and stays there:
   * the sender's pipeline paused (its live source's running time stopped
   * with it, so its timestamps go on from where they were and arrive as
   * late as the pause was long). A sink with sync would drop every buffer
   * from then on. Late by more than LIVE_LATE_THRESHOLD for
   * LIVE_LATE_REANCHOR_US in a row (a backlog after a stall drains faster
   * than that and is not moved for), the segment moves so that the buffer
   * now arriving plays "latency" from now again, marked DISCONT. */
  /* (due: the pipeline's latency after its running time, at least ours;
   * a sink with more latency holds each push until then, and buffers
   * reach this check that much later) */
  due = MAX ((GstClockTime) latency * GST_MSECOND,
      GST_CLOCK_TIME_IS_VALID (pipeline_latency) ? pipeline_latency : 0);
  buf_rt = gst_segment_to_running_time (&self->live_segment, GST_FORMAT_TIME, ts);
  if (GST_CLOCK_TIME_IS_VALID (ts) && GST_CLOCK_TIME_IS_VALID (buf_rt)
      && buf_rt + due + LIVE_LATE_THRESHOLD < now_rt) {
    if (self->live_late_since_us == 0) {
      self->live_late_since_us = now_us;
    } else if (now_us - self->live_late_since_us >= LIVE_LATE_REANCHOR_US) {
      GstClockTimeDiff late = GST_CLOCK_DIFF (buf_rt, now_rt);
      GstSegment moved = self->live_segment;

      if (gst_segment_offset_running_time (&moved, GST_FORMAT_TIME, late)) {
        GST_INFO_OBJECT (self, "the sender's stream has been late by %" GST_STIME_FORMAT
            " or more for %u ms (its pipeline paused?): playing from what arrives now",
            GST_STIME_ARGS (late), (guint) (LIVE_LATE_REANCHOR_US / 1000));
        self->live_segment = moved;
        self->live_discont = TRUE;
        gst_pad_push_event (self->srcpad, gst_event_new_segment (&moved));
      }
      self->live_late_since_us = 0;
    }
  } else {
    self->live_late_since_us = 0;
  }
  return TRUE;
}

void
gst_p2p_src_push_segment_not_live (GstP2pSrc *self, GstEvent *event)
{
  const GstSegment *seg;

  gst_event_parse_segment (event, &seg);
  self->segment = *seg;
  self->segment_fresh = TRUE;
  if (self->rt_shift != 0 && seg->format == GST_FORMAT_TIME
      && gst_segment_offset_running_time (&self->segment, GST_FORMAT_TIME,
          self->rt_shift)) {
    GstEvent *shifted = gst_event_new_segment (&self->segment);

    gst_event_set_seqnum (shifted, gst_event_get_seqnum (event));
    gst_event_unref (event);
    event = shifted;
  } else {
    self->segment = *seg;
  }
  gst_pad_push_event (self->srcpad, event);
}

/* Not live (delivery=reliable without is-live): the sender's segment goes
 * on unchanged, except for a late joiner. When the first buffer of a
 * connection comes more than "latency" ms of running time after its
 * segment's start (the base), the receiver joined a stream that had
 * already played that long: the segment is sent again shifted back by that
 * much, so the receiver plays at once from the sender's current position
 * instead of waiting in silence (issue 16 item 2); later segments get the
 * same shift. An early joiner (the first buffer within "latency" of the
 * start) gets the sender's segment unchanged. */
void
gst_p2p_src_shift_late_join_not_live (GstP2pSrc *self, GstClockTime ts)
{
  GstClockTime buf_rt;
  GstClockTimeDiff late;
  GstSegment segment = self->segment;
  GstEvent *ev;
  guint latency;

  if (!self->segment_fresh)
    return;
  self->segment_fresh = FALSE;
  if (self->shift_decided)
    return;
  self->shift_decided = TRUE;
  if (segment.format != GST_FORMAT_TIME || !GST_CLOCK_TIME_IS_VALID (ts))
    return;
  buf_rt = gst_segment_to_running_time (&segment, GST_FORMAT_TIME, ts);
  if (!GST_CLOCK_TIME_IS_VALID (buf_rt) || buf_rt <= segment.base)
    return;
  late = GST_CLOCK_DIFF (segment.base, buf_rt);
  GST_OBJECT_LOCK (self);
  latency = self->latency;
  GST_OBJECT_UNLOCK (self);
  if (late <= (GstClockTimeDiff) latency * GST_MSECOND)
    return;
  if (!gst_segment_offset_running_time (&segment, GST_FORMAT_TIME, -late))
    return;
  GST_INFO_OBJECT (self, "joined %" GST_TIME_FORMAT " into the stream: "
      "playing from the sender's current position", GST_TIME_ARGS (late));
  self->rt_shift = -late;
  self->segment = segment;
  ev = gst_event_new_segment (&segment);
  gst_pad_push_event (self->srcpad, ev);
}
