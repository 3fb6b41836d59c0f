/* p2p-frame.h: wire frames (docs/protocol.md): the media frames of the
 * elements, the MESSAGE frame, the QUIC varints and the frame decoder.
 *
 * A frame is: type (QUIC varint, RFC 9000 §16) | length (QUIC varint) | body.
 * The decoder is incremental: feed it bytes split anywhere; it yields whole
 * frames, refuses a length above its maximum before allocating anything, and
 * reports malformed input as P2P_ERROR_PROTOCOL. Sans-I/O, no GStreamer.
 * (The control-stream frames, types 0x01-0x03, are internal to the library.)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include "p2p-macros.h"

G_BEGIN_DECLS

/* Hard maximum of a frame body and of one p2p_connection_send() message. */
#define P2P_MAX_FRAME_SIZE (1024 * 1024)
#define P2P_MAX_MESSAGE_SIZE P2P_MAX_FRAME_SIZE

typedef enum {
  /* message stream */
  P2P_FRAME_MESSAGE = 0x10,     /* application bytes */
  /* media stream (the elements) */
  P2P_FRAME_STREAM_START = 0x20, /* stream-id UTF-8 */
  P2P_FRAME_CAPS = 0x21,        /* caps string UTF-8 */
  P2P_FRAME_SEGMENT = 0x22,     /* P2pMediaSegment */
  P2P_FRAME_TAG = 0x23,         /* tag list string UTF-8 */
  P2P_FRAME_BUFFER = 0x24,      /* P2pMediaBuffer */
  P2P_FRAME_EOS = 0x25,         /* empty */
  P2P_FRAME_FLUSH_START = 0x26, /* empty */
  P2P_FRAME_FLUSH_STOP = 0x27,  /* reset_time u8 */
  P2P_FRAME_GAP = 0x28,         /* timestamp u64, duration u64 */
  P2P_FRAME_DATAGRAM_SEQNUM = 0x29, /* seqnum varint: the sequence number of
                                     * the next datagram sent to this receiver */
  P2P_FRAME_STREAM_POSITION = 0x2a, /* token varint, index varint, flags
                                     * varint: the index of the next frame in
                                     * the sender's stream (resuming) */
  P2P_FRAME_DATAGRAM_EPOCH = 0x2b, /* epoch varint: the datagrams of this
                                    * epoch on come after what the stream
                                    * carried so far (capability
                                    * "datagram-epoch") */
} P2pFrameType;

/* Media flags carried in P2pMediaBuffer.flags (mirror GstBufferFlags bits
 * that survive transport). */
#define P2P_MEDIA_FLAG_DELTA_UNIT   (1u << 0)
#define P2P_MEDIA_FLAG_DISCONT      (1u << 1)
#define P2P_MEDIA_FLAG_HEADER       (1u << 2)
#define P2P_MEDIA_FLAG_GAP          (1u << 3)
#define P2P_MEDIA_FLAG_DROPPABLE    (1u << 4)
#define P2P_MEDIA_FLAG_MARKER       (1u << 5)

#define P2P_TIME_NONE G_MAXUINT64

typedef struct {
  guint64 pts, dts, duration;     /* ns, P2P_TIME_NONE if unset */
  guint64 offset, offset_end;     /* G_MAXUINT64 if unset */
  guint32 flags;                  /* P2P_MEDIA_FLAG_* */
  guint64 seqnum;                 /* datagram delivery: sequence number */
  const guint8 *payload;          /* points into the frame body */
  gsize payload_len;
} P2pMediaBuffer;

typedef struct {
  guint32 flags;
  double rate, applied_rate;
  guint32 format;
  guint64 base, offset, start, stop, time, position, duration;
} P2pMediaSegment;

/* ---- encoding ---- */
/* Appends a whole frame (header + body) to @out. */
P2P_EXPORT void p2p_frame_append (GByteArray *out, guint64 type, const guint8 *body, gsize len);
P2P_EXPORT void p2p_frame_append_buffer (GByteArray *out, const P2pMediaBuffer *buf);
P2P_EXPORT void p2p_frame_append_segment (GByteArray *out, const P2pMediaSegment *seg);
/* STREAM_START, CAPS, TAG: @str (UTF-8, no NUL) as the body. */
P2P_EXPORT void p2p_frame_append_string (GByteArray *out, guint64 type, const char *str);
P2P_EXPORT void p2p_frame_append_gap (GByteArray *out, guint64 timestamp, guint64 duration);
P2P_EXPORT void p2p_frame_append_flush_stop (GByteArray *out, gboolean reset_time);
/* Body only (for a datagram): seqnum varint + same layout as BUFFER. */
P2P_EXPORT void p2p_media_buffer_encode_body (GByteArray *out, const P2pMediaBuffer *buf);

/* QUIC varints (RFC 9000 §16). */
P2P_EXPORT void p2p_varint_append (GByteArray *out, guint64 v);
/* Reads one varint from @p (len bytes). Returns bytes used, 0 if incomplete. */
P2P_EXPORT gsize p2p_varint_read (const guint8 *p, gsize len, guint64 *v);

/* ---- capabilities (HANDSHAKE bit set; registry in docs/protocol.md §3.1) ---- */
/**
 * P2pCapability:
 * @P2P_CAPABILITY_FILES: "files": the peer implements the on-demand file
 *   requests of docs/protocol.md §8 (P2pFileService answers them).
 * @P2P_CAPABILITY_STREAM_POSITION: "stream-position": the peer's media
 *   receiver takes STREAM_POSITION frames and may ask to resume a reliable
 *   stream (docs/protocol.md §5.3).
 * @P2P_CAPABILITY_DATAGRAM_EPOCH: "datagram-epoch": media datagrams between
 *   two such peers carry the epoch of the events sent before them, and
 *   DATAGRAM_EPOCH frames mark the epochs on the stream, so that a
 *   datagram never overtakes an event sent before it (docs/protocol.md
 *   §5.2).
 *
 * Named optional features a peer advertises in its HANDSHAKE. Bits not in
 * this registry are ignored by the receiver.
 */
typedef enum {
  P2P_CAPABILITY_FILES = 1 << 0,
  P2P_CAPABILITY_STREAM_POSITION = 1 << 1,
  P2P_CAPABILITY_DATAGRAM_EPOCH = 1 << 2,
} P2pCapability;

/* Every capability this build implements: what a session advertises. */
#define P2P_CAPABILITIES_LOCAL ((guint64) (P2P_CAPABILITY_FILES | P2P_CAPABILITY_STREAM_POSITION \
      | P2P_CAPABILITY_DATAGRAM_EPOCH))

/* The registry name of one capability bit ("files"), NULL if unknown. */
P2P_EXPORT const char *p2p_capability_to_name (guint64 capability);
/* The bit of a registry name, 0 if unknown. */
P2P_EXPORT guint64 p2p_capability_from_name (const char *name);

/* ---- body parsing (strict: every byte accounted for) ---- */
/* @buf->payload points into @body. */
P2P_EXPORT gboolean p2p_frame_parse_buffer (const guint8 *body, gsize len,
    P2pMediaBuffer *buf, GError **error);
P2P_EXPORT gboolean p2p_media_buffer_decode_body (const guint8 *body, gsize len,
    P2pMediaBuffer *buf, GError **error);
P2P_EXPORT gboolean p2p_frame_parse_segment (const guint8 *body, gsize len,
    P2pMediaSegment *seg, GError **error);
P2P_EXPORT gboolean p2p_frame_parse_gap (const guint8 *body, gsize len,
    guint64 *timestamp, guint64 *duration, GError **error);
/* Body is exactly one byte, 0 or 1. */
P2P_EXPORT gboolean p2p_frame_parse_flush_stop (const guint8 *body, gsize len,
    gboolean *reset_time, GError **error);
/* UTF-8 string bodies (CAPS, TAG, STREAM_START): (transfer full) or NULL + error. */
P2P_EXPORT char *p2p_frame_parse_string (const guint8 *body, gsize len, GError **error);

/* ---- incremental decoder ---- */
typedef struct _P2pFrameDecoder P2pFrameDecoder;

/* @max_frame_size: 0 means P2P_MAX_FRAME_SIZE. */
P2P_EXPORT P2pFrameDecoder *p2p_frame_decoder_new (gsize max_frame_size);
P2P_EXPORT void p2p_frame_decoder_free (P2pFrameDecoder *dec);
/* Appends bytes; never fails (data is copied into an internal buffer that
 * grows at most to one header plus one maximum frame). */
P2P_EXPORT void p2p_frame_decoder_push (P2pFrameDecoder *dec, const guint8 *data, gsize len);
/* Takes the next whole frame: returns TRUE and sets @type and @body (transfer
 * full, the body bytes); returns FALSE with no error when more bytes are
 * needed; returns FALSE with P2P_ERROR_PROTOCOL (a non-minimal varint is
 * accepted; an over-long length or unknown encoding is not) on malformed
 * input, after which the decoder stays failed. */
P2P_EXPORT gboolean p2p_frame_decoder_next (P2pFrameDecoder *dec, guint64 *type,
    GBytes **body, GError **error);
/* Bytes buffered but not yet returned as frames. */
P2P_EXPORT gsize p2p_frame_decoder_pending (const P2pFrameDecoder *dec);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (P2pFrameDecoder, p2p_frame_decoder_free)

G_END_DECLS
