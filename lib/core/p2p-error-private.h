/* p2p-error-private.h (internal): choosing which failure to report when
 * several routes to a peer failed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-error.h"

G_BEGIN_DECLS

/* Keeps the most telling of *@kept and @error (taken) in *@kept: an
 * authentication failure beats everything; anything beats PEER_NOT_FOUND
 * (another route may know the peer), which beats a cancellation. */
P2P_INTERNAL_EXPORT void p2p_error_keep_telling (GError **kept, GError *error);

G_END_DECLS
