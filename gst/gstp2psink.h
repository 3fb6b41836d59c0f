/* gstp2psink.h: p2psink, serves a stream to peers (docs/elements.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>
#include "gstp2pobject.h"

G_BEGIN_DECLS

typedef enum {
  GST_P2P_SLOW_RECEIVER_BLOCK,
  GST_P2P_SLOW_RECEIVER_DROP,
  GST_P2P_SLOW_RECEIVER_DISCONNECT,
} GstP2pSlowReceiverPolicy;

#define GST_TYPE_P2P_SLOW_RECEIVER_POLICY (gst_p2p_slow_receiver_policy_get_type ())
GType gst_p2p_slow_receiver_policy_get_type (void);

#define GST_TYPE_P2P_SINK (gst_p2p_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstP2pSink, gst_p2p_sink, GST, P2P_SINK, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE (p2psink);

G_END_DECLS
