/* gstp2psink-fanout.h (internal): p2psink's streaming side: holds the
 * stream until the receivers are there (wait-for-peer, min-peers), then puts
 * each buffer in every receiver's queue (or sends it as a datagram), with
 * the slow-receiver-policy for a full queue.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstp2psink.h"

G_BEGIN_DECLS

/* Called with the sink's lock: waits for the receivers if wait-for-peer is
 * set (see gstp2psink-fanout.c). */
GstFlowReturn gst_p2p_sink_wait_for_peer_locked (GstP2pSink *self, gboolean preroll);
/* With the lock: TRUE when the receivers wait-for-peer waits for are
 * there (min-peers of them; ready ones in datagram delivery). */
gboolean gst_p2p_sink_have_receiver_locked (GstP2pSink *self);
/* With the lock: the receivers n-peers counts (not those whose removal
 * began: "peer-removed" is emitted once they no longer count). */
guint gst_p2p_sink_n_receivers_locked (GstP2pSink *self);
/* Sends @buffer to every receiver; @preroll: from the preroll vfunc. */
GstFlowReturn gst_p2p_sink_send_buffer (GstP2pSink *self, GstBuffer *buffer,
    gboolean preroll);

/* Called with the sink's lock: queues the frame @msg of @event, numbered
 * @index in the history, to every receiver (a GAP or TAG frame is left out
 * for a receiver whose queue is full under slow-receiver-policy=drop). */
void gst_p2p_sink_queue_event_locked (GstP2pSink *self, GstEvent *event, GBytes *msg,
    guint64 index);

G_END_DECLS
