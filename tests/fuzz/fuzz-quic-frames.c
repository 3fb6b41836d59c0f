/* fuzz-quic-frames.c: libFuzzer target for the QUIC session past packet
 * protection: arbitrary decrypted 1-RTT frames fed to an established
 * session (ngtcp2's frame decoder, then lib/quic/p2p-quic-session*.c's stream,
 * datagram, flow-control and close handling, and the control and message
 * stream parsers behind them).
 *
 * How: the fuzzer is linked with -Wl,--wrap for ngtcp2_crypto_encrypt_cb,
 * ngtcp2_crypto_decrypt_cb and ngtcp2_crypto_hp_mask_cb (tests/fuzz/
 * meson.build), so the sessions' packet protection is the identity plus a
 * 16-byte zero tag and header protection masks with zeros. TLS itself runs
 * unchanged: each input starts with a real in-memory handshake between a
 * client and a server session (virtual time) until both are ESTABLISHED.
 * The target then sends a message, a datagram and bytes on an extra stream
 * (packets the fuzzer's ACK frames can acknowledge, lost otherwise), and
 * each input record becomes the payload of one short-header packet with the
 * peer's header (destination connection ID, key phase) and increasing
 * packet numbers, delivered to the target; its answers are written and
 * dropped, timers run in between.
 *
 * Input: byte 0 bit 0 selects the target (0 the server, 1 the client); then
 * records of a 2-byte big-endian length and that many frame bytes.
 * Stream offsets after the handshake: the control stream (id 0) is at 4 in
 * both directions (the 4-byte Handshake frames), message streams (client 2,
 * server 3) at 0. tests/fuzz/corpus/quic-frames/ holds hand-built seeds
 * (tests/fuzz/make-quic-frames-corpus.py writes them).
 * Checks: no crash, no hang, no leak, no read past the input.
 * Built with -Dfuzz=true (clang).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <p2p/p2p.h>
#include "p2p-quic-session.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

/* ---- null packet protection (the --wrap'ed ngtcp2 crypto callbacks) ---- */

#define NULL_TAG_LEN 16

int __wrap_ngtcp2_crypto_encrypt_cb (uint8_t *dest, const ngtcp2_crypto_aead *aead,
    const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *plaintext, size_t plaintextlen,
    const uint8_t *nonce, size_t noncelen, const uint8_t *aad, size_t aadlen);
int __wrap_ngtcp2_crypto_decrypt_cb (uint8_t *dest, const ngtcp2_crypto_aead *aead,
    const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *ciphertext, size_t ciphertextlen,
    const uint8_t *nonce, size_t noncelen, const uint8_t *aad, size_t aadlen);
int __wrap_ngtcp2_crypto_hp_mask_cb (uint8_t *dest, const ngtcp2_crypto_cipher *hp,
    const ngtcp2_crypto_cipher_ctx *hp_ctx, const uint8_t *sample);

int
__wrap_ngtcp2_crypto_encrypt_cb (uint8_t *dest, const ngtcp2_crypto_aead *aead,
    const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *plaintext, size_t plaintextlen,
    const uint8_t *nonce, size_t noncelen, const uint8_t *aad, size_t aadlen)
{
  g_assert (aead->max_overhead == NULL_TAG_LEN);
  memmove (dest, plaintext, plaintextlen);
  memset (dest + plaintextlen, 0, NULL_TAG_LEN);
  return 0;
}

int
__wrap_ngtcp2_crypto_decrypt_cb (uint8_t *dest, const ngtcp2_crypto_aead *aead,
    const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *ciphertext, size_t ciphertextlen,
    const uint8_t *nonce, size_t noncelen, const uint8_t *aad, size_t aadlen)
{
  if (ciphertextlen < NULL_TAG_LEN)
    return NGTCP2_ERR_DECRYPT;
  memmove (dest, ciphertext, ciphertextlen - NULL_TAG_LEN);
  return 0;
}

int
__wrap_ngtcp2_crypto_hp_mask_cb (uint8_t *dest, const ngtcp2_crypto_cipher *hp,
    const ngtcp2_crypto_cipher_ctx *hp_ctx, const uint8_t *sample)
{
  memset (dest, 0, NGTCP2_HP_MASKLEN);
  return 0;
}

/* ---- the sessions ---- */

static P2pIdentity *client_id, *server_id;

static void
on_message (P2pQuicSession *s, GBytes *message, gpointer user_data)
{
  p2p_quic_session_message_consumed (s, g_bytes_get_size (message), 1);
  g_bytes_unref (message);
}

static void
on_stream_opened (P2pQuicSession *s, gint64 stream_id, gpointer user_data)
{
  p2p_quic_session_stream_accepted (s, stream_id);
}

static void
on_stream_data (P2pQuicSession *s, gint64 stream_id, const guint8 *data, gsize len,
    gboolean fin, gpointer user_data)
{
  p2p_quic_session_stream_consumed (s, stream_id, len);
}

static const P2pQuicSessionCallbacks callbacks = {
  .message = on_message,
  .stream_opened = on_stream_opened,
  .stream_data = on_stream_data,
};

/* Moves every packet @from writes to @to; returns how many. */
static guint
pump (P2pQuicSession *from, P2pQuicSession *to, guint64 now)
{
  guint8 buf[1500];
  gsize len;
  guint n = 0;

  while (n < 64 && (len = p2p_quic_session_write (from, buf, sizeof (buf), now)) > 0) {
    if (to)
      p2p_quic_session_receive (to, buf, len, now);
    n++;
  }
  return n;
}

/* The header of a short-header packet @from writes next (after the
 * handshake): first byte and destination connection ID into @hdr (1 +
 * P2P_QUIC_SCID_LEN bytes), the truncated packet number into @pn. */
static void
capture_header (P2pQuicSession *from, guint64 now, guint8 *hdr, guint32 *pn)
{
  guint8 buf[1500];
  gsize len;
  guint pnlen;

  g_assert (p2p_quic_session_send_datagram (from, (const guint8 *) "x", 1, NULL));
  len = p2p_quic_session_write (from, buf, sizeof (buf), now);
  g_assert (len > 1 + P2P_QUIC_SCID_LEN + 4 && (buf[0] & 0x80) == 0);
  memcpy (hdr, buf, 1 + P2P_QUIC_SCID_LEN);
  pnlen = (buf[0] & 3) + 1;
  *pn = 0;
  for (guint i = 0; i < pnlen; i++)
    *pn = (*pn << 8) | buf[1 + P2P_QUIC_SCID_LEN + i];
  pump (from, NULL, now);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  P2pQuicSession *c, *s, *target, *peer;
  guint64 now = 1000000000;
  guint8 hdr[1 + P2P_QUIC_SCID_LEN];
  guint8 pkt[1 + P2P_QUIC_SCID_LEN + 4 + 1400 + NULL_TAG_LEN];
  guint8 buf[1500];
  guint32 pn;
  gsize pos = 1, len;
  gint64 sid;
  g_autoptr (GBytes) msg = g_bytes_new_static ("hello", 5);

  if (size < 1)
    return 0;
  if (client_id == NULL) {
    client_id = p2p_identity_new ();
    server_id = p2p_identity_new ();
  }

  /* in-memory handshake */
  c = p2p_quic_session_new_client (client_id, p2p_identity_get_peer_id (server_id), NULL,
      &callbacks, NULL, now, NULL);
  g_assert (c != NULL);
  len = p2p_quic_session_write (c, buf, sizeof (buf), now);
  g_assert (len > 0);
  s = p2p_quic_session_new_server (server_id, buf, len, NULL, NULL, &callbacks, NULL, now, NULL);
  g_assert (s != NULL);
  for (guint round = 0; round < 32; round++) {
    guint moved = pump (s, c, now) + pump (c, s, now);

    if (moved == 0 && p2p_quic_session_get_state (c) == P2P_QUIC_STATE_ESTABLISHED
        && p2p_quic_session_get_state (s) == P2P_QUIC_STATE_ESTABLISHED)
      break;
    now += 1000000;
  }
  g_assert (p2p_quic_session_get_state (c) == P2P_QUIC_STATE_ESTABLISHED);
  g_assert (p2p_quic_session_get_state (s) == P2P_QUIC_STATE_ESTABLISHED);

  target = (data[0] & 1) ? c : s;
  peer = target == c ? s : c;
  capture_header (peer, now, hdr, &pn);

  /* data in flight from the target for ACK frames to acknowledge */
  g_assert (p2p_quic_session_send_message (target, msg, NULL));
  g_assert (p2p_quic_session_send_datagram (target, (const guint8 *) "dgram", 5, NULL));
  sid = p2p_quic_session_open_stream (target, NULL);
  g_assert (sid >= 0);
  g_assert (p2p_quic_session_stream_write (target, sid, (const guint8 *) "extra", 5, NULL) == 5);
  pump (target, NULL, now);

  while (pos + 2 <= size && p2p_quic_session_get_state (target) != P2P_QUIC_STATE_CLOSED) {
    gsize n = ((gsize) data[pos] << 8) | data[pos + 1];
    gsize off = 0;

    pos += 2;
    n = MIN (n, size - pos);
    n = MIN (n, 1400);
    pn++;
    memcpy (pkt, hdr, sizeof (hdr));
    pkt[0] = (pkt[0] & ~3) | 3;         /* 4-byte packet number */
    off = sizeof (hdr);
    pkt[off++] = pn >> 24;
    pkt[off++] = pn >> 16;
    pkt[off++] = pn >> 8;
    pkt[off++] = pn;
    memcpy (pkt + off, data + pos, n);
    off += n;
    memset (pkt + off, 0, NULL_TAG_LEN);
    off += NULL_TAG_LEN;
    pos += n;

    p2p_quic_session_receive (target, pkt, off, now);
    pump (target, NULL, now);
    now += 1000000;
    if (p2p_quic_session_get_deadline (target) <= now) {
      p2p_quic_session_handle_timeout (target, now);
      pump (target, NULL, now);
    }
  }
  p2p_quic_session_free (c);
  p2p_quic_session_free (s);
  return 0;
}
