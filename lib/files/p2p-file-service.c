/* p2p-file-service.c: P2pFileService, the serving side of the on-demand
 * file protocol (issue 13): a thread per served connection waits for
 * streams; each stream is one request handled on a thread of its own.
 *
 * Path safety: the protocol path is checked first (p2p_file_path_check:
 * relative, UTF-8, no NUL, no "", "." or ".." component), then joined to
 * the resolved root and resolved with realpath(); a result that is not the
 * root or below it is OUTSIDE_ROOT (symbolic links inside the root are
 * followed, those leading out are refused). The file is opened with
 * O_NOFOLLOW | O_NONBLOCK and the opened descriptor's own path
 * (/proc/self/fd) is checked against the resolved path, so a component
 * swapped for a link between the check and the open is refused too. Only
 * regular files are read; directories only through LIST.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-file-service.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-id.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

#define DEFAULT_MAX_STREAMS_PER_PEER 16
#define DEFAULT_MAX_STREAMS 64
#define DEFAULT_MAX_OPEN_FILES 64
#define DEFAULT_READ_AHEAD (128 * 1024)
#define DEFAULT_STALL_TIMEOUT_MS 60000
#define MAX_LIST_ENTRIES 65536

enum {
  PROP_0,
  PROP_ROOT,
  PROP_MAX_STREAMS_PER_PEER,
  PROP_MAX_STREAMS,
  PROP_MAX_OPEN_FILES,
  PROP_READ_AHEAD,
  PROP_STALL_TIMEOUT,
  PROP_REQUESTS,
  PROP_BYTES_SENT,
};

typedef struct {
  P2pFileService *service;
  P2pConnection *conn;
  GIOStream *stream;
  char *peer;                   /* text peer ID */
  GCancellable *cancel;
  gint64 progress_us;           /* monotonic, last progress (lock) */
} Request;

struct _P2pFileService {
  GObject parent;

  char *root;                   /* resolved */
  guint max_streams_per_peer, max_streams, max_open_files;
  guint read_ahead, stall_timeout_ms;

  GMutex lock;
  GCond cond;
  GArray *allowed;              /* P2pPeerId; empty = everyone */
  gboolean stopping;
  guint threads;                /* live threads of the service */
  guint active;                 /* requests in progress */
  guint open_files;
  GHashTable *per_peer;         /* peer text -> GUINT count */
  GPtrArray *requests;          /* Request*, in progress */
  GPtrArray *cancels;           /* GCancellable* of connection/listener threads */
  GThread *watchdog;
  guint64 n_requests, bytes_sent;
};

G_DEFINE_FINAL_TYPE (P2pFileService, p2p_file_service, G_TYPE_OBJECT)

static GParamSpec *props[PROP_BYTES_SENT + 1];

/* ---- answers ---- */

static gboolean
write_header (GOutputStream *out, const P2pFileHeader *hdr, GCancellable *cancel,
    GError **error)
{
  guint8 buf[P2P_FILE_HEADER_SIZE];

  p2p_file_header_encode (hdr, buf);
  return g_output_stream_write_all (out, buf, sizeof buf, NULL, cancel, error);
}

/* An error answer: header with the status, the text as body, FIN. */
static void
answer_error (GIOStream *stream, P2pFileRequestKind kind, P2pFileStatus status,
    const char *text, GCancellable *cancel)
{
  GOutputStream *out = g_io_stream_get_output_stream (stream);
  P2pFileHeader hdr = { 0 };
  gsize len = MIN (strlen (text), P2P_FILE_MAX_MESSAGE);

  hdr.status = status;
  hdr.kind = kind;
  hdr.body_len = len;
  if (write_header (out, &hdr, cancel, NULL))
    g_output_stream_write_all (out, text, len, NULL, cancel, NULL);
  g_output_stream_close (out, cancel, NULL);
}

/* ---- path resolution ---- */

static P2pFileStatus
status_from_errno (int e)
{
  switch (e) {
    case ENOENT:
    case ENOTDIR:
      return P2P_FILE_STATUS_NOT_FOUND;
    case EACCES:
    case EPERM:
      return P2P_FILE_STATUS_NOT_READABLE;
    case ELOOP:
      return P2P_FILE_STATUS_OUTSIDE_ROOT;
    default:
      return P2P_FILE_STATUS_IO_ERROR;
  }
}

static gboolean
under_root (const char *root, const char *real)
{
  gsize n = strlen (root);

  if (g_str_equal (root, "/"))
    return real[0] == '/';
  return strncmp (real, root, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

/* Opens @path (checked) below the root: a regular file (@want_dir FALSE)
 * or a directory. Returns the fd or -1 with *status and *text set. */
static int
open_below_root (P2pFileService *self, const char *path, gboolean want_dir,
    struct stat *st, P2pFileStatus *status, char **text)
{
  g_autofree char *full = path[0] ? g_build_filename (self->root, path, NULL)
      : g_strdup (self->root);
  g_autofree char *real = realpath (full, NULL);
  char proc[64], linkbuf[PATH_MAX + 1];
  ssize_t n;
  int fd, e;

  if (real == NULL) {
    e = errno;
    *status = status_from_errno (e);
    if (*status == P2P_FILE_STATUS_OUTSIDE_ROOT)
      *text = g_strdup_printf ("\"%s\": too many levels of symbolic links", path);
    else if (*status == P2P_FILE_STATUS_NOT_FOUND)
      *text = g_strdup_printf ("\"%s\": no such file or directory", path);
    else
      *text = g_strdup_printf ("\"%s\": %s", path, g_strerror (e));
    return -1;
  }
  if (!under_root (self->root, real)) {
    *status = P2P_FILE_STATUS_OUTSIDE_ROOT;
    *text = g_strdup_printf ("\"%s\" resolves outside the served directory "
        "(a symbolic link leads out of it)", path);
    return -1;
  }
  if (stat (real, st) != 0) {
    e = errno;
    *status = status_from_errno (e);
    *text = g_strdup_printf ("\"%s\": %s", path, g_strerror (e));
    return -1;
  }
  if (S_ISDIR (st->st_mode) && !want_dir) {
    *status = P2P_FILE_STATUS_IS_DIRECTORY;
    *text = g_strdup_printf ("\"%s\" is a directory (list it instead)", path);
    return -1;
  }
  if (!S_ISDIR (st->st_mode) && want_dir) {
    *status = S_ISREG (st->st_mode) ? P2P_FILE_STATUS_NOT_A_DIRECTORY
        : P2P_FILE_STATUS_NOT_REGULAR;
    *text = g_strdup_printf ("\"%s\" is not a directory", path);
    return -1;
  }
  if (!S_ISDIR (st->st_mode) && !S_ISREG (st->st_mode)) {
    *status = P2P_FILE_STATUS_NOT_REGULAR;
    *text = g_strdup_printf ("\"%s\" is not a regular file (device, FIFO or socket)", path);
    return -1;
  }
  fd = open (real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY
      | (want_dir ? O_DIRECTORY : 0));
  if (fd < 0) {
    e = errno;
    *status = status_from_errno (e);
    if (*status == P2P_FILE_STATUS_NOT_READABLE)
      *text = g_strdup_printf ("\"%s\" is not readable by the server (%s)", path,
          g_strerror (e));
    else
      *text = g_strdup_printf ("\"%s\": %s", path, g_strerror (e));
    return -1;
  }
  /* the descriptor's own path: nothing was swapped since realpath() */
  g_snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
  n = readlink (proc, linkbuf, PATH_MAX);
  if (n >= 0) {
    linkbuf[n] = '\0';
    if (!under_root (self->root, linkbuf)) {
      close (fd);
      *status = P2P_FILE_STATUS_OUTSIDE_ROOT;
      *text = g_strdup_printf ("\"%s\" resolves outside the served directory", path);
      return -1;
    }
  }
  if (fstat (fd, st) != 0 || (want_dir ? !S_ISDIR (st->st_mode) : !S_ISREG (st->st_mode))) {
    close (fd);
    *status = P2P_FILE_STATUS_NOT_REGULAR;
    *text = g_strdup_printf ("\"%s\" changed type while being opened", path);
    return -1;
  }
  return fd;
}

static guint64
mtime_ns (const struct stat *st)
{
  return (guint64) st->st_mtim.tv_sec * G_GUINT64_CONSTANT (1000000000) + st->st_mtim.tv_nsec;
}

static void
note_progress (Request *r)
{
  g_mutex_lock (&r->service->lock);
  r->progress_us = g_get_monotonic_time ();
  g_mutex_unlock (&r->service->lock);
}

/* ---- GET ---- */

static void
serve_get (Request *r, const char *path, guint64 offset, guint64 length)
{
  P2pFileService *self = r->service;
  GOutputStream *out = g_io_stream_get_output_stream (r->stream);
  g_autofree char *text = NULL;
  g_autofree guint8 *buf = NULL;
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
    answer_error (r->stream, P2P_FILE_REQUEST_GET, P2P_FILE_STATUS_TOO_MANY_REQUESTS, text,
        r->cancel);
    return;
  }
  fd = open_below_root (self, path, FALSE, &st, &status, &text);
  if (fd < 0) {
    answer_error (r->stream, P2P_FILE_REQUEST_GET, status, text, r->cancel);
    goto out;
  }
  if (offset > (guint64) st.st_size) {
    g_free (text);
    text = g_strdup_printf ("offset %" G_GUINT64_FORMAT " is past the end of \"%s\" (%"
        G_GUINT64_FORMAT " bytes)", offset, path, (guint64) st.st_size);
    answer_error (r->stream, P2P_FILE_REQUEST_GET, P2P_FILE_STATUS_RANGE, text, r->cancel);
    goto out;
  }
  hdr.status = P2P_FILE_STATUS_OK;
  hdr.kind = P2P_FILE_REQUEST_GET;
  hdr.size = st.st_size;
  hdr.mtime_ns = mtime_ns (&st);
  hdr.file_id = st.st_ino;
  hdr.body_len = MIN (length, (guint64) st.st_size - offset);
  if (!write_header (out, &hdr, r->cancel, NULL))
    goto out;
  buf = g_malloc (self->read_ahead);
  left = hdr.body_len;
  pos = offset;
  while (left > 0) {
    gsize want = MIN (left, self->read_ahead);
    ssize_t got = pread (fd, buf, want, (off_t) pos);

    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      /* cut short: the client sees fewer bytes than body_len */
      g_debug ("file service: reading \"%s\" at %" G_GUINT64_FORMAT ": %s", path, pos,
          got < 0 ? g_strerror (errno) : "end of file (it shrank)");
      break;
    }
    if (!g_output_stream_write_all (out, buf, got, NULL, r->cancel, NULL))
      goto out;
    left -= got;
    pos += got;
    g_mutex_lock (&self->lock);
    self->bytes_sent += got;
    r->progress_us = g_get_monotonic_time ();
    g_mutex_unlock (&self->lock);
  }
  g_output_stream_close (out, r->cancel, NULL);
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

static void
serve_list (Request *r, const char *path)
{
  P2pFileService *self = r->service;
  GOutputStream *out = g_io_stream_get_output_stream (r->stream);
  g_autofree char *text = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GByteArray) body = g_byte_array_new ();
  P2pFileStatus status;
  P2pFileHeader hdr = { 0 };
  struct stat st;
  struct dirent *de;
  DIR *dir;
  int fd;

  fd = open_below_root (self, path, TRUE, &st, &status, &text);
  if (fd < 0) {
    answer_error (r->stream, P2P_FILE_REQUEST_LIST, status, text, r->cancel);
    return;
  }
  dir = fdopendir (fd);
  if (!dir) {
    close (fd);
    answer_error (r->stream, P2P_FILE_REQUEST_LIST, P2P_FILE_STATUS_IO_ERROR,
        "cannot read the directory", r->cancel);
    return;
  }
  while ((de = readdir (dir)) != NULL && names->len < MAX_LIST_ENTRIES) {
    gsize len = strlen (de->d_name);

    if (g_str_equal (de->d_name, ".") || g_str_equal (de->d_name, ".."))
      continue;
    if (!g_utf8_validate_len (de->d_name, len, NULL) || len > G_MAXUINT16)
      continue;                 /* not nameable in the protocol */
    g_ptr_array_add (names, g_strdup (de->d_name));
  }
  g_ptr_array_sort (names, cmp_names);
  for (guint i = 0; i < names->len; i++) {
    const char *name = g_ptr_array_index (names, i);
    gsize len = strlen (name);
    guint8 e[P2P_FILE_ENTRY_FIXED_SIZE] = { 0 };
    struct stat est;
    guint64 size = 0, mt = 0;

    e[0] = 3;
    if (fstatat (dirfd (dir), name, &est, AT_SYMLINK_NOFOLLOW) == 0) {
      e[0] = S_ISREG (est.st_mode) ? 0 : S_ISDIR (est.st_mode) ? 1
          : S_ISLNK (est.st_mode) ? 2 : 3;
      size = S_ISREG (est.st_mode) ? (guint64) est.st_size : 0;
      mt = mtime_ns (&est);
    }
    e[2] = len >> 8;
    e[3] = len & 0xff;
    for (int k = 0; k < 8; k++) {
      e[4 + k] = (size >> (56 - 8 * k)) & 0xff;
      e[12 + k] = (mt >> (56 - 8 * k)) & 0xff;
    }
    g_byte_array_append (body, e, sizeof e);
    g_byte_array_append (body, (const guint8 *) name, len);
  }
  closedir (dir);
  hdr.status = P2P_FILE_STATUS_OK;
  hdr.kind = P2P_FILE_REQUEST_LIST;
  hdr.size = names->len;
  hdr.mtime_ns = mtime_ns (&st);
  hdr.file_id = st.st_ino;
  hdr.body_len = body->len;
  if (write_header (out, &hdr, r->cancel, NULL)
      && g_output_stream_write_all (out, body->data, body->len, NULL, r->cancel, NULL))
    g_output_stream_close (out, r->cancel, NULL);
}

/* ---- one request ---- */

static void
request_free (Request *r)
{
  g_object_unref (r->conn);
  g_object_unref (r->stream);
  g_object_unref (r->cancel);
  g_free (r->peer);
  g_free (r);
}

static gpointer
request_thread (gpointer data)
{
  Request *r = data;
  P2pFileService *self = r->service;
  GInputStream *in = g_io_stream_get_input_stream (r->stream);
  guint8 fixed[P2P_FILE_REQUEST_FIXED_SIZE];
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  P2pFileRequestKind kind = P2P_FILE_REQUEST_GET;
  guint16 plen;
  guint64 offset, length;
  gsize got = 0;

  if (!g_input_stream_read_all (in, fixed, sizeof fixed, &got, r->cancel, &error)
      || got < sizeof fixed) {
    if (!error)
      answer_error (r->stream, kind, P2P_FILE_STATUS_BAD_REQUEST,
          "the request ended before its fixed part (20 bytes)", r->cancel);
    goto done;
  }
  note_progress (r);
  if (!p2p_file_request_decode_fixed (fixed, &kind, &plen, &offset, &length, &error)) {
    answer_error (r->stream, fixed[1] == P2P_FILE_REQUEST_LIST ? P2P_FILE_REQUEST_LIST
        : P2P_FILE_REQUEST_GET, error->code, error->message, r->cancel);
    goto done;
  }
  path = g_malloc (plen + 1);
  if (!g_input_stream_read_all (in, path, plen, &got, r->cancel, NULL) || got < plen) {
    answer_error (r->stream, kind, P2P_FILE_STATUS_BAD_REQUEST,
        "the request ended before its path", r->cancel);
    goto done;
  }
  if (!p2p_file_path_check (path, plen, &error)) {
    answer_error (r->stream, kind, error->code, error->message, r->cancel);
    goto done;
  }
  path[plen] = '\0';
  if (kind == P2P_FILE_REQUEST_GET && plen == 0) {
    answer_error (r->stream, kind, P2P_FILE_STATUS_IS_DIRECTORY,
        "the empty path is the served directory (list it instead)", r->cancel);
    goto done;
  }
  g_debug ("file service: %s %s \"%s\" %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT,
      r->peer, kind == P2P_FILE_REQUEST_GET ? "GET" : "LIST", path, offset, length);
  if (kind == P2P_FILE_REQUEST_GET)
    serve_get (r, path, offset, length);
  else
    serve_list (r, path);
done:
  g_mutex_lock (&self->lock);
  g_ptr_array_remove_fast (self->requests, r);
  self->active--;
  {
    guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_peer, r->peer));

    if (n <= 1)
      g_hash_table_remove (self->per_peer, r->peer);
    else
      g_hash_table_insert (self->per_peer, g_strdup (r->peer), GUINT_TO_POINTER (n - 1));
  }
  self->threads--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  request_free (r);
  g_object_unref (self);
  return NULL;
}

static gboolean
peer_allowed_locked (P2pFileService *self, P2pConnection *conn)
{
  const P2pPeerId *id = p2p_connection_get_peer_id (conn);

  if (self->allowed->len == 0)
    return TRUE;
  for (guint i = 0; id && i < self->allowed->len; i++)
    if (p2p_peer_id_equal (id, &g_array_index (self->allowed, P2pPeerId, i)))
      return TRUE;
  return FALSE;
}

/* Takes @stream: starts its request or answers the refusal. */
static void
start_request (P2pFileService *self, P2pConnection *conn, GIOStream *stream,
    GCancellable *conn_cancel)
{
  const P2pPeerId *id = p2p_connection_get_peer_id (conn);
  g_autofree char *peer = id ? p2p_peer_id_to_string (id) : g_strdup ("(unknown)");
  g_autofree char *text = NULL;
  P2pFileStatus refuse = P2P_FILE_STATUS_OK;
  guint n;

  g_mutex_lock (&self->lock);
  n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_peer, peer));
  self->n_requests++;
  if (self->stopping) {
    refuse = P2P_FILE_STATUS_TOO_MANY_REQUESTS;
    text = g_strdup ("the server is stopping");
  } else if (!peer_allowed_locked (self, conn)) {
    refuse = P2P_FILE_STATUS_NOT_ALLOWED;
    text = g_strdup_printf ("peer %s is not allowed to use this file service", peer);
  } else if (n >= self->max_streams_per_peer) {
    refuse = P2P_FILE_STATUS_TOO_MANY_REQUESTS;
    text = g_strdup_printf ("too many requests: this peer already has %u in progress "
        "(the limit per peer)", n);
  } else if (self->active >= self->max_streams) {
    refuse = P2P_FILE_STATUS_TOO_MANY_REQUESTS;
    text = g_strdup_printf ("too many requests: the server has %u in progress (its limit)",
        self->active);
  }
  if (refuse == P2P_FILE_STATUS_OK) {
    Request *r = g_new0 (Request, 1);

    r->service = g_object_ref (self);
    r->conn = g_object_ref (conn);
    r->stream = g_object_ref (stream);
    r->peer = g_strdup (peer);
    r->cancel = g_cancellable_new ();
    r->progress_us = g_get_monotonic_time ();
    g_hash_table_insert (self->per_peer, g_strdup (peer), GUINT_TO_POINTER (n + 1));
    self->active++;
    self->threads++;
    g_ptr_array_add (self->requests, r);
    g_mutex_unlock (&self->lock);
    g_thread_unref (g_thread_new ("p2p-file-req", request_thread, r));
    return;
  }
  g_mutex_unlock (&self->lock);
  answer_error (stream, P2P_FILE_REQUEST_GET, refuse, text, conn_cancel);
}

/* ---- connections and listeners ---- */

typedef struct {
  P2pFileService *service;
  P2pConnection *conn;
  P2pListener *listener;
  GCancellable *cancel;
} Job;

static Job *
job_new (P2pFileService *self)
{
  Job *j = g_new0 (Job, 1);

  j->service = g_object_ref (self);
  j->cancel = g_cancellable_new ();
  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->cancels, g_object_ref (j->cancel));
  if (self->stopping)
    g_cancellable_cancel (j->cancel);
  self->threads++;
  g_mutex_unlock (&self->lock);
  return j;
}

static void
job_done (Job *j)
{
  P2pFileService *self = j->service;

  g_mutex_lock (&self->lock);
  g_ptr_array_remove (self->cancels, j->cancel);
  self->threads--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  g_clear_object (&j->conn);
  g_clear_object (&j->listener);
  g_object_unref (j->cancel);
  g_object_unref (self);
  g_free (j);
}

static gpointer
connection_thread (gpointer data)
{
  Job *j = data;

  for (;;) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GIOStream) stream = p2p_connection_accept_stream (j->conn, j->cancel, &error);

    if (!stream) {
      g_debug ("file service: connection done: %s", error->message);
      break;
    }
    start_request (j->service, j->conn, stream, j->cancel);
  }
  job_done (j);
  return NULL;
}

void
p2p_file_service_serve_connection (P2pFileService *self, P2pConnection *conn)
{
  Job *j;

  g_return_if_fail (P2P_IS_FILE_SERVICE (self));
  g_return_if_fail (P2P_IS_CONNECTION (conn));

  j = job_new (self);
  j->conn = g_object_ref (conn);
  g_thread_unref (g_thread_new ("p2p-file-conn", connection_thread, j));
}

static gpointer
listener_thread (gpointer data)
{
  Job *j = data;

  for (;;) {
    g_autoptr (GError) error = NULL;
    g_autoptr (P2pConnection) conn = p2p_listener_accept (j->listener, j->cancel, &error);

    if (!conn) {
      g_debug ("file service: listener done: %s", error->message);
      break;
    }
    p2p_file_service_serve_connection (j->service, conn);
  }
  job_done (j);
  return NULL;
}

void
p2p_file_service_attach_listener (P2pFileService *self, P2pListener *listener)
{
  Job *j;

  g_return_if_fail (P2P_IS_FILE_SERVICE (self));
  g_return_if_fail (P2P_IS_LISTENER (listener));

  j = job_new (self);
  j->listener = g_object_ref (listener);
  g_thread_unref (g_thread_new ("p2p-file-listen", listener_thread, j));
}

/* Cancels the requests that made no progress for stall-timeout ms. */
static gpointer
watchdog_thread (gpointer data)
{
  P2pFileService *self = data;

  g_mutex_lock (&self->lock);
  while (!self->stopping) {
    gint64 now = g_get_monotonic_time ();

    for (guint i = 0; i < self->requests->len; i++) {
      Request *r = g_ptr_array_index (self->requests, i);

      if (now - r->progress_us > (gint64) self->stall_timeout_ms * 1000)
        g_cancellable_cancel (r->cancel);
    }
    g_cond_wait_until (&self->cond, &self->lock, now + 250 * 1000);
  }
  g_mutex_unlock (&self->lock);
  return NULL;
}

void
p2p_file_service_stop (P2pFileService *self)
{
  g_return_if_fail (P2P_IS_FILE_SERVICE (self));

  g_mutex_lock (&self->lock);
  self->stopping = TRUE;
  for (guint i = 0; i < self->cancels->len; i++)
    g_cancellable_cancel (g_ptr_array_index (self->cancels, i));
  for (guint i = 0; i < self->requests->len; i++)
    g_cancellable_cancel (((Request *) g_ptr_array_index (self->requests, i))->cancel);
  g_cond_broadcast (&self->cond);
  while (self->threads > 0)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);
  if (self->watchdog) {
    g_thread_join (self->watchdog);
    self->watchdog = NULL;
  }
}

gboolean
p2p_file_service_set_allowed_peers (P2pFileService *self, const char *peers, GError **error)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (P2pPeerId));
  g_auto (GStrv) parts = NULL;

  g_return_val_if_fail (P2P_IS_FILE_SERVICE (self), FALSE);

  parts = g_strsplit_set (peers ? peers : "", ", \t\n", -1);
  for (guint i = 0; parts[i]; i++) {
    P2pPeerId id;

    if (parts[i][0] == '\0')
      continue;
    if (!p2p_peer_id_parse (parts[i], &id, error))
      return FALSE;
    g_array_append_val (ids, id);
  }
  g_mutex_lock (&self->lock);
  g_array_unref (self->allowed);
  self->allowed = g_steal_pointer (&ids);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/**
 * p2p_file_service_new:
 * @root: the directory to serve
 * @error: a #GError
 *
 * Returns: (transfer full): a new service, or %NULL with @error.
 */
P2pFileService *
p2p_file_service_new (const char *root, GError **error)
{
  g_autofree char *real = NULL;
  struct stat st;

  g_return_val_if_fail (root != NULL, NULL);

  real = realpath (root, NULL);
  if (real == NULL || stat (real, &st) != 0) {
    int e = errno;

    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
        "cannot serve \"%s\": %s", root, g_strerror (e));
    return NULL;
  }
  if (!S_ISDIR (st.st_mode)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
        "cannot serve \"%s\": not a directory", root);
    return NULL;
  }
  return g_object_new (P2P_TYPE_FILE_SERVICE, "root", real, NULL);
}

/**
 * p2p_file_service_get_root:
 * @self: a #P2pFileService
 *
 * Returns: the resolved root directory.
 */
const char *
p2p_file_service_get_root (P2pFileService *self)
{
  g_return_val_if_fail (P2P_IS_FILE_SERVICE (self), NULL);
  return self->root;
}

static void
p2p_file_service_constructed (GObject *object)
{
  P2pFileService *self = P2P_FILE_SERVICE (object);

  G_OBJECT_CLASS (p2p_file_service_parent_class)->constructed (object);
  self->watchdog = g_thread_new ("p2p-file-watchdog", watchdog_thread, self);
}

static void
p2p_file_service_dispose (GObject *object)
{
  P2pFileService *self = P2P_FILE_SERVICE (object);

  /* every thread holds a reference: none is left by now */
  if (self->watchdog) {
    g_mutex_lock (&self->lock);
    self->stopping = TRUE;
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
    g_thread_join (self->watchdog);
    self->watchdog = NULL;
  }
  G_OBJECT_CLASS (p2p_file_service_parent_class)->dispose (object);
}

static void
p2p_file_service_finalize (GObject *object)
{
  P2pFileService *self = P2P_FILE_SERVICE (object);

  g_free (self->root);
  g_array_unref (self->allowed);
  g_hash_table_unref (self->per_peer);
  g_ptr_array_unref (self->requests);
  g_ptr_array_unref (self->cancels);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (p2p_file_service_parent_class)->finalize (object);
}

static void
p2p_file_service_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  P2pFileService *self = P2P_FILE_SERVICE (object);

  g_mutex_lock (&self->lock);
  switch (prop_id) {
    case PROP_ROOT:
      g_free (self->root);
      self->root = g_value_dup_string (value);
      break;
    case PROP_MAX_STREAMS_PER_PEER:
      self->max_streams_per_peer = g_value_get_uint (value);
      break;
    case PROP_MAX_STREAMS:
      self->max_streams = g_value_get_uint (value);
      break;
    case PROP_MAX_OPEN_FILES:
      self->max_open_files = g_value_get_uint (value);
      break;
    case PROP_READ_AHEAD:
      self->read_ahead = g_value_get_uint (value);
      break;
    case PROP_STALL_TIMEOUT:
      self->stall_timeout_ms = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  g_mutex_unlock (&self->lock);
}

static void
p2p_file_service_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  P2pFileService *self = P2P_FILE_SERVICE (object);

  g_mutex_lock (&self->lock);
  switch (prop_id) {
    case PROP_ROOT:
      g_value_set_string (value, self->root);
      break;
    case PROP_MAX_STREAMS_PER_PEER:
      g_value_set_uint (value, self->max_streams_per_peer);
      break;
    case PROP_MAX_STREAMS:
      g_value_set_uint (value, self->max_streams);
      break;
    case PROP_MAX_OPEN_FILES:
      g_value_set_uint (value, self->max_open_files);
      break;
    case PROP_READ_AHEAD:
      g_value_set_uint (value, self->read_ahead);
      break;
    case PROP_STALL_TIMEOUT:
      g_value_set_uint (value, self->stall_timeout_ms);
      break;
    case PROP_REQUESTS:
      g_value_set_uint64 (value, self->n_requests);
      break;
    case PROP_BYTES_SENT:
      g_value_set_uint64 (value, self->bytes_sent);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  g_mutex_unlock (&self->lock);
}

static void
p2p_file_service_class_init (P2pFileServiceClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  oc->constructed = p2p_file_service_constructed;
  oc->dispose = p2p_file_service_dispose;
  oc->finalize = p2p_file_service_finalize;
  oc->set_property = p2p_file_service_set_property;
  oc->get_property = p2p_file_service_get_property;

  props[PROP_ROOT] = g_param_spec_string ("root", "Root",
      "The served directory (resolved; use p2p_file_service_new())", NULL,
      G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  props[PROP_MAX_STREAMS_PER_PEER] = g_param_spec_uint ("max-streams-per-peer",
      "Max streams per peer", "Requests of one peer in progress at a time; more "
      "get TOO_MANY_REQUESTS", 1, 100, DEFAULT_MAX_STREAMS_PER_PEER, rw);
  props[PROP_MAX_STREAMS] = g_param_spec_uint ("max-streams", "Max streams",
      "Requests in progress at a time, all peers together (one thread each)", 1, 4096,
      DEFAULT_MAX_STREAMS, rw);
  props[PROP_MAX_OPEN_FILES] = g_param_spec_uint ("max-open-files", "Max open files",
      "Files open at a time", 1, 65536, DEFAULT_MAX_OPEN_FILES, rw);
  props[PROP_READ_AHEAD] = g_param_spec_uint ("read-ahead", "Read ahead",
      "Bytes a request reads from the file ahead of what its stream took", 4096,
      16 * 1024 * 1024, DEFAULT_READ_AHEAD, rw);
  props[PROP_STALL_TIMEOUT] = g_param_spec_uint ("stall-timeout", "Stall timeout",
      "A request without progress (the peer reads nothing) for this many ms is dropped",
      100, G_MAXUINT, DEFAULT_STALL_TIMEOUT_MS, rw);
  props[PROP_REQUESTS] = g_param_spec_uint64 ("requests", "Requests",
      "Requests received (answered or refused)", 0, G_MAXUINT64, 0,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_BYTES_SENT] = g_param_spec_uint64 ("bytes-sent", "Bytes sent",
      "File bytes handed to streams", 0, G_MAXUINT64, 0,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (oc, PROP_BYTES_SENT + 1, props);
}

static void
p2p_file_service_init (P2pFileService *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->max_streams_per_peer = DEFAULT_MAX_STREAMS_PER_PEER;
  self->max_streams = DEFAULT_MAX_STREAMS;
  self->max_open_files = DEFAULT_MAX_OPEN_FILES;
  self->read_ahead = DEFAULT_READ_AHEAD;
  self->stall_timeout_ms = DEFAULT_STALL_TIMEOUT_MS;
  self->allowed = g_array_new (FALSE, FALSE, sizeof (P2pPeerId));
  self->per_peer = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->requests = g_ptr_array_new ();
  self->cancels = g_ptr_array_new_with_free_func (g_object_unref);
}
