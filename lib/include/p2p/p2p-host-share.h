/* p2p-host-share.h: the fair share of a service's slots by host, for a
 * service that is full when one more peer comes (P2pFileService's request
 * slots, p2psink's max-peers). An identity costs nothing to make, an
 * address does: counted by identity, one host with throwaway identities
 * could keep every other host out.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include "p2p-macros.h"

G_BEGIN_DECLS

/**
 * p2p_host_share_gives_way: (skip)
 * @per_host: how many of the @limit slots each host holds: host name (a
 *   string) to GUINT_TO_POINTER (count); hosts holding none may be absent
 * @host: the host of the peer that comes
 * @limit: the slots in all (all of them held)
 * @most: (out) (optional): the slots of the host returned
 * @share: (out) (optional): a host's share: @limit over the hosts, the
 *   newcomer's counted, at least 1
 *
 * Which host gives way to a peer of @host: the host holding the most slots,
 * when it holds more than its share and at least two more than @host.
 * The caller then frees that host's newest slot (the least work lost). A
 * host within its share is never cut.
 *
 * Returns: (nullable) (transfer none): that host (a key of @per_host), or
 *   NULL: the newcomer is refused
 */
P2P_EXPORT const char *p2p_host_share_gives_way (GHashTable *per_host, const char *host,
    guint limit, guint *most, guint *share);

G_END_DECLS
