/* p2p-provider-counters.h: what a provider has done since it was created
 * (dials by outcome, accepts, refusals by reason, path kinds, setup times,
 * active connections, relayed bytes), read as p2p_provider_get_stats(),
 * and the structured log lines for every connection established and
 * closed. Thread-safe: events come from the network thread, reads from any.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-connection.h"

G_BEGIN_DECLS

typedef struct _P2pProviderCounters P2pProviderCounters;

P2pProviderCounters *p2p_provider_counters_new (void);
P2pProviderCounters *p2p_provider_counters_ref (P2pProviderCounters *c);
void p2p_provider_counters_unref (P2pProviderCounters *c);

/* The event functions below count nothing when @c is NULL (an endpoint
 * without a provider's counters). */

/* A dial completed: @conn (established) or @error (its code is counted). */
void p2p_provider_counters_dialed (P2pProviderCounters *c, P2pConnection *conn,
    const GError *error);
/* A listener accepted @conn (established). */
void p2p_provider_counters_accepted (P2pProviderCounters *c, P2pConnection *conn);
/* A listener turned a peer away; @reason is a short key ("handshake-rate",
 * "authentication-failed", ...). */
void p2p_provider_counters_refused (P2pProviderCounters *c, const char *reason);
/* A listener's handshake with a peer ended with @error before it was
 * established: counted under the error's key ("authentication-failed" for
 * a peer not in allowed-peers, "version-mismatch", "timeout", ...). */
void p2p_provider_counters_refused_error (P2pProviderCounters *c, const GError *error);

/* (transfer full) the a{sv} of p2p_provider_get_stats() (not floating). */
GVariant *p2p_provider_counters_to_variant (P2pProviderCounters *c);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (P2pProviderCounters, p2p_provider_counters_unref)

G_END_DECLS
