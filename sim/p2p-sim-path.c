/* p2p-sim-path.c: P2pSimSocket, a P2pDatagramSocket bound to a port of a
 * simulated node: send_to goes through the network's link model, timers are
 * network events, now() is the network's virtual time, kind SIMULATED.
 * Listeners and dialers (P2pQuicEndpoint) run on it unchanged.
 * Threads: the network's context.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-private.h"
#include "p2p/p2p-error.h"

struct _P2pSimSocket {
  P2pDatagramSocket parent_instance;

  P2pSimNetwork *net;
  guint node;
  guint16 port;
  gboolean closed;
  GHashTable *timers;  /* id -> SockTimer */
};

typedef struct {
  P2pSimSocket *sock;
  guint id;
  P2pTimerFunc func;
  gpointer user_data;
} SockTimer;

G_DEFINE_FINAL_TYPE (P2pSimSocket, p2p_sim_socket, P2P_TYPE_DATAGRAM_SOCKET)

static void
on_receive (const guint8 *data, gsize len, GSocketAddress *from, gpointer user_data)
{
  g_autoptr (P2pSimSocket) self = g_object_ref (P2P_SIM_SOCKET (user_data));

  if (!self->closed)
    p2p_datagram_socket_deliver (P2P_DATAGRAM_SOCKET (self), from, data, len);
}

static void
on_timer (gpointer user_data)
{
  SockTimer *t = user_data;
  g_autoptr (P2pSimSocket) self = g_object_ref (t->sock);
  P2pTimerFunc func = t->func;
  gpointer data = t->user_data;

  g_hash_table_remove (self->timers, GUINT_TO_POINTER (t->id));  /* frees t */
  if (!self->closed)
    func (data);
}

static gboolean
sim_send_to (P2pDatagramSocket *sock, GSocketAddress *to, const guint8 *data, gsize len,
    GError **error)
{
  P2pSimSocket *self = P2P_SIM_SOCKET (sock);

  if (self->closed) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "simulated socket %u:%u is closed",
        self->node, self->port);
    return FALSE;
  }
  return p2p_sim_network_send (self->net, self->node, self->port, to, data, len, error);
}

static GSocketAddress *
sim_get_local_address (P2pDatagramSocket *sock)
{
  P2pSimSocket *self = P2P_SIM_SOCKET (sock);

  return p2p_sim_network_make_address (self->net, self->node, self->port);
}

static gsize
sim_get_mtu (P2pDatagramSocket *sock)
{
  P2pSimSocket *self = P2P_SIM_SOCKET (sock);

  return p2p_sim_network_get_mtu_towards (self->net, self->node, NULL);
}

static P2pPathKind
sim_get_kind (P2pDatagramSocket *sock)
{
  return P2P_PATH_KIND_SIMULATED;
}

static guint64
sim_now (P2pDatagramSocket *sock)
{
  return p2p_sim_network_now (P2P_SIM_SOCKET (sock)->net);
}

static guint
sim_add_timer (P2pDatagramSocket *sock, guint64 deadline_ns, P2pTimerFunc func,
    gpointer user_data)
{
  P2pSimSocket *self = P2P_SIM_SOCKET (sock);
  SockTimer *t = g_new0 (SockTimer, 1);

  t->sock = self;
  t->func = func;
  t->user_data = user_data;
  t->id = p2p_sim_network_add_timer (self->net, self->node, self->port, deadline_ns, on_timer, t);
  g_hash_table_insert (self->timers, GUINT_TO_POINTER (t->id), t);
  return t->id;
}

static void
sim_cancel_timer (P2pDatagramSocket *sock, guint id)
{
  P2pSimSocket *self = P2P_SIM_SOCKET (sock);

  if (g_hash_table_remove (self->timers, GUINT_TO_POINTER (id)))
    p2p_sim_network_cancel_timer (self->net, id);
}

static void
cancel_all_timers (P2pSimSocket *self)
{
  GHashTableIter it;
  gpointer k;

  g_hash_table_iter_init (&it, self->timers);
  while (g_hash_table_iter_next (&it, &k, NULL)) {
    p2p_sim_network_cancel_timer (self->net, GPOINTER_TO_UINT (k));
    g_hash_table_iter_remove (&it);
  }
}

static void
sim_close (P2pDatagramSocket *sock)
{
  P2pSimSocket *self = P2P_SIM_SOCKET (sock);

  if (self->closed)
    return;
  self->closed = TRUE;
  cancel_all_timers (self);
  p2p_sim_network_unbind (self->net, self->node, self->port);
}

static GMainContext *
sim_get_context (P2pDatagramSocket *sock)
{
  return p2p_sim_network_get_context (P2P_SIM_SOCKET (sock)->net);
}

static void
p2p_sim_socket_finalize (GObject *object)
{
  P2pSimSocket *self = P2P_SIM_SOCKET (object);

  sim_close (P2P_DATAGRAM_SOCKET (self));
  g_hash_table_unref (self->timers);
  g_clear_object (&self->net);
  G_OBJECT_CLASS (p2p_sim_socket_parent_class)->finalize (object);
}

static void
p2p_sim_socket_class_init (P2pSimSocketClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  P2pDatagramSocketClass *dc = P2P_DATAGRAM_SOCKET_CLASS (klass);

  oc->finalize = p2p_sim_socket_finalize;
  dc->send_to = sim_send_to;
  dc->get_local_address = sim_get_local_address;
  dc->get_mtu = sim_get_mtu;
  dc->get_kind = sim_get_kind;
  dc->now = sim_now;
  dc->add_timer = sim_add_timer;
  dc->cancel_timer = sim_cancel_timer;
  dc->close = sim_close;
  dc->get_context = sim_get_context;
}

static void
p2p_sim_socket_init (P2pSimSocket *self)
{
  self->timers = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
}

P2pSimSocket *
p2p_sim_socket_new (P2pSimNetwork *net, guint node, guint16 port, GError **error)
{
  g_autoptr (P2pSimSocket) self = NULL;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (net), NULL);
  self = g_object_new (P2P_TYPE_SIM_SOCKET, NULL);
  self->net = g_object_ref (net);
  self->node = node;
  self->port = p2p_sim_network_bind (net, node, port, on_receive, self, error);
  if (self->port == 0) {
    self->closed = TRUE;
    return NULL;
  }
  return g_steal_pointer (&self);
}
