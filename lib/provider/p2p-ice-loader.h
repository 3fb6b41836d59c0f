/* p2p-ice-loader.h (internal): the ICE layer for the QUIC provider, loaded
 * on first use (p2p-ice-module.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-ice-module.h"

G_BEGIN_DECLS

/* File name of the module, installed in LIBDIR/p2p-glib-1.0/. */
#define P2P_ICE_MODULE_NAME "libp2p-ice.so"

/* The ICE layer's table (any thread): the one linked into this binary if
 * any, else libp2p-ice.so loaded once and kept for the life of the
 * process, looked for at $P2P_ICE_MODULE when set, else in the directory
 * "p2p-glib-1.0" beside the shared library, then beside the library itself
 * (a build tree). NULL + CONNECTION_FAILED naming each place tried and why
 * when it cannot be loaded (the failure is kept: a later call fails the
 * same way). */
const P2pIceModule *p2p_ice_loader_get (GError **error);

G_END_DECLS
