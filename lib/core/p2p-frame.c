/* p2p-frame.c: the media frames (docs/protocol.md §3.4-3.6, §5): frame
 * encoding and the strict body parsers of SEGMENT, BUFFER (and its datagram
 * body), GAP, FLUSH_STOP and the string frames.
 *
 * The varints and the shared wire primitives are in p2p-wire.c, the control
 * frames in p2p-control-frame.c, the incremental decoder in
 * p2p-frame-decoder.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <string.h>

#include "p2p/p2p-frame.h"
#include "p2p/p2p-error.h"
#include "p2p-wire.h"

/* ---- encoding ---- */

/**
 * p2p_frame_append: (skip)
 * @out: the buffer to append to
 * @type: the frame type (a #P2pFrameType)
 * @body: (array length=len) (nullable): the body
 * @len: its length in bytes
 *
 * Appends a whole frame, header and body.
 */
void
p2p_frame_append (GByteArray *out, guint64 type, const guint8 *body, gsize len)
{
  g_return_if_fail (out != NULL);
  g_return_if_fail (body != NULL || len == 0);
  g_return_if_fail (type <= P2P_VARINT_MAX);

  p2p_varint_append (out, type);
  p2p_varint_append (out, len);
  if (len > 0)
    g_byte_array_append (out, body, (guint) len);
}

static void
append_buffer_layout (GByteArray *out, const P2pMediaBuffer *buf)
{
  p2p_wire_append_u64 (out, buf->pts);
  p2p_wire_append_u64 (out, buf->dts);
  p2p_wire_append_u64 (out, buf->duration);
  p2p_wire_append_u64 (out, buf->offset);
  p2p_wire_append_u64 (out, buf->offset_end);
  p2p_varint_append (out, buf->flags);
  if (buf->payload_len > 0)
    g_byte_array_append (out, buf->payload, (guint) buf->payload_len);
}

/**
 * p2p_frame_append_buffer: (skip)
 * @out: the buffer to append to
 * @buf: the media buffer
 *
 * Appends a BUFFER frame.
 */
void
p2p_frame_append_buffer (GByteArray *out, const P2pMediaBuffer *buf)
{
  g_return_if_fail (out != NULL && buf != NULL);
  g_return_if_fail (buf->payload != NULL || buf->payload_len == 0);
  g_return_if_fail (buf->payload_len <= G_MAXUINT - 64);

  p2p_wire_append_header (out, P2P_FRAME_BUFFER,
      40 + p2p_wire_varint_len (buf->flags) + buf->payload_len);
  append_buffer_layout (out, buf);
}

/**
 * p2p_media_buffer_encode_body: (skip)
 * @out: the buffer to append to
 * @buf: the media buffer
 *
 * Appends the body of a BUFFER frame (for a datagram).
 */
void
p2p_media_buffer_encode_body (GByteArray *out, const P2pMediaBuffer *buf)
{
  g_return_if_fail (out != NULL && buf != NULL);
  g_return_if_fail (buf->payload != NULL || buf->payload_len == 0);
  g_return_if_fail (buf->seqnum <= P2P_VARINT_MAX);

  p2p_varint_append (out, buf->seqnum);
  append_buffer_layout (out, buf);
}

/**
 * p2p_frame_append_segment: (skip)
 * @out: the buffer to append to
 * @seg: the segment
 *
 * Appends a SEGMENT frame.
 */
void
p2p_frame_append_segment (GByteArray *out, const P2pMediaSegment *seg)
{
  g_return_if_fail (out != NULL && seg != NULL);

  p2p_wire_append_header (out, P2P_FRAME_SEGMENT,
      p2p_wire_varint_len (seg->flags) + 16 + p2p_wire_varint_len (seg->format) + 7 * 8);
  p2p_varint_append (out, seg->flags);
  p2p_wire_append_f64 (out, seg->rate);
  p2p_wire_append_f64 (out, seg->applied_rate);
  p2p_varint_append (out, seg->format);
  p2p_wire_append_u64 (out, seg->base);
  p2p_wire_append_u64 (out, seg->offset);
  p2p_wire_append_u64 (out, seg->start);
  p2p_wire_append_u64 (out, seg->stop);
  p2p_wire_append_u64 (out, seg->time);
  p2p_wire_append_u64 (out, seg->position);
  p2p_wire_append_u64 (out, seg->duration);
}

/**
 * p2p_frame_append_string: (skip)
 * @out: the buffer to append to
 * @type: %P2P_FRAME_STREAM_START, %P2P_FRAME_CAPS or %P2P_FRAME_TAG
 * @str: UTF-8 body (without its NUL)
 *
 * Appends a frame whose body is a string.
 */
void
p2p_frame_append_string (GByteArray *out, guint64 type, const char *str)
{
  g_return_if_fail (out != NULL && str != NULL);

  p2p_frame_append (out, type, (const guint8 *) str, strlen (str));
}

/**
 * p2p_frame_append_gap: (skip)
 * @out: the buffer to append to
 * @timestamp: ns
 * @duration: ns
 *
 * Appends a GAP frame.
 */
void
p2p_frame_append_gap (GByteArray *out, guint64 timestamp, guint64 duration)
{
  g_return_if_fail (out != NULL);

  p2p_wire_append_header (out, P2P_FRAME_GAP, 16);
  p2p_wire_append_u64 (out, timestamp);
  p2p_wire_append_u64 (out, duration);
}

/**
 * p2p_frame_append_flush_stop: (skip)
 * @out: the buffer to append to
 * @reset_time: whether running time restarts
 *
 * Appends a FLUSH_STOP frame.
 */
void
p2p_frame_append_flush_stop (GByteArray *out, gboolean reset_time)
{
  guint8 b = reset_time ? 1 : 0;

  g_return_if_fail (out != NULL);

  p2p_frame_append (out, P2P_FRAME_FLUSH_STOP, &b, 1);
}

/* ---- body parsing ---- */
static gboolean
parse_buffer_layout (P2pWireReader *r, P2pMediaBuffer *buf, GError **error)
{
  if (!p2p_wire_read_u64 (r, "pts", &buf->pts, error)
      || !p2p_wire_read_u64 (r, "dts", &buf->dts, error)
      || !p2p_wire_read_u64 (r, "duration", &buf->duration, error)
      || !p2p_wire_read_u64 (r, "offset", &buf->offset, error)
      || !p2p_wire_read_u64 (r, "offset_end", &buf->offset_end, error)
      || !p2p_wire_read_varint_u32 (r, "flags", &buf->flags, error))
    return FALSE;
  buf->payload_len = r->len - r->pos;
  buf->payload = r->p + r->pos;
  r->pos = r->len;
  return TRUE;
}

/**
 * p2p_frame_parse_buffer: (skip)
 * @body: the frame body
 * @len: its length in bytes
 * @buf: (out caller-allocates): the buffer; its payload points into @body
 * @error: %P2P_ERROR_PROTOCOL if malformed
 *
 * Returns: TRUE if @body is a valid BUFFER body.
 */
gboolean
p2p_frame_parse_buffer (const guint8 *body, gsize len, P2pMediaBuffer *buf, GError **error)
{
  P2pWireReader r = { body, len, 0, "BUFFER" };
  P2pMediaBuffer tmp = { 0, };

  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (buf != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!parse_buffer_layout (&r, &tmp, error))
    return FALSE;
  *buf = tmp;
  return TRUE;
}

/**
 * p2p_media_buffer_decode_body: (skip)
 * @body: the datagram body
 * @len: its length in bytes
 * @buf: (out caller-allocates): the buffer; its payload points into @body
 * @error: %P2P_ERROR_PROTOCOL if malformed
 *
 * Returns: TRUE if @body is a valid datagram media body.
 */
gboolean
p2p_media_buffer_decode_body (const guint8 *body, gsize len, P2pMediaBuffer *buf,
    GError **error)
{
  P2pWireReader r = { body, len, 0, "media datagram" };
  P2pMediaBuffer tmp = { 0, };

  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (buf != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!p2p_wire_read_varint (&r, "seqnum", &tmp.seqnum, error)
      || !parse_buffer_layout (&r, &tmp, error))
    return FALSE;
  *buf = tmp;
  return TRUE;
}

static gboolean
check_rate (double rate, const char *field, GError **error)
{
  if (!isfinite (rate) || rate == 0.0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "SEGMENT frame: %s must be finite and non-zero, got %g", field, rate);
    return FALSE;
  }
  return TRUE;
}

/**
 * p2p_frame_parse_segment:
 * @body: (array length=len): the frame body
 * @len: its length in bytes
 * @seg: (out caller-allocates): the segment
 * @error: %P2P_ERROR_PROTOCOL if malformed
 *
 * Returns: TRUE if @body is a valid SEGMENT body.
 */
gboolean
p2p_frame_parse_segment (const guint8 *body, gsize len, P2pMediaSegment *seg, GError **error)
{
  P2pWireReader r = { body, len, 0, "SEGMENT" };
  P2pMediaSegment tmp = { 0, };

  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (seg != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!p2p_wire_read_varint_u32 (&r, "flags", &tmp.flags, error)
      || !p2p_wire_read_f64 (&r, "rate", &tmp.rate, error)
      || !p2p_wire_read_f64 (&r, "applied_rate", &tmp.applied_rate, error)
      || !p2p_wire_read_varint_u32 (&r, "format", &tmp.format, error)
      || !p2p_wire_read_u64 (&r, "base", &tmp.base, error)
      || !p2p_wire_read_u64 (&r, "offset", &tmp.offset, error)
      || !p2p_wire_read_u64 (&r, "start", &tmp.start, error)
      || !p2p_wire_read_u64 (&r, "stop", &tmp.stop, error)
      || !p2p_wire_read_u64 (&r, "time", &tmp.time, error)
      || !p2p_wire_read_u64 (&r, "position", &tmp.position, error)
      || !p2p_wire_read_u64 (&r, "duration", &tmp.duration, error)
      || !p2p_wire_reader_expect_end (&r, error))
    return FALSE;
  if (!check_rate (tmp.rate, "rate", error)
      || !check_rate (tmp.applied_rate, "applied_rate", error))
    return FALSE;
  *seg = tmp;
  return TRUE;
}

/**
 * p2p_frame_parse_string:
 * @body: (array length=len): the frame body
 * @len: its length in bytes
 * @error: %P2P_ERROR_PROTOCOL if not valid UTF-8 or if it holds a NUL
 *
 * Returns: (transfer full) (nullable): the string.
 */
char *
p2p_frame_parse_string (const guint8 *body, gsize len, GError **error)
{
  g_return_val_if_fail (body != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!p2p_wire_validate_string (body, len, "string", error))
    return NULL;
  return len ? g_strndup ((const char *) body, len) : g_strdup ("");
}

/**
 * p2p_frame_parse_gap:
 * @body: (array length=len): the frame body
 * @len: its length in bytes
 * @timestamp: (out): ns
 * @duration: (out): ns
 * @error: %P2P_ERROR_PROTOCOL if malformed
 *
 * Returns: TRUE if @body is a valid GAP body.
 */
gboolean
p2p_frame_parse_gap (const guint8 *body, gsize len, guint64 *timestamp, guint64 *duration,
    GError **error)
{
  P2pWireReader r = { body, len, 0, "GAP" };
  guint64 ts, dur;

  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!p2p_wire_read_u64 (&r, "timestamp", &ts, error)
      || !p2p_wire_read_u64 (&r, "duration", &dur, error)
      || !p2p_wire_reader_expect_end (&r, error))
    return FALSE;
  if (timestamp)
    *timestamp = ts;
  if (duration)
    *duration = dur;
  return TRUE;
}

/**
 * p2p_frame_parse_flush_stop:
 * @body: (array length=len): the frame body
 * @len: its length in bytes
 * @reset_time: (out): whether running time restarts
 * @error: %P2P_ERROR_PROTOCOL if malformed (the body is one byte, 0 or 1)
 *
 * Returns: TRUE if @body is a valid FLUSH_STOP body.
 */
gboolean
p2p_frame_parse_flush_stop (const guint8 *body, gsize len, gboolean *reset_time,
    GError **error)
{
  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (len != 1) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "FLUSH_STOP frame body must be 1 byte (reset_time), got %" G_GSIZE_FORMAT, len);
    return FALSE;
  }
  if (body[0] > 1) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "FLUSH_STOP frame: reset_time must be 0 or 1, got %u", body[0]);
    return FALSE;
  }
  if (reset_time)
    *reset_time = body[0] == 1;
  return TRUE;
}
