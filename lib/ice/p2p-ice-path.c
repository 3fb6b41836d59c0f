/* p2p-ice-path.c: P2pIcePath, a P2pPacketPath over one libnice ICE
 * component: the object and its agent, connectivity checks with a bounded
 * time, path kind from the selected pair, datagram I/O and close.
 * Gathering and descriptions: p2p-ice-candidates.c; STUN/TURN servers:
 * p2p-ice-servers.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-path-private.h"

#include <string.h>

#include "p2p/p2p-error.h"

/* Datagrams held while the component has no selected pair yet. */
#define MAX_PENDING_SENDS 16

/* Transmissions of one STUN request (libnice's "stun-max-retransmissions",
 * which counts the first one too; each wait doubles from 500 ms, the last
 * is halved). libnice's default, 3, gives a pair 2 s (sent at 0, 0.5 and
 * 1.5 s). While a relayed pair can carry the stream, the checks of the
 * better (direct) pairs get 5: sent at 0, 0.5, 1.5, 3.5 and 7.5 s, failed
 * at 9.5 s, so a hole punched late still wins and the path moves to it. */
#define STUN_TRANSMISSIONS 3
#define UPGRADE_CHECK_TRANSMISSIONS 5

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
    if (p2p_ice_path_candidate_allowed (self, c))
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

void
p2p_ice_path_run_soon (P2pIcePath *self, GSourceFunc func)
{
  GSource *src = g_idle_source_new ();
  g_source_set_callback (src, func, g_object_ref (self), g_object_unref);
  g_source_attach (src, self->context);
  g_source_unref (src);
}

void
p2p_ice_path_complete_task (GTask *task, gulong *cancel_id, GError *error)
{
  if (!task) {
    g_clear_error (&error);
    return;
  }
  GCancellable *c = g_task_get_cancellable (task);
  if (c && *cancel_id)
    g_cancellable_disconnect (c, *cancel_id);
  *cancel_id = 0;
  if (error)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
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
  p2p_ice_path_complete_task (task, &self->connect_cancel_id, error);
}

/* Follows the selected pair @l/@r: the first one sets the path kind; a
 * later, different one is a path change (announced whatever the kinds:
 * a switch between two direct pairs moves the route too). */
static void
follow_pair (P2pIcePath *self, const NiceCandidate *l, const NiceCandidate *r)
{
  P2pPathKind old = self->kind;
  gboolean first = !self->have_pair;

  if (!first && nice_address_equal (&l->addr, &self->pair_local) &&
      nice_address_equal (&r->addr, &self->pair_remote))
    return;
  self->have_pair = TRUE;
  self->pair_local = l->addr;
  self->pair_remote = r->addr;
  self->kind = kind_of_pair (l, r);
  g_debug ("ice: selected pair %s -> %s, path kind %s%s",
      nice_candidate_type_to_string (l->type), nice_candidate_type_to_string (r->type),
      p2p_path_kind_to_string (self->kind), first ? "" : " (path changed)");
  if (!first)
    p2p_packet_path_announce_change (P2P_PACKET_PATH (self), old);
}

static void
update_kind (P2pIcePath *self)
{
  NiceCandidate *l = NULL, *r = NULL;
  if (nice_agent_get_selected_pair (self->agent, self->stream_id, 1, &l, &r))
    follow_pair (self, l, r);
}

static gboolean usable (P2pIcePath *self);

/* Nomination, and how a relayed start becomes a direct path (libnice
 * 0.1.21, aggressive nomination: the controlling side, the dialer, sets
 * USE-CANDIDATE on every check): the first pair whose check succeeds is
 * nominated and selected; the component is CONNECTED and the path usable
 * (connect completes), often on a relayed pair, whose checks answer first
 * while a hole is still being punched. Waiting and frozen pairs are
 * dropped then, but checks in progress on pairs of higher priority (the
 * direct ones) go on being retransmitted; when one succeeds it is
 * nominated too and, being better, becomes the selected pair
 * ("new-selected-pair-full" on both sides: follow_pair() announces the
 * change). READY comes when no such check is left. QUIC does not notice:
 * its packets leave over the new pair. Regular nomination would not help:
 * it nominates once, at the end of the checks, and a later better pair
 * needs an ICE restart. */
void
p2p_ice_path_plan_checks (P2pIcePath *self)
{
  gboolean relayed = (local_types (self) | self->remote_types) &
      (1u << NICE_CANDIDATE_TYPE_RELAYED);
  guint n = relayed && !self->relay_only ? UPGRADE_CHECK_TRANSMISSIONS : STUN_TRANSMISSIONS;

  g_object_set (self->agent, "stun-max-retransmissions", n, NULL);
}

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
   * A better pair found later is announced as a path change. */
  /* the checks are over: keepalives and later requests fail in libnice's time */
  if (state == NICE_COMPONENT_STATE_READY || state == NICE_COMPONENT_STATE_FAILED)
    g_object_set (self->agent, "stun-max-retransmissions", STUN_TRANSMISSIONS, NULL);
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
  if (stream_id != self->stream_id || self->closed)
    return;
  follow_pair (self, lcand, rcand);
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
  p2p_ice_path_run_soon (self, connect_cancelled_idle);
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
p2p_ice_path_has_failed (P2pIcePath *self)
{
  g_return_val_if_fail (P2P_IS_ICE_PATH (self), FALSE);
  return self->state == NICE_COMPONENT_STATE_FAILED;
}

gboolean
p2p_ice_path_is_connected (P2pIcePath *self)
{
  g_return_val_if_fail (P2P_IS_ICE_PATH (self), FALSE);
  return !self->closed && (self->state == NICE_COMPONENT_STATE_READY ||
      self->state == NICE_COMPONENT_STATE_CONNECTED);
}

void
p2p_ice_path_set_peer_label (P2pIcePath *self, const char *label)
{
  g_return_if_fail (P2P_IS_ICE_PATH (self));
  g_free (self->peer_label);
  self->peer_label = g_strdup (label);
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
  p2p_ice_path_finish_gather (self, g_error_new (P2P_ERROR, P2P_ERROR_CLOSED,
      "the ICE path was closed"));
  finish_connect (self, g_error_new (P2P_ERROR, P2P_ERROR_CLOSED, "the ICE path was closed"));
  if (self->agent) {
    /* the TURN deallocation of the close is not worth 9.5 s */
    g_object_set (self->agent, "stun-max-retransmissions", STUN_TRANSMISSIONS, NULL);
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

  if (!p2p_ice_path_configure_servers (self, config, error))
    return NULL;
  if (self->relay_only && !self->have_relay) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "P2P_RELAY_POLICY=relay-only needs a TURN server: set P2P_RELAY_SERVERS="
        "turn://USER:PASS@HOST:PORT");
    return NULL;
  }

  self->sig_gathering_done = g_signal_connect (self->agent, "candidate-gathering-done",
      G_CALLBACK (p2p_ice_path_on_gathering_done), self);
  self->sig_state_changed = g_signal_connect (self->agent, "component-state-changed",
      G_CALLBACK (on_state_changed), self);
  self->sig_pair = g_signal_connect (self->agent, "new-selected-pair-full",
      G_CALLBACK (on_selected_pair), self);
  self->sig_new_cand = g_signal_connect (self->agent, "new-candidate-full",
      G_CALLBACK (p2p_ice_path_on_new_candidate), self);
  nice_agent_attach_recv (self->agent, self->stream_id, 1, context, on_recv, self);

  self->timer = g_source_new (&timer_funcs, sizeof (GSource));
  g_source_set_callback (self->timer, on_timer, self, NULL);
  g_source_set_ready_time (self->timer, -1);
  g_source_attach (self->timer, context);

  return g_steal_pointer (&self);
}
