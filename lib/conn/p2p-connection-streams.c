/* p2p-connection-streams.c: P2pConnection's extra QUIC streams (split
 * from p2p-connection.c): open, accept, abort, stop reading, write bytes.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-connection-private.h"
#include "p2p/p2p-error.h"

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
    p2p_connection_set_not_supported (self, "extra streams", error);
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
