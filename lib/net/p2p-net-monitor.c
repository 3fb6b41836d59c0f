/* p2p-net-monitor.c: one GNetworkMonitor for the process, on a thread of
 * its own.
 *
 * GLib's default GNetworkMonitor is a process-wide singleton that delivers
 * its changes on the main context that was thread-default where it was
 * first created (its netlink source is attached there). Created on a
 * provider's network thread, it would go silent for the rest of the
 * process when that provider is freed (its thread and context end): a
 * player that makes a p2psrc (and a provider) per track would get no
 * network change after its first track. Creating it also costs a few
 * milliseconds (GIO modules, two netlink dumps) that the first dial waited
 * for. So the monitor is created once, in the background, on a
 * P2pNetThread that lives as long as the process, and the endpoints
 * register a function here (they hand the work to their own thread).
 * If the application created the default monitor first, its changes come
 * on the application's context instead; the watches are called the same.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-net-monitor.h"
#include "p2p-net-thread.h"

#include <gio/gio.h>

typedef struct {
  guint id;
  P2pNetMonitorFunc func;
  gpointer user_data;
  GDestroyNotify destroy;
} Watch;

G_LOCK_DEFINE_STATIC (monitor);
static GArray *watches;         /* Watch */
static guint next_id = 1;
static P2pNetThread *thread;    /* never freed: the monitor is attached to its context */
static GRecMutex calling;       /* held while the watches run (unwatch waits for it) */

/* the index of watch @id, or -1 */
static gint
find_locked (guint id)
{
  for (guint i = 0; watches && i < watches->len; i++)
    if (g_array_index (watches, Watch, i).id == id)
      return (gint) i;
  return -1;
}

static void
notify_all (void)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint));

  g_rec_mutex_lock (&calling);
  G_LOCK (monitor);
  for (guint i = 0; watches && i < watches->len; i++)
    g_array_append_val (ids, g_array_index (watches, Watch, i).id);
  G_UNLOCK (monitor);
  /* each one only if still there: a function may unwatch (itself or
   * another); other threads' unwatch waits for the end of this */
  for (guint i = 0; i < ids->len; i++) {
    Watch w = { 0 };
    gint at;

    G_LOCK (monitor);
    at = find_locked (g_array_index (ids, guint, i));
    if (at >= 0)
      w = g_array_index (watches, Watch, at);
    G_UNLOCK (monitor);
    if (at >= 0)
      w.func (w.user_data);
  }
  g_rec_mutex_unlock (&calling);
}

static void
on_network_changed (GNetworkMonitor *m, gboolean available, gpointer data)
{
  g_debug ("the network changed (%s)", available ? "available" : "no default route");
  notify_all ();
}

static gboolean
create_monitor (gpointer data)
{
  GNetworkMonitor *m = g_network_monitor_get_default ();

  g_debug ("watching the network with %s", G_OBJECT_TYPE_NAME (m));
  /* the singleton (GIO holds it): connected once, for the process */
  g_signal_connect (m, "network-changed", G_CALLBACK (on_network_changed), NULL);
  return G_SOURCE_REMOVE;
}

guint
p2p_net_monitor_watch (P2pNetMonitorFunc func, gpointer user_data, GDestroyNotify destroy)
{
  Watch w = { 0, func, user_data, destroy };
  gboolean start = FALSE;

  g_return_val_if_fail (func != NULL, 0);
  G_LOCK (monitor);
  if (watches == NULL)
    watches = g_array_new (FALSE, FALSE, sizeof (Watch));
  w.id = next_id++;
  g_array_append_val (watches, w);
  if (thread == NULL) {
    thread = p2p_net_thread_new ("p2p-netmon");
    start = TRUE;
  }
  G_UNLOCK (monitor);
  if (start)
    p2p_net_thread_invoke (thread, create_monitor, NULL, NULL);
  return w.id;
}

void
p2p_net_monitor_unwatch (guint id)
{
  Watch w = { 0 };
  gint at;

  /* not while a notification runs on another thread */
  g_rec_mutex_lock (&calling);
  G_LOCK (monitor);
  at = find_locked (id);
  if (at >= 0) {
    w = g_array_index (watches, Watch, at);
    g_array_remove_index (watches, at);
  }
  G_UNLOCK (monitor);
  g_rec_mutex_unlock (&calling);
  if (w.destroy)
    w.destroy (w.user_data);
}
