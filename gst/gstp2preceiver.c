/* gstp2preceiver.c: the receive side shared by p2psrc and p2psimnet: the
 * stream queue and the jitter buffer, which of them goes next, and the
 * datagram counters (gstp2preceiver.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2preceiver.h"
#include "gstp2pmedia.h"

#include <string.h>

/* An event or buffer from the reliable stream and the size of its message. */
typedef struct {
  GstMiniObject *obj;
  gsize size;
} GstP2pReceiverItem;

static void
item_free (gpointer data)
{
  GstP2pReceiverItem *item = data;

  if (item->obj)
    gst_mini_object_unref (item->obj);
  g_free (item);
}

void
gst_p2p_receiver_init (GstP2pReceiver *r, GstObject *owner, GstDebugCategory *cat,
    guint max_items)
{
  memset (r, 0, sizeof (*r));
  r->owner = owner;
  r->cat = cat;
  g_queue_init (&r->stream);
  gst_p2p_jitter_init (&r->jitter, max_items);
}

void
gst_p2p_receiver_reset (GstP2pReceiver *r)
{
  r->use_epochs = FALSE;
  r->epoch = 0;
  g_queue_clear_full (&r->stream, item_free);
  r->stream_bytes = 0;
  gst_p2p_jitter_reset (&r->jitter);
  r->segment_seen = FALSE;
  r->seq_start_known = r->seq_end_known = FALSE;
  r->seq_end = 0;
}

void
gst_p2p_receiver_reset_counters (GstP2pReceiver *r)
{
  r->datagrams_lost = r->datagrams_late = r->datagrams_dropped = 0;
  r->bytes_max = 0;
}

gsize
gst_p2p_receiver_get_bytes (const GstP2pReceiver *r)
{
  return r->stream_bytes + gst_p2p_jitter_get_bytes (&r->jitter);
}

/* After something was held. */
static void
note_bytes (GstP2pReceiver *r)
{
  r->bytes_max = MAX (r->bytes_max, gst_p2p_receiver_get_bytes (r));
}

void
gst_p2p_receiver_note_datagram_seqnum (GstP2pReceiver *r, guint64 seqnum)
{
  /* where the sender's datagrams to us start, then (before EOS) where they
   * end: the first and last ones count as lost too */
  if (!r->seq_start_known) {
    guint64 lost = gst_p2p_jitter_start_at (&r->jitter, seqnum);

    r->seq_start_known = TRUE;
    r->datagrams_lost += lost;
    GST_CAT_DEBUG_OBJECT (r->cat, r->owner, "datagrams start at %" G_GUINT64_FORMAT ", %"
        G_GUINT64_FORMAT " lost before the first one", seqnum, lost);
  }
  r->seq_end = seqnum;
  r->seq_end_known = TRUE;
}

void
gst_p2p_receiver_expect (GstP2pReceiver *r, guint64 seqnum)
{
  gst_p2p_jitter_expect (&r->jitter, seqnum);
  r->seq_start_known = TRUE;
}

/* A datagram's epoch rides on its buffer */
static GQuark
epoch_quark (void)
{
  static gsize q;

  if (g_once_init_enter (&q))
    g_once_init_leave (&q, g_quark_from_static_string ("p2p-datagram-epoch"));
  return (GQuark) q;
}

static guint64
buffer_epoch (GstBuffer *buffer)
{
  guint64 *e = gst_mini_object_get_qdata (GST_MINI_OBJECT_CAST (buffer), epoch_quark ());

  return e ? *e : 0;
}

void
gst_p2p_receiver_use_epochs (GstP2pReceiver *r, gboolean use)
{
  r->use_epochs = use;
  r->epoch = 0;
}

GstBuffer *
gst_p2p_receiver_decode_datagram (GstP2pReceiver *r, GBytes *datagram, guint64 *seqnum)
{
  g_autoptr (GError) err = NULL;
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (datagram, &len);
  guint64 epoch = 0;
  GstBuffer *buffer = r->use_epochs ?
      gst_p2p_media_buffer_from_datagram_epoch (p, len, seqnum, &epoch, &err) :
      gst_p2p_media_buffer_from_datagram (p, len, seqnum, &err);

  if (buffer && r->use_epochs) {
    guint64 *e = g_new (guint64, 1);

    *e = epoch;
    gst_mini_object_set_qdata (GST_MINI_OBJECT_CAST (buffer), epoch_quark (), e, g_free);
  }

  if (!buffer)
    GST_CAT_WARNING_OBJECT (r->cat, r->owner, "malformed datagram ignored: %s",
        err->message);
  return buffer;
}

GstP2pJitterResult
gst_p2p_receiver_hold_datagram (GstP2pReceiver *r, guint64 seqnum, guint64 now,
    GstBuffer *buffer)
{
  guint64 dropped = r->jitter.dropped;
  GstP2pJitterResult res = gst_p2p_jitter_insert (&r->jitter, seqnum, now, buffer);

  switch (res) {
    case GST_P2P_JITTER_LATE:
      r->datagrams_late++;
      break;
    case GST_P2P_JITTER_HELD_OVERFLOW:
      /* the oldest went to keep the bound; its gap counts as lost when the
       * next one leaves (DISCONT) */
      r->datagrams_dropped += r->jitter.dropped - dropped;
      /* fall through */
    case GST_P2P_JITTER_HELD:
      note_bytes (r);
      break;
    case GST_P2P_JITTER_DUPLICATE:
      break;
  }
  return res;
}

void
gst_p2p_receiver_queue_stream (GstP2pReceiver *r, GstMiniObject *obj, gsize size)
{
  GstP2pReceiverItem *item = g_new (GstP2pReceiverItem, 1);

  item->obj = obj;
  item->size = size;
  r->stream_bytes += size;
  g_queue_push_tail (&r->stream, item);
  note_bytes (r);
}

void
gst_p2p_receiver_append_stream_buffer (GstP2pReceiver *r, guint64 now, GstBuffer *buffer)
{
  gst_p2p_jitter_append (&r->jitter, now, buffer);
  note_bytes (r);
}

GstMiniObject *
gst_p2p_receiver_peek_stream (const GstP2pReceiver *r)
{
  GstP2pReceiverItem *item = g_queue_peek_head ((GQueue *) &r->stream);

  return item ? item->obj : NULL;
}

/* Whether @event must not overtake the datagrams held before it. */
static gboolean
event_needs_drain (GstEvent *event)
{
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS:
    case GST_EVENT_SEGMENT:
    case GST_EVENT_GAP:
      /* the held buffers are of the caps before it */
    case GST_EVENT_CAPS:
      /* the held datagrams go before the flush, in the sender's order (a
       * flushed downstream drops them); held across it they would come
       * out after FLUSH_STOP, before any new segment */
    case GST_EVENT_FLUSH_START:
    case GST_EVENT_STREAM_START:
      return TRUE;
    default:
      return FALSE;
  }
}

/* The head datagram (transfer full), or NULL when it was dropped: with
 * epochs, one sent before an event that the stream already delivered
 * (late: it would go out after that event, e.g. under the new caps). */
static GstBuffer *
pop_datagram (GstP2pReceiver *r)
{
  guint64 lost;
  GstBuffer *buffer = gst_p2p_jitter_pop (&r->jitter, &lost);

  if (lost > 0) {
    GST_CAT_DEBUG_OBJECT (r->cat, r->owner, "%" G_GUINT64_FORMAT " datagram(s) lost", lost);
    r->datagrams_lost += lost;
  }
  if (r->use_epochs && buffer_epoch (buffer) < r->epoch) {
    GST_CAT_DEBUG_OBJECT (r->cat, r->owner, "datagram of epoch %" G_GUINT64_FORMAT
        " after the stream reached %" G_GUINT64_FORMAT ": late", buffer_epoch (buffer),
        r->epoch);
    r->datagrams_late++;
    gst_buffer_unref (buffer);
    return NULL;
  }
  return buffer;
}

static GstMiniObject *
pop_stream (GstP2pReceiver *r)
{
  GstP2pReceiverItem *item = g_queue_pop_head (&r->stream);
  GstMiniObject *obj = g_steal_pointer (&item->obj);

  r->stream_bytes -= item->size;
  item_free (item);
  if (GST_IS_EVENT (obj) && GST_EVENT_TYPE (obj) == GST_EVENT_SEGMENT)
    r->segment_seen = TRUE;
  if (GST_IS_EVENT (obj) && GST_EVENT_TYPE (obj) == GST_EVENT_EOS && r->seq_end_known) {
    /* a loss at the end shows no gap: the sender told where it ends */
    guint64 lost = gst_p2p_jitter_lose_until (&r->jitter, r->seq_end);

    GST_CAT_DEBUG_OBJECT (r->cat, r->owner, "datagrams end before %" G_GUINT64_FORMAT
        ", %" G_GUINT64_FORMAT " lost after the last one", r->seq_end, lost);
    r->datagrams_lost += lost;
  }
  return obj;
}

/* With epochs: the held head datagram belongs after what the stream has
 * not delivered yet (an event sent before it whose packet is still on its
 * way): it waits for the stream, whatever its own wait. */
static gboolean
head_after_stream (const GstP2pReceiver *r)
{
  GstBuffer *head;

  if (!r->use_epochs || (head = gst_p2p_jitter_peek (&r->jitter)) == NULL)
    return FALSE;
  return buffer_epoch (head) > r->epoch;
}

GstMiniObject *
gst_p2p_receiver_next (GstP2pReceiver *r, guint64 now, guint64 wait, gboolean final,
    gboolean hold_eos)
{
  for (;;) {
    GstMiniObject *head = gst_p2p_receiver_peek_stream (r);
    guint64 epoch;

    if (head && GST_IS_EVENT (head)
        && gst_p2p_media_event_get_datagram_epoch (GST_EVENT_CAST (head), &epoch)) {
      /* the stream reached this epoch: its datagrams may go */
      gst_mini_object_unref (pop_stream (r));
      r->epoch = epoch;
      continue;
    }
    if (head && hold_eos && GST_IS_EVENT (head) && GST_EVENT_TYPE (head) == GST_EVENT_EOS)
      head = NULL;
    if (head) {
      /* (with epochs, only the datagrams sent before the event) */
      if (GST_IS_EVENT (head) && r->segment_seen && !gst_p2p_jitter_is_empty (&r->jitter)
          && event_needs_drain (GST_EVENT_CAST (head)) && !head_after_stream (r)) {
        GstBuffer *buf = pop_datagram (r);

        if (buf)
          return GST_MINI_OBJECT_CAST (buf);
        continue;
      }
      return pop_stream (r);
    }
    if (!gst_p2p_jitter_is_empty (&r->jitter) && r->segment_seen
        && (final || (!head_after_stream (r)
                && gst_p2p_jitter_head_ready (&r->jitter, now, wait)))) {
      GstBuffer *buf = pop_datagram (r);

      if (buf)
        return GST_MINI_OBJECT_CAST (buf);
      continue;
    }
    return NULL;
  }
}

guint64
gst_p2p_receiver_datagram_due (const GstP2pReceiver *r, guint64 wait)
{
  if (gst_p2p_jitter_is_empty (&r->jitter) || !r->segment_seen || head_after_stream (r))
    return G_MAXUINT64;
  return gst_p2p_jitter_head_due (&r->jitter, wait);
}
