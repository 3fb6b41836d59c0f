/* p2p-rendezvous-conn.c: the rendezvous' TCP side: RdvListener, an accept
 * loop that survives EMFILE, and RdvConn, an accepted connection that counts
 * what its socket took and gave (see the header).
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <netinet/in.h>

#include "p2p-rendezvous-conn.h"

/* ---- RdvOutput: the socket's output stream, counted ---- */

#define RDV_TYPE_OUTPUT (rdv_output_get_type ())
G_DECLARE_FINAL_TYPE (RdvOutput, rdv_output, RDV, OUTPUT, GOutputStream)

struct _RdvOutput {
  GOutputStream parent;
  GOutputStream *base;
  guint64 written;        /* bytes the socket accepted */
  gint64 blocked_since;   /* µs of a write that would block, none written since; 0 = not */
};

static void rdv_output_pollable_init (GPollableOutputStreamInterface *iface);
G_DEFINE_TYPE_WITH_CODE (RdvOutput, rdv_output, G_TYPE_OUTPUT_STREAM,
    G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM, rdv_output_pollable_init))

static gssize
rdv_output_account (RdvOutput *self, gssize n, GError *local, GError **error)
{
  if (n > 0) {
    self->written += n;
    self->blocked_since = 0;
  } else if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) && !self->blocked_since) {
    self->blocked_since = g_get_monotonic_time ();
  }
  if (local)
    g_propagate_error (error, local);
  return n;
}

static gssize
rdv_output_write (GOutputStream *stream, const void *buf, gsize count, GCancellable *cancellable,
    GError **error)
{
  RdvOutput *self = RDV_OUTPUT (stream);
  GError *local = NULL;
  gssize n = g_output_stream_write (self->base, buf, count, cancellable, &local);
  return rdv_output_account (self, n, local, error);
}

static gssize
rdv_output_write_nonblocking (GPollableOutputStream *stream, const void *buf, gsize count,
    GError **error)
{
  RdvOutput *self = RDV_OUTPUT (stream);
  GError *local = NULL;
  gssize n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (self->base),
      buf, count, NULL, &local);
  return rdv_output_account (self, n, local, error);
}

static gboolean
rdv_output_flush (GOutputStream *stream, GCancellable *cancellable, GError **error)
{
  return g_output_stream_flush (RDV_OUTPUT (stream)->base, cancellable, error);
}

static gboolean
rdv_output_close (GOutputStream *stream, GCancellable *cancellable, GError **error)
{
  return TRUE; /* the socket is closed with its connection */
}

static gboolean
rdv_output_is_writable (GPollableOutputStream *stream)
{
  return g_pollable_output_stream_is_writable (
      G_POLLABLE_OUTPUT_STREAM (RDV_OUTPUT (stream)->base));
}

static GSource *
rdv_output_create_source (GPollableOutputStream *stream, GCancellable *cancellable)
{
  RdvOutput *self = RDV_OUTPUT (stream);
  g_autoptr (GSource) base = g_pollable_output_stream_create_source (
      G_POLLABLE_OUTPUT_STREAM (self->base), cancellable);
  return g_pollable_source_new_full (self, base, cancellable);
}

static void
rdv_output_finalize (GObject *object)
{
  g_clear_object (&RDV_OUTPUT (object)->base);
  G_OBJECT_CLASS (rdv_output_parent_class)->finalize (object);
}

static void
rdv_output_init (RdvOutput *self)
{
}

static void
rdv_output_class_init (RdvOutputClass *klass)
{
  GOutputStreamClass *out_class = G_OUTPUT_STREAM_CLASS (klass);
  G_OBJECT_CLASS (klass)->finalize = rdv_output_finalize;
  out_class->write_fn = rdv_output_write;
  out_class->flush = rdv_output_flush;
  out_class->close_fn = rdv_output_close;
}

static void
rdv_output_pollable_init (GPollableOutputStreamInterface *iface)
{
  iface->is_writable = rdv_output_is_writable;
  iface->create_source = rdv_output_create_source;
  iface->write_nonblocking = rdv_output_write_nonblocking;
}

/* ---- RdvInput: the socket's input stream, counted ---- */

#define RDV_TYPE_INPUT (rdv_input_get_type ())
G_DECLARE_FINAL_TYPE (RdvInput, rdv_input, RDV, INPUT, GInputStream)

struct _RdvInput {
  GInputStream parent;
  GInputStream *base;
  RdvConn *conn;          /* not owned: it owns us */
  guint64 read;           /* bytes taken from the socket */
};

static void rdv_input_pollable_init (GPollableInputStreamInterface *iface);
G_DEFINE_TYPE_WITH_CODE (RdvInput, rdv_input, G_TYPE_INPUT_STREAM,
    G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM, rdv_input_pollable_init))

static gboolean rdv_conn_input_ok (RdvConn *conn);

static gssize
rdv_input_account (RdvInput *self, gssize n, GError **error)
{
  if (n <= 0)
    return n;
  self->read += n;
  if (rdv_conn_input_ok (self->conn))
    return n;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
      "the peer does not read what its requests produce");
  return -1;
}

static gssize
rdv_input_read (GInputStream *stream, void *buf, gsize count, GCancellable *cancellable,
    GError **error)
{
  RdvInput *self = RDV_INPUT (stream);
  return rdv_input_account (self, g_input_stream_read (self->base, buf, count, cancellable,
      error), error);
}

static gssize
rdv_input_read_nonblocking (GPollableInputStream *stream, void *buf, gsize count, GError **error)
{
  RdvInput *self = RDV_INPUT (stream);
  return rdv_input_account (self, g_pollable_input_stream_read_nonblocking (
      G_POLLABLE_INPUT_STREAM (self->base), buf, count, NULL, error), error);
}

static gboolean
rdv_input_close (GInputStream *stream, GCancellable *cancellable, GError **error)
{
  return TRUE; /* the socket is closed with its connection */
}

static gboolean
rdv_input_is_readable (GPollableInputStream *stream)
{
  return g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (RDV_INPUT (stream)->base));
}

static GSource *
rdv_input_create_source (GPollableInputStream *stream, GCancellable *cancellable)
{
  RdvInput *self = RDV_INPUT (stream);
  g_autoptr (GSource) base = g_pollable_input_stream_create_source (
      G_POLLABLE_INPUT_STREAM (self->base), cancellable);
  return g_pollable_source_new_full (self, base, cancellable);
}

static void
rdv_input_finalize (GObject *object)
{
  g_clear_object (&RDV_INPUT (object)->base);
  G_OBJECT_CLASS (rdv_input_parent_class)->finalize (object);
}

static void
rdv_input_init (RdvInput *self)
{
}

static void
rdv_input_class_init (RdvInputClass *klass)
{
  GInputStreamClass *in_class = G_INPUT_STREAM_CLASS (klass);
  G_OBJECT_CLASS (klass)->finalize = rdv_input_finalize;
  in_class->read_fn = rdv_input_read;
  in_class->close_fn = rdv_input_close;
}

static void
rdv_input_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->is_readable = rdv_input_is_readable;
  iface->create_source = rdv_input_create_source;
  iface->read_nonblocking = rdv_input_read_nonblocking;
}

/* ---- RdvConn ---- */

struct _RdvConn {
  GTcpConnection parent;
  RdvOutput *out;
  RdvInput *in;
  RdvConnReadFunc on_read;
  RdvConnReleaseFunc release;
  gpointer owner;         /* NULL once released */
};

G_DEFINE_TYPE (RdvConn, rdv_conn, G_TYPE_TCP_CONNECTION)

static void
rdv_conn_release (RdvConn *self)
{
  gpointer owner = g_steal_pointer (&self->owner);
  if (owner)
    self->release (owner, self);
}

static GOutputStream *
rdv_conn_get_output_stream (GIOStream *io)
{
  RdvConn *self = RDV_CONN (io);
  if (!self->out) {
    self->out = g_object_new (RDV_TYPE_OUTPUT, NULL);
    self->out->base = g_object_ref (
        G_IO_STREAM_CLASS (rdv_conn_parent_class)->get_output_stream (io));
  }
  return G_OUTPUT_STREAM (self->out);
}

static GInputStream *
rdv_conn_get_input_stream (GIOStream *io)
{
  RdvConn *self = RDV_CONN (io);
  if (!self->in) {
    self->in = g_object_new (RDV_TYPE_INPUT, NULL);
    self->in->conn = self;
    self->in->base = g_object_ref (
        G_IO_STREAM_CLASS (rdv_conn_parent_class)->get_input_stream (io));
  }
  return G_INPUT_STREAM (self->in);
}

static gboolean
rdv_conn_input_ok (RdvConn *conn)
{
  return !conn->on_read || !conn->owner || conn->on_read (conn->owner, conn);
}

static gboolean
rdv_conn_close (GIOStream *io, GCancellable *cancellable, GError **error)
{
  gboolean ok = G_IO_STREAM_CLASS (rdv_conn_parent_class)->close_fn (io, cancellable, error);
  rdv_conn_release (RDV_CONN (io));
  return ok;
}

static void
rdv_conn_finalize (GObject *object)
{
  RdvConn *self = RDV_CONN (object);
  rdv_conn_release (self);
  g_clear_object (&self->out);
  g_clear_object (&self->in);
  G_OBJECT_CLASS (rdv_conn_parent_class)->finalize (object);
}

static void
rdv_conn_init (RdvConn *self)
{
}

static void
rdv_conn_class_init (RdvConnClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = rdv_conn_finalize;
  G_IO_STREAM_CLASS (klass)->get_output_stream = rdv_conn_get_output_stream;
  G_IO_STREAM_CLASS (klass)->get_input_stream = rdv_conn_get_input_stream;
  G_IO_STREAM_CLASS (klass)->close_fn = rdv_conn_close;
}

RdvConn *
rdv_conn_new (GSocket *socket, RdvConnReleaseFunc release, RdvConnReadFunc on_read,
    gpointer owner)
{
  RdvConn *self = g_object_new (RDV_TYPE_CONN, "socket", socket, NULL);
  self->release = release;
  self->on_read = on_read;
  self->owner = owner;
  return self;
}

void
rdv_conn_forget_owner (RdvConn *self)
{
  self->owner = NULL;
}

gboolean
rdv_conn_has_owner (RdvConn *self)
{
  return self->owner != NULL;
}

guint64
rdv_conn_get_written (RdvConn *self)
{
  return self->out ? self->out->written : 0;
}

guint64
rdv_conn_get_read (RdvConn *self)
{
  return self->in ? self->in->read : 0;
}

gint64
rdv_conn_get_blocked_since (RdvConn *self)
{
  return self->out ? self->out->blocked_since : 0;
}

RdvConn *
rdv_conn_find (GIOStream *io)
{
  while (io && !RDV_IS_CONN (io)) {
    if (!g_object_class_find_property (G_OBJECT_GET_CLASS (io), "base-iostream"))
      return NULL;
    GIOStream *base = NULL;
    g_object_get (io, "base-iostream", &base, NULL);
    io = base;
    g_clear_object (&base); /* still held by the wrapper */
  }
  return (RdvConn *) io;
}

/* ---- RdvListener ---- */

struct _RdvListener {
  GSocket *sock;
  GSource *watch;         /* accept readiness; NULL while paused */
  GSource *retry;         /* the end of a pause */
  gboolean paused_logged;
  RdvAcceptFunc accept;
  gpointer owner;
};

static gboolean on_accept_ready (GSocket *sock, GIOCondition cond, gpointer data);

static void
listener_arm (RdvListener *l)
{
  l->watch = g_socket_create_source (l->sock, G_IO_IN, NULL);
  g_source_set_callback (l->watch, G_SOURCE_FUNC (on_accept_ready), l, NULL);
  g_source_attach (l->watch, NULL);
}

static gboolean
on_accept_retry (gpointer data)
{
  RdvListener *l = data;
  g_clear_pointer (&l->retry, g_source_unref);
  listener_arm (l);
  return G_SOURCE_REMOVE;
}

static gboolean
on_accept_ready (GSocket *sock, GIOCondition cond, gpointer data)
{
  RdvListener *l = data;
  for (guint i = 0; i < 64; i++) { /* a batch, then the clients' turn */
    g_autoptr (GError) error = NULL;
    GSocket *c = g_socket_accept (sock, NULL, &error);
    if (!c && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
      return G_SOURCE_CONTINUE;
    if (!c && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
      continue; /* reset while in the backlog */
    if (!c) {
      /* EMFILE, ENFILE, ENOBUFS…: the connection waits in the backlog; try
       * again shortly (libsoup's own listener stops for good here). */
      if (!l->paused_logged)
        g_message ("accept() failed: %s; retrying every %u ms", error->message,
            RDV_ACCEPT_RETRY_MS);
      l->paused_logged = TRUE;
      g_clear_pointer (&l->watch, g_source_unref);
      l->retry = g_timeout_source_new (RDV_ACCEPT_RETRY_MS);
      g_source_set_callback (l->retry, on_accept_retry, l, NULL);
      g_source_attach (l->retry, NULL);
      return G_SOURCE_REMOVE;
    }
    if (l->paused_logged)
      g_message ("accepting connections again");
    l->paused_logged = FALSE;
    l->accept (l->owner, c);
    g_object_unref (c);
  }
  return G_SOURCE_CONTINUE;
}

RdvListener *
rdv_listener_new (const char *host, guint16 port, int backlog, RdvAcceptFunc accept,
    gpointer owner, guint16 *bound, GError **error)
{
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (host);
  if (!ia) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "\"%s\": not an IP address",
        host);
    return NULL;
  }
  GSocketFamily family = g_inet_address_get_family (ia);
  g_autoptr (GSocket) sock = g_socket_new (family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
      error);
  if (!sock)
    return NULL;
  if (family == G_SOCKET_FAMILY_IPV6)
    g_socket_set_option (sock, IPPROTO_IPV6, IPV6_V6ONLY, TRUE, NULL);
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (ia, port);
  g_socket_set_listen_backlog (sock, backlog);
  g_socket_set_blocking (sock, FALSE);
  if (!g_socket_bind (sock, sa, TRUE, error) || !g_socket_listen (sock, error))
    return NULL;
  g_autoptr (GSocketAddress) la = g_socket_get_local_address (sock, error);
  if (!la)
    return NULL;
  *bound = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (la));
  RdvListener *l = g_new0 (RdvListener, 1);
  l->sock = g_steal_pointer (&sock);
  l->accept = accept;
  l->owner = owner;
  listener_arm (l);
  return l;
}

void
rdv_listener_free (RdvListener *l)
{
  if (l->watch)
    g_source_destroy (l->watch);
  g_clear_pointer (&l->watch, g_source_unref);
  if (l->retry)
    g_source_destroy (l->retry);
  g_clear_pointer (&l->retry, g_source_unref);
  g_socket_close (l->sock, NULL);
  g_object_unref (l->sock);
  g_free (l);
}
