/* p2p-quic-provider-private.h (internal): what tests read from a
 * P2pQuicProvider beyond its public API.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-quic-provider.h"
#include "p2p-ice-connect.h"

G_BEGIN_DECLS

/* The ICE responder's counters (all 0 before the provider's first use of
 * a rendezvous). Any thread except the provider's network thread. */
void p2p_quic_provider_get_ice_counters (P2pQuicProvider *self, P2pIceCounters *out);

G_END_DECLS
