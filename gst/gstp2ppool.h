/* gstp2ppool.h: connections kept after their p2psrc stopped (keep-alive),
 * for the next p2psrc of the same peer with the same settings.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include <p2p/p2p.h>

G_BEGIN_DECLS

/* Takes a kept connection for @key that is still connected, with the
 * identity and provider it belongs to (transfer full each). FALSE if
 * there is none; kept connections found closed meanwhile are freed. */
gboolean gst_p2p_pool_take (const char *key, P2pIdentity **identity, P2pProvider **provider,
    P2pConnection **conn);

/* Keeps @conn (with its @identity and @provider; transfer full each) for
 * @ms milliseconds under @key, then closes it. A connection that is not
 * connected, or @ms 0, is closed at once. */
void gst_p2p_pool_keep (const char *key, P2pIdentity *identity, P2pProvider *provider,
    P2pConnection *conn, guint ms);

G_END_DECLS
