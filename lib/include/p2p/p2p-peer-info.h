/* p2p-peer-info.h: how to reach a peer: its ID, direct addresses, a relay.
 *
 * Three accepted text forms wherever a peer is named (docs/peer-id.md):
 *   - a bare peer ID (found through a rendezvous server);
 *   - a ticket: "p2p1" followed by lowercase base32 of a versioned binary
 *     record with a checksum (docs/peer-id.md);
 *   - "ID@HOST:PORT" (HOST may be an IPv4 address, [IPv6] or a host name).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include "p2p-macros.h"
#include "p2p-peer-id.h"

G_BEGIN_DECLS

typedef struct _P2pPeerInfo P2pPeerInfo;

#define P2P_TYPE_PEER_INFO (p2p_peer_info_get_type ())
P2P_EXPORT GType p2p_peer_info_get_type (void);

P2P_EXPORT P2pPeerInfo *p2p_peer_info_new (const P2pPeerId *id);
P2P_EXPORT P2pPeerInfo *p2p_peer_info_ref (P2pPeerInfo *info);
P2P_EXPORT void p2p_peer_info_unref (P2pPeerInfo *info);

/* Parses any of the three forms; P2P_ERROR_INVALID_ARGUMENT says what is wrong. */
P2P_EXPORT P2pPeerInfo *p2p_peer_info_parse (const char *text, GError **error);

P2P_EXPORT const P2pPeerId *p2p_peer_info_get_peer_id (const P2pPeerInfo *info);
/* Address hints as "HOST:PORT" strings ([v6]:port for IPv6), in order. */
P2P_EXPORT const char *const *p2p_peer_info_get_addresses (const P2pPeerInfo *info);
/* Adds "HOST:PORT"; FALSE + INVALID_ARGUMENT if malformed (port 1..65535). */
P2P_EXPORT gboolean p2p_peer_info_add_address (P2pPeerInfo *info, const char *host_port, GError **error);
P2P_EXPORT const char *p2p_peer_info_get_relay (const P2pPeerInfo *info); /* nullable */
P2P_EXPORT void p2p_peer_info_set_relay (P2pPeerInfo *info, const char *relay_url);

/* (transfer full) the ticket string of @info. */
P2P_EXPORT char *p2p_peer_info_to_ticket (const P2pPeerInfo *info);

/* Splits "HOST:PORT" / "[V6]:PORT"; errors name the problem. */
P2P_EXPORT gboolean p2p_parse_host_port (const char *text, char **host, guint16 *port, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (P2pPeerInfo, p2p_peer_info_unref)

G_END_DECLS
