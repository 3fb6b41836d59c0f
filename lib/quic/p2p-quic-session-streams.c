/* p2p-quic-session-streams.c: the streams of a QUIC session: the table of
 * extra streams (raw bidirectional streams besides the control and message
 * streams) and their write-ready list, opening our control and message
 * streams once TLS is done, refusing peer streams over the limit, and the
 * extra-stream calls of p2p-quic-session.h (open, write, finish, accept,
 * consume, reset).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-session-private.h"

#include "p2p/p2p-error.h"
#include "p2p-ngtcp2-compat.h"

/* RESET_STREAM/STOP_SENDING code of a peer-opened stream refused because
 * too many are waiting to be accepted */
#define STREAM_REFUSED_CODE 0x101

/* ------------------------------------------------------------------ */
/* the stream table */

void
p2p_quic_extra_stream_free (gpointer data)
{
  ExtraStream *es = data;

  p2p_quic_send_stream_clear (&es->tx);
  if (es->early_rx)
    g_byte_array_unref (es->early_rx);
  g_free (es);
}

ExtraStream *
p2p_quic_extra_stream_new (P2pQuicSession *s, gint64 id, gboolean local)
{
  ExtraStream *es = g_new0 (ExtraStream, 1);
  gint64 *key = g_new (gint64, 1);

  p2p_quic_send_stream_init (&es->tx);
  es->tx.id = id;
  es->local = local;
  *key = id;
  g_hash_table_insert (s->streams, key, es);
  return es;
}

ExtraStream *
p2p_quic_session_lookup_stream (P2pQuicSession *s, gint64 id)
{
  return g_hash_table_lookup (s->streams, &id);
}

SendStream *
p2p_quic_session_lookup_send_stream (P2pQuicSession *s, gint64 id)
{
  ExtraStream *es;

  if (id < 0)
    return NULL;
  if (id == s->control.id)
    return &s->control;
  if (id == s->msg.id)
    return &s->msg;
  es = p2p_quic_session_lookup_stream (s, id);
  return es ? &es->tx : NULL;
}

void
p2p_quic_session_ready_add (P2pQuicSession *s, ExtraStream *es)
{
  if (!es->in_ready && p2p_quic_send_stream_has_data (&es->tx)) {
    es->in_ready = TRUE;
    g_queue_push_tail (&s->ready, es);
  }
}

void
p2p_quic_session_ready_remove (P2pQuicSession *s, ExtraStream *es)
{
  if (es->in_ready) {
    g_queue_remove (&s->ready, es);
    es->in_ready = FALSE;
  }
}

void
p2p_quic_session_ensure_streams (P2pQuicSession *s)
{
  int64_t id;

  if (!s->tls_done || s->fatal_set || s->state == P2P_QUIC_STATE_CLOSED)
    return;
  if (!s->is_server && s->control.id < 0) {
    if (ngtcp2_conn_open_bidi_stream (s->conn, &id, NULL) == 0)
      s->control.id = id;
  }
  if (s->msg.id < 0 && (s->is_server || s->control.id >= 0)) {
    if (ngtcp2_conn_open_uni_stream (s->conn, &id, NULL) == 0)
      s->msg.id = id;
  }
}

/* Refuses the streams stream_open_cb marked (outside ngtcp2 calls). */
void
p2p_quic_session_refuse_streams (P2pQuicSession *s)
{
  gint64 *idp;

  while ((idp = g_queue_pop_head (&s->refuse)) != NULL) {
    if (s->state != P2P_QUIC_STATE_CLOSED && !s->fatal_set &&
        p2p_quic_session_lookup_stream (s, *idp))
      p2p_ng_conn_shutdown_stream (s->conn, *idp, STREAM_REFUSED_CODE);
    g_free (idp);
  }
}

/* ------------------------------------------------------------------ */
/* extra streams (p2p-quic-session.h) */

gint64
p2p_quic_session_open_stream (P2pQuicSession *s, GError **error)
{
  int64_t id;
  int rv;

  g_return_val_if_fail (s != NULL, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  if (!p2p_quic_session_check_open (s, error))
    return -1;
  if (!p2p_quic_session_is_established (s) && !p2p_quic_session_is_open_early (s)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "streams can be opened once the connection is established");
    return -1;
  }
  p2p_quic_session_ensure_streams (s);
  rv = ngtcp2_conn_open_bidi_stream (s->conn, &id, NULL);
  if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "the peer allows no more streams now (at most %d open at a time); close some first",
        MAX_STREAMS);
    return -1;
  }
  if (rv != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "could not open a stream: %s",
        ngtcp2_strerror (rv));
    return -1;
  }
  p2p_quic_extra_stream_new (s, id, TRUE)->announced = TRUE;
  return id;
}

static ExtraStream *
get_extra (P2pQuicSession *s, gint64 stream_id, GError **error)
{
  ExtraStream *es = p2p_quic_session_lookup_stream (s, stream_id);

  if (es == NULL)
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "no open stream %" G_GINT64_FORMAT " on this connection", stream_id);
  return es;
}

/* How many of @len bytes stream @stream_id takes now (its free buffer),
 * or -1 with @error set when it cannot be written. */
static gssize
stream_room (P2pQuicSession *s, gint64 stream_id, gsize len, ExtraStream **out,
    GError **error)
{
  ExtraStream *es;
  guint64 buffered;
  gsize n;

  if (s->state == P2P_QUIC_STATE_CLOSED || s->fatal_set) {
    p2p_quic_session_set_close_error (s, error, "the connection is closed");
    return -1;
  }
  if ((es = get_extra (s, stream_id, error)) == NULL)
    return -1;
  if (es->tx.shut) {
    /* reset here, or the peer's STOP_SENDING */
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED,
        "stream %" G_GINT64_FORMAT " is reset for writing", stream_id);
    return -1;
  }
  if (es->tx.fin_queued) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "stream %" G_GINT64_FORMAT " is finished for writing", stream_id);
    return -1;
  }
  buffered = es->tx.end - es->tx.acked;
  n = buffered >= P2P_QUIC_STREAM_SEND_BUFFER ? 0 : MIN (len, P2P_QUIC_STREAM_SEND_BUFFER - buffered);
  if (n < len)
    es->want_writable = TRUE;
  *out = es;
  return (gssize) n;
}

gssize
p2p_quic_session_stream_write (P2pQuicSession *s, gint64 stream_id, const guint8 *data,
    gsize len, GError **error)
{
  ExtraStream *es;
  gssize n;

  g_return_val_if_fail (s != NULL, -1);
  g_return_val_if_fail (data != NULL || len == 0, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  n = stream_room (s, stream_id, len, &es, error);
  if (n > 0) {
    g_autoptr (GBytes) b = g_bytes_new (data, n);

    p2p_quic_send_stream_append (&es->tx, b);
    p2p_quic_session_ready_add (s, es);
  }
  return n;
}

gssize
p2p_quic_session_stream_write_bytes (P2pQuicSession *s, gint64 stream_id, GBytes *data,
    GError **error)
{
  ExtraStream *es;
  gsize len;
  gssize n;

  g_return_val_if_fail (s != NULL, -1);
  g_return_val_if_fail (data != NULL, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  len = g_bytes_get_size (data);
  n = stream_room (s, stream_id, len, &es, error);
  if (n > 0) {
    g_autoptr (GBytes) b = (gsize) n == len ? g_bytes_ref (data)
        : g_bytes_new_from_bytes (data, 0, n);

    p2p_quic_send_stream_append (&es->tx, b);
    p2p_quic_session_ready_add (s, es);
  }
  return n;
}

void
p2p_quic_session_stream_finish (P2pQuicSession *s, gint64 stream_id)
{
  ExtraStream *es;

  g_return_if_fail (s != NULL);

  es = p2p_quic_session_lookup_stream (s, stream_id);
  if (es == NULL || es->tx.shut)
    return;
  es->tx.fin_queued = TRUE;
  p2p_quic_session_ready_add (s, es);
}

void
p2p_quic_session_stream_accepted (P2pQuicSession *s, gint64 stream_id)
{
  ExtraStream *es;

  g_return_if_fail (s != NULL);

  es = p2p_quic_session_lookup_stream (s, stream_id);
  if (es == NULL || es->local || es->accepted || es->refused ||
      s->state == P2P_QUIC_STATE_CLOSED)
    return;
  es->accepted = TRUE;
  if (!es->refused)
    s->n_unaccepted--;
  ngtcp2_conn_extend_max_stream_offset (s->conn, stream_id,
      STREAM_WINDOW - s->cfg.unaccepted_stream_window);
}

void
p2p_quic_session_stream_consumed (P2pQuicSession *s, gint64 stream_id, gsize len)
{
  g_return_if_fail (s != NULL);

  if (s->state == P2P_QUIC_STATE_CLOSED || len == 0)
    return;
  ngtcp2_conn_extend_max_stream_offset (s->conn, stream_id, len);
  ngtcp2_conn_extend_max_offset (s->conn, len);
}

void
p2p_quic_session_stream_dropped (P2pQuicSession *s, gsize len)
{
  g_return_if_fail (s != NULL);

  if (s->state == P2P_QUIC_STATE_CLOSED || len == 0)
    return;
  ngtcp2_conn_extend_max_offset (s->conn, len);
}

gboolean
p2p_quic_session_has_stream (P2pQuicSession *s, gint64 stream_id)
{
  g_return_val_if_fail (s != NULL, FALSE);

  return p2p_quic_session_lookup_stream (s, stream_id) != NULL;
}

void
p2p_quic_session_stream_stop_reading (P2pQuicSession *s, gint64 stream_id, guint64 app_error)
{
  ExtraStream *es;
  int rv;

  g_return_if_fail (s != NULL);

  es = p2p_quic_session_lookup_stream (s, stream_id);
  if (es == NULL || s->state == P2P_QUIC_STATE_CLOSED)
    return;
  rv = p2p_ng_conn_shutdown_stream_read (s->conn, stream_id, app_error);
  if (rv != 0)
    g_debug ("stream %" G_GINT64_FORMAT ": shutting its read side down: %s", stream_id,
        ngtcp2_strerror (rv));
}

void
p2p_quic_session_stream_reset (P2pQuicSession *s, gint64 stream_id, guint64 app_error)
{
  ExtraStream *es;

  g_return_if_fail (s != NULL);

  es = p2p_quic_session_lookup_stream (s, stream_id);
  if (es == NULL || s->state == P2P_QUIC_STATE_CLOSED)
    return;
  es->tx.shut = TRUE;
  es->reset_reported = TRUE;    /* the application knows */
  p2p_quic_session_ready_remove (s, es);
  p2p_ng_conn_shutdown_stream (s->conn, stream_id, app_error);
}
