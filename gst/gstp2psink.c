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
#include "gstp2psink-fanout.h"
#include "gstp2psink-peer.h"
#include "gstp2psink-private.h"
#include "gstp2psink-resume.h"
#include "gstp2pmedia.h"

#include <string.h>

GST_DEBUG_CATEGORY (gst_p2p_sink_debug);
#define GST_CAT_DEFAULT gst_p2p_sink_debug

#define DEFAULT_WAIT_FOR_PEER TRUE
#define DEFAULT_MIN_PEERS 1
#define DEFAULT_EOS_TIMEOUT 10000
#define DEFAULT_REJOIN_TIMEOUT 60000
#define DEFAULT_MAX_PEERS 64
#define DEFAULT_MAX_QUEUE_BYTES (4 * 1024 * 1024)
#define DEFAULT_MAX_QUEUE_BUFFERS 0
#define DEFAULT_SLOW_POLICY GST_P2P_SLOW_RECEIVER_DISCONNECT
#define DEFAULT_SLOW_TIMEOUT 5000
#define DEFAULT_RESUME_BUFFER (4 * 1024 * 1024)

enum {
  PROP_WAIT_FOR_PEER = GST_P2P_PROP_LAST,
  PROP_EOS_TIMEOUT,
  PROP_REJOIN_TIMEOUT,
  PROP_MAX_PEERS,
  PROP_MAX_QUEUE_BYTES,
  PROP_MAX_QUEUE_BUFFERS,
  PROP_SLOW_RECEIVER_POLICY,
  PROP_SLOW_RECEIVER_TIMEOUT,
  PROP_N_PEERS,
  PROP_MIN_PEERS,
  PROP_ALLOW_PARTIAL,
  PROP_RESUME_BUFFER,
};

guint gst_p2p_sink_signals[GST_P2P_SINK_N_SIGNALS];

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


/* The buffer is sent when it prerolls if that needs no waiting (a receiver
 * is there and has room), and then not again when it is rendered; else it is
 * sent at render. Preroll never blocks: the state change to PLAYING waits for
 * it. */
static GstFlowReturn
gst_p2p_sink_preroll (GstBaseSink *bsink, GstBuffer *buffer)
{
  GstP2pSink *self = GST_P2P_SINK (bsink);
  GstFlowReturn ret = gst_p2p_sink_send_buffer (self, buffer, TRUE);

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
  return gst_p2p_sink_send_buffer (self, buffer, FALSE);
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
  if (timeout == 0) {
    /* "do not wait": EOS goes on at once; the receivers keep what is
     * queued for them until the sink stops, and nobody is judged for not
     * having confirmed the end (before, they were all cut at once and the
     * sink posted "No receiver got the whole stream") */
    GST_INFO_OBJECT (self, "end of stream: not waiting for the receivers (eos-timeout=0)");
    return;
  }
  deadline = g_get_monotonic_time () + (gint64) timeout * 1000;

  g_mutex_lock (&self->lock);
  if (self->peers->len == 0) {
    /* nobody to wait for (issue 16 item 14): EOS goes on at once */
    GST_INFO_OBJECT (self, "end of stream with no receiver connected");
    goto check;
  }
  /* (no wait for min-peers here: a receiver that joins later gets the EOS
   * frame anyway, and waiting for one had no bound, not even eos-timeout,
   * once receivers had left) */
  while (self->peers->len > 0 && !self->flushing && !self->stopping) {
    if (!g_cond_wait_until (&self->cond, &self->lock, deadline)) {
      GST_WARNING_OBJECT (self, "%u receiver(s) did not confirm the end of "
          "the stream within eos-timeout=%u ms: closing them", self->peers->len,
          timeout);
      for (guint i = 0; i < self->peers->len; i++)
        gst_p2p_sink_peer_disconnect_locked (self,
            g_ptr_array_index (self->peers, i),
            "end of stream (eos-timeout)");
      /* their threads remove them (bounded: the sends are cancelled) */
      deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
      while (self->peers->len > 0 && !self->flushing && !self->stopping
          && g_cond_wait_until (&self->cond, &self->lock, deadline));
      break;
    }
  }

check:
  /* issue 16 item 11: say when the stream reached nobody whole */
  if (!self->flushing && !self->stopping && self->receivers_total > 0
      && self->receivers_complete == 0) {
    guint64 total = self->receivers_total;
    gboolean allow, live = FALSE;

    g_mutex_unlock (&self->lock);
    GST_OBJECT_LOCK (self);
    allow = self->allow_partial;
    GST_OBJECT_UNLOCK (self);
    /* a live stream has no whole to get: viewers join and leave (an EOS
     * from gst-launch-1.0 -e after the last viewer left is a normal end) */
    if (gst_base_sink_query_latency (GST_BASE_SINK (self), NULL, &live, NULL, NULL)
        && live) {
      GST_INFO_OBJECT (self, "live stream ended; %" G_GUINT64_FORMAT " receiver(s) "
          "came and went", total);
      return;
    }
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
    guint64 index;

    g_mutex_lock (&self->lock);
    switch (GST_EVENT_TYPE (event)) {
      case GST_EVENT_STREAM_START:
        /* (stream tags end with the stream; global ones stay) */
        g_clear_pointer (&self->hdr_tags[GST_TAG_SCOPE_STREAM], g_bytes_unref);
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
      case GST_EVENT_TAG:{
        GstTagList *tags = NULL;
        GstTagScope scope;

        gst_event_parse_tag (event, &tags);
        scope = gst_tag_list_get_scope (tags) == GST_TAG_SCOPE_GLOBAL ?
            GST_TAG_SCOPE_GLOBAL : GST_TAG_SCOPE_STREAM;
        g_clear_pointer (&self->hdr_tags[scope], g_bytes_unref);
        self->hdr_tags[scope] = g_bytes_ref (msg);
        break;
      }
      case GST_EVENT_EOS:
        self->eos = TRUE;
        break;
      case GST_EVENT_FLUSH_START:
        /* now, with the frame queued under the same lock: a streaming
         * thread waiting for room must not queue a buffer behind it (the
         * receiver's flush would then stop its task for good); basesink's
         * unlock() comes only after this */
        self->flushing = TRUE;
        g_cond_broadcast (&self->cond);
        break;
      case GST_EVENT_FLUSH_STOP:
        self->eos = FALSE;
        gst_buffer_replace (&self->prerolled, NULL);
        break;
      default:
        break;
    }
    index = gst_p2p_sink_history_add_locked (self, msg);
    gst_p2p_sink_queue_event_locked (self, event, msg, index);
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
  self->peer_lost = FALSE;
  self->all_lost_us = 0;
  self->flushing = FALSE;
  self->eos = FALSE;
  self->seqnum = 0;
  self->dg_epoch = 0;
  memset (&self->gone, 0, sizeof self->gone);
  self->receivers_total = 0;
  self->receivers_complete = 0;
  self->resumes = 0;
  gst_p2p_sink_history_reset_locked (self);
  g_mutex_unlock (&self->lock);

  self->cancellable = g_cancellable_new ();
  self->accept_thread = g_thread_new ("p2psink-accept",
      gst_p2p_sink_accept_thread, self);
  return TRUE;
}

/* Called with the lock: wakes every peer thread (stop). */
static void
wake_peers_locked (GstP2pSink *self)
{
  for (guint i = 0; i < self->peers->len; i++)
    g_cond_signal (&((SinkPeer *) g_ptr_array_index (self->peers, i))->cond);
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
  g_clear_pointer (&self->hdr_tags[GST_TAG_SCOPE_STREAM], g_bytes_unref);
  g_clear_pointer (&self->hdr_tags[GST_TAG_SCOPE_GLOBAL], g_bytes_unref);
  gst_p2p_sink_history_reset_locked (self);
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
  SinkPeer *peer;               /* a reference */
  P2pConnection *conn;
  char *peer_id;
  gint64 connected_us;
  gsize queued_bytes;
  guint64 dropped;
  P2pConnectionStats st;
  gboolean left;                /* it began leaving while its figures were read */
} PeerSnapshot;

static void
peer_snapshot_free (gpointer data)
{
  PeerSnapshot *p = data;

  gst_p2p_sink_peer_unref (p->peer);
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
  guint64 dropped, too_big, total, resumes;
  P2pConnectionStats gone;
  GValue list = G_VALUE_INIT;
  gint64 now = g_get_monotonic_time ();

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->peers->len; i++) {
    SinkPeer *peer = g_ptr_array_index (self->peers, i);
    PeerSnapshot *p;

    if (peer->leaving)
      continue;                 /* its final figures are in self->gone */
    p = g_new0 (PeerSnapshot, 1);
    p->peer = gst_p2p_sink_peer_ref (peer);
    p->conn = g_object_ref (peer->conn);
    p->peer_id = g_strdup (peer->peer_id);
    p->connected_us = peer->connected_us;
    p->queued_bytes = peer->queued_bytes;
    p->dropped = peer->dropped;
    g_ptr_array_add (snaps, p);
  }
  g_mutex_unlock (&self->lock);
  /* (outside the lock: the figures come from the network thread) */
  for (guint i = 0; i < snaps->len; i++) {
    PeerSnapshot *p = g_ptr_array_index (snaps, i);

    p2p_connection_get_stats (p->conn, &p->st);
  }
  /* Monotonic totals: a receiver that began leaving meanwhile counts with
   * its final figures (in self->gone, read now); the others' figures read
   * here are the least its final figures will count with (reported). */
  g_mutex_lock (&self->lock);
  for (guint i = 0; i < snaps->len; i++) {
    PeerSnapshot *p = g_ptr_array_index (snaps, i);

    if (p->peer->leaving)
      p->left = TRUE;
    else
      gst_p2p_sink_stats_max (&p->peer->reported, &p->st);
  }
  dropped = self->dropped_total;
  too_big = self->datagrams_too_big;
  gone = self->gone;
  total = self->receivers_total;
  resumes = self->resumes;
  g_mutex_unlock (&self->lock);

  g_value_init (&list, GST_TYPE_ARRAY);
  for (guint i = 0; i < snaps->len; i++) {
    PeerSnapshot *p = g_ptr_array_index (snaps, i);
    const P2pConnectionStats st = p->st;
    GValue v = G_VALUE_INIT;
    gint64 us = MAX (now - p->connected_us, 1);

    if (p->left)
      continue;
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
    ADD_GONE ("path-changes", gone.path_changes);
#undef ADD_GONE
  }
  gst_structure_set (s, "buffers-dropped", G_TYPE_UINT64, dropped,
      "receivers-total", G_TYPE_UINT64, total, "resumes", G_TYPE_UINT64, resumes, NULL);
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
    case PROP_REJOIN_TIMEOUT:
      self->rejoin_timeout = g_value_get_uint (value);
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
    case PROP_RESUME_BUFFER:
      self->resume_buffer = g_value_get_uint64 (value);
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
    g_value_set_uint (value, gst_p2p_sink_n_receivers_locked (self));
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
    case PROP_REJOIN_TIMEOUT:
      g_value_set_uint (value, self->rejoin_timeout);
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
    case PROP_RESUME_BUFFER:
      g_value_set_uint64 (value, self->resume_buffer);
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
          "Hold the stream while no receiver is connected: until the first one, "
          "so it gets everything from the first byte, and after the last one "
          "left before the end, for rejoin-timeout (an EOS with no receiver "
          "connected is not held; a live stream on a clock is not held either: "
          "its buffers without a receiver are dropped)", DEFAULT_WAIT_FOR_PEER,
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
  g_object_class_install_property (gobject_class, PROP_REJOIN_TIMEOUT,
      g_param_spec_uint ("rejoin-timeout", "Rejoin timeout",
          "With wait-for-peer, once the last receiver left before the end of "
          "the stream: hold the stream at most this long (ms) for a receiver to "
          "come (back, resuming with resume-buffer), then fail with an element "
          "error (0 = hold until one comes)", 0, G_MAXUINT,
          DEFAULT_REJOIN_TIMEOUT, rw | GST_PARAM_MUTABLE_PLAYING));
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
  g_object_class_install_property (gobject_class, PROP_RESUME_BUFFER,
      g_param_spec_uint64 ("resume-buffer", "Resume buffer",
          "delivery=reliable: bytes of the stream kept (once, for every "
          "receiver) so that a receiver whose connection was lost and that "
          "reconnects (p2psrc reconnect=always) gets everything from where it "
          "stopped, nothing skipped or twice; further back it hears of the gap "
          "(0 = off)", 0, G_MAXUINT64, DEFAULT_RESUME_BUFFER,
          rw | GST_PARAM_MUTABLE_READY));
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
  gst_p2p_sink_signals[GST_P2P_SINK_SIGNAL_PEER_ADDED] =
      g_signal_new ("peer-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
      0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * GstP2pSink::peer-removed:
   * @peer_id: the receiver's peer ID
   *
   * Emitted from the receiver's thread as its connection closes; #GstP2pSink:n-peers
   * and the stats no longer count it by then.
   */
  gst_p2p_sink_signals[GST_P2P_SINK_SIGNAL_PEER_REMOVED] =
      g_signal_new ("peer-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
      0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

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
  self->resume_buffer = DEFAULT_RESUME_BUFFER;
  g_queue_init (&self->history);
  self->min_peers = DEFAULT_MIN_PEERS;
  self->eos_timeout = DEFAULT_EOS_TIMEOUT;
  self->rejoin_timeout = DEFAULT_REJOIN_TIMEOUT;
  self->max_peers = DEFAULT_MAX_PEERS;
  self->max_queue_bytes = DEFAULT_MAX_QUEUE_BYTES;
  self->max_queue_buffers = DEFAULT_MAX_QUEUE_BUFFERS;
  self->slow_policy = DEFAULT_SLOW_POLICY;
  self->slow_timeout = DEFAULT_SLOW_TIMEOUT;
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->peers = g_ptr_array_new_with_free_func (gst_p2p_sink_peer_unref);
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

