/* p2p-quic-connection-streams.c: the extra bidirectional streams of a
 * P2pQuicConnection, on the connection's side: the table of StreamState by
 * id, the session's stream callbacks filling it, the draining of stream
 * buffers into the session on the network thread, and open_stream() /
 * accept_stream(). The GIOStream handed to the application, which reads
 * and writes those buffers, is in p2p-quic-stream.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-connection-private.h"
#include "p2p/p2p-error.h"

/* ----------------------------------------------------------- stream table */

static StreamState *
lookup_stream_locked (P2pQuicConnection *self, gint64 id)
{
  return g_hash_table_lookup (self->streams, &id);
}

static StreamState *
add_stream_locked (P2pQuicConnection *self, gint64 id)
{
  StreamState *st = p2p_quic_stream_state_new (id);
  gint64 *key = g_new (gint64, 1);

  *key = id;
  g_hash_table_insert (self->streams, key, st);
  return st;
}

/* The state of the peer's stream @id; a new one is queued for
 * accept_stream(). */
static StreamState *
peer_stream_locked (P2pQuicConnection *self, gint64 id)
{
  StreamState *st = lookup_stream_locked (self, id);

  if (st == NULL) {
    st = add_stream_locked (self, id);
    g_queue_push_tail (&self->accept_streams, p2p_quic_stream_state_ref (st));
  }
  return st;
}

/* ------------------------------------------------------ session callbacks */

static void
cb_stream_opened (P2pQuicSession *s, gint64 stream_id, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);

  if (self == NULL)
    return;

  g_mutex_lock (&self->lock);
  peer_stream_locked (self, stream_id);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
cb_stream_data (P2pQuicSession *s, gint64 stream_id, const guint8 *data, gsize len,
    gboolean fin, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);
  StreamState *st;
  gboolean discard = FALSE;

  if (self == NULL)
    return;

  g_mutex_lock (&self->lock);
  /* Data before/without stream_opened: treat as a newly opened stream. */
  st = peer_stream_locked (self, stream_id);
  if (st->dead || st->in_stopped) {
    /* nobody reads it: dropped, its credit given back */
    discard = TRUE;
  } else {
    if (len > 0) {
      g_queue_push_tail (&st->in, g_bytes_new (data, len));
      st->in_len += len;
    }
    if (fin)
      st->in_fin = TRUE;
  }
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  if (discard && len > 0)
    p2p_quic_session_stream_consumed (s, stream_id, len);
}

static void
cb_stream_writable (P2pQuicSession *s, gint64 stream_id, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);

  if (self)
    p2p_quic_conn_schedule_work (self);
}

static void
cb_stream_reset (P2pQuicSession *s, gint64 stream_id, guint64 app_error, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);
  StreamState *st;

  if (self == NULL)
    return;

  g_mutex_lock (&self->lock);
  st = lookup_stream_locked (self, stream_id);
  /* the peer's side only: what it sent is cut, our answer may go on (its
   * STOP_SENDING, if any, stops that: the session's write fails, then
   * out_stopped) */
  if (st)
    st->in_reset = TRUE;
  if (st && g_queue_remove (&self->accept_streams, st)) {
    /* reset before anyone accepted it: nobody will, and the session has
     * forgotten it (the peer may open another in its place). What came is
     * dropped and its credit given back to the connection; the table lets
     * it go at the next drain. */
    st->dead = TRUE;
    p2p_quic_stream_state_drop_input_locked (st);
    p2p_quic_stream_state_unref (st);
    g_mutex_unlock (&self->lock);
    p2p_quic_conn_schedule_work (self);
    return;
  }
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  /* a writer blocked on it learns of a STOP_SENDING that came with the
   * reset at the next drain: now */
  p2p_quic_conn_schedule_work (self);
}

/* ----------------------------------------------------- network thread */

/* Feeds stream buffers into the session (net). */
void
p2p_quic_conn_drain_streams (P2pQuicConnection *self)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GPtrArray) todo = g_ptr_array_new_with_free_func (
      (GDestroyNotify) p2p_quic_stream_state_unref);

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    StreamState *st = value;

    /* dropped by the application (only this table holds it) and closed by
     * QUIC: forget it, so a connection carrying many short streams (file
     * requests) keeps a table of the live ones only */
    if (st->dead && g_atomic_int_get (&st->ref_count) == 1 && self->session
        && st->consumed_pending == 0 && !p2p_quic_session_has_stream (self->session, st->id)) {
      g_hash_table_iter_remove (&iter);
      continue;
    }
    if (st->out_len > 0 || (st->fin_requested && !st->fin_sent) || st->consumed_pending > 0 ||
        st->grant_pending || st->abort_pending || st->stop_read_pending)
      g_ptr_array_add (todo, p2p_quic_stream_state_ref (st));
  }
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < todo->len; i++) {
    StreamState *st = g_ptr_array_index (todo, i);
    gsize consumed;
    gssize took = 0;
    g_autoptr (GError) error = NULL;
    gboolean fin = FALSE, grant, abort, stop_read, moved;

    g_mutex_lock (&self->lock);
    abort = st->abort_pending;
    st->abort_pending = FALSE;
    stop_read = st->stop_read_pending;
    st->stop_read_pending = FALSE;
    grant = st->grant_pending;
    st->grant_pending = FALSE;
    consumed = st->consumed_pending;
    st->consumed_pending = 0;
    g_mutex_unlock (&self->lock);

    if (abort) {
      /* the credit of what was read or dropped before goes back too, to
       * the connection only */
      p2p_quic_session_stream_reset (self->session, st->id, P2P_STREAM_ABORTED_CODE);
      p2p_quic_session_stream_dropped (self->session, consumed);
      continue;
    }
    if (grant)
      p2p_quic_session_stream_accepted (self->session, st->id);
    if (stop_read) {
      /* what was dropped goes back to the connection only: no
       * MAX_STREAM_DATA inviting more on a stream nobody reads */
      p2p_quic_session_stream_stop_reading (self->session, st->id,
          P2P_STREAM_STOP_READING_CODE);
      p2p_quic_session_stream_dropped (self->session, consumed);
      consumed = 0;
    }
    if (consumed > 0)
      p2p_quic_session_stream_consumed (self->session, st->id, consumed);
    g_mutex_lock (&self->lock);
    /* the session keeps the chunks it takes (a reference, no copy) */
    moved = FALSE;
    while (st->out.length > 0) {
      GBytes *head = g_queue_peek_head (&st->out);
      gsize len = g_bytes_get_size (head);

      took = p2p_quic_session_stream_write_bytes (self->session, st->id, head, &error);
      if (took < 0) {
        /* our side's failure: writes fail, reads go on */
        g_debug ("stream %" G_GINT64_FORMAT " write failed: %s", st->id, error->message);
        /* our side's failure (written after our own end: INVALID_ARGUMENT
         * on a stream the session still has): writes fail, reads go on;
         * anything else is the peer's STOP_SENDING, the stream closed by
         * QUIC since, or the connection failing: "the peer stopped the
         * stream" until the connection's own close error takes over */
        if (g_error_matches (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT)
            && p2p_quic_session_has_stream (self->session, st->id))
          st->out_failed = TRUE;
        else
          st->out_stopped = TRUE;
        p2p_quic_stream_state_drop_output_locked (st);
        break;
      }
      if (took == 0)
        break;
      moved = TRUE;
      st->out_len -= took;
      g_queue_pop_head (&st->out);
      if ((gsize) took < len)
        g_queue_push_head (&st->out, g_bytes_new_from_bytes (head, took, len - took));
      g_bytes_unref (head);
      if ((gsize) took < len)
        break;
    }
    /* writers wait for room (and for an error) */
    if (moved || took < 0)
      g_cond_broadcast (&self->cond);
    if (st->fin_requested && !st->fin_sent && st->out_len == 0 && !st->reset
        && !st->out_stopped && !st->out_failed) {
      st->fin_sent = TRUE;
      fin = TRUE;
      g_cond_broadcast (&self->cond);
    }
    g_mutex_unlock (&self->lock);
    if (fin)
      p2p_quic_session_stream_finish (self->session, st->id);
  }
}

/* ------------------------------------------------------------ public API */

typedef struct {
  gint64 id;
  GError *error;
} OpenStreamCall;

static void
open_stream_net (P2pQuicConnection *self, gpointer data)
{
  OpenStreamCall *call = data;

  if (self->session == NULL) {
    g_set_error_literal (&call->error, P2P_ERROR, P2P_ERROR_CLOSED, "connection closed");
    call->id = -1;
    return;
  }
  call->id = p2p_quic_session_open_stream (self->session, &call->error);
  if (call->id >= 0) {
    g_mutex_lock (&self->lock);
    add_stream_locked (self, call->id);
    g_mutex_unlock (&self->lock);
  }
}

static GIOStream *
quic_open_stream (P2pConnection *conn, GCancellable *cancellable, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  OpenStreamCall call = { -1, NULL };
  StreamState *st;
  GIOStream *stream;

  g_mutex_lock (&self->lock);
  if (self->closed || !(self->established || self->early_open)) {
    p2p_quic_conn_set_closed_error_locked (self, error);
    g_mutex_unlock (&self->lock);
    return NULL;
  }
  g_mutex_unlock (&self->lock);

  p2p_quic_conn_run_on_net_thread (self, open_stream_net, &call);
  if (call.id < 0) {
    if (call.error)
      g_propagate_error (error, call.error);
    else
      g_set_error_literal (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
          "the peer allows no more streams");
    return NULL;
  }
  g_mutex_lock (&self->lock);
  st = p2p_quic_stream_state_ref (lookup_stream_locked (self, call.id));
  g_mutex_unlock (&self->lock);
  stream = p2p_quic_stream_new (self, st);
  p2p_quic_stream_state_unref (st);
  return stream;
}

static GIOStream *
quic_accept_stream (P2pConnection *conn, GCancellable *cancellable, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  StreamState *st = NULL;
  GIOStream *stream;
  BlockingWait w;

  p2p_quic_conn_wait_begin (&w, self, cancellable);
  do {
    st = g_queue_pop_head (&self->accept_streams);
    if (st) {
      st->grant_pending = TRUE;         /* the full window, now that it is taken */
      break;
    }
    if (p2p_quic_conn_wait_failed_locked (self, self->closed, cancellable, error))
      break;
  } while (p2p_quic_conn_wait_next (&w, "p2p_connection_accept_stream()", error));
  p2p_quic_conn_wait_end (&w);
  if (st == NULL)
    return NULL;
  p2p_quic_conn_schedule_work (self);
  stream = p2p_quic_stream_new (self, st);
  p2p_quic_stream_state_unref (st);
  return stream;
}

gsize
p2p_quic_connection_get_unaccepted_bytes (P2pQuicConnection *self, guint *n_streams)
{
  gsize bytes = 0;

  g_return_val_if_fail (P2P_IS_QUIC_CONNECTION (self), 0);

  g_mutex_lock (&self->lock);
  for (GList *l = self->accept_streams.head; l; l = l->next) {
    StreamState *st = l->data;

    bytes += st->in_len;
  }
  if (n_streams)
    *n_streams = self->accept_streams.length;
  g_mutex_unlock (&self->lock);
  return bytes;
}

/* Called with the lock: what arrived on @st and was never read goes back
 * to the connection's flow control window, as if read (a stream dropped
 * with unread data would otherwise shrink the window for good: a player
 * that seeks often, aborting its read-ahead each time, stalled once the
 * connection's 32 MiB were spent that way). */
/* Forgets what was written and not yet given to the session (the stream
 * was aborted or reset). */
void
p2p_quic_stream_state_drop_output_locked (StreamState *st)
{
  g_queue_clear_full (&st->out, (GDestroyNotify) g_bytes_unref);
  st->out_len = 0;
}

void
p2p_quic_stream_state_drop_input_locked (StreamState *st)
{
  st->consumed_pending += st->in_len;
  g_queue_clear_full (&st->in, (GDestroyNotify) g_bytes_unref);
  st->in_off = st->in_len = 0;
}

static void
quic_abort_stream (P2pConnection *conn, GIOStream *stream)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  StreamState *st = p2p_quic_stream_get_state (self, stream);

  if (st == NULL)
    return;
  g_mutex_lock (&self->lock);
  /* the application wants nothing more: later input is dropped, reads and
   * writes fail (reset), the session resets it on the network thread */
  st->dead = TRUE;
  st->reset = TRUE;
  st->abort_pending = TRUE;
  p2p_quic_stream_state_drop_input_locked (st);
  p2p_quic_stream_state_drop_output_locked (st);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  p2p_quic_conn_schedule_work (self);
}

static void
quic_stop_reading (P2pConnection *conn, GIOStream *stream)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  StreamState *st = p2p_quic_stream_get_state (self, stream);

  if (st == NULL)
    return;
  g_mutex_lock (&self->lock);
  if (!st->in_stopped && !st->dead) {
    st->in_stopped = TRUE;
    st->stop_read_pending = TRUE;
    p2p_quic_stream_state_drop_input_locked (st);
  }
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  p2p_quic_conn_schedule_work (self);
}

static gboolean
quic_write_stream_bytes (P2pConnection *conn, GIOStream *stream, GBytes *bytes,
    GCancellable *cancellable, GError **error)
{
  return p2p_quic_stream_write_bytes (P2P_QUIC_CONNECTION (conn), stream, bytes, cancellable,
      error);
}

void
p2p_quic_conn_streams_class_init (P2pConnectionClass *conn_class,
    P2pQuicSessionCallbacks *callbacks)
{
  conn_class->open_stream = quic_open_stream;
  conn_class->accept_stream = quic_accept_stream;
  conn_class->abort_stream = quic_abort_stream;
  conn_class->stop_reading = quic_stop_reading;
  conn_class->write_stream_bytes = quic_write_stream_bytes;
  callbacks->stream_opened = cb_stream_opened;
  callbacks->stream_data = cb_stream_data;
  callbacks->stream_writable = cb_stream_writable;
  callbacks->stream_reset = cb_stream_reset;
}
