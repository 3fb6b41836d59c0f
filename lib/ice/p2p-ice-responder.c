/* p2p-ice-responder.c: the answering side of QUIC over ICE
 * (P2pIceResponder): for each allowed, fresh "ice-offer", a
 * non-controlling P2pIcePath, gather, "ice-answer", checks; the first
 * datagram over the path starts a server P2pQuicConnection, handed to the
 * accept callback once established. A first datagram that is a short-header
 * packet of a connection already accepted from the same peer (an ICE
 * restart: p2p_ice_reconnect_async) moves that connection onto the path.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-connect-private.h"

#include <string.h>

typedef struct _Setup Setup;

/* Setups one peer may have in progress: a quarter of max_pending (4 of
 * the default 16), so that one peer's offers (16 fresh signed ones every
 * 0.25 s, candidates that never answer) cannot hold every slot (found in
 * security review). */
#define MAX_SETUPS_PER_PEER(max_pending) MAX ((max_pending) / 4, 1)
/* Every setup ends within this: ICE done but no QUIC Initial ever sent
 * over the path held its slot and agent for good. */
#define SETUP_DEADLINE_S 30

struct _P2pIceResponder {
  P2pSignaling *signaling;
  P2pIdentity *identity;
  P2pConfig *config;
  P2pQuicSessionConfig qcfg;
  GPtrArray *allowed;
  guint max_pending;
  P2pIceAcceptFunc func;
  gpointer user_data;
  GHashTable *setups;     /* "from/session" → Setup* (owned) */
  gulong sig_signal;
  gboolean refusing;      /* new offers get an ice-error (service stopped accepting) */
  GSource *reap;          /* idle: frees finished setups */
  P2pIceCounters own;
  P2pIceCounters *counters; /* &own, or the service's (not owned) */
  GPtrArray *own_live;
  GPtrArray *live;        /* own_live, or the service's (not owned): p2p_ice_live_new() */
};

struct _Setup {
  P2pIceResponder *owner;
  char *key;
  P2pPeerId from;
  char from_text[P2P_PEER_ID_TEXT_LEN + 1];
  char *session;
  char *nonce;            /* the offer's, echoed in the answer */
  P2pIcePath *path;
  P2pQuicConnection *conn;
  gulong established_id, closed_id;
  GCancellable *cancel;
  GSource *deadline;      /* SETUP_DEADLINE_S */
  gboolean dead;
  gint refs;              /* the table + one per async operation in flight */
};

static Setup *
setup_ref (Setup *s)
{
  s->refs++;
  return s;
}

static void
setup_unref (Setup *s)
{
  if (--s->refs > 0)
    return;
  g_clear_object (&s->path);
  g_clear_object (&s->cancel);
  g_free (s->session);
  g_free (s->nonce);
  g_free (s->key);
  g_free (s);
}

/* The table's destroy function: stops everything, then drops its reference. */
static void
setup_free (Setup *s)
{
  s->dead = TRUE;
  g_cancellable_cancel (s->cancel);
  if (s->deadline) {
    g_source_destroy (s->deadline);
    g_clear_pointer (&s->deadline, g_source_unref);
  }
  if (s->conn) {
    g_signal_handler_disconnect (s->conn, s->established_id);
    g_signal_handler_disconnect (s->conn, s->closed_id);
    g_clear_object (&s->conn);
  } else if (s->path) {
    p2p_packet_path_set_handlers (P2P_PACKET_PATH (s->path), NULL, NULL, NULL, NULL);
    p2p_packet_path_close (P2P_PACKET_PATH (s->path));
  }
  setup_unref (s);
}

static gboolean
is_dead (gpointer key, gpointer value, gpointer user_data)
{
  return ((Setup *) value)->dead;
}

static gboolean
reap_idle (gpointer data)
{
  P2pIceResponder *self = data;
  g_clear_pointer (&self->reap, g_source_unref);
  g_hash_table_foreach_remove (self->setups, is_dead, NULL);
  return G_SOURCE_REMOVE;
}

/* Frees @s on a later main-loop turn (never from inside its callbacks). */
static void
setup_done (Setup *s)
{
  P2pIceResponder *self = s->owner;
  s->dead = TRUE;
  if (self->reap)
    return;
  self->reap = g_idle_source_new ();
  g_source_set_callback (self->reap, reap_idle, self, NULL);
  g_source_attach (self->reap, g_main_context_get_thread_default ());
}

static gboolean
on_setup_deadline (gpointer user_data)
{
  Setup *s = user_data;

  if (!s->dead) {
    g_message ("ICE connection from %s not set up within %u s: dropped", s->from_text,
        SETUP_DEADLINE_S);
    setup_done (s);
  }
  return G_SOURCE_REMOVE;
}

static guint
setups_from (P2pIceResponder *self, const P2pPeerId *from)
{
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_hash_table_iter_init (&iter, self->setups);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    const Setup *s = value;

    if (!s->dead && p2p_peer_id_equal (&s->from, from))
      n++;
  }
  return n;
}

static void
on_server_established (P2pQuicConnection *conn, gpointer user_data)
{
  Setup *s = user_data;
  if (s->dead)
    return;
  g_debug ("ice: accepted %s over a %s path", s->from_text,
      p2p_path_kind_to_string (p2p_packet_path_get_kind (P2P_PACKET_PATH (s->path))));
  p2p_ice_live_add (s->owner->live, conn);
  if (s->owner->func)
    s->owner->func (P2P_CONNECTION (conn), s->owner->user_data);
  setup_done (s);
}

static void
on_server_closed (P2pConnection *conn, const GError *error, gpointer user_data)
{
  Setup *s = user_data;
  if (s->dead)
    return;
  g_message ("ICE connection from %s closed during setup: %s", s->from_text,
      error ? error->message : "closed");
  setup_done (s);
}

/* ---- connections accepted, for a restart to find ---- */

static void
weak_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

GPtrArray *
p2p_ice_live_new (void)
{
  return g_ptr_array_new_with_free_func (weak_free);
}

/* Adds @conn (weakly); forgets the connections gone meanwhile. */
void
p2p_ice_live_add (GPtrArray *live, P2pQuicConnection *conn)
{
  GWeakRef *w = g_new0 (GWeakRef, 1);

  for (guint i = live->len; i-- > 0;) {
    g_autoptr (GObject) o = g_weak_ref_get (live->pdata[i]);

    if (o == NULL)
      g_ptr_array_remove_index_fast (live, i);
  }
  g_weak_ref_init (w, conn);
  g_ptr_array_add (live, w);
}

/* An ICE restart: the first datagram over @s's path is a short-header
 * packet. If its DCID is one of an accepted connection's, that connection
 * moves onto the path, provided the signed offer came from its own peer
 * (replace_path checks). TRUE if it moved. */
static gboolean
adopt_restart (Setup *s, const guint8 *data, gsize len)
{
  guint8 dcid[P2P_QUIC_MAX_CID_LEN];
  gsize dcid_len = 0;
  GPtrArray *live = s->owner->live;

  if (!p2p_quic_packet_get_dcid (data, len, P2P_QUIC_SCID_LEN, dcid, &dcid_len))
    return FALSE;
  for (guint i = 0; i < live->len; i++) {
    g_autoptr (P2pQuicConnection) conn = g_weak_ref_get (live->pdata[i]);
    g_autoptr (GError) error = NULL;

    if (conn == NULL || !p2p_quic_connection_owns_cid (conn, dcid, dcid_len))
      continue;
    if (!p2p_quic_connection_replace_path (conn, P2P_PACKET_PATH (s->path), &s->from, data, len,
            &error)) {
      g_message ("ICE restart from %s refused: %s", s->from_text, error->message);
      return FALSE;
    }
    g_message ("ICE restart: the connection with %s moved to a new %s path", s->from_text,
        p2p_path_kind_to_string (p2p_packet_path_get_kind (P2P_PACKET_PATH (s->path))));
    s->owner->counters->restarts++;
    return TRUE;
  }
  return FALSE;
}

static void
on_first_datagram (P2pPacketPath *path, const guint8 *data, gsize len, gpointer user_data)
{
  Setup *s = user_data;
  if (s->dead || s->conn)
    return;
  if (len > 0 && (data[0] & 0x80) == 0) {
    if (adopt_restart (s, data, len)) {
      g_clear_object (&s->path);        /* the connection's now: not closed with the setup */
      setup_done (s);
    }
    return;
  }
  if (!p2p_quic_packet_is_initial (data, len))
    return;
  g_autoptr (GError) error = NULL;
  P2pQuicConnection *conn = p2p_quic_connection_new_server (path, s->owner->identity, data, len,
      &s->owner->qcfg, s->owner->allowed, &error);
  if (!conn) {
    g_message ("ICE connection from %s: cannot start QUIC: %s", s->from_text, error->message);
    setup_done (s);
    return;
  }
  s->conn = conn;
  s->established_id = g_signal_connect (conn, "established",
      G_CALLBACK (on_server_established), s);
  s->closed_id = g_signal_connect (conn, "closed", G_CALLBACK (on_server_closed), s);
}

static void
on_responder_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Setup *s = user_data;
  g_autoptr (GError) error = NULL;
  if (!p2p_ice_path_connect_finish (P2P_ICE_PATH (source), result, &error) && !s->dead &&
      !s->conn) {
    g_message ("ICE from %s failed: %s", s->from_text, error->message);
    setup_done (s);
  }
  setup_unref (s);
}

static void
on_responder_gathered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Setup *s = user_data;
  g_autoptr (GError) error = NULL;
  gboolean ok = p2p_ice_path_gather_finish (P2P_ICE_PATH (source), result, &error);
  if (s->dead) {
    setup_unref (s);
    return;
  }
  g_autofree char *answer = ok ? p2p_ice_payload_build_full ("ice-answer", s->session, s->nonce,
      s->path, NULL)
      : p2p_ice_payload_build ("ice-error", s->session, NULL, error->message);
  g_autoptr (GError) send_error = NULL;
  if (!p2p_signaling_send (s->owner->signaling, &s->from, answer, &send_error))
    g_message ("cannot answer %s: %s", s->from_text, send_error->message);
  if (ok)
    p2p_ice_path_connect_async (s->path, 0, s->cancel, on_responder_connected, setup_ref (s));
  else
    setup_done (s);
  setup_unref (s);
}

static void
reply_error (P2pIceResponder *self, const P2pPeerId *to, const char *session, const char *why)
{
  g_autofree char *text = p2p_ice_payload_build ("ice-error", session, NULL, why);
  p2p_signaling_send (self->signaling, to, text, NULL);
}

static gboolean
peer_allowed (P2pIceResponder *self, const P2pPeerId *peer)
{
  if (!self->allowed)
    return TRUE;
  for (guint i = 0; i < self->allowed->len; i++)
    if (p2p_peer_id_equal (self->allowed->pdata[i], peer))
      return TRUE;
  return FALSE;
}

/* The cache key of offers from @from_text to this listener: "TO/FROM". */
static char *
offer_key (P2pIceResponder *self, const char *from_text)
{
  char to[P2P_PEER_ID_TEXT_LEN + 1];
  p2p_peer_id_format (p2p_identity_get_peer_id (self->identity), to);
  return g_strdup_printf ("%s/%s", to, from_text);
}

/* FALSE if the offer is stale (answered with an ice-error saying why: an
 * honest peer with a wrong clock learns it) or replayed (dropped silently:
 * a replay must cost us nothing). TRUE: fresh, and its nonce is now
 * remembered, whatever the reply it gets. */
static gboolean
offer_fresh (P2pIceResponder *self, const P2pPeerId *from, const char *from_text,
    P2pIcePayload *p)
{
  g_autofree char *why = NULL;
  g_autofree char *key = offer_key (self, from_text);
  switch (p2p_ice_offer_check (key, p, &why)) {
    case P2P_ICE_OFFER_FRESH:
      return TRUE;
    case P2P_ICE_OFFER_STALE:
      self->counters->offers_stale++;
      g_message ("ICE offer from %s refused: %s", from_text, why);
      reply_error (self, from, p->session, why);
      break;
    case P2P_ICE_OFFER_REPLAYED:
    default:
      self->counters->offers_replayed++;
      g_message ("ICE offer from %s dropped: %s", from_text, why);
      break;
  }
  p2p_ice_payload_clear (p);
  return FALSE;
}

void
p2p_ice_responder_get_counts (P2pIceResponder *self, guint *started, guint *replayed,
    guint *stale)
{
  if (started)
    *started = self->counters->agents_started;
  if (replayed)
    *replayed = self->counters->offers_replayed;
  if (stale)
    *stale = self->counters->offers_stale;
}

static void
responder_on_signal (P2pSignaling *sig, const P2pPeerId *from, const char *text,
    gpointer user_data)
{
  P2pIceResponder *self = user_data;
  char from_text[P2P_PEER_ID_TEXT_LEN + 1];
  p2p_peer_id_format (from, from_text);
  /* A peer outside the allow-list gets no answer at all, before anything
   * else (its payload is not even parsed): no candidates revealed, no
   * agent, no TURN allocation, no checks towards addresses it chose, and no
   * refusal either, which would tell it that this peer is online and
   * filters (a signed "ice-error" would). Its dial times out. The TLS
   * handshake would refuse it too (defence in depth: on_first_datagram
   * passes the list down). */
  if (!peer_allowed (self, from)) {
    g_debug ("signal from %s ignored: not in allowed-peers", from_text);
    self->counters->offers_ignored++;
    return;
  }
  P2pIcePayload p;
  if (!p2p_ice_payload_parse_signal (text, &p))
    return;
  if (!g_str_equal (p.kind, "ice-offer")) {
    p2p_ice_payload_clear (&p);
    return;
  }
  if (!offer_fresh (self, from, from_text, &p))
    return;
  g_autofree char *key = g_strdup_printf ("%s/%s", from_text, p.session);
  if (g_hash_table_contains (self->setups, key)) {
    p2p_ice_payload_clear (&p);
    return; /* duplicate offer */
  }
  if (self->refusing) {
    reply_error (self, from, p.session, "not accepting connections (no listener is open)");
    p2p_ice_payload_clear (&p);
    return;
  }
  if (g_hash_table_size (self->setups) >= self->max_pending) {
    reply_error (self, from, p.session, "too many connections being set up; try again");
    p2p_ice_payload_clear (&p);
    return;
  }
  if (setups_from (self, from) >= MAX_SETUPS_PER_PEER (self->max_pending)) {
    reply_error (self, from, p.session, "too many connections being set up from this "
        "peer; try again");
    p2p_ice_payload_clear (&p);
    return;
  }

  g_autoptr (GError) error = NULL;
  g_autoptr (P2pIcePath) path = p2p_ice_path_new (g_main_context_get_thread_default (),
      self->config, FALSE, &error);
  if (!path || !p2p_ice_path_set_remote_description (path, p.ufrag, p.pwd,
          (const char *const *) p.candidates, &error)) {
    g_message ("ICE offer from %s refused: %s", from_text, error->message);
    reply_error (self, from, p.session, error->message);
    p2p_ice_payload_clear (&p);
    return;
  }
  p2p_ice_path_set_peer_label (path, from_text);
  self->counters->agents_started++;

  Setup *s = g_new0 (Setup, 1);
  s->owner = self;
  s->key = g_steal_pointer (&key);
  s->from = *from;
  memcpy (s->from_text, from_text, sizeof from_text);
  s->session = g_steal_pointer (&p.session);
  s->nonce = g_steal_pointer (&p.nonce);
  s->path = g_steal_pointer (&path);
  s->cancel = g_cancellable_new ();
  s->refs = 1;
  g_hash_table_insert (self->setups, s->key, s);
  p2p_ice_payload_clear (&p);
  s->deadline = g_timeout_source_new_seconds (SETUP_DEADLINE_S);
  g_source_set_callback (s->deadline, on_setup_deadline, setup_ref (s),
      (GDestroyNotify) setup_unref);
  g_source_attach (s->deadline, g_main_context_get_thread_default ());

  p2p_packet_path_set_handlers (P2P_PACKET_PATH (s->path), on_first_datagram, NULL, s, NULL);
  p2p_ice_path_gather_async (s->path, s->cancel, on_responder_gathered, setup_ref (s));
}

void
p2p_ice_responder_set_counters (P2pIceResponder *self, P2pIceCounters *counters)
{
  self->counters = counters;
}

void
p2p_ice_responder_set_live (P2pIceResponder *self, GPtrArray *live)
{
  self->live = live;
}

void
p2p_ice_responder_set_refusing (P2pIceResponder *self)
{
  self->refusing = TRUE;
}

P2pIceResponder *
p2p_ice_responder_new (P2pSignaling *signaling, P2pIdentity *identity, const P2pConfig *config,
    const P2pQuicSessionConfig *qcfg, GPtrArray *allowed, guint max_pending,
    P2pIceAcceptFunc func, gpointer user_data)
{
  g_return_val_if_fail (P2P_IS_SIGNALING (signaling), NULL);
  P2pIceResponder *self = g_new0 (P2pIceResponder, 1);
  self->signaling = g_object_ref (signaling);
  self->identity = g_object_ref (identity);
  self->config = p2p_config_copy (config);
  p2p_ice_session_config (qcfg, &self->qcfg);
  if (self->qcfg.handshake_timeout_ns == 0) /* server sessions: as a UDP listener's */
    self->qcfg.handshake_timeout_ns = P2P_QUIC_SERVER_HANDSHAKE_TIMEOUT_NS;
  self->allowed = allowed ? g_ptr_array_ref (allowed) : NULL;
  self->max_pending = max_pending ? max_pending : 16;
  self->counters = &self->own;
  self->own_live = p2p_ice_live_new ();
  self->live = self->own_live;
  self->func = func;
  self->user_data = user_data;
  self->setups = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) setup_free);
  self->sig_signal = g_signal_connect (signaling, "signal", G_CALLBACK (responder_on_signal), self);
  return self;
}

void
p2p_ice_responder_free (P2pIceResponder *self)
{
  if (!self)
    return;
  g_signal_handler_disconnect (self->signaling, self->sig_signal);
  if (self->reap) {
    g_source_destroy (self->reap);
    g_clear_pointer (&self->reap, g_source_unref);
  }
  g_hash_table_destroy (self->setups);
  g_ptr_array_unref (self->own_live);
  g_clear_object (&self->signaling);
  g_clear_object (&self->identity);
  p2p_config_free (self->config);
  if (self->allowed)
    g_ptr_array_unref (self->allowed);
  g_free (self);
}
