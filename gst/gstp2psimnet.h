/* gstp2psimnet.h: p2psimnet, p2psink -> simulated network -> p2psrc in one bin.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_P2P_SIM_NET (gst_p2p_sim_net_get_type ())
G_DECLARE_FINAL_TYPE (GstP2pSimNet, gst_p2p_sim_net, GST, P2P_SIM_NET, GstElement)

GST_ELEMENT_REGISTER_DECLARE (p2psimnet);

G_END_DECLS
