/* p2p-quic-connection-wait.c: how a caller on any thread waits for a
 * P2pQuicConnection's network thread: the blocking wait of every blocking
 * call (send, receive, accept_stream, stream read/write/close) on the
 * connection's condition variable, woken by the network thread and by the
 * call's GCancellable, failing with G_IO_ERROR_WOULD_BLOCK where waiting
 * could never end; and p2p_quic_conn_run_on_net_thread(), which runs a
 * short function on the network thread and waits for it. (The async calls
 * park waiters instead: p2p-quic-connection-messages.c.)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-connection-private.h"
#include "p2p-work-batch.h"

/* TRUE when the caller owns the connection's context: it is dispatching it
 * (the network thread, a signal handler) or holds it as its thread-default
 * context (g_main_context_push_thread_default() acquires it: e.g. a test
 * driving a simulated network in MANUAL mode between two run calls).
 * Waiting for that context could never end: blocking calls fail with
 * G_IO_ERROR_WOULD_BLOCK instead, and p2p_quic_conn_run_on_net_thread()
 * runs directly. */
gboolean
p2p_quic_conn_on_net_thread (P2pQuicConnection *self)
{
  return g_main_context_is_owner (self->ctx);
}

/* ----------------------------------------------------------- blocking waits */

static void
cancel_wakeup (GCancellable *cancellable, gpointer user_data)
{
  P2pQuicConnection *self = user_data;

  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

void
p2p_quic_conn_wait_begin (BlockingWait *w, P2pQuicConnection *self, GCancellable *cancellable)
{
  w->self = self;
  w->cancellable = cancellable;
  w->net = p2p_quic_conn_on_net_thread (self);
  w->waiting = NULL;
  /* before locking: an already cancelled cancellable calls back at once */
  w->id = cancellable ? g_cancellable_connect (cancellable, G_CALLBACK (cancel_wakeup), self,
      NULL) : 0;
  g_mutex_lock (&self->lock);
}

gboolean
p2p_quic_conn_wait_next (BlockingWait *w, const char *what, GError **error)
{
  if (w->net) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
        "%s would block on the network thread; call it from another thread or use the "
        "async variant", what);
    return FALSE;
  }
  /* inside a batch (p2p_connection_batch_begin): what it holds may be
   * the very work that would wake us */
  p2p_work_batch_hand_over_held ();
  if (w->waiting)
    (*w->waiting)++;
  g_cond_wait (&w->self->cond, &w->self->lock);
  if (w->waiting)
    (*w->waiting)--;
  return TRUE;
}

gboolean
p2p_quic_conn_wait_failed_locked (P2pQuicConnection *self, gboolean closed,
    GCancellable *cancellable, GError **error)
{
  if (closed) {
    p2p_quic_conn_set_closed_error_locked (self, error);
    return TRUE;
  }
  return g_cancellable_set_error_if_cancelled (cancellable, error);
}

void
p2p_quic_conn_wait_end (BlockingWait *w)
{
  g_mutex_unlock (&w->self->lock);
  if (w->cancellable && w->id)
    g_cancellable_disconnect (w->cancellable, w->id);
}

/* ------------------------------------------------- calls on the net thread */

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

void
p2p_quic_conn_run_on_net_thread (P2pQuicConnection *self, NetFunc func, gpointer data)
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
  p2p_work_batch_hand_over_held ();     /* (see p2p_quic_conn_wait_next) */
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
