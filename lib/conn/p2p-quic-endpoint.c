/* p2p-quic-endpoint.c: P2pQuicEndpoint, QUIC over one P2pDatagramSocket:
 * dials (one P2pSocketPath + client connection per remote) and, when
 * accepting, turns client Initials from new remotes into server connections
 * (it is the P2pListener of the direct mode and of the simulator).
 *
 * Demultiplexing is by remote address ("ip:port"): one connection per remote
 * address per endpoint. Datagrams from unknown remotes that are not client
 * Initials are dropped silently (counted, debug log); so are Initials when
 * not accepting or over the limits.
 *
 * A dial fails at once (P2P_ERROR_CONNECTION_FAILED "... (ICMP
 * unreachable)") when the socket gets an ICMP port or host unreachable for
 * its remote address, instead of after the idle timeout.
 *
 * Which client Initials may start a handshake (the limits against
 * half-open handshakes, the handshake rate, Retry tokens, eviction) is in
 * p2p-quic-endpoint-admission.c; dials (and their wait for an ending
 * connection at the same address) in p2p-quic-endpoint-dial.c; the P2pListener side (accept queue,
 * adopt, ticket, close) in p2p-quic-endpoint-listener.c; the fields they
 * share in p2p-quic-endpoint-private.h.
 *
 * Threads: the socket, the table of remotes and the connections' sessions
 * live on the socket's context (the network thread); accept() and close()
 * may be called from any thread (the accept queue is guarded by a mutex).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-endpoint-private.h"

#include <sodium.h>
#include "p2p/p2p-error.h"
#include "p2p-net-monitor.h"

G_DEFINE_FINAL_TYPE (P2pQuicEndpoint, p2p_quic_endpoint, P2P_TYPE_LISTENER)

/* ------------------------------------------------------ table of remotes */

char *
p2p_quic_endpoint_address_key (GSocketAddress *addr)
{
  return p2p_socket_address_to_string (addr);
}

static void
remote_free (gpointer data)
{
  Remote *r = data;

  if (r->server) {
    g_autoptr (P2pQuicEndpoint) self = g_weak_ref_get (&r->owner);

    if (self) {
      g_mutex_lock (&self->lock);
      self->n_server--;
      g_mutex_unlock (&self->lock);
    }
  }
  if (r->path_closed_id)
    g_signal_handler_disconnect (r->path, r->path_closed_id);
  g_clear_object (&r->path);
  g_weak_ref_clear (&r->conn);
  if (r->pending) {
    g_signal_handler_disconnect (r->pending, r->established_id);
    g_clear_object (&r->pending);
  }
  g_weak_ref_clear (&r->owner);
  g_free (r->key);
  g_free (r->ip);
  g_free (r);
}

static void
on_path_closed (P2pSocketPath *path, gpointer user_data)
{
  Remote *r = user_data;
  g_autoptr (P2pQuicEndpoint) self = g_weak_ref_get (&r->owner);

  /* A server handshake that ended before it was established: the peer was
   * refused (not in allowed-peers) or went away. */
  if (self && self->counters && r->server && r->pending) {
    g_autoptr (GError) error = p2p_quic_connection_dup_close_error (r->pending);

    p2p_provider_counters_refused_error (self->counters, error);
  }
  /* The connection is over (or gone): forget the remote. */
  if (self && self->remotes && g_hash_table_lookup (self->remotes, r->key) == r)
    g_hash_table_remove (self->remotes, r->key);
}

Remote *
p2p_quic_endpoint_remote_add (P2pQuicEndpoint *self, const char *key, GSocketAddress *from)
{
  Remote *r = g_new0 (Remote, 1);

  g_weak_ref_init (&r->owner, self);
  r->key = g_strdup (key);
  r->path = p2p_socket_path_new (self->socket, from);
  g_weak_ref_init (&r->conn, NULL);
  r->path_closed_id = g_signal_connect (r->path, "closed", G_CALLBACK (on_path_closed), r);
  g_hash_table_replace (self->remotes, r->key, r);
  return r;
}

/* Session configuration for a path: big datagrams where the path allows. */
void
p2p_quic_endpoint_config_for_path (P2pQuicEndpoint *self, P2pPacketPath *path,
    P2pQuicSessionConfig *cfg)
{
  gsize mtu = p2p_packet_path_get_mtu (path);

  *cfg = self->cfg;
  if (cfg->max_udp_payload == 0 || cfg->max_udp_payload > mtu)
    cfg->max_udp_payload = MAX (mtu, 1200);
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* ---------------------------------------------------------- demultiplexing */

static gboolean
endpoint_accepting (P2pQuicEndpoint *self)
{
  gboolean accepting;

  g_mutex_lock (&self->lock);
  accepting = self->accepting && !self->closed;
  g_mutex_unlock (&self->lock);
  return accepting;
}

/* TRUE when client Initial @data is for a new connection, not one of
 * @conn's own late Initials (its destination one of our IDs). */
static gboolean
is_new_connection_initial (P2pQuicConnection *conn, const guint8 *data, gsize len)
{
  guint8 dcid[P2P_QUIC_MAX_CID_LEN];
  gsize dcid_len = 0;

  if (!p2p_quic_packet_get_dcid (data, len, P2P_QUIC_SCID_LEN, dcid, &dcid_len))
    return FALSE;
  return !p2p_quic_connection_owns_cid (conn, dcid, dcid_len);
}

/* (p2p-quic-endpoint-private.h; @r may be gone after it, see
 * on_socket_receive) */
gboolean
p2p_quic_endpoint_remote_is_over (Remote *r)
{
  g_autoptr (P2pConnection) conn = NULL;

  if (r->pending)
    return FALSE;               /* a server handshake runs */
  conn = g_weak_ref_get (&r->conn);
  return conn != NULL && !p2p_connection_is_connected (conn);
}


/* The server remote whose connection owns @dcid, or NULL. A walk over the
 * table: it runs only for datagrams from unknown addresses. */
static Remote *
find_by_cid (P2pQuicEndpoint *self, const guint8 *dcid, gsize dcid_len)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->remotes);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Remote *r = value;
    g_autoptr (P2pQuicConnection) conn = NULL;

    if (!r->server || r->alias)
      continue;
    conn = g_weak_ref_get (&r->conn);
    if (conn && p2p_quic_connection_owns_cid (conn, dcid, dcid_len))
      return r;
  }
  return NULL;
}

/* A short-header datagram from an unknown address, to one of our server
 * connections: its client's NAT rebound, or the client moved to another
 * network. The path learns the address as a new route and the session
 * validates it (RFC 9000 section 9) before sending there; until then, and
 * if validation fails, it answers where it did. */
static gboolean
deliver_moved (P2pQuicEndpoint *self, const char *key, GSocketAddress *from,
    const guint8 *data, gsize len)
{
  guint8 dcid[P2P_QUIC_MAX_CID_LEN];
  gsize dcid_len = 0;
  Remote *r, *alias;
  guint32 route;
  g_autoptr (P2pSocketPath) path = NULL;

  if (len == 0 || (data[0] & 0x80) != 0 || !G_IS_INET_SOCKET_ADDRESS (from) ||
      !p2p_quic_packet_get_dcid (data, len, P2P_QUIC_SCID_LEN, dcid, &dcid_len))
    return FALSE;
  r = find_by_cid (self, dcid, dcid_len);
  if (r == NULL)
    return FALSE;
  route = p2p_socket_path_add_route (r->path, from);
  if (route == G_MAXUINT32) {
    self->dropped_limits++;
    g_debug ("%s: datagram for %s dropped: that connection moved too often", key, r->key);
    return TRUE;
  }
  alias = g_new0 (Remote, 1);
  g_weak_ref_init (&alias->owner, self);
  alias->key = g_strdup (key);
  alias->path = g_object_ref (r->path);
  g_weak_ref_init (&alias->conn, NULL);
  alias->route = route;
  alias->alias = TRUE;
  alias->path_closed_id = g_signal_connect (alias->path, "closed",
      G_CALLBACK (on_path_closed), alias);
  g_hash_table_replace (self->remotes, alias->key, alias);
  self->moved++;
  g_debug ("%s: the client of %s is now here too (route %u); validating", key, r->key, route);
  path = g_object_ref (r->path);
  p2p_packet_path_deliver_on (P2P_PACKET_PATH (path), route, data, len);
  return TRUE;
}

/* A short-header packet for no connection of ours: one that this peer had
 * before it restarted (same identity, same port), whose other end still
 * sends. A Stateless Reset tells it at once that the connection is gone;
 * without one it would wait for its liveness timeout. TRUE if sent. */
static gboolean
send_stateless_reset (P2pQuicEndpoint *self, GSocketAddress *from, const guint8 *data,
    gsize len)
{
  guint8 out[P2P_QUIC_STATELESS_RESET_LEN];
  guint64 now = p2p_datagram_socket_now (self->socket);
  gsize n;
  gboolean accepting;

  /* a listener only: a restart keeps its port (a dialer's is new each
   * time); a connection ID that this process issued never gets one
   * (p2p_quic_stateless_reset_write: its connection is alive, closing, or
   * was refused a moment ago and its CONNECTION_CLOSE is on the way) */
  g_mutex_lock (&self->lock);
  accepting = self->accepting && !self->closed;
  g_mutex_unlock (&self->lock);
  if (!accepting)
    return FALSE;
  /* checked before the work, used only by a reset sent */
  if (!p2p_token_bucket_ready (&self->reset_budget, now, P2P_QUIC_STATELESS_RATE, P2P_QUIC_STATELESS_RATE))
    return FALSE;
  n = p2p_quic_stateless_reset_write (self->identity, self->cfg.cid_key, self->cfg.reset_port,
      data, len, out, sizeof out);
  if (n == 0 || !p2p_datagram_socket_send_to (self->socket, from, out, n, NULL))
    return FALSE;
  p2p_token_bucket_take (&self->reset_budget, now, P2P_QUIC_STATELESS_RATE, P2P_QUIC_STATELESS_RATE);
  self->resets_sent++;
  g_debug ("stateless reset sent for a %" G_GSIZE_FORMAT "-byte packet of a connection we do "
      "not have", len);
  return TRUE;
}

static void
on_socket_receive (P2pDatagramSocket *sock, GSocketAddress *from, const guint8 *data,
    gsize len, gpointer user_data)
{
  GWeakRef *wr = user_data;
  g_autoptr (P2pQuicEndpoint) self = g_weak_ref_get (wr);
  g_autofree char *key = NULL;
  Remote *r;

  if (self == NULL)
    return;
  key = p2p_quic_endpoint_address_key (from);
  r = g_hash_table_lookup (self->remotes, key);
  if (r && r->server && !r->pending && !r->alias && p2p_quic_packet_is_initial (data, len)) {
    /* (one reference held across the checks and the removal: dropping
     * the last one closes the connection's path, which forgets the
     * remote, on_path_closed) */
    g_autoptr (P2pConnection) old = g_weak_ref_get (&r->conn);

    if (old && !p2p_connection_is_connected (old)
        && is_new_connection_initial (P2P_QUIC_CONNECTION (old), data, len)
        && endpoint_accepting (self)) {
      /* a client's new connection from the address of one that is
       * closed and still closing here (a dialer that closed its
       * connection and dials again): the Initial is a new admission.
       * One that is still open is never touched for an Initial (a
       * replayed or duplicated one, even with a valid Retry token, must
       * not close it): the dialer's close reaches it first, or it times
       * out, and the client's next Initial gets in then */
      g_debug ("%s: a new connection from the address of a closed one", key);
      g_hash_table_remove (self->remotes, key);
    }
  }
  /* again: see above */
  r = g_hash_table_lookup (self->remotes, key);
  if (r) {
    g_autoptr (P2pSocketPath) path = g_object_ref (r->path);

    p2p_packet_path_deliver_on (P2P_PACKET_PATH (path), r->route, data, len);
    return;
  }
  if (deliver_moved (self, key, from, data, len))
    return;
  if (!p2p_quic_packet_is_initial (data, len)) {
    self->dropped_garbage++;
    if (!send_stateless_reset (self, from, data, len))
      g_debug ("%s: %" G_GSIZE_FORMAT "-byte datagram from an unknown remote dropped", key,
          len);
    return;
  }
  p2p_quic_endpoint_accept_initial (self, key, from, data, len);
}

/* ----------------------------------------------- our own network changes */

/* Net thread: every client connection sends a PING, so that each server
 * sees our new address now (and validates it) rather than after the
 * keepalive. */
static gboolean
ping_clients (gpointer data)
{
  P2pQuicEndpoint *self = data;
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GPtrArray) conns = g_ptr_array_new_with_free_func (g_object_unref);

  if (self->remotes == NULL)
    return G_SOURCE_REMOVE;
  g_hash_table_iter_init (&iter, self->remotes);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Remote *r = value;
    P2pQuicConnection *c = r->server || r->alias ? NULL : g_weak_ref_get (&r->conn);

    if (c)
      g_ptr_array_add (conns, c);
  }
  if (conns->len)
    g_debug ("the network changed: %u connection(s) tell their peers where we are", conns->len);
  for (guint i = 0; i < conns->len; i++)
    p2p_quic_connection_ping (conns->pdata[i]);
  return G_SOURCE_REMOVE;
}

/* A network change often comes in steps (a link goes, then the route
 * through the other one comes): a second PING this long after the first. */
#define PING_AGAIN_MS 200

/* The network monitor's thread. */
static void
on_network_changed (gpointer user_data)
{
  P2pQuicEndpoint *self = g_weak_ref_get (user_data);
  GSource *again;

  if (self == NULL)
    return;
  again = g_timeout_source_new (PING_AGAIN_MS);
  g_source_set_callback (again, ping_clients, g_object_ref (self), g_object_unref);
  g_source_attach (again, self->ctx);
  g_source_unref (again);
  g_main_context_invoke_full (self->ctx, G_PRIORITY_DEFAULT, ping_clients, self, g_object_unref);
}

/* A client over a real UDP socket watches the machine's network: after a
 * change (an address gone or added, another route) its connections ping. */
void
p2p_quic_endpoint_watch_network (P2pQuicEndpoint *self)
{
  GWeakRef *wr;

  if (self->netmon_watch || p2p_datagram_socket_get_kind (self->socket) != P2P_PATH_KIND_DIRECT)
    return;
  wr = g_new0 (GWeakRef, 1);
  g_weak_ref_init (wr, self);
  self->netmon_watch = p2p_net_monitor_watch (on_network_changed, wr,
      weak_ref_free);
}

/* ------------------------------------------------------------- GObject */

typedef struct {
  P2pDatagramSocket *socket;
  GHashTable *remotes;
} EndpointTeardown;

static gboolean
endpoint_teardown_cb (gpointer data)
{
  EndpointTeardown *t = data;

  p2p_datagram_socket_set_receive_func (t->socket, NULL, NULL, NULL);
  p2p_datagram_socket_set_unreachable_func (t->socket, NULL, NULL, NULL);
  g_hash_table_unref (t->remotes);
  p2p_datagram_socket_close (t->socket);
  g_object_unref (t->socket);
  g_free (t);
  return G_SOURCE_REMOVE;
}

static void
p2p_quic_endpoint_dispose (GObject *object)
{
  P2pQuicEndpoint *self = P2P_QUIC_ENDPOINT (object);

  if (self->netmon_watch) {
    p2p_net_monitor_unwatch (self->netmon_watch);
    self->netmon_watch = 0;
  }
  /* Pending handshakes die with the table (their connections are dropped). */
  p2p_quic_endpoint_close_full (self, FALSE);
  if (self->socket) {
    EndpointTeardown *t = g_new0 (EndpointTeardown, 1);

    t->socket = g_steal_pointer (&self->socket);
    t->remotes = g_steal_pointer (&self->remotes);
    if (g_main_context_is_owner (self->ctx)) {
      endpoint_teardown_cb (t);
    } else if (g_main_context_acquire (self->ctx)) {
      /* Nobody runs the context (its thread has stopped): tear down here. */
      endpoint_teardown_cb (t);
      g_main_context_release (self->ctx);
    } else {
      GSource *src = g_idle_source_new ();

      g_source_set_priority (src, G_PRIORITY_DEFAULT);
      g_source_set_callback (src, endpoint_teardown_cb, t, NULL);
      g_source_attach (src, self->ctx);
      g_source_unref (src);
    }
  }
  G_OBJECT_CLASS (p2p_quic_endpoint_parent_class)->dispose (object);
}

static void
p2p_quic_endpoint_finalize (GObject *object)
{
  P2pQuicEndpoint *self = P2P_QUIC_ENDPOINT (object);

  g_queue_clear_full (&self->accept_queue, g_object_unref);
  g_clear_pointer (&self->allowed, g_ptr_array_unref);
  g_queue_init (&self->rate_lru);     /* links are in the buckets */
  g_clear_pointer (&self->rate, g_hash_table_unref);
  g_clear_pointer (&self->adopted, g_ptr_array_unref);
  g_clear_pointer (&self->dials, g_hash_table_unref);
  g_clear_pointer (&self->counters, p2p_provider_counters_unref);
  g_clear_object (&self->identity);
  g_clear_pointer (&self->ctx, g_main_context_unref);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (p2p_quic_endpoint_parent_class)->finalize (object);
}

static void
p2p_quic_endpoint_class_init (P2pQuicEndpointClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  P2pListenerClass *listener_class = P2P_LISTENER_CLASS (klass);

  gobject_class->dispose = p2p_quic_endpoint_dispose;
  gobject_class->finalize = p2p_quic_endpoint_finalize;
  p2p_quic_endpoint_listener_class_init (listener_class);
}

static void
p2p_quic_endpoint_init (P2pQuicEndpoint *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->remotes = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, remote_free);
  self->dials = g_hash_table_new (g_str_hash, g_str_equal);
  self->max_connections = DEFAULT_MAX_CONNECTIONS;
  self->adopted = g_ptr_array_new_with_free_func (weak_ref_free);
  p2p_quic_endpoint_admission_init (self);
}

P2pQuicEndpoint *
p2p_quic_endpoint_new (P2pDatagramSocket *socket, P2pIdentity *identity,
    const P2pQuicSessionConfig *cfg)
{
  P2pQuicEndpoint *self;
  GWeakRef *wr;

  g_return_val_if_fail (P2P_IS_DATAGRAM_SOCKET (socket), NULL);
  g_return_val_if_fail (P2P_IS_IDENTITY (identity), NULL);

  self = g_object_new (P2P_TYPE_QUIC_ENDPOINT, NULL);
  self->socket = g_object_ref (socket);
  self->identity = g_object_ref (identity);
  if (cfg)
    self->cfg = *cfg;
  else
    p2p_quic_session_config_init (&self->cfg);
  /* this endpoint's connection IDs: a restarted one (same identity and
   * port) tells them apart from its own and answers with a reset */
  randombytes_buf (self->cfg.cid_key, sizeof self->cfg.cid_key);
  {
    g_autoptr (GSocketAddress) local = p2p_datagram_socket_get_local_address (socket);

    self->cfg.reset_port = G_IS_INET_SOCKET_ADDRESS (local) ?
        g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)) : 0;
  }
  self->ctx = g_main_context_ref (p2p_datagram_socket_get_context (socket));
  wr = g_new0 (GWeakRef, 1);
  g_weak_ref_init (wr, self);
  p2p_datagram_socket_set_receive_func (socket, on_socket_receive, wr, weak_ref_free);
  wr = g_new0 (GWeakRef, 1);
  g_weak_ref_init (wr, self);
  p2p_datagram_socket_set_unreachable_func (socket, p2p_quic_endpoint_on_socket_unreachable, wr, weak_ref_free);
  return self;
}

P2pDatagramSocket *
p2p_quic_endpoint_get_socket (P2pQuicEndpoint *self)
{
  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), NULL);
  return self->socket;
}

/* Counts this endpoint's accepts and refusals in @counters (set before it
 * accepts). */
void
p2p_quic_endpoint_set_counters (P2pQuicEndpoint *self, P2pProviderCounters *counters)
{
  g_return_if_fail (P2P_IS_QUIC_ENDPOINT (self));

  g_clear_pointer (&self->counters, p2p_provider_counters_unref);
  if (counters)
    self->counters = p2p_provider_counters_ref (counters);
}

guint64
p2p_quic_endpoint_get_dropped (P2pQuicEndpoint *self)
{
  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), 0);
  return self->dropped_garbage + self->dropped_limits;
}

void
p2p_quic_endpoint_shutdown (P2pQuicEndpoint *self, const GError *error)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GPtrArray) conns = g_ptr_array_new_with_free_func (g_object_unref);

  g_return_if_fail (P2P_IS_QUIC_ENDPOINT (self));
  if (self->remotes == NULL)
    return;
  g_hash_table_iter_init (&iter, self->remotes);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Remote *r = value;
    P2pQuicConnection *c = g_weak_ref_get (&r->conn);

    if (c)
      g_ptr_array_add (conns, c);
  }
  for (guint i = 0; i < conns->len; i++)
    p2p_quic_connection_abort (conns->pdata[i], error);
}
