/* p2p-sim.h: the deterministic simulated network (docs/simulator.md) and the
 * simulator provider.
 *
 * P2pSimNetwork: nodes with virtual IPv4 addresses (10.77.x.y), a default
 * link model and per-pair (directional) overrides (latency, jitter, loss,
 * duplication, reordering, bandwidth with a bounded queue, MTU, connection
 * failure rate), partitions and node crashes. A seeded PRNG and a virtual
 * clock in nanoseconds: the same seed and the same inputs give the same
 * drops, delivery order, trace and stats. See docs/simulator.md.
 *
 * P2pSimProvider: a P2pProvider whose connections run the real QUIC stack
 * over datagram sockets on simulated nodes.
 *
 * Threads: every function of a network may be called from any thread (state
 * is locked); callbacks (socket deliveries, timers) run on the network's
 * GMainContext. In MANUAL clock mode the owner drives time from that
 * context's thread with the run/advance functions.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include "p2p/p2p-macros.h"
#include "p2p/p2p-peer-id.h"
#include "p2p/p2p-identity.h"
#include "p2p/p2p-config.h"
#include "p2p/p2p-provider.h"

G_BEGIN_DECLS

/**
 * P2pSimClockMode:
 * @P2P_SIM_CLOCK_MANUAL: virtual time advances only when the owner calls
 *   p2p_sim_network_advance() / run_until*() (tests, soak, bench).
 * @P2P_SIM_CLOCK_FOLLOW: the network follows an external clock (real
 *   monotonic time by default, or the function given to
 *   p2p_sim_network_set_clock_func(), e.g. a pipeline's GstClock): a source
 *   on the network's context processes events when they become due.
 */
typedef enum {
  P2P_SIM_CLOCK_MANUAL,
  P2P_SIM_CLOCK_FOLLOW,
} P2pSimClockMode;

/* Returns the current time of an external clock in nanoseconds. */
typedef guint64 (*P2pSimClockFunc) (gpointer user_data);

/**
 * P2pSimLinkParams:
 * @latency_ms: one-way base delay, 0..600000 ms.
 * @jitter_ms: extra delay drawn uniformly in [0, jitter] per packet, 0..600000 ms
 *   (packets may overtake each other by up to this much).
 * @loss: probability a packet is dropped, 0..1.
 * @duplicate: probability a packet is delivered twice, 0..1.
 * @reorder: probability a packet gets an extra delay (1 ms .. max(latency,
 *   10 ms)) so that later packets overtake it, 0..1.
 * @bandwidth_kbps: serialisation rate in kbit/s, 0 = unlimited.
 * @queue_bytes: bytes waiting for the transmitter beyond which arriving
 *   packets are tail-dropped (only with a bandwidth), 1..2^31; default 64 KiB.
 * @mtu: largest datagram carried in bytes; bigger ones are dropped,
 *   576..65507; default 1452.
 * @failure_rate: probability that a new flow (an unordered pair of
 *   ADDRESS:PORT endpoints, decided at its first packet) is black-holed, 0..1.
 *
 * The model of one direction of a link.
 */
typedef struct {
  guint latency_ms;
  guint jitter_ms;
  double loss;
  double duplicate;
  double reorder;
  guint bandwidth_kbps;
  guint queue_bytes;
  guint mtu;
  double failure_rate;
} P2pSimLinkParams;

#define P2P_SIM_DEFAULT_MTU 1452
#define P2P_SIM_DEFAULT_QUEUE_BYTES (64 * 1024)

/* Defaults: no delay, no loss, unlimited bandwidth, 64 KiB queue, MTU 1452. */
P2P_EXPORT void p2p_sim_link_params_init (P2pSimLinkParams *params);
/* The link of a configuration's SIMULATOR_P2P_* values (latency, jitter,
 * loss, bandwidth, failure rate; the other fields as _init()). */
P2P_EXPORT void p2p_sim_link_params_init_from_config (P2pSimLinkParams *params,
    const P2pConfig *config);
/* Checks every field's range; INVALID_ARGUMENT names the field. */
P2P_EXPORT gboolean p2p_sim_link_params_validate (const P2pSimLinkParams *params, GError **error);

/**
 * P2pSimStats:
 * @packets_sent: send attempts accepted by the network
 * @packets_delivered: handed to a bound socket (duplicates included)
 * @packets_duplicated: packets delivered twice
 * @packets_reordered: packets given an extra delay
 * @dropped_loss: dropped by the loss probability
 * @dropped_queue: dropped because the bandwidth queue was full (tail drop)
 * @dropped_mtu: dropped for being larger than the link's MTU
 * @dropped_partition: dropped by a partition
 * @dropped_crash: dropped because a node was crashed
 * @dropped_failure: dropped on a black-holed flow (failure_rate)
 * @dropped_unbound: dropped because no socket was bound on the destination
 * @bytes_sent: bytes of the packets sent
 * @bytes_delivered: bytes of the packets delivered
 * @timers_fired: socket timers that fired
 *
 * Counters of one network since its creation.
 */
typedef struct {
  guint64 packets_sent;          /* send attempts accepted by the network */
  guint64 packets_delivered;     /* handed to a bound socket (duplicates included) */
  guint64 packets_duplicated;
  guint64 packets_reordered;
  guint64 dropped_loss;
  guint64 dropped_queue;         /* bandwidth queue full (tail drop) */
  guint64 dropped_mtu;
  guint64 dropped_partition;
  guint64 dropped_crash;
  guint64 dropped_failure;       /* black-holed flow (failure_rate) */
  guint64 dropped_unbound;       /* no socket on the destination port */
  guint64 bytes_sent;
  guint64 bytes_delivered;
  guint64 timers_fired;
} P2pSimStats;

#define P2P_TYPE_SIM_NETWORK (p2p_sim_network_get_type ())
P2P_EXPORT G_DECLARE_FINAL_TYPE (P2pSimNetwork, p2p_sim_network, P2P, SIM_NETWORK, GObject)

/* A network in MANUAL mode on the thread-default GMainContext. The other
 * parameters are GObject properties: "seed" (guint64, default 1;
 * setting it later restarts the PRNG from that seed),
 * "context" (GMainContext, construct-only), "clock-mode", and the default
 * link: "latency-ms", "jitter-ms", "loss", "duplicate", "reorder",
 * "bandwidth-kbps", "queue-bytes", "mtu", "failure-rate". */
P2P_EXPORT P2pSimNetwork *p2p_sim_network_new (guint64 seed);
/* A network configured from @config's sim_* fields (seed, latency, jitter,
 * loss, bandwidth, failure rate) on @context (NULL = thread default). */
P2P_EXPORT P2pSimNetwork *p2p_sim_network_new_from_config (const P2pConfig *config,
    GMainContext *context);

/**
 * p2p_sim_network_get_named:
 * @name: the network's name
 * @error: %P2P_ERROR_INVALID_ARGUMENT on a bad SIMULATOR_P2P_* value
 *
 * The process-wide network named @name, created on first use from the
 * SIMULATOR_P2P_* environment in FOLLOW mode on real time, with its own
 * context served by its own thread. Shared while referenced; the last unref
 * removes it from the registry.
 *
 * Returns: (transfer full) (nullable): the network, NULL on error.
 */
P2P_EXPORT P2pSimNetwork *p2p_sim_network_get_named (const char *name, GError **error);
/**
 * p2p_sim_network_get_named_full:
 * @name: the network's name
 * @config: (nullable): configuration of a network created by this call
 *   (NULL = from the environment)
 * @error: %P2P_ERROR_INVALID_ARGUMENT on a bad SIMULATOR_P2P_* value
 *
 * Same as p2p_sim_network_get_named(), but a network created by this call
 * is configured from @config's sim_* fields. An existing one is returned
 * unchanged.
 *
 * Returns: (transfer full) (nullable): the network, NULL on error.
 */
P2P_EXPORT P2pSimNetwork *p2p_sim_network_get_named_full (const char *name,
    const P2pConfig *config, GError **error);
/* (nullable) the registry name, NULL for an unnamed network. */
P2P_EXPORT const char *p2p_sim_network_get_name (P2pSimNetwork *self);
/* (transfer none) */
P2P_EXPORT GMainContext *p2p_sim_network_get_context (P2pSimNetwork *self);
P2P_EXPORT guint64 p2p_sim_network_get_seed (P2pSimNetwork *self);

/* ---- links ---- */
/**
 * p2p_sim_network_get_default_link:
 * @self: a network
 * @out: (out caller-allocates): the default link model
 */
P2P_EXPORT void p2p_sim_network_get_default_link (P2pSimNetwork *self, P2pSimLinkParams *out);
/* Replaces the default model (existing overrides stay). INVALID_ARGUMENT on a bad field. */
P2P_EXPORT gboolean p2p_sim_network_set_default_link (P2pSimNetwork *self,
    const P2pSimLinkParams *params, GError **error);
/* Override for packets from node @from to node @to (one direction). */
P2P_EXPORT gboolean p2p_sim_network_set_link (P2pSimNetwork *self, guint from, guint to,
    const P2pSimLinkParams *params, GError **error);
P2P_EXPORT void p2p_sim_network_clear_link (P2pSimNetwork *self, guint from, guint to);

/* ---- nodes ---- */
/* Adds a node (ids count from 1 in creation order; addresses 10.77.0.1,
 * 10.77.0.2, ...). @name (nullable) is for traces. Returns 0 when the
 * network is full (65000 nodes). */
P2P_EXPORT guint p2p_sim_network_add_node (P2pSimNetwork *self, const char *name);
P2P_EXPORT guint p2p_sim_network_get_n_nodes (P2pSimNetwork *self);
/**
 * p2p_sim_network_get_node_address:
 * @self: a network
 * @node: a node id
 *
 * Returns: (transfer full) (nullable): the node's address, NULL for an
 *   unknown node.
 */
P2P_EXPORT GInetAddress *p2p_sim_network_get_node_address (P2pSimNetwork *self, guint node);
/* 0 if @address is not a node of this network. */
P2P_EXPORT guint p2p_sim_network_find_node (P2pSimNetwork *self, GInetAddress *address);

/* Network changes under a node, from now on (packets in flight included,
 * as they arrive): change_node_address moves it to a new address (what
 * p2p_sim_network_get_node_address() returns; datagrams to the old one are
 * lost), as a laptop that changes networks; rebind_node makes the NAT in
 * front of it forget its mappings: its datagrams come from other ports and
 * datagrams to the old ones are lost. Its sockets stay bound; a QUIC server
 * follows its client to the new address after validating it. */
P2P_EXPORT void p2p_sim_network_change_node_address (P2pSimNetwork *self, guint node);
P2P_EXPORT void p2p_sim_network_rebind_node (P2pSimNetwork *self, guint node);

/* Partitions drop every packet between the two nodes (both directions) from
 * now on, including packets in flight when they arrive. */
P2P_EXPORT void p2p_sim_network_partition (P2pSimNetwork *self, guint node_a, guint node_b);
P2P_EXPORT void p2p_sim_network_heal (P2pSimNetwork *self, guint node_a, guint node_b);
P2P_EXPORT void p2p_sim_network_heal_all (P2pSimNetwork *self);
/* A crashed node sends nothing, receives nothing (packets in flight to it are
 * dropped) and its sockets' timers stop. restart makes it reachable again
 * (its sockets stay dead: a restarted host binds new ones). */
P2P_EXPORT void p2p_sim_network_crash_node (P2pSimNetwork *self, guint node);
P2P_EXPORT void p2p_sim_network_restart_node (P2pSimNetwork *self, guint node);
P2P_EXPORT gboolean p2p_sim_network_node_is_crashed (P2pSimNetwork *self, guint node);

/* TRUE if the flow between the two endpoints was black-holed by the failure
 * rate (decided at its first packet). */
P2P_EXPORT gboolean p2p_sim_network_flow_is_failed (P2pSimNetwork *self, GSocketAddress *a,
    GSocketAddress *b);

/* ---- peer registry (sim provider) ---- */
/* Maps @peer to the address its listener is bound to. */
P2P_EXPORT void p2p_sim_network_register_peer (P2pSimNetwork *self, const P2pPeerId *peer,
    GSocketAddress *address);
P2P_EXPORT void p2p_sim_network_unregister_peer (P2pSimNetwork *self, const P2pPeerId *peer);
/**
 * p2p_sim_network_lookup_peer:
 * @self: a network
 * @peer: a peer ID
 *
 * Returns: (transfer full) (nullable): the address @peer's listener is bound
 *   to, NULL if @peer is not listening on this network.
 */
P2P_EXPORT GSocketAddress *p2p_sim_network_lookup_peer (P2pSimNetwork *self, const P2pPeerId *peer);

/* ---- time ---- */
P2P_EXPORT P2pSimClockMode p2p_sim_network_get_clock_mode (P2pSimNetwork *self);
/* FOLLOW mode on @func (NULL = real monotonic time). Call on the network's
 * context (or before it is used). Virtual time never goes backwards. */
P2P_EXPORT void p2p_sim_network_set_clock_func (P2pSimNetwork *self, P2pSimClockFunc func,
    gpointer user_data, GDestroyNotify notify);
/* Back to MANUAL mode. */
P2P_EXPORT void p2p_sim_network_set_manual (P2pSimNetwork *self);
/* Virtual now, ns. */
P2P_EXPORT guint64 p2p_sim_network_now (P2pSimNetwork *self);
/* Time of the earliest pending event; G_MAXUINT64 when none. */
P2P_EXPORT guint64 p2p_sim_network_get_next_deadline (P2pSimNetwork *self);
/* FOLLOW mode: processes the events due at @now (the external clock's time);
 * call on the network's context. Returns the number of events processed. */
P2P_EXPORT guint p2p_sim_network_process_due (P2pSimNetwork *self, guint64 now);

/* MANUAL mode: call on the network's context's thread. Each runs events in
 * (time, sequence) order, and between events dispatches the context without
 * blocking (GTask callbacks, idles, invoked work). */
/* Runs every event up to now + @ns, then sets now to that time. */
P2P_EXPORT void p2p_sim_network_advance (P2pSimNetwork *self, guint64 ns);
/* Same up to absolute time @t (no-op if @t is in the past). */
P2P_EXPORT void p2p_sim_network_run_until (P2pSimNetwork *self, guint64 t);
/* Runs until no event is pending and the context has nothing to dispatch
 * (TRUE) or virtual time would pass now + @max_ns (FALSE; now = that bound). */
P2P_EXPORT gboolean p2p_sim_network_run_until_idle (P2pSimNetwork *self, guint64 max_ns);
/**
 * p2p_sim_network_run_until_cond:
 * @self: a network in MANUAL clock mode
 * @cond: (scope call) (closure data): the condition, checked before each event
 * @data: data for @cond
 * @max_ns: the longest virtual time to run, ns
 *
 * Runs until @cond (@data) returns TRUE, or the network is idle or time
 * would pass now + @max_ns.
 *
 * Returns: TRUE when @cond returned TRUE.
 */
P2P_EXPORT gboolean p2p_sim_network_run_until_cond (P2pSimNetwork *self, GSourceFunc cond,
    gpointer data, guint64 max_ns);

/* ---- trace and stats ---- */
/* Off by default. When on, each event appends one line
 * "TIME_NS KIND[(reason)] SRC DST SIZE" to the trace and to a SHA-256. */
P2P_EXPORT void p2p_sim_network_set_trace (P2pSimNetwork *self, gboolean enabled);
/* (transfer full) the trace so far ("" when off). */
P2P_EXPORT char *p2p_sim_network_dup_trace (P2pSimNetwork *self);
/* (transfer full) hex SHA-256 of the trace so far. */
P2P_EXPORT char *p2p_sim_network_get_trace_hash (P2pSimNetwork *self);
/* Keep at most @max_bytes of trace text (the hash covers everything); 0 = unbounded. */
P2P_EXPORT void p2p_sim_network_set_trace_limit (P2pSimNetwork *self, gsize max_bytes);
/**
 * p2p_sim_network_get_stats:
 * @self: a network
 * @out: (out caller-allocates): the counters since the network's creation
 */
P2P_EXPORT void p2p_sim_network_get_stats (P2pSimNetwork *self, P2pSimStats *out);

/* ---- the simulator provider ---- */
#define P2P_TYPE_SIM_PROVIDER (p2p_sim_provider_get_type ())
P2P_EXPORT G_DECLARE_FINAL_TYPE (P2pSimProvider, p2p_sim_provider, P2P, SIM_PROVIDER, GObject)

/**
 * p2p_sim_provider_new:
 * @net: the simulated network
 * @identity: (nullable): this peer's identity (NULL = a fresh ephemeral one)
 * @config: (nullable): gives the idle timeout, keepalive and max
 *   connections (NULL = defaults)
 *
 * A provider with its own node on @net, its peer ID registered in @net's
 * registry when it listens. Must be created, used and freed on @net's
 * context's thread (or from any thread in FOLLOW mode: calls are marshalled
 * to the context).
 *
 * Returns: (transfer full): the provider.
 */
P2P_EXPORT P2pProvider *p2p_sim_provider_new (P2pSimNetwork *net, P2pIdentity *identity,
    const P2pConfig *config);
/**
 * p2p_sim_provider_get_network:
 * @self: a sim provider
 *
 * Returns: (transfer none): the network of this provider's node.
 */
P2P_EXPORT P2pSimNetwork *p2p_sim_provider_get_network (P2pSimProvider *self);
P2P_EXPORT guint p2p_sim_provider_get_node (P2pSimProvider *self);

G_END_DECLS
