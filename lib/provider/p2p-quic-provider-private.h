/* p2p-quic-provider-private.h (internal): what the files of
 * P2pQuicProvider share (its fields; the pool, sockets and ICE service of
 * p2p-quic-provider.c the connect race of p2p-quic-dial-race.c uses), and
 * what tests read from a P2pQuicProvider beyond its public API.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-quic-provider.h"
#include "p2p-ice-connect.h"
#include "p2p-ice-module.h"
#include "p2p-dht-module.h"
#include "p2p-mdns.h"
#include "p2p-net-thread.h"
#include "p2p-quic-endpoint.h"

G_BEGIN_DECLS

struct _P2pQuicProvider {
  GObject parent;

  P2pIdentity *identity;
  P2pConfig *config;
  P2pNetThread *net;
  P2pQuicSessionConfig session_cfg;

  /* net: network thread only */
  P2pQuicEndpoint *dial_ep[2];  /* [0] IPv4, [1] IPv6; created on first use */
  GHashTable *pool;             /* peer string → GWeakRef* (P2pConnection) */
  GHashTable *inflight;         /* peer string → Connect* (p2p-quic-dial-race.c) */
  GPtrArray *listeners;         /* GWeakRef* (P2pQuicEndpoint) */
  GPtrArray *allowed;           /* P2pPeerId*: config->allowed_peers, NULL = anyone */
  P2pIceService *ice;           /* rendezvous + ICE; created on first use */
  const P2pIceModule *ice_mod;  /* the ICE layer, loaded with ice */
  GPtrArray *ice_conns;         /* GWeakRef* (P2pConnection): aborted at shutdown */
  P2pProviderCounters *counters;        /* p2p_provider_get_stats() */
  P2pMdns *mdns;                /* LAN discovery; created on first use */
  gboolean mdns_failed;         /* could not start: not tried again */
  P2pDht *dht;                  /* DHT discovery (dht:// entries); first use */
  const P2pDhtModule *dht_mod;  /* the DHT module, loaded with dht */
  gboolean dht_failed;          /* could not start: not tried again */
  P2pDhtLookup *dht_inbox;      /* ICE signals sealed to us, with ice */
  P2pSignaling *dht_signaling;  /* the DHT as an ICE carrier, with dht_inbox */
  char **announced;             /* the addresses announced (mDNS, DHT) */
  GSource *announce_refresh;
  gboolean shut_down;
};

/* ---- p2p-quic-provider.c, network thread ---- */

/* (transfer full) (nullable) the pooled live connection to @peer_str. */
P2pConnection *p2p_quic_provider_pool_lookup (P2pQuicProvider *self, const char *peer_str);
/* Pooled connections still connected. */
guint p2p_quic_provider_pool_count_live (P2pQuicProvider *self);
/* Pools @conn as the connection to @peer_str (until it closes). */
void p2p_quic_provider_pool_add (P2pQuicProvider *self, const char *peer_str,
    P2pConnection *conn);
/* (transfer none) the endpoint to dial @family addresses from (opened on
 * first use). */
/* A QUIC endpoint on a new UDP socket bound to @bind ("IP:PORT") with the
 * provider's identity and session settings (network thread). */
P2pQuicEndpoint *p2p_quic_provider_new_endpoint_net (P2pQuicProvider *self, const char *bind,
    GError **error);
P2pQuicEndpoint *p2p_quic_provider_get_dial_endpoint (P2pQuicProvider *self,
    GSocketFamily family, GError **error);
/* TRUE when P2P_BOOTSTRAP_PEERS names a rendezvous. */
gboolean p2p_quic_provider_rendezvous_configured (P2pQuicProvider *self);
/* TRUE when P2P_BOOTSTRAP_PEERS names a rendezvous, or a DHT that runs
 * (ICE offers then go through it): the ICE route exists. */
gboolean p2p_quic_provider_ice_configured (P2pQuicProvider *self);
/* (transfer none) the ICE service, created on first use; the DHT (if it
 * runs) is one of its carriers. */
P2pIceService *p2p_quic_provider_get_ice (P2pQuicProvider *self, GError **error);
/* Keeps a weak reference to a connection over ICE so that the shutdown can
 * abort it. */
void p2p_quic_provider_track_ice_conn (P2pQuicProvider *self, P2pConnection *conn);
/* (nullable) (transfer none) the mDNS responder, started on first use;
 * NULL when LAN discovery is off or could not start. */
P2pMdns *p2p_quic_provider_get_mdns (P2pQuicProvider *self);
/* (nullable) (transfer none) the DHT node, started on first use; NULL
 * without dht:// entries in P2P_BOOTSTRAP_PEERS, or when it could not
 * start (said once). */
P2pDht *p2p_quic_provider_get_dht (P2pQuicProvider *self);

/* ---- p2p-quic-dial-race.c ---- */

/* Installs connect_async/connect_finish. */
void p2p_quic_dial_race_iface_init (P2pProviderInterface *iface);

/* ---- for tests ---- */

/* The ICE responder's counters (all 0 before the provider's first use of
 * a rendezvous). Any thread except the provider's network thread. */
void p2p_quic_provider_get_ice_counters (P2pQuicProvider *self, P2pIceCounters *out);

/* Tests only: the sessions of @self advertise protocol versions @min_version
 * to @max_version and the P2pCapability bits @capabilities instead of this
 * build's, to play an older or a newer peer. Call before the provider's
 * first listen or connect. */
void p2p_quic_provider_set_protocol_for_testing (P2pQuicProvider *self, guint64 min_version,
    guint64 max_version, guint64 capabilities);

G_END_DECLS
