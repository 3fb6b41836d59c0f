/* gstp2psink-peer.h (internal): one receiver of p2psink (SinkPeer): its
 * bounded queue of frames, the thread that sends them, the "ready"
 * handshake of datagram delivery, its closing, and the accept loop (or the
 * dial of mode=connect) that adds receivers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstp2psink.h"

G_BEGIN_DECLS

typedef struct {
  gint refcount;
  GstP2pSink *sink;             /* a reference */
  P2pConnection *conn;
  char *peer_id;
  /* where it comes from (remote IPv4 address or IPv6 /64; its peer ID when
   * unknown, through a relay): max-peers is shared by hosts */
  char *host;
  /* protected by sink->lock */
  GQueue queue;                 /* GBytes, whole frames */
  gsize queued_bytes;           /* queued + being sent */
  guint queued_buffers;         /* BUFFER frames queued + being sent */
  gboolean closed;
  gboolean ready;               /* datagram delivery: the receiver said so */
  gboolean wants_stream;        /* datagram delivery to a delivery=reliable
                                 * receiver: its buffers go on the stream */
  gboolean wants_seqnum;        /* it takes DATAGRAM_SEQNUM frames */
  gboolean takes_epochs;        /* its datagrams carry epochs (and it gets
                                 * DATAGRAM_EPOCH frames) */
  gboolean takes_positions;     /* it takes STREAM_POSITION frames (resuming) */
  gboolean may_resume;          /* it took positions from the start: may ask once */
  gboolean resumed;             /* it asked (one resume per connection) */
  gboolean evicted;             /* closed to make room for another host */
  guint64 next_index;           /* the history index of its next frame */
  char *close_reason;
  gboolean need_discont;
  /* a TAG frame was not queued for it (full queue, slow-receiver-policy=
   * drop): the last tags go before its next buffer */
  gboolean need_tags;
  /* monotonic µs since its full queue holds other receivers back, 0 when
   * it does not (slow-receiver-policy=disconnect; the sink's lock) */
  gint64 full_since;
  guint64 dropped;
  gint64 connected_us;          /* monotonic, when it was added */
  guint64 media_bytes;          /* bytes of frames handed to the transport */
  gboolean eos_sent;            /* the EOS frame went out */
  gboolean closed_by_receiver;
  /* its removal began: n-peers no longer counts it, so that n-peers is
   * already down when "peer-removed" is emitted and when the receiver sees
   * its connection close (it stays in the array until its figures are in) */
  gboolean leaving;
  /* the highest figures "stats" reported for it: its final figures count
   * with no less (the totals stay monotonic) */
  P2pConnectionStats reported;
  GCancellable *cancellable;
  /* the peer's thread waits on it (sink->lock): signalled when this peer's
   * queue or state changes, so one buffer wakes each thread once, not every
   * thread once per receiver */
  GCond cond;
} SinkPeer;

SinkPeer *gst_p2p_sink_peer_ref (SinkPeer *peer);
/* Reads and drops what the receiver sends until its connection ends (a
 * receiver's messages left unread would cost the sender memory). */
void gst_p2p_sink_peer_drain (SinkPeer *peer);
/* A GDestroyNotify. */
void gst_p2p_sink_peer_unref (gpointer data);
/* Called with the sink's lock: queues @msg (a whole frame) for @peer. */
void gst_p2p_sink_peer_push_locked (GstP2pSink *self, SinkPeer *peer, GBytes *msg);
/* Called with the sink's lock: queues the stream headers a joining
 * receiver needs (STREAM_START, CAPS, the last SEGMENT and TAG). */
void gst_p2p_sink_peer_push_headers_locked (GstP2pSink *self, SinkPeer *peer);
/* Called with the sink's lock: asks @peer's thread to close it. */
void gst_p2p_sink_peer_disconnect_locked (GstP2pSink *self, SinkPeer *peer,
    const char *reason);

/* Raises each total of @into to @st's where that is higher. */
void gst_p2p_sink_stats_max (P2pConnectionStats *into, const P2pConnectionStats *st);

/* The accept thread (start() runs it, stop() cancels and joins it): adds
 * every receiver that connects, or dials the peer in mode=connect. */
gpointer gst_p2p_sink_accept_thread (gpointer data);

G_END_DECLS
