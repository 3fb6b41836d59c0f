/* p2p-quic-connection-datagrams.c: the unreliable datagrams of a
 * P2pQuicConnection: send_datagram() queues for the network thread (a full
 * hand-off queue drops, counted), received ones are emitted as
 * "datagram-received" from an idle source on the network thread, never
 * inside a session call. work_cb in p2p-quic-connection.c hands the queue
 * to the session.
 *
 * A datagram decoded while a packet from the path is in the session is
 * emitted as soon as that call returns (p2p_quic_conn_emit_received_datagrams
 * from on_path_receive): no idle source and no main loop iteration between
 * the socket and the handler, which is most of a live stream's latency on
 * this side. Datagrams decoded in any other session call take the idle
 * source.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-connection-private.h"
#include "p2p/p2p-error.h"

/* datagrams handed from callers to the network thread and not yet given to
 * the session (whose own queue, MAX_QUEUED_DATAGRAMS in
 * p2p-quic-session.c, is separate) */
#define MAX_HANDOFF_DATAGRAMS 64

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
  if (self->in_path_receive) {
    g_queue_push_tail (&self->dgram_rx, g_bytes_new (data, len));
    return;
  }
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
