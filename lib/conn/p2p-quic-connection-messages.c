/* p2p-quic-connection-messages.c: the reliable messages of a
 * P2pQuicConnection: send and receive, blocking (p2p-quic-connection-wait.c)
 * and async (a call that cannot complete at once parks a waiter the network
 * thread completes), the session's message and writable callbacks, and the
 * receive credit the application's reading gives back to the session
 * (receive backpressure). Sending is bounded by send_high: queued here plus
 * queued in the session. work_cb in p2p-quic-connection.c hands the send
 * queue to the session.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-connection-private.h"
#include "p2p/p2p-error.h"

/* ---------------------------------------------------------- receive credit */

#define CONSUMED_BATCH (256 * 1024)

/* Under lock: the application took @msg from the receive queue. Its credit
 * goes back to the session (so the peer may send more) from work_cb, in
 * batches; returns TRUE when the caller must p2p_quic_conn_schedule_work() (after unlocking). */
static gboolean
note_consumed_locked (P2pQuicConnection *self, GBytes *msg)
{
  gsize before = self->recv_consumed_pending;

  self->recv_consumed_pending += g_bytes_get_size (msg);
  self->recv_consumed_pending_n++;
  /* Once per batch, and whenever the queue ran empty (the reader waits). */
  return (before < CONSUMED_BATCH && self->recv_consumed_pending >= CONSUMED_BATCH) ||
      self->recv_queue.length == 0;
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
void
p2p_quic_conn_fail_waiters (P2pQuicConnection *self)
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

/* Called with the lock: the send queue takes one more message (send_high:
 * queued here plus queued in the session). */
static gboolean
send_room_locked (P2pQuicConnection *self)
{
  return self->session_queued + self->send_queue_bytes < self->send_high;
}

/* Called with the lock: queues @message (transfer full) for work_cb. */
static void
send_enqueue_locked (P2pQuicConnection *self, GBytes *message)
{
  self->send_queue_bytes += g_bytes_get_size (message);
  g_queue_push_tail (&self->send_queue, message);
}

/* Net thread: lets parked send_async callers in while there is room. */
void
p2p_quic_conn_admit_send_waiters (P2pQuicConnection *self)
{
  GQueue done = G_QUEUE_INIT;
  Waiter *w;

  g_mutex_lock (&self->lock);
  while (!self->closed && !self->close_requested && self->send_waiters.length > 0 &&
      send_room_locked (self)) {
    w = g_queue_pop_head (&self->send_waiters);
    send_enqueue_locked (self, g_steal_pointer (&w->message));
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
      p2p_quic_session_message_consumed (self->session, g_bytes_get_size (message), 1);
    g_task_return_pointer (w->task, message, (GDestroyNotify) g_bytes_unref);
    waiter_free (w);
  }
}

static void
cb_writable (P2pQuicSession *s, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);

  if (self == NULL)
    return;

  g_mutex_lock (&self->lock);
  self->session_queued = p2p_quic_session_get_send_queued (s);
  if (self->send_blocked > 0)
    g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

/* ------------------------------------------------------------ public API */

static gboolean
quic_send (P2pConnection *conn, GBytes *message, GCancellable *cancellable, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean ok = FALSE;
  BlockingWait w;

  p2p_quic_conn_wait_begin (&w, self, cancellable);
  w.waiting = &self->send_blocked;
  do {
    if (p2p_quic_conn_wait_failed_locked (self, self->closed || self->close_requested,
        cancellable, error))
      break;
    if (send_room_locked (self)) {
      send_enqueue_locked (self, g_bytes_ref (message));
      ok = TRUE;
      break;
    }
  } while (p2p_quic_conn_wait_next (&w, "p2p_connection_send()", error));
  p2p_quic_conn_wait_end (&w);
  if (ok)
    p2p_quic_conn_schedule_work (self);
  return ok;
}

static gboolean
quic_try_send (P2pConnection *conn, GBytes *message, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean ok = FALSE;

  g_mutex_lock (&self->lock);
  if (self->closed || self->close_requested) {
    p2p_quic_conn_set_closed_error_locked (self, error);
  } else if (self->send_waiters.length == 0 && send_room_locked (self)) {
    /* (parked send_async callers go first: their messages are older) */
    send_enqueue_locked (self, g_bytes_ref (message));
    ok = TRUE;
  } else {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
        "the send queue is full (%" G_GSIZE_FORMAT " bytes queued)",
        (gsize) (self->session_queued + self->send_queue_bytes));
  }
  g_mutex_unlock (&self->lock);
  if (ok)
    p2p_quic_conn_schedule_work (self);
  return ok;
}

/* Under lock: the next received message (transfer full) or NULL; *@wake:
 * the caller must p2p_quic_conn_schedule_work() (credit to return). */
static GBytes *
take_received_locked (P2pQuicConnection *self, gboolean *wake)
{
  GBytes *msg = g_queue_pop_head (&self->recv_queue);

  if (msg)
    *wake = note_consumed_locked (self, msg);
  return msg;
}

static GBytes *
quic_receive (P2pConnection *conn, GCancellable *cancellable, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean wake = FALSE;
  GBytes *msg = NULL;
  BlockingWait w;

  p2p_quic_conn_wait_begin (&w, self, cancellable);
  do {
    msg = take_received_locked (self, &wake);
    if (msg)
      break;
    if (p2p_quic_conn_wait_failed_locked (self, self->closed, cancellable, error))
      break;
  } while (p2p_quic_conn_wait_next (&w, "p2p_connection_receive()", error));
  p2p_quic_conn_wait_end (&w);
  if (wake)
    p2p_quic_conn_schedule_work (self);
  return msg;
}

static GBytes *
quic_try_receive (P2pConnection *conn, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean wake = FALSE;
  GBytes *msg;

  g_mutex_lock (&self->lock);
  msg = take_received_locked (self, &wake);
  if (msg == NULL && self->closed)
    p2p_quic_conn_set_closed_error_locked (self, error);
  else if (msg == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "no message has arrived yet");
  g_mutex_unlock (&self->lock);
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
  } else if (self->send_waiters.length == 0 && send_room_locked (self)) {
    send_enqueue_locked (self, g_bytes_ref (message));
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

void
p2p_quic_conn_messages_class_init (P2pConnectionClass *conn_class,
    P2pQuicSessionCallbacks *callbacks)
{
  conn_class->send = quic_send;
  conn_class->try_send = quic_try_send;
  conn_class->try_receive = quic_try_receive;
  conn_class->receive = quic_receive;
  conn_class->send_async = quic_send_async;
  conn_class->send_finish = quic_send_finish;
  conn_class->receive_async = quic_receive_async;
  conn_class->receive_finish = quic_receive_finish;
  callbacks->message = cb_message;
  callbacks->writable = cb_writable;
}
