/* p2p-quic-session-close.c: how a QUIC session closes. Every fatal
 * condition is recorded first (set_fatal: callbacks may run inside ngtcp2
 * calls, where ngtcp2 must not be re-entered) and applied at the next safe
 * point (apply_fatal builds the CONNECTION_CLOSE once); closed() is
 * reported exactly once. Also: the graceful close (Disconnect once every
 * message is acknowledged, then CONNECTION_CLOSE), the mapping of the
 * peer's CONNECTION_CLOSE and of ngtcp2 write errors to our errors, and
 * the close calls of p2p-quic-session.h (close, close_now, abort).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-session-private.h"

#include <string.h>

#include "p2p/p2p-error.h"
#include "p2p-ngtcp2-compat.h"
#include "p2p-mtu.h"

/* Disconnect / CONNECTION_CLOSE code of an abort for a reason without a
 * P2pDisconnectCode: the peer reports P2P_ERROR_CLOSED with the reason. */
#define ABORT_CODE 0x100

/* ------------------------------------------------------------------ */
/* fatal conditions */

void
p2p_quic_session_set_fatal (P2pQuicSession *s, CloseKind kind, guint64 code, GError *error,
    const char *reason, const char *wire_reason)
{
  if (s->fatal_set || s->state == P2P_QUIC_STATE_CLOSED) {
    g_clear_error (&error);
    return;
  }
  s->fatal_set = TRUE;
  s->fatal_kind = kind;
  s->fatal_code = code;
  s->fatal_error = error;
  s->fatal_reason = g_strdup (reason ? reason : (error ? error->message : ""));
  s->fatal_wire_reason = g_strdup (wire_reason ? wire_reason : "");
}

void
p2p_quic_session_apply_fatal (P2pQuicSession *s, guint64 now)
{
  P2pNgCcerr ccerr;
  gsize wire_len;
  ngtcp2_ssize n = 0;

  if (!s->fatal_set || s->state == P2P_QUIC_STATE_CLOSED || s->in_ngtcp2 > 0)
    return;

  s->state = P2P_QUIC_STATE_CLOSED;
  s->error = g_steal_pointer (&s->fatal_error);
  s->reason = g_steal_pointer (&s->fatal_reason);
  wire_len = MIN (strlen (s->fatal_wire_reason), 512);

  p2p_ng_ccerr_default (&ccerr);
  switch (s->fatal_kind) {
    case CLOSE_SILENT:
      break;
    case CLOSE_APP:
      p2p_ng_ccerr_set_application_error (&ccerr, s->fatal_code,
          (const uint8_t *) s->fatal_wire_reason, wire_len);
      break;
    case CLOSE_TLS:
      p2p_ng_ccerr_set_tls_alert (&ccerr, ngtcp2_conn_get_tls_alert (s->conn),
          (const uint8_t *) s->fatal_wire_reason, wire_len);
      break;
    case CLOSE_LIBERR:
      p2p_ng_ccerr_set_liberr (&ccerr, (int) (gint64) s->fatal_code,
          (const uint8_t *) s->fatal_wire_reason, wire_len);
      break;
  }

  if (s->fatal_kind != CLOSE_SILENT && !p2p_ng_conn_in_draining_period (s->conn) &&
      !p2p_ng_conn_in_closing_period (s->conn)) {
    s->cc_pkt = g_malloc (P2P_INTERNET_MTU);
    n = ngtcp2_conn_write_connection_close (s->conn, &s->path, NULL, s->cc_pkt,
        P2P_INTERNET_MTU, &ccerr, now);
  }
  if (n > 0) {
    s->cc_len = (gsize) n;
    s->cc_send = TRUE;
    s->closing_end = now + 3 * ngtcp2_conn_get_pto (s->conn);
  } else {
    g_clear_pointer (&s->cc_pkt, g_free);
    s->closing_end = G_MAXUINT64;
  }
}

void
p2p_quic_session_report_closed (P2pQuicSession *s)
{
  if (s->state != P2P_QUIC_STATE_CLOSED || s->closed_reported || s->in_ngtcp2 > 0)
    return;
  s->closed_reported = TRUE;
  if (s->cb.closed)
    s->cb.closed (s, s->error, s->reason ? s->reason : "", s->user_data);
}

/* The P2pError of a peer's VERSION_MISMATCH or PROTOCOL_ERROR close. */
P2pError
p2p_quic_disconnect_error_code (guint64 code)
{
  return code == P2P_DISCONNECT_VERSION_MISMATCH ? P2P_ERROR_VERSION_MISMATCH : P2P_ERROR_PROTOCOL;
}

/* Maps the peer's CONNECTION_CLOSE to our closed() arguments. */
void
p2p_quic_session_fatal_from_peer_close (P2pQuicSession *s)
{
  P2P_NG_CCERR_STORAGE;
  const P2pNgCcerr *cc = p2p_ng_conn_get_ccerr (s->conn);
  /* g_strndup (NULL, 0) is NULL: a close without a reason has cc->reason NULL */
  g_autofree char *reason = cc->reason != NULL ?
      g_strndup ((const char *) cc->reason, cc->reasonlen) : g_strdup ("");
  GError *err = NULL;

  if (!g_utf8_validate (reason, -1, NULL)) {
    g_free (reason);
    reason = g_strdup ("(reason not valid UTF-8)");
  }

  if (s->stateless_reset) {
    err = g_error_new_literal (P2P_ERROR, P2P_ERROR_CLOSED,
        "the peer no longer has this connection (it answered with a QUIC stateless reset: "
        "it restarted or dropped the connection)");
  } else if (cc->type == P2P_NG_CCERR_TYPE_APPLICATION) {
    switch (cc->error_code) {
      case P2P_DISCONNECT_NORMAL:
        break;
      case P2P_DISCONNECT_VERSION_MISMATCH:
      case P2P_DISCONNECT_PROTOCOL_ERROR:
        err = g_error_new (P2P_ERROR, p2p_quic_disconnect_error_code (cc->error_code),
            "peer closed the connection: %s", reason);
        break;
      default:
        err = g_error_new (P2P_ERROR, P2P_ERROR_CLOSED,
            "peer closed the connection (code %" G_GUINT64_FORMAT "): %s", cc->error_code,
            reason);
        break;
    }
  } else if (cc->type == P2P_NG_CCERR_TYPE_TRANSPORT) {
    if (cc->error_code >= NGTCP2_CRYPTO_ERROR && cc->error_code <= NGTCP2_CRYPTO_ERROR + 0xff) {
      err = g_error_new (P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED,
          "peer rejected the TLS handshake (TLS alert %u)%s%s",
          (guint) (cc->error_code - NGTCP2_CRYPTO_ERROR), reason[0] ? ": " : "", reason);
    } else if (cc->error_code == NGTCP2_CONNECTION_REFUSED) {
      err = g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
          "peer refused the connection%s%s", reason[0] ? ": " : "", reason);
    } else if (cc->error_code != NGTCP2_NO_ERROR) {
      err = g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL,
          "peer closed the connection with QUIC transport error 0x%" G_GINT64_MODIFIER "x%s%s",
          cc->error_code, reason[0] ? ": " : "", reason);
    }
  } else {
    err = g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL,
        "peer closed the connection (QUIC version negotiation failed)");
  }
  p2p_quic_session_set_fatal (s, CLOSE_SILENT, 0, err, reason, NULL);
}

void
p2p_quic_session_fatal_from_write (P2pQuicSession *s, ngtcp2_ssize rv)
{
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    p2p_quic_session_set_fatal (s, CLOSE_SILENT, 0, g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
            "no packet from the peer for %.1f s",
            s->cfg.idle_timeout_ns / 1e9), NULL, NULL);
    return;
  }
  p2p_quic_session_set_fatal (s, CLOSE_LIBERR, (guint64) (gint64) rv, g_error_new (P2P_ERROR,
          P2P_ERROR_PROTOCOL, "QUIC error while sending: %s", ngtcp2_strerror ((int) rv)),
      NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* graceful close */

/* Moves a graceful close forward: Disconnect once all messages are
 * acknowledged, CONNECTION_CLOSE once the Disconnect is written. */
void
p2p_quic_session_progress_close (P2pQuicSession *s)
{
  if (s->fatal_set || s->state == P2P_QUIC_STATE_CLOSED)
    return;
  if (s->close_requested && !s->disconnect_queued) {
    if (p2p_quic_session_is_open_early (s))
      return;           /* what early streams queued goes once established (or times out) */
    if (!p2p_quic_session_is_established (s)) {
      /* Nothing to flush: close right away. */
      p2p_quic_session_set_fatal (s, CLOSE_APP, s->close_code, NULL, s->close_reason_req,
          s->close_reason_req);
      return;
    }
    if (s->msg.acked >= s->msg.end || s->msg.shut) {
      GByteArray *f = g_byte_array_new ();

      p2p_frame_append_disconnect (f, s->close_code, s->close_reason_req);
      p2p_quic_session_queue_control_frame (s, f);
      s->disconnect_queued = TRUE;
      s->disconnect_end = s->control.end;
    }
  }
  if (s->disconnect_queued && (s->control.written >= s->disconnect_end || s->control.shut ||
          s->control.id < 0)) {
    GError *err = g_steal_pointer (&s->disconnect_error);

    p2p_quic_session_set_fatal (s, CLOSE_APP, s->close_code, err, s->close_reason_req,
        s->close_reason_req);
  }
}

void
p2p_quic_session_set_close_error (P2pQuicSession *s, GError **error, const char *fallback)
{
  const GError *why = s->error ? s->error : s->fatal_error;
  const char *reason = s->reason ? s->reason : s->fatal_reason;

  /* the reason when known (a refused handshake is AUTHENTICATION_FAILED:
   * a caller must not take it for a lost connection and dial again; a
   * normal close's reason is the text, as the connection's close error) */
  if (why)
    g_propagate_error (error, g_error_copy (why));
  else if (reason && *reason)
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CLOSED, reason);
  else
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CLOSED, fallback);
}

gboolean
p2p_quic_session_check_open (P2pQuicSession *s, GError **error)
{
  if (s->state == P2P_QUIC_STATE_CLOSED || s->state == P2P_QUIC_STATE_CLOSING ||
      s->close_requested || s->fatal_set) {
    p2p_quic_session_set_close_error (s, error, s->state == P2P_QUIC_STATE_CLOSED ?
        "the connection is closed" : "the connection is closing");
    return FALSE;
  }
  return TRUE;
}

void
p2p_quic_session_close (P2pQuicSession *s, guint64 code, const char *reason)
{
  g_return_if_fail (s != NULL);

  if (s->state == P2P_QUIC_STATE_CLOSED || s->close_requested || s->fatal_set)
    return;
  s->close_requested = TRUE;
  s->close_code = code;
  g_free (s->close_reason_req);
  s->close_reason_req = g_strdup (reason ? reason : "");
  if (!g_utf8_validate (s->close_reason_req, -1, NULL)) {
    g_free (s->close_reason_req);
    s->close_reason_req = g_strdup ("(invalid UTF-8 reason)");
  }
  if (s->state == P2P_QUIC_STATE_ESTABLISHED)
    s->state = P2P_QUIC_STATE_CLOSING;
  p2p_quic_session_after_io (s, s->last_now);
}

void
p2p_quic_session_close_now (P2pQuicSession *s)
{
  const char *reason;

  g_return_if_fail (s != NULL);

  reason = s->close_requested ? s->close_reason_req : "";
  p2p_quic_session_set_fatal (s, CLOSE_APP, s->close_requested ? s->close_code : 0, NULL,
      reason, reason);
  p2p_quic_session_after_io (s, s->last_now);
}

void
p2p_quic_session_abort (P2pQuicSession *s, const GError *error)
{
  guint64 code = P2P_DISCONNECT_NORMAL;

  g_return_if_fail (s != NULL);

  if (s->state == P2P_QUIC_STATE_CLOSED)
    return;
  if (error && error->domain == P2P_ERROR) {
    switch (error->code) {
      case P2P_ERROR_PROTOCOL:
        code = P2P_DISCONNECT_PROTOCOL_ERROR;
        break;
      case P2P_ERROR_LIMIT_EXCEEDED:
        code = P2P_DISCONNECT_LIMIT;
        break;
      case P2P_ERROR_AUTHENTICATION_FAILED:
        code = P2P_DISCONNECT_NOT_ALLOWED;
        break;
      default:
        code = ABORT_CODE;
        break;
    }
  } else if (error) {
    code = ABORT_CODE;
  }
  p2p_quic_session_set_fatal (s, CLOSE_APP, code, error ? g_error_copy (error) : NULL,
      error ? error->message : "aborted", error ? error->message : "aborted");
  p2p_quic_session_after_io (s, s->last_now);
}
