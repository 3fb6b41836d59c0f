/* p2p-file-protocol.h: the on-demand file request protocol (issue 13,
 * docs/protocol.md "File requests"): one request per bidirectional QUIC
 * stream, a fixed answer header, then the bytes. Codecs without I/O, the
 * status codes and the P2P_FILE_ERROR domain; path checks shared by the
 * service and the client.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>
#include "p2p-macros.h"

G_BEGIN_DECLS

#define P2P_FILE_PROTOCOL_VERSION 1
/* request: version, kind, path length (u16), offset (u64), length (u64) */
#define P2P_FILE_REQUEST_FIXED_SIZE 20
/* answer: version, status, kind, flags, size, mtime, file id, body length */
#define P2P_FILE_HEADER_SIZE 36
#define P2P_FILE_MAX_PATH 4096
/* an error answer's text, bytes */
#define P2P_FILE_MAX_MESSAGE 1024
/* GET length meaning "up to the end of the file" (from Python, which does
 * not see this macro: GLib.MAXUINT64) */
#define P2P_FILE_TO_END G_MAXUINT64

/**
 * P2pFileRequestKind:
 * @P2P_FILE_REQUEST_GET: bytes of a regular file (a range).
 * @P2P_FILE_REQUEST_LIST: the entries of a directory.
 * @P2P_FILE_REQUEST_TAIL: the last bytes of a regular file (the request's
 *   length; its offset must be 0): a player asks for the end of a file
 *   (tags, an index) before it knows the file's size. The answer's body
 *   starts at size - body length.
 *
 * What a request asks for (the request's second byte).
 */
typedef enum {
  P2P_FILE_REQUEST_GET = 1,
  P2P_FILE_REQUEST_LIST = 2,
  P2P_FILE_REQUEST_TAIL = 3,
} P2pFileRequestKind;

/**
 * P2pFileStatus:
 * @P2P_FILE_STATUS_OK: the answer follows.
 * @P2P_FILE_STATUS_NOT_FOUND: no such file or directory under the root.
 * @P2P_FILE_STATUS_OUTSIDE_ROOT: the path resolves outside the served root
 *   (a symbolic link pointing out of it).
 * @P2P_FILE_STATUS_BAD_PATH: the path is not a relative path of the
 *   protocol: absolute, a `..`, `.` or empty component, NUL, invalid UTF-8,
 *   too long.
 * @P2P_FILE_STATUS_IS_DIRECTORY: a GET of a directory (LIST it instead).
 * @P2P_FILE_STATUS_NOT_READABLE: the server may not read the file.
 * @P2P_FILE_STATUS_NOT_REGULAR: neither a regular file nor a directory
 *   (device, FIFO, socket).
 * @P2P_FILE_STATUS_NOT_A_DIRECTORY: a LIST of a file.
 * @P2P_FILE_STATUS_NOT_ALLOWED: this peer may not use the service.
 * @P2P_FILE_STATUS_TOO_MANY_REQUESTS: a limit of concurrent requests or
 *   open files is reached; retry later.
 * @P2P_FILE_STATUS_BAD_REQUEST: a malformed request (version, kind, sizes).
 * @P2P_FILE_STATUS_RANGE: the offset is past the end of the file.
 * @P2P_FILE_STATUS_IO_ERROR: the server could not read the file.
 * @P2P_FILE_STATUS_CHANGED: client side only: the file's validator differs
 *   from the one seen before: the file changed between two requests.
 * @P2P_FILE_STATUS_PROTOCOL: client side only: the answer is malformed or
 *   cut short.
 *
 * The status byte of an answer, and the codes of the %P2P_FILE_ERROR domain.
 */
typedef enum {
  P2P_FILE_STATUS_OK = 0,
  P2P_FILE_STATUS_NOT_FOUND = 1,
  P2P_FILE_STATUS_OUTSIDE_ROOT = 2,
  P2P_FILE_STATUS_BAD_PATH = 3,
  P2P_FILE_STATUS_IS_DIRECTORY = 4,
  P2P_FILE_STATUS_NOT_READABLE = 5,
  P2P_FILE_STATUS_NOT_REGULAR = 6,
  P2P_FILE_STATUS_NOT_A_DIRECTORY = 7,
  P2P_FILE_STATUS_NOT_ALLOWED = 8,
  P2P_FILE_STATUS_TOO_MANY_REQUESTS = 9,
  P2P_FILE_STATUS_BAD_REQUEST = 10,
  P2P_FILE_STATUS_RANGE = 11,
  P2P_FILE_STATUS_IO_ERROR = 12,
  P2P_FILE_STATUS_CHANGED = 64,
  P2P_FILE_STATUS_PROTOCOL = 65,
} P2pFileStatus;

#define P2P_FILE_ERROR (p2p_file_status_quark ())
P2P_EXPORT GQuark p2p_file_status_quark (void);

/* A static name of @status ("NOT_FOUND", ...), "UNKNOWN" for others. */
P2P_EXPORT const char *p2p_file_status_to_string (P2pFileStatus status);

/**
 * P2pFileHeader:
 * @status: a #P2pFileStatus
 * @kind: the request kind it answers
 * @size: GET: the file's total size in bytes; LIST: the number of entries
 * @mtime_ns: modification time, ns since the Unix epoch (validator)
 * @file_id: the file's inode number (validator)
 * @body_len: bytes that follow the header (the range, the listing, or the
 *   error text)
 *
 * The fixed answer header. @size, @mtime_ns and @file_id together are the
 * validator: a client that sees them change between two requests of the
 * same path knows the file changed.
 */
typedef struct {
  guint8 status;
  guint8 kind;
  guint64 size;
  guint64 mtime_ns;
  guint64 file_id;
  guint64 body_len;
} P2pFileHeader;

/* Writes the request into @out (P2P_FILE_REQUEST_FIXED_SIZE + strlen (path)
 * bytes, returned transfer full). @path is not checked here. */
P2P_EXPORT GBytes *p2p_file_request_encode (P2pFileRequestKind kind, const char *path,
    guint64 offset, guint64 length);
/* Parses the fixed part of a request (exactly P2P_FILE_REQUEST_FIXED_SIZE
 * bytes). Errors: P2P_FILE_ERROR domain, P2P_FILE_STATUS_BAD_REQUEST (version,
 * kind, path length). */
P2P_EXPORT gboolean p2p_file_request_decode_fixed (const guint8 *data, P2pFileRequestKind *kind,
    guint16 *path_len, guint64 *offset, guint64 *length, GError **error);
/* Writes @hdr into @out (P2P_FILE_HEADER_SIZE bytes). */
P2P_EXPORT void p2p_file_header_encode (const P2pFileHeader *hdr, guint8 *out);
/* Parses an answer header (P2P_FILE_HEADER_SIZE bytes). Errors:
 * P2P_FILE_STATUS_PROTOCOL (version, flags). */
P2P_EXPORT gboolean p2p_file_header_decode (const guint8 *data, P2pFileHeader *hdr, GError **error);

/* Checks a protocol path (@len bytes, not NUL-terminated): relative,
 * UTF-8, no NUL, components neither empty, "." nor "..", at most
 * P2P_FILE_MAX_PATH bytes. The empty path names the root (LIST only).
 * Errors: P2P_FILE_STATUS_BAD_PATH naming what is wrong. */
P2P_EXPORT gboolean p2p_file_path_check (const char *path, gsize len, GError **error);

/* One LIST entry as encoded in the body: kind (0 file, 1 directory,
 * 2 symbolic link, 3 other), reserved, name length (u16), size (u64),
 * mtime ns (u64), name. */
#define P2P_FILE_ENTRY_FIXED_SIZE 20

G_END_DECLS
