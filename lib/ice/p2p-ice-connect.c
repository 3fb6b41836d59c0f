/* p2p-ice-connect.c: the ICE offer/answer flow over a rendezvous
 * (P2pSignaling) and QUIC over the resulting P2pIcePath, dialer and
 * listener sides.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-connect.h"

#include <string.h>
#include <sodium.h>
#include <json-glib/json-glib.h>

#include "p2p/p2p-error.h"
#include "p2p-ice-path.h"
#include "p2p-json.h"

#define MAX_SESSION_LEN 64

/* ---- payloads ---- */

typedef P2pIcePayload Payload;

void
p2p_ice_payload_clear (P2pIcePayload *p)
{
  g_free (p->kind);
  g_free (p->session);
  g_free (p->ufrag);
  g_free (p->pwd);
  g_free (p->message);
  g_free (p->nonce);
  g_strfreev (p->candidates);
  memset (p, 0, sizeof *p);
}

#define payload_clear p2p_ice_payload_clear

/* NULL if absent; FALSE + error if present but not a string. */
static gboolean
member_string (JsonObject *o, const char *name, char **out, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  *out = NULL;
  if (!n)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "ICE payload: field \"%s\" is not a string", name);
    return FALSE;
  }
  *out = g_strdup (json_node_get_string (n));
  return TRUE;
}

static gboolean
is_nonce (const char *s)
{
  if (strlen (s) != P2P_ICE_NONCE_HEX_LEN)
    return FALSE;
  for (const char *c = s; *c; c++)
    if (!g_ascii_isdigit (*c) && !(*c >= 'a' && *c <= 'f'))
      return FALSE;
  return TRUE;
}

gboolean
p2p_ice_payload_parse (const char *text, gsize len, P2pIcePayload *p, GError **error)
{
  memset (p, 0, sizeof *p);
  g_autoptr (GStrvBuilder) b = NULL;
  /* Strict RFC 8259 and nesting bounded before json-glib recurses. */
  g_autoptr (JsonNode) root = p2p_json_parse (text, len, "ICE payload", error);
  if (!root)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "ICE payload is not a JSON object");
    return FALSE;
  }
  JsonObject *o = json_node_get_object (root);
  if (!member_string (o, "kind", &p->kind, error) ||
      !member_string (o, "session", &p->session, error) ||
      !member_string (o, "ufrag", &p->ufrag, error) ||
      !member_string (o, "pwd", &p->pwd, error) ||
      !member_string (o, "message", &p->message, error) ||
      !member_string (o, "nonce", &p->nonce, error))
    goto fail;
  if (!p->kind || !p->session) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "ICE payload: field \"%s\" is missing", p->kind ? "session" : "kind");
    goto fail;
  }
  if (strlen (p->session) > MAX_SESSION_LEN) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "ICE payload: field \"session\" is longer than %d bytes", MAX_SESSION_LEN);
    goto fail;
  }
  if (p->nonce && !is_nonce (p->nonce)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "ICE payload: field \"nonce\" must be %d lower-case hex digits", P2P_ICE_NONCE_HEX_LEN);
    goto fail;
  }
  JsonNode *ts = json_object_get_member (o, "ts");
  if (ts) {
    if (!JSON_NODE_HOLDS_VALUE (ts) || json_node_get_value_type (ts) != G_TYPE_INT64) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
          "ICE payload: field \"ts\" is not an integer (milliseconds since 1970)");
      goto fail;
    }
    p->ts_ms = json_node_get_int (ts);
    p->has_ts = TRUE;
  }
  JsonNode *cn = json_object_get_member (o, "candidates");
  b = g_strv_builder_new ();
  if (cn && JSON_NODE_HOLDS_ARRAY (cn)) {
    JsonArray *a = json_node_get_array (cn);
    guint n = MIN (json_array_get_length (a), 65); /* the path refuses more than 64 */
    for (guint i = 0; i < n; i++) {
      JsonNode *e = json_array_get_element (a, i);
      if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING)
        g_strv_builder_add (b, json_node_get_string (e));
    }
  }
  p->candidates = g_strv_builder_end (b);
  return TRUE;

fail:
  payload_clear (p);
  return FALSE;
}

/* Parses an ICE payload; FALSE if it is not one (other payloads are ignored). */
static gboolean
payload_parse (const char *text, Payload *p)
{
  g_autoptr (GError) error = NULL;
  if (p2p_ice_payload_parse (text, strlen (text), p, &error))
    return TRUE;
  g_debug ("ice: ignoring a signal: %s", error->message);
  return FALSE;
}

static void
random_nonce (char out[P2P_ICE_NONCE_HEX_LEN + 1])
{
  guint8 raw[P2P_ICE_NONCE_HEX_LEN / 2];
  randombytes_buf (raw, sizeof raw);
  for (guint i = 0; i < sizeof raw; i++)
    g_snprintf (out + 2 * i, 3, "%02x", raw[i]);
}

/* ---- offer freshness and replay (responder) ----
 * An offer must carry a timestamp within ±P2P_ICE_OFFER_WINDOW_MS of our
 * clock and a nonce not seen from that sender. The cache is one per
 * process, so that it outlives a responder (stop/start accepting, a new
 * registration after the rendezvous dropped us): a replay must not get
 * through a restarted listener. It is kept per sender ("TO/FROM": this
 * listener, the signed sender), each with its own floor: offers not newer
 * than a sender's floor are refused as stale. A sender gets at most
 * P2P_ICE_NONCE_CACHE_PER_SENDER nonces; beyond, its own oldest is
 * forgotten and raises its floor, so a peer flooding offers (even dated up
 * to the window into the future) only locks itself out, never another
 * sender or another listener. All senders together hold at most
 * P2P_ICE_NONCE_CACHE_MAX nonces; beyond, the oldest nonce of any sender
 * is forgotten and raises that sender's floor to its timestamp, which an
 * honest sender's next offer (a later timestamp) passes. A nonce that left
 * the window is forgotten only while raising its sender's floor to its
 * timestamp, so a backward step of our clock (NTP) cannot bring it back
 * into the window. Senders that have only a floor left are kept while the
 * floor is in the window; past 2 × P2P_ICE_NONCE_CACHE_MAX senders the
 * oldest ones are dropped and their floors fold into one process-wide
 * floor, raised to MIN (floor, now) so that it never refuses an offer
 * made after the fold (a flood of offers from thousands of sender IDs
 * can delay honest offers then, not lock them out). Nonces are remembered
 * for every offer that passed this check, whatever the reply (refused for
 * capacity included): replaying one cannot start an agent later. */

typedef struct _Sender Sender;

typedef struct {
  char nonce[P2P_ICE_NONCE_HEX_LEN + 1];
  gint64 ts_ms;
  Sender *sender;
  GList all_link;         /* in NonceCache.all */
  GList own_link;         /* in Sender.order */
} SeenOffer;

struct _Sender {
  char *key;              /* "TO/FROM" */
  gint64 floor_ms;
  GHashTable *seen;       /* nonce → SeenOffer* */
  GQueue order;           /* SeenOffer*, oldest insertion first */
  GList link;             /* in NonceCache.senders, least recently used first */
};

typedef struct {
  GHashTable *senders;    /* key → Sender* (owns) */
  GQueue sender_order;    /* Sender*, least recently used first */
  GQueue all;             /* SeenOffer* of every sender, oldest insertion first */
  gint64 floor_ms;        /* process-wide, from senders dropped past the limit */
} NonceCache;

static void
sender_free (Sender *s)
{
  g_hash_table_destroy (s->seen);   /* frees the SeenOffers */
  g_free (s->key);
  g_free (s);
}

static GMutex nonce_lock;
static NonceCache *nonce_cache;   /* under nonce_lock; lives as long as the process */
static guint nonce_cache_max = P2P_ICE_NONCE_CACHE_MAX;   /* under nonce_lock */
static gint64 clock_skew_ms;      /* under nonce_lock; tests */

static void
nonce_cache_free (NonceCache *c)
{
  g_hash_table_destroy (c->senders);
  g_free (c);
}

void
p2p_ice_set_nonce_cache_max (guint max)
{
  g_mutex_lock (&nonce_lock);
  nonce_cache_max = max ? max : P2P_ICE_NONCE_CACHE_MAX;
  g_clear_pointer (&nonce_cache, nonce_cache_free);
  g_mutex_unlock (&nonce_lock);
}

void
p2p_ice_set_clock_skew (gint64 ms)
{
  g_mutex_lock (&nonce_lock);
  clock_skew_ms = ms;
  g_mutex_unlock (&nonce_lock);
}

static NonceCache *
nonce_cache_get (void)
{
  if (!nonce_cache) {
    nonce_cache = g_new0 (NonceCache, 1);
    nonce_cache->senders = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
        (GDestroyNotify) sender_free);
    g_queue_init (&nonce_cache->sender_order);
    g_queue_init (&nonce_cache->all);
    nonce_cache->floor_ms = G_MININT64;
  }
  return nonce_cache;
}

/* Forgets @e, raising its sender's floor to its timestamp. */
static void
seen_forget (NonceCache *c, SeenOffer *e)
{
  Sender *s = e->sender;
  s->floor_ms = MAX (s->floor_ms, e->ts_ms);
  g_queue_unlink (&c->all, &e->all_link);
  g_queue_unlink (&s->order, &e->own_link);
  g_hash_table_remove (s->seen, e->nonce);
}

/* Drops senders left with only a floor: those whose floor left the window
 * (the window refuses what it refused), then, past the limit, the least
 * recently used, folding their floor into the process-wide one. */
static void
senders_trim (NonceCache *c, gint64 now_ms)
{
  guint limit = 2 * nonce_cache_max;
  if (g_hash_table_size (c->senders) <= limit)
    return;
  for (GList *l = c->sender_order.head; l && g_hash_table_size (c->senders) > limit / 2;) {
    GList *next = l->next;
    Sender *s = l->data;
    if (s->order.length == 0) {
      if (s->floor_ms >= now_ms - P2P_ICE_OFFER_WINDOW_MS)
        c->floor_ms = MAX (c->floor_ms, MIN (s->floor_ms, now_ms));
      g_queue_unlink (&c->sender_order, &s->link);
      g_hash_table_remove (c->senders, s->key);
    }
    l = next;
  }
}

typedef enum { OFFER_FRESH, OFFER_STALE, OFFER_REPLAYED } OfferCheck;

/* Checks an offer's timestamp and nonce against the cache of sender @key
 * ("TO/FROM") and, if fresh, remembers its nonce. *why gets a reason for
 * the peer. Under nonce_lock. */
static OfferCheck
offer_check_and_remember (NonceCache *c, const char *key, const Payload *p, gint64 now_ms,
    char **why)
{
  if (!p->has_ts || !p->nonce) {
    *why = g_strdup ("the offer has no timestamp and nonce (a peer speaking signaling "
        "version 1?); update gst-p2p");
    return OFFER_STALE;
  }
  Sender *s = g_hash_table_lookup (c->senders, key);
  gint64 floor_ms = MAX (c->floor_ms, s ? s->floor_ms : G_MININT64);
  /* |ts - now| without overflow for any gint64 ts */
  gboolean in_window = p->ts_ms >= now_ms - P2P_ICE_OFFER_WINDOW_MS &&
      p->ts_ms <= now_ms + P2P_ICE_OFFER_WINDOW_MS;
  if (!in_window || p->ts_ms <= floor_ms) {
    *why = in_window ? g_strdup ("the offer is not newer than offers this peer had to forget "
        "(too many offers in the window); try again")
        : g_strdup_printf ("the offer's timestamp is more than %d s %s this peer's clock "
            "(check both clocks)", P2P_ICE_OFFER_WINDOW_MS / 1000,
            p->ts_ms < now_ms ? "behind" : "ahead of");
    return OFFER_STALE;
  }
  if (s && g_hash_table_contains (s->seen, p->nonce)) {
    *why = g_strdup ("this offer was already received (replayed)");
    return OFFER_REPLAYED;
  }

  if (!s) {
    s = g_new0 (Sender, 1);
    s->key = g_strdup (key);
    s->floor_ms = G_MININT64;
    s->seen = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
    g_queue_init (&s->order);
    s->link.data = s;
    g_hash_table_insert (c->senders, s->key, s);
  } else {
    g_queue_unlink (&c->sender_order, &s->link);
  }
  g_queue_push_tail_link (&c->sender_order, &s->link);

  /* This sender's quota, then everyone's: first forget nonces that left
   * the window, then the oldest. */
  guint own_max = MIN (nonce_cache_max, P2P_ICE_NONCE_CACHE_PER_SENDER);
  GQueue *queues[] = { &s->order, &c->all };
  guint maxima[] = { own_max, nonce_cache_max };
  for (guint q = 0; q < G_N_ELEMENTS (queues); q++) {
    if (queues[q]->length < maxima[q])
      continue;
    for (GList *l = queues[q]->head; l;) {
      GList *next = l->next;
      SeenOffer *e = l->data;
      if (e->ts_ms < now_ms - P2P_ICE_OFFER_WINDOW_MS)
        seen_forget (c, e);
      l = next;
    }
    while (queues[q]->length >= maxima[q])
      seen_forget (c, g_queue_peek_head (queues[q]));
  }

  SeenOffer *e = g_new0 (SeenOffer, 1);
  g_strlcpy (e->nonce, p->nonce, sizeof e->nonce);
  e->ts_ms = p->ts_ms;
  e->sender = s;
  e->all_link.data = e;
  e->own_link.data = e;
  g_queue_push_tail_link (&c->all, &e->all_link);
  g_queue_push_tail_link (&s->order, &e->own_link);
  g_hash_table_insert (s->seen, e->nonce, e);
  senders_trim (c, now_ms);
  return OFFER_FRESH;
}


/* Every payload carries "ts" (our clock, ms since 1970); @nonce (nullable):
 * an offer's own, echoed in its answer. */
static char *
payload_build_full (const char *kind, const char *session, const char *nonce, P2pIcePath *path,
    const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, kind);
  json_builder_set_member_name (b, "session");
  json_builder_add_string_value (b, session);
  json_builder_set_member_name (b, "ts");
  json_builder_add_int_value (b, g_get_real_time () / 1000);
  if (nonce) {
    json_builder_set_member_name (b, "nonce");
    json_builder_add_string_value (b, nonce);
  }
  if (path) {
    g_autofree char *ufrag = NULL, *pwd = NULL;
    g_auto (GStrv) cands = NULL;
    p2p_ice_path_get_local_description (path, &ufrag, &pwd, &cands);
    json_builder_set_member_name (b, "ufrag");
    json_builder_add_string_value (b, ufrag ? ufrag : "");
    json_builder_set_member_name (b, "pwd");
    json_builder_add_string_value (b, pwd ? pwd : "");
    json_builder_set_member_name (b, "candidates");
    json_builder_begin_array (b);
    for (guint i = 0; cands && cands[i]; i++)
      json_builder_add_string_value (b, cands[i]);
    json_builder_end_array (b);
  }
  if (message) {
    json_builder_set_member_name (b, "message");
    json_builder_add_string_value (b, message);
  }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static char *
payload_build (const char *kind, const char *session, P2pIcePath *path, const char *message)
{
  return payload_build_full (kind, session, NULL, path, message);
}

static void
session_config_for_ice (const P2pQuicSessionConfig *in, P2pQuicSessionConfig *out)
{
  if (in)
    *out = *in;
  else
    p2p_quic_session_config_init (out);
  out->max_udp_payload = P2P_ICE_PATH_MTU;
}

/* ---- dialer ---- */

typedef struct {
  gint refs;              /* the dial itself + one per async operation in flight */
  GTask *task;            /* NULL once completed */
  GCancellable *cancel;   /* ours: cancelled on completion; chained to the caller's */
  GSource *user_cancel;    /* the caller's cancellable, watched on our context */
  P2pSignaling *signaling;
  P2pIdentity *identity;
  P2pConfig *config;
  P2pQuicSessionConfig qcfg;
  P2pPeerId peer;
  char peer_text[P2P_PEER_ID_TEXT_LEN + 1];
  char *session;
  char nonce[P2P_ICE_NONCE_HEX_LEN + 1];  /* of our offer; the answer must echo it */
  P2pIcePath *path;
  gulong sig_signal, sig_not_found, sig_closed;
  GSource *answer_timeout;
  gboolean answered;
} Dial;

static Dial *
dial_ref (Dial *d)
{
  d->refs++;
  return d;
}

static void
dial_unref (Dial *d)
{
  if (--d->refs > 0)
    return;
  g_clear_object (&d->cancel);
  g_clear_object (&d->signaling);
  g_clear_object (&d->identity);
  g_clear_pointer (&d->config, p2p_config_free);
  g_clear_object (&d->path);
  g_free (d->session);
  g_free (d);
}

/* Completes the dial (with @conn or @error) and releases what it holds. */
static void
dial_complete (Dial *d, P2pConnection *conn, GError *error)
{
  if (!d->task) {
    g_clear_object (&conn);
    g_clear_error (&error);
    return;
  }
  GTask *task = g_steal_pointer (&d->task);
  if (d->sig_signal)
    g_clear_signal_handler (&d->sig_signal, d->signaling);
  if (d->sig_not_found)
    g_clear_signal_handler (&d->sig_not_found, d->signaling);
  if (d->sig_closed)
    g_clear_signal_handler (&d->sig_closed, d->signaling);
  if (d->answer_timeout) {
    g_source_destroy (d->answer_timeout);
    g_clear_pointer (&d->answer_timeout, g_source_unref);
  }
  if (d->user_cancel) {
    g_source_destroy (d->user_cancel);
    g_clear_pointer (&d->user_cancel, g_source_unref);
  }
  if (!conn && d->path)
    p2p_packet_path_close (P2P_PACKET_PATH (d->path));
  g_cancellable_cancel (d->cancel);
  if (conn)
    g_task_return_pointer (task, conn, g_object_unref);
  else
    g_task_return_error (task, error);
  g_object_unref (task);
  dial_unref (d);
}

static void
on_quic_dialed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Dial *d = user_data;
  GError *error = NULL;
  P2pConnection *conn = p2p_quic_connection_dial_finish (result, &error);
  if (conn)
    dial_complete (d, conn, NULL);
  else
    dial_complete (d, NULL, error);
  dial_unref (d);
}

static void
on_ice_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Dial *d = user_data;
  GError *error = NULL;
  if (!p2p_ice_path_connect_finish (P2P_ICE_PATH (source), result, &error)) {
    dial_complete (d, NULL, error);
  } else if (d->task) {
    g_debug ("ice: connected to %s over a %s path", d->peer_text,
        p2p_path_kind_to_string (p2p_packet_path_get_kind (P2P_PACKET_PATH (d->path))));
    p2p_quic_connection_dial_async (P2P_PACKET_PATH (d->path), d->identity, &d->peer,
        &d->qcfg, d->cancel, on_quic_dialed, dial_ref (d));
  }
  dial_unref (d);
}

static void
dial_on_signal (P2pSignaling *sig, const P2pPeerId *from, const char *text, gpointer user_data)
{
  Dial *d = user_data;
  if (!d->task || d->answered || !p2p_peer_id_equal (from, &d->peer))
    return;
  Payload p;
  if (!payload_parse (text, &p))
    return;
  if (!g_str_equal (p.session, d->session)) {
    payload_clear (&p);
    return;
  }
  /* An answer must be made for this very offer (an ice-error needs only
   * the session: it starts nothing). */
  if (g_str_equal (p.kind, "ice-answer") && (!p.nonce || !g_str_equal (p.nonce, d->nonce))) {
    g_message ("ignored an ICE answer from %s that does not echo our offer's nonce", d->peer_text);
    payload_clear (&p);
    return;
  }
  d->answered = TRUE;
  if (d->answer_timeout) {
    g_source_destroy (d->answer_timeout);
    g_clear_pointer (&d->answer_timeout, g_source_unref);
  }
  GError *error = NULL;
  if (g_str_equal (p.kind, "ice-error")) {
    dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "peer %s refused the connection: %s", d->peer_text, p.message ? p.message : "no reason"));
  } else if (!g_str_equal (p.kind, "ice-answer")) {
    dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL,
        "peer %s answered with an unexpected \"%s\"", d->peer_text, p.kind));
  } else if (!p2p_ice_path_set_remote_description (d->path, p.ufrag, p.pwd,
      (const char *const *) p.candidates, &error)) {
    g_prefix_error (&error, "peer %s sent a bad ICE answer: ", d->peer_text);
    dial_complete (d, NULL, error);
  } else {
    p2p_ice_path_connect_async (d->path, 0, d->cancel, on_ice_connected, dial_ref (d));
  }
  payload_clear (&p);
}

static void
dial_on_not_found (P2pSignaling *sig, const P2pPeerId *to, gpointer user_data)
{
  Dial *d = user_data;
  if (!d->task || d->answered || !p2p_peer_id_equal (to, &d->peer))
    return;
  dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND,
      "peer %s is not registered at the rendezvous server (is it running and using the same "
      "rendezvous?)", d->peer_text));
}

static void
dial_on_closed (P2pSignaling *sig, const GError *error, gpointer user_data)
{
  Dial *d = user_data;
  if (!d->task || d->answered)
    return;
  dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_NETWORK,
      "lost the rendezvous server before peer %s answered: %s", d->peer_text,
      error ? error->message : "closed"));
}

static gboolean
on_answer_timeout (gpointer user_data)
{
  Dial *d = user_data;
  g_clear_pointer (&d->answer_timeout, g_source_unref);
  dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
      "peer %s did not answer through the rendezvous within %d s", d->peer_text,
      P2P_ICE_ANSWER_TIMEOUT_MS / 1000));
  return G_SOURCE_REMOVE;
}

static void
on_dial_gathered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Dial *d = user_data;
  GError *error = NULL;
  if (!p2p_ice_path_gather_finish (P2P_ICE_PATH (source), result, &error)) {
    dial_complete (d, NULL, error);
  } else if (d->task) {
    g_autofree char *offer = payload_build_full ("ice-offer", d->session, d->nonce, d->path,
        NULL);
    if (!p2p_signaling_send (d->signaling, &d->peer, offer, &error)) {
      dial_complete (d, NULL, error);
    } else {
      d->answer_timeout = g_timeout_source_new (P2P_ICE_ANSWER_TIMEOUT_MS);
      g_source_set_callback (d->answer_timeout, on_answer_timeout, d, NULL);
      g_source_attach (d->answer_timeout, g_main_context_get_thread_default ());
    }
  }
  dial_unref (d);
}

/* On the dial's context: the operation in flight fails with CANCELLED; a
 * dial only waiting for the peer's answer completes now. */
static gboolean
on_user_cancelled (GCancellable *c, gpointer user_data)
{
  Dial *d = user_data;
  g_cancellable_cancel (d->cancel);
  if (d->task && d->answer_timeout && !d->answered)
    dial_complete (d, NULL, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
        "Operation was cancelled"));
  return G_SOURCE_REMOVE;
}

/* A session ID from libsodium's CSPRNG (GLib's g_random is a seeded
 * Mersenne Twister whose output a peer could predict). */
static char *
random_session (void)
{
  guint8 raw[16];
  randombytes_buf (raw, sizeof raw);
  char *hex = g_malloc (sizeof raw * 2 + 1);
  sodium_bin2hex (hex, sizeof raw * 2 + 1, raw, sizeof raw);
  return hex;
}

void
p2p_ice_connect_async (P2pSignaling *signaling, P2pIdentity *identity,
    const P2pConfig *config, const P2pPeerId *peer, const P2pQuicSessionConfig *qcfg,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (P2P_IS_SIGNALING (signaling));
  g_return_if_fail (P2P_IS_IDENTITY (identity));
  g_return_if_fail (config != NULL && peer != NULL);

  Dial *d = g_new0 (Dial, 1);
  d->refs = 1;
  d->task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (d->task, p2p_ice_connect_async);
  d->cancel = g_cancellable_new ();
  d->signaling = g_object_ref (signaling);
  d->identity = g_object_ref (identity);
  d->config = p2p_config_copy (config);
  session_config_for_ice (qcfg, &d->qcfg);
  d->peer = *peer;
  p2p_peer_id_format (peer, d->peer_text);
  d->session = random_session ();
  random_nonce (d->nonce);

  if (g_task_return_error_if_cancelled (d->task)) {
    g_clear_object (&d->task);
    dial_unref (d);
    return;
  }
  if (!p2p_signaling_is_registered (signaling)) {
    dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_NETWORK,
        "not registered at a rendezvous server: cannot look up peer %s", d->peer_text));
    return;
  }
  GError *error = NULL;
  d->path = p2p_ice_path_new (g_main_context_get_thread_default (), d->config, TRUE, &error);
  if (!d->path) {
    dial_complete (d, NULL, error);
    return;
  }
  p2p_ice_path_set_peer_label (d->path, d->peer_text);
  d->sig_signal = g_signal_connect (signaling, "signal", G_CALLBACK (dial_on_signal), d);
  d->sig_not_found = g_signal_connect (signaling, "peer-not-found",
      G_CALLBACK (dial_on_not_found), d);
  d->sig_closed = g_signal_connect (signaling, "closed", G_CALLBACK (dial_on_closed), d);
  if (cancellable) {
    d->user_cancel = g_cancellable_source_new (cancellable);
    g_source_set_callback (d->user_cancel, G_SOURCE_FUNC (on_user_cancelled), d, NULL);
    g_source_attach (d->user_cancel, g_main_context_get_thread_default ());
  }
  p2p_ice_path_gather_async (d->path, d->cancel, on_dial_gathered, dial_ref (d));
}

P2pConnection *
p2p_ice_connect_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- responder ---- */

typedef struct _Setup Setup;

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

static void
on_server_established (P2pQuicConnection *conn, gpointer user_data)
{
  Setup *s = user_data;
  if (s->dead)
    return;
  g_debug ("ice: accepted %s over a %s path", s->from_text,
      p2p_path_kind_to_string (p2p_packet_path_get_kind (P2P_PACKET_PATH (s->path))));
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

static void
on_first_datagram (P2pPacketPath *path, const guint8 *data, gsize len, gpointer user_data)
{
  Setup *s = user_data;
  if (s->dead || s->conn || !p2p_quic_packet_is_initial (data, len))
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
  g_autofree char *answer = ok ? payload_build_full ("ice-answer", s->session, s->nonce, s->path,
      NULL)
      : payload_build ("ice-error", s->session, NULL, error->message);
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
  g_autofree char *text = payload_build ("ice-error", session, NULL, why);
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
offer_fresh (P2pIceResponder *self, const P2pPeerId *from, const char *from_text, Payload *p)
{
  g_autofree char *why = NULL;
  g_autofree char *key = offer_key (self, from_text);
  g_mutex_lock (&nonce_lock);
  gint64 now_ms = g_get_real_time () / 1000 + clock_skew_ms;
  OfferCheck verdict = offer_check_and_remember (nonce_cache_get (), key, p, now_ms, &why);
  g_mutex_unlock (&nonce_lock);
  switch (verdict) {
    case OFFER_FRESH:
      return TRUE;
    case OFFER_STALE:
      self->counters->offers_stale++;
      g_message ("ICE offer from %s refused: %s", from_text, why);
      reply_error (self, from, p->session, why);
      break;
    case OFFER_REPLAYED:
    default:
      self->counters->offers_replayed++;
      g_message ("ICE offer from %s dropped: %s", from_text, why);
      break;
  }
  payload_clear (p);
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
  Payload p;
  if (!payload_parse (text, &p))
    return;
  if (!g_str_equal (p.kind, "ice-offer")) {
    payload_clear (&p);
    return;
  }
  if (!offer_fresh (self, from, from_text, &p))
    return;
  g_autofree char *key = g_strdup_printf ("%s/%s", from_text, p.session);
  if (g_hash_table_contains (self->setups, key)) {
    payload_clear (&p);
    return; /* duplicate offer */
  }
  if (self->refusing) {
    reply_error (self, from, p.session, "not accepting connections (no listener is open)");
    payload_clear (&p);
    return;
  }
  if (g_hash_table_size (self->setups) >= self->max_pending) {
    reply_error (self, from, p.session, "too many connections being set up; try again");
    payload_clear (&p);
    return;
  }

  g_autoptr (GError) error = NULL;
  g_autoptr (P2pIcePath) path = p2p_ice_path_new (g_main_context_get_thread_default (),
      self->config, FALSE, &error);
  if (!path || !p2p_ice_path_set_remote_description (path, p.ufrag, p.pwd,
          (const char *const *) p.candidates, &error)) {
    g_message ("ICE offer from %s refused: %s", from_text, error->message);
    reply_error (self, from, p.session, error->message);
    payload_clear (&p);
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
  payload_clear (&p);

  p2p_packet_path_set_handlers (P2P_PACKET_PATH (s->path), on_first_datagram, NULL, s, NULL);
  p2p_ice_path_gather_async (s->path, s->cancel, on_responder_gathered, setup_ref (s));
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
  session_config_for_ice (qcfg, &self->qcfg);
  if (self->qcfg.handshake_timeout_ns == 0) /* server sessions: as a UDP listener's */
    self->qcfg.handshake_timeout_ns = P2P_QUIC_SERVER_HANDSHAKE_TIMEOUT_NS;
  self->allowed = allowed ? g_ptr_array_ref (allowed) : NULL;
  self->max_pending = max_pending ? max_pending : 16;
  self->counters = &self->own;
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
  g_clear_object (&self->signaling);
  g_clear_object (&self->identity);
  p2p_config_free (self->config);
  if (self->allowed)
    g_ptr_array_unref (self->allowed);
  g_free (self);
}

/* ---- P2pIceService ---- */

#define REREGISTER_MS 2000

struct _P2pIceService {
  P2pIdentity *identity;
  P2pConfig *config;
  P2pQuicSessionConfig qcfg;
  char *url;
  P2pSignaling *signaling;
  gboolean registering;
  GQueue waiting;               /* GTask* waiting for the registration */
  P2pIceResponder *responder;
  gboolean accepting;
  GPtrArray *allowed;
  guint max_pending;
  P2pIceAcceptFunc func;
  gpointer user_data;
  GSource *retry;
  gulong closed_id;
  struct ServiceBox *box;       /* lets pending callbacks see that we are gone */
  P2pIceCounters counters;      /* of every responder it had */
};

typedef struct ServiceBox {
  gint refs;
  P2pIceService *svc;
} ServiceBox;

static void
box_unref (ServiceBox *b)
{
  if (--b->refs == 0)
    g_free (b);
}

static void service_register (P2pIceService *self);

static void
service_drop_signaling (P2pIceService *self)
{
  g_clear_pointer (&self->responder, p2p_ice_responder_free);
  if (self->signaling) {
    if (self->closed_id)
      g_clear_signal_handler (&self->closed_id, self->signaling);
    p2p_signaling_close (self->signaling);
    g_clear_object (&self->signaling);
  }
}

static gboolean
on_retry (gpointer data)
{
  P2pIceService *self = data;
  g_clear_pointer (&self->retry, g_source_unref);
  if (self->accepting && !self->signaling && !self->registering)
    service_register (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_retry (P2pIceService *self)
{
  if (!self->accepting || self->retry)
    return;
  self->retry = g_timeout_source_new (REREGISTER_MS);
  g_source_set_callback (self->retry, on_retry, self, NULL);
  g_source_attach (self->retry, g_main_context_get_thread_default ());
}

static gboolean
drop_cb (gpointer data)
{
  g_object_unref (data);
  return G_SOURCE_REMOVE;
}

/* Drops @obj's reference from a later turn of this thread's context. */
static void
drop_later (gpointer obj)
{
  GSource *src = g_idle_source_new ();

  g_source_set_callback (src, drop_cb, obj, NULL);
  g_source_attach (src, g_main_context_get_thread_default ());
  g_source_unref (src);
}

static void
on_service_closed (P2pSignaling *sig, const GError *error, gpointer data)
{
  P2pIceService *self = data;
  g_message ("lost the rendezvous server %s: %s%s", self->url, error ? error->message : "closed",
      self->accepting ? "; registering again" : "");
  /* Freed from a later turn: we are inside the signaling's emission. */
  P2pSignaling *old = g_steal_pointer (&self->signaling);
  g_clear_pointer (&self->responder, p2p_ice_responder_free);
  g_clear_signal_handler (&self->closed_id, old);
  drop_later (old);
  schedule_retry (self);
}

static void start_dial (P2pIceService *self, GTask *task);

static void
on_service_registered (GObject *source, GAsyncResult *result, gpointer data)
{
  P2pSignaling *sig = P2P_SIGNALING (source);
  ServiceBox *box = data;
  GError *error = NULL;
  gboolean ok = p2p_signaling_connect_finish (sig, result, &error);
  P2pIceService *self = box->svc;
  box_unref (box);
  if (!self || sig != self->signaling) {
    g_clear_error (&error);
    return; /* the service was freed, or this registration was abandoned */
  }
  self->registering = FALSE;
  /* Completing a task may run its callback at once, and that callback may
   * free the service: take the waiting tasks first, touch @self only while
   * the box says it is alive. */
  GQueue waiting = self->waiting;
  g_queue_init (&self->waiting);
  box->refs++;
  GTask *t;
  if (!ok) {
    g_clear_object (&self->signaling);
    g_message ("rendezvous %s: %s", self->url, error->message);
    schedule_retry (self);
    while ((t = g_queue_pop_head (&waiting))) {
      g_task_return_error (t, g_error_copy (error));
      g_object_unref (t);
    }
    g_error_free (error);
    box_unref (box);
    return;
  }
  self->closed_id = g_signal_connect (self->signaling, "closed", G_CALLBACK (on_service_closed), self);
  if (self->accepting && !self->responder)
    self->responder = p2p_ice_responder_new (self->signaling, self->identity, self->config,
        &self->qcfg, self->allowed, self->max_pending, self->func, self->user_data);
  if (self->responder)
    self->responder->counters = &self->counters;
  while ((t = g_queue_pop_head (&waiting))) {
    if (!box->svc) {
      g_task_return_new_error (t, P2P_ERROR, P2P_ERROR_CLOSED, "the provider is shutting down");
      g_object_unref (t);
    } else if (g_task_get_task_data (t) == NULL) {   /* p2p_ice_service_register_async */
      g_task_return_boolean (t, TRUE);
      g_object_unref (t);
    } else {
      start_dial (box->svc, t);
    }
  }
  box_unref (box);
}

static void
service_register (P2pIceService *self)
{
  if (self->registering || self->signaling)
    return;
  self->registering = TRUE;
  self->signaling = p2p_signaling_new (self->identity);
  self->box->refs++;
  p2p_signaling_connect_async (self->signaling, self->url, NULL, on_service_registered, self->box);
}

/* A task waiting for the registration whose caller cancels leaves the
 * queue at once (the registration itself goes on, bounded by its timeout). */
typedef struct {
  ServiceBox *box;
  GTask *task;                  /* not owned: the source dies with the task */
} WaitCancel;

static gboolean
on_wait_cancelled (GCancellable *cancellable, gpointer data)
{
  WaitCancel *wc = data;
  P2pIceService *self = wc->box->svc;
  if (self && g_queue_remove (&self->waiting, wc->task)) {
    g_task_return_error_if_cancelled (wc->task);
    g_object_unref (wc->task);
  }
  return G_SOURCE_REMOVE;
}

static void
wait_cancel_free (gpointer data)
{
  WaitCancel *wc = data;
  box_unref (wc->box);
  g_free (wc);
}

static void
destroy_source (gpointer data)
{
  g_source_destroy (data);
  g_source_unref (data);
}

static void
service_enqueue (P2pIceService *self, GTask *task)
{
  GCancellable *cancellable = g_task_get_cancellable (task);
  if (cancellable) {
    WaitCancel *wc = g_new0 (WaitCancel, 1);
    GSource *src = g_cancellable_source_new (cancellable);
    wc->box = self->box;
    wc->box->refs++;
    wc->task = task;
    g_source_set_callback (src, G_SOURCE_FUNC (on_wait_cancelled), wc, wait_cancel_free);
    g_source_attach (src, g_main_context_get_thread_default ());
    g_object_set_data_full (G_OBJECT (task), "p2p-wait-cancel", src, destroy_source);
  }
  g_queue_push_tail (&self->waiting, task);
  service_register (self);
}

static void
on_service_dialed (GObject *source, GAsyncResult *result, gpointer data)
{
  GTask *task = data;
  GError *error = NULL;
  P2pConnection *conn = p2p_ice_connect_finish (result, &error);
  if (conn)
    g_task_return_pointer (task, conn, g_object_unref);
  else
    g_task_return_error (task, error);
  g_object_unref (task);
}

static void
start_dial (P2pIceService *self, GTask *task)
{
  const P2pPeerId *peer = g_task_get_task_data (task);
  p2p_ice_connect_async (self->signaling, self->identity, self->config, peer, &self->qcfg,
      g_task_get_cancellable (task), on_service_dialed, task);
}

P2pIceService *
p2p_ice_service_new (P2pIdentity *identity, const P2pConfig *config,
    const P2pQuicSessionConfig *qcfg, GError **error)
{
  g_return_val_if_fail (P2P_IS_IDENTITY (identity) && config != NULL, NULL);
  if (!config->bootstrap_peers || !config->bootstrap_peers[0]) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "no rendezvous server configured: set P2P_BOOTSTRAP_PEERS=ws://HOST:PORT/");
    return NULL;
  }
  P2pIceService *self = g_new0 (P2pIceService, 1);
  self->identity = g_object_ref (identity);
  self->config = p2p_config_copy (config);
  session_config_for_ice (qcfg, &self->qcfg);
  self->url = g_strdup (config->bootstrap_peers[0]);
  g_queue_init (&self->waiting);
  self->box = g_new0 (ServiceBox, 1);
  self->box->refs = 1;
  self->box->svc = self;
  return self;
}

void
p2p_ice_service_connect_async (P2pIceService *self, const P2pPeerId *peer,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_ice_service_connect_async);
  g_task_set_task_data (task, p2p_peer_id_copy (peer), (GDestroyNotify) p2p_peer_id_free);
  if (self->signaling && p2p_signaling_is_registered (self->signaling)) {
    start_dial (self, task);
    return;
  }
  service_enqueue (self, task);
}

P2pConnection *
p2p_ice_service_connect_finish (P2pIceService *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
p2p_ice_service_start_accepting (P2pIceService *self, GPtrArray *allowed, guint max_pending,
    P2pIceAcceptFunc func, gpointer user_data)
{
  if (self->accepting)
    return;
  self->accepting = TRUE;
  g_clear_pointer (&self->responder, p2p_ice_responder_free);   /* a refusing one */
  g_clear_pointer (&self->allowed, g_ptr_array_unref);
  self->allowed = allowed ? g_ptr_array_ref (allowed) : NULL;
  self->max_pending = max_pending;
  self->func = func;
  self->user_data = user_data;
  if (self->signaling && p2p_signaling_is_registered (self->signaling))
    self->responder = p2p_ice_responder_new (self->signaling, self->identity, self->config,
        &self->qcfg, self->allowed, self->max_pending, self->func, self->user_data);
  if (self->responder)
    self->responder->counters = &self->counters;
  else
    service_register (self);
}

void
p2p_ice_service_stop_accepting (P2pIceService *self)
{
  if (!self || !self->accepting)
    return;
  self->accepting = FALSE;
  if (self->retry) {
    g_source_destroy (self->retry);
    g_clear_pointer (&self->retry, g_source_unref);
  }
  /* Setups in progress finish (their connections go to the accept
   * callback); new offers are refused while we stay registered. */
  if (self->responder)
    self->responder->refusing = TRUE;
  self->func = NULL;
  self->user_data = NULL;
}

void
p2p_ice_service_register_async (P2pIceService *self, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_ice_service_register_async);
  if (self->signaling && p2p_signaling_is_registered (self->signaling)) {
    g_task_return_boolean (task, TRUE);
    g_object_unref (task);
    return;
  }
  service_enqueue (self, task);
}

gboolean
p2p_ice_service_register_finish (P2pIceService *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
p2p_ice_service_get_counters (P2pIceService *self, P2pIceCounters *out)
{
  *out = self->counters;
}

gboolean
p2p_ice_service_is_registered (P2pIceService *self)
{
  return self->signaling && p2p_signaling_is_registered (self->signaling);
}

void
p2p_ice_service_free (P2pIceService *self)
{
  if (!self)
    return;
  self->accepting = FALSE;
  if (self->retry) {
    g_source_destroy (self->retry);
    g_clear_pointer (&self->retry, g_source_unref);
  }
  GTask *t;
  while ((t = g_queue_pop_head (&self->waiting))) {
    g_task_return_new_error (t, P2P_ERROR, P2P_ERROR_CLOSED, "the provider is shutting down");
    g_object_unref (t);
  }
  self->box->svc = NULL;
  box_unref (self->box);
  service_drop_signaling (self);
  if (self->allowed)
    g_ptr_array_unref (self->allowed);
  g_object_unref (self->identity);
  p2p_config_free (self->config);
  g_free (self->url);
  g_free (self);
}
