/* p2p-quic-provider.c: P2pQuicProvider, the real provider: QUIC over UDP
 * sockets on its own network thread, dialling the addresses of tickets and
 * ID@HOST:PORT, listening on a UDP port, pooling one connection per peer ID
 * (see the public header for the rules); with a rendezvous configured
 * (P2P_BOOTSTRAP_PEERS), also dialling bare peer IDs and accepting through
 * the rendezvous and ICE (P2pIceService, lib/ice/p2p-ice-connect.h).
 *
 * connect_async and its race of direct dials, the LAN lookup and ICE are in
 * p2p-quic-dial-race.c; this file holds the object, the pool, the sockets,
 * the ICE service, the LAN announcement of the listeners (mDNS), listen and
 * the rendezvous registration; the fields both files use are in
 * p2p-quic-provider-private.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-provider-private.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-info.h"
#include "p2p-config-private.h"
#include "p2p-module-loader.h"
#include "p2p-mdns.h"
#include "p2p-net-thread.h"
#include "p2p-quic-endpoint.h"
#include "p2p-udp-socket.h"

#include <string.h>

/* Largest UDP datagram the provider's sockets accept; each path then limits
 * itself (65000 towards loopback, 1452 elsewhere: p2p-socket-path.c). */
#define PROVIDER_SOCKET_MTU 65000

/* How often a provider with listeners checks that its announced addresses
 * are still its listeners' (closed listeners, changed interfaces). */
#define ANNOUNCE_REFRESH_S 5

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

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* ------------------------------------------------------------ pool */

P2pConnection *
p2p_quic_provider_pool_lookup (P2pQuicProvider *self, const char *peer_str)
{
  GWeakRef *wr = g_hash_table_lookup (self->pool, peer_str);
  P2pConnection *conn = wr ? g_weak_ref_get (wr) : NULL;

  if (conn && !p2p_connection_is_connected (conn))
    g_clear_object (&conn);
  if (conn == NULL && wr)
    g_hash_table_remove (self->pool, peer_str);
  return conn;
}

guint
p2p_quic_provider_pool_count_live (P2pQuicProvider *self)
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

void
p2p_quic_provider_pool_add (P2pQuicProvider *self, const char *peer_str, P2pConnection *conn)
{
  GWeakRef *wr = g_new0 (GWeakRef, 1);

  g_weak_ref_init (wr, conn);
  g_hash_table_replace (self->pool, g_strdup (peer_str), wr);
  g_signal_connect_object (conn, "closed", G_CALLBACK (on_pooled_closed), self, 0);
}

/* ------------------------------------------------------------ sockets */

P2pQuicEndpoint *
p2p_quic_provider_new_endpoint_net (P2pQuicProvider *self, const char *bind, GError **error)
{
  g_autoptr (P2pUdpSocket) sock = p2p_udp_socket_new (bind,
      p2p_net_thread_get_context (self->net), error);

  if (sock == NULL)
    return NULL;
  p2p_udp_socket_set_mtu (sock, PROVIDER_SOCKET_MTU);
  return p2p_quic_endpoint_new (P2P_DATAGRAM_SOCKET (sock), self->identity, &self->session_cfg);
}

typedef struct {
  P2pQuicProvider *self;
  const char *address;
  GError *error;
} DialFrom;

static void
set_dial_address_net (gpointer data)
{
  DialFrom *d = data;
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (d->address);
  g_autofree char *bind = NULL;
  guint i;

  if (ia == NULL) {
    g_set_error (&d->error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "\"%s\" is not an IP address to dial from", d->address);
    return;
  }
  i = g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV6 ? 1 : 0;
  if (d->self->dial_ep[i] != NULL) {
    g_set_error (&d->error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "the address to dial from is set before the first dial");
    return;
  }
  bind = i ? g_strdup_printf ("[%s]:0", d->address) : g_strdup_printf ("%s:0", d->address);
  d->self->dial_ep[i] = p2p_quic_provider_new_endpoint_net (d->self, bind, &d->error);
  if (d->self->dial_ep[i] == NULL)
    g_prefix_error (&d->error, "cannot dial from %s: ", d->address);
}

gboolean
p2p_quic_provider_set_dial_address (P2pQuicProvider *self, const char *address, GError **error)
{
  DialFrom d = { self, address, NULL };

  g_return_val_if_fail (P2P_IS_QUIC_PROVIDER (self), FALSE);
  g_return_val_if_fail (address != NULL, FALSE);
  if (!p2p_net_thread_invoke_sync (self->net, set_dial_address_net, &d)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED,
        "cannot dial from %s: the provider's network thread is gone", address);
    return FALSE;
  }
  if (d.error) {
    g_propagate_error (error, d.error);
    return FALSE;
  }
  return TRUE;
}

P2pQuicEndpoint *
p2p_quic_provider_get_dial_endpoint (P2pQuicProvider *self, GSocketFamily family, GError **error)
{
  guint i = family == G_SOCKET_FAMILY_IPV6 ? 1 : 0;

  if (self->dial_ep[i] == NULL) {
    self->dial_ep[i] = p2p_quic_provider_new_endpoint_net (self, i ? "[::]:0" : ":0", error);
    if (self->dial_ep[i] == NULL) {
      g_prefix_error (error, "cannot open a UDP socket to dial from: ");
      return NULL;
    }
  }
  return self->dial_ep[i];
}

/* ------------------------------------------------------------ ICE */

gboolean
p2p_quic_provider_rendezvous_configured (P2pQuicProvider *self)
{
  return p2p_config_has_rendezvous (self->config);
}

gboolean
p2p_quic_provider_ice_configured (P2pQuicProvider *self)
{
  return p2p_quic_provider_rendezvous_configured (self) || p2p_quic_provider_get_dht (self);
}

/* The DHT carrier's send: seals @message to @to, puts it in its inbox. */
static gboolean
dht_signal_send (const P2pPeerId *to, const char *message, gpointer data, GError **error)
{
  P2pQuicProvider *self = data;

  if (self->dht == NULL) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CLOSED, "the DHT node is stopped");
    return FALSE;
  }
  return self->dht_mod->send_signal (self->dht, to, message, error);
}

/* A message in our DHT inbox: to the ICE layer, which checks its signature. */
static void
on_dht_signal (const char *message, gsize len, gpointer data)
{
  P2pQuicProvider *self = data;

  if (self->dht_signaling)
    self->ice_mod->signaling_receive (self->dht_signaling, message, len);
}

/* ICE offers and answers through the DHT (when it runs), as one more
 * carrier of the new ICE service after the rendezvous servers. */
static void
ice_add_dht (P2pQuicProvider *self)
{
  P2pDht *dht = p2p_quic_provider_get_dht (self);
  g_autoptr (GError) error = NULL;

  if (dht == NULL)
    return;
  self->dht_inbox = self->dht_mod->inbox_start (dht, self->identity, on_dht_signal, self,
      &error);
  if (self->dht_inbox == NULL) {
    g_message ("no ICE through the DHT: %s", error->message);
    return;
  }
  self->dht_signaling = self->ice_mod->signaling_new_external (self->identity, "the DHT",
      dht_signal_send, self, NULL);
  self->ice_mod->add_signaling (self->ice, self->dht_signaling);
}

/* (transfer none) the ICE service, created on first use (network thread). */
P2pIceService *
p2p_quic_provider_get_ice (P2pQuicProvider *self, GError **error)
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
    if (self->ice)
      ice_add_dht (self);
  }
  return self->ice;
}

/* Keeps a weak reference to a connection over ICE (it belongs to no
 * endpoint) so that shutdown_net can abort it. */
void
p2p_quic_provider_track_ice_conn (P2pQuicProvider *self, P2pConnection *conn)
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
      p2p_quic_provider_track_ice_conn (self, conn);
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

/* ------------------------------------------------------------ LAN discovery */

/* The provider's mDNS responder, started on first use; NULL when LAN
 * discovery is off (P2P_MDNS=0) or could not start (said once). */
P2pMdns *
p2p_quic_provider_get_mdns (P2pQuicProvider *self)
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

P2pDht *
p2p_quic_provider_get_dht (P2pQuicProvider *self)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) bootstrap = NULL;

  if (self->dht || self->dht_failed || self->shut_down)
    return self->dht;
  bootstrap = p2p_config_dup_dht_bootstrap (self->config);
  if (bootstrap == NULL || bootstrap[0] == NULL) {
    self->dht_failed = TRUE;    /* nothing to join: not asked again */
    return NULL;
  }
  self->dht_mod = p2p_dht_loader_get (&error);
  if (self->dht_mod)
    self->dht = self->dht_mod->dht_new (p2p_net_thread_get_context (self->net),
        (const char *const *) bootstrap, 0, &error);
  if (self->dht == NULL) {
    self->dht_failed = TRUE;
    g_message ("DHT discovery is off: %s", error->message);
  }
  return self->dht;
}

/* Announces the addresses of the live listeners (none: withdraws) on the
 * LAN and in the DHT, when they changed since the last announcement. */
static void
announce_listeners (P2pQuicProvider *self)
{
  g_autoptr (GPtrArray) addrs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < self->listeners->len; i++) {
    g_autoptr (P2pListener) l = g_weak_ref_get (self->listeners->pdata[i]);
    g_autofree char *ticket = l ? p2p_listener_get_ticket (l) : NULL;
    g_autoptr (P2pPeerInfo) info = ticket ? p2p_peer_info_parse (ticket, NULL) : NULL;
    const char *const *a = info ? p2p_peer_info_get_addresses (info) : NULL;

    for (guint j = 0; a && a[j] && addrs->len < P2P_DISCOVERY_RECORD_MAX_ADDRESSES; j++)
      g_ptr_array_add (addrs, g_strdup (a[j]));
  }
  g_ptr_array_add (addrs, NULL);
  if (self->announced
      && g_strv_equal ((const char *const *) self->announced,
          (const char *const *) addrs->pdata))
    return;
  g_strfreev (self->announced);
  self->announced = (char **) g_ptr_array_steal (addrs, NULL);
  /* mDNS leaves out loopback addresses itself; the DHT gets them all (a
   * DHT on loopback, as in the tests, can use them) */
  if (self->mdns && !p2p_mdns_announce (self->mdns, self->identity,
          (const char *const *) self->announced, &error)) {
    g_message ("%s", error->message);
    g_clear_error (&error);
  }
  if (self->dht && !self->dht_mod->announce (self->dht, self->identity,
          (const char *const *) self->announced, &error))
    g_message ("DHT: %s", error->message);
}

static gboolean
announce_refresh_cb (gpointer data)
{
  announce_listeners (data);
  return G_SOURCE_CONTINUE;
}

/* A new listener: announce it (LAN, DHT), and keep the announcement
 * current (closed listeners, changed interfaces). */
static void
discovery_listening (P2pQuicProvider *self)
{
  P2pMdns *mdns;
  P2pDht *dht;

  /* relay-only: this host's addresses are not published (a record is a
   * list of direct addresses); peers reach it through the rendezvous */
  if (self->config->relay_policy == P2P_RELAY_POLICY_RELAY_ONLY) {
    g_debug ("P2P_RELAY_POLICY=relay-only: the listener's addresses are not announced "
        "(mDNS, DHT)");
    return;
  }
  mdns = p2p_quic_provider_get_mdns (self);
  dht = p2p_quic_provider_get_dht (self);
  if (mdns == NULL && dht == NULL)
    return;
  g_clear_pointer (&self->announced, g_strfreev);       /* a new source: announce again */
  announce_listeners (self);
  if (self->announce_refresh == NULL) {
    self->announce_refresh = g_timeout_source_new_seconds (ANNOUNCE_REFRESH_S);
    g_source_set_callback (self->announce_refresh, announce_refresh_cb, self, NULL);
    g_source_attach (self->announce_refresh, p2p_net_thread_get_context (self->net));
  }
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
  l->ep = p2p_quic_provider_new_endpoint_net (self, l->address, &l->error);
  if (l->ep == NULL)
    return;
  p2p_quic_endpoint_set_counters (l->ep, self->counters);
  p2p_quic_endpoint_set_accepting (l->ep, TRUE, self->allowed, self->config->max_connections);
  wr = g_new0 (GWeakRef, 1);
  g_weak_ref_init (wr, l->ep);
  g_ptr_array_add (self->listeners, wr);
  discovery_listening (self);
  if (p2p_quic_provider_ice_configured (self)) {
    P2pIceService *ice = p2p_quic_provider_get_ice (self, &l->error);

    if (ice == NULL) {
      g_clear_object (&l->ep);
      return;
    }
    /* Registers in the background (and again after losing the server);
     * listens on its DHT inbox. */
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
  if (!p2p_net_thread_invoke_sync (self->net, listen_net, &l)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED,
        "cannot listen on %s: the provider's network thread is gone", address);
    return NULL;
  }
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
  p2p_quic_dial_race_iface_init (iface);
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

  if (!p2p_quic_provider_rendezvous_configured (w->self))
    g_set_error_literal (&error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "no rendezvous server configured: set P2P_BOOTSTRAP_PEERS=ws://HOST:PORT/ "
        "(or the element's \"rendezvous\" property)");
  else
    ice = p2p_quic_provider_get_ice (w->self, &error);
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
  if (!p2p_net_thread_invoke (self->net, reg_start_net, w, reg_wait_unref)) {
    reg_wait_unref (w);
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CLOSED,
        "the provider's network thread is gone");
    return FALSE;
  }

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
  if (self->announce_refresh) {
    g_source_destroy (self->announce_refresh);
    g_clear_pointer (&self->announce_refresh, g_source_unref);
  }
  /* goodbye packets for what was announced */
  g_clear_pointer (&self->mdns, p2p_mdns_free);
  if (self->dht_inbox)
    self->dht_mod->lookup_free (g_steal_pointer (&self->dht_inbox));
  if (self->dht)
    self->dht_mod->dht_free (g_steal_pointer (&self->dht));
  g_clear_pointer (&self->announced, g_strfreev);
  /* Completes the ICE dials still waiting (CLOSED), stops answering offers. */
  if (self->ice) {
    self->ice_mod->service_free (self->ice);
    self->ice = NULL;
  }
  g_clear_object (&self->dht_signaling);
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
