/* p2p-quic-provider.h: the real P2pProvider (P2P_IMPLEMENTATION=quic):
 * QUIC over UDP, direct mode (DESIGN §6).
 *
 * connect: "ID@HOST:PORT" and tickets are dialled straight to their
 * addresses from one shared ephemeral UDP socket per address family (all
 * addresses in parallel, the first authenticated one wins, the others are
 * cancelled). A bare peer ID needs a rendezvous (P2P_BOOTSTRAP_PEERS);
 * without one it fails with PEER_NOT_FOUND.
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
 * machine's addresses.
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

G_END_DECLS
