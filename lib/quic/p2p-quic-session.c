/* p2p-quic-session.c: the sans-I/O QUIC session (ngtcp2 0.12 + gnutls) with
 * Ed25519 raw-public-key authentication and the gst-p2p protocol on top.
 *
 * QUIC session design
 * -------------------
 * - I/O: datagrams and `now` (ns) in, datagrams and the next deadline out.
 *   ngtcp2 wants an ngtcp2_path with socket addresses; the session is
 *   address-agnostic (the owner's packet path decides where packets go):
 *   ngtcp2 sees dummy addresses, 127.0.0.1:1 -> 127.64.X.Y:P, where the
 *   remote one names a route of the owner's path (route 0 = where it
 *   started; a server's path learns further routes when its client's
 *   address changes, and ngtcp2 validates them: see
 *   p2p_quic_session_receive_on()).
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
 *
 * Files: this one creates and frees the session and runs its I/O (the
 * safe point after_io, reading packets, timers, deadline, stats);
 * p2p-quic-session-protocol.c the control and message protocol and
 * datagrams, p2p-quic-session-streams.c the extra streams,
 * p2p-quic-send-queue.c the per-stream send queue,
 * p2p-quic-session-write.c the write scheduler, p2p-quic-session-close.c
 * the close state, p2p-quic-session-callbacks.c the ngtcp2 callbacks,
 * p2p-quic-packet.c the session-less packet checks and Retry,
 * p2p-ngtcp2-mem.c the allocator each connection gives ngtcp2 (it frees
 * what ngtcp2 0.12 loses); what they share is in
 * p2p-quic-session-private.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-quic-session-private.h"

#include <string.h>
#include <arpa/inet.h>
#include <sodium.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "p2p/p2p-error.h"
#include "p2p-ngtcp2-compat.h"
#include "p2p-mtu.h"

#define DEFAULT_IDLE_TIMEOUT_NS (30 * G_GUINT64_CONSTANT (1000000000))
#define DEFAULT_RECV_WINDOW (8 * 1024 * 1024)
#define MIN_RECV_WINDOW (P2P_MAX_MESSAGE_SIZE + 64 * 1024)
#define MAX_DATAGRAM_FRAME_SIZE 65535
#define CONN_WINDOW (32 * 1024 * 1024)

/* ------------------------------------------------------------------ */
/* creation */

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

/* After ngtcp2_conn_client_new() or _server_new() returned @rv: on
 * success ties the connection to the TLS session and sets the keepalive. */
static gboolean
conn_created (P2pQuicSession *s, int rv, GError **error)
{
  if (rv != 0) {
    /* ngtcp2 freed what it had made, but left the pointer */
    s->conn = NULL;
    g_set_error (error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "could not create the QUIC connection: %s", ngtcp2_strerror (rv));
    return FALSE;
  }
  ngtcp2_conn_set_tls_native_handle (s->conn, s->tls.session);
  if (s->cfg.keepalive_ns)
    ngtcp2_conn_set_keep_alive_timeout (s->conn, s->cfg.keepalive_ns);
  return TRUE;
}

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
  if (sodium_init () < 0)
    g_error ("libsodium could not be initialised");
  randombytes_buf (cfg->cid_key, sizeof cfg->cid_key);
  cfg->congestion_control = P2P_CONGESTION_CONTROL_BBR2;
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
  cfg->early_streams = config->early_streams;
  cfg->congestion_control = config->congestion_control;
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
  p2p_quic_send_stream_init (&s->control);
  p2p_quic_send_stream_init (&s->msg);
  s->control_dec = p2p_frame_decoder_new (64 * 1024);
  s->msg_dec = p2p_frame_decoder_new (P2P_MAX_MESSAGE_SIZE);
  s->streams = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
      p2p_quic_extra_stream_free);
  g_queue_init (&s->early_messages);
  g_queue_init (&s->ready);
  g_queue_init (&s->early_streams);
  g_queue_init (&s->refuse);
  g_queue_init (&s->datagrams);

  s->local_sa.sin_family = AF_INET;
  s->local_sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  s->local_sa.sin_port = htons (1);
  s->remote_sa = s->local_sa;
  p2p_quic_session_route_set (s, 0);
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
  switch (s->cfg.congestion_control) {
    case P2P_CONGESTION_CONTROL_RENO: settings->cc_algo = NGTCP2_CC_ALGO_RENO; break;
    case P2P_CONGESTION_CONTROL_BBR: settings->cc_algo = NGTCP2_CC_ALGO_BBR; break;
    case P2P_CONGESTION_CONTROL_BBR2: settings->cc_algo = NGTCP2_CC_ALGO_BBR2; break;
    default: settings->cc_algo = NGTCP2_CC_ALGO_CUBIC; break;
  }
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
  /* The server follows a client whose address changed (NAT rebinding, a
   * new network), after validating the new path (RFC 9000 section 9); the
   * client never moves actively (its socket is bound to the wildcard
   * address, the kernel picks the new source address). */
  params->disable_active_migration = 0;
}

P2pQuicSession *
p2p_quic_session_new_client (P2pIdentity *identity, const P2pPeerId *expected_peer,
    const P2pQuicSessionConfig *cfg, const P2pQuicSessionCallbacks *cb, gpointer user_data,
    guint64 now, GError **error)
{
  g_autoptr (P2pQuicSession) s = NULL;
  ngtcp2_callbacks callbacks = p2p_quic_session_base_callbacks ();
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
  p2p_quic_cid_new (s->cfg.cid_key, scid.data);

  if (!tls_setup (s, error))
    return NULL;
  p2p_ng_mem_init (&s->ng_mem);
  rv = ngtcp2_conn_client_new (&s->conn, &dcid, &scid, &s->path, NGTCP2_PROTO_VER_V1,
      &callbacks, &settings, &params, &s->ng_mem.mem, s);
  if (!conn_created (s, rv, error))
    return NULL;

  /* The Handshake frame is the first thing on the control stream. */
  hs = g_byte_array_new ();
  p2p_frame_append_handshake_range (hs, s->cfg.protocol_version_min, s->cfg.protocol_version,
      s->cfg.capabilities);
  p2p_quic_session_queue_control_frame (s, hs);
  return g_steal_pointer (&s);
}

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
  ngtcp2_callbacks callbacks = p2p_quic_session_base_callbacks ();
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
  scid.datalen = P2P_QUIC_SCID_LEN;
  p2p_quic_cid_new (s->cfg.cid_key, scid.data);
  params.stateless_reset_token_present = 1;
  p2p_quic_stateless_reset_token (identity, s->cfg.reset_port, scid.data, scid.datalen,
      params.stateless_reset_token);

  if (!tls_setup (s, error))
    return NULL;
  p2p_ng_mem_init (&s->ng_mem);
  rv = ngtcp2_conn_server_new (&s->conn, &hd.scid, &scid, &s->path, hd.version, &callbacks,
      &settings, &params, &s->ng_mem.mem, s);
  if (!conn_created (s, rv, error))
    return NULL;

  s->packets_received++;
  s->bytes_received += len;
  rv = read_packet (s, pkt, len, now);
  if (rv != 0 || s->fatal_set) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "the client's first packet could not be processed: %s",
        s->fatal_error ? s->fatal_error->message : ngtcp2_strerror (rv));
    return NULL;
  }
  p2p_quic_session_after_io (s, now);
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
  p2p_ng_mem_clear (&s->ng_mem);
  p2p_quic_tls_clear (&s->tls);
  p2p_quic_send_stream_clear (&s->control);
  p2p_quic_send_stream_clear (&s->msg);
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

/* The safe point: runs what callbacks inside ngtcp2 only recorded. Not
 * re-entered when an application callback calls back into the session. */
void
p2p_quic_session_after_io (P2pQuicSession *s, guint64 now)
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
      p2p_quic_session_set_fatal (s, CLOSE_APP, P2P_DISCONNECT_PROTOCOL_ERROR,
          g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
              "the gst-p2p handshake did not complete within %.1f s",
              s->cfg.handshake_timeout_ns / 1e9), NULL, "handshake timeout");
    p2p_quic_session_maybe_establish (s);
    /* an early-streams client is usable from here: its setup time */
    if (p2p_quic_session_is_open_early (s))
      p2p_quic_session_note_setup_time (s);
    p2p_quic_session_refuse_streams (s);
    p2p_quic_session_ensure_streams (s);
    p2p_quic_session_progress_close (s);
    p2p_quic_session_apply_fatal (s, now);
    if (s->writable_pending && s->state != P2P_QUIC_STATE_CLOSED) {
      s->writable_pending = FALSE;
      if (s->cb.writable)
        s->cb.writable (s, s->user_data);
    }
    p2p_quic_session_report_closed (s);
  } while (s->after_io_again);
  s->in_after_io = FALSE;
}

static int
read_packet (P2pQuicSession *s, const guint8 *pkt, gsize len, guint64 now)
{
  int rv;

  s->in_ngtcp2++;
  p2p_quic_session_read_begin (s);
  rv = ngtcp2_conn_read_pkt (s->conn, &s->path, NULL, pkt, len, now);
  p2p_quic_session_read_end (s);
  s->in_ngtcp2--;
  if (rv == 0)
    return 0;

  switch (rv) {
    case NGTCP2_ERR_DRAINING:
      p2p_quic_session_fatal_from_peer_close (s);
      break;
    case NGTCP2_ERR_CRYPTO:{
      GError *err;

      if (s->tls.auth_error)
        err = g_error_new (P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED, "%s", s->tls.auth_error);
      else
        err = g_error_new (P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED,
            "TLS handshake failed (alert %u): check that both peers run gst-p2p with "
            "Ed25519 identities", ngtcp2_conn_get_tls_alert (s->conn));
      p2p_quic_session_set_fatal (s, CLOSE_TLS, 0, err, NULL, s->tls.auth_error);
      break;
    }
    case NGTCP2_ERR_CALLBACK_FAILURE:
      if (!s->fatal_set)
        p2p_quic_session_set_fatal (s, CLOSE_LIBERR, (guint64) (gint64) NGTCP2_ERR_INTERNAL,
            g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL, "internal error in the QUIC session"),
            NULL, NULL);
      break;
    case NGTCP2_ERR_DROP_CONN:
      p2p_quic_session_set_fatal (s, CLOSE_SILENT, 0, g_error_new (P2P_ERROR,
              P2P_ERROR_CONNECTION_FAILED,
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
        p2p_quic_session_set_fatal (s, CLOSE_LIBERR, (guint64) (gint64) rv, g_error_new (P2P_ERROR,
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
void
p2p_quic_session_track_in_flight (P2pQuicSession *s, guint64 now)
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

#define ROUTE_NET 0x7f400000u   /* 127.64.0.0 */

void
p2p_quic_session_route_set (P2pQuicSession *s, guint32 route)
{
  s->remote_sa.sin_addr.s_addr = htonl (ROUTE_NET | (route >> 16));
  s->remote_sa.sin_port = htons ((guint16) (2 + MIN (route & 0xffff, 0xfffd)));
}

guint32
p2p_quic_session_route_of (const ngtcp2_addr *remote)
{
  const struct sockaddr_in *sin = (const struct sockaddr_in *) remote->addr;
  guint32 ip;
  guint16 port;

  if (sin == NULL || remote->addrlen < (ngtcp2_socklen) sizeof (*sin) || sin->sin_family != AF_INET)
    return 0;
  ip = ntohl (sin->sin_addr.s_addr);
  port = ntohs (sin->sin_port);
  return ((ip & 0xffff) << 16) | (guint32) (port >= 2 ? port - 2 : 0);
}

guint32
p2p_quic_session_get_tx_route (P2pQuicSession *s)
{
  g_return_val_if_fail (s != NULL, 0);

  return s->tx_route;
}

/* A PING at the next write: ngtcp2 0.12 has no call for one, but sends
 * one when its keepalive timer has expired; so the timer is made to expire
 * now and set back once a packet went out (p2p_quic_session_write()). */
void
p2p_quic_session_ping (P2pQuicSession *s)
{
  g_return_if_fail (s != NULL);

  if (s->conn == NULL || s->state != P2P_QUIC_STATE_ESTABLISHED || s->in_ngtcp2)
    return;
  ngtcp2_conn_set_keep_alive_timeout (s->conn, 1);
  s->ping_pending = TRUE;
}

void
p2p_quic_session_ping_sent (P2pQuicSession *s)
{
  s->ping_pending = FALSE;
  ngtcp2_conn_set_keep_alive_timeout (s->conn, s->cfg.keepalive_ns ? s->cfg.keepalive_ns : UINT64_MAX);
}

gboolean
p2p_quic_session_has_scid (P2pQuicSession *s, const guint8 *cid, gsize len)
{
  g_autofree ngtcp2_cid *scids = NULL;
  gsize n;

  g_return_val_if_fail (s != NULL, FALSE);

  if (s->conn == NULL || len == 0 || len > NGTCP2_MAX_CIDLEN)
    return FALSE;
  scids = g_new (ngtcp2_cid, MAX (ngtcp2_conn_get_num_scid (s->conn), 1));
  n = ngtcp2_conn_get_scid (s->conn, scids);
  for (gsize i = 0; i < n; i++) {
    if (scids[i].datalen == len && memcmp (scids[i].data, cid, len) == 0)
      return TRUE;
  }
  return FALSE;
}

guint64
p2p_quic_session_get_migrations (P2pQuicSession *s)
{
  g_return_val_if_fail (s != NULL, 0);

  return s->migrations;
}

void
p2p_quic_session_receive (P2pQuicSession *s, const guint8 *pkt, gsize len, guint64 now)
{
  p2p_quic_session_receive_on (s, 0, pkt, len, now);
}

/* The peer is heard again after at least this long a silence. */
#define HEARD_AGAIN_NS (300 * G_GUINT64_CONSTANT (1000000))

/* The peer was silent and is heard again (a link that was down is up, a
 * NAT rebound) while our data waits for a probe in exponential PTO backoff:
 * after an outage of T that probe is up to about T away. The path works
 * again, so probe now: ngtcp2 0.12 has no call for it, so its loss
 * detection timer is run at the timer's own deadline, a little early (only
 * the PTO and timers due by then fire; nothing is sent with that time).
 * Then the probes go out with this datagram's answer and the data follows
 * one round trip later. ngtcp2 1.x hides the timer: no early probe there. */
static void
probe_now (P2pQuicSession *s, guint64 now)
{
#if NGTCP2_VERSION_NUM < 0x010000
  ngtcp2_conn_stat st;
  int rv;

  if (s->state != P2P_QUIC_STATE_ESTABLISHED || s->conn == NULL)
    return;
  ngtcp2_conn_get_conn_stat (s->conn, &st);
  if (st.pto_count < 2 || st.loss_detection_timer == UINT64_MAX ||
      st.loss_detection_timer <= now)
    return;
  g_debug ("quic: peer heard again after a silence; probing now, not in %.0f ms",
      (st.loss_detection_timer - now) / 1e6);
  s->early_probes++;
  s->in_ngtcp2++;
  rv = ngtcp2_conn_handle_expiry (s->conn, st.loss_detection_timer);
  s->in_ngtcp2--;
  if (rv < 0 && rv != NGTCP2_ERR_IDLE_CLOSE && rv != NGTCP2_ERR_HANDSHAKE_TIMEOUT)
    p2p_quic_session_fatal_from_write (s, rv);
#endif
}

void
p2p_quic_session_receive_on (P2pQuicSession *s, guint32 route, const guint8 *pkt, gsize len,
    guint64 now)
{
  guint64 silent_since;

  g_return_if_fail (s != NULL);
  g_return_if_fail (s->in_ngtcp2 == 0);

  if (pkt == NULL || len == 0)
    return;
  p2p_quic_session_route_set (s, route);
  s->last_now = now;
  s->packets_received++;
  s->bytes_received += len;
  if (s->state == P2P_QUIC_STATE_CLOSED) {
    /* closing period: answer with our CONNECTION_CLOSE again */
    if (s->cc_pkt && now < s->closing_end)
      s->cc_send = TRUE;
    return;
  }
  silent_since = s->last_rx;
  /* only a packet whose payload decrypted is word from the peer: junk
   * from its address (a new process on its port, a spoofer), which ngtcp2
   * drops, must not keep a vanished peer's connection alive past the
   * liveness timeout. (A replay of a real packet decrypts: an on-path
   * attacker could still hold it; such a one can also drop every packet.) */
  if (read_packet (s, pkt, len, now) == 0 && s->decrypted) {
    s->last_rx = now;
    if (silent_since != 0 && now - silent_since >= HEARD_AGAIN_NS)
      probe_now (s, now);
    p2p_quic_session_track_in_flight (s, now);
  }
  p2p_quic_session_after_io (s, now);
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
    p2p_quic_session_set_fatal (s, CLOSE_SILENT, 0, g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
            "the peer stopped answering: nothing received for %.1f s, %" G_GUINT64_FORMAT
            " bytes unacknowledged for %.1f s", (now - MAX (s->last_rx, s->created)) / 1e9,
            st.bytes_in_flight, (now - s->inflight_since) / 1e9), NULL, NULL);
    p2p_quic_session_after_io (s, now);
    return;
  }
  s->in_ngtcp2++;
  rv = ngtcp2_conn_handle_expiry (s->conn, now);
  s->in_ngtcp2--;
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    p2p_quic_session_set_fatal (s, CLOSE_SILENT, 0, g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
            "no packet from the peer for %.1f s", s->cfg.idle_timeout_ns / 1e9), NULL, NULL);
  } else if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
    p2p_quic_session_set_fatal (s, CLOSE_SILENT, 0, g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
            "the QUIC handshake did not complete within %.1f s",
            s->cfg.handshake_timeout_ns / 1e9), NULL, NULL);
  } else if (rv < 0) {
    p2p_quic_session_fatal_from_write (s, rv);
  }
  p2p_quic_session_after_io (s, now);
}

/* ------------------------------------------------------------------ */
/* state */

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
  stats->migrations = s->migrations;
}
