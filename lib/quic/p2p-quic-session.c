/* p2p-quic-session.c: the sans-I/O QUIC session (ngtcp2 0.12 + gnutls) with
 * Ed25519 raw-public-key authentication and the gst-p2p protocol on top.
 *
 * QUIC session design
 * -------------------
 * - I/O: datagrams and `now` (ns) in, datagrams and the next deadline out.
 *   ngtcp2 wants an ngtcp2_path with socket addresses; the session is
 *   address-agnostic (the owner's packet path decides where packets go), so
 *   every packet uses the same fixed dummy path 127.0.0.1:1 -> 127.0.0.1:2
 *   on both sides and active migration is disabled.
 * - TLS: TLS 1.3 only, ALPN "gst-p2p/1" mandatory, raw public keys (RFC 7250)
 *   both ways; the key is the identity's Ed25519 key (p2p-quic-tls.c). A
 *   verify function on
 *   the credentials reads the peer's key: the client compares it with the
 *   peer ID it dialed, the server learns the client's peer ID and checks the
 *   allow-list. A mismatch fails the TLS handshake with an alert: this side
 *   closes with AUTHENTICATION_FAILED, and the peer maps the CRYPTO_ERROR
 *   CONNECTION_CLOSE it receives to AUTHENTICATION_FAILED too. A client
 *   counts itself authenticated only at handshake_confirmed (HANDSHAKE_DONE),
 *   because in TLS 1.3 it finishes before the server checked its key.
 * - Protocol: the client's bidirectional stream 0 is the control stream
 *   (Handshake{version, capabilities, min_version}, Disconnect{code,
 *   reason}; Keepalive is accepted and ignored, keepalives are QUIC PINGs);
 *   each side's first unidirectional stream carries MESSAGE frames; other
 *   bidirectional streams are raw "extra" streams; RFC 9221 datagrams.
 *   ESTABLISHED = TLS done (+ confirmed on the client) + the peer's Handshake
 *   frame received with a version range that overlaps ours (the session
 *   uses the highest common version; none: both sides close with
 *   VERSION_MISMATCH naming both ranges). Nothing (messages, stream data,
 *   datagrams) is delivered to the application before; data that arrives
 *   early is held and delivered right after established().
 * - Sending: ngtcp2 needs stream data to stay valid until acknowledged, so
 *   each send stream is a queue of GBytes chunks with stream offsets, a
 *   write cursor and an acked offset (acked_stream_data_offset frees them).
 *   Messages are referenced, not copied, when large. The write loop takes
 *   the control stream first, then queued datagrams (live media must not
 *   wait behind bulk data; their queue is bounded), then the message stream
 *   and extra streams (round robin), coalescing with the MORE flags; one UDP datagram
 *   per call; bursts are limited to the send quantum for pacing.
 * - Closing: every fatal condition is recorded first (callbacks may run
 *   inside ngtcp2 calls, where ngtcp2 must not be re-entered) and applied at
 *   the next safe point: a CONNECTION_CLOSE packet is built once and re-sent
 *   for each packet received during the closing period (3 PTO), and closed()
 *   is called exactly once, never from inside an ngtcp2 call.
 * - Loss statistics: ngtcp2 0.12 exposes no per-connection lost-packet
 *   counter; packets_lost = packets carrying STREAM frames declared lost
 *   (ngtcp2_conn_get_stream_loss_count summed over our streams) plus lost
 *   DATAGRAM packets; packets_retransmitted = the stream part (their data is
 *   retransmitted). Lost ACK-only packets are not counted.
 *
 * The owner must not free the session from inside one of its callbacks.
 * After closed(), keep calling write() (it returns the CONNECTION_CLOSE)
 * until get_deadline() returns G_MAXUINT64, or free it at any time.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-quic-session.h"

#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sodium.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "p2p/p2p-error.h"
#include "p2p/p2p-frame.h"
#include "p2p-ngtcp2-compat.h"
#include "p2p-quic-tls.h"
#include "p2p-mtu.h"

#define DEFAULT_IDLE_TIMEOUT_NS (30 * G_GUINT64_CONSTANT (1000000000))
#define DEFAULT_SEND_QUEUE_HIGH (4 * 1024 * 1024)
#define DEFAULT_RECV_WINDOW (8 * 1024 * 1024)
#define MIN_RECV_WINDOW (P2P_MAX_MESSAGE_SIZE + 64 * 1024)
#define MAX_QUEUED_DATAGRAMS 256
/* short header (1) + DCID (<= 20) + packet number (<= 4) + AEAD tag (16) +
 * DATAGRAM frame type (1) + length varint (<= 8) */
#define DATAGRAM_OVERHEAD (1 + 20 + 4 + 16 + 1 + 8)
#define MAX_DATAGRAM_FRAME_SIZE 65535
#define CONN_WINDOW (32 * 1024 * 1024)
#define STREAM_WINDOW (16 * 1024 * 1024)
#define MAX_STREAMS 100
/* RESET_STREAM/STOP_SENDING code of a peer-opened stream refused because
 * too many are waiting to be accepted */
#define STREAM_REFUSED_CODE 0x101
#define SMALL_MESSAGE_COPY 4096
#define MAX_VECS 16
/* Disconnect / CONNECTION_CLOSE code of an abort for a reason without a
 * P2pDisconnectCode: the peer reports P2P_ERROR_CLOSED with the reason. */
#define ABORT_CODE 0x100

typedef struct {
  GBytes *bytes;
  guint64 offset;               /* stream offset of the first byte */
} Chunk;

typedef struct {
  gint64 id;                    /* -1 until opened */
  GQueue chunks;                /* Chunk*, not yet fully acknowledged */
  GList *cursor;                /* first chunk with unwritten bytes */
  guint64 written;              /* next stream offset to hand to ngtcp2 */
  guint64 end;                  /* offset after the last queued byte */
  guint64 acked;                /* contiguous acknowledged offset */
  gboolean fin_queued, fin_written;
  gboolean shut;                /* write side gone (reset / STOP_SENDING) */
  guint blocked_gen;            /* flow-control blocked in this write round */
} SendStream;

typedef struct {
  SendStream tx;
  gboolean local;
  gboolean announced;           /* stream_opened() delivered (remote streams) */
  gboolean accepted;            /* remote stream given the full window */
  gboolean refused;             /* remote stream over max_unaccepted_streams */
  gboolean want_writable;
  gboolean reset_reported;
  gboolean in_ready;
  GByteArray *early_rx;         /* data that arrived before ESTABLISHED */
  gboolean early_fin;
} ExtraStream;

typedef enum {
  CLOSE_SILENT,                 /* no CONNECTION_CLOSE (idle, draining) */
  CLOSE_APP,                    /* application CONNECTION_CLOSE (code) */
  CLOSE_TLS,                    /* transport CRYPTO_ERROR from the TLS alert */
  CLOSE_LIBERR,                 /* transport error inferred from an ngtcp2 error */
} CloseKind;

struct _P2pQuicSession {
  gboolean is_server;
  P2pQuicState state;
  P2pQuicSessionConfig cfg;
  P2pQuicSessionCallbacks cb;
  gpointer user_data;
  P2pIdentity *identity;

  ngtcp2_conn *conn;
  ngtcp2_crypto_conn_ref conn_ref;
  P2pQuicTls tls;               /* TLS session and the peer's key check */
  struct sockaddr_in local_sa, remote_sa;
  ngtcp2_path path;
  int in_ngtcp2;                /* depth of ngtcp2 calls (callbacks may run) */
  gboolean in_after_io, after_io_again;

  guint64 created;
  guint64 last_now;
  guint64 last_rx;              /* last packet read without error */
  guint64 inflight_since;       /* data in flight since (0 = none) */
  guint64 setup_time_ns;
  gboolean tls_done, confirmed, peer_handshake;
  gboolean version_mismatch;
  guint64 version;              /* negotiated, 0 = not yet */
  guint64 peer_capabilities;

  SendStream control;
  SendStream msg;
  P2pFrameDecoder *control_dec;
  P2pFrameDecoder *msg_dec;
  gint64 peer_msg_stream;       /* the peer's message stream id */
  GQueue early_messages;        /* GBytes*, received before ESTABLISHED */
  guint64 msg_unextended;       /* frame overhead received before ESTABLISHED, credit not yet returned */
  guint64 msg_unconsumed;       /* message body bytes delivered/held, credit not yet returned */
  gboolean was_above_high;
  gboolean writable_pending;

  GHashTable *streams;          /* gint64* -> ExtraStream* */
  GQueue ready;                 /* ExtraStream* with data to write */
  GQueue early_streams;         /* gint64 ids opened by the peer before ESTABLISHED */
  guint n_unaccepted;           /* peer-opened extra streams neither accepted nor refused */
  GQueue refuse;                /* gint64 ids to refuse at the next safe point */
  guint64 streams_refused;

  GQueue datagrams;             /* GBytes* */
  guint64 next_dgram_id;

  guint write_gen;
  gsize burst_bytes;

  /* graceful close */
  gboolean close_requested;
  guint64 close_code;
  char *close_reason_req;
  gboolean disconnect_queued;
  guint64 disconnect_end;
  GError *disconnect_error;     /* our closed() error once the Disconnect is out */

  /* pending fatal condition (applied at a safe point) */
  gboolean fatal_set;
  CloseKind fatal_kind;
  guint64 fatal_code;
  GError *fatal_error;
  char *fatal_reason;
  char *fatal_wire_reason;      /* reason phrase in the CONNECTION_CLOSE */

  /* closed */
  GError *error;
  char *reason;
  gboolean closed_reported;
  guint8 *cc_pkt;
  gsize cc_len;
  gboolean cc_send;
  guint64 closing_end;

  /* stats */
  guint64 bytes_sent, bytes_received, packets_sent, packets_received;
  guint64 packets_dropped;
  guint64 stream_losses_closed;
  guint64 datagrams_lost;
  guint64 datagrams_sent, datagrams_received, datagrams_dropped;
  guint64 messages_sent, messages_received;
};

/* ------------------------------------------------------------------ */
/* send streams */

static void
chunk_free (gpointer data)
{
  Chunk *c = data;

  g_bytes_unref (c->bytes);
  g_free (c);
}

static void
send_stream_init (SendStream *st)
{
  st->id = -1;
  g_queue_init (&st->chunks);
}

static void
send_stream_clear (SendStream *st)
{
  g_queue_clear_full (&st->chunks, chunk_free);
  st->cursor = NULL;
}

static void
send_stream_append (SendStream *st, GBytes *bytes)
{
  Chunk *c;
  gsize len = g_bytes_get_size (bytes);

  if (len == 0)
    return;
  c = g_new0 (Chunk, 1);
  c->bytes = g_bytes_ref (bytes);
  c->offset = st->end;
  g_queue_push_tail (&st->chunks, c);
  st->end += len;
  if (st->cursor == NULL)
    st->cursor = st->chunks.tail;
}

static gboolean
send_stream_has_data (const SendStream *st)
{
  return st->id >= 0 && !st->shut &&
      (st->written < st->end || (st->fin_queued && !st->fin_written));
}

/* Fills @vec from the write cursor; returns the count. */
static gsize
send_stream_vecs (SendStream *st, ngtcp2_vec *vec, gsize max, gboolean *all)
{
  gsize n = 0;
  GList *l;

  for (l = st->cursor; l != NULL && n < max; l = l->next) {
    Chunk *c = l->data;
    gsize size;
    const guint8 *data = g_bytes_get_data (c->bytes, &size);
    guint64 skip = st->written > c->offset ? st->written - c->offset : 0;

    vec[n].base = (uint8_t *) data + skip;
    vec[n].len = size - skip;
    n++;
  }
  *all = (l == NULL);
  return n;
}

static void
send_stream_advance (SendStream *st, gsize len)
{
  st->written += len;
  while (st->cursor != NULL) {
    Chunk *c = st->cursor->data;

    if (c->offset + g_bytes_get_size (c->bytes) > st->written)
      break;
    st->cursor = st->cursor->next;
  }
}

static void
send_stream_ack (SendStream *st, guint64 upto)
{
  if (upto > st->acked)
    st->acked = upto;
  while (!g_queue_is_empty (&st->chunks)) {
    Chunk *c = g_queue_peek_head (&st->chunks);

    if (c->offset + g_bytes_get_size (c->bytes) > st->acked)
      break;
    if (st->cursor == st->chunks.head)
      st->cursor = st->cursor->next;
    chunk_free (g_queue_pop_head (&st->chunks));
  }
}

static void
extra_stream_free (gpointer data)
{
  ExtraStream *es = data;

  send_stream_clear (&es->tx);
  if (es->early_rx)
    g_byte_array_unref (es->early_rx);
  g_free (es);
}

static ExtraStream *
extra_stream_new (P2pQuicSession *s, gint64 id, gboolean local)
{
  ExtraStream *es = g_new0 (ExtraStream, 1);
  gint64 *key = g_new (gint64, 1);

  send_stream_init (&es->tx);
  es->tx.id = id;
  es->local = local;
  *key = id;
  g_hash_table_insert (s->streams, key, es);
  return es;
}

static ExtraStream *
lookup_stream (P2pQuicSession *s, gint64 id)
{
  return g_hash_table_lookup (s->streams, &id);
}

static SendStream *
lookup_send_stream (P2pQuicSession *s, gint64 id)
{
  ExtraStream *es;

  if (id < 0)
    return NULL;
  if (id == s->control.id)
    return &s->control;
  if (id == s->msg.id)
    return &s->msg;
  es = lookup_stream (s, id);
  return es ? &es->tx : NULL;
}

static void
ready_add (P2pQuicSession *s, ExtraStream *es)
{
  if (!es->in_ready && send_stream_has_data (&es->tx)) {
    es->in_ready = TRUE;
    g_queue_push_tail (&s->ready, es);
  }
}

static void
ready_remove (P2pQuicSession *s, ExtraStream *es)
{
  if (es->in_ready) {
    g_queue_remove (&s->ready, es);
    es->in_ready = FALSE;
  }
}

/* ------------------------------------------------------------------ */
/* closing */

static void
set_fatal (P2pQuicSession *s, CloseKind kind, guint64 code, GError *error,
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

static void
apply_fatal (P2pQuicSession *s, guint64 now)
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

static void
report_closed (P2pQuicSession *s)
{
  if (s->state != P2P_QUIC_STATE_CLOSED || s->closed_reported || s->in_ngtcp2 > 0)
    return;
  s->closed_reported = TRUE;
  if (s->cb.closed)
    s->cb.closed (s, s->error, s->reason ? s->reason : "", s->user_data);
}

/* The P2pError of a peer's VERSION_MISMATCH or PROTOCOL_ERROR close. */
static P2pError
disconnect_error_code (guint64 code)
{
  return code == P2P_DISCONNECT_VERSION_MISMATCH ? P2P_ERROR_VERSION_MISMATCH : P2P_ERROR_PROTOCOL;
}

/* "version 1" or "versions 1 to 3" */
static char *
version_range_string (guint64 min, guint64 max)
{
  if (min == max)
    return g_strdup_printf ("version %" G_GUINT64_FORMAT, max);
  return g_strdup_printf ("versions %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT, min, max);
}

/* Maps the peer's CONNECTION_CLOSE to our closed() arguments. */
static void
fatal_from_peer_close (P2pQuicSession *s)
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

  if (cc->type == P2P_NG_CCERR_TYPE_APPLICATION) {
    switch (cc->error_code) {
      case P2P_DISCONNECT_NORMAL:
        break;
      case P2P_DISCONNECT_VERSION_MISMATCH:
      case P2P_DISCONNECT_PROTOCOL_ERROR:
        err = g_error_new (P2P_ERROR, disconnect_error_code (cc->error_code),
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
    } else if (cc->error_code != NGTCP2_NO_ERROR) {
      err = g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL,
          "peer closed the connection with QUIC transport error 0x%" G_GINT64_MODIFIER "x%s%s",
          cc->error_code, reason[0] ? ": " : "", reason);
    }
  } else {
    err = g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL,
        "peer closed the connection (QUIC version negotiation failed)");
  }
  set_fatal (s, CLOSE_SILENT, 0, err, reason, NULL);
}

/* ------------------------------------------------------------------ */
/* protocol */

static gboolean
is_established (P2pQuicSession *s)
{
  return s->state == P2P_QUIC_STATE_ESTABLISHED || s->state == P2P_QUIC_STATE_CLOSING;
}

static void
queue_control_frame (P2pQuicSession *s, GByteArray *frame)
{
  g_autoptr (GBytes) b = g_byte_array_free_to_bytes (frame);

  send_stream_append (&s->control, b);
}

static void return_msg_credit (P2pQuicSession *s, guint64 n);

static void
deliver_message (P2pQuicSession *s, GBytes *body)
{
  s->messages_received++;
  if (s->cb.message) {
    s->cb.message (s, body, s->user_data);
  } else {
    p2p_quic_session_message_consumed (s, g_bytes_get_size (body));
    g_bytes_unref (body);
  }
}

static void
maybe_establish (P2pQuicSession *s)
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
    set_fatal (s, CLOSE_APP, P2P_DISCONNECT_PROTOCOL_ERROR, g_error_new (P2P_ERROR,
            P2P_ERROR_AUTHENTICATION_FAILED, "the client presented no key"), NULL,
        "client not authenticated");
    return;
  }

  s->state = P2P_QUIC_STATE_ESTABLISHED;
  s->setup_time_ns = s->last_now > s->created ? s->last_now - s->created : 1;
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
    ExtraStream *es = lookup_stream (s, *idp);
    gint64 id = *idp;

    g_free (idp);
    if (es == NULL)
      continue;
    es->announced = TRUE;
    if (s->cb.stream_opened)
      s->cb.stream_opened (s, id, s->user_data);
    es = lookup_stream (s, id);
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
  set_fatal (s, CLOSE_APP, code, error, NULL, error ? error->message : "protocol error");
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
        queue_control_frame (s, g_steal_pointer (&f));
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
        queue_control_frame (s, f);
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
          err = g_error_new (P2P_ERROR, disconnect_error_code (code),
              "peer closed the connection: %s", reason);
          break;
        default:
          err = g_error_new (P2P_ERROR, P2P_ERROR_CLOSED,
              "peer closed the connection (code %" G_GUINT64_FORMAT "): %s", code, reason);
          break;
      }
      /* Answer with our own CONNECTION_CLOSE: the peer's may be lost. */
      set_fatal (s, CLOSE_APP, P2P_DISCONNECT_NORMAL, err, reason, "");
      break;
    }
    default:
      /* unknown control frames are ignored (forward compatibility) */
      break;
  }
  return 0;
}

static int
on_control_data (P2pQuicSession *s, const guint8 *data, gsize len)
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

static guint
varint_size (guint64 v)
{
  return v < 64 ? 1 : v < 16384 ? 2 : v < (G_GUINT64_CONSTANT (1) << 30) ? 4 : 8;
}

/* Returns @n bytes of flow-control credit of the peer's message stream. */
static void
return_msg_credit (P2pQuicSession *s, guint64 n)
{
  if (n == 0 || s->peer_msg_stream < 0 || s->state == P2P_QUIC_STATE_CLOSED)
    return;
  ngtcp2_conn_extend_max_stream_offset (s->conn, s->peer_msg_stream, n);
  ngtcp2_conn_extend_max_offset (s->conn, n);
}

static int
on_message_data (P2pQuicSession *s, const guint8 *data, gsize len)
{
  guint64 type;
  GBytes *body;
  GError *err = NULL;

  p2p_frame_decoder_push (s->msg_dec, data, len);
  while (p2p_frame_decoder_next (s->msg_dec, &type, &body, &err)) {
    gsize blen = g_bytes_get_size (body);
    guint64 credit = varint_size (type) + varint_size (blen);

    if (type != P2P_FRAME_MESSAGE)
      credit += blen;
    else
      s->msg_unconsumed += blen;
    if (is_established (s))
      return_msg_credit (s, credit);
    else
      s->msg_unextended += credit;
    if (type != P2P_FRAME_MESSAGE) {
      g_bytes_unref (body);     /* unknown frame types are ignored */
      continue;
    }
    if (is_established (s))
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

/* ------------------------------------------------------------------ */
/* ngtcp2 callbacks */

static void
rand_cb (uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx)
{
  randombytes_buf (dest, destlen);
}

static int
get_new_connection_id_cb (ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
    void *user_data)
{
  randombytes_buf (cid->data, cidlen);
  cid->datalen = cidlen;
  randombytes_buf (token, NGTCP2_STATELESS_RESET_TOKENLEN);
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
    return on_control_data (s, data, datalen) < 0 ? NGTCP2_ERR_CALLBACK_FAILURE : 0;
  }
  if (stream_id == s->peer_msg_stream) {
    /* Credit is returned per frame: its header (and unknown frames) when
     * decoded, a message body when the application consumed it. */
    return on_message_data (s, data, datalen) < 0 ? NGTCP2_ERR_CALLBACK_FAILURE : 0;
  }
  es = lookup_stream (s, stream_id);
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
  SendStream *st = lookup_send_stream (s, stream_id);

  if (st == NULL)
    return 0;
  send_stream_ack (st, offset + datalen);
  if (st == &s->msg) {
    if (s->was_above_high && st->end - st->acked < s->cfg.send_queue_high / 2) {
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
  es = extra_stream_new (s, stream_id, FALSE);
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
  if (is_established (s)) {
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
  ExtraStream *es = lookup_stream (s, stream_id);

  if (es)
    report_stream_reset (s, es, app_error_code);
  return 0;
}

static int
stream_stop_sending_cb (ngtcp2_conn *conn, int64_t stream_id, uint64_t app_error_code,
    void *user_data, void *stream_user_data)
{
  P2pQuicSession *s = user_data;
  ExtraStream *es = lookup_stream (s, stream_id);

  if (es) {
    es->tx.shut = TRUE;
    ready_remove (s, es);
    report_stream_reset (s, es, app_error_code);
  }
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
  es = lookup_stream (s, stream_id);
  if (es == NULL)
    return 0;
  if (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)
    report_stream_reset (s, es, app_error_code);
  if (!es->local && !es->accepted && !es->refused)
    s->n_unaccepted--;
  ready_remove (s, es);
  g_hash_table_remove (s->streams, &stream_id);
  return 0;
}

static int
recv_datagram_cb (ngtcp2_conn *conn, uint32_t flags, const uint8_t *data, size_t datalen,
    void *user_data)
{
  P2pQuicSession *s = user_data;

  if (!is_established (s)) {
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

static ngtcp2_conn *
get_conn_cb (ngtcp2_crypto_conn_ref *ref)
{
  P2pQuicSession *s = ref->user_data;

  return s->conn;
}

P2pQuicTls *
p2p_quic_tls_from_ref (ngtcp2_crypto_conn_ref *ref)
{
  P2pQuicSession *s = ref->user_data;

  return &s->tls;
}

static gboolean
tls_setup (P2pQuicSession *s, GError **error)
{
  s->conn_ref.get_conn = get_conn_cb;
  s->conn_ref.user_data = s;
  s->tls.is_server = s->is_server;
  s->tls.ignore_client_key = s->is_server && s->cfg.test_ignore_client_key;
  return p2p_quic_tls_init (&s->tls, s->identity, &s->conn_ref, error);
}

/* ------------------------------------------------------------------ */
/* creation */

void
p2p_quic_session_config_init (P2pQuicSessionConfig *cfg)
{
  g_return_if_fail (cfg != NULL);

  memset (cfg, 0, sizeof (*cfg));
  cfg->idle_timeout_ns = DEFAULT_IDLE_TIMEOUT_NS;
  cfg->max_udp_payload = P2P_INTERNET_MTU;
  cfg->send_queue_high = DEFAULT_SEND_QUEUE_HIGH;
  cfg->protocol_version = P2P_PROTOCOL_VERSION;
  cfg->protocol_version_min = P2P_PROTOCOL_VERSION_MIN;
  cfg->capabilities = P2P_CAPABILITIES_LOCAL;
  cfg->enable_datagrams = TRUE;
  cfg->recv_window = DEFAULT_RECV_WINDOW;
}

void
p2p_quic_session_config_init_from (P2pQuicSessionConfig *cfg, const P2pConfig *config)
{
  g_return_if_fail (cfg != NULL);
  g_return_if_fail (config != NULL);

  p2p_quic_session_config_init (cfg);
  cfg->idle_timeout_ns = (guint64) config->idle_timeout_ms * 1000000;
  cfg->keepalive_ns = (guint64) config->keepalive_ms * 1000000;
  cfg->liveness_timeout_ns = (guint64) config->liveness_timeout_ms * 1000000;
  cfg->max_udp_payload = 0;
}

static P2pQuicSession *
session_alloc (P2pIdentity *identity, gboolean is_server, const P2pQuicSessionConfig *cfg,
    const P2pQuicSessionCallbacks *cb, gpointer user_data, guint64 now)
{
  P2pQuicSession *s = g_new0 (P2pQuicSession, 1);

  s->is_server = is_server;
  s->state = P2P_QUIC_STATE_HANDSHAKING;
  if (cfg)
    s->cfg = *cfg;
  else
    p2p_quic_session_config_init (&s->cfg);
  if (s->cfg.idle_timeout_ns == 0)
    s->cfg.idle_timeout_ns = DEFAULT_IDLE_TIMEOUT_NS;
  if (s->cfg.handshake_timeout_ns == 0)
    s->cfg.handshake_timeout_ns = s->cfg.idle_timeout_ns;
  if (s->cfg.max_unaccepted_streams == 0)
    s->cfg.max_unaccepted_streams = P2P_QUIC_MAX_UNACCEPTED_STREAMS;
  if (s->cfg.unaccepted_stream_window == 0)
    s->cfg.unaccepted_stream_window = P2P_QUIC_UNACCEPTED_STREAM_WINDOW;
  s->cfg.unaccepted_stream_window = MIN (s->cfg.unaccepted_stream_window, STREAM_WINDOW);
  if (s->cfg.max_udp_payload == 0)
    s->cfg.max_udp_payload = P2P_INTERNET_MTU;
  s->cfg.max_udp_payload = CLAMP (s->cfg.max_udp_payload, 1200, 65527);
  if (s->cfg.send_queue_high == 0)
    s->cfg.send_queue_high = DEFAULT_SEND_QUEUE_HIGH;
  if (s->cfg.protocol_version == 0)
    s->cfg.protocol_version = P2P_PROTOCOL_VERSION;
  if (s->cfg.protocol_version_min == 0)
    s->cfg.protocol_version_min = P2P_PROTOCOL_VERSION_MIN;
  s->cfg.protocol_version_min = MIN (s->cfg.protocol_version_min, s->cfg.protocol_version);
  if (s->cfg.recv_window == 0)
    s->cfg.recv_window = DEFAULT_RECV_WINDOW;
  s->cfg.recv_window = MAX (s->cfg.recv_window, MIN_RECV_WINDOW);
  if (cb)
    s->cb = *cb;
  s->user_data = user_data;
  s->identity = g_object_ref (identity);
  s->created = now;
  s->last_now = now;
  s->closing_end = G_MAXUINT64;
  s->peer_msg_stream = -1;
  send_stream_init (&s->control);
  send_stream_init (&s->msg);
  s->control_dec = p2p_frame_decoder_new (64 * 1024);
  s->msg_dec = p2p_frame_decoder_new (P2P_MAX_MESSAGE_SIZE);
  s->streams = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, extra_stream_free);
  g_queue_init (&s->early_messages);
  g_queue_init (&s->ready);
  g_queue_init (&s->early_streams);
  g_queue_init (&s->refuse);
  g_queue_init (&s->datagrams);

  s->local_sa.sin_family = AF_INET;
  s->local_sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  s->local_sa.sin_port = htons (1);
  s->remote_sa = s->local_sa;
  s->remote_sa.sin_port = htons (2);
  s->path.local.addr = (ngtcp2_sockaddr *) &s->local_sa;
  s->path.local.addrlen = sizeof (s->local_sa);
  s->path.remote.addr = (ngtcp2_sockaddr *) &s->remote_sa;
  s->path.remote.addrlen = sizeof (s->remote_sa);

  if (sodium_init () < 0)
    g_error ("libsodium could not be initialised");
  return s;
}

static void
fill_settings (P2pQuicSession *s, ngtcp2_settings *settings, ngtcp2_transport_params *params,
    guint64 now)
{
  ngtcp2_settings_default (settings);
  settings->initial_ts = now;
  settings->max_tx_udp_payload_size = s->cfg.max_udp_payload;
  if (s->cfg.max_udp_payload > P2P_INTERNET_MTU) {
    settings->no_tx_udp_payload_size_shaping = 1;
    settings->no_pmtud = 1;
  }
  settings->handshake_timeout = s->cfg.handshake_timeout_ns;
  settings->max_window = 2 * CONN_WINDOW;
  settings->max_stream_window = 2 * STREAM_WINDOW;

  ngtcp2_transport_params_default (params);
  params->initial_max_data = CONN_WINDOW;
  params->initial_max_stream_data_bidi_local = STREAM_WINDOW;
  /* streams the peer opens: small until the owner accepts them */
  params->initial_max_stream_data_bidi_remote = s->cfg.unaccepted_stream_window;
  params->initial_max_stream_data_uni = s->cfg.recv_window;  /* the message stream */
  params->initial_max_streams_bidi = MAX_STREAMS;
  params->initial_max_streams_uni = MAX_STREAMS;
  params->max_idle_timeout = s->cfg.idle_timeout_ns;
  params->max_datagram_frame_size = s->cfg.enable_datagrams ? MAX_DATAGRAM_FRAME_SIZE : 0;
  params->disable_active_migration = 1;
}

static ngtcp2_callbacks
base_callbacks (void)
{
  ngtcp2_callbacks cb = {
    .recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
    .handshake_completed = handshake_completed_cb,
    .encrypt = ngtcp2_crypto_encrypt_cb,
    .decrypt = ngtcp2_crypto_decrypt_cb,
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
  };
  return cb;
}

P2pQuicSession *
p2p_quic_session_new_client (P2pIdentity *identity, const P2pPeerId *expected_peer,
    const P2pQuicSessionConfig *cfg, const P2pQuicSessionCallbacks *cb, gpointer user_data,
    guint64 now, GError **error)
{
  g_autoptr (P2pQuicSession) s = NULL;
  ngtcp2_callbacks callbacks = base_callbacks ();
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  ngtcp2_cid dcid, scid;
  GByteArray *hs;
  int rv;

  g_return_val_if_fail (P2P_IS_IDENTITY (identity), NULL);
  g_return_val_if_fail (expected_peer != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  s = session_alloc (identity, FALSE, cfg, cb, user_data, now);
  s->tls.expected = *expected_peer;
  s->tls.peer_id = *expected_peer;
  s->control.id = -1;

  callbacks.client_initial = ngtcp2_crypto_client_initial_cb;
  callbacks.recv_retry = ngtcp2_crypto_recv_retry_cb;
  fill_settings (s, &settings, &params, now);

  dcid.datalen = P2P_QUIC_SCID_LEN;
  randombytes_buf (dcid.data, dcid.datalen);
  scid.datalen = P2P_QUIC_SCID_LEN;
  randombytes_buf (scid.data, scid.datalen);

  if (!tls_setup (s, error))
    return NULL;
  rv = ngtcp2_conn_client_new (&s->conn, &dcid, &scid, &s->path, NGTCP2_PROTO_VER_V1,
      &callbacks, &settings, &params, NULL, s);
  if (rv != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "could not create the QUIC connection: %s", ngtcp2_strerror (rv));
    return NULL;
  }
  ngtcp2_conn_set_tls_native_handle (s->conn, s->tls.session);
  if (s->cfg.keepalive_ns)
    ngtcp2_conn_set_keep_alive_timeout (s->conn, s->cfg.keepalive_ns);

  /* The Handshake frame is the first thing on the control stream. */
  hs = g_byte_array_new ();
  p2p_frame_append_handshake_range (hs, s->cfg.protocol_version_min, s->cfg.protocol_version,
      s->cfg.capabilities);
  queue_control_frame (s, hs);
  return g_steal_pointer (&s);
}

gboolean
p2p_quic_packet_is_initial (const guint8 *pkt, gsize len)
{
  ngtcp2_pkt_hd hd;

  if (pkt == NULL || len == 0)
    return FALSE;
  return ngtcp2_accept (&hd, pkt, len) == 0;
}

gboolean
p2p_quic_packet_get_dcid (const guint8 *pkt, gsize len, gsize short_dcid_len, guint8 *dcid,
    gsize *dcid_len)
{
  ngtcp2_version_cid vc;
  int rv;

  if (pkt == NULL || len == 0 || dcid == NULL || dcid_len == NULL)
    return FALSE;
  rv = ngtcp2_pkt_decode_version_cid (&vc, pkt, len, short_dcid_len);
  if (rv != 0 && rv != NGTCP2_ERR_VERSION_NEGOTIATION)
    return FALSE;
  if (vc.dcidlen > P2P_QUIC_MAX_CID_LEN)
    return FALSE;
  if (vc.dcidlen)
    memcpy (dcid, vc.dcid, vc.dcidlen);
  *dcid_len = vc.dcidlen;
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* stateless Retry */

P2pQuicTokenCheck
p2p_quic_retry_check (const guint8 *pkt, gsize len, const guint8 *secret, gconstpointer sa,
    gsize salen, guint64 timeout_ns, guint64 now, guint8 *odcid, gsize *odcid_len)
{
  ngtcp2_pkt_hd hd;
  ngtcp2_cid cid;

  g_return_val_if_fail (secret != NULL && sa != NULL, P2P_QUIC_TOKEN_INVALID);
  g_return_val_if_fail (odcid != NULL && odcid_len != NULL, P2P_QUIC_TOKEN_INVALID);

  if (pkt == NULL || len == 0 || ngtcp2_accept (&hd, pkt, len) != 0)
    return P2P_QUIC_TOKEN_INVALID;
  /* We never send NEW_TOKEN: anything but a Retry token is as good as none. */
  if (p2p_ng_pkt_hd_tokenlen (&hd) == 0 ||
      p2p_ng_pkt_hd_token (&hd)[0] != NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY)
    return P2P_QUIC_TOKEN_NONE;
  if (ngtcp2_crypto_verify_retry_token (&cid, p2p_ng_pkt_hd_token (&hd),
          p2p_ng_pkt_hd_tokenlen (&hd), secret,
          P2P_QUIC_RETRY_SECRET_LEN, hd.version, sa, (ngtcp2_socklen) salen, &hd.dcid,
          timeout_ns, now) != 0)
    return P2P_QUIC_TOKEN_INVALID;
  memcpy (odcid, cid.data, cid.datalen);
  *odcid_len = cid.datalen;
  return P2P_QUIC_TOKEN_VALID;
}

gsize
p2p_quic_retry_write (const guint8 *pkt, gsize len, const guint8 *secret, gconstpointer sa,
    gsize salen, guint64 now, guint8 *out, gsize outlen)
{
  guint8 token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
  ngtcp2_pkt_hd hd;
  ngtcp2_cid scid;
  ngtcp2_ssize tokenlen, n;

  g_return_val_if_fail (secret != NULL && sa != NULL && out != NULL, 0);

  if (pkt == NULL || len == 0 || ngtcp2_accept (&hd, pkt, len) != 0)
    return 0;
  if (sodium_init () < 0)
    g_error ("libsodium could not be initialised");
  scid.datalen = P2P_QUIC_SCID_LEN;
  randombytes_buf (scid.data, scid.datalen);
  tokenlen = ngtcp2_crypto_generate_retry_token (token, secret, P2P_QUIC_RETRY_SECRET_LEN,
      hd.version, sa, (ngtcp2_socklen) salen, &scid, &hd.dcid, now);
  if (tokenlen < 0)
    return 0;
  n = ngtcp2_crypto_write_retry (out, outlen, hd.version, &hd.scid, &scid, &hd.dcid, token,
      (size_t) tokenlen);
  return n > 0 ? (gsize) n : 0;
}

static void after_io (P2pQuicSession *s, guint64 now);
static int read_packet (P2pQuicSession *s, const guint8 *pkt, gsize len, guint64 now);

P2pQuicSession *
p2p_quic_session_new_server (P2pIdentity *identity, const guint8 *pkt, gsize len,
    const P2pQuicSessionConfig *cfg, GPtrArray *allowed, const P2pQuicSessionCallbacks *cb,
    gpointer user_data, guint64 now, GError **error)
{
  return p2p_quic_session_new_server_validated (identity, pkt, len, NULL, 0, cfg, allowed, cb,
      user_data, now, error);
}

P2pQuicSession *
p2p_quic_session_new_server_validated (P2pIdentity *identity, const guint8 *pkt, gsize len,
    const guint8 *odcid, gsize odcid_len, const P2pQuicSessionConfig *cfg, GPtrArray *allowed,
    const P2pQuicSessionCallbacks *cb, gpointer user_data, guint64 now, GError **error)
{
  g_autoptr (P2pQuicSession) s = NULL;
  ngtcp2_callbacks callbacks = base_callbacks ();
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  ngtcp2_pkt_hd hd;
  ngtcp2_cid scid;
  int rv;

  g_return_val_if_fail (P2P_IS_IDENTITY (identity), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (pkt == NULL || len == 0 || ngtcp2_accept (&hd, pkt, len) != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "not a QUIC client Initial packet (%" G_GSIZE_FORMAT " bytes): cannot start a "
        "connection from it", len);
    return NULL;
  }

  s = session_alloc (identity, TRUE, cfg, cb, user_data, now);
  if (allowed != NULL) {
    s->tls.allowed = g_ptr_array_new_with_free_func ((GDestroyNotify) p2p_peer_id_free);
    for (guint i = 0; i < allowed->len; i++)
      g_ptr_array_add (s->tls.allowed, p2p_peer_id_copy (g_ptr_array_index (allowed, i)));
  }

  callbacks.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  fill_settings (s, &settings, &params, now);
  params.original_dcid = hd.dcid;
  if (odcid != NULL) {
    /* validated by our Retry: the client now uses the Retry's SCID */
    g_return_val_if_fail (odcid_len <= NGTCP2_MAX_CIDLEN, NULL);
    ngtcp2_cid_init (&params.original_dcid, odcid, odcid_len);
    params.retry_scid = hd.dcid;
    params.retry_scid_present = 1;
    p2p_ng_settings_set_retry_token (&settings, p2p_ng_pkt_hd_token (&hd),
        p2p_ng_pkt_hd_tokenlen (&hd));
  }
  params.stateless_reset_token_present = 1;
  randombytes_buf (params.stateless_reset_token, sizeof (params.stateless_reset_token));
  scid.datalen = P2P_QUIC_SCID_LEN;
  randombytes_buf (scid.data, scid.datalen);

  if (!tls_setup (s, error))
    return NULL;
  rv = ngtcp2_conn_server_new (&s->conn, &hd.scid, &scid, &s->path, hd.version, &callbacks,
      &settings, &params, NULL, s);
  if (rv != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "could not create the QUIC connection: %s", ngtcp2_strerror (rv));
    return NULL;
  }
  ngtcp2_conn_set_tls_native_handle (s->conn, s->tls.session);
  if (s->cfg.keepalive_ns)
    ngtcp2_conn_set_keep_alive_timeout (s->conn, s->cfg.keepalive_ns);

  s->packets_received++;
  s->bytes_received += len;
  rv = read_packet (s, pkt, len, now);
  if (rv != 0 || s->fatal_set) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "the client's first packet could not be processed: %s",
        s->fatal_error ? s->fatal_error->message : ngtcp2_strerror (rv));
    return NULL;
  }
  after_io (s, now);
  return g_steal_pointer (&s);
}

void
p2p_quic_session_free (P2pQuicSession *s)
{
  GBytes *b;

  if (s == NULL)
    return;
  g_return_if_fail (s->in_ngtcp2 == 0);

  /* ngtcp2 first: its stream_close callbacks may look at our streams. */
  if (s->conn) {
    memset (&s->cb, 0, sizeof (s->cb));
    ngtcp2_conn_del (s->conn);
  }
  p2p_quic_tls_clear (&s->tls);
  send_stream_clear (&s->control);
  send_stream_clear (&s->msg);
  p2p_frame_decoder_free (s->control_dec);
  p2p_frame_decoder_free (s->msg_dec);
  g_queue_clear_full (&s->early_messages, (GDestroyNotify) g_bytes_unref);
  g_queue_clear_full (&s->early_streams, g_free);
  g_queue_clear_full (&s->refuse, g_free);
  g_queue_clear (&s->ready);
  g_hash_table_unref (s->streams);
  while ((b = g_queue_pop_head (&s->datagrams)) != NULL)
    g_bytes_unref (b);
  g_object_unref (s->identity);
  g_free (s->close_reason_req);
  g_clear_error (&s->fatal_error);
  g_clear_error (&s->disconnect_error);
  g_free (s->fatal_reason);
  g_free (s->fatal_wire_reason);
  g_clear_error (&s->error);
  g_free (s->reason);
  g_free (s->cc_pkt);
  g_free (s);
}

/* ------------------------------------------------------------------ */
/* I/O */

static void
ensure_streams (P2pQuicSession *s)
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
static void
refuse_streams (P2pQuicSession *s)
{
  gint64 *idp;

  while ((idp = g_queue_pop_head (&s->refuse)) != NULL) {
    if (s->state != P2P_QUIC_STATE_CLOSED && !s->fatal_set && lookup_stream (s, *idp))
      p2p_ng_conn_shutdown_stream (s->conn, *idp, STREAM_REFUSED_CODE);
    g_free (idp);
  }
}

/* Moves a graceful close forward: Disconnect once all messages are
 * acknowledged, CONNECTION_CLOSE once the Disconnect is written. */
static void
progress_close (P2pQuicSession *s)
{
  if (s->fatal_set || s->state == P2P_QUIC_STATE_CLOSED)
    return;
  if (s->close_requested && !s->disconnect_queued) {
    if (!is_established (s)) {
      /* Nothing to flush: close right away. */
      set_fatal (s, CLOSE_APP, s->close_code, NULL, s->close_reason_req, s->close_reason_req);
      return;
    }
    if (s->msg.acked >= s->msg.end || s->msg.shut) {
      GByteArray *f = g_byte_array_new ();

      p2p_frame_append_disconnect (f, s->close_code, s->close_reason_req);
      queue_control_frame (s, f);
      s->disconnect_queued = TRUE;
      s->disconnect_end = s->control.end;
    }
  }
  if (s->disconnect_queued && (s->control.written >= s->disconnect_end || s->control.shut ||
          s->control.id < 0)) {
    GError *err = g_steal_pointer (&s->disconnect_error);

    set_fatal (s, CLOSE_APP, s->close_code, err, s->close_reason_req, s->close_reason_req);
  }
}

/* The safe point: runs what callbacks inside ngtcp2 only recorded. Not
 * re-entered when an application callback calls back into the session. */
static void
after_io (P2pQuicSession *s, guint64 now)
{
  if (s->in_ngtcp2 > 0)
    return;
  if (s->in_after_io) {
    s->after_io_again = TRUE;
    return;
  }
  s->in_after_io = TRUE;
  do {
    s->after_io_again = FALSE;
    if (s->state == P2P_QUIC_STATE_HANDSHAKING && !s->fatal_set &&
        now >= s->created + s->cfg.handshake_timeout_ns)
      set_fatal (s, CLOSE_APP, P2P_DISCONNECT_PROTOCOL_ERROR, g_error_new (P2P_ERROR,
              P2P_ERROR_TIMEOUT, "the gst-p2p handshake did not complete within %.1f s",
              s->cfg.handshake_timeout_ns / 1e9), NULL, "handshake timeout");
    maybe_establish (s);
    refuse_streams (s);
    ensure_streams (s);
    progress_close (s);
    apply_fatal (s, now);
    if (s->writable_pending && s->state != P2P_QUIC_STATE_CLOSED) {
      s->writable_pending = FALSE;
      if (s->cb.writable)
        s->cb.writable (s, s->user_data);
    }
    report_closed (s);
  } while (s->after_io_again);
  s->in_after_io = FALSE;
}

static int
read_packet (P2pQuicSession *s, const guint8 *pkt, gsize len, guint64 now)
{
  int rv;

  s->in_ngtcp2++;
  rv = ngtcp2_conn_read_pkt (s->conn, &s->path, NULL, pkt, len, now);
  s->in_ngtcp2--;
  if (rv == 0)
    return 0;

  switch (rv) {
    case NGTCP2_ERR_DRAINING:
      fatal_from_peer_close (s);
      break;
    case NGTCP2_ERR_CRYPTO:{
      GError *err;

      if (s->tls.auth_error)
        err = g_error_new (P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED, "%s", s->tls.auth_error);
      else
        err = g_error_new (P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED,
            "TLS handshake failed (alert %u): check that both peers run gst-p2p with "
            "Ed25519 identities", ngtcp2_conn_get_tls_alert (s->conn));
      set_fatal (s, CLOSE_TLS, 0, err, NULL, s->tls.auth_error);
      break;
    }
    case NGTCP2_ERR_CALLBACK_FAILURE:
      if (!s->fatal_set)
        set_fatal (s, CLOSE_LIBERR, (guint64) (gint64) NGTCP2_ERR_INTERNAL,
            g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL, "internal error in the QUIC session"),
            NULL, NULL);
      break;
    case NGTCP2_ERR_DROP_CONN:
      set_fatal (s, CLOSE_SILENT, 0, g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
              "the QUIC connection was dropped (invalid packet from the peer)"), NULL, NULL);
      break;
    case NGTCP2_ERR_RETRY:
    case NGTCP2_ERR_CLOSING:
    case NGTCP2_ERR_DISCARD_PKT:
      s->packets_dropped++;
      break;
    default:
      if (ngtcp2_err_is_fatal (rv) || rv == NGTCP2_ERR_PROTO ||
          rv == NGTCP2_ERR_FLOW_CONTROL || rv == NGTCP2_ERR_STREAM_LIMIT ||
          rv == NGTCP2_ERR_FINAL_SIZE || rv == NGTCP2_ERR_TRANSPORT_PARAM ||
          rv == NGTCP2_ERR_MALFORMED_TRANSPORT_PARAM || rv == NGTCP2_ERR_FRAME_ENCODING ||
          rv == NGTCP2_ERR_AEAD_LIMIT_REACHED || rv == NGTCP2_ERR_NO_VIABLE_PATH ||
          rv == NGTCP2_ERR_VERSION_NEGOTIATION_FAILURE ||
          rv == NGTCP2_ERR_REQUIRED_TRANSPORT_PARAM) {
        set_fatal (s, CLOSE_LIBERR, (guint64) (gint64) rv, g_error_new (P2P_ERROR,
                P2P_ERROR_PROTOCOL, "QUIC protocol error: %s", ngtcp2_strerror (rv)), NULL,
            ngtcp2_strerror (rv));
      } else {
        s->packets_dropped++;   /* malformed or foreign packet */
      }
      break;
  }
  return rv;
}

/* Notes when data went in flight (for the liveness timeout). */
static void
track_in_flight (P2pQuicSession *s, guint64 now)
{
  P2pNgStat st;

  if (s->cfg.liveness_timeout_ns == 0 || s->conn == NULL)
    return;
  p2p_ng_conn_get_stat (s->conn, &st);
  if (st.bytes_in_flight == 0)
    s->inflight_since = 0;
  else if (s->inflight_since == 0)
    s->inflight_since = MAX (now, 1);
}

/* When the peer counts as gone: nothing heard for liveness_timeout_ns
 * while data of ours waits for acknowledgement (G_MAXUINT64 = never). */
static guint64
liveness_deadline (P2pQuicSession *s)
{
  if (s->cfg.liveness_timeout_ns == 0 || s->inflight_since == 0 ||
      (s->state != P2P_QUIC_STATE_ESTABLISHED && s->state != P2P_QUIC_STATE_CLOSING))
    return G_MAXUINT64;
  return MAX (s->last_rx, s->inflight_since) + s->cfg.liveness_timeout_ns;
}

void
p2p_quic_session_receive (P2pQuicSession *s, const guint8 *pkt, gsize len, guint64 now)
{
  g_return_if_fail (s != NULL);
  g_return_if_fail (s->in_ngtcp2 == 0);

  if (pkt == NULL || len == 0)
    return;
  s->last_now = now;
  s->packets_received++;
  s->bytes_received += len;
  if (s->state == P2P_QUIC_STATE_CLOSED) {
    /* closing period: answer with our CONNECTION_CLOSE again */
    if (s->cc_pkt && now < s->closing_end)
      s->cc_send = TRUE;
    return;
  }
  if (read_packet (s, pkt, len, now) == 0) {
    s->last_rx = now;
    track_in_flight (s, now);
  }
  after_io (s, now);
}

static gsize
write_cc (P2pQuicSession *s, guint8 *buf, gsize buflen)
{
  if (!s->cc_send || s->cc_pkt == NULL || buflen < s->cc_len)
    return 0;
  s->cc_send = FALSE;
  memcpy (buf, s->cc_pkt, s->cc_len);
  s->packets_sent++;
  s->bytes_sent += s->cc_len;
  return s->cc_len;
}

static SendStream *
pick_stream (P2pQuicSession *s, ExtraStream **pes)
{
  *pes = NULL;
  if (send_stream_has_data (&s->control) && s->control.blocked_gen != s->write_gen)
    return &s->control;
  if (s->version_mismatch)
    return NULL;
  if (send_stream_has_data (&s->msg) && s->msg.blocked_gen != s->write_gen)
    return &s->msg;
  for (GList *l = s->ready.head; l != NULL; l = l->next) {
    ExtraStream *es = l->data;

    if (es->tx.blocked_gen != s->write_gen && send_stream_has_data (&es->tx)) {
      *pes = es;
      return &es->tx;
    }
  }
  return NULL;
}

static void
fatal_from_write (P2pQuicSession *s, ngtcp2_ssize rv)
{
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    set_fatal (s, CLOSE_SILENT, 0, g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
            "no packet from the peer for %.1f s",
            s->cfg.idle_timeout_ns / 1e9), NULL, NULL);
    return;
  }
  set_fatal (s, CLOSE_LIBERR, (guint64) (gint64) rv, g_error_new (P2P_ERROR,
          P2P_ERROR_PROTOCOL, "QUIC error while sending: %s", ngtcp2_strerror ((int) rv)),
      NULL, NULL);
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
  after_io (s, now);
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
        is_established (s) && s->state != P2P_QUIC_STATE_CLOSED;

    if (st != NULL && !(dgram_ready && st != &s->control)) {
      ngtcp2_vec vec[MAX_VECS];
      gboolean all = FALSE;
      gsize n = send_stream_vecs (st, vec, MAX_VECS, &all);
      guint32 flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
      gboolean fin = all && st->fin_queued;

      if (fin)
        flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
      s->in_ngtcp2++;
      nwrite = ngtcp2_conn_writev_stream (s->conn, &s->path, NULL, buf, limit, &pdatalen,
          flags, st->id, vec, n, now);
      s->in_ngtcp2--;
      if (pdatalen >= 0) {
        send_stream_advance (st, (gsize) pdatalen);
        if (fin && st->written >= st->end)
          st->fin_written = TRUE;
        if (es) {
          /* round robin among extra streams */
          ready_remove (s, es);
          ready_add (s, es);
        }
      }
      if (es && !send_stream_has_data (st))
        ready_remove (s, es);
      if (nwrite == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
        st->blocked_gen = s->write_gen;
        continue;
      }
      if (nwrite == NGTCP2_ERR_STREAM_SHUT_WR || nwrite == NGTCP2_ERR_STREAM_NOT_FOUND) {
        st->shut = TRUE;
        if (es)
          ready_remove (s, es);
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
      fatal_from_write (s, nwrite);
      after_io (s, now);
      return write_cc (s, buf, buflen);
    }
    break;
  }

  after_io (s, now);
  if (nwrite <= 0 || s->state == P2P_QUIC_STATE_CLOSED) {
    if (s->burst_bytes > 0) {
      ngtcp2_conn_update_pkt_tx_time (s->conn, now);
      s->burst_bytes = 0;
    }
    if (s->state == P2P_QUIC_STATE_CLOSED)
      return nwrite > 0 ? (gsize) nwrite : write_cc (s, buf, buflen);
    return 0;
  }
  s->burst_bytes += (gsize) nwrite;
  s->packets_sent++;
  s->bytes_sent += (gsize) nwrite;
  track_in_flight (s, now);
  return (gsize) nwrite;
}

guint64
p2p_quic_session_get_deadline (P2pQuicSession *s)
{
  g_return_val_if_fail (s != NULL, G_MAXUINT64);

  if (s->state == P2P_QUIC_STATE_CLOSED)
    return s->closing_end;
  if (s->fatal_set || s->writable_pending)
    return s->last_now;
  if (s->state == P2P_QUIC_STATE_HANDSHAKING)
    return MIN (ngtcp2_conn_get_expiry (s->conn), s->created + s->cfg.handshake_timeout_ns);
  return MIN (ngtcp2_conn_get_expiry (s->conn), liveness_deadline (s));
}

void
p2p_quic_session_handle_timeout (P2pQuicSession *s, guint64 now)
{
  int rv;

  g_return_if_fail (s != NULL);
  g_return_if_fail (s->in_ngtcp2 == 0);

  s->last_now = now;
  if (s->state == P2P_QUIC_STATE_CLOSED) {
    if (now >= s->closing_end) {
      s->closing_end = G_MAXUINT64;
      s->cc_send = FALSE;
      g_clear_pointer (&s->cc_pkt, g_free);
    }
    return;
  }
  if (now >= liveness_deadline (s)) {
    P2pNgStat st;

    p2p_ng_conn_get_stat (s->conn, &st);
    /* the silence counts from the last packet (it may be older than the
     * data in flight: an idle connection's keepalive) */
    set_fatal (s, CLOSE_SILENT, 0, g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
            "the peer stopped answering: nothing received for %.1f s, %" G_GUINT64_FORMAT
            " bytes unacknowledged for %.1f s", (now - MAX (s->last_rx, s->created)) / 1e9,
            st.bytes_in_flight, (now - s->inflight_since) / 1e9), NULL, NULL);
    after_io (s, now);
    return;
  }
  s->in_ngtcp2++;
  rv = ngtcp2_conn_handle_expiry (s->conn, now);
  s->in_ngtcp2--;
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    set_fatal (s, CLOSE_SILENT, 0, g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
            "no packet from the peer for %.1f s", s->cfg.idle_timeout_ns / 1e9), NULL, NULL);
  } else if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
    set_fatal (s, CLOSE_SILENT, 0, g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
            "the QUIC handshake did not complete within %.1f s",
            s->cfg.handshake_timeout_ns / 1e9), NULL, NULL);
  } else if (rv < 0) {
    fatal_from_write (s, rv);
  }
  after_io (s, now);
}

void
p2p_quic_session_test_forget_key (P2pQuicSession *s)
{
  g_return_if_fail (s != NULL);
  p2p_quic_tls_forget_own_key (&s->tls);
}

P2pQuicState
p2p_quic_session_get_state (P2pQuicSession *s)
{
  g_return_val_if_fail (s != NULL, P2P_QUIC_STATE_CLOSED);

  return s->state;
}

const P2pPeerId *
p2p_quic_session_get_peer_id (P2pQuicSession *s)
{
  g_return_val_if_fail (s != NULL, NULL);

  if (!s->is_server)
    return &s->tls.expected;
  return s->tls.have_peer_id ? &s->tls.peer_id : NULL;
}

guint64
p2p_quic_session_get_protocol_version (P2pQuicSession *s)
{
  g_return_val_if_fail (s != NULL, 0);

  return s->version;
}

guint64
p2p_quic_session_get_peer_capabilities (P2pQuicSession *s)
{
  g_return_val_if_fail (s != NULL, 0);

  return s->peer_capabilities;
}

gboolean
p2p_quic_session_is_client (P2pQuicSession *s)
{
  g_return_val_if_fail (s != NULL, FALSE);

  return !s->is_server;
}

static gboolean
check_open (P2pQuicSession *s, GError **error)
{
  if (s->state == P2P_QUIC_STATE_CLOSED || s->state == P2P_QUIC_STATE_CLOSING ||
      s->close_requested || s->fatal_set) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "the connection is %s",
        s->state == P2P_QUIC_STATE_CLOSED ? "closed" : "closing");
    return FALSE;
  }
  return TRUE;
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
  if (!check_open (s, error))
    return FALSE;

  hdr = g_byte_array_sized_new (16 + (len <= SMALL_MESSAGE_COPY ? len : 0));
  p2p_varint_append (hdr, P2P_FRAME_MESSAGE);
  p2p_varint_append (hdr, len);
  if (len <= SMALL_MESSAGE_COPY) {
    g_autoptr (GBytes) b = NULL;

    g_byte_array_append (hdr, g_bytes_get_data (message, NULL), len);
    b = g_byte_array_free_to_bytes (g_steal_pointer (&hdr));
    send_stream_append (&s->msg, b);
  } else {
    g_autoptr (GBytes) h = g_byte_array_free_to_bytes (g_steal_pointer (&hdr));

    send_stream_append (&s->msg, h);
    send_stream_append (&s->msg, message);
  }
  s->messages_sent++;
  if (s->msg.end - s->msg.acked >= s->cfg.send_queue_high)
    s->was_above_high = TRUE;
  return TRUE;
}

void
p2p_quic_session_message_consumed (P2pQuicSession *s, gsize len)
{
  g_return_if_fail (s != NULL);

  len = (gsize) MIN ((guint64) len, s->msg_unconsumed);
  s->msg_unconsumed -= len;
  if (is_established (s))
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

gsize
p2p_quic_session_get_send_queue_high (P2pQuicSession *s)
{
  g_return_val_if_fail (s != NULL, 0);

  return s->cfg.send_queue_high;
}

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

  if (!check_open (s, error))
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

gint64
p2p_quic_session_open_stream (P2pQuicSession *s, GError **error)
{
  int64_t id;
  int rv;

  g_return_val_if_fail (s != NULL, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  if (!check_open (s, error))
    return -1;
  if (!is_established (s)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "streams can be opened once the connection is established");
    return -1;
  }
  ensure_streams (s);
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
  extra_stream_new (s, id, TRUE)->announced = TRUE;
  return id;
}

static ExtraStream *
get_extra (P2pQuicSession *s, gint64 stream_id, GError **error)
{
  ExtraStream *es = lookup_stream (s, stream_id);

  if (es == NULL)
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "no open stream %" G_GINT64_FORMAT " on this connection", stream_id);
  return es;
}

gssize
p2p_quic_session_stream_write (P2pQuicSession *s, gint64 stream_id, const guint8 *data,
    gsize len, GError **error)
{
  ExtraStream *es;
  guint64 buffered;
  gsize n;

  g_return_val_if_fail (s != NULL, -1);
  g_return_val_if_fail (data != NULL || len == 0, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  if (s->state == P2P_QUIC_STATE_CLOSED || s->fatal_set) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "the connection is closed");
    return -1;
  }
  if ((es = get_extra (s, stream_id, error)) == NULL)
    return -1;
  if (es->tx.fin_queued || es->tx.shut) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED,
        "stream %" G_GINT64_FORMAT " is %s for writing", stream_id,
        es->tx.shut ? "reset" : "finished");
    return -1;
  }
  buffered = es->tx.end - es->tx.acked;
  n = buffered >= P2P_QUIC_STREAM_SEND_BUFFER ? 0 : MIN (len, P2P_QUIC_STREAM_SEND_BUFFER - buffered);
  if (n < len)
    es->want_writable = TRUE;
  if (n > 0) {
    g_autoptr (GBytes) b = g_bytes_new (data, n);

    send_stream_append (&es->tx, b);
    ready_add (s, es);
  }
  return (gssize) n;
}

void
p2p_quic_session_stream_finish (P2pQuicSession *s, gint64 stream_id)
{
  ExtraStream *es;

  g_return_if_fail (s != NULL);

  es = lookup_stream (s, stream_id);
  if (es == NULL || es->tx.shut)
    return;
  es->tx.fin_queued = TRUE;
  ready_add (s, es);
}

void
p2p_quic_session_stream_accepted (P2pQuicSession *s, gint64 stream_id)
{
  ExtraStream *es;

  g_return_if_fail (s != NULL);

  es = lookup_stream (s, stream_id);
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

gboolean
p2p_quic_session_has_stream (P2pQuicSession *s, gint64 stream_id)
{
  g_return_val_if_fail (s != NULL, FALSE);

  return lookup_stream (s, stream_id) != NULL;
}

void
p2p_quic_session_stream_reset (P2pQuicSession *s, gint64 stream_id, guint64 app_error)
{
  ExtraStream *es;

  g_return_if_fail (s != NULL);

  es = lookup_stream (s, stream_id);
  if (es == NULL || s->state == P2P_QUIC_STATE_CLOSED)
    return;
  es->tx.shut = TRUE;
  es->reset_reported = TRUE;    /* the application knows */
  ready_remove (s, es);
  p2p_ng_conn_shutdown_stream (s->conn, stream_id, app_error);
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
  after_io (s, s->last_now);
}

void
p2p_quic_session_close_now (P2pQuicSession *s)
{
  const char *reason;

  g_return_if_fail (s != NULL);

  reason = s->close_requested ? s->close_reason_req : "";
  set_fatal (s, CLOSE_APP, s->close_requested ? s->close_code : 0, NULL, reason, reason);
  after_io (s, s->last_now);
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
  set_fatal (s, CLOSE_APP, code, error ? g_error_copy (error) : NULL,
      error ? error->message : "aborted", error ? error->message : "aborted");
  after_io (s, s->last_now);
}

void
p2p_quic_session_get_stats (P2pQuicSession *s, P2pConnectionStats *stats)
{
  P2pNgStat st;
  guint64 stream_lost;
  GHashTableIter it;
  gpointer value;

  g_return_if_fail (s != NULL);
  g_return_if_fail (stats != NULL);

  memset (stats, 0, sizeof (*stats));
  p2p_ng_conn_get_stat (s->conn, &st);
  stats->rtt_us = st.smoothed_rtt / 1000;
  stats->min_rtt_us = st.min_rtt == G_MAXUINT64 ? 0 : st.min_rtt / 1000;
  stats->cwnd = st.cwnd;
  stats->bytes_sent = s->bytes_sent;
  stats->bytes_received = s->bytes_received;
  stats->packets_sent = s->packets_sent;
  stats->packets_received = s->packets_received;

  stream_lost = s->stream_losses_closed;
  /* (closed streams are not found any more: 0, already in stream_losses_closed) */
  if (s->control.id >= 0)
    stream_lost += ngtcp2_conn_get_stream_loss_count (s->conn, s->control.id);
  if (s->msg.id >= 0)
    stream_lost += ngtcp2_conn_get_stream_loss_count (s->conn, s->msg.id);
  g_hash_table_iter_init (&it, s->streams);
  while (g_hash_table_iter_next (&it, NULL, &value))
    stream_lost += ngtcp2_conn_get_stream_loss_count (s->conn, ((ExtraStream *) value)->tx.id);
  stats->packets_lost = stream_lost + s->datagrams_lost;
  stats->packets_retransmitted = stream_lost;
  stats->datagrams_sent = s->datagrams_sent;
  stats->datagrams_received = s->datagrams_received;
  stats->datagrams_dropped = s->datagrams_dropped;
  stats->messages_sent = s->messages_sent;
  stats->messages_received = s->messages_received;
  stats->setup_time_us = s->setup_time_ns / 1000;
}
