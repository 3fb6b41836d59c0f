/* p2p-wire.h (internal): the wire primitives the frame codecs share
 * (p2p-frame.c, p2p-control-frame.c): varint lengths, frame headers,
 * big-endian fixed-width fields and a bounded reader over one frame body.
 * The QUIC varints themselves are public (p2p/p2p-frame.h). Not installed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-frame.h"

G_BEGIN_DECLS

/* The largest value of a QUIC varint (RFC 9000 §16): 2^62 - 1. */
#define P2P_VARINT_MAX ((G_GUINT64_CONSTANT (1) << 62) - 1)

/* Bytes of the shortest varint encoding of @v. */
gsize p2p_wire_varint_len (guint64 v);

/* Writes a frame header for a body of @body_len bytes that the caller
 * appends next (no copy of the body is ever moved). */
void p2p_wire_append_header (GByteArray *out, guint64 type, gsize body_len);

/* Appends @v as 8 big-endian bytes. */
void p2p_wire_append_u64 (GByteArray *out, guint64 v);
/* Appends the bits of @d as p2p_wire_append_u64() does. */
void p2p_wire_append_f64 (GByteArray *out, double d);

/* A bounded reader over one body: every read checks the remaining length. */
typedef struct {
  const guint8 *p;
  gsize len;
  gsize pos;
  const char *what;             /* frame name for error messages */
} P2pWireReader;

/* Each read takes one field at @r->pos and advances past it; it fails with
 * P2P_ERROR_PROTOCOL (naming @r->what and @field) when the body ends first. */
gboolean p2p_wire_read_u64 (P2pWireReader *r, const char *field, guint64 *v, GError **error);
gboolean p2p_wire_read_f64 (P2pWireReader *r, const char *field, double *d, GError **error);
gboolean p2p_wire_read_varint (P2pWireReader *r, const char *field, guint64 *v,
    GError **error);
/* Also fails on a value above G_MAXUINT32. */
gboolean p2p_wire_read_varint_u32 (P2pWireReader *r, const char *field, guint32 *v,
    GError **error);
/* P2P_ERROR_PROTOCOL when bytes are left after the last field. */
gboolean p2p_wire_reader_expect_end (P2pWireReader *r, GError **error);

/* Valid UTF-8 without NUL bytes, or P2P_ERROR_PROTOCOL naming the frame
 * @what. */
gboolean p2p_wire_validate_string (const guint8 *p, gsize len, const char *what,
    GError **error);

G_END_DECLS
