/* p2p-socket-path.h (internal): P2pSocketPath, a P2pPacketPath to one
 * remote address over a shared P2pDatagramSocket (the endpoint that owns the
 * socket demultiplexes received datagrams to its paths).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-packet-path.h"
#include "p2p-datagram-socket.h"

G_BEGIN_DECLS

#define P2P_TYPE_SOCKET_PATH (p2p_socket_path_get_type ())
G_DECLARE_FINAL_TYPE (P2pSocketPath, p2p_socket_path, P2P, SOCKET_PATH, P2pPacketPath)
P2pSocketPath *p2p_socket_path_new (P2pDatagramSocket *socket, GSocketAddress *remote);
guint32 p2p_socket_path_add_route (P2pSocketPath *self, GSocketAddress *remote);
char *p2p_socket_address_to_string (GSocketAddress *addr);

G_END_DECLS
