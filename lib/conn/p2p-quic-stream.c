/* p2p-quic-stream.c: P2pQuicStream, the GIOStream over one extra
 * bidirectional QUIC stream of a P2pQuicConnection, and the per-stream
 * state the connection's network thread fills and drains. Reads and writes
 * block the calling thread (never the network thread) on the connection's
 * condition variable.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-connection-private.h"
#include "p2p/p2p-error.h"

#include <string.h>

/* ---- per-stream state ---- */

StreamState *
p2p_quic_stream_state_new (gint64 id)
{
  StreamState *st = g_new0 (StreamState, 1);

  st->ref_count = 1;
  st->id = id;
  g_queue_init (&st->in);
  g_queue_init (&st->out);
  return st;
}

StreamState *
p2p_quic_stream_state_ref (StreamState *st)
{
  g_atomic_int_inc (&st->ref_count);
  return st;
}

void
p2p_quic_stream_state_unref (StreamState *st)
{
  if (!g_atomic_int_dec_and_test (&st->ref_count))
    return;
  g_queue_clear_full (&st->in, (GDestroyNotify) g_bytes_unref);
  g_queue_clear_full (&st->out, (GDestroyNotify) g_bytes_unref);
  g_free (st);
}

/* ============================================================ P2pQuicStream
 * A GIOStream over one extra bidirectional QUIC stream. Reads and writes
 * block the calling thread (never the network thread) on the connection's
 * condition variable; data moves through StreamState buffers. */

#define P2P_TYPE_QUIC_INPUT_STREAM (p2p_quic_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (P2pQuicInputStream, p2p_quic_input_stream, P2P, QUIC_INPUT_STREAM,
    GInputStream)
#define P2P_TYPE_QUIC_OUTPUT_STREAM (p2p_quic_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (P2pQuicOutputStream, p2p_quic_output_stream, P2P, QUIC_OUTPUT_STREAM,
    GOutputStream)
#define P2P_TYPE_QUIC_STREAM (p2p_quic_stream_get_type ())
G_DECLARE_FINAL_TYPE (P2pQuicStream, p2p_quic_stream, P2P, QUIC_STREAM, GIOStream)

struct _P2pQuicInputStream {
  GInputStream parent;
  P2pQuicConnection *conn;
  StreamState *st;
};

struct _P2pQuicOutputStream {
  GOutputStream parent;
  P2pQuicConnection *conn;
  StreamState *st;
};

struct _P2pQuicStream {
  GIOStream parent;
  P2pQuicConnection *conn;
  StreamState *st;
  GInputStream *input;
  GOutputStream *output;
};

G_DEFINE_FINAL_TYPE (P2pQuicInputStream, p2p_quic_input_stream, G_TYPE_INPUT_STREAM)
G_DEFINE_FINAL_TYPE (P2pQuicOutputStream, p2p_quic_output_stream, G_TYPE_OUTPUT_STREAM)
G_DEFINE_FINAL_TYPE (P2pQuicStream, p2p_quic_stream, G_TYPE_IO_STREAM)

static gssize
quic_input_read (GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable,
    GError **error)
{
  P2pQuicInputStream *in = P2P_QUIC_INPUT_STREAM (stream);
  P2pQuicConnection *self = in->conn;
  StreamState *st = in->st;
  gboolean wake = FALSE;
  gssize ret = -1;
  BlockingWait w;

  p2p_quic_conn_wait_begin (&w, self, cancellable);
  do {
    if (st->in_len > 0) {
      gsize n = 0;

      while (n < count && st->in_len > 0) {
        GBytes *head = g_queue_peek_head (&st->in);
        gsize hlen;
        const guint8 *hdata = g_bytes_get_data (head, &hlen);
        gsize k = MIN (hlen - st->in_off, count - n);

        memcpy ((guint8 *) buffer + n, hdata + st->in_off, k);
        n += k;
        st->in_off += k;
        st->in_len -= k;
        if (st->in_off == hlen) {
          g_bytes_unref (g_queue_pop_head (&st->in));
          st->in_off = 0;
        }
      }
      st->consumed_pending += n;
      wake = TRUE;
      ret = (gssize) n;
      break;
    }
    if (st->in_fin || st->in_stopped) {
      ret = 0;
      break;
    }
    if (st->reset || st->in_reset) {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
          "the peer reset the stream");
      break;
    }
    if (p2p_quic_conn_wait_failed_locked (self, self->closed, cancellable, error))
      break;
    if (count == 0) {
      ret = 0;
      break;
    }
  } while (p2p_quic_conn_wait_next (&w, "reading a P2P stream", error));
  p2p_quic_conn_wait_end (&w);
  if (wake)
    p2p_quic_conn_schedule_work (self);       /* opens flow control */
  return ret;
}

static gboolean
quic_input_close (GInputStream *stream, GCancellable *cancellable, GError **error)
{
  return TRUE;
}

static void
p2p_quic_input_stream_finalize (GObject *object)
{
  P2pQuicInputStream *in = P2P_QUIC_INPUT_STREAM (object);

  p2p_quic_stream_state_unref (in->st);
  g_object_unref (in->conn);
  G_OBJECT_CLASS (p2p_quic_input_stream_parent_class)->finalize (object);
}

static void
p2p_quic_input_stream_class_init (P2pQuicInputStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = p2p_quic_input_stream_finalize;
  G_INPUT_STREAM_CLASS (klass)->read_fn = quic_input_read;
  G_INPUT_STREAM_CLASS (klass)->close_fn = quic_input_close;
}

static void
p2p_quic_input_stream_init (P2pQuicInputStream *self)
{
}

/* The output's stop in a wait (under the lock): TRUE with @error set when
 * @closed (as in p2p_quic_conn_wait_failed_locked()), the peer stopped the
 * stream, or @cancellable is cancelled, in that order. */
static gboolean
output_failed_locked (P2pQuicConnection *self, StreamState *st, gboolean closed,
    GCancellable *cancellable, GError **error)
{
  if (closed) {
    p2p_quic_conn_set_closed_error_locked (self, error);
    return TRUE;
  }
  if (st->reset || st->out_stopped) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
        "the peer stopped the stream");
    return TRUE;
  }
  if (st->out_failed) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
        "the stream refused data (written after its end?)");
    return TRUE;
  }
  return g_cancellable_set_error_if_cancelled (cancellable, error);
}

/* Waits until @st's queue is below P2P_QUIC_STREAM_SEND_BUFFER, then
 * queues @bytes whole, by reference (p2p_connection_write_stream_bytes: the
 * queue may then hold that much plus one caller's GBytes), or, when @bytes
 * is NULL, a copy of as much of @buffer's @count bytes as fits (the
 * GOutputStream write: the session sends from that chunk). Returns the
 * bytes queued, -1 with @error set. */
static gssize
stream_enqueue (P2pQuicConnection *self, StreamState *st, GBytes *bytes, const void *buffer,
    gsize count, GCancellable *cancellable, GError **error)
{
  gssize ret = -1;
  BlockingWait w;

  p2p_quic_conn_wait_begin (&w, self, cancellable);
  do {
    if (output_failed_locked (self, st, self->closed || self->close_requested, cancellable,
        error))
      break;
    if (st->fin_requested) {
      /* (p2p_connection_write_stream_bytes() has no GOutputStream check) */
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "the stream's output is closed");
      break;
    }
    if (st->out_len < P2P_QUIC_STREAM_SEND_BUFFER) {
      GBytes *chunk = bytes ? g_bytes_ref (bytes)
          : g_bytes_new (buffer, MIN (count, P2P_QUIC_STREAM_SEND_BUFFER - st->out_len));

      ret = (gssize) g_bytes_get_size (chunk);
      g_queue_push_tail (&st->out, chunk);
      st->out_len += ret;
      break;
    }
  } while (p2p_quic_conn_wait_next (&w, "writing a P2P stream", error));
  p2p_quic_conn_wait_end (&w);
  if (ret > 0)
    p2p_quic_conn_schedule_work (self);
  return ret;
}

static gssize
quic_output_write (GOutputStream *stream, const void *buffer, gsize count,
    GCancellable *cancellable, GError **error)
{
  P2pQuicOutputStream *out = P2P_QUIC_OUTPUT_STREAM (stream);

  return stream_enqueue (out->conn, out->st, NULL, buffer, count, cancellable, error);
}

gboolean
p2p_quic_stream_write_bytes (P2pQuicConnection *self, GIOStream *stream, GBytes *bytes,
    GCancellable *cancellable, GError **error)
{
  StreamState *st = p2p_quic_stream_get_state (self, stream);

  if (st == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "not a stream of this connection");
    return FALSE;
  }
  return g_bytes_get_size (bytes) == 0
      || stream_enqueue (self, st, bytes, NULL, 0, cancellable, error) >= 0;
}

/* Marks @st dropped by the application: its close does not wait. */
static void
set_close_nowait (P2pQuicConnection *conn, StreamState *st)
{
  if (conn == NULL || st == NULL)
    return;
  g_mutex_lock (&conn->lock);
  st->close_nowait = TRUE;
  g_mutex_unlock (&conn->lock);
}

/* Closing the output sends FIN once every buffered byte is in the session. */
static gboolean
quic_output_close (GOutputStream *stream, GCancellable *cancellable, GError **error)
{
  P2pQuicOutputStream *out = P2P_QUIC_OUTPUT_STREAM (stream);
  P2pQuicConnection *self = out->conn;
  StreamState *st = out->st;
  gboolean ok = FALSE;
  BlockingWait w;

  gboolean nowait;

  g_mutex_lock (&self->lock);
  st->fin_requested = TRUE;
  nowait = st->close_nowait;
  g_mutex_unlock (&self->lock);
  p2p_quic_conn_schedule_work (self);
  /* the close of a dropped stream (GIOStream's dispose closes it) does not
   * wait for a peer that may never read: the FIN goes when the data has */
  if (nowait || p2p_quic_conn_on_net_thread (self))
    return TRUE;

  p2p_quic_conn_wait_begin (&w, self, cancellable);
  do {
    if (st->fin_sent) {
      ok = TRUE;
      break;
    }
    if (output_failed_locked (self, st, self->closed, cancellable, error))
      break;
  } while (p2p_quic_conn_wait_next (&w, "closing a P2P stream", error));
  p2p_quic_conn_wait_end (&w);
  return ok;
}

static void
p2p_quic_output_stream_dispose (GObject *object)
{
  P2pQuicOutputStream *out = P2P_QUIC_OUTPUT_STREAM (object);

  /* before GOutputStream's dispose closes it */
  set_close_nowait (out->conn, out->st);
  G_OBJECT_CLASS (p2p_quic_output_stream_parent_class)->dispose (object);
}

static void
p2p_quic_output_stream_finalize (GObject *object)
{
  P2pQuicOutputStream *out = P2P_QUIC_OUTPUT_STREAM (object);

  p2p_quic_stream_state_unref (out->st);
  g_object_unref (out->conn);
  G_OBJECT_CLASS (p2p_quic_output_stream_parent_class)->finalize (object);
}

static void
p2p_quic_output_stream_class_init (P2pQuicOutputStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = p2p_quic_output_stream_dispose;
  G_OBJECT_CLASS (klass)->finalize = p2p_quic_output_stream_finalize;
  G_OUTPUT_STREAM_CLASS (klass)->write_fn = quic_output_write;
  G_OUTPUT_STREAM_CLASS (klass)->close_fn = quic_output_close;
}

static void
p2p_quic_output_stream_init (P2pQuicOutputStream *self)
{
}

static GInputStream *
quic_stream_get_input (GIOStream *stream)
{
  return P2P_QUIC_STREAM (stream)->input;
}

static GOutputStream *
quic_stream_get_output (GIOStream *stream)
{
  return P2P_QUIC_STREAM (stream)->output;
}

static void
p2p_quic_stream_dispose (GObject *object)
{
  P2pQuicStream *self = P2P_QUIC_STREAM (object);

  /* before GIOStream's dispose closes it */
  set_close_nowait (self->conn, self->st);
  G_OBJECT_CLASS (p2p_quic_stream_parent_class)->dispose (object);
}

static void
p2p_quic_stream_finalize (GObject *object)
{
  P2pQuicStream *self = P2P_QUIC_STREAM (object);
  gboolean credit;

  g_mutex_lock (&self->conn->lock);
  self->st->dead = TRUE;        /* later input is consumed and dropped */
  /* and what came but was not read goes back to the flow control window */
  p2p_quic_stream_state_drop_input_locked (self->st);
  credit = self->st->consumed_pending > 0;
  g_mutex_unlock (&self->conn->lock);
  if (credit)
    p2p_quic_conn_schedule_work (self->conn);
  g_clear_object (&self->input);
  g_clear_object (&self->output);
  p2p_quic_stream_state_unref (self->st);
  g_object_unref (self->conn);
  G_OBJECT_CLASS (p2p_quic_stream_parent_class)->finalize (object);
}

static void
p2p_quic_stream_class_init (P2pQuicStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = p2p_quic_stream_dispose;
  G_OBJECT_CLASS (klass)->finalize = p2p_quic_stream_finalize;
  G_IO_STREAM_CLASS (klass)->get_input_stream = quic_stream_get_input;
  G_IO_STREAM_CLASS (klass)->get_output_stream = quic_stream_get_output;
}

static void
p2p_quic_stream_init (P2pQuicStream *self)
{
}

StreamState *
p2p_quic_stream_get_state (P2pQuicConnection *conn, GIOStream *stream)
{
  if (!P2P_IS_QUIC_STREAM (stream) || P2P_QUIC_STREAM (stream)->conn != conn)
    return NULL;
  return P2P_QUIC_STREAM (stream)->st;
}

GIOStream *
p2p_quic_stream_new (P2pQuicConnection *conn, StreamState *st)
{
  P2pQuicStream *self = g_object_new (P2P_TYPE_QUIC_STREAM, NULL);
  P2pQuicInputStream *in = g_object_new (P2P_TYPE_QUIC_INPUT_STREAM, NULL);
  P2pQuicOutputStream *out = g_object_new (P2P_TYPE_QUIC_OUTPUT_STREAM, NULL);

  in->conn = g_object_ref (conn);
  in->st = p2p_quic_stream_state_ref (st);
  out->conn = g_object_ref (conn);
  out->st = p2p_quic_stream_state_ref (st);
  self->conn = g_object_ref (conn);
  self->st = p2p_quic_stream_state_ref (st);
  self->input = G_INPUT_STREAM (in);
  self->output = G_OUTPUT_STREAM (out);
  return G_IO_STREAM (self);
}
