/* fuzz-frame.c: libFuzzer target for the wire frame decoder and every body
 * parser. The first input byte chooses the chunk size the rest is fed in
 * (so frames are split at arbitrary positions); each decoded frame's body
 * goes through the parser of its type, and the datagram body parser runs
 * on the raw input. Built with -Dfuzz=true (clang).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <p2p/p2p.h>
#include "p2p-control-frame.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
parse_body (guint64 type, GBytes *body)
{
  gsize len;
  const guint8 *p = g_bytes_get_data (body, &len);
  g_autoptr (GError) error = NULL;

  switch (type) {
    case P2P_FRAME_HANDSHAKE: {
      guint64 v, c;

      if (p2p_frame_parse_handshake (p, len, &v, &c, &error)) {
        /* re-encoding a parsed handshake gives a body that parses the same */
        g_autoptr (GByteArray) out = g_byte_array_new ();
        guint64 v2, c2;

        p2p_frame_append_handshake (out, v, c);
        g_assert (out->len >= 2);
        g_assert (p2p_frame_parse_handshake (out->data + 2, out->len - 2, &v2, &c2, NULL));
        g_assert (v == v2 && c == c2);
      }
      break;
    }
    case P2P_FRAME_DISCONNECT: {
      guint64 code;
      g_autofree char *reason = NULL;

      if (p2p_frame_parse_disconnect (p, len, &code, &reason, &error))
        g_assert (g_utf8_validate (reason, -1, NULL) && strlen (reason) <= 1024);
      break;
    }
    case P2P_FRAME_STREAM_START:
    case P2P_FRAME_CAPS:
    case P2P_FRAME_TAG: {
      g_autofree char *s = p2p_frame_parse_string (p, len, &error);

      if (s)
        g_assert (strlen (s) == len);
      break;
    }
    case P2P_FRAME_SEGMENT: {
      P2pMediaSegment seg;

      p2p_frame_parse_segment (p, len, &seg, &error);
      break;
    }
    case P2P_FRAME_BUFFER: {
      P2pMediaBuffer buf;

      if (p2p_frame_parse_buffer (p, len, &buf, &error))
        g_assert (buf.payload + buf.payload_len == p + len);
      break;
    }
    case P2P_FRAME_GAP: {
      guint64 ts, dur;

      p2p_frame_parse_gap (p, len, &ts, &dur, &error);
      break;
    }
    case P2P_FRAME_FLUSH_STOP: {
      gboolean reset;

      p2p_frame_parse_flush_stop (p, len, &reset, &error);
      break;
    }
    default:
      break;
  }
  if (error)
    g_assert (error->domain == P2P_ERROR && error->code == P2P_ERROR_PROTOCOL);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr (P2pFrameDecoder) dec = NULL;
  g_autoptr (GError) error = NULL;
  gsize chunk, pos = 0;
  guint frames = 0;

  if (size == 0)
    return 0;
  chunk = (gsize) data[0] + 1;
  data++;
  size--;

  /* a small maximum so the limit path is reachable too */
  dec = p2p_frame_decoder_new (size % 2 ? 4096 : 0);
  while (pos < size && error == NULL) {
    gsize n = MIN (chunk, size - pos);
    guint64 type;
    GBytes *body;

    p2p_frame_decoder_push (dec, data + pos, n);
    pos += n;
    while (p2p_frame_decoder_next (dec, &type, &body, &error)) {
      parse_body (type, body);
      g_bytes_unref (body);
      frames++;
    }
  }
  if (error)
    g_assert (error->code == P2P_ERROR_PROTOCOL);
  else
    g_assert (p2p_frame_decoder_pending (dec) <= size);

  {
    P2pMediaBuffer buf;
    g_autoptr (GError) derr = NULL;

    if (p2p_media_buffer_decode_body (data, size, &buf, &derr))
      g_assert (buf.payload + buf.payload_len == data + size);
  }
  (void) frames;
  return 0;
}
