/* p2p-provider.h: the swappable transport implementation.
 *
 * P2pQuicProvider (real: UDP direct, ICE, QUIC) and P2pSimProvider (the
 * simulated network) implement it. Each provider owns one network thread
 * running its own GMainContext; all sessions live there.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include "p2p-macros.h"
#include "p2p-connection.h"
#include "p2p-listener.h"
#include "p2p-identity.h"
#include "p2p-config.h"

G_BEGIN_DECLS

#define P2P_TYPE_PROVIDER (p2p_provider_get_type ())
P2P_EXPORT G_DECLARE_INTERFACE (P2pProvider, p2p_provider, P2P, PROVIDER, GObject)

struct _P2pProviderInterface {
  GTypeInterface parent_iface;

  void (*connect_async) (P2pProvider *self, const char *peer, GCancellable *cancellable,
      GAsyncReadyCallback callback, gpointer user_data);
  P2pConnection *(*connect_finish) (P2pProvider *self, GAsyncResult *result, GError **error);
  P2pListener *(*listen) (P2pProvider *self, const char *address, GError **error);
  const P2pPeerId *(*get_local_peer_id) (P2pProvider *self);
  GVariant *(*get_stats) (P2pProvider *self);
};

/* @peer: a peer ID, a ticket or ID@HOST:PORT. Errors: INVALID_ARGUMENT,
 * PEER_NOT_FOUND, CONNECTION_FAILED, AUTHENTICATION_FAILED, TIMEOUT. */
P2P_EXPORT void p2p_provider_connect_async (P2pProvider *self, const char *peer,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
P2P_EXPORT P2pConnection *p2p_provider_connect_finish (P2pProvider *self, GAsyncResult *result, GError **error);
/* Blocking variant (any thread except the provider's network thread). */
P2P_EXPORT P2pConnection *p2p_provider_connect (P2pProvider *self, const char *peer,
    GCancellable *cancellable, GError **error);
/* The same, under a name that bindings can call (Python's connect() is
 * GObject's signal connect). */
P2P_EXPORT P2pConnection *p2p_provider_connect_sync (P2pProvider *self, const char *peer,
    GCancellable *cancellable, GError **error);
/* @address: "HOST:PORT", ":PORT" or NULL for the configured default. The
 * listener accepts only the peers of P2pConfig.allowed_peers when it is set
 * (see p2p_config_set_allowed_peers()). Errors: INVALID_ARGUMENT (bad
 * address, or a bad allow-list), NETWORK (cannot bind). */
P2P_EXPORT P2pListener *p2p_provider_listen (P2pProvider *self, const char *address, GError **error);
P2P_EXPORT const P2pPeerId *p2p_provider_get_local_peer_id (P2pProvider *self);

/* Creates the provider selected by @config->implementation ("quic" or "sim"). */
P2P_EXPORT P2pProvider *p2p_provider_new_from_config (P2pIdentity *identity,
    const P2pConfig *config, GError **error);

/* Counters since the provider was created, an a{sv} (docs/observability.md). */
P2P_EXPORT GVariant *p2p_provider_get_stats (P2pProvider *self);

G_END_DECLS
