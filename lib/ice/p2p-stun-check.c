/* p2p-stun-check.c: which STUN server of P2P_STUN_SERVERS answers.
 *
 * libnice 0.1.21's agent takes one STUN server (see p2p-ice-servers.c). So
 * that a dead first server (its name resolves, nobody answers) does not
 * cost every dial its server-reflexive candidate, a list of two or more
 * servers is checked in the background: one Binding request to each
 * server, all at once, each from its own UDP socket, sent again at
 * RESEND_1_MS and RESEND_2_MS, answers awaited until
 * P2P_STUN_CHECK_WINDOW_MS. The result is the earliest-listed server that
 * answered within the window (list order, not the fastest one: the order
 * of P2P_STUN_SERVERS is the user's preference, and as the check is off
 * the dials' path, waiting out the window for an earlier server costs no
 * dial anything; when the first server answers, the check ends at once).
 * It is kept per process and list; a lookup more than
 * P2P_STUN_CHECK_TTL_S after the check ended starts another one and uses
 * the old result until it ends.
 *
 * Threads: a check runs on a thread of its own, on a private main context
 * (GSocket and timeout sources) that nothing else iterates: nothing is
 * attached to, or blocks, the network thread's context, and the check ends
 * by itself (host names resolved within P2P_ICE_RESOLVE_TIMEOUT_MS each,
 * then the window) whether or not the provider that started it is still
 * there. The results are behind a mutex.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-path-private.h"

#include <stun/stunagent.h>
#include <stun/usages/bind.h>

#include "p2p/p2p-peer-info.h"

#define RESEND_1_MS 100
#define RESEND_2_MS 300

/* What is known of one list (its entries joined by ","). */
typedef struct {
  gint64 ended_at;     /* monotonic µs when the last check ended; 0: none ended */
  gboolean running;
  int answer;          /* index of the server chosen; -1: none answered */
  char *ip;            /* its address (as checked) */
  guint16 port;
  guint took_ms;       /* duration of the last check, resolution included */
} Entry;

static GMutex lock;
static GHashTable *results;    /* char * → Entry *, under lock */
static guint n_running;        /* under lock */
static guint ttl_s = P2P_STUN_CHECK_TTL_S;

/* One server's Binding request. */
typedef struct {
  struct Check *check;
  char *ip;
  guint16 port;
  GSocket *socket;     /* connected: an ICMP refusal ends the probe */
  GSource *source;
  StunAgent agent;
  guint8 request[STUN_MAX_MESSAGE_SIZE_IPV4];
  gsize request_len;
  gboolean failed, answered;
} Probe;

typedef struct Check {
  char *key;
  char **servers;
  Probe *probes;
  guint n;
  gboolean done;
  int answer;
} Check;

static void
entry_free (Entry *e)
{
  g_free (e->ip);
  g_free (e);
}

/* Opens @p's socket towards its server and sends the request: FALSE (and
 * @p failed) if the entry does not resolve or the socket cannot be made. */
static gboolean
probe_open (Probe *p, const char *entry)
{
  g_autofree char *host = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) any = NULL;
  g_autoptr (GSocketAddress) local = NULL;
  g_autoptr (GSocketAddress) remote = NULL;
  StunMessage msg;

  if (!p2p_parse_host_port (entry, &host, &p->port, &error)
      || !(p->ip = p2p_ice_resolve_ip (host, "STUN server", &error))) {
    g_debug ("stun check: %s: %s", entry, error->message);
    return FALSE;
  }
  remote = g_inet_socket_address_new_from_string (p->ip, p->port);
  if (!remote)
    return FALSE;
  p->socket = g_socket_new (g_socket_address_get_family (remote), G_SOCKET_TYPE_DATAGRAM,
      G_SOCKET_PROTOCOL_UDP, &error);
  if (p->socket) {
    any = g_inet_address_new_any (g_socket_address_get_family (remote));
    local = g_inet_socket_address_new (any, 0);
  }
  if (!p->socket || !g_socket_bind (p->socket, local, FALSE, &error)
      || !g_socket_connect (p->socket, remote, NULL, &error)) {
    g_debug ("stun check: %s: %s", entry, error->message);
    return FALSE;
  }
  stun_agent_init (&p->agent, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389, 0);
  p->request_len = stun_usage_bind_create (&p->agent, &msg, p->request, sizeof p->request);
  return p->request_len > 0;
}

/* Decides once the earliest-listed server that can still answer did, or
 * at the end of the window (@final). */
static void
check_decide (Check *c, gboolean final)
{
  for (guint i = 0; i < c->n && !c->done; i++) {
    if (c->probes[i].answered) {
      c->answer = i;
      c->done = TRUE;
    } else if (!c->probes[i].failed && !final) {
      return;
    }
  }
  c->done = TRUE;
}

static void
probe_send (Probe *p)
{
  g_autoptr (GError) error = NULL;

  if (p->failed || p->answered)
    return;
  if (g_socket_send (p->socket, (const char *) p->request, p->request_len, NULL, &error) < 0
      && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
    g_debug ("stun check: %s:%u: %s", p->ip, p->port, error->message);
    p->failed = TRUE;
  }
}

static gboolean
on_readable (GSocket *socket, GIOCondition cond, gpointer data)
{
  Probe *p = data;
  guint8 buf[STUN_MAX_MESSAGE_SIZE_IPV6];

  while (!p->failed && !p->answered) {
    g_autoptr (GError) error = NULL;
    gssize n = g_socket_receive (socket, (char *) buf, sizeof buf, NULL, &error);
    StunMessage msg;
    struct sockaddr_storage mapped, alt;
    socklen_t mapped_len = sizeof mapped, alt_len = sizeof alt;

    if (n < 0) {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return G_SOURCE_CONTINUE;
      g_debug ("stun check: %s:%u: %s", p->ip, p->port, error->message);
      p->failed = TRUE;
      break;
    }
    if (stun_agent_validate (&p->agent, &msg, buf, n, NULL, NULL) != STUN_VALIDATION_SUCCESS)
      continue;
    /* an error response (or "try another server") is an answer that gives
     * no address: the server is of no use to the agent */
    if (stun_usage_bind_process (&msg, (struct sockaddr *) &mapped, &mapped_len,
            (struct sockaddr *) &alt, &alt_len) == STUN_USAGE_BIND_RETURN_SUCCESS)
      p->answered = TRUE;
    else
      p->failed = TRUE;
  }
  check_decide (p->check, FALSE);
  g_clear_pointer (&p->source, g_source_unref);
  return G_SOURCE_REMOVE;
}

static gboolean
on_resend (gpointer data)
{
  Check *c = data;

  for (guint i = 0; i < c->n; i++)
    probe_send (&c->probes[i]);
  check_decide (c, FALSE);
  return G_SOURCE_REMOVE;
}

static gboolean
on_window_end (gpointer data)
{
  check_decide (data, TRUE);
  return G_SOURCE_REMOVE;
}

static GSource *
add_timeout (GMainContext *ctx, guint ms, GSourceFunc func, Check *c)
{
  GSource *s = g_timeout_source_new (ms);

  g_source_set_callback (s, func, c, NULL);
  g_source_attach (s, ctx);
  return s;
}

static void
check_run (Check *c)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  GSource *timers[3];

  g_main_context_push_thread_default (ctx);
  /* every name resolved first, so that the window is the same for all */
  for (guint i = 0; i < c->n; i++) {
    Probe *p = &c->probes[i];

    p->check = c;
    p->failed = !probe_open (p, c->servers[i]);
  }
  for (guint i = 0; i < c->n; i++) {
    Probe *p = &c->probes[i];

    probe_send (p);
    if (p->failed)
      continue;
    p->source = g_socket_create_source (p->socket, G_IO_IN | G_IO_ERR, NULL);
    g_source_set_callback (p->source, G_SOURCE_FUNC (on_readable), p, NULL);
    g_source_attach (p->source, ctx);
  }
  timers[0] = add_timeout (ctx, RESEND_1_MS, on_resend, c);
  timers[1] = add_timeout (ctx, RESEND_2_MS, on_resend, c);
  timers[2] = add_timeout (ctx, P2P_STUN_CHECK_WINDOW_MS, on_window_end, c);
  check_decide (c, FALSE);
  /* ends: an answer decides, or the window timer does */
  while (!c->done)
    g_main_context_iteration (ctx, TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (timers); i++) {
    g_source_destroy (timers[i]);
    g_source_unref (timers[i]);
  }
  for (guint i = 0; i < c->n; i++) {
    Probe *p = &c->probes[i];

    if (p->source) {
      g_source_destroy (p->source);
      g_clear_pointer (&p->source, g_source_unref);
    }
    g_clear_object (&p->socket);
  }
  g_main_context_pop_thread_default (ctx);
}

static void
check_free (Check *c)
{
  for (guint i = 0; i < c->n; i++)
    g_free (c->probes[i].ip);
  g_free (c->probes);
  g_strfreev (c->servers);
  g_free (c->key);
  g_free (c);
}

static gpointer
check_thread (gpointer data)
{
  Check *c = data;
  gint64 t0 = g_get_monotonic_time ();
  Entry *e;

  check_run (c);
  /* told before the result is visible (a test waits for it) */
  if (c->answer < 0)
    g_message ("no STUN server of P2P_STUN_SERVERS=%s answered a Binding request within "
        "%u ms; dials give libnice the first one whose name resolves", c->key,
        P2P_STUN_CHECK_WINDOW_MS);
  else if (c->answer > 0)
    g_message ("STUN server %s did not answer within %u ms; dials use %s (entry %d of "
        "P2P_STUN_SERVERS)", c->servers[0], P2P_STUN_CHECK_WINDOW_MS, c->servers[c->answer],
        c->answer + 1);
  else
    g_debug ("stun check: %s answered", c->servers[0]);
  g_mutex_lock (&lock);
  e = g_hash_table_lookup (results, c->key);
  e->running = FALSE;
  e->ended_at = g_get_monotonic_time ();
  e->took_ms = (e->ended_at - t0) / 1000;
  e->answer = c->answer;
  g_clear_pointer (&e->ip, g_free);
  if (c->answer >= 0) {
    e->ip = g_strdup (c->probes[c->answer].ip);
    e->port = c->probes[c->answer].port;
  }
  n_running--;
  g_mutex_unlock (&lock);
  check_free (c);
  return NULL;
}

gboolean
p2p_ice_stun_check_lookup (const char *const *servers, char **ip, guint16 *port)
{
  g_autofree char *key = NULL;
  gboolean stale, found = FALSE;
  Entry *e;

  if (!servers || !servers[0] || !servers[1])
    return FALSE;
  key = g_strjoinv (",", (char **) servers);
  g_mutex_lock (&lock);
  if (!results)
    results = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
        (GDestroyNotify) entry_free);
  e = g_hash_table_lookup (results, key);
  if (!e) {
    e = g_new0 (Entry, 1);
    e->answer = -1;
    g_hash_table_insert (results, g_strdup (key), e);
  }
  stale = e->ended_at == 0 || g_get_monotonic_time () - e->ended_at >= ttl_s * G_USEC_PER_SEC;
  if (stale && !e->running) {
    Check *c = g_new0 (Check, 1);
    g_autoptr (GError) error = NULL;
    GThread *thread;

    c->key = g_strdup (key);
    c->servers = g_strdupv ((char **) servers);
    c->n = g_strv_length (c->servers);
    c->probes = g_new0 (Probe, c->n);
    c->answer = -1;
    thread = g_thread_try_new ("p2p-stun-check", check_thread, c, &error);
    if (thread) {
      g_thread_unref (thread);
      e->running = TRUE;
      n_running++;
    } else {
      g_message ("STUN servers not checked: %s", error->message);
      check_free (c);
    }
  }
  if (e->ip) {
    found = TRUE;
    if (ip)
      *ip = g_strdup (e->ip);
    if (port)
      *port = e->port;
  }
  g_mutex_unlock (&lock);
  return found;
}

void
p2p_ice_check_stun_servers (const P2pConfig *config)
{
  p2p_ice_stun_check_lookup ((const char *const *) config->stun_servers, NULL, NULL);
}

gboolean
p2p_ice_stun_check_busy_for_testing (void)
{
  g_mutex_lock (&lock);
  gboolean busy = n_running > 0;
  g_mutex_unlock (&lock);
  return busy;
}

int
p2p_ice_stun_check_result_for_testing (const char *const *servers, guint *took_ms)
{
  g_autofree char *key = g_strjoinv (",", (char **) servers);
  int answer = -2;

  g_mutex_lock (&lock);
  Entry *e = results ? g_hash_table_lookup (results, key) : NULL;
  if (e && e->ended_at) {
    answer = e->answer;
    if (took_ms)
      *took_ms = e->took_ms;
  }
  g_mutex_unlock (&lock);
  return answer;
}

void
p2p_ice_stun_check_reset_for_testing (guint ttl)
{
  g_mutex_lock (&lock);
  ttl_s = ttl ? ttl : P2P_STUN_CHECK_TTL_S;
  if (results && n_running == 0)
    g_clear_pointer (&results, g_hash_table_unref);
  g_mutex_unlock (&lock);
}
