/* p2p-quic-dial-race.c: the connect of P2pQuicProvider and its race: the
 * peer's addresses dialled STAGGER_MS apart (host names resolved first)
 * and, with a rendezvous configured, the rendezvous + ICE route, in
 * parallel (a bare peer ID: the LAN lookup and the rendezvous + ICE); the
 * first connection wins (pooled, handed to every waiting task), the dials
 * still running are cancelled and losers that connect anyway are closed
 * ("duplicate connection"); failures keep the most telling error
 * (authentication beats a timeout or network error).
 *
 * Structure of a connect (all on the network thread after connect_async):
 *   connect_start_net → pool hit? → in-flight dial to the same peer? (join
 *   it) → addresses? dial them all (connect_direct; with a rendezvous, the
 *   ICE route starts too if none answered within ICE_FALLBACK_MS) :
 *   rendezvous + ICE (connect_via_rendezvous) → connect_finish_net completes
 *   every waiting GTask with the first connection (the others are cancelled
 *   or closed). A bare peer ID is also asked of the local network (mDNS,
 *   P2P_MDNS): a verified record's addresses are dialled like a ticket's.
 *   With P2P_RELAY_POLICY=relay-only only the rendezvous + ICE route runs
 *   (relayed candidates only): no address is dialled directly.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-provider-private.h"
#include "p2p/p2p-error.h"
#include "p2p-error-private.h"
#include "p2p/p2p-peer-info.h"
#include "p2p-module-loader.h"

/* A ticket's or ID@HOST:PORT's addresses get this long to answer before the
 * rendezvous + ICE route starts as well (when a rendezvous is configured). */
#define ICE_FALLBACK_MS 1500

/* A bare peer ID's LAN lookup (mDNS) gives up after this long; an answer
 * on a LAN takes a few milliseconds. */
#define MDNS_LOOKUP_MS 2000
/* A bare peer ID's DHT lookup gives up after this long. */
#define DHT_LOOKUP_MS 5000

typedef struct _Connect Connect;

/* One discovery source asked for a bare peer ID's record. */
typedef struct {
  Connect *c;
  const char *name;             /* "mdns", "dht" (log field P2P_SOURCE) */
  const char *where;            /* "on the local network (mDNS)", ... */
  guint limit_ms;
  GSource *timer;               /* its time limit (in cancel_sources) */
} Lookup;

struct _Connect {
  P2pQuicProvider *self;        /* ref */
  P2pPeerInfo *info;
  P2pPeerId peer;
  char *peer_str;
  GPtrArray *tasks;             /* GTask* waiting for this dial */
  GCancellable *race;           /* cancels the dials still running */
  guint outstanding;
  gboolean ice_started;
  P2pMdnsLookup *mdns;          /* the LAN lookup of a bare peer ID */
  P2pDhtLookup *dht;            /* its DHT lookup */
  Lookup lookups[2];            /* [0] mDNS, [1] DHT */
  gboolean bare;                /* named by peer ID only: found by discovery */
  gboolean found;               /* a discovery source answered */
  GString *tried;               /* each source's failure, for PEER_NOT_FOUND */
  GError *error;                /* the most telling failure so far */
  GPtrArray *cancel_sources;    /* GSource*: timers destroyed at the finish */
  GArray *cancel_handlers;      /* CancelHandler: on the tasks' cancellables */
  gboolean done;
};

typedef struct {
  GCancellable *cancellable;    /* ref */
  gulong id;
} CancelHandler;

/* ------------------------------------------------------------ connect */

/* Stops the discovery lookups (their timers go with cancel_sources). */
static void
stop_lookups (Connect *c)
{
  g_clear_pointer (&c->mdns, p2p_mdns_lookup_free);
  if (c->dht)
    c->self->dht_mod->lookup_free (g_steal_pointer (&c->dht));
}

static void
connect_free (Connect *c)
{
  stop_lookups (c);
  g_clear_pointer (&c->info, p2p_peer_info_unref);
  g_ptr_array_unref (c->tasks);
  g_ptr_array_unref (c->cancel_sources);
  g_array_unref (c->cancel_handlers);
  g_clear_object (&c->race);
  g_clear_error (&c->error);
  g_string_free (c->tried, TRUE);
  g_free (c->peer_str);
  g_object_unref (c->self);
  g_free (c);
}

/* P2P_RELAY_POLICY=relay-only: nothing but relayed ICE paths. No address
 * of a ticket or of a discovery record (mDNS, DHT) is dialed directly: that
 * packet would show this host's address to the peer. */
static gboolean
relay_only (P2pQuicProvider *self)
{
  return self->config->relay_policy == P2P_RELAY_POLICY_RELAY_ONLY;
}

/* Completes every waiting task with @conn or c->error, then frees @c. */
static void
connect_finish_net (Connect *c, P2pConnection *conn)
{
  P2pQuicProvider *self = c->self;

  c->outstanding++;             /* hold: destroying sources may release others */
  c->done = TRUE;
  /* a bare peer ID that no source found: one error naming each source */
  if (conn == NULL && c->bare && !c->found && c->tried->len > 0
      && !g_error_matches (c->error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED)
      && !g_error_matches (c->error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_clear_error (&c->error);
    c->error = g_error_new (P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND,
        "peer %s was not found: %s%s", c->peer_str, c->tried->str,
        relay_only (self) ? "" : "; use a ticket or ID@HOST:PORT");
  }
  if (conn == NULL && c->error == NULL)
    c->error = g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "no address of peer %s could be dialled", c->peer_str);
  if (g_hash_table_lookup (self->inflight, c->peer_str) == c)
    g_hash_table_remove (self->inflight, c->peer_str);
  g_cancellable_cancel (c->race);
  stop_lookups (c);
  for (guint i = 0; i < c->cancel_sources->len; i++)
    g_source_destroy (c->cancel_sources->pdata[i]);
  /* Waits for a "cancelled" emission running in another thread (our
   * handler only queues work here, so that is short). */
  for (guint i = 0; i < c->cancel_handlers->len; i++) {
    CancelHandler *h = &g_array_index (c->cancel_handlers, CancelHandler, i);

    g_cancellable_disconnect (h->cancellable, h->id);
    g_object_unref (h->cancellable);
  }
  g_array_set_size (c->cancel_handlers, 0);
  if (conn)
    p2p_quic_provider_pool_add (self, c->peer_str, conn);
  p2p_provider_counters_dialed (self->counters, conn, c->error);
  for (guint i = 0; i < c->tasks->len; i++) {
    GTask *task = c->tasks->pdata[i];

    if (conn)
      g_task_return_pointer (task, g_object_ref (conn), g_object_unref);
    else if (g_task_return_error_if_cancelled (task))
      ;
    else
      g_task_return_error (task, g_error_copy (c->error));
  }
  g_ptr_array_set_size (c->tasks, 0);
  if (--c->outstanding == 0)
    connect_free (c);
}

/* For a bare peer ID: what one discovery source said. */
static void
note_tried (Connect *c, const char *source, const char *what)
{
  if (c->bare)
    g_string_append_printf (c->tried, "%s%s%s%s", c->tried->len ? "; " : "", source,
        source[0] ? ": " : "", what);
}

/* One route's result (a direct dial's or the ICE route's), counted out of
 * c->outstanding already: @conn (transfer none, nullable) wins the race,
 * or is closed when it lost it; @error (taken) is noted. */
static void
dial_result (Connect *c, P2pConnection *conn, GError *error)
{
  if (c->done) {
    /* Lost the race after the winner was chosen. */
    if (conn)
      p2p_connection_close (conn, "duplicate connection");
    g_clear_error (&error);
    if (c->outstanding == 0)
      connect_free (c);
    return;
  }
  if (conn) {
    connect_finish_net (c, conn);
    return;
  }
  p2p_error_keep_telling (&c->error, error);
  if (c->outstanding == 0)
    connect_finish_net (c, NULL);
}

static void
dial_one_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Connect *c = user_data;
  GError *error = NULL;
  g_autoptr (P2pConnection) conn = p2p_quic_endpoint_dial_finish (P2P_QUIC_ENDPOINT (source),
      res, &error);

  c->outstanding--;
  dial_result (c, conn, error);
}

static void
dial_address (Connect *c, GInetAddress *ip, guint16 port)
{
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (ip, port);
  GError *error = NULL;
  P2pQuicEndpoint *ep = p2p_quic_provider_get_dial_endpoint (c->self,
      g_inet_address_get_family (ip), &error);

  if (ep == NULL) {
    p2p_error_keep_telling (&c->error, error);
    return;
  }
  c->outstanding++;
  p2p_quic_endpoint_dial_async (ep, sa, &c->peer, c->race, dial_one_done, c);
}

typedef struct {
  Connect *c;
  guint16 port;
  char *host;
} Resolve;

static void
resolved (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Resolve *r = user_data;
  Connect *c = r->c;
  GError *error = NULL;
  GList *addrs = g_resolver_lookup_by_name_finish (G_RESOLVER (source), res, &error);

  c->outstanding--;
  if (addrs && !c->done) {
    guint n = 0;

    /* every address of the name races (at most 4): "localhost" may give
     * ::1 first while the peer listens on 127.0.0.1 only */
    for (GList *l = addrs; l && n < 4; l = l->next, n++)
      dial_address (c, l->data, r->port);
  } else if (!c->done)
    p2p_error_keep_telling (&c->error, g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "cannot resolve host name %s: %s", r->host, error ? error->message : "no address"));
  g_clear_error (&error);
  g_resolver_free_addresses (addrs);
  g_free (r->host);
  g_free (r);
  if (c->outstanding == 0) {
    if (c->done)
      connect_free (c);
    else
      connect_finish_net (c, NULL);
  }
}

/* Starts dialling one "HOST:PORT" (resolving a host name first). */
static void
start_address (Connect *c, const char *addr)
{
  g_autofree char *host = NULL;
  g_autoptr (GInetAddress) ip = NULL;
  guint16 port = 0;
  GError *error = NULL;

  if (!p2p_parse_host_port (addr, &host, &port, &error)) {
    p2p_error_keep_telling (&c->error, error);
    return;
  }
  ip = g_inet_address_new_from_string (host);
  if (ip) {
    dial_address (c, ip, port);
  } else {
    g_autoptr (GResolver) resolver = g_resolver_get_default ();
    Resolve *r = g_new0 (Resolve, 1);

    r->c = c;
    r->port = port;
    r->host = g_steal_pointer (&host);
    c->outstanding++;
    g_resolver_lookup_by_name_async (resolver, r->host, c->race, resolved, r);
  }
}

typedef struct {
  Connect *c;
  char *addr;
} DelayedStart;

static gboolean
delayed_start_cb (gpointer data)
{
  DelayedStart *d = data;

  if (!d->c->done)
    start_address (d->c, d->addr);
  return G_SOURCE_REMOVE;
}

/* Runs when the delayed start fired or was cancelled by the finish. */
static void
delayed_start_free (gpointer data)
{
  DelayedStart *d = data;
  Connect *c = d->c;

  g_free (d->addr);
  g_free (d);
  if (--c->outstanding == 0) {
    if (c->done)
      connect_free (c);
    else
      connect_finish_net (c, NULL);
  }
}

/* Dials the peer's addresses in order, each STAGGER_MS after the previous
 * one (the first answer wins and cancels the rest): a ticket lists the same
 * listener under several addresses, and dialling them all at once would
 * open duplicate connections that the listener's application sees. */
#define STAGGER_MS 250

static gboolean ice_fallback_cb (gpointer data);
/* A timer's destroy notify: its hold on the Connect goes. */
static void connect_release_hold (gpointer data);

/* Starts dialling @addrs, the first at once, the others STAGGER_MS apart;
 * the caller holds @c. */
static void
dial_addresses (Connect *c, const char *const *addrs)
{
  for (guint i = 0; addrs && addrs[i]; i++) {
    DelayedStart *d;
    GSource *src;

    if (i == 0) {
      start_address (c, addrs[i]);
      continue;
    }
    d = g_new0 (DelayedStart, 1);
    d->c = c;
    d->addr = g_strdup (addrs[i]);
    c->outstanding++;
    src = g_timeout_source_new (i * STAGGER_MS);
    g_source_set_callback (src, delayed_start_cb, d, delayed_start_free);
    g_source_attach (src, p2p_net_thread_get_context (c->self->net));
    g_ptr_array_add (c->cancel_sources, src);
  }
}

static void
connect_direct (Connect *c)
{
  c->outstanding++;             /* hold @c while starting */
  if (p2p_quic_provider_rendezvous_configured (c->self)) {
    GSource *src = g_timeout_source_new (ICE_FALLBACK_MS);

    c->outstanding++;
    g_source_set_callback (src, ice_fallback_cb, c, connect_release_hold);
    g_source_attach (src, p2p_net_thread_get_context (c->self->net));
    g_ptr_array_add (c->cancel_sources, src);
  }
  dial_addresses (c, p2p_peer_info_get_addresses (c->info));
  c->outstanding--;
  if (c->outstanding == 0)
    connect_finish_net (c, NULL);
}

/* How the ICE route is named in the list of what was tried. */
static const char *
ice_route (P2pQuicProvider *self)
{
  gboolean rdv = p2p_quic_provider_rendezvous_configured (self);

  if (self->dht == NULL)
    return "through the rendezvous";
  return rdv ? "through the rendezvous and the DHT (ICE offer)" : "through the DHT (ICE offer)";
}

static void
ice_dial_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Connect *c = user_data;
  GError *error = NULL;
  g_autoptr (P2pConnection) conn = NULL;

  /* The service outlives every dial it started (freed at shutdown after
   * completing them), so c->self->ice may already be gone: do not use it. */
  conn = p2p_ice_loader_get (NULL)->connect_finish (NULL, res, &error);
  c->outstanding--;
  if (conn == NULL && error)
    note_tried (c, ice_route (c->self), error->message);
  if (conn && !c->self->shut_down)
    p2p_quic_provider_track_ice_conn (c->self, conn);
  dial_result (c, conn, error);
}

/* Starts the rendezvous + ICE route to c->peer (counted in c->outstanding
 * like a direct dial), with the DHT as a carrier of the offer when it
 * runs. Without either, notes PEER_NOT_FOUND. */
static void
start_ice (Connect *c)
{
  P2pQuicProvider *self = c->self;
  GError *error = NULL;
  P2pIceService *ice;

  if (c->ice_started || c->done)
    return;
  c->ice_started = TRUE;
  if (!p2p_quic_provider_ice_configured (self)) {
    if (relay_only (self))
      note_tried (c, "", "no rendezvous configured (P2P_BOOTSTRAP_PEERS), and "
          "P2P_RELAY_POLICY=relay-only reaches peers only through one and a TURN relay "
          "(a ticket's or ID@HOST:PORT's addresses are never dialed directly: that "
          "would show this host's address to the peer)");
    else
      note_tried (c, "", "no rendezvous configured (P2P_BOOTSTRAP_PEERS)");
    p2p_error_keep_telling (&c->error, g_error_new (P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND,
        "no address for peer %s and no rendezvous configured (P2P_BOOTSTRAP_PEERS); "
        "use a ticket or ID@HOST:PORT", c->peer_str));
    return;
  }
  ice = p2p_quic_provider_get_ice (self, &error);
  if (ice == NULL) {
    note_tried (c, ice_route (c->self), error->message);
    p2p_error_keep_telling (&c->error, error);
    return;
  }
  c->outstanding++;
  self->ice_mod->connect_async (ice, &c->peer, c->race, ice_dial_done, c);
}

/* ------------------------------------- discovery of a bare peer ID */

static void
lookup_found (P2pDiscoveryRecord *record, gint64 elapsed_us, gpointer data)
{
  Lookup *l = data;
  Connect *c = l->c;
  g_autofree char *ms = g_strdup_printf ("%.1f", elapsed_us / 1000.0);

  c->found = TRUE;
  g_autofree char *addrs = g_strjoinv (",", record->addresses);

  g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_INFO,
      "P2P_EVENT", "discovered",
      "P2P_PEER", c->peer_str,
      "P2P_SOURCE", l->name,
      "P2P_DISCOVERY_MS", ms,
      "MESSAGE", "peer %s found %s in %s ms at %s", c->peer_str, l->where, ms, addrs);
  if (!c->done)
    dial_addresses (c, (const char *const *) record->addresses);
  p2p_discovery_record_free (record);
  /* the lookup's hold on @c goes with its timer */
  g_source_destroy (l->timer);
}

static gboolean
lookup_timeout_cb (gpointer data)
{
  Lookup *l = data;
  g_autofree char *what = g_strdup_printf ("no answer within %u ms", l->limit_ms);

  note_tried (l->c, l->where, what);
  p2p_error_keep_telling (&l->c->error, g_error_new (P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND,
      "peer %s was not found %s within %u ms", l->c->peer_str, l->where, l->limit_ms));
  return G_SOURCE_REMOVE;
}

static void
lookup_release (gpointer data)
{
  connect_release_hold (((Lookup *) data)->c);
}

/* A lookup started: it holds @c until it found the peer, timed out or the
 * connect finished. */
static void
lookup_started (Lookup *l)
{
  Connect *c = l->c;

  c->outstanding++;
  l->timer = g_timeout_source_new (l->limit_ms);
  g_source_set_callback (l->timer, lookup_timeout_cb, l, lookup_release);
  g_source_attach (l->timer, p2p_net_thread_get_context (c->self->net));
  g_ptr_array_add (c->cancel_sources, l->timer);
}

/* Asks the LAN (mDNS, unless P2P_MDNS=0) and the DHT (when
 * P2P_BOOTSTRAP_PEERS names dht:// nodes) for the peer's signed record. */
static void
start_lookups (Connect *c)
{
  P2pMdns *mdns = p2p_quic_provider_get_mdns (c->self);
  P2pDht *dht = p2p_quic_provider_get_dht (c->self);
  GError *error = NULL;

  guint find_ms = c->self->config->find_timeout_ms;

  c->lookups[0] = (Lookup) { c, "mdns", "on the local network (mDNS)", MIN (MDNS_LOOKUP_MS, find_ms) };
  c->lookups[1] = (Lookup) { c, "dht", "in the DHT", MIN (DHT_LOOKUP_MS, find_ms) };
  if (mdns) {
    c->mdns = p2p_mdns_lookup_start (mdns, &c->peer, lookup_found, &c->lookups[0], &error);
    if (c->mdns) {
      lookup_started (&c->lookups[0]);
    } else {
      note_tried (c, c->lookups[0].where, error->message);
      p2p_error_keep_telling (&c->error, g_steal_pointer (&error));
    }
  }
  if (dht) {
    c->dht = c->self->dht_mod->lookup_start (dht, &c->peer, lookup_found, &c->lookups[1],
        &error);
    if (c->dht) {
      lookup_started (&c->lookups[1]);
    } else {
      note_tried (c, c->lookups[1].where, error->message);
      p2p_error_keep_telling (&c->error, g_steal_pointer (&error));
    }
  }
}

/* Peers named by ID only: ask the local network (mDNS), the DHT and the
 * rendezvous servers of P2P_BOOTSTRAP_PEERS (ICE) at once; the first
 * connection wins. */
static void
connect_via_rendezvous (Connect *c)
{
  c->outstanding++;             /* hold @c while starting */
  c->bare = TRUE;
  if (!relay_only (c->self))
    start_lookups (c);          /* (they find direct addresses only) */
  start_ice (c);
  if (--c->outstanding == 0)
    connect_finish_net (c, NULL);
}

/* The direct addresses did not answer within ICE_FALLBACK_MS: race the
 * rendezvous + ICE route against them (docs/nat-traversal.md). */
static gboolean
ice_fallback_cb (gpointer data)
{
  Connect *c = data;

  if (!c->done)
    start_ice (c);
  return G_SOURCE_REMOVE;
}

static void
connect_release_hold (gpointer data)
{
  Connect *c = data;

  if (--c->outstanding == 0) {
    if (c->done)
      connect_free (c);
    else
      connect_finish_net (c, NULL);
  }
}

/* A waiting caller cancelled: complete its task now; stop the dials if
 * nobody else waits for them. */
static gboolean
connect_task_cancelled (gpointer user_data)
{
  GTask *task = user_data;
  P2pQuicProvider *self = g_task_get_source_object (task);
  const P2pPeerId *id = p2p_peer_info_get_peer_id (g_task_get_task_data (task));
  g_autofree char *key = p2p_peer_id_to_string (id);
  Connect *c = g_hash_table_lookup (self->inflight, key);

  if (c == NULL || c->done)
    return G_SOURCE_REMOVE;
  for (guint i = 0; i < c->tasks->len; i++) {
    if (c->tasks->pdata[i] == task) {
      g_task_return_error_if_cancelled (task);
      g_ptr_array_remove_index (c->tasks, i);
      break;
    }
  }
  if (c->tasks->len == 0) {
    /* nobody waits any more: finish now (dials and lookups stop, the peer
     * leaves the in-flight table, so a new connect starts afresh rather
     * than joining a cancelled one) */
    g_clear_error (&c->error);
    c->error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "connect cancelled");
    connect_finish_net (c, NULL);
  }
  return G_SOURCE_REMOVE;
}

/* In the thread that cancels: queues connect_task_cancelled on the network
 * thread, always for a later turn (never inline: the finish disconnects
 * this handler, which must not happen inside its own emission). A
 * GCancellableSource would be simpler, but GLib 2.74 leaks one whose last
 * reference drops while another thread is still emitting "cancelled". */
static void
on_task_cancelled (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = user_data;
  P2pQuicProvider *self = g_task_get_source_object (task);
  GSource *src = g_idle_source_new ();

  g_source_set_callback (src, connect_task_cancelled, g_object_ref (task), g_object_unref);
  g_source_attach (src, p2p_net_thread_get_context (self->net));
  g_source_unref (src);
}

static void
connect_add_task (Connect *c, GTask *task)
{
  GCancellable *cancellable = g_task_get_cancellable (task);

  g_ptr_array_add (c->tasks, g_object_ref (task));
  if (cancellable) {
    CancelHandler h = { g_object_ref (cancellable), 0 };

    h.id = g_cancellable_connect (cancellable, G_CALLBACK (on_task_cancelled),
        g_object_ref (task), g_object_unref);
    g_array_append_val (c->cancel_handlers, h);
  }
}

static gboolean
connect_start_net (gpointer data)
{
  GTask *task = data;
  P2pQuicProvider *self = g_task_get_source_object (task);
  P2pPeerInfo *info = g_task_get_task_data (task);
  const P2pPeerId *id = p2p_peer_info_get_peer_id (info);
  g_autofree char *peer_str = p2p_peer_id_to_string (id);
  g_autoptr (P2pConnection) pooled = NULL;
  const char *const *addrs;
  Connect *c;

  if (g_task_return_error_if_cancelled (task))
    return G_SOURCE_REMOVE;
  if (p2p_peer_id_equal (id, p2p_identity_get_peer_id (self->identity))) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "peer %s is this provider's own identity; connect to another peer", peer_str);
    return G_SOURCE_REMOVE;
  }
  pooled = p2p_quic_provider_pool_lookup (self, peer_str);
  if (pooled) {
    g_task_return_pointer (task, g_steal_pointer (&pooled), g_object_unref);
    return G_SOURCE_REMOVE;
  }
  c = g_hash_table_lookup (self->inflight, peer_str);
  if (c) {
    connect_add_task (c, task);
    return G_SOURCE_REMOVE;
  }
  if (p2p_quic_provider_pool_count_live (self) >= self->config->max_connections) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "already %u connections open (P2P_MAX_CONNECTIONS); close one first",
        self->config->max_connections);
    return G_SOURCE_REMOVE;
  }

  c = g_new0 (Connect, 1);
  c->self = g_object_ref (self);
  c->info = p2p_peer_info_ref (info);
  c->peer = *id;
  c->peer_str = g_steal_pointer (&peer_str);
  c->tasks = g_ptr_array_new_with_free_func (g_object_unref);
  c->cancel_sources = g_ptr_array_new_with_free_func ((GDestroyNotify) g_source_unref);
  c->cancel_handlers = g_array_new (FALSE, FALSE, sizeof (CancelHandler));
  c->race = g_cancellable_new ();
  c->tried = g_string_new (NULL);
  connect_add_task (c, task);
  g_hash_table_insert (self->inflight, g_strdup (c->peer_str), c);

  addrs = p2p_peer_info_get_addresses (info);
  if (addrs && addrs[0] && !relay_only (self))
    connect_direct (c);
  else
    connect_via_rendezvous (c);
  return G_SOURCE_REMOVE;
}


static void
quic_connect_async (P2pProvider *provider, const char *peer, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  P2pQuicProvider *self = P2P_QUIC_PROVIDER (provider);
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  P2pPeerInfo *info;

  g_task_set_source_tag (task, quic_connect_async);
  info = p2p_peer_info_parse (peer, &error);
  if (info == NULL) {
    g_task_return_error (task, error);
    return;
  }
  g_task_set_task_data (task, info, (GDestroyNotify) p2p_peer_info_unref);
  if (!p2p_net_thread_invoke (self->net, connect_start_net, g_object_ref (task),
          g_object_unref))
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_CLOSED,
        "cannot connect to %s: the provider's network thread is gone", peer);
}

static P2pConnection *
quic_connect_finish (P2pProvider *provider, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, provider), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
p2p_quic_dial_race_iface_init (P2pProviderInterface *iface)
{
  iface->connect_async = quic_connect_async;
  iface->connect_finish = quic_connect_finish;
}
