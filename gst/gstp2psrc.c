/* gstp2psrc.c: p2psrc, receives a stream from a peer.
 *
 * SECTION:element-p2psrc
 * @see_also: p2psink, p2psimnet
 *
 * Connects to the sender named by "peer" (mode=connect, the default) or waits
 * for it (mode=listen), then pushes what the sender's pipeline had: its
 * stream-start, caps, segment, tags, buffers with their timestamps and flags,
 * flushes and EOS. After EOS it closes the connection, which tells the sender
 * that this receiver has everything.
 *
 * A plain GstElement with its own streaming task rather than a GstPushSrc:
 * GstBaseSrc owns the segment and would replace the sender's segment with
 * its own before the first buffer.
 *
 * In delivery=reliable the source is not live. In delivery=datagram it is a
 * live source: buffers arrive as unreliable datagrams, wait in a jitter
 * buffer of "latency" ms to be put back in order, missing ones are counted in
 * "stats" and the next buffer is marked DISCONT; the segment is shifted so
 * that the first buffer plays "latency" ms after it arrived (LATENCY query),
 * also for a late joiner (is-live=true does the same in delivery=reliable;
 * a non-live late joiner gets its segment shifted to start at its first
 * buffer: see shift_late_join_not_live).
 *
 * Memory is bounded in delivery=datagram (the reliable stream is read by a
 * thread of its own there): events and buffers from the reliable stream are
 * read only while they hold less than "max-queue-bytes" (and fewer than
 * MAX_QUEUED_EVENTS events), so a receiver whose downstream blocks stops
 * returning flow-control credit and the sender waits (backpressure, nothing
 * lost; "overrun" is emitted when the reader starts waiting). Datagrams are
 * held up to "max-queue-bytes" too, separately, and MAX_JITTER_ITEMS; beyond,
 * the oldest is dropped, counted in stats "datagrams-dropped", and the next
 * buffer is DISCONT. stats "queued-bytes" / "queued-bytes-max" give the bytes
 * held now and the most ever held. In delivery=reliable nothing is queued
 * here: the streaming thread reads one message at a time.
 *
 * |[
 * gst-launch-1.0 p2psrc peer=<ID or ticket> ! decodebin ! audioconvert ! autoaudiosink
 * gst-play-1.0 p2p://<ID or ticket>
 * ]|
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psrc.h"
#include "gstp2pmedia.h"
#include "gstp2preceiver.h"
#include "gstp2psrc-files.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_p2p_src_debug);
#define GST_CAT_DEFAULT gst_p2p_src_debug

#define DEFAULT_LATENCY 200
#define DEFAULT_RECONNECT GST_P2P_RECONNECT_NONE
#define DEFAULT_RECONNECT_DELAY 1000
#define DEFAULT_RECONNECT_MAX 5
/* mode=connect: how long one dial may take (QUIC answer, TLS, ICE through a
 * rendezvous) before it fails (or is retried with reconnect=always); a
 * closed port on a direct dial fails at once (ICMP port unreachable) */
#define DEFAULT_CONNECT_TIMEOUT 10000
#define MAX_JITTER_ITEMS 4096
/* delivery=datagram: bytes of the reliable-stream queue (events and stream
 * buffers) and, separately, of held datagrams. At least one maximum-size
 * message, so a queue that is not empty always has room for one. */
#define DEFAULT_MAX_QUEUE_BYTES (8 * 1024 * 1024)
#define MIN_MAX_QUEUE_BYTES P2P_MAX_MESSAGE_SIZE
/* delivery=datagram: events queued from the reliable stream */
#define MAX_QUEUED_EVENTS 256

enum {
  PROP_LATENCY = GST_P2P_PROP_LAST,
  PROP_RECONNECT,
  PROP_RECONNECT_DELAY,
  PROP_RECONNECT_MAX,
  PROP_IS_LIVE,
  PROP_MAX_QUEUE_BYTES,
  PROP_CONNECT_TIMEOUT,
  PROP_URI,
  PROP_LOCATION,                /* issue 13: random-access mode */
};

enum {
  SIGNAL_OVERRUN,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

struct _GstP2pSrc {
  GstElement parent;

  GstPad *srcpad;
  GstP2pObject *obj;

  /* properties (object lock) */
  guint latency;
  GstP2pReconnect reconnect;
  guint reconnect_delay;
  guint reconnect_max;
  guint connect_timeout;
  gboolean is_live;
  guint64 max_queue_bytes;

  /* runtime (lock) */
  GMutex lock;
  GCond cond;
  gboolean flushing;
  GCancellable *cancellable;
  P2pConnection *conn;
  char *conn_peer;              /* who we are connected to, for messages */
  /* the last connection's final figures, reported in "stats" once it is
   * gone (EOS, error) until the next connection */
  P2pConnectionStats last_stats;
  gboolean have_last_stats;
  guint attempts;
  gboolean stream_started;
  GstP2pDelivery delivery;
  gboolean live;                /* delivery=datagram or is-live, at start */
  /* not live: the sender's last segment as pushed, whether a buffer
   * followed it yet, and the running-time shift of a late join (decided at
   * the first buffer of a connection, applied to every later segment) */
  GstSegment segment;
  gboolean segment_fresh;
  gboolean shift_decided;
  GstClockTimeDiff rt_shift;
  gint64 activated_us;          /* monotonic, when the task started */
  gboolean first_buffer_done;
  /* send_event(EOS) from the application (gst-launch-1.0 -e): pushed by the
   * streaming thread, which it wakes (like GstBaseSrc's pending EOS) */
  GstEvent *pending_eos;
  /* reliable delivery: a buffer arriving in parts (streaming thread) */
  GstP2pMediaAssembler assembler;

  /* datagram delivery: the events from the reliable stream and the
   * datagrams (arrival times: monotonic us); its counters are those of the
   * stats, since the element started (kept after EOS and in READY/NULL,
   * zeroed by the next start) */
  GstP2pReceiver receiver;
  gsize queue_limit;            /* max-queue-bytes when the reader started */
  gboolean overrun;             /* the reader waits for room */
  gint64 eos_due;               /* monotonic us: EOS waits for late datagrams */
  GstEvent *pending_segment;
  GThread *reader;
  GCancellable *reader_cancellable;
  gboolean reader_done;
  GError *reader_error;

  /* issue 13: random-access mode (gstp2psrc-files.c) when location is set */
  char *location;               /* object lock */
  GstP2pFileReader *files;      /* while the pad is active in pull mode */
};

static void gst_p2p_src_uri_handler_init (gpointer g_iface, gpointer data);

#define gst_p2p_src_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstP2pSrc, gst_p2p_src, GST_TYPE_ELEMENT,
    GST_DEBUG_CATEGORY_INIT (gst_p2p_src_debug, "p2psrc", 0, "P2P source");
    G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER, gst_p2p_src_uri_handler_init));
GST_ELEMENT_REGISTER_DEFINE (p2psrc, "p2psrc", GST_RANK_PRIMARY, GST_TYPE_P2P_SRC);

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

GType
gst_p2p_reconnect_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_P2P_RECONNECT_NONE, "Post an error when the peer is unreachable or gone",
        "none"},
    {GST_P2P_RECONNECT_ALWAYS,
          "Try again after reconnect-delay ms, at most reconnect-max times",
        "always"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstP2pReconnect", values));
  return type;
}

/* Called with the lock. */
static void
clear_datagram_state_locked (GstP2pSrc *self)
{
  gst_p2p_receiver_reset (&self->receiver);
  self->overrun = FALSE;
  gst_clear_event (&self->pending_segment);
  self->reader_done = FALSE;
  g_clear_error (&self->reader_error);
  gst_p2p_media_assembler_clear (&self->assembler);
}

/* ---- datagram delivery: the network thread and the reader thread ---- */

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
      g_signal_emit (self, signals[SIGNAL_OVERRUN], 0);
      g_mutex_lock (&self->lock);
      continue;
    }
    g_cond_wait (&self->cond, &self->lock);
  }
  self->overrun = FALSE;
  g_mutex_unlock (&self->lock);
  return ok;
}

static gpointer
reader_thread (gpointer data)
{
  GstP2pSrc *self = data;
  P2pConnection *conn;
  GCancellable *cancellable;

  GstP2pMediaAssembler assembler;

  g_mutex_lock (&self->lock);
  conn = g_object_ref (self->conn);
  cancellable = g_object_ref (self->reader_cancellable);
  g_mutex_unlock (&self->lock);
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

/* The next event or buffer in datagram delivery (transfer full); NULL when
 * flushing (@error unset) or when the stream ended (@error set). */
static GstMiniObject *
next_datagram_item (GstP2pSrc *self, GError **error)
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

/* ---- connection ---- */

static void
drop_connection (GstP2pSrc *self, const char *reason)
{
  P2pConnection *conn;
  GThread *reader;
  GCancellable *reader_cancellable;

  g_mutex_lock (&self->lock);
  conn = g_steal_pointer (&self->conn);
  reader = g_steal_pointer (&self->reader);
  reader_cancellable = g_steal_pointer (&self->reader_cancellable);
  g_mutex_unlock (&self->lock);

  if (!conn)
    return;
  g_signal_handlers_disconnect_by_data (conn, self);
  {
    /* before the close, which ends the connection's counters */
    P2pConnectionStats st;

    p2p_connection_get_stats (conn, &st);
    g_mutex_lock (&self->lock);
    self->last_stats = st;
    self->have_last_stats = TRUE;
    g_mutex_unlock (&self->lock);
  }
  p2p_connection_close (conn, reason);
  if (reader_cancellable)
    g_cancellable_cancel (reader_cancellable);
  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);       /* a reader waiting for room */
  g_mutex_unlock (&self->lock);
  if (reader)
    g_thread_join (reader);
  g_clear_object (&reader_cancellable);
  gst_p2p_object_post_connection (self->obj, conn, "disconnected");
  g_object_unref (conn);
  g_mutex_lock (&self->lock);
  clear_datagram_state_locked (self);
  g_mutex_unlock (&self->lock);
}

static void
on_path_changed (P2pConnection *conn, P2pPathKind kind, gpointer data)
{
  GstP2pSrc *self = data;

  gst_p2p_object_post_connection (self->obj, conn, "path-changed");
}

/* Waits reconnect-delay ms (interrupted by flushing). Returns FALSE when
 * no more attempts are allowed or when flushing. Each attempt is announced
 * with an element message "p2p-reconnect" (attempt, max-attempts with 0 =
 * unlimited, delay-ms, reason: why the last one failed) and a warning in
 * the log. */
static gboolean
may_retry (GstP2pSrc *self, const char *reason)
{
  GstP2pReconnect reconnect;
  guint delay, max;
  gint64 deadline;
  gboolean ok;

  GST_OBJECT_LOCK (self);
  reconnect = self->reconnect;
  delay = self->reconnect_delay;
  max = self->reconnect_max;
  GST_OBJECT_UNLOCK (self);

  if (reconnect != GST_P2P_RECONNECT_ALWAYS)
    return FALSE;
  g_mutex_lock (&self->lock);
  if (max > 0 && self->attempts >= max) {
    g_mutex_unlock (&self->lock);
    return FALSE;
  }
  self->attempts++;
  {
    guint attempt = self->attempts;

    g_mutex_unlock (&self->lock);
    GST_WARNING_OBJECT (self, "reconnecting in %u ms (attempt %u of %u): %s",
        delay, attempt, max, reason);
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self),
            gst_structure_new ("p2p-reconnect",
                "attempt", G_TYPE_UINT, attempt,
                "max-attempts", G_TYPE_UINT, max,
                "delay-ms", G_TYPE_UINT, delay,
                "reason", G_TYPE_STRING, reason, NULL)));
    g_mutex_lock (&self->lock);
  }
  deadline = g_get_monotonic_time () + (gint64) delay * 1000;
  while (!self->flushing && !self->pending_eos
      && g_cond_wait_until (&self->cond, &self->lock, deadline));
  ok = !self->flushing && !self->pending_eos;
  g_mutex_unlock (&self->lock);
  return ok;
}

typedef struct {
  GAsyncResult *result;
  gboolean timed_out;
  GCancellable *cancellable;
} ConnectWait;

static void
connect_wait_done (GObject *source, GAsyncResult *result, gpointer data)
{
  ConnectWait *w = data;

  w->result = g_object_ref (result);
}

static gboolean
connect_wait_timeout (gpointer data)
{
  ConnectWait *w = data;

  w->timed_out = TRUE;
  g_cancellable_cancel (w->cancellable);
  return G_SOURCE_REMOVE;
}

static void
connect_wait_cancel (GCancellable *parent, gpointer data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
}

/* mode=connect: one dial, bounded by connect-timeout (blocking,
 * cancellable). On timeout: P2P_ERROR_TIMEOUT naming the property. */
static P2pConnection *
connect_with_timeout (GstP2pSrc *self, GCancellable *cancellable, GError **error)
{
  g_autofree char *peer = gst_p2p_object_dup_peer (self->obj);
  g_autoptr (P2pProvider) provider = NULL;
  g_autoptr (GMainContext) ctx = NULL;
  g_autoptr (GSource) timer = NULL;
  ConnectWait w = { 0 };
  P2pConnection *conn;
  GError *local = NULL;
  gulong handler;
  guint timeout;

  GST_OBJECT_LOCK (self);
  provider = self->obj->provider ? g_object_ref (self->obj->provider) : NULL;
  timeout = self->connect_timeout;
  GST_OBJECT_UNLOCK (self);
  if (!provider) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "The element is not started");
    return NULL;
  }
  w.cancellable = g_cancellable_new ();
  handler = g_cancellable_connect (cancellable, G_CALLBACK (connect_wait_cancel),
      g_object_ref (w.cancellable), g_object_unref);
  /* the completion and the timer run on a private context (the thread
   * default at the call), iterated here like p2p_provider_connect() does */
  ctx = g_main_context_new ();
  g_main_context_push_thread_default (ctx);
  if (timeout > 0) {
    timer = g_timeout_source_new (timeout);
    g_source_set_callback (timer, connect_wait_timeout, &w, NULL);
    g_source_attach (timer, ctx);
  }
  p2p_provider_connect_async (provider, peer, w.cancellable, connect_wait_done, &w);
  while (w.result == NULL)
    g_main_context_iteration (ctx, TRUE);
  if (timer)
    g_source_destroy (timer);
  g_main_context_pop_thread_default (ctx);
  g_cancellable_disconnect (cancellable, handler);
  conn = p2p_provider_connect_finish (provider, w.result, &local);
  g_object_unref (w.result);
  if (!conn && w.timed_out && !g_cancellable_is_cancelled (cancellable)) {
    g_clear_error (&local);
    g_set_error (&local, P2P_ERROR, P2P_ERROR_TIMEOUT,
        "no connection within %u ms (connect-timeout)", timeout);
  }
  g_object_unref (w.cancellable);
  if (!conn)
    g_propagate_error (error, local);
  return conn;
}

/* Returns TRUE when connected; FALSE after an error was posted or when
 * flushing. */
static gboolean
ensure_connected (GstP2pSrc *self)
{
  GCancellable *cancellable;
  GstP2pMode mode;
  P2pListener *listener;

  g_mutex_lock (&self->lock);
  if (self->conn) {
    g_mutex_unlock (&self->lock);
    return TRUE;
  }
  cancellable = g_object_ref (self->cancellable);
  g_mutex_unlock (&self->lock);

  GST_OBJECT_LOCK (self);
  mode = self->obj->mode;
  listener = self->obj->listener ? g_object_ref (self->obj->listener) : NULL;
  GST_OBJECT_UNLOCK (self);

  for (;;) {
    g_autoptr (GError) err = NULL;
    P2pConnection *conn;
    const char *why = NULL;

    if (mode == GST_P2P_MODE_CONNECT)
      conn = connect_with_timeout (self, cancellable, &err);
    else if (listener)
      conn = p2p_listener_accept (listener, cancellable, &err);
    else {
      conn = NULL;
      g_set_error (&err, P2P_ERROR, P2P_ERROR_CLOSED, "not listening");
    }

    if (conn && !gst_p2p_object_peer_allowed (self->obj, conn, &why)) {
      g_autofree char *id = gst_p2p_connection_dup_peer_id (conn);

      GST_WARNING_OBJECT (self, "refusing peer %s: %s", id, why);
      p2p_connection_close (conn, why);
      g_object_unref (conn);
      if (mode != GST_P2P_MODE_CONNECT)
        continue;               /* listening: wait for another peer */
      /* the dialed peer itself is refused: dialing it again would not help */
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_AUTHORIZED,
          ("Refused peer \"%s\": %s", id, why), (NULL));
      break;
    }
    if (conn) {
      g_mutex_lock (&self->lock);
      if (self->flushing) {
        g_mutex_unlock (&self->lock);
        p2p_connection_close (conn, "receiver stopped");
        g_object_unref (conn);
        break;
      }
      self->conn = conn;
      self->have_last_stats = FALSE;
      g_free (self->conn_peer);
      self->conn_peer = gst_p2p_connection_dup_peer_id (conn);
      clear_datagram_state_locked (self);
      self->segment_fresh = FALSE;
      self->shift_decided = FALSE;
      self->rt_shift = 0;
      g_signal_connect (conn, "path-changed", G_CALLBACK (on_path_changed), self);
      if (self->delivery == GST_P2P_DELIVERY_DATAGRAM) {
        GST_OBJECT_LOCK (self);
        self->queue_limit = (gsize) MIN (self->max_queue_bytes, G_MAXSIZE);
        GST_OBJECT_UNLOCK (self);
        gst_p2p_jitter_set_max_bytes (&self->receiver.jitter, self->queue_limit);
        g_signal_connect (conn, "datagram-received", G_CALLBACK (on_datagram), self);
        self->reader_cancellable = g_cancellable_new ();
        self->reader = g_thread_new ("p2psrc-reader", reader_thread, self);
      }
      g_mutex_unlock (&self->lock);
      {
        /* tell the sender our datagram handler is in place ("ready
         * seqnum": it also sends DATAGRAM_SEQNUM frames), or that we read
         * no datagrams ("ready stream": a delivery=datagram
         * sender then sends our buffers on the stream; a reliable sender
         * does not read it) */
        const char *word = self->delivery == GST_P2P_DELIVERY_DATAGRAM ?
            GST_P2P_READY_SEQNUM : GST_P2P_READY_STREAM;
        g_autoptr (GByteArray) ready = g_byte_array_new ();
        g_autoptr (GBytes) msg = NULL;
        g_autoptr (GError) e = NULL;

        p2p_frame_append (ready, P2P_FRAME_MESSAGE, (const guint8 *) word, strlen (word));
        msg = g_byte_array_free_to_bytes (g_steal_pointer (&ready));
        if (!p2p_connection_send (conn, msg, cancellable, &e))
          GST_WARNING_OBJECT (self, "could not send ready: %s", e->message);
      }
      GST_INFO_OBJECT (self, "connected to %s", self->conn_peer);
      gst_p2p_object_post_connection (self->obj, conn, "connected");
      g_clear_object (&listener);
      g_object_unref (cancellable);
      return TRUE;
    }
    if (g_error_matches (err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      break;
    if (may_retry (self, err->message))
      continue;
    g_mutex_lock (&self->lock);
    if (self->flushing || self->pending_eos) {
      g_mutex_unlock (&self->lock);
      break;
    }
    g_mutex_unlock (&self->lock);
    if (mode == GST_P2P_MODE_CONNECT) {
      g_autofree char *peer = gst_p2p_object_dup_peer (self->obj);

      GST_P2P_ELEMENT_ERROR_FROM (self, err,
          "Could not connect to peer \"%s\": %s", peer, err->message);
    } else {
      GST_P2P_ELEMENT_ERROR_FROM (self, err,
          "Could not accept a connection: %s", err->message);
    }
    break;
  }
  g_clear_object (&listener);
  g_object_unref (cancellable);
  return FALSE;
}

/* ---- streaming ---- */

static void
push_stream_start_if_needed (GstP2pSrc *self)
{
  if (!self->stream_started) {
    g_autofree char *id = gst_pad_create_stream_id (self->srcpad,
        GST_ELEMENT (self), NULL);

    gst_pad_push_event (self->srcpad, gst_event_new_stream_start (id));
    self->stream_started = TRUE;
  }
}

/* A live receiver (delivery=datagram or is-live): the segment goes out with
 * the first buffer after it, shifted so that this buffer's running time is
 * the clock's running time now (the sink then plays it "latency" later). A
 * late joiner thus plays at once from the sender's current position,
 * whatever the sender's running time: when the shift is backwards by more
 * than the segment's base, the rest moves its offset
 * (gst_segment_offset_running_time), which a base clamped at 0 could not
 * do (issue 16 item 2). */
/* The pipeline's running time now: from the clock in PLAYING; before (the
 * task runs from PAUSED on, and the clock comes with PLAYING) the running
 * time PLAYING will start from. */
static GstClockTime
current_running_time (GstP2pSrc *self)
{
  GstElement *element = GST_ELEMENT (self);
  g_autoptr (GstClock) clock = NULL;
  GstClockTime now, base_time, start_time;
  gboolean playing;

  GST_OBJECT_LOCK (self);
  playing = GST_STATE (self) == GST_STATE_PLAYING;
  clock = element->clock ? gst_object_ref (element->clock) : NULL;
  base_time = element->base_time;
  start_time = element->start_time;
  GST_OBJECT_UNLOCK (self);
  if (playing && clock) {
    now = gst_clock_get_time (clock);
    return now > base_time ? now - base_time : 0;
  }
  return GST_CLOCK_TIME_IS_VALID (start_time) ? start_time : 0;
}

static void
push_pending_segment (GstP2pSrc *self, GstBuffer *buffer)
{
  GstEvent *ev = g_steal_pointer (&self->pending_segment);
  const GstSegment *seg = NULL;
  GstSegment segment;
  GstClockTime ts, buf_rt, now_rt;

  if (!ev)
    return;
  gst_event_parse_segment (ev, &seg);
  segment = *seg;
  ts = buffer ? GST_BUFFER_DTS_OR_PTS (buffer) : GST_CLOCK_TIME_NONE;
  if (segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (ts)) {
    now_rt = current_running_time (self);
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
  gst_event_unref (ev);
  gst_pad_push_event (self->srcpad, gst_event_new_segment (&segment));
}

static void
pause_task (GstP2pSrc *self, const char *why)
{
  GST_DEBUG_OBJECT (self, "pausing task: %s", why);
  gst_pad_pause_task (self->srcpad);
}

/* Not live: the sender's segment, shifted by a late join's rt_shift. */
static void
push_segment_not_live (GstP2pSrc *self, GstEvent *event)
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
static void
shift_late_join_not_live (GstP2pSrc *self, GstBuffer *buffer)
{
  GstClockTime ts = GST_BUFFER_DTS_OR_PTS (buffer), buf_rt;
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

/* Pushes one decoded item (transfer full). Returns FALSE when the task must
 * pause. */
static gboolean
push_item (GstP2pSrc *self, GstMiniObject *obj)
{
  GST_LOG_OBJECT (self, "received %" GST_PTR_FORMAT, obj);
  if (GST_IS_BUFFER (obj)) {
    GstFlowReturn ret;

    push_stream_start_if_needed (self);
    if (self->live)
      push_pending_segment (self, GST_BUFFER_CAST (obj));
    else
      shift_late_join_not_live (self, GST_BUFFER_CAST (obj));
    if (!self->first_buffer_done) {
      self->first_buffer_done = TRUE;
      GST_INFO_OBJECT (self, "first buffer after %.1f ms (from start to push)",
          (g_get_monotonic_time () - self->activated_us) / 1000.0);
    }
    ret = gst_pad_push (self->srcpad, GST_BUFFER_CAST (obj));
    if (ret == GST_FLOW_OK)
      return TRUE;
    if (ret == GST_FLOW_NOT_LINKED || ret < GST_FLOW_EOS) {
      GST_ELEMENT_FLOW_ERROR (self, ret);
      gst_pad_push_event (self->srcpad, gst_event_new_eos ());
    }
    pause_task (self, gst_flow_get_name (ret));
    return FALSE;
  }

  {
    GstEvent *event = GST_EVENT_CAST (obj);

    switch (GST_EVENT_TYPE (event)) {
      case GST_EVENT_STREAM_START:
        self->stream_started = TRUE;
        gst_pad_push_event (self->srcpad, event);
        return TRUE;
      case GST_EVENT_SEGMENT:
        push_stream_start_if_needed (self);
        if (self->live) {
          gst_clear_event (&self->pending_segment);
          self->pending_segment = event;
        } else {
          push_segment_not_live (self, event);
        }
        return TRUE;
      case GST_EVENT_EOS:
        push_stream_start_if_needed (self);
        push_pending_segment (self, NULL);
        GST_INFO_OBJECT (self, "end of stream from %s", self->conn_peer);
        /* closed first: "stats" and the "disconnected" message are final
         * when EOS reaches the bus */
        drop_connection (self, "end of stream received");
        gst_pad_push_event (self->srcpad, event);
        pause_task (self, "eos");
        return FALSE;
      case GST_EVENT_FLUSH_START:
      case GST_EVENT_FLUSH_STOP:
        gst_pad_push_event (self->srcpad, event);
        return TRUE;
      default:
        push_stream_start_if_needed (self);
        /* the segment waits for its first buffer (live shift) also across
         * caps and tags, which a sender sends between them */
        if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS
            && GST_EVENT_TYPE (event) != GST_EVENT_TAG)
          push_pending_segment (self, NULL);
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
  push_pending_segment (self, NULL);
  drop_connection (self, "receiver ended the stream (EOS)");
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
  drop_connection (self, err->domain == P2P_ERROR
      && err->code == P2P_ERROR_PROTOCOL ? "protocol error" : "connection lost");
  if (may_retry (self, err->message))
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

static void
gst_p2p_src_loop (gpointer data)
{
  GstP2pSrc *self = data;
  g_autoptr (GError) err = NULL;
  GstMiniObject *obj = NULL;

  if (push_pending_eos (self))
    return;
  if (!ensure_connected (self)) {
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
    obj = next_datagram_item (self, &err);
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

    g_mutex_lock (&self->lock);
    conn = g_object_ref (self->conn);
    cancellable = g_object_ref (self->cancellable);
    g_mutex_unlock (&self->lock);
    /* a big buffer comes in parts (docs/protocol.md §5.1) */
    while (!obj && !err) {
      g_autoptr (GBytes) msg = p2p_connection_receive (conn, cancellable, &err);

      if (msg)
        obj = gst_p2p_media_assembler_push (&self->assembler, msg, &err);
      if (obj && GST_IS_EVENT (obj) &&
          gst_p2p_media_event_get_datagram_seqnum (GST_EVENT_CAST (obj), NULL)) {
        /* for a datagram receiver; we did not ask for it (not downstream) */
        gst_mini_object_unref (g_steal_pointer (&obj));
      }
    }
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
  push_item (self, obj);
}

/* ---- issue 13: random-access mode, see gstp2psrc-files.c ---- */

static gboolean
files_activate_mode (GstP2pSrc *self, const char *location, GstPadMode mode,
    gboolean active)
{
  if (active) {
    gboolean opened;

    /* downstream (typefind) may activate pull mode before this element
     * went to READY (a bin changes its sinks first): open here then, like
     * GstBaseSrc starts in its pull activation */
    GST_OBJECT_LOCK (self);
    opened = self->obj->provider != NULL;
    GST_OBJECT_UNLOCK (self);
    if (!opened && !gst_p2p_object_open (self->obj))
      return FALSE;
    g_mutex_lock (&self->lock);
    self->files = gst_p2p_file_reader_new (GST_ELEMENT (self), self->obj, location);
    g_mutex_unlock (&self->lock);
    if (mode == GST_PAD_MODE_PUSH)
      return gst_p2p_file_reader_start_push (self->files, self->srcpad);
    return TRUE;
  }
  g_mutex_lock (&self->lock);
  if (self->files)
    gst_p2p_file_reader_cancel (self->files);
  g_mutex_unlock (&self->lock);
  if (mode == GST_PAD_MODE_PUSH)
    gst_pad_stop_task (self->srcpad);
  /* the pad's streaming lock: no getrange is running after this */
  GST_PAD_STREAM_LOCK (self->srcpad);
  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->files, gst_p2p_file_reader_free);
  g_mutex_unlock (&self->lock);
  GST_PAD_STREAM_UNLOCK (self->srcpad);
  return TRUE;
}

static GstFlowReturn
files_get_range (GstPad *pad, GstObject *parent, guint64 offset, guint length,
    GstBuffer **buffer)
{
  GstP2pSrc *self = GST_P2P_SRC (parent);

  if (!self->files)
    return GST_FLOW_FLUSHING;
  return gst_p2p_file_reader_get_range (self->files, offset, length, buffer);
}

/* SCHEDULING, SEEKING, DURATION of the random-access mode; -1: not ours. */
static int
files_query (GstP2pSrc *self, GstQuery *query)
{
  GstFormat format;
  guint64 size;

  if (!self->location)
    return -1;
  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_SCHEDULING:
      gst_query_set_scheduling (query, GST_SCHEDULING_FLAG_SEEKABLE, 1, -1, 0);
      gst_query_add_scheduling_mode (query, GST_PAD_MODE_PULL);
      gst_query_add_scheduling_mode (query, GST_PAD_MODE_PUSH);
      return TRUE;
    case GST_QUERY_SEEKING:
      gst_query_parse_seeking (query, &format, NULL, NULL, NULL);
      if (format != GST_FORMAT_BYTES || !self->files
          || !gst_p2p_file_reader_get_size (self->files, &size))
        return FALSE;
      gst_query_set_seeking (query, GST_FORMAT_BYTES, TRUE, 0, (gint64) size);
      return TRUE;
    case GST_QUERY_DURATION:
      gst_query_parse_duration (query, &format, NULL);
      if (format != GST_FORMAT_BYTES || !self->files
          || !gst_p2p_file_reader_get_size (self->files, &size))
        return FALSE;
      gst_query_set_duration (query, GST_FORMAT_BYTES, (gint64) size);
      return TRUE;
    case GST_QUERY_LATENCY:
      gst_query_set_latency (query, FALSE, 0, 0);
      return TRUE;
    default:
      return -1;
  }
}

static gboolean
gst_p2p_src_activate_mode (GstPad *pad, GstObject *parent, GstPadMode mode,
    gboolean active)
{
  GstP2pSrc *self = GST_P2P_SRC (parent);
  g_autofree char *location = NULL;

  GST_OBJECT_LOCK (self);
  location = g_strdup (self->location);
  GST_OBJECT_UNLOCK (self);
  if (location)
    return files_activate_mode (self, location, mode, active);
  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  if (active) {
    GST_OBJECT_LOCK (self);
    self->delivery = self->obj->delivery;
    self->live = self->is_live || self->delivery == GST_P2P_DELIVERY_DATAGRAM;
    GST_OBJECT_UNLOCK (self);
    g_mutex_lock (&self->lock);
    self->flushing = FALSE;
    self->attempts = 0;
    self->stream_started = FALSE;
    self->first_buffer_done = FALSE;
    gst_clear_event (&self->pending_eos);
    self->activated_us = g_get_monotonic_time ();
    /* a new run: the last one's figures (readable until now) start over */
    gst_p2p_receiver_reset_counters (&self->receiver);
    self->have_last_stats = FALSE;
    g_clear_object (&self->cancellable);
    self->cancellable = g_cancellable_new ();
    g_mutex_unlock (&self->lock);
    return gst_pad_start_task (pad, gst_p2p_src_loop, self, NULL);
  }

  g_mutex_lock (&self->lock);
  self->flushing = TRUE;
  if (self->cancellable)
    g_cancellable_cancel (self->cancellable);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  gst_pad_stop_task (pad);
  drop_connection (self, "receiver stopped");
  return TRUE;
}

static gboolean
gst_p2p_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstP2pSrc *self = GST_P2P_SRC (parent);
  int files;

  GST_OBJECT_LOCK (self);
  files = self->location ? 1 : 0;
  GST_OBJECT_UNLOCK (self);
  if (files && (files = files_query (self, query)) >= 0)
    return files;
  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:{
      gboolean live;
      GstClockTime latency;

      GST_OBJECT_LOCK (self);
      live = self->is_live || self->obj->delivery == GST_P2P_DELIVERY_DATAGRAM;
      latency = live ? self->latency * GST_MSECOND : 0;
      GST_OBJECT_UNLOCK (self);
      /* live: the jitter buffer and the stream queue hold what arrives
       * while downstream waits (up to max-queue-bytes), so any downstream
       * latency above ours can be absorbed: max is unlimited, like
       * GstBaseSrc's for a live source */
      gst_query_set_latency (query, live, latency,
          live ? GST_CLOCK_TIME_NONE : 0);
      return TRUE;
    }
    case GST_QUERY_DURATION:{
      /* the sender's duration when its segment carries one */
      g_autoptr (GstEvent) ev = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
      const GstSegment *seg;
      GstFormat format;

      gst_query_parse_duration (query, &format, NULL);
      if (!ev)
        return FALSE;
      gst_event_parse_segment (ev, &seg);
      if (seg->format != format || seg->duration == (guint64) - 1)
        return FALSE;
      gst_query_set_duration (query, format, (gint64) seg->duration);
      return TRUE;
    }
    case GST_QUERY_SCHEDULING:
      gst_query_set_scheduling (query, GST_SCHEDULING_FLAG_SEQUENTIAL, 1, -1, 0);
      gst_query_add_scheduling_mode (query, GST_PAD_MODE_PUSH);
      return TRUE;
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
gst_p2p_src_src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_SEEK:
      if (GST_P2P_SRC (parent)->files && GST_PAD_MODE (pad) == GST_PAD_MODE_PUSH) {
        gboolean ok = gst_p2p_file_reader_handle_seek (GST_P2P_SRC (parent)->files, pad,
            event);

        gst_event_unref (event);
        return ok;
      }
      GST_DEBUG_OBJECT (parent, "seeking is not supported");
      gst_event_unref (event);
      return FALSE;
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

/* An EOS sent to the element (or to its pipeline: gst-launch-1.0 -e) is
 * handled like GstBaseSrc does: kept, the streaming thread woken from its
 * wait (receive, connect, reconnect delay, jitter buffer), and pushed by
 * it; the connection is then closed with a reason. Other events go to the
 * pad as usual. */
static gboolean
gst_p2p_src_send_event (GstElement *element, GstEvent *event)
{
  GstP2pSrc *self = GST_P2P_SRC (element);

  if (GST_EVENT_TYPE (event) != GST_EVENT_EOS)
    return GST_ELEMENT_CLASS (parent_class)->send_event (element, event);

  if (!gst_pad_is_active (self->srcpad)) {
    GST_DEBUG_OBJECT (self, "EOS refused: not started");
    gst_event_unref (event);
    return FALSE;
  }
  g_mutex_lock (&self->lock);
  gst_clear_event (&self->pending_eos);
  self->pending_eos = event;
  if (self->cancellable)
    g_cancellable_cancel (self->cancellable);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static GstStateChangeReturn
gst_p2p_src_change_state (GstElement *element, GstStateChange transition)
{
  GstP2pSrc *self = GST_P2P_SRC (element);
  GstStateChangeReturn ret;
  gboolean live;

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    gboolean opened;

    /* already opened by a pull activation (random-access mode) */
    GST_OBJECT_LOCK (self);
    opened = self->obj->provider != NULL;
    GST_OBJECT_UNLOCK (self);
    if (!opened && !gst_p2p_object_open (self->obj))
      return GST_STATE_CHANGE_FAILURE;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_NULL_TO_READY)
      gst_p2p_object_close (self->obj);
    return ret;
  }

  GST_OBJECT_LOCK (self);
  live = self->is_live || self->obj->delivery == GST_P2P_DELIVERY_DATAGRAM;
  GST_OBJECT_UNLOCK (self);

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      if (live)
        ret = GST_STATE_CHANGE_NO_PREROLL;
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      gst_p2p_object_close (self->obj);
      break;
    default:
      break;
  }
  return ret;
}

static GstStructure *
gst_p2p_src_dup_stats (GstP2pSrc *self)
{
  GstStructure *s = gst_p2p_stats_new ();
  P2pConnection *conn;
  guint64 lost, late, dropped, queued, queued_max;
  P2pConnectionStats last;
  gboolean have_last;

  g_mutex_lock (&self->lock);
  conn = self->conn ? g_object_ref (self->conn) : NULL;
  last = self->last_stats;
  have_last = self->have_last_stats;
  lost = self->receiver.datagrams_lost;
  late = self->receiver.datagrams_late;
  dropped = self->receiver.datagrams_dropped;
  queued = gst_p2p_receiver_get_bytes (&self->receiver);
  queued_max = self->receiver.bytes_max;
  g_mutex_unlock (&self->lock);
  if (conn) {
    P2pConnectionStats st;

    p2p_connection_get_stats (conn, &st);
    gst_p2p_stats_accumulate (s, &st);
    g_object_unref (conn);
  } else if (have_last) {
    /* the connection ended: its final figures, no peer */
    gst_p2p_stats_accumulate (s, &last);
    gst_structure_set (s, "peers", G_TYPE_UINT, 0u, NULL);
  }
  {
    guint64 transport_dropped = 0;

    /* the transport's drops plus those of our own datagram bound */
    gst_structure_get_uint64 (s, "datagrams-dropped", &transport_dropped);
    dropped += transport_dropped;
  }
  gst_structure_set (s, "datagrams-lost", G_TYPE_UINT64, lost,
      "datagrams-late", G_TYPE_UINT64, late,
      "datagrams-dropped", G_TYPE_UINT64, dropped,
      "queued-bytes", G_TYPE_UINT64, queued,
      "queued-bytes-max", G_TYPE_UINT64, queued_max, NULL);
  return s;
}

/* p2p://PEER[/path]: a path selects the random-access mode (location). */
static gboolean
src_set_uri (GstP2pSrc *self, const char *uri, GError **error)
{
  g_autofree char *peer = NULL, *path = NULL, *peer_uri = NULL;
  g_autoptr (GError) err = NULL;

  if (!gst_p2p_file_uri_split (uri, &peer, &path, &err)) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "%s", err->message);
    return FALSE;
  }
  peer_uri = g_strdup_printf ("p2p://%s", peer);
  if (!gst_p2p_object_set_uri (self->obj, peer_uri, error))
    return FALSE;
  GST_OBJECT_LOCK (self);
  g_free (self->location);
  self->location = g_steal_pointer (&path);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static char *
src_get_uri (GstP2pSrc *self)
{
  g_autofree char *base = gst_p2p_object_get_uri (self->obj);
  g_autofree char *loc = NULL;

  GST_OBJECT_LOCK (self);
  loc = g_strdup (self->location);
  GST_OBJECT_UNLOCK (self);
  if (base && loc) {
    g_autofree char *esc = g_uri_escape_string (loc, "/", TRUE);

    return g_strdup_printf ("%s/%s", base, esc);
  }
  return g_steal_pointer (&base);
}

static void
gst_p2p_src_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstP2pSrc *self = GST_P2P_SRC (object);

  if (gst_p2p_object_set_property (self->obj, prop_id, value, pspec))
    return;
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LATENCY:
      self->latency = g_value_get_uint (value);
      break;
    case PROP_RECONNECT:
      self->reconnect = g_value_get_enum (value);
      break;
    case PROP_RECONNECT_DELAY:
      self->reconnect_delay = g_value_get_uint (value);
      break;
    case PROP_RECONNECT_MAX:
      self->reconnect_max = g_value_get_uint (value);
      break;
    case PROP_IS_LIVE:
      self->is_live = g_value_get_boolean (value);
      break;
    case PROP_MAX_QUEUE_BYTES:
      self->max_queue_bytes = g_value_get_uint64 (value);
      break;
    case PROP_CONNECT_TIMEOUT:
      self->connect_timeout = g_value_get_uint (value);
      break;
    case PROP_URI:{
      const char *uri = g_value_get_string (value);
      g_autoptr (GError) err = NULL;

      GST_OBJECT_UNLOCK (self);
      /* like the URI handler: a bad URI is refused, the peer unchanged */
      if (uri && !src_set_uri (self, uri, &err))
        GST_WARNING_OBJECT (self, "uri \"%s\" refused: %s", uri, err->message);
      GST_OBJECT_LOCK (self);
      break;
    }
    case PROP_LOCATION:{
      const char *loc = g_value_get_string (value);
      g_autoptr (GError) err = NULL;

      if (loc && loc[0] && !p2p_file_path_check (loc, strlen (loc), &err)) {
        GST_WARNING_OBJECT (self, "location \"%s\" refused: %s", loc, err->message);
        break;
      }
      g_free (self->location);
      self->location = loc && loc[0] ? g_strdup (loc) : NULL;
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_p2p_src_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstP2pSrc *self = GST_P2P_SRC (object);

  if (prop_id == GST_P2P_PROP_STATS) {
    GstStructure *stats = gst_p2p_src_dup_stats (self);

    gst_p2p_object_add_provider_stats (self->obj, stats);
    g_value_take_boxed (value, stats);
    return;
  }
  if (gst_p2p_object_get_property (self->obj, prop_id, value, pspec))
    return;
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LATENCY:
      g_value_set_uint (value, self->latency);
      break;
    case PROP_RECONNECT:
      g_value_set_enum (value, self->reconnect);
      break;
    case PROP_RECONNECT_DELAY:
      g_value_set_uint (value, self->reconnect_delay);
      break;
    case PROP_RECONNECT_MAX:
      g_value_set_uint (value, self->reconnect_max);
      break;
    case PROP_IS_LIVE:
      g_value_set_boolean (value, self->is_live);
      break;
    case PROP_MAX_QUEUE_BYTES:
      g_value_set_uint64 (value, self->max_queue_bytes);
      break;
    case PROP_CONNECT_TIMEOUT:
      g_value_set_uint (value, self->connect_timeout);
      break;
    case PROP_URI:
      GST_OBJECT_UNLOCK (self);
      g_value_take_string (value, src_get_uri (self));
      GST_OBJECT_LOCK (self);
      break;
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_p2p_src_finalize (GObject *object)
{
  GstP2pSrc *self = GST_P2P_SRC (object);

  gst_p2p_object_free (self->obj);
  g_mutex_lock (&self->lock);
  clear_datagram_state_locked (self);
  g_mutex_unlock (&self->lock);
  g_clear_object (&self->cancellable);
  gst_clear_event (&self->pending_eos);
  g_free (self->conn_peer);
  g_free (self->location);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_p2p_src_class_init (GstP2pSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  gobject_class->set_property = gst_p2p_src_set_property;
  gobject_class->get_property = gst_p2p_src_get_property;
  gobject_class->finalize = gst_p2p_src_finalize;

  gst_p2p_object_install_properties (gobject_class, FALSE);
  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency",
          "delivery=datagram: jitter buffer size in ms (how long a buffer waits "
          "for missing earlier ones; also the reported latency). "
          "delivery=reliable: a first buffer later than this after its "
          "segment's start is a late join (played at once)", 0, 60000,
          DEFAULT_LATENCY, rw));
  g_object_class_install_property (gobject_class, PROP_RECONNECT,
      g_param_spec_enum ("reconnect", "Reconnect",
          "When the peer is unreachable or gone: none (post an error) or "
          "always (retry after reconnect-delay, at most reconnect-max times)",
          GST_TYPE_P2P_RECONNECT, DEFAULT_RECONNECT, rw));
  g_object_class_install_property (gobject_class, PROP_RECONNECT_DELAY,
      g_param_spec_uint ("reconnect-delay", "Reconnect delay",
          "Wait before each reconnection attempt, in ms", 0, 3600000,
          DEFAULT_RECONNECT_DELAY, rw));
  g_object_class_install_property (gobject_class, PROP_RECONNECT_MAX,
      g_param_spec_uint ("reconnect-max", "Maximum reconnections",
          "Consecutive failed attempts before giving up with an error "
          "(0 = unlimited); each attempt posts an element message "
          "\"p2p-reconnect\" (attempt, max-attempts, delay-ms, reason)",
          0, G_MAXUINT, DEFAULT_RECONNECT_MAX, rw));
  g_object_class_install_property (gobject_class, PROP_URI,
      g_param_spec_string ("uri", "URI",
          "p2p://<peer ID, ticket or ID@HOST:PORT>: the same as \"peer\" (and "
          "the URI handler); a malformed URI is refused with a warning and "
          "leaves \"peer\" unchanged", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "Path of a file served by the peer's file service (p2p-serve), "
          "relative to its root, UTF-8: p2psrc then reads that file by byte "
          "ranges (random access, seekable, pull mode) instead of receiving "
          "a p2psink's stream. NULL = stream mode", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_CONNECT_TIMEOUT,
      g_param_spec_uint ("connect-timeout", "Connect timeout",
          "mode=connect: how long one connection attempt may take, in ms, "
          "before it fails (or is retried with reconnect=always); a closed "
          "port on a direct dial fails at once. 0 = only idle-timeout bounds "
          "it", 0, 3600000, DEFAULT_CONNECT_TIMEOUT, rw));

  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Live",
          "Be a live source (no preroll, reports \"latency\") also in "
          "delivery=reliable; delivery=datagram is always live. Set it when one "
          "pipeline holds both the p2psink and the p2psrc (it could not "
          "preroll otherwise)",
          FALSE, rw));

  g_object_class_install_property (gobject_class, PROP_MAX_QUEUE_BYTES,
      g_param_spec_uint64 ("max-queue-bytes", "Maximum queue bytes",
          "delivery=datagram: bytes held for the reliable stream (events and "
          "stream buffers: when full, the sender waits) and, separately, "
          "for datagrams (when full, the oldest is dropped, counted in stats "
          "datagrams-dropped, and the next buffer is DISCONT)",
          MIN_MAX_QUEUE_BYTES, G_MAXUINT64, DEFAULT_MAX_QUEUE_BYTES, rw));

  /**
   * GstP2pSrc::overrun:
   *
   * delivery=datagram: the reliable-stream queue is full (max-queue-bytes)
   * and the reader stops taking messages until the streaming thread took
   * one; the sender is held back. Emitted from the reader thread, once each
   * time it starts waiting.
   */
  /**
   * GstP2pSrc::peer-connecting:
   * @peer_id: the authenticated peer ID of the peer that connected (mode=listen)
   *   or that was dialed (mode=connect)
   *
   * Emitted before any media is read from the peer (after allowed-peers).
   * Return %FALSE to refuse it: the connection is closed with "refused by
   * the application (peer-connecting)".
   *
   * Returns: %TRUE to accept the peer.
   */
  gst_p2p_object_install_peer_connecting (gobject_class);
  signals[SIGNAL_OVERRUN] = g_signal_new ("overrun", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "P2P source",
      "Source/Network", "Receives a stream from a peer over authenticated QUIC "
      "(peer IDs, tickets, NAT traversal)", "gst-p2p developers");
  element_class->change_state = gst_p2p_src_change_state;
  element_class->send_event = gst_p2p_src_send_event;

  gst_type_mark_as_plugin_api (GST_TYPE_P2P_RECONNECT, 0);
}

static void
gst_p2p_src_init (GstP2pSrc *self)
{
  self->obj = gst_p2p_object_new (GST_ELEMENT (self), FALSE);
  self->latency = DEFAULT_LATENCY;
  self->reconnect = DEFAULT_RECONNECT;
  self->reconnect_delay = DEFAULT_RECONNECT_DELAY;
  self->reconnect_max = DEFAULT_RECONNECT_MAX;
  self->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
  self->max_queue_bytes = DEFAULT_MAX_QUEUE_BYTES;
  self->queue_limit = DEFAULT_MAX_QUEUE_BYTES;
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  gst_p2p_receiver_init (&self->receiver, GST_OBJECT (self), gst_p2p_src_debug,
      MAX_JITTER_ITEMS);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_activatemode_function (self->srcpad, gst_p2p_src_activate_mode);
  gst_pad_set_query_function (self->srcpad, gst_p2p_src_query);
  gst_pad_set_getrange_function (self->srcpad, files_get_range);
  gst_pad_set_event_function (self->srcpad, gst_p2p_src_src_event);
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
  GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SOURCE);
}

/* ---- URI handler: p2p://<peer ID, ticket or ID@HOST:PORT> ---- */

static GstURIType
src_uri_get_type (GType type)
{
  return GST_URI_SRC;
}

static gchar *
src_uri_get_uri (GstURIHandler *handler)
{
  return src_get_uri (GST_P2P_SRC (handler));
}

static gboolean
src_uri_set_uri (GstURIHandler *handler, const gchar *uri, GError **error)
{
  return src_set_uri (GST_P2P_SRC (handler), uri, error);
}

static void
gst_p2p_src_uri_handler_init (gpointer g_iface, gpointer data)
{
  GstURIHandlerInterface *iface = g_iface;

  iface->get_type = src_uri_get_type;
  iface->get_protocols = gst_p2p_uri_get_protocols;
  iface->get_uri = src_uri_get_uri;
  iface->set_uri = src_uri_set_uri;
}
