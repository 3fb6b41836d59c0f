/* gstp2pmedia-private.h (internal): what the files of the media mapping
 * share (gstp2pmedia.c, gstp2pmedia-nesting.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* Checks the text of a CAPS or TAG frame (@what names it in the error)
 * before GStreamer parses it: nesting deeper than GST_P2P_MEDIA_MAX_NESTING,
 * counting the levels GStreamer's deserializers add, or a sample field too
 * short to decode is P2P_ERROR_PROTOCOL. */
gboolean gst_p2p_media_check_nesting (const char *what, const char *text, GError **error);

G_END_DECLS
