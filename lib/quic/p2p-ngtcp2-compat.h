/* p2p-ngtcp2-compat.h (internal): the one place that knows which ngtcp2
 * names changed between 0.12 (Debian 12) and 1.x, keyed on
 * NGTCP2_VERSION_NUM, so that the QUIC session's files (p2p-quic-session*.c,
 * p2p-quic-packet.c) build against both.
 *
 * 0.12                                   1.x
 * ngtcp2_connection_close_error_*        ngtcp2_ccerr_*
 * ngtcp2_conn_is_in_closing_period       ngtcp2_conn_in_closing_period
 * ngtcp2_conn_is_in_draining_period      ngtcp2_conn_in_draining_period
 * ngtcp2_conn_get_connection_close_error ngtcp2_conn_get_ccerr
 * ngtcp2_conn_shutdown_stream(c, id, e)  ngtcp2_conn_shutdown_stream(c, flags, id, e)
 * ngtcp2_conn_shutdown_stream_read(c, id, e)  (..._read(c, flags, id, e))
 * ngtcp2_conn_get_conn_stat              ngtcp2_conn_get_conn_info
 * ngtcp2_pkt_hd.token.base / .token.len  ngtcp2_pkt_hd.token / .tokenlen
 * ngtcp2_settings.token (ngtcp2_vec)     .token, .tokenlen, .token_type
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <ngtcp2/ngtcp2.h>

#if NGTCP2_VERSION_NUM >= 0x010000

typedef ngtcp2_ccerr P2pNgCcerr;
#define P2P_NG_CCERR_TYPE_TRANSPORT NGTCP2_CCERR_TYPE_TRANSPORT
#define P2P_NG_CCERR_TYPE_APPLICATION NGTCP2_CCERR_TYPE_APPLICATION
#define p2p_ng_ccerr_default(e) ngtcp2_ccerr_default (e)
#define p2p_ng_ccerr_set_application_error(e, code, r, rl) \
  ngtcp2_ccerr_set_application_error ((e), (code), (r), (rl))
#define p2p_ng_ccerr_set_tls_alert(e, alert, r, rl) \
  ngtcp2_ccerr_set_tls_alert ((e), (alert), (r), (rl))
#define p2p_ng_ccerr_set_liberr(e, liberr, r, rl) \
  ngtcp2_ccerr_set_liberr ((e), (liberr), (r), (rl))
#define p2p_ng_conn_get_ccerr(c) ngtcp2_conn_get_ccerr (c)
#define p2p_ng_conn_in_closing_period(c) ngtcp2_conn_in_closing_period (c)
#define p2p_ng_conn_in_draining_period(c) ngtcp2_conn_in_draining_period (c)
#define p2p_ng_conn_shutdown_stream(c, id, e) ngtcp2_conn_shutdown_stream ((c), 0, (id), (e))
#define p2p_ng_conn_shutdown_stream_read(c, id, e) \
  ngtcp2_conn_shutdown_stream_read ((c), 0, (id), (e))
/* a server's validated Retry token */
#define p2p_ng_settings_set_retry_token(st, t, l) \
  ((st)->token = (t), (st)->tokenlen = (l), (st)->token_type = NGTCP2_TOKEN_TYPE_RETRY)
/* the token of a parsed packet header (NULL/0 when none) */
#define p2p_ng_pkt_hd_token(hd) ((const uint8_t *) (hd)->token)
#define p2p_ng_pkt_hd_tokenlen(hd) ((size_t) (hd)->tokenlen)

typedef ngtcp2_conn_info P2pNgConnStat;
#define p2p_ng_conn_get_conn_stat(c, st) ngtcp2_conn_get_conn_info ((c), (st))

#else /* ngtcp2 0.x */

typedef ngtcp2_connection_close_error P2pNgCcerr;
#define P2P_NG_CCERR_TYPE_TRANSPORT NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT
#define P2P_NG_CCERR_TYPE_APPLICATION NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION
#define p2p_ng_ccerr_default(e) ngtcp2_connection_close_error_default (e)
#define p2p_ng_ccerr_set_application_error(e, code, r, rl) \
  ngtcp2_connection_close_error_set_application_error ((e), (code), (r), (rl))
#define p2p_ng_ccerr_set_tls_alert(e, alert, r, rl) \
  ngtcp2_connection_close_error_set_transport_error_tls_alert ((e), (alert), (r), (rl))
#define p2p_ng_ccerr_set_liberr(e, liberr, r, rl) \
  ngtcp2_connection_close_error_set_transport_error_liberr ((e), (liberr), (r), (rl))

static inline const P2pNgCcerr *
p2p_ng_conn_get_ccerr_0x (ngtcp2_conn *conn, P2pNgCcerr *storage)
{
  ngtcp2_conn_get_connection_close_error (conn, storage);
  return storage;
}
#define P2P_NG_CCERR_STORAGE P2pNgCcerr p2p_ng_ccerr_storage_
#define p2p_ng_conn_get_ccerr(c) p2p_ng_conn_get_ccerr_0x ((c), &p2p_ng_ccerr_storage_)
#define p2p_ng_conn_in_closing_period(c) ngtcp2_conn_is_in_closing_period (c)
#define p2p_ng_conn_in_draining_period(c) ngtcp2_conn_is_in_draining_period (c)
#define p2p_ng_conn_shutdown_stream(c, id, e) ngtcp2_conn_shutdown_stream ((c), (id), (e))
#define p2p_ng_conn_shutdown_stream_read(c, id, e) \
  ngtcp2_conn_shutdown_stream_read ((c), (id), (e))
#define p2p_ng_settings_set_retry_token(st, t, l) \
  ((st)->token.base = (uint8_t *) (t), (st)->token.len = (l))
#define p2p_ng_pkt_hd_token(hd) ((const uint8_t *) (hd)->token.base)
#define p2p_ng_pkt_hd_tokenlen(hd) ((size_t) (hd)->token.len)

typedef ngtcp2_conn_stat P2pNgConnStat;
#define p2p_ng_conn_get_conn_stat(c, st) ngtcp2_conn_get_conn_stat ((c), (st))

#endif

typedef struct {
  guint64 smoothed_rtt, min_rtt, cwnd, bytes_in_flight;
} P2pNgStat;

static inline void
p2p_ng_conn_get_stat (ngtcp2_conn *conn, P2pNgStat *out)
{
  P2pNgConnStat st;

  p2p_ng_conn_get_conn_stat (conn, &st);
  out->smoothed_rtt = st.smoothed_rtt;
  out->min_rtt = st.min_rtt;
  out->cwnd = st.cwnd;
  out->bytes_in_flight = st.bytes_in_flight;
}

/* Declares the storage p2p_ng_conn_get_ccerr() needs on 0.x (nothing on 1.x). */
#ifndef P2P_NG_CCERR_STORAGE
#define P2P_NG_CCERR_STORAGE G_GNUC_UNUSED int p2p_ng_ccerr_storage_ = 0
#endif
