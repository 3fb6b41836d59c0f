/* gstp2psrc-files.c: p2psrc's random-access mode (issue 13): reads one
 * file of a peer's P2pFileService by ranges (docs/protocol.md section 8).
 *
 * The file is read in blocks, each one GET on its own QUIC stream. Up to
 * WINDOW blocks after the one being read are requested ahead (their answers
 * arrive into the streams' buffers while the pipeline works), so a
 * sequential read does not wait one round trip per block. After a jump the
 * window is one block of BLOCK_MIN bytes (or the read's length); each block
 * read in sequence widens the window by one and each new request doubles
 * in size up to BLOCK_MAX, so the short reads and jumps of typefind and of
 * a parser's seek cost little while a sequential read streams. A read
 * outside the block in hand and the window drops the window (a seek): its
 * streams are released and their remaining bytes discarded. The last
 * RECENT blocks read (RECENT_BYTES at most) are kept: typefind and demuxers jump back and forth
 * (start, end, start, index, start) and each return to a block kept costs
 * no round trip. The size query
 * asks for the first block, whose answer's header gives the size, so the
 * first read does not wait another round trip; beside it, a TAIL request
 * asks for the last TAIL_LEN bytes, where typefinders and demuxers look
 * next (ID3v1 and APE tags, an MP4 index, Ogg's last page for the
 * duration), so that jump costs no round trip either. Every
 * answer's validator (size, mtime, inode) must equal the first one's, else
 * the file changed and the read fails. In push mode the blocks are read
 * as they arrive (gst_p2p_file_reader_read: at least PUSH_MIN bytes a
 * buffer), so the first buffer leaves before its block is whole. Errors
 * are element errors naming the path and the peer.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psrc-files-private.h"

#include <string.h>

GST_DEBUG_CATEGORY_EXTERN (gst_p2p_debug);
#define GST_CAT_DEFAULT gst_p2p_debug


static void
block_free (gpointer data)
{
  Block *b = data;

  g_bytes_unref (b->bytes);
  g_free (b);
}

/* The block in hand joins the recent ones (the oldest goes beyond RECENT). */
static void
keep_block (GstP2pFileReader *self)
{
  Block *b;

  if (self->block == NULL)
    return;
  b = g_new0 (Block, 1);
  b->offset = self->block_offset;
  b->bytes = g_steal_pointer (&self->block);
  g_queue_push_head (&self->recent, b);
  for (;;) {
    gsize bytes = 0;

    for (GList *l = self->recent.head; l; l = l->next)
      bytes += g_bytes_get_size (((Block *) l->data)->bytes);
    if (self->recent.length <= RECENT && bytes <= RECENT_BYTES)
      break;
    block_free (g_queue_pop_tail (&self->recent));
  }
}

/* Makes a recent block holding offset @at the block in hand. */
static gboolean
take_recent (GstP2pFileReader *self, guint64 at)
{
  for (GList *l = self->recent.head; l; l = l->next) {
    Block *b = l->data;

    if (at >= b->offset && at < b->offset + g_bytes_get_size (b->bytes)) {
      GBytes *bytes = g_bytes_ref (b->bytes);
      guint64 offset = b->offset;

      g_queue_delete_link (&self->recent, l);
      block_free (b);
      keep_block (self);
      self->block = bytes;
      self->block_offset = offset;
      GST_LOG_OBJECT (self->element, "offset %" G_GUINT64_FORMAT " in a kept block", at);
      return TRUE;
    }
  }
  return FALSE;
}

static void
pending_free (gpointer data)
{
  Pending *p = data;

  g_clear_object (&p->stream);
  g_free (p);
}

/* Drops request @p: the peer is told to stop sending its answer (the
 * connection may serve the next p2psrc, keep-alive) and it is released. */
static void
pending_abort (GstP2pFileReader *self, Pending *p)
{
  if (self->conn && p->stream)
    p2p_connection_abort_stream (self->conn, p->stream);
  pending_free (p);
}

/* Drops the TAIL request, unread or read. */
void
gst_p2p_file_reader_drop_tail (GstP2pFileReader *self)
{
  Pending *p = g_steal_pointer (&self->tail);

  if (p)
    pending_abort (self, p);
}

/* Drops the read-ahead and the block being read (push mode): each
 * request is aborted (the peer stops sending what will not be read) and
 * released. */
void
gst_p2p_file_reader_drop_window (GstP2pFileReader *self)
{
  Pending *p;

  if (self->reading)
    pending_abort (self, g_steal_pointer (&self->reading));
  while ((p = g_queue_pop_head (&self->pending)) != NULL)
    pending_abort (self, p);
}

GstP2pFileReader *
gst_p2p_file_reader_new (GstElement *element, GstP2pObject *obj, const char *path)
{
  GstP2pFileReader *self = g_new0 (GstP2pFileReader, 1);

  self->ref_count = 1;
  self->element = element;
  self->obj = obj;
  self->path = g_strdup (path);
  self->cancel = g_cancellable_new ();
  self->peer = gst_p2p_object_dup_peer (obj);
  g_mutex_init (&self->lock);
  g_mutex_init (&self->cancel_lock);
  g_queue_init (&self->pending);
  g_queue_init (&self->recent);
  return self;
}

void
gst_p2p_file_reader_cancel (GstP2pFileReader *self)
{
  g_mutex_lock (&self->cancel_lock);
  self->stopped = TRUE;
  g_cancellable_cancel (self->cancel);
  g_mutex_unlock (&self->cancel_lock);
}

void
gst_p2p_file_reader_interrupt (GstP2pFileReader *self)
{
  g_mutex_lock (&self->cancel_lock);
  g_cancellable_cancel (self->cancel);
  g_mutex_unlock (&self->cancel_lock);
}

void
gst_p2p_file_reader_end (GstP2pFileReader *self, guint32 seqnum)
{
  g_mutex_lock (&self->cancel_lock);
  self->ended = TRUE;
  self->eos_seqnum = seqnum;
  g_cancellable_cancel (self->cancel);
  g_mutex_unlock (&self->cancel_lock);
}

gboolean
gst_p2p_file_reader_ended (GstP2pFileReader *self, guint32 *seqnum)
{
  gboolean ended;

  g_mutex_lock (&self->cancel_lock);
  ended = self->ended;
  if (seqnum)
    *seqnum = self->eos_seqnum;
  g_mutex_unlock (&self->cancel_lock);
  return ended;
}

gboolean
gst_p2p_file_reader_is_stopped (GstP2pFileReader *self)
{
  gboolean stopped;

  g_mutex_lock (&self->cancel_lock);
  stopped = self->stopped;
  g_mutex_unlock (&self->cancel_lock);
  return stopped;
}

void
gst_p2p_file_reader_resume (GstP2pFileReader *self)
{
  /* the reader's lock: no call is using the cancellable now */
  g_mutex_lock (&self->lock);
  g_mutex_lock (&self->cancel_lock);
  self->ended = FALSE;
  if (!self->stopped && g_cancellable_is_cancelled (self->cancel)) {
    g_object_unref (self->cancel);
    self->cancel = g_cancellable_new ();
  }
  g_mutex_unlock (&self->cancel_lock);
  g_mutex_unlock (&self->lock);
}

GstP2pFileReader *
gst_p2p_file_reader_ref (GstP2pFileReader *self)
{
  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
gst_p2p_file_reader_unref (GstP2pFileReader *self)
{
  if (!self || !g_atomic_int_dec_and_test (&self->ref_count))
    return;
  /* what is still on its way is aborted: a connection kept for the next
   * p2psrc (keep-alive) carries nothing of this one's */
  gst_p2p_file_reader_drop_tail (self);
  gst_p2p_file_reader_drop_window (self);
  g_queue_clear_full (&self->recent, block_free);
  g_clear_pointer (&self->block, g_bytes_unref);
  if (self->conn) {
    gboolean kept = FALSE;

    if (self->conn_suspect)
      p2p_connection_close (self->conn, "receiver stopped");
    else
      kept = gst_p2p_object_release_connection (self->obj, self->conn, "receiver stopped");
    /* every "connected" gets its "disconnected", as in the stream mode */
    if (self->conn_said)
      gst_element_post_message (self->element, gst_p2p_file_reader_disconnected_message (self,
            kept ? "receiver stopped (the connection is kept for the next p2psrc: "
            "keep-alive)" : "receiver stopped"));
    g_object_unref (self->conn);
  }
  g_queue_clear_full (&self->deferred, (GDestroyNotify) gst_message_unref);
  g_object_unref (self->cancel);
  g_free (self->path);
  g_free (self->peer);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->cancel_lock);
  g_free (self);
}

/* Requests the blocks after the last pending one (or from @from) until
 * the window is in flight, each twice the previous one's size up to
 * BLOCK_MAX. */
static gboolean
fill_window (GstP2pFileReader *self, guint64 from, GError **error)
{
  guint64 next = from;
  Pending *last = g_queue_peek_tail (&self->pending);

  if (last)
    next = last->offset + last->len;
  while (self->pending.length < MAX (self->window, 1)
      && (!self->have_first || next < self->first.size)) {
    Pending *p = g_new0 (Pending, 1);

    p->offset = next;
    p->len = CLAMP (self->req_len, BLOCK_MIN, BLOCK_MAX);
    p->stream = p2p_file_client_send_request (self->conn, P2P_FILE_REQUEST_GET, self->path,
        next, p->len, self->cancel, error);
    if (!p->stream) {
      g_free (p);
      return FALSE;
    }
    GST_LOG_OBJECT (self->element, "GET %" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT,
        p->len, p->offset);
    g_queue_push_tail (&self->pending, p);
    next += p->len;
    self->req_len = MIN (p->len * 2, BLOCK_MAX);
  }
  return TRUE;
}

/* Drops the window and asks for @want bytes (BLOCK_MIN..BLOCK_MAX) at @at
 * alone: after a jump, or for the first block. */
static gboolean
restart_window (GstP2pFileReader *self, guint64 at, guint64 want, GError **error)
{
  gst_p2p_file_reader_drop_window (self);
  self->window = 1;
  self->req_len = want;
  return fill_window (self, at, error);
}

/* Reads the header of the pending block @p, once. */
static gboolean
pending_header (GstP2pFileReader *self, Pending *p, GError **error)
{
  gboolean answered;

  if (p->have_header)
    return TRUE;
  answered = p2p_file_client_read_header (p->stream, &p->header, self->cancel, error);
  /* an answer, also an error status: the peer took the connection */
  if (answered || (error && *error && (*error)->domain == P2P_FILE_ERROR))
    gst_p2p_file_reader_say_connected (self);
  /* "past the end" of a file that was longer when its reading began: it
   * shrank meanwhile (the RANGE answer carries no size to compare) */
  if (!answered && error && g_error_matches (*error, P2P_FILE_ERROR, P2P_FILE_STATUS_RANGE)
      && self->have_first && p->offset < self->first.size) {
    g_clear_error (error);
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_CHANGED,
        "the file changed on the peer while being read (it is now shorter than %"
        G_GUINT64_FORMAT " bytes, its size when reading began: %" G_GUINT64_FORMAT ")",
        p->offset, self->first.size);
  }
  if (!answered || !gst_p2p_file_reader_check_validator (self, &p->header, error))
    return FALSE;
  if (p->header.body_len > p->len) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
        "the peer answered %" G_GUINT64_FORMAT " bytes for a block of %" G_GUINT64_FORMAT,
        p->header.body_len, p->len);
    return FALSE;
  }
  p->have_header = TRUE;
  return TRUE;
}

/* Makes a block holding offset @at (and up to @want bytes from there, if
 * a new request is needed) the block in hand. */
static gboolean
load_block_once (GstP2pFileReader *self, guint64 at, guint64 want, gpointer out,
    GError **error)
{
  Pending *p;
  P2pFileHeader h;
  guint8 *buf;
  gsize got = 0;
  guint64 start, next, from;

  if (!gst_p2p_file_reader_ensure_conn (self, error))
    return FALSE;
  p = g_queue_peek_head (&self->pending);

  if (!p || at < p->offset || at >= p->offset + p->len) {
    GST_DEBUG_OBJECT (self->element, "jump to %" G_GUINT64_FORMAT ": read-ahead dropped", at);
    /* after a jump only the bytes wanted, from a BLOCK_MIN boundary (the
     * reads of typefind and parsers near one place share it): they jump
     * around (end of file, index) and every dropped request still costs
     * its bytes */
    from = at - at % BLOCK_MIN;
    if (!restart_window (self, from, at + want - from, error))
      return FALSE;
    p = g_queue_peek_head (&self->pending);
  }
  g_queue_pop_head (&self->pending);
  if (!pending_header (self, p, error)) {
    pending_abort (self, p);
    return FALSE;
  }
  h = p->header;
  start = p->offset;
  next = p->offset + p->len;
  buf = g_malloc (MAX (h.body_len, 1));
  if (!g_input_stream_read_all (g_io_stream_get_input_stream (p->stream), buf, h.body_len,
          &got, self->cancel, error)) {
    g_free (buf);
    pending_abort (self, p);
    return FALSE;
  }
  pending_free (p);
  if (got < h.body_len) {
    g_free (buf);
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
        "the answer ended after %" G_GSIZE_FORMAT " of %" G_GUINT64_FORMAT " bytes", got,
        h.body_len);
    return FALSE;
  }
  keep_block (self);
  self->block = g_bytes_new_take (buf, got);
  self->block_offset = start;
  /* a sequential read: widen the read-ahead, one block per block read */
  self->window = MIN (self->window + 1, WINDOW);
  return fill_window (self, next, error);
}

/* Push mode: reads up to @want bytes at @at from the block being read,
 * as many as have arrived but at least PUSH_MIN (or the block's rest), into
 * the GBytes at @out. The reads go on where the last one stopped; any
 * other offset is a jump (a seek): the read-ahead is dropped and a block
 * asked for from @at. */
static gboolean
stream_once (GstP2pFileReader *self, guint64 at, guint64 want, gpointer out, GError **error)
{
  g_autoptr (GError) err = NULL;
  GBytes **bytes = out;
  Pending *p = self->reading;
  guint64 left, n;
  guint8 *buf;
  gsize got = 0;

  if (!gst_p2p_file_reader_ensure_conn (self, error))
    return FALSE;
  if (!p || at != p->offset + p->consumed) {
    Pending *head = g_queue_peek_head (&self->pending);

    if (!head || head->offset != at) {
      GST_DEBUG_OBJECT (self->element, "jump to %" G_GUINT64_FORMAT ": read-ahead dropped", at);
      if (!restart_window (self, at, BLOCK_MIN, error))
        return FALSE;
    } else if (self->reading) {
      pending_abort (self, g_steal_pointer (&self->reading));
    }
    self->reading = p = g_queue_pop_head (&self->pending);
  }
  if (!pending_header (self, p, error))
    return FALSE;
  left = p->header.body_len - p->consumed;
  if (left == 0) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
        "the peer answered no bytes at %" G_GUINT64_FORMAT, at);
    return FALSE;
  }
  n = MIN (want, left);
  buf = g_malloc (n);
  while (got < MIN (n, PUSH_MIN)) {
    gssize r = g_input_stream_read (g_io_stream_get_input_stream (p->stream), buf + got,
        n - got, self->cancel, error);

    if (r <= 0) {
      g_free (buf);
      if (r == 0)
        g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
            "the answer ended after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes",
            p->consumed + got, p->header.body_len);
      /* what was read of it is gone with buf: the block is not read on */
      pending_abort (self, g_steal_pointer (&self->reading));
      return FALSE;
    }
    got += r;
  }
  p->consumed += got;
  /* a short read does not pin a whole chunk downstream */
  if (got < n / 2)
    buf = g_realloc (buf, got);
  *bytes = g_bytes_new_take (buf, got);
  if (p->consumed < p->header.body_len)
    return TRUE;
  /* the block is read: widen the read-ahead, as a sequential pull does (a
   * failed request is asked again by the next read, which reports it) */
  at = p->offset + p->len;
  pending_free (g_steal_pointer (&self->reading));
  self->window = MIN (self->window + 1, WINDOW);
  if (!fill_window (self, at, &err))
    GST_DEBUG_OBJECT (self->element, "read-ahead not sent: %s", err->message);
  return TRUE;
}

/* Sends the TAIL request (the last TAIL_LEN bytes). Best effort: without
 * it (a failure, a server that does not know TAIL) a read there is an
 * ordinary jump. */
static void
request_tail (GstP2pFileReader *self)
{
  g_autoptr (GError) err = NULL;
  Pending *p = g_new0 (Pending, 1);

  p->len = TAIL_LEN;
  p->stream = p2p_file_client_send_request (self->conn, P2P_FILE_REQUEST_TAIL, self->path, 0,
      TAIL_LEN, self->cancel, &err);
  if (!p->stream) {
    GST_DEBUG_OBJECT (self->element, "no TAIL request: %s", err->message);
    g_free (p);
    return;
  }
  GST_LOG_OBJECT (self->element, "TAIL %u bytes", TAIL_LEN);
  self->tail = p;
}

/* A read at @at, in the last TAIL_LEN bytes, while the TAIL answer is
 * unread: reads it into a kept block (take_recent finds it). On failure
 * (an old server answers BAD_REQUEST) the read goes the usual way. */
static void
use_tail (GstP2pFileReader *self, guint64 at)
{
  g_autoptr (GError) err = NULL;
  Pending *p = self->tail;
  guint8 *buf = NULL;
  gsize got = 0;
  Block *b;

  /* (a body longer than the file would put the block before offset 0) */
  if (pending_header (self, p, &err) && p->header.body_len <= self->first.size) {
    buf = g_malloc (MAX (p->header.body_len, 1));
    if (g_input_stream_read_all (g_io_stream_get_input_stream (p->stream), buf,
            p->header.body_len, &got, self->cancel, &err) && got == p->header.body_len) {
      b = g_new0 (Block, 1);
      b->offset = self->first.size - got;
      b->bytes = g_bytes_new_take (g_steal_pointer (&buf), got);
      GST_LOG_OBJECT (self->element, "TAIL answer: %" G_GSIZE_FORMAT " bytes at %"
          G_GUINT64_FORMAT " (read at %" G_GUINT64_FORMAT ")", got, b->offset, at);
      g_queue_push_tail (&self->recent, b);
    }
  }
  if (err)
    GST_DEBUG_OBJECT (self->element, "TAIL answer not used: %s", err->message);
  g_free (buf);
  gst_p2p_file_reader_drop_tail (self);
}

/* The size query's attempt: the first block's answer gives the size (and
 * its bytes are on the way for the first read); the end of the file comes
 * with it. */
static gboolean
size_once (GstP2pFileReader *self, guint64 at, guint64 want, gpointer out, GError **error)
{
  if (!gst_p2p_file_reader_ensure_conn (self, error) || !restart_window (self, 0, BLOCK_MIN, error))
    return FALSE;
  gst_p2p_file_reader_drop_tail (self);
  request_tail (self);
  if (!pending_header (self, g_queue_peek_head (&self->pending), error)) {
    gst_p2p_file_reader_drop_window (self);
    gst_p2p_file_reader_drop_tail (self);
    return FALSE;
  }
  return TRUE;
}

static gboolean
get_size_locked (GstP2pFileReader *self, guint64 *size, GError **error)
{
  if (!self->have_first && !gst_p2p_file_reader_with_recovery (self, size_once, 0, BLOCK_MIN, NULL, error))
    return FALSE;
  *size = self->first.size;
  return TRUE;
}

gboolean
gst_p2p_file_reader_get_size (GstP2pFileReader *self, guint64 *size)
{
  g_autoptr (GError) error = NULL;
  gboolean ok;

  /* known: at once, even while a read waits for the network */
  g_mutex_lock (&self->cancel_lock);
  ok = self->size_known;
  *size = self->known_size;
  g_mutex_unlock (&self->cancel_lock);
  if (ok)
    return TRUE;
  g_mutex_lock (&self->lock);
  ok = get_size_locked (self, size, &error);
  gst_p2p_file_reader_unlock_and_post (self);
  if (!ok)
    gst_p2p_file_reader_post_error (self, error);
  return ok;
}

/* Makes a block already here that holds @at the block in hand: the one
 * in hand, or a kept one (the TAIL answer among them). No request. */
static gboolean
block_kept_at (GstP2pFileReader *self, guint64 at, guint64 size)
{
  if (self->block && at >= self->block_offset
      && at < self->block_offset + g_bytes_get_size (self->block))
    return TRUE;
  if (self->tail && at + TAIL_LEN >= size)
    use_tail (self, at);
  return take_recent (self, at);
}

/* Makes the block holding @at the block in hand: a kept one, else a
 * request of up to @want bytes from there (pull mode). */
static gboolean
hold_block_at (GstP2pFileReader *self, guint64 at, guint64 want, guint64 size, GError **error)
{
  if (block_kept_at (self, at, size))
    return TRUE;
  if (!gst_p2p_file_reader_with_recovery (self, load_block_once, at, want, NULL, error))
    return FALSE;
  if (g_bytes_get_size (self->block) <= at - self->block_offset) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
        "short block at %" G_GUINT64_FORMAT, at);
    return FALSE;
  }
  return TRUE;
}

/* A read's failure as a flow return: FLUSHING when cancelled, else an
 * element error is posted. */
static GstFlowReturn
read_failed (GstP2pFileReader *self, const GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return gst_p2p_file_reader_ended (self, NULL) ? GST_FLOW_EOS : GST_FLOW_FLUSHING;
  gst_p2p_file_reader_post_error (self, error);
  return GST_FLOW_ERROR;
}

GstFlowReturn
gst_p2p_file_reader_get_range (GstP2pFileReader *self, guint64 offset, guint length,
    GstBuffer **buffer)
{
  g_autoptr (GError) error = NULL;
  GstBuffer *out = NULL;
  GstMapInfo map;
  guint64 size, end;
  gsize done = 0;

  GST_LOG_OBJECT (self->element, "read %u bytes at %" G_GUINT64_FORMAT, length, offset);
  if (gst_p2p_file_reader_ended (self, NULL)) {
    GST_DEBUG_OBJECT (self->element, "the application's EOS: no more reads");
    return GST_FLOW_EOS;
  }
  g_mutex_lock (&self->lock);
  if (!get_size_locked (self, &size, &error))
    goto failed;
  if (offset >= size) {
    gst_p2p_file_reader_unlock_and_post (self);
    return GST_FLOW_EOS;
  }
  end = MIN (size, offset + length);
  /* a caller's buffer is filled in place (GstPadGetRangeFunction contract) */
  if (*buffer) {
    out = *buffer;
    if (gst_buffer_get_size (out) < end - offset)
      end = offset + gst_buffer_get_size (out);
    gst_buffer_set_size (out, end - offset);
  } else {
    if (!hold_block_at (self, offset, end - offset, size, &error))
      goto failed;
    if (end <= self->block_offset + g_bytes_get_size (self->block)) {
      /* within one block (flacparse's 64 KiB reads of 1 MiB blocks): a
       * view of it, no copy */
      g_autoptr (GBytes) part = g_bytes_new_from_bytes (self->block,
          offset - self->block_offset, end - offset);

      out = gst_buffer_new_wrapped_bytes (part);
      goto done;
    }
    out = gst_buffer_new_allocate (NULL, end - offset, NULL);
  }
  gst_buffer_map (out, &map, GST_MAP_WRITE);
  while (offset + done < end) {
    guint64 at = offset + done;
    gsize blen;
    const guint8 *b;

    if (!hold_block_at (self, at, end - at, size, &error)) {
      gst_buffer_unmap (out, &map);
      goto failed;
    }
    b = g_bytes_get_data (self->block, &blen);
    {
      gsize from = at - self->block_offset;
      gsize n = MIN (blen - from, end - at);

      memcpy (map.data + done, b + from, n);
      done += n;
    }
  }
  gst_buffer_unmap (out, &map);
done:
  gst_p2p_file_reader_unlock_and_post (self);
  GST_BUFFER_OFFSET (out) = offset;
  GST_BUFFER_OFFSET_END (out) = end;
  *buffer = out;
  return GST_FLOW_OK;

failed:
  gst_p2p_file_reader_unlock_and_post (self);
  if (out && out != *buffer)
    gst_buffer_unref (out);
  return read_failed (self, error);
}

GstFlowReturn
gst_p2p_file_reader_read (GstP2pFileReader *self, guint64 offset, guint max,
    GstBuffer **buffer)
{
  g_autoptr (GError) error = NULL;
  GBytes *bytes = NULL;
  guint64 size;

  g_mutex_lock (&self->lock);
  if (!get_size_locked (self, &size, &error))
    goto failed;
  if (offset >= size) {
    gst_p2p_file_reader_unlock_and_post (self);
    return GST_FLOW_EOS;
  }
  if (block_kept_at (self, offset, size)) {
    /* a kept block (the TAIL answer): its bytes from @offset */
    gsize from = offset - self->block_offset;

    bytes = g_bytes_new_from_bytes (self->block, from,
        MIN (max, g_bytes_get_size (self->block) - from));
  } else if (!gst_p2p_file_reader_with_recovery (self, stream_once, offset, max, &bytes, &error)) {
    goto failed;
  }
  gst_p2p_file_reader_unlock_and_post (self);
  *buffer = gst_buffer_new_wrapped_bytes (bytes);
  g_bytes_unref (bytes);
  GST_BUFFER_OFFSET (*buffer) = offset;
  GST_BUFFER_OFFSET_END (*buffer) = offset + gst_buffer_get_size (*buffer);
  return GST_FLOW_OK;

failed:
  gst_p2p_file_reader_unlock_and_post (self);
  return read_failed (self, error);
}
