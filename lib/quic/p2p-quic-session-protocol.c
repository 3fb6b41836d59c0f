/* p2p-quic-session-protocol.c: the gst-p2p protocol on a QUIC session.
 * The control stream: the Handshake (version range and capabilities; no
 * common version closes with VERSION_MISMATCH), Keepalive, Disconnect, and
 * ESTABLISHED once TLS, confirmation and the peer's Handshake are in (data
 * that arrived before is delivered right after). The message stream: MESSAGE
 * framing, delivery and its flow-control credit (returned per frame header
 * when decoded, per body when the application consumed it). Datagrams: the
 * bounded queue the write scheduler drains.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-session-private.h"

#include "p2p/p2p-error.h"
#include "p2p-mtu.h"
#include "p2p-wire.h"

#define MAX_QUEUED_DATAGRAMS 256
#define SMALL_MESSAGE_COPY 4096

/* ------------------------------------------------------------------ */
/* establishment and the control stream */

gboolean
p2p_quic_session_is_established (P2pQuicSession *s)
{
  return s->state == P2P_QUIC_STATE_ESTABLISHED || s->state == P2P_QUIC_STATE_CLOSING;
}

/* The session became usable (established, or open early): its setup
 * time, taken once. */
void
p2p_quic_session_note_setup_time (P2pQuicSession *s)
{
  if (s->setup_time_ns == 0)
    s->setup_time_ns = s->last_now > s->created ? s->last_now - s->created : 1;
}

gboolean
p2p_quic_session_is_open_early (P2pQuicSession *s)
{
  return !s->is_server && s->cfg.early_streams && s->tls_done && !s->fatal_set
      && s->state == P2P_QUIC_STATE_HANDSHAKING;
}

void
p2p_quic_session_queue_control_frame (P2pQuicSession *s, GByteArray *frame)
{
  g_autoptr (GBytes) b = g_byte_array_free_to_bytes (frame);

  p2p_quic_send_stream_append (&s->control, b);
}

static void return_msg_credit (P2pQuicSession *s, guint64 n);

static void
deliver_message (P2pQuicSession *s, GBytes *body)
{
  s->messages_received++;
  if (s->cb.message) {
    s->cb.message (s, body, s->user_data);
  } else {
    p2p_quic_session_message_consumed (s, g_bytes_get_size (body), 1);
    g_bytes_unref (body);
  }
}

void
p2p_quic_session_maybe_establish (P2pQuicSession *s)
{
  GBytes *m;
  gint64 *idp;

  if (s->state != P2P_QUIC_STATE_HANDSHAKING || s->fatal_set)
    return;
  if (!s->tls_done || !s->peer_handshake || s->version_mismatch)
    return;
  if (!s->is_server && !s->confirmed)
    return;
  if (s->is_server && !s->tls.have_peer_id) {
    /* Defence in depth: TLS requires the client's key (GNUTLS_CERT_REQUIRE),
     * but never report a server session established without it. */
    p2p_quic_session_set_fatal (s, CLOSE_APP, P2P_DISCONNECT_PROTOCOL_ERROR, g_error_new (P2P_ERROR,
            P2P_ERROR_AUTHENTICATION_FAILED, "the client presented no key"), NULL,
        "client not authenticated");
    return;
  }

  s->state = P2P_QUIC_STATE_ESTABLISHED;
  p2p_quic_session_note_setup_time (s);     /* (taken already when open early) */
  if (s->close_requested)
    s->state = P2P_QUIC_STATE_CLOSING;
  if (s->cb.established)
    s->cb.established (s, s->user_data);

  /* Data that arrived early, in arrival order per kind. */
  if (s->msg_unextended > 0 && s->peer_msg_stream >= 0) {
    return_msg_credit (s, s->msg_unextended);
    s->msg_unextended = 0;
  }
  while ((m = g_queue_pop_head (&s->early_messages)) != NULL)
    deliver_message (s, m);
  while ((idp = g_queue_pop_head (&s->early_streams)) != NULL) {
    ExtraStream *es = p2p_quic_session_lookup_stream (s, *idp);
    gint64 id = *idp;

    g_free (idp);
    if (es == NULL)
      continue;
    es->announced = TRUE;
    if (s->cb.stream_opened)
      s->cb.stream_opened (s, id, s->user_data);
    es = p2p_quic_session_lookup_stream (s, id);
    if (es && (es->early_rx || es->early_fin)) {
      g_autoptr (GByteArray) data = g_steal_pointer (&es->early_rx);

      if (s->cb.stream_data)
        s->cb.stream_data (s, id, data ? data->data : NULL, data ? data->len : 0,
            es->early_fin, s->user_data);
    }
  }
}

static void
fail_protocol (P2pQuicSession *s, guint64 code, GError *error)
{
  p2p_quic_session_set_fatal (s, CLOSE_APP, code, error, NULL,
      error ? error->message : "protocol error");
}

static char *
version_range_string (guint64 min, guint64 max)
{
  if (min == max)
    return g_strdup_printf ("version %" G_GUINT64_FORMAT, max);
  return g_strdup_printf ("versions %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT, min, max);
}

static int
handle_control_frame (P2pQuicSession *s, guint64 type, GBytes *body)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (body, &len);
  GError *err = NULL;

  if (!s->peer_handshake && type != P2P_FRAME_HANDSHAKE && type != P2P_FRAME_DISCONNECT) {
    fail_protocol (s, P2P_DISCONNECT_PROTOCOL_ERROR, g_error_new (P2P_ERROR,
            P2P_ERROR_PROTOCOL, "the peer sent control frame 0x%" G_GINT64_MODIFIER
            "x before its Handshake", type));
    return -1;
  }

  switch (type) {
    case P2P_FRAME_HANDSHAKE:{
      guint64 pmin, pmax, caps;
      guint64 omin = s->cfg.protocol_version_min, omax = s->cfg.protocol_version;
      guint64 common;

      if (s->peer_handshake) {
        fail_protocol (s, P2P_DISCONNECT_PROTOCOL_ERROR, g_error_new_literal (P2P_ERROR,
                P2P_ERROR_PROTOCOL, "the peer sent a second Handshake frame"));
        return -1;
      }
      if (!p2p_frame_parse_handshake_range (data, len, &pmin, &pmax, &caps, &err)) {
        fail_protocol (s, P2P_DISCONNECT_PROTOCOL_ERROR, err);
        return -1;
      }
      s->peer_handshake = TRUE;
      common = MIN (omax, pmax);
      if (common < MAX (omin, pmin)) {
        /* Named by role, so that the text reads the same on both sides. */
        g_autofree char *ours = version_range_string (omin, omax);
        g_autofree char *theirs = version_range_string (pmin, pmax);
        g_autofree char *msg = g_strdup_printf ("no common gst-p2p protocol version: "
            "the dialer speaks %s, the listener speaks %s", s->is_server ? theirs : ours,
            s->is_server ? ours : theirs);
        g_autoptr (GByteArray) f = g_byte_array_new ();

        s->version_mismatch = TRUE;
        p2p_frame_append_disconnect (f, P2P_DISCONNECT_VERSION_MISMATCH, msg);
        p2p_quic_session_queue_control_frame (s, g_steal_pointer (&f));
        s->disconnect_queued = TRUE;
        s->disconnect_end = s->control.end;
        s->close_code = P2P_DISCONNECT_VERSION_MISMATCH;
        g_free (s->close_reason_req);
        s->close_reason_req = g_strdup (msg);
        /* The CONNECTION_CLOSE follows once the Disconnect is written. */
        g_clear_error (&s->disconnect_error);
        s->disconnect_error = g_error_new (P2P_ERROR, P2P_ERROR_VERSION_MISMATCH, "%s", msg);
        return 0;
      }
      /* Both compute the same: the highest version in both ranges. */
      s->version = common;
      s->peer_capabilities = caps;
      if (s->is_server) {
        GByteArray *f = g_byte_array_new ();

        p2p_frame_append_handshake_range (f, omin, omax, s->cfg.capabilities);
        p2p_quic_session_queue_control_frame (s, f);
      }
      break;
    }
    case P2P_FRAME_KEEPALIVE:
      break;
    case P2P_FRAME_DISCONNECT:{
      guint64 code;
      g_autofree char *reason = NULL;

      if (!p2p_frame_parse_disconnect (data, len, &code, &reason, &err)) {
        fail_protocol (s, P2P_DISCONNECT_PROTOCOL_ERROR, err);
        return -1;
      }
      switch (code) {
        case P2P_DISCONNECT_NORMAL:
          break;
        case P2P_DISCONNECT_VERSION_MISMATCH:
        case P2P_DISCONNECT_PROTOCOL_ERROR:
          err = g_error_new (P2P_ERROR, p2p_quic_disconnect_error_code (code),
              "peer closed the connection: %s", reason);
          break;
        default:
          err = g_error_new (P2P_ERROR, P2P_ERROR_CLOSED,
              "peer closed the connection (code %" G_GUINT64_FORMAT "): %s", code, reason);
          break;
      }
      /* Answer with our own CONNECTION_CLOSE: the peer's may be lost. */
      p2p_quic_session_set_fatal (s, CLOSE_APP, P2P_DISCONNECT_NORMAL, err, reason, "");
      break;
    }
    default:
      /* unknown control frames are ignored (forward compatibility) */
      break;
  }
  return 0;
}

int
p2p_quic_session_on_control_data (P2pQuicSession *s, const guint8 *data, gsize len)
{
  guint64 type;
  GBytes *body;
  GError *err = NULL;

  p2p_frame_decoder_push (s->control_dec, data, len);
  while (!s->fatal_set && p2p_frame_decoder_next (s->control_dec, &type, &body, &err)) {
    int rv = handle_control_frame (s, type, body);

    g_bytes_unref (body);
    if (rv < 0)
      return -1;
  }
  if (err) {
    fail_protocol (s, P2P_DISCONNECT_PROTOCOL_ERROR, err);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* the message stream */

/* Returns @n bytes of flow-control credit of the peer's message stream. */
static void
return_msg_credit (P2pQuicSession *s, guint64 n)
{
  if (n == 0 || s->peer_msg_stream < 0 || s->state == P2P_QUIC_STATE_CLOSED)
    return;
  ngtcp2_conn_extend_max_stream_offset (s->conn, s->peer_msg_stream, n);
  ngtcp2_conn_extend_max_offset (s->conn, n);
}

/* How many messages may wait unread: the window's worth at 32 bytes each
 * (their memory, ~64 bytes of bookkeeping each, then stays within about
 * three windows), at least 65536. */
static guint64
max_unread (P2pQuicSession *s)
{
  return MAX ((guint64) s->cfg.recv_window / 32, 65536);
}

int
p2p_quic_session_on_message_data (P2pQuicSession *s, const guint8 *data, gsize len)
{
  guint64 type;
  GBytes *body;
  GError *err = NULL;

  p2p_frame_decoder_push (s->msg_dec, data, len);
  while (p2p_frame_decoder_next (s->msg_dec, &type, &body, &err)) {
    gsize blen = g_bytes_get_size (body);
    guint64 credit = p2p_wire_varint_len (type) + p2p_wire_varint_len (blen);

    if (type != P2P_FRAME_MESSAGE) {
      credit += blen;
    } else if (++s->msg_unconsumed_n > max_unread (s)) {
      g_bytes_unref (body);
      fail_protocol (s, P2P_DISCONNECT_LIMIT, g_error_new (P2P_ERROR,
              P2P_ERROR_LIMIT_EXCEEDED, "more than %" G_GUINT64_FORMAT
              " messages sent to a receiver that did not read them", max_unread (s)));
      return -1;
    } else {
      s->msg_unconsumed += blen;
    }
    if (p2p_quic_session_is_established (s))
      return_msg_credit (s, credit);
    else
      s->msg_unextended += credit;
    if (type != P2P_FRAME_MESSAGE) {
      g_bytes_unref (body);     /* unknown frame types are ignored */
      continue;
    }
    if (p2p_quic_session_is_established (s))
      deliver_message (s, body);
    else
      g_queue_push_tail (&s->early_messages, body);
  }
  if (err) {
    GError *e = g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL,
        "malformed message stream from the peer: %s", err->message);

    g_error_free (err);
    fail_protocol (s, P2P_DISCONNECT_PROTOCOL_ERROR, e);
    return -1;
  }
  return 0;
}

gboolean
p2p_quic_session_send_message (P2pQuicSession *s, GBytes *message, GError **error)
{
  gsize len;
  g_autoptr (GByteArray) hdr = NULL;

  g_return_val_if_fail (s != NULL, FALSE);
  g_return_val_if_fail (message != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  len = g_bytes_get_size (message);
  if (len > P2P_MAX_MESSAGE_SIZE) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "message of %" G_GSIZE_FORMAT " bytes is larger than the maximum of %u bytes: "
        "split it or use a stream", len, (guint) P2P_MAX_MESSAGE_SIZE);
    return FALSE;
  }
  if (!p2p_quic_session_check_open (s, error))
    return FALSE;

  hdr = g_byte_array_sized_new (16 + (len <= SMALL_MESSAGE_COPY ? len : 0));
  p2p_varint_append (hdr, P2P_FRAME_MESSAGE);
  p2p_varint_append (hdr, len);
  if (len <= SMALL_MESSAGE_COPY) {
    g_autoptr (GBytes) b = NULL;

    g_byte_array_append (hdr, g_bytes_get_data (message, NULL), len);
    b = g_byte_array_free_to_bytes (g_steal_pointer (&hdr));
    p2p_quic_send_stream_append (&s->msg, b);
  } else {
    g_autoptr (GBytes) h = g_byte_array_free_to_bytes (g_steal_pointer (&hdr));

    p2p_quic_send_stream_append (&s->msg, h);
    p2p_quic_send_stream_append (&s->msg, message);
  }
  s->messages_sent++;
  /* (cfg's watermark is the least the grown one can be: the congestion
   * statistics are copied only when the queue is that long) */
  if (s->msg.end - s->msg.acked >= s->cfg.send_queue_high
      && s->msg.end - s->msg.acked >= p2p_quic_session_get_send_queue_high (s))
    s->was_above_high = TRUE;
  return TRUE;
}

void
p2p_quic_session_message_consumed (P2pQuicSession *s, gsize len, guint n)
{
  g_return_if_fail (s != NULL);

  len = (gsize) MIN ((guint64) len, s->msg_unconsumed);
  s->msg_unconsumed -= len;
  s->msg_unconsumed_n -= MIN ((guint64) n, s->msg_unconsumed_n);
  if (p2p_quic_session_is_established (s))
    return_msg_credit (s, len);
  else
    s->msg_unextended += len;
}

gsize
p2p_quic_session_get_send_queued (P2pQuicSession *s)
{
  g_return_val_if_fail (s != NULL, 0);

  return (gsize) (s->msg.end - s->msg.acked);
}

/* With the default setting the watermark grows with the path: what was
 * sent stays queued until everything before it is acknowledged, so one
 * lost packet holds about 2 RTT of sending in the queue; a fixed 4 MiB
 * capped a 50 ms path with 0.5 % loss at about 240 Mbit/s (as the
 * kernel's 4 MiB tcp_wmem caps TCP there), 4 congestion windows (at most
 * 32 MiB) let it reach 320-390 (docs/performance.md). A short path keeps
 * 4 MiB. A watermark set in the configuration stays as set. */
gsize
p2p_quic_session_get_send_queue_high (P2pQuicSession *s)
{
  ngtcp2_conn_stat cs;

  g_return_val_if_fail (s != NULL, 0);

  if (s->cfg.send_queue_high != DEFAULT_SEND_QUEUE_HIGH || s->conn == NULL)
    return s->cfg.send_queue_high;
  ngtcp2_conn_get_conn_stat (s->conn, &cs);
  return (gsize) CLAMP (4 * cs.cwnd, (guint64) DEFAULT_SEND_QUEUE_HIGH,
      (guint64) MAX_SEND_QUEUE_HIGH);
}

/* ------------------------------------------------------------------ */
/* datagrams */

gsize
p2p_quic_session_get_max_datagram_size (P2pQuicSession *s)
{
  const ngtcp2_transport_params *rp;
  gsize udp, by_frame, by_udp;

  g_return_val_if_fail (s != NULL, 0);

  if (!s->cfg.enable_datagrams || !s->tls_done || s->state == P2P_QUIC_STATE_CLOSED)
    return 0;
  rp = ngtcp2_conn_get_remote_transport_params (s->conn);
  if (rp == NULL || rp->max_datagram_frame_size == 0)
    return 0;
  if (s->cfg.max_udp_payload > P2P_INTERNET_MTU)
    udp = s->cfg.max_udp_payload;
  else
    udp = MIN (ngtcp2_conn_get_path_max_tx_udp_payload_size (s->conn), s->cfg.max_udp_payload);
  udp = MIN (udp, rp->max_udp_payload_size);
  by_udp = udp > DATAGRAM_OVERHEAD ? udp - DATAGRAM_OVERHEAD : 0;
  by_frame = rp->max_datagram_frame_size > 9 ? rp->max_datagram_frame_size - 9 : 0;
  return MIN (by_udp, by_frame);
}

gboolean
p2p_quic_session_send_datagram (P2pQuicSession *s, const guint8 *data, gsize len, GError **error)
{
  gsize max;

  g_return_val_if_fail (s != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!p2p_quic_session_check_open (s, error))
    return FALSE;
  max = p2p_quic_session_get_max_datagram_size (s);
  if (max == 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED, "%s",
        !s->cfg.enable_datagrams ? "datagrams are disabled on this connection"
        : !s->tls_done ? "datagrams can be sent once the connection is established"
        : "the peer does not accept datagrams");
    return FALSE;
  }
  if (len > max) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "datagram of %" G_GSIZE_FORMAT " bytes is larger than the maximum of %" G_GSIZE_FORMAT
        " bytes on this path", len, max);
    return FALSE;
  }
  if (g_queue_get_length (&s->datagrams) >= MAX_QUEUED_DATAGRAMS) {
    s->datagrams_dropped++;
    return TRUE;                /* unreliable: a full queue drops (counted) */
  }
  g_queue_push_tail (&s->datagrams, g_bytes_new (data, len));
  return TRUE;
}
