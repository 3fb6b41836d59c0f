/* p2p-file-request.c: one request of a P2pFileService: admission (the
 * allow-list, the per-peer and total limits), then, on a thread of its
 * own, reading the request (fixed part, path check) and handing it to the
 * GET or LIST answer; its bookkeeping when it ends.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-file-service-private.h"
#include "p2p/p2p-host-share.h"
#include "p2p/p2p-peer-id.h"

/* Notes that @r made progress (the stall watchdog's clock). */
void
p2p_file_request_note_progress (Request *r)
{
  g_mutex_lock (&r->service->lock);
  r->progress_us = g_get_monotonic_time ();
  g_mutex_unlock (&r->service->lock);
}

static void
request_free (Request *r)
{
  g_object_unref (r->conn);
  g_object_unref (r->stream);
  g_object_unref (r->cancel);
  g_free (r->peer);
  g_free (r->host);
  g_free (r);
}

/* Counts @r's host up (+1) or down (-1) (the lock). */
static void
host_count_locked (P2pFileService *self, const char *host, gint delta)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_host, host));

  if (delta < 0 && n <= 1)
    g_hash_table_remove (self->per_host, host);
  else
    g_hash_table_insert (self->per_host, g_strdup (host), GUINT_TO_POINTER (n + delta));
}

/* The server is full and a request from @host came: if a host gives way
 * (p2p_host_share_gives_way(): it holds more than its share of the
 * max-streams slots and at least two more than @host), its newest request
 * (the least progress lost) is cancelled, its client reading a reset
 * stream, and TRUE returned: the newcomer may start at once, the cancelled
 * thread ends soon (counted in evicting). */
static gboolean
make_room_for_host_locked (P2pFileService *self, const char *host)
{
  guint most, share;
  const char *biggest = p2p_host_share_gives_way (self->per_host, host, self->max_streams,
      &most, &share);
  Request *newest = NULL;

  if (biggest == NULL)
    return FALSE;
  for (guint i = 0; i < self->requests->len; i++) {
    Request *r = g_ptr_array_index (self->requests, i);

    if (!r->evicted && g_str_equal (r->host, biggest)
        && (newest == NULL || r->started_us > newest->started_us))
      newest = r;
  }
  if (newest == NULL)
    return FALSE;
  g_debug ("file service: full; the newest of the %u requests of host %s (peer %s, its "
      "share %u) makes room for host %s", most, biggest, newest->peer, share, host);
  newest->evicted = TRUE;
  host_count_locked (self, newest->host, -1);
  self->evicting++;
  self->n_evicted++;
  g_cancellable_cancel (newest->cancel);
  return TRUE;
}

static gpointer
request_thread (gpointer data)
{
  Request *r = data;
  P2pFileService *self = r->service;
  GInputStream *in = g_io_stream_get_input_stream (r->stream);
  guint8 fixed[P2P_FILE_REQUEST_FIXED_SIZE];
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  P2pFileRequestKind kind = P2P_FILE_REQUEST_GET;
  guint16 plen;
  guint64 offset, length;
  gsize got = 0;

  if (!g_input_stream_read_all (in, fixed, sizeof fixed, &got, r->cancel, &error)
      || got < sizeof fixed) {
    if (!error)
      r->answered = p2p_file_answer_error (r->stream, kind, P2P_FILE_STATUS_BAD_REQUEST,
          "the request ended before its fixed part (20 bytes)", r->cancel);
    goto done;
  }
  p2p_file_request_note_progress (r);
  if (!p2p_file_request_decode_fixed (fixed, &kind, &plen, &offset, &length, &error)) {
    r->answered = p2p_file_answer_error (r->stream, fixed[1] == P2P_FILE_REQUEST_LIST
        || fixed[1] == P2P_FILE_REQUEST_TAIL ? fixed[1] : P2P_FILE_REQUEST_GET, error->code,
        error->message, r->cancel);
    goto done;
  }
  path = g_malloc (plen + 1);
  if (!g_input_stream_read_all (in, path, plen, &got, r->cancel, NULL) || got < plen) {
    r->answered = p2p_file_answer_error (r->stream, kind, P2P_FILE_STATUS_BAD_REQUEST,
        "the request ended before its path", r->cancel);
    goto done;
  }
  /* the request is all read: what the peer sends after it (nothing, from
   * an honest client, which ends its side here) is dropped as it comes,
   * not kept for the answer's duration (a peer that kept writing held up
   * to a stream window, 16 MiB, per request) */
  p2p_connection_stop_reading (r->conn, r->stream);
  if (!p2p_file_path_check (path, plen, &error)) {
    r->answered = p2p_file_answer_error (r->stream, kind, error->code, error->message,
        r->cancel);
    goto done;
  }
  path[plen] = '\0';
  if (kind != P2P_FILE_REQUEST_LIST && plen == 0) {
    r->answered = p2p_file_answer_error (r->stream, kind, P2P_FILE_STATUS_IS_DIRECTORY,
        "the empty path is the served directory (list it instead, e.g. with p2p-cat ls PEER)", r->cancel);
    goto done;
  }
  g_debug ("file service: %s %s \"%s\" %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT,
      r->peer, kind == P2P_FILE_REQUEST_GET ? "GET" : kind == P2P_FILE_REQUEST_TAIL ? "TAIL"
      : "LIST", path, offset, length);
  if (kind != P2P_FILE_REQUEST_LIST)
    p2p_file_serve_get (r, path, kind, offset, length);
  else
    p2p_file_serve_list (r, path);
done:
  /* An answer cut short (the stall watchdog or stop() cancelled it, a write
   * failed) is reset, with what it still had queued: its stream's close
   * (when @r is freed) would otherwise wait for a peer that does not read,
   * keeping this thread and up to a stream buffer of data past the limits
   * that no longer count it. */
  if (!r->answered)
    p2p_connection_abort_stream (r->conn, r->stream);
  g_mutex_lock (&self->lock);
  g_ptr_array_remove_fast (self->requests, r);
  self->active--;
  if (r->evicted)
    self->evicting--;
  else
    host_count_locked (self, r->host, -1);
  {
    guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_peer, r->peer));

    if (n <= 1)
      g_hash_table_remove (self->per_peer, r->peer);
    else
      g_hash_table_insert (self->per_peer, g_strdup (r->peer), GUINT_TO_POINTER (n - 1));
  }
  self->threads--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  request_free (r);
  g_object_unref (self);
  return NULL;
}

static gboolean
peer_allowed_locked (P2pFileService *self, P2pConnection *conn)
{
  const P2pPeerId *id = p2p_connection_get_peer_id (conn);

  if (self->allowed->len == 0)
    return TRUE;
  for (guint i = 0; id && i < self->allowed->len; i++)
    if (p2p_peer_id_equal (id, &g_array_index (self->allowed, P2pPeerId, i)))
      return TRUE;
  return FALSE;
}

/* Takes @stream: starts its request or answers the refusal. */
void
p2p_file_service_start_request (P2pFileService *self, P2pConnection *conn, const char *host,
    GIOStream *stream, GCancellable *conn_cancel)
{
  const P2pPeerId *id = p2p_connection_get_peer_id (conn);
  g_autofree char *peer = id ? p2p_peer_id_to_string (id) : g_strdup ("(unknown)");
  g_autofree char *text = NULL;
  P2pFileStatus refuse = P2P_FILE_STATUS_OK;
  guint n;

  g_mutex_lock (&self->lock);
  n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_peer, peer));
  self->n_requests++;
  if (self->stopping) {
    refuse = P2P_FILE_STATUS_TOO_MANY_REQUESTS;
    text = g_strdup ("the server is stopping");
  } else if (!peer_allowed_locked (self, conn)) {
    refuse = P2P_FILE_STATUS_NOT_ALLOWED;
    text = g_strdup_printf ("peer %s is not allowed to use this file service", peer);
  } else if (n >= self->max_streams_per_peer) {
    refuse = P2P_FILE_STATUS_TOO_MANY_REQUESTS;
    text = g_strdup_printf ("too many requests: this peer already has %u in progress "
        "(the limit per peer)", n);
  } else if (self->active - self->evicting > self->max_streams
      || (self->active - self->evicting == self->max_streams
          && !make_room_for_host_locked (self, host ? host : peer))) {
    /* (above the limit: max-streams was lowered while they ran) */
    refuse = P2P_FILE_STATUS_TOO_MANY_REQUESTS;
    text = g_strdup_printf ("too many requests: the server has %u in progress (its limit)",
        self->active - self->evicting);
  }
  if (refuse == P2P_FILE_STATUS_OK) {
    Request *r = g_new0 (Request, 1);

    r->service = g_object_ref (self);
    r->conn = g_object_ref (conn);
    r->stream = g_object_ref (stream);
    r->peer = g_strdup (peer);
    r->host = g_strdup (host ? host : peer);
    r->cancel = g_cancellable_new ();
    r->progress_us = r->started_us = g_get_monotonic_time ();
    host_count_locked (self, r->host, +1);
    g_hash_table_insert (self->per_peer, g_strdup (peer), GUINT_TO_POINTER (n + 1));
    self->active++;
    self->threads++;
    g_ptr_array_add (self->requests, r);
    g_mutex_unlock (&self->lock);
    g_thread_unref (g_thread_new ("p2p-file-req", request_thread, r));
    return;
  }
  g_mutex_unlock (&self->lock);
  p2p_file_answer_error (stream, P2P_FILE_REQUEST_GET, refuse, text, conn_cancel);
}
