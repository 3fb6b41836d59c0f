/* gstp2psrc-files-recovery.c: the connection of p2psrc's random-access
 * reader and what keeps a read going when it fails: the dial (bounded by
 * connect-timeout), the validator that proves every answer is of the same
 * file, the retries of a busy server and the reconnects after a lost
 * connection (each announced by a p2p-reconnect message as it starts), and
 * the element errors and messages, posted once the reader's lock is
 * dropped.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psrc-files-private.h"

GST_DEBUG_CATEGORY_EXTERN (gst_p2p_debug);
#define GST_CAT_DEFAULT gst_p2p_debug

/* A modification time (ns since the epoch) as UTC, to the microsecond;
 * NULL when out of range. */
static char *
format_mtime (guint64 mtime_ns)
{
  g_autoptr (GDateTime) secs = g_date_time_new_from_unix_utc ((gint64) (mtime_ns
          / G_GUINT64_CONSTANT (1000000000)));
  g_autoptr (GDateTime) t = secs ? g_date_time_add (secs, (GTimeSpan) (mtime_ns
          % G_GUINT64_CONSTANT (1000000000)) / 1000) : NULL;

  return t ? g_date_time_format (t, "%FT%T.%fZ") : NULL;
}

void
gst_p2p_file_reader_post_error (GstP2pFileReader *self, const GError *err)
{
  if (g_error_matches (err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  /* an answer the server got wrong, or trouble with the connection: the
   * next p2psrc gets a new one */
  if (err->domain != P2P_FILE_ERROR || err->code == P2P_FILE_STATUS_PROTOCOL)
    self->conn_suspect = TRUE;
  if (err->domain == P2P_FILE_ERROR) {
    switch (err->code) {
      case P2P_FILE_STATUS_NOT_FOUND:
        GST_ELEMENT_ERROR (self->element, RESOURCE, NOT_FOUND,
            ("\"%s\" not found on peer %s", self->path, self->peer), ("%s", err->message));
        return;
      case P2P_FILE_STATUS_NOT_ALLOWED:
      case P2P_FILE_STATUS_NOT_READABLE:
      case P2P_FILE_STATUS_OUTSIDE_ROOT:
      case P2P_FILE_STATUS_BAD_PATH:
        GST_ELEMENT_ERROR (self->element, RESOURCE, NOT_AUTHORIZED,
            ("\"%s\" on peer %s: %s (%s)", self->path, self->peer,
                p2p_file_status_to_string (err->code), err->message), ("%s", err->message));
        return;
      default:
        GST_ELEMENT_ERROR (self->element, RESOURCE, READ,
            ("\"%s\" on peer %s: %s (%s)", self->path, self->peer,
                p2p_file_status_to_string (err->code), err->message), ("%s", err->message));
        return;
    }
  }
  GST_P2P_ELEMENT_ERROR_FROM (self->element, err, "\"%s\" on peer %s: %s", self->path,
      self->peer, err->message);
}

/* Drops @lock, then posts the messages deferred while it was held. */
void
gst_p2p_file_reader_unlock_and_post (GstP2pFileReader *self)
{
  GQueue msgs = self->deferred;

  g_queue_init (&self->deferred);
  g_mutex_unlock (&self->lock);
  while (!g_queue_is_empty (&msgs))
    gst_element_post_message (self->element, g_queue_pop_head (&msgs));
}

/* Under @lock, in a recovery (no connection, no request in flight): posts
 * the messages deferred so far, the lock dropped meanwhile, so that an
 * application sees each reconnect attempt as it starts ("reconnecting…"),
 * not all of them once the read has ended. */
static void
post_deferred_now (GstP2pFileReader *self)
{
  if (g_queue_is_empty (&self->deferred))
    return;
  gst_p2p_file_reader_unlock_and_post (self);
  g_mutex_lock (&self->lock);
}

GstMessage *
gst_p2p_file_reader_disconnected_message (GstP2pFileReader *self, const char *reason)
{
  GstMessage *msg = gst_p2p_object_connection_message (self->obj, self->conn, "disconnected");

  gst_structure_set (gst_message_writable_structure (msg), "reason", G_TYPE_STRING, reason,
      NULL);
  return msg;
}

gboolean
gst_p2p_file_reader_ensure_conn (GstP2pFileReader *self, GError **error)
{
  guint timeout = 0;

  /* one lost between reads (a stateless reset from a restarted peer, a
   * timeout) is kept: the next request or read on it fails with the
   * reason, and the recovery reconnects, says so, and drops the requests
   * that went with it */
  if (self->conn)
    return TRUE;
  /* (a dial to a peer that went silent: connect-timeout, not twice the
   * transport's idle timeout, 60 s a try) */
  g_object_get (self->element, "connect-timeout", &timeout, NULL);
  self->conn = gst_p2p_object_connect (self->obj, timeout, self->cancel, error);
  if (self->conn == NULL)
    return FALSE;
  self->conn_said = FALSE;
  return TRUE;
}

void
gst_p2p_file_reader_say_connected (GstP2pFileReader *self)
{
  if (self->conn == NULL || self->conn_said)
    return;
  self->conn_said = TRUE;
  g_queue_push_tail (&self->deferred,
      gst_p2p_object_connection_message (self->obj, self->conn, "connected"));
}

gboolean
gst_p2p_file_reader_check_validator (GstP2pFileReader *self, const P2pFileHeader *h,
    GError **error)
{
  if (!self->have_first) {
    self->first = *h;
    self->have_first = TRUE;
    g_mutex_lock (&self->cancel_lock);
    self->known_size = h->size;
    self->size_known = TRUE;
    g_mutex_unlock (&self->cancel_lock);
    return TRUE;
  }
  if (h->size != self->first.size || h->mtime_ns != self->first.mtime_ns
      || h->file_id != self->first.file_id) {
    g_autoptr (GString) what = g_string_new (NULL);

    /* say what changed: a rewrite in place keeps the size */
    if (h->size != self->first.size)
      g_string_append_printf (what, ", size %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT,
          self->first.size, h->size);
    if (h->mtime_ns != self->first.mtime_ns) {
      /* to the microsecond: two writes within a second differ there */
      g_autofree char *ta = format_mtime (self->first.mtime_ns);
      g_autofree char *tb = format_mtime (h->mtime_ns);

      g_string_append_printf (what, ", modified %s -> %s", ta ? ta : "?", tb ? tb : "?");
    }
    if (h->file_id != self->first.file_id)
      g_string_append (what, ", replaced by another file (inode)");
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_CHANGED,
        "the file changed on the peer while being read (%s)", what->str + 2);
    return FALSE;
  }
  return TRUE;
}

/* Waits @ms or until the reader is cancelled. */
static void
reader_wait_ms (GstP2pFileReader *self, guint ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) ms * 1000;

  while (!g_cancellable_is_cancelled (self->cancel) && g_get_monotonic_time () < deadline)
    g_usleep (MIN (20000, MAX (deadline - g_get_monotonic_time (), 0)));
}

/* Runs @once until it succeeds or fails for good. A server at its request
 * limit (TOO_MANY_REQUESTS: other players) is asked again, with only that
 * block in flight, after BUSY_WAIT_MS x attempt, at most BUSY_RETRIES
 * times; a failed connection is replaced (RECONNECT_MAX times) and the
 * read asked again at the same offset. */
gboolean
gst_p2p_file_reader_with_recovery (GstP2pFileReader *self, ReadOnce once, guint64 at, guint64 want, gpointer out,
    GError **error)
{
  /* a reconnect's failed dial: that attempt's error (the read is not
   * tried on no connection, which would dial a second time) */
  GError *dial_err = NULL;

  for (guint attempt = 1;; attempt++) {
    GError *err = g_steal_pointer (&dial_err);
    guint delay;

    if (err == NULL && once (self, at, want, out, &err)) {
      self->reconnects = 0;
      return TRUE;
    }
    /* a peer without the file service (capability "files") does not get
     * one by reconnecting, nor does one that refuses our key */
    if (err->domain != P2P_FILE_ERROR && !g_cancellable_is_cancelled (self->cancel)
        && !g_error_matches (err, P2P_ERROR, P2P_ERROR_NOT_SUPPORTED)
        && !g_error_matches (err, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED)
        && self->reconnects < RECONNECT_MAX) {
      /* the connection failed (peer restarted, network change): a new
       * connection, the same offset; the validator proves the same file */
      self->reconnects++;
      /* the first attempt at once (a peer that restarted, a kept
       * connection that timed out while kept), the next ones after a
       * pause */
      delay = self->reconnects == 1 ? 0 : RECONNECT_DELAY_MS;
      GST_WARNING_OBJECT (self->element, "\"%s\": reconnecting (attempt %u of %u) at "
          "offset %" G_GUINT64_FORMAT ": %s", self->path, self->reconnects, RECONNECT_MAX,
          at, err->message);
      /* the lost connection's "disconnected" first, then the attempt's */
      if (self->conn && self->conn_said)
        g_queue_push_tail (&self->deferred,
            gst_p2p_file_reader_disconnected_message (self, err->message));
      g_queue_push_tail (&self->deferred,
          gst_message_new_element (GST_OBJECT (self->element),
              gst_structure_new ("p2p-reconnect",
                  "attempt", G_TYPE_UINT, self->reconnects,
                  "max-attempts", G_TYPE_UINT, RECONNECT_MAX,
                  "delay-ms", G_TYPE_UINT, delay,
                  "reason", G_TYPE_STRING, err->message,
                  "location", G_TYPE_STRING, self->path,
                  "offset", G_TYPE_UINT64, at, NULL)));
      g_clear_error (&err);
      gst_p2p_file_reader_drop_window (self);
      gst_p2p_file_reader_drop_tail (self);
      self->window = 1;
      if (self->conn) {
        p2p_connection_close (self->conn, "reconnecting");
        g_clear_object (&self->conn);
      }
      post_deferred_now (self);
      reader_wait_ms (self, delay);
      if (!gst_p2p_file_reader_ensure_conn (self, &err)) {
        if (self->reconnects >= RECONNECT_MAX || g_cancellable_is_cancelled (self->cancel)) {
          g_propagate_error (error, err);
          return FALSE;
        }
        dial_err = g_steal_pointer (&err);
      }
      attempt = 0;
      continue;
    }
    if (!g_error_matches (err, P2P_FILE_ERROR, P2P_FILE_STATUS_TOO_MANY_REQUESTS)
        || attempt > BUSY_RETRIES || g_cancellable_is_cancelled (self->cancel)) {
      g_propagate_error (error, err);
      return FALSE;
    }
    GST_DEBUG_OBJECT (self->element, "server busy (attempt %u): %s", attempt, err->message);
    g_error_free (err);
    gst_p2p_file_reader_drop_window (self);
    self->window = 1;
    /* a flushing seek or a state change ends the wait (the next attempt
     * then fails as cancelled) */
    reader_wait_ms (self, BUSY_WAIT_MS * attempt);
  }
}
