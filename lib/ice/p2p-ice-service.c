/* p2p-ice-service.c: P2pIceService, what a provider needs of ICE in one
 * object: one registration at the rendezvous (made on first use, remade
 * after losing the server while accepting), dials by peer ID through it
 * and a responder answering offers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-connect-private.h"

#include "p2p/p2p-error.h"

#define REREGISTER_MS 2000

struct _P2pIceService {
  P2pIdentity *identity;
  P2pConfig *config;
  P2pQuicSessionConfig qcfg;
  char *url;
  P2pSignaling *signaling;
  gboolean registering;
  GQueue waiting;               /* GTask* waiting for the registration */
  P2pIceResponder *responder;
  gboolean accepting;
  GPtrArray *allowed;
  guint max_pending;
  P2pIceAcceptFunc func;
  gpointer user_data;
  GSource *retry;
  gulong closed_id;
  struct ServiceBox *box;       /* lets pending callbacks see that we are gone */
  P2pIceCounters counters;      /* of every responder it had */
};

typedef struct ServiceBox {
  gint refs;
  P2pIceService *svc;
} ServiceBox;

static void
box_unref (ServiceBox *b)
{
  if (--b->refs == 0)
    g_free (b);
}

static void service_register (P2pIceService *self);

static void
service_drop_signaling (P2pIceService *self)
{
  g_clear_pointer (&self->responder, p2p_ice_responder_free);
  if (self->signaling) {
    if (self->closed_id)
      g_clear_signal_handler (&self->closed_id, self->signaling);
    p2p_signaling_close (self->signaling);
    g_clear_object (&self->signaling);
  }
}

static gboolean
on_retry (gpointer data)
{
  P2pIceService *self = data;
  g_clear_pointer (&self->retry, g_source_unref);
  if (self->accepting && !self->signaling && !self->registering)
    service_register (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_retry (P2pIceService *self)
{
  if (!self->accepting || self->retry)
    return;
  self->retry = g_timeout_source_new (REREGISTER_MS);
  g_source_set_callback (self->retry, on_retry, self, NULL);
  g_source_attach (self->retry, g_main_context_get_thread_default ());
}

static gboolean
drop_cb (gpointer data)
{
  g_object_unref (data);
  return G_SOURCE_REMOVE;
}

/* Drops @obj's reference from a later turn of this thread's context. */
static void
drop_later (gpointer obj)
{
  GSource *src = g_idle_source_new ();

  g_source_set_callback (src, drop_cb, obj, NULL);
  g_source_attach (src, g_main_context_get_thread_default ());
  g_source_unref (src);
}

static void
on_service_closed (P2pSignaling *sig, const GError *error, gpointer data)
{
  P2pIceService *self = data;
  g_message ("lost the rendezvous server %s: %s%s", self->url, error ? error->message : "closed",
      self->accepting ? "; registering again" : "");
  /* Freed from a later turn: we are inside the signaling's emission. */
  P2pSignaling *old = g_steal_pointer (&self->signaling);
  g_clear_pointer (&self->responder, p2p_ice_responder_free);
  g_clear_signal_handler (&self->closed_id, old);
  drop_later (old);
  schedule_retry (self);
}

static void start_dial (P2pIceService *self, GTask *task);

static void
on_service_registered (GObject *source, GAsyncResult *result, gpointer data)
{
  P2pSignaling *sig = P2P_SIGNALING (source);
  ServiceBox *box = data;
  GError *error = NULL;
  gboolean ok = p2p_signaling_connect_finish (sig, result, &error);
  P2pIceService *self = box->svc;
  box_unref (box);
  if (!self || sig != self->signaling) {
    g_clear_error (&error);
    return; /* the service was freed, or this registration was abandoned */
  }
  self->registering = FALSE;
  /* Completing a task may run its callback at once, and that callback may
   * free the service: take the waiting tasks first, touch @self only while
   * the box says it is alive. */
  GQueue waiting = self->waiting;
  g_queue_init (&self->waiting);
  box->refs++;
  GTask *t;
  if (!ok) {
    g_clear_object (&self->signaling);
    g_message ("rendezvous %s: %s", self->url, error->message);
    schedule_retry (self);
    while ((t = g_queue_pop_head (&waiting))) {
      g_task_return_error (t, g_error_copy (error));
      g_object_unref (t);
    }
    g_error_free (error);
    box_unref (box);
    return;
  }
  self->closed_id = g_signal_connect (self->signaling, "closed", G_CALLBACK (on_service_closed), self);
  if (self->accepting && !self->responder)
    self->responder = p2p_ice_responder_new (self->signaling, self->identity, self->config,
        &self->qcfg, self->allowed, self->max_pending, self->func, self->user_data);
  if (self->responder)
    p2p_ice_responder_set_counters (self->responder, &self->counters);
  while ((t = g_queue_pop_head (&waiting))) {
    if (!box->svc) {
      g_task_return_new_error (t, P2P_ERROR, P2P_ERROR_CLOSED, "the provider is shutting down");
      g_object_unref (t);
    } else if (g_task_get_task_data (t) == NULL) {   /* p2p_ice_service_register_async */
      g_task_return_boolean (t, TRUE);
      g_object_unref (t);
    } else {
      start_dial (box->svc, t);
    }
  }
  box_unref (box);
}

static void
service_register (P2pIceService *self)
{
  if (self->registering || self->signaling)
    return;
  self->registering = TRUE;
  self->signaling = p2p_signaling_new (self->identity);
  self->box->refs++;
  p2p_signaling_connect_async (self->signaling, self->url, NULL, on_service_registered, self->box);
}

/* A task waiting for the registration whose caller cancels leaves the
 * queue at once (the registration itself goes on, bounded by its timeout). */
typedef struct {
  ServiceBox *box;
  GTask *task;                  /* not owned: the source dies with the task */
} WaitCancel;

static gboolean
on_wait_cancelled (GCancellable *cancellable, gpointer data)
{
  WaitCancel *wc = data;
  P2pIceService *self = wc->box->svc;
  if (self && g_queue_remove (&self->waiting, wc->task)) {
    g_task_return_error_if_cancelled (wc->task);
    g_object_unref (wc->task);
  }
  return G_SOURCE_REMOVE;
}

static void
wait_cancel_free (gpointer data)
{
  WaitCancel *wc = data;
  box_unref (wc->box);
  g_free (wc);
}

static void
destroy_source (gpointer data)
{
  g_source_destroy (data);
  g_source_unref (data);
}

static void
service_enqueue (P2pIceService *self, GTask *task)
{
  GCancellable *cancellable = g_task_get_cancellable (task);
  if (cancellable) {
    WaitCancel *wc = g_new0 (WaitCancel, 1);
    GSource *src = g_cancellable_source_new (cancellable);
    wc->box = self->box;
    wc->box->refs++;
    wc->task = task;
    g_source_set_callback (src, G_SOURCE_FUNC (on_wait_cancelled), wc, wait_cancel_free);
    g_source_attach (src, g_main_context_get_thread_default ());
    g_object_set_data_full (G_OBJECT (task), "p2p-wait-cancel", src, destroy_source);
  }
  g_queue_push_tail (&self->waiting, task);
  service_register (self);
}

static void
on_service_dialed (GObject *source, GAsyncResult *result, gpointer data)
{
  GTask *task = data;
  GError *error = NULL;
  P2pConnection *conn = p2p_ice_connect_finish (result, &error);
  if (conn)
    g_task_return_pointer (task, conn, g_object_unref);
  else
    g_task_return_error (task, error);
  g_object_unref (task);
}

static void
start_dial (P2pIceService *self, GTask *task)
{
  const P2pPeerId *peer = g_task_get_task_data (task);
  p2p_ice_connect_async (self->signaling, self->identity, self->config, peer, &self->qcfg,
      g_task_get_cancellable (task), on_service_dialed, task);
}

P2pIceService *
p2p_ice_service_new (P2pIdentity *identity, const P2pConfig *config,
    const P2pQuicSessionConfig *qcfg, GError **error)
{
  g_return_val_if_fail (P2P_IS_IDENTITY (identity) && config != NULL, NULL);
  if (!config->bootstrap_peers || !config->bootstrap_peers[0]) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "no rendezvous server configured: set P2P_BOOTSTRAP_PEERS=ws://HOST:PORT/");
    return NULL;
  }
  P2pIceService *self = g_new0 (P2pIceService, 1);
  self->identity = g_object_ref (identity);
  self->config = p2p_config_copy (config);
  p2p_ice_session_config (qcfg, &self->qcfg);
  self->url = g_strdup (config->bootstrap_peers[0]);
  g_queue_init (&self->waiting);
  self->box = g_new0 (ServiceBox, 1);
  self->box->refs = 1;
  self->box->svc = self;
  return self;
}

void
p2p_ice_service_connect_async (P2pIceService *self, const P2pPeerId *peer,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_ice_service_connect_async);
  g_task_set_task_data (task, p2p_peer_id_copy (peer), (GDestroyNotify) p2p_peer_id_free);
  if (self->signaling && p2p_signaling_is_registered (self->signaling)) {
    start_dial (self, task);
    return;
  }
  service_enqueue (self, task);
}

P2pConnection *
p2p_ice_service_connect_finish (P2pIceService *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
p2p_ice_service_start_accepting (P2pIceService *self, GPtrArray *allowed, guint max_pending,
    P2pIceAcceptFunc func, gpointer user_data)
{
  if (self->accepting)
    return;
  self->accepting = TRUE;
  g_clear_pointer (&self->responder, p2p_ice_responder_free);   /* a refusing one */
  g_clear_pointer (&self->allowed, g_ptr_array_unref);
  self->allowed = allowed ? g_ptr_array_ref (allowed) : NULL;
  self->max_pending = max_pending;
  self->func = func;
  self->user_data = user_data;
  if (self->signaling && p2p_signaling_is_registered (self->signaling))
    self->responder = p2p_ice_responder_new (self->signaling, self->identity, self->config,
        &self->qcfg, self->allowed, self->max_pending, self->func, self->user_data);
  if (self->responder)
    p2p_ice_responder_set_counters (self->responder, &self->counters);
  else
    service_register (self);
}

void
p2p_ice_service_stop_accepting (P2pIceService *self)
{
  if (!self || !self->accepting)
    return;
  self->accepting = FALSE;
  if (self->retry) {
    g_source_destroy (self->retry);
    g_clear_pointer (&self->retry, g_source_unref);
  }
  /* Setups in progress finish (their connections go to the accept
   * callback); new offers are refused while we stay registered. */
  if (self->responder)
    p2p_ice_responder_set_refusing (self->responder);
  self->func = NULL;
  self->user_data = NULL;
}

void
p2p_ice_service_register_async (P2pIceService *self, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_ice_service_register_async);
  if (self->signaling && p2p_signaling_is_registered (self->signaling)) {
    g_task_return_boolean (task, TRUE);
    g_object_unref (task);
    return;
  }
  service_enqueue (self, task);
}

gboolean
p2p_ice_service_register_finish (P2pIceService *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
p2p_ice_service_get_counters (P2pIceService *self, P2pIceCounters *out)
{
  *out = self->counters;
}

gboolean
p2p_ice_service_is_registered (P2pIceService *self)
{
  return self->signaling && p2p_signaling_is_registered (self->signaling);
}

void
p2p_ice_service_free (P2pIceService *self)
{
  if (!self)
    return;
  self->accepting = FALSE;
  if (self->retry) {
    g_source_destroy (self->retry);
    g_clear_pointer (&self->retry, g_source_unref);
  }
  GTask *t;
  while ((t = g_queue_pop_head (&self->waiting))) {
    g_task_return_new_error (t, P2P_ERROR, P2P_ERROR_CLOSED, "the provider is shutting down");
    g_object_unref (t);
  }
  self->box->svc = NULL;
  box_unref (self->box);
  service_drop_signaling (self);
  if (self->allowed)
    g_ptr_array_unref (self->allowed);
  g_object_unref (self->identity);
  p2p_config_free (self->config);
  g_free (self->url);
  g_free (self);
}
