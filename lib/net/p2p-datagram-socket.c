/* p2p-datagram-socket.c: the P2pDatagramSocket base class: the one receive
 * callback (the listener's demultiplexer or a dialer) and the wrappers that
 * call the implementation's vfuncs.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-datagram-socket.h"
#include "p2p/p2p-error.h"

typedef struct {
  P2pDatagramSocketReceiveFunc func;
  gpointer user_data;
  GDestroyNotify notify;
  P2pDatagramSocketUnreachableFunc unreachable_func;
  gpointer unreachable_data;
  GDestroyNotify unreachable_notify;
} P2pDatagramSocketPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (P2pDatagramSocket, p2p_datagram_socket, G_TYPE_OBJECT)

static void
clear_receive_func (P2pDatagramSocket *self)
{
  P2pDatagramSocketPrivate *priv = p2p_datagram_socket_get_instance_private (self);
  GDestroyNotify notify = priv->notify;
  gpointer data = priv->user_data;

  priv->func = NULL;
  priv->user_data = NULL;
  priv->notify = NULL;
  if (notify)
    notify (data);
}

static void
clear_unreachable_func (P2pDatagramSocket *self)
{
  P2pDatagramSocketPrivate *priv = p2p_datagram_socket_get_instance_private (self);
  GDestroyNotify notify = priv->unreachable_notify;
  gpointer data = priv->unreachable_data;

  priv->unreachable_func = NULL;
  priv->unreachable_data = NULL;
  priv->unreachable_notify = NULL;
  if (notify)
    notify (data);
}

static void
p2p_datagram_socket_dispose (GObject *object)
{
  clear_receive_func (P2P_DATAGRAM_SOCKET (object));
  clear_unreachable_func (P2P_DATAGRAM_SOCKET (object));
  G_OBJECT_CLASS (p2p_datagram_socket_parent_class)->dispose (object);
}

static gboolean
default_send_to (P2pDatagramSocket *self, GSocketAddress *to, const guint8 *data, gsize len,
    GError **error)
{
  g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK, "%s cannot send datagrams",
      G_OBJECT_TYPE_NAME (self));
  return FALSE;
}

static gsize
default_get_mtu (P2pDatagramSocket *self)
{
  return 1200;
}

static P2pPathKind
default_get_kind (P2pDatagramSocket *self)
{
  return P2P_PATH_KIND_DIRECT;
}

static guint64
default_now (P2pDatagramSocket *self)
{
  return (guint64) g_get_monotonic_time () * 1000;
}

static GMainContext *
default_get_context (P2pDatagramSocket *self)
{
  return g_main_context_get_thread_default ();
}

static void
p2p_datagram_socket_class_init (P2pDatagramSocketClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);

  gobject_class->dispose = p2p_datagram_socket_dispose;

  klass->send_to = default_send_to;
  klass->get_mtu = default_get_mtu;
  klass->get_kind = default_get_kind;
  klass->now = default_now;
  klass->get_context = default_get_context;
}

static void
p2p_datagram_socket_init (P2pDatagramSocket *self)
{
}

gboolean
p2p_datagram_socket_send_to (P2pDatagramSocket *self, GSocketAddress *to, const guint8 *data,
    gsize len, GError **error)
{
  g_return_val_if_fail (P2P_IS_DATAGRAM_SOCKET (self), FALSE);
  g_return_val_if_fail (G_IS_SOCKET_ADDRESS (to), FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return P2P_DATAGRAM_SOCKET_GET_CLASS (self)->send_to (self, to, data, len, error);
}

gboolean
p2p_datagram_socket_send_segments_to (P2pDatagramSocket *self, GSocketAddress *to,
    const guint8 *data, gsize len, gsize segment, GError **error)
{
  P2pDatagramSocketClass *klass;
  gboolean ok = TRUE;

  g_return_val_if_fail (P2P_IS_DATAGRAM_SOCKET (self), FALSE);
  g_return_val_if_fail (G_IS_SOCKET_ADDRESS (to), FALSE);
  g_return_val_if_fail (segment > 0 && data != NULL, FALSE);

  klass = P2P_DATAGRAM_SOCKET_GET_CLASS (self);
  if (klass->send_segments_to)
    return klass->send_segments_to (self, to, data, len, segment, error);
  for (gsize off = 0; off < len; off += segment) {
    if (!klass->send_to (self, to, data + off, MIN (segment, len - off), ok ? error : NULL))
      ok = FALSE;
  }
  return ok;
}

GSocketAddress *
p2p_datagram_socket_get_local_address (P2pDatagramSocket *self)
{
  P2pDatagramSocketClass *klass;

  g_return_val_if_fail (P2P_IS_DATAGRAM_SOCKET (self), NULL);

  klass = P2P_DATAGRAM_SOCKET_GET_CLASS (self);
  return klass->get_local_address ? klass->get_local_address (self) : NULL;
}

gsize
p2p_datagram_socket_get_mtu (P2pDatagramSocket *self)
{
  g_return_val_if_fail (P2P_IS_DATAGRAM_SOCKET (self), 0);

  return P2P_DATAGRAM_SOCKET_GET_CLASS (self)->get_mtu (self);
}

P2pPathKind
p2p_datagram_socket_get_kind (P2pDatagramSocket *self)
{
  g_return_val_if_fail (P2P_IS_DATAGRAM_SOCKET (self), P2P_PATH_KIND_DIRECT);

  return P2P_DATAGRAM_SOCKET_GET_CLASS (self)->get_kind (self);
}

guint64
p2p_datagram_socket_now (P2pDatagramSocket *self)
{
  g_return_val_if_fail (P2P_IS_DATAGRAM_SOCKET (self), 0);

  return P2P_DATAGRAM_SOCKET_GET_CLASS (self)->now (self);
}

guint
p2p_datagram_socket_add_timer (P2pDatagramSocket *self, guint64 deadline_ns, P2pTimerFunc func,
    gpointer user_data)
{
  P2pDatagramSocketClass *klass;

  g_return_val_if_fail (P2P_IS_DATAGRAM_SOCKET (self), 0);
  g_return_val_if_fail (func != NULL, 0);

  klass = P2P_DATAGRAM_SOCKET_GET_CLASS (self);
  g_return_val_if_fail (klass->add_timer != NULL, 0);
  return klass->add_timer (self, deadline_ns, func, user_data);
}

void
p2p_datagram_socket_cancel_timer (P2pDatagramSocket *self, guint id)
{
  P2pDatagramSocketClass *klass;

  g_return_if_fail (P2P_IS_DATAGRAM_SOCKET (self));

  if (id == 0)
    return;
  klass = P2P_DATAGRAM_SOCKET_GET_CLASS (self);
  if (klass->cancel_timer)
    klass->cancel_timer (self, id);
}

void
p2p_datagram_socket_close (P2pDatagramSocket *self)
{
  P2pDatagramSocketClass *klass;

  g_return_if_fail (P2P_IS_DATAGRAM_SOCKET (self));

  klass = P2P_DATAGRAM_SOCKET_GET_CLASS (self);
  if (klass->close)
    klass->close (self);
}

GMainContext *
p2p_datagram_socket_get_context (P2pDatagramSocket *self)
{
  g_return_val_if_fail (P2P_IS_DATAGRAM_SOCKET (self), NULL);

  return P2P_DATAGRAM_SOCKET_GET_CLASS (self)->get_context (self);
}

void
p2p_datagram_socket_set_receive_func (P2pDatagramSocket *self,
    P2pDatagramSocketReceiveFunc func, gpointer user_data, GDestroyNotify notify)
{
  P2pDatagramSocketPrivate *priv;

  g_return_if_fail (P2P_IS_DATAGRAM_SOCKET (self));

  priv = p2p_datagram_socket_get_instance_private (self);
  clear_receive_func (self);
  priv->func = func;
  priv->user_data = user_data;
  priv->notify = notify;
}

void
p2p_datagram_socket_deliver (P2pDatagramSocket *self, GSocketAddress *from,
    const guint8 *data, gsize len)
{
  P2pDatagramSocketPrivate *priv;

  g_return_if_fail (P2P_IS_DATAGRAM_SOCKET (self));
  g_return_if_fail (data != NULL || len == 0);

  priv = p2p_datagram_socket_get_instance_private (self);
  if (priv->func)
    priv->func (self, from, data, len, priv->user_data);
}

void
p2p_datagram_socket_set_unreachable_func (P2pDatagramSocket *self,
    P2pDatagramSocketUnreachableFunc func, gpointer user_data, GDestroyNotify notify)
{
  P2pDatagramSocketPrivate *priv;

  g_return_if_fail (P2P_IS_DATAGRAM_SOCKET (self));

  priv = p2p_datagram_socket_get_instance_private (self);
  clear_unreachable_func (self);
  priv->unreachable_func = func;
  priv->unreachable_data = user_data;
  priv->unreachable_notify = notify;
}

void
p2p_datagram_socket_deliver_unreachable (P2pDatagramSocket *self, GSocketAddress *to,
    const char *reason)
{
  P2pDatagramSocketPrivate *priv;

  g_return_if_fail (P2P_IS_DATAGRAM_SOCKET (self));
  g_return_if_fail (G_IS_SOCKET_ADDRESS (to));

  priv = p2p_datagram_socket_get_instance_private (self);
  if (priv->unreachable_func)
    priv->unreachable_func (self, to, reason, priv->unreachable_data);
}
