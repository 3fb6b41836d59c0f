/* p2p-connection-stats.c: the boxed type of P2pConnectionStats (copy and
 * free), the counters a connection reports.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-connection-stats.h"

G_DEFINE_BOXED_TYPE (P2pConnectionStats, p2p_connection_stats, p2p_connection_stats_copy,
    p2p_connection_stats_free)

/**
 * p2p_connection_stats_copy:
 * @stats: connection statistics
 *
 * Returns: (transfer full): a copy of @stats, freed with
 *   p2p_connection_stats_free().
 */
P2pConnectionStats *
p2p_connection_stats_copy (const P2pConnectionStats *stats)
{
  g_return_val_if_fail (stats != NULL, NULL);

  return g_memdup2 (stats, sizeof *stats);
}

/**
 * p2p_connection_stats_free:
 * @stats: (nullable): statistics from p2p_connection_stats_copy()
 */
void
p2p_connection_stats_free (P2pConnectionStats *stats)
{
  g_free (stats);
}
