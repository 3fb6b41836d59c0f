/* p2p-connection-stats.h: P2pConnectionStats, the counters of one
 * connection (p2p_connection_get_stats()). Its own header so that the
 * sans-I/O QUIC session below the connection layer can fill it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>
#include "p2p-macros.h"

G_BEGIN_DECLS

/* The kind of path a connection uses. */
typedef enum {
  P2P_PATH_KIND_DIRECT,
  P2P_PATH_KIND_RELAY,
  P2P_PATH_KIND_SIMULATED,
} P2pPathKind;

#define P2P_TYPE_PATH_KIND (p2p_path_kind_get_type ())
P2P_EXPORT GType p2p_path_kind_get_type (void);
/* "direct", "relay", "simulated" */
P2P_EXPORT const char *p2p_path_kind_to_string (P2pPathKind kind);


/**
 * P2pConnectionStats:
 * @rtt_us: smoothed round-trip time, microseconds
 * @min_rtt_us: smallest round-trip time seen, microseconds
 * @bytes_sent: UDP payload bytes sent
 * @bytes_received: UDP payload bytes received
 * @packets_sent: QUIC packets sent
 * @packets_received: QUIC packets received
 * @packets_lost: packets declared lost by QUIC loss detection
 * @packets_retransmitted: packets that carried retransmitted data
 * @datagrams_sent: datagrams sent
 * @datagrams_received: datagrams received
 * @datagrams_dropped: datagrams dropped (full queue, too large for the path)
 * @messages_sent: messages sent with p2p_connection_send()
 * @messages_received: messages received
 * @setup_time_us: from connect start to authenticated, microseconds
 * @cwnd: congestion window, bytes
 * @path_kind: the kind of packet path in use
 * @migrations: times the peer moved to a new address (NAT rebinding, a new
 *   network), each validated by QUIC; each is also a path change
 * @path_changes: how often the path changed under the connection (the
 *   #P2pConnection::path-changed signals so far: ICE moved from a relayed
 *   pair to a direct one, a direct path moved to another address, ...)
 * @direct_path_time_us: from the same start as @setup_time_us until the
 *   path was first direct, microseconds: @setup_time_us when it was direct
 *   from the start, the moment of the upgrade when it started on a relay
 *   (it can be shorter than @setup_time_us when that came during the
 *   handshake); 0 while it has never been direct
 *
 * Counters of one connection, read with p2p_connection_get_stats(). A boxed
 * type (%P2P_TYPE_CONNECTION_STATS) so bindings can read its fields.
 */
typedef struct {
  guint64 rtt_us;               /* smoothed RTT, microseconds */
  guint64 min_rtt_us;
  guint64 bytes_sent, bytes_received;       /* UDP payload bytes */
  guint64 packets_sent, packets_received;
  guint64 packets_lost;         /* declared lost by QUIC loss detection */
  guint64 packets_retransmitted;/* packets that carried retransmitted data */
  guint64 datagrams_sent, datagrams_received, datagrams_dropped;
  guint64 messages_sent, messages_received;
  guint64 setup_time_us;        /* from connect start to authenticated */
  guint64 cwnd;                 /* congestion window, bytes */
  P2pPathKind path_kind;
  guint64 migrations;           /* times the peer moved to a new address (NAT
                                 * rebinding, a new network), each validated */
  guint64 path_changes;
  guint64 direct_path_time_us;

  /*< private >*/
  /* room for new counters without an ABI break (zero); the three counters
   * above took three of the eight 64-bit slots */
  gpointer padding[5];
} P2pConnectionStats;

#define P2P_TYPE_CONNECTION_STATS (p2p_connection_stats_get_type ())
P2P_EXPORT GType p2p_connection_stats_get_type (void);
P2P_EXPORT P2pConnectionStats *p2p_connection_stats_copy (const P2pConnectionStats *stats);
P2P_EXPORT void p2p_connection_stats_free (P2pConnectionStats *stats);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (P2pConnectionStats, p2p_connection_stats_free)

G_END_DECLS
