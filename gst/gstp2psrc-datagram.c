/* gstp2psrc-datagram.c: p2psrc's receive side in delivery=datagram: the
 * network thread holds the datagrams, a reader thread of its own reads the
 * reliable stream (events, and buffers of a reliable sender) while the
 * queue has room (backpressure; "overrun" when it starts waiting), and the
 * streaming thread takes what goes next from the receiver
 * (gstp2preceiver.h), waiting "latency" for missing datagrams and for
 * those still in flight at EOS.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psrc-private.h"

#define GST_CAT_DEFAULT gst_p2p_src_debug

static guint overrun_signal;

/**
 * GstP2pSrc::overrun:
 *
 * delivery=datagram: the reliable-stream queue is full (max-queue-bytes)
 * and the reader stops taking messages until the streaming thread took
 * one; the sender is held back. Emitted from the reader thread, once each
 * time it starts waiting.
 */
void
gst_p2p_src_install_overrun_signal (GObjectClass *gobject_class)
{
  overrun_signal = g_signal_new ("overrun", G_TYPE_FROM_CLASS (gobject_class),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

void
gst_p2p_src_clear_datagram_state_locked (GstP2pSrc *self)
{
  gst_p2p_receiver_reset (&self->receiver);
  self->overrun = FALSE;
  gst_clear_event (&self->pending_segment);
  self->reader_done = FALSE;
  g_clear_error (&self->reader_error);
  gst_p2p_media_assembler_clear (&self->assembler);
}

static void
on_datagram (P2pConnection *conn, GBytes *datagram, gpointer data)
{
  GstP2pSrc *self = data;
  guint64 seqnum = 0;
  GstBuffer *buffer = gst_p2p_receiver_decode_datagram (&self->receiver, datagram, &seqnum);

  if (!buffer)
    return;
  g_mutex_lock (&self->lock);
  if (self->flushing) {
    self->receiver.datagrams_late++;
    gst_buffer_unref (buffer);
  } else {
    GstP2pJitterResult res = gst_p2p_receiver_hold_datagram (&self->receiver, seqnum,
        g_get_monotonic_time (), buffer);

    if (res == GST_P2P_JITTER_HELD || res == GST_P2P_JITTER_HELD_OVERFLOW)
      g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);
}

/* Called with the lock. TRUE when the reliable-stream queue has no room for
 * one more message: the reader then waits, returning no flow-control credit
 * (the sender blocks) until the streaming thread took something. */
static gboolean
stream_queue_full_locked (GstP2pSrc *self)
{
  gsize queued = self->receiver.stream_bytes
      + gst_p2p_jitter_get_stream_bytes (&self->receiver.jitter);

  if (queued == 0)
    return FALSE;
  return queued + P2P_MAX_MESSAGE_SIZE > self->queue_limit
      || self->receiver.stream.length >= MAX_QUEUED_EVENTS
      || gst_p2p_jitter_stream_full (&self->receiver.jitter);
}

/* Waits for room in the reliable-stream queue. FALSE when the reader must
 * stop (cancelled, or @error set: the peer filled it with buffers before any
 * segment, which the streaming thread could never take). */
static gboolean
reader_wait_for_room (GstP2pSrc *self, GCancellable *cancellable, GError **error)
{
  gboolean ok = TRUE;

  g_mutex_lock (&self->lock);
  while (stream_queue_full_locked (self)) {
    if (g_cancellable_is_cancelled (cancellable) || self->flushing) {
      ok = FALSE;
      break;
    }
    if (!self->receiver.segment_seen && g_queue_is_empty (&self->receiver.stream)) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
          "peer sent %" G_GSIZE_FORMAT " bytes of buffers before a segment",
          gst_p2p_jitter_get_stream_bytes (&self->receiver.jitter));
      ok = FALSE;
      break;
    }
    if (!self->overrun) {
      gsize queued = gst_p2p_receiver_get_bytes (&self->receiver);

      self->overrun = TRUE;
      g_mutex_unlock (&self->lock);
      GST_DEBUG_OBJECT (self, "queue full (%" G_GSIZE_FORMAT " bytes): "
          "waiting for the streaming thread", queued);
      g_signal_emit (self, overrun_signal, 0);
      g_mutex_lock (&self->lock);
      continue;
    }
    g_cond_wait (&self->cond, &self->lock);
  }
  self->overrun = FALSE;
  g_mutex_unlock (&self->lock);
  return ok;
}

/* What the reader thread reads from, given to it when it starts: the
 * element's own pointers may be cleared before it runs (a receiver torn
 * down at once after connecting). */
typedef struct {
  GstP2pSrc *self;
  P2pConnection *conn;
  GCancellable *cancellable;
} ReaderStart;

static gpointer
reader_thread (gpointer data)
{
  ReaderStart *start = data;
  GstP2pSrc *self = start->self;
  P2pConnection *conn = start->conn;
  GCancellable *cancellable = start->cancellable;
  GstP2pMediaAssembler assembler;

  g_free (start);
  gst_p2p_media_assembler_init (&assembler);

  for (;;) {
    g_autoptr (GError) err = NULL;
    g_autoptr (GBytes) msg = NULL;
    GstMiniObject *obj = NULL;
    guint64 seqnum = 0;

    if (reader_wait_for_room (self, cancellable, &err))
      msg = p2p_connection_receive (conn, cancellable, &err);
    else if (!err)
      g_set_error (&err, G_IO_ERROR, G_IO_ERROR_CANCELLED, "stopped");
    if (msg) {
      obj = gst_p2p_media_assembler_push (&assembler, msg, &err);
      if (!obj && !err)
        continue;               /* a part of a big buffer */
    }
    if (obj && GST_IS_EVENT (obj) &&
        gst_p2p_media_event_get_datagram_seqnum (GST_EVENT_CAST (obj), &seqnum)) {
      g_mutex_lock (&self->lock);
      gst_p2p_receiver_note_datagram_seqnum (&self->receiver, seqnum);
      g_mutex_unlock (&self->lock);
      gst_mini_object_unref (obj);
      continue;
    }
    if (obj && !GST_IS_EVENT (obj)) {
      /* a buffer on the stream (the sender runs delivery=reliable) */
      g_mutex_lock (&self->lock);
      gst_p2p_receiver_append_stream_buffer (&self->receiver, g_get_monotonic_time (),
          GST_BUFFER_CAST (obj));
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
      continue;
    }
    g_mutex_lock (&self->lock);
    if (obj && GST_IS_EVENT (obj) && GST_EVENT_TYPE (obj) == GST_EVENT_EOS) {
      guint latency;

      GST_OBJECT_LOCK (self);
      latency = self->latency;
      GST_OBJECT_UNLOCK (self);
      self->eos_due = g_get_monotonic_time () + (gint64) latency * 1000;
    }
    if (!obj) {
      self->reader_done = TRUE;
      self->reader_error = g_steal_pointer (&err);
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
      break;
    }
    gst_p2p_receiver_queue_stream (&self->receiver, obj, g_bytes_get_size (msg));
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
  }
  gst_p2p_media_assembler_clear (&assembler);
  g_object_unref (conn);
  g_object_unref (cancellable);
  return NULL;
}

void
gst_p2p_src_start_datagram_receive_locked (GstP2pSrc *self, P2pConnection *conn)
{
  GST_OBJECT_LOCK (self);
  self->queue_limit = (gsize) MIN (self->max_queue_bytes, G_MAXSIZE);
  GST_OBJECT_UNLOCK (self);
  gst_p2p_jitter_set_max_bytes (&self->receiver.jitter, self->queue_limit);
  /* both ends tie each datagram to the events before it */
  gst_p2p_receiver_use_epochs (&self->receiver,
      p2p_connection_has_capability (conn, "datagram-epoch"));
  g_signal_connect (conn, "datagram-received", G_CALLBACK (on_datagram), self);
  self->reader_cancellable = g_cancellable_new ();
  {
    ReaderStart *start = g_new0 (ReaderStart, 1);

    start->self = self;
    start->conn = g_object_ref (conn);
    start->cancellable = g_object_ref (self->reader_cancellable);
    self->reader = g_thread_new ("p2psrc-reader", reader_thread, start);
  }
}

GstMiniObject *
gst_p2p_src_next_datagram_item (GstP2pSrc *self, GError **error)
{
  GstMiniObject *out = NULL;
  guint64 wait;

  GST_OBJECT_LOCK (self);
  wait = (guint64) self->latency * 1000;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->lock);
  for (;;) {
    gint64 now = g_get_monotonic_time ();
    GstMiniObject *head = gst_p2p_receiver_peek_stream (&self->receiver);
    gboolean eos_wait;
    guint64 due;

    if (self->flushing || self->pending_eos)
      break;
    /* datagrams sent before the EOS may still be in flight: EOS waits
     * "latency" for them */
    eos_wait = head && GST_IS_EVENT (head) && GST_EVENT_TYPE (head) == GST_EVENT_EOS
        && now < self->eos_due;
    out = gst_p2p_receiver_next (&self->receiver, (guint64) now, wait, FALSE, eos_wait);
    if (out) {
      g_cond_broadcast (&self->cond);   /* room for the reader */
      break;
    }
    due = gst_p2p_receiver_datagram_due (&self->receiver, wait);
    if (eos_wait)
      due = MIN (due, (guint64) self->eos_due);
    if (due != G_MAXUINT64) {
      g_cond_wait_until (&self->cond, &self->lock, (gint64) due);
      continue;
    }
    if (self->reader_done) {
      if (self->reader_error)
        g_propagate_error (error, g_steal_pointer (&self->reader_error));
      else
        g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "connection closed");
      break;
    }
    g_cond_wait (&self->cond, &self->lock);
  }
  g_mutex_unlock (&self->lock);
  return out;
}
