/* test-transport-base.c: the P2pConnection and P2pListener base classes and
 * the P2pProvider interface, through tiny test implementations: argument
 * checks and limits, signals, threaded async defaults, blocking calls over
 * async implementations, p2p_provider_connect().
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <p2p/p2p.h>

#define GUARD_MS 5000

/* ---- SyncConn: implements only the blocking variants ---- */

typedef struct {
  P2pConnection parent;
  GMutex lock;
  GPtrArray *sent;              /* GBytes* */
  GQueue inbox;                 /* GBytes* to return from receive */
  GThread *send_thread;         /* where send() last ran */
  gboolean closed;
  char *close_reason;
  P2pPeerId peer;
} SyncConn;

typedef struct {
  P2pConnectionClass parent_class;
} SyncConnClass;

static GType sync_conn_get_type (void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SyncConn, g_object_unref)
G_DEFINE_TYPE (SyncConn, sync_conn, P2P_TYPE_CONNECTION)

#define SYNC_CONN(o) ((SyncConn *) (o))

static gboolean
sync_conn_send (P2pConnection *conn, GBytes *message, GCancellable *cancellable,
    GError **error)
{
  SyncConn *self = SYNC_CONN (conn);

  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->sent, g_bytes_ref (message));
  self->send_thread = g_thread_self ();
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static GBytes *
sync_conn_receive (P2pConnection *conn, GCancellable *cancellable, GError **error)
{
  SyncConn *self = SYNC_CONN (conn);
  GBytes *msg;

  g_mutex_lock (&self->lock);
  msg = g_queue_pop_head (&self->inbox);
  g_mutex_unlock (&self->lock);
  if (msg == NULL)
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "peer closed: done");
  return msg;
}

static gboolean
sync_conn_send_datagram (P2pConnection *conn, GBytes *datagram, GError **error)
{
  SyncConn *self = SYNC_CONN (conn);

  g_ptr_array_add (self->sent, g_bytes_ref (datagram));
  return TRUE;
}

static gsize
sync_conn_get_max_datagram_size (P2pConnection *conn)
{
  return 100;
}

static const P2pPeerId *
sync_conn_get_peer_id (P2pConnection *conn)
{
  return &SYNC_CONN (conn)->peer;
}

static gboolean
sync_conn_is_connected (P2pConnection *conn)
{
  return !SYNC_CONN (conn)->closed;
}

static void
sync_conn_close (P2pConnection *conn, const char *reason)
{
  SyncConn *self = SYNC_CONN (conn);

  self->closed = TRUE;
  g_free (self->close_reason);
  self->close_reason = g_strdup (reason);
}

static void
sync_conn_get_stats (P2pConnection *conn, P2pConnectionStats *stats)
{
  stats->messages_sent = SYNC_CONN (conn)->sent->len;
  stats->path_kind = P2P_PATH_KIND_SIMULATED;
}

static void
sync_conn_finalize (GObject *object)
{
  SyncConn *self = SYNC_CONN (object);

  g_ptr_array_unref (self->sent);
  g_queue_clear_full (&self->inbox, (GDestroyNotify) g_bytes_unref);
  g_free (self->close_reason);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (sync_conn_parent_class)->finalize (object);
}

static void
sync_conn_class_init (SyncConnClass *klass)
{
  P2pConnectionClass *conn_class = P2P_CONNECTION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = sync_conn_finalize;
  conn_class->send = sync_conn_send;
  conn_class->receive = sync_conn_receive;
  conn_class->send_datagram = sync_conn_send_datagram;
  conn_class->get_max_datagram_size = sync_conn_get_max_datagram_size;
  conn_class->get_peer_id = sync_conn_get_peer_id;
  conn_class->is_connected = sync_conn_is_connected;
  conn_class->close = sync_conn_close;
  conn_class->get_stats = sync_conn_get_stats;
}

static void
sync_conn_init (SyncConn *self)
{
  g_mutex_init (&self->lock);
  self->sent = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_queue_init (&self->inbox);
  memset (self->peer.key, 0x42, sizeof self->peer.key);
}

/* ---- AsyncConn: implements only the async variants (completes from an
 * idle on the caller's context, like a network thread would) ---- */

typedef struct {
  P2pConnection parent;
  guint sends;
} AsyncConn;

typedef struct {
  P2pConnectionClass parent_class;
} AsyncConnClass;

static GType async_conn_get_type (void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsyncConn, g_object_unref)
G_DEFINE_TYPE (AsyncConn, async_conn, P2P_TYPE_CONNECTION)

static gboolean
complete_idle (gpointer user_data)
{
  GTask *task = user_data;

  if (g_task_return_error_if_cancelled (task))
    return G_SOURCE_REMOVE;
  if (g_task_get_source_tag (task) == async_conn_get_type)
    g_task_return_pointer (task, g_bytes_new_static ("async", 5),
        (GDestroyNotify) g_bytes_unref);
  else
    g_task_return_boolean (task, TRUE);
  return G_SOURCE_REMOVE;
}

static void
async_conn_send_async (P2pConnection *conn, GBytes *message, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (conn, cancellable, callback, user_data);
  GSource *idle = g_idle_source_new ();

  ((AsyncConn *) conn)->sends++;
  g_source_set_callback (idle, complete_idle, task, g_object_unref);
  g_source_attach (idle, g_task_get_context (task));
  g_source_unref (idle);
}

static gboolean
async_conn_send_finish (P2pConnection *conn, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
async_conn_receive_async (P2pConnection *conn, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (conn, cancellable, callback, user_data);
  GSource *idle = g_idle_source_new ();

  g_task_set_source_tag (task, async_conn_get_type);
  g_source_set_callback (idle, complete_idle, task, g_object_unref);
  g_source_attach (idle, g_task_get_context (task));
  g_source_unref (idle);
}

static GBytes *
async_conn_receive_finish (P2pConnection *conn, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
async_conn_class_init (AsyncConnClass *klass)
{
  P2pConnectionClass *conn_class = P2P_CONNECTION_CLASS (klass);

  conn_class->send_async = async_conn_send_async;
  conn_class->send_finish = async_conn_send_finish;
  conn_class->receive_async = async_conn_receive_async;
  conn_class->receive_finish = async_conn_receive_finish;
}

static void
async_conn_init (AsyncConn *self)
{
}

/* ---- helpers ---- */

static void
store_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  g_assert_null (*out);
  *out = g_object_ref (result);
}

static gboolean
guard_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the thread-default context until *@result is set (bounded). */
static void
wait_result (GAsyncResult **result)
{
  GMainContext *ctx = g_main_context_get_thread_default ();
  gboolean expired = FALSE;
  g_autoptr (GSource) guard = g_timeout_source_new (GUARD_MS);

  g_source_set_callback (guard, guard_cb, &expired, NULL);
  g_source_attach (guard, ctx);
  while (*result == NULL && !expired)
    g_main_context_iteration (ctx, TRUE);
  g_source_destroy (guard);
  g_assert_nonnull (*result);
}

static GMainContext *
push_ctx (void)
{
  GMainContext *ctx = g_main_context_new ();

  g_main_context_push_thread_default (ctx);
  return ctx;
}

static void
pop_ctx (GMainContext *ctx)
{
  while (g_main_context_iteration (ctx, FALSE));
  g_main_context_pop_thread_default (ctx);
  g_main_context_unref (ctx);
}

/* ---- connection tests ---- */

static void
test_send_limits (void)
{
  g_autoptr (SyncConn) c = g_object_new (sync_conn_get_type (), NULL);
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *big = g_malloc0 (P2P_MAX_MESSAGE_SIZE + 1);
  g_autoptr (GBytes) max = g_bytes_new_static (big, P2P_MAX_MESSAGE_SIZE);
  g_autoptr (GBytes) over = g_bytes_new_static (big, P2P_MAX_MESSAGE_SIZE + 1);
  g_autoptr (GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr (GCancellable) cancelled = g_cancellable_new ();

  g_assert_true (p2p_connection_send (P2P_CONNECTION (c), max, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (p2p_connection_send (P2P_CONNECTION (c), empty, NULL, &error));
  g_assert_cmpuint (c->sent->len, ==, 2);

  g_assert_false (p2p_connection_send (P2P_CONNECTION (c), over, NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "1048577 bytes is larger than the maximum of 1048576"));
  g_assert_cmpuint (c->sent->len, ==, 2);       /* the vfunc was not called */
  g_clear_error (&error);

  g_cancellable_cancel (cancelled);
  g_assert_false (p2p_connection_send (P2P_CONNECTION (c), empty, cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_null (p2p_connection_receive (P2P_CONNECTION (c), cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (c->sent->len, ==, 2);
}

static void
test_send_async_in_thread (void)
{
  GMainContext *ctx = push_ctx ();
  g_autoptr (SyncConn) c = g_object_new (sync_conn_get_type (), NULL);
  g_autoptr (GBytes) msg = g_bytes_new_static ("hello", 5);
  g_autofree guint8 *big = g_malloc0 (P2P_MAX_MESSAGE_SIZE + 1);
  g_autoptr (GBytes) over = g_bytes_new_static (big, P2P_MAX_MESSAGE_SIZE + 1);
  GAsyncResult *result = NULL;
  g_autoptr (GError) error = NULL;

  p2p_connection_send_async (P2P_CONNECTION (c), msg, NULL, store_result, &result);
  wait_result (&result);
  g_assert_true (p2p_connection_send_finish (P2P_CONNECTION (c), result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);
  g_assert_cmpuint (c->sent->len, ==, 1);
  g_assert_true (g_bytes_equal (c->sent->pdata[0], msg));
  /* the blocking implementation ran in a worker thread */
  g_assert_true (c->send_thread != g_thread_self ());

  /* the size limit applies to the async variant too, via the callback */
  p2p_connection_send_async (P2P_CONNECTION (c), over, NULL, store_result, &result);
  g_assert_null (result);       /* never synchronously */
  wait_result (&result);
  g_assert_false (p2p_connection_send_finish (P2P_CONNECTION (c), result, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_clear_object (&result);
  g_assert_cmpuint (c->sent->len, ==, 1);
  pop_ctx (ctx);
}

static void
test_receive_async_in_thread (void)
{
  GMainContext *ctx = push_ctx ();
  g_autoptr (SyncConn) c = g_object_new (sync_conn_get_type (), NULL);
  GAsyncResult *result = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) got = NULL;

  g_queue_push_tail (&c->inbox, g_bytes_new_static ("m1", 2));
  p2p_connection_receive_async (P2P_CONNECTION (c), NULL, store_result, &result);
  wait_result (&result);
  got = p2p_connection_receive_finish (P2P_CONNECTION (c), result, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), "m1", 2);
  g_clear_object (&result);

  /* the implementation's error comes through */
  p2p_connection_receive_async (P2P_CONNECTION (c), NULL, store_result, &result);
  wait_result (&result);
  g_assert_null (p2p_connection_receive_finish (P2P_CONNECTION (c), result, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_CLOSED);
  g_assert_cmpstr (error->message, ==, "peer closed: done");
  g_clear_object (&result);
  pop_ctx (ctx);
}

static void
test_sync_over_async (void)
{
  g_autoptr (AsyncConn) c = g_object_new (async_conn_get_type (), NULL);
  g_autoptr (GBytes) msg = g_bytes_new_static ("x", 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) got = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();

  g_assert_true (p2p_connection_send (P2P_CONNECTION (c), msg, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (c->sends, ==, 1);
  got = p2p_connection_receive (P2P_CONNECTION (c), cancellable, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), "async", 5);

  /* features the subclass does not implement are clear errors */
  g_assert_false (p2p_connection_send_datagram (P2P_CONNECTION (c), msg, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "AsyncConn does not support datagrams"));
  g_clear_error (&error);
  g_assert_null (p2p_connection_open_stream (P2P_CONNECTION (c), NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (p2p_connection_accept_stream (P2P_CONNECTION (c), NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpuint (p2p_connection_get_max_datagram_size (P2P_CONNECTION (c)), ==, 0);
  g_assert_null (p2p_connection_get_peer_id (P2P_CONNECTION (c)));
  g_assert_false (p2p_connection_is_connected (P2P_CONNECTION (c)));
  p2p_connection_close (P2P_CONNECTION (c), NULL);
}

static void
test_datagram_limit (void)
{
  g_autoptr (SyncConn) c = g_object_new (sync_conn_get_type (), NULL);
  g_autoptr (GError) error = NULL;
  guint8 buf[101] = { 0 };
  g_autoptr (GBytes) ok = g_bytes_new (buf, 100);
  g_autoptr (GBytes) over = g_bytes_new (buf, 101);

  g_assert_cmpuint (p2p_connection_get_max_datagram_size (P2P_CONNECTION (c)), ==, 100);
  g_assert_true (p2p_connection_send_datagram (P2P_CONNECTION (c), ok, &error));
  g_assert_false (p2p_connection_send_datagram (P2P_CONNECTION (c), over, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "101 bytes is larger than the maximum of 100"));
  g_assert_cmpuint (c->sent->len, ==, 1);
}

typedef struct {
  guint closed;
  GError *closed_error;
  GArray *kinds;
  GPtrArray *datagrams;
} SignalLog;

static void
on_closed (P2pConnection *c, const GError *error, gpointer user_data)
{
  SignalLog *log = user_data;

  log->closed++;
  g_clear_error (&log->closed_error);
  log->closed_error = error ? g_error_copy (error) : NULL;
}

static void
on_path_changed (P2pConnection *c, P2pPathKind old_kind, P2pPathKind new_kind,
    gpointer user_data)
{
  g_array_append_val (((SignalLog *) user_data)->kinds, old_kind);
  g_array_append_val (((SignalLog *) user_data)->kinds, new_kind);
}

static void
on_datagram (P2pConnection *c, GBytes *d, gpointer user_data)
{
  g_ptr_array_add (((SignalLog *) user_data)->datagrams, g_bytes_ref (d));
}

static void
test_signals_and_state (void)
{
  g_autoptr (SyncConn) c = g_object_new (sync_conn_get_type (), NULL);
  P2pConnection *conn = P2P_CONNECTION (c);
  SignalLog log = { 0, NULL, g_array_new (FALSE, FALSE, sizeof (P2pPathKind)),
    g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref) };
  g_autoptr (GError) err = g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT, "idle for 30 s");
  g_autoptr (GBytes) d = g_bytes_new_static ("dg", 2);
  P2pConnectionStats stats;

  g_signal_connect (c, "closed", G_CALLBACK (on_closed), &log);
  g_signal_connect (c, "path-changed", G_CALLBACK (on_path_changed), &log);
  g_signal_connect (c, "datagram-received", G_CALLBACK (on_datagram), &log);

  p2p_connection_emit_path_changed (conn, P2P_PATH_KIND_RELAY, P2P_PATH_KIND_DIRECT);
  g_assert_cmpuint (log.kinds->len, ==, 2);
  g_assert_cmpint (g_array_index (log.kinds, P2pPathKind, 0), ==, P2P_PATH_KIND_RELAY);
  g_assert_cmpint (g_array_index (log.kinds, P2pPathKind, 1), ==, P2P_PATH_KIND_DIRECT);
  p2p_connection_emit_datagram (conn, d);
  g_assert_cmpuint (log.datagrams->len, ==, 1);
  g_assert_true (g_bytes_equal (log.datagrams->pdata[0], d));
  p2p_connection_emit_closed (conn, NULL);
  g_assert_cmpuint (log.closed, ==, 1);
  g_assert_null (log.closed_error);
  p2p_connection_emit_closed (conn, err);
  g_assert_cmpuint (log.closed, ==, 2);
  g_assert_error (log.closed_error, P2P_ERROR, P2P_ERROR_TIMEOUT);
  g_assert_cmpstr (log.closed_error->message, ==, "idle for 30 s");

  memset (&stats, 0xff, sizeof stats);
  p2p_connection_get_stats (conn, &stats);
  g_assert_cmpuint (stats.rtt_us, ==, 0);       /* zeroed by the base class */
  g_assert_cmpuint (stats.messages_sent, ==, 0);
  g_assert_cmpint (stats.path_kind, ==, P2P_PATH_KIND_SIMULATED);
  /* path changes are counted by the implementation (none here) */
  g_assert_cmpuint (stats.path_changes, ==, 0);
  g_assert_cmpuint (stats.direct_path_time_us, ==, 0);

  g_assert_cmpuint (p2p_connection_get_peer_id (conn)->key[0], ==, 0x42);
  g_assert_true (p2p_connection_is_connected (conn));
  p2p_connection_close (conn, NULL);
  g_assert_false (p2p_connection_is_connected (conn));
  g_assert_cmpstr (c->close_reason, ==, "");
  p2p_connection_close (conn, "bye");
  g_assert_cmpstr (c->close_reason, ==, "bye");

  g_clear_error (&log.closed_error);
  g_array_unref (log.kinds);
  g_ptr_array_unref (log.datagrams);
}

/* ---- listener ---- */

typedef struct {
  P2pListener parent;
  gboolean closed;
} SyncListener;

typedef struct {
  P2pListenerClass parent_class;
} SyncListenerClass;

static GType sync_listener_get_type (void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SyncListener, g_object_unref)
G_DEFINE_TYPE (SyncListener, sync_listener, P2P_TYPE_LISTENER)

static P2pConnection *
sync_listener_accept (P2pListener *l, GCancellable *cancellable, GError **error)
{
  if (((SyncListener *) l)->closed) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "listener closed");
    return NULL;
  }
  return g_object_new (sync_conn_get_type (), NULL);
}

static void
sync_listener_close (P2pListener *l)
{
  ((SyncListener *) l)->closed = TRUE;
}

static char *
sync_listener_get_ticket (P2pListener *l)
{
  return g_strdup ("p2p1ticket");
}

static void
sync_listener_class_init (SyncListenerClass *klass)
{
  P2pListenerClass *lc = P2P_LISTENER_CLASS (klass);

  lc->accept = sync_listener_accept;
  lc->close = sync_listener_close;
  lc->get_ticket = sync_listener_get_ticket;
}

static void
sync_listener_init (SyncListener *self)
{
}

static void
test_listener (void)
{
  GMainContext *ctx = push_ctx ();
  g_autoptr (SyncListener) l = g_object_new (sync_listener_get_type (), NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c1 = NULL;
  g_autoptr (P2pConnection) c2 = NULL;
  g_autoptr (GCancellable) cancelled = g_cancellable_new ();
  g_autofree char *ticket = NULL;
  GAsyncResult *result = NULL;

  c1 = p2p_listener_accept (P2P_LISTENER (l), NULL, &error);
  g_assert_no_error (error);
  g_assert_true (P2P_IS_CONNECTION (c1));

  p2p_listener_accept_async (P2P_LISTENER (l), NULL, store_result, &result);
  wait_result (&result);
  c2 = p2p_listener_accept_finish (P2P_LISTENER (l), result, &error);
  g_assert_no_error (error);
  g_assert_true (P2P_IS_CONNECTION (c2));
  g_clear_object (&result);

  g_assert_null (p2p_listener_get_local_address (P2P_LISTENER (l)));
  ticket = p2p_listener_get_ticket (P2P_LISTENER (l));
  g_assert_cmpstr (ticket, ==, "p2p1ticket");

  g_cancellable_cancel (cancelled);
  g_assert_null (p2p_listener_accept (P2P_LISTENER (l), cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  p2p_listener_close (P2P_LISTENER (l));
  p2p_listener_accept_async (P2P_LISTENER (l), NULL, store_result, &result);
  wait_result (&result);
  g_assert_null (p2p_listener_accept_finish (P2P_LISTENER (l), result, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_CLOSED);
  g_clear_object (&result);
  pop_ctx (ctx);
}

/* ---- provider ---- */

typedef struct {
  GObject parent;
  P2pPeerId id;
  GThread *connect_thread;
} TestProvider;

typedef struct {
  GObjectClass parent_class;
} TestProviderClass;

static void test_provider_iface_init (P2pProviderInterface *iface);
static GType test_provider_get_type (void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestProvider, g_object_unref)
G_DEFINE_TYPE_WITH_CODE (TestProvider, test_provider, G_TYPE_OBJECT,
    G_IMPLEMENT_INTERFACE (P2P_TYPE_PROVIDER, test_provider_iface_init))

/* The "network thread": the work runs in a worker, the GTask completes on
 * the caller's thread-default context. */
static void
connect_thread_func (GTask *task, gpointer source, gpointer task_data,
    GCancellable *cancellable)
{
  const char *peer = task_data;

  ((TestProvider *) source)->connect_thread = g_thread_self ();
  if (g_str_equal (peer, "unknown"))
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND,
        "peer 'unknown' is not registered");
  else
    g_task_return_pointer (task, g_object_new (sync_conn_get_type (), NULL), g_object_unref);
}

static void
test_provider_connect_async (P2pProvider *p, const char *peer, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (p, cancellable, callback, user_data);

  g_task_set_task_data (task, g_strdup (peer), g_free);
  g_task_run_in_thread (task, connect_thread_func);
}

static P2pConnection *
test_provider_connect_finish (P2pProvider *p, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static const P2pPeerId *
test_provider_get_local_peer_id (P2pProvider *p)
{
  return &((TestProvider *) p)->id;
}

static void
test_provider_iface_init (P2pProviderInterface *iface)
{
  iface->connect_async = test_provider_connect_async;
  iface->connect_finish = test_provider_connect_finish;
  iface->get_local_peer_id = test_provider_get_local_peer_id;
}

static void
test_provider_class_init (TestProviderClass *klass)
{
}

static void
test_provider_init (TestProvider *self)
{
  memset (self->id.key, 7, sizeof self->id.key);
}

static void
test_provider (void)
{
  g_autoptr (TestProvider) tp = g_object_new (test_provider_get_type (), NULL);
  P2pProvider *p = P2P_PROVIDER (tp);
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConnection) c = NULL;
  g_autoptr (GCancellable) cancelled = g_cancellable_new ();
  GMainContext *outer = push_ctx ();
  guint outer_dispatches = 0;

  /* blocking connect: works without anyone iterating the caller's
   * thread-default context (it uses a private one) */
  c = p2p_provider_connect (p, "somebody", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (P2P_IS_CONNECTION (c));
  g_assert_true (tp->connect_thread != g_thread_self ());
  while (g_main_context_iteration (outer, FALSE))
    outer_dispatches++;
  g_assert_cmpuint (outer_dispatches, ==, 0);

  g_assert_null (p2p_provider_connect (p, "unknown", NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_clear_error (&error);

  g_cancellable_cancel (cancelled);
  g_assert_null (p2p_provider_connect (p, "somebody", cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  /* listen is not implemented by this provider: a clear error */
  g_assert_null (p2p_provider_listen (p, NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "TestProvider cannot listen"));
  g_assert_cmpuint (p2p_provider_get_local_peer_id (p)->key[31], ==, 7);
  pop_ctx (outer);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/transport-base/connection/send-limits", test_send_limits);
  g_test_add_func ("/transport-base/connection/send-async-in-thread", test_send_async_in_thread);
  g_test_add_func ("/transport-base/connection/receive-async-in-thread",
      test_receive_async_in_thread);
  g_test_add_func ("/transport-base/connection/sync-over-async", test_sync_over_async);
  g_test_add_func ("/transport-base/connection/datagram-limit", test_datagram_limit);
  g_test_add_func ("/transport-base/connection/signals-and-state", test_signals_and_state);
  g_test_add_func ("/transport-base/listener", test_listener);
  g_test_add_func ("/transport-base/provider", test_provider);
  return g_test_run ();
}
