/* p2p-quic-connection-close.c: how a P2pQuicConnection ends: close()
 * (graceful, started by the network thread's next work), the session's
 * closed callback and the error blocked callers get afterwards, the abort
 * of a provider or endpoint shutting down, and the teardown of a dropped
 * connection, whose session still sends its CONNECTION_CLOSE and is freed
 * on its own thread. (The "closed" signal is emitted by
 * p2p_quic_conn_after_session_call() in p2p-quic-connection.c.)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-connection-private.h"
#include "p2p/p2p-error.h"
#include "p2p-mtu.h"

/* ------------------------------------------------------------ close error */

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

/* ------------------------------------------------------- closing, aborting */

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

static void
abort_net (P2pQuicConnection *self, gpointer data)
{
  const GError *error = data;

  if (self->session && p2p_quic_session_get_state (self->session) != P2P_QUIC_STATE_CLOSED) {
    p2p_quic_session_abort (self->session, error);
    p2p_quic_conn_flush (self); /* sends the CONNECTION_CLOSE */
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
  p2p_quic_conn_after_session_call (self);
}

/* Internal (endpoint/provider shutdown): abort with @error on the network thread. */
void
p2p_quic_connection_abort (P2pQuicConnection *self, const GError *error)
{
  g_return_if_fail (P2P_IS_QUIC_CONNECTION (self));
  p2p_quic_conn_run_on_net_thread (self, abort_net, (gpointer) error);
}

/* ------------------------------------------------- teardown (dispose) */

typedef struct {
  P2pQuicSession *session;
  Owner *owner;
  P2pPacketPath *path;
  gboolean path_closed;
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

void
p2p_quic_conn_teardown (P2pQuicConnection *self)
{
  Teardown *t = g_new0 (Teardown, 1);

  if (self->path_changed_id) {
    g_signal_handler_disconnect (self->path, self->path_changed_id);
    self->path_changed_id = 0;
  }
  t->session = g_steal_pointer (&self->session);
  t->owner = g_steal_pointer (&self->owner);
  if (t->owner)
    t->owner->conn = NULL;      /* callbacks from now on go nowhere */
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

void
p2p_quic_conn_close_class_init (P2pConnectionClass *conn_class,
    P2pQuicSessionCallbacks *callbacks)
{
  conn_class->close = quic_close;
  callbacks->closed = cb_closed;
}
