/* p2p-connection-stats.c: the boxed type of P2pConnectionStats (copy and
 * free), the counters a connection reports; the P2pPathKind enum.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-connection-stats.h"

/* ---- P2pPathKind ---- */

GType
p2p_path_kind_get_type (void)
{
  static gsize type_id = 0;

  if (g_once_init_enter (&type_id)) {
    static const GEnumValue values[] = {
      { P2P_PATH_KIND_DIRECT, "P2P_PATH_KIND_DIRECT", "direct" },
      { P2P_PATH_KIND_RELAY, "P2P_PATH_KIND_RELAY", "relay" },
      { P2P_PATH_KIND_SIMULATED, "P2P_PATH_KIND_SIMULATED", "simulated" },
      { 0, NULL, NULL }
    };
    GType t = g_enum_register_static (g_intern_static_string ("P2pPathKind"), values);

    g_once_init_leave (&type_id, t);
  }
  return (GType) type_id;
}

/**
 * p2p_path_kind_to_string:
 * @kind: a path kind
 *
 * Returns: (transfer none): "direct", "relay", "simulated" (or "unknown").
 */
const char *
p2p_path_kind_to_string (P2pPathKind kind)
{
  switch (kind) {
    case P2P_PATH_KIND_DIRECT: return "direct";
    case P2P_PATH_KIND_RELAY: return "relay";
    case P2P_PATH_KIND_SIMULATED: return "simulated";
  }
  return "unknown";
}

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
