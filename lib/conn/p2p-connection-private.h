/* p2p-connection-private.h (internal): what the files of the P2pConnection
 * base class share (p2p-connection.c, -messages.c, -streams.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-connection.h"

G_BEGIN_DECLS

/* Sets @error: @self's class does not implement @what. */
void p2p_connection_set_not_supported (P2pConnection *self, const char *what, GError **error);

G_END_DECLS
