/* p2p-dht.c: discovery over OpenDHT (p2p-dht.h).
 *
 * Threads: OpenDHT's DhtRunner (threaded mode) calls back on its own
 * thread. Nothing of ours is touched there but a lookup's Core, which is
 * reference-counted (one reference for the owner, one for OpenDHT's copy
 * of the listen callback, dropped by the binding's "done" callback when
 * OpenDHT destroys it, one per value in flight) and whose flags are
 * atomic. A value found is copied and handed to the lookup's context in an
 * idle source; decoding, verifying and the found callback run there, and
 * do nothing once the owner freed the lookup.
 *
 * What is put: the record's TXT strings joined by newlines, a value of
 * OpenDHT's default type (unsigned by OpenDHT: the record carries its own
 * Ed25519 signature, checked by every reader), not permanent: nodes keep
 * it 10 minutes after a put, so a vanished peer's record goes away by
 * itself, and the announcer puts a freshly signed one every
 * P2P_DHT_REPUBLISH_S.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-dht.h"
#include "p2p-dht-signal.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-info.h"

#include <errno.h>
#include <string.h>
#include <sodium.h>
#include <opendht/opendht_c.h>

/* Values refused per lookup that are logged with g_message. */
#define P2P_DHT_REFUSALS_LOGGED 8

typedef struct _Core Core;

/* What a listen does with a value, on its context. */
typedef void (*TakeFunc) (Core *c, const guint8 *data, gsize len);

/* A listen on one key: a record lookup or a signaling inbox. */
struct _Core {
  gint refs;                    /* atomic */
  gint stop;                    /* atomic: freed or found, stop listening */
  GMainContext *context;
  TakeFunc take;
  gsize max_size;               /* larger values are cut to max_size + 1 bytes */
  P2pPeerId peer;               /* looked up / the inbox's owner */
  P2pDhtFoundFunc found;        /* lookups */
  P2pDhtSignalFunc signal;      /* inboxes */
  P2pIdentity *identity;        /* inboxes: opens the sealed values */
  GHashTable *seen;             /* inboxes: BLAKE2b of values taken → expiry */
  gpointer user_data;
  gint64 started;
  gboolean done;                /* context only: found was called */
  guint refused;                /* context only: values refused */
};

struct _P2pDht {
  GMainContext *context;
  dht_runner *runner;
  GList *lookups;               /* P2pDhtLookup*, not owned */
  P2pIdentity *identity;        /* what is announced, for re-signing */
  char **addresses;
  GSource *republish;
};

struct _P2pDhtLookup {
  P2pDht *dht;                  /* NULL once the node is freed */
  Core *core;
  dht_infohash key;
  dht_op_token *token;
};

static Core *
core_ref (Core *c)
{
  g_atomic_int_inc (&c->refs);
  return c;
}

static void
core_unref (gpointer data)
{
  Core *c = data;

  if (g_atomic_int_dec_and_test (&c->refs)) {
    g_main_context_unref (c->context);
    g_clear_object (&c->identity);
    g_clear_pointer (&c->seen, g_hash_table_unref);
    g_free (c);
  }
}

/* SHA-1 of @prefix and the peer ID's text form. */
static void
prefixed_key (const char *prefix, const P2pPeerId *peer, dht_infohash *key)
{
  char id[P2P_PEER_ID_TEXT_LEN + 1];
  g_autofree char *name = NULL;

  p2p_peer_id_format (peer, id);
  name = g_strconcat (prefix, id, NULL);
  dht_infohash_get_from_string (key, name);
}

static void
peer_key (const P2pPeerId *peer, dht_infohash *key)
{
  prefixed_key (P2P_DHT_KEY_PREFIX, peer, key);
}

static char *
key_to_string (const dht_infohash *key)
{
  /* dht_infohash_print: a thread-local buffer */
  return g_strdup (dht_infohash_print (key));
}

char *
p2p_dht_key_to_string (const P2pPeerId *peer)
{
  dht_infohash key;

  peer_key (peer, &key);
  return key_to_string (&key);
}

char *
p2p_dht_inbox_key_to_string (const P2pPeerId *peer)
{
  dht_infohash key;

  prefixed_key (P2P_DHT_SIGNAL_KEY_PREFIX, peer, &key);
  return key_to_string (&key);
}

GBytes *
p2p_dht_encode_record (const P2pDiscoveryRecord *record)
{
  g_auto (GStrv) txt = p2p_discovery_record_to_txt (record);
  char *text = g_strjoinv ("\n", txt);

  return g_bytes_new_take (text, strlen (text));
}

P2pDiscoveryRecord *
p2p_dht_decode_record (const guint8 *data, gsize len, const P2pPeerId *peer, GError **error)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;

  if (len > P2P_DHT_VALUE_MAX) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "DHT value of %" G_GSIZE_FORMAT " bytes (a record has at most %d)", len,
        P2P_DHT_VALUE_MAX);
    return NULL;
  }
  if (len > 0 && memchr (data, '\0', len) != NULL) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "DHT value with a NUL byte is not a record");
    return NULL;
  }
  text = g_strndup ((const char *) data, len);
  /* more lines than a record has are refused by the parser (addresses) */
  lines = g_strsplit (text, "\n", P2P_DISCOVERY_RECORD_MAX_ADDRESSES + 8);
  return p2p_discovery_record_from_txt ((const char *const *) lines, peer, error);
}

static gboolean
parse_bootstrap (const char *entry, char **host, char **service, GError **error)
{
  guint16 port = 0;
  g_autoptr (GError) local = NULL;

  if (!p2p_parse_host_port (entry, host, &port, &local)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "DHT bootstrap node '%s': %s", entry, local->message);
    return FALSE;
  }
  *service = g_strdup_printf ("%u", port);
  return TRUE;
}

gboolean
p2p_dht_add_bootstrap (P2pDht *self, const char *host_port, GError **error)
{
  g_autofree char *host = NULL;
  g_autofree char *service = NULL;

  if (!parse_bootstrap (host_port, &host, &service, error))
    return FALSE;
  dht_runner_bootstrap (self->runner, host, service);
  return TRUE;
}

P2pDht *
p2p_dht_new (GMainContext *context, const char *const *bootstrap, guint16 port,
    GError **error)
{
  P2pDht *self;
  dht_runner_config config;
  int err;

  /* every entry checked before a node is started */
  for (guint i = 0; bootstrap && bootstrap[i]; i++) {
    g_autofree char *host = NULL;
    g_autofree char *service = NULL;

    if (!parse_bootstrap (bootstrap[i], &host, &service, error))
      return NULL;
  }
  self = g_new0 (P2pDht, 1);
  self->context = g_main_context_ref (context);
  self->runner = dht_runner_new ();
  dht_runner_config_default (&config);
  /* no multicast search for other nodes on the LAN (mDNS does the LAN),
   * no log on stdout */
  config.peer_discovery = false;
  config.peer_publish = false;
  config.log = false;
  err = dht_runner_run_config (self->runner, port, &config);
  if (err != 0 || !dht_runner_is_running (self->runner)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
        "cannot start the DHT node on UDP port %u: %s", port,
        err ? g_strerror (err) : "not running");
    p2p_dht_free (self);
    return NULL;
  }
  for (guint i = 0; bootstrap && bootstrap[i]; i++)
    p2p_dht_add_bootstrap (self, bootstrap[i], NULL);
  return self;
}

guint16
p2p_dht_get_port (P2pDht *self)
{
  return dht_runner_get_bound_port (self->runner, AF_INET);
}

static void
stop_announcing (P2pDht *self)
{
  if (self->republish) {
    g_source_destroy (self->republish);
    g_clear_pointer (&self->republish, g_source_unref);
  }
  g_clear_object (&self->identity);
  g_clear_pointer (&self->addresses, g_strfreev);
}

void
p2p_dht_free (P2pDht *self)
{
  if (self == NULL)
    return;
  stop_announcing (self);
  /* no callback of a lookup runs once its stop flag is set (and the ones
   * in flight check it on the context) */
  for (GList *l = self->lookups; l; l = l->next) {
    P2pDhtLookup *lookup = l->data;

    g_atomic_int_set (&lookup->core->stop, 1);
  }
  /* joins OpenDHT's threads and destroys its callbacks (each listen's
   * "done" drops OpenDHT's reference to its Core) */
  g_clear_pointer (&self->runner, dht_runner_delete);
  for (GList *l = self->lookups; l; l = l->next) {
    P2pDhtLookup *lookup = l->data;

    g_clear_pointer (&lookup->token, dht_op_token_delete);
    lookup->dht = NULL;
  }
  g_list_free (self->lookups);
  g_main_context_unref (self->context);
  g_free (self);
}

static void
put_done (bool ok, void *user_data)
{
  /* OpenDHT's thread; @user_data unused (a put may outlive the node) */
  if (!ok)
    g_debug ("DHT: a put reached no node (yet)");
}

static gboolean
check_running (P2pDht *self, GError **error)
{
  if (dht_runner_is_running (self->runner))
    return TRUE;
  g_set_error_literal (error, P2P_ERROR, P2P_ERROR_NETWORK, "the DHT node is not running");
  return FALSE;
}

/* Puts @bytes under @key as a value of @user_type (not permanent). */
static void
put (P2pDht *self, const dht_infohash *key, GBytes *bytes, const char *user_type)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  dht_value *value = dht_value_new (data, len);

  dht_value_set_user_type (value, user_type);
  dht_runner_put (self->runner, key, value, put_done, NULL, false);
  dht_value_unref (value);
}

gboolean
p2p_dht_publish_record (P2pDht *self, const P2pDiscoveryRecord *record, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;
  dht_infohash key;

  if (!check_running (self, error))
    return FALSE;
  bytes = p2p_dht_encode_record (record);
  peer_key (&record->peer, &key);
  put (self, &key, bytes, P2P_DHT_USER_TYPE);
  return TRUE;
}

gboolean
p2p_dht_send_signal (P2pDht *self, const P2pPeerId *to, const char *message, GError **error)
{
  g_autoptr (GBytes) sealed = NULL;
  dht_infohash key;

  if (!check_running (self, error))
    return FALSE;
  sealed = p2p_dht_signal_seal (to, g_get_real_time () / G_USEC_PER_SEC
      + P2P_DHT_SIGNAL_LIFETIME_S, message, strlen (message), error);
  if (sealed == NULL)
    return FALSE;
  prefixed_key (P2P_DHT_SIGNAL_KEY_PREFIX, to, &key);
  put (self, &key, sealed, P2P_DHT_SIGNAL_USER_TYPE);
  return TRUE;
}

/* Signs the current announcement anew and puts it. */
static gboolean
publish (P2pDht *self, GError **error)
{
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + P2P_DHT_RECORD_LIFETIME_S;
  g_autoptr (P2pDiscoveryRecord) rec = p2p_discovery_record_new_signed (self->identity,
      (const char *const *) self->addresses, expires);

  return p2p_dht_publish_record (self, rec, error);
}

static gboolean
republish_cb (gpointer data)
{
  P2pDht *self = data;
  g_autoptr (GError) error = NULL;

  if (!publish (self, &error))
    g_warning ("%s", error->message);
  return G_SOURCE_CONTINUE;
}

gboolean
p2p_dht_announce (P2pDht *self, P2pIdentity *identity, const char *const *addresses,
    GError **error)
{
  guint n = addresses ? g_strv_length ((char **) addresses) : 0;

  for (guint i = 0; i < n; i++) {
    g_autoptr (GError) local = NULL;

    if (!p2p_parse_host_port (addresses[i], NULL, NULL, &local)) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "cannot announce '%s' in the DHT: %s", addresses[i], local->message);
      return FALSE;
    }
  }
  if (n > P2P_DISCOVERY_RECORD_MAX_ADDRESSES) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "cannot announce %u addresses in the DHT (at most %d)", n,
        P2P_DISCOVERY_RECORD_MAX_ADDRESSES);
    return FALSE;
  }
  stop_announcing (self);
  if (n == 0)
    return TRUE;
  self->addresses = g_strdupv ((char **) addresses);
  self->identity = g_object_ref (identity);
  if (!publish (self, error)) {
    stop_announcing (self);
    return FALSE;
  }
  self->republish = g_timeout_source_new_seconds (P2P_DHT_REPUBLISH_S);
  g_source_set_callback (self->republish, republish_cb, self, NULL);
  g_source_attach (self->republish, self->context);
  return TRUE;
}

/* ------------------------------------------------------------ lookups */

typedef struct {
  Core *core;
  GBytes *value;
} Found;

static void
found_free (gpointer data)
{
  Found *f = data;

  core_unref (f->core);
  g_bytes_unref (f->value);
  g_free (f);
}

/* A lookup's value: decode, verify, report the first good one. */
static void
take_record (Core *c, const guint8 *bytes, gsize len)
{
  g_autoptr (P2pDiscoveryRecord) rec = NULL;
  g_autoptr (GError) error = NULL;
  char id[P2P_PEER_ID_TEXT_LEN + 1];

  rec = p2p_dht_decode_record (bytes, len, &c->peer, &error);
  if (rec && p2p_discovery_record_verify (rec, &c->peer,
          g_get_real_time () / G_USEC_PER_SEC, &error)) {
    c->done = TRUE;
    g_atomic_int_set (&c->stop, 1);
    /* may free the lookup: the caller holds a reference to @c */
    c->found (g_steal_pointer (&rec), g_get_monotonic_time () - c->started, c->user_data);
    return;
  }
  p2p_peer_id_format (&c->peer, id);
  /* anyone may put values under any key: a flood is not logged whole */
  if (++c->refused <= P2P_DHT_REFUSALS_LOGGED)
    g_message ("DHT: ignoring a value under the key of %s: %s%s", id, error->message,
        c->refused == P2P_DHT_REFUSALS_LOGGED ? " (further ones: debug log)" : "");
  else
    g_debug ("DHT: ignoring a value under the key of %s: %s", id, error->message);
}

/* Inboxes remember this many values taken (by hash, until they expire). */
#define INBOX_SEEN_MAX 1024

/* TRUE the first time @data is seen (OpenDHT may report a value again,
 * from another node); remembered until @expires. */
static gboolean
inbox_first_sight (Core *c, const guint8 *data, gsize len, gint64 expires, gint64 now)
{
  guint8 hash[16];
  g_autofree char *hex = g_malloc (sizeof hash * 2 + 1);
  GHashTableIter it;
  gpointer v;

  crypto_generichash (hash, sizeof hash, data, len, NULL, 0);
  sodium_bin2hex (hex, sizeof hash * 2 + 1, hash, sizeof hash);
  if (g_hash_table_contains (c->seen, hex))
    return FALSE;
  if (g_hash_table_size (c->seen) >= INBOX_SEEN_MAX) {
    g_hash_table_iter_init (&it, c->seen);
    while (g_hash_table_iter_next (&it, NULL, &v)) {
      if (*(gint64 *) v < now)
        g_hash_table_iter_remove (&it);
    }
    /* still full (a flood of valid values): forget; the ICE layer's replay
     * check still holds */
    if (g_hash_table_size (c->seen) >= INBOX_SEEN_MAX)
      g_hash_table_remove_all (c->seen);
  }
  g_hash_table_insert (c->seen, g_steal_pointer (&hex), g_memdup2 (&expires, sizeof expires));
  return TRUE;
}

/* An inbox's value: open it, hand the message on once. */
static void
take_signal (Core *c, const guint8 *bytes, gsize len)
{
  g_autoptr (GError) error = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 expires = 0;
  gsize mlen = 0;
  g_autofree char *message = p2p_dht_signal_open (c->identity, bytes, len, now, &mlen,
      &expires, &error);

  if (message == NULL) {
    /* anyone may put anything here, and old messages stay 10 minutes */
    c->refused++;
    g_debug ("DHT: ignoring a value in our signaling inbox: %s", error->message);
    return;
  }
  if (inbox_first_sight (c, bytes, len, expires, now))
    c->signal (message, mlen, c->user_data);
}

guint
p2p_dht_inbox_get_refused (P2pDhtLookup *inbox)
{
  return inbox->core->refused;
}

/* On the listen's context. */
static gboolean
deliver (gpointer data)
{
  Found *f = data;
  Core *c = f->core;
  gsize len;
  const guint8 *bytes = g_bytes_get_data (f->value, &len);

  if (c->done || g_atomic_int_get (&c->stop))
    return G_SOURCE_REMOVE;
  c->take (c, bytes, len);
  return G_SOURCE_REMOVE;
}

/* OpenDHT's thread: copies the value to the lookup's context. */
static bool
on_value (const dht_value *value, bool expired, void *user_data)
{
  Core *c = user_data;
  dht_data_view view;
  Found *f;
  GSource *idle;

  if (g_atomic_int_get (&c->stop))
    return false;
  if (expired)
    return true;
  view = dht_value_get_data (value);
  f = g_new0 (Found, 1);
  f->core = core_ref (c);
  /* a value too large to be ours: its size is enough to refuse it */
  f->value = g_bytes_new (view.data, MIN (view.size, c->max_size + 1));
  idle = g_idle_source_new ();
  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (idle, deliver, f, found_free);
  g_source_attach (idle, c->context);
  g_source_unref (idle);
  return true;
}

/* OpenDHT destroyed its copy of the listen callback. */
static void
on_listen_done (void *user_data)
{
  core_unref (user_data);
}

static Core *
core_new (P2pDht *self, const P2pPeerId *peer, TakeFunc take, gsize max_size,
    gpointer user_data)
{
  Core *c = g_new0 (Core, 1);

  c->refs = 1;
  c->context = g_main_context_ref (self->context);
  c->take = take;
  c->max_size = max_size;
  c->peer = *peer;
  c->user_data = user_data;
  c->started = g_get_monotonic_time ();
  return c;
}

/* Listens on @key, handing values to @c (the lookup owns @c's reference). */
static P2pDhtLookup *
listen_start (P2pDht *self, const dht_infohash *key, Core *c)
{
  P2pDhtLookup *l = g_new0 (P2pDhtLookup, 1);

  l->dht = self;
  l->core = c;
  l->key = *key;
  l->token = dht_runner_listen (self->runner, &l->key, on_value, on_listen_done, core_ref (c));
  self->lookups = g_list_prepend (self->lookups, l);
  return l;
}

P2pDhtLookup *
p2p_dht_lookup_start (P2pDht *self, const P2pPeerId *peer, P2pDhtFoundFunc found,
    gpointer user_data, GError **error)
{
  Core *c;
  dht_infohash key;

  if (!check_running (self, error))
    return NULL;
  c = core_new (self, peer, take_record, P2P_DHT_VALUE_MAX, user_data);
  c->found = found;
  peer_key (peer, &key);
  return listen_start (self, &key, c);
}

P2pDhtLookup *
p2p_dht_inbox_start (P2pDht *self, P2pIdentity *identity, P2pDhtSignalFunc func,
    gpointer user_data, GError **error)
{
  const P2pPeerId *me = p2p_identity_get_peer_id (identity);
  Core *c;
  dht_infohash key;

  if (!check_running (self, error))
    return NULL;
  c = core_new (self, me, take_signal, P2P_DHT_SIGNAL_VALUE_MAX, user_data);
  c->signal = func;
  c->identity = g_object_ref (identity);
  c->seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  prefixed_key (P2P_DHT_SIGNAL_KEY_PREFIX, me, &key);
  return listen_start (self, &key, c);
}

void
p2p_dht_lookup_free (P2pDhtLookup *lookup)
{
  if (lookup == NULL)
    return;
  g_atomic_int_set (&lookup->core->stop, 1);
  if (lookup->dht) {
    dht_runner_cancel_listen (lookup->dht->runner, &lookup->key, lookup->token);
    g_clear_pointer (&lookup->token, dht_op_token_delete);
    lookup->dht->lookups = g_list_remove (lookup->dht->lookups, lookup);
  }
  core_unref (lookup->core);
  g_free (lookup);
}
