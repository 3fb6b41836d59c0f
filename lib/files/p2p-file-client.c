/* p2p-file-client.c: the requesting side of the on-demand file protocol:
 * a request per stream, the answer header (errors as P2P_FILE_ERROR with
 * the server's text), whole ranges and directory listings.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-file-client.h"
#include "p2p/p2p-error.h"
#include "p2p-file-protocol-private.h"

#include <string.h>

#define MAX_LIST_BODY (64 * 1024 * 1024)

/**
 * p2p_file_client_send_request:
 * @conn: a connection to the serving peer
 * @kind: GET or LIST
 * @path: the protocol path (relative, UTF-8, already percent-decoded)
 * @offset: GET: first byte
 * @length: GET: bytes wanted (%P2P_FILE_TO_END: to the end)
 * @cancellable: (nullable): a #GCancellable
 * @error: a #GError
 *
 * Returns: (transfer full): the stream to read the answer from.
 */
GIOStream *
p2p_file_client_send_request (P2pConnection *conn, P2pFileRequestKind kind,
    const char *path, guint64 offset, guint64 length, GCancellable *cancellable,
    GError **error)
{
  g_autoptr (GIOStream) stream = NULL;
  g_autoptr (GBytes) req = NULL;
  GOutputStream *out;
  gsize len;
  const guint8 *data;

  g_return_val_if_fail (P2P_IS_CONNECTION (conn), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  if (!p2p_file_path_check (path, strlen (path), error))
    return NULL;
  stream = p2p_connection_open_stream (conn, cancellable, error);
  if (!stream)
    return NULL;
  req = p2p_file_request_encode (kind, path, offset, length);
  data = g_bytes_get_data (req, &len);
  out = g_io_stream_get_output_stream (stream);
  if (!g_output_stream_write_all (out, data, len, NULL, cancellable, error)
      || !g_output_stream_close (out, cancellable, error))
    return NULL;
  /* An older peer would leave the stream unanswered: say why instead. Asked
   * after the request is out: on a connection dialed with early streams it
   * waits for the peer's handshake, which the request need not wait for. */
  if (!p2p_connection_wait_handshake (conn, cancellable, error)
      || !p2p_connection_require_capability (conn, "files", "the file service", error)) {
    p2p_connection_abort_stream (conn, stream);
    return NULL;
  }
  return g_steal_pointer (&stream);
}

/**
 * p2p_file_client_read_header:
 * @stream: a stream from p2p_file_client_send_request()
 * @hdr: (out caller-allocates): the header
 * @cancellable: (nullable): a #GCancellable
 * @error: a #GError
 *
 * Returns: %TRUE for an OK answer (its body follows on @stream).
 */
gboolean
p2p_file_client_read_header (GIOStream *stream, P2pFileHeader *hdr,
    GCancellable *cancellable, GError **error)
{
  GInputStream *in = g_io_stream_get_input_stream (stream);
  guint8 buf[P2P_FILE_HEADER_SIZE];
  gsize got = 0;

  if (!g_input_stream_read_all (in, buf, sizeof buf, &got, cancellable, error))
    return FALSE;
  if (got < sizeof buf) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
        "the answer ended after %" G_GSIZE_FORMAT " of its %d header bytes", got,
        P2P_FILE_HEADER_SIZE);
    return FALSE;
  }
  if (!p2p_file_header_decode (buf, hdr, error))
    return FALSE;
  if (hdr->status != P2P_FILE_STATUS_OK) {
    gsize n = MIN (hdr->body_len, P2P_FILE_MAX_MESSAGE);
    g_autofree char *text = g_malloc0 (n + 1);

    if (!g_input_stream_read_all (in, text, n, &got, cancellable, NULL))
      got = 0;
    text[got] = '\0';
    if (!g_utf8_validate (text, -1, NULL))
      text[0] = '\0';
    g_set_error (error, P2P_FILE_ERROR, hdr->status, "%s",
        text[0] ? text : p2p_file_status_to_string (hdr->status));
    return FALSE;
  }
  return TRUE;
}

/**
 * p2p_file_client_get:
 * @conn: a connection to the serving peer
 * @path: the protocol path
 * @offset: first byte
 * @length: bytes wanted (%P2P_FILE_TO_END = to the end)
 * @hdr: (out caller-allocates) (optional): the answer header
 * @cancellable: (nullable): a #GCancellable
 * @error: a #GError
 *
 * One GET, blocking until the whole range arrived.
 * Returns: (transfer full): the bytes (fewer than @length at the end of the
 * file), or %NULL with @error.
 */
GBytes *
p2p_file_client_get (P2pConnection *conn, const char *path, guint64 offset,
    guint64 length, P2pFileHeader *hdr, GCancellable *cancellable, GError **error)
{
  g_autoptr (GIOStream) stream = NULL;
  P2pFileHeader h;
  guint8 *buf;
  gsize got = 0;

  stream = p2p_file_client_send_request (conn, P2P_FILE_REQUEST_GET, path, offset, length,
      cancellable, error);
  if (!stream || !p2p_file_client_read_header (stream, &h, cancellable, error))
    return NULL;
  if (hdr)
    *hdr = h;
  if (h.body_len > G_MAXSIZE / 2 || h.body_len > length) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
        "the answer announces %" G_GUINT64_FORMAT " bytes for a range of %"
        G_GUINT64_FORMAT, h.body_len, length);
    return NULL;
  }
  buf = g_malloc (h.body_len ? h.body_len : 1);
  if (!g_input_stream_read_all (g_io_stream_get_input_stream (stream), buf, h.body_len,
          &got, cancellable, error)) {
    g_free (buf);
    return NULL;
  }
  if (got < h.body_len) {
    g_free (buf);
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
        "\"%s\": the answer ended after %" G_GSIZE_FORMAT " of %" G_GUINT64_FORMAT
        " bytes (the file shrank or could not be read)", path, got, h.body_len);
    return NULL;
  }
  return g_bytes_new_take (buf, got);
}

/**
 * p2p_file_client_list:
 * @conn: a connection to the serving peer
 * @path: the protocol path of a directory ("" = the root)
 * @cancellable: (nullable): a #GCancellable
 * @error: a #GError
 *
 * Lists a directory: one #GFileInfo per entry, sorted by name, with
 * standard::name, standard::type, standard::size and time::modified.
 * Returns: (transfer container) (element-type Gio.FileInfo): the entries (the
 *   array holds a reference to each and drops it when it is freed).
 */
GPtrArray *
p2p_file_client_list (P2pConnection *conn, const char *path, GCancellable *cancellable,
    GError **error)
{
  g_autoptr (GIOStream) stream = NULL;
  g_autoptr (GPtrArray) entries = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree guint8 *body = NULL;
  P2pFileHeader h;
  gsize got = 0, pos = 0;

  stream = p2p_file_client_send_request (conn, P2P_FILE_REQUEST_LIST, path, 0, 0,
      cancellable, error);
  if (!stream || !p2p_file_client_read_header (stream, &h, cancellable, error))
    return NULL;
  if (h.body_len > MAX_LIST_BODY) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
        "listing of %" G_GUINT64_FORMAT " bytes is over the limit of %d", h.body_len,
        MAX_LIST_BODY);
    return NULL;
  }
  body = g_malloc (h.body_len + 1);
  if (!g_input_stream_read_all (g_io_stream_get_input_stream (stream), body, h.body_len,
          &got, cancellable, error))
    return NULL;
  while (pos + P2P_FILE_ENTRY_FIXED_SIZE <= got) {
    const guint8 *e = body + pos;
    guint8 kind;
    gsize nlen;
    guint64 size, mt;
    g_autoptr (GFileInfo) info = NULL;
    g_autofree char *name = NULL;
    g_autoptr (GDateTime) dt = NULL;

    p2p_file_entry_decode (e, &kind, &nlen, &size, &mt);
    if (pos + P2P_FILE_ENTRY_FIXED_SIZE + nlen > got)
      break;
    name = g_strndup ((const char *) e + P2P_FILE_ENTRY_FIXED_SIZE, nlen);
    if (!g_utf8_validate (name, -1, NULL)) {
      g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
          "listing entry %u has a name that is not UTF-8", entries->len);
      return NULL;
    }
    info = g_file_info_new ();
    g_file_info_set_name (info, name);
    g_file_info_set_display_name (info, name);
    g_file_info_set_file_type (info, kind == 0 ? G_FILE_TYPE_REGULAR
        : kind == 1 ? G_FILE_TYPE_DIRECTORY : kind == 2 ? G_FILE_TYPE_SYMBOLIC_LINK
        : G_FILE_TYPE_SPECIAL);
    g_file_info_set_size (info, (goffset) size);
    dt = g_date_time_new_from_unix_utc (mt / 1000000000);
    if (dt) {
      g_autoptr (GDateTime) full = g_date_time_add (dt, (mt % 1000000000) / 1000);

      g_file_info_set_modification_date_time (info, full);
    }
    g_ptr_array_add (entries, g_steal_pointer (&info));
    pos += P2P_FILE_ENTRY_FIXED_SIZE + nlen;
  }
  if (pos != got || got != h.body_len || entries->len != h.size) {
    g_set_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_PROTOCOL,
        "\"%s\": malformed listing (%u entries of %" G_GUINT64_FORMAT " announced, %"
        G_GSIZE_FORMAT " of %" G_GUINT64_FORMAT " bytes)", path, entries->len, h.size, got,
        h.body_len);
    return NULL;
  }
  return g_steal_pointer (&entries);
}
