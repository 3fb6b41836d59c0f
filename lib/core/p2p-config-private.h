/* p2p-config-private.h (internal): what the providers read from a
 * P2pConfig beyond its plain fields.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-config.h"

G_BEGIN_DECLS

/* Parses @config->allowed_peers (which a caller may have filled by hand)
 * into a new array of P2pPeerId* (*out = NULL when the list is NULL:
 * anyone). FALSE + INVALID_ARGUMENT quoting the entry for an invalid peer
 * ID, or for an empty array (it would name nobody) or one over 64 entries. */
gboolean p2p_config_parse_allowed_peer_ids (const P2pConfig *config, GPtrArray **out,
    GError **error);

/* The port of a dht:// bootstrap entry without one (OpenDHT's default). */
#define P2P_DHT_DEFAULT_PORT 4222

/* (transfer full) the rendezvous servers: the ws:// and wss:// entries of
 * @config->bootstrap_peers, in order (its dht:// entries are DHT bootstrap
 * nodes, never rendezvous servers); an empty array when there is none.
 * Exported for the ICE module. */
P2P_INTERNAL_EXPORT char **p2p_config_dup_rendezvous_urls (const P2pConfig *config);
/* TRUE when @config names at least one rendezvous server. Exported for
 * the tools. */
P2P_INTERNAL_EXPORT gboolean p2p_config_has_rendezvous (const P2pConfig *config);
/* (transfer full) the dht:// entries of @config->bootstrap_peers as
 * "HOST:PORT" ("[V6]:PORT"; port 4222 when left out), in order, for
 * p2p_dht_new(); an empty array when there is none. */
char **p2p_config_dup_dht_bootstrap (const P2pConfig *config);

G_END_DECLS
