/* p2p-config.h: configuration from the environment (docs/configuration.md).
 * Every variable is documented in docs/configuration.md.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>
#include "p2p-macros.h"

G_BEGIN_DECLS

/**
 * P2pImplementation:
 * @P2P_IMPLEMENTATION_QUIC: QUIC over UDP (direct, ICE, relay)
 * @P2P_IMPLEMENTATION_SIM: the simulated network
 *
 * The provider p2p_provider_new_from_config() creates.
 */
typedef enum {
  P2P_IMPLEMENTATION_QUIC,
  P2P_IMPLEMENTATION_SIM,
} P2pImplementation;

/**
 * P2pRelayPolicy:
 * @P2P_RELAY_POLICY_ALL: direct first, relay as fallback
 * @P2P_RELAY_POLICY_RELAY_ONLY: only relayed candidates
 *
 * Which ICE candidates may be used.
 */
typedef enum {
  P2P_RELAY_POLICY_ALL,        /* direct first, relay as fallback */
  P2P_RELAY_POLICY_RELAY_ONLY, /* only relayed candidates */
} P2pRelayPolicy;

/**
 * P2pCongestionControl:
 * @P2P_CONGESTION_CONTROL_CUBIC: CUBIC (RFC 9438)
 * @P2P_CONGESTION_CONTROL_RENO: NewReno (RFC 9002)
 * @P2P_CONGESTION_CONTROL_BBR: BBR v1
 * @P2P_CONGESTION_CONTROL_BBR2: BBR v2, the default
 *
 * The QUIC congestion controller of the connections a provider makes
 * (ngtcp2's; docs/performance.md says how each did on a lossy link).
 */
typedef enum {
  P2P_CONGESTION_CONTROL_CUBIC,
  P2P_CONGESTION_CONTROL_RENO,
  P2P_CONGESTION_CONTROL_BBR,
  P2P_CONGESTION_CONTROL_BBR2,
} P2pCongestionControl;

/**
 * P2pConfig:
 * @implementation: P2P_IMPLEMENTATION
 * @listen_port: P2P_LISTEN_PORT (0 = any port)
 * @bootstrap_peers: (array zero-terminated=1) (nullable): P2P_BOOTSTRAP_PEERS,
 *   rendezvous URLs (ws://, wss://) and DHT bootstrap nodes (dht://)
 * @relay_servers: (array zero-terminated=1) (nullable): P2P_RELAY_SERVERS,
 *   TURN URLs
 * @stun_servers: (array zero-terminated=1) (nullable): P2P_STUN_SERVERS,
 *   HOST:PORT
 * @identity_file: (nullable): P2P_IDENTITY_FILE (NULL = default path)
 * @max_connections: P2P_MAX_CONNECTIONS
 * @relay_policy: P2P_RELAY_POLICY
 * @idle_timeout_ms: P2P_IDLE_TIMEOUT_MS
 * @keepalive_ms: P2P_KEEPALIVE_MS (0 = off)
 * @liveness_timeout_ms: P2P_LIVENESS_TIMEOUT_MS (0 = off)
 * @ice_restart_ms: P2P_ICE_RESTART_MS (0 = never)
 * @ice_restart_attempts: P2P_ICE_RESTART_ATTEMPTS
 * @find_timeout_ms: P2P_FIND_TIMEOUT_MS
 * @ice_addresses: (array zero-terminated=1) (nullable): P2P_ICE_ADDRESSES,
 *   the local IP addresses ICE gathers host candidates on (NULL = every
 *   interface)
 * @allowed_peers: (array zero-terminated=1) (nullable): P2P_ALLOWED_PEERS,
 *   the peer IDs a listener accepts (NULL = anyone); set it with
 *   p2p_config_set_allowed_peers()
 * @mdns: P2P_MDNS (LAN discovery on)
 * @congestion_control: P2P_CONGESTION_CONTROL
 * @sim_latency_ms: SIMULATOR_P2P_LATENCY_MS
 * @sim_jitter_ms: SIMULATOR_P2P_JITTER_MS
 * @sim_packet_loss: SIMULATOR_P2P_PACKET_LOSS
 * @sim_bandwidth_kbps: SIMULATOR_P2P_BANDWIDTH_KBPS (0 = unlimited)
 * @sim_failure_rate: SIMULATOR_P2P_FAILURE_RATE
 * @sim_seed: SIMULATOR_P2P_SEED
 *
 * The configuration of a provider; every variable, its range and default
 * is described in docs/configuration.md. A boxed type (%P2P_TYPE_CONFIG):
 * p2p_config_copy() is a deep copy.
 */
typedef struct {
  /* P2P_IMPLEMENTATION=quic|sim (default quic) */
  P2pImplementation implementation;
  /* P2P_LISTEN_PORT=0..65535 (default 8800, 0 = any) */
  guint listen_port;
  /* P2P_BOOTSTRAP_PEERS: comma-separated ws:// or wss:// rendezvous URLs
   * and dht://HOST[:PORT] DHT bootstrap nodes */
  char **bootstrap_peers;
  /* P2P_RELAY_SERVERS: comma-separated turn://user:pass@host:port[?transport=tcp] */
  char **relay_servers;
  /* P2P_STUN_SERVERS: comma-separated host:port */
  char **stun_servers;
  /* P2P_IDENTITY_FILE: key file path (NULL = default path) */
  char *identity_file;
  /* P2P_MAX_CONNECTIONS=1..65535 (default 64) */
  guint max_connections;
  /* P2P_RELAY_POLICY=all|relay-only (default all) */
  P2pRelayPolicy relay_policy;
  /* P2P_IDLE_TIMEOUT_MS=100..3600000 (default 30000) */
  guint idle_timeout_ms;
  /* P2P_KEEPALIVE_MS=0..3600000 (default 500, 0 = off) */
  guint keepalive_ms;
  /* P2P_LIVENESS_TIMEOUT_MS=0..3600000 (default 4000, 0 = off): an
   * established connection whose peer acknowledges nothing for this long
   * while data waits for acknowledgement is closed with TIMEOUT */
  guint liveness_timeout_ms;
  /* P2P_ALLOWED_PEERS: comma-separated peer IDs allowed to connect to a
   * listener (NULL = anyone); enforced in the TLS handshake and before any
   * ICE answer: see p2p_config_set_allowed_peers() */
  char **allowed_peers;
  /* P2P_MDNS=0|1 (default 1): a listener announces itself on the local
   * network (mDNS) and a dial by bare peer ID asks the local network
   * first, so no rendezvous is needed on one LAN */
  gboolean mdns;
  /* P2P_CONGESTION_CONTROL=cubic|reno|bbr|bbr2 (default bbr2) */
  P2pCongestionControl congestion_control;

  /* SIMULATOR_P2P_LATENCY_MS=0..600000 (default 0) */
  guint sim_latency_ms;
  /* SIMULATOR_P2P_JITTER_MS=0..600000 (default 0) */
  guint sim_jitter_ms;
  /* SIMULATOR_P2P_PACKET_LOSS=0.0..1.0 (default 0) */
  double sim_packet_loss;
  /* SIMULATOR_P2P_BANDWIDTH_KBPS=0..10000000 (default 0 = unlimited) */
  guint sim_bandwidth_kbps;
  /* SIMULATOR_P2P_FAILURE_RATE=0.0..1.0 (default 0) */
  double sim_failure_rate;
  /* SIMULATOR_P2P_SEED=0..2^64-1 (default 1) */
  guint64 sim_seed;
  /* P2P_ICE_RESTART_MS=0..600000 (default 1500, 0 = never): a dialed
   * connection over ICE that hears nothing for this long (a PING goes out
   * at a third of it) is moved to a new ICE path (issue 17) */
  guint ice_restart_ms;
  /* P2P_ICE_RESTART_ATTEMPTS=1..100 (default 3): new ICE paths tried in a
   * row before the connection is left to its liveness timeout */
  guint ice_restart_attempts;
  /* P2P_ICE_ADDRESSES: comma-separated local IP addresses (default: every
   * interface but loopback): ICE host candidates are gathered on these only */
  char **ice_addresses;
  /* No variable: set by a caller whose first requests go on streams (p2psrc
   * reading a file). A dial completes as soon as TLS has authenticated the
   * peer (1 RTT) instead of once the peer confirmed us (2 RTT), so a request
   * rides with our Finished; the peer's capabilities come a round trip
   * later (p2p_connection_wait_handshake()), and a refusal (allowed peers)
   * closes the connection then instead of failing the dial. */
  gboolean early_streams;
  /* P2P_FIND_TIMEOUT_MS=100..600000 (default 10000): a dial by peer ID
   * gives up on a peer that is not found and does not answer for this
   * long: the wait for its ICE answer through a rendezvous or the DHT (an
   * ICE restart's new offer too), and at most this for the mDNS (2 s) and
   * DHT (5 s) lookups of its record. (After early_streams: it takes the
   * alignment gap before padding, so the struct keeps its size.) */
  guint find_timeout_ms;

  /*< private >*/
  /* room for new fields without an ABI break (zero) */
  gpointer padding[5];
} P2pConfig;

#define P2P_TYPE_CONFIG (p2p_config_get_type ())
P2P_EXPORT GType p2p_config_get_type (void);

/* Defaults, no environment. */
P2P_EXPORT P2pConfig *p2p_config_new (void);
/* Defaults overridden by the process environment. */
P2P_EXPORT P2pConfig *p2p_config_new_from_env (GError **error);
/* Defaults overridden by @envp (a g_get_environ()-style array; NULL = none).
 * A bad value gives P2P_ERROR_INVALID_ARGUMENT naming the variable, the value
 * and what it accepts, e.g. "P2P_LISTEN_PORT=abc: expected an integer 0..65535". */
P2P_EXPORT P2pConfig *p2p_config_new_from_environ (const char *const *envp, GError **error);
P2P_EXPORT P2pConfig *p2p_config_copy (const P2pConfig *config);
P2P_EXPORT gboolean p2p_config_set_allowed_peers (P2pConfig *config, const char *peers,
    GError **error);
P2P_EXPORT char *p2p_config_listen_address (const P2pConfig *config,
    const char *bind_address, int port);
P2P_EXPORT void p2p_config_free (P2pConfig *config);
/* @urls (one URL or a comma-separated list) with every password replaced by
 * "***" (turn://user:***@host:port), for messages, logs and properties. */
P2P_EXPORT char *p2p_config_redact_urls (const char *urls);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (P2pConfig, p2p_config_free)

G_END_DECLS
