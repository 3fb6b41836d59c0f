/* p2p-sim-network-private.h (internal): what the files of P2pSimNetwork
 * share: its fields, the events, nodes, bindings, timers and links they
 * hold, the endpoint keys, and the functions one file gives the others.
 * p2p-sim-network.c holds the object (properties, construction, trace,
 * stats); p2p-sim-events.c the event heap, the clock and the run loops;
 * p2p-sim-link.c the link model and sending; p2p-sim-topology.c nodes,
 * ports, partitions and crashes; p2p-sim-registry.c the named networks
 * and the peers registered on a network. Unless said otherwise, the
 * functions below are called with the network's lock held. Not installed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-sim-private.h"
#include "p2p-net-thread.h"

G_BEGIN_DECLS

/* Bound of a link's latency and jitter, milliseconds. */
#define MAX_LATENCY_MS 600000

typedef enum {
  EV_DELIVER,
  EV_TIMER,
} EventKind;

typedef struct {
  guint64 time;
  guint64 seq;
  EventKind kind;
  /* EV_DELIVER */
  guint32 src;       /* endpoint key: node << 16 | port */
  guint32 dst;
  GBytes *data;
  /* EV_TIMER */
  guint timer_id;
} SimEvent;

typedef struct {
  char *name;
  gboolean crashed;
  guint16 next_port;
  guint addr_gen;     /* address changes: the node is 10.(77 + gen).x.y */
  guint rebinds;      /* NAT rebindings: its ports appear XOR-ed with a mask */
} SimNode;

/* What others see of port @port of a node that was rebound @rebinds times
 * (and what they reach it by): a bijection, the identity before the first. */
static inline guint16
sim_port_mask (guint rebinds)
{
  return rebinds == 0 ? 0 : (guint16) (((rebinds - 1) % 31 + 1) << 10);
}

typedef struct {
  P2pSimRecvFunc func;
  gpointer user_data;
  gboolean dead;
} SimBinding;

typedef struct {
  guint32 owner;     /* endpoint key */
  P2pSimTimerFunc func;
  gpointer user_data;
} SimTimer;

typedef struct {
  gboolean has_override;
  P2pSimLinkParams params;
  guint64 busy_until;  /* when the transmitter of this direction is free */
} SimLink;

struct _P2pSimNetwork {
  GObject parent_instance;

  GRecMutex lock;
  GMainContext *context;
  char *name;
  guint64 seed;
  GRand *rand;

  P2pSimLinkParams default_link;
  GArray *nodes;              /* SimNode, index = node id - 1 */
  GHashTable *bindings;       /* endpoint key -> SimBinding */
  GHashTable *links;          /* from << 32 | to -> SimLink */
  GHashTable *partitions;     /* min << 32 | max -> 1 */
  GHashTable *flows;          /* unordered endpoint pair -> 1 ok / 2 failed */
  GHashTable *timers;         /* id -> SimTimer */
  GHashTable *peers;          /* P2pPeerId -> GSocketAddress */
  guint next_timer_id;

  GArray *heap;               /* SimEvent */
  guint64 next_seq;
  guint64 now;

  P2pSimClockMode mode;
  P2pSimClockFunc clock_func;
  gpointer clock_data;
  GDestroyNotify clock_notify;
  GSource *follow_source;

  gboolean trace_on;
  GString *trace;
  gsize trace_limit;
  GChecksum *trace_sum;

  P2pSimStats stats;

  /* named networks are served by their own thread */
  P2pNetThread *thread;
};

/* Endpoint keys (node << 16 | port) and keys of pairs (a << 32 | b). */

static inline guint32
ep_key (guint node, guint16 port)
{
  return ((guint32) node << 16) | port;
}

static inline guint
ep_node (guint32 key)
{
  return key >> 16;
}

static inline guint16
ep_port (guint32 key)
{
  return key & 0xffff;
}

static inline guint64
pair_key (guint32 a, guint32 b)
{
  return ((guint64) a << 32) | b;
}

static inline guint64
unordered_key (guint32 a, guint32 b)
{
  return a < b ? pair_key (a, b) : pair_key (b, a);
}

/* ---- p2p-sim-network.c ---- */

/* Hash table functions for guint64 keys (g_new'd, freed by the table). */
guint p2p_sim_u64_hash (gconstpointer p);
gboolean p2p_sim_u64_equal (gconstpointer a, gconstpointer b);
guint64 *p2p_sim_u64_dup (guint64 v);
/* Appends one trace line (time, @kind, endpoints, @size) when tracing is on;
 * @dst 0 prints "-". */
void p2p_sim_network_trace (P2pSimNetwork *self, const char *kind, guint32 src, guint32 dst,
    gsize size);
/* Counts a dropped packet in *@counter and traces it under @reason. */
void p2p_sim_network_drop (P2pSimNetwork *self, const char *reason, guint64 *counter,
    guint32 src, guint32 dst, gsize len);

/* ---- p2p-sim-events.c ---- */

/* The default clock of the FOLLOW mode: real monotonic time (any lock). */
guint64 p2p_sim_monotonic_ns (gpointer user_data);
/* Frees what a SimEvent holds. */
void p2p_sim_event_clear (gpointer p);
/* Virtual time now; in FOLLOW mode first brought up to the external clock. */
guint64 p2p_sim_network_clock_now (P2pSimNetwork *self);
/* Queues @ev (copied; its data now owned by the heap) and, in FOLLOW mode,
 * wakes the follow source earlier if it is the first event. */
void p2p_sim_network_push_event (P2pSimNetwork *self, SimEvent *ev);
/* Destroys the FOLLOW mode's source, if any. */
void p2p_sim_network_stop_follow (P2pSimNetwork *self);

/* ---- p2p-sim-topology.c ---- */

/* The node @node (1-based), or NULL. */
SimNode *p2p_sim_network_get_node (P2pSimNetwork *self, guint node);
/* Resolves @to to an endpoint key (node 0 for an IPv4 address that is not
 * a node: packets to it vanish). FALSE + error for non-IPv4. */
gboolean p2p_sim_network_resolve (P2pSimNetwork *self, GSocketAddress *to, guint32 *key,
    GError **error);
/* TRUE if nodes @a and @b are partitioned from each other. */
gboolean p2p_sim_network_partitioned (P2pSimNetwork *self, guint a, guint b);

/* ---- p2p-sim-registry.c ---- */

/* Removes the named network @self (self->name set) from the registry, if
 * the entry is still its own; from finalize (no lock). */
void p2p_sim_network_forget_named (P2pSimNetwork *self);

G_END_DECLS
