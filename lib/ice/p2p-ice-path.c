/* p2p-ice-path.c: P2pIcePath, a P2pPacketPath over one libnice ICE
 * component: candidate gathering (host, STUN, TURN), the relay policy,
 * connectivity checks with a bounded time, path kind from the selected pair.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-path.h"

#include <string.h>
#include <nice/agent.h>
#include <nice/interfaces.h>

#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-info.h"

#define MAX_REMOTE_CANDIDATES 64
#define MAX_CANDIDATE_LINE 512
#define MAX_CREDENTIAL_LEN 256
/* Datagrams held while the component has no selected pair yet. */
#define MAX_PENDING_SENDS 16

struct _P2pIcePath {
  P2pPacketPath parent_instance;

  GMainContext *context;
  NiceAgent *agent;
  guint stream_id;
  gboolean relay_only;
  gboolean have_relay;        /* at least one TURN server configured */
  gboolean have_stun;
  char *loopback_server;      /* a STUN/TURN server's loopback IP, or NULL */
  gboolean user_local;        /* p2p_ice_path_add_local_address() was called */
  gboolean closed;
  gboolean gathering_started;
  gboolean gathered;
  gboolean have_remote;
  NiceComponentState state;
  P2pPathKind kind;
  char *peer_label;

  guint n_local, n_remote;
  guint remote_types;         /* bit per NiceCandidateType seen remotely */
  guint remote_skipped;

  gulong sig_gathering_done, sig_state_changed, sig_pair, sig_new_cand;

  GTask *gather_task;
  GTask *connect_task;
  GSource *connect_timeout;
  gulong gather_cancel_id, connect_cancel_id;

  GSource *timer;             /* path timer (P2pPacketPath set_timer) */
  GQueue pending;             /* GBytes*: sent before this side had a selected pair */
};

G_DEFINE_TYPE (P2pIcePath, p2p_ice_path, P2P_TYPE_PACKET_PATH)

/* ---- timer source: one ready time, microsecond precision ---- */

static gboolean
timer_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  g_source_set_ready_time (source, -1);
  return callback (user_data);
}

static GSourceFuncs timer_funcs = {
  .dispatch = timer_dispatch,
};

static gboolean
on_timer (gpointer user_data)
{
  P2pIcePath *self = user_data;
  if (!self->closed)
    p2p_packet_path_fire_timer (P2P_PACKET_PATH (self));
  return G_SOURCE_CONTINUE;
}

/* ---- helpers ---- */

static P2pPathKind
kind_of_pair (const NiceCandidate *l, const NiceCandidate *r)
{
  if ((l && l->type == NICE_CANDIDATE_TYPE_RELAYED) ||
      (r && r->type == NICE_CANDIDATE_TYPE_RELAYED))
    return P2P_PATH_KIND_RELAY;
  return P2P_PATH_KIND_DIRECT;
}

static gboolean
candidate_allowed (P2pIcePath *self, const NiceCandidate *c)
{
  if (self->relay_only)
    return c->type == NICE_CANDIDATE_TYPE_RELAYED;
  return TRUE;
}

/* Only UDP candidates reach libnice: the agent gathers none other (QUIC
 * runs on UDP), and libnice 0.1.21 asserts (a GLib critical, fatal under
 * G_DEBUG=fatal-criticals) on a TCP candidate without "tcptype". Its parser
 * splits on single spaces, the transport being the third token. */
static gboolean
candidate_line_is_udp (const char *line)
{
  if (!g_str_has_prefix (line, "a=candidate:"))
    return TRUE;   /* libnice refuses it by itself */
  g_auto (GStrv) tokens = g_strsplit (line + strlen ("a=candidate:"), " ", 4);
  return g_strv_length (tokens) < 3 || g_ascii_strcasecmp (tokens[2], "UDP") == 0;
}

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

/* Resolves @host to a numeric IP string (libnice wants IP addresses),
 * within resolve_timeout_ms: the lookup runs on a private main context so
 * that a resolver that never answers costs the bound, not a hang. */
static char *
resolve_ip (const char *host, const char *what, GError **error)
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

/* Names the candidate types that took part, e.g. "host, server-reflexive
 * and relayed". */
static char *
describe_types (guint types)
{
  const char *names[4];
  guint n = 0;
  if (types & (1u << NICE_CANDIDATE_TYPE_HOST))
    names[n++] = "host";
  if (types & (1u << NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE))
    names[n++] = "server-reflexive";
  if (types & (1u << NICE_CANDIDATE_TYPE_PEER_REFLEXIVE))
    names[n++] = "peer-reflexive";
  if (types & (1u << NICE_CANDIDATE_TYPE_RELAYED))
    names[n++] = "relayed";
  if (n == 0)
    return g_strdup ("no");
  GString *s = g_string_new (names[0]);
  for (guint i = 1; i < n; i++)
    g_string_append_printf (s, "%s%s", i + 1 == n ? " and " : ", ", names[i]);
  return g_string_free (s, FALSE);
}

static guint
local_types (P2pIcePath *self)
{
  guint types = 0;
  GSList *cands = nice_agent_get_local_candidates (self->agent, self->stream_id, 1);
  for (GSList *l = cands; l; l = l->next) {
    NiceCandidate *c = l->data;
    if (candidate_allowed (self, c))
      types |= 1u << c->type;
  }
  g_slist_free_full (cands, (GDestroyNotify) nice_candidate_free);
  return types;
}

static GError *
make_failure (P2pIcePath *self, const char *why)
{
  g_autofree char *types = describe_types (local_types (self) | self->remote_types);
  const char *hint;
  if (!self->have_relay)
    hint = "configure a TURN relay (P2P_RELAY_SERVERS=turn://USER:PASS@HOST:PORT) to reach peers behind symmetric NATs";
  else if (!(local_types (self) & (1u << NICE_CANDIDATE_TYPE_RELAYED)))
    hint = "the TURN server gave no relayed candidate: check the TURN server (address, port, credentials)";
  else
    hint = "check the TURN server";
  return g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
      "no path to peer %s: %s; tried %s candidates (%u local, %u remote); %s",
      self->peer_label ? self->peer_label : "(unnamed)", why, types,
      self->n_local, self->n_remote, hint);
}

/* Runs @func on the path's context from a fresh idle source: never inside
 * the GCancellable "cancelled" emission (disconnecting there deadlocks). */
static void
run_soon (P2pIcePath *self, GSourceFunc func)
{
  GSource *src = g_idle_source_new ();
  g_source_set_callback (src, func, g_object_ref (self), g_object_unref);
  g_source_attach (src, self->context);
  g_source_unref (src);
}

/* ---- gathering ---- */

static void
count_local (P2pIcePath *self)
{
  self->n_local = 0;
  GSList *cands = nice_agent_get_local_candidates (self->agent, self->stream_id, 1);
  for (GSList *l = cands; l; l = l->next)
    if (candidate_allowed (self, l->data))
      self->n_local++;
  g_slist_free_full (cands, (GDestroyNotify) nice_candidate_free);
}

static void
finish_gather (P2pIcePath *self, GError *error)
{
  GTask *task = g_steal_pointer (&self->gather_task);
  if (!task) {
    g_clear_error (&error);
    return;
  }
  GCancellable *c = g_task_get_cancellable (task);
  if (c && self->gather_cancel_id)
    g_cancellable_disconnect (c, self->gather_cancel_id);
  self->gather_cancel_id = 0;
  if (error)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
complete_gathering (P2pIcePath *self)
{
  self->gathered = TRUE;
  count_local (self);
  g_debug ("ice: gathering done, %u usable local candidates", self->n_local);
  if (self->n_local == 0 && self->relay_only)
    finish_gather (self, g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "relay-only policy but the TURN server gave no relayed candidate: check the TURN "
        "server (P2P_RELAY_SERVERS address, port, credentials)"));
  else if (self->n_local == 0)
    finish_gather (self, g_error_new (P2P_ERROR, P2P_ERROR_NETWORK,
        "no local ICE candidate could be gathered (no usable network interface)"));
  else
    finish_gather (self, NULL);
}

static void
on_gathering_done (NiceAgent *agent, guint stream_id, gpointer user_data)
{
  P2pIcePath *self = user_data;
  if (stream_id != self->stream_id || self->gathered)
    return;
  complete_gathering (self);
}

/* Gathering is good enough once the servers have answered: a relayed
 * candidate when a TURN server is configured (its Allocate response also
 * gave the server-reflexive one), else a server-reflexive candidate when a
 * STUN server is. libnice goes on with the other interfaces' requests, and
 * one that never gets an answer (a loopback server seen from another
 * interface, a firewalled one) would otherwise hold the offer or answer
 * for 2 s of STUN retransmissions. */
static void
on_new_candidate (NiceAgent *agent, NiceCandidate *c, gpointer user_data)
{
  P2pIcePath *self = user_data;
  if (c->stream_id != self->stream_id || self->gathered || !self->gather_task)
    return;
  gboolean enough;
  if (self->have_relay)
    enough = c->type == NICE_CANDIDATE_TYPE_RELAYED;
  else if (self->have_stun)
    enough = c->type == NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE;
  else
    enough = FALSE;   /* host candidates only: gathering-done comes at once */
  if (enough) {
    g_debug ("ice: first %s candidate, not waiting for the rest of gathering",
        nice_candidate_type_to_string (c->type));
    complete_gathering (self);
  }
}

static gboolean
gather_cancelled_idle (gpointer user_data)
{
  P2pIcePath *self = user_data;
  finish_gather (self, g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "gathering cancelled"));
  return G_SOURCE_REMOVE;
}

static void
on_gather_cancelled (GCancellable *c, gpointer user_data)
{
  P2pIcePath *self = user_data;
  run_soon (self, gather_cancelled_idle);
}

/* libnice gathers on non-loopback interfaces only, so a STUN/TURN server on
 * 127.0.0.1 (coturn on the same machine) would never be reached. With such
 * a server, and no addresses chosen by the caller, gather on the server's
 * loopback address as well as on every other interface. */
static void
add_loopback_for_servers (P2pIcePath *self)
{
  if (!self->loopback_server || self->user_local)
    return;
  GList *ips = nice_interfaces_get_local_ips (FALSE);
  ips = g_list_prepend (ips, g_strdup (self->loopback_server));
  for (GList *l = ips; l; l = l->next) {
    NiceAddress addr;
    nice_address_init (&addr);
    if (nice_address_set_from_string (&addr, l->data)) {
      g_debug ("ice: gathering on %s", (const char *) l->data);
      nice_agent_add_local_address (self->agent, &addr);
    }
  }
  g_list_free_full (ips, g_free);
}

void
p2p_ice_path_gather_async (P2pIcePath *self, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (P2P_IS_ICE_PATH (self));

  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_ice_path_gather_async);
  if (self->closed) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_CLOSED, "the ICE path is closed");
    return;
  }
  if (self->gathering_started || self->gather_task) {
    if (self->gathered && !self->gather_task) {
      g_task_return_boolean (task, TRUE);
      return;
    }
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "candidate gathering is already in progress");
    return;
  }
  self->gather_task = g_steal_pointer (&task);
  self->gathering_started = TRUE;
  add_loopback_for_servers (self);
  if (!nice_agent_gather_candidates (self->agent, self->stream_id)) {
    finish_gather (self, g_error_new (P2P_ERROR, P2P_ERROR_NETWORK,
        "could not allocate a local ICE candidate (no usable network interface or port)"));
    return;
  }
  if (cancellable && self->gather_task)
    self->gather_cancel_id = g_cancellable_connect (cancellable,
        G_CALLBACK (on_gather_cancelled), self, NULL);
}

gboolean
p2p_ice_path_gather_finish (P2pIcePath *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
p2p_ice_path_get_local_description (P2pIcePath *self, char **ufrag, char **pwd,
    GStrv *candidates)
{
  g_return_val_if_fail (P2P_IS_ICE_PATH (self), FALSE);
  if (!self->gathered)
    return FALSE;

  g_autofree char *u = NULL, *p = NULL;
  if (!nice_agent_get_local_credentials (self->agent, self->stream_id, &u, &p))
    return FALSE;

  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  GSList *cands = nice_agent_get_local_candidates (self->agent, self->stream_id, 1);
  for (GSList *l = cands; l; l = l->next) {
    NiceCandidate *c = l->data;
    if (!candidate_allowed (self, c))
      continue;
    g_autofree char *line = nice_agent_generate_local_candidate_sdp (self->agent, c);
    if (line) {
      g_debug ("ice: local %s", line);
      g_strv_builder_add (b, line);
    }
  }
  g_slist_free_full (cands, (GDestroyNotify) nice_candidate_free);

  if (ufrag)
    *ufrag = g_steal_pointer (&u);
  if (pwd)
    *pwd = g_steal_pointer (&p);
  if (candidates)
    *candidates = g_strv_builder_end (b);
  return TRUE;
}

static gboolean
valid_credential (const char *s)
{
  if (!s || !*s || strlen (s) > MAX_CREDENTIAL_LEN)
    return FALSE;
  for (const char *c = s; *c; c++)
    if (!g_ascii_isalnum (*c) && *c != '+' && *c != '/')
      return FALSE;
  return TRUE;
}

gboolean
p2p_ice_path_set_remote_description (P2pIcePath *self, const char *ufrag,
    const char *pwd, const char *const *candidates, GError **error)
{
  g_return_val_if_fail (P2P_IS_ICE_PATH (self), FALSE);

  if (self->closed) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "the ICE path is closed");
    return FALSE;
  }
  if (self->have_remote) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "the peer's ICE description was already set");
    return FALSE;
  }
  if (!valid_credential (ufrag) || !valid_credential (pwd)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "the peer's ICE description has a missing or malformed ufrag/pwd "
        "(1..%d characters of [A-Za-z0-9+/])", MAX_CREDENTIAL_LEN);
    return FALSE;
  }
  guint n = candidates ? g_strv_length ((char **) candidates) : 0;
  if (n > MAX_REMOTE_CANDIDATES) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "the peer sent %u ICE candidates; at most %d are accepted", n, MAX_REMOTE_CANDIDATES);
    return FALSE;
  }

  GSList *list = NULL;
  guint skipped = 0;
  for (guint i = 0; i < n; i++) {
    const char *line = candidates[i];
    if (strnlen (line, MAX_CANDIDATE_LINE + 1) > MAX_CANDIDATE_LINE) {
      g_slist_free_full (list, (GDestroyNotify) nice_candidate_free);
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "ICE candidate %u of the peer is longer than %d bytes", i, MAX_CANDIDATE_LINE);
      return FALSE;
    }
    NiceCandidate *c = candidate_line_is_udp (line)
        ? nice_agent_parse_remote_candidate_sdp (self->agent, self->stream_id, line) : NULL;
    if (!c || c->component_id != 1) {
      g_debug ("ice: skipping remote candidate \"%s\"", line);
      if (c)
        nice_candidate_free (c);
      skipped++;
      continue;
    }
    self->remote_types |= 1u << c->type;
    if (!candidate_allowed (self, c)) {
      nice_candidate_free (c);
      skipped++;
      continue;
    }
    list = g_slist_append (list, c);
  }
  self->remote_skipped = skipped;

  if (!nice_agent_set_remote_credentials (self->agent, self->stream_id, ufrag, pwd)) {
    g_slist_free_full (list, (GDestroyNotify) nice_candidate_free);
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "the peer's ICE credentials were refused");
    return FALSE;
  }
  self->have_remote = TRUE;
  self->n_remote = g_slist_length (list);
  if (list) {
    int added = nice_agent_set_remote_candidates (self->agent, self->stream_id, 1, list);
    if (added < 0)
      g_debug ("ice: remote candidates refused");
  }
  g_slist_free_full (list, (GDestroyNotify) nice_candidate_free);
  return TRUE;
}

/* ---- connectivity ---- */

static void
finish_connect (P2pIcePath *self, GError *error)
{
  GTask *task = g_steal_pointer (&self->connect_task);
  if (self->connect_timeout) {
    g_source_destroy (self->connect_timeout);
    g_clear_pointer (&self->connect_timeout, g_source_unref);
  }
  if (!task) {
    g_clear_error (&error);
    return;
  }
  GCancellable *c = g_task_get_cancellable (task);
  if (c && self->connect_cancel_id)
    g_cancellable_disconnect (c, self->connect_cancel_id);
  self->connect_cancel_id = 0;
  if (error)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
update_kind (P2pIcePath *self)
{
  NiceCandidate *l = NULL, *r = NULL;
  if (!nice_agent_get_selected_pair (self->agent, self->stream_id, 1, &l, &r))
    return;
  P2pPathKind kind = kind_of_pair (l, r);
  if (kind != self->kind) {
    self->kind = kind;
    g_debug ("ice: path kind now %s", p2p_path_kind_to_string (kind));
    p2p_packet_path_notify_kind_changed (P2P_PACKET_PATH (self));
  }
}

static gboolean usable (P2pIcePath *self);

/* Sends what ice_send() held back: with aggressive nomination the peer that
 * answered our nominating check is connected one round trip before we
 * are, and its first QUIC packet (the server's Initial) must not be lost:
 * QUIC would resend it only after a 1 s timeout. */
static void
flush_pending (P2pIcePath *self)
{
  GBytes *b;
  while (usable (self) && (b = g_queue_pop_head (&self->pending))) {
    gsize len;
    const gchar *data = g_bytes_get_data (b, &len);
    nice_agent_send (self->agent, self->stream_id, 1, len, data);
    g_bytes_unref (b);
  }
}

/* TRUE when datagrams can flow: READY, or CONNECTED with a selected pair. */
static gboolean
usable (P2pIcePath *self)
{
  NiceCandidate *l = NULL, *r = NULL;
  if (self->state == NICE_COMPONENT_STATE_READY)
    return TRUE;
  return self->state == NICE_COMPONENT_STATE_CONNECTED &&
      nice_agent_get_selected_pair (self->agent, self->stream_id, 1, &l, &r);
}

static void
on_state_changed (NiceAgent *agent, guint stream_id, guint component_id, guint state,
    gpointer user_data)
{
  P2pIcePath *self = user_data;
  if (stream_id != self->stream_id)
    return;
  self->state = state;
  g_debug ("ice: component state %s", nice_component_state_to_string (state));
  /* CONNECTED already has a selected (nominated) pair that carries data;
   * READY only follows once every higher-priority pair has finished, which
   * behind NATs means waiting out checks that never get an answer (2 s).
   * A better pair found later is reported through "kind-changed". */
  if (usable (self)) {
    update_kind (self);
    flush_pending (self);
    finish_connect (self, NULL);
  } else if (state == NICE_COMPONENT_STATE_FAILED) {
    finish_connect (self, make_failure (self, "connectivity checks failed"));
  }
}

static void
on_selected_pair (NiceAgent *agent, guint stream_id, guint component_id,
    NiceCandidate *lcand, NiceCandidate *rcand, gpointer user_data)
{
  P2pIcePath *self = user_data;
  if (stream_id != self->stream_id)
    return;
  P2pPathKind kind = kind_of_pair (lcand, rcand);
  g_debug ("ice: selected pair %s -> %s", nice_candidate_type_to_string (lcand->type),
      nice_candidate_type_to_string (rcand->type));
  if (kind != self->kind) {
    self->kind = kind;
    g_debug ("ice: selected pair changed, path kind now %s", p2p_path_kind_to_string (kind));
    p2p_packet_path_notify_kind_changed (P2P_PACKET_PATH (self));
  }
}

static gboolean
on_connect_timeout (gpointer user_data)
{
  P2pIcePath *self = user_data;
  g_clear_pointer (&self->connect_timeout, g_source_unref);
  finish_connect (self, make_failure (self, "no candidate pair answered in time"));
  return G_SOURCE_REMOVE;
}

static gboolean
connect_cancelled_idle (gpointer user_data)
{
  P2pIcePath *self = user_data;
  finish_connect (self, g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED,
      "ICE connectivity checks cancelled"));
  return G_SOURCE_REMOVE;
}

static void
on_connect_cancelled (GCancellable *c, gpointer user_data)
{
  P2pIcePath *self = user_data;
  run_soon (self, connect_cancelled_idle);
}

void
p2p_ice_path_connect_async (P2pIcePath *self, guint timeout_ms, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (P2P_IS_ICE_PATH (self));

  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_ice_path_connect_async);
  if (self->closed) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_CLOSED, "the ICE path is closed");
    return;
  }
  if (self->connect_task) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "ICE connectivity checks are already running");
    return;
  }
  if (!self->have_remote) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "the peer's ICE description must be set before connecting");
    return;
  }
  if (usable (self)) {
    g_task_return_boolean (task, TRUE);
    return;
  }
  self->connect_task = g_steal_pointer (&task);
  if (self->state == NICE_COMPONENT_STATE_FAILED) {
    finish_connect (self, make_failure (self, "connectivity checks failed"));
    return;
  }
  if (self->n_remote == 0) {
    finish_connect (self, make_failure (self,
        self->relay_only ? "the peer offered no relayed candidate (relay-only policy)"
                         : "the peer offered no usable candidate"));
    return;
  }
  self->connect_timeout = g_timeout_source_new (timeout_ms ? timeout_ms : P2P_ICE_PATH_DEFAULT_TIMEOUT_MS);
  g_source_set_callback (self->connect_timeout, on_connect_timeout, self, NULL);
  g_source_attach (self->connect_timeout, self->context);
  if (cancellable)
    self->connect_cancel_id = g_cancellable_connect (cancellable,
        G_CALLBACK (on_connect_cancelled), self, NULL);
}

gboolean
p2p_ice_path_connect_finish (P2pIcePath *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
p2p_ice_path_is_connected (P2pIcePath *self)
{
  g_return_val_if_fail (P2P_IS_ICE_PATH (self), FALSE);
  return !self->closed && (self->state == NICE_COMPONENT_STATE_READY ||
      self->state == NICE_COMPONENT_STATE_CONNECTED);
}

guint
p2p_ice_path_get_n_local_candidates (P2pIcePath *self)
{
  return self->n_local;
}

guint
p2p_ice_path_get_n_remote_candidates (P2pIcePath *self)
{
  return self->n_remote;
}

void
p2p_ice_path_set_peer_label (P2pIcePath *self, const char *label)
{
  g_return_if_fail (P2P_IS_ICE_PATH (self));
  g_free (self->peer_label);
  self->peer_label = g_strdup (label);
}

gboolean
p2p_ice_path_add_local_address (P2pIcePath *self, const char *ip, GError **error)
{
  g_return_val_if_fail (P2P_IS_ICE_PATH (self), FALSE);
  NiceAddress addr;
  nice_address_init (&addr);
  if (!ip || !nice_address_set_from_string (&addr, ip)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "\"%s\" is not an IP address", ip ? ip : "(null)");
    return FALSE;
  }
  nice_agent_add_local_address (self->agent, &addr);
  self->user_local = TRUE;
  return TRUE;
}

/* ---- receive ---- */

static void
on_recv (NiceAgent *agent, guint stream_id, guint component_id, guint len, gchar *buf,
    gpointer user_data)
{
  P2pIcePath *self = user_data;
  if (self->closed || len == 0)
    return;
  p2p_packet_path_deliver (P2P_PACKET_PATH (self), (const guint8 *) buf, len);
}

/* ---- P2pPacketPath vfuncs ---- */

static gboolean
ice_send (P2pPacketPath *path, const guint8 *data, gsize len, GError **error)
{
  P2pIcePath *self = P2P_ICE_PATH (path);
  if (self->closed) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "the ICE path is closed");
    return FALSE;
  }
  if (len > P2P_INTERNET_MTU) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "datagram of %" G_GSIZE_FORMAT " bytes exceeds the ICE path limit of %d", len,
        P2P_INTERNET_MTU);
    return FALSE;
  }
  if (!usable (self) && self->state != NICE_COMPONENT_STATE_FAILED) {
    if (g_queue_get_length (&self->pending) >= MAX_PENDING_SENDS) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
          "ICE send failed: no selected candidate pair yet and %d datagrams already waiting",
          MAX_PENDING_SENDS);
      return FALSE;
    }
    g_queue_push_tail (&self->pending, g_bytes_new (data, len));
    return TRUE;
  }
  gint sent = nice_agent_send (self->agent, self->stream_id, 1, len, (const gchar *) data);
  if (sent < 0 || (gsize) sent != len) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
        "ICE send failed (no selected candidate pair yet, or the socket refused)");
    return FALSE;
  }
  return TRUE;
}

static gsize
ice_get_mtu (P2pPacketPath *path)
{
  return P2P_ICE_PATH_MTU;
}

static P2pPathKind
ice_get_kind (P2pPacketPath *path)
{
  return P2P_ICE_PATH (path)->kind;
}

static guint64
ice_now (P2pPacketPath *path)
{
  return (guint64) g_get_monotonic_time () * 1000;
}

static void
ice_set_timer (P2pPacketPath *path, guint64 deadline_ns)
{
  P2pIcePath *self = P2P_ICE_PATH (path);
  if (!self->timer)
    return;
  if (deadline_ns == G_MAXUINT64 || self->closed)
    g_source_set_ready_time (self->timer, -1);
  else
    g_source_set_ready_time (self->timer, (gint64) ((deadline_ns + 999) / 1000));
}

/* libnice finishes a close in a GTask bound to the thread-default context
 * of the caller: the path's own context must be that default, or the
 * completion never runs and the agent, holding its context, leaks for good
 * (two eventfds each; a fuzzer died of EMFILE after ~1 700 paths closed from
 * another default context). FALSE if another thread owns the context now. */
static gboolean
close_agent_on (GMainContext *context, NiceAgent *agent)
{
  if (!g_main_context_acquire (context))
    return FALSE;
  g_main_context_push_thread_default (context);
  nice_agent_close_async (agent, NULL, NULL);
  g_main_context_pop_thread_default (context);
  g_main_context_release (context);
  return TRUE;
}

static gboolean
close_agent_cb (gpointer data)
{
  NiceAgent *agent = data;
  close_agent_on (g_source_get_context (g_main_current_source ()), agent);
  return G_SOURCE_REMOVE;
}

static void
ice_close (P2pPacketPath *path)
{
  P2pIcePath *self = P2P_ICE_PATH (path);
  if (self->closed)
    return;
  self->closed = TRUE;
  g_queue_clear_full (&self->pending, (GDestroyNotify) g_bytes_unref);
  if (self->timer)
    g_source_set_ready_time (self->timer, -1);
  finish_gather (self, g_error_new (P2P_ERROR, P2P_ERROR_CLOSED, "the ICE path was closed"));
  finish_connect (self, g_error_new (P2P_ERROR, P2P_ERROR_CLOSED, "the ICE path was closed"));
  if (self->agent) {
    nice_agent_attach_recv (self->agent, self->stream_id, 1, self->context, NULL, NULL);
    /* Releases TURN allocations and stops checks; the agent is unreffed in
     * dispose. A loop running the context on another thread closes it there. */
    if (!close_agent_on (self->context, self->agent))
      g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, close_agent_cb,
          g_object_ref (self->agent), g_object_unref);
  }
}

static char *
ice_describe_remote (P2pPacketPath *path)
{
  P2pIcePath *self = P2P_ICE_PATH (path);
  NiceCandidate *l = NULL, *r = NULL;
  if (!self->agent || !nice_agent_get_selected_pair (self->agent, self->stream_id, 1, &l, &r))
    return NULL;
  char ip[NICE_ADDRESS_STRING_LEN];
  nice_address_to_string (&r->addr, ip);
  const char *how = kind_of_pair (l, r) == P2P_PATH_KIND_RELAY ? " via TURN relay" : "";
  if (strchr (ip, ':'))
    return g_strdup_printf ("[%s]:%u (ICE %s%s)", ip, nice_address_get_port (&r->addr),
        nice_candidate_type_to_string (r->type), how);
  return g_strdup_printf ("%s:%u (ICE %s%s)", ip, nice_address_get_port (&r->addr),
      nice_candidate_type_to_string (r->type), how);
}

/* ---- GObject ---- */

static void
p2p_ice_path_dispose (GObject *object)
{
  P2pIcePath *self = P2P_ICE_PATH (object);

  if (!self->closed)
    ice_close (P2P_PACKET_PATH (self));
  if (self->agent) {
    g_clear_signal_handler (&self->sig_gathering_done, self->agent);
    g_clear_signal_handler (&self->sig_state_changed, self->agent);
    g_clear_signal_handler (&self->sig_pair, self->agent);
    g_clear_signal_handler (&self->sig_new_cand, self->agent);
    g_clear_object (&self->agent);
  }
  if (self->timer) {
    g_source_destroy (self->timer);
    g_clear_pointer (&self->timer, g_source_unref);
  }
  G_OBJECT_CLASS (p2p_ice_path_parent_class)->dispose (object);
}

static void
p2p_ice_path_finalize (GObject *object)
{
  P2pIcePath *self = P2P_ICE_PATH (object);
  g_free (self->peer_label);
  g_free (self->loopback_server);
  g_clear_pointer (&self->context, g_main_context_unref);
  G_OBJECT_CLASS (p2p_ice_path_parent_class)->finalize (object);
}

static void
p2p_ice_path_class_init (P2pIcePathClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  P2pPacketPathClass *path_class = P2P_PACKET_PATH_CLASS (klass);

  object_class->dispose = p2p_ice_path_dispose;
  object_class->finalize = p2p_ice_path_finalize;
  path_class->send = ice_send;
  path_class->get_mtu = ice_get_mtu;
  path_class->get_kind = ice_get_kind;
  path_class->now = ice_now;
  path_class->set_timer = ice_set_timer;
  path_class->close = ice_close;
  path_class->describe_remote = ice_describe_remote;
}

static void
p2p_ice_path_init (P2pIcePath *self)
{
  self->kind = P2P_PATH_KIND_DIRECT;
  self->state = NICE_COMPONENT_STATE_DISCONNECTED;
  g_queue_init (&self->pending);
}

static void
note_loopback (P2pIcePath *self, const char *ip)
{
  g_autoptr (GInetAddress) a = g_inet_address_new_from_string (ip);
  if (a && g_inet_address_get_is_loopback (a) && !self->loopback_server)
    self->loopback_server = g_strdup (ip);
}

static gboolean
configure_servers (P2pIcePath *self, const P2pConfig *config, GError **error)
{
  if (config->stun_servers && config->stun_servers[0]) {
    g_autofree char *host = NULL;
    guint16 port = 0;
    g_autoptr (GError) local = NULL;
    const char *entry = config->stun_servers[0];
    if (!p2p_parse_host_port (entry, &host, &port, &local)) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "STUN server \"%s\" (P2P_STUN_SERVERS): %s", entry, local->message);
      return FALSE;
    }
    g_autofree char *ip = resolve_ip (host, "STUN server", error);
    if (!ip)
      return FALSE;
    g_object_set (self->agent, "stun-server", ip, "stun-server-port", (guint) port, NULL);
    note_loopback (self, ip);
    self->have_stun = TRUE;
  }

  for (guint i = 0; config->relay_servers && config->relay_servers[i]; i++) {
    g_autofree char *user = NULL, *pass = NULL, *host = NULL;
    guint16 port = 0;
    gboolean tcp = FALSE;
    if (!p2p_ice_parse_turn_url (config->relay_servers[i], &user, &pass, &host, &port, &tcp, error))
      return FALSE;
    g_autofree char *ip = resolve_ip (host, "TURN server", error);
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

P2pIcePath *
p2p_ice_path_new (GMainContext *context, const P2pConfig *config, gboolean controlling,
    GError **error)
{
  g_return_val_if_fail (config != NULL, NULL);

  if (!context)
    context = g_main_context_get_thread_default ();
  if (!context)
    context = g_main_context_default ();

  g_autoptr (P2pIcePath) self = g_object_new (P2P_TYPE_ICE_PATH, "context", context, NULL);
  self->context = g_main_context_ref (context);
  self->relay_only = config->relay_policy == P2P_RELAY_POLICY_RELAY_ONLY;

  self->agent = nice_agent_new_full (context, NICE_COMPATIBILITY_RFC5245,
      NICE_AGENT_OPTION_CONSENT_FRESHNESS);
  g_object_set (self->agent,
      "controlling-mode", controlling,
      "ice-tcp", FALSE,
      "ice-udp", TRUE,
      "upnp", FALSE,
      "keepalive-conncheck", TRUE,
      "force-relay", self->relay_only,
      NULL);
  self->stream_id = nice_agent_add_stream (self->agent, 1);
  if (self->stream_id == 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK, "libnice could not create an ICE stream");
    return NULL;
  }
  nice_agent_set_stream_name (self->agent, self->stream_id, "application");

  if (!configure_servers (self, config, error))
    return NULL;
  if (self->relay_only && !self->have_relay) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "P2P_RELAY_POLICY=relay-only needs a TURN server: set P2P_RELAY_SERVERS="
        "turn://USER:PASS@HOST:PORT");
    return NULL;
  }

  self->sig_gathering_done = g_signal_connect (self->agent, "candidate-gathering-done",
      G_CALLBACK (on_gathering_done), self);
  self->sig_state_changed = g_signal_connect (self->agent, "component-state-changed",
      G_CALLBACK (on_state_changed), self);
  self->sig_pair = g_signal_connect (self->agent, "new-selected-pair-full",
      G_CALLBACK (on_selected_pair), self);
  self->sig_new_cand = g_signal_connect (self->agent, "new-candidate-full",
      G_CALLBACK (on_new_candidate), self);
  nice_agent_attach_recv (self->agent, self->stream_id, 1, context, on_recv, self);

  self->timer = g_source_new (&timer_funcs, sizeof (GSource));
  g_source_set_callback (self->timer, on_timer, self, NULL);
  g_source_set_ready_time (self->timer, -1);
  g_source_attach (self->timer, context);

  return g_steal_pointer (&self);
}
