/* p2p-packet-path.c: the P2pPacketPath base class: the GMainContext it lives
 * on, the owner's receive/timer handlers, the "path-changed" signal and the
 * wrappers that call the implementation's vfuncs.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-packet-path.h"
#include "p2p/p2p-error.h"

/* ---- P2pPacketPath ---- */

typedef struct {
  GMainContext *context;
  P2pPacketPathReceiveFunc on_receive;
  P2pPacketPathTimerFunc on_timer;
  gpointer user_data;
  GDestroyNotify notify;
  guint32 rx_route;             /* during a delivery */
} P2pPacketPathPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (P2pPacketPath, p2p_packet_path, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_CONTEXT,
  N_PROPS
};

enum {
  SIGNAL_PATH_CHANGED,
  N_SIGNALS
};

static GParamSpec *props[N_PROPS];
static guint signals[N_SIGNALS];

static void
clear_handlers (P2pPacketPath *self)
{
  P2pPacketPathPrivate *priv = p2p_packet_path_get_instance_private (self);
  GDestroyNotify notify = priv->notify;
  gpointer data = priv->user_data;

  priv->on_receive = NULL;
  priv->on_timer = NULL;
  priv->user_data = NULL;
  priv->notify = NULL;
  if (notify)
    notify (data);
}

static void
p2p_packet_path_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  P2pPacketPath *self = P2P_PACKET_PATH (object);
  P2pPacketPathPrivate *priv = p2p_packet_path_get_instance_private (self);

  switch (prop_id) {
    case PROP_CONTEXT:
      g_clear_pointer (&priv->context, g_main_context_unref);
      priv->context = g_value_dup_boxed (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
p2p_packet_path_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  P2pPacketPath *self = P2P_PACKET_PATH (object);
  P2pPacketPathPrivate *priv = p2p_packet_path_get_instance_private (self);

  switch (prop_id) {
    case PROP_CONTEXT:
      g_value_set_boxed (value, priv->context);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
p2p_packet_path_constructed (GObject *object)
{
  P2pPacketPath *self = P2P_PACKET_PATH (object);
  P2pPacketPathPrivate *priv = p2p_packet_path_get_instance_private (self);

  G_OBJECT_CLASS (p2p_packet_path_parent_class)->constructed (object);
  if (priv->context == NULL)
    priv->context = g_main_context_ref_thread_default ();
}

static void
p2p_packet_path_dispose (GObject *object)
{
  clear_handlers (P2P_PACKET_PATH (object));
  G_OBJECT_CLASS (p2p_packet_path_parent_class)->dispose (object);
}

static void
p2p_packet_path_finalize (GObject *object)
{
  P2pPacketPathPrivate *priv = p2p_packet_path_get_instance_private (P2P_PACKET_PATH (object));

  g_clear_pointer (&priv->context, g_main_context_unref);
  G_OBJECT_CLASS (p2p_packet_path_parent_class)->finalize (object);
}

static gboolean
default_send (P2pPacketPath *self, const guint8 *data, gsize len, GError **error)
{
  g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK, "%s cannot send datagrams",
      G_OBJECT_TYPE_NAME (self));
  return FALSE;
}

static gsize
default_get_mtu (P2pPacketPath *self)
{
  return 1200;                  /* the QUIC minimum */
}

static P2pPathKind
default_get_kind (P2pPacketPath *self)
{
  return P2P_PATH_KIND_DIRECT;
}

static guint64
default_now (P2pPacketPath *self)
{
  return (guint64) g_get_monotonic_time () * 1000;
}

static void
p2p_packet_path_class_init (P2pPacketPathClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);

  gobject_class->set_property = p2p_packet_path_set_property;
  gobject_class->get_property = p2p_packet_path_get_property;
  gobject_class->constructed = p2p_packet_path_constructed;
  gobject_class->dispose = p2p_packet_path_dispose;
  gobject_class->finalize = p2p_packet_path_finalize;

  klass->send = default_send;
  klass->get_mtu = default_get_mtu;
  klass->get_kind = default_get_kind;
  klass->now = default_now;

  /**
   * P2pPacketPath:context:
   * The GMainContext every callback of this path runs on (default: the
   * thread-default context at construction).
   */
  props[PROP_CONTEXT] = g_param_spec_boxed ("context", "Context",
      "GMainContext all callbacks of the path run on (NULL = thread default)",
      G_TYPE_MAIN_CONTEXT,
      G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (gobject_class, N_PROPS, props);

  /**
   * P2pPacketPath::path-changed:
   * @self: the path
   * @old_kind: the #P2pPathKind before the change
   * @new_kind: the #P2pPathKind now
   *
   * The path now runs over another route (ICE moved from a relayed pair to
   * a direct one, a direct path moved to another address: then both kinds
   * are equal). Emitted on the path's context by
   * p2p_packet_path_announce_change().
   */
  signals[SIGNAL_PATH_CHANGED] = g_signal_new ("path-changed", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2, P2P_TYPE_PATH_KIND,
      P2P_TYPE_PATH_KIND);
}

static void
p2p_packet_path_init (P2pPacketPath *self)
{
}

/**
 * p2p_packet_path_send:
 * @self: a path
 * @data: (array length=len): the datagram
 * @len: its length in bytes
 * @error: why it was not sent (the caller treats that as loss)
 *
 * Sends one datagram. Call on the path's context.
 *
 * Returns: TRUE if it was sent.
 */
gboolean
p2p_packet_path_send (P2pPacketPath *self, const guint8 *data, gsize len, GError **error)
{
  g_return_val_if_fail (P2P_IS_PACKET_PATH (self), FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return P2P_PACKET_PATH_GET_CLASS (self)->send (self, data, len, error);
}

gboolean
p2p_packet_path_send_segments (P2pPacketPath *self, const guint8 *data, gsize len,
    gsize segment, GError **error)
{
  P2pPacketPathClass *klass;
  gboolean ok = TRUE;

  g_return_val_if_fail (P2P_IS_PACKET_PATH (self), FALSE);
  g_return_val_if_fail (segment > 0 && data != NULL, FALSE);

  klass = P2P_PACKET_PATH_GET_CLASS (self);
  if (klass->send_segments)
    return klass->send_segments (self, data, len, segment, error);
  for (gsize off = 0; off < len; off += segment) {
    if (!klass->send (self, data + off, MIN (segment, len - off), ok ? error : NULL))
      ok = FALSE;
  }
  return ok;
}

gboolean
p2p_packet_path_send_segments_on (P2pPacketPath *self, guint32 route, const guint8 *data,
    gsize len, gsize segment, GError **error)
{
  P2pPacketPathClass *klass;

  g_return_val_if_fail (P2P_IS_PACKET_PATH (self), FALSE);
  g_return_val_if_fail (segment > 0 && data != NULL, FALSE);

  klass = P2P_PACKET_PATH_GET_CLASS (self);
  if (klass->send_segments_on)
    return klass->send_segments_on (self, route, data, len, segment, error);
  if (route == 0)
    return p2p_packet_path_send_segments (self, data, len, segment, error);
  g_set_error (error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
      "this path has no route %u (it knows one remote address)", route);
  return FALSE;
}

gsize
p2p_packet_path_get_mtu (P2pPacketPath *self)
{
  g_return_val_if_fail (P2P_IS_PACKET_PATH (self), 0);

  return P2P_PACKET_PATH_GET_CLASS (self)->get_mtu (self);
}

P2pPathKind
p2p_packet_path_get_kind (P2pPacketPath *self)
{
  g_return_val_if_fail (P2P_IS_PACKET_PATH (self), P2P_PATH_KIND_DIRECT);

  return P2P_PACKET_PATH_GET_CLASS (self)->get_kind (self);
}

guint64
p2p_packet_path_now (P2pPacketPath *self)
{
  g_return_val_if_fail (P2P_IS_PACKET_PATH (self), 0);

  return P2P_PACKET_PATH_GET_CLASS (self)->now (self);
}

void
p2p_packet_path_set_timer (P2pPacketPath *self, guint64 deadline_ns)
{
  P2pPacketPathClass *klass;

  g_return_if_fail (P2P_IS_PACKET_PATH (self));

  klass = P2P_PACKET_PATH_GET_CLASS (self);
  if (klass->set_timer)
    klass->set_timer (self, deadline_ns);
}

void
p2p_packet_path_close (P2pPacketPath *self)
{
  P2pPacketPathClass *klass;

  g_return_if_fail (P2P_IS_PACKET_PATH (self));

  klass = P2P_PACKET_PATH_GET_CLASS (self);
  if (klass->close)
    klass->close (self);
}

/**
 * p2p_packet_path_describe_remote:
 * @self: a path
 *
 * Returns: (transfer full) (nullable): the remote end in human readable
 *   form, e.g. "127.0.0.1:8800".
 */
char *
p2p_packet_path_describe_remote (P2pPacketPath *self)
{
  P2pPacketPathClass *klass;

  g_return_val_if_fail (P2P_IS_PACKET_PATH (self), NULL);

  klass = P2P_PACKET_PATH_GET_CLASS (self);
  return klass->describe_remote ? klass->describe_remote (self) : NULL;
}

/**
 * p2p_packet_path_get_context:
 * @self: a path
 *
 * Returns: (transfer none): the context all calls and callbacks of this path
 *   run on.
 */
GMainContext *
p2p_packet_path_get_context (P2pPacketPath *self)
{
  P2pPacketPathPrivate *priv;

  g_return_val_if_fail (P2P_IS_PACKET_PATH (self), NULL);

  priv = p2p_packet_path_get_instance_private (self);
  return priv->context;
}

/**
 * p2p_packet_path_set_handlers: (skip)
 * @self: a path
 * @on_receive: (scope notified): called for each datagram that arrived
 * @on_timer: (scope notified): called when the timer fires
 * @user_data: data for both callbacks
 * @notify: (nullable): frees @user_data when the handlers are replaced or
 *   the path is finalized
 *
 * Installs the owner's callbacks (one owner per path). Not for bindings:
 * the two callbacks share one @user_data.
 */
void
p2p_packet_path_set_handlers (P2pPacketPath *self, P2pPacketPathReceiveFunc on_receive,
    P2pPacketPathTimerFunc on_timer, gpointer user_data, GDestroyNotify notify)
{
  P2pPacketPathPrivate *priv;

  g_return_if_fail (P2P_IS_PACKET_PATH (self));

  priv = p2p_packet_path_get_instance_private (self);
  clear_handlers (self);
  priv->on_receive = on_receive;
  priv->on_timer = on_timer;
  priv->user_data = user_data;
  priv->notify = notify;
}

/**
 * p2p_packet_path_deliver:
 * @self: a path
 * @data: (array length=len): the datagram that arrived
 * @len: its length in bytes
 *
 * For implementations: hands an arrived datagram to the owner's receive
 * handler.
 */
void
p2p_packet_path_deliver (P2pPacketPath *self, const guint8 *data, gsize len)
{
  p2p_packet_path_deliver_on (self, 0, data, len);
}

/**
 * p2p_packet_path_deliver_on:
 * @self: a path
 * @route: the path's number for the remote address it came from
 * @data: (array length=len): the datagram that arrived
 * @len: its length in bytes
 *
 * For implementations that learn further remote addresses: hands an
 * arrived datagram to the owner's receive handler, which reads @route with
 * p2p_packet_path_get_rx_route().
 */
void
p2p_packet_path_deliver_on (P2pPacketPath *self, guint32 route, const guint8 *data, gsize len)
{
  P2pPacketPathPrivate *priv;
  guint32 outer;

  g_return_if_fail (P2P_IS_PACKET_PATH (self));
  g_return_if_fail (data != NULL || len == 0);

  priv = p2p_packet_path_get_instance_private (self);
  if (priv->on_receive == NULL)
    return;
  outer = priv->rx_route;
  priv->rx_route = route;
  priv->on_receive (self, data, len, priv->user_data);
  priv->rx_route = outer;
}

guint32
p2p_packet_path_get_rx_route (P2pPacketPath *self)
{
  P2pPacketPathPrivate *priv;

  g_return_val_if_fail (P2P_IS_PACKET_PATH (self), 0);

  priv = p2p_packet_path_get_instance_private (self);
  return priv->rx_route;
}

void
p2p_packet_path_fire_timer (P2pPacketPath *self)
{
  P2pPacketPathPrivate *priv;

  g_return_if_fail (P2P_IS_PACKET_PATH (self));

  priv = p2p_packet_path_get_instance_private (self);
  if (priv->on_timer)
    priv->on_timer (self, priv->user_data);
}

/**
 * p2p_packet_path_announce_change:
 * @self: a path
 * @old_kind: the kind before the change
 *
 * For implementations, once the route has switched (get_kind() reports the
 * new kind): emits #P2pPacketPath::path-changed. Every path implementation
 * announces a change through this one function, whatever moved (an ICE
 * pair, an address); the connection above counts it and relays it as
 * #P2pConnection::path-changed. Call on the path's context.
 */
void
p2p_packet_path_announce_change (P2pPacketPath *self, P2pPathKind old_kind)
{
  g_return_if_fail (P2P_IS_PACKET_PATH (self));

  g_signal_emit (self, signals[SIGNAL_PATH_CHANGED], 0, old_kind,
      p2p_packet_path_get_kind (self));
}
