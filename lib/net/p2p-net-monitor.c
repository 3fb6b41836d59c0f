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
 *
 * On Linux the same thread also watches the links (netlink RTMGRP_LINK):
 * an interface whose carrier comes back (a cable plugged in again, Wi-Fi
 * associated again, a link set up) is a change too. GNetworkMonitor says
 * nothing then when the routes are the same as before the outage, and a
 * receiver's connection waited for its next keepalive (and the sender for
 * its backed-off probe): in net-change down3, 96-569 ms of stall after the
 * link was back; with a PING at once the sender probes when it hears it
 * (38-136 ms).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-net-monitor.h"
#include "p2p-net-thread.h"

#include <gio/gio.h>
#ifdef __linux__
#include <errno.h>
#include <glib-unix.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#endif

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

#ifdef __linux__
/* ifindex -> its state as last seen (the monitor thread only): from the
 * dump at the start, then from the kernel's messages */
static GHashTable *links;
enum {
  LINK_DOWN = 1,                /* down, and never seen up */
  LINK_UP,                      /* usable: up and running (not dormant) */
  LINK_LOST,                    /* was up, is not now: an outage */
};

/* Reads what the kernel says of the links: an interface that was up, went
 * down and is up again is a network change (a new interface coming up is
 * not: GNetworkMonitor sees its routes). Bounded: at most 64 reads a
 * dispatch. */
static gboolean
on_link_messages (gint fd, GIOCondition condition, gpointer data)
{
  static guint8 buf[32768] __attribute__ ((aligned (NLMSG_ALIGNTO)));
  gboolean changed = FALSE;

  for (guint n = 0; n < 64; n++) {
    ssize_t got = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
    int len;

    if (got < 0 && errno == ENOBUFS) {
      changed = TRUE;           /* messages were lost: perhaps an outage's */
      continue;
    }
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (got <= 0) {
      g_debug ("link watch ends: %s", got < 0 ? g_strerror (errno) : "closed");
      close (fd);
      return G_SOURCE_REMOVE;
    }
    len = (int) MIN ((gsize) got, sizeof buf);
    for (struct nlmsghdr *h = (struct nlmsghdr *) buf;
        len >= (int) sizeof (struct nlmsghdr) && NLMSG_OK (h, (guint) len);
        h = NLMSG_NEXT (h, len)) {
      const struct ifinfomsg *ifi;
      gpointer key;
      guint was, now;

      if ((h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK)
          || h->nlmsg_len < NLMSG_LENGTH (sizeof *ifi))
        continue;
      ifi = NLMSG_DATA (h);
      if (ifi->ifi_flags & IFF_LOOPBACK)
        continue;
      key = GINT_TO_POINTER (ifi->ifi_index);
      if (h->nlmsg_type == RTM_DELLINK) {
        g_hash_table_remove (links, key);
        continue;
      }
      was = GPOINTER_TO_UINT (g_hash_table_lookup (links, key));
      /* IFF_RUNNING: operationally up (carrier, and not dormant: a Wi-Fi
       * link still in its key handshake is not yet usable) */
      if ((ifi->ifi_flags & IFF_UP) && (ifi->ifi_flags & IFF_RUNNING))
        now = LINK_UP;
      else
        now = was == LINK_UP || was == LINK_LOST ? LINK_LOST : LINK_DOWN;
      g_hash_table_insert (links, key, GUINT_TO_POINTER (now));
      if (was == LINK_LOST && now == LINK_UP) {
        g_debug ("the network changed (interface %d is up again)", ifi->ifi_index);
        changed = TRUE;
      }
    }
  }
  if (changed)
    notify_all ();
  return G_SOURCE_CONTINUE;
}

/* Subscribes to the kernel's link messages on the monitor thread and asks
 * for the links there are now. Best effort: without it, GNetworkMonitor's
 * changes still come. */
static void
watch_links (void)
{
  struct sockaddr_nl sa = { 0 };
  struct {
    struct nlmsghdr nh;
    struct ifinfomsg ifi;
  } dump = { 0 };
  GSource *source;
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

  if (fd < 0) {
    g_debug ("no link watch: %s", g_strerror (errno));
    return;
  }
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK;
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
    g_debug ("no link watch: %s", g_strerror (errno));
    close (fd);
    return;
  }
  dump.nh.nlmsg_len = NLMSG_LENGTH (sizeof dump.ifi);
  dump.nh.nlmsg_type = RTM_GETLINK;
  dump.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  dump.nh.nlmsg_seq = 1;
  dump.ifi.ifi_family = AF_UNSPEC;
  if (send (fd, &dump, dump.nh.nlmsg_len, 0) < 0)
    g_debug ("link watch: no dump of the links (%s)", g_strerror (errno));
  links = g_hash_table_new (NULL, NULL);
  /* for the process, like the monitor: the fd is closed only if the
   * kernel ends it */
  source = g_unix_fd_source_new (fd, G_IO_IN);
  g_source_set_callback (source, G_SOURCE_FUNC (on_link_messages), NULL, NULL);
  g_source_attach (source, g_main_context_get_thread_default ());
  g_source_unref (source);
}
#endif

static gboolean
create_monitor (gpointer data)
{
  GNetworkMonitor *m = g_network_monitor_get_default ();

  g_debug ("watching the network with %s", G_OBJECT_TYPE_NAME (m));
  /* the singleton (GIO holds it): connected once, for the process */
  g_signal_connect (m, "network-changed", G_CALLBACK (on_network_changed), NULL);
#ifdef __linux__
  watch_links ();
#endif
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
