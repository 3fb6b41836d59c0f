/* p2p-listener.c: the P2pListener base class: wrappers over the
 * implementation's vfuncs, with a threaded accept_async for subclasses that
 * only implement the blocking accept, and a blocking accept over accept_async
 * for those that only implement the async one.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-listener.h"
#include "p2p/p2p-error.h"
#include "p2p-sync-wait.h"

G_DEFINE_ABSTRACT_TYPE (P2pListener, p2p_listener, G_TYPE_OBJECT)

static void
p2p_listener_class_init (P2pListenerClass *klass)
{
}

static void
p2p_listener_init (P2pListener *self)
{
}

/**
 * p2p_listener_accept:
 * @self: a listener
 * @cancellable: (nullable): a #GCancellable
 * @error: %P2P_ERROR_CLOSED (the listener was closed) or
 *   %G_IO_ERROR_CANCELLED
 *
 * Blocks until a peer has connected and authenticated.
 *
 * Returns: (transfer full) (nullable): the connection, NULL on error.
 */
P2pConnection *
p2p_listener_accept (P2pListener *self, GCancellable *cancellable, GError **error)
{
  P2pListenerClass *klass;

  g_return_val_if_fail (P2P_IS_LISTENER (self), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  klass = P2P_LISTENER_GET_CLASS (self);
  if (klass->accept)
    return klass->accept (self, cancellable, error);
  if (klass->accept_async && klass->accept_finish) {
    P2pSyncWait w;
    P2pConnection *conn;

    p2p_sync_wait_begin (&w);
    klass->accept_async (self, cancellable, p2p_sync_wait_done, &w);
    p2p_sync_wait_end (&w);
    conn = klass->accept_finish (self, w.result, error);
    g_object_unref (w.result);
    return conn;
  }
  g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
      "%s does not support accepting connections", G_OBJECT_TYPE_NAME (self));
  return NULL;
}

static void
accept_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  P2pListener *self = source;
  GError *error = NULL;
  P2pConnection *conn = P2P_LISTENER_GET_CLASS (self)->accept (self, cancellable, &error);

  if (conn)
    g_task_return_pointer (task, conn, g_object_unref);
  else
    g_task_return_error (task, error);
}

/**
 * p2p_listener_accept_async:
 * @self: a listener
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called on the thread-default main context of
 *   the caller when a peer connected or accepting failed
 * @user_data: (closure): data for @callback
 *
 * Asynchronous p2p_listener_accept(); finish with
 * p2p_listener_accept_finish().
 */
void
p2p_listener_accept_async (P2pListener *self, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  P2pListenerClass *klass;
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (P2P_IS_LISTENER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  klass = P2P_LISTENER_GET_CLASS (self);
  if (klass->accept_async) {
    klass->accept_async (self, cancellable, callback, user_data);
    return;
  }
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_listener_accept_async);
  if (klass->accept == NULL) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s does not support accepting connections", G_OBJECT_TYPE_NAME (self));
    return;
  }
  g_task_run_in_thread (task, accept_thread);
}

/**
 * p2p_listener_accept_finish:
 * @self: a listener
 * @result: the #GAsyncResult given to the callback
 * @error: as p2p_listener_accept()
 *
 * Returns: (transfer full) (nullable): the connection, NULL on error.
 */
P2pConnection *
p2p_listener_accept_finish (P2pListener *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (P2P_IS_LISTENER (self), NULL);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_async_result_is_tagged (result, p2p_listener_accept_async))
    return g_task_propagate_pointer (G_TASK (result), error);
  return P2P_LISTENER_GET_CLASS (self)->accept_finish (self, result, error);
}

/**
 * p2p_listener_get_local_address:
 * @self: a listener
 *
 * Returns: (transfer full) (nullable): the bound address (e.g.
 *   0.0.0.0:8800, with the real port when bound to port 0), NULL when the
 *   listener has no socket address.
 */
GSocketAddress *
p2p_listener_get_local_address (P2pListener *self)
{
  P2pListenerClass *klass;

  g_return_val_if_fail (P2P_IS_LISTENER (self), NULL);

  klass = P2P_LISTENER_GET_CLASS (self);
  return klass->get_local_address ? klass->get_local_address (self) : NULL;
}

/**
 * p2p_listener_get_ticket:
 * @self: a listener
 *
 * Returns: (transfer full) (nullable): a ticket naming this listener's peer
 *   ID and addresses, for p2p_provider_connect_async() on another peer.
 */
char *
p2p_listener_get_ticket (P2pListener *self)
{
  P2pListenerClass *klass;

  g_return_val_if_fail (P2P_IS_LISTENER (self), NULL);

  klass = P2P_LISTENER_GET_CLASS (self);
  return klass->get_ticket ? klass->get_ticket (self) : NULL;
}

/**
 * p2p_listener_close:
 * @self: a listener
 *
 * Stops accepting: pending and later accepts fail with %P2P_ERROR_CLOSED.
 * Connections already accepted stay open. Idempotent.
 */
void
p2p_listener_close (P2pListener *self)
{
  P2pListenerClass *klass;

  g_return_if_fail (P2P_IS_LISTENER (self));

  klass = P2P_LISTENER_GET_CLASS (self);
  if (klass->close)
    klass->close (self);
}
