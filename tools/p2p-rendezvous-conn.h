/* p2p-rendezvous-conn.h: RdvConn, one TCP connection accepted by
 * tools/p2p-rendezvous, which counts the bytes its socket took (libsoup 3.2
 * has no getter for a WebSocket's outgoing queue: bytes handed to the
 * WebSocket minus bytes written is that queue) and gives back its slot of
 * the server's connection limits once, when closed or freed.
 * Single-threaded: the server's main context.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

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
