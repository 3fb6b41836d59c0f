/* gstp2psrc-connect.c: p2psrc's connection: one dial bounded by
 * connect-timeout (mode=connect) or an accept (mode=listen), allowed-peers
 * and peer-connecting, the ready word that tells the sender how we receive,
 * reconnect=always's waits and "p2p-reconnect" messages, and the close that
 * keeps the connection's last figures for "stats".
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psrc-private.h"

#include <string.h>

#define GST_CAT_DEFAULT gst_p2p_src_debug

void
gst_p2p_src_drop_connection (GstP2pSrc *self, const char *reason)
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
  gst_p2p_src_clear_datagram_state_locked (self);
  g_mutex_unlock (&self->lock);
}

static void
on_path_changed (P2pConnection *conn, P2pPathKind old_kind, P2pPathKind new_kind,
    gpointer data)
{
  GstP2pSrc *self = data;

  gst_p2p_object_post_path_changed (self->obj, conn, old_kind, new_kind);
}

/* Waits reconnect-delay ms (interrupted by flushing). Returns FALSE when
 * no more attempts are allowed or when flushing. Each attempt is announced
 * with an element message "p2p-reconnect" (attempt, max-attempts with 0 =
 * unlimited, delay-ms, reason: why the last one failed) and a warning in
 * the log. */
gboolean
gst_p2p_src_may_retry (GstP2pSrc *self, const char *reason)
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

/* Returns TRUE when connected; FALSE after an error was posted or when
 * flushing. */
gboolean
gst_p2p_src_ensure_connected (GstP2pSrc *self)
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
    guint connect_timeout;

    GST_OBJECT_LOCK (self);
    connect_timeout = self->connect_timeout;
    GST_OBJECT_UNLOCK (self);

    if (mode == GST_P2P_MODE_CONNECT)
      conn = gst_p2p_object_connect (self->obj, connect_timeout, cancellable, &err);
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
      gboolean same_stream, asks_resume;

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
      gst_p2p_src_clear_datagram_state_locked (self);
      self->segment_fresh = FALSE;
      /* back at the sender whose stream we had (reliable delivery then
       * asks it to resume: below) */
      same_stream = self->resume_known && g_strcmp0 (self->resume_peer, self->conn_peer) == 0;
      asks_resume = same_stream && self->delivery != GST_P2P_DELIVERY_DATAGRAM;
      /* after a lost connection, what comes next does not continue what
       * was pushed: DISCONT, owed until a buffer carries it, unless this
       * connection resumes the stream exactly (resume_filter) */
      if (self->first_buffer_done) {
        self->live_discont = TRUE;
        if (!asks_resume)
          self->resume_gap_pending = TRUE;
      }
      if (!same_stream) {
        /* a new stream (a resumed one keeps its late-join shift) */
        self->shift_decided = FALSE;
        self->rt_shift = 0;
      }
      g_signal_connect (conn, "path-changed", G_CALLBACK (on_path_changed), self);
      if (self->delivery == GST_P2P_DELIVERY_DATAGRAM)
        gst_p2p_src_start_datagram_receive_locked (self, conn);
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
        g_autofree char *resume = NULL;

        /* back at the same sender after a lost connection: where we were
         * ("resume TOKEN INDEX"; it answers with a STREAM_POSITION) */
        if (asks_resume) {
          resume = g_strdup_printf ("%s %" G_GINT64_MODIFIER "x %" G_GUINT64_FORMAT,
              GST_P2P_RESUME_WORD, self->resume_token, self->resume_next);
          word = resume;
          self->resume_waiting = TRUE;
          GST_INFO_OBJECT (self, "asking %s to resume at frame %" G_GUINT64_FORMAT,
              self->conn_peer, self->resume_next);
        }

        p2p_frame_append (ready, P2P_FRAME_MESSAGE, (const guint8 *) word, strlen (word));
        msg = g_byte_array_free_to_bytes (g_steal_pointer (&ready));
        if (!p2p_connection_send (conn, msg, cancellable, &e))
          GST_WARNING_OBJECT (self, "could not send ready: %s", e->message);
      }
      GST_INFO_OBJECT (self, "connected to %s", self->conn_peer);
      gst_p2p_object_post_connection (self->obj, conn, "connected");
      if (self->sender_flushing) {
        /* the last connection was lost inside the sender's flush: its
         * FLUSH_STOP may never come on this one; our pad flushes no more
         * (what comes now starts with the stream's headers) */
        GST_INFO_OBJECT (self, "reconnected inside the sender's flush: flush stopped");
        self->sender_flushing = FALSE;
        gst_pad_push_event (self->srcpad, gst_event_new_flush_stop (FALSE));
      }
      g_clear_object (&listener);
      g_object_unref (cancellable);
      return TRUE;
    }
    if (g_error_matches (err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      break;
    if (gst_p2p_src_may_retry (self, err->message))
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

gboolean
gst_p2p_src_resume_filter (GstP2pSrc *self, GstMiniObject **obj)
{
  guint64 token = 0, index = 0;
  guint flags = 0;

  if (GST_IS_EVENT (*obj) && gst_p2p_media_event_get_stream_position (GST_EVENT_CAST (*obj),
          &token, &index, &flags)) {
    gboolean gap = (flags & GST_P2P_POSITION_GAP) != 0;

    gst_mini_object_unref (g_steal_pointer (obj));
    if (self->resume_waiting && !(flags & (GST_P2P_POSITION_RESUMED | GST_P2P_POSITION_GAP)))
      return TRUE;              /* a position sent before the sender read our request */
    if (self->resume_waiting) {
      /* resumed exactly, the next buffer continues what was pushed (no
       * DISCONT, unless the gap of an earlier resume is still to be
       * marked: a connection lost again before any buffer came); with a
       * gap it does not */
      if (gap)
        self->resume_gap_pending = TRUE;
      self->live_discont = self->resume_gap_pending;
      if (gap && token != self->resume_token) {
        /* another stream (the sender started again): its running time
         * starts anew, the late-join shift of the old one no longer
         * applies; its first buffer decides again */
        self->shift_decided = FALSE;
        self->rt_shift = 0;
      }
      if (gap)
        GST_ELEMENT_WARNING (self, RESOURCE, READ, ("Peer %s could not resume the stream "
                "where the connection was lost (frame %" G_GUINT64_FORMAT "): it no longer "
                "has what was missed (its resume-buffer); going on from its current position",
                self->conn_peer, self->resume_next), (NULL));
      else
        GST_INFO_OBJECT (self, "%s resumes the stream at frame %" G_GUINT64_FORMAT,
            self->conn_peer, index);
      gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self),
              gst_structure_new ("p2p-resumed", "peer-id", G_TYPE_STRING, self->conn_peer,
                  "frame", G_TYPE_UINT64, index, "gap", G_TYPE_BOOLEAN, gap, NULL)));
    }
    self->resume_waiting = FALSE;
    self->resume_known = TRUE;
    self->resume_token = token;
    self->resume_next = index;
    if (g_strcmp0 (self->resume_peer, self->conn_peer) != 0) {
      g_free (self->resume_peer);
      self->resume_peer = g_strdup (self->conn_peer);
    }
    return TRUE;
  }
  if (self->resume_waiting) {
    /* sent before the sender read our request: it comes again */
    gst_mini_object_unref (g_steal_pointer (obj));
    return TRUE;
  }
  if (self->resume_known)
    self->resume_next++;
  return FALSE;
}
