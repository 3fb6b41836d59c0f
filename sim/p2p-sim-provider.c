/* p2p-sim-provider.c: P2pSimProvider, the P2pProvider of the simulated
 * network: the real QUIC stack (P2pQuicEndpoint, P2pQuicConnection,
 * P2pQuicSession) over P2pSimSockets on the provider's own node.
 *
 *  - listen(":PORT" / NULL) binds a socket on the node, accepts on a
 *    P2pQuicEndpoint and registers the peer ID -> address in the network's
 *    registry (removed again when the listener goes away);
 *  - connect(peer) takes a bare peer ID (looked up in the registry:
 *    PEER_NOT_FOUND when it is not there), a ticket or ID@HOST:PORT (the
 *    first 10.77.x.y address that is a node of this network, else the
 *    registry), and dials from one shared socket on the node. One live
 *    connection per peer ID (a second connect returns the same object).
 *  - failure rate: the network black-holes a flow at its first packet; a
 *    dial whose flow was black-holed fails with CONNECTION_FAILED
 *    "simulated connection failure (failure-rate=...)" when the handshake
 *    times out (after the idle timeout, in virtual time).
 *
 * Threads: all sockets and sessions live on the network's context. Public
 * calls made from another thread are run there (synchronously for listen).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-private.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-info.h"
#include "p2p-quic-endpoint.h"
#include "p2p-net-thread.h"
#include "p2p-udp-socket.h"
#include "p2p-config-private.h"

#include <string.h>

struct _P2pSimProvider {
  GObject parent_instance;

  P2pSimNetwork *net;
  P2pIdentity *identity;
  P2pConfig *config;
  guint node;
  P2pQuicSessionConfig session_cfg;

  /* network context only */
  P2pQuicEndpoint *dial_ep;
  GHashTable *pool;        /* peer string -> GWeakRef* (P2pConnection) */
  GPtrArray *listeners;    /* GWeakRef* (P2pQuicEndpoint) */
  P2pProviderCounters *counters;
};

static void p2p_sim_provider_iface_init (P2pProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (P2pSimProvider, p2p_sim_provider, G_TYPE_OBJECT,
    G_IMPLEMENT_INTERFACE (P2P_TYPE_PROVIDER, p2p_sim_provider_iface_init))

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* ------------------------------------------------------------ threads */

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean done;
  void (*func) (gpointer data);
  gpointer data;
} SyncCall;

static gboolean
sync_call_cb (gpointer user_data)
{
  SyncCall *c = user_data;

  c->func (c->data);
  g_mutex_lock (&c->lock);
  c->done = TRUE;
  g_cond_signal (&c->cond);
  g_mutex_unlock (&c->lock);
  return G_SOURCE_REMOVE;
}

/* Runs @func on the network's context: on its network thread when it has
 * one (named networks), else directly when this thread owns the context or
 * can acquire it (MANUAL mode), else through the context, waiting for it. */
static void
run_sync (P2pSimProvider *self, void (*func) (gpointer), gpointer data)
{
  GMainContext *ctx = p2p_sim_network_get_context (self->net);
  P2pNetThread *thread = p2p_sim_network_get_net_thread (self->net);
  SyncCall c = { .func = func, .data = data };

  if (thread) {
    p2p_net_thread_invoke_sync (thread, func, data);
    return;
  }
  if (g_main_context_acquire (ctx)) {
    func (data);
    g_main_context_release (ctx);
    return;
  }
  g_mutex_init (&c.lock);
  g_cond_init (&c.cond);
  g_main_context_invoke (ctx, sync_call_cb, &c);
  g_mutex_lock (&c.lock);
  while (!c.done)
    g_cond_wait (&c.cond, &c.lock);
  g_mutex_unlock (&c.lock);
  g_mutex_clear (&c.lock);
  g_cond_clear (&c.cond);
}

/* ------------------------------------------------------------ pool */

static P2pConnection *
pool_lookup (P2pSimProvider *self, const char *key)
{
  GWeakRef *wr = g_hash_table_lookup (self->pool, key);
  P2pConnection *conn = wr ? g_weak_ref_get (wr) : NULL;

  if (conn && !p2p_connection_is_connected (conn))
    g_clear_object (&conn);
  if (conn == NULL && wr)
    g_hash_table_remove (self->pool, key);
  return conn;
}

static void
pool_add (P2pSimProvider *self, const char *key, P2pConnection *conn)
{
  GWeakRef *wr = g_new0 (GWeakRef, 1);

  g_weak_ref_init (wr, conn);
  g_hash_table_replace (self->pool, g_strdup (key), wr);
}

/* ------------------------------------------------------------ connect */

typedef struct {
  P2pSimProvider *self;     /* ref */
  char *peer_text;
  P2pPeerId peer;
  char *peer_str;
  GSocketAddress *remote;
} Connect;

static void
connect_free (gpointer data)
{
  Connect *c = data;

  g_clear_object (&c->remote);
  g_free (c->peer_text);
  g_free (c->peer_str);
  g_object_unref (c->self);
  g_free (c);
}

static const char *
net_name (P2pSimProvider *self)
{
  const char *name = p2p_sim_network_get_name (self->net);

  return name ? name : "(unnamed)";
}

/* The first address of @info that is a node of the network. */
static GSocketAddress *
sim_address_of (P2pSimProvider *self, P2pPeerInfo *info)
{
  const char *const *addrs = p2p_peer_info_get_addresses (info);

  for (guint i = 0; addrs && addrs[i]; i++) {
    g_autofree char *host = NULL;
    guint16 port = 0;
    g_autoptr (GInetAddress) ia = NULL;

    if (!p2p_parse_host_port (addrs[i], &host, &port, NULL))
      continue;
    ia = g_inet_address_new_from_string (host);
    if (ia && port && p2p_sim_network_find_node (self->net, ia))
      return g_inet_socket_address_new (ia, port);
  }
  return NULL;
}

/* Completes a dial with @conn or @error (both transfer full), counted. */
static void
connect_return (P2pSimProvider *self, GTask *task, P2pConnection *conn, GError *error)
{
  p2p_provider_counters_dialed (self->counters, conn, error);
  if (conn)
    g_task_return_pointer (task, conn, g_object_unref);
  else
    g_task_return_error (task, error);
}

static void
dial_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Connect *c = g_task_get_task_data (task);
  P2pSimProvider *self = c->self;
  GError *error = NULL;
  P2pConnection *conn = p2p_quic_endpoint_dial_finish (P2P_QUIC_ENDPOINT (source), result,
      &error);

  if (conn) {
    pool_add (self, c->peer_str, conn);
    connect_return (self, task, conn, NULL);
  } else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    connect_return (self, task, NULL, error);
  } else {
    g_autoptr (GSocketAddress) local =
        p2p_datagram_socket_get_local_address (p2p_quic_endpoint_get_socket (self->dial_ep));

    if (local && p2p_sim_network_flow_is_failed (self->net, local, c->remote)) {
      P2pSimLinkParams link;

      p2p_sim_network_get_default_link (self->net, &link);
      g_clear_error (&error);
      error = g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
          "simulated connection failure (failure-rate=%g): the flow to peer %s was "
          "black-holed by the simulated network %s", link.failure_rate, c->peer_text,
          net_name (self));
    }
    connect_return (self, task, NULL, error);
  }
  g_object_unref (task);
}

static P2pQuicEndpoint *
get_dial_endpoint (P2pSimProvider *self, GError **error)
{
  if (self->dial_ep == NULL) {
    g_autoptr (P2pSimSocket) sock = p2p_sim_socket_new (self->net, self->node, 0, error);

    if (sock == NULL)
      return NULL;
    self->dial_ep = p2p_quic_endpoint_new (P2P_DATAGRAM_SOCKET (sock), self->identity,
        &self->session_cfg);
  }
  return self->dial_ep;
}

static gboolean
connect_start_net (gpointer data)
{
  GTask *task = data;
  Connect *c = g_task_get_task_data (task);
  P2pSimProvider *self = c->self;
  g_autoptr (P2pPeerInfo) info = NULL;
  g_autoptr (P2pConnection) pooled = NULL;
  GError *error = NULL;
  P2pQuicEndpoint *ep;

  if (g_task_return_error_if_cancelled (task))
    goto done;
  info = p2p_peer_info_parse (c->peer_text, &error);
  if (info == NULL) {
    g_task_return_error (task, error);
    goto done;
  }
  c->peer = *p2p_peer_info_get_peer_id (info);
  c->peer_str = p2p_peer_id_to_string (&c->peer);

  pooled = pool_lookup (self, c->peer_str);
  if (pooled) {
    g_task_return_pointer (task, g_steal_pointer (&pooled), g_object_unref);
    goto done;
  }

  c->remote = sim_address_of (self, info);
  if (c->remote == NULL)
    c->remote = p2p_sim_network_lookup_peer (self->net, &c->peer);
  if (c->remote == NULL) {
    connect_return (self, task, NULL, g_error_new (P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND,
            "peer %s is not on simulated network %s (is it listening there?)", c->peer_str,
            net_name (self)));
    goto done;
  }

  ep = get_dial_endpoint (self, &error);
  if (ep == NULL) {
    g_prefix_error (&error, "cannot open a simulated socket to dial from: ");
    connect_return (self, task, NULL, error);
    goto done;
  }
  p2p_quic_endpoint_dial_async (ep, c->remote, &c->peer, g_task_get_cancellable (task),
      dial_done, task);
  return G_SOURCE_REMOVE;

done:
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

static void
sim_connect_async (P2pProvider *provider, const char *peer, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  P2pSimProvider *self = P2P_SIM_PROVIDER (provider);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  Connect *c = g_new0 (Connect, 1);

  g_task_set_source_tag (task, sim_connect_async);
  c->self = g_object_ref (self);
  c->peer_text = g_strdup (peer);
  g_task_set_task_data (task, c, connect_free);
  if (p2p_sim_network_get_net_thread (self->net))
    p2p_net_thread_invoke (p2p_sim_network_get_net_thread (self->net), connect_start_net, task,
        NULL);
  else
    g_main_context_invoke (p2p_sim_network_get_context (self->net), connect_start_net, task);
}

static P2pConnection *
sim_connect_finish (P2pProvider *provider, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, provider), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------ listen */

typedef struct {
  P2pSimProvider *self;
  guint16 port;
  P2pQuicEndpoint *ep;
  GError *error;
} Listen;

typedef struct {
  P2pSimNetwork *net;
  P2pPeerId peer;
  GSocketAddress *addr;
} Registration;

static void
registration_drop (gpointer data, GObject *where_the_object_was)
{
  Registration *r = data;
  g_autoptr (GSocketAddress) cur = p2p_sim_network_lookup_peer (r->net, &r->peer);

  /* only if it still points at this listener */
  if (cur && g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (cur))
      == g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (r->addr))
      && g_inet_address_equal (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (cur)),
          g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (r->addr))))
    p2p_sim_network_unregister_peer (r->net, &r->peer);
  g_object_unref (r->addr);
  g_object_unref (r->net);
  g_free (r);
}

static void
listen_net (gpointer data)
{
  Listen *l = data;
  P2pSimProvider *self = l->self;
  g_autoptr (P2pSimSocket) sock = NULL;
  g_autoptr (GPtrArray) allowed = NULL;
  GWeakRef *wr;
  Registration *r;

  /* The allow-list is enforced in TLS, as on the real transport. */
  if (!p2p_config_parse_allowed_peer_ids (self->config, &allowed, &l->error))
    return;
  sock = p2p_sim_socket_new (self->net, self->node, l->port, &l->error);
  if (sock == NULL)
    return;
  l->ep = p2p_quic_endpoint_new (P2P_DATAGRAM_SOCKET (sock), self->identity, &self->session_cfg);
  p2p_quic_endpoint_set_counters (l->ep, self->counters);
  p2p_quic_endpoint_set_accepting (l->ep, TRUE, allowed, self->config->max_connections);
  wr = g_new0 (GWeakRef, 1);
  g_weak_ref_init (wr, l->ep);
  g_ptr_array_add (self->listeners, wr);

  r = g_new0 (Registration, 1);
  r->net = g_object_ref (self->net);
  r->peer = *p2p_identity_get_peer_id (self->identity);
  r->addr = p2p_datagram_socket_get_local_address (P2P_DATAGRAM_SOCKET (sock));
  p2p_sim_network_register_peer (self->net, &r->peer, r->addr);
  g_object_weak_ref (G_OBJECT (l->ep), registration_drop, r);
}

/* A bind address as the QUIC provider's (p2p_parse_bind_address()) or
 * NULL (the configured listen port). Its address must be this node's or
 * any (":PORT", 0.0.0.0). */
static gboolean
parse_listen_address (P2pSimProvider *self, const char *address, guint16 *port, GError **error)
{
  g_autoptr (GInetSocketAddress) sa = NULL;
  g_autoptr (GInetAddress) mine = NULL;
  GInetAddress *ia;

  if (address == NULL || *address == '\0') {
    *port = self->config->listen_port;
    return TRUE;
  }
  sa = p2p_parse_bind_address (address, error);
  if (sa == NULL)
    return FALSE;
  *port = g_inet_socket_address_get_port (sa);
  ia = g_inet_socket_address_get_address (sa);
  mine = p2p_sim_network_get_node_address (self->net, self->node);
  if (!(g_inet_address_get_is_any (ia) || g_inet_address_equal (ia, mine))) {
    g_autofree char *m = g_inet_address_to_string (mine);

    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "listen address \"%s\": this simulated node's address is %s (use :PORT)", address, m);
    return FALSE;
  }
  return TRUE;
}

static P2pListener *
sim_listen (P2pProvider *provider, const char *address, GError **error)
{
  P2pSimProvider *self = P2P_SIM_PROVIDER (provider);
  Listen l = { self, 0, NULL, NULL };

  if (!parse_listen_address (self, address, &l.port, error))
    return NULL;
  run_sync (self, listen_net, &l);
  if (l.ep == NULL) {
    g_propagate_prefixed_error (error, l.error, "cannot listen on simulated network %s: ",
        net_name (self));
    return NULL;
  }
  return P2P_LISTENER (l.ep);
}

static const P2pPeerId *
sim_get_local_peer_id (P2pProvider *provider)
{
  return p2p_identity_get_peer_id (P2P_SIM_PROVIDER (provider)->identity);
}

static GVariant *
sim_get_stats (P2pProvider *provider)
{
  return p2p_provider_counters_to_variant (P2P_SIM_PROVIDER (provider)->counters);
}

static void
p2p_sim_provider_iface_init (P2pProviderInterface *iface)
{
  iface->connect_async = sim_connect_async;
  iface->connect_finish = sim_connect_finish;
  iface->listen = sim_listen;
  iface->get_local_peer_id = sim_get_local_peer_id;
  iface->get_stats = sim_get_stats;
}

/* ------------------------------------------------------------ GObject */

static void
shutdown_net (gpointer data)
{
  P2pSimProvider *self = data;
  g_autoptr (GError) error = g_error_new_literal (P2P_ERROR, P2P_ERROR_CLOSED,
      "provider shut down");

  if (self->dial_ep) {
    p2p_quic_endpoint_shutdown (self->dial_ep, error);
    p2p_listener_close (P2P_LISTENER (self->dial_ep));
    g_clear_object (&self->dial_ep);
  }
  for (guint i = 0; i < self->listeners->len; i++) {
    g_autoptr (P2pQuicEndpoint) ep = g_weak_ref_get (self->listeners->pdata[i]);

    if (ep) {
      p2p_listener_close (P2P_LISTENER (ep));
      p2p_quic_endpoint_shutdown (ep, error);
    }
  }
  g_hash_table_remove_all (self->pool);
}

static void
p2p_sim_provider_dispose (GObject *object)
{
  P2pSimProvider *self = P2P_SIM_PROVIDER (object);

  if (self->net && self->listeners) {
    run_sync (self, shutdown_net, self);
    g_clear_pointer (&self->listeners, g_ptr_array_unref);
  }
  G_OBJECT_CLASS (p2p_sim_provider_parent_class)->dispose (object);
}

static void
p2p_sim_provider_finalize (GObject *object)
{
  P2pSimProvider *self = P2P_SIM_PROVIDER (object);

  g_hash_table_unref (self->pool);
  g_clear_pointer (&self->counters, p2p_provider_counters_unref);
  g_clear_object (&self->identity);
  g_clear_object (&self->net);
  g_clear_pointer (&self->config, p2p_config_free);
  G_OBJECT_CLASS (p2p_sim_provider_parent_class)->finalize (object);
}

static void
p2p_sim_provider_class_init (P2pSimProviderClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);

  oc->dispose = p2p_sim_provider_dispose;
  oc->finalize = p2p_sim_provider_finalize;
}

static void
p2p_sim_provider_init (P2pSimProvider *self)
{
  self->pool = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, weak_ref_free);
  self->listeners = g_ptr_array_new_with_free_func (weak_ref_free);
  self->counters = p2p_provider_counters_new ();
}

P2pProvider *
p2p_sim_provider_new (P2pSimNetwork *net, P2pIdentity *identity, const P2pConfig *config)
{
  P2pSimProvider *self;
  char name[P2P_PEER_ID_TEXT_LEN + 1];

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (net), NULL);
  g_return_val_if_fail (identity == NULL || P2P_IS_IDENTITY (identity), NULL);

  self = g_object_new (P2P_TYPE_SIM_PROVIDER, NULL);
  self->net = g_object_ref (net);
  self->identity = identity ? g_object_ref (identity) : p2p_identity_new ();
  self->config = config ? p2p_config_copy (config) : p2p_config_new ();
  p2p_peer_id_format (p2p_identity_get_peer_id (self->identity), name);
  name[8] = '\0';
  self->node = p2p_sim_network_add_node (net, name);
  p2p_quic_session_config_init_from (&self->session_cfg, self->config);
  return P2P_PROVIDER (self);
}

P2pSimNetwork *
p2p_sim_provider_get_network (P2pSimProvider *self)
{
  g_return_val_if_fail (P2P_IS_SIM_PROVIDER (self), NULL);
  return self->net;
}

guint
p2p_sim_provider_get_node (P2pSimProvider *self)
{
  g_return_val_if_fail (P2P_IS_SIM_PROVIDER (self), 0);
  return self->node;
}
