/* gstp2pobject-stats.c: what p2psink and p2psrc report: the
 * "application/x-p2p-stats" structure and one connection's figures added
 * to it, the provider's counters ("provider"), and the "p2p-connection"
 * element messages (connected, path-changed with the old and new kind,
 * disconnected).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2pobject.h"

char *
gst_p2p_connection_dup_peer_id (P2pConnection *conn)
{
  const P2pPeerId *id = p2p_connection_get_peer_id (conn);

  return id ? p2p_peer_id_to_string (id) : g_strdup ("(unknown)");
}

/* @table (a{st}) as a structure named @name with one guint64 per entry */
static GstStructure *
table_structure (const char *name, GVariant *table)
{
  GstStructure *t = gst_structure_new_empty (name);
  GVariantIter it;
  const char *key;
  guint64 n;

  g_variant_iter_init (&it, table);
  while (g_variant_iter_next (&it, "{&st}", &key, &n))
    gst_structure_set (t, key, G_TYPE_UINT64, n, NULL);
  return t;
}

void
gst_p2p_object_add_provider_stats (GstP2pObject *self, GstStructure *s)
{
  g_autoptr (P2pProvider) provider = NULL;
  g_autoptr (GVariant) stats = NULL;
  GstStructure *ps;
  GVariantIter it;
  const char *key;
  GVariant *v;

  GST_OBJECT_LOCK (self->element);
  provider = self->provider ? g_object_ref (self->provider) : NULL;
  GST_OBJECT_UNLOCK (self->element);
  if (provider == NULL)
    return;
  stats = p2p_provider_get_stats (provider);
  ps = gst_structure_new_empty ("application/x-p2p-provider-stats");
  g_variant_iter_init (&it, stats);
  while (g_variant_iter_next (&it, "{&sv}", &key, &v)) {
    if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT64))
      gst_structure_set (ps, key, G_TYPE_UINT64, g_variant_get_uint64 (v), NULL);
    else if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT32))
      gst_structure_set (ps, key, G_TYPE_UINT, g_variant_get_uint32 (v), NULL);
    else if (g_variant_is_of_type (v, G_VARIANT_TYPE_DOUBLE))
      gst_structure_set (ps, key, G_TYPE_DOUBLE, g_variant_get_double (v), NULL);
    else if (g_variant_is_of_type (v, G_VARIANT_TYPE ("a{st}"))) {
      GstStructure *t = table_structure (key, v);

      gst_structure_set (ps, key, GST_TYPE_STRUCTURE, t, NULL);
      gst_structure_free (t);
    }
    /* the setup histogram (a(ut)) stays in p2p_provider_get_stats() */
    g_variant_unref (v);
  }
  gst_structure_set (s, "provider", GST_TYPE_STRUCTURE, ps, NULL);
  gst_structure_free (ps);
}

GstStructure *
gst_p2p_stats_new (void)
{
  return gst_structure_new ("application/x-p2p-stats",
      "rtt-us", G_TYPE_UINT64, (guint64) 0,
      "bytes-sent", G_TYPE_UINT64, (guint64) 0,
      "bytes-received", G_TYPE_UINT64, (guint64) 0,
      "packets-lost", G_TYPE_UINT64, (guint64) 0,
      "packets-retransmitted", G_TYPE_UINT64, (guint64) 0,
      "path", G_TYPE_STRING, "none",
      "setup-time-ms", G_TYPE_UINT64, (guint64) 0,
      "datagrams-dropped", G_TYPE_UINT64, (guint64) 0,
      "path-changes", G_TYPE_UINT64, (guint64) 0,
      "direct-path-time-ms", G_TYPE_UINT64, (guint64) 0,
      "peers", G_TYPE_UINT, 0u, NULL);
}

static void
add_u64 (GstStructure *s, const char *field, guint64 v)
{
  guint64 cur = 0;

  gst_structure_get_uint64 (s, field, &cur);
  gst_structure_set (s, field, G_TYPE_UINT64, cur + v, NULL);
}

static void
max_u64 (GstStructure *s, const char *field, guint64 v)
{
  guint64 cur = 0;

  gst_structure_get_uint64 (s, field, &cur);
  gst_structure_set (s, field, G_TYPE_UINT64, MAX (cur, v), NULL);
}

void
gst_p2p_stats_accumulate (GstStructure *s, const P2pConnectionStats *st)
{
  guint peers = 0;

  max_u64 (s, "rtt-us", st->rtt_us);
  add_u64 (s, "bytes-sent", st->bytes_sent);
  add_u64 (s, "bytes-received", st->bytes_received);
  add_u64 (s, "packets-lost", st->packets_lost);
  add_u64 (s, "packets-retransmitted", st->packets_retransmitted);
  max_u64 (s, "setup-time-ms", st->setup_time_us / 1000);
  add_u64 (s, "datagrams-dropped", st->datagrams_dropped);
  add_u64 (s, "path-changes", st->path_changes);
  max_u64 (s, "direct-path-time-ms", st->direct_path_time_us / 1000);
  gst_structure_get_uint (s, "peers", &peers);
  gst_structure_set (s, "peers", G_TYPE_UINT, peers + 1,
      "path", G_TYPE_STRING, p2p_path_kind_to_string (st->path_kind), NULL);
}

/* The "p2p-connection" message of @event with @conn's figures @st. */
static GstStructure *
connection_structure (P2pConnection *conn, const char *event, const P2pConnectionStats *st)
{
  g_autofree char *peer_id = gst_p2p_connection_dup_peer_id (conn);

  return gst_structure_new ("p2p-connection",
      "peer-id", G_TYPE_STRING, peer_id,
      "event", G_TYPE_STRING, event,
      "path", G_TYPE_STRING, p2p_path_kind_to_string (st->path_kind),
      "rtt-us", G_TYPE_UINT64, st->rtt_us,
      "setup-time-ms", G_TYPE_UINT64, st->setup_time_us / 1000,
      "bytes-sent", G_TYPE_UINT64, st->bytes_sent,
      "bytes-received", G_TYPE_UINT64, st->bytes_received,
      "path-changes", G_TYPE_UINT64, st->path_changes,
      "direct-path-time-ms", G_TYPE_UINT64, st->direct_path_time_us / 1000, NULL);
}

static void
post (GstP2pObject *self, GstStructure *s)
{
  gst_element_post_message (self->element,
      gst_message_new_element (GST_OBJECT (self->element), s));
}

GstMessage *
gst_p2p_object_connection_message (GstP2pObject *self, P2pConnection *conn,
    const char *event)
{
  P2pConnectionStats st;

  GstStructure *s;

  p2p_connection_get_stats (conn, &st);
  s = connection_structure (conn, event, &st);
  /* a p2psrc file reader's connection may be a kept one (keep-alive) */
  if (g_str_equal (event, "connected"))
    gst_structure_set (s, "reused", G_TYPE_BOOLEAN, self->reused, NULL);
  return gst_message_new_element (GST_OBJECT (self->element), s);
}

void
gst_p2p_object_post_connection (GstP2pObject *self, P2pConnection *conn,
    const char *event)
{
  gst_element_post_message (self->element,
      gst_p2p_object_connection_message (self, conn, event));
}

void
gst_p2p_object_post_path_changed (GstP2pObject *self, P2pConnection *conn,
    P2pPathKind old_kind, P2pPathKind new_kind)
{
  P2pConnectionStats st;
  GstStructure *s;

  p2p_connection_get_stats (conn, &st);
  s = connection_structure (conn, "path-changed", &st);
  /* the kinds of this change (the stats may already show a later one) */
  gst_structure_set (s, "old-path", G_TYPE_STRING, p2p_path_kind_to_string (old_kind),
      "path", G_TYPE_STRING, p2p_path_kind_to_string (new_kind), NULL);
  post (self, s);
}

void
gst_p2p_object_post_disconnected (GstP2pObject *self, P2pConnection *conn,
    const P2pConnectionStats *st, const char *reason)
{
  GstStructure *s = connection_structure (conn, "disconnected", st);

  gst_structure_set (s, "reason", G_TYPE_STRING, reason, NULL);
  post (self, s);
}
