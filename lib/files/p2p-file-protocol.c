/* p2p-file-protocol.c: codecs of the on-demand file request protocol
 * (request, answer header, LIST entry) and the protocol's path check. No
 * I/O; the layout is documented in docs/protocol.md "File requests".
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-file-protocol-private.h"

#include <string.h>

G_DEFINE_QUARK (p2p-file-status-quark, p2p_file_status)

const char *
p2p_file_status_to_string (P2pFileStatus status)
{
  switch (status) {
    case P2P_FILE_STATUS_OK: return "OK";
    case P2P_FILE_STATUS_NOT_FOUND: return "NOT_FOUND";
    case P2P_FILE_STATUS_OUTSIDE_ROOT: return "OUTSIDE_ROOT";
    case P2P_FILE_STATUS_BAD_PATH: return "BAD_PATH";
    case P2P_FILE_STATUS_IS_DIRECTORY: return "IS_DIRECTORY";
    case P2P_FILE_STATUS_NOT_READABLE: return "NOT_READABLE";
    case P2P_FILE_STATUS_NOT_REGULAR: return "NOT_REGULAR";
    case P2P_FILE_STATUS_NOT_A_DIRECTORY: return "NOT_A_DIRECTORY";
    case P2P_FILE_STATUS_NOT_ALLOWED: return "NOT_ALLOWED";
    case P2P_FILE_STATUS_TOO_MANY_REQUESTS: return "TOO_MANY_REQUESTS";
    case P2P_FILE_STATUS_BAD_REQUEST: return "BAD_REQUEST";
    case P2P_FILE_STATUS_RANGE: return "RANGE";
    case P2P_FILE_STATUS_IO_ERROR: return "IO_ERROR";
    case P2P_FILE_STATUS_CHANGED: return "CHANGED";
    case P2P_FILE_STATUS_PROTOCOL: return "PROTOCOL";
  }
  return "UNKNOWN";
}

static void
put_u16 (guint8 *p, guint16 v)
{
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

static void
put_u64 (guint8 *p, guint64 v)
{
  for (int i = 7; i >= 0; i--) {
    p[i] = v & 0xff;
    v >>= 8;
  }
}

static guint16
get_u16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static guint64
get_u64 (const guint8 *p)
{
  guint64 v = 0;

  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

/**
 * p2p_file_request_encode:
 * @kind: GET, LIST or TAIL
 * @path: the protocol path (UTF-8, relative), at most P2P_FILE_MAX_PATH bytes
 * @offset: GET: first byte wanted; LIST, TAIL: 0
 * @length: GET: bytes wanted (%P2P_FILE_TO_END: to the end; 0: header only);
 *   TAIL: bytes wanted at the end of the file
 *
 * Returns: (transfer full): the request bytes.
 */
GBytes *
p2p_file_request_encode (P2pFileRequestKind kind, const char *path, guint64 offset,
    guint64 length)
{
  gsize plen = path ? strlen (path) : 0;
  guint8 *buf;

  g_return_val_if_fail (plen <= G_MAXUINT16, NULL);
  buf = g_malloc (P2P_FILE_REQUEST_FIXED_SIZE + plen);
  buf[0] = P2P_FILE_PROTOCOL_VERSION;
  buf[1] = (guint8) kind;
  put_u16 (buf + 2, (guint16) plen);
  put_u64 (buf + 4, offset);
  put_u64 (buf + 12, length);
  if (plen)
    memcpy (buf + P2P_FILE_REQUEST_FIXED_SIZE, path, plen);
  return g_bytes_new_take (buf, P2P_FILE_REQUEST_FIXED_SIZE + plen);
}

/**
 * p2p_file_request_decode_fixed:
 * @data: (array fixed-size=20): the first bytes of a request
 * @kind: (out): the kind
 * @path_len: (out): bytes of path that follow
 * @offset: (out): the offset
 * @length: (out): the length
 * @error: a #GError
 *
 * Returns: %TRUE if the fixed part is valid.
 */
gboolean
p2p_file_request_decode_fixed (const guint8 *data, P2pFileRequestKind *kind,
    guint16 *path_len, guint64 *offset, guint64 *length, GError **error)
{
  if (data[0] != P2P_FILE_PROTOCOL_VERSION) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_REQUEST,
        "request version %u is not supported (this server speaks version %u)",
        data[0], P2P_FILE_PROTOCOL_VERSION);
    return FALSE;
  }
  if (data[1] != P2P_FILE_REQUEST_GET && data[1] != P2P_FILE_REQUEST_LIST
      && data[1] != P2P_FILE_REQUEST_TAIL) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_REQUEST,
        "unknown request kind %u (1 = GET, 2 = LIST, 3 = TAIL)", data[1]);
    return FALSE;
  }
  *kind = data[1];
  *path_len = get_u16 (data + 2);
  *offset = get_u64 (data + 4);
  *length = get_u64 (data + 12);
  if (*kind == P2P_FILE_REQUEST_TAIL && *offset != 0) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_REQUEST,
        "a TAIL request's offset must be 0 (it is %" G_GUINT64_FORMAT ")", *offset);
    return FALSE;
  }
  if (*path_len > P2P_FILE_MAX_PATH) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_PATH,
        "path of %u bytes is longer than the limit of %d", *path_len, P2P_FILE_MAX_PATH);
    return FALSE;
  }
  return TRUE;
}

/**
 * p2p_file_header_encode:
 * @hdr: the header
 * @out: (out caller-allocates) (array fixed-size=36): where to write it
 */
void
p2p_file_header_encode (const P2pFileHeader *hdr, guint8 *out)
{
  out[0] = P2P_FILE_PROTOCOL_VERSION;
  out[1] = hdr->status;
  out[2] = hdr->kind;
  out[3] = 0;
  put_u64 (out + 4, hdr->size);
  put_u64 (out + 12, hdr->mtime_ns);
  put_u64 (out + 20, hdr->file_id);
  put_u64 (out + 28, hdr->body_len);
}

/**
 * p2p_file_header_decode:
 * @data: (array fixed-size=36): an answer header
 * @hdr: (out caller-allocates): the parsed header
 * @error: a #GError
 *
 * Returns: %TRUE if @data is a header of this version.
 */
gboolean
p2p_file_header_decode (const guint8 *data, P2pFileHeader *hdr, GError **error)
{
  if (data[0] != P2P_FILE_PROTOCOL_VERSION || data[3] != 0) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
        "answer header of version %u flags %u (expected version %u flags 0)",
        data[0], data[3], P2P_FILE_PROTOCOL_VERSION);
    return FALSE;
  }
  hdr->status = data[1];
  hdr->kind = data[2];
  hdr->size = get_u64 (data + 4);
  hdr->mtime_ns = get_u64 (data + 12);
  hdr->file_id = get_u64 (data + 20);
  hdr->body_len = get_u64 (data + 28);
  return TRUE;
}

void
p2p_file_entry_encode (guint8 out[P2P_FILE_ENTRY_FIXED_SIZE], guint8 kind, guint16 name_len,
    guint64 size, guint64 mtime_ns)
{
  out[0] = kind;
  out[1] = 0;
  put_u16 (out + 2, name_len);
  put_u64 (out + 4, size);
  put_u64 (out + 12, mtime_ns);
}

void
p2p_file_entry_decode (const guint8 e[P2P_FILE_ENTRY_FIXED_SIZE], guint8 *kind,
    gsize *name_len, guint64 *size, guint64 *mtime_ns)
{
  *kind = e[0];
  *name_len = get_u16 (e + 2);
  *size = get_u64 (e + 4);
  *mtime_ns = get_u64 (e + 12);
}

/**
 * p2p_file_path_check:
 * @path: (array length=len) (element-type guint8): the path bytes
 * @len: their number
 * @error: a #GError
 *
 * Returns: %TRUE if @path is a valid protocol path.
 */
gboolean
p2p_file_path_check (const char *path, gsize len, GError **error)
{
  const char *end = path + len, *p = path;
  guint n = 1;

  if (len > P2P_FILE_MAX_PATH) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_PATH,
        "path of %" G_GSIZE_FORMAT " bytes is longer than the limit of %d", len,
        P2P_FILE_MAX_PATH);
    return FALSE;
  }
  if (memchr (path, '\0', len)) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_PATH,
        "path contains a NUL byte at byte %" G_GSIZE_FORMAT,
        (gsize) ((const char *) memchr (path, '\0', len) - path));
    return FALSE;
  }
  if (!g_utf8_validate_len (path, len, NULL)) {
    g_set_error_literal (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_PATH,
        "path is not valid UTF-8");
    return FALSE;
  }
  if (len == 0)
    return TRUE;                /* the root */
  if (path[0] == '/') {
    g_set_error_literal (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_PATH,
        "path is absolute (it must be relative to the served directory)");
    return FALSE;
  }
  while (p <= end) {
    const char *slash = memchr (p, '/', end - p);
    const char *cend = slash ? slash : end;
    gsize clen = cend - p;

    if (clen == 0) {
      g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_PATH,
          "path component %u is empty (\"//\" or a trailing \"/\")", n);
      return FALSE;
    }
    if ((clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.')) {
      g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_PATH,
          "path component %u is \"%.*s\" (not allowed: paths never leave or "
          "name the served directory this way)", n, (int) clen, p);
      return FALSE;
    }
    if (!slash)
      break;
    p = slash + 1;
    n++;
  }
  return TRUE;
}
