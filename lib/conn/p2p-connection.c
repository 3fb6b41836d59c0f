/* p2p-connection.c: the P2pConnection base class: argument checks and limits
 * in front of the implementation's vfuncs, the "closed", "path-changed" and
 * "datagram-received" signals, and default variants: an async call of a
 * subclass that only implements the blocking one runs it in a GTask thread;
 * a blocking call of a subclass that only implements the async one iterates
 * a private main context until it completes.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-connection.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-frame.h"
#include "p2p-sync-wait.h"
#include "p2p-work-batch.h"

G_DEFINE_ABSTRACT_TYPE (P2pConnection, p2p_connection, G_TYPE_OBJECT)

enum {
  SIGNAL_CLOSED,
  SIGNAL_PATH_CHANGED,
  SIGNAL_DATAGRAM_RECEIVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
p2p_connection_class_init (P2pConnectionClass *klass)
{
  /**
   * P2pConnection::closed:
   * @self: the connection
   * @error: (nullable): NULL after a normal close by either side, else why
   *
   * The connection is closed; emitted once, on the network thread.
   */
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
  /**
   * P2pConnection::path-changed:
   * @self: the connection
   * @old_kind: the #P2pPathKind before the change
   * @new_kind: the #P2pPathKind now in use
   *
   * The packets now take another route: ICE moved from a TURN relay to a
   * direct pair once hole punching succeeded, or a direct path moved to
   * another address (then both kinds are equal). The connection goes on
   * (nothing is lost or repeated); p2p_connection_get_stats() counts the
   * changes (path_changes) and when the path became direct
   * (direct_path_time_us). Emitted on the network thread.
   */
  signals[SIGNAL_PATH_CHANGED] = g_signal_new ("path-changed", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2, P2P_TYPE_PATH_KIND,
      P2P_TYPE_PATH_KIND);
  /**
   * P2pConnection::datagram-received:
   * @self: the connection
   * @datagram: the #GBytes received (unreliable delivery)
   *
   * A datagram arrived; emitted on the network thread.
   */
  signals[SIGNAL_DATAGRAM_RECEIVED] = g_signal_new ("datagram-received",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
      G_TYPE_BYTES);
}

static void
p2p_connection_init (P2pConnection *self)
{
}

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

static void
set_not_supported (P2pConnection *self, const char *what, GError **error)
{
  g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
      "%s does not support %s", G_OBJECT_TYPE_NAME (self), what);
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
  set_not_supported (self, "sending messages", error);
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
  set_not_supported (self, "receiving messages", error);
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

/* ---- datagrams ---- */

/**
 * p2p_connection_send_datagram:
 * @self: a connection
 * @datagram: the payload, at most p2p_connection_get_max_datagram_size()
 *   bytes (more is %P2P_ERROR_LIMIT_EXCEEDED)
 * @error: %P2P_ERROR_LIMIT_EXCEEDED, %P2P_ERROR_CLOSED
 *
 * Sends an unreliable datagram (RFC 9221). Never blocks: a full queue drops
 * it (counted in the stats). The peer receives it through
 * #P2pConnection::datagram-received.
 *
 * Returns: TRUE when the datagram was queued or dropped by a full queue.
 */
gboolean
p2p_connection_send_datagram (P2pConnection *self, GBytes *datagram, GError **error)
{
  P2pConnectionClass *klass;
  gsize len, max;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (datagram != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->send_datagram == NULL) {
    set_not_supported (self, "datagrams", error);
    return FALSE;
  }
  len = g_bytes_get_size (datagram);
  max = p2p_connection_get_max_datagram_size (self);
  if (len > max) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "datagram of %" G_GSIZE_FORMAT " bytes is larger than the maximum of %"
        G_GSIZE_FORMAT " bytes this connection carries; send it as a message instead",
        len, max);
    return FALSE;
  }
  return klass->send_datagram (self, datagram, error);
}

/**
 * p2p_connection_get_max_datagram_size:
 * @self: a connection
 *
 * Returns: the largest datagram payload this connection carries now
 *   (bytes), 0 when datagrams are not supported.
 */
gsize
p2p_connection_get_max_datagram_size (P2pConnection *self)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), 0);

  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->get_max_datagram_size ? klass->get_max_datagram_size (self) : 0;
}

/* ---- streams ---- */

/* open_stream() and accept_stream() after their checks: @vfunc, the
 * class's, NULL when the implementation has no extra streams. */
static GIOStream *
call_stream_vfunc (P2pConnection *self,
    GIOStream *(*vfunc) (P2pConnection *self, GCancellable *cancellable, GError **error),
    GCancellable *cancellable, GError **error)
{
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  if (vfunc == NULL) {
    set_not_supported (self, "extra streams", error);
    return NULL;
  }
  return vfunc (self, cancellable, error);
}

/**
 * p2p_connection_open_stream:
 * @self: a connection
 * @cancellable: (nullable): a #GCancellable
 * @error: %P2P_ERROR_CLOSED, %P2P_ERROR_LIMIT_EXCEEDED,
 *   %G_IO_ERROR_CANCELLED
 *
 * Opens a new bidirectional QUIC stream for bulk transfer.
 *
 * Closing its output (g_output_stream_close()) sends FIN once every byte
 * written is in the QUIC session, and waits for that (give it a
 * cancellable: a peer that does not read can make it wait for as long as
 * the connection lives). Dropping the stream's last reference without
 * closing it does not wait: the FIN goes when the data has, or use
 * p2p_connection_abort_stream() to give up on what is still queued.
 *
 * Returns: (transfer full) (nullable): the stream, NULL on error.
 */
GIOStream *
p2p_connection_open_stream (P2pConnection *self, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (P2P_IS_CONNECTION (self), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return call_stream_vfunc (self, P2P_CONNECTION_GET_CLASS (self)->open_stream, cancellable,
      error);
}

/**
 * p2p_connection_abort_stream:
 * @self: a connection
 * @stream: a stream of @self (p2p_connection_open_stream() or
 *   p2p_connection_accept_stream())
 *
 * Says that nothing more of @stream is wanted: the peer is asked to stop
 * sending on it (STOP_SENDING) and it is reset (RESET_STREAM), application
 * error 0x102 (docs/protocol.md). For a request whose answer is no longer
 * needed, so the peer does not send what nobody reads. Later reads and
 * writes of @stream fail. Any thread.
 */
void
p2p_connection_abort_stream (P2pConnection *self, GIOStream *stream)
{
  P2pConnectionClass *klass;

  g_return_if_fail (P2P_IS_CONNECTION (self));
  g_return_if_fail (G_IS_IO_STREAM (stream));

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->abort_stream)
    klass->abort_stream (self, stream);
}

/**
 * p2p_connection_dup_remote_host:
 * @self: a connection
 *
 * The host the peer's packets come from now, as limits per host count it
 * (a peer ID costs nothing to make, an address does): an IPv4 address as
 * text, an IPv6 address as its /64 ("2001:db8::/64").
 *
 * Returns: (transfer full) (nullable): the host, or %NULL when not known
 *   or through a TURN relay (whose address every relayed peer shares)
 */
char *
p2p_connection_dup_remote_host (P2pConnection *self)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), NULL);
  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->dup_remote_host ? klass->dup_remote_host (self) : NULL;
}

/**
 * p2p_connection_stop_reading:
 * @self: a connection
 * @stream: a stream of @self
 *
 * Says that nothing more will be read from @stream, while its output goes
 * on (a request has been read, its answer is being written): what arrived
 * unread and what arrives later is dropped and its flow-control credit
 * given back, so a peer that keeps sending after its request costs no
 * memory; the peer is asked to stop sending (STOP_SENDING, application
 * error 0x103) unless its end of the stream has arrived already. Later
 * reads of @stream return end of stream. Any thread.
 */
void
p2p_connection_stop_reading (P2pConnection *self, GIOStream *stream)
{
  P2pConnectionClass *klass;

  g_return_if_fail (P2P_IS_CONNECTION (self));
  g_return_if_fail (G_IS_IO_STREAM (stream));

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->stop_reading)
    klass->stop_reading (self, stream);
}

/**
 * p2p_connection_write_stream_bytes:
 * @self: a connection
 * @stream: a stream of @self (p2p_connection_open_stream() or
 *   p2p_connection_accept_stream())
 * @bytes: what to write
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Writes all of @bytes to @stream's output, blocking while the stream's
 * send buffer is full, as g_output_stream_write_all() does. A QUIC stream
 * queues a reference to @bytes (no copy): a server that reads a file into
 * fresh buffers hands them over whole. Errors as the output stream's.
 *
 * Returns: %TRUE when all of @bytes were queued
 */
gboolean
p2p_connection_write_stream_bytes (P2pConnection *self, GIOStream *stream, GBytes *bytes,
    GCancellable *cancellable, GError **error)
{
  P2pConnectionClass *klass;
  const guint8 *data;
  gsize len;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (G_IS_IO_STREAM (stream), FALSE);
  g_return_val_if_fail (bytes != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->write_stream_bytes)
    return klass->write_stream_bytes (self, stream, bytes, cancellable, error);
  data = g_bytes_get_data (bytes, &len);
  return g_output_stream_write_all (g_io_stream_get_output_stream (stream), data, len, NULL,
      cancellable, error);
}

/**
 * p2p_connection_accept_stream:
 * @self: a connection
 * @cancellable: (nullable): a #GCancellable
 * @error: %P2P_ERROR_CLOSED, %G_IO_ERROR_CANCELLED
 *
 * Waits for the peer to open a stream with p2p_connection_open_stream().
 *
 * Returns: (transfer full) (nullable): the stream, NULL on error.
 */
GIOStream *
p2p_connection_accept_stream (P2pConnection *self, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (P2P_IS_CONNECTION (self), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return call_stream_vfunc (self, P2P_CONNECTION_GET_CLASS (self)->accept_stream, cancellable,
      error);
}

/* ---- state ---- */

/**
 * p2p_connection_get_peer_id:
 * @self: a connection
 *
 * Returns: (transfer none) (nullable): the authenticated peer ID of the
 *   other end.
 */
const P2pPeerId *
p2p_connection_get_peer_id (P2pConnection *self)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), NULL);

  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->get_peer_id ? klass->get_peer_id (self) : NULL;
}

/**
 * p2p_connection_is_connected:
 * @self: a connection
 *
 * Returns: TRUE until the connection is closed (by either side) or failed.
 */
gboolean
p2p_connection_is_connected (P2pConnection *self)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);

  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->is_connected ? klass->is_connected (self) : FALSE;
}

/**
 * p2p_connection_get_protocol_version:
 * @self: a connection
 *
 * The gst-p2p protocol version the two peers use: the highest version both
 * advertised in their HANDSHAKE (docs/protocol.md §3.1).
 *
 * Returns: the negotiated version, 0 if the implementation does not
 *   negotiate one.
 */
guint
p2p_connection_get_protocol_version (P2pConnection *self)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), 0);

  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->get_protocol_version ? klass->get_protocol_version (self) : 0;
}

static guint64
peer_capabilities (P2pConnection *self)
{
  P2pConnectionClass *klass = P2P_CONNECTION_GET_CLASS (self);

  return klass->get_peer_capabilities ? klass->get_peer_capabilities (self) : 0;
}

/**
 * p2p_connection_has_capability:
 * @self: a connection
 * @name: a capability name from the registry in docs/protocol.md §3.1
 *   ("files")
 *
 * Returns: TRUE if the peer advertised the capability @name; FALSE if it
 *   did not, or @name is not in this build's registry.
 */
gboolean
p2p_connection_has_capability (P2pConnection *self, const char *name)
{
  guint64 bit;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  bit = p2p_capability_from_name (name);
  return bit != 0 && (peer_capabilities (self) & bit) != 0;
}

/**
 * p2p_connection_list_capabilities:
 * @self: a connection
 *
 * Returns: (transfer full) (array zero-terminated=1): the names of the
 *   capabilities the peer advertised that this build knows, in registry
 *   order (bits it does not know are left out).
 */
char **
p2p_connection_list_capabilities (P2pConnection *self)
{
  GPtrArray *names;
  guint64 caps;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), NULL);

  caps = peer_capabilities (self);
  names = g_ptr_array_new ();
  for (guint i = 0; i < 64; i++) {
    const char *name = p2p_capability_to_name (G_GUINT64_CONSTANT (1) << i);

    if (name && (caps & (G_GUINT64_CONSTANT (1) << i)))
      g_ptr_array_add (names, g_strdup (name));
  }
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (names, FALSE);
}

/**
 * p2p_connection_wait_handshake:
 * @self: a connection
 * @cancellable: (nullable): a #GCancellable
 * @error: the connection's close error, or %G_IO_ERROR_CANCELLED
 *
 * A connection dialed with early streams (#P2pConfig early_streams) is
 * returned as soon as the peer is authenticated, a round trip before the
 * peer's handshake (its protocol version and capabilities) arrives. This
 * blocks until it has, or until the connection closed (the peer refused
 * our key: %P2P_ERROR_AUTHENTICATION_FAILED). For any other connection it
 * returns %TRUE at once.
 *
 * Returns: TRUE once the peer's handshake is in.
 */
gboolean
p2p_connection_wait_handshake (P2pConnection *self, GCancellable *cancellable, GError **error)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->wait_handshake == NULL || klass->wait_handshake (self, cancellable, error);
}

/**
 * p2p_connection_require_capability:
 * @self: a connection
 * @name: a capability name ("files")
 * @feature: what needs it, for the message ("the file service")
 * @error: %P2P_ERROR_NOT_SUPPORTED if the peer did not advertise @name
 *
 * The check a feature makes before it talks to the peer, so that a peer
 * without the feature gets a clear error instead of a reset stream or a
 * timeout: "peer ID does not offer the file service (capability 'files';
 * it speaks protocol version 1)". The connection stays usable. On a
 * connection dialed with early streams (#P2pConfig early_streams), waits
 * for the peer's handshake first (then fails with the connection's close
 * error if the peer refused it).
 *
 * Returns: TRUE if the peer advertised @name.
 */
gboolean
p2p_connection_require_capability (P2pConnection *self, const char *name,
    const char *feature, GError **error)
{
  const P2pPeerId *peer;
  g_autofree char *peer_text = NULL;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (name != NULL && feature != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* a connection dialed with early streams learns the peer's capabilities
   * a round trip after it was returned */
  if (!p2p_connection_wait_handshake (self, NULL, error))
    return FALSE;
  if (p2p_connection_has_capability (self, name))
    return TRUE;
  peer = p2p_connection_get_peer_id (self);
  peer_text = peer ? p2p_peer_id_to_string (peer) : g_strdup ("(unknown)");
  g_set_error (error, P2P_ERROR, P2P_ERROR_NOT_SUPPORTED,
      "peer %s does not offer %s (capability '%s'; it speaks protocol version %u)",
      peer_text, feature, name, p2p_connection_get_protocol_version (self));
  return FALSE;
}

/**
 * p2p_connection_close:
 * @self: a connection
 * @reason: (nullable): a short text sent to the peer in Disconnect{reason}
 *   (NULL = "")
 *
 * Graceful close: queued messages are delivered first, then the peer's
 * p2p_connection_receive() fails with %P2P_ERROR_CLOSED and @reason as its
 * message. Idempotent.
 */
void
p2p_connection_close (P2pConnection *self, const char *reason)
{
  P2pConnectionClass *klass;

  g_return_if_fail (P2P_IS_CONNECTION (self));

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->close)
    klass->close (self, reason ? reason : "");
}

/**
 * p2p_connection_get_stats:
 * @self: a connection
 * @stats: (out caller-allocates): filled with the current counters
 *
 * Reads the connection's statistics (zeros for counters the implementation
 * does not keep).
 */
void
p2p_connection_get_stats (P2pConnection *self, P2pConnectionStats *stats)
{
  P2pConnectionClass *klass;

  g_return_if_fail (P2P_IS_CONNECTION (self));
  g_return_if_fail (stats != NULL);

  *stats = (P2pConnectionStats) { 0, };
  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->get_stats)
    klass->get_stats (self, stats);
}

/* ---- for implementations ---- */

/**
 * p2p_connection_emit_closed:
 * @self: a connection
 * @error: (nullable): why it closed, NULL for a normal close
 *
 * For implementations: emits #P2pConnection::closed.
 */
void
p2p_connection_emit_closed (P2pConnection *self, const GError *error)
{
  g_return_if_fail (P2P_IS_CONNECTION (self));

  g_signal_emit (self, signals[SIGNAL_CLOSED], 0, error);
}

/**
 * p2p_connection_emit_path_changed:
 * @self: a connection
 * @old_kind: the path kind before the change
 * @new_kind: the path kind now in use
 *
 * For implementations: emits #P2pConnection::path-changed.
 */
void
p2p_connection_emit_path_changed (P2pConnection *self, P2pPathKind old_kind,
    P2pPathKind new_kind)
{
  g_return_if_fail (P2P_IS_CONNECTION (self));

  g_signal_emit (self, signals[SIGNAL_PATH_CHANGED], 0, old_kind, new_kind);
}

/**
 * p2p_connection_emit_datagram:
 * @self: a connection
 * @datagram: the datagram that arrived
 *
 * For implementations: emits #P2pConnection::datagram-received.
 */
void
p2p_connection_emit_datagram (P2pConnection *self, GBytes *datagram)
{
  g_return_if_fail (P2P_IS_CONNECTION (self));
  g_return_if_fail (datagram != NULL);

  g_signal_emit (self, signals[SIGNAL_DATAGRAM_RECEIVED], 0, datagram);
}
