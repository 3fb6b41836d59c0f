/* gstp2psink.c: p2psink, serves a stream to one or more peers.
 *
 * SECTION:element-p2psink
 * @see_also: p2psrc, p2psimnet
 *
 * Listens (mode=listen, the default) and sends everything it receives to
 * every connected receiver: each GStreamer event and buffer as one media
 * frame (docs/protocol.md). Late joiners first get the stream-start, caps
 * (with streamheader), the last segment and tags. Each receiver has its own
 * bounded queue (max-queue-bytes, max-queue-buffers); what happens when it is
 * full is the slow-receiver-policy (default disconnect: wait up to
 * slow-receiver-timeout ms for room, then drop that receiver, so one stalled
 * receiver holds the others back for at most that long). "sync" defaults to
 * FALSE here (serve as fast as the receivers take it). A buffer bigger than
 * one message goes in parts (up to 64 MiB). Stats totals count receivers
 * that left; "receivers" lists the connected ones. A receiver that leaves
 * without the whole stream is a WARNING; at EOS, no receiver with the whole
 * stream is an error unless allow-partial. An EOS with no receiver connected
 * does not wait for one.
 *
 * |[
 * gst-launch-1.0 -e filesrc location=song.flac ! flacparse ! p2psink
 * ]|
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psink.h"
#include "gstp2pmedia.h"

#include <string.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif

GST_DEBUG_CATEGORY_STATIC (gst_p2p_sink_debug);
#define GST_CAT_DEFAULT gst_p2p_sink_debug

#define DEFAULT_WAIT_FOR_PEER TRUE
#define DEFAULT_MIN_PEERS 1
#define DEFAULT_EOS_TIMEOUT 10000
#define DEFAULT_MAX_PEERS 64
#define DEFAULT_MAX_QUEUE_BYTES (4 * 1024 * 1024)
#define DEFAULT_MAX_QUEUE_BUFFERS 0
#define DEFAULT_SLOW_POLICY GST_P2P_SLOW_RECEIVER_DISCONNECT
#define DEFAULT_SLOW_TIMEOUT 5000

enum {
  PROP_WAIT_FOR_PEER = GST_P2P_PROP_LAST,
  PROP_EOS_TIMEOUT,
  PROP_MAX_PEERS,
  PROP_MAX_QUEUE_BYTES,
  PROP_MAX_QUEUE_BUFFERS,
  PROP_SLOW_RECEIVER_POLICY,
  PROP_SLOW_RECEIVER_TIMEOUT,
  PROP_N_PEERS,
  PROP_MIN_PEERS,
  PROP_ALLOW_PARTIAL,
};

enum {
  SIGNAL_PEER_ADDED,
  SIGNAL_PEER_REMOVED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

typedef struct {
  gint refcount;
  GstP2pSink *sink;             /* a reference */
  P2pConnection *conn;
  char *peer_id;
  /* protected by sink->lock */
  GQueue queue;                 /* GBytes, whole frames */
  gsize queued_bytes;           /* queued + being sent */
  guint queued_buffers;         /* BUFFER frames queued + being sent */
  gboolean closed;
  gboolean ready;               /* datagram delivery: the receiver said so */
  gboolean wants_stream;        /* datagram delivery to a delivery=reliable
                                 * receiver: its buffers go on the stream */
  gboolean wants_seqnum;        /* it takes DATAGRAM_SEQNUM frames */
  char *close_reason;
  gboolean need_discont;
  guint64 dropped;
  gint64 connected_us;          /* monotonic, when it was added */
  guint64 media_bytes;          /* bytes of frames handed to the transport */
  gboolean eos_sent;            /* the EOS frame went out */
  gboolean closed_by_receiver;
  GCancellable *cancellable;
  /* the peer's thread waits on it (sink->lock): signalled when this peer's
   * queue or state changes, so one buffer wakes each thread once, not every
   * thread once per receiver */
  GCond cond;
} SinkPeer;

struct _GstP2pSink {
  GstBaseSink parent;

  GstP2pObject *obj;

  /* properties (object lock) */
  gboolean wait_for_peer;
  guint min_peers;
  guint eos_timeout;
  guint max_peers;
  guint64 max_queue_bytes;
  guint max_queue_buffers;
  GstP2pSlowReceiverPolicy slow_policy;
  guint slow_timeout;

  /* runtime (lock) */
  GMutex lock;
  GCond cond;                   /* streaming thread, stop: peers, room, threads */
  guint room_waiters;           /* streaming thread waits for room in a queue */
  GPtrArray *peers;             /* SinkPeer (refs) */
  guint n_threads;
  gboolean flushing;
  gboolean stopping;
  gboolean eos;
  GBytes *hdr_stream_start, *hdr_caps, *hdr_segment, *hdr_tags;
  guint64 seqnum;
  GstBuffer *prerolled;         /* sent by preroll(), not to send again */
  guint64 datagrams_too_big;
  guint64 dropped_total;
  /* receivers gone: their final figures, so the totals never go down */
  P2pConnectionStats gone;
  guint64 receivers_total;      /* receivers served since start */
  guint64 receivers_complete;   /* of them, those that confirmed EOS */
  gboolean allow_partial;       /* property (object lock) */
  GstP2pDelivery delivery;
  GCancellable *cancellable;
  GThread *accept_thread;
};

static void gst_p2p_sink_uri_handler_init (gpointer g_iface, gpointer data);

#define gst_p2p_sink_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstP2pSink, gst_p2p_sink, GST_TYPE_BASE_SINK,
    GST_DEBUG_CATEGORY_INIT (gst_p2p_sink_debug, "p2psink", 0, "P2P sink");
    G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER, gst_p2p_sink_uri_handler_init));
GST_ELEMENT_REGISTER_DEFINE (p2psink, "p2psink", GST_RANK_NONE, GST_TYPE_P2P_SINK);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

GType
gst_p2p_slow_receiver_policy_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_P2P_SLOW_RECEIVER_BLOCK,
        "Wait for room in the receiver's queue (stalls every receiver)", "block"},
    {GST_P2P_SLOW_RECEIVER_DROP,
        "Drop buffers for that receiver (the next one it gets is marked DISCONT)",
        "drop"},
    {GST_P2P_SLOW_RECEIVER_DISCONNECT,
          "Wait up to slow-receiver-timeout ms, then disconnect that receiver",
        "disconnect"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type,
        g_enum_register_static ("GstP2pSlowReceiverPolicy", values));
  return type;
}

/* ---- peers ---- */

static SinkPeer *
sink_peer_ref (SinkPeer *peer)
{
  g_atomic_int_inc (&peer->refcount);
  return peer;
}

static void
sink_peer_unref (gpointer data)
{
  SinkPeer *peer = data;

  if (!g_atomic_int_dec_and_test (&peer->refcount))
    return;
  g_queue_clear_full (&peer->queue, (GDestroyNotify) g_bytes_unref);
  g_clear_object (&peer->conn);
  g_clear_object (&peer->cancellable);
  g_cond_clear (&peer->cond);
  g_free (peer->peer_id);
  g_free (peer->close_reason);
  gst_object_unref (peer->sink);
  g_free (peer);
}

static void
sink_peer_closure_notify (gpointer data, GClosure *closure)
{
  sink_peer_unref (data);
}

static gboolean
is_buffer_message (GBytes *msg)
{
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (msg, &len);

  /* the frame type is the first varint; BUFFER (0x24) is one byte */
  return len > 0 && p[0] == P2P_FRAME_BUFFER;
}

/* Called with the lock. */
static void
sink_peer_push_locked (GstP2pSink *self, SinkPeer *peer, GBytes *msg)
{
  g_queue_push_tail (&peer->queue, g_bytes_ref (msg));
  peer->queued_bytes += g_bytes_get_size (msg);
  if (is_buffer_message (msg))
    peer->queued_buffers++;
  g_cond_signal (&peer->cond);
}

/* Called with the lock: wakes every peer thread (stop). */
static void
wake_peers_locked (GstP2pSink *self)
{
  for (guint i = 0; i < self->peers->len; i++)
    g_cond_signal (&((SinkPeer *) g_ptr_array_index (self->peers, i))->cond);
}

/* Called with the lock: ask the peer's thread to close it. */
static void
sink_peer_disconnect_locked (GstP2pSink *self, SinkPeer *peer, const char *reason)
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
on_peer_path_changed (P2pConnection *conn, P2pPathKind kind, gpointer data)
{
  SinkPeer *peer = data;

  gst_p2p_object_post_connection (peer->sink->obj, conn, "path-changed");
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

static gpointer
sink_peer_thread (gpointer data)
{
  SinkPeer *peer = data;
  GstP2pSink *self = peer->sink;
  g_autofree char *reason = NULL;
  P2pConnectionStats st;
  gboolean complete, warn;

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
    if (ok) {
      peer->media_bytes += g_bytes_get_size (msg);
      if (g_bytes_get_size (msg) > 0
          && ((const guint8 *) g_bytes_get_data (msg, NULL))[0] == P2P_FRAME_EOS)
        peer->eos_sent = TRUE;
    }
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

  /* the final figures before the close, which ends the counters */
  p2p_connection_get_stats (peer->conn, &st);
  /* Signal and message first, removal second: EOS (wait_drained) waits for
   * the removal, so the "disconnected" message with the final byte counts
   * is on the bus before the EOS message. */
  p2p_connection_close (peer->conn, reason);
  g_signal_handlers_disconnect_by_data (peer->conn, peer);
  GST_INFO_OBJECT (self, "receiver %s removed: %s", peer->peer_id, reason);
  g_signal_emit (self, signals[SIGNAL_PEER_REMOVED], 0, peer->peer_id);
  gst_p2p_object_post_disconnected (self->obj, peer->conn, &st, reason);

  g_mutex_lock (&self->lock);
  /* complete: the receiver closed after it got the EOS frame */
  complete = peer->eos_sent && peer->closed_by_receiver;
  if (complete)
    self->receivers_complete++;
  warn = !complete && !self->stopping;
  g_mutex_unlock (&self->lock);
  if (warn)
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE, ("Receiver %s did not get "
            "the whole stream: %" G_GUINT64_FORMAT " bytes delivered (%s)",
            peer->peer_id, peer->media_bytes, reason), (NULL));

  g_mutex_lock (&self->lock);
  self->gone.bytes_sent += st.bytes_sent;
  self->gone.bytes_received += st.bytes_received;
  self->gone.packets_lost += st.packets_lost;
  self->gone.packets_retransmitted += st.packets_retransmitted;
  self->gone.datagrams_dropped += st.datagrams_dropped;
  g_ptr_array_remove (self->peers, peer);       /* drops the array's ref */
  g_cond_broadcast (&self->cond);
  self->n_threads--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  g_object_notify (G_OBJECT (self), "n-peers");
  sink_peer_unref (peer);
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
      sink_peer_push_locked (self, peer, start);
    } else {
      GST_DEBUG_OBJECT (self, "receiver %s is ready for datagrams", peer->peer_id);
    }
    peer->ready = TRUE;
  }
  self->n_threads--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  sink_peer_unref (peer);
  return NULL;
}

/* Takes a new authenticated connection (transfer full). */
static void
gst_p2p_sink_add_peer (GstP2pSink *self, P2pConnection *conn)
{
  const char *why = NULL;
  SinkPeer *peer;
  GThread *thread;
  guint max_peers;

  GST_OBJECT_LOCK (self);
  max_peers = self->max_peers;
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
  peer->cancellable = g_cancellable_new ();
  g_cond_init (&peer->cond);
  g_queue_init (&peer->queue);

  g_mutex_lock (&self->lock);
  if (self->stopping || (max_peers > 0 && self->peers->len >= max_peers)) {
    gboolean stopping = self->stopping;

    g_mutex_unlock (&self->lock);
    GST_WARNING_OBJECT (self, "refusing receiver %s: %s", peer->peer_id,
        stopping ? "stopping" : "max-peers reached");
    p2p_connection_close (conn, stopping ? "sender stopping" :
        "too many receivers (max-peers)");
    sink_peer_unref (peer);
    return;
  }
  /* late joiner: the stream headers first, in order */
  if (self->hdr_stream_start)
    sink_peer_push_locked (self, peer, self->hdr_stream_start);
  if (self->hdr_caps)
    sink_peer_push_locked (self, peer, self->hdr_caps);
  if (self->hdr_segment)
    sink_peer_push_locked (self, peer, self->hdr_segment);
  if (self->hdr_tags)
    sink_peer_push_locked (self, peer, self->hdr_tags);
  if (self->eos) {
    g_autoptr (GByteArray) eos = g_byte_array_new ();
    g_autoptr (GBytes) b = NULL;

    p2p_frame_append (eos, P2P_FRAME_EOS, NULL, 0);
    b = g_byte_array_free_to_bytes (g_steal_pointer (&eos));
    sink_peer_push_locked (self, peer, b);
  }
  peer->connected_us = g_get_monotonic_time ();
  self->receivers_total++;
  g_ptr_array_add (self->peers, sink_peer_ref (peer));
  self->n_threads++;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  g_signal_connect_data (conn, "closed", G_CALLBACK (on_peer_closed),
      sink_peer_ref (peer), sink_peer_closure_notify, 0);
  g_signal_connect_data (conn, "path-changed", G_CALLBACK (on_peer_path_changed),
      sink_peer_ref (peer), sink_peer_closure_notify, 0);
  if (!p2p_connection_is_connected (conn)) {
    g_mutex_lock (&self->lock);
    peer->closed = TRUE;
    g_cond_signal (&peer->cond);
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
  }

  GST_INFO_OBJECT (self, "receiver %s connected", peer->peer_id);
  g_signal_emit (self, signals[SIGNAL_PEER_ADDED], 0, peer->peer_id);
  g_object_notify (G_OBJECT (self), "n-peers");
  gst_p2p_object_post_connection (self->obj, conn, "connected");

  if (self->delivery == GST_P2P_DELIVERY_DATAGRAM) {
    g_mutex_lock (&self->lock);
    self->n_threads++;
    g_mutex_unlock (&self->lock);
    thread = g_thread_new ("p2psink-ready", sink_peer_ready_thread,
        sink_peer_ref (peer));
    g_thread_unref (thread);
  }
  /* the thread owns the initial reference */
  thread = g_thread_new ("p2psink-peer", sink_peer_thread, peer);
  g_thread_unref (thread);
}

static gpointer
accept_thread (gpointer data)
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
    P2pConnection *conn = gst_p2p_object_connect (self->obj, cancellable, &err);

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

/* ---- streaming ---- */

/* Called with the lock. */
static gboolean
have_receiver_locked (GstP2pSink *self)
{
  guint ready = 0, min_peers;

  GST_OBJECT_LOCK (self);
  min_peers = MAX (self->min_peers, 1);
  GST_OBJECT_UNLOCK (self);
  if (self->delivery != GST_P2P_DELIVERY_DATAGRAM)
    return self->peers->len >= min_peers;
  for (guint i = 0; i < self->peers->len; i++)
    if (((SinkPeer *) g_ptr_array_index (self->peers, i))->ready)
      ready++;
  return ready >= min_peers;
}

/* Called with the lock. Waits for the first receiver if wait-for-peer is set.
 * Returns GST_FLOW_OK, or what gst_base_sink_wait_preroll() said. With
 * @preroll it never waits (that would block the state change to PLAYING):
 * GST_FLOW_CUSTOM_SUCCESS then means "no receiver yet, send it at render". */
static GstFlowReturn
wait_for_peer_locked (GstP2pSink *self, gboolean preroll)
{
  gboolean wait;

  GST_OBJECT_LOCK (self);
  wait = self->wait_for_peer;
  GST_OBJECT_UNLOCK (self);
  while (wait && !have_receiver_locked (self)) {
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
  none = !have_receiver_locked (self);
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
  ret = wait_for_peer_locked (self, preroll);
  if (ret != GST_FLOW_OK) {
    g_mutex_unlock (&self->lock);
    return ret;
  }
  msg = gst_p2p_media_buffer_to_datagram (buffer, self->seqnum++);
  snapshot = g_ptr_array_new_with_free_func (sink_peer_unref);
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
        sink_peer_push_locked (self, peer, m);
      }
      continue;
    }
    g_ptr_array_add (snapshot, sink_peer_ref (peer));
  }
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < snapshot->len; i++) {
    SinkPeer *peer = g_ptr_array_index (snapshot, i);
    g_autoptr (GError) err = NULL;

    if (g_bytes_get_size (msg) > p2p_connection_get_max_datagram_size (peer->conn)) {
      GST_WARNING_OBJECT (self, "buffer of %" G_GSIZE_FORMAT " bytes does not "
          "fit in a datagram to %s: dropped (use delivery=reliable for big "
          "buffers)", gst_buffer_get_size (buffer), peer->peer_id);
      g_mutex_lock (&self->lock);
      self->datagrams_too_big++;
      g_mutex_unlock (&self->lock);
      continue;
    }
    if (!p2p_connection_send_datagram (peer->conn, msg, &err))
      GST_DEBUG_OBJECT (self, "datagram to %s not sent: %s", peer->peer_id,
          err->message);
  }
  return GST_FLOW_OK;
}

/* Sends @buffer to every receiver. @preroll: called from the preroll vfunc
 * (a flush then returns FLUSHING instead of waiting for the preroll). */
static GstFlowReturn
send_buffer (GstP2pSink *self, GstBuffer *buffer, gboolean preroll)
{
  GstBaseSink *bsink = GST_BASE_SINK (self);
  g_autoptr (GBytes) msg = NULL;
  g_autoptr (GPtrArray) snapshot = NULL;
  GstFlowReturn ret;
  GstP2pSlowReceiverPolicy policy;
  guint64 max_bytes;
  guint max_buffers, slow_timeout;
  gsize size;

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

  GST_OBJECT_LOCK (self);
  policy = self->slow_policy;
  max_bytes = self->max_queue_bytes;
  max_buffers = self->max_queue_buffers;
  slow_timeout = self->slow_timeout;
  GST_OBJECT_UNLOCK (self);

  msg = encode_buffer (buffer, FALSE);
  size = g_bytes_get_size (msg);

  g_mutex_lock (&self->lock);
  ret = wait_for_peer_locked (self, preroll);
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

  snapshot = g_ptr_array_new_with_free_func (sink_peer_unref);
  for (guint i = 0; i < self->peers->len; i++)
    g_ptr_array_add (snapshot, sink_peer_ref (g_ptr_array_index (self->peers, i)));

  for (guint i = 0; i < snapshot->len; i++) {
    SinkPeer *peer = g_ptr_array_index (snapshot, i);
    gint64 deadline = g_get_monotonic_time () + (gint64) slow_timeout * 1000;
    gboolean dropped = FALSE;

    while (!peer->closed && !self->stopping
        && queue_full_locked (self, peer, size, max_bytes, max_buffers)) {
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
        deadline = g_get_monotonic_time () + (gint64) slow_timeout * 1000;
        GST_LOG_OBJECT (self, "queue of %s full: pacing the stream", peer->peer_id);
        self->room_waiters++;
        g_cond_wait_until (&self->cond, &self->lock, g_get_monotonic_time () + 100 * 1000);
        self->room_waiters--;
        continue;
      }
      if (policy == GST_P2P_SLOW_RECEIVER_DISCONNECT) {
        GST_LOG_OBJECT (self, "holding back: the queue of %s is full (it goes "
            "after slow-receiver-timeout)", peer->peer_id);
        if (g_get_monotonic_time () >= deadline) {
          GST_WARNING_OBJECT (self, "receiver %s is too slow (queue full for "
              "%u ms): disconnecting it", peer->peer_id, slow_timeout);
          sink_peer_disconnect_locked (self, peer,
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
    if (self->stopping) {
      ret = GST_FLOW_FLUSHING;
      goto out;
    }
    if (dropped || peer->closed)
      continue;
    if (peer->need_discont) {
      g_autoptr (GBytes) d = encode_buffer (buffer, TRUE);

      peer->need_discont = FALSE;
      sink_peer_push_locked (self, peer, d);
    } else {
      sink_peer_push_locked (self, peer, msg);
    }
  }

out:
  g_mutex_unlock (&self->lock);
  return ret;
}

/* The buffer is sent when it prerolls if that needs no waiting (a receiver
 * is there and has room), and then not again when it is rendered; else it is
 * sent at render. Preroll never blocks: the state change to PLAYING waits for
 * it. */
static GstFlowReturn
gst_p2p_sink_preroll (GstBaseSink *bsink, GstBuffer *buffer)
{
  GstP2pSink *self = GST_P2P_SINK (bsink);
  GstFlowReturn ret = send_buffer (self, buffer, TRUE);

  g_mutex_lock (&self->lock);
  gst_buffer_replace (&self->prerolled, ret == GST_FLOW_OK ? buffer : NULL);
  g_mutex_unlock (&self->lock);
  return ret == GST_FLOW_CUSTOM_SUCCESS ? GST_FLOW_OK : ret;
}

static GstFlowReturn
gst_p2p_sink_render (GstBaseSink *bsink, GstBuffer *buffer)
{
  GstP2pSink *self = GST_P2P_SINK (bsink);
  gboolean sent;

  g_mutex_lock (&self->lock);
  sent = self->prerolled == buffer;
  gst_buffer_replace (&self->prerolled, NULL);
  g_mutex_unlock (&self->lock);
  if (sent)
    return GST_FLOW_OK;
  return send_buffer (self, buffer, FALSE);
}

/* Waits at EOS until every receiver closed (it has everything), bounded by
 * eos-timeout. */
static void
wait_drained (GstP2pSink *self)
{
  guint timeout;
  gint64 deadline;

  GST_OBJECT_LOCK (self);
  timeout = self->eos_timeout;
  GST_OBJECT_UNLOCK (self);
  deadline = g_get_monotonic_time () + (gint64) timeout * 1000;

  g_mutex_lock (&self->lock);
  if (self->peers->len == 0) {
    /* nobody to wait for (issue 16 item 14): EOS goes on at once */
    GST_INFO_OBJECT (self, "end of stream with no receiver connected");
    goto check;
  }
  if (wait_for_peer_locked (self, FALSE) != GST_FLOW_OK) {
    g_mutex_unlock (&self->lock);
    return;
  }
  while (self->peers->len > 0 && !self->flushing && !self->stopping) {
    if (!g_cond_wait_until (&self->cond, &self->lock, deadline)) {
      GST_WARNING_OBJECT (self, "%u receiver(s) did not confirm the end of "
          "the stream within eos-timeout=%u ms: closing them", self->peers->len,
          timeout);
      for (guint i = 0; i < self->peers->len; i++)
        sink_peer_disconnect_locked (self, g_ptr_array_index (self->peers, i),
            "end of stream (eos-timeout)");
      /* their threads remove them (bounded: the sends are cancelled) */
      deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
      while (self->peers->len > 0 && !self->stopping
          && g_cond_wait_until (&self->cond, &self->lock, deadline));
      break;
    }
  }

check:
  /* issue 16 item 11: say when the stream reached nobody whole */
  if (!self->flushing && !self->stopping && self->receivers_total > 0
      && self->receivers_complete == 0) {
    guint64 total = self->receivers_total;
    gboolean allow;

    g_mutex_unlock (&self->lock);
    GST_OBJECT_LOCK (self);
    allow = self->allow_partial;
    GST_OBJECT_UNLOCK (self);
    if (allow)
      GST_WARNING_OBJECT (self, "no receiver got the whole stream "
          "(allow-partial=true)");
    else
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("No receiver got the whole "
              "stream (%" G_GUINT64_FORMAT " connected, none confirmed the end "
              "of the stream); set allow-partial=true to accept partial "
              "delivery", total), (NULL));
    return;
  }
  g_mutex_unlock (&self->lock);
}

static gboolean
gst_p2p_sink_event (GstBaseSink *bsink, GstEvent *event)
{
  GstP2pSink *self = GST_P2P_SINK (bsink);
  g_autoptr (GByteArray) out = g_byte_array_new ();

  GST_LOG_OBJECT (self, "event %" GST_PTR_FORMAT, event);
  if (gst_p2p_media_append_event (out, event)) {
    g_autoptr (GBytes) msg = g_byte_array_free_to_bytes (g_steal_pointer (&out));

    g_mutex_lock (&self->lock);
    switch (GST_EVENT_TYPE (event)) {
      case GST_EVENT_STREAM_START:
        g_clear_pointer (&self->hdr_tags, g_bytes_unref);
        g_clear_pointer (&self->hdr_stream_start, g_bytes_unref);
        self->hdr_stream_start = g_bytes_ref (msg);
        self->eos = FALSE;
        break;
      case GST_EVENT_CAPS:
        g_clear_pointer (&self->hdr_caps, g_bytes_unref);
        self->hdr_caps = g_bytes_ref (msg);
        break;
      case GST_EVENT_SEGMENT:
        g_clear_pointer (&self->hdr_segment, g_bytes_unref);
        self->hdr_segment = g_bytes_ref (msg);
        break;
      case GST_EVENT_TAG:
        g_clear_pointer (&self->hdr_tags, g_bytes_unref);
        self->hdr_tags = g_bytes_ref (msg);
        break;
      case GST_EVENT_EOS:
        self->eos = TRUE;
        break;
      case GST_EVENT_FLUSH_STOP:
        self->eos = FALSE;
        gst_buffer_replace (&self->prerolled, NULL);
        break;
      default:
        break;
    }
    for (guint i = 0; i < self->peers->len; i++) {
      SinkPeer *peer = g_ptr_array_index (self->peers, i);

      if (peer->closed)
        continue;
      if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && peer->ready
          && peer->wants_seqnum && !peer->wants_stream) {
        /* where its datagrams end: a loss of the last ones counts too */
        g_autoptr (GBytes) end = gst_p2p_media_datagram_seqnum_message (self->seqnum);

        sink_peer_push_locked (self, peer, end);
      }
      sink_peer_push_locked (self, peer, msg);
    }
    g_mutex_unlock (&self->lock);
  }

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS)
    wait_drained (self);

  return GST_BASE_SINK_CLASS (parent_class)->event (bsink, event);
}

static gboolean
gst_p2p_sink_unlock (GstBaseSink *bsink)
{
  GstP2pSink *self = GST_P2P_SINK (bsink);

  g_mutex_lock (&self->lock);
  self->flushing = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
gst_p2p_sink_unlock_stop (GstBaseSink *bsink)
{
  GstP2pSink *self = GST_P2P_SINK (bsink);

  g_mutex_lock (&self->lock);
  self->flushing = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
gst_p2p_sink_start (GstBaseSink *bsink)
{
  GstP2pSink *self = GST_P2P_SINK (bsink);

  GST_OBJECT_LOCK (self);
  self->delivery = self->obj->delivery;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->lock);
  self->stopping = FALSE;
  self->flushing = FALSE;
  self->eos = FALSE;
  self->seqnum = 0;
  memset (&self->gone, 0, sizeof self->gone);
  self->receivers_total = 0;
  self->receivers_complete = 0;
  g_mutex_unlock (&self->lock);

  self->cancellable = g_cancellable_new ();
  self->accept_thread = g_thread_new ("p2psink-accept", accept_thread, self);
  return TRUE;
}

static gboolean
gst_p2p_sink_stop (GstBaseSink *bsink)
{
  GstP2pSink *self = GST_P2P_SINK (bsink);

  g_mutex_lock (&self->lock);
  self->stopping = TRUE;
  for (guint i = 0; i < self->peers->len; i++) {
    SinkPeer *peer = g_ptr_array_index (self->peers, i);

    g_cancellable_cancel (peer->cancellable);
  }
  wake_peers_locked (self);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  if (self->cancellable)
    g_cancellable_cancel (self->cancellable);
  if (self->accept_thread)
    g_thread_join (g_steal_pointer (&self->accept_thread));
  g_clear_object (&self->cancellable);

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->peers->len; i++) {
    SinkPeer *peer = g_ptr_array_index (self->peers, i);

    g_cancellable_cancel (peer->cancellable);
  }
  while (self->n_threads > 0)
    g_cond_wait (&self->cond, &self->lock);
  g_clear_pointer (&self->hdr_stream_start, g_bytes_unref);
  g_clear_pointer (&self->hdr_caps, g_bytes_unref);
  g_clear_pointer (&self->hdr_segment, g_bytes_unref);
  g_clear_pointer (&self->hdr_tags, g_bytes_unref);
  gst_buffer_replace (&self->prerolled, NULL);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static GstStateChangeReturn
gst_p2p_sink_change_state (GstElement *element, GstStateChange transition)
{
  GstP2pSink *self = GST_P2P_SINK (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !gst_p2p_object_open (self->obj))
    return GST_STATE_CHANGE_FAILURE;

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_READY_TO_NULL
      || (transition == GST_STATE_CHANGE_NULL_TO_READY
          && ret == GST_STATE_CHANGE_FAILURE))
    gst_p2p_object_close (self->obj);
  return ret;
}

typedef struct {
  P2pConnection *conn;
  char *peer_id;
  gint64 connected_us;
  gsize queued_bytes;
  guint64 dropped;
} PeerSnapshot;

static void
peer_snapshot_free (gpointer data)
{
  PeerSnapshot *p = data;

  g_object_unref (p->conn);
  g_free (p->peer_id);
  g_free (p);
}

/* Totals over every receiver since start (monotonic: a receiver that leaves
 * keeps counting with its final figures), "peers" now, and "receivers", one
 * structure per connected receiver (like srtsink's "callers"). */
static GstStructure *
gst_p2p_sink_dup_stats (GstP2pSink *self)
{
  GstStructure *s = gst_p2p_stats_new ();
  g_autoptr (GPtrArray) snaps = g_ptr_array_new_with_free_func (peer_snapshot_free);
  guint64 dropped, too_big, total;
  P2pConnectionStats gone;
  GValue list = G_VALUE_INIT;
  gint64 now = g_get_monotonic_time ();

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->peers->len; i++) {
    SinkPeer *peer = g_ptr_array_index (self->peers, i);
    PeerSnapshot *p = g_new0 (PeerSnapshot, 1);

    p->conn = g_object_ref (peer->conn);
    p->peer_id = g_strdup (peer->peer_id);
    p->connected_us = peer->connected_us;
    p->queued_bytes = peer->queued_bytes;
    p->dropped = peer->dropped;
    g_ptr_array_add (snaps, p);
  }
  dropped = self->dropped_total;
  too_big = self->datagrams_too_big;
  gone = self->gone;
  total = self->receivers_total;
  g_mutex_unlock (&self->lock);

  g_value_init (&list, GST_TYPE_ARRAY);
  for (guint i = 0; i < snaps->len; i++) {
    PeerSnapshot *p = g_ptr_array_index (snaps, i);
    P2pConnectionStats st;
    GValue v = G_VALUE_INIT;
    gint64 us = MAX (now - p->connected_us, 1);

    p2p_connection_get_stats (p->conn, &st);
    gst_p2p_stats_accumulate (s, &st);
    g_value_init (&v, GST_TYPE_STRUCTURE);
    g_value_take_boxed (&v, gst_structure_new ("application/x-p2p-receiver-stats",
            "peer-id", G_TYPE_STRING, p->peer_id,
            "bytes-sent", G_TYPE_UINT64, st.bytes_sent,
            "rtt-us", G_TYPE_UINT64, st.rtt_us,
            "path", G_TYPE_STRING, p2p_path_kind_to_string (st.path_kind),
            "bitrate", G_TYPE_UINT64,
            (guint64) (st.bytes_sent * 8.0 * G_USEC_PER_SEC / us),
            "packets-lost", G_TYPE_UINT64, st.packets_lost,
            "queued-bytes", G_TYPE_UINT64, (guint64) p->queued_bytes,
            "buffers-dropped", G_TYPE_UINT64, p->dropped,
            "connected-ms", G_TYPE_UINT64, (guint64) (us / 1000), NULL));
    gst_value_array_append_and_take_value (&list, &v);
  }
  gst_structure_take_value (s, "receivers", &list);
  {
    guint64 cur;

#define ADD_GONE(field, v) \
    cur = 0; gst_structure_get_uint64 (s, field, &cur); \
    gst_structure_set (s, field, G_TYPE_UINT64, cur + (v), NULL)
    ADD_GONE ("bytes-sent", gone.bytes_sent);
    ADD_GONE ("bytes-received", gone.bytes_received);
    ADD_GONE ("packets-lost", gone.packets_lost);
    ADD_GONE ("packets-retransmitted", gone.packets_retransmitted);
    ADD_GONE ("datagrams-dropped", gone.datagrams_dropped + too_big);
#undef ADD_GONE
  }
  gst_structure_set (s, "buffers-dropped", G_TYPE_UINT64, dropped,
      "receivers-total", G_TYPE_UINT64, total, NULL);
  return s;
}

static void
gst_p2p_sink_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstP2pSink *self = GST_P2P_SINK (object);

  if (gst_p2p_object_set_property (self->obj, prop_id, value, pspec))
    return;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_WAIT_FOR_PEER:
      self->wait_for_peer = g_value_get_boolean (value);
      break;
    case PROP_MIN_PEERS:
      self->min_peers = g_value_get_uint (value);
      break;
    case PROP_EOS_TIMEOUT:
      self->eos_timeout = g_value_get_uint (value);
      break;
    case PROP_MAX_PEERS:
      self->max_peers = g_value_get_uint (value);
      break;
    case PROP_MAX_QUEUE_BYTES:
      self->max_queue_bytes = g_value_get_uint64 (value);
      break;
    case PROP_MAX_QUEUE_BUFFERS:
      self->max_queue_buffers = g_value_get_uint (value);
      break;
    case PROP_SLOW_RECEIVER_POLICY:
      self->slow_policy = g_value_get_enum (value);
      break;
    case PROP_SLOW_RECEIVER_TIMEOUT:
      self->slow_timeout = g_value_get_uint (value);
      break;
    case PROP_ALLOW_PARTIAL:
      self->allow_partial = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  /* a receiver blocked on a full queue re-checks the limits */
  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
gst_p2p_sink_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstP2pSink *self = GST_P2P_SINK (object);

  if (prop_id == GST_P2P_PROP_STATS) {
    GstStructure *stats = gst_p2p_sink_dup_stats (self);

    gst_p2p_object_add_provider_stats (self->obj, stats);
    g_value_take_boxed (value, stats);
    return;
  }
  if (prop_id == PROP_N_PEERS) {
    g_mutex_lock (&self->lock);
    g_value_set_uint (value, self->peers->len);
    g_mutex_unlock (&self->lock);
    return;
  }
  if (gst_p2p_object_get_property (self->obj, prop_id, value, pspec))
    return;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_WAIT_FOR_PEER:
      g_value_set_boolean (value, self->wait_for_peer);
      break;
    case PROP_MIN_PEERS:
      g_value_set_uint (value, self->min_peers);
      break;
    case PROP_EOS_TIMEOUT:
      g_value_set_uint (value, self->eos_timeout);
      break;
    case PROP_MAX_PEERS:
      g_value_set_uint (value, self->max_peers);
      break;
    case PROP_MAX_QUEUE_BYTES:
      g_value_set_uint64 (value, self->max_queue_bytes);
      break;
    case PROP_MAX_QUEUE_BUFFERS:
      g_value_set_uint (value, self->max_queue_buffers);
      break;
    case PROP_SLOW_RECEIVER_POLICY:
      g_value_set_enum (value, self->slow_policy);
      break;
    case PROP_SLOW_RECEIVER_TIMEOUT:
      g_value_set_uint (value, self->slow_timeout);
      break;
    case PROP_ALLOW_PARTIAL:
      g_value_set_boolean (value, self->allow_partial);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_p2p_sink_finalize (GObject *object)
{
  GstP2pSink *self = GST_P2P_SINK (object);

  gst_p2p_object_free (self->obj);
  g_ptr_array_unref (self->peers);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_p2p_sink_class_init (GstP2pSinkClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *bsink_class = GST_BASE_SINK_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  gobject_class->set_property = gst_p2p_sink_set_property;
  gobject_class->get_property = gst_p2p_sink_get_property;
  gobject_class->finalize = gst_p2p_sink_finalize;

  gst_p2p_object_install_properties (gobject_class, TRUE);
  g_object_class_install_property (gobject_class, PROP_WAIT_FOR_PEER,
      g_param_spec_boolean ("wait-for-peer", "Wait for peer",
          "Hold the stream until the first receiver is connected, so it gets "
          "everything from the first byte (an EOS with no receiver connected "
          "is not held; a live stream on a clock is not held either: its "
          "buffers before the first receiver are dropped)", DEFAULT_WAIT_FOR_PEER,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MIN_PEERS,
      g_param_spec_uint ("min-peers", "Minimum peers",
          "With wait-for-peer: hold the stream until this many receivers are "
          "connected (fan-out of a file where every receiver must get it all)",
          1, G_MAXUINT, DEFAULT_MIN_PEERS, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_EOS_TIMEOUT,
      g_param_spec_uint ("eos-timeout", "EOS timeout",
          "At EOS, wait at most this long (ms) for every receiver to confirm "
          "it has the whole stream (0 = do not wait)", 0, G_MAXUINT,
          DEFAULT_EOS_TIMEOUT, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MAX_PEERS,
      g_param_spec_uint ("max-peers", "Maximum receivers",
          "Receivers served at once; more are refused (0 = unlimited)",
          0, G_MAXUINT, DEFAULT_MAX_PEERS, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MAX_QUEUE_BYTES,
      g_param_spec_uint64 ("max-queue-bytes", "Maximum queue bytes",
          "Bytes queued per receiver before it counts as slow (0 = unlimited)",
          0, G_MAXUINT64, DEFAULT_MAX_QUEUE_BYTES, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MAX_QUEUE_BUFFERS,
      g_param_spec_uint ("max-queue-buffers", "Maximum queue buffers",
          "Buffers queued per receiver before it counts as slow "
          "(0 = unlimited; events do not count)", 0, G_MAXUINT, DEFAULT_MAX_QUEUE_BUFFERS,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_SLOW_RECEIVER_POLICY,
      g_param_spec_enum ("slow-receiver-policy", "Slow receiver policy",
          "What to do when a receiver's queue is full: block (everyone waits), "
          "drop (that receiver loses buffers), disconnect (a sole receiver, "
          "or when all are full, paces the stream; one that holds others back "
          "for slow-receiver-timeout is disconnected)",
          GST_TYPE_P2P_SLOW_RECEIVER_POLICY, DEFAULT_SLOW_POLICY,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_SLOW_RECEIVER_TIMEOUT,
      g_param_spec_uint ("slow-receiver-timeout", "Slow receiver timeout",
          "With slow-receiver-policy=disconnect: how long (ms) a receiver's "
          "queue may stay full while another receiver could take more, before "
          "it is disconnected", 0, G_MAXUINT,
          DEFAULT_SLOW_TIMEOUT, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ALLOW_PARTIAL,
      g_param_spec_boolean ("allow-partial", "Allow partial delivery",
          "At EOS, accept that no receiver got the whole stream (one that "
          "confirmed the EOS); FALSE: that is an element error. A receiver "
          "that leaves without the whole stream is a WARNING (bytes "
          "delivered, reason) either way", FALSE,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_N_PEERS,
      g_param_spec_uint ("n-peers", "Receivers",
          "Number of receivers connected now", 0, G_MAXUINT, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstP2pSink::peer-added:
   * @peer_id: the receiver's peer ID
   */
  /**
   * GstP2pSink::peer-connecting:
   * @peer_id: the authenticated peer ID of a receiver that just connected
   *
   * Emitted in the accepting thread before any media goes to the receiver
   * (after allowed-peers). Return %FALSE to refuse it: its connection is
   * closed with "refused by the application (peer-connecting)", which its
   * p2psrc reports. Like srtsink's "caller-connecting".
   *
   * Returns: %TRUE to accept the receiver.
   */
  gst_p2p_object_install_peer_connecting (gobject_class);
  signals[SIGNAL_PEER_ADDED] = g_signal_new ("peer-added",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * GstP2pSink::peer-removed:
   * @peer_id: the receiver's peer ID
   */
  signals[SIGNAL_PEER_REMOVED] = g_signal_new ("peer-removed",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 1, G_TYPE_STRING);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class, "P2P sink",
      "Sink/Network", "Serves a stream to peers over authenticated QUIC "
      "(peer IDs, tickets, NAT traversal)", "gst-p2p developers");
  element_class->change_state = gst_p2p_sink_change_state;

  bsink_class->render = gst_p2p_sink_render;
  bsink_class->preroll = gst_p2p_sink_preroll;
  bsink_class->event = gst_p2p_sink_event;
  bsink_class->unlock = gst_p2p_sink_unlock;
  bsink_class->unlock_stop = gst_p2p_sink_unlock_stop;
  bsink_class->start = gst_p2p_sink_start;
  bsink_class->stop = gst_p2p_sink_stop;

  gst_type_mark_as_plugin_api (GST_TYPE_P2P_SLOW_RECEIVER_POLICY, 0);
}

static void
gst_p2p_sink_init (GstP2pSink *self)
{
  self->obj = gst_p2p_object_new (GST_ELEMENT (self), TRUE);
  self->wait_for_peer = DEFAULT_WAIT_FOR_PEER;
  self->min_peers = DEFAULT_MIN_PEERS;
  self->eos_timeout = DEFAULT_EOS_TIMEOUT;
  self->max_peers = DEFAULT_MAX_PEERS;
  self->max_queue_bytes = DEFAULT_MAX_QUEUE_BYTES;
  self->max_queue_buffers = DEFAULT_MAX_QUEUE_BUFFERS;
  self->slow_policy = DEFAULT_SLOW_POLICY;
  self->slow_timeout = DEFAULT_SLOW_TIMEOUT;
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->peers = g_ptr_array_new_with_free_func (sink_peer_unref);
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
  gst_base_sink_set_last_sample_enabled (GST_BASE_SINK (self), FALSE);
}

/* ---- URI handler: p2psink accepts p2p://<peer> for mode=connect ---- */

static GstURIType
sink_uri_get_type (GType type)
{
  return GST_URI_SINK;
}

static gchar *
sink_uri_get_uri (GstURIHandler *handler)
{
  return gst_p2p_object_get_uri (GST_P2P_SINK (handler)->obj);
}

static gboolean
sink_uri_set_uri (GstURIHandler *handler, const gchar *uri, GError **error)
{
  return gst_p2p_object_set_uri (GST_P2P_SINK (handler)->obj, uri, error);
}

static void
gst_p2p_sink_uri_handler_init (gpointer g_iface, gpointer data)
{
  GstURIHandlerInterface *iface = g_iface;

  iface->get_type = sink_uri_get_type;
  iface->get_protocols = gst_p2p_uri_get_protocols;
  iface->get_uri = sink_uri_get_uri;
  iface->set_uri = sink_uri_set_uri;
}
