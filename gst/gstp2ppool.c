/* gstp2ppool.c: connections kept after their p2psrc stopped (p2psrc
 * keep-alive, random-access mode). A player plays one track after another
 * from the same peer, each through a new p2psrc (playbin makes a new
 * source per URI): the next one takes the connection the last one left,
 * with its identity and provider, and its first requests go out at once,
 * without a handshake and with the congestion window the last track
 * opened, as an HTTP client reuses a kept-alive connection. One user at a
 * time: a kept connection is taken whole, never shared, so a peer sees
 * the same connections and streams it would without keeping. A kept
 * connection is closed keep-alive ms after it was left (the system
 * clock's timer; the close runs on a short thread of its own, as freeing
 * a provider joins its network thread), or when POOL_MAX newer ones are
 * kept. The key is everything the connection was made with (transport,
 * simulated network, identity file, peer, the P2P_* settings).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2ppool.h"

#include <stdlib.h>
#include <string.h>

#include "gstp2pobject.h"

#define GST_CAT_DEFAULT gst_p2p_debug

/* kept connections in the whole process */
#define POOL_MAX 8

typedef struct {
  guint serial;                 /* names it to its timer */
  char *key;
  P2pIdentity *identity;
  P2pProvider *provider;
  P2pConnection *conn;
  GstClockID timer;
} Kept;

static GMutex pool_lock;
static GCond pool_cond;
static GQueue pool = G_QUEUE_INIT;      /* Kept*, oldest first */
static guint pool_serial;
static guint expiring;          /* expire threads running */
static gboolean exiting;        /* the process exits: keep nothing more */

static void
kept_free (Kept *k, const char *reason)
{
  if (k->timer) {
    gst_clock_id_unschedule (k->timer);
    gst_clock_id_unref (k->timer);
  }
  if (k->conn) {
    p2p_connection_close (k->conn, reason);
    g_object_unref (k->conn);
  }
  g_clear_object (&k->provider);
  g_clear_object (&k->identity);
  g_free (k->key);
  g_free (k);
}

static gpointer
expire_thread (gpointer data)
{
  kept_free (data, "kept connection not used again (keep-alive expired)");
  g_mutex_lock (&pool_lock);
  expiring--;
  g_cond_broadcast (&pool_cond);
  g_mutex_unlock (&pool_lock);
  return NULL;
}

/* At exit the kept connections are closed (the peers hear "receiver
 * stopped" instead of waiting for their idle timeout) before the
 * libraries' destructors run, and expire threads still at work are waited
 * for (bounded). Nothing is done if the pool is busy at that moment (an
 * exit from another thread must not hang here). */
static void
pool_at_exit (void)
{
  GQueue all = G_QUEUE_INIT;
  gint64 deadline = g_get_monotonic_time () + 2 * G_TIME_SPAN_SECOND;
  Kept *k;

  if (!g_mutex_trylock (&pool_lock))
    return;
  exiting = TRUE;
  all = pool;
  g_queue_init (&pool);
  while (expiring > 0 && g_cond_wait_until (&pool_cond, &pool_lock, deadline))
    ;
  g_mutex_unlock (&pool_lock);
  while ((k = g_queue_pop_head (&all)) != NULL)
    kept_free (k, "receiver stopped");
}

/* The system clock's thread: the entry named by @data is closed unless it
 * was taken meanwhile. */
static gboolean
on_expired (GstClock *clock, GstClockTime time, GstClockID id, gpointer data)
{
  guint serial = GPOINTER_TO_UINT (data);
  Kept *found = NULL;

  g_mutex_lock (&pool_lock);
  for (GList *l = pool.head; l != NULL; l = l->next) {
    if (((Kept *) l->data)->serial == serial) {
      found = l->data;
      g_queue_delete_link (&pool, l);
      break;
    }
  }
  if (found)
    expiring++;
  g_mutex_unlock (&pool_lock);
  if (found) {
    GST_DEBUG ("kept connection %u expired", serial);
    g_thread_unref (g_thread_new ("p2p-keep-alive", expire_thread, found));
  }
  return TRUE;
}

gboolean
gst_p2p_pool_take (const char *key, P2pIdentity **identity, P2pProvider **provider,
    P2pConnection **conn)
{
  g_return_val_if_fail (key != NULL, FALSE);

  for (;;) {
    Kept *k = NULL;

    g_mutex_lock (&pool_lock);
    for (GList *l = pool.tail; l != NULL; l = l->prev) {        /* newest first */
      if (strcmp (((Kept *) l->data)->key, key) == 0) {
        k = l->data;
        g_queue_delete_link (&pool, l);
        break;
      }
    }
    g_mutex_unlock (&pool_lock);
    if (k == NULL)
      return FALSE;
    if (!p2p_connection_is_connected (k->conn)) {
      GST_DEBUG ("kept connection %u was closed meanwhile", k->serial);
      kept_free (k, "closed while kept");
      continue;
    }
    GST_DEBUG ("taking kept connection %u", k->serial);
    *identity = g_steal_pointer (&k->identity);
    *provider = g_steal_pointer (&k->provider);
    *conn = g_steal_pointer (&k->conn);
    kept_free (k, NULL);
    return TRUE;
  }
}

void
gst_p2p_pool_keep (const char *key, P2pIdentity *identity, P2pProvider *provider,
    P2pConnection *conn, guint ms)
{
  static gsize registered = 0;
  Kept *k = g_new0 (Kept, 1), *evicted = NULL;
  GstClock *clock;
  GstClockReturn ret;

  k->key = g_strdup (key);
  k->identity = identity;
  k->provider = provider;
  k->conn = conn;
  if (ms == 0 || !p2p_connection_is_connected (conn)) {
    kept_free (k, "receiver stopped");
    return;
  }
  if (g_once_init_enter (&registered)) {
    atexit (pool_at_exit);
    g_once_init_leave (&registered, 1);
  }
  clock = gst_system_clock_obtain ();
  k->timer = gst_clock_new_single_shot_id (clock,
      gst_clock_get_time (clock) + (GstClockTime) ms * GST_MSECOND);
  gst_object_unref (clock);

  g_mutex_lock (&pool_lock);
  k->serial = ++pool_serial;
  /* scheduled before anyone can take it; the callback waits for the lock */
  ret = gst_clock_id_wait_async (k->timer, on_expired, GUINT_TO_POINTER (k->serial), NULL);
  if (ret != GST_CLOCK_OK || exiting) {
    g_mutex_unlock (&pool_lock);
    kept_free (k, "receiver stopped");
    return;
  }
  g_queue_push_tail (&pool, k);
  if (pool.length > POOL_MAX)
    evicted = g_queue_pop_head (&pool);
  GST_DEBUG ("keeping connection %u for %u ms", k->serial, ms);
  g_mutex_unlock (&pool_lock);
  if (evicted)
    kept_free (evicted, "too many kept connections");
}
