/* p2p-file-service.c: P2pFileService, the serving side of the on-demand
 * file protocol (issue 13): a thread per served connection waits for
 * streams; each stream is one request handled on a thread of its own
 * (p2p-file-request.c, answered by p2p-file-answer.c). This file: the
 * object and its limits (properties), the connection and listener
 * threads, the stall watchdog, the allow-list and stop. Path safety:
 * p2p-file-root.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-file-service-private.h"
#include "p2p/p2p-peer-id.h"
#include "p2p/p2p-config.h"
#include "p2p/p2p-error.h"

#include <errno.h>
#include <stdlib.h>

#define DEFAULT_MAX_STREAMS_PER_PEER 16
#define DEFAULT_MAX_STREAMS 64
#define DEFAULT_MAX_OPEN_FILES 64
#define DEFAULT_READ_AHEAD (128 * 1024)
#define DEFAULT_STALL_TIMEOUT_MS 60000

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

G_DEFINE_FINAL_TYPE (P2pFileService, p2p_file_service, G_TYPE_OBJECT)

static GParamSpec *props[PROP_BYTES_SENT + 1];

/* ---- connections and listeners ---- */

typedef struct {
  P2pFileService *service;
  P2pConnection *conn;
  gboolean own;                 /* conn came from the service's listener */
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

  gboolean stopping;

  g_mutex_lock (&self->lock);
  stopping = self->stopping;
  g_mutex_unlock (&self->lock);
  /* the peer reads why (before: "connection closed"); a connection the
   * application handed in stays the application's */
  if (stopping && j->conn && j->own)
    p2p_connection_close (j->conn, "the file service stopped");
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
  /* where it comes from, for the fair share of the request slots (an
   * identity costs nothing to make, an address does) */
  g_autofree char *host = p2p_connection_dup_remote_host (j->conn);

  g_debug ("file service: a connection from host %s", host ? host : "(unknown)");

  for (;;) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GIOStream) stream = p2p_connection_accept_stream (j->conn, j->cancel, &error);

    if (!stream) {
      g_debug ("file service: connection done: %s", error->message);
      break;
    }
    p2p_file_service_start_request (j->service, j->conn, host, stream, j->cancel);
  }
  job_done (j);
  return NULL;
}

#define FILES_ONLY_REASON "this peer serves files only: ask for a path " \
  "(p2p://PEER/path/to/file, or p2psrc location=...)"

/* The connection's messages: the file requests come on streams, so a
 * message is a media receiver (p2psrc without a location) that would wait
 * for ever for a stream this peer never sends: the connection is closed
 * with a reason it shows. Reading them also keeps none held unread. */
static gpointer
message_thread (gpointer data)
{
  Job *j = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) msg = p2p_connection_receive (j->conn, j->cancel, &error);

  if (msg) {
    g_debug ("file service: a message from a media receiver: closing");
    p2p_connection_close (j->conn, FILES_ONLY_REASON);
  }
  job_done (j);
  return NULL;
}

/* @own_messages: the connection is the service's alone (from its
 * listener): its messages are read here. A connection the application
 * hands in keeps its messages for the application. */
static void
serve_connection (P2pFileService *self, P2pConnection *conn, gboolean own_messages)
{
  Job *j, *m;

  if (self->root_error) {
    p2p_connection_close (conn, self->root_error);
    return;
  }
  j = job_new (self);
  j->conn = g_object_ref (conn);
  j->own = own_messages;
  g_thread_unref (g_thread_new ("p2p-file-conn", connection_thread, j));
  if (own_messages) {
    m = job_new (self);
    m->conn = g_object_ref (conn);
    m->own = TRUE;
    g_thread_unref (g_thread_new ("p2p-file-msgs", message_thread, m));
  }
}

void
p2p_file_service_serve_connection (P2pFileService *self, P2pConnection *conn)
{
  g_return_if_fail (P2P_IS_FILE_SERVICE (self));
  g_return_if_fail (P2P_IS_CONNECTION (conn));

  serve_connection (self, conn, FALSE);
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
    serve_connection (j->service, conn, TRUE);
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

/**
 * p2p_file_service_set_allowed_peers:
 * @self: a file service
 * @peers: (nullable): peer IDs separated by commas, spaces or newlines;
 *   NULL or "" = every peer
 * @error: return location for a #GError
 *
 * Only these peers get answers; others get NOT_ALLOWED. Checked as
 * p2p_config_set_allowed_peers() checks its list: a value of only
 * separators (" , ") names nobody and is an error rather than "every
 * peer", as are an invalid peer ID and more than 64 entries (all
 * %P2P_ERROR_INVALID_ARGUMENT, the list unchanged).
 *
 * Returns: TRUE, FALSE on error
 */
gboolean
p2p_file_service_set_allowed_peers (P2pFileService *self, const char *peers, GError **error)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (P2pPeerId));
  g_auto (GStrv) parts = g_strsplit_set (peers ? peers : "", ", \t\r\n", -1);
  g_autoptr (GString) list_text = g_string_new (NULL);
  P2pConfig list = { 0 };

  g_return_val_if_fail (P2P_IS_FILE_SERVICE (self), FALSE);

  /* spaces and newlines separate too (this function's list always took
   * them); then one parser for every allow-list (P2pConfig's) */
  for (guint i = 0; parts[i]; i++)
    if (parts[i][0])
      g_string_append_printf (list_text, "%s%s", list_text->len ? "," : "", parts[i]);
  if (list_text->len == 0 && peers && peers[0]) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "allowed-peers=\"%s\" names no peer ID; expected peer IDs (NULL or \"\" "
        "allows anyone)", peers);
    return FALSE;
  }
  if (!p2p_config_set_allowed_peers (&list, list_text->str, error))
    return FALSE;
  for (guint i = 0; list.allowed_peers && list.allowed_peers[i]; i++) {
    P2pPeerId id;

    if (p2p_peer_id_parse (list.allowed_peers[i], &id, NULL))
      g_array_append_val (ids, id);
  }
  g_strfreev (list.allowed_peers);
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
/* The real path of @root if it is a directory that can be served. */
static char *
resolve_root (const char *root, GError **error)
{
  g_autofree char *real = NULL;
  struct stat st;

  if (root == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "no directory to serve: set \"root\" (p2p_file_service_new())");
    return NULL;
  }
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
  return g_steal_pointer (&real);
}

P2pFileService *
p2p_file_service_new (const char *root, GError **error)
{
  g_autofree char *real = NULL;

  g_return_val_if_fail (root != NULL, NULL);

  real = resolve_root (root, error);
  if (real == NULL)
    return NULL;
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

  g_autoptr (GError) error = NULL;
  char *real;

  G_OBJECT_CLASS (p2p_file_service_parent_class)->constructed (object);
  /* made with g_object_new() (Python: P2p.FileService(root=...)) the root
   * is checked here: a service without a usable root refuses every
   * connection saying why, instead of answering every request with an
   * error of the file system */
  real = resolve_root (self->root, &error);
  if (real) {
    g_free (self->root);
    self->root = real;
  } else {
    g_warning ("P2pFileService: %s", error->message);
    self->root_error = g_strdup (error->message);
  }
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
  g_free (self->root_error);
  g_array_unref (self->allowed);
  g_hash_table_unref (self->per_peer);
  g_hash_table_unref (self->per_host);
  g_ptr_array_unref (self->requests);
  g_ptr_array_unref (self->cancels);
  p2p_chunk_pool_unref (self->chunks);
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
  self->chunks = p2p_chunk_pool_new ();
  self->stall_timeout_ms = DEFAULT_STALL_TIMEOUT_MS;
  self->allowed = g_array_new (FALSE, FALSE, sizeof (P2pPeerId));
  self->per_peer = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->per_host = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->requests = g_ptr_array_new ();
  self->cancels = g_ptr_array_new_with_free_func (g_object_unref);
}
