/* p2p-file-answer.c: the answers of a P2pFileService: error answers, GET
 * (a range of a regular file, read ahead of the stream within the open
 * files limit) and LIST (a directory's entries, sorted by name).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-file-service-private.h"
#include "p2p-file-protocol-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#define MAX_LIST_ENTRIES 65536
/* and at most this many bytes of names (a LIST holds its sorted names) */
#define MAX_LIST_NAME_BYTES (4 * 1024 * 1024)
/* a LIST answer is written in chunks of about this size */
#define LIST_CHUNK (64 * 1024)
/* free chunk buffers kept (2 MiB at the default read-ahead) */
#define POOL_MAX_FREE 16

/* ---- chunk buffers ---- */

struct _P2pChunkPool {
  gint ref_count;
  GMutex lock;
  gsize size;                   /* of the buffers in free */
  GPtrArray *free;              /* guint8[size] */
};

typedef struct {
  P2pChunkPool *pool;           /* ref */
  guint8 *buf;
  gsize size;
} Chunk;

P2pChunkPool *
p2p_chunk_pool_new (void)
{
  P2pChunkPool *pool = g_new0 (P2pChunkPool, 1);

  pool->ref_count = 1;
  g_mutex_init (&pool->lock);
  pool->free = g_ptr_array_new_with_free_func (g_free);
  return pool;
}

void
p2p_chunk_pool_unref (P2pChunkPool *pool)
{
  if (pool == NULL || !g_atomic_int_dec_and_test (&pool->ref_count))
    return;
  g_ptr_array_unref (pool->free);
  g_mutex_clear (&pool->lock);
  g_free (pool);
}

static void
chunk_release (gpointer data)
{
  Chunk *c = data;
  P2pChunkPool *pool = c->pool;

  g_mutex_lock (&pool->lock);
  if (c->size == pool->size && pool->free->len < POOL_MAX_FREE) {
    g_ptr_array_add (pool->free, c->buf);
    c->buf = NULL;
  }
  g_mutex_unlock (&pool->lock);
  g_free (c->buf);
  p2p_chunk_pool_unref (pool);
  g_free (c);
}

GBytes *
p2p_chunk_pool_read (P2pChunkPool *pool, gsize size, gsize want,
    gssize (*fill) (guint8 *buf, gsize len, gpointer data), gpointer data, gssize *got)
{
  Chunk *c = g_new0 (Chunk, 1);

  want = MIN (want, size);
  c->size = want;
  g_mutex_lock (&pool->lock);
  if (pool->size != size) {
    /* read-ahead changed: the old size is not taken again */
    g_ptr_array_set_size (pool->free, 0);
    pool->size = size;
  }
  if (want == size && pool->free->len > 0)
    c->buf = g_ptr_array_steal_index_fast (pool->free, pool->free->len - 1);
  g_mutex_unlock (&pool->lock);
  if (c->buf == NULL)
    c->buf = g_malloc (want);
  c->pool = pool;
  g_atomic_int_inc (&pool->ref_count);
  *got = fill (c->buf, want, data);
  if (*got <= 0) {
    chunk_release (c);
    return NULL;
  }
  return g_bytes_new_with_free_func (c->buf, *got, chunk_release, c);
}

typedef struct {
  int fd;
  off_t pos;
  int err;                      /* errno of a failed pread */
} PreadArgs;

static gssize
pread_fill (guint8 *buf, gsize len, gpointer data)
{
  PreadArgs *a = data;
  gssize r = pread (a->fd, buf, len, a->pos);

  a->err = r < 0 ? errno : 0;
  return r;
}

/* ---- answers ---- */

static gboolean
write_header (GOutputStream *out, const P2pFileHeader *hdr, GCancellable *cancel,
    GError **error)
{
  guint8 buf[P2P_FILE_HEADER_SIZE];

  p2p_file_header_encode (hdr, buf);
  return g_output_stream_write_all (out, buf, sizeof buf, NULL, cancel, error);
}

/* The length of @text cut to at most @max bytes at a character boundary
 * (the text must stay UTF-8, docs/protocol.md 8.2). */
static gsize
utf8_prefix_len (const char *text, gsize max)
{
  gsize len = strlen (text);
  const char *end;

  if (len <= max)
    return len;
  end = text + max;
  /* back off over continuation bytes to the start of the cut character */
  while (end > text && (((guchar) *end) & 0xc0) == 0x80)
    end--;
  return (gsize) (end - text);
}

/* TRUE: the whole answer went and the stream ended with its FIN. */
gboolean
p2p_file_answer_error (GIOStream *stream, P2pFileRequestKind kind, P2pFileStatus status,
    const char *text, GCancellable *cancel)
{
  GOutputStream *out = g_io_stream_get_output_stream (stream);
  P2pFileHeader hdr = { 0 };
  gsize len = utf8_prefix_len (text, P2P_FILE_MAX_MESSAGE);

  hdr.status = status;
  hdr.kind = kind;
  hdr.body_len = len;
  return write_header (out, &hdr, cancel, NULL)
      && g_output_stream_write_all (out, text, len, NULL, cancel, NULL)
      && g_output_stream_close (out, cancel, NULL);
}

static guint64
mtime_ns (const struct stat *st)
{
  return (guint64) st->st_mtim.tv_sec * G_GUINT64_CONSTANT (1000000000) + st->st_mtim.tv_nsec;
}

/* ---- GET and TAIL ---- */

void
p2p_file_serve_get (Request *r, const char *path, P2pFileRequestKind kind, guint64 offset,
    guint64 length)
{
  P2pFileService *self = r->service;
  GOutputStream *out = g_io_stream_get_output_stream (r->stream);
  g_autofree char *text = NULL;
  P2pFileStatus status;
  P2pFileHeader hdr = { 0 };
  struct stat st;
  guint64 left, pos;
  gboolean have_slot;
  int fd;

  g_mutex_lock (&self->lock);
  have_slot = self->open_files < self->max_open_files;
  if (have_slot)
    self->open_files++;
  g_mutex_unlock (&self->lock);
  if (!have_slot) {
    text = g_strdup_printf ("the server has %u files open, its limit: retry later",
        self->max_open_files);
    r->answered = p2p_file_answer_error (r->stream, kind, P2P_FILE_STATUS_TOO_MANY_REQUESTS,
        text, r->cancel);
    return;
  }
  fd = p2p_file_service_open_below_root (self, path, FALSE, &st, &status, &text);
  if (fd < 0) {
    r->answered = p2p_file_answer_error (r->stream, kind, status, text, r->cancel);
    goto out;
  }
  if (kind == P2P_FILE_REQUEST_TAIL)
    offset = (guint64) st.st_size - MIN (length, (guint64) st.st_size);
  if (offset > (guint64) st.st_size) {
    g_free (text);
    text = g_strdup_printf ("offset %" G_GUINT64_FORMAT " is past the end of \"%s\" (%"
        G_GUINT64_FORMAT " bytes)", offset, path, (guint64) st.st_size);
    r->answered = p2p_file_answer_error (r->stream, P2P_FILE_REQUEST_GET,
        P2P_FILE_STATUS_RANGE, text, r->cancel);
    goto out;
  }
  hdr.status = P2P_FILE_STATUS_OK;
  hdr.kind = kind;
  hdr.size = st.st_size;
  hdr.mtime_ns = mtime_ns (&st);
  hdr.file_id = st.st_ino;
  hdr.body_len = MIN (length, (guint64) st.st_size - offset);
  if (!write_header (out, &hdr, r->cancel, NULL))
    goto out;
  left = hdr.body_len;
  pos = offset;
  while (left > 0) {
    gsize ra = self->read_ahead, want = MIN (left, ra);
    g_autoptr (GBytes) chunk = NULL;
    PreadArgs a = { fd, (off_t) pos, 0 };
    gssize got;

    /* each chunk is read into a buffer of its own (a full one from the
     * pool), which the stream then sends from (no copy on QUIC) */
    chunk = p2p_chunk_pool_read (self->chunks, ra, want, pread_fill, &a, &got);
    if (got < 0 && a.err == EINTR)
      continue;
    if (chunk == NULL) {
      /* cut short: the client sees fewer bytes than body_len */
      g_debug ("file service: reading \"%s\" at %" G_GUINT64_FORMAT ": %s", path, pos,
          got < 0 ? g_strerror (a.err) : "end of file (it shrank)");
      break;
    }
    if (!p2p_connection_write_stream_bytes (r->conn, r->stream, chunk, r->cancel, NULL))
      goto out;
    left -= got;
    pos += got;
    g_mutex_lock (&self->lock);
    self->bytes_sent += got;
    r->progress_us = g_get_monotonic_time ();
    g_mutex_unlock (&self->lock);
  }
  /* (a file that shrank: fewer bytes than body_len, then FIN) */
  r->answered = g_output_stream_close (out, r->cancel, NULL);
out:
  if (fd >= 0)
    close (fd);
  g_mutex_lock (&self->lock);
  self->open_files--;
  g_mutex_unlock (&self->lock);
}

/* ---- LIST ---- */

static gint
cmp_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

void
p2p_file_serve_list (Request *r, const char *path)
{
  P2pFileService *self = r->service;
  GOutputStream *out = g_io_stream_get_output_stream (r->stream);
  g_autofree char *text = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GByteArray) chunk = NULL;
  P2pFileStatus status;
  P2pFileHeader hdr = { 0 };
  struct stat st;
  struct dirent *de;
  gsize name_bytes = 0;
  gboolean ok;
  DIR *dir;
  int fd;

  fd = p2p_file_service_open_below_root (self, path, TRUE, &st, &status, &text);
  if (fd < 0) {
    r->answered = p2p_file_answer_error (r->stream, P2P_FILE_REQUEST_LIST, status, text,
        r->cancel);
    return;
  }
  dir = fdopendir (fd);
  if (!dir) {
    close (fd);
    r->answered = p2p_file_answer_error (r->stream, P2P_FILE_REQUEST_LIST,
        P2P_FILE_STATUS_IO_ERROR, "cannot read the directory", r->cancel);
    return;
  }
  while ((de = readdir (dir)) != NULL && names->len < MAX_LIST_ENTRIES) {
    gsize len = strlen (de->d_name);

    if (g_str_equal (de->d_name, ".") || g_str_equal (de->d_name, ".."))
      continue;
    if (!g_utf8_validate_len (de->d_name, len, NULL) || len > G_MAXUINT16)
      continue;                 /* not nameable in the protocol */
    if (name_bytes + len > MAX_LIST_NAME_BYTES)
      break;
    name_bytes += len;
    g_ptr_array_add (names, g_strdup (de->d_name));
  }
  g_ptr_array_sort (names, cmp_names);
  hdr.status = P2P_FILE_STATUS_OK;
  hdr.kind = P2P_FILE_REQUEST_LIST;
  hdr.size = names->len;
  hdr.mtime_ns = mtime_ns (&st);
  hdr.file_id = st.st_ino;
  hdr.body_len = (guint64) names->len * P2P_FILE_ENTRY_FIXED_SIZE + name_bytes;
  ok = write_header (out, &hdr, r->cancel, NULL);
  /* the entries go in chunks as they are encoded (each a note of progress
   * for the stall watchdog): the listing is never held whole */
  chunk = g_byte_array_sized_new (LIST_CHUNK + P2P_FILE_ENTRY_FIXED_SIZE + G_MAXUINT16);
  for (guint i = 0; ok && i < names->len; i++) {
    const char *name = g_ptr_array_index (names, i);
    gsize len = strlen (name);
    guint8 e[P2P_FILE_ENTRY_FIXED_SIZE];
    struct stat est;
    guint8 kind = 3;
    guint64 size = 0, mt = 0;

    if (fstatat (dirfd (dir), name, &est, AT_SYMLINK_NOFOLLOW) == 0) {
      kind = S_ISREG (est.st_mode) ? 0 : S_ISDIR (est.st_mode) ? 1
          : S_ISLNK (est.st_mode) ? 2 : 3;
      size = S_ISREG (est.st_mode) ? (guint64) est.st_size : 0;
      mt = mtime_ns (&est);
    }
    p2p_file_entry_encode (e, kind, (guint16) len, size, mt);
    g_byte_array_append (chunk, e, sizeof e);
    g_byte_array_append (chunk, (const guint8 *) name, len);
    if (chunk->len >= LIST_CHUNK || i + 1 == names->len) {
      ok = g_output_stream_write_all (out, chunk->data, chunk->len, NULL, r->cancel, NULL);
      g_byte_array_set_size (chunk, 0);
      p2p_file_request_note_progress (r);
    }
  }
  closedir (dir);
  r->answered = ok && g_output_stream_close (out, r->cancel, NULL);
}
