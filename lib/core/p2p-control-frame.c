/* p2p-control-frame.c: the control-stream frames of the QUIC session
 * (docs/protocol.md §3.1-3.3): HANDSHAKE and DISCONNECT encoding and strict
 * parsing (p2p-control-frame.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "p2p-control-frame.h"
#include "p2p-wire.h"
#include "p2p/p2p-error.h"

#define P2P_DISCONNECT_REASON_MAX 1024

/* ---- encoding ---- */

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

  len = p2p_wire_varint_len (max_version) + p2p_wire_varint_len (capabilities);
  if (min_version != max_version)
    len += p2p_wire_varint_len (min_version);
  p2p_wire_append_header (out, P2P_FRAME_HANDSHAKE, len);
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
  p2p_wire_append_header (out, P2P_FRAME_DISCONNECT, p2p_wire_varint_len (code) + rlen);
  p2p_varint_append (out, code);
  g_byte_array_append (out, (const guint8 *) valid, (guint) rlen);
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
  P2pWireReader r = { body, len, 0, "HANDSHAKE" };
  guint64 ver, caps, min;

  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!p2p_wire_read_varint (&r, "version", &ver, error)
      || !p2p_wire_read_varint (&r, "capabilities", &caps, error))
    return FALSE;
  min = ver;
  if (r.pos < r.len && !p2p_wire_read_varint (&r, "min_version", &min, error))
    return FALSE;
  if (!p2p_wire_reader_expect_end (&r, error))
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
  P2pWireReader r = { body, len, 0, "DISCONNECT" };
  guint64 c;
  gsize rlen;

  g_return_val_if_fail (body != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!p2p_wire_read_varint (&r, "code", &c, error))
    return FALSE;
  rlen = len - r.pos;
  if (rlen > P2P_DISCONNECT_REASON_MAX) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "DISCONNECT frame: reason is %" G_GSIZE_FORMAT " bytes, the maximum is %d",
        rlen, P2P_DISCONNECT_REASON_MAX);
    return FALSE;
  }
  if (!p2p_wire_validate_string (body + r.pos, rlen, "DISCONNECT", error))
    return FALSE;
  if (code)
    *code = c;
  if (reason)
    *reason = g_strndup ((const char *) body + r.pos, rlen);
  return TRUE;
}
