/* p2p-ice-servers.c: the STUN and TURN servers of a P2pIcePath: relay
 * URLs (turn://...), host names resolved within a bound (libnice takes
 * only IP addresses), and the agent's server configuration.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-path-private.h"

#include <string.h>

#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-info.h"

/* Bound of one host name lookup of a STUN or TURN server. */
static guint resolve_timeout_ms = P2P_ICE_RESOLVE_TIMEOUT_MS;

void
p2p_ice_set_resolve_timeout_for_testing (guint ms)
{
  resolve_timeout_ms = ms ? ms : P2P_ICE_RESOLVE_TIMEOUT_MS;
}

typedef struct {
  gboolean done;
  GList *addresses;
  GError *error;
} Lookup;

static void
lookup_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Lookup *l = user_data;

  l->addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &l->error);
  l->done = TRUE;
}

static gboolean
lookup_timeout (gpointer cancellable)
{
  g_cancellable_cancel (cancellable);
  return G_SOURCE_REMOVE;
}

/* libnice wants IP addresses. The lookup runs on a private main context so
 * that a resolver that never answers costs the bound, not a hang. */
char *
p2p_ice_resolve_ip (const char *host, const char *what, GError **error)
{
  g_autoptr (GInetAddress) addr = g_inet_address_new_from_string (host);
  g_autoptr (GResolver) resolver = NULL;
  g_autoptr (GMainContext) ctx = NULL;
  g_autoptr (GCancellable) cancel = NULL;
  g_autoptr (GSource) timer = NULL;
  Lookup l = { 0 };
  char *ip;

  if (addr)
    return g_strdup (host);

  resolver = g_resolver_get_default ();
  ctx = g_main_context_new ();
  cancel = g_cancellable_new ();
  timer = g_timeout_source_new (resolve_timeout_ms);
  g_source_set_callback (timer, lookup_timeout, cancel, NULL);
  g_source_attach (timer, ctx);
  g_main_context_push_thread_default (ctx);
  g_resolver_lookup_by_name_async (resolver, host, cancel, lookup_done, &l);
  /* ends: the lookup answers, or the timer cancels it (GResolver then
   * completes at once with CANCELLED) */
  while (!l.done)
    g_main_context_iteration (ctx, TRUE);
  g_main_context_pop_thread_default (ctx);
  g_source_destroy (timer);

  if (l.addresses == NULL) {
    if (g_error_matches (l.error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "%s host \"%s\" could not be resolved within %u ms (the DNS resolver did not answer)",
          what, host, resolve_timeout_ms);
    else
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "%s host \"%s\" cannot be resolved: %s", what, host,
          l.error ? l.error->message : "no address");
    g_clear_error (&l.error);
    return NULL;
  }
  ip = g_inet_address_to_string (l.addresses->data);
  g_resolver_free_addresses (l.addresses);
  return ip;
}

gboolean
p2p_ice_parse_turn_url (const char *url, char **user, char **pass, char **host,
    guint16 *port, gboolean *tcp, GError **error)
{
  g_return_val_if_fail (url != NULL, FALSE);

  const char *usage = "expected turn://USER:PASS@HOST:PORT[?transport=udp|tcp]";
  /* errors quote the URL without its password */
  g_autofree char *shown = p2p_config_redact_urls (url);
  if (!g_str_has_prefix (url, "turn://")) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "relay server \"%s\": %s", shown, usage);
    return FALSE;
  }
  const char *rest = url + strlen ("turn://");
  const char *at = strrchr (rest, '@');
  if (!at) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "relay server \"%s\": missing USER:PASS@ (TURN needs credentials); %s", shown, usage);
    return FALSE;
  }
  g_autofree char *cred = g_strndup (rest, at - rest);
  const char *colon = strchr (cred, ':');
  if (!colon || colon == cred) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "relay server \"%s\": credentials must be USER:PASS; %s", shown, usage);
    return FALSE;
  }
  const char *hp_start = at + 1;
  const char *query = strchr (hp_start, '?');
  g_autofree char *hp = query ? g_strndup (hp_start, query - hp_start) : g_strdup (hp_start);
  gboolean is_tcp = FALSE;
  if (query) {
    if (g_str_equal (query, "?transport=tcp"))
      is_tcp = TRUE;
    else if (!g_str_equal (query, "?transport=udp")) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "relay server \"%s\": unknown option \"%s\"; %s", shown, query + 1, usage);
      return FALSE;
    }
  }
  g_autofree char *h = NULL;
  guint16 p = 0;
  g_autoptr (GError) local = NULL;
  if (!p2p_parse_host_port (hp, &h, &p, &local)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "relay server \"%s\": %s", shown, local ? local->message : usage);
    return FALSE;
  }
  if (user)
    *user = g_uri_unescape_segment (cred, colon, NULL);
  if (pass)
    *pass = g_uri_unescape_string (colon + 1, NULL);
  if (host)
    *host = g_steal_pointer (&h);
  if (port)
    *port = p;
  if (tcp)
    *tcp = is_tcp;
  return TRUE;
}

static void
note_loopback (P2pIcePath *self, const char *ip)
{
  g_autoptr (GInetAddress) a = g_inet_address_new_from_string (ip);
  if (a && g_inet_address_get_is_loopback (a) && !self->loopback_server)
    self->loopback_server = g_strdup (ip);
}

/* libnice's agent takes one STUN server: libnice 0.1.21's NiceAgent has a
 * single "stun-server" / "stun-server-port" pair, sends its Binding
 * requests (from every host candidate) to that one server, and gathers a
 * stream only once; a second server in the same dial would need the stream
 * removed, added and gathered again after the first one's Binding requests
 * went unanswered (about 2 s of retransmissions), not built. Instead every
 * server of the list is a fallback chosen before the dial: a list of two or
 * more is checked in the background (p2p-stun-check.c: a Binding request
 * to each at once, 500 ms), and the agent gets the earliest listed server
 * that answered. Until that check has ended (the first dial of a process,
 * usually), or when no server answered, the agent gets the first server
 * whose name resolves, as with one server (one that cannot be looked up is
 * skipped, with a message). A malformed entry is an error, wherever it is
 * in the list. A TURN server of P2P_RELAY_SERVERS (all of them are used)
 * gives the server-reflexive candidate too. */
static gboolean
configure_stun (P2pIcePath *self, const P2pConfig *config, GError **error)
{
  const char *const *servers = (const char *const *) config->stun_servers;
  g_autofree char *ip = NULL;
  guint16 port = 0;

  for (guint i = 0; servers && servers[i]; i++) {
    g_autoptr (GError) local = NULL;

    if (!p2p_parse_host_port (servers[i], NULL, NULL, &local)) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "STUN server \"%s\" (P2P_STUN_SERVERS): %s", servers[i], local->message);
      return FALSE;
    }
  }
  if (p2p_ice_stun_check_lookup (servers, &ip, &port))
    g_debug ("ice: STUN server %s:%u (answered the last check)", ip, port);
  for (guint i = 0; !ip && servers && servers[i]; i++) {
    g_autofree char *host = NULL;
    g_autoptr (GError) local = NULL;

    p2p_parse_host_port (servers[i], &host, &port, NULL);
    ip = p2p_ice_resolve_ip (host, "STUN server", &local);
    if (!ip && servers[i + 1]) {
      g_message ("%s; trying the next STUN server", local->message);
    } else if (!ip) {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  }
  if (ip) {
    g_object_set (self->agent, "stun-server", ip, "stun-server-port", (guint) port, NULL);
    note_loopback (self, ip);
    self->have_stun = TRUE;
  }
  return TRUE;
}

char *
p2p_ice_path_get_stun_server (P2pIcePath *self, guint *port)
{
  char *ip = NULL;
  guint p = 0;

  g_return_val_if_fail (P2P_IS_ICE_PATH (self), NULL);
  g_object_get (self->agent, "stun-server", &ip, "stun-server-port", &p, NULL);
  if (port)
    *port = p;
  return ip;
}

gboolean
p2p_ice_path_configure_servers (P2pIcePath *self, const P2pConfig *config, GError **error)
{
  if (!configure_stun (self, config, error))
    return FALSE;
  /* P2P_ICE_ADDRESSES: host candidates on these addresses only */
  for (guint i = 0; config->ice_addresses && config->ice_addresses[i]; i++)
    if (!p2p_ice_path_add_local_address (self, config->ice_addresses[i], error))
      return FALSE;

  for (guint i = 0; config->relay_servers && config->relay_servers[i]; i++) {
    g_autofree char *user = NULL, *pass = NULL, *host = NULL;
    guint16 port = 0;
    gboolean tcp = FALSE;
    if (!p2p_ice_parse_turn_url (config->relay_servers[i], &user, &pass, &host, &port, &tcp, error))
      return FALSE;
    g_autofree char *ip = p2p_ice_resolve_ip (host, "TURN server", error);
    if (!ip)
      return FALSE;
    if (!nice_agent_set_relay_info (self->agent, self->stream_id, 1, ip, port, user, pass,
            tcp ? NICE_RELAY_TYPE_TURN_TCP : NICE_RELAY_TYPE_TURN_UDP)) {
      g_autofree char *shown = p2p_config_redact_urls (config->relay_servers[i]);

      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "relay server \"%s\" was refused by libnice (bad address)", shown);
      return FALSE;
    }
    note_loopback (self, ip);
    if (tcp)
      g_object_set (self->agent, "ice-tcp", TRUE, NULL);
    /* No separate STUN binding to the TURN server: the Allocate response
     * carries XOR-MAPPED-ADDRESS, from which libnice makes the
     * server-reflexive candidate. A Binding request from the same socket
     * to the server holding our allocation was not answered usably by
     * coturn and held gathering for 2 s (stun-max-retransmissions). */
    self->have_relay = TRUE;
  }
  return TRUE;
}
