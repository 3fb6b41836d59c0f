/* p2p-frame.c: wire frames: QUIC varints, frame encoding, strict body
 * parsers and the incremental frame decoder (docs/protocol.md).
 *
 * Sans-I/O and allocation-bounded: nothing here reads past the buffer it was
 * given, and the decoder rejects an over-long length before the body arrives.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <string.h>

#include "p2p/p2p-frame.h"
#include "p2p/p2p-error.h"

#define P2P_VARINT_MAX ((G_GUINT64_CONSTANT (1) << 62) - 1)
#define P2P_DISCONNECT_REASON_MAX 1024

/* ---- varints ---- */

/**
 * p2p_varint_append: (skip)
 * @out: the buffer to append to
 * @v: the value, below 2^62
 *
 * Appends @v as a QUIC varint (RFC 9000 §16), in its shortest form.
 */
void
p2p_varint_append (GByteArray *out, guint64 v)
{
  guint8 b[8];

  g_return_if_fail (out != NULL);
  g_return_if_fail (v <= P2P_VARINT_MAX);

  if (v < 64) {
    b[0] = (guint8) v;
    g_byte_array_append (out, b, 1);
  } else if (v < 16384) {
    b[0] = 0x40 | (guint8) (v >> 8);
    b[1] = (guint8) v;
    g_byte_array_append (out, b, 2);
  } else if (v < (G_GUINT64_CONSTANT (1) << 30)) {
    b[0] = 0x80 | (guint8) (v >> 24);
    b[1] = (guint8) (v >> 16);
    b[2] = (guint8) (v >> 8);
    b[3] = (guint8) v;
    g_byte_array_append (out, b, 4);
  } else {
    b[0] = 0xc0 | (guint8) (v >> 56);
    b[1] = (guint8) (v >> 48);
    b[2] = (guint8) (v >> 40);
    b[3] = (guint8) (v >> 32);
    b[4] = (guint8) (v >> 24);
    b[5] = (guint8) (v >> 16);
    b[6] = (guint8) (v >> 8);
    b[7] = (guint8) v;
    g_byte_array_append (out, b, 8);
  }
}

/**
 * p2p_varint_read:
 * @p: (array length=len): the bytes
 * @len: how many bytes @p holds
 * @v: (out): the value read
 *
 * Reads one QUIC varint from @p.
 *
 * Returns: the number of bytes used, 0 if @p holds an incomplete varint.
 */
gsize
p2p_varint_read (const guint8 *p, gsize len, guint64 *v)
{
  gsize n, i;
  guint64 r;

  if (len == 0 || p == NULL)
    return 0;
  n = (gsize) 1 << (p[0] >> 6);
  if (len < n)
    return 0;
  r = p[0] & 0x3f;
  for (i = 1; i < n; i++)
    r = (r << 8) | p[i];
  if (v)
    *v = r;
  return n;
}

/* ---- fixed-width helpers ---- */

static void
append_u64 (GByteArray *out, guint64 v)
{
  guint64 be = GUINT64_TO_BE (v);

  g_byte_array_append (out, (const guint8 *) &be, 8);
}

static void
append_f64 (GByteArray *out, double d)
{
  guint64 bits;

  G_STATIC_ASSERT (sizeof (double) == sizeof (guint64));
  memcpy (&bits, &d, sizeof bits);
  append_u64 (out, bits);
}

/* A bounded reader over one body: every read checks the remaining length. */
typedef struct {
  const guint8 *p;
  gsize len;
  gsize pos;
  const char *what;             /* frame name for error messages */
} Reader;

static gboolean
read_u64 (Reader *r, const char *field, guint64 *v, GError **error)
{
  guint64 be;

  if (r->len - r->pos < 8) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "%s frame truncated: field '%s' needs 8 bytes at offset %" G_GSIZE_FORMAT
        ", only %" G_GSIZE_FORMAT " left", r->what, field, r->pos, r->len - r->pos);
    return FALSE;
  }
  memcpy (&be, r->p + r->pos, 8);
  *v = GUINT64_FROM_BE (be);
  r->pos += 8;
  return TRUE;
}

static gboolean
read_f64 (Reader *r, const char *field, double *d, GError **error)
{
  guint64 bits;

  if (!read_u64 (r, field, &bits, error))
    return FALSE;
  memcpy (d, &bits, sizeof bits);
  return TRUE;
}

static gboolean
read_varint (Reader *r, const char *field, guint64 *v, GError **error)
{
  gsize n = r->pos < r->len ? p2p_varint_read (r->p + r->pos, r->len - r->pos, v) : 0;

  if (n == 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "%s frame truncated: varint field '%s' incomplete at offset %" G_GSIZE_FORMAT,
        r->what, field, r->pos);
    return FALSE;
  }
  r->pos += n;
  return TRUE;
}

static gboolean
read_varint_u32 (Reader *r, const char *field, guint32 *v, GError **error)
{
  guint64 v64;

  if (!read_varint (r, field, &v64, error))
    return FALSE;
  if (v64 > G_MAXUINT32) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "%s frame: field '%s' value %" G_GUINT64_FORMAT " does not fit in 32 bits",
        r->what, field, v64);
    return FALSE;
  }
  *v = (guint32) v64;
  return TRUE;
}

static gboolean
reader_expect_end (Reader *r, GError **error)
{
  if (r->pos != r->len) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "%s frame has %" G_GSIZE_FORMAT " unexpected trailing bytes",
        r->what, r->len - r->pos);
    return FALSE;
  }
  return TRUE;
}

/* Valid UTF-8 without NUL bytes. */
static gboolean
validate_string (const guint8 *p, gsize len, const char *what, GError **error)
{
  const char *end = NULL;

  if (len > 0 && memchr (p, 0, len) != NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "%s frame: string contains a NUL byte", what);
    return FALSE;
  }
  if (!g_utf8_validate_len ((const char *) p, len, &end)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "%s frame: string is not valid UTF-8 (at byte %" G_GSIZE_FORMAT ")",
        what, (gsize) (end - (const char *) p));
    return FALSE;
  }
  return TRUE;
}

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

static gsize
varint_len (guint64 v)
{
  return v < 64 ? 1 : v < 16384 ? 2 : v < (G_GUINT64_CONSTANT (1) << 30) ? 4 : 8;
}

/* Writes a frame header for a body of @body_len bytes that the caller
 * appends next (no copy of the body is ever moved). */
static void
append_header (GByteArray *out, guint64 type, gsize body_len)
{
  p2p_varint_append (out, type);
  p2p_varint_append (out, body_len);
}

/**
 * p2p_frame_append_handshake: (skip)
 * @out: the buffer to append to
 * @version: the protocol version
 * @capabilities: the capability bits
 *
 * Appends the HANDSHAKE frame of a peer that speaks only @version.
 */
void
p2p_frame_append_handshake (GByteArray *out, guint64 version, guint64 capabilities)
{
  p2p_frame_append_handshake_range (out, version, version, capabilities);
}

/**
 * p2p_frame_append_handshake_range: (skip)
 * @out: the buffer to append to
 * @min_version: the lowest protocol version the sender speaks
 * @max_version: the highest (>= @min_version)
 * @capabilities: the capability bits (#P2pCapability)
 *
 * Appends a HANDSHAKE frame: `max_version capabilities [min_version]`; the
 * last field is left out when it equals @max_version, so that a
 * single-version peer sends exactly the version 1 layout.
 */
void
p2p_frame_append_handshake_range (GByteArray *out, guint64 min_version, guint64 max_version,
    guint64 capabilities)
{
  gsize len;

  g_return_if_fail (out != NULL);
  g_return_if_fail (max_version <= P2P_VARINT_MAX && capabilities <= P2P_VARINT_MAX);
  g_return_if_fail (min_version >= 1 && min_version <= max_version);

  len = varint_len (max_version) + varint_len (capabilities);
  if (min_version != max_version)
    len += varint_len (min_version);
  append_header (out, P2P_FRAME_HANDSHAKE, len);
  p2p_varint_append (out, max_version);
  p2p_varint_append (out, capabilities);
  if (min_version != max_version)
    p2p_varint_append (out, min_version);
}

/**
 * p2p_frame_append_disconnect: (skip)
 * @out: the buffer to append to
 * @code: a #P2pDisconnectCode
 * @reason: (nullable): UTF-8 reason
 *
 * Appends a DISCONNECT frame.
 */
void
p2p_frame_append_disconnect (GByteArray *out, guint64 code, const char *reason)
{
  g_autofree char *valid = NULL;
  gsize rlen;

  g_return_if_fail (out != NULL);
  g_return_if_fail (code <= P2P_VARINT_MAX);

  /* The reason is informative: make it valid and bounded rather than fail. */
  valid = g_utf8_make_valid (reason ? reason : "", -1);
  rlen = strlen (valid);
  if (rlen > P2P_DISCONNECT_REASON_MAX) {
    const char *cut = g_utf8_find_prev_char (valid, valid + P2P_DISCONNECT_REASON_MAX + 1);

    rlen = cut ? (gsize) (cut - valid) : 0;
  }
  append_header (out, P2P_FRAME_DISCONNECT, varint_len (code) + rlen);
  p2p_varint_append (out, code);
  g_byte_array_append (out, (const guint8 *) valid, (guint) rlen);
}

static void
append_buffer_layout (GByteArray *out, const P2pMediaBuffer *buf)
{
  append_u64 (out, buf->pts);
  append_u64 (out, buf->dts);
  append_u64 (out, buf->duration);
  append_u64 (out, buf->offset);
  append_u64 (out, buf->offset_end);
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

  append_header (out, P2P_FRAME_BUFFER, 40 + varint_len (buf->flags) + buf->payload_len);
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

  append_header (out, P2P_FRAME_SEGMENT,
      varint_len (seg->flags) + 16 + varint_len (seg->format) + 7 * 8);
  p2p_varint_append (out, seg->flags);
  append_f64 (out, seg->rate);
  append_f64 (out, seg->applied_rate);
  p2p_varint_append (out, seg->format);
  append_u64 (out, seg->base);
  append_u64 (out, seg->offset);
  append_u64 (out, seg->start);
  append_u64 (out, seg->stop);
  append_u64 (out, seg->time);
  append_u64 (out, seg->position);
  append_u64 (out, seg->duration);
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

  append_header (out, P2P_FRAME_GAP, 16);
  append_u64 (out, timestamp);
  append_u64 (out, duration);
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

/**
 * p2p_frame_parse_handshake:
 * @body: (array length=len): the frame body
 * @len: its length in bytes
 * @version: (out): the highest protocol version the sender speaks
 * @capabilities: (out): the capability bits
 * @error: %P2P_ERROR_PROTOCOL if malformed
 *
 * Returns: TRUE if @body is a valid HANDSHAKE body.
 */
gboolean
p2p_frame_parse_handshake (const guint8 *body, gsize len, guint64 *version,
    guint64 *capabilities, GError **error)
{
  return p2p_frame_parse_handshake_range (body, len, NULL, version, capabilities, error);
}

/**
 * p2p_frame_parse_handshake_range:
 * @body: (array length=len): the frame body
 * @len: its length in bytes
 * @min_version: (out) (optional): the lowest protocol version the sender
 *   speaks (@max_version when the optional field is absent)
 * @max_version: (out) (optional): the highest
 * @capabilities: (out) (optional): the capability bits
 * @error: %P2P_ERROR_PROTOCOL if malformed
 *
 * Returns: TRUE if @body is a valid HANDSHAKE body.
 */
gboolean
p2p_frame_parse_handshake_range (const guint8 *body, gsize len, guint64 *min_version,
    guint64 *max_version, guint64 *capabilities, GError **error)
{
  Reader r = { body, len, 0, "HANDSHAKE" };
  guint64 ver, caps, min;

  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!read_varint (&r, "version", &ver, error)
      || !read_varint (&r, "capabilities", &caps, error))
    return FALSE;
  min = ver;
  if (r.pos < r.len && !read_varint (&r, "min_version", &min, error))
    return FALSE;
  if (!reader_expect_end (&r, error))
    return FALSE;
  if (ver == 0 || min == 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "HANDSHAKE frame: protocol version 0 is not valid (versions start at 1)");
    return FALSE;
  }
  if (min > ver) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "HANDSHAKE frame: min_version %" G_GUINT64_FORMAT " is above version %"
        G_GUINT64_FORMAT, min, ver);
    return FALSE;
  }
  if (min_version)
    *min_version = min;
  if (max_version)
    *max_version = ver;
  if (capabilities)
    *capabilities = caps;
  return TRUE;
}

/* The capability registry (docs/protocol.md §3.1): bit, name. */
static const struct {
  guint64 bit;
  const char *name;
} capability_names[] = {
  { P2P_CAPABILITY_FILES, "files" },
};

/**
 * p2p_capability_to_name:
 * @capability: one #P2pCapability bit
 *
 * Returns: (nullable): its registry name, NULL if unknown.
 */
const char *
p2p_capability_to_name (guint64 capability)
{
  for (gsize i = 0; i < G_N_ELEMENTS (capability_names); i++)
    if (capability_names[i].bit == capability)
      return capability_names[i].name;
  return NULL;
}

/**
 * p2p_capability_from_name:
 * @name: a registry name ("files")
 *
 * Returns: its #P2pCapability bit, 0 if @name is not in the registry.
 */
guint64
p2p_capability_from_name (const char *name)
{
  g_return_val_if_fail (name != NULL, 0);

  for (gsize i = 0; i < G_N_ELEMENTS (capability_names); i++)
    if (strcmp (capability_names[i].name, name) == 0)
      return capability_names[i].bit;
  return 0;
}

/**
 * p2p_frame_parse_disconnect:
 * @body: (array length=len): the frame body
 * @len: its length in bytes
 * @code: (out): the #P2pDisconnectCode
 * @reason: (out) (transfer full): the reason, valid UTF-8
 * @error: %P2P_ERROR_PROTOCOL if malformed
 *
 * Returns: TRUE if @body is a valid DISCONNECT body.
 */
gboolean
p2p_frame_parse_disconnect (const guint8 *body, gsize len, guint64 *code, char **reason,
    GError **error)
{
  Reader r = { body, len, 0, "DISCONNECT" };
  guint64 c;
  gsize rlen;

  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!read_varint (&r, "code", &c, error))
    return FALSE;
  rlen = len - r.pos;
  if (rlen > P2P_DISCONNECT_REASON_MAX) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "DISCONNECT frame: reason is %" G_GSIZE_FORMAT " bytes, the maximum is %d",
        rlen, P2P_DISCONNECT_REASON_MAX);
    return FALSE;
  }
  if (!validate_string (body + r.pos, rlen, "DISCONNECT", error))
    return FALSE;
  if (code)
    *code = c;
  if (reason)
    *reason = g_strndup ((const char *) body + r.pos, rlen);
  return TRUE;
}

static gboolean
parse_buffer_layout (Reader *r, P2pMediaBuffer *buf, GError **error)
{
  if (!read_u64 (r, "pts", &buf->pts, error)
      || !read_u64 (r, "dts", &buf->dts, error)
      || !read_u64 (r, "duration", &buf->duration, error)
      || !read_u64 (r, "offset", &buf->offset, error)
      || !read_u64 (r, "offset_end", &buf->offset_end, error)
      || !read_varint_u32 (r, "flags", &buf->flags, error))
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
  Reader r = { body, len, 0, "BUFFER" };
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
  Reader r = { body, len, 0, "media datagram" };
  P2pMediaBuffer tmp = { 0, };

  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (buf != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!read_varint (&r, "seqnum", &tmp.seqnum, error)
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
  Reader r = { body, len, 0, "SEGMENT" };
  P2pMediaSegment tmp = { 0, };

  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (seg != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!read_varint_u32 (&r, "flags", &tmp.flags, error)
      || !read_f64 (&r, "rate", &tmp.rate, error)
      || !read_f64 (&r, "applied_rate", &tmp.applied_rate, error)
      || !read_varint_u32 (&r, "format", &tmp.format, error)
      || !read_u64 (&r, "base", &tmp.base, error)
      || !read_u64 (&r, "offset", &tmp.offset, error)
      || !read_u64 (&r, "start", &tmp.start, error)
      || !read_u64 (&r, "stop", &tmp.stop, error)
      || !read_u64 (&r, "time", &tmp.time, error)
      || !read_u64 (&r, "position", &tmp.position, error)
      || !read_u64 (&r, "duration", &tmp.duration, error)
      || !reader_expect_end (&r, error))
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

  if (!validate_string (body, len, "string", error))
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
  Reader r = { body, len, 0, "GAP" };
  guint64 ts, dur;

  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!read_u64 (&r, "timestamp", &ts, error)
      || !read_u64 (&r, "duration", &dur, error)
      || !reader_expect_end (&r, error))
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

/* ---- incremental decoder ---- */

struct _P2pFrameDecoder {
  GByteArray *buf;
  gsize pos;                    /* first unconsumed byte of buf */
  gsize max_frame_size;
  char *failure;                /* set once a malformed frame was seen */
};

/**
 * p2p_frame_decoder_new: (skip)
 * @max_frame_size: the largest body accepted, 0 = %P2P_MAX_FRAME_SIZE
 *
 * Returns: (transfer full): an incremental decoder, freed with
 *   p2p_frame_decoder_free().
 */
P2pFrameDecoder *
p2p_frame_decoder_new (gsize max_frame_size)
{
  P2pFrameDecoder *dec = g_new0 (P2pFrameDecoder, 1);

  dec->buf = g_byte_array_new ();
  dec->max_frame_size = max_frame_size ? max_frame_size : P2P_MAX_FRAME_SIZE;
  return dec;
}

/**
 * p2p_frame_decoder_free: (skip)
 * @dec: (nullable): a decoder
 */
void
p2p_frame_decoder_free (P2pFrameDecoder *dec)
{
  if (dec == NULL)
    return;
  g_byte_array_unref (dec->buf);
  g_free (dec->failure);
  g_free (dec);
}

static void
decoder_compact (P2pFrameDecoder *dec)
{
  if (dec->pos == 0)
    return;
  if (dec->pos == dec->buf->len) {
    g_byte_array_set_size (dec->buf, 0);
    dec->pos = 0;
  } else if (dec->pos >= 4096 && dec->pos >= dec->buf->len / 2) {
    /* Amortised: each byte is moved O(1) times on average. */
    g_byte_array_remove_range (dec->buf, 0, (guint) dec->pos);
    dec->pos = 0;
  }
}

/**
 * p2p_frame_decoder_push: (skip)
 * @dec: a decoder
 * @data: (array length=len): bytes of the stream
 * @len: their length
 *
 * Appends bytes (copied).
 */
void
p2p_frame_decoder_push (P2pFrameDecoder *dec, const guint8 *data, gsize len)
{
  g_return_if_fail (dec != NULL);
  g_return_if_fail (data != NULL || len == 0);
  g_return_if_fail (len <= G_MAXUINT);

  if (dec->failure != NULL || len == 0)
    return;                     /* a failed decoder ignores further input */
  decoder_compact (dec);
  g_byte_array_append (dec->buf, data, (guint) len);
}

/**
 * p2p_frame_decoder_next: (skip)
 * @dec: a decoder
 * @type: (out): the frame type
 * @body: (out) (transfer full): the body
 * @error: %P2P_ERROR_PROTOCOL on malformed input
 *
 * Returns: TRUE when a whole frame was taken; FALSE without error when more
 *   bytes are needed.
 */
gboolean
p2p_frame_decoder_next (P2pFrameDecoder *dec, guint64 *type, GBytes **body, GError **error)
{
  const guint8 *p;
  gsize avail, n1, n2;
  guint64 t, flen;

  g_return_val_if_fail (dec != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (dec->failure != NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "%s", dec->failure);
    return FALSE;
  }

  avail = dec->buf->len - dec->pos;
  if (avail == 0)
    return FALSE;
  p = dec->buf->data + dec->pos;
  n1 = p2p_varint_read (p, avail, &t);
  if (n1 == 0)
    return FALSE;
  n2 = p2p_varint_read (p + n1, avail - n1, &flen);
  if (n2 == 0)
    return FALSE;
  if (flen > dec->max_frame_size) {
    dec->failure = g_strdup_printf ("frame of type 0x%" G_GINT64_MODIFIER "x announces a "
        "body of %" G_GUINT64_FORMAT " bytes, above the maximum of %" G_GSIZE_FORMAT
        " bytes", t, flen, dec->max_frame_size);
    g_byte_array_set_size (dec->buf, 0);
    dec->pos = 0;
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "%s", dec->failure);
    return FALSE;
  }
  if (avail - n1 - n2 < flen)
    return FALSE;

  if (type)
    *type = t;
  if (body)
    *body = g_bytes_new (p + n1 + n2, (gsize) flen);
  dec->pos += n1 + n2 + (gsize) flen;
  decoder_compact (dec);
  return TRUE;
}

/**
 * p2p_frame_decoder_pending: (skip)
 * @dec: a decoder
 *
 * Returns: bytes buffered but not yet returned as frames.
 */
gsize
p2p_frame_decoder_pending (const P2pFrameDecoder *dec)
{
  g_return_val_if_fail (dec != NULL, 0);

  return dec->buf->len - dec->pos;
}
