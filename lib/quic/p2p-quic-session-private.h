/* p2p-quic-session-private.h (internal): what the files of the QUIC
 * session share: its state (struct _P2pQuicSession), the send queue and
 * extra stream types, the limits more than one file uses and the functions
 * one file calls in another. The design (and which file holds what) is
 * described in p2p-quic-session.c; the session's users have
 * p2p-quic-session.h only.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-quic-session.h"

#include <netinet/in.h>
#include <ngtcp2/ngtcp2.h>

#include "p2p/p2p-error.h"
#include "p2p/p2p-frame.h"
#include "p2p-ngtcp2-mem.h"
#include "p2p-quic-tls.h"

G_BEGIN_DECLS

/* short header (1) + DCID (<= 20) + packet number (<= 4) + AEAD tag (16) +
 * DATAGRAM frame type (1) + length varint (<= 8) */
#define DATAGRAM_OVERHEAD (1 + 20 + 4 + 16 + 1 + 8)
#define STREAM_WINDOW (16 * 1024 * 1024)
/* the message stream's send queue (backpressure watermark): by default 4
 * congestion windows, at least DEFAULT_SEND_QUEUE_HIGH, at most
 * MAX_SEND_QUEUE_HIGH (p2p_quic_session_get_send_queue_high) */
#define DEFAULT_SEND_QUEUE_HIGH (4 * 1024 * 1024)
#define MAX_SEND_QUEUE_HIGH (32 * 1024 * 1024)
#define MAX_STREAMS 100

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

/* A route (the owner's name for one remote address of the path, 0 = the
 * first) as ngtcp2 sees it: remote 127.64.X.Y:(2 + port part), where X.Y is
 * the route's upper 16 bits (which remote IP) and the port its lower 16
 * bits; a change of the lower bits alone is a port change (NAT rebinding)
 * to ngtcp2, which keeps the congestion state then. */
void p2p_quic_session_route_set (P2pQuicSession *s, guint32 route);
guint32 p2p_quic_session_route_of (const ngtcp2_addr *remote);
/* The PING of p2p_quic_session_ping() went out: the keepalive is set back. */
void p2p_quic_session_ping_sent (P2pQuicSession *s);

struct _P2pQuicSession {
  gboolean is_server;
  P2pQuicState state;
  P2pQuicSessionConfig cfg;
  P2pQuicSessionCallbacks cb;
  gpointer user_data;
  P2pIdentity *identity;

  ngtcp2_conn *conn;
  P2pNgMem ng_mem;              /* conn's allocator: what conn left is freed */
  ngtcp2_crypto_conn_ref conn_ref;
  P2pQuicTls tls;               /* TLS session and the peer's key check */
  struct sockaddr_in local_sa, remote_sa;
  ngtcp2_path path;             /* route of the packet read or written (p2p_quic_session_route_*) */
  guint32 tx_route;             /* route of the last datagram written */
  guint64 migrations;           /* validated moves of the peer to a new route */
  guint32 peer_route;           /* where the last one went */
  guint64 early_probes;         /* PTO probes sent when the peer was heard again */
  gboolean ping_pending;        /* keepalive timer set to expire: p2p_quic_session_ping() */
  gboolean stateless_reset;     /* the peer sent one: it lost the connection */
  int in_ngtcp2;                /* depth of ngtcp2 calls (callbacks may run) */
  gboolean in_after_io, after_io_again;

  guint64 created;
  guint64 last_now;
  guint64 last_rx;              /* last packet read with a payload that decrypted */
  gboolean decrypted;           /* the packet being read had one (decrypt_cb) */
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
  guint64 msg_unconsumed_n;     /* and how many (bounded: max_unread()) */
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

/* ---- the send queue of one stream (p2p-quic-send-queue.c) ---- */

void p2p_quic_send_stream_init (SendStream *st);
void p2p_quic_send_stream_clear (SendStream *st);
/* Queues @bytes (a reference, not a copy) after the stream's end. */
void p2p_quic_send_stream_append (SendStream *st, GBytes *bytes);
/* TRUE when the stream is open and has bytes or a FIN left to write. */
gboolean p2p_quic_send_stream_has_data (const SendStream *st);
/* Fills @vec from the write cursor; returns the count (@all: every queued
 * chunk is in @vec). */
gsize p2p_quic_send_stream_vecs (SendStream *st, ngtcp2_vec *vec, gsize max, gboolean *all);
/* ngtcp2 took @len more bytes. */
void p2p_quic_send_stream_advance (SendStream *st, gsize len);
/* The peer acknowledged everything below @upto: frees those chunks. */
void p2p_quic_send_stream_ack (SendStream *st, guint64 upto);

/* ---- streams (p2p-quic-session-streams.c) ---- */

/* A new extra stream @id in the session's table. */
ExtraStream *p2p_quic_extra_stream_new (P2pQuicSession *s, gint64 id, gboolean local);
/* The table's value destructor. */
void p2p_quic_extra_stream_free (gpointer data);
ExtraStream *p2p_quic_session_lookup_stream (P2pQuicSession *s, gint64 id);
/* The send queue of stream @id: control, message or extra; NULL if none. */
SendStream *p2p_quic_session_lookup_send_stream (P2pQuicSession *s, gint64 id);
/* The write-ready list of extra streams (round robin in the scheduler). */
void p2p_quic_session_ready_add (P2pQuicSession *s, ExtraStream *es);
void p2p_quic_session_ready_remove (P2pQuicSession *s, ExtraStream *es);
/* Opens our control (client) and message streams once TLS is done. */
void p2p_quic_session_ensure_streams (P2pQuicSession *s);
/* Refuses the streams the stream_open callback marked (outside ngtcp2
 * calls). */
void p2p_quic_session_refuse_streams (P2pQuicSession *s);

/* ---- closing (p2p-quic-session-close.c) ---- */

/* Records a fatal condition (the first one wins; takes @error), applied by
 * apply_fatal at the next safe point. */
void p2p_quic_session_set_fatal (P2pQuicSession *s, CloseKind kind, guint64 code,
    GError *error, const char *reason, const char *wire_reason);
/* Outside ngtcp2 calls: CLOSED, and the CONNECTION_CLOSE built once. */
void p2p_quic_session_apply_fatal (P2pQuicSession *s, guint64 now);
/* Calls closed() once, outside ngtcp2 calls. */
void p2p_quic_session_report_closed (P2pQuicSession *s);
/* The P2pError of a peer's VERSION_MISMATCH or PROTOCOL_ERROR close. */
P2pError p2p_quic_disconnect_error_code (guint64 code);
/* Maps the peer's CONNECTION_CLOSE to our closed() arguments. */
void p2p_quic_session_fatal_from_peer_close (P2pQuicSession *s);
/* An ngtcp2 error from a write or a timeout (idle close included). */
void p2p_quic_session_fatal_from_write (P2pQuicSession *s, ngtcp2_ssize rv);
/* Moves a graceful close forward: Disconnect once all messages are
 * acknowledged, CONNECTION_CLOSE once the Disconnect is written. */
void p2p_quic_session_progress_close (P2pQuicSession *s);
/* FALSE + P2P_ERROR_CLOSED once the session is closing or closed. */
gboolean p2p_quic_session_check_open (P2pQuicSession *s, GError **error);
/* Sets @error to why the session is over: its close error, else its
 * close reason (P2P_ERROR_CLOSED), else @fallback. */
void p2p_quic_session_set_close_error (P2pQuicSession *s, GError **error,
    const char *fallback);

/* ---- the protocol (p2p-quic-session-protocol.c) ---- */

/* ESTABLISHED or CLOSING: the application may receive data. */
gboolean p2p_quic_session_is_established (P2pQuicSession *s);
void p2p_quic_session_note_setup_time (P2pQuicSession *s);
/* Queues a whole control frame (takes @frame). */
void p2p_quic_session_queue_control_frame (P2pQuicSession *s, GByteArray *frame);
/* Moves HANDSHAKING to ESTABLISHED once everything is in, and delivers
 * what arrived early. */
void p2p_quic_session_maybe_establish (P2pQuicSession *s);
/* Bytes of the control and of the peer's message stream; -1 after a
 * protocol error (recorded). */
int p2p_quic_session_on_control_data (P2pQuicSession *s, const guint8 *data, gsize len);
int p2p_quic_session_on_message_data (P2pQuicSession *s, const guint8 *data, gsize len);

/* ---- ngtcp2 callbacks (p2p-quic-session-callbacks.c) ---- */

/* The callbacks of both roles (the caller adds the client's or server's
 * crypto ones). */
ngtcp2_callbacks p2p_quic_session_base_callbacks (void);
/* Around ngtcp2_conn_read_pkt(): afterwards s->decrypted says whether a
 * payload of the datagram decrypted (junk and spoofed packets do not). */
void p2p_quic_session_read_begin (P2pQuicSession *s);
void p2p_quic_session_read_end (P2pQuicSession *s);

/* ---- the I/O core (p2p-quic-session.c) ---- */

/* The safe point: runs what callbacks inside ngtcp2 only recorded. Not
 * re-entered when an application callback calls back into the session. */
void p2p_quic_session_after_io (P2pQuicSession *s, guint64 now);
/* Notes when data went in flight (for the liveness timeout). */
void p2p_quic_session_track_in_flight (P2pQuicSession *s, guint64 now);

G_END_DECLS
