/* p2p-quic-send-queue.c: the send queue of one QUIC stream (SendStream,
 * p2p-quic-session-private.h). ngtcp2 needs stream data to stay valid until
 * it is acknowledged, so a send stream is a queue of GBytes chunks with
 * stream offsets, a write cursor (the first chunk with unwritten bytes) and
 * the contiguous acknowledged offset, below which chunks are freed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-session-private.h"

static void
chunk_free (gpointer data)
{
  Chunk *c = data;

  g_bytes_unref (c->bytes);
  g_free (c);
}

void
p2p_quic_send_stream_init (SendStream *st)
{
  st->id = -1;
  g_queue_init (&st->chunks);
}

void
p2p_quic_send_stream_clear (SendStream *st)
{
  g_queue_clear_full (&st->chunks, chunk_free);
  st->cursor = NULL;
}

void
p2p_quic_send_stream_append (SendStream *st, GBytes *bytes)
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

gboolean
p2p_quic_send_stream_has_data (const SendStream *st)
{
  return st->id >= 0 && !st->shut &&
      (st->written < st->end || (st->fin_queued && !st->fin_written));
}

/* Fills @vec from the write cursor; returns the count. */
gsize
p2p_quic_send_stream_vecs (SendStream *st, ngtcp2_vec *vec, gsize max, gboolean *all)
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

void
p2p_quic_send_stream_advance (SendStream *st, gsize len)
{
  st->written += len;
  while (st->cursor != NULL) {
    Chunk *c = st->cursor->data;

    if (c->offset + g_bytes_get_size (c->bytes) > st->written)
      break;
    st->cursor = st->cursor->next;
  }
}

void
p2p_quic_send_stream_ack (SendStream *st, guint64 upto)
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
