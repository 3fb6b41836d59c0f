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
 * buffer: see gstp2psrc-segment.c).
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
#include "gstp2psrc-private.h"

GST_DEBUG_CATEGORY (gst_p2p_src_debug);
#define GST_CAT_DEFAULT gst_p2p_src_debug

#define gst_p2p_src_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstP2pSrc, gst_p2p_src, GST_TYPE_ELEMENT,
    GST_DEBUG_CATEGORY_INIT (gst_p2p_src_debug, "p2psrc", 0, "P2P source");
    G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER, gst_p2p_src_uri_handler_init));
GST_ELEMENT_REGISTER_DEFINE (p2psrc, "p2psrc", GST_RANK_PRIMARY, GST_TYPE_P2P_SRC);

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

/* ---- issue 13: random-access mode, see gstp2psrc-files.c ---- */

/* Opens the provider unless it is open already: FALSE (the element error
 * posted) if it cannot be opened. */
static gboolean
ensure_open (GstP2pSrc *self)
{
  gboolean opened;

  GST_OBJECT_LOCK (self);
  if (self->settings_error) {
    g_autofree char *why = g_strdup (self->settings_error);

    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", why), (NULL));
    return FALSE;
  }
  opened = self->obj->provider != NULL;
  /* a file's first requests ride with the QUIC handshake's last flight */
  self->obj->early_streams = self->location != NULL;
  /* the next track's p2psrc may take this one's connection */
  self->obj->keep_alive = self->location != NULL ? self->keep_alive : 0;
  GST_OBJECT_UNLOCK (self);
  return opened || gst_p2p_object_open (self->obj);
}

static gboolean
files_activate_mode (GstP2pSrc *self, const char *location, GstPadMode mode,
    gboolean active)
{
  if (active) {
    /* downstream (typefind) may activate pull mode before this element
     * went to READY (a bin changes its sinks first): open here then, like
     * GstBaseSrc starts in its pull activation */
    if (!ensure_open (self))
      return FALSE;
    GstP2pFileReader *files = gst_p2p_file_reader_new (GST_ELEMENT (self), self->obj,
        location);
    GstP2pFilePush *push = NULL;

    if (mode == GST_PAD_MODE_PUSH
        && (push = gst_p2p_file_push_start (files, GST_ELEMENT (self), self->srcpad)) == NULL) {
      gst_p2p_file_reader_unref (files);
      return FALSE;
    }
    g_mutex_lock (&self->lock);
    self->files = files;
    self->push = push;
    g_mutex_unlock (&self->lock);
    return TRUE;
  }
  {
    GstP2pFileReader *files;
    GstP2pFilePush *push;

    g_mutex_lock (&self->lock);
    if (self->files)
      gst_p2p_file_reader_cancel (self->files);
    g_mutex_unlock (&self->lock);
    if (mode == GST_PAD_MODE_PUSH)
      gst_pad_stop_task (self->srcpad);
    /* the pad's streaming lock: no getrange is running after this; a query
     * or an event still using them holds its own reference */
    GST_PAD_STREAM_LOCK (self->srcpad);
    g_mutex_lock (&self->lock);
    push = g_steal_pointer (&self->push);
    files = g_steal_pointer (&self->files);
    g_mutex_unlock (&self->lock);
    gst_p2p_file_push_unref (push);
    gst_p2p_file_reader_unref (files);
    GST_PAD_STREAM_UNLOCK (self->srcpad);
  }
  return TRUE;
}

/* The reader (and push task state) with a reference, or NULL: for queries
 * and events, which may run while the pad goes down. */
static GstP2pFileReader *
dup_files (GstP2pSrc *self)
{
  GstP2pFileReader *files;

  g_mutex_lock (&self->lock);
  files = self->files ? gst_p2p_file_reader_ref (self->files) : NULL;
  g_mutex_unlock (&self->lock);
  return files;
}

static GstP2pFilePush *
dup_push (GstP2pSrc *self)
{
  GstP2pFilePush *push;

  g_mutex_lock (&self->lock);
  push = self->push ? gst_p2p_file_push_ref (self->push) : NULL;
  g_mutex_unlock (&self->lock);
  return push;
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
  gboolean ok;
  GstP2pFileReader *files;

  if (!self->location)
    return -1;
  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_SCHEDULING:
      gst_query_set_scheduling (query, GST_SCHEDULING_FLAG_SEEKABLE, 1, -1, 0);
      if (self->pull_mode)
        gst_query_add_scheduling_mode (query, GST_PAD_MODE_PULL);
      gst_query_add_scheduling_mode (query, GST_PAD_MODE_PUSH);
      return TRUE;
    case GST_QUERY_SEEKING:
    case GST_QUERY_DURATION:
      if (GST_QUERY_TYPE (query) == GST_QUERY_SEEKING)
        gst_query_parse_seeking (query, &format, NULL, NULL, NULL);
      else
        gst_query_parse_duration (query, &format, NULL);
      if (format != GST_FORMAT_BYTES || (files = dup_files (self)) == NULL)
        return FALSE;
      ok = gst_p2p_file_reader_get_size (files, &size);
      gst_p2p_file_reader_unref (files);
      if (!ok)
        return FALSE;
      if (GST_QUERY_TYPE (query) == GST_QUERY_SEEKING)
        gst_query_set_seeking (query, GST_FORMAT_BYTES, TRUE, 0, (gint64) size);
      else
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
  gboolean files;

  GST_OBJECT_LOCK (self);
  location = g_strdup (self->location);
  if (active)
    self->files_active = location != NULL;
  files = self->files_active;
  GST_OBJECT_UNLOCK (self);
  if (files)
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
    self->sender_flushing = FALSE;
    self->first_buffer_done = FALSE;
    self->group_id = 0;
    g_clear_pointer (&self->group_stream_id, g_free);
    self->live_anchored = FALSE;
    self->live_discont = FALSE;
    self->resume_gap_pending = FALSE;
    self->live_late_since_us = 0;
    self->resume_known = FALSE;
    self->resume_waiting = FALSE;
    gst_clear_event (&self->pending_eos);
    gst_clear_mini_object (&self->pending_item);
    g_clear_error (&self->pending_error);
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
  gst_p2p_src_drop_connection (self, "receiver stopped");
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
    case GST_QUERY_URI:{
      /* like GstBaseSrc for a URI handler: typefind takes the file name's
       * extension from it and tries the matching typefinder first (without
       * it, pull-mode typefinding of a p2p:// track reads the end and the
       * middle of the file: a round trip each) */
      g_autofree char *uri = gst_uri_handler_get_uri (GST_URI_HANDLER (self));

      if (!uri)
        return FALSE;
      gst_query_set_uri (query, uri);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
gst_p2p_src_src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_LATENCY:{
      GstP2pSrc *self = GST_P2P_SRC (parent);
      GstClockTime latency;

      /* the pipeline's latency: a live buffer is due that long after its
       * running time (gst_p2p_src_live_check_buffer measures lateness
       * against it) */
      gst_event_parse_latency (event, &latency);
      GST_OBJECT_LOCK (self);
      self->pipeline_latency = latency;
      GST_OBJECT_UNLOCK (self);
      return gst_pad_event_default (pad, parent, event);
    }
    case GST_EVENT_SEEK:{
      GstP2pFilePush *push = dup_push (GST_P2P_SRC (parent));
      gboolean ok = FALSE;

      if (push) {
        ok = gst_p2p_file_push_seek (push, event);
        gst_p2p_file_push_unref (push);
      } else {
        GST_DEBUG_OBJECT (parent, "seeking is not supported");
      }
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_FLUSH_START:
    case GST_EVENT_FLUSH_STOP:{
      /* pull mode: a demuxer's seek sends flush-start up to wake its
       * getrange (as GstBaseSrc's unlock / unlock_stop) */
      GstP2pFileReader *files = dup_files (GST_P2P_SRC (parent));
      GstP2pFilePush *push = NULL;

      if (files == NULL)
        return gst_pad_event_default (pad, parent, event);
      if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_START)
        gst_p2p_file_reader_interrupt (files);
      else if ((push = dup_push (GST_P2P_SRC (parent))) != NULL)
        gst_p2p_file_push_flush_stop (push, event, FALSE);      /* its task paused */
      else
        gst_p2p_file_reader_resume (files);
      gst_p2p_file_push_unref (push);
      gst_p2p_file_reader_unref (files);
      gst_event_unref (event);
      return TRUE;
    }
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

/* An EOS sent to the element (or to its pipeline: gst-launch-1.0 -e) is
 * handled like GstBaseSrc does: kept, the streaming thread woken from its
 * wait (receive, connect, reconnect delay, jitter buffer), and pushed by
 * it; the connection is then closed with a reason. Other events go to the
 * pad as usual. */
/* FLUSH_START / FLUSH_STOP sent to the element (or to its pipeline) in the
 * random-access mode, as GstBaseSrc takes them: pushed downstream, the
 * reader woken (a read returns FLUSHING) and resumed, the push task
 * restarted where it was. -1: not that mode. */
static int
files_send_flush (GstP2pSrc *self, GstEvent *event)
{
  GstP2pFileReader *files = dup_files (self);
  GstP2pFilePush *push = dup_push (self);
  gboolean ok;

  if (files == NULL) {
    gst_p2p_file_push_unref (push);
    return -1;
  }
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_START) {
    ok = gst_pad_push_event (self->srcpad, gst_event_ref (event));
    gst_p2p_file_reader_interrupt (files);
  } else if (push) {
    ok = gst_p2p_file_push_flush_stop (push, event, TRUE);
  } else {
    GST_PAD_STREAM_LOCK (self->srcpad);
    gst_p2p_file_reader_resume (files);
    ok = gst_pad_push_event (self->srcpad, gst_event_ref (event));
    GST_PAD_STREAM_UNLOCK (self->srcpad);
  }
  gst_p2p_file_push_unref (push);
  gst_p2p_file_reader_unref (files);
  gst_event_unref (event);
  return ok;
}

static gboolean
gst_p2p_src_send_event (GstElement *element, GstEvent *event)
{
  GstP2pSrc *self = GST_P2P_SRC (element);

  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_START
      || GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    int ret = files_send_flush (self, event);

    if (ret >= 0)
      return ret;
  }
  if (GST_EVENT_TYPE (event) != GST_EVENT_EOS)
    return GST_ELEMENT_CLASS (parent_class)->send_event (element, event);

  if (!gst_pad_is_active (self->srcpad)) {
    GST_DEBUG_OBJECT (self, "EOS refused: not started");
    gst_event_unref (event);
    return FALSE;
  }
  {
    GstP2pFileReader *files = dup_files (self);

    /* the random-access mode: reads end (pull), the task pushes it (push) */
    if (files) {
      gst_p2p_file_reader_end (files, gst_event_get_seqnum (event));
      gst_p2p_file_reader_unref (files);
      gst_event_unref (event);
      return TRUE;
    }
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

  /* already opened by a pull activation (random-access mode) */
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !ensure_open (self))
    return GST_STATE_CHANGE_FAILURE;

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_NULL_TO_READY)
      gst_p2p_object_close (self->obj);
    return ret;
  }

  GST_OBJECT_LOCK (self);
  /* (a file is never live: is-live and delivery are the stream mode's) */
  live = (self->is_live || self->obj->delivery == GST_P2P_DELIVERY_DATAGRAM)
      && self->location == NULL;
  GST_OBJECT_UNLOCK (self);

  switch (transition) {
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      /* the running time stands still from now: the next buffer in
       * PLAYING checks how long (gst_p2p_src_live_check_buffer) */
      g_mutex_lock (&self->lock);
      self->live_maybe_paused = TRUE;
      g_mutex_unlock (&self->lock);
      if (live)
        ret = GST_STATE_CHANGE_NO_PREROLL;
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
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

static void
gst_p2p_src_finalize (GObject *object)
{
  GstP2pSrc *self = GST_P2P_SRC (object);

  gst_p2p_object_free (self->obj);
  g_mutex_lock (&self->lock);
  gst_p2p_src_clear_datagram_state_locked (self);
  g_mutex_unlock (&self->lock);
  g_clear_object (&self->cancellable);
  gst_clear_event (&self->pending_eos);
  gst_clear_mini_object (&self->pending_item);
  g_clear_error (&self->pending_error);
  g_free (self->conn_peer);
  g_free (self->resume_peer);
  g_free (self->group_stream_id);
  g_free (self->location);
  g_free (self->settings_error);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_p2p_src_class_init (GstP2pSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->set_property = gst_p2p_src_set_property;
  gobject_class->get_property = gst_p2p_src_get_property;
  gobject_class->finalize = gst_p2p_src_finalize;

  gst_p2p_src_install_properties (gobject_class);
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
  gst_p2p_src_install_overrun_signal (gobject_class);

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "P2P source",
      "Source/Network", "Receives a stream from a peer over authenticated QUIC "
      "(peer IDs, tickets, NAT traversal)", "gst-p2p developers");
  element_class->change_state = gst_p2p_src_change_state;
  element_class->send_event = gst_p2p_src_send_event;
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
  self->keep_alive = DEFAULT_KEEP_ALIVE;
  self->pull_mode = DEFAULT_PULL_MODE;
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

