/* p2p-file-service.h: P2pFileService, serves the regular files under one
 * root directory, read-only, to the peers of P2pConnections (issue 13): one
 * request per QUIC stream (docs/protocol.md "File requests").
 *
 * Threads: every function may be called from any thread except a
 * provider's network thread. Each served connection has a thread waiting
 * for its streams; each request in progress has a thread of its own
 * (bounded by "max-streams").
 *
 * Memory: a request reads at most "read-ahead" bytes of the file ahead of
 * what its QUIC stream accepted; the stream's send buffer holds at most
 * 1 MiB more and the peer's flow-control window bounds what is in flight.
 * So a peer that opens streams and never reads holds at most
 * max-streams-per-peer x (read-ahead + 1 MiB) here, and a request that
 * makes no progress for "stall-timeout" ms is dropped.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include "p2p-macros.h"
#include "p2p-connection.h"
#include "p2p-listener.h"
#include "p2p-file-protocol.h"

G_BEGIN_DECLS

#define P2P_TYPE_FILE_SERVICE (p2p_file_service_get_type ())
P2P_EXPORT G_DECLARE_FINAL_TYPE (P2pFileService, p2p_file_service, P2P, FILE_SERVICE, GObject)

/* A service for the directory @root (must exist and be a directory).
 * Errors: G_IO_ERROR (the root cannot be resolved or is not a directory). */
P2P_EXPORT P2pFileService *p2p_file_service_new (const char *root, GError **error);
/* The resolved root (realpath). */
P2P_EXPORT const char *p2p_file_service_get_root (P2pFileService *self);
/* Serves the requests arriving on @conn until it closes or the service
 * stops (takes a reference). Its messages stay the application's. */
P2P_EXPORT void p2p_file_service_serve_connection (P2pFileService *self, P2pConnection *conn);
/* Accepts connections from @listener and serves each, until the listener
 * closes or the service stops (takes a reference). Those connections are
 * the service's alone: the first message one sends (a media receiver's)
 * closes it with "this peer serves files only: ask for a path …". */
P2P_EXPORT void p2p_file_service_attach_listener (P2pFileService *self, P2pListener *listener);
/* Only these peers (peer IDs separated by commas, spaces or newlines) get
 * answers; others get NOT_ALLOWED. NULL or "" = every peer; " , " (names
 * nobody) is an error.
 * Errors: P2P_ERROR_INVALID_ARGUMENT naming the bad ID (see the .c). */
P2P_EXPORT gboolean p2p_file_service_set_allowed_peers (P2pFileService *self,
    const char *peers, GError **error);
/* Stops accepting, cancels the requests in progress and waits (bounded by
 * their cancellation) until every thread of the service has finished. The
 * connections its listeners accepted are closed ("the file service
 * stopped"); a connection handed in with p2p_file_service_serve_connection()
 * stays open, the application's (its peer's requests go unanswered: close
 * it, or serve it again). */
P2P_EXPORT void p2p_file_service_stop (P2pFileService *self);

G_END_DECLS
