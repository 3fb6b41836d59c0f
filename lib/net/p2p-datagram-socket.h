/* p2p-datagram-socket.h (internal): an unconnected datagram endpoint with its
 * own time domain: a UDP GSocket on real time (P2pUdpSocket), or a node of the
 * simulated network on virtual time (sim/). Listeners demultiplex it into
 * one P2pPacketPath per remote address (P2pSocketPath), so the listener,
 * dialer and connection code is written once for real and simulated networks.
 *
 * Threads: everything happens on the socket's GMainContext.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include "p2p-packet-path.h"

G_BEGIN_DECLS

#define P2P_TYPE_DATAGRAM_SOCKET (p2p_datagram_socket_get_type ())
G_DECLARE_DERIVABLE_TYPE (P2pDatagramSocket, p2p_datagram_socket, P2P, DATAGRAM_SOCKET, GObject)

typedef void (*P2pDatagramSocketReceiveFunc) (P2pDatagramSocket *sock, GSocketAddress *from,
    const guint8 *data, gsize len, gpointer user_data);
typedef void (*P2pTimerFunc) (gpointer user_data);

struct _P2pDatagramSocketClass {
  GObjectClass parent_class;

  gboolean (*send_to) (P2pDatagramSocket *self, GSocketAddress *to, const guint8 *data,
      gsize len, GError **error);
  /* (transfer full) */
  GSocketAddress *(*get_local_address) (P2pDatagramSocket *self);
  gsize (*get_mtu) (P2pDatagramSocket *self);
  P2pPathKind (*get_kind) (P2pDatagramSocket *self);
  guint64 (*now) (P2pDatagramSocket *self);
  /* One-shot timer at @deadline_ns (socket time). Returns a non-zero id. */
  guint (*add_timer) (P2pDatagramSocket *self, guint64 deadline_ns, P2pTimerFunc func,
      gpointer user_data);
  void (*cancel_timer) (P2pDatagramSocket *self, guint id);
  void (*close) (P2pDatagramSocket *self);
  GMainContext *(*get_context) (P2pDatagramSocket *self);
  /* Datagrams of @segment bytes (the last may be shorter) to @to in one go
   * (UDP GSO); NULL: one send_to() per datagram. */
  gboolean (*send_segments_to) (P2pDatagramSocket *self, GSocketAddress *to,
      const guint8 *data, gsize len, gsize segment, GError **error);

  gpointer padding[7];
};

gboolean p2p_datagram_socket_send_to (P2pDatagramSocket *self, GSocketAddress *to,
    const guint8 *data, gsize len, GError **error);
gboolean p2p_datagram_socket_send_segments_to (P2pDatagramSocket *self, GSocketAddress *to,
    const guint8 *data, gsize len, gsize segment, GError **error);
GSocketAddress *p2p_datagram_socket_get_local_address (P2pDatagramSocket *self);
gsize p2p_datagram_socket_get_mtu (P2pDatagramSocket *self);
P2pPathKind p2p_datagram_socket_get_kind (P2pDatagramSocket *self);
guint64 p2p_datagram_socket_now (P2pDatagramSocket *self);
guint p2p_datagram_socket_add_timer (P2pDatagramSocket *self, guint64 deadline_ns,
    P2pTimerFunc func, gpointer user_data);
void p2p_datagram_socket_cancel_timer (P2pDatagramSocket *self, guint id);
void p2p_datagram_socket_close (P2pDatagramSocket *self);
GMainContext *p2p_datagram_socket_get_context (P2pDatagramSocket *self);
/* One receiver per socket (the listener's demultiplexer or a dialer). */
void p2p_datagram_socket_set_receive_func (P2pDatagramSocket *self,
    P2pDatagramSocketReceiveFunc func, gpointer user_data, GDestroyNotify notify);
/* For implementations. */
void p2p_datagram_socket_deliver (P2pDatagramSocket *self, GSocketAddress *from,
    const guint8 *data, gsize len);

/* An ICMP error (port or host unreachable) came back for a datagram sent
 * to @to; @reason is strerror() text. One callback per socket, run on its
 * context like the receive callback. */
typedef void (*P2pDatagramSocketUnreachableFunc) (P2pDatagramSocket *sock,
    GSocketAddress *to, const char *reason, gpointer user_data);
void p2p_datagram_socket_set_unreachable_func (P2pDatagramSocket *self,
    P2pDatagramSocketUnreachableFunc func, gpointer user_data, GDestroyNotify notify);
void p2p_datagram_socket_deliver_unreachable (P2pDatagramSocket *self,
    GSocketAddress *to, const char *reason);

G_END_DECLS
