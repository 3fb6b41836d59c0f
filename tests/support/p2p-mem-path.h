/* p2p-mem-path.h (internal): a pair of in-memory P2pPacketPaths for unit
 * tests: what one sends, the other receives, from a source on the shared
 * GMainContext (never re-entrantly inside send()).
 *
 * Time is either a virtual clock shared by the pair (p2p_mem_path_new_pair:
 * starts at 1 s, moves only by p2p_mem_path_advance / set_now / run_until;
 * timers and delayed datagrams become due when it passes their deadline) or
 * the real monotonic clock (p2p_mem_path_new_pair_realtime). Deterministic:
 * datagrams of one direction arrive in order; drops only by the drop hook.
 *
 * Threads: everything on the pair's context.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-packet-path.h"

G_BEGIN_DECLS

#define P2P_MEM_PATH_DEFAULT_MTU 1452
/* Where the virtual clock starts (ns). */
#define P2P_MEM_PATH_VIRTUAL_START G_GUINT64_CONSTANT (1000000000)

#define P2P_TYPE_MEM_PATH (p2p_mem_path_get_type ())
G_DECLARE_FINAL_TYPE (P2pMemPath, p2p_mem_path, P2P, MEM_PATH, P2pPacketPath)

/* Two linked paths on @ctx (NULL = thread default) with a virtual clock.
 * @a, @b: (out) (transfer full). */
void p2p_mem_path_new_pair (GMainContext *ctx, P2pMemPath **a, P2pMemPath **b);
/* The same on real monotonic time (now() = g_get_monotonic_time () in ns). */
void p2p_mem_path_new_pair_realtime (GMainContext *ctx, P2pMemPath **a, P2pMemPath **b);

/* Virtual clock of the pair (no effect on a realtime pair). Due timers and
 * datagrams are then dispatched from the context, not from inside these. */
void p2p_mem_path_advance (P2pMemPath *self, guint64 ns);
/* Moves the virtual clock to @now_ns (never backwards). */
void p2p_mem_path_set_now (P2pMemPath *self, guint64 now_ns);
/* Earliest pending timer or datagram delivery of the pair (path time);
 * G_MAXUINT64 if none. */
guint64 p2p_mem_path_get_next_deadline (P2pMemPath *self);

typedef gboolean (*P2pMemPathCondition) (gpointer user_data);
/* Runs the pair's context until @cond returns TRUE (returns TRUE), or until
 * nothing is pending or @max_ns of path time have passed (returns @cond's
 * last value). On a virtual pair the clock jumps from deadline to deadline,
 * so simulated minutes take milliseconds. The caller must be able to
 * iterate the context (its owner thread). */
gboolean p2p_mem_path_run_until (P2pMemPath *self, P2pMemPathCondition cond,
    gpointer user_data, guint64 max_ns);

/* Largest datagram this path sends (default P2P_MEM_PATH_DEFAULT_MTU);
 * a larger send() fails with LIMIT_EXCEEDED. */
void p2p_mem_path_set_mtu (P2pMemPath *self, gsize mtu);
/* One-way delay (ns) of datagrams sent by @self (default 0). */
void p2p_mem_path_set_latency (P2pMemPath *self, guint64 latency_ns);
/* Path kind reported (default SIMULATED); a change is announced ("path-changed"). */
void p2p_mem_path_set_kind (P2pMemPath *self, P2pPathKind kind);

/* Called for every datagram @from sends; return TRUE to drop it (send()
 * still succeeds: loss). */
typedef gboolean (*P2pMemPathDropFunc) (P2pMemPath *from, const guint8 *data, gsize len,
    gpointer user_data);
void p2p_mem_path_set_drop_func (P2pMemPath *self, P2pMemPathDropFunc func,
    gpointer user_data, GDestroyNotify notify);

/* Datagrams sent by @self, dropped by the hook, and delivered to @self. */
guint64 p2p_mem_path_get_sent (P2pMemPath *self);
guint64 p2p_mem_path_get_dropped (P2pMemPath *self);
guint64 p2p_mem_path_get_delivered (P2pMemPath *self);

G_END_DECLS
