/* gstp2psrc-files-push.c: p2psrc's random-access mode in push mode (a
 * downstream that does not pull, or pull-mode=false): a streaming task
 * pushes the file from a position, PUSH_CHUNK bytes at most a buffer (as
 * many as have arrived: gst_p2p_file_reader_read), and BYTES seeks move
 * the position and set where the file ends (flushing or not), like GstBaseSrc.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psrc-files.h"

GST_DEBUG_CATEGORY_EXTERN (gst_p2p_debug);
#define GST_CAT_DEFAULT gst_p2p_debug

#define PUSH_CHUNK (64 * 1024)

struct _GstP2pFilePush {
  gint ref_count;
  GstP2pFileReader *reader;     /* ref */
  GstElement *element;
  GstPad *pad;
  /* under the pad's stream lock */
  guint64 pos;
  guint64 stop;                 /* G_MAXUINT64: to the end of the file */
  gdouble rate;                 /* the last seek's (a parser's TIME seek at a rate) */
  gboolean started, need_segment;
  gboolean discont;             /* the next buffer starts a new run of bytes */
  guint32 seqnum;
};

static void
push_loop (gpointer data)
{
  GstP2pFilePush *self = data;
  GstBuffer *buf = NULL;
  GstFlowReturn ret;

  if (!self->started) {
    g_autofree char *id = gst_pad_create_stream_id (self->pad, self->element, NULL);

    gst_pad_push_event (self->pad, gst_event_new_stream_start (id));
    self->started = TRUE;
  }
  if (self->need_segment) {
    GstSegment seg;
    GstEvent *ev;

    gst_segment_init (&seg, GST_FORMAT_BYTES);
    seg.start = seg.position = seg.time = self->pos;
    seg.rate = self->rate;
    if (self->stop != G_MAXUINT64)
      seg.stop = self->stop;
    ev = gst_event_new_segment (&seg);
    if (self->seqnum)
      gst_event_set_seqnum (ev, self->seqnum);
    gst_pad_push_event (self->pad, ev);
    self->need_segment = FALSE;
  }
  if (gst_p2p_file_reader_ended (self->reader, NULL))
    ret = GST_FLOW_EOS;       /* the application's EOS */
  else if (self->pos >= self->stop)
    ret = GST_FLOW_EOS;       /* a seek's stop position reached */
  else
    ret = gst_p2p_file_reader_read (self->reader, self->pos,
        (guint) MIN ((guint64) PUSH_CHUNK, self->stop - self->pos), &buf);
  if (ret == GST_FLOW_OK) {
    self->pos += gst_buffer_get_size (buf);
    if (self->discont) {
      /* the first buffer, and the first after a seek or a flush */
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
      self->discont = FALSE;
    }
    ret = gst_pad_push (self->pad, buf);
  }
  if (ret == GST_FLOW_OK)
    return;
  GST_DEBUG_OBJECT (self->element, "pausing: %s", gst_flow_get_name (ret));
  gst_pad_pause_task (self->pad);
  if (ret == GST_FLOW_FLUSHING && gst_p2p_file_reader_ended (self->reader, NULL))
    ret = GST_FLOW_EOS;       /* downstream flushing as the EOS came */
  if (ret == GST_FLOW_EOS) {
    GstEvent *ev = gst_event_new_eos ();
    guint32 seqnum = self->seqnum;

    gst_p2p_file_reader_ended (self->reader, &seqnum);
    if (seqnum)
      gst_event_set_seqnum (ev, seqnum);
    gst_pad_push_event (self->pad, ev);
  } else if (ret == GST_FLOW_NOT_LINKED || ret < GST_FLOW_EOS) {
    if (ret != GST_FLOW_ERROR)  /* an error from the reader is posted already */
      GST_ELEMENT_FLOW_ERROR (self->element, ret);
    gst_pad_push_event (self->pad, gst_event_new_eos ());
  }
}

GstP2pFilePush *
gst_p2p_file_push_start (GstP2pFileReader *reader, GstElement *element, GstPad *pad)
{
  GstP2pFilePush *self = g_new0 (GstP2pFilePush, 1);

  self->ref_count = 1;
  self->reader = gst_p2p_file_reader_ref (reader);
  self->element = element;
  self->pad = pad;
  self->need_segment = TRUE;
  self->discont = TRUE;
  self->stop = G_MAXUINT64;
  self->rate = 1.0;
  if (!gst_pad_start_task (pad, push_loop, self, NULL)) {
    gst_p2p_file_push_unref (self);
    return NULL;
  }
  return self;
}

GstP2pFilePush *
gst_p2p_file_push_ref (GstP2pFilePush *self)
{
  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
gst_p2p_file_push_unref (GstP2pFilePush *self)
{
  if (!self || !g_atomic_int_dec_and_test (&self->ref_count))
    return;
  gst_p2p_file_reader_unref (self->reader);
  g_free (self);
}

/* Under the pad's stream lock: the task goes on from self->pos with a new
 * segment (of @seqnum) and a DISCONT buffer. */
static void
restart_locked (GstP2pFilePush *self, guint32 seqnum)
{
  self->need_segment = TRUE;
  self->discont = TRUE;
  self->seqnum = seqnum;
  /* not when the pad is going down: its deactivation stopped the task
   * already and frees this after taking the stream lock */
  if (!gst_p2p_file_reader_is_stopped (self->reader))
    gst_pad_start_task (self->pad, push_loop, self, NULL);
}

gboolean
gst_p2p_file_push_seek (GstP2pFilePush *self, GstEvent *event)
{
  GstFormat format;
  GstSeekFlags flags;
  GstSeekType start_type, stop_type;
  gint64 start, stop;
  gdouble rate;
  gboolean flush;
  guint32 seqnum = gst_event_get_seqnum (event);

  gst_event_parse_seek (event, &rate, &format, &flags, &start_type, &start, &stop_type, &stop);
  if (format != GST_FORMAT_BYTES || rate <= 0.0 || start_type == GST_SEEK_TYPE_END
      || stop_type == GST_SEEK_TYPE_END) {
    GST_DEBUG_OBJECT (self->element, "only forward BYTES seeks from the start are handled");
    return FALSE;
  }
  if (start_type == GST_SEEK_TYPE_SET && stop_type == GST_SEEK_TYPE_SET && stop >= 0
      && start > stop) {
    GST_DEBUG_OBJECT (self->element, "seek start %" G_GINT64_FORMAT " after its stop %"
        G_GINT64_FORMAT, start, stop);
    return FALSE;
  }
  flush = (flags & GST_SEEK_FLAG_FLUSH) != 0;
  if (flush) {
    GstEvent *ev = gst_event_new_flush_start ();

    gst_event_set_seqnum (ev, seqnum);
    gst_pad_push_event (self->pad, ev);
    /* a read waiting for the network returns now (FLUSHING), not after it */
    gst_p2p_file_reader_interrupt (self->reader);
  } else {
    /* the same before pausing: pausing waits for the streaming lock, which
     * the task holds while it reads (it then pauses itself, no EOS) */
    gst_p2p_file_reader_interrupt (self->reader);
    gst_pad_pause_task (self->pad);
  }
  GST_PAD_STREAM_LOCK (self->pad);
  gst_p2p_file_reader_resume (self->reader);
  if (flush) {
    GstEvent *ev = gst_event_new_flush_stop (TRUE);

    gst_event_set_seqnum (ev, seqnum);
    gst_pad_push_event (self->pad, ev);
  }
  if (start_type == GST_SEEK_TYPE_SET && start >= 0)
    self->pos = (guint64) start;
  /* a stop of -1 reads to the end again; none given (GST_SEEK_TYPE_NONE)
   * keeps the last one, as GstBaseSrc's segment does */
  if (stop_type == GST_SEEK_TYPE_SET)
    self->stop = stop >= 0 ? (guint64) stop : G_MAXUINT64;
  /* as GstBaseSrc's segment takes it: baseparse turns a TIME seek at
   * rate 1.5 into a BYTES seek at 1.5 and plays at the rate its upstream
   * segment gives (it was always 1.0 here: playback speed was ignored) */
  self->rate = rate;
  restart_locked (self, seqnum);
  GST_PAD_STREAM_UNLOCK (self->pad);
  return TRUE;
}

gboolean
gst_p2p_file_push_flush_stop (GstP2pFilePush *self, GstEvent *event, gboolean forward)
{
  gboolean ok = TRUE;

  GST_PAD_STREAM_LOCK (self->pad);
  gst_p2p_file_reader_resume (self->reader);
  if (forward)
    ok = gst_pad_push_event (self->pad, gst_event_ref (event));
  restart_locked (self, gst_event_get_seqnum (event));
  GST_PAD_STREAM_UNLOCK (self->pad);
  return ok;
}
