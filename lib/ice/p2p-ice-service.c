/* p2p-ice-service.c: P2pIceService, what a provider needs of ICE in one
 * object: a registration at every rendezvous server of
 * P2P_BOOTSTRAP_PEERS (made on first use, remade after losing a server
 * while accepting), dials by peer ID through them and a responder per
 * server answering offers.
 *
 * Other carriers (the DHT: p2p_ice_service_add_signaling) are "servers"
 * too, after the rendezvous ones: always registered (nothing to register
 * at), asked in the same order with the same stagger, answered the same.
 *
 * Several servers: a dial asks the servers one after the other, the next
 * one as soon as the previous one answered "not found" (or failed), or
 * SERVER_STAGGER_MS after it started; the first connection wins and the
 * rest are cancelled (a late one is closed). Staggered rather than all at
 * once because a peer registered at two servers would otherwise answer
 * both offers, and its listener would see a duplicate connection.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-connect-private.h"

#include "p2p/p2p-error.h"
#include "p2p-config-private.h"
#include "p2p-error-private.h"

#define REREGISTER_MS 2000
#define SERVER_STAGGER_MS 1000

typedef struct _Server Server;
typedef struct _Dial Dial;

struct _P2pIceService {
  P2pIdentity *identity;
  P2pConfig *config;
  P2pQuicSessionConfig qcfg;
  GPtrArray *servers;           /* Server*, in P2P_BOOTSTRAP_PEERS order */
  GQueue waiting;               /* GTask* of register_async */
  GQueue dials;                 /* Dial* not done yet */
  gboolean accepting;
  GPtrArray *allowed;
  guint max_pending;
  P2pIceAcceptFunc func;
  gpointer user_data;
  struct ServiceBox *box;       /* lets pending callbacks see that we are gone */
  P2pIceCounters counters;      /* of every responder it had */
  GPtrArray *live;              /* accepted connections, for ICE restarts (p2p_ice_live_new) */
  P2pIceRestart *restart;       /* keeps dialed connections across a failed path */
};

/* One rendezvous server and our registration there. */
struct _Server {
  P2pIceService *svc;
  char *url;
  P2pSignaling *signaling;      /* while registering or registered */
  gboolean registering;
  P2pIceResponder *responder;
  GSource *retry;
  gulong closed_id;
  GError *last_error;           /* why the last registration failed */
  gboolean external;            /* another carrier: no registration */
};

typedef struct ServiceBox {
  gint refs;
  P2pIceService *svc;
} ServiceBox;

/* A dial by peer ID through the servers. */
struct _Dial {
  ServiceBox *box;              /* ref */
  GTask *task;                  /* the caller's; its data is the peer */
  GCancellable *race;           /* cancels the dials still running */
  gulong cancel_id;             /* task's cancellable → race */
  GPtrArray *asked;             /* Server* dialled through */
  GSource *stagger;
  guint inflight;
  GError *error;                /* the most telling failure so far */
  gboolean done;
};

static void
box_unref (ServiceBox *b)
{
  if (--b->refs == 0)
    g_free (b);
}

static void server_register (Server *srv);
static void dial_next (Dial *d);
static void dial_check_done (Dial *d);

static gboolean
server_is_registered (Server *srv)
{
  return srv->signaling && !srv->registering && p2p_signaling_is_registered (srv->signaling);
}

static gboolean
any_registering (P2pIceService *self)
{
  for (guint i = 0; i < self->servers->len; i++) {
    if (((Server *) self->servers->pdata[i])->registering)
      return TRUE;
  }
  return FALSE;
}

static void
server_drop_signaling (Server *srv)
{
  g_clear_pointer (&srv->responder, p2p_ice_responder_free);
  if (srv->signaling) {
    if (srv->closed_id)
      g_clear_signal_handler (&srv->closed_id, srv->signaling);
    p2p_signaling_close (srv->signaling);
    g_clear_object (&srv->signaling);
  }
}

static void
server_free (Server *srv)
{
  if (srv->retry) {
    g_source_destroy (srv->retry);
    g_clear_pointer (&srv->retry, g_source_unref);
  }
  server_drop_signaling (srv);
  g_clear_error (&srv->last_error);
  g_free (srv->url);
  g_free (srv);
}

static gboolean
on_retry (gpointer data)
{
  Server *srv = data;

  g_clear_pointer (&srv->retry, g_source_unref);
  if (srv->svc->accepting && !srv->signaling && !srv->registering)
    server_register (srv);
  return G_SOURCE_REMOVE;
}

static void
schedule_retry (Server *srv)
{
  if (!srv->svc->accepting || srv->retry)
    return;
  srv->retry = g_timeout_source_new (REREGISTER_MS);
  g_source_set_callback (srv->retry, on_retry, srv, NULL);
  g_source_attach (srv->retry, g_main_context_get_thread_default ());
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
on_server_closed (P2pSignaling *sig, const GError *error, gpointer data)
{
  Server *srv = data;

  g_message ("lost the rendezvous server %s: %s%s", srv->url, error ? error->message : "closed",
      srv->svc->accepting ? "; registering again" : "");
  /* Freed from a later turn: we are inside the signaling's emission. */
  P2pSignaling *old = g_steal_pointer (&srv->signaling);
  g_clear_pointer (&srv->responder, p2p_ice_responder_free);
  g_clear_signal_handler (&srv->closed_id, old);
  drop_later (old);
  schedule_retry (srv);
}

static void
server_start_responder (Server *srv)
{
  P2pIceService *self = srv->svc;

  if (!self->accepting || srv->responder || !server_is_registered (srv))
    return;
  srv->responder = p2p_ice_responder_new (srv->signaling, self->identity, self->config,
      &self->qcfg, self->allowed, self->max_pending, self->func, self->user_data);
  p2p_ice_responder_set_counters (srv->responder, &self->counters);
  p2p_ice_responder_set_live (srv->responder, self->live);
}

typedef struct {
  ServiceBox *box;
  Server *srv;
} ServerCall;

static void
on_server_registered (GObject *source, GAsyncResult *result, gpointer data)
{
  ServerCall *call = data;
  P2pSignaling *sig = P2P_SIGNALING (source);
  ServiceBox *box = call->box;
  Server *srv = call->srv;
  GError *error = NULL;
  gboolean ok = p2p_signaling_connect_finish (sig, result, &error);
  P2pIceService *self = box->svc;
  GQueue waiting = G_QUEUE_INIT;
  GTask *t;

  g_free (call);
  if (!self || sig != srv->signaling) {
    g_clear_error (&error);
    box_unref (box);
    return; /* the service was freed, or this registration was abandoned */
  }
  srv->registering = FALSE;
  if (!ok) {
    g_clear_object (&srv->signaling);
    g_message ("rendezvous %s: %s", srv->url, error->message);
    g_clear_error (&srv->last_error);
    srv->last_error = error;
    schedule_retry (srv);
  } else {
    g_clear_error (&srv->last_error);
    srv->closed_id = g_signal_connect (srv->signaling, "closed", G_CALLBACK (on_server_closed), srv);
    server_start_responder (srv);
  }
  /* register_async waits for one registration, or for every server to
   * have failed. Completing a task may run its callback at once, and that
   * callback may free the service: take the tasks first, touch @self only
   * while the box says it is alive. */
  if (ok || !any_registering (self)) {
    waiting = self->waiting;
    g_queue_init (&self->waiting);
  }
  while ((t = g_queue_pop_head (&waiting))) {
    if (ok)
      g_task_return_boolean (t, TRUE);
    else
      g_task_return_error (t, g_error_copy (srv->last_error));
    g_object_unref (t);
    if (!box->svc)
      break;
  }
  while (!box->svc && (t = g_queue_pop_head (&waiting))) {
    g_task_return_new_error (t, P2P_ERROR, P2P_ERROR_CLOSED, "the provider is shutting down");
    g_object_unref (t);
  }
  /* the dials waiting for a server */
  if (box->svc) {
    GList *l = g_queue_peek_head_link (&self->dials);

    /* completing a dial may run its caller's callback, which may free
     * the service: stop then */
    while (l && box->svc) {
      Dial *d = l->data;

      l = l->next;
      if (ok && d->inflight == 0)
        dial_next (d);
      /* done when nothing runs and nothing may register any more (this
       * server may have been asked already) */
      dial_check_done (d);
    }
  }
  box_unref (box);
}

static void
server_register (Server *srv)
{
  ServerCall *call;

  if (srv->registering || srv->signaling)
    return;
  srv->registering = TRUE;
  srv->signaling = p2p_signaling_new (srv->svc->identity);
  call = g_new0 (ServerCall, 1);
  call->box = srv->svc->box;
  call->box->refs++;
  call->srv = srv;
  p2p_signaling_connect_async (srv->signaling, srv->url, NULL, on_server_registered, call);
}

static void
service_register (P2pIceService *self)
{
  for (guint i = 0; i < self->servers->len; i++)
    server_register (self->servers->pdata[i]);
}

/* Registered at one rendezvous (other carriers do not count). */
static gboolean
any_registered (P2pIceService *self)
{
  for (guint i = 0; i < self->servers->len; i++) {
    Server *srv = self->servers->pdata[i];

    if (!srv->external && server_is_registered (srv))
      return TRUE;
  }
  return FALSE;
}

static gboolean
has_rendezvous (P2pIceService *self)
{
  for (guint i = 0; i < self->servers->len; i++) {
    if (!((Server *) self->servers->pdata[i])->external)
      return TRUE;
  }
  return FALSE;
}

/* ------------------------------------------------------------ dials */

static void
dial_free (Dial *d)
{
  g_clear_object (&d->race);
  g_ptr_array_unref (d->asked);
  g_clear_error (&d->error);
  box_unref (d->box);
  g_free (d);
}

/* Completes the caller's task with @conn or d->error (transfer of @conn). */
static void
dial_finish (Dial *d, P2pConnection *conn)
{
  P2pIceService *self = d->box->svc;
  GCancellable *cancellable = g_task_get_cancellable (d->task);
  GTask *task = g_steal_pointer (&d->task);

  d->done = TRUE;
  if (self)
    g_queue_remove (&self->dials, d);
  if (d->stagger) {
    g_source_destroy (d->stagger);
    g_clear_pointer (&d->stagger, g_source_unref);
  }
  g_cancellable_cancel (d->race);
  if (d->cancel_id)
    g_cancellable_disconnect (cancellable, d->cancel_id);
  if (conn && self)
    p2p_ice_restart_watch (self->restart, P2P_QUIC_CONNECTION (conn));
  if (conn)
    g_task_return_pointer (task, conn, g_object_unref);
  else if (!g_task_return_error_if_cancelled (task))
    g_task_return_error (task, g_error_copy (d->error));
  g_object_unref (task);
  if (d->inflight == 0)
    dial_free (d);
}

/* "no rendezvous server could be reached: ERR; ERR" for the rendezvous
 * servers not dialled through that failed to register (NULL: none); the
 * code of the last such error in *@code. */
static char *
unreached_servers (Dial *d, gint *code)
{
  P2pIceService *self = d->box->svc;
  GString *s = NULL;
  guint n = 0;

  for (guint i = 0; i < self->servers->len; i++) {
    Server *srv = self->servers->pdata[i];

    if (srv->external || !srv->last_error || g_ptr_array_find (d->asked, srv, NULL))
      continue;
    if (s == NULL)
      s = g_string_new ("no rendezvous server could be reached:");
    g_string_append_printf (s, "%s %s", n++ ? ";" : "", srv->last_error->message);
    if (srv->last_error->domain == P2P_ERROR)
      *code = srv->last_error->code;
  }
  return s ? g_string_free (s, FALSE) : NULL;
}

/* No dial in flight and no server that may still register: the dial
 * failed (with the most telling error, or why no server took us; both
 * when another carrier, the DHT, was asked and a rendezvous was down). */
static void
dial_check_done (Dial *d)
{
  P2pIceService *self = d->box->svc;
  g_autofree char *unreached = NULL;
  gint code = P2P_ERROR_NETWORK;

  if (d->done || d->inflight > 0 || (self && any_registering (self)))
    return;
  if (self)
    unreached = unreached_servers (d, &code);
  if (d->error == NULL && unreached) {
    Server *first = self->servers->pdata[0];

    /* one server only: its own error, as it is */
    if (self->servers->len == 1 && first->last_error)
      d->error = g_error_copy (first->last_error);
    else
      d->error = g_error_new_literal (P2P_ERROR, code, unreached);
  } else if (d->error && unreached) {
    g_prefix_error (&d->error, "%s; ", unreached);
  }
  if (d->error == NULL)
    d->error = g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "no rendezvous server took the dial");
  dial_finish (d, NULL);
}

static void
on_server_dialed (GObject *source, GAsyncResult *result, gpointer data)
{
  Dial *d = data;
  GError *error = NULL;
  P2pConnection *conn = p2p_ice_connect_finish (result, &error);

  d->inflight--;
  if (d->done) {
    if (conn) {
      p2p_connection_close (conn, "duplicate connection");
      g_object_unref (conn);
    }
    g_clear_error (&error);
    if (d->inflight == 0)
      dial_free (d);
    return;
  }
  if (conn) {
    dial_finish (d, conn);
    return;
  }
  p2p_error_keep_telling (&d->error, error);
  /* the next server at once rather than after the stagger */
  dial_next (d);
  dial_check_done (d);
}

/* Dials through the first registered server not asked yet, if any. */
static void
dial_next (Dial *d)
{
  P2pIceService *self = d->box->svc;
  const P2pPeerId *peer;

  if (d->done || self == NULL)
    return;
  peer = g_task_get_task_data (d->task);
  for (guint i = 0; i < self->servers->len; i++) {
    Server *srv = self->servers->pdata[i];

    if (!server_is_registered (srv) || g_ptr_array_find (d->asked, srv, NULL))
      continue;
    g_ptr_array_add (d->asked, srv);
    d->inflight++;
    p2p_ice_connect_async (srv->signaling, self->identity, self->config, peer, &self->qcfg,
        d->race, on_server_dialed, d);
    return;
  }
}

static gboolean
on_stagger (gpointer data)
{
  dial_next (data);
  return G_SOURCE_CONTINUE;
}

static void
on_task_cancelled (GCancellable *cancellable, gpointer data)
{
  g_cancellable_cancel (data);
}

void
p2p_ice_service_connect_async (P2pIceService *self, const P2pPeerId *peer,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  Dial *d = g_new0 (Dial, 1);

  d->task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (d->task, p2p_ice_service_connect_async);
  g_task_set_task_data (d->task, p2p_peer_id_copy (peer), (GDestroyNotify) p2p_peer_id_free);
  d->box = self->box;
  d->box->refs++;
  d->race = g_cancellable_new ();
  d->asked = g_ptr_array_new ();
  if (cancellable)
    d->cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (on_task_cancelled),
        g_object_ref (d->race), g_object_unref);
  g_queue_push_tail (&self->dials, d);
  if (self->servers->len > 1) {
    d->stagger = g_timeout_source_new (SERVER_STAGGER_MS);
    g_source_set_callback (d->stagger, on_stagger, d, NULL);
    g_source_attach (d->stagger, g_main_context_get_thread_default ());
  }
  service_register (self);
  dial_next (d);
  dial_check_done (d);
}

P2pConnection *
p2p_ice_service_connect_finish (P2pIceService *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------ the rest */

/* P2pIceRegisterFunc */
static void
register_again (gpointer data)
{
  service_register (data);
}

/* P2pIceCarriersFunc: the registered servers' signalings, in order. */
static GPtrArray *
registered_carriers (gpointer data)
{
  P2pIceService *self = data;
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; i < self->servers->len; i++) {
    Server *srv = self->servers->pdata[i];

    if (server_is_registered (srv))
      g_ptr_array_add (out, srv->signaling);
  }
  return out;
}

P2pIceService *
p2p_ice_service_new (P2pIdentity *identity, const P2pConfig *config,
    const P2pQuicSessionConfig *qcfg, GError **error)
{
  g_return_val_if_fail (P2P_IS_IDENTITY (identity) && config != NULL, NULL);
  /* the dht:// entries are DHT bootstrap nodes, not rendezvous servers:
   * the DHT is added by the caller (p2p_ice_service_add_signaling) */
  g_auto (GStrv) urls = p2p_config_dup_rendezvous_urls (config);
  /* (every other entry is a dht:// one: the config parser allows no more) */
  if (urls[0] == NULL && !(config->bootstrap_peers && config->bootstrap_peers[0])) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "no rendezvous server or DHT configured: set P2P_BOOTSTRAP_PEERS=ws://HOST:PORT/ "
        "or dht://HOST:PORT");
    return NULL;
  }
  P2pIceService *self = g_new0 (P2pIceService, 1);
  self->identity = g_object_ref (identity);
  self->config = p2p_config_copy (config);
  p2p_ice_session_config (qcfg, &self->qcfg);
  self->servers = g_ptr_array_new_with_free_func ((GDestroyNotify) server_free);
  for (guint i = 0; urls[i]; i++) {
    Server *srv = g_new0 (Server, 1);

    srv->svc = self;
    srv->url = g_strdup (urls[i]);
    g_ptr_array_add (self->servers, srv);
  }
  g_queue_init (&self->waiting);
  g_queue_init (&self->dials);
  self->live = p2p_ice_live_new ();
  self->restart = p2p_ice_restart_new (identity, config, registered_carriers,
      register_again, self);
  self->box = g_new0 (ServiceBox, 1);
  self->box->refs = 1;
  self->box->svc = self;
  /* which STUN server answers, known by the time of the next dial */
  p2p_ice_check_stun_servers (self->config);
  return self;
}

void
p2p_ice_service_add_signaling (P2pIceService *self, P2pSignaling *signaling)
{
  Server *srv = g_new0 (Server, 1);
  GList *l;

  g_return_if_fail (P2P_IS_SIGNALING (signaling));
  srv->svc = self;
  srv->url = g_strdup (p2p_signaling_get_route (signaling));
  srv->signaling = g_object_ref (signaling);
  srv->external = TRUE;
  g_ptr_array_add (self->servers, srv);
  server_start_responder (srv);
  /* dials already waiting for a server */
  l = g_queue_peek_head_link (&self->dials);
  while (l) {
    Dial *d = l->data;

    l = l->next;
    if (d->inflight == 0)
      dial_next (d);
  }
}

void
p2p_ice_service_start_accepting (P2pIceService *self, GPtrArray *allowed, guint max_pending,
    P2pIceAcceptFunc func, gpointer user_data)
{
  if (self->accepting)
    return;
  self->accepting = TRUE;
  g_clear_pointer (&self->allowed, g_ptr_array_unref);
  self->allowed = allowed ? g_ptr_array_ref (allowed) : NULL;
  self->max_pending = max_pending;
  self->func = func;
  self->user_data = user_data;
  for (guint i = 0; i < self->servers->len; i++) {
    Server *srv = self->servers->pdata[i];

    g_clear_pointer (&srv->responder, p2p_ice_responder_free);  /* a refusing one */
    server_start_responder (srv);
  }
  service_register (self);
}

void
p2p_ice_service_stop_accepting (P2pIceService *self)
{
  if (!self || !self->accepting)
    return;
  self->accepting = FALSE;
  for (guint i = 0; i < self->servers->len; i++) {
    Server *srv = self->servers->pdata[i];

    if (srv->retry) {
      g_source_destroy (srv->retry);
      g_clear_pointer (&srv->retry, g_source_unref);
    }
    /* Setups in progress finish (their connections go to the accept
     * callback); new offers are refused while we stay registered. */
    if (srv->responder)
      p2p_ice_responder_set_refusing (srv->responder);
  }
  self->func = NULL;
  self->user_data = NULL;
}

void
p2p_ice_service_register_async (P2pIceService *self, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, p2p_ice_service_register_async);
  /* no rendezvous (only the DHT): nothing to register at */
  if (any_registered (self) || !has_rendezvous (self)) {
    g_task_return_boolean (task, TRUE);
    g_object_unref (task);
    return;
  }
  /* A caller that cancels is answered when the registrations settle
   * (each bounded by its timeout). */
  g_queue_push_tail (&self->waiting, task);
  service_register (self);
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
  return any_registered (self);
}

void
p2p_ice_service_free (P2pIceService *self)
{
  GTask *t;
  Dial *d;

  if (!self)
    return;
  self->accepting = FALSE;
  g_clear_pointer (&self->restart, p2p_ice_restart_free);
  while ((t = g_queue_pop_head (&self->waiting))) {
    g_task_return_new_error (t, P2P_ERROR, P2P_ERROR_CLOSED, "the provider is shutting down");
    g_object_unref (t);
  }
  while ((d = g_queue_pop_head (&self->dials))) {
    g_clear_error (&d->error);
    d->error = g_error_new (P2P_ERROR, P2P_ERROR_CLOSED, "the provider is shutting down");
    d->box->svc = NULL;         /* dial_finish: not in the queue any more */
    dial_finish (d, NULL);
    d = NULL;
  }
  self->box->svc = NULL;
  box_unref (self->box);
  g_ptr_array_unref (self->servers);
  g_ptr_array_unref (self->live);
  if (self->allowed)
    g_ptr_array_unref (self->allowed);
  g_object_unref (self->identity);
  p2p_config_free (self->config);
  g_free (self);
}
