/* p2p-rendezvous-conn.h: the TCP side of tools/p2p-rendezvous.
 *
 * RdvListener: a listening socket and an accept loop that survives a failed
 * accept() (EMFILE…) by pausing RDV_ACCEPT_RETRY_MS; libsoup 3.2's own
 * listener drops its accept source for good then.
 *
 * RdvConn, one TCP connection accepted by
 * tools/p2p-rendezvous, which counts the bytes its socket took (libsoup 3.2
 * has no getter for a WebSocket's outgoing queue: bytes handed to the
 * WebSocket minus bytes written is that queue) and gives back its slot of
 * the server's connection limits once, when closed or freed.
 * Single-threaded: the server's main context.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define RDV_ACCEPT_RETRY_MS 100

typedef struct _RdvListener RdvListener;
/* @socket: the accepted connection (transfer none: ref it to keep it). */
typedef void (*RdvAcceptFunc) (gpointer owner, GSocket *socket);

/* Listens on @host (an IP address) : @port (0 = any; *@bound gets it) and
 * calls @accept for each connection, on the thread-default main context. */
RdvListener *rdv_listener_new (const char *host, guint16 port, int backlog,
    RdvAcceptFunc accept, gpointer owner, guint16 *bound, GError **error);
void rdv_listener_free (RdvListener *l);

#define RDV_TYPE_CONN (rdv_conn_get_type ())
G_DECLARE_FINAL_TYPE (RdvConn, rdv_conn, RDV, CONN, GTcpConnection)

typedef void (*RdvConnReleaseFunc) (gpointer owner, RdvConn *conn);
/* Called after each read from the socket; FALSE fails that read (the
 * reader, libsoup, then drops the connection). Must not call into libsoup. */
typedef gboolean (*RdvConnReadFunc) (gpointer owner, RdvConn *conn);

/* Wraps the accepted @socket; @release (owner, conn) is called once, at the
 * first close or at finalize, unless rdv_conn_forget_owner() was called;
 * @on_read (nullable) until then. */
RdvConn *rdv_conn_new (GSocket *socket, RdvConnReleaseFunc release, RdvConnReadFunc on_read,
    gpointer owner);
void rdv_conn_forget_owner (RdvConn *self);
gboolean rdv_conn_has_owner (RdvConn *self);

/* Bytes the socket accepted so far (HTTP response and WebSocket frames). */
guint64 rdv_conn_get_written (RdvConn *self);
/* Bytes read from the socket so far. */
guint64 rdv_conn_get_read (RdvConn *self);
/* Monotonic time (µs) since which a write would block with nothing written
 * since; 0 when the last write went through. */
gint64 rdv_conn_get_blocked_since (RdvConn *self);

/* The RdvConn under @io (libsoup wraps it in SoupIOStreams), or NULL. */
RdvConn *rdv_conn_find (GIOStream *io);

G_END_DECLS
