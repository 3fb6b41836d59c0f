/* p2p-quic-endpoint-private.h (internal): what the files of
 * P2pQuicEndpoint share: the endpoint's fields, the table of remotes and
 * the functions one file calls in another. The object, the demultiplexing
 * by address and dialing are in p2p-quic-endpoint.c; which client Initials
 * may start a handshake (limits, handshake rate, Retry tokens, eviction) in
 * p2p-quic-endpoint-admission.c; the P2pListener side (accept queue,
 * adopt, ticket, close) in p2p-quic-endpoint-listener.c. Threads: see
 * p2p-quic-endpoint.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-quic-endpoint.h"

G_BEGIN_DECLS

#define DEFAULT_MAX_CONNECTIONS 64

/* One remote address. Removed from the table as soon as its path closes
 * (the connection closed or was dropped), so every entry has a live path.
 * An alias is a further address a server connection's client showed up
 * from (NAT rebinding, a new network): it shares the first entry's path,
 * under its own route, and counts for nothing else. */
typedef struct {
  GWeakRef owner;               /* P2pQuicEndpoint */
  char *key;
  P2pSocketPath *path;
  GWeakRef conn;
  P2pQuicConnection *pending;   /* server connection until established (ref) */
  gulong established_id;
  gulong path_closed_id;
  gboolean server;              /* accepted (counts against max_connections) */
  char *ip;                     /* source IP of a server remote */
  guint64 seq;                  /* order the handshakes started in */
  guint64 started;              /* socket time it started */
  guint32 route;                /* the path's route of this address (0: its first) */
  gboolean alias;               /* a further address of another remote's peer */
} Remote;

/* A token bucket: at most a burst of tokens, refilled at a rate a second;
 * a zeroed one starts full (p2p-quic-endpoint-admission.c). */
typedef struct {
  double tokens;
  guint64 last_ns;
  gboolean started;
} P2pTokenBucket;

struct _P2pQuicEndpoint {
  P2pListener parent;

  P2pDatagramSocket *socket;
  P2pIdentity *identity;
  P2pQuicSessionConfig cfg;
  GMainContext *ctx;

  /* net */
  GHashTable *remotes;          /* key → Remote* */
  GHashTable *dials;            /* key → DialData* of a dial in progress */
  guint64 dropped_garbage;
  guint64 moved;                /* datagrams that taught a path a new route */
  guint netmon_watch;           /* p2p_net_monitor_watch(), once we dial over UDP */
  guint64 dropped_limits;
  P2pProviderCounters *counters;        /* nullable: the provider's */
  GHashTable *rate;             /* source IP string → RateBucket */
  GQueue rate_lru;              /* RateBucket*, least recently used first */
  guint handshake_rate, handshake_burst;
  guint8 retry_secret[P2P_QUIC_RETRY_SECRET_LEN];
  guint retry_threshold;
  guint max_pending_per_ip;
  guint64 handshake_timeout_ns;
  guint64 retries_sent;
  P2pTokenBucket reset_budget;  /* stateless answers: Resets and refusals */
  guint64 resets_sent;
  guint64 evicted;
  guint64 evicted_established;  /* connections closed to admit another host */
  guint64 handshake_seq;

  /* shared, under lock */
  GMutex lock;
  GCond cond;
  gboolean accepting;
  /* it accepted once (a listener, maybe closed since): only such an
   * endpoint refuses Initials with a CONNECTION_CLOSE; a dialer's socket
   * stays silent, as it sends no Stateless Reset either */
  gboolean accepted_once;
  gboolean closed;
  GPtrArray *allowed;           /* P2pPeerId*, nullable */
  guint max_connections;
  guint max_pending;
  guint n_server;               /* server remotes (accepted or pending) */
  GPtrArray *adopted;           /* GWeakRef* to connections adopted from ICE */
  GQueue accept_queue;          /* P2pConnection* */
  GQueue accept_waiters;        /* AcceptWaiter* of accept_async */
};

/* Refills @b for socket time @now_ns: TRUE when it holds a token now
 * (p2p_token_bucket_take() then uses it). */
/* Stateless answers (Stateless Resets, refusals) per second, a burst of as
 * many: a flood gets no more answers than this. */
#define P2P_QUIC_STATELESS_RATE 100
gboolean p2p_token_bucket_ready (P2pTokenBucket *b, guint64 now_ns, guint rate, guint burst);
/* The same, and uses the token. */
gboolean p2p_token_bucket_take (P2pTokenBucket *b, guint64 now_ns, guint rate, guint burst);

/* ---- the table of remotes (p2p-quic-endpoint.c, net thread) ---- */

/* "ip:port" ("[ip]:port" for IPv6): the key of a remote (newly allocated). */
char *p2p_quic_endpoint_address_key (GSocketAddress *addr);
/* A new remote @key at @from, with its path, in self->remotes. */
Remote *p2p_quic_endpoint_remote_add (P2pQuicEndpoint *self, const char *key,
    GSocketAddress *from);
/* Session configuration for a path: big datagrams where the path allows. */
void p2p_quic_endpoint_config_for_path (P2pQuicEndpoint *self, P2pPacketPath *path,
    P2pQuicSessionConfig *cfg);

/* ---- admission (p2p-quic-endpoint-admission.c) ---- */

/* The limits' defaults (instance init). */
void p2p_quic_endpoint_admission_init (P2pQuicEndpoint *self);
/* Net thread: a client Initial from an unknown remote @key: a server
 * connection when the limits let it in, else a Retry or a refusal. */
void p2p_quic_endpoint_accept_initial (P2pQuicEndpoint *self, const char *key,
    GSocketAddress *from, const guint8 *data, gsize len);

/* ---- the listener (p2p-quic-endpoint-listener.c) ---- */

void p2p_quic_endpoint_listener_class_init (P2pListenerClass *listener_class);
/* Under lock: connections adopted from ICE still connected (forgets the
 * others). */
guint p2p_quic_endpoint_count_adopted_locked (P2pQuicEndpoint *self);
/* "established" handler of a pending server connection (@user_data: its
 * Remote): hands it to accept(). */
void p2p_quic_endpoint_on_server_established (P2pQuicConnection *conn, gpointer user_data);
/* Stops accepting and fails the waiting accepts; @close_pending also closes
 * the handshakes in progress (on the network thread). */
void p2p_quic_endpoint_close_full (P2pQuicEndpoint *self, gboolean close_pending);
/* Ends the dials waiting for an old connection's close (CLOSED) (network
 * thread). */
void p2p_quic_endpoint_end_dial_waits (P2pQuicEndpoint *self);
/* TRUE when @r's connection is established and closed since (closing,
 * draining, or closed and still referenced); FALSE while it is connected
 * or its handshake runs. It takes and drops a reference on the
 * connection: @r may be gone after it (look it up again). */
gboolean p2p_quic_endpoint_remote_is_over (Remote *r);
/* Watches the host's network (p2p_net_monitor_watch()) once we dial. */
void p2p_quic_endpoint_watch_network (P2pQuicEndpoint *self);
/* The socket's ICMP unreachable for @to: a dial there fails at once
 * (p2p-quic-endpoint-dial.c; @user_data a GWeakRef on the endpoint). */
void p2p_quic_endpoint_on_socket_unreachable (P2pDatagramSocket *sock, GSocketAddress *to,
    const char *reason, gpointer user_data);

G_END_DECLS
