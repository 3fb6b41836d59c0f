/* gstp2preceiver.h (internal): the receive side shared by p2psrc and
 * p2psimnet: what arrived from the sender, held until it may be pushed.
 * Two queues: the reliable stream's events (and, for p2psimnet, its
 * buffers) in stream order, and the datagrams in a jitter buffer
 * (gstp2pjitter.h). gst_p2p_receiver_next() decides what goes next: an
 * event that must not overtake held datagrams (EOS, SEGMENT, GAP,
 * FLUSH_START, STREAM_START) drains them first; a datagram goes when the
 * one before it has arrived or its wait is over. The receiver counts
 * datagrams lost, late and dropped.
 *
 * No locking and no clock, like GstP2pJitter: the caller holds its own lock
 * around every call (p2psrc: its stream lock; p2psimnet: the object lock,
 * under which get_property reads the counters) and passes times in any one
 * unit (p2psrc: monotonic us; p2psimnet: virtual ns). Pushing downstream is
 * the element's: a live p2psrc shifts segments, p2psimnet pushes from its
 * sink pad's thread.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include "gstp2pjitter.h"

G_BEGIN_DECLS

typedef struct {
  GstObject *owner;             /* the element, for the log (no ref) */
  GstDebugCategory *cat;        /* the element's debug category */
  GstP2pJitter jitter;          /* datagrams (and p2psrc's stream buffers) */
  GQueue stream;                /* GstP2pReceiverItem*, in stream order */
  gsize stream_bytes;           /* the message sizes of the items in stream */
  gboolean segment_seen;        /* datagrams wait for the first segment */
  /* what the sender said of its datagrams to us (DATAGRAM_SEQNUM): where
   * they start and, before EOS, where they end */
  gboolean seq_start_known;
  gboolean seq_end_known;
  guint64 seq_end;
  /* capability "datagram-epoch" (docs/protocol.md §5.2): datagrams carry
   * the epoch of the events sent before them; one of a later epoch than
   * the stream reached (its last DATAGRAM_EPOCH taken) waits for the
   * stream, one of an earlier epoch is late */
  gboolean use_epochs;
  guint64 epoch;
  /* counters, zeroed only by gst_p2p_receiver_reset_counters() */
  guint64 datagrams_lost;
  guint64 datagrams_late;
  guint64 datagrams_dropped;    /* by the jitter buffer's bounds */
  gsize bytes_max;              /* the most gst_p2p_receiver_get_bytes() was */
} GstP2pReceiver;

/* @max_items: the jitter buffer's bound on datagrams (0 = unbounded). */
void gst_p2p_receiver_init (GstP2pReceiver *r, GstObject *owner, GstDebugCategory *cat,
    guint max_items);
/* Drops what is held and forgets the connection's state (segment seen,
 * where the datagrams start and end); the counters stay. */
void gst_p2p_receiver_reset (GstP2pReceiver *r);
void gst_p2p_receiver_reset_counters (GstP2pReceiver *r);

/* Bytes held: the stream items' message sizes and the jitter buffer's. */
gsize gst_p2p_receiver_get_bytes (const GstP2pReceiver *r);

/* The sender's datagrams start at @seqnum (nothing is known yet) or end
 * before it: the first call says where they start (those below the first
 * that left count as lost), every call where they end (counted at EOS). */
void gst_p2p_receiver_note_datagram_seqnum (GstP2pReceiver *r, guint64 seqnum);
/* The sender is known (p2psimnet's own): its datagrams start at @seqnum;
 * gst_p2p_receiver_note_datagram_seqnum() then only says where they end. */
void gst_p2p_receiver_expect (GstP2pReceiver *r, guint64 seqnum);

/* Decodes a datagram (transfer full); NULL after a warning when it is
 * malformed. @seqnum: (out). */
GstBuffer *gst_p2p_receiver_decode_datagram (GstP2pReceiver *r, GBytes *datagram,
    guint64 *seqnum);
/* Datagrams of this connection carry epochs (both ends have the capability
 * "datagram-epoch"); the stream's DATAGRAM_EPOCH events must then be
 * queued with gst_p2p_receiver_queue_stream(), in order. */
void gst_p2p_receiver_use_epochs (GstP2pReceiver *r, gboolean use);

/* Holds @buffer (transfer full), datagram @seqnum that arrived at @now;
 * counts it when it is late, and the datagrams the bounds dropped. */
GstP2pJitterResult gst_p2p_receiver_hold_datagram (GstP2pReceiver *r, guint64 seqnum,
    guint64 now, GstBuffer *buffer);

/* Queues an event or buffer from the reliable stream (transfer full) in
 * stream order; @size: its message's size. */
void gst_p2p_receiver_queue_stream (GstP2pReceiver *r, GstMiniObject *obj, gsize size);
/* Appends a buffer from the reliable stream (transfer full) to the
 * datagrams, as the next in order (p2psrc in delivery=datagram: bounded by
 * the jitter buffer's stream accounting). */
void gst_p2p_receiver_append_stream_buffer (GstP2pReceiver *r, guint64 now,
    GstBuffer *buffer);

/* The head of the stream queue (no ref), NULL when empty. */
GstMiniObject *gst_p2p_receiver_peek_stream (const GstP2pReceiver *r);

/* Takes what may be pushed now (transfer full), NULL when nothing: the
 * head of the stream queue unless it must drain held datagrams first, else
 * a datagram whose wait of @wait is over at @now (or any, when @final: the
 * stream ended). @hold_eos: an EOS at the head stays (datagrams sent before
 * it may still be in flight) and drains nothing. Datagrams go only after
 * the first segment. An EOS that leaves counts the datagrams missing
 * before the end the sender told (lost). */
GstMiniObject *gst_p2p_receiver_next (GstP2pReceiver *r, guint64 now, guint64 wait,
    gboolean final, gboolean hold_eos);
/* When the next datagram may go (arrival + @wait); G_MAXUINT64 when none
 * is held or no segment went yet. */
guint64 gst_p2p_receiver_datagram_due (const GstP2pReceiver *r, guint64 wait);

G_END_DECLS
