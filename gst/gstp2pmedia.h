/* gstp2pmedia.h: GstBuffer / GstEvent <-> the library's media frames
 * (docs/protocol.md). No I/O: bytes in, objects out.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include <p2p/p2p.h>

G_BEGIN_DECLS

/* The deepest bracket nesting ({ [ < (, one level more for a quoted string,
 * read with its \ooo escapes, and for each base64 part of a GstSample value)
 * accepted in the text of a CAPS or TAG frame; deeper text is a
 * P2P_ERROR_PROTOCOL error before GStreamer's recursive parser sees it. */
#define GST_P2P_MEDIA_MAX_NESTING 32

/* Appends the whole frame (type + length + body) that carries @event to
 * @out. Returns FALSE (and appends nothing) for events that are not carried
 * over the wire (QOS, latency, custom, ...). */
gboolean gst_p2p_media_append_event (GByteArray *out, GstEvent *event);

/* Appends the BUFFER frame carrying @buffer (timestamps, offsets, flags and
 * payload) to @out. */
void gst_p2p_media_append_buffer (GByteArray *out, GstBuffer *buffer);

/* A buffer bigger than one message travels in parts (docs/protocol.md
 * §5.1): BUFFER frames of at most GST_P2P_MEDIA_PART_PAYLOAD payload bytes,
 * each in a message of its own and each carrying the buffer's timestamps and
 * flags, every part but the last with GST_P2P_MEDIA_FLAG_CONTINUED. The
 * whole payload is at most GST_P2P_MEDIA_MAX_BUFFER_SIZE bytes: a sender
 * refuses a bigger buffer, a receiver closes with P2P_ERROR_PROTOCOL. */
#define GST_P2P_MEDIA_FLAG_CONTINUED 0x40
#define GST_P2P_MEDIA_MAX_BUFFER_SIZE (64 * 1024 * 1024)
#define GST_P2P_MEDIA_PART_PAYLOAD (P2P_MAX_MESSAGE_SIZE - 64)

/* Appends @buffer for the reliable stream: one BUFFER frame when it fits in
 * a message (exactly what gst_p2p_media_append_buffer() appends), else its
 * parts (above), one whole frame after the other; each frame is at most
 * P2P_MAX_MESSAGE_SIZE bytes and is sent as one message. The caller checks
 * GST_P2P_MEDIA_MAX_BUFFER_SIZE. */
void gst_p2p_media_append_buffer_parts (GByteArray *out, GstBuffer *buffer);

/* The length of the whole frame (header + body) at the start of @data, or 0
 * when @data does not start with a complete frame header whose body fits. */
gsize gst_p2p_media_frame_length (const guint8 *data, gsize len);

/* (transfer full): the datagram body of @buffer with sequence number @seqnum
 * (datagram delivery). */
GBytes *gst_p2p_media_buffer_to_datagram (GstBuffer *buffer, guint64 seqnum);

/* The body of the MESSAGE frame a delivery=reliable p2psrc sends when it
 * connects (a delivery=datagram one sends "ready seqnum", an older one
 * "ready"): a datagram sender then
 * carries its buffers on the stream. docs/protocol.md §5. */
#define GST_P2P_READY_STREAM "ready stream"
/* What a delivery=datagram p2psrc sends instead of plain "ready": it also
 * takes DATAGRAM_SEQNUM frames, which tell where the datagrams sent to it
 * start and end (losses of the first and last ones count). A sender that
 * does not know it takes it as "ready" (anything but "ready stream"). */
#define GST_P2P_READY_SEQNUM "ready seqnum"

/* (transfer full): a DATAGRAM_SEQNUM message: the next datagram sent to the
 * receiver has sequence number @seqnum. docs/protocol.md §5. */
GBytes *gst_p2p_media_datagram_seqnum_message (guint64 seqnum);
/* TRUE when @event is what gst_p2p_media_frame_to_object() makes of a
 * DATAGRAM_SEQNUM frame (an event for the receiver itself, never pushed
 * downstream); @seqnum: (out) (optional). */
gboolean gst_p2p_media_event_get_datagram_seqnum (GstEvent *event, guint64 *seqnum);

/* Resuming a reliable stream (docs/protocol.md §5.3): a receiver says
 * "ready stream" and gets STREAM_POSITION frames (@token names the
 * sender's stream, @index the frame that follows in it); reconnected, it
 * says "resume TOKEN INDEX" instead and gets a STREAM_POSITION with
 * GST_P2P_POSITION_RESUMED, then the frames from INDEX on, or with
 * GST_P2P_POSITION_GAP when the sender no longer has them. */
#define GST_P2P_RESUME_WORD "resume"
#define GST_P2P_POSITION_RESUMED 1u
#define GST_P2P_POSITION_GAP 2u
GBytes *gst_p2p_media_stream_position_message (guint64 token, guint64 index, guint flags);
/* TRUE when @event is what a STREAM_POSITION frame becomes (for p2psrc
 * itself, never pushed downstream); the outs are optional. */
gboolean gst_p2p_media_event_get_stream_position (GstEvent *event, guint64 *token,
    guint64 *index, guint *flags);

/* Splits one message (one whole frame) into @type and @body. Strict: the
 * frame must fill the message exactly. Errors: P2P_ERROR_PROTOCOL. */
gboolean gst_p2p_media_split_message (const guint8 *data, gsize len,
    guint64 *type, const guint8 **body, gsize *body_len, GError **error);

/* Turns a media frame into a GstBuffer or GstEvent (transfer full).
 * Errors (P2P_ERROR_PROTOCOL): an unknown type, a malformed body, caps or
 * tags nested deeper than GST_P2P_MEDIA_MAX_NESTING ("peer sent malformed
 * caps: nesting deeper than 32"), a sample field GStreamer's deserializer
 * cannot decode without a g_critical ("peer sent malformed tags: a sample
 * field too short to decode"), caps that do not parse or are not fixed,
 * an invalid segment. */
GstMiniObject *gst_p2p_media_frame_to_object (guint64 type, const guint8 *body,
    gsize len, GError **error);

/* Decodes a datagram body (transfer full); @seqnum: (out). */
GstBuffer *gst_p2p_media_buffer_from_datagram (const guint8 *data, gsize len,
    guint64 *seqnum, GError **error);

/* Capability "datagram-epoch" (docs/protocol.md §5.2): a datagram body with
 * the epoch after the sequence number (@epoch: the number of epoch-raising
 * events the sender had sent when it sent this buffer), and its decoding;
 * the DATAGRAM_EPOCH message that marks on the stream where an epoch
 * starts, and what it becomes (an event for the receiver itself). */
GBytes *gst_p2p_media_buffer_to_datagram_epoch (GstBuffer *buffer, guint64 seqnum,
    guint64 epoch);
GstBuffer *gst_p2p_media_buffer_from_datagram_epoch (const guint8 *data, gsize len,
    guint64 *seqnum, guint64 *epoch, GError **error);
GBytes *gst_p2p_media_datagram_epoch_message (guint64 epoch);
gboolean gst_p2p_media_event_get_datagram_epoch (GstEvent *event, guint64 *epoch);
/* TRUE for the events that raise the epoch: those a buffer must not be
 * seen before or after the wrong side of (stream-start, caps, segment,
 * flush-stop). */
gboolean gst_p2p_media_event_raises_epoch (GstEvent *event);

/* Convenience: a whole message (one frame) to an object (transfer full). */
GstMiniObject *gst_p2p_media_message_to_object (GBytes *message, GError **error);

/* Reassembles buffers sent in parts; other frames pass through. */
typedef struct {
  GstBuffer *meta;              /* the first part's metadata, no memory */
  GByteArray *payload;          /* the parts' payload so far */
} GstP2pMediaAssembler;

void gst_p2p_media_assembler_init (GstP2pMediaAssembler *a);
/* Drops a partly received buffer. */
void gst_p2p_media_assembler_clear (GstP2pMediaAssembler *a);

/* Takes one message (one whole frame). Returns the object it completes
 * (transfer full); NULL without @error when the message was a part and more
 * are needed; NULL with P2P_ERROR_PROTOCOL for what
 * gst_p2p_media_message_to_object() refuses, for a frame other than BUFFER
 * between the parts of a buffer ("a CAPS frame between the parts of a
 * buffer") and for a buffer whose parts add up to more than
 * GST_P2P_MEDIA_MAX_BUFFER_SIZE ("peer sent a buffer of more than 67108864
 * bytes"). After an error the assembler is empty. */
GstMiniObject *gst_p2p_media_assembler_push (GstP2pMediaAssembler *a,
    GBytes *message, GError **error);

G_END_DECLS
