/* gstp2psink-resume.h (internal): p2psink's history of its reliable stream
 * and the resuming of receivers that lost their connection
 * (gstp2psink-resume.c, docs/protocol.md §5.3). Called with the sink's
 * lock unless said otherwise.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstp2psink-peer.h"

G_BEGIN_DECLS

/* Empties the history and draws a new stream token (start()). */
void gst_p2p_sink_history_reset_locked (GstP2pSink *self);
/* Numbers @msg, a frame for every receiver, and keeps it while it fits in
 * resume-buffer. Returns its index. */
guint64 gst_p2p_sink_history_add_locked (GstP2pSink *self, GBytes *msg);
/* Before pushing frame @index to @peer (a STREAM_POSITION first when it
 * missed frames). */
void gst_p2p_sink_peer_position_locked (GstP2pSink *self, SinkPeer *peer, guint64 index);
/* The thread reading a delivery=reliable receiver's messages (owns a
 * reference to @data, a SinkPeer; counts in n_threads). Without the lock. */
gpointer gst_p2p_sink_peer_reader_thread (gpointer data);

G_END_DECLS
