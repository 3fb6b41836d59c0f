/* p2p-dht-module.h (internal): the DHT discovery source's entry points as
 * one table.
 *
 * OpenDHT (and with it libstdc++, OpenSSL, jsoncpp, ...) is built into a
 * module of its own, libp2p-dht.so, that the QUIC provider loads only when
 * P2P_BOOTSTRAP_PEERS names a dht:// node (lib/provider/p2p-module-loader.c):
 * no other process loads those libraries. Programs that link the layers
 * statically (the tests) have the table built in.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-dht.h"

G_BEGIN_DECLS

/* The module's exported entry: returns its table. */
#define P2P_DHT_MODULE_ENTRY "p2p_dht_module_entry"

/* The P2pDht functions the provider calls. @size is sizeof (P2pDhtModule)
 * of the build that made the table: a module from another build is
 * refused. */
typedef struct {
  gsize size;
  P2pDht *(*dht_new) (GMainContext *context, const char *const *bootstrap, guint16 port,
      GError **error);
  void (*dht_free) (P2pDht *self);
  gboolean (*announce) (P2pDht *self, P2pIdentity *identity, const char *const *addresses,
      GError **error);
  P2pDhtLookup *(*lookup_start) (P2pDht *self, const P2pPeerId *peer, P2pDhtFoundFunc found,
      gpointer user_data, GError **error);
  void (*lookup_free) (P2pDhtLookup *lookup);
  gboolean (*send_signal) (P2pDht *self, const P2pPeerId *to, const char *message,
      GError **error);
  P2pDhtLookup *(*inbox_start) (P2pDht *self, P2pIdentity *identity, P2pDhtSignalFunc func,
      gpointer user_data, GError **error);
} P2pDhtModule;

/* The table of the DHT code linked into this binary. */
const P2pDhtModule *p2p_dht_module_table (void);

G_END_DECLS
