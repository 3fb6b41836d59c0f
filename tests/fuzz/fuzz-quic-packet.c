/* fuzz-quic-packet.c: libFuzzer target for the QUIC session's packet input.
 * The input is a list of datagrams (2-byte big-endian length + bytes). The
 * first one is also tried as a client Initial that starts a server session;
 * then all of them are fed to a server session started from a real client
 * Initial, with the write loop and timers run in between (virtual time).
 * Checks: no crash, no hang, no leak; the packet helpers never read past the
 * input; a Stateless Reset answer is always smaller than the packet. Built with -Dfuzz=true (clang).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <p2p/p2p.h>
#include "p2p-quic-session.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static P2pIdentity *client_id, *server_id;
static GBytes *initial;

static void
setup (void)
{
  P2pQuicSession *c;
  guint8 buf[1500];
  gsize len;

  if (initial)
    return;
  client_id = p2p_identity_new ();
  server_id = p2p_identity_new ();
  c = p2p_quic_session_new_client (client_id, p2p_identity_get_peer_id (server_id), NULL,
      NULL, NULL, 1000000000, NULL);
  g_assert (c != NULL);
  len = p2p_quic_session_write (c, buf, sizeof (buf), 1000000000);
  g_assert (len > 0);
  initial = g_bytes_new (buf, len);
  p2p_quic_session_free (c);
}

static void
drain (P2pQuicSession *s, guint64 now)
{
  guint8 buf[1500];

  for (guint i = 0; i < 64 && p2p_quic_session_write (s, buf, sizeof (buf), now) > 0; i++)
    ;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  P2pQuicSession *s;
  guint64 now = 1000000000;
  gsize pos = 0;
  gsize ilen;
  const guint8 *ip;
  guint8 dcid[P2P_QUIC_MAX_CID_LEN];
  gsize dlen;

  setup ();

  /* helpers and server creation on the raw input */
  (void) p2p_quic_packet_is_initial (data, size);
  (void) p2p_quic_packet_get_dcid (data, size, P2P_QUIC_SCID_LEN, dcid, &dlen);
  {
    /* the Stateless Reset a listener would answer it with: never longer
     * than the input, never more than the reset's size */
    static const guint8 key[P2P_QUIC_CID_KEY_LEN];
    guint8 reset[P2P_QUIC_STATELESS_RESET_LEN];
    gsize n = p2p_quic_stateless_reset_write (server_id, key, 4433, data, size, reset,
        sizeof reset);

    g_assert (n == 0 || (n < size && n >= P2P_QUIC_STATELESS_RESET_MIN_LEN));
  }
  s = p2p_quic_session_new_server (server_id, data, size, NULL, NULL, NULL, NULL, now, NULL);
  if (s) {
    drain (s, now);
    p2p_quic_session_free (s);
  }

  /* a live server session fed the datagrams */
  ip = g_bytes_get_data (initial, &ilen);
  s = p2p_quic_session_new_server (server_id, ip, ilen, NULL, NULL, NULL, NULL, now, NULL);
  g_assert (s != NULL);
  drain (s, now);
  while (pos + 2 <= size) {
    gsize n = ((gsize) data[pos] << 8) | data[pos + 1];

    pos += 2;
    n = MIN (n, size - pos);
    p2p_quic_session_receive (s, data + pos, n, now);
    pos += n;
    now += 1000000;
    if (p2p_quic_session_get_deadline (s) <= now)
      p2p_quic_session_handle_timeout (s, now);
    drain (s, now);
  }
  p2p_quic_session_free (s);
  return 0;
}
