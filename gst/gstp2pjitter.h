/* gstp2pjitter.h: the datagram reorder buffer shared by p2psrc and
 * p2psimnet (delivery=datagram). Buffers are held in sequence-number order;
 * a late or duplicate datagram is refused; the head leaves when it is the
 * next expected one or when its wait is over, a gap before it counting as
 * lost and marking it DISCONT. No locking and no clock: the caller holds its
 * own lock and passes times in any one unit.
 *
 * Bounds: datagrams (gst_p2p_jitter_insert) are held up to max_items and
 * max_bytes; beyond, the oldest held datagram is dropped and counted in
 * "dropped" (its sequence number then shows as a gap: lost, DISCONT).
 * Buffers from the reliable stream (gst_p2p_jitter_append) are never dropped:
 * the caller bounds them by reading the stream only while
 * gst_p2p_jitter_get_stream_bytes() leaves room and
 * gst_p2p_jitter_stream_full() is FALSE (backpressure). Each of them counts
 * as its payload plus GST_P2P_JITTER_STREAM_ITEM_OVERHEAD bytes, so empty or
 * 1-byte buffers cannot pile up under a byte bound, and at most
 * GST_P2P_JITTER_MAX_STREAM_ITEMS are held.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* What one buffer from the reliable stream costs besides its payload: the
 * GstBuffer, the queue item, the list link and the allocator's headers
 * (measured: ~370 bytes with GStreamer 1.22 and glibc), rounded up. It is
 * counted in gst_p2p_jitter_get_stream_bytes() and gst_p2p_jitter_get_bytes()
 * (so in p2psrc's "max-queue-bytes" and stats "queued-bytes"): a peer sending
 * empty BUFFER frames (45 bytes on the wire) fills a byte bound at least as
 * fast as the memory really grows. */
#define GST_P2P_JITTER_STREAM_ITEM_OVERHEAD 512
/* Buffers from the reliable stream held at most (like the 256 events of
 * p2psrc): 4096 empty buffers are 2 MiB of accounted bytes, ~1.5 MB of
 * memory; 4096 is also the datagram bound of p2psrc (MAX_JITTER_ITEMS). */
#define GST_P2P_JITTER_MAX_STREAM_ITEMS 4096

typedef struct {
  GQueue items;                 /* ascending seqnum */
  gboolean have_next;           /* next_seqnum is known */
  guint64 next_seqnum;
  guint max_items;              /* 0 = unbounded */
  gsize max_bytes;              /* datagram bytes held; 0 = unbounded */
  gsize datagram_bytes;         /* held, from gst_p2p_jitter_insert() */
  gsize stream_bytes;           /* held, from gst_p2p_jitter_append(), each
                                 * with GST_P2P_JITTER_STREAM_ITEM_OVERHEAD */
  guint stream_items;           /* buffers from gst_p2p_jitter_append() held */
  guint64 dropped;              /* datagrams dropped by the bounds, ever */
  gboolean popped_any;          /* since the reset: first_popped is known */
  guint64 first_popped;         /* the sequence number that left first */
} GstP2pJitter;

typedef enum {
  GST_P2P_JITTER_HELD,
  GST_P2P_JITTER_HELD_OVERFLOW, /* held; the oldest held buffer was dropped */
  GST_P2P_JITTER_LATE,          /* below the next expected: dropped */
  GST_P2P_JITTER_DUPLICATE,     /* already held: dropped */
} GstP2pJitterResult;

void gst_p2p_jitter_init (GstP2pJitter *j, guint max_items);
/* Bounds the bytes of held datagrams (0 = unbounded). */
void gst_p2p_jitter_set_max_bytes (GstP2pJitter *j, gsize max_bytes);
/* Bytes held: all, and those that came from the reliable stream (payload
 * plus GST_P2P_JITTER_STREAM_ITEM_OVERHEAD for each stream buffer). */
gsize gst_p2p_jitter_get_bytes (const GstP2pJitter *j);
gsize gst_p2p_jitter_get_stream_bytes (const GstP2pJitter *j);
/* Buffers from the reliable stream held. */
guint gst_p2p_jitter_get_stream_items (const GstP2pJitter *j);
/* TRUE when GST_P2P_JITTER_MAX_STREAM_ITEMS buffers from the reliable stream
 * are held: the caller must not read the stream until one left. */
gboolean gst_p2p_jitter_stream_full (const GstP2pJitter *j);
/* Drops every held buffer; the next sequence number is unknown again. */
void gst_p2p_jitter_reset (GstP2pJitter *j);
/* The next sequence number is @seqnum (e.g. 0 when the sender is known). */
void gst_p2p_jitter_expect (GstP2pJitter *j, guint64 seqnum);
/* Takes @buffer (transfer full) that arrived at @arrival. */
GstP2pJitterResult gst_p2p_jitter_insert (GstP2pJitter *j, guint64 seqnum, guint64 arrival,
    GstBuffer *buffer);
/* Appends @buffer (transfer full) as the next in order (a buffer that came
 * on the reliable stream). */
void gst_p2p_jitter_append (GstP2pJitter *j, guint64 arrival, GstBuffer *buffer);
gboolean gst_p2p_jitter_is_empty (const GstP2pJitter *j);
/* The head's buffer (transfer none), NULL if empty. */
GstBuffer *gst_p2p_jitter_peek (const GstP2pJitter *j);
/* When the head's wait of @wait ends (arrival + @wait); G_MAXUINT64 if empty. */
guint64 gst_p2p_jitter_head_due (const GstP2pJitter *j, guint64 wait);
/* TRUE if the head may leave at @now: nothing is expected yet, it is the
 * next expected one, or its wait is over. */
gboolean gst_p2p_jitter_head_ready (const GstP2pJitter *j, guint64 now, guint64 wait);
/* Takes the head (transfer full; the queue must not be empty). *@lost gets
 * the number of sequence numbers skipped before it (then it is DISCONT). */
GstBuffer *gst_p2p_jitter_pop (GstP2pJitter *j, guint64 *lost);
/* The sender says its datagrams start at @seqnum: expects it next when
 * nothing left yet; else returns the sequence numbers from @seqnum up to
 * the first that left (they never will: lost). */
guint64 gst_p2p_jitter_start_at (GstP2pJitter *j, guint64 seqnum);
/* Counts the sequence numbers below @seqnum that never arrived as lost
 * (a loss at the end of a stream shows no gap) and expects @seqnum next. */
guint64 gst_p2p_jitter_lose_until (GstP2pJitter *j, guint64 seqnum);

G_END_DECLS
