/* p2p-udp-socket.h (internal): P2pDatagramSocket over a UDP GSocket on real
 * (monotonic) time: path kind DIRECT, now() = g_get_monotonic_time () in ns.
 *
 * Receives from a GSource on its GMainContext, reading batches until the
 * socket would block; send_to() never blocks (a full send buffer drops the
 * datagram, counted). Send and receive buffers are raised to 4 MiB where the
 * system allows. Threads: everything on the socket's context.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-datagram-socket.h"
#include "p2p-mtu.h"

G_BEGIN_DECLS

/* Largest UDP payload (IPv6: 65535 - 8 UDP header; IPv4 stops at 65507,
 * beyond which send_to() fails with NETWORK). */
#define P2P_UDP_SOCKET_MAX_MTU 65527

#define P2P_TYPE_UDP_SOCKET (p2p_udp_socket_get_type ())
G_DECLARE_FINAL_TYPE (P2pUdpSocket, p2p_udp_socket, P2P, UDP_SOCKET, P2pDatagramSocket)

/* Parses a bind address (the address argument of p2p_provider_listen(),
 * for every implementation): "HOST:PORT" with HOST an IPv4 address,
 * "[IPV6]:PORT", "localhost:PORT" (127.0.0.1) or ":PORT" (0.0.0.0); PORT
 * 0..65535, 0 = any free port. (Dialled addresses are
 * p2p_parse_host_port()'s: host names allowed, port 1..65535.)
 * Errors: INVALID_ARGUMENT naming the problem. (transfer full) */
GInetSocketAddress *p2p_parse_bind_address (const char *text, GError **error);

/* Binds a UDP socket to @bind_address (p2p_parse_bind_address()); PORT 0
 * picks a free port (read it back with
 * p2p_datagram_socket_get_local_address()). Callbacks run on @ctx (NULL =
 * thread default at this call).
 * Errors: INVALID_ARGUMENT (malformed address), NETWORK (bind failed, e.g.
 * port in use). (transfer full) */
P2pUdpSocket *p2p_udp_socket_new (const char *bind_address, GMainContext *ctx, GError **error);

/* The "mtu" property: largest datagram send_to() accepts (default 1452,
 * up to P2P_UDP_SOCKET_MAX_MTU; raise it on loopback for throughput). */
void p2p_udp_socket_set_mtu (P2pUdpSocket *self, gsize mtu);
/* Datagrams dropped because the send buffer was full (EWOULDBLOCK). */
guint64 p2p_udp_socket_get_send_drops (P2pUdpSocket *self);
/* The underlying socket (transfer none). */
GSocket *p2p_udp_socket_get_socket (P2pUdpSocket *self);

G_END_DECLS
