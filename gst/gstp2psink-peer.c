/* gstp2psink-peer.c: p2psink's receivers. Each one (SinkPeer) has its own
 * bounded queue of frames, filled by the streaming thread
 * (gstp2psink-fanout.c) and emptied by its own thread, which sends the
 * frames and, when the receiver leaves, closes the connection, posts the
 * "disconnected" message, warns if it did not get the whole stream and adds
 * its final figures to the sink's totals. A late joiner first gets the
 * stream headers. With datagram delivery a second thread waits for the
 * receiver's "ready". The accept thread adds the receivers (or dials the
 * one peer in mode=connect).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psink-peer.h"
#include "gstp2psink-fanout.h"
#include "gstp2psink-private.h"
#include "gstp2psink-resume.h"
#include "gstp2pmedia.h"

#include <string.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif

#define GST_CAT_DEFAULT gst_p2p_sink_debug

SinkPeer *
gst_p2p_sink_peer_ref (SinkPeer *peer)
{
  g_atomic_int_inc (&peer->refcount);
  return peer;
}

void
gst_p2p_sink_peer_unref (gpointer data)
{
  SinkPeer *peer = data;

  if (!g_atomic_int_dec_and_test (&peer->refcount))
    return;
  g_queue_clear_full (&peer->queue, (GDestroyNotify) g_bytes_unref);
  g_clear_object (&peer->conn);
  g_clear_object (&peer->cancellable);
  g_cond_clear (&peer->cond);
  g_free (peer->peer_id);
  g_free (peer->host);
  g_free (peer->close_reason);
  gst_object_unref (peer->sink);
  g_free (peer);
}

static void
sink_peer_closure_notify (gpointer data, GClosure *closure)
{
  gst_p2p_sink_peer_unref (data);
}

static gboolean
is_buffer_message (GBytes *msg)
{
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (msg, &len);

  /* the frame type is the first varint; BUFFER (0x24) is one byte */
  return len > 0 && p[0] == P2P_FRAME_BUFFER;
}

/* Called with the lock: @msg was handed to the receiver's connection. */
static void
note_sent_locked (SinkPeer *peer, GBytes *msg)
{
  gsize len = g_bytes_get_size (msg);

  peer->media_bytes += len;
  if (len > 0 && ((const guint8 *) g_bytes_get_data (msg, NULL))[0] == P2P_FRAME_EOS)
    peer->eos_sent = TRUE;
}

/* Called with the lock. Fan-out in one pass: while nothing is queued for
 * the receiver or being sent to it, the message goes straight into its
 * connection's send queue if that has room (p2p_connection_try_send never
 * blocks), from the streaming thread, without waking the receiver's
 * thread; that thread only carries what the connection could not take yet
 * (a slow receiver: the queue limits and the slow-receiver-policy apply
 * to it as before). */
void
gst_p2p_sink_peer_push_locked (GstP2pSink *self, SinkPeer *peer, GBytes *msg)
{
  gsize len = g_bytes_get_size (msg);

  if (peer->queued_bytes == 0 && !peer->closed && len <= P2P_MAX_MESSAGE_SIZE
      && p2p_connection_try_send (peer->conn, msg, NULL)) {
    note_sent_locked (peer, msg);
    return;
  }
  g_queue_push_tail (&peer->queue, g_bytes_ref (msg));
  peer->queued_bytes += len;
  if (is_buffer_message (msg))
    peer->queued_buffers++;
  g_cond_signal (&peer->cond);
}

/* Called with the lock: the stream headers a joining receiver needs, in
 * order (STREAM_START, CAPS, the last SEGMENT and TAG). */
void
gst_p2p_sink_peer_push_headers_locked (GstP2pSink *self, SinkPeer *peer)
{
  if (self->hdr_stream_start)
    gst_p2p_sink_peer_push_locked (self, peer, self->hdr_stream_start);
  if (self->hdr_caps)
    gst_p2p_sink_peer_push_locked (self, peer, self->hdr_caps);
  if (self->hdr_segment)
    gst_p2p_sink_peer_push_locked (self, peer, self->hdr_segment);
  for (guint i = 0; i < G_N_ELEMENTS (self->hdr_tags); i++)
    if (self->hdr_tags[i])
      gst_p2p_sink_peer_push_locked (self, peer, self->hdr_tags[i]);
}

/* Called with the lock: ask the peer's thread to close it. */
void
gst_p2p_sink_peer_disconnect_locked (GstP2pSink *self, SinkPeer *peer,
    const char *reason)
{
  if (peer->closed)
    return;
  peer->closed = TRUE;
  g_free (peer->close_reason);
  peer->close_reason = g_strdup (reason);
  g_cancellable_cancel (peer->cancellable);
  g_cond_signal (&peer->cond);
  g_cond_broadcast (&self->cond);
}

/* The reason of a receiver that vanished (crashed, unplugged: the liveness
 * or the idle timeout ended its connection), or NULL for any other @error:
 * it did not close, so it never counts as having confirmed the EOS. */
static char *
lost_reason (const GError *error)
{
  if (!error || !g_error_matches (error, P2P_ERROR, P2P_ERROR_TIMEOUT))
    return NULL;
  return g_strdup_printf ("receiver lost: %s", error->message);
}

static void
on_peer_closed (P2pConnection *conn, GError *error, gpointer data)
{
  SinkPeer *peer = data;
  GstP2pSink *self = peer->sink;

  GST_INFO_OBJECT (self, "receiver %s closed: %s", peer->peer_id,
      error ? error->message : "normal close");
  g_mutex_lock (&self->lock);
  peer->closed = TRUE;
  if (!peer->close_reason)
    peer->close_reason = lost_reason (error);
  if (!peer->close_reason) {
    peer->closed_by_receiver = TRUE;
    peer->close_reason = g_strdup_printf ("receiver closed the connection%s%s",
        error ? ": " : "", error ? error->message : "");
  }
  g_cond_signal (&peer->cond);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  g_cancellable_cancel (peer->cancellable);
}

static void
on_peer_path_changed (P2pConnection *conn, P2pPathKind old_kind, P2pPathKind new_kind,
    gpointer data)
{
  SinkPeer *peer = data;

  gst_p2p_object_post_path_changed (peer->sink->obj, conn, old_kind, new_kind);
}

/* Sends one queue item: one message, or the parts of a buffer bigger than a
 * message (docs/protocol.md §5.1), one message each. */
static gboolean
send_item (SinkPeer *peer, GBytes *msg, GError **error)
{
  gsize len = 0, off = 0;
  const guint8 *data = g_bytes_get_data (msg, &len);

  if (len <= P2P_MAX_MESSAGE_SIZE)
    return p2p_connection_send (peer->conn, msg, peer->cancellable, error);
  while (off < len) {
    gsize n = gst_p2p_media_frame_length (data + off, len - off);
    g_autoptr (GBytes) part = NULL;

    g_assert (n > 0);
    part = g_bytes_new_from_bytes (msg, off, n);
    if (!p2p_connection_send (peer->conn, part, peer->cancellable, error))
      return FALSE;
    off += n;
  }
  return TRUE;
}

void
gst_p2p_sink_stats_max (P2pConnectionStats *into, const P2pConnectionStats *st)
{
  into->bytes_sent = MAX (into->bytes_sent, st->bytes_sent);
  into->bytes_received = MAX (into->bytes_received, st->bytes_received);
  into->packets_lost = MAX (into->packets_lost, st->packets_lost);
  into->packets_retransmitted = MAX (into->packets_retransmitted, st->packets_retransmitted);
  into->datagrams_dropped = MAX (into->datagrams_dropped, st->datagrams_dropped);
  into->path_changes = MAX (into->path_changes, st->path_changes);
}

static gpointer
sink_peer_thread (gpointer data)
{
  SinkPeer *peer = data;
  GstP2pSink *self = peer->sink;
  g_autofree char *reason = NULL;
  P2pConnectionStats st;
  gboolean complete, warn, dialled;

  g_mutex_lock (&self->lock);
  for (;;) {
    g_autoptr (GBytes) msg = NULL;
    g_autoptr (GError) err = NULL;
    gboolean ok;

    while (g_queue_is_empty (&peer->queue) && !peer->closed && !self->stopping)
      g_cond_wait (&peer->cond, &self->lock);
    if (peer->closed || self->stopping)
      break;
    msg = g_queue_pop_head (&peer->queue);
    g_mutex_unlock (&self->lock);

    ok = send_item (peer, msg, &err);

    g_mutex_lock (&self->lock);
    peer->queued_bytes -= g_bytes_get_size (msg);
    if (is_buffer_message (msg))
      peer->queued_buffers--;
    if (ok)
      note_sent_locked (peer, msg);
    /* room in this queue: only the streaming thread can be waiting for it */
    if (self->room_waiters > 0)
      g_cond_broadcast (&self->cond);
    if (!ok) {
      GST_INFO_OBJECT (self, "sending to %s failed: %s", peer->peer_id,
          err->message);
      if (!peer->closed) {
        peer->closed = TRUE;
        peer->close_reason = lost_reason (err);
        if (!peer->close_reason)
          peer->close_reason = g_strdup (err->message);
      }
      break;
    }
  }
  reason = g_strdup (peer->close_reason ? peer->close_reason :
      self->stopping ? "sender stopped" : "receiver closed the connection");
  g_mutex_unlock (&self->lock);

  /* the final figures before the close, which ends the counters; from
   * here n-peers and the stats count it as gone */
  p2p_connection_get_stats (peer->conn, &st);
  g_mutex_lock (&self->lock);
  peer->leaving = TRUE;
  /* no less than what "stats" already reported for it */
  gst_p2p_sink_stats_max (&st, &peer->reported);
  self->gone.bytes_sent += st.bytes_sent;
  self->gone.bytes_received += st.bytes_received;
  self->gone.packets_lost += st.packets_lost;
  self->gone.packets_retransmitted += st.packets_retransmitted;
  self->gone.datagrams_dropped += st.datagrams_dropped;
  self->gone.path_changes += st.path_changes;
  g_mutex_unlock (&self->lock);
  g_object_notify (G_OBJECT (self), "n-peers");
  /* Signal and message first, removal second: EOS (wait_drained) waits for
   * the removal, so the "disconnected" message with the final byte counts
   * is on the bus before the EOS message. */
  p2p_connection_close (peer->conn, reason);
  g_signal_handlers_disconnect_by_data (peer->conn, peer);
  GST_INFO_OBJECT (self, "receiver %s removed: %s", peer->peer_id, reason);
  g_signal_emit (self, gst_p2p_sink_signals[GST_P2P_SINK_SIGNAL_PEER_REMOVED], 0,
      peer->peer_id);
  gst_p2p_object_post_disconnected (self->obj, peer->conn, &st, reason);

  g_mutex_lock (&self->lock);
  /* complete: the receiver closed after it got the EOS frame */
  complete = peer->eos_sent && peer->closed_by_receiver;
  if (complete)
    self->receivers_complete++;
  warn = !complete && !self->stopping;
  GST_OBJECT_LOCK (self);
  dialled = self->obj->mode == GST_P2P_MODE_CONNECT;
  GST_OBJECT_UNLOCK (self);
  /* (after EOS the end is judged by the EOS wait: eos-timeout cut it, and
   * allow-partial or a live stream decide) */
  dialled = dialled && !self->eos && !peer->eos_sent;
  if (warn && dialled) {
    /* the streaming thread waits for a receiver that cannot come: it
     * fails instead (render and wait_for_peer_locked see this) */
    self->peer_lost = TRUE;
    g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);
  if (warn && dialled)
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("Connection to peer %s lost before the "
            "end of the stream: %s (%" G_GUINT64_FORMAT " bytes delivered; mode=connect "
            "does not dial again)", peer->peer_id, reason, peer->media_bytes), (NULL));
  else if (warn)
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE, ("Receiver %s did not get "
            "the whole stream: %" G_GUINT64_FORMAT " bytes delivered (%s)%s",
            peer->peer_id, peer->media_bytes, reason, peer->takes_positions && !peer->evicted ?
            "; if it connects again it resumes where it stopped (resume-buffer)" : ""),
        (NULL));

  g_mutex_lock (&self->lock);
  /* its reader ends too (stop() no longer sees it once it is out of the
   * array) */
  g_cancellable_cancel (peer->cancellable);
  g_ptr_array_remove (self->peers, peer);       /* drops the array's ref */
  /* the hold for receivers starts again (fewer than min-peers now), for
   * rejoin-timeout at most */
  if (warn && !self->eos && self->all_lost_us == 0 && !gst_p2p_sink_have_receiver_locked (self))
    self->all_lost_us = g_get_monotonic_time ();
  g_cond_broadcast (&self->cond);
  self->n_threads--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  gst_p2p_sink_peer_unref (peer);
#ifdef HAVE_MALLOC_TRIM
  /* glibc gives freed memory back to the system only from the top of a
   * heap: what a receiver's connection and threads allocated and freed in
   * between stays resident. After a churn of 100 receivers (20 at once)
   * the sender kept 14-16 % more RSS than its baseline with none left
   * (also with MALLOC_ARENA_MAX=1), 4-6 % with this (tests/soak/churn.sh).
   * Once per receiver that leaves, on its own thread: median 0.35 ms, at
   * most 5.6 ms on a loaded 2-core machine (41 calls of a churn). */
  malloc_trim (0);
#endif
  return NULL;
}

/* Datagram delivery: datagrams that arrive before the receiver connected its
 * handler are lost, so a receiver first sends one MESSAGE frame ("ready") on
 * the reliable stream and gets datagrams only after it. A delivery=reliable
 * p2psrc says "ready stream" instead: it reads no datagrams, so its buffers
 * go on the stream (it hung in PREROLLING before, waiting for buffers that
 * never came; docs/protocol.md §5). A delivery=datagram p2psrc says "ready
 * seqnum": it also gets DATAGRAM_SEQNUM frames, where its datagrams start
 * (now) and end (before EOS), to count the loss of the first and last ones;
 * an older one says "ready" and gets none (it would reject them). */
void
gst_p2p_sink_peer_drain (SinkPeer *peer)
{
  for (;;) {
    g_autoptr (GBytes) msg = p2p_connection_receive (peer->conn, peer->cancellable, NULL);

    if (msg == NULL)
      return;
  }
}

static gpointer
sink_peer_ready_thread (gpointer data)
{
  SinkPeer *peer = data;
  GstP2pSink *self = peer->sink;
  g_autoptr (GError) err = NULL;
  g_autoptr (GBytes) msg = p2p_connection_receive (peer->conn,
      peer->cancellable, &err);

  g_mutex_lock (&self->lock);
  if (msg) {
    guint64 type = 0;
    const guint8 *body = NULL;
    gsize body_len = 0;
    gsize len = 0;
    const guint8 *bytes = g_bytes_get_data (msg, &len);

    if (gst_p2p_media_split_message (bytes, len, &type, &body, &body_len, NULL)
        && type == P2P_FRAME_MESSAGE && body_len == strlen (GST_P2P_READY_STREAM)
        && memcmp (body, GST_P2P_READY_STREAM, body_len) == 0) {
      GST_INFO_OBJECT (self, "receiver %s runs delivery=reliable: its buffers go "
          "on the stream", peer->peer_id);
      peer->wants_stream = TRUE;
    } else if (type == P2P_FRAME_MESSAGE && body_len == strlen (GST_P2P_READY_SEQNUM)
        && memcmp (body, GST_P2P_READY_SEQNUM, body_len) == 0) {
      g_autoptr (GBytes) start = gst_p2p_media_datagram_seqnum_message (self->seqnum);

      /* its datagrams start with the next one (the seqnum goes up under
       * this lock): it counts a loss of the first one; what was sent
       * before it joined is none of its losses */
      GST_DEBUG_OBJECT (self, "datagrams to receiver %s start at %"
          G_GUINT64_FORMAT, peer->peer_id, self->seqnum);
      peer->wants_seqnum = TRUE;
      gst_p2p_sink_peer_push_locked (self, peer, start);
      if (p2p_connection_has_capability (peer->conn, "datagram-epoch")) {
        g_autoptr (GBytes) epoch = gst_p2p_media_datagram_epoch_message (self->dg_epoch);

        /* after the headers it got: the datagrams from now on are of this
         * epoch, and each later event that raises it says so */
        peer->takes_epochs = TRUE;
        gst_p2p_sink_peer_push_locked (self, peer, epoch);
      }
    } else {
      GST_DEBUG_OBJECT (self, "receiver %s is ready for datagrams", peer->peer_id);
    }
    peer->ready = TRUE;
  }
  g_cond_broadcast (&self->cond);       /* the streaming thread waits for "ready" */
  g_mutex_unlock (&self->lock);
  /* nothing more is expected from it: what it sends is read and dropped
   * until the connection ends (unread, 262144 tiny messages cost this
   * sender about 32 MB per connection before the connection closed) */
  if (msg)
    gst_p2p_sink_peer_drain (peer);
  g_mutex_lock (&self->lock);
  self->n_threads--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  gst_p2p_sink_peer_unref (peer);
  return NULL;
}

/* The sink has max-peers receivers and one from @host comes: if a host
 * gives way (p2p_host_share_gives_way(), the policy of the file service's
 * request slots: it holds more than its share of max-peers and at least
 * two more than @host), its newest receiver is disconnected to make room,
 * and TRUE returned. Without it one host with throwaway identities kept
 * every other host out (found in an adversarial review). */
static gboolean
make_room_for_host_locked (GstP2pSink *self, const char *host, guint max_peers)
{
  g_autoptr (GHashTable) counts = g_hash_table_new (g_str_hash, g_str_equal);
  const char *biggest;
  guint most, share;
  SinkPeer *newest = NULL;

  for (guint i = 0; i < self->peers->len; i++) {
    SinkPeer *p = g_ptr_array_index (self->peers, i);

    if (!p->closed)
      g_hash_table_insert (counts, p->host,
          GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (counts, p->host)) + 1));
  }
  biggest = p2p_host_share_gives_way (counts, host, max_peers, &most, &share);
  if (biggest == NULL) {
    GST_DEBUG_OBJECT (self, "max-peers reached: host %s has %u, the most are %u, the share "
        "is %u: nobody gives way", host,
        GPOINTER_TO_UINT (g_hash_table_lookup (counts, host)), most, share);
    return FALSE;
  }
  for (guint i = 0; i < self->peers->len; i++) {
    SinkPeer *p = g_ptr_array_index (self->peers, i);

    if (!p->closed && g_str_equal (p->host, biggest)
        && (newest == NULL || p->connected_us > newest->connected_us))
      newest = p;
  }
  GST_WARNING_OBJECT (self, "max-peers reached: receiver %s of host %s (%u receivers, its "
      "share %u) makes room for host %s", newest->peer_id, biggest, most, share, host);
  newest->evicted = TRUE;
  gst_p2p_sink_peer_disconnect_locked (self, newest,
      "making room for a receiver on another host (max-peers is shared by hosts)");
  return TRUE;
}

/* Receivers not being disconnected. */
static guint
active_peers_locked (GstP2pSink *self)
{
  guint n = 0;

  for (guint i = 0; i < self->peers->len; i++)
    n += ((SinkPeer *) g_ptr_array_index (self->peers, i))->closed ? 0 : 1;
  return n;
}

/* Takes a new authenticated connection (transfer full). */
static void
gst_p2p_sink_add_peer (GstP2pSink *self, P2pConnection *conn)
{
  const char *why = NULL;
  SinkPeer *peer;
  GThread *thread;
  guint max_peers;
  guint64 resume_buffer;

  GST_OBJECT_LOCK (self);
  max_peers = self->max_peers;
  resume_buffer = self->resume_buffer;
  GST_OBJECT_UNLOCK (self);

  if (!gst_p2p_object_peer_allowed (self->obj, conn, &why)) {
    g_autofree char *id = gst_p2p_connection_dup_peer_id (conn);

    GST_WARNING_OBJECT (self, "refusing peer %s: %s", id, why);
    p2p_connection_close (conn, why);
    g_object_unref (conn);
    return;
  }

  peer = g_new0 (SinkPeer, 1);
  peer->refcount = 1;
  peer->sink = gst_object_ref (self);
  peer->conn = conn;
  peer->peer_id = gst_p2p_connection_dup_peer_id (conn);
  peer->host = p2p_connection_dup_remote_host (conn);
  if (peer->host == NULL)
    peer->host = g_strdup (peer->peer_id);
  peer->cancellable = g_cancellable_new ();
  g_cond_init (&peer->cond);
  g_queue_init (&peer->queue);

  g_mutex_lock (&self->lock);
  if (self->stopping || (max_peers > 0 && active_peers_locked (self) >= max_peers
          && !make_room_for_host_locked (self, peer->host, max_peers))) {
    gboolean stopping = self->stopping;

    g_mutex_unlock (&self->lock);
    GST_WARNING_OBJECT (self, "refusing receiver %s: %s", peer->peer_id,
        stopping ? "stopping" : "max-peers reached");
    p2p_connection_close (conn, stopping ? "sender stopping" :
        "too many receivers (max-peers)");
    gst_p2p_sink_peer_unref (peer);
    return;
  }
  /* late joiner: the stream headers first, in order */
  gst_p2p_sink_peer_push_headers_locked (self, peer);
  /* a receiver that takes positions (resuming, docs/protocol.md §5.3):
   * the next frame the fan-out queues is history_next */
  if (self->delivery != GST_P2P_DELIVERY_DATAGRAM && resume_buffer > 0 && !self->eos &&
      p2p_connection_has_capability (conn, "stream-position")) {
    g_autoptr (GBytes) pos = gst_p2p_media_stream_position_message (self->history_token,
        self->history_next, 0);

    gst_p2p_sink_peer_push_locked (self, peer, pos);
    peer->takes_positions = TRUE;
    peer->may_resume = TRUE;
    peer->next_index = self->history_next;
  }
  if (self->eos) {
    g_autoptr (GByteArray) eos = g_byte_array_new ();
    g_autoptr (GBytes) b = NULL;

    p2p_frame_append (eos, P2P_FRAME_EOS, NULL, 0);
    b = g_byte_array_free_to_bytes (g_steal_pointer (&eos));
    gst_p2p_sink_peer_push_locked (self, peer, b);
  }
  peer->connected_us = g_get_monotonic_time ();
  self->receivers_total++;
  g_ptr_array_add (self->peers, gst_p2p_sink_peer_ref (peer));
  self->n_threads++;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  g_signal_connect_data (conn, "closed", G_CALLBACK (on_peer_closed),
      gst_p2p_sink_peer_ref (peer), sink_peer_closure_notify, 0);
  g_signal_connect_data (conn, "path-changed", G_CALLBACK (on_peer_path_changed),
      gst_p2p_sink_peer_ref (peer), sink_peer_closure_notify, 0);
  if (!p2p_connection_is_connected (conn)) {
    g_mutex_lock (&self->lock);
    peer->closed = TRUE;
    g_cond_signal (&peer->cond);
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
  }

  GST_INFO_OBJECT (self, "receiver %s connected", peer->peer_id);
  g_signal_emit (self, gst_p2p_sink_signals[GST_P2P_SINK_SIGNAL_PEER_ADDED], 0,
      peer->peer_id);
  g_object_notify (G_OBJECT (self), "n-peers");
  gst_p2p_object_post_connection (self->obj, conn, "connected");

  if (self->delivery == GST_P2P_DELIVERY_DATAGRAM) {
    g_mutex_lock (&self->lock);
    self->n_threads++;
    g_mutex_unlock (&self->lock);
    thread = g_thread_new ("p2psink-ready", sink_peer_ready_thread,
        gst_p2p_sink_peer_ref (peer));
    g_thread_unref (thread);
  } else {
    /* what it says: a resume request ("resume TOKEN INDEX") if it takes
     * positions; anything else is read and dropped */
    g_mutex_lock (&self->lock);
    self->n_threads++;
    g_mutex_unlock (&self->lock);
    thread = g_thread_new ("p2psink-reader", gst_p2p_sink_peer_reader_thread,
        gst_p2p_sink_peer_ref (peer));
    g_thread_unref (thread);
  }
  /* the thread owns the initial reference */
  thread = g_thread_new ("p2psink-peer", sink_peer_thread, peer);
  g_thread_unref (thread);
}

gpointer
gst_p2p_sink_accept_thread (gpointer data)
{
  GstP2pSink *self = data;
  GCancellable *cancellable = self->cancellable;
  P2pListener *listener;
  GstP2pMode mode;

  GST_OBJECT_LOCK (self);
  listener = self->obj->listener ? g_object_ref (self->obj->listener) : NULL;
  mode = self->obj->mode;
  GST_OBJECT_UNLOCK (self);

  if (mode == GST_P2P_MODE_CONNECT) {
    g_autoptr (GError) err = NULL;
    P2pConnection *conn = gst_p2p_object_connect (self->obj, 0, cancellable, &err);

    if (conn) {
      gst_p2p_sink_add_peer (self, conn);
    } else if (!g_error_matches (err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_autofree char *peer = gst_p2p_object_dup_peer (self->obj);

      GST_P2P_ELEMENT_ERROR_FROM (self, err,
          "Could not connect to peer \"%s\": %s", peer, err->message);
    }
    return NULL;
  }

  while (listener && !g_cancellable_is_cancelled (cancellable)) {
    g_autoptr (GError) err = NULL;
    P2pConnection *conn = p2p_listener_accept (listener, cancellable, &err);

    if (!conn) {
      GST_DEBUG_OBJECT (self, "accept loop ends: %s", err->message);
      break;
    }
    gst_p2p_sink_add_peer (self, conn);
  }
  g_clear_object (&listener);
  return NULL;
}
