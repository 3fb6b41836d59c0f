/* p2p-quic-session.h (internal): the sans-I/O QUIC session on ngtcp2 0.12 +
 * gnutls, with Ed25519 raw-public-key authentication and the gst-p2p
 * protocol on top (control stream, message stream, datagrams, extra streams).
 *
 * Datagrams and `now` (ns, any monotonic time domain) in; datagrams and the
 * next deadline out. It never reads a clock and never touches a socket.
 * Not thread-safe: one owner thread.
 *
 * Streams used (docs/protocol.md):
 *   - control: the client's first bidirectional stream (id 0): Handshake,
 *     Keepalive, Disconnect frames; written before anything else;
 *   - message: each side's first unidirectional stream (client 2, server 3):
 *     MESSAGE frames, one per p2p_quic_session_send_message();
 *   - extra bidirectional streams for open_stream (raw bytes);
 *   - QUIC DATAGRAM frames (RFC 9221) for send_datagram.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include "p2p/p2p-identity.h"
#include "p2p/p2p-peer-id.h"
#include "p2p/p2p-connection-stats.h"
#include "p2p/p2p-config.h"
#include "p2p-control-frame.h"

G_BEGIN_DECLS

/* Bytes an extra stream's writer may have queued before more are refused:
 * p2p_quic_session_stream_write() accepts none past it (unacknowledged
 * bytes), and the driver's blocking stream write() waits. */
#define P2P_QUIC_STREAM_SEND_BUFFER (1024 * 1024)

typedef struct _P2pQuicSession P2pQuicSession;

typedef enum {
  P2P_QUIC_STATE_HANDSHAKING,
  P2P_QUIC_STATE_ESTABLISHED,   /* TLS confirmed, both keys checked, Handshake frames exchanged */
  P2P_QUIC_STATE_CLOSING,       /* close requested, draining queued data */
  P2P_QUIC_STATE_CLOSED,        /* terminal: see p2p_quic_session_get_error() */
} P2pQuicState;

#define P2P_QUIC_CID_KEY_LEN 32

typedef struct {
  /* Authenticated and protocol Handshake done. */
  void (*established) (P2pQuicSession *s, gpointer user_data);
  /* A whole message arrived (transfer full). Return its size with
   * p2p_quic_session_message_consumed() once the application has it. */
  void (*message) (P2pQuicSession *s, GBytes *message, gpointer user_data);
  /* An unreliable datagram arrived (transfer none). */
  void (*datagram) (P2pQuicSession *s, const guint8 *data, gsize len, gpointer user_data);
  /* The message send queue dropped below the low watermark (unblock senders). */
  void (*writable) (P2pQuicSession *s, gpointer user_data);
  /* The peer opened extra stream @stream_id. */
  void (*stream_opened) (P2pQuicSession *s, gint64 stream_id, gpointer user_data);
  /* Bytes on an extra stream (transfer none); @fin = peer finished sending. */
  void (*stream_data) (P2pQuicSession *s, gint64 stream_id, const guint8 *data, gsize len,
      gboolean fin, gpointer user_data);
  /* An extra stream's send buffer has room again. */
  void (*stream_writable) (P2pQuicSession *s, gint64 stream_id, gpointer user_data);
  /* Peer reset / stopped an extra stream. */
  void (*stream_reset) (P2pQuicSession *s, gint64 stream_id, guint64 app_error, gpointer user_data);
  /* Terminal. @error is NULL for a normal close by either side (then
   * @reason holds the Disconnect reason, possibly ""), else the cause:
   * AUTHENTICATION_FAILED, TIMEOUT (idle), PROTOCOL, CLOSED (peer closed with
   * an error: reason in the message). */
  void (*closed) (P2pQuicSession *s, const GError *error, const char *reason, gpointer user_data);
  /* Optional: the peer moved to @route and ngtcp2 validated it (the server
   * side of a NAT rebinding or of the client's new address). */
  void (*migrated) (P2pQuicSession *s, guint32 route, gpointer user_data);
} P2pQuicSessionCallbacks;

/* Handshake timeout of a server session (a listener's, over UDP or ICE):
 * short, so that half-open handshakes do not hold a slot for the idle
 * timeout. */
#define P2P_QUIC_SERVER_HANDSHAKE_TIMEOUT_NS (10 * G_GUINT64_CONSTANT (1000000000))

typedef struct {
  guint64 idle_timeout_ns;      /* 0 = 30 s */
  guint64 keepalive_ns;         /* 0 = off; QUIC PINGs after this long without a packet */
  /* 0 = off. An established session that hears nothing from the peer for
   * this long while data it sent waits for acknowledgement closes with
   * TIMEOUT ("the peer stopped answering"): a crashed or vanished peer
   * frees its slot in seconds, not after the idle timeout. Counted from
   * the later of the last packet received and the moment data went in
   * flight, so an idle connection's first keepalive starts afresh. */
  guint64 liveness_timeout_ns;
  gsize max_udp_payload;        /* largest datagram we send after the handshake; 0 = 1452 */
  gsize send_queue_high;        /* message backpressure watermark in bytes; 0 = 4 MiB */
  /* Protocol versions advertised in the Handshake: the session uses the
   * highest one both peers speak. protocol_version is the highest (0 =
   * P2P_PROTOCOL_VERSION), protocol_version_min the lowest (0 =
   * P2P_PROTOCOL_VERSION_MIN, at most protocol_version). Tests override
   * them to play an older or newer peer. */
  guint64 protocol_version;
  guint64 protocol_version_min;
  /* P2pCapability bits advertised (config_init: P2P_CAPABILITIES_LOCAL). */
  guint64 capabilities;
  P2pCongestionControl congestion_control;  /* default BBR2 (docs/performance.md) */
  gboolean enable_datagrams;    /* advertise max_datagram_frame_size (default on: pass TRUE) */
  /* Receive backpressure: message bytes delivered by message() but not yet
   * returned with p2p_quic_session_message_consumed(), plus message bytes
   * in flight, stay below this (the peer's message stream is flow
   * controlled by it). 0 = 8 MiB; at least P2P_MAX_MESSAGE_SIZE + 64 KiB. */
  gsize recv_window;
  /* A session still handshaking this long after its creation fails with
   * TIMEOUT. 0 = idle_timeout_ns. Listeners set it short (see
   * p2p_quic_endpoint_set_handshake_limits) so that half-open handshakes
   * do not hold a slot for the idle timeout. */
  guint64 handshake_timeout_ns;
  /* Window of each bidirectional stream the peer opens, until the owner
   * calls p2p_quic_session_stream_accepted() (then it grows to the normal
   * 16 MiB stream window). 0 = P2P_QUIC_UNACCEPTED_STREAM_WINDOW. */
  gsize unaccepted_stream_window;
  /* Peer-opened streams waiting for p2p_quic_session_stream_accepted():
   * beyond this many, new ones are refused (RESET_STREAM + STOP_SENDING,
   * their data dropped). 0 = P2P_QUIC_MAX_UNACCEPTED_STREAMS. Together:
   * at most max_unaccepted_streams * unaccepted_stream_window bytes
   * (512 KiB by default) buffered for streams nobody accepted. */
  guint max_unaccepted_streams;
  /* Client: streams may be opened and written as soon as TLS is done (the
   * server's key verified: 1 RTT), before the server confirmed ours and
   * sent its Handshake (2 RTT): a request rides with the client's Finished.
   * The server holds such streams until it is established, and drops them
   * if it refuses the client. p2p_quic_session_is_open_early() says when. */
  gboolean early_streams;
  /* Tests only: a server that does not ask for the client's key in TLS
   * (to check that it still refuses to become ESTABLISHED without it). */
  gboolean test_ignore_client_key;
  /* Key of our connection IDs (p2p_quic_cid_new): random from
   * config_init; each endpoint draws its own. */
  guint8 cid_key[P2P_QUIC_CID_KEY_LEN];
  /* The local port that the stateless reset tokens bind (0 = none: a
   * session of no listening endpoint, e.g. over ICE). */
  guint16 reset_port;
} P2pQuicSessionConfig;

/* Default cap on peer-opened streams nobody accepted yet. */
#define P2P_QUIC_MAX_UNACCEPTED_STREAMS 8

/* Default window of a peer-opened stream nobody accepted yet. */
#define P2P_QUIC_UNACCEPTED_STREAM_WINDOW (64 * 1024)

P2P_INTERNAL_EXPORT void p2p_quic_session_config_init (P2pQuicSessionConfig *cfg);
/* p2p_quic_session_config_init() with the timeouts of a provider's
 * configuration (idle, keepalive, liveness); max_udp_payload 0 = each
 * path's MTU. */
void p2p_quic_session_config_init_from (P2pQuicSessionConfig *cfg, const P2pConfig *config);

/* Client: dials and will only accept a server whose key is @expected_peer. */
P2pQuicSession *p2p_quic_session_new_client (P2pIdentity *identity, const P2pPeerId *expected_peer,
    const P2pQuicSessionConfig *cfg, const P2pQuicSessionCallbacks *cb, gpointer user_data,
    guint64 now, GError **error);

/* TRUE if @pkt looks like a client Initial that may start a new server session
 * (ngtcp2_accept). Cheap; used by listeners to demultiplex. */
P2P_INTERNAL_EXPORT gboolean p2p_quic_packet_is_initial (const guint8 *pkt, gsize len);
/* Extracts the destination connection ID of @pkt (long or short header, with
 * short-header DCID length @scid_len) into @dcid, which must hold
 * P2P_QUIC_MAX_CID_LEN bytes. Returns FALSE if unparsable or longer. */
P2P_INTERNAL_EXPORT gboolean p2p_quic_packet_get_dcid (const guint8 *pkt, gsize len, gsize short_dcid_len,
    guint8 *dcid, gsize *dcid_len);
#define P2P_QUIC_SCID_LEN 18
#define P2P_QUIC_MAX_CID_LEN 20

/* Server: created from the client's first Initial packet @pkt (which it
 * also processes). @allowed (nullable, element-type P2pPeerId*) restricts
 * which dialers are accepted (AUTHENTICATION_FAILED for others). A server
 * reaches ESTABLISHED only with the client's verified key. */
P2pQuicSession *p2p_quic_session_new_server (P2pIdentity *identity, const guint8 *pkt, gsize len,
    const P2pQuicSessionConfig *cfg, GPtrArray *allowed, const P2pQuicSessionCallbacks *cb,
    gpointer user_data, guint64 now, GError **error);

/* Address validation with a stateless Retry (RFC 9000 section 8.1), for
 * listeners: nothing is stored per client; the token (AEAD-sealed with the
 * listener's @secret) binds the client's address @sa (struct sockaddr of
 * @salen bytes) and the original destination connection ID. */
#define P2P_QUIC_RETRY_SECRET_LEN 32
typedef enum {
  P2P_QUIC_TOKEN_NONE,          /* no Retry token: answer with a Retry */
  P2P_QUIC_TOKEN_VALID,         /* the address is validated */
  P2P_QUIC_TOKEN_INVALID,       /* forged, expired or from another address: drop */
} P2pQuicTokenCheck;
/* Checks the token of client Initial @pkt; on VALID fills @odcid (at least
 * P2P_QUIC_MAX_CID_LEN bytes) and @odcid_len. Tokens live @timeout_ns. */
P2pQuicTokenCheck p2p_quic_retry_check (const guint8 *pkt, gsize len, const guint8 *secret,
    gconstpointer sa, gsize salen, guint64 timeout_ns, guint64 now, guint8 *odcid,
    gsize *odcid_len);
/* Writes the Retry packet answering client Initial @pkt into @out (at
 * least 256 bytes). Returns its length, 0 on failure. */
gsize p2p_quic_retry_write (const guint8 *pkt, gsize len, const guint8 *secret,
    gconstpointer sa, gsize salen, guint64 now, guint8 *out, gsize outlen);
/* Writes into @out (at least 256 bytes) an Initial packet answering client
 * Initial @pkt with CONNECTION_CLOSE (CONNECTION_REFUSED, @reason): no
 * state kept. Returns its length, 0 on failure. */
gsize p2p_quic_refusal_write (const guint8 *pkt, gsize len, const char *reason,
    guint8 *out, gsize outlen);
/* A new connection ID into @cid (P2P_QUIC_SCID_LEN bytes) under @key
 * (cfg.cid_key), and whether @cid is one issued under @key: by the same
 * endpoint, for a connection alive, closing or refused a moment ago (such
 * a packet never gets a Stateless Reset). */
void p2p_quic_cid_new (const guint8 *key, guint8 *cid);
gboolean p2p_quic_cid_is_ours (const guint8 *key, const guint8 *cid, gsize len);
/* Stateless Reset (RFC 9000 section 10.3): @token (16 bytes) of
 * connection ID @cid issued by an endpoint on @port (cfg.reset_port),
 * derived from @identity's secret (random without one). The sessions
 * announce these tokens for their connection IDs. */
void p2p_quic_stateless_reset_token (P2pIdentity *identity, guint16 port, const guint8 *cid,
    gsize cid_len, guint8 *token);
/* The Stateless Reset that the endpoint on @port answers @pkt with, a
 * short-header packet for which it has no connection (a restart lost it),
 * into @out: its length (smaller than @pkt: one byte less, at most
 * P2P_QUIC_STATELESS_RESET_LEN), or 0 when @pkt gets none (not longer than
 * P2P_QUIC_STATELESS_RESET_MIN_LEN, a long header, a connection ID issued
 * under @cid_key, no @identity). */
#define P2P_QUIC_STATELESS_RESET_LEN 42
#define P2P_QUIC_STATELESS_RESET_MIN_LEN 21
gsize p2p_quic_stateless_reset_write (P2pIdentity *identity, const guint8 *cid_key,
    guint16 port, const guint8 *pkt, gsize len, guint8 *out, gsize outlen);
/* Server session for an Initial whose Retry token was VALID (@odcid from
 * p2p_quic_retry_check); otherwise as p2p_quic_session_new_server. */
P2pQuicSession *p2p_quic_session_new_server_validated (P2pIdentity *identity, const guint8 *pkt,
    gsize len, const guint8 *odcid, gsize odcid_len, const P2pQuicSessionConfig *cfg,
    GPtrArray *allowed, const P2pQuicSessionCallbacks *cb, gpointer user_data, guint64 now,
    GError **error);

void p2p_quic_session_free (P2pQuicSession *s);

/* Feeds one received datagram. Malformed or foreign packets are dropped
 * silently (counted); a fatal condition moves to CLOSED and calls closed(). */
void p2p_quic_session_receive (P2pQuicSession *s, const guint8 *pkt, gsize len, guint64 now);
/* The same for a datagram that came by @route: the owner's number for one
 * remote address of its path (0: the address it started with). The server
 * moves to a new route once ngtcp2 validated it (path validation, RFC 9000
 * section 9); p2p_quic_session_get_tx_route() says where to send. */
void p2p_quic_session_receive_on (P2pQuicSession *s, guint32 route, const guint8 *pkt,
    gsize len, guint64 now);
/* The route of the datagram the last p2p_quic_session_write() returned. */
guint32 p2p_quic_session_get_tx_route (P2pQuicSession *s);
/* Sends a PING with the next write (an established session only): tells
 * the peer where we are now, after our network changed. */
void p2p_quic_session_ping (P2pQuicSession *s);
/* TRUE if @cid is one of the connection IDs this session issued (a short
 * header packet with it as destination is for this session). */
gboolean p2p_quic_session_has_scid (P2pQuicSession *s, const guint8 *cid, gsize len);
/* How many times the peer moved to a new, validated route. */
guint64 p2p_quic_session_get_migrations (P2pQuicSession *s);
/* Writes the next datagram to send into @buf (size @buflen, at least 1452).
 * Returns its length, or 0 when there is nothing to send now. Call in a loop. */
gsize p2p_quic_session_write (P2pQuicSession *s, guint8 *buf, gsize buflen, guint64 now);
/* Next time (same domain as now) p2p_quic_session_handle_timeout must be
 * called; G_MAXUINT64 = none. */
guint64 p2p_quic_session_get_deadline (P2pQuicSession *s);
void p2p_quic_session_handle_timeout (P2pQuicSession *s, guint64 now);

P2pQuicState p2p_quic_session_get_state (P2pQuicSession *s);
/* A client with early_streams whose TLS handshake is done (the server
 * authenticated) while the session is not established yet: streams may be
 * opened and written. */
gboolean p2p_quic_session_is_open_early (P2pQuicSession *s);
/* The authenticated peer (valid from ESTABLISHED; the expected one for clients). */
const P2pPeerId *p2p_quic_session_get_peer_id (P2pQuicSession *s);
/* The negotiated protocol version (the highest both speak), 0 before the
 * peer's Handshake was accepted. */
guint64 p2p_quic_session_get_protocol_version (P2pQuicSession *s);
/* The P2pCapability bits the peer advertised (unknown bits included), 0
 * before its Handshake was accepted. */
guint64 p2p_quic_session_get_peer_capabilities (P2pQuicSession *s);
gboolean p2p_quic_session_is_client (P2pQuicSession *s);
/* Tests only: the session presents no key in its TLS handshake (a
 * misbehaving peer); call before the first write(). */
void p2p_quic_session_test_forget_key (P2pQuicSession *s);

/* Queues a message (copied/referenced). LIMIT_EXCEEDED above
 * P2P_MAX_MESSAGE_SIZE; CLOSED when closing/closed. Always accepts otherwise:
 * the caller applies backpressure with get_send_queued(). */
gboolean p2p_quic_session_send_message (P2pQuicSession *s, GBytes *message, GError **error);
/* Bytes of messages queued or in flight (unacknowledged). */
gsize p2p_quic_session_get_send_queued (P2pQuicSession *s);
gsize p2p_quic_session_get_send_queue_high (P2pQuicSession *s);
/* The application is done with @n messages of @len bytes in all (sizes of
 * message() bodies): returns that much flow-control credit to the peer.
 * Until then, at most cfg.recv_window bytes of messages are delivered (and
 * buffered) ahead of consumption; a stalled consumer stalls the sender.
 * A message's frame header is credited at once, so the count is bounded
 * too: a peer with more than recv_window / 32 messages unread (at least
 * 65536; empty ones cost ~64 bytes of memory each for 2 on the wire) is
 * disconnected (LIMIT). */
void p2p_quic_session_message_consumed (P2pQuicSession *s, gsize len, guint n);

/* LIMIT_EXCEEDED if larger than get_max_datagram_size(); queued datagrams
 * beyond a small bound are dropped (counted). */
gboolean p2p_quic_session_send_datagram (P2pQuicSession *s, const guint8 *data, gsize len, GError **error);
gsize p2p_quic_session_get_max_datagram_size (P2pQuicSession *s);

/* Extra streams. open returns the stream id or -1 (+error when the peer's
 * stream limit is reached). write queues up to the stream's free buffer and
 * returns how many bytes it took (0 = full, wait for stream_writable). */
gint64 p2p_quic_session_open_stream (P2pQuicSession *s, GError **error);
gssize p2p_quic_session_stream_write (P2pQuicSession *s, gint64 stream_id, const guint8 *data,
    gsize len, GError **error);
/* The same without a copy: the session keeps a reference to @data (or to
 * the part of it that it took). */
gssize p2p_quic_session_stream_write_bytes (P2pQuicSession *s, gint64 stream_id, GBytes *data,
    GError **error);
void p2p_quic_session_stream_finish (P2pQuicSession *s, gint64 stream_id);
/* The owner accepted peer-opened stream @stream_id: its window grows from
 * cfg.unaccepted_stream_window to the normal stream window. */
void p2p_quic_session_stream_accepted (P2pQuicSession *s, gint64 stream_id);
/* Application consumed @len bytes of received stream data (opens flow control). */
void p2p_quic_session_stream_consumed (P2pQuicSession *s, gint64 stream_id, gsize len);
/* The same for a stream that is being reset: the credit goes to the
 * connection only (no MAX_STREAM_DATA inviting more on that stream). */
void p2p_quic_session_stream_dropped (P2pQuicSession *s, gsize len);
/* The application error of a stream aborted by its application
 * (p2p_connection_abort_stream(); docs/protocol.md). */
#define P2P_STREAM_ABORTED_CODE 0x102
void p2p_quic_session_stream_reset (P2pQuicSession *s, gint64 stream_id, guint64 app_error);
/* The application reads no more of stream @stream_id: STOP_SENDING with
 * @app_error (unless the peer's end has arrived); the write side goes on. */
#define P2P_STREAM_STOP_READING_CODE 0x103
void p2p_quic_session_stream_stop_reading (P2pQuicSession *s, gint64 stream_id,
    guint64 app_error);
/* TRUE while the session still tracks extra stream @stream_id (FALSE once
 * QUIC closed it in both directions). */
gboolean p2p_quic_session_has_stream (P2pQuicSession *s, gint64 stream_id);

/* Graceful close: flush queued messages, send Disconnect{code, reason}, then
 * a QUIC CONNECTION_CLOSE. */
void p2p_quic_session_close (P2pQuicSession *s, guint64 code, const char *reason);
/* Immediate close without draining. */
void p2p_quic_session_abort (P2pQuicSession *s, const GError *error);
/* Immediate CONNECTION_CLOSE with the code and reason of the graceful close
 * already requested (code 0 and no reason if none was): the last word of a
 * session dropped while it still drains, so that the peer learns the
 * reason now instead of timing out. */
void p2p_quic_session_close_now (P2pQuicSession *s);

/* packets_lost: packets carrying STREAM frames that QUIC loss detection
 * declared lost (ngtcp2_conn_get_stream_loss_count over our streams) plus
 * lost DATAGRAM packets; ngtcp2 0.12 exposes no per-connection counter, so
 * lost ACK-only packets are not counted. packets_retransmitted: the STREAM
 * part (their data is sent again). path_kind is left 0: the owner knows it. */
void p2p_quic_session_get_stats (P2pQuicSession *s, P2pConnectionStats *stats);

/* Callback rules: callbacks run from inside receive(), write(),
 * handle_timeout(), close() and abort(); they may call any function here
 * except free(). closed() is called exactly once; afterwards write() still
 * returns the CONNECTION_CLOSE (again for each packet received in the
 * closing period) until get_deadline() returns G_MAXUINT64. */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (P2pQuicSession, p2p_quic_session_free)

G_END_DECLS
