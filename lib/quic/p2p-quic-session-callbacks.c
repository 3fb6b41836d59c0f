/* p2p-quic-session-callbacks.c: the ngtcp2 callbacks of a QUIC session:
 * randomness and connection IDs, TLS handshake progress, received stream
 * data (to the control and message protocol, or an extra stream), stream
 * acknowledgements, opening, reset, stop-sending and close, and datagrams.
 * They run inside ngtcp2 calls: they only record fatal conditions
 * (p2p_quic_session_set_fatal), which the safe point applies.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-session-private.h"

#include <sodium.h>
#include <ngtcp2/ngtcp2_crypto.h>

static void
rand_cb (uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx)
{
  randombytes_buf (dest, destlen);
}

static int
get_new_connection_id_cb (ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
    void *user_data)
{
  P2pQuicSession *s = user_data;

  /* cidlen is our initial SCID's: P2P_QUIC_SCID_LEN */
  g_return_val_if_fail (cidlen == P2P_QUIC_SCID_LEN, NGTCP2_ERR_CALLBACK_FAILURE);
  cid->datalen = cidlen;
  p2p_quic_cid_new (s->cfg.cid_key, cid->data);
  p2p_quic_stateless_reset_token (s->identity, s->cfg.reset_port, cid->data, cid->datalen,
      token);
  return 0;
}

static int
handshake_completed_cb (ngtcp2_conn *conn, void *user_data)
{
  P2pQuicSession *s = user_data;

  s->tls_done = TRUE;
  if (s->is_server)
    s->confirmed = TRUE;
  return 0;
}

static int
handshake_confirmed_cb (ngtcp2_conn *conn, void *user_data)
{
  P2pQuicSession *s = user_data;

  s->confirmed = TRUE;
  return 0;
}

static int
recv_stream_data_cb (ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t offset,
    const uint8_t *data, size_t datalen, void *user_data, void *stream_user_data)
{
  P2pQuicSession *s = user_data;
  gboolean fin = (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0;
  ExtraStream *es;

  if (stream_id == 0) {
    ngtcp2_conn_extend_max_stream_offset (conn, stream_id, datalen);
    ngtcp2_conn_extend_max_offset (conn, datalen);
    return p2p_quic_session_on_control_data (s, data, datalen) < 0 ?
        NGTCP2_ERR_CALLBACK_FAILURE : 0;
  }
  if (stream_id == s->peer_msg_stream) {
    /* Credit is returned per frame: its header (and unknown frames) when
     * decoded, a message body when the application consumed it. */
    return p2p_quic_session_on_message_data (s, data, datalen) < 0 ?
        NGTCP2_ERR_CALLBACK_FAILURE : 0;
  }
  es = p2p_quic_session_lookup_stream (s, stream_id);
  if (es == NULL || es->refused || !ngtcp2_is_bidi_stream (stream_id)) {
    /* a stream we do not use: discard, keep flow control open */
    ngtcp2_conn_extend_max_stream_offset (conn, stream_id, datalen);
    ngtcp2_conn_extend_max_offset (conn, datalen);
    return 0;
  }
  if (!es->announced) {
    if (es->early_rx == NULL)
      es->early_rx = g_byte_array_new ();
    g_byte_array_append (es->early_rx, data, datalen);
    es->early_fin |= fin;
    return 0;
  }
  if (s->cb.stream_data)
    s->cb.stream_data (s, stream_id, data, datalen, fin, s->user_data);
  return 0;
}

static int
acked_stream_data_offset_cb (ngtcp2_conn *conn, int64_t stream_id, uint64_t offset,
    uint64_t datalen, void *user_data, void *stream_user_data)
{
  P2pQuicSession *s = user_data;
  SendStream *st = p2p_quic_session_lookup_send_stream (s, stream_id);

  if (st == NULL)
    return 0;
  p2p_quic_send_stream_ack (st, offset + datalen);
  if (st == &s->msg) {
    if (s->was_above_high
        && st->end - st->acked < p2p_quic_session_get_send_queue_high (s) / 2) {
      s->was_above_high = FALSE;
      s->writable_pending = TRUE;
    }
  } else if (st != &s->control) {
    ExtraStream *es = (ExtraStream *) st;       /* tx is the first member */

    if (es->want_writable && st->end - st->acked <= P2P_QUIC_STREAM_SEND_BUFFER / 2) {
      es->want_writable = FALSE;
      if (s->cb.stream_writable)
        s->cb.stream_writable (s, stream_id, s->user_data);
    }
  }
  return 0;
}

static int
stream_open_cb (ngtcp2_conn *conn, int64_t stream_id, void *user_data)
{
  P2pQuicSession *s = user_data;
  ExtraStream *es;

  if (!ngtcp2_is_bidi_stream (stream_id)) {
    if (s->peer_msg_stream < 0)
      s->peer_msg_stream = stream_id;
    return 0;
  }
  if (stream_id == 0 && s->is_server) {
    s->control.id = 0;
    return 0;
  }
  es = p2p_quic_extra_stream_new (s, stream_id, FALSE);
  if (s->n_unaccepted >= s->cfg.max_unaccepted_streams) {
    /* Nobody takes them: refuse (after this ngtcp2 call), drop their data. */
    gint64 *idp = g_new (gint64, 1);

    *idp = stream_id;
    es->refused = TRUE;
    s->streams_refused++;
    g_queue_push_tail (&s->refuse, idp);
    return 0;
  }
  s->n_unaccepted++;
  if (p2p_quic_session_is_established (s)) {
    es->announced = TRUE;
    if (s->cb.stream_opened)
      s->cb.stream_opened (s, stream_id, s->user_data);
  } else {
    gint64 *idp = g_new (gint64, 1);

    *idp = stream_id;
    g_queue_push_tail (&s->early_streams, idp);
  }
  return 0;
}

static void
report_stream_reset (P2pQuicSession *s, ExtraStream *es, guint64 app_error)
{
  if (es->reset_reported)
    return;
  es->reset_reported = TRUE;
  if (es->announced || es->local) {
    if (s->cb.stream_reset)
      s->cb.stream_reset (s, es->tx.id, app_error, s->user_data);
  }
}

static int
stream_reset_cb (ngtcp2_conn *conn, int64_t stream_id, uint64_t final_size,
    uint64_t app_error_code, void *user_data, void *stream_user_data)
{
  P2pQuicSession *s = user_data;
  ExtraStream *es = p2p_quic_session_lookup_stream (s, stream_id);

  if (es)
    report_stream_reset (s, es, app_error_code);
  return 0;
}

/* ngtcp2 calls this when this endpoint stops reading a stream before its
 * end (ngtcp2_conn_shutdown_stream_read / _stream: our abort or stop
 * reading), not for the peer's STOP_SENDING, which shows as the write side
 * shut (NGTCP2_ERR_STREAM_SHUT_WR in write_streams: tx.shut). Nothing to
 * report: the application asked for it. */
static int
stream_stop_sending_cb (ngtcp2_conn *conn, int64_t stream_id, uint64_t app_error_code,
    void *user_data, void *stream_user_data)
{
  return 0;
}

static int
stream_close_cb (ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t app_error_code,
    void *user_data, void *stream_user_data)
{
  P2pQuicSession *s = user_data;
  ExtraStream *es;

  s->stream_losses_closed += ngtcp2_conn_get_stream_loss_count (conn, stream_id);
  if (stream_id == s->control.id) {
    s->control.shut = TRUE;
    return 0;
  }
  if (stream_id == s->msg.id) {
    s->msg.shut = TRUE;
    return 0;
  }
  /* ngtcp2 does not raise the peer's stream limit by itself once a stream
   * it announced through stream_open is closed: give the credit back, so a
   * peer may open any number of streams over time (MAX_STREAMS at a time) */
  if (!ngtcp2_conn_is_local_stream (conn, stream_id)) {
    if (stream_id & 0x2)
      ngtcp2_conn_extend_max_streams_uni (conn, 1);
    else
      ngtcp2_conn_extend_max_streams_bidi (conn, 1);
  }
  es = p2p_quic_session_lookup_stream (s, stream_id);
  if (es == NULL)
    return 0;
  if (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)
    report_stream_reset (s, es, app_error_code);
  if (!es->local && !es->accepted && !es->refused)
    s->n_unaccepted--;
  p2p_quic_session_ready_remove (s, es);
  g_hash_table_remove (s->streams, &stream_id);
  return 0;
}

static int
recv_datagram_cb (ngtcp2_conn *conn, uint32_t flags, const uint8_t *data, size_t datalen,
    void *user_data)
{
  P2pQuicSession *s = user_data;

  if (!p2p_quic_session_is_established (s)) {
    s->datagrams_dropped++;     /* unauthenticated so far: never delivered */
    return 0;
  }
  s->datagrams_received++;
  if (s->cb.datagram)
    s->cb.datagram (s, data, datalen, s->user_data);
  return 0;
}

static int
lost_datagram_cb (ngtcp2_conn *conn, uint64_t dgram_id, void *user_data)
{
  P2pQuicSession *s = user_data;

  s->datagrams_lost++;
  return 0;
}

static int
path_validation_cb (ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
    ngtcp2_path_validation_result res, void *user_data)
{
  P2pQuicSession *s = user_data;
  guint32 route = p2p_quic_session_route_of (&path->remote);

  if (res != NGTCP2_PATH_VALIDATION_RESULT_SUCCESS) {
    g_debug ("quic: path validation of route %u failed (the peer stays where it was)", route);
    return 0;
  }
  /* ngtcp2 already moved to the path it validated (and may report one
   * path twice: after a new IP it validates again once it is current) */
  if (route != p2p_quic_session_route_of (&ngtcp2_conn_get_path (conn)->remote) ||
      route == s->peer_route)
    return 0;
  s->peer_route = route;
  s->migrations++;
  g_debug ("quic: the peer moved to route %u (validated)", route);
  if (s->cb.migrated)
    s->cb.migrated (s, route, s->user_data);
  return 0;
}

/* The peer answered with a Stateless Reset: it has no state for this
 * connection any more (it restarted); read_packet() closes the session. */
static int
recv_stateless_reset_cb (ngtcp2_conn *conn, const ngtcp2_pkt_stateless_reset *sr,
    void *user_data)
{
  P2pQuicSession *s = user_data;

  s->stateless_reset = TRUE;
  return 0;
}

/* The session whose packet ngtcp2 is reading on this thread
 * (p2p_quic_session_read_begin/end): ngtcp2's decrypt callback is given no
 * connection. A GPrivate (a pthread key), not a _Thread_local variable:
 * the library is also loaded with dlopen() (the plugin), and
 * LeakSanitizer's thread stopper crashed on that dynamic TLS (signal 11
 * in its tracer, an elements run under ASan). */
static GPrivate reading = G_PRIVATE_INIT (NULL);

void
p2p_quic_session_read_begin (P2pQuicSession *s)
{
  g_private_set (&reading, s);
  s->decrypted = FALSE;
}

void
p2p_quic_session_read_end (P2pQuicSession *s)
{
  g_private_set (&reading, NULL);
}

/* A payload that decrypts is one of the peer's (or a replay of one): only
 * such a packet counts as word from the peer (last_rx). */
static int
decrypt_cb (uint8_t *dest, const ngtcp2_crypto_aead *aead,
    const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *ciphertext, size_t ciphertextlen,
    const uint8_t *nonce, size_t noncelen, const uint8_t *aad, size_t aadlen)
{
  int rv = ngtcp2_crypto_decrypt_cb (dest, aead, aead_ctx, ciphertext, ciphertextlen, nonce,
      noncelen, aad, aadlen);

  if (rv == 0) {
    P2pQuicSession *s = g_private_get (&reading);

    if (s != NULL)
      s->decrypted = TRUE;
  }
  return rv;
}

ngtcp2_callbacks
p2p_quic_session_base_callbacks (void)
{
  ngtcp2_callbacks cb = {
    .recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
    .handshake_completed = handshake_completed_cb,
    .encrypt = ngtcp2_crypto_encrypt_cb,
    .decrypt = decrypt_cb,
    .hp_mask = ngtcp2_crypto_hp_mask_cb,
    .recv_stream_data = recv_stream_data_cb,
    .acked_stream_data_offset = acked_stream_data_offset_cb,
    .stream_open = stream_open_cb,
    .stream_close = stream_close_cb,
    .rand = rand_cb,
    .get_new_connection_id = get_new_connection_id_cb,
    .update_key = ngtcp2_crypto_update_key_cb,
    .stream_reset = stream_reset_cb,
    .handshake_confirmed = handshake_confirmed_cb,
    .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
    .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
    .recv_datagram = recv_datagram_cb,
    .lost_datagram = lost_datagram_cb,
    .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
    .stream_stop_sending = stream_stop_sending_cb,
    .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
    .path_validation = path_validation_cb,
    .recv_stateless_reset = recv_stateless_reset_cb,
  };
  return cb;
}
