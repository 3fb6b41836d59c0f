/* p2p-connection-messages.c: P2pConnection's messages (split from
 * p2p-connection.c): send and receive, blocking, non-blocking and async,
 * with the size limit checked in front of the implementation's vfuncs and
 * the default variants (a GTask thread for a blocking-only subclass, a
 * private main context for an async-only one).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-connection-private.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-frame.h"
#include "p2p-sync-wait.h"
#include "p2p-work-batch.h"

static gboolean
check_message_size (GBytes *message, GError **error)
{
  gsize len = g_bytes_get_size (message);

  if (len > P2P_MAX_MESSAGE_SIZE) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "message of %" G_GSIZE_FORMAT " bytes is larger than the maximum of %d bytes; "
        "split it or use p2p_connection_open_stream() for bulk data",
        len, P2P_MAX_MESSAGE_SIZE);
    return FALSE;
  }
  return TRUE;
}

/* ---- send ---- */

/**
 * p2p_connection_send:
 * @self: a connection
 * @message: the message (at most %P2P_MAX_MESSAGE_SIZE bytes)
 * @cancellable: (nullable): a #GCancellable
 * @error: %P2P_ERROR_CLOSED, %P2P_ERROR_TIMEOUT, %P2P_ERROR_LIMIT_EXCEEDED
 *   (too large) or %G_IO_ERROR_CANCELLED
 *
 * Queues one message for reliable, ordered delivery. Blocks while the send
 * queue is full (flow control, backpressure).
 *
 * Returns: TRUE when the message was queued.
 */
gboolean
p2p_connection_send (P2pConnection *self, GBytes *message, GCancellable *cancellable,
    GError **error)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_message_size (message, error))
    return FALSE;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->send)
    return klass->send (self, message, cancellable, error);
  if (klass->send_async && klass->send_finish) {
    P2pSyncWait w;
    gboolean ok;

    p2p_sync_wait_begin (&w);
    klass->send_async (self, message, cancellable, p2p_sync_wait_done, &w);
    p2p_sync_wait_end (&w);
    ok = klass->send_finish (self, w.result, error);
    g_object_unref (w.result);
    return ok;
  }
  p2p_connection_set_not_supported (self, "sending messages", error);
  return FALSE;
}

/**
 * p2p_connection_try_send:
 * @self: a connection
 * @message: the message (at most %P2P_MAX_MESSAGE_SIZE bytes)
 * @error: %G_IO_ERROR_WOULD_BLOCK (the send queue is full: call
 *   p2p_connection_send() or try again later), %P2P_ERROR_CLOSED or
 *   %P2P_ERROR_LIMIT_EXCEEDED (too large)
 *
 * Queues one message like p2p_connection_send() if there is room now, and
 * never blocks. A sender serving many connections from one thread (a
 * fan-out) queues to each of them without a thread or a wake-up per
 * connection. A connection type that cannot queue without blocking always
 * answers %G_IO_ERROR_WOULD_BLOCK.
 *
 * Returns: TRUE when the message was queued.
 */
gboolean
p2p_connection_try_send (P2pConnection *self, GBytes *message, GError **error)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_message_size (message, error))
    return FALSE;
  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->try_send)
    return klass->try_send (self, message, error);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
      "this connection type cannot queue a message without blocking");
  return FALSE;
}

/**
 * p2p_connection_batch_begin:
 *
 * Starts a batch on the calling thread: what it queues on any connection
 * (p2p_connection_try_send(), p2p_connection_send(), datagrams, stream
 * writes) until the matching p2p_connection_batch_end() waits there, and
 * the network thread is woken once for all of it instead of once per
 * connection. Batches nest; every begin needs its end on the same thread.
 * Use it around a loop that sends one message to many connections. A call
 * that has to wait inside a batch (a blocking send whose queue is full, a
 * stream write or close) first hands over what the batch holds, so it is
 * never left waiting for work its own batch keeps back.
 */
void
p2p_connection_batch_begin (void)
{
  p2p_work_batch_hold ();
}

/**
 * p2p_connection_batch_end:
 *
 * Ends the calling thread's batch (p2p_connection_batch_begin()); at the
 * outermost end, the network thread gets everything the batch queued.
 */
void
p2p_connection_batch_end (void)
{
  p2p_work_batch_release ();
}

static void
send_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  P2pConnection *self = source;
  GError *error = NULL;

  if (P2P_CONNECTION_GET_CLASS (self)->send (self, task_data, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/**
 * p2p_connection_send_async:
 * @self: a connection
 * @message: the message (at most %P2P_MAX_MESSAGE_SIZE bytes)
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called on the thread-default main context of
 *   the caller when the message is queued or failed
 * @user_data: (closure): data for @callback
 *
 * Asynchronous p2p_connection_send(); finish with
 * p2p_connection_send_finish().
 */
void
p2p_connection_send_async (P2pConnection *self, GBytes *message, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  P2pConnectionClass *klass;
  g_autoptr (GTask) task = NULL;
  GError *error = NULL;

  g_return_if_fail (P2P_IS_CONNECTION (self));
  g_return_if_fail (message != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (!check_message_size (message, &error)) {
    g_task_report_error (self, callback, user_data, p2p_connection_send_async, error);
    return;
  }
  if (klass->send_async) {
    klass->send_async (self, message, cancellable, callback, user_data);
    return;
  }
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_connection_send_async);
  if (klass->send == NULL) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s does not support sending messages", G_OBJECT_TYPE_NAME (self));
    return;
  }
  g_task_set_task_data (task, g_bytes_ref (message), (GDestroyNotify) g_bytes_unref);
  g_task_run_in_thread (task, send_thread);
}

/**
 * p2p_connection_send_finish:
 * @self: a connection
 * @result: the #GAsyncResult given to the callback
 * @error: as p2p_connection_send()
 *
 * Returns: TRUE when the message was queued.
 */
gboolean
p2p_connection_send_finish (P2pConnection *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (g_async_result_is_tagged (result, p2p_connection_send_async))
    return g_task_propagate_boolean (G_TASK (result), error);
  return P2P_CONNECTION_GET_CLASS (self)->send_finish (self, result, error);
}

/* ---- receive ---- */

/**
 * p2p_connection_receive:
 * @self: a connection
 * @cancellable: (nullable): a #GCancellable
 * @error: %P2P_ERROR_CLOSED (at the peer's graceful close, the message is
 *   the peer's reason), %P2P_ERROR_TIMEOUT, %P2P_ERROR_PROTOCOL or
 *   %G_IO_ERROR_CANCELLED
 *
 * Blocks until the next message arrives, in order.
 *
 * Returns: (transfer full) (nullable): the message, NULL on error.
 */
GBytes *
p2p_connection_receive (P2pConnection *self, GCancellable *cancellable, GError **error)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->receive)
    return klass->receive (self, cancellable, error);
  if (klass->receive_async && klass->receive_finish) {
    P2pSyncWait w;
    GBytes *msg;

    p2p_sync_wait_begin (&w);
    klass->receive_async (self, cancellable, p2p_sync_wait_done, &w);
    p2p_sync_wait_end (&w);
    msg = klass->receive_finish (self, w.result, error);
    g_object_unref (w.result);
    return msg;
  }
  p2p_connection_set_not_supported (self, "receiving messages", error);
  return NULL;
}

/**
 * p2p_connection_try_receive:
 * @self: a connection
 * @error: %G_IO_ERROR_WOULD_BLOCK (no message is waiting: call
 *   p2p_connection_receive() to wait for one), or the errors of
 *   p2p_connection_receive() once the connection is closed and nothing is
 *   left to read
 *
 * Takes the next message like p2p_connection_receive() if one has arrived,
 * and never blocks: a reader with several waiting (p2psrc making a buffer
 * list) takes them in one go. A connection type that cannot tell without
 * blocking always answers %G_IO_ERROR_WOULD_BLOCK.
 *
 * Returns: (transfer full) (nullable): the message, NULL on error.
 */
GBytes *
p2p_connection_try_receive (P2pConnection *self, GError **error)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->try_receive)
    return klass->try_receive (self, error);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
      "this connection type cannot take a message without blocking");
  return NULL;
}

static void
receive_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  P2pConnection *self = source;
  GError *error = NULL;
  GBytes *msg = P2P_CONNECTION_GET_CLASS (self)->receive (self, cancellable, &error);

  if (msg)
    g_task_return_pointer (task, msg, (GDestroyNotify) g_bytes_unref);
  else
    g_task_return_error (task, error);
}

/**
 * p2p_connection_receive_async:
 * @self: a connection
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called on the thread-default main context of
 *   the caller when a message arrived or the connection failed
 * @user_data: (closure): data for @callback
 *
 * Asynchronous p2p_connection_receive(); finish with
 * p2p_connection_receive_finish().
 */
void
p2p_connection_receive_async (P2pConnection *self, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  P2pConnectionClass *klass;
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (P2P_IS_CONNECTION (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->receive_async) {
    klass->receive_async (self, cancellable, callback, user_data);
    return;
  }
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_connection_receive_async);
  if (klass->receive == NULL) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s does not support receiving messages", G_OBJECT_TYPE_NAME (self));
    return;
  }
  g_task_run_in_thread (task, receive_thread);
}

/**
 * p2p_connection_receive_finish:
 * @self: a connection
 * @result: the #GAsyncResult given to the callback
 * @error: as p2p_connection_receive()
 *
 * Returns: (transfer full) (nullable): the message, NULL on error.
 */
GBytes *
p2p_connection_receive_finish (P2pConnection *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (P2P_IS_CONNECTION (self), NULL);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_async_result_is_tagged (result, p2p_connection_receive_async))
    return g_task_propagate_pointer (G_TASK (result), error);
  return P2P_CONNECTION_GET_CLASS (self)->receive_finish (self, result, error);
}
