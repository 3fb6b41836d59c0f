/* p2p-quic-endpoint-admission.c: which client Initials from new remotes
 * may start a server handshake on a P2pQuicEndpoint (net thread), and the
 * limits' setters and counters. Turned away Initials are refused (counted
 * by reason in the provider's counters) or answered with a Retry.
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
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-endpoint-private.h"

#include <sodium.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_MAX_PENDING 64
#define DEFAULT_MAX_PENDING_PER_IP 16
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
  P2pTokenBucket bucket;
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

/* An Initial turned away by a limit (net thread): counted here and, by
 * @reason, in the provider's counters. */
static void
refuse (P2pQuicEndpoint *self, const char *reason)
{
  self->dropped_limits++;
  p2p_provider_counters_refused (self->counters, reason);
}

/* --------------------------------------------------------- limit keys */

char *
p2p_address_limit_key_from_text (const char *hostport)
{
  g_autofree char *ip = NULL;
  g_autoptr (GInetAddress) ia = NULL;
  g_autoptr (GSocketAddress) sa = NULL;
  const char *end;

  if (hostport == NULL)
    return NULL;
  if (hostport[0] == '[') {
    end = strchr (hostport, ']');
    if (end == NULL)
      return NULL;
    ip = g_strndup (hostport + 1, end - hostport - 1);
  } else {
    gsize n = strcspn (hostport, " ");

    end = g_strrstr_len (hostport, n, ":");
    ip = g_strndup (hostport, end ? (gsize) (end - hostport) : n);
  }
  ia = g_inet_address_new_from_string (ip);
  if (ia == NULL)
    return NULL;
  sa = g_inet_socket_address_new (ia, 0);
  return p2p_address_limit_key (sa);
}

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

/* ----------------------------------------------------- handshake limits */

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
    b->ip = g_steal_pointer (&ip);
    b->link.data = b;
    g_hash_table_insert (self->rate, b->ip, b);
  } else {
    g_queue_unlink (&self->rate_lru, &b->link);
  }
  g_queue_push_tail_link (&self->rate_lru, &b->link);
  return p2p_token_bucket_take (&b->bucket, now, self->handshake_rate, self->handshake_burst);
}

gboolean
p2p_token_bucket_ready (P2pTokenBucket *b, guint64 now_ns, guint rate, guint burst)
{
  if (!b->started) {
    b->tokens = burst;
    b->last_ns = now_ns;
    b->started = TRUE;
  } else if (now_ns > b->last_ns) {
    b->tokens = MIN ((double) burst, b->tokens + (now_ns - b->last_ns) / 1e9 * rate);
    b->last_ns = now_ns;
  }
  return b->tokens >= 1.0;
}

gboolean
p2p_token_bucket_take (P2pTokenBucket *b, guint64 now_ns, guint rate, guint burst)
{
  if (!p2p_token_bucket_ready (b, now_ns, rate, burst))
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

/* Answers a client Initial with CONNECTION_CLOSE (CONNECTION_REFUSED,
 * @reason), within the budget of stateless answers (smaller than the
 * Initial: no amplification). */
static void
send_refusal (P2pQuicEndpoint *self, GSocketAddress *from, const guint8 *data, gsize len,
    const char *reason)
{
  guint64 now = p2p_datagram_socket_now (self->socket);
  guint8 out[256];
  gsize n;

  if (!p2p_token_bucket_take (&self->reset_budget, now, P2P_QUIC_STATELESS_RATE,
          P2P_QUIC_STATELESS_RATE))
    return;
  n = p2p_quic_refusal_write (data, len, reason, out, sizeof out);
  if (n > 0)
    p2p_datagram_socket_send_to (self->socket, from, out, n, NULL);
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

typedef struct {
  guint n;                      /* live connections from one host */
  Remote *oldest;
} HostCount;

/* Full of established connections (net thread): so that one host cannot
 * hold every slot (64 idle connections kept up by keepalives locked
 * everyone else out, found in security review), a host with at least two
 * fewer connections than the host holding the most takes that one's oldest:
 * it is closed ("connection limit: ..."), the newcomer admitted. Only for
 * an address proved by our Retry token (else a Retry is sent: spoofed
 * Initials must not close anyone's connection). TRUE when room was made;
 * FALSE when the Initial was answered or dropped. Several hosts behind one
 * NAT count as one host. */
static gboolean
make_room_for_host (P2pQuicEndpoint *self, const char *key, const char *ip,
    GSocketAddress *from, const guint8 *data, gsize len)
{
  g_autoptr (GHashTable) hosts = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_autoptr (P2pQuicConnection) victim_conn = NULL;
  guint8 odcid[P2P_QUIC_MAX_CID_LEN];
  gsize odcid_len;
  GHashTableIter iter;
  gpointer value;
  HostCount *top = NULL, *mine;

  if (ip == NULL)
    return FALSE;
  /* live connections per host, and the oldest of each */
  g_hash_table_iter_init (&iter, self->remotes);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Remote *r = value;
    g_autoptr (P2pQuicConnection) conn = NULL;
    HostCount *h;

    if (!r->server || r->pending || r->alias || r->ip == NULL)
      continue;
    conn = g_weak_ref_get (&r->conn);
    /* (one already closing frees its slot soon: not counted) */
    if (conn == NULL || !p2p_connection_is_connected (P2P_CONNECTION (conn)))
      continue;
    h = g_hash_table_lookup (hosts, r->ip);
    if (h == NULL) {
      h = g_new0 (HostCount, 1);
      g_hash_table_insert (hosts, r->ip, h);
    }
    h->n++;
    if (h->oldest == NULL || r->seq < h->oldest->seq)
      h->oldest = r;
  }
  g_hash_table_iter_init (&iter, hosts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (top == NULL || ((HostCount *) value)->n > top->n)
      top = value;
  mine = g_hash_table_lookup (hosts, ip);
  if (top == NULL || top->n < (mine ? mine->n : 0) + 2)
    return FALSE;
  /* a proved address only: without our token this sends a Retry */
  if (!validate_address (self, key, from, data, len, G_MAXUINT, odcid, &odcid_len)
      || odcid_len == G_MAXSIZE)
    return FALSE;
  victim_conn = g_weak_ref_get (&top->oldest->conn);
  g_message ("connection limit reached: closing the oldest of the %u connections from %s "
      "to admit one from %s", top->n, top->oldest->ip, ip);
  self->evicted_established++;
  p2p_connection_close (P2P_CONNECTION (victim_conn),
      "connection limit reached: room made for another host");
  return TRUE;
}

void
p2p_quic_endpoint_accept_initial (P2pQuicEndpoint *self, const char *key, GSocketAddress *from,
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
  gboolean room_made = FALSE;

  g_mutex_lock (&self->lock);
  if (!self->accepting || self->closed) {
    gboolean listened = self->accepted_once;

    g_mutex_unlock (&self->lock);
    self->dropped_garbage++;
    g_debug ("%s: client Initial refused (not accepting)", key);
    /* the dialer learns it at once instead of after its connect timeout
     * (a player whose server stopped serving but kept its socket) */
    if (listened)
      send_refusal (self, from, data, len, "this peer is not accepting connections");
    return;
  }
  max_conn = self->max_connections;
  max_pending = self->max_pending;
  adopted = p2p_quic_endpoint_count_adopted_locked (self);
  allowed = self->allowed ? g_ptr_array_ref (self->allowed) : NULL;
  g_mutex_unlock (&self->lock);
  ip = p2p_address_limit_key (from);
  count_server (self, ip, &c);
  if (c.live - c.pending + adopted >= max_conn) {
    if (!(room_made = make_room_for_host (self, key, ip, from, data, len))) {
      g_debug ("%s: client Initial dropped (%u connections)", key,
          c.live - c.pending + adopted);
      refuse (self, "connection-limit");
      return;
    }
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
  if (c.pending >= max_pending || (!room_made && c.live + adopted >= max_conn)) {
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

  r = p2p_quic_endpoint_remote_add (self, key, from);
  r->ip = g_steal_pointer (&ip);
  r->seq = ++self->handshake_seq;
  r->started = p2p_datagram_socket_now (self->socket);
  p2p_quic_endpoint_config_for_path (self, P2P_PACKET_PATH (r->path), &cfg);
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
      G_CALLBACK (p2p_quic_endpoint_on_server_established), r);
}

/* ------------------------------------------------- setters and counters */

void
p2p_quic_endpoint_admission_init (P2pQuicEndpoint *self)
{
  self->max_pending = DEFAULT_MAX_PENDING;
  self->rate = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, rate_bucket_free);
  g_queue_init (&self->rate_lru);
  self->handshake_rate = DEFAULT_HANDSHAKE_RATE;
  self->handshake_burst = DEFAULT_HANDSHAKE_BURST;
  self->retry_threshold = DEFAULT_RETRY_THRESHOLD;
  self->max_pending_per_ip = DEFAULT_MAX_PENDING_PER_IP;
  self->handshake_timeout_ns = P2P_QUIC_SERVER_HANDSHAKE_TIMEOUT_NS;
  if (sodium_init () < 0)
    g_error ("libsodium could not be initialised");
  randombytes_buf (self->retry_secret, sizeof (self->retry_secret));
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
p2p_quic_endpoint_get_resets_sent (P2pQuicEndpoint *self)
{
  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), 0);
  return self->resets_sent;
}

guint64
p2p_quic_endpoint_get_evicted (P2pQuicEndpoint *self)
{
  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), 0);
  return self->evicted;
}

guint64
p2p_quic_endpoint_get_evicted_established (P2pQuicEndpoint *self)
{
  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), 0);
  return self->evicted_established;
}
