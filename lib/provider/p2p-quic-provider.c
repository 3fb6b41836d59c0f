/* p2p-quic-provider.c: P2pQuicProvider, the real provider: QUIC over UDP
 * sockets on its own network thread, dialling the addresses of tickets and
 * ID@HOST:PORT, listening on a UDP port, pooling one connection per peer ID
 * (see the public header for the rules); with a rendezvous configured
 * (P2P_BOOTSTRAP_PEERS), also dialling bare peer IDs and accepting through
 * the rendezvous and ICE (P2pIceService, lib/ice/p2p-ice-connect.h).
 *
 * Structure of a connect (all on the network thread after connect_async):
 *   connect_start_net → pool hit? → in-flight dial to the same peer? (join
 *   it) → addresses? dial them all (connect_direct; with a rendezvous, the
 *   ICE route starts too if none answered within ICE_FALLBACK_MS) :
 *   rendezvous + ICE (connect_via_rendezvous) → connect_finish_net completes
 *   every waiting GTask with the first connection (the others are cancelled
 *   or closed). A bare peer ID is also asked of the local network (mDNS,
 *   P2P_MDNS): a verified record's addresses are dialled like a ticket's.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-provider-private.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-info.h"
#include "p2p-config-private.h"
#include "p2p-ice-loader.h"
#include "p2p-mdns.h"
#include "p2p-net-thread.h"
#include "p2p-quic-endpoint.h"
#include "p2p-udp-socket.h"

#include <string.h>

/* Largest UDP datagram the provider's sockets accept; each path then limits
 * itself (65000 towards loopback, 1452 elsewhere: p2p-socket-path.c). */
#define PROVIDER_SOCKET_MTU 65000

/* A ticket's or ID@HOST:PORT's addresses get this long to answer before the
 * rendezvous + ICE route starts as well (when a rendezvous is configured). */
#define ICE_FALLBACK_MS 1500

/* A bare peer ID's LAN lookup (mDNS) gives up after this long; an answer
 * on a LAN takes a few milliseconds. */
#define MDNS_LOOKUP_MS 2000
/* How often a provider with listeners checks that its announced addresses
 * are still its listeners' (closed listeners, changed interfaces). */
#define MDNS_REFRESH_S 5

typedef struct _Connect Connect;

struct _P2pQuicProvider {
  GObject parent;

  P2pIdentity *identity;
  P2pConfig *config;
  P2pNetThread *net;
  P2pQuicSessionConfig session_cfg;

  /* net: network thread only */
  P2pQuicEndpoint *dial_ep[2];  /* [0] IPv4, [1] IPv6; created on first use */
  GHashTable *pool;             /* peer string → GWeakRef* (P2pConnection) */
  GHashTable *inflight;         /* peer string → Connect* */
  GPtrArray *listeners;         /* GWeakRef* (P2pQuicEndpoint) */
  GPtrArray *allowed;           /* P2pPeerId*: config->allowed_peers, NULL = anyone */
  P2pIceService *ice;           /* rendezvous + ICE; created on first use */
  const P2pIceModule *ice_mod;  /* the ICE layer, loaded with ice */
  GPtrArray *ice_conns;         /* GWeakRef* (P2pConnection): aborted at shutdown */
  P2pProviderCounters *counters;        /* p2p_provider_get_stats() */
  P2pMdns *mdns;                /* LAN discovery; created on first use */
  gboolean mdns_failed;         /* could not start: not tried again */
  char **mdns_announced;        /* the addresses announced */
  GSource *mdns_refresh;
  gboolean shut_down;
};

static void p2p_quic_provider_iface_init (P2pProviderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (P2pQuicProvider, p2p_quic_provider, G_TYPE_OBJECT,
    G_IMPLEMENT_INTERFACE (P2P_TYPE_PROVIDER, p2p_quic_provider_iface_init))

enum {
  PROP_0,
  PROP_IDENTITY,
  PROP_CONFIG,
  N_PROPS
};
static GParamSpec *props[N_PROPS];

struct _Connect {
  P2pQuicProvider *self;        /* ref */
  P2pPeerInfo *info;
  P2pPeerId peer;
  char *peer_str;
  GPtrArray *tasks;             /* GTask* waiting for this dial */
  GCancellable *race;           /* cancels the dials still running */
  guint outstanding;
  gboolean ice_started;
  P2pMdnsLookup *mdns;          /* the LAN lookup of a bare peer ID */
  GSource *mdns_timer;          /* its time limit (in cancel_sources) */
  GError *error;                /* the most telling failure so far */
  GPtrArray *cancel_sources;    /* GSource*: timers destroyed at the finish */
  GArray *cancel_handlers;      /* CancelHandler: on the tasks' cancellables */
  gboolean done;
};

typedef struct {
  GCancellable *cancellable;    /* ref */
  gulong id;
} CancelHandler;

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* ------------------------------------------------------------ pool */

static P2pConnection *
pool_lookup (P2pQuicProvider *self, const char *peer_str)
{
  GWeakRef *wr = g_hash_table_lookup (self->pool, peer_str);
  P2pConnection *conn = wr ? g_weak_ref_get (wr) : NULL;

  if (conn && !p2p_connection_is_connected (conn))
    g_clear_object (&conn);
  if (conn == NULL && wr)
    g_hash_table_remove (self->pool, peer_str);
  return conn;
}

static guint
pool_count_live (P2pQuicProvider *self)
{
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_hash_table_iter_init (&iter, self->pool);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    g_autoptr (P2pConnection) c = g_weak_ref_get (value);

    if (c && p2p_connection_is_connected (c))
      n++;
  }
  return n;
}

static void
on_pooled_closed (P2pConnection *conn, const GError *error, gpointer user_data)
{
  P2pQuicProvider *self = user_data;
  const P2pPeerId *id = p2p_connection_get_peer_id (conn);
  g_autofree char *key = id ? p2p_peer_id_to_string (id) : NULL;
  GWeakRef *wr = key ? g_hash_table_lookup (self->pool, key) : NULL;

  if (wr) {
    g_autoptr (P2pConnection) cur = g_weak_ref_get (wr);

    if (cur == NULL || cur == conn)
      g_hash_table_remove (self->pool, key);
  }
}

static void
pool_add (P2pQuicProvider *self, const char *peer_str, P2pConnection *conn)
{
  GWeakRef *wr = g_new0 (GWeakRef, 1);

  g_weak_ref_init (wr, conn);
  g_hash_table_replace (self->pool, g_strdup (peer_str), wr);
  g_signal_connect_object (conn, "closed", G_CALLBACK (on_pooled_closed), self, 0);
}

/* ------------------------------------------------------------ sockets */

static P2pQuicEndpoint *
new_endpoint_net (P2pQuicProvider *self, const char *bind, GError **error)
{
  g_autoptr (P2pUdpSocket) sock = p2p_udp_socket_new (bind,
      p2p_net_thread_get_context (self->net), error);

  if (sock == NULL)
    return NULL;
  p2p_udp_socket_set_mtu (sock, PROVIDER_SOCKET_MTU);
  return p2p_quic_endpoint_new (P2P_DATAGRAM_SOCKET (sock), self->identity, &self->session_cfg);
}

static P2pQuicEndpoint *
get_dial_endpoint (P2pQuicProvider *self, GSocketFamily family, GError **error)
{
  guint i = family == G_SOCKET_FAMILY_IPV6 ? 1 : 0;

  if (self->dial_ep[i] == NULL) {
    self->dial_ep[i] = new_endpoint_net (self, i ? "[::]:0" : ":0", error);
    if (self->dial_ep[i] == NULL) {
      g_prefix_error (error, "cannot open a UDP socket to dial from: ");
      return NULL;
    }
  }
  return self->dial_ep[i];
}

/* ------------------------------------------------------------ ICE */

static gboolean
rendezvous_configured (P2pQuicProvider *self)
{
  return self->config->bootstrap_peers && self->config->bootstrap_peers[0];
}

/* (transfer none) the ICE service, created on first use (network thread). */
static P2pIceService *
get_ice (P2pQuicProvider *self, GError **error)
{
  if (self->shut_down) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CLOSED, "provider shut down");
    return NULL;
  }
  if (self->ice == NULL) {
    if (self->ice_mod == NULL && (self->ice_mod = p2p_ice_loader_get (error)) == NULL)
      return NULL;
    self->ice = self->ice_mod->service_new (self->identity, self->config, &self->session_cfg,
        error);
  }
  return self->ice;
}

/* Keeps a weak reference to a connection over ICE (it belongs to no
 * endpoint) so that shutdown_net can abort it. */
static void
track_ice_conn (P2pQuicProvider *self, P2pConnection *conn)
{
  GWeakRef *wr;

  for (guint i = 0; i < self->ice_conns->len;) {
    g_autoptr (GObject) o = g_weak_ref_get (self->ice_conns->pdata[i]);

    if (o == NULL)
      g_ptr_array_remove_index_fast (self->ice_conns, i);
    else
      i++;
  }
  wr = g_new0 (GWeakRef, 1);
  g_weak_ref_init (wr, conn);
  g_ptr_array_add (self->ice_conns, wr);
}

/* An established connection over ICE to one of our listeners (transfer
 * none): the first listener still accepting takes it. */
static void
on_ice_accepted (P2pConnection *conn, gpointer user_data)
{
  P2pQuicProvider *self = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *full = NULL;

  for (guint i = 0; i < self->listeners->len; i++) {
    g_autoptr (P2pQuicEndpoint) ep = g_weak_ref_get (self->listeners->pdata[i]);

    g_clear_error (&error);
    if (ep && p2p_quic_endpoint_adopt (ep, conn, &error)) {
      track_ice_conn (self, conn);
      return;
    }
    if (g_error_matches (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED)) {
      g_free (full);
      full = g_strdup (error->message);
    }
  }
  p2p_provider_counters_refused (self->counters, full ? "connection-limit" : "not-listening");
  if (full) {
    /* every open listener is full: refuse this one, keep accepting */
    p2p_connection_close (conn, full);
    return;
  }
  p2p_connection_close (conn, "not listening");
  /* Every listener is closed: refuse later offers at once (a new listen() starts again). */
  self->ice_mod->stop_accepting (self->ice);
}

/* ------------------------------------------------------------ connect */

static void
connect_free (Connect *c)
{
  g_clear_pointer (&c->mdns, p2p_mdns_lookup_free);
  g_clear_pointer (&c->info, p2p_peer_info_unref);
  g_ptr_array_unref (c->tasks);
  g_ptr_array_unref (c->cancel_sources);
  g_array_unref (c->cancel_handlers);
  g_clear_object (&c->race);
  g_clear_error (&c->error);
  g_free (c->peer_str);
  g_object_unref (c->self);
  g_free (c);
}

/* Completes every waiting task with @conn or c->error, then frees @c. */
static void
connect_finish_net (Connect *c, P2pConnection *conn)
{
  P2pQuicProvider *self = c->self;

  c->outstanding++;             /* hold: destroying sources may release others */
  c->done = TRUE;
  if (conn == NULL && c->error == NULL)
    c->error = g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "no address of peer %s could be dialled", c->peer_str);
  if (g_hash_table_lookup (self->inflight, c->peer_str) == c)
    g_hash_table_remove (self->inflight, c->peer_str);
  g_cancellable_cancel (c->race);
  g_clear_pointer (&c->mdns, p2p_mdns_lookup_free);
  for (guint i = 0; i < c->cancel_sources->len; i++)
    g_source_destroy (c->cancel_sources->pdata[i]);
  /* Waits for a "cancelled" emission running in another thread (our
   * handler only queues work here, so that is short). */
  for (guint i = 0; i < c->cancel_handlers->len; i++) {
    CancelHandler *h = &g_array_index (c->cancel_handlers, CancelHandler, i);

    g_cancellable_disconnect (h->cancellable, h->id);
    g_object_unref (h->cancellable);
  }
  g_array_set_size (c->cancel_handlers, 0);
  if (conn)
    pool_add (self, c->peer_str, conn);
  p2p_provider_counters_dialed (self->counters, conn, c->error);
  for (guint i = 0; i < c->tasks->len; i++) {
    GTask *task = c->tasks->pdata[i];

    if (conn)
      g_task_return_pointer (task, g_object_ref (conn), g_object_unref);
    else if (g_task_return_error_if_cancelled (task))
      ;
    else
      g_task_return_error (task, g_error_copy (c->error));
  }
  g_ptr_array_set_size (c->tasks, 0);
  if (--c->outstanding == 0)
    connect_free (c);
}

/* Keeps the most useful error: authentication beats a timeout or network error. */
static void
connect_note_error (Connect *c, GError *error)
{
  if (c->error == NULL ||
      g_error_matches (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED) ||
      g_error_matches (c->error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_clear_error (&c->error);
    c->error = error;
  } else {
    g_error_free (error);
  }
}

static void
dial_one_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Connect *c = user_data;
  GError *error = NULL;
  g_autoptr (P2pConnection) conn = p2p_quic_endpoint_dial_finish (P2P_QUIC_ENDPOINT (source),
      res, &error);

  c->outstanding--;
  if (c->done) {
    /* Lost the race after the winner was chosen. */
    if (conn)
      p2p_connection_close (conn, "duplicate connection");
    g_clear_error (&error);
    if (c->outstanding == 0)
      connect_free (c);
    return;
  }
  if (conn) {
    connect_finish_net (c, conn);
    return;
  }
  connect_note_error (c, error);
  if (c->outstanding == 0)
    connect_finish_net (c, NULL);
}

static void
dial_address (Connect *c, GInetAddress *ip, guint16 port)
{
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (ip, port);
  GError *error = NULL;
  P2pQuicEndpoint *ep = get_dial_endpoint (c->self, g_inet_address_get_family (ip), &error);

  if (ep == NULL) {
    connect_note_error (c, error);
    return;
  }
  c->outstanding++;
  p2p_quic_endpoint_dial_async (ep, sa, &c->peer, c->race, dial_one_done, c);
}

typedef struct {
  Connect *c;
  guint16 port;
  char *host;
} Resolve;

static void
resolved (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Resolve *r = user_data;
  Connect *c = r->c;
  GError *error = NULL;
  GList *addrs = g_resolver_lookup_by_name_finish (G_RESOLVER (source), res, &error);

  c->outstanding--;
  if (addrs && !c->done)
    dial_address (c, addrs->data, r->port);
  else if (!c->done)
    connect_note_error (c, g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "cannot resolve host name %s: %s", r->host, error ? error->message : "no address"));
  g_clear_error (&error);
  g_resolver_free_addresses (addrs);
  g_free (r->host);
  g_free (r);
  if (c->outstanding == 0) {
    if (c->done)
      connect_free (c);
    else
      connect_finish_net (c, NULL);
  }
}

/* Starts dialling one "HOST:PORT" (resolving a host name first). */
static void
start_address (Connect *c, const char *addr)
{
  g_autofree char *host = NULL;
  g_autoptr (GInetAddress) ip = NULL;
  guint16 port = 0;
  GError *error = NULL;

  if (!p2p_parse_host_port (addr, &host, &port, &error)) {
    connect_note_error (c, error);
    return;
  }
  ip = g_inet_address_new_from_string (host);
  if (ip) {
    dial_address (c, ip, port);
  } else {
    g_autoptr (GResolver) resolver = g_resolver_get_default ();
    Resolve *r = g_new0 (Resolve, 1);

    r->c = c;
    r->port = port;
    r->host = g_steal_pointer (&host);
    c->outstanding++;
    g_resolver_lookup_by_name_async (resolver, r->host, c->race, resolved, r);
  }
}

typedef struct {
  Connect *c;
  char *addr;
} DelayedStart;

static gboolean
delayed_start_cb (gpointer data)
{
  DelayedStart *d = data;

  if (!d->c->done)
    start_address (d->c, d->addr);
  return G_SOURCE_REMOVE;
}

/* Runs when the delayed start fired or was cancelled by the finish. */
static void
delayed_start_free (gpointer data)
{
  DelayedStart *d = data;
  Connect *c = d->c;

  g_free (d->addr);
  g_free (d);
  if (--c->outstanding == 0) {
    if (c->done)
      connect_free (c);
    else
      connect_finish_net (c, NULL);
  }
}

/* Dials the peer's addresses in order, each STAGGER_MS after the previous
 * one (the first answer wins and cancels the rest): a ticket lists the same
 * listener under several addresses, and dialling them all at once would
 * open duplicate connections that the listener's application sees. */
#define STAGGER_MS 250

static gboolean ice_fallback_cb (gpointer data);
/* A timer's destroy notify: its hold on the Connect goes. */
static void connect_release_hold (gpointer data);

/* Starts dialling @addrs, the first at once, the others STAGGER_MS apart;
 * the caller holds @c. */
static void
dial_addresses (Connect *c, const char *const *addrs)
{
  for (guint i = 0; addrs && addrs[i]; i++) {
    DelayedStart *d;
    GSource *src;

    if (i == 0) {
      start_address (c, addrs[i]);
      continue;
    }
    d = g_new0 (DelayedStart, 1);
    d->c = c;
    d->addr = g_strdup (addrs[i]);
    c->outstanding++;
    src = g_timeout_source_new (i * STAGGER_MS);
    g_source_set_callback (src, delayed_start_cb, d, delayed_start_free);
    g_source_attach (src, p2p_net_thread_get_context (c->self->net));
    g_ptr_array_add (c->cancel_sources, src);
  }
}

static void
connect_direct (Connect *c)
{
  c->outstanding++;             /* hold @c while starting */
  if (rendezvous_configured (c->self)) {
    GSource *src = g_timeout_source_new (ICE_FALLBACK_MS);

    c->outstanding++;
    g_source_set_callback (src, ice_fallback_cb, c, connect_release_hold);
    g_source_attach (src, p2p_net_thread_get_context (c->self->net));
    g_ptr_array_add (c->cancel_sources, src);
  }
  dial_addresses (c, p2p_peer_info_get_addresses (c->info));
  c->outstanding--;
  if (c->outstanding == 0)
    connect_finish_net (c, NULL);
}

static void
ice_dial_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Connect *c = user_data;
  GError *error = NULL;
  g_autoptr (P2pConnection) conn = NULL;

  /* The service outlives every dial it started (freed at shutdown after
   * completing them), so c->self->ice may already be gone: do not use it. */
  conn = p2p_ice_loader_get (NULL)->connect_finish (NULL, res, &error);
  c->outstanding--;
  if (conn && !c->self->shut_down)
    track_ice_conn (c->self, conn);
  if (c->done) {
    if (conn)
      p2p_connection_close (conn, "duplicate connection");
    g_clear_error (&error);
    if (c->outstanding == 0)
      connect_free (c);
    return;
  }
  if (conn) {
    connect_finish_net (c, conn);
    return;
  }
  connect_note_error (c, error);
  if (c->outstanding == 0)
    connect_finish_net (c, NULL);
}

/* Starts the rendezvous + ICE route to c->peer (counted in c->outstanding
 * like a direct dial). Without a rendezvous, notes PEER_NOT_FOUND. */
static void
start_ice (Connect *c)
{
  P2pQuicProvider *self = c->self;
  GError *error = NULL;
  P2pIceService *ice;

  if (c->ice_started || c->done)
    return;
  c->ice_started = TRUE;
  if (!rendezvous_configured (self)) {
    connect_note_error (c, g_error_new (P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND,
        "no address for peer %s%s and no rendezvous configured (P2P_BOOTSTRAP_PEERS); "
        "use a ticket or ID@HOST:PORT", c->peer_str,
        c->mdns ? ": it did not answer on the local network (mDNS)" : ""));
    return;
  }
  ice = get_ice (self, &error);
  if (ice == NULL) {
    connect_note_error (c, error);
    return;
  }
  c->outstanding++;
  self->ice_mod->connect_async (ice, &c->peer, c->race, ice_dial_done, c);
}

/* ------------------------------------------------------------ LAN discovery */

/* The provider's mDNS responder, started on first use; NULL when LAN
 * discovery is off (P2P_MDNS=0) or could not start (said once). */
static P2pMdns *
get_mdns (P2pQuicProvider *self)
{
  g_autoptr (GError) error = NULL;

  if (self->mdns || !self->config->mdns || self->mdns_failed || self->shut_down)
    return self->mdns;
  self->mdns = p2p_mdns_new (p2p_net_thread_get_context (self->net), &error);
  if (self->mdns == NULL) {
    self->mdns_failed = TRUE;
    g_message ("LAN discovery is off: %s", error->message);
  }
  return self->mdns;
}

/* Announces the addresses of the live listeners (none: withdraws), when
 * they changed since the last announcement. */
static void
mdns_announce_listeners (P2pQuicProvider *self)
{
  g_autoptr (GPtrArray) addrs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < self->listeners->len; i++) {
    g_autoptr (P2pListener) l = g_weak_ref_get (self->listeners->pdata[i]);
    g_autofree char *ticket = l ? p2p_listener_get_ticket (l) : NULL;
    g_autoptr (P2pPeerInfo) info = ticket ? p2p_peer_info_parse (ticket, NULL) : NULL;
    const char *const *a = info ? p2p_peer_info_get_addresses (info) : NULL;

    for (guint j = 0; a && a[j]; j++)
      g_ptr_array_add (addrs, g_strdup (a[j]));
  }
  g_ptr_array_add (addrs, NULL);
  if (self->mdns_announced
      && g_strv_equal ((const char *const *) self->mdns_announced,
          (const char *const *) addrs->pdata))
    return;
  g_strfreev (self->mdns_announced);
  self->mdns_announced = (char **) g_ptr_array_steal (addrs, NULL);
  if (!p2p_mdns_announce (self->mdns, self->identity,
          (const char *const *) self->mdns_announced, &error))
    g_message ("%s", error->message);
}

static gboolean
mdns_refresh_cb (gpointer data)
{
  mdns_announce_listeners (data);
  return G_SOURCE_CONTINUE;
}

/* A new listener: announce it, and keep the announcement current. */
static void
mdns_listening (P2pQuicProvider *self)
{
  if (get_mdns (self) == NULL)
    return;
  mdns_announce_listeners (self);
  if (self->mdns_refresh == NULL) {
    self->mdns_refresh = g_timeout_source_new_seconds (MDNS_REFRESH_S);
    g_source_set_callback (self->mdns_refresh, mdns_refresh_cb, self, NULL);
    g_source_attach (self->mdns_refresh, p2p_net_thread_get_context (self->net));
  }
}

static void
mdns_found (P2pDiscoveryRecord *record, gint64 elapsed_us, gpointer data)
{
  Connect *c = data;
  g_autofree char *ms = g_strdup_printf ("%.1f", elapsed_us / 1000.0);
  g_autofree char *addrs = g_strjoinv (",", record->addresses);

  g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_INFO,
      "P2P_EVENT", "discovered",
      "P2P_PEER", c->peer_str,
      "P2P_SOURCE", "mdns",
      "P2P_DISCOVERY_MS", ms,
      "MESSAGE", "peer %s found on the local network (mDNS) in %s ms at %s",
      c->peer_str, ms, addrs);
  if (!c->done)
    dial_addresses (c, (const char *const *) record->addresses);
  p2p_discovery_record_free (record);
  /* the lookup's hold on @c goes with its timer */
  g_source_destroy (c->mdns_timer);
}

static gboolean
mdns_timeout_cb (gpointer data)
{
  Connect *c = data;

  connect_note_error (c, g_error_new (P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND,
      "peer %s did not answer on the local network (mDNS) within %d ms",
      c->peer_str, MDNS_LOOKUP_MS));
  return G_SOURCE_REMOVE;
}

/* Looks a bare peer ID up on the LAN; the lookup holds @c until it found
 * the peer, timed out or the connect finished. */
static void
start_mdns (Connect *c)
{
  P2pMdns *mdns = get_mdns (c->self);
  GError *error = NULL;

  if (mdns == NULL)
    return;
  c->mdns = p2p_mdns_lookup_start (mdns, &c->peer, mdns_found, c, &error);
  if (c->mdns == NULL) {
    connect_note_error (c, error);
    return;
  }
  c->outstanding++;
  c->mdns_timer = g_timeout_source_new (MDNS_LOOKUP_MS);
  g_source_set_callback (c->mdns_timer, mdns_timeout_cb, c, connect_release_hold);
  g_source_attach (c->mdns_timer, p2p_net_thread_get_context (c->self->net));
  g_ptr_array_add (c->cancel_sources, c->mdns_timer);
}

/* Peers named by ID only: ask the local network (mDNS) and the rendezvous
 * server of P2P_BOOTSTRAP_PEERS (ICE) at once; the first connection wins. */
static void
connect_via_rendezvous (Connect *c)
{
  c->outstanding++;             /* hold @c while starting */
  start_mdns (c);
  start_ice (c);
  if (--c->outstanding == 0)
    connect_finish_net (c, NULL);
}

/* The direct addresses did not answer within ICE_FALLBACK_MS: race the
 * rendezvous + ICE route against them (docs/nat-traversal.md). */
static gboolean
ice_fallback_cb (gpointer data)
{
  Connect *c = data;

  if (!c->done)
    start_ice (c);
  return G_SOURCE_REMOVE;
}

static void
connect_release_hold (gpointer data)
{
  Connect *c = data;

  if (--c->outstanding == 0) {
    if (c->done)
      connect_free (c);
    else
      connect_finish_net (c, NULL);
  }
}

/* A waiting caller cancelled: complete its task now; stop the dials if
 * nobody else waits for them. */
static gboolean
connect_task_cancelled (gpointer user_data)
{
  GTask *task = user_data;
  P2pQuicProvider *self = g_task_get_source_object (task);
  const P2pPeerId *id = p2p_peer_info_get_peer_id (g_task_get_task_data (task));
  g_autofree char *key = p2p_peer_id_to_string (id);
  Connect *c = g_hash_table_lookup (self->inflight, key);

  if (c == NULL || c->done)
    return G_SOURCE_REMOVE;
  for (guint i = 0; i < c->tasks->len; i++) {
    if (c->tasks->pdata[i] == task) {
      g_task_return_error_if_cancelled (task);
      g_ptr_array_remove_index (c->tasks, i);
      break;
    }
  }
  if (c->tasks->len == 0)
    g_cancellable_cancel (c->race);
  return G_SOURCE_REMOVE;
}

/* In the thread that cancels: queues connect_task_cancelled on the network
 * thread, always for a later turn (never inline: the finish disconnects
 * this handler, which must not happen inside its own emission). A
 * GCancellableSource would be simpler, but GLib 2.74 leaks one whose last
 * reference drops while another thread is still emitting "cancelled". */
static void
on_task_cancelled (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = user_data;
  P2pQuicProvider *self = g_task_get_source_object (task);
  GSource *src = g_idle_source_new ();

  g_source_set_callback (src, connect_task_cancelled, g_object_ref (task), g_object_unref);
  g_source_attach (src, p2p_net_thread_get_context (self->net));
  g_source_unref (src);
}

static void
connect_add_task (Connect *c, GTask *task)
{
  GCancellable *cancellable = g_task_get_cancellable (task);

  g_ptr_array_add (c->tasks, g_object_ref (task));
  if (cancellable) {
    CancelHandler h = { g_object_ref (cancellable), 0 };

    h.id = g_cancellable_connect (cancellable, G_CALLBACK (on_task_cancelled),
        g_object_ref (task), g_object_unref);
    g_array_append_val (c->cancel_handlers, h);
  }
}

static gboolean
connect_start_net (gpointer data)
{
  GTask *task = data;
  P2pQuicProvider *self = g_task_get_source_object (task);
  P2pPeerInfo *info = g_task_get_task_data (task);
  const P2pPeerId *id = p2p_peer_info_get_peer_id (info);
  g_autofree char *peer_str = p2p_peer_id_to_string (id);
  g_autoptr (P2pConnection) pooled = NULL;
  const char *const *addrs;
  Connect *c;

  if (g_task_return_error_if_cancelled (task))
    return G_SOURCE_REMOVE;
  if (p2p_peer_id_equal (id, p2p_identity_get_peer_id (self->identity))) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "peer %s is this provider's own identity; connect to another peer", peer_str);
    return G_SOURCE_REMOVE;
  }
  pooled = pool_lookup (self, peer_str);
  if (pooled) {
    g_task_return_pointer (task, g_steal_pointer (&pooled), g_object_unref);
    return G_SOURCE_REMOVE;
  }
  c = g_hash_table_lookup (self->inflight, peer_str);
  if (c) {
    connect_add_task (c, task);
    return G_SOURCE_REMOVE;
  }
  if (pool_count_live (self) >= self->config->max_connections) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "already %u connections open (P2P_MAX_CONNECTIONS); close one first",
        self->config->max_connections);
    return G_SOURCE_REMOVE;
  }

  c = g_new0 (Connect, 1);
  c->self = g_object_ref (self);
  c->info = p2p_peer_info_ref (info);
  c->peer = *id;
  c->peer_str = g_steal_pointer (&peer_str);
  c->tasks = g_ptr_array_new_with_free_func (g_object_unref);
  c->cancel_sources = g_ptr_array_new_with_free_func ((GDestroyNotify) g_source_unref);
  c->cancel_handlers = g_array_new (FALSE, FALSE, sizeof (CancelHandler));
  c->race = g_cancellable_new ();
  connect_add_task (c, task);
  g_hash_table_insert (self->inflight, g_strdup (c->peer_str), c);

  addrs = p2p_peer_info_get_addresses (info);
  if (addrs && addrs[0])
    connect_direct (c);
  else
    connect_via_rendezvous (c);
  return G_SOURCE_REMOVE;
}


static void
quic_connect_async (P2pProvider *provider, const char *peer, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  P2pQuicProvider *self = P2P_QUIC_PROVIDER (provider);
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  P2pPeerInfo *info;

  g_task_set_source_tag (task, quic_connect_async);
  info = p2p_peer_info_parse (peer, &error);
  if (info == NULL) {
    g_task_return_error (task, error);
    return;
  }
  g_task_set_task_data (task, info, (GDestroyNotify) p2p_peer_info_unref);
  p2p_net_thread_invoke (self->net, connect_start_net, g_object_ref (task), g_object_unref);
}

static P2pConnection *
quic_connect_finish (P2pProvider *provider, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, provider), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------ listen */

typedef struct {
  P2pQuicProvider *self;
  const char *address;
  P2pQuicEndpoint *ep;
  GError *error;
} Listen;

static void
listen_net (gpointer data)
{
  Listen *l = data;
  P2pQuicProvider *self = l->self;
  GWeakRef *wr;

  /* The allow-list goes down to TLS (the endpoint's server sessions) and to
   * the ICE responder, so a stranger fails the handshake and its offers get
   * no answer; checked before the socket is bound. */
  if (self->allowed == NULL
      && !p2p_config_parse_allowed_peer_ids (self->config, &self->allowed, &l->error))
    return;
  l->ep = new_endpoint_net (self, l->address, &l->error);
  if (l->ep == NULL)
    return;
  p2p_quic_endpoint_set_counters (l->ep, self->counters);
  p2p_quic_endpoint_set_accepting (l->ep, TRUE, self->allowed, self->config->max_connections);
  wr = g_new0 (GWeakRef, 1);
  g_weak_ref_init (wr, l->ep);
  g_ptr_array_add (self->listeners, wr);
  mdns_listening (self);
  if (rendezvous_configured (self)) {
    P2pIceService *ice = get_ice (self, &l->error);

    if (ice == NULL) {
      g_clear_object (&l->ep);
      return;
    }
    /* Registers in the background (and again after losing the server). */
    self->ice_mod->start_accepting (ice, self->allowed, 0, on_ice_accepted, self);
  }
}

static P2pListener *
quic_listen (P2pProvider *provider, const char *address, GError **error)
{
  P2pQuicProvider *self = P2P_QUIC_PROVIDER (provider);
  g_autofree char *def = NULL;
  Listen l = { self, address };

  if (address == NULL || *address == '\0')
    address = l.address = def = g_strdup_printf (":%u", self->config->listen_port);
  p2p_net_thread_invoke_sync (self->net, listen_net, &l);
  if (l.ep == NULL) {
    g_propagate_prefixed_error (error, l.error, "cannot listen on %s: ", address);
    return NULL;
  }
  return P2P_LISTENER (l.ep);
}

static const P2pPeerId *
quic_get_local_peer_id (P2pProvider *provider)
{
  return p2p_identity_get_peer_id (P2P_QUIC_PROVIDER (provider)->identity);
}

static GVariant *
quic_get_stats (P2pProvider *provider)
{
  return p2p_provider_counters_to_variant (P2P_QUIC_PROVIDER (provider)->counters);
}

static void
p2p_quic_provider_iface_init (P2pProviderInterface *iface)
{
  iface->connect_async = quic_connect_async;
  iface->connect_finish = quic_connect_finish;
  iface->listen = quic_listen;
  iface->get_local_peer_id = quic_get_local_peer_id;
  iface->get_stats = quic_get_stats;
}

/* ------------------------------------------------------------ registration */

typedef struct {
  gint refs;                    /* atomic: the caller, the invoke, the registration */
  P2pQuicProvider *self;        /* ref */
  GCancellable *cancellable;
  GMutex lock;
  GCond cond;
  gboolean done;
  GError *error;
} RegWait;

static void
reg_wait_unref (gpointer data)
{
  RegWait *w = data;

  if (!g_atomic_int_dec_and_test (&w->refs))
    return;
  g_object_unref (w->self);
  g_clear_object (&w->cancellable);
  g_clear_error (&w->error);
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
  g_free (w);
}

static void
reg_wait_complete (RegWait *w, GError *error)
{
  g_mutex_lock (&w->lock);
  w->done = TRUE;
  w->error = error;
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
}

static void
reg_done (GObject *source, GAsyncResult *res, gpointer data)
{
  RegWait *w = data;
  GError *error = NULL;

  p2p_ice_loader_get (NULL)->register_finish (NULL, res, &error);
  reg_wait_complete (w, error);
  reg_wait_unref (w);
}

static gboolean
reg_start_net (gpointer data)
{
  RegWait *w = data;
  GError *error = NULL;
  P2pIceService *ice = NULL;

  if (!rendezvous_configured (w->self))
    g_set_error_literal (&error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "no rendezvous server configured: set P2P_BOOTSTRAP_PEERS=ws://HOST:PORT/ "
        "(or the element's \"rendezvous\" property)");
  else
    ice = get_ice (w->self, &error);
  if (ice == NULL) {
    reg_wait_complete (w, error);
    return G_SOURCE_REMOVE;
  }
  g_atomic_int_inc (&w->refs);
  w->self->ice_mod->register_async (ice, w->cancellable, reg_done, w);
  return G_SOURCE_REMOVE;
}

static void
reg_wait_cancelled (GCancellable *cancellable, gpointer data)
{
  RegWait *w = data;

  g_mutex_lock (&w->lock);
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
}

gboolean
p2p_quic_provider_wait_registered (P2pQuicProvider *self, GCancellable *cancellable,
    GError **error)
{
  RegWait *w;
  gulong id = 0;
  gboolean ok, done;

  g_return_val_if_fail (P2P_IS_QUIC_PROVIDER (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (p2p_net_thread_is_current (self->net)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
        "p2p_quic_provider_wait_registered() would block the provider's network thread");
    return FALSE;
  }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  w = g_new0 (RegWait, 1);
  w->refs = 2;                  /* the caller, the invoke */
  w->self = g_object_ref (self);
  w->cancellable = cancellable ? g_object_ref (cancellable) : NULL;
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  p2p_net_thread_invoke (self->net, reg_start_net, w, reg_wait_unref);

  if (cancellable)
    id = g_cancellable_connect (cancellable, G_CALLBACK (reg_wait_cancelled), w, NULL);
  g_mutex_lock (&w->lock);
  while (!w->done && !g_cancellable_is_cancelled (cancellable))
    g_cond_wait (&w->cond, &w->lock);
  done = w->done;
  ok = done && w->error == NULL;
  if (done && w->error)
    g_propagate_error (error, g_steal_pointer (&w->error));
  g_mutex_unlock (&w->lock);
  if (id)
    g_cancellable_disconnect (cancellable, id);
  if (!done)
    g_cancellable_set_error_if_cancelled (cancellable, error);
  reg_wait_unref (w);
  return ok;
}

typedef struct {
  P2pQuicProvider *self;
  P2pIceCounters *out;
} GetCounters;

static void
get_ice_counters_net (gpointer data)
{
  GetCounters *g = data;

  if (g->self->ice)
    g->self->ice_mod->get_counters (g->self->ice, g->out);
}

void
p2p_quic_provider_get_ice_counters (P2pQuicProvider *self, P2pIceCounters *out)
{
  GetCounters g = { self, out };

  g_return_if_fail (P2P_IS_QUIC_PROVIDER (self));
  memset (out, 0, sizeof *out);
  p2p_net_thread_invoke_sync (self->net, get_ice_counters_net, &g);
}

/* ------------------------------------------------------------ GObject */

static void
shutdown_net (gpointer data)
{
  P2pQuicProvider *self = data;
  g_autoptr (GError) error = g_error_new_literal (P2P_ERROR, P2P_ERROR_CLOSED,
      "provider shut down");

  for (guint i = 0; i < 2; i++) {
    if (self->dial_ep[i]) {
      p2p_quic_endpoint_shutdown (self->dial_ep[i], error);
      g_clear_object (&self->dial_ep[i]);
    }
  }
  for (guint i = 0; i < self->listeners->len; i++) {
    g_autoptr (P2pQuicEndpoint) ep = g_weak_ref_get (self->listeners->pdata[i]);

    if (ep) {
      p2p_listener_close (P2P_LISTENER (ep));
      p2p_quic_endpoint_shutdown (ep, error);
    }
  }
  self->shut_down = TRUE;
  if (self->mdns_refresh) {
    g_source_destroy (self->mdns_refresh);
    g_clear_pointer (&self->mdns_refresh, g_source_unref);
  }
  /* goodbye packets for what was announced */
  g_clear_pointer (&self->mdns, p2p_mdns_free);
  g_clear_pointer (&self->mdns_announced, g_strfreev);
  /* Completes the ICE dials still waiting (CLOSED), stops answering offers. */
  if (self->ice) {
    self->ice_mod->service_free (self->ice);
    self->ice = NULL;
  }
  for (guint i = 0; i < self->ice_conns->len; i++) {
    g_autoptr (GObject) conn = g_weak_ref_get (self->ice_conns->pdata[i]);

    if (conn && P2P_IS_QUIC_CONNECTION (conn))
      p2p_quic_connection_abort (P2P_QUIC_CONNECTION (conn), error);
  }
  g_ptr_array_set_size (self->ice_conns, 0);
  g_hash_table_remove_all (self->pool);
}

void
p2p_quic_provider_set_protocol_for_testing (P2pQuicProvider *self, guint64 min_version,
    guint64 max_version, guint64 capabilities)
{
  g_return_if_fail (P2P_IS_QUIC_PROVIDER (self));
  g_return_if_fail (min_version >= 1 && min_version <= max_version);

  self->session_cfg.protocol_version_min = min_version;
  self->session_cfg.protocol_version = max_version;
  self->session_cfg.capabilities = capabilities;
}

static void
p2p_quic_provider_constructed (GObject *object)
{
  P2pQuicProvider *self = P2P_QUIC_PROVIDER (object);

  G_OBJECT_CLASS (p2p_quic_provider_parent_class)->constructed (object);
  if (self->identity == NULL)
    self->identity = p2p_identity_new ();
  if (self->config == NULL)
    self->config = p2p_config_new ();
  p2p_quic_session_config_init_from (&self->session_cfg, self->config);
  self->net = p2p_net_thread_new ("p2p-quic");
}

static void
p2p_quic_provider_dispose (GObject *object)
{
  P2pQuicProvider *self = P2P_QUIC_PROVIDER (object);

  if (self->net) {
    p2p_net_thread_invoke_sync (self->net, shutdown_net, self);
    if (p2p_net_thread_is_current (self->net))
      p2p_net_thread_unref (g_steal_pointer (&self->net));
    else {
      p2p_net_thread_stop (self->net);
      g_clear_pointer (&self->net, p2p_net_thread_unref);
    }
  }
  G_OBJECT_CLASS (p2p_quic_provider_parent_class)->dispose (object);
}

static void
p2p_quic_provider_finalize (GObject *object)
{
  P2pQuicProvider *self = P2P_QUIC_PROVIDER (object);

  g_hash_table_unref (self->pool);
  g_hash_table_unref (self->inflight);
  g_ptr_array_unref (self->listeners);
  g_ptr_array_unref (self->ice_conns);
  g_clear_pointer (&self->counters, p2p_provider_counters_unref);
  g_clear_pointer (&self->allowed, g_ptr_array_unref);
  g_clear_object (&self->identity);
  g_clear_pointer (&self->config, p2p_config_free);
  G_OBJECT_CLASS (p2p_quic_provider_parent_class)->finalize (object);
}

static void
p2p_quic_provider_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  P2pQuicProvider *self = P2P_QUIC_PROVIDER (object);

  switch (prop_id) {
    case PROP_IDENTITY:
      g_set_object (&self->identity, g_value_get_object (value));
      break;
    case PROP_CONFIG:
      g_clear_pointer (&self->config, p2p_config_free);
      self->config = g_value_dup_boxed (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
p2p_quic_provider_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  P2pQuicProvider *self = P2P_QUIC_PROVIDER (object);

  switch (prop_id) {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    case PROP_CONFIG:
      g_value_set_boxed (value, self->config);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
p2p_quic_provider_class_init (P2pQuicProviderClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);

  gobject_class->constructed = p2p_quic_provider_constructed;
  gobject_class->dispose = p2p_quic_provider_dispose;
  gobject_class->finalize = p2p_quic_provider_finalize;
  gobject_class->set_property = p2p_quic_provider_set_property;
  gobject_class->get_property = p2p_quic_provider_get_property;

  /**
   * P2pQuicProvider:identity:
   * This peer's Ed25519 identity (NULL at construction = a fresh ephemeral one).
   */
  props[PROP_IDENTITY] = g_param_spec_object ("identity", "Identity",
      "This peer's identity (NULL = ephemeral)", P2P_TYPE_IDENTITY,
      G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * P2pQuicProvider:config:
   * Configuration (copied; NULL at construction = defaults, no environment).
   */
  props[PROP_CONFIG] = g_param_spec_boxed ("config", "Config",
      "Configuration (NULL = defaults)", P2P_TYPE_CONFIG,
      G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (gobject_class, N_PROPS, props);
}

static void
p2p_quic_provider_init (P2pQuicProvider *self)
{
  self->pool = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, weak_ref_free);
  self->inflight = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->listeners = g_ptr_array_new_with_free_func (weak_ref_free);
  self->ice_conns = g_ptr_array_new_with_free_func (weak_ref_free);
  self->counters = p2p_provider_counters_new ();
}

P2pQuicProvider *
p2p_quic_provider_new (P2pIdentity *identity, const P2pConfig *config)
{
  g_return_val_if_fail (identity == NULL || P2P_IS_IDENTITY (identity), NULL);
  return g_object_new (P2P_TYPE_QUIC_PROVIDER, "identity", identity, "config", config, NULL);
}
