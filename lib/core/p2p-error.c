/* p2p-error.c: the P2P_ERROR domain.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-error.h"
#include "p2p-error-private.h"

#include <gio/gio.h>

G_DEFINE_QUARK (p2p-error-quark, p2p_error)

const char *
p2p_error_code_to_string (P2pError code)
{
  switch (code) {
    case P2P_ERROR_CONNECTION_FAILED: return "CONNECTION_FAILED";
    case P2P_ERROR_PEER_NOT_FOUND: return "PEER_NOT_FOUND";
    case P2P_ERROR_NETWORK: return "NETWORK";
    case P2P_ERROR_PROTOCOL: return "PROTOCOL";
    case P2P_ERROR_TIMEOUT: return "TIMEOUT";
    case P2P_ERROR_AUTHENTICATION_FAILED: return "AUTHENTICATION_FAILED";
    case P2P_ERROR_LIMIT_EXCEEDED: return "LIMIT_EXCEEDED";
    case P2P_ERROR_CLOSED: return "CLOSED";
    case P2P_ERROR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case P2P_ERROR_VERSION_MISMATCH: return "VERSION_MISMATCH";
    case P2P_ERROR_NOT_SUPPORTED: return "NOT_SUPPORTED";
  }
  return "UNKNOWN";
}

void
p2p_error_keep_telling (GError **kept, GError *error)
{
  GError *k = *kept;

  if (k == NULL
      || g_error_matches (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED)
      || g_error_matches (k, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      || (g_error_matches (k, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND)
          && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))) {
    g_clear_error (kept);
    *kept = error;
  } else {
    g_error_free (error);
  }
}
