/* p2p-file-client.h: the requesting side of the on-demand file protocol
 * (docs/protocol.md "File requests") over a P2pConnection: send a request
 * on a new stream, read the answer header, read a range, list a directory.
 * Blocking calls, any thread except the provider's network thread, all
 * cancellable.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include "p2p-macros.h"
#include "p2p-connection.h"
#include "p2p-file-protocol.h"

G_BEGIN_DECLS

/* Opens a stream on @conn and sends one request on it (output closed
 * after it): the answer can then be read with
 * p2p_file_client_read_header(). Several requests may be in flight.
 * Errors: P2P_FILE_STATUS_BAD_PATH (checked before sending),
 * P2P_ERROR_NOT_SUPPORTED (the peer does not advertise the capability
 * "files": nothing is sent), and those of p2p_connection_open_stream().
 * Returns: (transfer full). */
P2P_EXPORT GIOStream *p2p_file_client_send_request (P2pConnection *conn,
    P2pFileRequestKind kind, const char *path, guint64 offset, guint64 length,
    GCancellable *cancellable, GError **error);
/* Reads the answer header of @stream into @hdr. An answer other than OK
 * is returned as FALSE with a P2P_FILE_ERROR of that status whose message
 * is the server's text. Errors: also P2P_FILE_STATUS_PROTOCOL (short or
 * malformed answer), G_IO_ERROR. */
P2P_EXPORT gboolean p2p_file_client_read_header (GIOStream *stream, P2pFileHeader *hdr,
    GCancellable *cancellable, GError **error);
/* One GET, blocking until the whole range arrived (see the .c file). */
P2P_EXPORT GBytes *p2p_file_client_get (P2pConnection *conn, const char *path,
    guint64 offset, guint64 length, P2pFileHeader *hdr, GCancellable *cancellable,
    GError **error);
/* Lists a directory as GFileInfo entries sorted by name. */
P2P_EXPORT GPtrArray *p2p_file_client_list (P2pConnection *conn, const char *path,
    GCancellable *cancellable, GError **error);

G_END_DECLS
