/* p2p-ice-module.h (internal): the ICE layer's entry points as one table.
 *
 * The ICE layer (libnice, libsoup, json-glib) is built as a module,
 * libp2p-ice.so, that the QUIC provider loads on first use
 * (lib/provider/p2p-module-loader.c): a process that only dials by ticket or
 * ID@HOST:PORT never loads those libraries. Programs that link the layers
 * statically (the tests, the fuzzers) have the table built in.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-ice-connect.h"

G_BEGIN_DECLS

/* The module's exported entry: returns its table. */
#define P2P_ICE_MODULE_ENTRY "p2p_ice_module_entry"

/* The P2pIceService functions of p2p-ice-connect.h. @size is
 * sizeof (P2pIceModule) of the build that made the table: a module from
 * another build is refused. */
typedef struct {
  gsize size;
  P2pIceService *(*service_new) (P2pIdentity *identity, const P2pConfig *config,
      const P2pQuicSessionConfig *qcfg, GError **error);
  void (*service_free) (P2pIceService *self);
  void (*connect_async) (P2pIceService *self, const P2pPeerId *peer,
      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
  P2pConnection *(*connect_finish) (P2pIceService *self, GAsyncResult *result, GError **error);
  void (*start_accepting) (P2pIceService *self, GPtrArray *allowed, guint max_pending,
      P2pIceAcceptFunc func, gpointer user_data);
  void (*stop_accepting) (P2pIceService *self);
  void (*register_async) (P2pIceService *self, GCancellable *cancellable,
      GAsyncReadyCallback callback, gpointer user_data);
  gboolean (*register_finish) (P2pIceService *self, GAsyncResult *result, GError **error);
  void (*get_counters) (P2pIceService *self, P2pIceCounters *out);
  /* the DHT as a carrier of signals (p2p-signaling.h) */
  void (*add_signaling) (P2pIceService *self, P2pSignaling *signaling);
  P2pSignaling *(*signaling_new_external) (P2pIdentity *identity, const char *route,
      P2pSignalingSendFunc send, gpointer user_data, GDestroyNotify notify);
  void (*signaling_receive) (P2pSignaling *self, const char *message, gsize len);
  guint (*signaling_get_rejected_count) (P2pSignaling *self);
} P2pIceModule;

/* The table of the ICE code linked into this binary. */
const P2pIceModule *p2p_ice_module_table (void);

G_END_DECLS
