/* p2p-provider-counters.c: a provider's counters since start and the
 * "established"/"closed" structured log lines (see the header).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-provider-counters.h"

#include "p2p/p2p-error.h"

/* setup-time histogram bounds, ms (Prometheus-style "le" buckets; the last,
 * +Inf, is implicit) */
static const guint setup_bounds_ms[] = { 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000 };
#define N_BUCKETS (G_N_ELEMENTS (setup_bounds_ms) + 1)

struct _P2pProviderCounters {
  GMutex lock;
  guint64 dials_ok;
  GHashTable *dials_failed;     /* error key → guint64* */
  guint64 accepts;
  GHashTable *refused;          /* reason → guint64* */
  guint64 path_direct, path_relay, path_simulated;
  guint64 setup_buckets[N_BUCKETS];     /* not cumulative */
  guint64 setup_sum_us;
  guint active;
  guint64 closed;
  guint64 relay_bytes_closed;
};

P2pProviderCounters *
p2p_provider_counters_new (void)
{
  P2pProviderCounters *c = g_atomic_rc_box_new0 (P2pProviderCounters);

  g_mutex_init (&c->lock);
  c->dials_failed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  c->refused = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return c;
}

P2pProviderCounters *
p2p_provider_counters_ref (P2pProviderCounters *c)
{
  return g_atomic_rc_box_acquire (c);
}

static void
counters_clear (gpointer data)
{
  P2pProviderCounters *c = data;

  g_hash_table_unref (c->dials_failed);
  g_hash_table_unref (c->refused);
  g_mutex_clear (&c->lock);
}

void
p2p_provider_counters_unref (P2pProviderCounters *c)
{
  g_atomic_rc_box_release_full (c, counters_clear);
}

/* table[key]++ (lock held) */
static void
bump (GHashTable *table, const char *key)
{
  guint64 *n = g_hash_table_lookup (table, key);

  if (n == NULL) {
    n = g_new0 (guint64, 1);
    g_hash_table_insert (table, g_strdup (key), n);
  }
  (*n)++;
}

/* "timeout" for P2P_ERROR_TIMEOUT, "cancelled", else "other" */
static char *
error_key (const GError *error)
{
  if (error && error->domain == P2P_ERROR)
    return g_strdelimit (g_ascii_strdown (p2p_error_code_to_string (error->code), -1), "_", '-');
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_strdup ("cancelled");
  return g_strdup ("other");
}

static const char *
path_name (P2pPathKind kind)
{
  switch (kind) {
    case P2P_PATH_KIND_RELAY:
      return "relay";
    case P2P_PATH_KIND_SIMULATED:
      return "simulated";
    case P2P_PATH_KIND_DIRECT:
    default:
      return "direct";
  }
}

static char *
peer_string (P2pConnection *conn)
{
  const P2pPeerId *id = p2p_connection_get_peer_id (conn);

  return id ? p2p_peer_id_to_string (id) : g_strdup ("?");
}

typedef struct {
  P2pProviderCounters *counters;
  gint64 established_us;
  const char *role;             /* static */
} Tracked;

static void
tracked_free (gpointer data, GClosure *closure)
{
  Tracked *t = data;

  p2p_provider_counters_unref (t->counters);
  g_free (t);
}

static void
on_closed (P2pConnection *conn, const GError *error, gpointer user_data)
{
  Tracked *t = user_data;
  P2pProviderCounters *c = t->counters;
  P2pConnectionStats st;
  g_autofree char *peer = peer_string (conn);
  double lived_s = (g_get_monotonic_time () - t->established_us) / 1e6;
  g_autofree char *bytes = NULL;

  p2p_connection_get_stats (conn, &st);
  /* structured fields are strings; only MESSAGE is a format */
  bytes = g_strdup_printf ("%" G_GUINT64_FORMAT, st.bytes_sent + st.bytes_received);
  g_mutex_lock (&c->lock);
  if (c->active > 0)
    c->active--;
  c->closed++;
  if (st.path_kind == P2P_PATH_KIND_RELAY)
    c->relay_bytes_closed += st.bytes_sent + st.bytes_received;
  g_mutex_unlock (&c->lock);
  g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_INFO,
      "P2P_EVENT", "closed",
      "P2P_PEER", peer,
      "P2P_ROLE", t->role,
      "P2P_PATH", path_name (st.path_kind),
      "P2P_BYTES", bytes,
      "MESSAGE", "connection closed: peer %s (%s), %s path, %.1f s, %" G_GUINT64_FORMAT
      " bytes sent, %" G_GUINT64_FORMAT " received%s%s", peer, t->role,
      path_name (st.path_kind), lived_s, st.bytes_sent, st.bytes_received,
      error ? ": " : "", error ? error->message : "");
  /* once: a connection closes once */
  g_signal_handlers_disconnect_by_func (conn, on_closed, user_data);
}

/* counts @conn as established and active, logs it, and watches its close */
static void
track (P2pProviderCounters *c, P2pConnection *conn, const char *role)
{
  P2pConnectionStats st;
  Tracked *t = g_new0 (Tracked, 1);
  g_autofree char *peer = peer_string (conn);
  g_autofree char *setup = NULL;
  guint64 setup_ms;
  guint b = 0;

  p2p_connection_get_stats (conn, &st);
  setup_ms = st.setup_time_us / 1000;
  while (b < G_N_ELEMENTS (setup_bounds_ms) && setup_ms > setup_bounds_ms[b])
    b++;
  g_mutex_lock (&c->lock);
  c->active++;
  c->setup_buckets[b]++;
  c->setup_sum_us += st.setup_time_us;
  if (st.path_kind == P2P_PATH_KIND_RELAY)
    c->path_relay++;
  else if (st.path_kind == P2P_PATH_KIND_SIMULATED)
    c->path_simulated++;
  else
    c->path_direct++;
  g_mutex_unlock (&c->lock);

  setup = g_strdup_printf ("%.1f", st.setup_time_us / 1000.0);
  g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_INFO,
      "P2P_EVENT", "established",
      "P2P_PEER", peer,
      "P2P_ROLE", role,
      "P2P_PATH", path_name (st.path_kind),
      "P2P_SETUP_MS", setup,
      "MESSAGE", "connection established: peer %s (%s), %s path, setup %.1f ms",
      peer, role, path_name (st.path_kind), st.setup_time_us / 1000.0);

  t->counters = p2p_provider_counters_ref (c);
  t->established_us = g_get_monotonic_time ();
  t->role = role;
  g_signal_connect_data (conn, "closed", G_CALLBACK (on_closed), t, tracked_free, 0);
}

void
p2p_provider_counters_dialed (P2pProviderCounters *c, P2pConnection *conn,
    const GError *error)
{
  if (c == NULL)
    return;

  if (conn) {
    g_mutex_lock (&c->lock);
    c->dials_ok++;
    g_mutex_unlock (&c->lock);
    track (c, conn, "dialed");
  } else {
    g_autofree char *key = error_key (error);

    g_mutex_lock (&c->lock);
    bump (c->dials_failed, key);
    g_mutex_unlock (&c->lock);
  }
}

void
p2p_provider_counters_accepted (P2pProviderCounters *c, P2pConnection *conn)
{
  g_return_if_fail (P2P_IS_CONNECTION (conn));
  if (c == NULL)
    return;

  g_mutex_lock (&c->lock);
  c->accepts++;
  g_mutex_unlock (&c->lock);
  track (c, conn, "accepted");
}

void
p2p_provider_counters_refused (P2pProviderCounters *c, const char *reason)
{
  g_return_if_fail (reason != NULL);
  if (c == NULL)
    return;

  g_mutex_lock (&c->lock);
  bump (c->refused, reason);
  g_mutex_unlock (&c->lock);
}

void
p2p_provider_counters_refused_error (P2pProviderCounters *c, const GError *error)
{
  g_autofree char *key = NULL;

  if (c == NULL)
    return;
  key = error_key (error);
  p2p_provider_counters_refused (c, key);
}

/* a{st} of a key → guint64* table (lock held) */
static GVariant *
table_variant (GHashTable *table, guint64 *total)
{
  GVariantBuilder b;
  GHashTableIter it;
  gpointer k, v;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{st}"));
  *total = 0;
  g_hash_table_iter_init (&it, table);
  while (g_hash_table_iter_next (&it, &k, &v)) {
    g_variant_builder_add (&b, "{st}", (const char *) k, *(guint64 *) v);
    *total += *(guint64 *) v;
  }
  return g_variant_builder_end (&b);
}

GVariant *
p2p_provider_counters_to_variant (P2pProviderCounters *c)
{
  GVariantBuilder b, hist;
  guint64 failed, refused, cumulative = 0, established;

  g_return_val_if_fail (c != NULL, NULL);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_init (&hist, G_VARIANT_TYPE ("a(ut)"));
  g_mutex_lock (&c->lock);
  g_variant_builder_add (&b, "{sv}", "dials-failed-by-error",
      table_variant (c->dials_failed, &failed));
  g_variant_builder_add (&b, "{sv}", "refused-by-reason", table_variant (c->refused, &refused));
  g_variant_builder_add (&b, "{sv}", "dials-ok", g_variant_new_uint64 (c->dials_ok));
  g_variant_builder_add (&b, "{sv}", "dials-failed", g_variant_new_uint64 (failed));
  g_variant_builder_add (&b, "{sv}", "accepts", g_variant_new_uint64 (c->accepts));
  g_variant_builder_add (&b, "{sv}", "refused", g_variant_new_uint64 (refused));
  g_variant_builder_add (&b, "{sv}", "paths-direct", g_variant_new_uint64 (c->path_direct));
  g_variant_builder_add (&b, "{sv}", "paths-relay", g_variant_new_uint64 (c->path_relay));
  g_variant_builder_add (&b, "{sv}", "paths-simulated",
      g_variant_new_uint64 (c->path_simulated));
  g_variant_builder_add (&b, "{sv}", "active", g_variant_new_uint32 (c->active));
  g_variant_builder_add (&b, "{sv}", "closed", g_variant_new_uint64 (c->closed));
  g_variant_builder_add (&b, "{sv}", "relay-bytes-closed",
      g_variant_new_uint64 (c->relay_bytes_closed));
  established = c->dials_ok + c->accepts;
  for (guint i = 0; i < N_BUCKETS; i++) {
    cumulative += c->setup_buckets[i];
    g_variant_builder_add (&hist, "(ut)",
        i < G_N_ELEMENTS (setup_bounds_ms) ? setup_bounds_ms[i] : G_MAXUINT32, cumulative);
  }
  g_variant_builder_add (&b, "{sv}", "setup-ms-buckets", g_variant_builder_end (&hist));
  g_variant_builder_add (&b, "{sv}", "setup-ms-sum",
      g_variant_new_double (c->setup_sum_us / 1000.0));
  g_variant_builder_add (&b, "{sv}", "established", g_variant_new_uint64 (established));
  g_mutex_unlock (&c->lock);
  return g_variant_ref_sink (g_variant_builder_end (&b));
}
