/* p2p-net-monitor.h (internal): the machine's network changes for every
 * provider of the process, from one monitor on a thread of its own. See
 * the .c file.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Called on the monitor's thread when the network changed (an address,
 * link or route). Keep it short: hand the work to your own thread. */
typedef void (*P2pNetMonitorFunc) (gpointer user_data);

/* Any thread: calls @func (@user_data) at each network change from now on,
 * until p2p_net_monitor_unwatch(); @destroy frees @user_data then. Never
 * blocks: the monitor starts in the background at the first watch.
 * Returns the watch's ID (never 0). */
guint p2p_net_monitor_watch (P2pNetMonitorFunc func, gpointer user_data, GDestroyNotify destroy);
/* Any thread, also from @func: no call of the watch's @func starts after
 * this returns (one running on the monitor's thread may still finish
 * unless this is called from it). */
void p2p_net_monitor_unwatch (guint id);

G_END_DECLS
