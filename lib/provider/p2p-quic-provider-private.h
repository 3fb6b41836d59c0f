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

/* Tests only: the sessions of @self advertise protocol versions @min_version
 * to @max_version and the P2pCapability bits @capabilities instead of this
 * build's, to play an older or a newer peer. Call before the provider's
 * first listen or connect. */
void p2p_quic_provider_set_protocol_for_testing (P2pQuicProvider *self, guint64 min_version,
    guint64 max_version, guint64 capabilities);

G_END_DECLS
