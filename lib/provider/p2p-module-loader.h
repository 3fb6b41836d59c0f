/* p2p-module-loader.h (internal): the optional layers of the QUIC provider,
 * each a module loaded on first use: the ICE layer (p2p-ice-module.h:
 * libnice, libsoup, json-glib) and the DHT discovery source
 * (p2p-dht-module.h: OpenDHT).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-ice-module.h"
#include "p2p-dht-module.h"

G_BEGIN_DECLS

/* File names of the modules, installed in LIBDIR/p2p-glib-1.0/. */
#define P2P_ICE_MODULE_NAME "libp2p-ice.so"
#define P2P_DHT_MODULE_NAME "libp2p-dht.so"

/* A module's table (any thread): the one linked into this binary if any,
 * else the module loaded once and kept for the life of the process,
 * looked for at $P2P_ICE_MODULE / $P2P_DHT_MODULE when set, else in the
 * directory "p2p-glib-1.0" beside the shared library, then beside the
 * library itself (a build tree). NULL + CONNECTION_FAILED naming each
 * place tried and why when it cannot be loaded (the failure is kept: a
 * later call fails the same way). */
const P2pIceModule *p2p_ice_loader_get (GError **error);
const P2pDhtModule *p2p_dht_loader_get (GError **error);

G_END_DECLS
