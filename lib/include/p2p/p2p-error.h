/* p2p-error.h: the one GError domain of the library.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include "p2p-macros.h"

G_BEGIN_DECLS

#define P2P_ERROR (p2p_error_quark ())

/**
 * P2pError:
 * @P2P_ERROR_CONNECTION_FAILED: no path to the peer could be established.
 * @P2P_ERROR_PEER_NOT_FOUND: the peer ID is not known to any rendezvous.
 * @P2P_ERROR_NETWORK: a socket or network level failure.
 * @P2P_ERROR_PROTOCOL: the peer sent something malformed or unexpected.
 * @P2P_ERROR_TIMEOUT: the peer did not answer within the configured time.
 * @P2P_ERROR_AUTHENTICATION_FAILED: the peer's key is not the expected one,
 *   or it does not hold the private key.
 * @P2P_ERROR_LIMIT_EXCEEDED: a size, queue or connection limit was hit.
 * @P2P_ERROR_CLOSED: the connection or listener is closed.
 * @P2P_ERROR_INVALID_ARGUMENT: a malformed peer ID, ticket, address,
 *   configuration value or API argument.
 * @P2P_ERROR_VERSION_MISMATCH: the two peers speak no common protocol
 *   version (the message names both ranges).
 * @P2P_ERROR_NOT_SUPPORTED: the peer does not offer a feature (it did not
 *   advertise the capability, docs/protocol.md §3.1); the connection stays
 *   usable for everything else.
 */
typedef enum {
  P2P_ERROR_CONNECTION_FAILED,
  P2P_ERROR_PEER_NOT_FOUND,
  P2P_ERROR_NETWORK,
  P2P_ERROR_PROTOCOL,
  P2P_ERROR_TIMEOUT,
  P2P_ERROR_AUTHENTICATION_FAILED,
  P2P_ERROR_LIMIT_EXCEEDED,
  P2P_ERROR_CLOSED,
  P2P_ERROR_INVALID_ARGUMENT,
  P2P_ERROR_VERSION_MISMATCH,
  P2P_ERROR_NOT_SUPPORTED,
} P2pError;

P2P_EXPORT GQuark p2p_error_quark (void);

/* Returns a static, human readable name of @code ("TIMEOUT", ...). */
P2P_EXPORT const char *p2p_error_code_to_string (P2pError code);

G_END_DECLS
