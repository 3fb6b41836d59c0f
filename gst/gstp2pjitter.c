/* gstp2pjitter.c: the datagram reorder buffer of p2psrc and p2psimnet.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2pjitter.h"

typedef struct {
  guint64 seqnum;
  guint64 arrival;
  GstBuffer *buffer;
  gsize size;                   /* counted: a stream buffer's includes
                                 * GST_P2P_JITTER_STREAM_ITEM_OVERHEAD */
  gboolean from_stream;
} Item;

static void
item_free (gpointer data)
{
  Item *item = data;

  gst_buffer_unref (item->buffer);
  g_free (item);
}

void
gst_p2p_jitter_init (GstP2pJitter *j, guint max_items)
{
  g_queue_init (&j->items);
  j->max_items = max_items;
  j->max_bytes = 0;
  j->dropped = 0;
  gst_p2p_jitter_reset (j);
}

void
gst_p2p_jitter_set_max_bytes (GstP2pJitter *j, gsize max_bytes)
{
  j->max_bytes = max_bytes;
}

gsize
gst_p2p_jitter_get_bytes (const GstP2pJitter *j)
{
  return j->datagram_bytes + j->stream_bytes;
}

gsize
gst_p2p_jitter_get_stream_bytes (const GstP2pJitter *j)
{
  return j->stream_bytes;
}

guint
gst_p2p_jitter_get_stream_items (const GstP2pJitter *j)
{
  return j->stream_items;
}

gboolean
gst_p2p_jitter_stream_full (const GstP2pJitter *j)
{
  return j->stream_items >= GST_P2P_JITTER_MAX_STREAM_ITEMS;
}

/* Forgets @item's bytes (it leaves the queue). */
static void
item_unaccount (GstP2pJitter *j, const Item *item)
{
  if (item->from_stream) {
    j->stream_bytes -= item->size;
    j->stream_items--;
  } else {
    j->datagram_bytes -= item->size;
  }
}

/* Drops the oldest held datagram (not a stream buffer); FALSE if none. */
static gboolean
drop_oldest_datagram (GstP2pJitter *j)
{
  for (GList *l = j->items.head; l; l = l->next) {
    Item *item = l->data;

    if (item->from_stream)
      continue;
    item_unaccount (j, item);
    g_queue_delete_link (&j->items, l);
    item_free (item);
    j->dropped++;
    return TRUE;
  }
  return FALSE;
}

void
gst_p2p_jitter_reset (GstP2pJitter *j)
{
  g_queue_clear_full (&j->items, item_free);
  j->have_next = FALSE;
  j->next_seqnum = 0;
  j->datagram_bytes = 0;
  j->stream_bytes = 0;
  j->stream_items = 0;
  j->popped_any = FALSE;
  j->first_popped = 0;
}

void
gst_p2p_jitter_expect (GstP2pJitter *j, guint64 seqnum)
{
  j->have_next = TRUE;
  j->next_seqnum = seqnum;
}

GstP2pJitterResult
gst_p2p_jitter_insert (GstP2pJitter *j, guint64 seqnum, guint64 arrival, GstBuffer *buffer)
{
  Item *item;
  GList *l;

  if (j->have_next && seqnum < j->next_seqnum) {
    gst_buffer_unref (buffer);
    return GST_P2P_JITTER_LATE;
  }
  /* datagrams mostly arrive in order: search from the tail */
  for (l = j->items.tail; l; l = l->prev) {
    Item *it = l->data;

    if (it->seqnum == seqnum) {
      gst_buffer_unref (buffer);
      return GST_P2P_JITTER_DUPLICATE;
    }
    if (it->seqnum < seqnum)
      break;
  }
  item = g_new0 (Item, 1);
  item->seqnum = seqnum;
  item->arrival = arrival;
  item->buffer = buffer;
  item->size = gst_buffer_get_size (buffer);
  if (l)
    g_queue_insert_after (&j->items, l, item);
  else
    g_queue_push_head (&j->items, item);
  {
    /* A late one goes before datagrams that came earlier: its wait counts
     * from the earliest of them (the gap before it has been waited for
     * since then), so arrivals never decrease along the seqnums and an
     * earlier datagram that trickles in cannot restart the wait of the
     * ones behind it */
    GList *link = l ? l->next : j->items.head;
    const Item *next = link && link->next ? link->next->data : NULL;

    if (next && next->arrival < item->arrival)
      item->arrival = next->arrival;
  }
  j->datagram_bytes += item->size;
  {
    guint64 dropped = j->dropped;

    while (((j->max_items > 0 && j->items.length > j->max_items)
            || (j->max_bytes > 0 && j->datagram_bytes > j->max_bytes))
        && drop_oldest_datagram (j));
    if (j->dropped != dropped)
      return GST_P2P_JITTER_HELD_OVERFLOW;
  }
  return GST_P2P_JITTER_HELD;
}

void
gst_p2p_jitter_append (GstP2pJitter *j, guint64 arrival, GstBuffer *buffer)
{
  Item *tail = g_queue_peek_tail (&j->items);
  Item *item = g_new0 (Item, 1);

  item->seqnum = tail ? tail->seqnum + 1 : j->have_next ? j->next_seqnum : 0;
  item->arrival = arrival;
  item->buffer = buffer;
  item->size = gst_buffer_get_size (buffer) + GST_P2P_JITTER_STREAM_ITEM_OVERHEAD;
  item->from_stream = TRUE;
  j->stream_bytes += item->size;
  j->stream_items++;
  g_queue_push_tail (&j->items, item);
}

gboolean
gst_p2p_jitter_is_empty (const GstP2pJitter *j)
{
  return j->items.length == 0;
}

guint64
gst_p2p_jitter_head_due (const GstP2pJitter *j, guint64 wait)
{
  const Item *head = g_queue_peek_head ((GQueue *) &j->items);

  return head ? head->arrival + wait : G_MAXUINT64;
}

GstBuffer *
gst_p2p_jitter_peek (const GstP2pJitter *j)
{
  const Item *head = g_queue_peek_head ((GQueue *) &j->items);

  return head ? head->buffer : NULL;
}

gboolean
gst_p2p_jitter_head_ready (const GstP2pJitter *j, guint64 now, guint64 wait)
{
  const Item *head = g_queue_peek_head ((GQueue *) &j->items);

  if (head == NULL)
    return FALSE;
  return !j->have_next || head->seqnum == j->next_seqnum || now >= head->arrival + wait;
}

GstBuffer *
gst_p2p_jitter_pop (GstP2pJitter *j, guint64 *lost)
{
  Item *item = g_queue_pop_head (&j->items);
  GstBuffer *buffer = item->buffer;

  item_unaccount (j, item);
  *lost = 0;
  if (j->have_next && item->seqnum > j->next_seqnum) {
    *lost = item->seqnum - j->next_seqnum;
    buffer = gst_buffer_make_writable (buffer);
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
  }
  if (!j->popped_any) {
    j->popped_any = TRUE;
    j->first_popped = item->seqnum;
  }
  gst_p2p_jitter_expect (j, item->seqnum + 1);
  g_free (item);
  return buffer;
}

guint64
gst_p2p_jitter_start_at (GstP2pJitter *j, guint64 seqnum)
{
  if (!j->popped_any) {
    if (!j->have_next || seqnum > j->next_seqnum)
      gst_p2p_jitter_expect (j, seqnum);
    return 0;
  }
  return j->first_popped > seqnum ? j->first_popped - seqnum : 0;
}

guint64
gst_p2p_jitter_lose_until (GstP2pJitter *j, guint64 seqnum)
{
  guint64 lost = 0;

  if (j->have_next && seqnum > j->next_seqnum)
    lost = seqnum - j->next_seqnum;
  if (!j->have_next || seqnum > j->next_seqnum)
    gst_p2p_jitter_expect (j, seqnum);
  return lost;
}
