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

G_END_DECLS
