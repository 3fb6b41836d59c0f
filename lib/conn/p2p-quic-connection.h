/* p2p-quic-connection.h (internal): P2pConnection implemented by driving a
 * P2pQuicSession over a P2pPacketPath on the path's GMainContext (the
 * provider's network thread): timers from the session's deadline (no polling),
 * blocking and async public calls marshalled to that context.
 *
 * P2pQuicEndpoint: one P2pDatagramSocket used both to dial (one P2pSocketPath
 * per remote) and to accept (demultiplexing new client Initials into server
 * sessions): shared by the UDP direct mode and the simulator.
 *
 * Thread rules (p2p-quic-connection.c has the details):
 *  - dial_async/new_server/get_path, P2pSocketPath and the endpoint's
 *    dial_async/set_accepting/shutdown run on the path's/socket's context;
 *  - the P2pConnection API of a P2pQuicConnection and the endpoint's
 *    P2pListener API may be called from any thread; a blocking call
 *    (send, receive, accept_stream, stream read/write) made by the owner of
 *    the network context (its thread, or a thread that pushed it as its
 *    thread-default, e.g. a MANUAL simulated network) that would wait fails
 *    with G_IO_ERROR_WOULD_BLOCK; calls that need the network context
 *    briefly (get_stats, open_stream, abort) run directly on the caller when
 *    it owns the context or nobody is iterating it (acquire succeeds);
 *    close() never blocks;
 *  - signals are emitted on the network thread, never inside a session call;
 *  - dropping the last reference from any thread is safe: the session is
 *    closed (CONNECTION_CLOSE sent) and freed on its own thread.
 * Demultiplexing is by remote address: one connection per remote address
 * per endpoint (a second dial to a connected address is LIMIT_EXCEEDED).
 * An endpoint's session config with max_udp_payload 0 uses each path's MTU
 * (65000 towards loopback on a UDP socket opened to 65000, else 1452).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-connection.h"
#include "p2p/p2p-listener.h"
#include "p2p-quic-session.h"
#include "p2p-datagram-socket.h"
#include "p2p-socket-path.h"

G_BEGIN_DECLS

#define P2P_TYPE_QUIC_CONNECTION (p2p_quic_connection_get_type ())
G_DECLARE_FINAL_TYPE (P2pQuicConnection, p2p_quic_connection, P2P, QUIC_CONNECTION, P2pConnection)

/* Dial over @path (call on the path's context). Completes when the session
 * is ESTABLISHED (callback on the path's context) or failed. */
void p2p_quic_connection_dial_async (P2pPacketPath *path, P2pIdentity *identity,
    const P2pPeerId *expected_peer, const P2pQuicSessionConfig *cfg,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
P2pConnection *p2p_quic_connection_dial_finish (GAsyncResult *result, GError **error);

/* Server side: a session from the first client packet over @path. The
 * connection reports establishment through @established (on the context). */
P2pQuicConnection *p2p_quic_connection_new_server (P2pPacketPath *path, P2pIdentity *identity,
    const guint8 *first_pkt, gsize len, const P2pQuicSessionConfig *cfg, GPtrArray *allowed,
    GError **error);
/* Same for an Initial whose address a listener validated with a Retry
 * (@odcid: from p2p_quic_retry_check, NULL = no Retry). */
P2pQuicConnection *p2p_quic_connection_new_server_validated (P2pPacketPath *path,
    P2pIdentity *identity, const guint8 *first_pkt, gsize len, const guint8 *odcid,
    gsize odcid_len, const P2pQuicSessionConfig *cfg, GPtrArray *allowed, GError **error);

/* Bytes received on peer-opened streams nobody accepted yet, and (nullable)
 * how many such streams wait (any thread). At most
 * P2P_QUIC_MAX_UNACCEPTED_STREAMS streams of
 * P2P_QUIC_UNACCEPTED_STREAM_WINDOW bytes each (512 KiB): further streams
 * are refused with RESET_STREAM + STOP_SENDING. */
gsize p2p_quic_connection_get_unaccepted_bytes (P2pQuicConnection *self, guint *n_streams);

/* Path under a session; path changes (ICE) are reported through it. */
P2pPacketPath *p2p_quic_connection_get_path (P2pQuicConnection *self);
/* Immediate close with @error (any thread; waits for the network thread):
 * used when a provider or endpoint shuts down under live connections. */
void p2p_quic_connection_abort (P2pQuicConnection *self, const GError *error);

/* The key per-address limits count under (newly allocated; NULL when
 * @addr is not an inet address): an IPv4 address as text (also when
 * IPv4-mapped in IPv6), an IPv6 address as its /64 ("2001:db8::/64").
 * Used by the endpoint's handshake limits and the rendezvous. */
char *p2p_address_limit_key (GSocketAddress *addr);

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
/* Half-open handshakes (p2p-quic-endpoint.c explains each limit); 0 keeps
 * a value's default. @timeout_ns: a server handshake not done by then
 * fails (default 10 s); @max_pending: pending handshakes in all (64; the
 * oldest is evicted for a new one); @max_pending_per_ip (16); a client
 * must pass a stateless Retry while at least @retry_threshold handshakes
 * are pending (default 8; G_MAXUINT = never; 0 keeps the current value,
 * so "always" is 1). Call on the endpoint's context. */
void p2p_quic_endpoint_set_handshake_limits (P2pQuicEndpoint *self, guint64 timeout_ns,
    guint max_pending, guint max_pending_per_ip, guint retry_threshold);
/* Handshakes pending now, Retry packets sent and pending handshakes
 * evicted so far (endpoint's context). */
guint p2p_quic_endpoint_get_pending (P2pQuicEndpoint *self);
guint64 p2p_quic_endpoint_get_retries_sent (P2pQuicEndpoint *self);
guint64 p2p_quic_endpoint_get_evicted (P2pQuicEndpoint *self);
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
