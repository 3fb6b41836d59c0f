/* p2p-connection.c: the P2pConnection base class: argument checks and limits
 * in front of the implementation's vfuncs, the "closed", "path-changed" and
 * "datagram-received" signals, and default variants: an async call of a
 * subclass that only implements the blocking one runs it in a GTask thread;
 * a blocking call of a subclass that only implements the async one iterates
 * a private main context until it completes. Messages are in
 * p2p-connection-messages.c, extra streams in p2p-connection-streams.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-connection.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-frame.h"
#include "p2p-connection-private.h"

G_DEFINE_ABSTRACT_TYPE (P2pConnection, p2p_connection, G_TYPE_OBJECT)

enum {
  SIGNAL_CLOSED,
  SIGNAL_PATH_CHANGED,
  SIGNAL_DATAGRAM_RECEIVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
p2p_connection_class_init (P2pConnectionClass *klass)
{
  /**
   * P2pConnection::closed:
   * @self: the connection
   * @error: (nullable): NULL after a normal close by either side, else why
   *
   * The connection is closed; emitted once, on the network thread.
   */
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
  /**
   * P2pConnection::path-changed:
   * @self: the connection
   * @old_kind: the #P2pPathKind before the change
   * @new_kind: the #P2pPathKind now in use
   *
   * The packets now take another route: ICE moved from a TURN relay to a
   * direct pair once hole punching succeeded, or a direct path moved to
   * another address (then both kinds are equal). The connection goes on
   * (nothing is lost or repeated); p2p_connection_get_stats() counts the
   * changes (path_changes) and when the path became direct
   * (direct_path_time_us). Emitted on the network thread.
   */
  signals[SIGNAL_PATH_CHANGED] = g_signal_new ("path-changed", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2, P2P_TYPE_PATH_KIND,
      P2P_TYPE_PATH_KIND);
  /**
   * P2pConnection::datagram-received:
   * @self: the connection
   * @datagram: the #GBytes received (unreliable delivery)
   *
   * A datagram arrived; emitted on the network thread.
   */
  signals[SIGNAL_DATAGRAM_RECEIVED] = g_signal_new ("datagram-received",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
      G_TYPE_BYTES);
}

static void
p2p_connection_init (P2pConnection *self)
{
}

void
p2p_connection_set_not_supported (P2pConnection *self, const char *what, GError **error)
{
  g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
      "%s does not support %s", G_OBJECT_TYPE_NAME (self), what);
}

/* ---- datagrams ---- */

/**
 * p2p_connection_send_datagram:
 * @self: a connection
 * @datagram: the payload, at most p2p_connection_get_max_datagram_size()
 *   bytes (more is %P2P_ERROR_LIMIT_EXCEEDED)
 * @error: %P2P_ERROR_LIMIT_EXCEEDED, %P2P_ERROR_CLOSED
 *
 * Sends an unreliable datagram (RFC 9221). Never blocks: a full queue drops
 * it (counted in the stats). The peer receives it through
 * #P2pConnection::datagram-received.
 *
 * Returns: TRUE when the datagram was queued or dropped by a full queue.
 */
gboolean
p2p_connection_send_datagram (P2pConnection *self, GBytes *datagram, GError **error)
{
  P2pConnectionClass *klass;
  gsize len, max;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (datagram != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->send_datagram == NULL) {
    p2p_connection_set_not_supported (self, "datagrams", error);
    return FALSE;
  }
  len = g_bytes_get_size (datagram);
  max = p2p_connection_get_max_datagram_size (self);
  if (len > max) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "datagram of %" G_GSIZE_FORMAT " bytes is larger than the maximum of %"
        G_GSIZE_FORMAT " bytes this connection carries; send it as a message instead",
        len, max);
    return FALSE;
  }
  return klass->send_datagram (self, datagram, error);
}

/**
 * p2p_connection_get_max_datagram_size:
 * @self: a connection
 *
 * Returns: the largest datagram payload this connection carries now
 *   (bytes), 0 when datagrams are not supported.
 */
gsize
p2p_connection_get_max_datagram_size (P2pConnection *self)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), 0);

  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->get_max_datagram_size ? klass->get_max_datagram_size (self) : 0;
}

/* ---- state ---- */

/**
 * p2p_connection_dup_remote_host:
 * @self: a connection
 *
 * The host the peer's packets come from now, as limits per host count it
 * (a peer ID costs nothing to make, an address does): an IPv4 address as
 * text, an IPv6 address as its /64 ("2001:db8::/64").
 *
 * Returns: (transfer full) (nullable): the host, or %NULL when not known
 *   or through a TURN relay (whose address every relayed peer shares)
 */
char *
p2p_connection_dup_remote_host (P2pConnection *self)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), NULL);
  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->dup_remote_host ? klass->dup_remote_host (self) : NULL;
}

/**
 * p2p_connection_get_peer_id:
 * @self: a connection
 *
 * Returns: (transfer none) (nullable): the authenticated peer ID of the
 *   other end.
 */
const P2pPeerId *
p2p_connection_get_peer_id (P2pConnection *self)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), NULL);

  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->get_peer_id ? klass->get_peer_id (self) : NULL;
}

/**
 * p2p_connection_is_connected:
 * @self: a connection
 *
 * Returns: TRUE until the connection is closed (by either side) or failed.
 */
gboolean
p2p_connection_is_connected (P2pConnection *self)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);

  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->is_connected ? klass->is_connected (self) : FALSE;
}

/**
 * p2p_connection_get_protocol_version:
 * @self: a connection
 *
 * The gst-p2p protocol version the two peers use: the highest version both
 * advertised in their HANDSHAKE (docs/protocol.md §3.1).
 *
 * Returns: the negotiated version, 0 if the implementation does not
 *   negotiate one.
 */
guint
p2p_connection_get_protocol_version (P2pConnection *self)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), 0);

  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->get_protocol_version ? klass->get_protocol_version (self) : 0;
}

static guint64
peer_capabilities (P2pConnection *self)
{
  P2pConnectionClass *klass = P2P_CONNECTION_GET_CLASS (self);

  return klass->get_peer_capabilities ? klass->get_peer_capabilities (self) : 0;
}

/**
 * p2p_connection_has_capability:
 * @self: a connection
 * @name: a capability name from the registry in docs/protocol.md §3.1
 *   ("files")
 *
 * Returns: TRUE if the peer advertised the capability @name; FALSE if it
 *   did not, or @name is not in this build's registry.
 */
gboolean
p2p_connection_has_capability (P2pConnection *self, const char *name)
{
  guint64 bit;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  bit = p2p_capability_from_name (name);
  return bit != 0 && (peer_capabilities (self) & bit) != 0;
}

/**
 * p2p_connection_list_capabilities:
 * @self: a connection
 *
 * Returns: (transfer full) (array zero-terminated=1): the names of the
 *   capabilities the peer advertised that this build knows, in registry
 *   order (bits it does not know are left out).
 */
char **
p2p_connection_list_capabilities (P2pConnection *self)
{
  GPtrArray *names;
  guint64 caps;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), NULL);

  caps = peer_capabilities (self);
  names = g_ptr_array_new ();
  for (guint i = 0; i < 64; i++) {
    const char *name = p2p_capability_to_name (G_GUINT64_CONSTANT (1) << i);

    if (name && (caps & (G_GUINT64_CONSTANT (1) << i)))
      g_ptr_array_add (names, g_strdup (name));
  }
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (names, FALSE);
}

/**
 * p2p_connection_wait_handshake:
 * @self: a connection
 * @cancellable: (nullable): a #GCancellable
 * @error: the connection's close error, or %G_IO_ERROR_CANCELLED
 *
 * A connection dialed with early streams (#P2pConfig early_streams) is
 * returned as soon as the peer is authenticated, a round trip before the
 * peer's handshake (its protocol version and capabilities) arrives. This
 * blocks until it has, or until the connection closed (the peer refused
 * our key: %P2P_ERROR_AUTHENTICATION_FAILED). For any other connection it
 * returns %TRUE at once.
 *
 * Returns: TRUE once the peer's handshake is in.
 */
gboolean
p2p_connection_wait_handshake (P2pConnection *self, GCancellable *cancellable, GError **error)
{
  P2pConnectionClass *klass;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  klass = P2P_CONNECTION_GET_CLASS (self);
  return klass->wait_handshake == NULL || klass->wait_handshake (self, cancellable, error);
}

/**
 * p2p_connection_require_capability:
 * @self: a connection
 * @name: a capability name ("files")
 * @feature: what needs it, for the message ("the file service")
 * @error: %P2P_ERROR_NOT_SUPPORTED if the peer did not advertise @name
 *
 * The check a feature makes before it talks to the peer, so that a peer
 * without the feature gets a clear error instead of a reset stream or a
 * timeout: "peer ID does not offer the file service (capability 'files';
 * it speaks protocol version 1)". The connection stays usable. On a
 * connection dialed with early streams (#P2pConfig early_streams), waits
 * for the peer's handshake first (then fails with the connection's close
 * error if the peer refused it).
 *
 * Returns: TRUE if the peer advertised @name.
 */
gboolean
p2p_connection_require_capability (P2pConnection *self, const char *name,
    const char *feature, GError **error)
{
  const P2pPeerId *peer;
  g_autofree char *peer_text = NULL;

  g_return_val_if_fail (P2P_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (name != NULL && feature != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* a connection dialed with early streams learns the peer's capabilities
   * a round trip after it was returned */
  if (!p2p_connection_wait_handshake (self, NULL, error))
    return FALSE;
  if (p2p_connection_has_capability (self, name))
    return TRUE;
  peer = p2p_connection_get_peer_id (self);
  peer_text = peer ? p2p_peer_id_to_string (peer) : g_strdup ("(unknown)");
  g_set_error (error, P2P_ERROR, P2P_ERROR_NOT_SUPPORTED,
      "peer %s does not offer %s (capability '%s'; it speaks protocol version %u)",
      peer_text, feature, name, p2p_connection_get_protocol_version (self));
  return FALSE;
}

/**
 * p2p_connection_close:
 * @self: a connection
 * @reason: (nullable): a short text sent to the peer in Disconnect{reason}
 *   (NULL = "")
 *
 * Graceful close: queued messages are delivered first, then the peer's
 * p2p_connection_receive() fails with %P2P_ERROR_CLOSED and @reason as its
 * message. Idempotent.
 */
void
p2p_connection_close (P2pConnection *self, const char *reason)
{
  P2pConnectionClass *klass;

  g_return_if_fail (P2P_IS_CONNECTION (self));

  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->close)
    klass->close (self, reason ? reason : "");
}

/**
 * p2p_connection_get_stats:
 * @self: a connection
 * @stats: (out caller-allocates): filled with the current counters
 *
 * Reads the connection's statistics (zeros for counters the implementation
 * does not keep).
 */
void
p2p_connection_get_stats (P2pConnection *self, P2pConnectionStats *stats)
{
  P2pConnectionClass *klass;

  g_return_if_fail (P2P_IS_CONNECTION (self));
  g_return_if_fail (stats != NULL);

  *stats = (P2pConnectionStats) { 0, };
  klass = P2P_CONNECTION_GET_CLASS (self);
  if (klass->get_stats)
    klass->get_stats (self, stats);
}

/* ---- for implementations ---- */

/**
 * p2p_connection_emit_closed:
 * @self: a connection
 * @error: (nullable): why it closed, NULL for a normal close
 *
 * For implementations: emits #P2pConnection::closed.
 */
void
p2p_connection_emit_closed (P2pConnection *self, const GError *error)
{
  g_return_if_fail (P2P_IS_CONNECTION (self));

  g_signal_emit (self, signals[SIGNAL_CLOSED], 0, error);
}

/**
 * p2p_connection_emit_path_changed:
 * @self: a connection
 * @old_kind: the path kind before the change
 * @new_kind: the path kind now in use
 *
 * For implementations: emits #P2pConnection::path-changed.
 */
void
p2p_connection_emit_path_changed (P2pConnection *self, P2pPathKind old_kind,
    P2pPathKind new_kind)
{
  g_return_if_fail (P2P_IS_CONNECTION (self));

  g_signal_emit (self, signals[SIGNAL_PATH_CHANGED], 0, old_kind, new_kind);
}

/**
 * p2p_connection_emit_datagram:
 * @self: a connection
 * @datagram: the datagram that arrived
 *
 * For implementations: emits #P2pConnection::datagram-received.
 */
void
p2p_connection_emit_datagram (P2pConnection *self, GBytes *datagram)
{
  g_return_if_fail (P2P_IS_CONNECTION (self));
  g_return_if_fail (datagram != NULL);

  g_signal_emit (self, signals[SIGNAL_DATAGRAM_RECEIVED], 0, datagram);
}
