/* gstp2psink-private.h (internal): what the files of p2psink share: the
 * element's fields, its signals and its debug category. gstp2psink.c is the
 * element (properties, events, EOS, stats), gstp2psink-peer.c its receivers
 * (one SinkPeer each) and the accept loop, gstp2psink-fanout.c the streaming
 * of each buffer to every receiver. "lock" guards the runtime fields and
 * every SinkPeer's state; the properties are under the object lock.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstp2psink.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_p2p_sink_debug);

enum {
  GST_P2P_SINK_SIGNAL_PEER_ADDED,
  GST_P2P_SINK_SIGNAL_PEER_REMOVED,
  GST_P2P_SINK_N_SIGNALS
};
extern guint gst_p2p_sink_signals[GST_P2P_SINK_N_SIGNALS];

struct _GstP2pSink {
  GstBaseSink parent;

  GstP2pObject *obj;

  /* properties (object lock) */
  gboolean wait_for_peer;
  guint min_peers;
  guint eos_timeout;
  guint rejoin_timeout;
  guint max_peers;
  guint64 max_queue_bytes;
  guint max_queue_buffers;
  GstP2pSlowReceiverPolicy slow_policy;
  guint slow_timeout;

  /* runtime (lock) */
  GMutex lock;
  GCond cond;                   /* streaming thread, stop: peers, room, threads */
  guint room_waiters;           /* streaming thread waits for room in a queue */
  GPtrArray *peers;             /* SinkPeer (refs) */
  guint n_threads;
  gboolean flushing;
  gboolean stopping;
  /* mode=connect: the one peer it dialled left before the end; the stream
   * fails (nobody else can come: the sink dials, it does not listen) */
  gboolean peer_lost;
  /* monotonic time a receiver left without the whole stream and fewer
   * than the hold waits for remained (0: they are there again, set by
   * gst_p2p_sink_wait_for_peer_locked); with wait-for-peer the hold is
   * bounded by rejoin-timeout from then */
  gint64 all_lost_us;
  gboolean eos;
  GBytes *hdr_stream_start, *hdr_caps, *hdr_segment;
  /* the last TAG of each scope (GstTagScope: stream, global), as
   * GStreamer keeps one sticky tag event per scope */
  GBytes *hdr_tags[2];
  guint64 seqnum;
  /* datagram delivery: epoch-raising events sent so far (capability
   * "datagram-epoch": each datagram carries it, docs/protocol.md §5.2) */
  guint64 dg_epoch;
  GstBuffer *prerolled;         /* sent by preroll(), not to send again */
  guint64 datagrams_too_big;
  guint64 dropped_total;
  /* receivers gone: their final figures, so the totals never go down */
  P2pConnectionStats gone;
  guint64 receivers_total;      /* receivers served since start */
  guint64 receivers_complete;   /* of them, those that confirmed EOS */
  /* the stream's frames kept for receivers that come back (resume) */
  GQueue history;               /* HistoryItem*, oldest first */
  gsize history_bytes;
  guint64 history_next;         /* the index of the next frame */
  guint64 history_token;        /* names this stream to receivers */
  guint64 resume_buffer;        /* property (object lock): bytes kept, 0 = off */
  guint64 resumes;              /* receivers that came back where they stopped */
  gboolean allow_partial;       /* property (object lock) */
  GstP2pDelivery delivery;
  GCancellable *cancellable;
  GThread *accept_thread;
};

G_END_DECLS
