/* p2p-sim-private.h (internal): the datagram layer of the simulated network
 * (ports bound on nodes, send, timers) and P2pSimSocket, the
 * P2pDatagramSocket on a simulated node. Not installed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-sim.h"

G_BEGIN_DECLS

/* Called on the network's context for each datagram that arrives at a bound
 * port (@from: the sender's ADDRESS:PORT, transfer none). */
typedef void (*P2pSimRecvFunc) (const guint8 *data, gsize len, GSocketAddress *from,
    gpointer user_data);
typedef void (*P2pSimTimerFunc) (gpointer user_data);

/* Binds @port (0 = the node's next free ephemeral port from 49152) on @node.
 * Returns the bound port, or 0 with INVALID_ARGUMENT (unknown node) or
 * NETWORK (port in use, node crashed). */
guint16 p2p_sim_network_bind (P2pSimNetwork *self, guint node, guint16 port,
    P2pSimRecvFunc func, gpointer user_data, GError **error);
void p2p_sim_network_unbind (P2pSimNetwork *self, guint node, guint16 port);
/* FALSE if the binding was killed by a crash of its node. */
gboolean p2p_sim_network_binding_alive (P2pSimNetwork *self, guint node, guint16 port);
/* Sends through the link model. FALSE + INVALID_ARGUMENT for an address that
 * is not IPv4; every other fate (drop, loss, ...) is silent, like UDP. */
gboolean p2p_sim_network_send (P2pSimNetwork *self, guint node, guint16 port,
    GSocketAddress *to, const guint8 *data, gsize len, GError **error);
/* MTU of the link from @node towards @to (default link if @to is unknown). */
gsize p2p_sim_network_get_mtu_towards (P2pSimNetwork *self, guint node, GSocketAddress *to);
/* One-shot timer owned by the binding (@node, @port): it does not fire once
 * that node crashed. Returns a non-zero id. */
guint p2p_sim_network_add_timer (P2pSimNetwork *self, guint node, guint16 port,
    guint64 deadline_ns, P2pSimTimerFunc func, gpointer user_data);
void p2p_sim_network_cancel_timer (P2pSimNetwork *self, guint id);
/* (transfer none) (nullable) the thread serving a named network's context. */
struct _P2pNetThread;
struct _P2pNetThread *p2p_sim_network_get_net_thread (P2pSimNetwork *self);
/* (transfer full) "10.77.0.1:5000" */
GSocketAddress *p2p_sim_network_make_address (P2pSimNetwork *self, guint node, guint16 port);

#include "p2p-datagram-socket.h"

#define P2P_TYPE_SIM_SOCKET (p2p_sim_socket_get_type ())
G_DECLARE_FINAL_TYPE (P2pSimSocket, p2p_sim_socket, P2P, SIM_SOCKET, P2pDatagramSocket)

/* A P2pDatagramSocket bound to @node:@port (0 = ephemeral) of @net. */
P2pSimSocket *p2p_sim_socket_new (P2pSimNetwork *net, guint node, guint16 port, GError **error);

G_END_DECLS
