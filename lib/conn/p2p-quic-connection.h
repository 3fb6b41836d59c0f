/* p2p-quic-connection.h (internal): P2pConnection implemented by driving a
 * P2pQuicSession over a P2pPacketPath on the path's GMainContext (the
 * provider's network thread): timers from the session's deadline (no polling),
 * blocking and async public calls marshalled to that context.
 * (P2pQuicEndpoint, which dials and accepts such connections over one
 * datagram socket, is in p2p-quic-endpoint.h.)
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
P2P_INTERNAL_EXPORT G_DECLARE_FINAL_TYPE (P2pQuicConnection, p2p_quic_connection, P2P, QUIC_CONNECTION, P2pConnection)

/* Dial over @path (call on the path's context). Completes when the session
 * is ESTABLISHED (callback on the path's context) or failed. */
P2P_INTERNAL_EXPORT void p2p_quic_connection_dial_async (P2pPacketPath *path, P2pIdentity *identity,
    const P2pPeerId *expected_peer, const P2pQuicSessionConfig *cfg,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
P2P_INTERNAL_EXPORT P2pConnection *p2p_quic_connection_dial_finish (GAsyncResult *result, GError **error);

/* Server side: a session from the first client packet over @path. The
 * connection reports establishment through @established (on the context). */
P2P_INTERNAL_EXPORT P2pQuicConnection *p2p_quic_connection_new_server (P2pPacketPath *path, P2pIdentity *identity,
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

/* Net thread: TRUE if a short-header packet with destination connection
 * ID @cid belongs to this connection (it may come from a new address). */
P2P_INTERNAL_EXPORT gboolean p2p_quic_connection_owns_cid (P2pQuicConnection *self, const guint8 *cid, gsize len);
/* Net thread: a PING now, so the peer learns our new address at once
 * (our network changed; the endpoint watches GNetworkMonitor). */
P2P_INTERNAL_EXPORT void p2p_quic_connection_ping (P2pQuicConnection *self);
/* Net thread: moves the established connection onto @path (another path on
 * the same context and clock: a new ICE path to the same peer after the old
 * one failed); the session, its streams and what is in flight stay. The old
 * path is closed; @first (nullable, @len bytes): a datagram that came by
 * @path before it was adopted, given to the session. A PING goes out on
 * @path and "path-changed" (old kind, new kind) is emitted. @peer: the
 * authenticated peer that offered @path (the signed ICE offer).
 * Errors: AUTHENTICATION_FAILED (@peer is not the connection's peer),
 * CLOSED (not established, or closed), INVALID_ARGUMENT (@path is the
 * current path or on another context). On error nothing changes and @path
 * is untouched. */
P2P_INTERNAL_EXPORT gboolean p2p_quic_connection_replace_path (P2pQuicConnection *self, P2pPacketPath *path,
    const P2pPeerId *peer, const guint8 *first, gsize len, GError **error);
/* Path under a session; path changes (ICE) are reported through it. */
P2P_INTERNAL_EXPORT P2pPacketPath *p2p_quic_connection_get_path (P2pQuicConnection *self);
/* Immediate close with @error (any thread; waits for the network thread):
 * used when a provider or endpoint shuts down under live connections. */
void p2p_quic_connection_abort (P2pQuicConnection *self, const GError *error);
GError *p2p_quic_connection_dup_close_error (P2pQuicConnection *self);

G_END_DECLS
