/* gstp2psink-fanout.c: p2psink's streaming side. wait-for-peer holds the
 * stream until min-peers receivers are there (a live stream drops its
 * buffers instead); then each buffer is encoded once and put in every
 * receiver's queue. A full queue is the slow-receiver-policy: block waits
 * for room, drop loses the buffer for that receiver (its next one is
 * DISCONT), disconnect lets a sole (or every) full receiver pace the stream
 * but drops one that holds the others back for slow-receiver-timeout. With
 * datagram delivery each buffer goes as one datagram to the ready
 * receivers (on the stream to a delivery=reliable one).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psink-fanout.h"
#include "gstp2psink-peer.h"
#include "gstp2psink-private.h"
#include "gstp2psink-resume.h"
#include "gstp2pmedia.h"

#define GST_CAT_DEFAULT gst_p2p_sink_debug

/* Called with the lock. */
guint
gst_p2p_sink_n_receivers_locked (GstP2pSink *self)
{
  guint n = 0;

  for (guint i = 0; i < self->peers->len; i++)
    n += ((SinkPeer *) g_ptr_array_index (self->peers, i))->leaving ? 0 : 1;
  return n;
}

/* Called with the lock. */
gboolean
gst_p2p_sink_have_receiver_locked (GstP2pSink *self)
{
  guint ready = 0, min_peers;

  GST_OBJECT_LOCK (self);
  min_peers = MAX (self->min_peers, 1);
  GST_OBJECT_UNLOCK (self);
  if (self->delivery != GST_P2P_DELIVERY_DATAGRAM)
    return gst_p2p_sink_n_receivers_locked (self) >= min_peers;
  for (guint i = 0; i < self->peers->len; i++) {
    SinkPeer *peer = g_ptr_array_index (self->peers, i);

    if (peer->ready && !peer->leaving)
      ready++;
  }
  return ready >= min_peers;
}

/* The slow-receiver properties, read together (they may change while the
 * stream runs). */
static void
read_limits (GstP2pSink *self, GstP2pSlowReceiverPolicy *policy, guint64 *max_bytes,
    guint *max_buffers, guint *slow_timeout)
{
  GST_OBJECT_LOCK (self);
  *policy = self->slow_policy;
  *max_bytes = self->max_queue_bytes;
  *max_buffers = self->max_queue_buffers;
  *slow_timeout = self->slow_timeout;
  GST_OBJECT_UNLOCK (self);
}

/* Called with the lock. Waits for the first receiver if wait-for-peer is set.
 * Returns GST_FLOW_OK, or what gst_base_sink_wait_preroll() said. With
 * @preroll it never waits (that would block the state change to PLAYING):
 * GST_FLOW_CUSTOM_SUCCESS then means "no receiver yet, send it at render". */
GstFlowReturn
gst_p2p_sink_wait_for_peer_locked (GstP2pSink *self, gboolean preroll)
{
  for (;;) {
    gboolean wait;

    /* read on every pass: wait-for-peer=false set while waiting lets the
     * stream go at once */
    GST_OBJECT_LOCK (self);
    wait = self->wait_for_peer;
    GST_OBJECT_UNLOCK (self);
    if (self->peer_lost)
      return GST_FLOW_ERROR;    /* (the element error is posted) */
    if (!wait || gst_p2p_sink_have_receiver_locked (self)) {
      /* (the one place the hold ends: receivers are there, counted as
       * the hold counts them, ready ones in datagram delivery) */
      self->all_lost_us = 0;
      break;
    }
    if (self->stopping)
      return GST_FLOW_FLUSHING;
    if (preroll)
      return GST_FLOW_CUSTOM_SUCCESS;
    if (self->flushing) {
      GstFlowReturn ret;

      if (preroll)
        return GST_FLOW_FLUSHING;
      g_mutex_unlock (&self->lock);
      ret = gst_base_sink_wait_preroll (GST_BASE_SINK (self));
      g_mutex_lock (&self->lock);
      if (ret != GST_FLOW_OK)
        return ret;
      continue;
    }
    if (self->all_lost_us) {
      guint rejoin;

      GST_OBJECT_LOCK (self);
      rejoin = self->rejoin_timeout;
      GST_OBJECT_UNLOCK (self);
      if (rejoin > 0) {
        gint64 deadline = self->all_lost_us + (gint64) rejoin * G_TIME_SPAN_MILLISECOND;

        if (g_get_monotonic_time () >= deadline) {
          guint min_peers, connected = gst_p2p_sink_n_receivers_locked (self);

          g_mutex_unlock (&self->lock);
          GST_OBJECT_LOCK (self);
          min_peers = MAX (self->min_peers, 1);
          GST_OBJECT_UNLOCK (self);
          GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("No receiver came back within "
                  "rejoin-timeout=%u ms after one left before the end of the stream "
                  "(%u connected, min-peers=%u)", rejoin, connected, min_peers),
              ("set rejoin-timeout=0 to wait for one without a bound, or "
                  "wait-for-peer=false to let the stream run on without receivers"));
          g_mutex_lock (&self->lock);
          return GST_FLOW_ERROR;
        }
        GST_LOG_OBJECT (self, "waiting for a receiver to come back");
        g_cond_wait_until (&self->cond, &self->lock, deadline);
        continue;
      }
    }
    GST_LOG_OBJECT (self, "waiting for the first receiver");
    g_cond_wait (&self->cond, &self->lock);
  }
  return GST_FLOW_OK;
}

/* wait-for-peer holds a file's first bytes for the first receiver; a live
 * stream running on a clock has no beginning to keep (a receiver joining
 * later starts at the current position anyway), so its buffers before the
 * first receiver are dropped: the live source keeps its pace, and an EOS
 * from the application (gst-launch-1.0 -e + Ctrl-C), which a live source
 * pushes from its streaming thread, is not stuck behind a wait that only a
 * receiver could end. TRUE: drop this buffer. Called without the lock. */
static gboolean
drop_before_receiver (GstP2pSink *self)
{
  g_autoptr (GstClock) clock = NULL;
  gboolean wait, none, upstream_live = FALSE;

  GST_OBJECT_LOCK (self);
  wait = self->wait_for_peer;
  GST_OBJECT_UNLOCK (self);
  if (!wait)
    return FALSE;
  g_mutex_lock (&self->lock);
  none = !gst_p2p_sink_have_receiver_locked (self);
  g_mutex_unlock (&self->lock);
  if (!none)
    return FALSE;
  clock = gst_element_get_clock (GST_ELEMENT (self));
  if (clock == NULL)
    return FALSE;
  if (!gst_base_sink_query_latency (GST_BASE_SINK (self), NULL, &upstream_live, NULL, NULL))
    return FALSE;
  if (upstream_live)
    GST_LOG_OBJECT (self, "live stream, no receiver yet: buffer dropped");
  return upstream_live;
}

static gboolean
queue_full_locked (GstP2pSink *self, SinkPeer *peer, gsize size,
    guint64 max_bytes, guint max_buffers)
{
  if (max_bytes > 0 && peer->queued_bytes > 0
      && peer->queued_bytes + size > max_bytes)
    return TRUE;
  if (max_buffers > 0 && peer->queued_buffers >= max_buffers)
    return TRUE;
  return FALSE;
}

void
gst_p2p_sink_queue_event_locked (GstP2pSink *self, GstEvent *event, GBytes *msg,
    guint64 index)
{
  GstEventType type = GST_EVENT_TYPE (event);
  g_autoptr (GBytes) epoch_msg = NULL;
  gboolean droppable;
  guint64 max_bytes;
  guint max_buffers;
  gsize size = g_bytes_get_size (msg);

  GST_OBJECT_LOCK (self);
  /* GAPs and tag updates (a parser's bitrate every second) are the frames a
   * stream may send without buffers: not queued without bound to a
   * receiver that does not read */
  droppable = (type == GST_EVENT_GAP || type == GST_EVENT_TAG)
      && self->slow_policy == GST_P2P_SLOW_RECEIVER_DROP;
  max_bytes = self->max_queue_bytes;
  max_buffers = self->max_queue_buffers;
  GST_OBJECT_UNLOCK (self);
  /* datagrams sent after this event must not reach a receiver before it:
   * they carry the next epoch, and the receiver learns from the
   * DATAGRAM_EPOCH after the event that the stream reached it */
  if (self->delivery == GST_P2P_DELIVERY_DATAGRAM && gst_p2p_media_event_raises_epoch (event))
    epoch_msg = gst_p2p_media_datagram_epoch_message (++self->dg_epoch);

  for (guint i = 0; i < self->peers->len; i++) {
    SinkPeer *peer = g_ptr_array_index (self->peers, i);

    if (peer->closed)
      continue;
    if (droppable && queue_full_locked (self, peer, size, max_bytes, max_buffers)) {
      /* (its next frame comes after a STREAM_POSITION that says so) */
      GST_LOG_OBJECT (self, "queue of %s full: %s left out", peer->peer_id,
          GST_EVENT_TYPE_NAME (event));
      if (type == GST_EVENT_TAG)
        peer->need_tags = TRUE;
      continue;
    }
    if (type == GST_EVENT_TAG || type == GST_EVENT_STREAM_START)
      peer->need_tags = FALSE;
    gst_p2p_sink_peer_position_locked (self, peer, index);
    if (type == GST_EVENT_EOS && peer->ready && peer->wants_seqnum && !peer->wants_stream) {
      /* where its datagrams end: a loss of the last ones counts too */
      g_autoptr (GBytes) end = gst_p2p_media_datagram_seqnum_message (self->seqnum);

      gst_p2p_sink_peer_push_locked (self, peer, end);
    }
    gst_p2p_sink_peer_push_locked (self, peer, msg);
    if (epoch_msg && peer->takes_epochs)
      gst_p2p_sink_peer_push_locked (self, peer, epoch_msg);
  }
}

/* Called with the lock, before waiting for a full receiver that holds the
 * others back (slow-receiver-policy=disconnect): every receiver of
 * @snapshot whose queue is full now starts its clock, so the ones after
 * the awaited one are not given a timeout of their own in turn. */
static void
mark_full_locked (GstP2pSink *self, GPtrArray *snapshot, gsize size, guint64 max_bytes,
    guint max_buffers)
{
  gint64 now = g_get_monotonic_time ();

  for (guint i = 0; i < snapshot->len; i++) {
    SinkPeer *p = g_ptr_array_index (snapshot, i);

    if (!p->closed && p->full_since == 0
        && queue_full_locked (self, p, size, max_bytes, max_buffers))
      p->full_since = now;
  }
}

/* TRUE if a receiver other than @peer could take more now: @peer, full,
 * holds it back. */
static gboolean
holds_others_back_locked (GstP2pSink *self, SinkPeer *peer, gsize size,
    guint64 max_bytes, guint max_buffers)
{
  for (guint i = 0; i < self->peers->len; i++) {
    SinkPeer *other = g_ptr_array_index (self->peers, i);

    if (other != peer && !other->closed
        && !queue_full_locked (self, other, size, max_bytes, max_buffers))
      return TRUE;
  }
  return FALSE;
}

/* The buffer's BUFFER frame, or its parts (one queue item). */
static GBytes *
encode_buffer (GstBuffer *buffer, gboolean discont)
{
  GByteArray *out = g_byte_array_new ();

  if (discont) {
    g_autoptr (GstBuffer) copy = gst_buffer_copy (buffer);

    GST_BUFFER_FLAG_SET (copy, GST_BUFFER_FLAG_DISCONT);
    gst_p2p_media_append_buffer_parts (out, copy);
  } else {
    gst_p2p_media_append_buffer_parts (out, buffer);
  }
  return g_byte_array_free_to_bytes (out);
}

static GstFlowReturn
render_datagram (GstP2pSink *self, GstBuffer *buffer, gboolean preroll)
{
  g_autoptr (GBytes) msg = NULL;
  g_autoptr (GBytes) msg_epoch = NULL;
  guint64 seqnum, epoch;
  g_autoptr (GPtrArray) snapshot = NULL;
  GstFlowReturn ret;
  guint64 max_bytes;
  guint max_buffers;

  GST_OBJECT_LOCK (self);
  max_bytes = self->max_queue_bytes;
  max_buffers = self->max_queue_buffers;
  GST_OBJECT_UNLOCK (self);

  if (!preroll && drop_before_receiver (self))
    return GST_FLOW_OK;
  g_mutex_lock (&self->lock);
  ret = gst_p2p_sink_wait_for_peer_locked (self, preroll);
  if (ret != GST_FLOW_OK) {
    g_mutex_unlock (&self->lock);
    return ret;
  }
  seqnum = self->seqnum++;
  epoch = self->dg_epoch;

  snapshot = g_ptr_array_new_with_free_func (gst_p2p_sink_peer_unref);
  /* one wake-up of the network thread for all the receivers, stream
   * messages and datagrams (sending either never blocks) */
  p2p_connection_batch_begin ();
  for (guint i = 0; i < self->peers->len; i++) {
    SinkPeer *peer = g_ptr_array_index (self->peers, i);

    if (!peer->ready || peer->closed)
      continue;
    if (peer->wants_stream) {
      /* live: a full queue loses the buffer (DISCONT next), never blocks */
      g_autoptr (GBytes) m = encode_buffer (buffer, peer->need_discont);

      if (queue_full_locked (self, peer, g_bytes_get_size (m), max_bytes, max_buffers)) {
        peer->dropped++;
        self->dropped_total++;
        peer->need_discont = TRUE;
      } else {
        peer->need_discont = FALSE;
        gst_p2p_sink_peer_push_locked (self, peer, m);
      }
      continue;
    }
    g_ptr_array_add (snapshot, gst_p2p_sink_peer_ref (peer));
  }
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < snapshot->len; i++) {
    SinkPeer *peer = g_ptr_array_index (snapshot, i);
    g_autoptr (GError) err = NULL;
    GBytes *dg;

    /* each layout encoded once, only when a receiver takes it */
    if (peer->takes_epochs) {
      if (msg_epoch == NULL)
        msg_epoch = gst_p2p_media_buffer_to_datagram_epoch (buffer, seqnum, epoch);
      dg = msg_epoch;
    } else {
      if (msg == NULL)
        msg = gst_p2p_media_buffer_to_datagram (buffer, seqnum);
      dg = msg;
    }
    if (g_bytes_get_size (dg) > p2p_connection_get_max_datagram_size (peer->conn)) {
      gboolean first;

      GST_WARNING_OBJECT (self, "buffer of %" G_GSIZE_FORMAT " bytes does not "
          "fit in a datagram to %s: dropped (use delivery=reliable for big "
          "buffers)", gst_buffer_get_size (buffer), peer->peer_id);
      g_mutex_lock (&self->lock);
      first = self->datagrams_too_big++ == 0;
      g_mutex_unlock (&self->lock);
      /* on the bus once (the stats count them all) */
      if (first)
        GST_ELEMENT_WARNING (self, RESOURCE, WRITE, ("Buffers of %" G_GSIZE_FORMAT
                " bytes do not fit in a datagram to %s (at most %" G_GSIZE_FORMAT
                "): dropped; use delivery=reliable for big buffers",
                gst_buffer_get_size (buffer), peer->peer_id,
                p2p_connection_get_max_datagram_size (peer->conn)), (NULL));
      continue;
    }
    if (!p2p_connection_send_datagram (peer->conn, dg, &err))
      GST_DEBUG_OBJECT (self, "datagram to %s not sent: %s", peer->peer_id,
          err->message);
  }
  p2p_connection_batch_end ();
  return GST_FLOW_OK;
}

/* Sends @buffer to every receiver. @preroll: called from the preroll vfunc
 * (a flush then returns FLUSHING instead of waiting for the preroll). */
GstFlowReturn
gst_p2p_sink_send_buffer (GstP2pSink *self, GstBuffer *buffer, gboolean preroll)
{
  GstBaseSink *bsink = GST_BASE_SINK (self);
  g_autoptr (GBytes) msg = NULL;
  g_autoptr (GPtrArray) snapshot = NULL;
  GstFlowReturn ret;
  GstP2pSlowReceiverPolicy policy;
  guint64 max_bytes;
  guint max_buffers, slow_timeout;
  gsize size;
  guint64 index;
  gboolean batched = FALSE;

  if (self->delivery == GST_P2P_DELIVERY_DATAGRAM)
    return render_datagram (self, buffer, preroll);
  if (!preroll && drop_before_receiver (self))
    return GST_FLOW_OK;
  if (gst_buffer_get_size (buffer) > GST_P2P_MEDIA_MAX_BUFFER_SIZE) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("A buffer of %" G_GSIZE_FORMAT
            " bytes is over p2psink's limit of %u bytes (64 MiB) per buffer",
            gst_buffer_get_size (buffer),
            (guint) GST_P2P_MEDIA_MAX_BUFFER_SIZE), (NULL));
    return GST_FLOW_ERROR;
  }

  read_limits (self, &policy, &max_bytes, &max_buffers, &slow_timeout);
  msg = encode_buffer (buffer, FALSE);
  size = g_bytes_get_size (msg);

  g_mutex_lock (&self->lock);
  ret = gst_p2p_sink_wait_for_peer_locked (self, preroll);
  if (ret != GST_FLOW_OK)
    goto out;
  if (preroll) {
    /* at preroll, send only if no receiver has to be waited for */
    for (guint i = 0; i < self->peers->len; i++) {
      SinkPeer *peer = g_ptr_array_index (self->peers, i);

      if (!peer->closed && queue_full_locked (self, peer, size, max_bytes,
              max_buffers)) {
        ret = GST_FLOW_CUSTOM_SUCCESS;
        goto out;
      }
    }
  }

  index = gst_p2p_sink_history_add_locked (self, msg);
  snapshot = g_ptr_array_new_with_free_func (gst_p2p_sink_peer_unref);
  for (guint i = 0; i < self->peers->len; i++)
    g_ptr_array_add (snapshot,
        gst_p2p_sink_peer_ref (g_ptr_array_index (self->peers, i)));

  /* one wake-up of the network thread for all the receivers */
  p2p_connection_batch_begin ();
  batched = TRUE;
  for (guint i = 0; i < snapshot->len; i++) {
    SinkPeer *peer = g_ptr_array_index (snapshot, i);
    gint64 deadline;
    gboolean dropped = FALSE;

    for (;;) {
      /* read on every pass: a limit or policy changed while this thread
       * waits (max-queue-bytes, slow-receiver-policy=drop) applies now */
      read_limits (self, &policy, &max_bytes, &max_buffers, &slow_timeout);
      if (peer->closed || self->stopping
          || !queue_full_locked (self, peer, size, max_bytes, max_buffers))
        break;
      /* about to wait: what is queued for the others goes now */
      p2p_connection_batch_end ();
      p2p_connection_batch_begin ();
      if (policy == GST_P2P_SLOW_RECEIVER_DROP) {
        peer->dropped++;
        self->dropped_total++;
        peer->need_discont = TRUE;
        dropped = TRUE;
        break;
      }
      if (self->flushing) {
        if (preroll) {
          ret = GST_FLOW_FLUSHING;
          goto out;
        }
        g_mutex_unlock (&self->lock);
        ret = gst_base_sink_wait_preroll (bsink);
        g_mutex_lock (&self->lock);
        if (ret != GST_FLOW_OK)
          goto out;
        continue;
      }
      if (policy == GST_P2P_SLOW_RECEIVER_DISCONNECT
          && !holds_others_back_locked (self, peer, size, max_bytes, max_buffers)) {
        /* A sole receiver (or every one) full: it paces the sender, however
         * slowly it consumes: QUIC returns its credit in steps of half a
         * window, so a queue that does not move for seconds says nothing
         * of a live receiver (a dead one goes with the liveness timeout).
         * The clock starts when another receiver is held back. */
        peer->full_since = 0;
        GST_LOG_OBJECT (self, "queue of %s full: pacing the stream", peer->peer_id);
        self->room_waiters++;
        g_cond_wait_until (&self->cond, &self->lock, g_get_monotonic_time () + 100 * 1000);
        self->room_waiters--;
        continue;
      }
      if (policy == GST_P2P_SLOW_RECEIVER_DISCONNECT) {
        GST_LOG_OBJECT (self, "holding back: the queue of %s is full (it goes "
            "after slow-receiver-timeout)", peer->peer_id);
        /* its clock runs from when it began to hold the others back, across
         * buffers: several slow receivers in a row cost one timeout, not
         * one each */
        mark_full_locked (self, snapshot, size, max_bytes, max_buffers);
        deadline = peer->full_since + (gint64) slow_timeout * 1000;
        if (g_get_monotonic_time () >= deadline) {
          GST_WARNING_OBJECT (self, "receiver %s is too slow (queue full for "
              "%u ms): disconnecting it", peer->peer_id, slow_timeout);
          gst_p2p_sink_peer_disconnect_locked (self, peer,
              "receiver too slow (slow-receiver-policy=disconnect)");
          break;
        }
        self->room_waiters++;
        g_cond_wait_until (&self->cond, &self->lock, deadline);
        self->room_waiters--;
      } else {
        GST_LOG_OBJECT (self, "queue of %s full: waiting for room", peer->peer_id);
        self->room_waiters++;
        g_cond_wait (&self->cond, &self->lock);
        self->room_waiters--;
      }
    }
    if (self->stopping || self->flushing) {
      /* (a flush started while this thread waited for room: the buffer goes
       * to nobody after the FLUSH_START frame) */
      ret = GST_FLOW_FLUSHING;
      goto out;
    }
    if (dropped || peer->closed)
      continue;
    peer->full_since = 0;
    /* a receiver that resumed while this thread waited got this frame from
     * the history already */
    if (peer->takes_positions && peer->next_index > index)
      continue;
    if (peer->need_tags && (self->hdr_tags[0] || self->hdr_tags[1])) {
      /* the tags it missed while full, unnumbered: a STREAM_POSITION
       * follows for a receiver that counts frames */
      for (guint t = 0; t < G_N_ELEMENTS (self->hdr_tags); t++)
        if (self->hdr_tags[t])
          gst_p2p_sink_peer_push_locked (self, peer, self->hdr_tags[t]);
      if (peer->takes_positions)
        peer->next_index = G_MAXUINT64;
    }
    peer->need_tags = FALSE;
    gst_p2p_sink_peer_position_locked (self, peer, index);
    if (peer->need_discont) {
      g_autoptr (GBytes) d = encode_buffer (buffer, TRUE);

      peer->need_discont = FALSE;
      gst_p2p_sink_peer_push_locked (self, peer, d);
    } else {
      gst_p2p_sink_peer_push_locked (self, peer, msg);
    }
  }

out:
  if (batched)
    p2p_connection_batch_end ();
  g_mutex_unlock (&self->lock);
  return ret;
}
