/* p2p-quic-session-write.c: the write scheduler of a QUIC session: what
 * goes into the next UDP datagram. The control stream first, then queued
 * datagrams (live media must not wait behind bulk data; their queue is
 * bounded), then the message stream and the extra streams (round robin),
 * coalesced with the MORE flags; one UDP datagram per call, bursts limited
 * to the send quantum for pacing. Once closed: the CONNECTION_CLOSE.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-session-private.h"

#include <string.h>

#include "p2p-mtu.h"

#define MAX_VECS 16

static gsize
write_cc (P2pQuicSession *s, guint8 *buf, gsize buflen)
{
  if (!s->cc_send || s->cc_pkt == NULL || buflen < s->cc_len)
    return 0;
  s->cc_send = FALSE;
  s->tx_route = s->conn ? p2p_quic_session_route_of (&ngtcp2_conn_get_path (s->conn)->remote) : 0;
  memcpy (buf, s->cc_pkt, s->cc_len);
  s->packets_sent++;
  s->bytes_sent += s->cc_len;
  return s->cc_len;
}

static SendStream *
pick_stream (P2pQuicSession *s, ExtraStream **pes)
{
  *pes = NULL;
  if (p2p_quic_send_stream_has_data (&s->control) && s->control.blocked_gen != s->write_gen)
    return &s->control;
  if (s->version_mismatch)
    return NULL;
  if (p2p_quic_send_stream_has_data (&s->msg) && s->msg.blocked_gen != s->write_gen)
    return &s->msg;
  for (GList *l = s->ready.head; l != NULL; l = l->next) {
    ExtraStream *es = l->data;

    if (es->tx.blocked_gen != s->write_gen && p2p_quic_send_stream_has_data (&es->tx)) {
      *pes = es;
      return &es->tx;
    }
  }
  return NULL;
}

gsize
p2p_quic_session_write (P2pQuicSession *s, guint8 *buf, gsize buflen, guint64 now)
{
  gsize limit;
  ngtcp2_ssize nwrite = 0;

  g_return_val_if_fail (s != NULL, 0);
  g_return_val_if_fail (buf != NULL, 0);
  g_return_val_if_fail (s->in_ngtcp2 == 0, 0);

  s->last_now = now;
  p2p_quic_session_after_io (s, now);
  if (s->state == P2P_QUIC_STATE_CLOSED)
    return write_cc (s, buf, buflen);

  if (s->burst_bytes > 0 && s->burst_bytes >= ngtcp2_conn_get_send_quantum (s->conn)) {
    ngtcp2_conn_update_pkt_tx_time (s->conn, now);
    s->burst_bytes = 0;
    return 0;
  }

  limit = MIN (buflen, s->confirmed ? s->cfg.max_udp_payload :
      MIN (P2P_INTERNET_MTU, s->cfg.max_udp_payload));
  s->write_gen++;

  for (guint iter = 0; iter < 10000; iter++) {
    ExtraStream *es = NULL;
    SendStream *st = pick_stream (s, &es);
    ngtcp2_ssize pdatalen = -1;
    /* Live media rides datagrams: they go before bulk stream data (but after
     * the control stream). Their queue is bounded, so they cannot starve
     * streams for long; congestion control paces both. */
    gboolean dgram_ready = !g_queue_is_empty (&s->datagrams) && s->confirmed &&
        p2p_quic_session_is_established (s) && s->state != P2P_QUIC_STATE_CLOSED;

    if (st != NULL && !(dgram_ready && st != &s->control)) {
      ngtcp2_vec vec[MAX_VECS];
      gboolean all = FALSE;
      gsize n = p2p_quic_send_stream_vecs (st, vec, MAX_VECS, &all);
      guint32 flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
      gboolean fin = all && st->fin_queued;

      if (fin)
        flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
      s->in_ngtcp2++;
      nwrite = ngtcp2_conn_writev_stream (s->conn, &s->path, NULL, buf, limit, &pdatalen,
          flags, st->id, vec, n, now);
      s->in_ngtcp2--;
      if (pdatalen >= 0) {
        p2p_quic_send_stream_advance (st, (gsize) pdatalen);
        if (fin && st->written >= st->end)
          st->fin_written = TRUE;
        if (es) {
          /* round robin among extra streams */
          p2p_quic_session_ready_remove (s, es);
          p2p_quic_session_ready_add (s, es);
        }
      }
      if (es && !p2p_quic_send_stream_has_data (st))
        p2p_quic_session_ready_remove (s, es);
      if (nwrite == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
        st->blocked_gen = s->write_gen;
        continue;
      }
      if (nwrite == NGTCP2_ERR_STREAM_SHUT_WR || nwrite == NGTCP2_ERR_STREAM_NOT_FOUND) {
        st->shut = TRUE;
        if (es)
          p2p_quic_session_ready_remove (s, es);
        continue;
      }
      if (nwrite == NGTCP2_ERR_WRITE_MORE)
        continue;
    } else if (dgram_ready) {
      GBytes *d = g_queue_peek_head (&s->datagrams);
      gsize dlen;
      ngtcp2_vec v;
      int accepted = 0;

      v.base = (uint8_t *) g_bytes_get_data (d, &dlen);
      v.len = dlen;
      if (dlen + DATAGRAM_OVERHEAD > limit) {
        /* cannot fit in any packet we may build now (path shrank) */
        g_bytes_unref (g_queue_pop_head (&s->datagrams));
        s->datagrams_dropped++;
        continue;
      }
      s->in_ngtcp2++;
      nwrite = ngtcp2_conn_writev_datagram (s->conn, &s->path, NULL, buf, limit, &accepted,
          NGTCP2_WRITE_DATAGRAM_FLAG_MORE, s->next_dgram_id, &v, 1, now);
      s->in_ngtcp2--;
      if (accepted) {
        s->next_dgram_id++;
        s->datagrams_sent++;
        g_bytes_unref (g_queue_pop_head (&s->datagrams));
      }
      if (nwrite == NGTCP2_ERR_WRITE_MORE)
        continue;
      if (nwrite == NGTCP2_ERR_INVALID_ARGUMENT) {
        /* too large for the peer's limit: drop it */
        g_bytes_unref (g_queue_pop_head (&s->datagrams));
        s->datagrams_dropped++;
        continue;
      }
    } else {
      s->in_ngtcp2++;
      nwrite = ngtcp2_conn_writev_stream (s->conn, &s->path, NULL, buf, limit, NULL,
          NGTCP2_WRITE_STREAM_FLAG_NONE, -1, NULL, 0, now);
      s->in_ngtcp2--;
    }

    if (nwrite < 0) {
      p2p_quic_session_fatal_from_write (s, nwrite);
      p2p_quic_session_after_io (s, now);
      return write_cc (s, buf, buflen);
    }
    break;
  }

  p2p_quic_session_after_io (s, now);
  if (nwrite <= 0 || s->state == P2P_QUIC_STATE_CLOSED) {
    if (s->burst_bytes > 0) {
      ngtcp2_conn_update_pkt_tx_time (s->conn, now);
      s->burst_bytes = 0;
    }
    if (s->state == P2P_QUIC_STATE_CLOSED) {
      if (nwrite > 0)
        s->tx_route = p2p_quic_session_route_of (&s->path.remote);
      return nwrite > 0 ? (gsize) nwrite : write_cc (s, buf, buflen);
    }
    return 0;
  }
  s->tx_route = p2p_quic_session_route_of (&s->path.remote);
  s->burst_bytes += (gsize) nwrite;
  s->packets_sent++;
  s->bytes_sent += (gsize) nwrite;
  p2p_quic_session_track_in_flight (s, now);
  return (gsize) nwrite;
}
