/* p2p-quic-endpoint.c: P2pQuicEndpoint, QUIC over one P2pDatagramSocket:
 * dials (one P2pSocketPath + client connection per remote) and, when
 * accepting, turns client Initials from new remotes into server connections
 * (it is the P2pListener of the direct mode and of the simulator).
 *
 * Demultiplexing is by remote address ("ip:port"): one connection per remote
 * address per endpoint. Datagrams from unknown remotes that are not client
 * Initials are dropped silently (counted, debug log); so are Initials when
 * not accepting or over the limits.
 *
 * Half-open handshakes (a client Initial costs the listener a TLS session)
 * are bounded so that nobody can lock the listener out:
 *  - address validation first, with a stateless Retry (RFC 9000 8.1.2):
 *    while at least retry_threshold handshakes are pending (default 8),
 *    an Initial without a valid Retry token gets a Retry packet (smaller
 *    than the Initial: no amplification) and leaves no state; the token
 *    is sealed with a random per-endpoint secret and binds the client's
 *    address, so under load spoofed sources never reach the limits below;
 *  - a server handshake fails after handshake_timeout (default 10 s)
 *    instead of the idle timeout;
 *  - "per source IP" below means per IPv4 address (an IPv4-mapped IPv6
 *    address counts as its IPv4 address) or per IPv6 /64, which one host
 *    usually owns whole (p2p_address_limit_key(), also the rendezvous');
 *  - a dial fails at once (P2P_ERROR_CONNECTION_FAILED "... (ICMP
 *    unreachable)") when the socket gets an ICMP port or host unreachable
 *    for its remote address, instead of after the idle timeout;
 *  - at most max_pending_per_ip (16) pending handshakes per source IP;
 *  - new handshakes per source IP: a token bucket (burst 32, below the
 *    pending cap, then 64/s); the table of buckets keeps the 4096 most
 *    recently used addresses (LRU eviction, never wiped);
 *  - at most max_pending (64) pending handshakes in all: a new one whose
 *    Initial carried our valid Retry token evicts the oldest pending
 *    handshake instead of being refused (if that one is at least 1 s old:
 *    honest dialers arriving together do not evict one another; the
 *    newcomer retransmits after a PTO); one without a token is answered
 *    with a Retry instead (so is one near max_connections): an address
 *    that was not validated never evicts;
 *  - pending handshakes, accepted connections and connections adopted from
 *    ICE count against max_connections (64).
 *
 * Threads: the socket, the table of remotes and the connections' sessions
 * live on the socket's context (the network thread); accept() and close()
 * may be called from any thread (the accept queue is guarded by a mutex).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-endpoint.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-info.h"

#include <ifaddrs.h>
#include <sodium.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_MAX_PENDING 64
#define DEFAULT_MAX_PENDING_PER_IP 16
#define DEFAULT_MAX_CONNECTIONS 64
/* Pending handshakes from which a client must pass a Retry. A Retry costs
 * an honest dialer one round trip (not measurable on loopback: 3.4-3.8 ms
 * setup with or without; +RTT on a real path), so an unloaded listener
 * does without; 8 unvalidated handshakes at most, the rest validated. */
#define DEFAULT_RETRY_THRESHOLD 8
/* a pending handshake younger than this is not evicted for a new one */
#define EVICT_MIN_AGE_NS (1 * G_GUINT64_CONSTANT (1000000000))
#define RETRY_TOKEN_LIFETIME_NS (10 * G_GUINT64_CONSTANT (1000000000))
/* New handshakes per source IP: a burst (below the pending cap), then a
 * sustained rate. A fan-out of 100 receivers on one host still connects
 * within a couple of seconds. */
#define DEFAULT_HANDSHAKE_BURST 32
#define DEFAULT_HANDSHAKE_RATE 64      /* per second */
#define MAX_RATE_ENTRIES 4096

typedef struct {
  double tokens;
  guint64 last_ns;
  char *ip;
  GList link;                   /* in the endpoint's LRU queue */
} RateBucket;

static void
rate_bucket_free (gpointer data)
{
  RateBucket *b = data;

  g_free (b->ip);
  g_free (b);
}

/* One remote address. Removed from the table as soon as its path closes
 * (the connection closed or was dropped), so every entry has a live path. */
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
} Remote;

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
  guint64 evicted;
  guint64 handshake_seq;

  /* shared, under lock */
  GMutex lock;
  GCond cond;
  gboolean accepting;
  gboolean closed;
  GPtrArray *allowed;           /* P2pPeerId*, nullable */
  guint max_connections;
  guint max_pending;
  guint n_server;               /* server remotes (accepted or pending) */
  GPtrArray *adopted;           /* GWeakRef* to connections adopted from ICE */
  GQueue accept_queue;          /* P2pConnection* */
  GQueue accept_waiters;        /* AcceptWaiter* of accept_async */
};

typedef struct {
  GTask *task;
  GSource *cancel_source;
} AcceptWaiter;

/* An Initial turned away by a limit (net thread): counted here and, by
 * @reason, in the provider's counters. */
static void
refuse (P2pQuicEndpoint *self, const char *reason)
{
  self->dropped_limits++;
  p2p_provider_counters_refused (self->counters, reason);
}

static void
accept_waiter_free (AcceptWaiter *w)
{
  if (w->cancel_source) {
    g_source_destroy (w->cancel_source);
    g_source_unref (w->cancel_source);
  }
  g_object_unref (w->task);
  g_free (w);
}

G_DEFINE_FINAL_TYPE (P2pQuicEndpoint, p2p_quic_endpoint, P2P_TYPE_LISTENER)

/* -------------------------------------------------------------- helpers */

char *
p2p_address_limit_key (GSocketAddress *addr)
{
  GInetAddress *ia;
  guint8 b[16];
  static const guint8 v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

  if (addr == NULL || !G_IS_INET_SOCKET_ADDRESS (addr))
    return NULL;
  ia = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (addr));
  if (g_inet_address_get_family (ia) != G_SOCKET_FAMILY_IPV6)
    return g_inet_address_to_string (ia);
  memcpy (b, g_inet_address_to_bytes (ia), sizeof b);
  if (memcmp (b, v4mapped, sizeof v4mapped) == 0)
    return g_strdup_printf ("%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
  memset (b + 8, 0, 8);
  {
    g_autoptr (GInetAddress) net = g_inet_address_new_from_bytes (b, G_SOCKET_FAMILY_IPV6);
    g_autofree char *text = g_inet_address_to_string (net);

    return g_strconcat (text, "/64", NULL);
  }
}

static char *
address_key (GSocketAddress *addr)
{
  if (G_IS_INET_SOCKET_ADDRESS (addr)) {
    GInetSocketAddress *isa = G_INET_SOCKET_ADDRESS (addr);
    GInetAddress *ia = g_inet_socket_address_get_address (isa);
    g_autofree char *ip = g_inet_address_to_string (ia);

    if (g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV6)
      return g_strdup_printf ("[%s]:%u", ip, g_inet_socket_address_get_port (isa));
    return g_strdup_printf ("%s:%u", ip, g_inet_socket_address_get_port (isa));
  }
  return g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (addr));
}

static void
remote_free (gpointer data)
{
  Remote *r = data;

  if (r->server) {
    g_autoptr (P2pQuicEndpoint) self = g_weak_ref_get (&r->owner);

    if (self) {
      g_mutex_lock (&self->lock);
      self->n_server--;
      g_mutex_unlock (&self->lock);
    }
  }
  if (r->path_closed_id)
    g_signal_handler_disconnect (r->path, r->path_closed_id);
  g_clear_object (&r->path);
  g_weak_ref_clear (&r->conn);
  if (r->pending) {
    g_signal_handler_disconnect (r->pending, r->established_id);
    g_clear_object (&r->pending);
  }
  g_weak_ref_clear (&r->owner);
  g_free (r->key);
  g_free (r->ip);
  g_free (r);
}

static void
on_path_closed (P2pSocketPath *path, gpointer user_data)
{
  Remote *r = user_data;
  g_autoptr (P2pQuicEndpoint) self = g_weak_ref_get (&r->owner);

  /* A server handshake that ended before it was established: the peer was
   * refused (not in allowed-peers) or went away. */
  if (self && self->counters && r->server && r->pending) {
    g_autoptr (GError) error = p2p_quic_connection_dup_close_error (r->pending);

    p2p_provider_counters_refused_error (self->counters, error);
  }
  /* The connection is over (or gone): forget the remote. */
  if (self && self->remotes && g_hash_table_lookup (self->remotes, r->key) == r)
    g_hash_table_remove (self->remotes, r->key);
}

static Remote *
remote_add (P2pQuicEndpoint *self, const char *key, GSocketAddress *from)
{
  Remote *r = g_new0 (Remote, 1);

  g_weak_ref_init (&r->owner, self);
  r->key = g_strdup (key);
  r->path = p2p_socket_path_new (self->socket, from);
  g_weak_ref_init (&r->conn, NULL);
  r->path_closed_id = g_signal_connect (r->path, "closed", G_CALLBACK (on_path_closed), r);
  g_hash_table_replace (self->remotes, r->key, r);
  return r;
}

/* Session configuration for a path: big datagrams where the path allows. */
static void
config_for_path (P2pQuicEndpoint *self, P2pPacketPath *path, P2pQuicSessionConfig *cfg)
{
  gsize mtu = p2p_packet_path_get_mtu (path);

  *cfg = self->cfg;
  if (cfg->max_udp_payload == 0 || cfg->max_udp_payload > mtu)
    cfg->max_udp_payload = MAX (mtu, 1200);
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* Under lock: connections adopted from ICE still connected (forgets the
 * others). */
static guint
count_adopted_locked (P2pQuicEndpoint *self)
{
  for (guint i = 0; i < self->adopted->len;) {
    g_autoptr (P2pConnection) c = g_weak_ref_get (self->adopted->pdata[i]);

    if (c == NULL || !p2p_connection_is_connected (c))
      g_ptr_array_remove_index_fast (self->adopted, i);
    else
      i++;
  }
  return self->adopted->len;
}

typedef struct {
  guint live;                   /* accepted or handshaking (not adopted) */
  guint pending;
  guint pending_ip;             /* pending from the IP asked about */
  Remote *oldest;               /* oldest pending handshake */
} ServerCount;

/* Server-side remotes (net thread); @ip (nullable) for pending_ip. */
static void
count_server (P2pQuicEndpoint *self, const char *ip, ServerCount *c)
{
  GHashTableIter iter;
  gpointer value;

  memset (c, 0, sizeof (*c));
  g_hash_table_iter_init (&iter, self->remotes);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Remote *r = value;

    if (r->server)
      c->live++;
    if (r->pending == NULL)
      continue;
    c->pending++;
    if (ip && g_strcmp0 (r->ip, ip) == 0)
      c->pending_ip++;
    if (c->oldest == NULL || r->seq < c->oldest->seq)
      c->oldest = r;
  }
}

/* ----------------------------------------------------------- accepting */

static void
on_server_established (P2pQuicConnection *conn, gpointer user_data)
{
  Remote *r = user_data;
  g_autoptr (P2pQuicEndpoint) self = g_weak_ref_get (&r->owner);
  g_autoptr (P2pQuicConnection) pending = NULL;

  if (r->pending == NULL)
    return;
  g_signal_handler_disconnect (r->pending, r->established_id);
  pending = g_steal_pointer (&r->pending);
  if (self == NULL)
    return;
  g_mutex_lock (&self->lock);
  if (self->closed || !self->accepting) {
    g_mutex_unlock (&self->lock);
    p2p_connection_close (P2P_CONNECTION (conn), "listener closed");
    return;
  }
  {
    AcceptWaiter *w = g_queue_pop_head (&self->accept_waiters);

    p2p_provider_counters_accepted (self->counters, P2P_CONNECTION (conn));
    if (w == NULL) {
      g_queue_push_tail (&self->accept_queue, g_object_ref (conn));
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
      return;
    }
    g_mutex_unlock (&self->lock);
    g_task_return_pointer (w->task, g_object_ref (conn), g_object_unref);
    accept_waiter_free (w);
  }
}

/* TRUE if @from may start one more handshake now (takes a token). */
static gboolean
handshake_rate_allows (P2pQuicEndpoint *self, const char *source_ip)
{
  g_autofree char *ip = NULL;
  guint64 now = p2p_datagram_socket_now (self->socket);
  RateBucket *b;

  if (self->handshake_rate == 0 || source_ip == NULL)
    return TRUE;
  ip = g_strdup (source_ip);
  b = g_hash_table_lookup (self->rate, ip);
  if (b == NULL) {
    /* bounded table: the least recently used address is forgotten (with
     * Retry on, only validated addresses get here) */
    if (g_hash_table_size (self->rate) >= MAX_RATE_ENTRIES) {
      RateBucket *old = g_queue_peek_head (&self->rate_lru);

      g_queue_unlink (&self->rate_lru, &old->link);
      g_hash_table_remove (self->rate, old->ip);
    }
    b = g_new0 (RateBucket, 1);
    b->tokens = self->handshake_burst;
    b->last_ns = now;
    b->ip = g_steal_pointer (&ip);
    b->link.data = b;
    g_hash_table_insert (self->rate, b->ip, b);
  } else {
    g_queue_unlink (&self->rate_lru, &b->link);
    if (now > b->last_ns) {
      b->tokens = MIN ((double) self->handshake_burst,
          b->tokens + (now - b->last_ns) / 1e9 * self->handshake_rate);
      b->last_ns = now;
    }
  }
  g_queue_push_tail_link (&self->rate_lru, &b->link);
  if (b->tokens < 1.0)
    return FALSE;
  b->tokens -= 1.0;
  return TRUE;
}

/* Answers a client Initial without a token with a stateless Retry (no
 * state kept; nothing sent when @from has no native form). */
static void
send_retry (P2pQuicEndpoint *self, GSocketAddress *from, const guint8 *data, gsize len)
{
  struct sockaddr_storage sa;
  gsize salen = g_socket_address_get_native_size (from);
  guint8 retry[256];
  gsize n;

  if (salen == 0 || salen > sizeof (sa) ||
      !g_socket_address_to_native (from, &sa, sizeof (sa), NULL))
    return;
  n = p2p_quic_retry_write (data, len, self->retry_secret, &sa, salen,
      p2p_datagram_socket_now (self->socket), retry, sizeof (retry));
  if (n > 0 && p2p_datagram_socket_send_to (self->socket, from, retry, n, NULL))
    self->retries_sent++;
}

/* Address validation (net thread). TRUE when the Initial may start a
 * handshake (@odcid filled in when it carried our valid Retry token);
 * FALSE when it was answered with a Retry or dropped. */
static gboolean
validate_address (P2pQuicEndpoint *self, const char *key, GSocketAddress *from,
    const guint8 *data, gsize len, guint pending, guint8 *odcid, gsize *odcid_len)
{
  struct sockaddr_storage sa;
  gsize salen = g_socket_address_get_native_size (from);
  guint64 now = p2p_datagram_socket_now (self->socket);

  *odcid_len = G_MAXSIZE;
  if (salen == 0 || salen > sizeof (sa) ||
      !g_socket_address_to_native (from, &sa, sizeof (sa), NULL))
    return pending < self->retry_threshold;     /* no address to bind a token to */
  switch (p2p_quic_retry_check (data, len, self->retry_secret, &sa, salen,
          RETRY_TOKEN_LIFETIME_NS, now, odcid, odcid_len)) {
    case P2P_QUIC_TOKEN_VALID:
      return TRUE;
    case P2P_QUIC_TOKEN_INVALID:
      g_debug ("%s: client Initial with an invalid Retry token dropped", key);
      refuse (self, "invalid-retry-token");
      return FALSE;
    case P2P_QUIC_TOKEN_NONE:
      break;
  }
  *odcid_len = G_MAXSIZE;
  if (pending < self->retry_threshold)
    return TRUE;
  send_retry (self, from, data, len);
  return FALSE;
}

/* Drops the oldest pending handshake to make room for a new one. */
static void
evict_pending (P2pQuicEndpoint *self, Remote *oldest)
{
  g_debug ("%s: oldest pending handshake evicted (%u pending)", oldest->key,
      self->max_pending);
  self->evicted++;
  /* remote_free drops the table's reference: the session is closed */
  g_hash_table_remove (self->remotes, oldest->key);
}

static void
accept_initial (P2pQuicEndpoint *self, const char *key, GSocketAddress *from,
    const guint8 *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) allowed = NULL;
  g_autofree char *ip = NULL;
  P2pQuicSessionConfig cfg;
  P2pQuicConnection *conn;
  Remote *r;
  ServerCount c;
  guint max_conn, max_pending, adopted;
  guint8 odcid[P2P_QUIC_MAX_CID_LEN];
  gsize odcid_len;

  g_mutex_lock (&self->lock);
  if (!self->accepting || self->closed) {
    g_mutex_unlock (&self->lock);
    self->dropped_garbage++;
    g_debug ("%s: client Initial dropped (not accepting)", key);
    return;
  }
  max_conn = self->max_connections;
  max_pending = self->max_pending;
  adopted = count_adopted_locked (self);
  allowed = self->allowed ? g_ptr_array_ref (self->allowed) : NULL;
  g_mutex_unlock (&self->lock);
  ip = p2p_address_limit_key (from);
  count_server (self, ip, &c);
  if (c.live - c.pending + adopted >= max_conn) {
    g_debug ("%s: client Initial dropped (%u connections)", key, c.live - c.pending + adopted);
    refuse (self, "connection-limit");
    return;
  }
  if (!validate_address (self, key, from, data, len, c.pending, odcid, &odcid_len))
    return;
  if (ip && c.pending_ip >= self->max_pending_per_ip) {
    g_debug ("%s: client Initial dropped (%u pending handshakes from %s)", key,
        c.pending_ip, ip);
    refuse (self, "pending-per-address");
    return;
  }
  if (!handshake_rate_allows (self, ip)) {
    g_debug ("%s: client Initial dropped (over %u new handshakes/s from this address)",
        key, self->handshake_rate);
    refuse (self, "handshake-rate");
    return;
  }
  /* Full of half-open handshakes: the oldest makes room if it had time to
   * finish (a burst of honest dialers must not evict one another: the
   * newcomer retransmits its Initial after a PTO instead). */
  if (c.pending >= max_pending || c.live + adopted >= max_conn) {
    guint64 now = p2p_datagram_socket_now (self->socket);

    /* Only a client that proved its address (our Retry token) may evict:
     * spoofed Initials must never push out an honest handshake. Others
     * get a Retry (retry_threshold above the pending count, or near
     * max_connections) and may come back with the token. */
    if (odcid_len == G_MAXSIZE) {
      g_debug ("%s: client Initial answered with a Retry (%u pending handshakes, %u "
          "connections; eviction needs a validated address)", key, c.pending,
          c.live + adopted);
      send_retry (self, from, data, len);
      return;
    }
    if (c.oldest == NULL || now < c.oldest->started + EVICT_MIN_AGE_NS) {
      g_debug ("%s: client Initial dropped (%u pending handshakes, none older than %u ms)",
          key, c.pending, (guint) (EVICT_MIN_AGE_NS / 1000000));
      refuse (self, "pending-full");
      return;
    }
    evict_pending (self, c.oldest);
  }

  r = remote_add (self, key, from);
  r->ip = g_steal_pointer (&ip);
  r->seq = ++self->handshake_seq;
  r->started = p2p_datagram_socket_now (self->socket);
  config_for_path (self, P2P_PACKET_PATH (r->path), &cfg);
  cfg.handshake_timeout_ns = self->handshake_timeout_ns;
  conn = p2p_quic_connection_new_server_validated (P2P_PACKET_PATH (r->path), self->identity,
      data, len, odcid_len != G_MAXSIZE ? odcid : NULL, odcid_len, &cfg, allowed, &error);
  if (conn == NULL) {
    g_debug ("%s: could not start a server session: %s", key, error->message);
    g_hash_table_remove (self->remotes, key);
    return;
  }
  g_weak_ref_set (&r->conn, conn);
  r->server = TRUE;
  g_mutex_lock (&self->lock);
  self->n_server++;
  g_mutex_unlock (&self->lock);
  r->pending = conn;            /* the table's reference until established */
  r->established_id = g_signal_connect (conn, "established",
      G_CALLBACK (on_server_established), r);
}

static void
on_socket_receive (P2pDatagramSocket *sock, GSocketAddress *from, const guint8 *data,
    gsize len, gpointer user_data)
{
  GWeakRef *wr = user_data;
  g_autoptr (P2pQuicEndpoint) self = g_weak_ref_get (wr);
  g_autofree char *key = NULL;
  Remote *r;

  if (self == NULL)
    return;
  key = address_key (from);
  r = g_hash_table_lookup (self->remotes, key);
  if (r) {
    g_autoptr (P2pSocketPath) path = g_object_ref (r->path);

    p2p_packet_path_deliver (P2P_PACKET_PATH (path), data, len);
    return;
  }
  if (!p2p_quic_packet_is_initial (data, len)) {
    self->dropped_garbage++;
    g_debug ("%s: %" G_GSIZE_FORMAT "-byte datagram from an unknown remote dropped", key, len);
    return;
  }
  accept_initial (self, key, from, data, len);
}

/* ---------------------------------------------------------------- dial */

typedef struct {
  P2pQuicEndpoint *self;
  char *key;
  GCancellable *internal;
  GSource *user_cancel_source;
  guint timer_id;
  gboolean timed_out;
  guint64 timeout_ns;
  char *unreachable;            /* an ICMP error's text: the dial failed */
} DialData;

/* The socket got an ICMP port/host unreachable for a datagram sent to @to:
 * a dial to that address fails at once (net thread). Established
 * connections are left to their own timers. */
static void
on_socket_unreachable (P2pDatagramSocket *sock, GSocketAddress *to, const char *reason,
    gpointer user_data)
{
  GWeakRef *wr = user_data;
  g_autoptr (P2pQuicEndpoint) self = g_weak_ref_get (wr);
  g_autofree char *key = NULL;
  DialData *d;

  if (self == NULL || self->dials == NULL)
    return;
  key = address_key (to);
  d = g_hash_table_lookup (self->dials, key);
  if (d == NULL || d->unreachable)
    return;
  g_debug ("%s: %s: failing the dial", key, reason);
  d->unreachable = g_strdup (reason);
  g_cancellable_cancel (d->internal);
}

static void
dial_data_free (gpointer data)
{
  DialData *d = data;

  if (d->user_cancel_source) {
    g_source_destroy (d->user_cancel_source);
    g_source_unref (d->user_cancel_source);
  }
  if (d->timer_id)
    p2p_datagram_socket_cancel_timer (d->self->socket, d->timer_id);
  if (d->self->dials && g_hash_table_lookup (d->self->dials, d->key) == d)
    g_hash_table_remove (d->self->dials, d->key);
  g_free (d->unreachable);
  g_clear_object (&d->internal);
  g_object_unref (d->self);
  g_free (d->key);
  g_free (d);
}

static void
dial_timeout (gpointer user_data)
{
  DialData *d = user_data;

  d->timer_id = 0;
  d->timed_out = TRUE;
  g_cancellable_cancel (d->internal);
}

static gboolean
user_cancelled (GCancellable *cancellable, gpointer user_data)
{
  DialData *d = user_data;

  g_cancellable_cancel (d->internal);
  return G_SOURCE_REMOVE;
}

static void
dial_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  DialData *d = g_task_get_task_data (task);
  GError *error = NULL;
  P2pConnection *conn = p2p_quic_connection_dial_finish (result, &error);

  if (conn) {
    Remote *r = d->self->remotes ? g_hash_table_lookup (d->self->remotes, d->key) : NULL;

    if (r && P2P_PACKET_PATH (r->path) == p2p_quic_connection_get_path (P2P_QUIC_CONNECTION (conn)))
      g_weak_ref_set (&r->conn, conn);
    g_task_return_pointer (task, conn, g_object_unref);
  } else if (d->unreachable) {
    g_clear_error (&error);
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "connecting to %s: %s (ICMP unreachable): is the peer listening there?",
        d->key, d->unreachable);
  } else if (d->timed_out) {
    g_clear_error (&error);
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_TIMEOUT,
        "no QUIC answer from %s within %" G_GUINT64_FORMAT " ms: is the peer listening "
        "there and is UDP not blocked?", d->key, d->timeout_ns / 1000000);
  } else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_task_return_error (task, error);
  } else {
    g_prefix_error (&error, "connecting to %s: ", d->key);
    g_task_return_error (task, error);
  }
  g_object_unref (task);
}

void
p2p_quic_endpoint_dial_async (P2pQuicEndpoint *self, GSocketAddress *remote,
    const P2pPeerId *peer, GCancellable *cancellable, GAsyncReadyCallback callback,
    gpointer user_data)
{
  GTask *task;
  DialData *d;
  Remote *r;
  P2pQuicSessionConfig cfg;

  g_return_if_fail (P2P_IS_QUIC_ENDPOINT (self));
  g_return_if_fail (G_IS_SOCKET_ADDRESS (remote));
  g_return_if_fail (peer != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_quic_endpoint_dial_async);
  d = g_new0 (DialData, 1);
  d->self = g_object_ref (self);
  d->key = address_key (remote);
  d->internal = g_cancellable_new ();
  g_task_set_task_data (task, d, dial_data_free);

  g_mutex_lock (&self->lock);
  if (self->closed) {
    g_mutex_unlock (&self->lock);
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_CLOSED,
        "cannot dial %s: the endpoint is closed", d->key);
    g_object_unref (task);
    return;
  }
  g_mutex_unlock (&self->lock);

  r = g_hash_table_lookup (self->remotes, d->key);
  if (r) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "already connected to %s over this socket (one connection per remote address)",
        d->key);
    g_object_unref (task);
    return;
  }
  r = remote_add (self, d->key, remote);
  g_hash_table_replace (self->dials, d->key, d);

  if (cancellable) {
    d->user_cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (d->user_cancel_source, G_SOURCE_FUNC (user_cancelled), d, NULL);
    g_source_attach (d->user_cancel_source, self->ctx);
  }
  d->timeout_ns = self->cfg.idle_timeout_ns ? self->cfg.idle_timeout_ns
      : 30 * G_GUINT64_CONSTANT (1000000000);
  d->timer_id = p2p_datagram_socket_add_timer (self->socket,
      p2p_datagram_socket_now (self->socket) + d->timeout_ns, dial_timeout, d);

  config_for_path (self, P2P_PACKET_PATH (r->path), &cfg);
  p2p_quic_connection_dial_async (P2P_PACKET_PATH (r->path), self->identity, peer, &cfg,
      d->internal, dial_done, task);
}

P2pConnection *
p2p_quic_endpoint_dial_finish (P2pQuicEndpoint *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------- listener */

static void
accept_cancelled (GCancellable *cancellable, gpointer user_data)
{
  P2pQuicEndpoint *self = user_data;

  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static P2pConnection *
endpoint_accept (P2pListener *listener, GCancellable *cancellable, GError **error)
{
  P2pQuicEndpoint *self = P2P_QUIC_ENDPOINT (listener);
  P2pConnection *conn = NULL;
  gulong id = 0;

  if (cancellable)
    id = g_cancellable_connect (cancellable, G_CALLBACK (accept_cancelled), self, NULL);
  g_mutex_lock (&self->lock);
  for (;;) {
    conn = g_queue_pop_head (&self->accept_queue);
    if (conn)
      break;
    if (self->closed) {
      g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CLOSED, "the listener is closed");
      break;
    }
    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      break;
    if (g_main_context_is_owner (self->ctx)) {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
          "p2p_listener_accept() would block on the network thread; use accept_async");
      break;
    }
    g_cond_wait (&self->cond, &self->lock);
  }
  g_mutex_unlock (&self->lock);
  if (id)
    g_cancellable_disconnect (cancellable, id);
  return conn;
}

typedef struct {
  P2pQuicEndpoint *self;
  AcceptWaiter *w;
} AcceptCancel;

static gboolean
accept_waiter_cancelled (GCancellable *cancellable, gpointer data)
{
  AcceptCancel *ac = data;
  gboolean found;

  g_mutex_lock (&ac->self->lock);
  found = g_queue_remove (&ac->self->accept_waiters, ac->w);
  g_mutex_unlock (&ac->self->lock);
  if (found) {
    g_task_return_error_if_cancelled (ac->w->task);
    g_clear_pointer (&ac->w->cancel_source, g_source_unref); /* being dispatched */
    accept_waiter_free (ac->w);
  }
  return G_SOURCE_REMOVE;
}

static void
accept_cancel_free (gpointer data)
{
  AcceptCancel *ac = data;

  g_object_unref (ac->self);
  g_free (ac);
}

static void
endpoint_accept_async (P2pListener *listener, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  P2pQuicEndpoint *self = P2P_QUIC_ENDPOINT (listener);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  P2pConnection *conn;
  gboolean closed;

  g_task_set_source_tag (task, endpoint_accept_async);
  if (g_task_return_error_if_cancelled (task)) {
    g_object_unref (task);
    return;
  }
  g_mutex_lock (&self->lock);
  conn = g_queue_pop_head (&self->accept_queue);
  closed = self->closed;
  if (conn == NULL && !closed) {
    AcceptWaiter *w = g_new0 (AcceptWaiter, 1);

    w->task = task;
    if (cancellable) {
      AcceptCancel *ac = g_new0 (AcceptCancel, 1);

      ac->self = g_object_ref (self);
      ac->w = w;
      w->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (w->cancel_source, G_SOURCE_FUNC (accept_waiter_cancelled), ac,
          accept_cancel_free);
      g_source_attach (w->cancel_source, self->ctx);
    }
    g_queue_push_tail (&self->accept_waiters, w);
    g_mutex_unlock (&self->lock);
    return;
  }
  g_mutex_unlock (&self->lock);
  if (conn)
    g_task_return_pointer (task, conn, g_object_unref);
  else
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_CLOSED, "the listener is closed");
  g_object_unref (task);
}

static P2pConnection *
endpoint_accept_finish (P2pListener *listener, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, listener), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static GSocketAddress *
endpoint_get_local_address (P2pListener *listener)
{
  return p2p_datagram_socket_get_local_address (P2P_QUIC_ENDPOINT (listener)->socket);
}

/* Non-loopback IPv4 addresses of this machine, then 127.0.0.1. */
static GPtrArray *
machine_addresses (void)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  struct ifaddrs *ifa = NULL;

  if (getifaddrs (&ifa) == 0) {
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
      g_autoptr (GInetAddress) ia = NULL;

      if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
        continue;
      if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
        continue;
      ia = g_inet_address_new_from_bytes (
          (const guint8 *) &((struct sockaddr_in *) i->ifa_addr)->sin_addr, G_SOCKET_FAMILY_IPV4);
      g_ptr_array_add (out, g_inet_address_to_string (ia));
    }
    freeifaddrs (ifa);
  }
  g_ptr_array_add (out, g_strdup ("127.0.0.1"));
  return out;
}

static char *
endpoint_get_ticket (P2pListener *listener)
{
  P2pQuicEndpoint *self = P2P_QUIC_ENDPOINT (listener);
  g_autoptr (P2pPeerInfo) info = p2p_peer_info_new (p2p_identity_get_peer_id (self->identity));
  g_autoptr (GSocketAddress) local = p2p_datagram_socket_get_local_address (self->socket);

  if (local && G_IS_INET_SOCKET_ADDRESS (local)) {
    GInetAddress *ia = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local));
    guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));

    if (g_inet_address_get_is_any (ia)) {
      g_autoptr (GPtrArray) addrs = machine_addresses ();

      for (guint i = 0; i < addrs->len; i++) {
        g_autofree char *hp = g_strdup_printf ("%s:%u", (char *) addrs->pdata[i], port);

        p2p_peer_info_add_address (info, hp, NULL);
      }
    } else {
      g_autofree char *hp = address_key (local);

      p2p_peer_info_add_address (info, hp, NULL);
    }
  }
  return p2p_peer_info_to_ticket (info);
}

static void
close_pending_net (P2pQuicEndpoint *self)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GPtrArray) conns = g_ptr_array_new_with_free_func (g_object_unref);

  g_hash_table_iter_init (&iter, self->remotes);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Remote *r = value;

    if (r->pending)
      g_ptr_array_add (conns, g_object_ref (r->pending));
  }
  for (guint i = 0; i < conns->len; i++)
    p2p_connection_close (conns->pdata[i], "listener closed");
}

static gboolean
close_pending_cb (gpointer data)
{
  close_pending_net (data);
  return G_SOURCE_REMOVE;
}

static void
endpoint_close_full (P2pQuicEndpoint *self, gboolean close_pending)
{
  GQueue q = G_QUEUE_INIT, waiters = G_QUEUE_INIT;
  P2pConnection *c;
  AcceptWaiter *w;

  g_mutex_lock (&self->lock);
  if (self->closed) {
    g_mutex_unlock (&self->lock);
    return;
  }
  self->closed = TRUE;
  self->accepting = FALSE;
  q = self->accept_queue;
  g_queue_init (&self->accept_queue);
  waiters = self->accept_waiters;
  g_queue_init (&self->accept_waiters);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  while ((w = g_queue_pop_head (&waiters))) {
    g_task_return_new_error (w->task, P2P_ERROR, P2P_ERROR_CLOSED, "the listener is closed");
    accept_waiter_free (w);
  }

  /* Never accepted: nobody else will ever close them. */
  while ((c = g_queue_pop_head (&q))) {
    p2p_connection_close (c, "listener closed");
    g_object_unref (c);
  }
  if (close_pending)
    g_main_context_invoke_full (self->ctx, G_PRIORITY_DEFAULT, close_pending_cb,
        g_object_ref (self), g_object_unref);
}

static void
endpoint_close (P2pListener *listener)
{
  endpoint_close_full (P2P_QUIC_ENDPOINT (listener), TRUE);
}

/* ------------------------------------------------------------- GObject */

typedef struct {
  P2pDatagramSocket *socket;
  GHashTable *remotes;
} EndpointTeardown;

static gboolean
endpoint_teardown_cb (gpointer data)
{
  EndpointTeardown *t = data;

  p2p_datagram_socket_set_receive_func (t->socket, NULL, NULL, NULL);
  p2p_datagram_socket_set_unreachable_func (t->socket, NULL, NULL, NULL);
  g_hash_table_unref (t->remotes);
  p2p_datagram_socket_close (t->socket);
  g_object_unref (t->socket);
  g_free (t);
  return G_SOURCE_REMOVE;
}

static void
p2p_quic_endpoint_dispose (GObject *object)
{
  P2pQuicEndpoint *self = P2P_QUIC_ENDPOINT (object);

  /* Pending handshakes die with the table (their connections are dropped). */
  endpoint_close_full (self, FALSE);
  if (self->socket) {
    EndpointTeardown *t = g_new0 (EndpointTeardown, 1);

    t->socket = g_steal_pointer (&self->socket);
    t->remotes = g_steal_pointer (&self->remotes);
    if (g_main_context_is_owner (self->ctx)) {
      endpoint_teardown_cb (t);
    } else if (g_main_context_acquire (self->ctx)) {
      /* Nobody runs the context (its thread has stopped): tear down here. */
      endpoint_teardown_cb (t);
      g_main_context_release (self->ctx);
    } else {
      GSource *src = g_idle_source_new ();

      g_source_set_priority (src, G_PRIORITY_DEFAULT);
      g_source_set_callback (src, endpoint_teardown_cb, t, NULL);
      g_source_attach (src, self->ctx);
      g_source_unref (src);
    }
  }
  G_OBJECT_CLASS (p2p_quic_endpoint_parent_class)->dispose (object);
}

static void
p2p_quic_endpoint_finalize (GObject *object)
{
  P2pQuicEndpoint *self = P2P_QUIC_ENDPOINT (object);

  g_queue_clear_full (&self->accept_queue, g_object_unref);
  g_clear_pointer (&self->allowed, g_ptr_array_unref);
  g_queue_init (&self->rate_lru);     /* links are in the buckets */
  g_clear_pointer (&self->rate, g_hash_table_unref);
  g_clear_pointer (&self->adopted, g_ptr_array_unref);
  g_clear_pointer (&self->dials, g_hash_table_unref);
  g_clear_pointer (&self->counters, p2p_provider_counters_unref);
  g_clear_object (&self->identity);
  g_clear_pointer (&self->ctx, g_main_context_unref);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (p2p_quic_endpoint_parent_class)->finalize (object);
}

static void
p2p_quic_endpoint_class_init (P2pQuicEndpointClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  P2pListenerClass *listener_class = P2P_LISTENER_CLASS (klass);

  gobject_class->dispose = p2p_quic_endpoint_dispose;
  gobject_class->finalize = p2p_quic_endpoint_finalize;
  listener_class->accept = endpoint_accept;
  listener_class->accept_async = endpoint_accept_async;
  listener_class->accept_finish = endpoint_accept_finish;
  listener_class->get_local_address = endpoint_get_local_address;
  listener_class->get_ticket = endpoint_get_ticket;
  listener_class->close = endpoint_close;
}

static void
p2p_quic_endpoint_init (P2pQuicEndpoint *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->remotes = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, remote_free);
  self->dials = g_hash_table_new (g_str_hash, g_str_equal);
  self->max_connections = DEFAULT_MAX_CONNECTIONS;
  self->max_pending = DEFAULT_MAX_PENDING;
  self->rate = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, rate_bucket_free);
  g_queue_init (&self->rate_lru);
  self->handshake_rate = DEFAULT_HANDSHAKE_RATE;
  self->handshake_burst = DEFAULT_HANDSHAKE_BURST;
  self->adopted = g_ptr_array_new_with_free_func (weak_ref_free);
  self->retry_threshold = DEFAULT_RETRY_THRESHOLD;
  self->max_pending_per_ip = DEFAULT_MAX_PENDING_PER_IP;
  self->handshake_timeout_ns = P2P_QUIC_SERVER_HANDSHAKE_TIMEOUT_NS;
  if (sodium_init () < 0)
    g_error ("libsodium could not be initialised");
  randombytes_buf (self->retry_secret, sizeof (self->retry_secret));
}

P2pQuicEndpoint *
p2p_quic_endpoint_new (P2pDatagramSocket *socket, P2pIdentity *identity,
    const P2pQuicSessionConfig *cfg)
{
  P2pQuicEndpoint *self;
  GWeakRef *wr;

  g_return_val_if_fail (P2P_IS_DATAGRAM_SOCKET (socket), NULL);
  g_return_val_if_fail (P2P_IS_IDENTITY (identity), NULL);

  self = g_object_new (P2P_TYPE_QUIC_ENDPOINT, NULL);
  self->socket = g_object_ref (socket);
  self->identity = g_object_ref (identity);
  if (cfg)
    self->cfg = *cfg;
  else
    p2p_quic_session_config_init (&self->cfg);
  self->ctx = g_main_context_ref (p2p_datagram_socket_get_context (socket));
  wr = g_new0 (GWeakRef, 1);
  g_weak_ref_init (wr, self);
  p2p_datagram_socket_set_receive_func (socket, on_socket_receive, wr, weak_ref_free);
  wr = g_new0 (GWeakRef, 1);
  g_weak_ref_init (wr, self);
  p2p_datagram_socket_set_unreachable_func (socket, on_socket_unreachable, wr, weak_ref_free);
  return self;
}

void
p2p_quic_endpoint_set_accepting (P2pQuicEndpoint *self, gboolean accepting,
    GPtrArray *allowed_peers, guint max_connections)
{
  g_return_if_fail (P2P_IS_QUIC_ENDPOINT (self));

  g_mutex_lock (&self->lock);
  self->accepting = accepting && !self->closed;
  g_clear_pointer (&self->allowed, g_ptr_array_unref);
  if (allowed_peers)
    self->allowed = g_ptr_array_ref (allowed_peers);
  self->max_connections = max_connections ? max_connections : DEFAULT_MAX_CONNECTIONS;
  g_mutex_unlock (&self->lock);
}

void
p2p_quic_endpoint_set_handshake_rate (P2pQuicEndpoint *self, guint per_second, guint burst)
{
  g_return_if_fail (P2P_IS_QUIC_ENDPOINT (self));

  self->handshake_rate = per_second;
  self->handshake_burst = MAX (burst, 1);
  g_queue_init (&self->rate_lru);     /* links are in the buckets */
  g_hash_table_remove_all (self->rate);
}

void
p2p_quic_endpoint_set_handshake_limits (P2pQuicEndpoint *self, guint64 timeout_ns,
    guint max_pending, guint max_pending_per_ip, guint retry_threshold)
{
  g_return_if_fail (P2P_IS_QUIC_ENDPOINT (self));

  if (timeout_ns)
    self->handshake_timeout_ns = timeout_ns;
  if (max_pending_per_ip)
    self->max_pending_per_ip = max_pending_per_ip;
  if (retry_threshold)
    self->retry_threshold = retry_threshold;
  g_mutex_lock (&self->lock);
  if (max_pending)
    self->max_pending = max_pending;
  g_mutex_unlock (&self->lock);
}

guint
p2p_quic_endpoint_get_pending (P2pQuicEndpoint *self)
{
  ServerCount c;

  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), 0);
  if (self->remotes == NULL)
    return 0;
  count_server (self, NULL, &c);
  return c.pending;
}

guint64
p2p_quic_endpoint_get_retries_sent (P2pQuicEndpoint *self)
{
  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), 0);
  return self->retries_sent;
}

guint64
p2p_quic_endpoint_get_evicted (P2pQuicEndpoint *self)
{
  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), 0);
  return self->evicted;
}

gboolean
p2p_quic_endpoint_adopt (P2pQuicEndpoint *self, P2pConnection *conn, GError **error)
{
  AcceptWaiter *w;
  GWeakRef *wr;
  guint live;

  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), FALSE);
  g_return_val_if_fail (P2P_IS_CONNECTION (conn), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_mutex_lock (&self->lock);
  if (self->closed || !self->accepting) {
    g_mutex_unlock (&self->lock);
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CLOSED,
        "the listener is closed or not accepting");
    return FALSE;
  }
  /* the limit accept() applies: accepted, pending and adopted connections */
  live = self->n_server + count_adopted_locked (self);
  if (live >= self->max_connections) {
    guint max = self->max_connections;

    g_mutex_unlock (&self->lock);
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "the listener already has %u connections (max-connections %u)", live, max);
    return FALSE;
  }
  wr = g_new0 (GWeakRef, 1);
  g_weak_ref_init (wr, conn);
  g_ptr_array_add (self->adopted, wr);
  p2p_provider_counters_accepted (self->counters, conn);
  w = g_queue_pop_head (&self->accept_waiters);
  if (w == NULL) {
    g_queue_push_tail (&self->accept_queue, g_object_ref (conn));
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
    return TRUE;
  }
  g_mutex_unlock (&self->lock);
  g_task_return_pointer (w->task, g_object_ref (conn), g_object_unref);
  accept_waiter_free (w);
  return TRUE;
}

P2pDatagramSocket *
p2p_quic_endpoint_get_socket (P2pQuicEndpoint *self)
{
  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), NULL);
  return self->socket;
}

/* Counts this endpoint's accepts and refusals in @counters (set before it
 * accepts). */
void
p2p_quic_endpoint_set_counters (P2pQuicEndpoint *self, P2pProviderCounters *counters)
{
  g_return_if_fail (P2P_IS_QUIC_ENDPOINT (self));

  g_clear_pointer (&self->counters, p2p_provider_counters_unref);
  if (counters)
    self->counters = p2p_provider_counters_ref (counters);
}

guint64
p2p_quic_endpoint_get_dropped (P2pQuicEndpoint *self)
{
  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), 0);
  return self->dropped_garbage + self->dropped_limits;
}

void
p2p_quic_endpoint_shutdown (P2pQuicEndpoint *self, const GError *error)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GPtrArray) conns = g_ptr_array_new_with_free_func (g_object_unref);

  g_return_if_fail (P2P_IS_QUIC_ENDPOINT (self));
  if (self->remotes == NULL)
    return;
  g_hash_table_iter_init (&iter, self->remotes);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Remote *r = value;
    P2pQuicConnection *c = g_weak_ref_get (&r->conn);

    if (c)
      g_ptr_array_add (conns, c);
  }
  for (guint i = 0; i < conns->len; i++)
    p2p_quic_connection_abort (conns->pdata[i], error);
}
