/* gstp2psrc.h: p2psrc, receives a stream from a peer (docs/elements.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include "gstp2pobject.h"

G_BEGIN_DECLS

typedef enum {
  GST_P2P_RECONNECT_NONE,
  GST_P2P_RECONNECT_ALWAYS,
} GstP2pReconnect;

#define GST_TYPE_P2P_RECONNECT (gst_p2p_reconnect_get_type ())
GType gst_p2p_reconnect_get_type (void);

#define GST_TYPE_P2P_SRC (gst_p2p_src_get_type ())
G_DECLARE_FINAL_TYPE (GstP2pSrc, gst_p2p_src, GST, P2P_SRC, GstElement)

GST_ELEMENT_REGISTER_DECLARE (p2psrc);

G_END_DECLS
