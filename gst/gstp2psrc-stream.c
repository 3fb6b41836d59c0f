/* gstp2psrc-stream.c: p2psrc's streaming thread in the stream mode (no
 * location): connect, take what the sender sent (messages in reliable
 * delivery, the receiver's next item in datagram delivery), place the
 * segment, push buffers (in lists when several have arrived) and events,
 * and handle the end of the stream, errors and an application's EOS.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psrc-private.h"

#define GST_CAT_DEFAULT gst_p2p_src_debug

/* Gives stream-start @ev (writable) the run's group id: the same while the
 * stream id is the same (a resume replays the stream-start), a new one
 * for another stream. */
static void
set_group_id (GstP2pSrc *self, GstEvent *ev)
{
  const char *id = NULL;

  gst_event_parse_stream_start (ev, &id);
  if (self->group_id == 0 || g_strcmp0 (id, self->group_stream_id) != 0) {
    self->group_id = gst_util_group_id_next ();
    g_free (self->group_stream_id);
    self->group_stream_id = g_strdup (id);
  }
  gst_event_set_group_id (ev, self->group_id);
}

/* ---- streaming ---- */

static void
push_stream_start_if_needed (GstP2pSrc *self)
{
  if (!self->stream_started) {
    g_autofree char *id = gst_pad_create_stream_id (self->srcpad,
        GST_ELEMENT (self), NULL);
    GstEvent *ev = gst_event_new_stream_start (id);

    set_group_id (self, ev);
    gst_pad_push_event (self->srcpad, ev);
    self->stream_started = TRUE;
  }
}

static void
pause_task (GstP2pSrc *self, const char *why)
{
  GST_DEBUG_OBJECT (self, "pausing task: %s", why);
  gst_pad_pause_task (self->srcpad);
}

/* Before a buffer or GAP at @ts: the stream start, and the segment placed
 * for it (live: shifted to play it now; not live: a late join's shift). */
static void
place_segment (GstP2pSrc *self, GstClockTime ts)
{
  push_stream_start_if_needed (self);
  if (self->live)
    gst_p2p_src_push_pending_segment (self, ts);
  else
    gst_p2p_src_shift_late_join_not_live (self, ts);
}

/* What every buffer goes through before it is pushed (alone or in a list;
 * @buf writable). FALSE when it is dropped instead (live: it arrived while
 * the pipeline was paused and is too late now). */
static gboolean
prepare_buffer (GstP2pSrc *self, GstBuffer *buf)
{
  GST_LOG_OBJECT (self, "received %" GST_PTR_FORMAT, buf);
  place_segment (self, GST_BUFFER_DTS_OR_PTS (buf));
  if (self->live && !gst_p2p_src_live_check_buffer (self, buf))
    return FALSE;
  if (self->live_discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->live_discont = FALSE;
    self->resume_gap_pending = FALSE;
  }
  if (!self->first_buffer_done) {
    self->first_buffer_done = TRUE;
    GST_INFO_OBJECT (self, "first buffer after %.1f ms (from start to push)",
        (g_get_monotonic_time () - self->activated_us) / 1000.0);
  }
  return TRUE;
}

/* TRUE for OK; else the task pauses (after an error and EOS for a fatal
 * flow return). */
static gboolean
handle_flow (GstP2pSrc *self, GstFlowReturn ret)
{
  if (ret == GST_FLOW_OK)
    return TRUE;
  if (ret == GST_FLOW_FLUSHING && self->sender_flushing) {
    /* rendered by the sender as its flush started (a datagram sent after
     * the FLUSH_START frame): dropped, the FLUSH_STOP is still to come */
    GST_DEBUG_OBJECT (self, "a buffer inside the sender's flush: dropped");
    return TRUE;
  }
  if (ret == GST_FLOW_EOS) {
    /* downstream wants no more (identity eos-after, a sink at its
     * num-buffers): an EOS event, as GstBaseSrc does, and the sender is
     * told this receiver is done */
    GST_INFO_OBJECT (self, "downstream returned EOS: ending the stream");
    gst_p2p_src_drop_connection (self, "receiver ended the stream (downstream EOS)");
    gst_pad_push_event (self->srcpad, gst_event_new_eos ());
  } else if (ret == GST_FLOW_NOT_LINKED || ret < GST_FLOW_EOS) {
    GST_ELEMENT_FLOW_ERROR (self, ret);
    gst_pad_push_event (self->srcpad, gst_event_new_eos ());
  }
  pause_task (self, gst_flow_get_name (ret));
  return FALSE;
}

/* Pushes @list (transfer full), its buffers prepared in order. */
static gboolean
push_list (GstP2pSrc *self, GstBufferList *list)
{
  guint n;

  for (guint i = 0; i < gst_buffer_list_length (list);) {
    if (prepare_buffer (self, gst_buffer_list_get_writable (list, i)))
      i++;
    else
      gst_buffer_list_remove (list, i, 1);
  }
  n = gst_buffer_list_length (list);
  if (n == 0) {
    gst_buffer_list_unref (list);
    return TRUE;
  }
  GST_LOG_OBJECT (self, "pushing a list of %u buffers", n);
  return handle_flow (self, gst_pad_push_list (self->srcpad, list));
}

/* Pushes one decoded item (transfer full). Returns FALSE when the task must
 * pause. */
static gboolean
push_item (GstP2pSrc *self, GstMiniObject *obj)
{
  if (GST_IS_BUFFER (obj)) {
    GstBuffer *buf = gst_buffer_make_writable (GST_BUFFER_CAST (obj));

    if (!prepare_buffer (self, buf)) {
      gst_buffer_unref (buf);
      return TRUE;
    }
    return handle_flow (self, gst_pad_push (self->srcpad, buf));
  }

  GST_LOG_OBJECT (self, "received %" GST_PTR_FORMAT, obj);
  {
    GstEvent *event = GST_EVENT_CAST (obj);

    switch (GST_EVENT_TYPE (event)) {
      case GST_EVENT_STREAM_START:
        self->stream_started = TRUE;
        /* the group id is not on the wire: one per stream, as GstBaseSrc
         * gives (playbin's gapless switch looks at it) */
        event = gst_event_make_writable (event);
        set_group_id (self, event);
        gst_pad_push_event (self->srcpad, event);
        return TRUE;
      case GST_EVENT_SEGMENT:
        push_stream_start_if_needed (self);
        if (self->live) {
          gst_clear_event (&self->pending_segment);
          self->pending_segment = event;
        } else {
          gst_p2p_src_push_segment_not_live (self, event);
        }
        return TRUE;
      case GST_EVENT_EOS:
        push_stream_start_if_needed (self);
        gst_p2p_src_push_pending_segment (self, GST_CLOCK_TIME_NONE);
        GST_INFO_OBJECT (self, "end of stream from %s", self->conn_peer);
        /* closed first: "stats" and the "disconnected" message are final
         * when EOS reaches the bus */
        gst_p2p_src_drop_connection (self, "end of stream received");
        gst_pad_push_event (self->srcpad, event);
        pause_task (self, "eos");
        return FALSE;
      case GST_EVENT_FLUSH_STOP:{
        gboolean reset_time;

        gst_event_parse_flush_stop (event, &reset_time);
        if (reset_time) {
          /* the sender's running time starts over (a flushing seek): a
           * late join's shift no longer applies, its first buffer after
           * this decides again */
          self->rt_shift = 0;
          self->shift_decided = FALSE;
          self->segment_fresh = FALSE;
          self->live_anchored = FALSE;
        }
        self->sender_flushing = FALSE;
        gst_pad_push_event (self->srcpad, event);
        return TRUE;
      }
      case GST_EVENT_FLUSH_START:
        self->sender_flushing = TRUE;
        gst_pad_push_event (self->srcpad, event);
        return TRUE;
      case GST_EVENT_GAP:{
        GstClockTime ts;

        /* a GAP first (a sparse or gap-filled stream) places the segment
         * as a buffer would */
        gst_event_parse_gap (event, &ts, NULL);
        place_segment (self, ts);
        gst_pad_push_event (self->srcpad, event);
        return TRUE;
      }
      default:
        push_stream_start_if_needed (self);
        /* the segment waits for its first buffer (live shift) also across
         * caps and tags, which a sender sends between them */
        if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS
            && GST_EVENT_TYPE (event) != GST_EVENT_TAG)
          gst_p2p_src_push_pending_segment (self, GST_CLOCK_TIME_NONE);
        gst_pad_push_event (self->srcpad, event);
        return TRUE;
    }
  }
}

/* Pushes the EOS that the application sent (send_event), if one is pending:
 * what was pushed stays, the rest is dropped, the connection is closed with
 * a reason the sender logs, and the task pauses. TRUE when it did. */
static gboolean
push_pending_eos (GstP2pSrc *self)
{
  GstEvent *eos;

  g_mutex_lock (&self->lock);
  eos = g_steal_pointer (&self->pending_eos);
  g_mutex_unlock (&self->lock);
  if (!eos)
    return FALSE;
  GST_INFO_OBJECT (self, "end of stream requested by the application");
  push_stream_start_if_needed (self);
  gst_p2p_src_push_pending_segment (self, GST_CLOCK_TIME_NONE);
  gst_p2p_src_drop_connection (self, "receiver ended the stream (EOS)");
  gst_pad_push_event (self->srcpad, eos);
  pause_task (self, "eos requested");
  return TRUE;
}

static void
handle_stream_error (GstP2pSrc *self, GError *err)
{
  g_autofree char *peer = g_strdup (self->conn_peer);

  if (push_pending_eos (self))
    return;
  if (g_error_matches (err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    pause_task (self, "flushing");
    return;
  }
  gst_p2p_src_drop_connection (self, err->domain == P2P_ERROR
      && err->code == P2P_ERROR_PROTOCOL ? "protocol error" : "connection lost");
  if (gst_p2p_src_may_retry (self, err->message))
    return;                     /* the next iteration reconnects */
  g_mutex_lock (&self->lock);
  if (self->flushing) {
    g_mutex_unlock (&self->lock);
    pause_task (self, "flushing");
    return;
  }
  g_mutex_unlock (&self->lock);
  if (err->domain == P2P_ERROR && err->code == P2P_ERROR_PROTOCOL)
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("Malformed data from peer %s: %s", peer, err->message), (NULL));
  else if (err->domain == P2P_ERROR && err->code == P2P_ERROR_CLOSED)
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Peer %s closed the connection before the end of the stream: %s",
            peer, err->message), (NULL));
  else
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Connection to peer %s lost: %s", peer, err->message), (NULL));
  gst_pad_push_event (self->srcpad, gst_event_new_eos ());
  pause_task (self, "error");
}

/* Reliable delivery: one message through the assembler and the filters:
 * the item for downstream, or NULL (a part of a buffer, something for us,
 * or an error). */
static GstMiniObject *
take_message (GstP2pSrc *self, GBytes *msg, GError **err)
{
  GstMiniObject *obj = gst_p2p_media_assembler_push (&self->assembler, msg, err);

  if (obj && GST_IS_EVENT (obj) &&
      (gst_p2p_media_event_get_datagram_seqnum (GST_EVENT_CAST (obj), NULL)
          || gst_p2p_media_event_get_datagram_epoch (GST_EVENT_CAST (obj), NULL))) {
    /* for a datagram receiver; we did not ask for it (not downstream) */
    gst_mini_object_unref (g_steal_pointer (&obj));
  }
  if (obj && gst_p2p_src_resume_filter (self, &obj))
    obj = NULL;                 /* for us, not for downstream */
  return obj;
}

/* At most this many buffers in one list: a burst, without holding the
 * first one back for more than the time to take the others; and at most
 * about this many bytes (the buffer that crosses it is the last): a
 * buffer may be 64 MiB (docs/protocol.md 5.1), and 64 of them in one list
 * held 4 GiB here (an adversarial sender took a receiver to 2.3 GB) */
#define MAX_LIST_BUFFERS 64
#define MAX_LIST_BYTES (4 * 1024 * 1024)

/* With @first (transfer full: the list takes it), the buffers that have
 * arrived after it (p2p_connection_try_receive() never waits), as one
 * list, or NULL when none has: @first is then pushed alone. What ends the
 * list (an event, an error) is kept for the next iteration. */
static GstBufferList *
collect_buffers (GstP2pSrc *self, P2pConnection *conn, GstBuffer *first)
{
  GstBufferList *list = NULL;
  gsize bytes = gst_buffer_get_size (first);

  while (bytes < MAX_LIST_BYTES
      && (list == NULL || gst_buffer_list_length (list) < MAX_LIST_BUFFERS)) {
    g_autoptr (GError) err = NULL;
    g_autoptr (GBytes) msg = p2p_connection_try_receive (conn, NULL);
    GstMiniObject *next;

    if (msg == NULL)
      break;                    /* nothing more now (or closed: seen next) */
    next = take_message (self, msg, &err);
    if (err) {
      self->pending_error = g_steal_pointer (&err);
      break;
    }
    if (next == NULL)
      continue;                 /* a part, or not for downstream */
    if (!GST_IS_BUFFER (next)) {
      self->pending_item = next;
      break;
    }
    if (list == NULL) {
      list = gst_buffer_list_new_sized (MAX_LIST_BUFFERS);
      gst_buffer_list_add (list, first);
    }
    bytes += gst_buffer_get_size (GST_BUFFER_CAST (next));
    gst_buffer_list_add (list, GST_BUFFER_CAST (next));
  }
  return list;
}

void
gst_p2p_src_loop (gpointer data)
{
  GstP2pSrc *self = data;
  g_autoptr (GError) err = NULL;
  GstMiniObject *obj = NULL;
  GstBufferList *list = NULL;

  if (push_pending_eos (self))
    return;
  if (!gst_p2p_src_ensure_connected (self)) {
    if (push_pending_eos (self))
      return;
    g_mutex_lock (&self->lock);
    if (!self->flushing) {
      g_mutex_unlock (&self->lock);
      gst_pad_push_event (self->srcpad, gst_event_new_eos ());
    } else {
      g_mutex_unlock (&self->lock);
    }
    pause_task (self, "not connected");
    return;
  }

  if (self->delivery == GST_P2P_DELIVERY_DATAGRAM) {
    obj = gst_p2p_src_next_datagram_item (self, &err);
    if (!obj) {
      if (push_pending_eos (self))
        return;
      if (err)
        handle_stream_error (self, err);
      else
        pause_task (self, "flushing");
      return;
    }
  } else {
    P2pConnection *conn;
    GCancellable *cancellable;

    if (self->pending_error) {
      err = g_steal_pointer (&self->pending_error);
      handle_stream_error (self, err);
      return;
    }
    obj = g_steal_pointer (&self->pending_item);
    g_mutex_lock (&self->lock);
    conn = g_object_ref (self->conn);
    cancellable = g_object_ref (self->cancellable);
    g_mutex_unlock (&self->lock);
    /* a big buffer comes in parts (docs/protocol.md §5.1) */
    while (!obj && !err) {
      g_autoptr (GBytes) msg = p2p_connection_receive (conn, cancellable, &err);

      if (msg)
        obj = take_message (self, msg, &err);
    }
    /* the buffers that have arrived behind it go down with it, in a list */
    if (obj && GST_IS_BUFFER (obj))
      list = collect_buffers (self, conn, GST_BUFFER_CAST (obj));
    g_object_unref (conn);
    g_object_unref (cancellable);
    if (!obj) {
      handle_stream_error (self, err);
      return;
    }
  }
  g_mutex_lock (&self->lock);
  self->attempts = 0;
  g_mutex_unlock (&self->lock);
  if (list)
    push_list (self, list);     /* (it holds obj) */
  else
    push_item (self, obj);
}
