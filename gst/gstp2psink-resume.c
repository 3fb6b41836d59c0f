/* gstp2psink-resume.c: p2psink keeps the last resume-buffer bytes of its
 * reliable stream (one history for every receiver: each frame is encoded
 * once and numbered), tells each receiver where it is in it
 * (STREAM_POSITION) and lets a receiver that lost its connection come back
 * where it stopped: nothing skipped, nothing twice (docs/protocol.md §5.3).
 *
 * A receiver that advertises the capability "stream-position" gets a
 * STREAM_POSITION right after the stream headers, and one thread reads
 * what it says: "resume TOKEN INDEX" (what it had) after a reconnection.
 * Everything here runs under the sink's lock.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psink-resume.h"
#include "gstp2psink-peer.h"
#include "gstp2psink-private.h"
#include "gstp2pmedia.h"

#include <stdlib.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_p2p_sink_debug

typedef struct {
  guint64 index;
  GBytes *msg;
} HistoryItem;

static void
history_item_free (gpointer data)
{
  HistoryItem *it = data;

  g_bytes_unref (it->msg);
  g_free (it);
}

void
gst_p2p_sink_history_reset_locked (GstP2pSink *self)
{
  g_queue_clear_full (&self->history, history_item_free);
  self->history_bytes = 0;
  self->history_next = 0;
  /* a varint holds 62 bits (RFC 9000 variable-length integer) */
  self->history_token = (((guint64) g_random_int () << 32) | g_random_int ()) & ((G_GUINT64_CONSTANT (1) << 62) - 1);
  if (self->history_token == 0)
    self->history_token = 1;
}

/* The number of @msg, sent to every receiver after the current one. */
guint64
gst_p2p_sink_history_add_locked (GstP2pSink *self, GBytes *msg)
{
  guint64 index = self->history_next++;
  gsize max;

  GST_OBJECT_LOCK (self);
  max = self->resume_buffer;
  GST_OBJECT_UNLOCK (self);
  if (max == 0)
    return index;
  {
    HistoryItem *it = g_new (HistoryItem, 1);

    it->index = index;
    it->msg = g_bytes_ref (msg);
    g_queue_push_tail (&self->history, it);
    self->history_bytes += g_bytes_get_size (msg);
  }
  while (self->history_bytes > max && !g_queue_is_empty (&self->history)) {
    HistoryItem *old = g_queue_pop_head (&self->history);

    self->history_bytes -= g_bytes_get_size (old->msg);
    history_item_free (old);
  }
  return index;
}

/* Before @peer gets the frame numbered @index: a STREAM_POSITION first if
 * it takes them and missed the ones before (dropped for a slow receiver). */
void
gst_p2p_sink_peer_position_locked (GstP2pSink *self, SinkPeer *peer, guint64 index)
{
  g_autoptr (GBytes) pos = NULL;

  if (!peer->takes_positions || peer->next_index == index) {
    peer->next_index = index + 1;
    return;
  }
  pos = gst_p2p_media_stream_position_message (self->history_token, index, 0);
  gst_p2p_sink_peer_push_locked (self, peer, pos);
  peer->next_index = index + 1;
}

/* Forgets what @peer has queued and not yet sent (its thread may be
 * sending one: the receiver drops it, it came before the position). */
static void
drop_queued_locked (SinkPeer *peer)
{
  GBytes *msg;

  while ((msg = g_queue_pop_head (&peer->queue))) {
    const guint8 *d = g_bytes_get_data (msg, NULL);

    peer->queued_bytes -= g_bytes_get_size (msg);
    if (g_bytes_get_size (msg) > 0 && d[0] == P2P_FRAME_BUFFER)
      peer->queued_buffers--;
    g_bytes_unref (msg);
  }
}

static gboolean
history_covers_locked (GstP2pSink *self, guint64 index)
{
  HistoryItem *first = g_queue_peek_head (&self->history);

  if (index == self->history_next)
    return TRUE;                /* nothing to send again */
  return first != NULL && index >= first->index && index < self->history_next;
}

/* "resume TOKEN INDEX" from @peer: the frames from INDEX on when the
 * history still has them, else a GAP position and the stream's headers.
 * Returns how many frames it sends again (-1: a gap). */
static gint64
resume_locked (GstP2pSink *self, SinkPeer *peer, guint64 token, guint64 index)
{
  g_autoptr (GBytes) pos = NULL;
  gint64 again = 0;

  drop_queued_locked (peer);
  peer->takes_positions = TRUE;
  if (token == self->history_token && history_covers_locked (self, index)) {
    pos = gst_p2p_media_stream_position_message (token, index, GST_P2P_POSITION_RESUMED);
    gst_p2p_sink_peer_push_locked (self, peer, pos);
    for (GList *l = self->history.head; l; l = l->next) {
      HistoryItem *it = l->data;

      if (it->index < index)
        continue;
      gst_p2p_sink_peer_push_locked (self, peer, it->msg);
      again++;
    }
    peer->next_index = self->history_next;
    return again;
  }
  /* another stream (the sender restarted) or too far back: the receiver
   * hears of the gap and gets the headers again */
  pos = gst_p2p_media_stream_position_message (self->history_token, self->history_next,
      GST_P2P_POSITION_GAP);
  gst_p2p_sink_peer_push_locked (self, peer, pos);
  gst_p2p_sink_peer_push_headers_locked (self, peer);
  /* the headers are not numbered: a plain position after them says where
   * the count goes on, as at a first join (the receiver counted them, and
   * its next resume asked for frames it had not had) */
  g_clear_pointer (&pos, g_bytes_unref);
  pos = gst_p2p_media_stream_position_message (self->history_token, self->history_next, 0);
  gst_p2p_sink_peer_push_locked (self, peer, pos);
  peer->next_index = self->history_next;
  return -1;
}

/* Parses "resume TOKEN INDEX" (TOKEN in hex). */
static gboolean
parse_resume (const guint8 *body, gsize len, guint64 *token, guint64 *index)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) words = NULL;
  char *end = NULL;

  if (len > 64 || memchr (body, '\0', len))
    return FALSE;
  text = g_strndup ((const char *) body, len);
  words = g_strsplit (text, " ", -1);
  if (g_strv_length (words) != 3 || strcmp (words[0], GST_P2P_RESUME_WORD) != 0)
    return FALSE;
  *token = g_ascii_strtoull (words[1], &end, 16);
  if (end == words[1] || *end != '\0')
    return FALSE;
  *index = g_ascii_strtoull (words[2], &end, 10);
  return end != words[2] && *end == '\0';
}

/* One thread per delivery=reliable receiver: reads what the receiver says
 * until its connection ends (a receiver's messages left unread would cost
 * the sender memory); one resume request is taken from a receiver that
 * takes positions (resume-buffer on), the rest is dropped. */
gpointer
gst_p2p_sink_peer_reader_thread (gpointer data)
{
  SinkPeer *peer = data;
  GstP2pSink *self = peer->sink;

  for (;;) {
    g_autoptr (GBytes) msg = NULL;
    guint64 type = 0, token = 0, index = 0;
    const char *event;
    const guint8 *body = NULL;
    gsize body_len = 0, len = 0;
    const guint8 *bytes;
    gint64 again;

    /* (may_resume is set before this thread starts, resumed only here) */
    if (!peer->may_resume || peer->resumed) {
      /* nothing more to take from it: read and drop, without the lock */
      gst_p2p_sink_peer_drain (peer);
      break;
    }
    msg = p2p_connection_receive (peer->conn, peer->cancellable, NULL);
    if (msg == NULL)
      break;
    bytes = g_bytes_get_data (msg, &len);
    if (!gst_p2p_media_split_message (bytes, len, &type, &body, &body_len, NULL)
        || type != P2P_FRAME_MESSAGE || body_len < strlen (GST_P2P_RESUME_WORD)
        || memcmp (body, GST_P2P_RESUME_WORD, strlen (GST_P2P_RESUME_WORD)) != 0)
      continue;
    /* one resume request per connection, well-formed or not: each one
     * walks the history under the sink's lock and sends it again (a flood
     * of them took 1.45 cores and stalled the other receivers for
     * seconds); what comes after it is dropped */
    peer->resumed = TRUE;
    if (!parse_resume (body, body_len, &token, &index)) {
      GST_WARNING_OBJECT (self, "receiver %s sent a malformed resume request (%"
          G_GSIZE_FORMAT " bytes; \"resume TOKEN INDEX\" expected): ignored", peer->peer_id,
          body_len);
      continue;
    }
    g_mutex_lock (&self->lock);
    again = resume_locked (self, peer, token, index);
    if (again >= 0)
      GST_INFO_OBJECT (self, "receiver %s resumes at frame %" G_GUINT64_FORMAT
          ": %" G_GINT64_FORMAT " frames sent again", peer->peer_id, index, again);
    else
      GST_WARNING_OBJECT (self, "receiver %s asked to resume at frame %" G_GUINT64_FORMAT
          " of %s stream, which is gone (resume-buffer): it goes on from frame %"
          G_GUINT64_FORMAT, peer->peer_id, index,
          token == self->history_token ? "this" : "another", self->history_next);
    if (again >= 0)
      self->resumes++;
    event = again >= 0 ? "resumed" : "resume-gap";
    g_mutex_unlock (&self->lock);
    gst_p2p_object_post_connection (self->obj, peer->conn, event);
  }
  g_mutex_lock (&self->lock);
  self->n_threads--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  gst_p2p_sink_peer_unref (peer);
  return NULL;
}
