/* p2p-wire.c: the wire primitives under every frame (docs/protocol.md §3):
 * the QUIC varints (public, p2p/p2p-frame.h), frame headers, big-endian
 * fixed-width fields and the bounded reader the body parsers of
 * p2p-frame.c and p2p-control-frame.c share (p2p-wire.h).
 *
 * Nothing here reads past the buffer it was given.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "p2p-wire.h"
#include "p2p/p2p-error.h"

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

/* ---- frame headers ---- */

gsize
p2p_wire_varint_len (guint64 v)
{
  return v < 64 ? 1 : v < 16384 ? 2 : v < (G_GUINT64_CONSTANT (1) << 30) ? 4 : 8;
}

void
p2p_wire_append_header (GByteArray *out, guint64 type, gsize body_len)
{
  p2p_varint_append (out, type);
  p2p_varint_append (out, body_len);
}

/* ---- fixed-width fields ---- */

void
p2p_wire_append_u64 (GByteArray *out, guint64 v)
{
  guint64 be = GUINT64_TO_BE (v);

  g_byte_array_append (out, (const guint8 *) &be, 8);
}

void
p2p_wire_append_f64 (GByteArray *out, double d)
{
  guint64 bits;

  G_STATIC_ASSERT (sizeof (double) == sizeof (guint64));
  memcpy (&bits, &d, sizeof bits);
  p2p_wire_append_u64 (out, bits);
}

/* ---- the bounded body reader ---- */

gboolean
p2p_wire_read_u64 (P2pWireReader *r, const char *field, guint64 *v, GError **error)
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

gboolean
p2p_wire_read_f64 (P2pWireReader *r, const char *field, double *d, GError **error)
{
  guint64 bits;

  if (!p2p_wire_read_u64 (r, field, &bits, error))
    return FALSE;
  memcpy (d, &bits, sizeof bits);
  return TRUE;
}

gboolean
p2p_wire_read_varint (P2pWireReader *r, const char *field, guint64 *v, GError **error)
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

gboolean
p2p_wire_read_varint_u32 (P2pWireReader *r, const char *field, guint32 *v, GError **error)
{
  guint64 v64;

  if (!p2p_wire_read_varint (r, field, &v64, error))
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

gboolean
p2p_wire_reader_expect_end (P2pWireReader *r, GError **error)
{
  if (r->pos != r->len) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "%s frame has %" G_GSIZE_FORMAT " unexpected trailing bytes",
        r->what, r->len - r->pos);
    return FALSE;
  }
  return TRUE;
}

gboolean
p2p_wire_validate_string (const guint8 *p, gsize len, const char *what, GError **error)
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
