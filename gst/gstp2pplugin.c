/* gstp2pplugin.c: the GStreamer plugin "p2p": p2psink, p2psrc, p2psimnet.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2pobject.h"
#include "gstp2psink.h"
#include "gstp2psrc.h"
#include "gstp2psimnet.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ret = FALSE;

  GST_DEBUG_CATEGORY_INIT (gst_p2p_debug, "p2p", 0, "P2P elements");
  ret |= GST_ELEMENT_REGISTER (p2psink, plugin);
  ret |= GST_ELEMENT_REGISTER (p2psrc, plugin);
  ret |= GST_ELEMENT_REGISTER (p2psimnet, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, p2p,
    "Peer-to-peer media transport: authenticated QUIC with peer IDs, tickets "
    "and NAT traversal, and a deterministic simulated network",
    plugin_init, VERSION, "LGPL", PACKAGE, "https://example.invalid/gst-p2p")
