/* p2p-quic-connection.c: P2pQuicConnection, the P2pConnection that drives one
 * sans-I/O P2pQuicSession over one P2pPacketPath.
 *
 * Threads (docs/architecture.md):
 *  - the session, the path and everything marked "net" below are touched
 *    only on the path's GMainContext (the provider's network thread);
 *  - the public P2pConnection functions may be called from any thread: they
 *    exchange data with the network thread through queues guarded by
 *    self->lock and wake it with one idle source ("work") per batch; blocking
 *    calls wait on self->cond, woken by the network thread and by their
 *    GCancellable;
 *  - a blocking call made ON the network thread that would have to wait
 *    fails with G_IO_ERROR_WOULD_BLOCK instead of deadlocking;
 *  - signals ("closed", "path-changed", "datagram-received", and the internal
 *    "established") are emitted on the network thread, never from inside a
 *    session call.
 *
 * Driving: a datagram from the path → p2p_quic_session_receive(), then one
 * flush scheduled for the end of the burst (an idle source at default
 * priority, dispatched after the socket source of the same iteration); the
 * path timer → p2p_quic_session_handle_timeout() + flush; flush = write
 * datagrams (buffer of the path MTU, at least 1452) until the session has
 * nothing more, then re-arm the path timer at the session's deadline.
 *
 * The GIOStream of an extra stream lives in p2p-quic-stream.c; the fields
 * both files use are in p2p-quic-connection-private.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-connection-private.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-frame.h"
#include "p2p-mtu.h"

#include <string.h>

/* datagrams handed from callers to the network thread and not yet given to
 * the session (whose own queue, MAX_QUEUED_DATAGRAMS in
 * p2p-quic-session.c, is separate) */
#define MAX_HANDOFF_DATAGRAMS 64

G_DEFINE_FINAL_TYPE (P2pQuicConnection, p2p_quic_connection, P2P_TYPE_CONNECTION)

enum {
  SIGNAL_ESTABLISHED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void flush (P2pQuicConnection *self);

/* ------------------------------------------------------- thread helpers */

/* TRUE when the caller owns the connection's context: it is dispatching it
 * (the network thread, a signal handler) or holds it as its thread-default
 * context (g_main_context_push_thread_default() acquires it: e.g. a test
 * driving a simulated network in MANUAL mode between two run calls).
 * Waiting for that context could never end: blocking calls fail with
 * G_IO_ERROR_WOULD_BLOCK instead, and run_on_net_thread() runs directly. */
gboolean
p2p_quic_conn_on_net_thread (P2pQuicConnection *self)
{
  return g_main_context_is_owner (self->ctx);
}

static void
cancel_wakeup (GCancellable *cancellable, gpointer user_data)
{
  P2pQuicConnection *self = user_data;

  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

/* Call without holding the lock. */
void
p2p_quic_conn_watch_begin (CancelWatch *w, P2pQuicConnection *self, GCancellable *cancellable)
{
  w->self = self;
  w->cancellable = cancellable;
  w->id = cancellable ? g_cancellable_connect (cancellable, G_CALLBACK (cancel_wakeup), self,
      NULL) : 0;
}

void
p2p_quic_conn_watch_end (CancelWatch *w)
{
  if (w->cancellable && w->id)
    g_cancellable_disconnect (w->cancellable, w->id);
}

void
p2p_quic_conn_set_would_block (GError **error, const char *what)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
      "%s would block on the network thread; call it from another thread or use the "
      "async variant", what);
}

/* Under lock: the error for a call on a closed connection. */
void
p2p_quic_conn_set_closed_error_locked (P2pQuicConnection *self, GError **error)
{
  if (self->close_error)
    g_propagate_error (error, g_error_copy (self->close_error));
  else
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CLOSED, "connection closed");
}

/* (transfer full) (nullable): why the connection closed, NULL while open. */
GError *
p2p_quic_connection_dup_close_error (P2pQuicConnection *self)
{
  GError *error = NULL;

  g_return_val_if_fail (P2P_IS_QUIC_CONNECTION (self), NULL);
  g_mutex_lock (&self->lock);
  if (self->closed && self->close_error)
    error = g_error_copy (self->close_error);
  g_mutex_unlock (&self->lock);
  return error;
}

#define CONSUMED_BATCH (256 * 1024)

/* Under lock: the application took @msg from the receive queue. Its credit
 * goes back to the session (so the peer may send more) from work_cb, in
 * batches; returns TRUE when the caller must p2p_quic_conn_schedule_work() (after unlocking). */
static gboolean
note_consumed_locked (P2pQuicConnection *self, GBytes *msg)
{
  gsize before = self->recv_consumed_pending;

  self->recv_consumed_pending += g_bytes_get_size (msg);
  if (self->recv_consumed_pending == 0)
    return FALSE;
  /* Once per batch, and whenever the queue ran empty (the reader waits). */
  return (before < CONSUMED_BATCH && self->recv_consumed_pending >= CONSUMED_BATCH) ||
      self->recv_queue.length == 0;
}

/* Runs @func on the network thread and waits (directly when already there). */
typedef void (*NetFunc) (P2pQuicConnection *self, gpointer data);

typedef struct {
  P2pQuicConnection *self;
  NetFunc func;
  gpointer data;
  gboolean done;
} NetCall;

static gboolean
net_call_cb (gpointer user_data)
{
  NetCall *call = user_data;
  P2pQuicConnection *self = call->self;

  call->func (self, call->data);
  g_mutex_lock (&self->lock);
  call->done = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return G_SOURCE_REMOVE;
}

static void
run_on_net_thread (P2pQuicConnection *self, NetFunc func, gpointer data)
{
  NetCall call = { self, func, data, FALSE };
  GSource *src;

  if (g_main_context_is_owner (self->ctx)) {
    func (self, data);
    return;
  }
  /* Nobody is dispatching the context right now (its thread stopped, or a
   * MANUAL simulated network between two run calls): run here, holding it,
   * instead of waiting for an iteration that may never come. */
  if (g_main_context_acquire (self->ctx)) {
    g_object_ref (self);
    func (self, data);
    g_main_context_release (self->ctx);
    g_object_unref (self);
    return;
  }
  g_object_ref (self);
  src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_DEFAULT);
  g_source_set_callback (src, net_call_cb, &call, NULL);
  g_source_attach (src, self->ctx);
  g_source_unref (src);
  g_mutex_lock (&self->lock);
  while (!call.done)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);
  g_object_unref (self);
}

/* ---------------------------------------------------------- async waiters
 * receive_async / send_async that cannot complete at once park a Waiter;
 * the network thread completes it (GTask then calls back on the caller's
 * context). Cancellation is watched by a source on the network thread. */

typedef struct {
  GTask *task;
  GBytes *message;              /* send_async only */
  GSource *cancel_source;
} Waiter;

static void
waiter_free (Waiter *w)
{
  if (w->cancel_source) {
    g_source_destroy (w->cancel_source);
    g_source_unref (w->cancel_source);
  }
  g_clear_pointer (&w->message, g_bytes_unref);
  g_clear_object (&w->task);
  g_free (w);
}

typedef struct {
  P2pQuicConnection *self;
  Waiter *w;
  GQueue *queue;
} WaiterCancel;

static gboolean
waiter_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  WaiterCancel *wc = user_data;
  P2pQuicConnection *self = wc->self;
  gboolean found;

  g_mutex_lock (&self->lock);
  found = g_queue_remove (wc->queue, wc->w);
  g_mutex_unlock (&self->lock);
  if (found) {
    Waiter *w = wc->w;

    g_task_return_error_if_cancelled (w->task);
    g_clear_pointer (&w->cancel_source, g_source_unref); /* being dispatched */
    waiter_free (w);
  }
  return G_SOURCE_REMOVE;
}

static void
waiter_cancel_free (gpointer data)
{
  WaiterCancel *wc = data;

  g_object_unref (wc->self);
  g_free (wc);
}

/* Under lock: parks @w on @queue, watching its task's cancellable. */
static void
waiter_park_locked (P2pQuicConnection *self, Waiter *w, GQueue *queue)
{
  GCancellable *cancellable = g_task_get_cancellable (w->task);

  if (cancellable) {
    WaiterCancel *wc = g_new0 (WaiterCancel, 1);

    wc->self = g_object_ref (self);
    wc->w = w;
    wc->queue = queue;
    w->cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (w->cancel_source, G_SOURCE_FUNC (waiter_cancelled_cb), wc,
        waiter_cancel_free);
    g_source_attach (w->cancel_source, self->ctx);
  }
  g_queue_push_tail (queue, w);
}

/* Fails every parked waiter with the close error (after the close). */
static void
fail_waiters (P2pQuicConnection *self)
{
  GQueue rq, sq;
  Waiter *w;
  GError *err;

  g_mutex_lock (&self->lock);
  rq = self->recv_waiters;
  sq = self->send_waiters;
  g_queue_init (&self->recv_waiters);
  g_queue_init (&self->send_waiters);
  err = self->close_error ? g_error_copy (self->close_error)
      : g_error_new_literal (P2P_ERROR, P2P_ERROR_CLOSED, "connection closed");
  g_mutex_unlock (&self->lock);
  while ((w = g_queue_pop_head (&rq))) {
    g_task_return_error (w->task, g_error_copy (err));
    waiter_free (w);
  }
  while ((w = g_queue_pop_head (&sq))) {
    g_task_return_error (w->task, g_error_copy (err));
    waiter_free (w);
  }
  g_error_free (err);
}

/* Net thread: lets parked send_async callers in while there is room. */
static void
admit_send_waiters (P2pQuicConnection *self)
{
  GQueue done = G_QUEUE_INIT;
  Waiter *w;

  g_mutex_lock (&self->lock);
  while (!self->closed && !self->close_requested && self->send_waiters.length > 0 &&
      self->session_queued + self->send_queue_bytes < self->send_high) {
    w = g_queue_pop_head (&self->send_waiters);
    self->send_queue_bytes += g_bytes_get_size (w->message);
    g_queue_push_tail (&self->send_queue, g_steal_pointer (&w->message));
    g_queue_push_tail (&done, w);
  }
  g_mutex_unlock (&self->lock);
  while ((w = g_queue_pop_head (&done))) {
    g_task_return_boolean (w->task, TRUE);
    waiter_free (w);
  }
}

/* ------------------------------------------------------ session callbacks */


static void
finish_dial (P2pQuicConnection *self, GError *error)
{
  GTask *task = g_steal_pointer (&self->dial_task);

  if (task == NULL) {
    g_clear_error (&error);
    return;
  }
  if (self->dial_cancel_source) {
    g_source_destroy (self->dial_cancel_source);
    g_clear_pointer (&self->dial_cancel_source, g_source_unref);
  }
  if (error)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, g_object_ref (self), g_object_unref);
  g_object_unref (task);
}

static void
cb_established (P2pQuicSession *s, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);
  const P2pPeerId *peer = p2p_quic_session_get_peer_id (s);

  if (self == NULL)
    return;

  g_mutex_lock (&self->lock);
  self->established = TRUE;
  if (peer) {
    self->peer_id = *peer;
    self->have_peer_id = TRUE;
  }
  self->max_dgram = p2p_quic_session_get_max_datagram_size (s);
  self->protocol_version = p2p_quic_session_get_protocol_version (s);
  self->peer_capabilities = p2p_quic_session_get_peer_capabilities (s);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  /* Completion and the signal run after the session call (p2p_quic_conn_schedule_work). */
  p2p_quic_conn_schedule_work (self);
}

static void
cb_message (P2pQuicSession *s, GBytes *message, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);

  if (self == NULL) {
    g_bytes_unref (message);
    return;
  }

  Waiter *w = NULL;

  g_mutex_lock (&self->lock);
  if (self->recv_queue.length == 0)
    w = g_queue_pop_head (&self->recv_waiters);
  if (w == NULL) {
    g_queue_push_tail (&self->recv_queue, message);
    g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);
  if (w) {
    /* Handed to the application at once: its credit goes back now. */
    if (self->session)
      p2p_quic_session_message_consumed (self->session, g_bytes_get_size (message));
    g_task_return_pointer (w->task, message, (GDestroyNotify) g_bytes_unref);
    waiter_free (w);
  }
}

typedef struct {
  P2pQuicConnection *self;
  GBytes *datagram;
} DgramEmit;

static gboolean
emit_datagram_cb (gpointer user_data)
{
  DgramEmit *e = user_data;

  p2p_connection_emit_datagram (P2P_CONNECTION (e->self), e->datagram);
  return G_SOURCE_REMOVE;
}

static void
dgram_emit_free (gpointer data)
{
  DgramEmit *e = data;

  g_object_unref (e->self);
  g_bytes_unref (e->datagram);
  g_free (e);
}

static void
cb_datagram (P2pQuicSession *s, const guint8 *data, gsize len, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);
  DgramEmit *e;
  GSource *src;

  if (self == NULL)
    return;
  e = g_new0 (DgramEmit, 1);

  /* Emitted from an idle source so handlers never run inside the session. */
  e->self = g_object_ref (self);
  e->datagram = g_bytes_new (data, len);
  src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_DEFAULT);
  g_source_set_callback (src, emit_datagram_cb, e, dgram_emit_free);
  g_source_attach (src, self->ctx);
  g_source_unref (src);
}

static void
cb_writable (P2pQuicSession *s, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);

  if (self == NULL)
    return;

  g_mutex_lock (&self->lock);
  self->session_queued = p2p_quic_session_get_send_queued (s);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static StreamState *
lookup_stream_locked (P2pQuicConnection *self, gint64 id)
{
  return g_hash_table_lookup (self->streams, &id);
}

static StreamState *
add_stream_locked (P2pQuicConnection *self, gint64 id)
{
  StreamState *st = p2p_quic_stream_state_new (id);
  gint64 *key = g_new (gint64, 1);

  *key = id;
  g_hash_table_insert (self->streams, key, st);
  return st;
}

static void
cb_stream_opened (P2pQuicSession *s, gint64 stream_id, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);
  StreamState *st;

  if (self == NULL)
    return;

  g_mutex_lock (&self->lock);
  st = lookup_stream_locked (self, stream_id);
  if (st == NULL) {
    st = add_stream_locked (self, stream_id);
    g_queue_push_tail (&self->accept_streams, p2p_quic_stream_state_ref (st));
  }
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
cb_stream_data (P2pQuicSession *s, gint64 stream_id, const guint8 *data, gsize len,
    gboolean fin, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);
  StreamState *st;
  gboolean discard = FALSE;

  if (self == NULL)
    return;

  g_mutex_lock (&self->lock);
  st = lookup_stream_locked (self, stream_id);
  if (st == NULL) {
    /* Data before/without stream_opened: treat as a newly opened stream. */
    st = add_stream_locked (self, stream_id);
    g_queue_push_tail (&self->accept_streams, p2p_quic_stream_state_ref (st));
  }
  if (st->dead) {
    discard = TRUE;
  } else {
    g_byte_array_append (st->in, data, len);
    if (fin)
      st->in_fin = TRUE;
  }
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  if (discard && len > 0)
    p2p_quic_session_stream_consumed (s, stream_id, len);
}

static void
cb_stream_writable (P2pQuicSession *s, gint64 stream_id, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);

  if (self)
    p2p_quic_conn_schedule_work (self);
}

static void
cb_stream_reset (P2pQuicSession *s, gint64 stream_id, guint64 app_error, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);
  StreamState *st;

  if (self == NULL)
    return;

  g_mutex_lock (&self->lock);
  st = lookup_stream_locked (self, stream_id);
  if (st)
    st->reset = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
cb_closed (P2pQuicSession *s, const GError *error, const char *reason, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);

  if (self == NULL)
    return;

  g_mutex_lock (&self->lock);
  if (!self->closed) {
    self->closed = TRUE;
    g_clear_error (&self->close_error);
    if (error) {
      self->close_error = g_error_copy (error);
      self->closed_signal_error = g_error_copy (error);
    } else {
      self->close_error = g_error_new_literal (P2P_ERROR, P2P_ERROR_CLOSED,
          reason && *reason ? reason : "connection closed");
      if (reason && *reason)
        self->closed_reason = g_strdup (reason);
    }
    p2p_quic_session_get_stats (s, &self->last_stats);
  }
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  self->closed_pending = TRUE;
  p2p_quic_conn_schedule_work (self);
}

static const P2pQuicSessionCallbacks session_callbacks = {
  .established = cb_established,
  .message = cb_message,
  .datagram = cb_datagram,
  .writable = cb_writable,
  .stream_opened = cb_stream_opened,
  .stream_data = cb_stream_data,
  .stream_writable = cb_stream_writable,
  .stream_reset = cb_stream_reset,
  .closed = cb_closed,
};

/* ------------------------------------------------------------- driving */

/* After a session call: complete what the callbacks reported. */
static void
after_session_call (P2pQuicConnection *self)
{
  gboolean established, closed, emit_closed = FALSE;
  GError *signal_error = NULL;
  g_autofree char *reason = NULL;

  g_mutex_lock (&self->lock);
  established = self->established;
  closed = self->closed;
  if (closed && !self->closed_emitted && self->closed_pending) {
    self->closed_emitted = TRUE;
    emit_closed = TRUE;
    signal_error = self->closed_signal_error ? g_error_copy (self->closed_signal_error) : NULL;
    reason = g_strdup (self->closed_reason);
  }
  g_mutex_unlock (&self->lock);

  if (established && !closed) {
    if (self->dial_task) {
      finish_dial (self, NULL);
    } else if (!g_object_get_data (G_OBJECT (self), "p2p-established-emitted")) {
      g_object_set_data (G_OBJECT (self), "p2p-established-emitted", GINT_TO_POINTER (1));
      g_signal_emit (self, signals[SIGNAL_ESTABLISHED], 0);
    }
  }
  if (emit_closed) {
    g_object_ref (self);
    if (self->dial_task) {
      GError *e;

      /* a peer that closes before the handshake completes (a listener
       * refusing a dialer: max-peers) gives its reason in a Disconnect */
      if (signal_error)
        e = g_error_copy (signal_error);
      else if (reason)
        e = g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
            "connection closed during the handshake: %s", reason);
      else
        e = g_error_new_literal (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
            "connection closed during the handshake");
      finish_dial (self, e);
    }
    /* The final CONNECTION_CLOSE went out in the last flush: stop the path. */
    if (self->path && !self->path_closed) {
      self->path_closed = TRUE;
      p2p_packet_path_set_timer (self->path, G_MAXUINT64);
      p2p_packet_path_close (self->path);
    }
    fail_waiters (self);
    p2p_connection_emit_closed (P2P_CONNECTION (self), signal_error);
    g_object_unref (self);
  }
  g_clear_error (&signal_error);
}

static void
flush (P2pQuicConnection *self)
{
  guint64 now;
  gsize n, queued;
  gboolean wake;

  if (self->session == NULL || self->path_closed)
    return;
  now = p2p_packet_path_now (self->path);
  while ((n = p2p_quic_session_write (self->session, self->buf, self->buflen, now)) > 0)
    (void) p2p_packet_path_send (self->path, self->buf, n, NULL); /* failure = loss */

  g_mutex_lock (&self->lock);
  queued = p2p_quic_session_get_send_queued (self->session);
  /* Senders wait for session_queued + send_queue_bytes < send_high. */
  wake = queued < self->session_queued;
  self->session_queued = queued;
  if (self->established && !self->closed)
    self->max_dgram = p2p_quic_session_get_max_datagram_size (self->session);
  if (wake)
    g_cond_broadcast (&self->cond);
  if (wake && self->send_waiters.length > 0 && !self->work_scheduled) {
    g_mutex_unlock (&self->lock);
    p2p_quic_conn_schedule_work (self);       /* admit_send_waiters */
  } else {
    g_mutex_unlock (&self->lock);
  }

  if (!self->path_closed)
    p2p_packet_path_set_timer (self->path, p2p_quic_session_get_deadline (self->session));
}

/* Feeds stream buffers into the session (net). */
static void
drain_streams (P2pQuicConnection *self)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GPtrArray) todo = g_ptr_array_new_with_free_func (
      (GDestroyNotify) p2p_quic_stream_state_unref);

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    StreamState *st = value;

    /* dropped by the application (only this table holds it) and closed by
     * QUIC: forget it, so a connection carrying many short streams (file
     * requests) keeps a table of the live ones only */
    if (st->dead && g_atomic_int_get (&st->ref_count) == 1 && self->session
        && !p2p_quic_session_has_stream (self->session, st->id)) {
      g_hash_table_iter_remove (&iter);
      continue;
    }
    if (st->out->len > 0 || (st->fin_requested && !st->fin_sent) || st->consumed_pending > 0 ||
        st->grant_pending)
      g_ptr_array_add (todo, p2p_quic_stream_state_ref (st));
  }
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < todo->len; i++) {
    StreamState *st = g_ptr_array_index (todo, i);
    gsize consumed, avail;
    g_autofree guint8 *copy = NULL;
    gboolean fin = FALSE, grant;

    g_mutex_lock (&self->lock);
    grant = st->grant_pending;
    st->grant_pending = FALSE;
    consumed = st->consumed_pending;
    st->consumed_pending = 0;
    avail = st->out->len;
    if (avail > 0)
      copy = g_memdup2 (st->out->data, avail);
    g_mutex_unlock (&self->lock);

    if (grant)
      p2p_quic_session_stream_accepted (self->session, st->id);
    if (consumed > 0)
      p2p_quic_session_stream_consumed (self->session, st->id, consumed);
    if (avail > 0) {
      g_autoptr (GError) error = NULL;
      gssize took = p2p_quic_session_stream_write (self->session, st->id, copy, avail, &error);

      g_mutex_lock (&self->lock);
      if (took < 0) {
        g_debug ("stream %" G_GINT64_FORMAT " write failed: %s", st->id, error->message);
        st->reset = TRUE;
        g_byte_array_set_size (st->out, 0);
      } else if (took > 0) {
        g_byte_array_remove_range (st->out, 0, (guint) took);
      }
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
    }
    g_mutex_lock (&self->lock);
    if (st->fin_requested && !st->fin_sent && st->out->len == 0 && !st->reset) {
      st->fin_sent = TRUE;
      fin = TRUE;
      g_cond_broadcast (&self->cond);
    }
    g_mutex_unlock (&self->lock);
    if (fin)
      p2p_quic_session_stream_finish (self->session, st->id);
  }
}

static gboolean
work_cb (gpointer user_data)
{
  P2pQuicConnection *self = user_data;
  GQueue msgs = G_QUEUE_INIT, dgrams = G_QUEUE_INIT;
  gsize msg_bytes, consumed;
  gboolean close_requested;
  g_autofree char *reason = NULL;
  GBytes *b;

  g_mutex_lock (&self->lock);
  self->work_scheduled = FALSE;
  msgs = self->send_queue;
  g_queue_init (&self->send_queue);
  msg_bytes = self->send_queue_bytes;
  dgrams = self->dgram_queue;
  g_queue_init (&self->dgram_queue);
  /* close_requested stays set (is_connected() and send() see it from the
   * moment close() returns); close_pending is the one-shot work item */
  close_requested = self->close_pending;
  self->close_pending = FALSE;
  reason = g_steal_pointer (&self->close_reason);
  consumed = self->recv_consumed_pending;
  self->recv_consumed_pending = 0;
  g_mutex_unlock (&self->lock);

  if (self->session) {
    if (consumed > 0)
      p2p_quic_session_message_consumed (self->session, consumed);
    while ((b = g_queue_pop_head (&msgs))) {
      g_autoptr (GError) error = NULL;

      if (!p2p_quic_session_send_message (self->session, b, &error))
        g_debug ("message dropped: %s", error->message);
      g_bytes_unref (b);
    }
    while ((b = g_queue_pop_head (&dgrams))) {
      g_autoptr (GError) error = NULL;
      gsize len;
      const guint8 *data = g_bytes_get_data (b, &len);

      if (!p2p_quic_session_send_datagram (self->session, data, len, &error))
        g_debug ("datagram dropped: %s", error->message);
      g_bytes_unref (b);
    }
    drain_streams (self);
    if (close_requested && p2p_quic_session_get_state (self->session) < P2P_QUIC_STATE_CLOSING)
      p2p_quic_session_close (self->session, 0, reason ? reason : "");
  } else {
    g_queue_clear_full (&msgs, (GDestroyNotify) g_bytes_unref);
    g_queue_clear_full (&dgrams, (GDestroyNotify) g_bytes_unref);
  }

  g_mutex_lock (&self->lock);
  self->send_queue_bytes -= msg_bytes;
  g_mutex_unlock (&self->lock);

  flush (self);
  admit_send_waiters (self);
  after_session_call (self);
  return G_SOURCE_REMOVE;
}

/* Any thread: make sure one work_cb runs soon on the network thread. */
void
p2p_quic_conn_schedule_work (P2pQuicConnection *self)
{
  GSource *src;

  g_mutex_lock (&self->lock);
  if (self->work_scheduled) {
    g_mutex_unlock (&self->lock);
    return;
  }
  self->work_scheduled = TRUE;
  g_mutex_unlock (&self->lock);

  src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_DEFAULT);
  g_source_set_callback (src, work_cb, g_object_ref (self), g_object_unref);
  g_source_attach (src, self->ctx);
  g_source_unref (src);
}

/* Path handlers hold a weak reference: the path may outlive the connection. */
typedef struct {
  GWeakRef ref;
} HandlerData;

static void
handler_data_free (gpointer data)
{
  HandlerData *h = data;

  g_weak_ref_clear (&h->ref);
  g_free (h);
}

static void
on_path_receive (P2pPacketPath *path, const guint8 *data, gsize len, gpointer user_data)
{
  HandlerData *h = user_data;
  P2pQuicConnection *self = g_weak_ref_get (&h->ref);

  if (self == NULL)
    return;
  if (self->session && !self->path_closed) {
    p2p_quic_session_receive (self->session, data, len, p2p_packet_path_now (path));
    /* One flush per burst: work_cb runs after the pending socket reads. */
    p2p_quic_conn_schedule_work (self);
  }
  g_object_unref (self);
}

static void
on_path_timer (P2pPacketPath *path, gpointer user_data)
{
  HandlerData *h = user_data;
  P2pQuicConnection *self = g_weak_ref_get (&h->ref);

  if (self == NULL)
    return;
  if (self->session && !self->path_closed) {
    p2p_quic_session_handle_timeout (self->session, p2p_packet_path_now (path));
    flush (self);
    after_session_call (self);
  }
  g_object_unref (self);
}

static void
on_kind_changed (P2pPacketPath *path, P2pPathKind kind, gpointer user_data)
{
  p2p_connection_emit_path_changed (P2P_CONNECTION (user_data), kind);
}

static P2pQuicConnection *
connection_new (P2pPacketPath *path)
{
  P2pQuicConnection *self = g_object_new (P2P_TYPE_QUIC_CONNECTION, NULL);
  HandlerData *h = g_new0 (HandlerData, 1);

  self->path = g_object_ref (path);
  self->ctx = g_main_context_ref (p2p_packet_path_get_context (path));
  self->buflen = MAX (p2p_packet_path_get_mtu (path), P2P_INTERNET_MTU);
  self->buf = g_malloc (self->buflen);
  self->owner = g_new0 (Owner, 1);
  self->owner->conn = self;
  g_weak_ref_init (&h->ref, self);
  p2p_packet_path_set_handlers (path, on_path_receive, on_path_timer, h, handler_data_free);
  self->kind_changed_id = g_signal_connect_object (path, "kind-changed",
      G_CALLBACK (on_kind_changed), self, 0);
  return self;
}

static void
session_created (P2pQuicConnection *self)
{
  self->send_high = p2p_quic_session_get_send_queue_high (self->session);
  if (self->send_high == 0)
    self->send_high = 4 * 1024 * 1024;
}

/* ------------------------------------------------------------- dial/accept */

static gboolean
dial_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  P2pQuicConnection *self = user_data;
  g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
      "connection attempt cancelled");

  g_object_ref (self);
  if (self->session)
    p2p_quic_session_abort (self->session, error);
  finish_dial (self, g_error_copy (error));
  flush (self);
  after_session_call (self);
  g_object_unref (self);
  return G_SOURCE_REMOVE;
}

void
p2p_quic_connection_dial_async (P2pPacketPath *path, P2pIdentity *identity,
    const P2pPeerId *expected_peer, const P2pQuicSessionConfig *cfg,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (P2pQuicConnection) self = NULL;
  GError *error = NULL;

  g_return_if_fail (P2P_IS_PACKET_PATH (path));
  g_return_if_fail (P2P_IS_IDENTITY (identity));
  g_return_if_fail (expected_peer != NULL);

  self = connection_new (path);
  self->dial_task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (self->dial_task, p2p_quic_connection_dial_async);
  self->session = p2p_quic_session_new_client (identity, expected_peer, cfg, &session_callbacks,
      self->owner, p2p_packet_path_now (path), &error);
  if (self->session == NULL) {
    finish_dial (self, error);
    self->path_closed = TRUE;
    p2p_packet_path_set_handlers (path, NULL, NULL, NULL, NULL);
    p2p_packet_path_close (path);
    return;
  }
  session_created (self);
  self->peer_id = *expected_peer;
  self->have_peer_id = TRUE;
  if (cancellable) {
    self->dial_cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (self->dial_cancel_source, G_SOURCE_FUNC (dial_cancelled_cb),
        self, NULL);
    g_source_attach (self->dial_cancel_source, self->ctx);
  }
  /* The task keeps the connection alive until the dial completes. */
  g_task_set_task_data (self->dial_task, g_object_ref (self), g_object_unref);
  flush (self);
  after_session_call (self);
}

P2pConnection *
p2p_quic_connection_dial_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

P2pQuicConnection *
p2p_quic_connection_new_server (P2pPacketPath *path, P2pIdentity *identity,
    const guint8 *first_pkt, gsize len, const P2pQuicSessionConfig *cfg, GPtrArray *allowed,
    GError **error)
{
  return p2p_quic_connection_new_server_validated (path, identity, first_pkt, len, NULL, 0, cfg,
      allowed, error);
}

P2pQuicConnection *
p2p_quic_connection_new_server_validated (P2pPacketPath *path, P2pIdentity *identity,
    const guint8 *first_pkt, gsize len, const guint8 *odcid, gsize odcid_len,
    const P2pQuicSessionConfig *cfg, GPtrArray *allowed, GError **error)
{
  g_autoptr (P2pQuicConnection) self = NULL;

  g_return_val_if_fail (P2P_IS_PACKET_PATH (path), NULL);
  g_return_val_if_fail (P2P_IS_IDENTITY (identity), NULL);
  g_return_val_if_fail (first_pkt != NULL || len == 0, NULL);

  self = connection_new (path);
  self->session = p2p_quic_session_new_server_validated (identity, first_pkt, len, odcid,
      odcid_len, cfg, allowed, &session_callbacks, self->owner, p2p_packet_path_now (path),
      error);
  if (self->session == NULL) {
    self->path_closed = TRUE;
    p2p_packet_path_set_handlers (path, NULL, NULL, NULL, NULL);
    return NULL;
  }
  session_created (self);
  p2p_quic_conn_schedule_work (self);
  return g_steal_pointer (&self);
}

P2pPacketPath *
p2p_quic_connection_get_path (P2pQuicConnection *self)
{
  g_return_val_if_fail (P2P_IS_QUIC_CONNECTION (self), NULL);
  return self->path;
}

/* Internal (endpoint/provider shutdown): abort with @error on the network thread. */
void p2p_quic_connection_abort (P2pQuicConnection *self, const GError *error);

static void
abort_net (P2pQuicConnection *self, gpointer data)
{
  const GError *error = data;

  if (self->session && p2p_quic_session_get_state (self->session) != P2P_QUIC_STATE_CLOSED) {
    p2p_quic_session_abort (self->session, error);
    flush (self);               /* sends the CONNECTION_CLOSE */
  }
  /* Closed now for the application, even if the session still drains (the
   * network thread may be about to stop). */
  g_mutex_lock (&self->lock);
  if (!self->closed) {
    self->closed = TRUE;
    g_clear_error (&self->close_error);
    self->close_error = error ? g_error_copy (error)
        : g_error_new_literal (P2P_ERROR, P2P_ERROR_CLOSED, "connection aborted");
    g_clear_error (&self->closed_signal_error);
    self->closed_signal_error = g_error_copy (self->close_error);
    if (self->session)
      p2p_quic_session_get_stats (self->session, &self->last_stats);
    g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);
  self->closed_pending = TRUE;
  after_session_call (self);
}

void
p2p_quic_connection_abort (P2pQuicConnection *self, const GError *error)
{
  g_return_if_fail (P2P_IS_QUIC_CONNECTION (self));
  run_on_net_thread (self, abort_net, (gpointer) error);
}

/* ------------------------------------------------------------ public API */

static gboolean
quic_send (P2pConnection *conn, GBytes *message, GCancellable *cancellable, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean net = p2p_quic_conn_on_net_thread (self);
  gboolean ok = FALSE;
  CancelWatch w;

  p2p_quic_conn_watch_begin (&w, self, cancellable);
  g_mutex_lock (&self->lock);
  for (;;) {
    if (self->closed || self->close_requested) {
      p2p_quic_conn_set_closed_error_locked (self, error);
      break;
    }
    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      break;
    if (self->session_queued + self->send_queue_bytes < self->send_high) {
      g_queue_push_tail (&self->send_queue, g_bytes_ref (message));
      self->send_queue_bytes += g_bytes_get_size (message);
      ok = TRUE;
      break;
    }
    if (net) {
      p2p_quic_conn_set_would_block (error, "p2p_connection_send()");
      break;
    }
    g_cond_wait (&self->cond, &self->lock);
  }
  g_mutex_unlock (&self->lock);
  p2p_quic_conn_watch_end (&w);
  if (ok)
    p2p_quic_conn_schedule_work (self);
  return ok;
}

static GBytes *
quic_receive (P2pConnection *conn, GCancellable *cancellable, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean net = p2p_quic_conn_on_net_thread (self), wake = FALSE;
  GBytes *msg = NULL;
  CancelWatch w;

  p2p_quic_conn_watch_begin (&w, self, cancellable);
  g_mutex_lock (&self->lock);
  for (;;) {
    msg = g_queue_pop_head (&self->recv_queue);
    if (msg) {
      wake = note_consumed_locked (self, msg);
      break;
    }
    if (self->closed) {
      p2p_quic_conn_set_closed_error_locked (self, error);
      break;
    }
    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      break;
    if (net) {
      p2p_quic_conn_set_would_block (error, "p2p_connection_receive()");
      break;
    }
    g_cond_wait (&self->cond, &self->lock);
  }
  g_mutex_unlock (&self->lock);
  p2p_quic_conn_watch_end (&w);
  if (wake)
    p2p_quic_conn_schedule_work (self);
  return msg;
}

static void
quic_send_async (P2pConnection *conn, GBytes *message, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  gboolean queued = FALSE;

  g_task_set_source_tag (task, quic_send_async);
  if (g_task_return_error_if_cancelled (task)) {
    g_object_unref (task);
    return;
  }
  g_mutex_lock (&self->lock);
  if (self->closed || self->close_requested) {
    p2p_quic_conn_set_closed_error_locked (self, &error);
  } else if (self->send_waiters.length == 0 &&
      self->session_queued + self->send_queue_bytes < self->send_high) {
    g_queue_push_tail (&self->send_queue, g_bytes_ref (message));
    self->send_queue_bytes += g_bytes_get_size (message);
    queued = TRUE;
  } else {
    Waiter *w = g_new0 (Waiter, 1);

    w->task = g_steal_pointer (&task);
    w->message = g_bytes_ref (message);
    waiter_park_locked (self, w, &self->send_waiters);
  }
  g_mutex_unlock (&self->lock);
  if (task == NULL)
    return;
  if (error)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
  if (queued)
    p2p_quic_conn_schedule_work (self);
  g_object_unref (task);
}

static gboolean
quic_send_finish (P2pConnection *conn, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, conn), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
quic_receive_async (P2pConnection *conn, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  GBytes *msg = NULL;
  gboolean wake = FALSE;

  g_task_set_source_tag (task, quic_receive_async);
  if (g_task_return_error_if_cancelled (task)) {
    g_object_unref (task);
    return;
  }
  g_mutex_lock (&self->lock);
  msg = g_queue_pop_head (&self->recv_queue);
  if (msg)
    wake = note_consumed_locked (self, msg);
  if (msg == NULL) {
    if (self->closed) {
      p2p_quic_conn_set_closed_error_locked (self, &error);
    } else {
      Waiter *w = g_new0 (Waiter, 1);

      w->task = g_steal_pointer (&task);
      waiter_park_locked (self, w, &self->recv_waiters);
    }
  }
  g_mutex_unlock (&self->lock);
  if (task == NULL)
    return;
  if (wake)
    p2p_quic_conn_schedule_work (self);
  if (msg)
    g_task_return_pointer (task, msg, (GDestroyNotify) g_bytes_unref);
  else
    g_task_return_error (task, error);
  g_object_unref (task);
}

static GBytes *
quic_receive_finish (P2pConnection *conn, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, conn), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static gboolean
quic_send_datagram (P2pConnection *conn, GBytes *datagram, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gsize len = g_bytes_get_size (datagram);
  gboolean ok = FALSE;

  g_mutex_lock (&self->lock);
  if (self->closed || self->close_requested) {
    p2p_quic_conn_set_closed_error_locked (self, error);
  } else if (len > self->max_dgram) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "datagram of %" G_GSIZE_FORMAT " bytes is larger than this connection's maximum of %"
        G_GSIZE_FORMAT " bytes (p2p_connection_get_max_datagram_size())", len, self->max_dgram);
  } else if (self->dgram_queue.length >= MAX_HANDOFF_DATAGRAMS) {
    self->dgrams_dropped_local++;
    ok = TRUE;                  /* unreliable: a full queue drops, counted */
  } else {
    g_queue_push_tail (&self->dgram_queue, g_bytes_ref (datagram));
    ok = TRUE;
  }
  g_mutex_unlock (&self->lock);
  if (ok)
    p2p_quic_conn_schedule_work (self);
  return ok;
}

static gsize
quic_get_max_datagram_size (P2pConnection *conn)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gsize n;

  g_mutex_lock (&self->lock);
  n = self->closed ? 0 : self->max_dgram;
  g_mutex_unlock (&self->lock);
  return n;
}

typedef struct {
  gint64 id;
  GError *error;
} OpenStreamCall;

static void
open_stream_net (P2pQuicConnection *self, gpointer data)
{
  OpenStreamCall *call = data;

  if (self->session == NULL) {
    g_set_error_literal (&call->error, P2P_ERROR, P2P_ERROR_CLOSED, "connection closed");
    call->id = -1;
    return;
  }
  call->id = p2p_quic_session_open_stream (self->session, &call->error);
  if (call->id >= 0) {
    g_mutex_lock (&self->lock);
    add_stream_locked (self, call->id);
    g_mutex_unlock (&self->lock);
  }
}

static GIOStream *
quic_open_stream (P2pConnection *conn, GCancellable *cancellable, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  OpenStreamCall call = { -1, NULL };
  StreamState *st;
  GIOStream *stream;

  g_mutex_lock (&self->lock);
  if (self->closed || !self->established) {
    p2p_quic_conn_set_closed_error_locked (self, error);
    g_mutex_unlock (&self->lock);
    return NULL;
  }
  g_mutex_unlock (&self->lock);

  run_on_net_thread (self, open_stream_net, &call);
  if (call.id < 0) {
    if (call.error)
      g_propagate_error (error, call.error);
    else
      g_set_error_literal (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
          "the peer allows no more streams");
    return NULL;
  }
  g_mutex_lock (&self->lock);
  st = p2p_quic_stream_state_ref (lookup_stream_locked (self, call.id));
  g_mutex_unlock (&self->lock);
  stream = p2p_quic_stream_new (self, st);
  p2p_quic_stream_state_unref (st);
  return stream;
}

static GIOStream *
quic_accept_stream (P2pConnection *conn, GCancellable *cancellable, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean net = p2p_quic_conn_on_net_thread (self);
  StreamState *st = NULL;
  GIOStream *stream;
  CancelWatch w;

  p2p_quic_conn_watch_begin (&w, self, cancellable);
  g_mutex_lock (&self->lock);
  for (;;) {
    st = g_queue_pop_head (&self->accept_streams);
    if (st) {
      st->grant_pending = TRUE;         /* the full window, now that it is taken */
      break;
    }
    if (self->closed) {
      p2p_quic_conn_set_closed_error_locked (self, error);
      break;
    }
    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      break;
    if (net) {
      p2p_quic_conn_set_would_block (error, "p2p_connection_accept_stream()");
      break;
    }
    g_cond_wait (&self->cond, &self->lock);
  }
  g_mutex_unlock (&self->lock);
  p2p_quic_conn_watch_end (&w);
  if (st == NULL)
    return NULL;
  p2p_quic_conn_schedule_work (self);
  stream = p2p_quic_stream_new (self, st);
  p2p_quic_stream_state_unref (st);
  return stream;
}

gsize
p2p_quic_connection_get_unaccepted_bytes (P2pQuicConnection *self, guint *n_streams)
{
  gsize bytes = 0;

  g_return_val_if_fail (P2P_IS_QUIC_CONNECTION (self), 0);

  g_mutex_lock (&self->lock);
  for (GList *l = self->accept_streams.head; l; l = l->next) {
    StreamState *st = l->data;

    bytes += st->in->len - st->in_off;
  }
  if (n_streams)
    *n_streams = self->accept_streams.length;
  g_mutex_unlock (&self->lock);
  return bytes;
}

static const P2pPeerId *
quic_get_peer_id (P2pConnection *conn)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);

  /* Written once before the connection is handed out. */
  return self->have_peer_id ? &self->peer_id : NULL;
}

static guint
quic_get_protocol_version (P2pConnection *conn)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  guint v;

  g_mutex_lock (&self->lock);
  v = (guint) MIN (self->protocol_version, G_MAXUINT);
  g_mutex_unlock (&self->lock);
  return v;
}

static guint64
quic_get_peer_capabilities (P2pConnection *conn)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  guint64 caps;

  g_mutex_lock (&self->lock);
  caps = self->peer_capabilities;
  g_mutex_unlock (&self->lock);
  return caps;
}

static gboolean
quic_is_connected (P2pConnection *conn)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean ok;

  g_mutex_lock (&self->lock);
  ok = self->established && !self->closed && !self->close_requested;
  g_mutex_unlock (&self->lock);
  return ok;
}

static void
quic_close (P2pConnection *conn, const char *reason)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);

  g_mutex_lock (&self->lock);
  if (self->closed || self->close_requested) {
    g_mutex_unlock (&self->lock);
    return;
  }
  self->close_requested = TRUE;
  self->close_pending = TRUE;
  g_free (self->close_reason);
  self->close_reason = g_strdup (reason ? reason : "");
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  p2p_quic_conn_schedule_work (self);
}

static void
stats_net (P2pQuicConnection *self, gpointer data)
{
  P2pConnectionStats *stats = data;

  if (self->session)
    p2p_quic_session_get_stats (self->session, stats);
}

static void
quic_get_stats (P2pConnection *conn, P2pConnectionStats *stats)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean closed;

  memset (stats, 0, sizeof *stats);
  g_mutex_lock (&self->lock);
  closed = self->closed;
  if (closed)
    *stats = self->last_stats;
  g_mutex_unlock (&self->lock);
  if (!closed)
    run_on_net_thread (self, stats_net, stats);
  g_mutex_lock (&self->lock);
  stats->datagrams_dropped += self->dgrams_dropped_local;
  g_mutex_unlock (&self->lock);
  stats->path_kind = p2p_packet_path_get_kind (self->path);
}

/* ---------------------------------------------------------------- GObject */

typedef struct {
  P2pQuicSession *session;
  Owner *owner;
  P2pPacketPath *path;
  gboolean path_closed;
  gulong kind_changed_id;
} Teardown;

static gboolean
teardown_cb (gpointer data)
{
  Teardown *t = data;

  if (t->session) {
    if (p2p_quic_session_get_state (t->session) < P2P_QUIC_STATE_CLOSED && !t->path_closed) {
      guint8 *buf = g_malloc (MAX (p2p_packet_path_get_mtu (t->path), P2P_INTERNET_MTU));
      guint64 now = p2p_packet_path_now (t->path);
      gsize buflen = MAX (p2p_packet_path_get_mtu (t->path), P2P_INTERNET_MTU), n;
      guint i = 0;

      /* Dropped without close(), or after a close() still draining (waiting
       * for acknowledgements: a refused receiver got nothing and timed
       * out): tell the peer now, with the reason given to close(). The
       * session has no more owner, so no callbacks may reach us. */
      p2p_quic_session_close_now (t->session);
      while (i++ < 16 && (n = p2p_quic_session_write (t->session, buf, buflen, now)) > 0)
        (void) p2p_packet_path_send (t->path, buf, n, NULL);
      g_free (buf);
    }
    p2p_quic_session_free (t->session);
  }
  g_free (t->owner);
  if (t->path) {
    p2p_packet_path_set_timer (t->path, G_MAXUINT64);
    p2p_packet_path_set_handlers (t->path, NULL, NULL, NULL, NULL);
    p2p_packet_path_close (t->path);
    g_object_unref (t->path);
  }
  g_free (t);
  return G_SOURCE_REMOVE;
}

static void
p2p_quic_connection_dispose (GObject *object)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (object);

  if (self->path) {
    Teardown *t = g_new0 (Teardown, 1);

    if (self->kind_changed_id) {
      g_signal_handler_disconnect (self->path, self->kind_changed_id);
      self->kind_changed_id = 0;
    }
    t->session = g_steal_pointer (&self->session);
    t->owner = g_steal_pointer (&self->owner);
    if (t->owner)
      t->owner->conn = NULL;    /* callbacks from now on go nowhere */
    t->path = g_steal_pointer (&self->path);
    t->path_closed = self->path_closed;
    if (g_main_context_is_owner (self->ctx)) {
      teardown_cb (t);
    } else if (g_main_context_acquire (self->ctx)) {
      /* Nobody runs the context (its thread has stopped): tear down here. */
      teardown_cb (t);
      g_main_context_release (self->ctx);
    } else {
      GSource *src = g_idle_source_new ();

      /* The session must die on its thread: callbacks may be in flight. */
      g_source_set_priority (src, G_PRIORITY_DEFAULT);
      g_source_set_callback (src, teardown_cb, t, NULL);
      g_source_attach (src, self->ctx);
      g_source_unref (src);
    }
  }
  G_OBJECT_CLASS (p2p_quic_connection_parent_class)->dispose (object);
}

static void
p2p_quic_connection_finalize (GObject *object)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (object);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    ((StreamState *) value)->dead = TRUE;
  g_hash_table_unref (self->streams);
  g_queue_clear_full (&self->accept_streams, (GDestroyNotify) p2p_quic_stream_state_unref);
  g_queue_clear_full (&self->recv_queue, (GDestroyNotify) g_bytes_unref);
  g_queue_clear_full (&self->send_queue, (GDestroyNotify) g_bytes_unref);
  g_queue_clear_full (&self->dgram_queue, (GDestroyNotify) g_bytes_unref);
  g_clear_error (&self->close_error);
  g_clear_error (&self->closed_signal_error);
  g_free (self->closed_reason);
  g_free (self->close_reason);
  g_free (self->buf);
  g_free (self->owner);
  g_clear_pointer (&self->ctx, g_main_context_unref);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (p2p_quic_connection_parent_class)->finalize (object);
}

static void
p2p_quic_connection_class_init (P2pQuicConnectionClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  P2pConnectionClass *conn_class = P2P_CONNECTION_CLASS (klass);

  gobject_class->dispose = p2p_quic_connection_dispose;
  gobject_class->finalize = p2p_quic_connection_finalize;
  conn_class->send = quic_send;
  conn_class->receive = quic_receive;
  conn_class->send_async = quic_send_async;
  conn_class->send_finish = quic_send_finish;
  conn_class->receive_async = quic_receive_async;
  conn_class->receive_finish = quic_receive_finish;
  conn_class->send_datagram = quic_send_datagram;
  conn_class->get_max_datagram_size = quic_get_max_datagram_size;
  conn_class->open_stream = quic_open_stream;
  conn_class->accept_stream = quic_accept_stream;
  conn_class->get_peer_id = quic_get_peer_id;
  conn_class->get_protocol_version = quic_get_protocol_version;
  conn_class->get_peer_capabilities = quic_get_peer_capabilities;
  conn_class->is_connected = quic_is_connected;
  conn_class->close = quic_close;
  conn_class->get_stats = quic_get_stats;

  /* Internal: a server connection finished its handshake (network thread). */
  signals[SIGNAL_ESTABLISHED] = g_signal_new ("established", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
p2p_quic_connection_init (P2pQuicConnection *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->streams = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
      (GDestroyNotify) p2p_quic_stream_state_unref);
  self->send_high = 4 * 1024 * 1024;
}
