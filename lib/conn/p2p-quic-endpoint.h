/* p2p-quic-endpoint.h (internal): P2pQuicEndpoint, one P2pDatagramSocket
 * used both to dial (one P2pSocketPath per remote) and to accept
 * (demultiplexing new client Initials into server sessions): shared by the
 * UDP direct mode and the simulator. Threads and demultiplexing rules: see
 * p2p-quic-connection.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-provider-counters.h"
#include "p2p-quic-connection.h"

G_BEGIN_DECLS

/* The key per-address limits count under (newly allocated; NULL when
 * @addr is not an inet address): an IPv4 address as text (also when
 * IPv4-mapped in IPv6), an IPv6 address as its /64 ("2001:db8::/64").
 * Used by the endpoint's handshake limits and the rendezvous. */
char *p2p_address_limit_key (GSocketAddress *addr);
/* The same from a path's description ("IP:PORT", "[IPv6]:PORT", either
 * followed by " (...)"); NULL when it names no IP address. */
char *p2p_address_limit_key_from_text (const char *hostport);

/* ---- P2pQuicEndpoint: dial and accept over one datagram socket ---- */
#define P2P_TYPE_QUIC_ENDPOINT (p2p_quic_endpoint_get_type ())
G_DECLARE_FINAL_TYPE (P2pQuicEndpoint, p2p_quic_endpoint, P2P, QUIC_ENDPOINT, P2pListener)

/* Takes a reference on @socket and installs itself as its receiver. */
P2pQuicEndpoint *p2p_quic_endpoint_new (P2pDatagramSocket *socket, P2pIdentity *identity,
    const P2pQuicSessionConfig *cfg);
/* Accepting: off until enabled (dial-only endpoints drop client Initials). */
/* New handshakes accepted per source IP address: @burst at once, then
 * @per_second (token bucket; 0 = unlimited). Default 32 then 64/s. Call on
 * the endpoint's context (or before it receives anything). */
void p2p_quic_endpoint_set_handshake_rate (P2pQuicEndpoint *self, guint per_second,
    guint burst);
/* Half-open handshakes (p2p-quic-endpoint-admission.c explains each
 * limit); 0 keeps a value's default. @timeout_ns: a server handshake not
 * done by then fails (default 10 s); @max_pending: pending handshakes in
 * all (64; the oldest is evicted for a new one); @max_pending_per_ip (16);
 * a client must pass a stateless Retry while at least @retry_threshold
 * handshakes are pending (default 8; G_MAXUINT = never; 0 keeps the
 * current value, so "always" is 1). Call on the endpoint's context. */
void p2p_quic_endpoint_set_handshake_limits (P2pQuicEndpoint *self, guint64 timeout_ns,
    guint max_pending, guint max_pending_per_ip, guint retry_threshold);
/* Handshakes pending now, Retry packets sent and pending handshakes
 * evicted so far (endpoint's context). */
guint p2p_quic_endpoint_get_pending (P2pQuicEndpoint *self);
guint64 p2p_quic_endpoint_get_retries_sent (P2pQuicEndpoint *self);
/* Stateless Resets sent (short-header packets for connections we do not
 * have, e.g. from before a restart). */
guint64 p2p_quic_endpoint_get_resets_sent (P2pQuicEndpoint *self);
guint64 p2p_quic_endpoint_get_evicted (P2pQuicEndpoint *self);
/* Established connections closed when full to admit another host. */
guint64 p2p_quic_endpoint_get_evicted_established (P2pQuicEndpoint *self);
void p2p_quic_endpoint_set_counters (P2pQuicEndpoint *self, P2pProviderCounters *counters);
void p2p_quic_endpoint_set_accepting (P2pQuicEndpoint *self, gboolean accepting,
    GPtrArray *allowed_peers, guint max_connections);
/* Dials @remote expecting @peer; completes on the endpoint's context. */
void p2p_quic_endpoint_dial_async (P2pQuicEndpoint *self, GSocketAddress *remote,
    const P2pPeerId *peer, GCancellable *cancellable, GAsyncReadyCallback callback,
    gpointer user_data);
P2pConnection *p2p_quic_endpoint_dial_finish (P2pQuicEndpoint *self, GAsyncResult *result,
    GError **error);
/* Hands @conn (established elsewhere, e.g. over ICE) to this listener's
 * accept queue (takes a reference). FALSE with CLOSED when the endpoint is
 * closed or not accepting, LIMIT_EXCEEDED when it already has
 * max_connections (accepted, pending and adopted): the caller then closes
 * @conn. Any thread. */
gboolean p2p_quic_endpoint_adopt (P2pQuicEndpoint *self, P2pConnection *conn,
    GError **error);
/* (transfer none) the endpoint's socket. */
P2pDatagramSocket *p2p_quic_endpoint_get_socket (P2pQuicEndpoint *self);
/* Datagrams dropped: from unknown remotes that were no client Initial (or
 * while not accepting), and Initials refused by the limits. */
guint64 p2p_quic_endpoint_get_dropped (P2pQuicEndpoint *self);
/* Aborts every connection of this endpoint with @error (call on the
 * endpoint's context). */
void p2p_quic_endpoint_shutdown (P2pQuicEndpoint *self, const GError *error);

G_END_DECLS
