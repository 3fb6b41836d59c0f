/* p2p-quic-connection-datagrams.c: the unreliable datagrams of a
 * P2pQuicConnection: send_datagram() queues for the network thread (a full
 * hand-off queue drops, counted); work_cb in p2p-quic-connection.c hands
 * the queue to the session. Received ones wait in dgram_rx while the
 * session call that decoded them runs (handlers never run inside the
 * session) and are emitted as "datagram-received" as soon as it returned:
 * after a packet from the path (on_path_receive), else (the first packet
 * on a new path) at the end of the work_cb that call scheduled. No idle
 * source and no main loop iteration lies between the socket and the
 * handler, which was most of a live stream's latency on this side.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-connection-private.h"
#include "p2p/p2p-error.h"

/* datagrams handed from callers to the network thread and not yet given to
 * the session (whose own queue, MAX_QUEUED_DATAGRAMS in
 * p2p-quic-session.c, is separate) */
#define MAX_HANDOFF_DATAGRAMS 64

static void
cb_datagram (P2pQuicSession *s, const guint8 *data, gsize len, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);

  if (self != NULL)
    g_queue_push_tail (&self->dgram_rx, g_bytes_new (data, len));
}

void
p2p_quic_conn_emit_received_datagrams (P2pQuicConnection *self)
{
  GBytes *b;

  if (self->dgram_rx.length == 0)
    return;
  g_object_ref (self);
  while ((b = g_queue_pop_head (&self->dgram_rx))) {
    p2p_connection_emit_datagram (P2P_CONNECTION (self), b);
    g_bytes_unref (b);
  }
  g_object_unref (self);
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

void
p2p_quic_conn_datagrams_class_init (P2pConnectionClass *conn_class,
    P2pQuicSessionCallbacks *callbacks)
{
  conn_class->send_datagram = quic_send_datagram;
  conn_class->get_max_datagram_size = quic_get_max_datagram_size;
  callbacks->datagram = cb_datagram;
}
