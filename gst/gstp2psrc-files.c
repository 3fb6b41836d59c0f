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
#include "gstp2psrc-files.h"

#include <string.h>

GST_DEBUG_CATEGORY_EXTERN (gst_p2p_debug);
#define GST_CAT_DEFAULT gst_p2p_debug

/* the first request after a jump, and the largest of a sequential read */
#define BLOCK_MIN (64 * 1024)
#define BLOCK_MAX (1024 * 1024)
/* 8 x 1 MiB: a 50 ms path at 130 Mbit/s needs more than its 0.8 MB
 * bandwidth-delay product while slow start and the window ramp up (4: 100
 * Mbit/s against 131 for HTTP's one range request; 8: 113-114) */
#define WINDOW 8
/* blocks kept after being read: at most RECENT of them, RECENT_BYTES in all */
#define RECENT 4
#define RECENT_BYTES (1024 * 1024)
/* the end of the file, asked for at open */
#define TAIL_LEN (16 * 1024)
/* push mode: the least a buffer carries (unless its block ends first) */
#define PUSH_MIN (4 * 1024)
#define BUSY_RETRIES 10
#define BUSY_WAIT_MS 20
/* a dropped connection: reconnect and resume at the block's offset */
#define RECONNECT_MAX 5
#define RECONNECT_DELAY_MS 500

typedef struct {
  guint64 offset;
  guint64 len;                  /* bytes asked for */
  GIOStream *stream;
  gboolean have_header;         /* header read already (the size query) */
  P2pFileHeader header;
  guint64 consumed;             /* push mode, the block being read: body bytes read */
} Pending;

struct _GstP2pFileReader {
  gint ref_count;
  GstElement *element;
  GstP2pObject *obj;
  char *path;

  GMutex lock;                  /* one getrange at a time; cancel from others */
  /* of the blocking calls; replaced (under both locks) after a flush */
  GCancellable *cancel;
  GMutex cancel_lock;           /* the pointer, for interrupt() and cancel() */
  gboolean stopped;             /* cancel(): no new cancellable (cancel_lock) */
  P2pConnection *conn;
  char *peer;
  /* a connection was made once: only then are failures recovered from (a
   * first dial that fails, a closed port or no route to the peer, is
   * reported at once, not tried 5 times) */
  gboolean ever_connected;
  gboolean have_first;
  P2pFileHeader first;
  /* the block in hand */
  guint64 block_offset;
  GBytes *block;
  GQueue recent;                /* Block*: the blocks read before, newest first */
  GQueue pending;               /* Pending*, in offset order */
  Pending *reading;             /* push mode: the block being read, out of pending */
  Pending *tail;                /* the TAIL request sent at open, until read */
  guint window;                 /* blocks to keep requested ahead, 1..WINDOW */
  guint64 req_len;              /* length of the next request */
  guint reconnects;             /* consecutive attempts */
  gboolean conn_suspect;        /* an error not about the file: not kept (keep-alive) */
  /* GstMessage*: posted once @lock is dropped (a bus sync handler may
   * query this element, which takes @lock) */
  GQueue deferred;
  /* the file's size once known, for queries that must not wait behind a
   * read holding @lock (cancel_lock) */
  gboolean size_known;
  guint64 known_size;
};

typedef struct {
  guint64 offset;
  GBytes *bytes;
} Block;

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
static void
drop_tail (GstP2pFileReader *self)
{
  Pending *p = g_steal_pointer (&self->tail);

  if (p)
    pending_abort (self, p);
}

/* Drops the read-ahead and the block being read (push mode): each
 * request is aborted (the peer stops sending what will not be read) and
 * released. */
static void
drop_window (GstP2pFileReader *self)
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
  drop_tail (self);
  drop_window (self);
  g_queue_clear_full (&self->recent, block_free);
  g_clear_pointer (&self->block, g_bytes_unref);
  if (self->conn) {
    if (self->conn_suspect)
      p2p_connection_close (self->conn, "receiver stopped");
    else
      gst_p2p_object_release_connection (self->obj, self->conn, "receiver stopped");
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

static void
post_error (GstP2pFileReader *self, const GError *err)
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
static void
unlock_and_post (GstP2pFileReader *self)
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
  unlock_and_post (self);
  g_mutex_lock (&self->lock);
}

static gboolean
ensure_conn (GstP2pFileReader *self, GError **error)
{
  /* one lost between reads (a stateless reset from a restarted peer, a
   * timeout) is kept: the next request or read on it fails with the
   * reason, and with_recovery() reconnects, says so, and drops the
   * requests that went with it */
  if (self->conn)
    return TRUE;
  {
    guint timeout = 0;

    /* (a dial to a peer that went silent: connect-timeout, not twice the
     * transport's idle timeout, 60 s a try) */
    g_object_get (self->element, "connect-timeout", &timeout, NULL);
    self->conn = gst_p2p_object_connect (self->obj, timeout, self->cancel, error);
  }
  if (self->conn)
    self->ever_connected = TRUE;
  if (self->conn)
    g_queue_push_tail (&self->deferred,
        gst_p2p_object_connection_message (self->obj, self->conn, "connected"));
  return self->conn != NULL;
}

static gboolean
check_validator (GstP2pFileReader *self, const P2pFileHeader *h, GError **error)
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
      g_autoptr (GDateTime) a = g_date_time_new_from_unix_utc (self->first.mtime_ns
          / G_GUINT64_CONSTANT (1000000000));
      g_autoptr (GDateTime) b = g_date_time_new_from_unix_utc (h->mtime_ns
          / G_GUINT64_CONSTANT (1000000000));
      g_autofree char *ta = a ? g_date_time_format_iso8601 (a) : NULL;
      g_autofree char *tb = b ? g_date_time_format_iso8601 (b) : NULL;

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
  drop_window (self);
  self->window = 1;
  self->req_len = want;
  return fill_window (self, at, error);
}

/* One attempt at a read at @at of up to @want bytes; @out: the read's
 * own result. */
typedef gboolean (*ReadOnce) (GstP2pFileReader *self, guint64 at, guint64 want,
    gpointer out, GError **error);
static gboolean load_block_once (GstP2pFileReader *self, guint64 at, guint64 want,
    gpointer out, GError **error);

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
static gboolean
with_recovery (GstP2pFileReader *self, ReadOnce once, guint64 at, guint64 want, gpointer out,
    GError **error)
{
  for (guint attempt = 1;; attempt++) {
    GError *err = NULL;
    guint delay;

    if (once (self, at, want, out, &err)) {
      self->reconnects = 0;
      return TRUE;
    }
    /* a peer without the file service (capability "files") does not get
     * one by reconnecting, nor does one that refuses our key */
    if (err->domain != P2P_FILE_ERROR && self->ever_connected
        && !g_cancellable_is_cancelled (self->cancel)
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
      drop_window (self);
      drop_tail (self);
      self->window = 1;
      if (self->conn) {
        p2p_connection_close (self->conn, "reconnecting");
        g_clear_object (&self->conn);
      }
      post_deferred_now (self);
      reader_wait_ms (self, delay);
      if (!ensure_conn (self, &err)) {
        if (self->reconnects >= RECONNECT_MAX || g_cancellable_is_cancelled (self->cancel)) {
          g_propagate_error (error, err);
          return FALSE;
        }
        g_clear_error (&err);
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
    drop_window (self);
    self->window = 1;
    /* a flushing seek or a state change ends the wait (the next attempt
     * then fails as cancelled) */
    reader_wait_ms (self, BUSY_WAIT_MS * attempt);
  }
}

/* Reads the header of the pending block @p, once. */
static gboolean
pending_header (GstP2pFileReader *self, Pending *p, GError **error)
{
  if (p->have_header)
    return TRUE;
  if (!p2p_file_client_read_header (p->stream, &p->header, self->cancel, error)
      || !check_validator (self, &p->header, error))
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

  if (!ensure_conn (self, error))
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

  if (!ensure_conn (self, error))
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
  drop_tail (self);
}

/* The size query's attempt: the first block's answer gives the size (and
 * its bytes are on the way for the first read); the end of the file comes
 * with it. */
static gboolean
size_once (GstP2pFileReader *self, guint64 at, guint64 want, gpointer out, GError **error)
{
  if (!ensure_conn (self, error) || !restart_window (self, 0, BLOCK_MIN, error))
    return FALSE;
  drop_tail (self);
  request_tail (self);
  if (!pending_header (self, g_queue_peek_head (&self->pending), error)) {
    drop_window (self);
    drop_tail (self);
    return FALSE;
  }
  return TRUE;
}

static gboolean
get_size_locked (GstP2pFileReader *self, guint64 *size, GError **error)
{
  if (!self->have_first && !with_recovery (self, size_once, 0, BLOCK_MIN, NULL, error))
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
  unlock_and_post (self);
  if (!ok)
    post_error (self, error);
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
  if (!with_recovery (self, load_block_once, at, want, NULL, error))
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
    return GST_FLOW_FLUSHING;
  post_error (self, error);
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
  g_mutex_lock (&self->lock);
  if (!get_size_locked (self, &size, &error))
    goto failed;
  if (offset >= size) {
    unlock_and_post (self);
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
  unlock_and_post (self);
  GST_BUFFER_OFFSET (out) = offset;
  GST_BUFFER_OFFSET_END (out) = end;
  *buffer = out;
  return GST_FLOW_OK;

failed:
  unlock_and_post (self);
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
    unlock_and_post (self);
    return GST_FLOW_EOS;
  }
  if (block_kept_at (self, offset, size)) {
    /* a kept block (the TAIL answer): its bytes from @offset */
    gsize from = offset - self->block_offset;

    bytes = g_bytes_new_from_bytes (self->block, from,
        MIN (max, g_bytes_get_size (self->block) - from));
  } else if (!with_recovery (self, stream_once, offset, max, &bytes, &error)) {
    goto failed;
  }
  unlock_and_post (self);
  *buffer = gst_buffer_new_wrapped_bytes (bytes);
  g_bytes_unref (bytes);
  GST_BUFFER_OFFSET (*buffer) = offset;
  GST_BUFFER_OFFSET_END (*buffer) = offset + gst_buffer_get_size (*buffer);
  return GST_FLOW_OK;

failed:
  unlock_and_post (self);
  return read_failed (self, error);
}
