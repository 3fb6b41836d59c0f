/* p2p-socket-path.c: P2pSocketPath, a P2pPacketPath to one remote address
 * over a shared P2pDatagramSocket. The socket's owner (P2pQuicEndpoint)
 * demultiplexes arriving datagrams by remote address and hands them to the
 * path with p2p_packet_path_deliver(); time and the timer come from the
 * socket (real time for UDP, virtual time in the simulator).
 *
 * Threads: like every path, used only on the socket's GMainContext.
 * Internal signal "closed" (no arguments): emitted once by the first
 * p2p_packet_path_close(), so the endpoint can forget the remote.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-socket-path.h"
#include "p2p-mtu.h"
#include "p2p/p2p-error.h"


/* Remote addresses one path may learn (NAT rebindings, new networks) in
 * its life; more are refused (their datagrams dropped), so a flood of
 * spoofed sources costs bounded memory. */
#define MAX_ROUTES 16

struct _P2pSocketPath {
  P2pPacketPath parent;

  P2pDatagramSocket *socket;
  GSocketAddress *remote;       /* where the last datagram went (route 0 first) */
  char *remote_str;
  GSocketAddress *routes[MAX_ROUTES];   /* index = the route's lower 16 bits */
  guint32 route_ids[MAX_ROUTES];
  guint n_routes;
  guint32 current;              /* route of self->remote */
  gboolean loopback;
  guint timer_id;
  gboolean closed;
};

G_DEFINE_FINAL_TYPE (P2pSocketPath, p2p_socket_path, P2P_TYPE_PACKET_PATH)

enum {
  SIGNAL_CLOSED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void
cancel_timer (P2pSocketPath *self)
{
  if (self->timer_id) {
    p2p_datagram_socket_cancel_timer (self->socket, self->timer_id);
    self->timer_id = 0;
  }
}

static gboolean
socket_path_send (P2pPacketPath *path, const guint8 *data, gsize len, GError **error)
{
  P2pSocketPath *self = P2P_SOCKET_PATH (path);

  if (self->closed) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "path to %s is closed", self->remote_str);
    return FALSE;
  }
  return p2p_datagram_socket_send_to (self->socket, self->remote, data, len, error);
}

static gboolean
socket_path_send_segments (P2pPacketPath *path, const guint8 *data, gsize len, gsize segment,
    GError **error)
{
  P2pSocketPath *self = P2P_SOCKET_PATH (path);

  if (self->closed) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "path to %s is closed", self->remote_str);
    return FALSE;
  }
  return p2p_datagram_socket_send_segments_to (self->socket, self->remote, data, len, segment,
      error);
}

static GSocketAddress *
route_address (P2pSocketPath *self, guint32 route)
{
  guint i = route & 0xffff;

  return i < self->n_routes && self->route_ids[i] == route ? self->routes[i] : NULL;
}

static gboolean
socket_path_send_segments_on (P2pPacketPath *path, guint32 route, const guint8 *data, gsize len,
    gsize segment, GError **error)
{
  P2pSocketPath *self = P2P_SOCKET_PATH (path);
  GSocketAddress *to;

  if (route == self->current)
    return socket_path_send_segments (path, data, len, segment, error);
  to = route_address (self, route);
  if (to == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED, "path to %s has no route %u",
        self->remote_str, route);
    return FALSE;
  }
  /* the peer's address as the session now uses it */
  g_set_object (&self->remote, to);
  g_free (self->remote_str);
  self->remote_str = p2p_socket_address_to_string (to);
  self->current = route;
  return socket_path_send_segments (path, data, len, segment, error);
}

/**
 * p2p_socket_path_add_route:
 * @self: a path
 * @remote: another address of the same peer (datagrams came from it)
 *
 * Numbers a further remote address for p2p_packet_path_deliver_on(): the
 * lower 16 bits count the routes, the upper 16 bits are the number of the
 * first route with the same IP (so the session tells a port change from a
 * new IP).
 *
 * Returns: the route, or G_MAXUINT32 when the path has MAX_ROUTES already.
 */
guint32
p2p_socket_path_add_route (P2pSocketPath *self, GSocketAddress *remote)
{
  guint ip_of = self->n_routes;
  guint32 route;

  g_return_val_if_fail (P2P_IS_SOCKET_PATH (self), G_MAXUINT32);
  g_return_val_if_fail (G_IS_INET_SOCKET_ADDRESS (remote), G_MAXUINT32);

  if (self->n_routes == MAX_ROUTES)
    return G_MAXUINT32;
  for (guint i = 0; i < self->n_routes; i++) {
    if (G_IS_INET_SOCKET_ADDRESS (self->routes[i]) &&
        g_inet_address_equal (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)),
            g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (self->routes[i])))) {
      ip_of = i;
      break;
    }
  }
  route = ((guint32) ip_of << 16) | self->n_routes;
  self->routes[self->n_routes] = g_object_ref (remote);
  self->route_ids[self->n_routes] = route;
  self->n_routes++;
  return route;
}

static gsize
socket_path_get_mtu (P2pPacketPath *path)
{
  P2pSocketPath *self = P2P_SOCKET_PATH (path);
  gsize mtu = p2p_datagram_socket_get_mtu (self->socket);

  /* A UDP socket may be opened up to 64 KiB datagrams (its "mtu"); only
   * loopback carries them without IP fragmentation. */
  if (p2p_datagram_socket_get_kind (self->socket) == P2P_PATH_KIND_DIRECT)
    mtu = MIN (mtu, self->loopback ? P2P_LOOPBACK_MTU : P2P_INTERNET_MTU);
  return mtu;
}

static P2pPathKind
socket_path_get_kind (P2pPacketPath *path)
{
  return p2p_datagram_socket_get_kind (P2P_SOCKET_PATH (path)->socket);
}

static guint64
socket_path_now (P2pPacketPath *path)
{
  return p2p_datagram_socket_now (P2P_SOCKET_PATH (path)->socket);
}

static void
timer_fired (gpointer user_data)
{
  P2pSocketPath *self = user_data;

  self->timer_id = 0;
  g_object_ref (self);
  p2p_packet_path_fire_timer (P2P_PACKET_PATH (self));
  g_object_unref (self);
}

static void
socket_path_set_timer (P2pPacketPath *path, guint64 deadline_ns)
{
  P2pSocketPath *self = P2P_SOCKET_PATH (path);

  cancel_timer (self);
  if (deadline_ns == G_MAXUINT64 || self->closed)
    return;
  self->timer_id = p2p_datagram_socket_add_timer (self->socket, deadline_ns, timer_fired, self);
}

static void
socket_path_close (P2pPacketPath *path)
{
  P2pSocketPath *self = P2P_SOCKET_PATH (path);

  if (self->closed)
    return;
  self->closed = TRUE;
  cancel_timer (self);
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
}

static char *
socket_path_describe_remote (P2pPacketPath *path)
{
  return g_strdup (P2P_SOCKET_PATH (path)->remote_str);
}

static void
p2p_socket_path_dispose (GObject *object)
{
  P2pSocketPath *self = P2P_SOCKET_PATH (object);

  if (self->socket)
    cancel_timer (self);
  G_OBJECT_CLASS (p2p_socket_path_parent_class)->dispose (object);
}

static void
p2p_socket_path_finalize (GObject *object)
{
  P2pSocketPath *self = P2P_SOCKET_PATH (object);

  g_clear_object (&self->socket);
  g_clear_object (&self->remote);
  for (guint i = 0; i < self->n_routes; i++)
    g_object_unref (self->routes[i]);
  g_free (self->remote_str);
  G_OBJECT_CLASS (p2p_socket_path_parent_class)->finalize (object);
}

static void
p2p_socket_path_class_init (P2pSocketPathClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  P2pPacketPathClass *path_class = P2P_PACKET_PATH_CLASS (klass);

  gobject_class->dispose = p2p_socket_path_dispose;
  gobject_class->finalize = p2p_socket_path_finalize;
  path_class->send = socket_path_send;
  path_class->send_segments = socket_path_send_segments;
  path_class->send_segments_on = socket_path_send_segments_on;
  path_class->get_mtu = socket_path_get_mtu;
  path_class->get_kind = socket_path_get_kind;
  path_class->now = socket_path_now;
  path_class->set_timer = socket_path_set_timer;
  path_class->close = socket_path_close;
  path_class->describe_remote = socket_path_describe_remote;

  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
p2p_socket_path_init (P2pSocketPath *self)
{
}

/**
 * p2p_socket_address_to_string:
 * @addr: a socket address
 *
 * Returns: (transfer full): "1.2.3.4:5" or "[::1]:5" (the key of a remote
 *   in an endpoint's table, and how paths describe their remote).
 */
char *
p2p_socket_address_to_string (GSocketAddress *addr)
{
  if (G_IS_INET_SOCKET_ADDRESS (addr)) {
    GInetSocketAddress *isa = G_INET_SOCKET_ADDRESS (addr);
    g_autofree char *ip = g_inet_address_to_string (g_inet_socket_address_get_address (isa));
    guint16 port = g_inet_socket_address_get_port (isa);

    if (g_inet_address_get_family (g_inet_socket_address_get_address (isa)) == G_SOCKET_FAMILY_IPV6)
      return g_strdup_printf ("[%s]:%u", ip, port);
    return g_strdup_printf ("%s:%u", ip, port);
  }
  return g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (addr));
}

/**
 * p2p_socket_path_new:
 * @socket: the shared datagram socket (a reference is taken)
 * @remote: the remote address all datagrams of this path go to
 *
 * Returns: (transfer full): a path living on @socket's context.
 */
P2pSocketPath *
p2p_socket_path_new (P2pDatagramSocket *socket, GSocketAddress *remote)
{
  P2pSocketPath *self;

  g_return_val_if_fail (P2P_IS_DATAGRAM_SOCKET (socket), NULL);
  g_return_val_if_fail (G_IS_SOCKET_ADDRESS (remote), NULL);

  self = g_object_new (P2P_TYPE_SOCKET_PATH, "context",
      p2p_datagram_socket_get_context (socket), NULL);
  self->socket = g_object_ref (socket);
  self->remote = g_object_ref (remote);
  self->remote_str = p2p_socket_address_to_string (remote);
  self->routes[0] = g_object_ref (remote);
  self->n_routes = 1;
  if (G_IS_INET_SOCKET_ADDRESS (remote))
    self->loopback = g_inet_address_get_is_loopback (
        g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
  return self;
}
