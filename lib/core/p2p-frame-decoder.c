/* p2p-frame-decoder.c: the incremental frame decoder (p2p/p2p-frame.h):
 * bytes split anywhere in, whole frames out.
 *
 * Allocation-bounded: it rejects an over-long length before the body
 * arrives, and a failed decoder stays failed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-frame.h"
#include "p2p/p2p-error.h"

struct _P2pFrameDecoder {
  GByteArray *buf;
  gsize pos;                    /* first unconsumed byte of buf */
  gsize max_frame_size;
  char *failure;                /* set once a malformed frame was seen */
};

/**
 * p2p_frame_decoder_new: (skip)
 * @max_frame_size: the largest body accepted, 0 = %P2P_MAX_FRAME_SIZE
 *
 * Returns: (transfer full): an incremental decoder, freed with
 *   p2p_frame_decoder_free().
 */
P2pFrameDecoder *
p2p_frame_decoder_new (gsize max_frame_size)
{
  P2pFrameDecoder *dec = g_new0 (P2pFrameDecoder, 1);

  dec->buf = g_byte_array_new ();
  dec->max_frame_size = max_frame_size ? max_frame_size : P2P_MAX_FRAME_SIZE;
  return dec;
}

/**
 * p2p_frame_decoder_free: (skip)
 * @dec: (nullable): a decoder
 */
void
p2p_frame_decoder_free (P2pFrameDecoder *dec)
{
  if (dec == NULL)
    return;
  g_byte_array_unref (dec->buf);
  g_free (dec->failure);
  g_free (dec);
}

static void
decoder_compact (P2pFrameDecoder *dec)
{
  if (dec->pos == 0)
    return;
  if (dec->pos == dec->buf->len) {
    g_byte_array_set_size (dec->buf, 0);
    dec->pos = 0;
  } else if (dec->pos >= 4096 && dec->pos >= dec->buf->len / 2) {
    /* Amortised: each byte is moved O(1) times on average. */
    g_byte_array_remove_range (dec->buf, 0, (guint) dec->pos);
    dec->pos = 0;
  }
}

/**
 * p2p_frame_decoder_push: (skip)
 * @dec: a decoder
 * @data: (array length=len): bytes of the stream
 * @len: their length
 *
 * Appends bytes (copied).
 */
void
p2p_frame_decoder_push (P2pFrameDecoder *dec, const guint8 *data, gsize len)
{
  g_return_if_fail (dec != NULL);
  g_return_if_fail (data != NULL || len == 0);
  g_return_if_fail (len <= G_MAXUINT);

  if (dec->failure != NULL || len == 0)
    return;                     /* a failed decoder ignores further input */
  decoder_compact (dec);
  g_byte_array_append (dec->buf, data, (guint) len);
}

/**
 * p2p_frame_decoder_next: (skip)
 * @dec: a decoder
 * @type: (out): the frame type
 * @body: (out) (transfer full): the body
 * @error: %P2P_ERROR_PROTOCOL on malformed input
 *
 * Returns: TRUE when a whole frame was taken; FALSE without error when more
 *   bytes are needed.
 */
gboolean
p2p_frame_decoder_next (P2pFrameDecoder *dec, guint64 *type, GBytes **body, GError **error)
{
  const guint8 *p;
  gsize avail, n1, n2;
  guint64 t, flen;

  g_return_val_if_fail (dec != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (dec->failure != NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "%s", dec->failure);
    return FALSE;
  }

  avail = dec->buf->len - dec->pos;
  if (avail == 0)
    return FALSE;
  p = dec->buf->data + dec->pos;
  n1 = p2p_varint_read (p, avail, &t);
  if (n1 == 0)
    return FALSE;
  n2 = p2p_varint_read (p + n1, avail - n1, &flen);
  if (n2 == 0)
    return FALSE;
  if (flen > dec->max_frame_size) {
    dec->failure = g_strdup_printf ("frame of type 0x%" G_GINT64_MODIFIER "x announces a "
        "body of %" G_GUINT64_FORMAT " bytes, above the maximum of %" G_GSIZE_FORMAT
        " bytes", t, flen, dec->max_frame_size);
    g_byte_array_set_size (dec->buf, 0);
    dec->pos = 0;
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "%s", dec->failure);
    return FALSE;
  }
  if (avail - n1 - n2 < flen)
    return FALSE;

  if (type)
    *type = t;
  if (body)
    *body = g_bytes_new (p + n1 + n2, (gsize) flen);
  dec->pos += n1 + n2 + (gsize) flen;
  decoder_compact (dec);
  return TRUE;
}

/**
 * p2p_frame_decoder_pending: (skip)
 * @dec: a decoder
 *
 * Returns: bytes buffered but not yet returned as frames.
 */
gsize
p2p_frame_decoder_pending (const P2pFrameDecoder *dec)
{
  g_return_val_if_fail (dec != NULL, 0);

  return dec->buf->len - dec->pos;
}
