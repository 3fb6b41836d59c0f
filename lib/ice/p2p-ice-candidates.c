/* p2p-ice-candidates.c: the candidates of a P2pIcePath: gathering the
 * local ones (host, server-reflexive, relayed), the relay policy filter,
 * the local description and the peer's (remote candidates, bounded).
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-path-private.h"

#include <string.h>
#include <nice/interfaces.h>

#include "p2p/p2p-error.h"

#define MAX_REMOTE_CANDIDATES 64
#define MAX_CANDIDATE_LINE 512
#define MAX_CREDENTIAL_LEN 256

/* ---- filters ---- */

gboolean
p2p_ice_path_candidate_allowed (P2pIcePath *self, const NiceCandidate *c)
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

/* ---- gathering ---- */

static void
count_local (P2pIcePath *self)
{
  self->n_local = 0;
  GSList *cands = nice_agent_get_local_candidates (self->agent, self->stream_id, 1);
  for (GSList *l = cands; l; l = l->next)
    if (p2p_ice_path_candidate_allowed (self, l->data))
      self->n_local++;
  g_slist_free_full (cands, (GDestroyNotify) nice_candidate_free);
}

void
p2p_ice_path_finish_gather (P2pIcePath *self, GError *error)
{
  p2p_ice_path_complete_task (g_steal_pointer (&self->gather_task), &self->gather_cancel_id,
      error);
}

static void
complete_gathering (P2pIcePath *self)
{
  self->gathered = TRUE;
  count_local (self);
  g_debug ("ice: gathering done, %u usable local candidates", self->n_local);
  if (self->n_local == 0 && self->relay_only)
    p2p_ice_path_finish_gather (self, g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "relay-only policy but the TURN server gave no relayed candidate: check the TURN "
        "server (P2P_RELAY_SERVERS address, port, credentials)"));
  else if (self->n_local == 0)
    p2p_ice_path_finish_gather (self, g_error_new (P2P_ERROR, P2P_ERROR_NETWORK,
        "no local ICE candidate could be gathered (no usable network interface)"));
  else
    p2p_ice_path_finish_gather (self, NULL);
}

void
p2p_ice_path_on_gathering_done (NiceAgent *agent, guint stream_id, gpointer user_data)
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
void
p2p_ice_path_on_new_candidate (NiceAgent *agent, NiceCandidate *c, gpointer user_data)
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
  p2p_ice_path_finish_gather (self, g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED,
      "gathering cancelled"));
  return G_SOURCE_REMOVE;
}

static void
on_gather_cancelled (GCancellable *c, gpointer user_data)
{
  P2pIcePath *self = user_data;
  p2p_ice_path_run_soon (self, gather_cancelled_idle);
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
    p2p_ice_path_finish_gather (self, g_error_new (P2P_ERROR, P2P_ERROR_NETWORK,
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
    if (!p2p_ice_path_candidate_allowed (self, c))
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
    if (!p2p_ice_path_candidate_allowed (self, c)) {
      nice_candidate_free (c);
      skipped++;
      continue;
    }
    list = g_slist_append (list, c);
  }
  self->remote_skipped = skipped;
  p2p_ice_path_plan_checks (self);

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
