/* p2p-ice-replay.c: the responder's offer freshness and replay check: a
 * process-wide cache of the offer nonces seen, per sender, with floors.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-connect-private.h"

/* An offer must carry a timestamp within ±P2P_ICE_OFFER_WINDOW_MS of our
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

/* Checks an offer's timestamp and nonce against the cache of sender @key
 * ("TO/FROM") and, if fresh, remembers its nonce. *why gets a reason for
 * the peer. Under nonce_lock. */
static P2pIceOfferCheck
offer_check_and_remember (NonceCache *c, const char *key, const P2pIcePayload *p, gint64 now_ms,
    char **why)
{
  if (!p->has_ts || !p->nonce) {
    *why = g_strdup ("the offer has no timestamp and nonce (a peer speaking signaling "
        "version 1?); update gst-p2p");
    return P2P_ICE_OFFER_STALE;
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
    return P2P_ICE_OFFER_STALE;
  }
  if (s && g_hash_table_contains (s->seen, p->nonce)) {
    *why = g_strdup ("this offer was already received (replayed)");
    return P2P_ICE_OFFER_REPLAYED;
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
  return P2P_ICE_OFFER_FRESH;
}

P2pIceOfferCheck
p2p_ice_offer_check (const char *key, const P2pIcePayload *p, char **why)
{
  g_mutex_lock (&nonce_lock);
  gint64 now_ms = g_get_real_time () / 1000 + clock_skew_ms;
  P2pIceOfferCheck verdict = offer_check_and_remember (nonce_cache_get (), key, p, now_ms, why);
  g_mutex_unlock (&nonce_lock);
  return verdict;
}
