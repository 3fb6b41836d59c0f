/* p2p-listener.h: accepts authenticated connections from peers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include "p2p-macros.h"
#include "p2p-connection.h"

G_BEGIN_DECLS

#define P2P_TYPE_LISTENER (p2p_listener_get_type ())
P2P_EXPORT G_DECLARE_DERIVABLE_TYPE (P2pListener, p2p_listener, P2P, LISTENER, GObject)

struct _P2pListenerClass {
  GObjectClass parent_class;

  P2pConnection *(*accept) (P2pListener *self, GCancellable *cancellable, GError **error);
  void (*accept_async) (P2pListener *self, GCancellable *cancellable,
      GAsyncReadyCallback callback, gpointer user_data);
  P2pConnection *(*accept_finish) (P2pListener *self, GAsyncResult *result, GError **error);
  /* (transfer full) the bound address, e.g. 0.0.0.0:8800; on the simulator
   * the node's address and port in the simulated network; NULL if the
   * socket has none. */
  GSocketAddress *(*get_local_address) (P2pListener *self);
  /* (transfer full) a ticket naming this listener's peer ID and addresses. */
  char *(*get_ticket) (P2pListener *self);
  void (*close) (P2pListener *self);

  gpointer padding[8];
};

/* Blocks until a peer has connected and authenticated (transfer full).
 * Errors: CLOSED (listener closed), G_IO_ERROR_CANCELLED. */
P2P_EXPORT P2pConnection *p2p_listener_accept (P2pListener *self, GCancellable *cancellable, GError **error);
P2P_EXPORT void p2p_listener_accept_async (P2pListener *self, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data);
P2P_EXPORT P2pConnection *p2p_listener_accept_finish (P2pListener *self, GAsyncResult *result, GError **error);
P2P_EXPORT GSocketAddress *p2p_listener_get_local_address (P2pListener *self);
P2P_EXPORT char *p2p_listener_get_ticket (P2pListener *self);
P2P_EXPORT void p2p_listener_close (P2pListener *self);

G_END_DECLS
