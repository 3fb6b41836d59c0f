/* p2p-provider.c: the P2pProvider interface: wrappers, and the blocking
 * p2p_provider_connect() over connect_async. (p2p_provider_new_from_config()
 * lives in lib/provider/p2p-provider-select.c, which knows every implementation.)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-provider.h"
#include "p2p/p2p-error.h"
#include "p2p-sync-wait.h"

G_DEFINE_INTERFACE (P2pProvider, p2p_provider, G_TYPE_OBJECT)

static void
p2p_provider_default_init (P2pProviderInterface *iface)
{
}

/**
 * p2p_provider_connect_async:
 * @self: a provider
 * @peer: a peer ID, a ticket or "ID@HOST:PORT"
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called on the thread-default main context of
 *   the caller when the connection is authenticated or failed
 * @user_data: (closure): data for @callback
 *
 * Connects to @peer; finish with p2p_provider_connect_finish().
 */
void
p2p_provider_connect_async (P2pProvider *self, const char *peer, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  P2pProviderInterface *iface;

  g_return_if_fail (P2P_IS_PROVIDER (self));
  g_return_if_fail (peer != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  iface = P2P_PROVIDER_GET_IFACE (self);
  if (iface->connect_async == NULL) {
    g_task_report_new_error (self, callback, user_data, p2p_provider_connect_async,
        P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT, "%s cannot connect to peers",
        G_OBJECT_TYPE_NAME (self));
    return;
  }
  iface->connect_async (self, peer, cancellable, callback, user_data);
}

/**
 * p2p_provider_connect_finish:
 * @self: a provider
 * @result: the #GAsyncResult given to the callback
 * @error: %P2P_ERROR_INVALID_ARGUMENT (malformed @peer),
 *   %P2P_ERROR_PEER_NOT_FOUND, %P2P_ERROR_CONNECTION_FAILED,
 *   %P2P_ERROR_AUTHENTICATION_FAILED, %P2P_ERROR_TIMEOUT or
 *   %G_IO_ERROR_CANCELLED
 *
 * Returns: (transfer full) (nullable): the authenticated connection, NULL
 *   on error.
 */
P2pConnection *
p2p_provider_connect_finish (P2pProvider *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (P2P_IS_PROVIDER (self), NULL);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_async_result_is_tagged (result, p2p_provider_connect_async))
    return g_task_propagate_pointer (G_TASK (result), error);
  return P2P_PROVIDER_GET_IFACE (self)->connect_finish (self, result, error);
}

/**
 * p2p_provider_connect:
 * @self: a provider
 * @peer: a peer ID, a ticket or "ID@HOST:PORT"
 * @cancellable: (nullable): a #GCancellable
 * @error: as p2p_provider_connect_finish()
 *
 * Blocking p2p_provider_connect_async(). Call it from any thread except the
 * provider's network thread. From Python use connect_sync():
 * GObject's connect() (signals) hides a method named connect.
 *
 * Returns: (transfer full) (nullable): the authenticated connection, NULL
 *   on error.
 */
P2pConnection *
p2p_provider_connect (P2pProvider *self, const char *peer, GCancellable *cancellable,
    GError **error)
{
  P2pSyncWait w;
  P2pConnection *conn;

  g_return_val_if_fail (P2P_IS_PROVIDER (self), NULL);
  g_return_val_if_fail (peer != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  /* The provider's network thread does the work; its completion is
   * dispatched to this private context (the thread default at the call). */
  p2p_sync_wait_begin (&w);
  p2p_provider_connect_async (self, peer, cancellable, p2p_sync_wait_done, &w);
  p2p_sync_wait_end (&w);
  conn = p2p_provider_connect_finish (self, w.result, error);
  g_object_unref (w.result);
  return conn;
}

/**
 * p2p_provider_connect_sync:
 * @self: a provider
 * @peer: a peer ID, a ticket or "ID@HOST:PORT"
 * @cancellable: (nullable): a #GCancellable
 * @error: as p2p_provider_connect_finish()
 *
 * p2p_provider_connect() under a name that bindings can call: in Python
 * `provider.connect(...)` is GObject's signal connect.
 *
 * Returns: (transfer full) (nullable): the authenticated connection, NULL
 *   on error.
 */
P2pConnection *
p2p_provider_connect_sync (P2pProvider *self, const char *peer, GCancellable *cancellable,
    GError **error)
{
  return p2p_provider_connect (self, peer, cancellable, error);
}

/**
 * p2p_provider_listen:
 * @self: a provider
 * @address: (nullable): "HOST:PORT", ":PORT" (port 0 = any) or NULL for the
 *   configured default (P2P_LISTEN_PORT)
 * @error: %P2P_ERROR_INVALID_ARGUMENT (malformed @address, or a
 *   P2pConfig.allowed_peers that is empty or holds an invalid peer ID),
 *   %P2P_ERROR_NETWORK (cannot bind)
 *
 * With P2pConfig.allowed_peers set (P2P_ALLOWED_PEERS,
 * p2p_config_set_allowed_peers()), only those peers get in: the others fail
 * the TLS handshake, and on the ICE route their offers get no answer.
 *
 * The listener and the connections it accepts run on the provider's
 * network thread: keep a reference to the provider as long as they are
 * used (in Python, `listener = P2p.Provider.new_from_config(...).listen(...)`
 * drops the provider at once and the listener stops answering).
 *
 * Returns: (transfer full) (nullable): a listener accepting authenticated
 *   connections, NULL on error.
 */
P2pListener *
p2p_provider_listen (P2pProvider *self, const char *address, GError **error)
{
  P2pProviderInterface *iface;

  g_return_val_if_fail (P2P_IS_PROVIDER (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  iface = P2P_PROVIDER_GET_IFACE (self);
  if (iface->listen == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s cannot listen for peers", G_OBJECT_TYPE_NAME (self));
    return NULL;
  }
  return iface->listen (self, address, error);
}

/**
 * p2p_provider_get_local_peer_id:
 * @self: a provider
 *
 * Returns: (transfer none) (nullable): this peer's ID.
 */
const P2pPeerId *
p2p_provider_get_local_peer_id (P2pProvider *self)
{
  P2pProviderInterface *iface;

  g_return_val_if_fail (P2P_IS_PROVIDER (self), NULL);

  iface = P2P_PROVIDER_GET_IFACE (self);
  return iface->get_local_peer_id ? iface->get_local_peer_id (self) : NULL;
}

/**
 * p2p_provider_get_stats:
 * @self: a provider
 *
 * What @self has done since it was created, as a dictionary (a{sv}; in
 * Python `provider.get_stats().unpack()`): "dials-ok", "dials-failed" and
 * "dials-failed-by-error" (a{st}: "timeout", "authentication-failed", ...),
 * "accepts", "refused" and "refused-by-reason" (a{st}), "established",
 * "active" (u), "closed", "paths-direct", "paths-relay", "paths-simulated"
 * (the path each connection was established on), "relay-bytes-closed"
 * (UDP bytes of relayed connections that have closed), "setup-ms-buckets"
 * (a(ut): cumulative counts of setup times up to each bound in ms, the last
 * bound G_MAXUINT32 meaning +Inf) and "setup-ms-sum" (d). Every counter
 * only grows except "active". docs/observability.md lists them all.
 *
 * Returns: (transfer full): the counters; an empty dictionary for a
 *   provider that keeps none.
 */
GVariant *
p2p_provider_get_stats (P2pProvider *self)
{
  P2pProviderInterface *iface;

  g_return_val_if_fail (P2P_IS_PROVIDER (self), NULL);

  iface = P2P_PROVIDER_GET_IFACE (self);
  if (iface->get_stats)
    return iface->get_stats (self);
  return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
}
