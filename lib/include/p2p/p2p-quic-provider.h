/* p2p-quic-provider.h: the real P2pProvider (P2P_IMPLEMENTATION=quic):
 * QUIC over UDP, direct mode.
 *
 * connect: "ID@HOST:PORT" and tickets are dialled straight to their
 * addresses from one shared ephemeral UDP socket per address family (all
 * addresses in parallel, the first authenticated one wins, the others are
 * cancelled). A bare peer ID needs a rendezvous (P2P_BOOTSTRAP_PEERS, the
 * first URL is used): the provider registers its own peer ID there (once,
 * on first use), sends the peer a signed ICE offer and runs QUIC over the
 * ICE path (direct, or relayed through P2P_RELAY_SERVERS; P2P_RELAY_POLICY
 * and P2P_STUN_SERVERS apply); without a rendezvous it fails with
 * PEER_NOT_FOUND. With a rendezvous, a ticket or ID@HOST:PORT whose
 * addresses do not answer within 1.5 s is also tried through the rendezvous
 * (first connection wins, the other route is cancelled).
 *
 * Connection pool: one live connection per peer ID. A second connect to a
 * peer that already has a live connection (or a dial in progress) returns
 * that same connection object (a new reference); once it is closed, the
 * next connect dials again. At most P2pConfig.max_connections pooled
 * connections (LIMIT_EXCEEDED beyond). Closing a shared connection closes it
 * for every holder.
 *
 * listen: binds UDP "HOST:PORT", ":PORT" or, for NULL, ":" P2P_LISTEN_PORT
 * (0 = any port) and accepts QUIC connections on it; its ticket lists the
 * machine's addresses. With a rendezvous configured, listening also
 * registers the peer ID there (in the background, again after losing the
 * server) and accepts connections over ICE into the same listener.
 * P2pConfig.allowed_peers (P2P_ALLOWED_PEERS, p2p_config_set_allowed_peers())
 * restricts who gets in, on both routes: any other peer fails the TLS
 * handshake (AUTHENTICATION_FAILED at its end; the listener never returns
 * it), and its ICE offers get no answer at all (no candidates revealed, no
 * ICE agent, TURN allocation or connectivity check). listen() fails with
 * INVALID_ARGUMENT (quoting the entry) when that list, filled by hand, is
 * empty or holds an invalid peer ID.
 *
 * Threads: the provider owns one network thread; every socket and session
 * lives there. All functions may be called from any thread except the
 * blocking ones (p2p_provider_connect) from that network thread. Drop your
 * connections and listeners before the provider: disposing the provider
 * aborts its connections (CLOSED "provider shut down") and stops the thread.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include "p2p-macros.h"
#include "p2p-provider.h"

G_BEGIN_DECLS

#define P2P_TYPE_QUIC_PROVIDER (p2p_quic_provider_get_type ())
P2P_EXPORT G_DECLARE_FINAL_TYPE (P2pQuicProvider, p2p_quic_provider, P2P, QUIC_PROVIDER, GObject)

/**
 * p2p_quic_provider_new:
 * @identity: (nullable): this peer's identity (NULL = a fresh ephemeral one)
 * @config: (nullable): configuration (copied; NULL = defaults)
 *
 * Returns: (transfer full): a provider with its network thread running.
 */
P2P_EXPORT P2pQuicProvider *p2p_quic_provider_new (P2pIdentity *identity, const P2pConfig *config);

/**
 * p2p_quic_provider_set_dial_address:
 * @self: a provider
 * @address: a local IP address (IPv4 or IPv6, no port)
 * @error: return location for a #GError
 *
 * Makes the connections this provider dials to that family's addresses
 * leave from @address (an ephemeral port), as a multi-homed machine
 * chooses its interface; before the first dial of that family. Blocking
 * (not on the provider's network thread).
 *
 * Returns: TRUE; FALSE with INVALID_ARGUMENT (not an IP address, or a dial
 * of that family was made already), NETWORK (no local interface has it:
 * the socket's error) or CLOSED.
 */
P2P_EXPORT gboolean p2p_quic_provider_set_dial_address (P2pQuicProvider *self,
    const char *address, GError **error);

/**
 * p2p_quic_provider_wait_registered:
 * @self: a provider
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Registers this provider's peer ID at its rendezvous server (the first URL
 * of P2P_BOOTSTRAP_PEERS) unless it is registered already, and waits until
 * the server has confirmed it: from then on peers can reach this provider's
 * listeners by bare peer ID. (A listener registers by itself in the
 * background; this tells when that is done.) Blocking: not on the
 * provider's network thread (G_IO_ERROR_WOULD_BLOCK there).
 *
 * Returns: TRUE once registered; FALSE with INVALID_ARGUMENT (no rendezvous
 * configured), NETWORK, TIMEOUT or AUTHENTICATION_FAILED (from the
 * registration), CLOSED (provider shut down) or G_IO_ERROR_CANCELLED.
 */
P2P_EXPORT gboolean p2p_quic_provider_wait_registered (P2pQuicProvider *self,
    GCancellable *cancellable, GError **error);

G_END_DECLS
