/* p2p-quic-connection.c: P2pQuicConnection, the P2pConnection that drives one
 * sans-I/O P2pQuicSession over one P2pPacketPath.
 *
 * Threads (docs/architecture.md):
 *  - the session, the path and everything marked "net" below are touched
 *    only on the path's GMainContext (the provider's network thread);
 *  - the public P2pConnection functions may be called from any thread: they
 *    exchange data with the network thread through queues guarded by
 *    self->lock and wake it with one idle source ("work") per batch; blocking
 *    calls wait on self->cond, woken by the network thread and by their
 *    GCancellable;
 *  - a blocking call made ON the network thread that would have to wait
 *    fails with G_IO_ERROR_WOULD_BLOCK instead of deadlocking;
 *  - signals ("closed", "path-changed", "datagram-received", and the internal
 *    "established") are emitted on the network thread, never from inside a
 *    session call.
 *
 * Driving: a datagram from the path → p2p_quic_session_receive(), then one
 * flush scheduled for the end of the burst (an idle source at default
 * priority, dispatched after the socket source of the same iteration); the
 * path timer → p2p_quic_session_handle_timeout() + flush; flush = write
 * datagrams (buffer of the path MTU, at least 1452) until the session has
 * nothing more, then re-arm the path timer at the session's deadline.
 *
 * This file holds the object, its construction (dial, server), the driving
 * and the state getters; the rest is split by concept: the blocking waits
 * in p2p-quic-connection-wait.c, messages in -messages.c, datagrams in
 * -datagrams.c, extra streams in -streams.c (their GIOStream in
 * p2p-quic-stream.c), close/abort/teardown in -close.c. Each installs its
 * vfuncs and session callbacks from class_init; the fields they share are in
 * p2p-quic-connection-private.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-connection-private.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-frame.h"
#include "p2p-mtu.h"
#include "p2p-work-batch.h"
#include "p2p-quic-endpoint.h"

#include <string.h>

G_DEFINE_FINAL_TYPE (P2pQuicConnection, p2p_quic_connection, P2P_TYPE_CONNECTION)

enum {
  SIGNAL_ESTABLISHED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

/* filled by class_init, each concept file its own callbacks */
static P2pQuicSessionCallbacks session_callbacks;

/* ------------------------------------------------- establishment, dial end */

static void
finish_dial (P2pQuicConnection *self, GError *error)
{
  GTask *task = g_steal_pointer (&self->dial_task);

  if (task == NULL) {
    g_clear_error (&error);
    return;
  }
  if (self->dial_cancel_source) {
    g_source_destroy (self->dial_cancel_source);
    g_clear_pointer (&self->dial_cancel_source, g_source_unref);
  }
  if (error)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, g_object_ref (self), g_object_unref);
  g_object_unref (task);
}

static void
cb_established (P2pQuicSession *s, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);
  const P2pPeerId *peer = p2p_quic_session_get_peer_id (s);

  if (self == NULL)
    return;

  g_mutex_lock (&self->lock);
  self->established = TRUE;
  if (peer) {
    self->peer_id = *peer;
    self->have_peer_id = TRUE;
  }
  self->max_dgram = p2p_quic_session_get_max_datagram_size (s);
  self->protocol_version = p2p_quic_session_get_protocol_version (s);
  self->peer_capabilities = p2p_quic_session_get_peer_capabilities (s);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  /* Completion and the signal run after the session call (p2p_quic_conn_schedule_work). */
  p2p_quic_conn_schedule_work (self);
}

/* ------------------------------------------------------------- driving */

/* Net thread, outside session calls: the connection's route changed
 * (announced by its path, or the peer migrated): counted, timed and
 * relayed to the users as "path-changed". */
static void
note_path_change (P2pQuicConnection *self, P2pPathKind old_kind,
    P2pPathKind new_kind)
{
  guint64 now = p2p_packet_path_now (self->path);

  g_mutex_lock (&self->lock);
  self->path_changes++;
  if (new_kind == P2P_PATH_KIND_DIRECT && !self->started_direct && self->direct_path_time_us == 0)
    self->direct_path_time_us = MAX ((now - self->start_ns) / 1000, 1);
  g_mutex_unlock (&self->lock);
  g_debug ("connection %p: path changed from %s to %s", self,
      p2p_path_kind_to_string (old_kind), p2p_path_kind_to_string (new_kind));
  p2p_connection_emit_path_changed (P2P_CONNECTION (self), old_kind, new_kind);
}

/* The peer moved to a new, validated address (inside a session call): a
 * path change of the same kind, reported after the call. */
static void
cb_migrated (P2pQuicSession *s, guint32 route, gpointer user_data)
{
  P2pQuicConnection *self = OWNER (user_data);

  if (self != NULL)
    self->migrations_pending++;
}

/* After a session call: complete what the callbacks reported. */
void
p2p_quic_conn_after_session_call (P2pQuicConnection *self)
{
  gboolean established, closed, emit_closed = FALSE;
  GError *signal_error = NULL;
  g_autofree char *reason = NULL;

  g_mutex_lock (&self->lock);
  established = self->established;
  closed = self->closed;
  if (closed && !self->closed_emitted && self->closed_pending) {
    self->closed_emitted = TRUE;
    emit_closed = TRUE;
    signal_error = self->closed_signal_error ? g_error_copy (self->closed_signal_error) : NULL;
    reason = g_strdup (self->closed_reason);
  }
  g_mutex_unlock (&self->lock);

  if (!established && !closed && self->dial_task && self->session
      && p2p_quic_session_is_open_early (self->session)) {
    /* early_streams: the server is authenticated (TLS done); requests may
     * go now, with our Finished, instead of a round trip later. What the
     * server's Handshake brings (version, capabilities) waits in
     * wait_handshake; a refusal closes the connection. */
    g_mutex_lock (&self->lock);
    self->early_open = TRUE;
    g_mutex_unlock (&self->lock);
    finish_dial (self, NULL);
  }
  if (established && !closed) {
    if (self->dial_task) {
      finish_dial (self, NULL);
    } else if (!g_object_get_data (G_OBJECT (self), "p2p-established-emitted")) {
      g_object_set_data (G_OBJECT (self), "p2p-established-emitted", GINT_TO_POINTER (1));
      g_signal_emit (self, signals[SIGNAL_ESTABLISHED], 0);
    }
  }
  while (self->migrations_pending > 0 && !closed && self->path) {
    P2pPathKind kind = p2p_packet_path_get_kind (self->path);

    self->migrations_pending--;
    note_path_change (self, kind, kind);
  }
  if (emit_closed) {
    g_object_ref (self);
    if (self->dial_task) {
      GError *e;

      /* a peer that closes before the handshake completes (a listener
       * refusing a dialer: max-peers) gives its reason in a Disconnect */
      if (signal_error)
        e = g_error_copy (signal_error);
      else if (reason)
        e = g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
            "connection closed during the handshake: %s", reason);
      else
        e = g_error_new_literal (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
            "connection closed during the handshake");
      finish_dial (self, e);
    }
    /* The final CONNECTION_CLOSE went out in the last flush: stop the path. */
    if (self->path && !self->path_closed) {
      self->path_closed = TRUE;
      p2p_packet_path_set_timer (self->path, G_MAXUINT64);
      p2p_packet_path_close (self->path);
    }
    p2p_quic_conn_fail_waiters (self);
    p2p_connection_emit_closed (P2P_CONNECTION (self), signal_error);
    g_object_unref (self);
  }
  g_clear_error (&signal_error);
}

/* Writes every packet due into self->buf and sends them: in bursts of
 * equal-sized packets to one route (the last of a burst may be shorter),
 * each burst in one go where the path can (UDP GSO), when self->buf holds
 * several. A failed send is loss. */
static void
write_and_send (P2pQuicConnection *self, guint64 now)
{
  gsize n, off = 0, segment = 0;
  guint count = 0;
  guint32 route = 0, r;

  for (;;) {
    if (count > 0 && (off + self->buflen > self->bufsize || count == P2P_GSO_MAX_SEGMENTS)) {
      (void) p2p_packet_path_send_segments_on (self->path, route, self->buf, off, segment, NULL);
      off = 0;
      count = 0;
    }
    n = p2p_quic_session_write (self->session, self->buf + off, self->buflen, now);
    if (n == 0)
      break;
    r = p2p_quic_session_get_tx_route (self->session);
    if (count > 0 && (n > segment || r != route)) {
      /* larger than the burst's packets, or elsewhere: the burst goes,
       * this one starts the next */
      (void) p2p_packet_path_send_segments_on (self->path, route, self->buf, off, segment, NULL);
      memmove (self->buf, self->buf + off, n);
      off = 0;
      count = 0;
    }
    if (count == 0) {
      segment = n;
      route = r;
    }
    off += n;
    count++;
    if (n < segment) {
      /* a shorter packet ends a burst */
      (void) p2p_packet_path_send_segments_on (self->path, route, self->buf, off, segment, NULL);
      off = 0;
      count = 0;
    }
  }
  if (count > 0)
    (void) p2p_packet_path_send_segments_on (self->path, route, self->buf, off, segment, NULL);
}

gboolean
p2p_quic_connection_owns_cid (P2pQuicConnection *self, const guint8 *cid, gsize len)
{
  g_return_val_if_fail (P2P_IS_QUIC_CONNECTION (self), FALSE);

  return self->session != NULL && p2p_quic_session_has_scid (self->session, cid, len);
}

void
p2p_quic_connection_ping (P2pQuicConnection *self)
{
  g_return_if_fail (P2P_IS_QUIC_CONNECTION (self));

  if (self->session == NULL || self->path_closed)
    return;
  p2p_quic_session_ping (self->session);
  p2p_quic_conn_schedule_work (self);
}

void
p2p_quic_conn_flush (P2pQuicConnection *self)
{
  guint64 now;
  gsize queued, high;
  gboolean wake;

  if (self->session == NULL || self->path_closed)
    return;
  now = p2p_packet_path_now (self->path);
  write_and_send (self, now);

  high = p2p_quic_session_get_send_queue_high (self->session);
  g_mutex_lock (&self->lock);
  queued = p2p_quic_session_get_send_queued (self->session);
  /* Senders wait for session_queued + send_queue_bytes < send_high (the
   * watermark grows with the path's congestion window). */
  wake = queued < self->session_queued || high > self->send_high;
  self->session_queued = queued;
  self->send_high = high;
  if (self->established && !self->closed)
    self->max_dgram = p2p_quic_session_get_max_datagram_size (self->session);
  if (wake && self->send_blocked > 0)
    g_cond_broadcast (&self->cond);     /* (a receiver's wait is not woken) */
  if (wake && self->send_waiters.length > 0 && !self->work_scheduled) {
    g_mutex_unlock (&self->lock);
    p2p_quic_conn_schedule_work (self);       /* p2p_quic_conn_admit_send_waiters */
  } else {
    g_mutex_unlock (&self->lock);
  }

  if (!self->path_closed)
    p2p_packet_path_set_timer (self->path, p2p_quic_session_get_deadline (self->session));
}


static void
work_cb (GObject *object)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (object);
  GQueue msgs = G_QUEUE_INIT, dgrams = G_QUEUE_INIT;
  gsize msg_bytes, consumed;
  guint consumed_n;
  gboolean close_requested;
  g_autofree char *reason = NULL;
  GBytes *b;

  g_mutex_lock (&self->lock);
  self->work_scheduled = FALSE;
  msgs = self->send_queue;
  g_queue_init (&self->send_queue);
  msg_bytes = self->send_queue_bytes;
  dgrams = self->dgram_queue;
  g_queue_init (&self->dgram_queue);
  /* close_requested stays set (is_connected() and send() see it from the
   * moment close() returns); close_pending is the one-shot work item */
  close_requested = self->close_pending;
  self->close_pending = FALSE;
  reason = g_steal_pointer (&self->close_reason);
  consumed = self->recv_consumed_pending;
  consumed_n = self->recv_consumed_pending_n;
  self->recv_consumed_pending = 0;
  self->recv_consumed_pending_n = 0;
  g_mutex_unlock (&self->lock);

  if (self->session) {
    if (consumed_n > 0)
      p2p_quic_session_message_consumed (self->session, consumed, consumed_n);
    while ((b = g_queue_pop_head (&msgs))) {
      g_autoptr (GError) error = NULL;

      if (!p2p_quic_session_send_message (self->session, b, &error))
        g_debug ("message dropped: %s", error->message);
      g_bytes_unref (b);
    }
    while ((b = g_queue_pop_head (&dgrams))) {
      g_autoptr (GError) error = NULL;
      gsize len;
      const guint8 *data = g_bytes_get_data (b, &len);

      if (!p2p_quic_session_send_datagram (self->session, data, len, &error))
        g_debug ("datagram dropped: %s", error->message);
      g_bytes_unref (b);
    }
    p2p_quic_conn_drain_streams (self);
    if (close_requested && p2p_quic_session_get_state (self->session) < P2P_QUIC_STATE_CLOSING)
      p2p_quic_session_close (self->session, 0, reason ? reason : "");
  } else {
    g_queue_clear_full (&msgs, (GDestroyNotify) g_bytes_unref);
    g_queue_clear_full (&dgrams, (GDestroyNotify) g_bytes_unref);
  }

  g_mutex_lock (&self->lock);
  self->send_queue_bytes -= msg_bytes;
  g_mutex_unlock (&self->lock);

  p2p_quic_conn_flush (self);
  p2p_quic_conn_admit_send_waiters (self);
  /* those of a replaced path's first packet (p2p_quic_connection_replace_path) */
  p2p_quic_conn_emit_received_datagrams (self);
  p2p_quic_conn_after_session_call (self);
}

/* Any thread: make sure one work_cb runs soon on the network thread (in
 * one batch with the other connections' work: p2p-work-batch.c). */
void
p2p_quic_conn_schedule_work (P2pQuicConnection *self)
{
  g_mutex_lock (&self->lock);
  if (self->work_scheduled) {
    g_mutex_unlock (&self->lock);
    return;
  }
  self->work_scheduled = TRUE;
  g_mutex_unlock (&self->lock);

  p2p_work_batch_schedule (self->ctx, work_cb, G_OBJECT (self));
}

/* Path handlers hold a weak reference: the path may outlive the connection. */
typedef struct {
  GWeakRef ref;
} HandlerData;

static void
handler_data_free (gpointer data)
{
  HandlerData *h = data;

  g_weak_ref_clear (&h->ref);
  g_free (h);
}

static gboolean
unref_idle_cb (gpointer data)
{
  return G_SOURCE_REMOVE;       /* the destroy notify drops the reference */
}

/* Drops the reference a path handler took. When it is the last one (a
 * "datagram-received" or "closed" handler let the application's go), the
 * connection is disposed from an idle source instead: its dispose closes
 * and releases the path, which must not happen inside the path's own
 * delivery (an ICE path has no other owner, and libnice's callback
 * returns into it). */
static void
handler_unref (P2pQuicConnection *self)
{
  if (g_atomic_int_get ((gint *) &G_OBJECT (self)->ref_count) == 1 && self->ctx != NULL) {
    GSource *src = g_idle_source_new ();

    g_source_set_callback (src, unref_idle_cb, self, g_object_unref);
    g_source_attach (src, self->ctx);
    g_source_unref (src);
    return;
  }
  g_object_unref (self);
}

static void
on_path_receive (P2pPacketPath *path, const guint8 *data, gsize len, gpointer user_data)
{
  HandlerData *h = user_data;
  P2pQuicConnection *self = g_weak_ref_get (&h->ref);

  if (self == NULL)
    return;
  if (self->session && !self->path_closed) {
    p2p_quic_session_receive_on (self->session, p2p_packet_path_get_rx_route (path), data, len,
        p2p_packet_path_now (path));
    /* One flush per burst: work_cb runs after the pending socket reads. */
    p2p_quic_conn_schedule_work (self);
    p2p_quic_conn_emit_received_datagrams (self);
  }
  handler_unref (self);
}

static void
on_path_timer (P2pPacketPath *path, gpointer user_data)
{
  HandlerData *h = user_data;
  P2pQuicConnection *self = g_weak_ref_get (&h->ref);

  if (self == NULL)
    return;
  if (self->session && !self->path_closed) {
    p2p_quic_session_handle_timeout (self->session, p2p_packet_path_now (path));
    p2p_quic_conn_flush (self);
    p2p_quic_conn_after_session_call (self);
  }
  handler_unref (self);
}

/* The path announced a new route (p2p_packet_path_announce_change()). QUIC
 * itself sees nothing: its packets simply leave and arrive over the new
 * route. */
static void
on_path_changed (P2pPacketPath *path, P2pPathKind old_kind, P2pPathKind new_kind,
    gpointer user_data)
{
  note_path_change (user_data, old_kind, new_kind);
}

/* Makes @path the one the session's packets use: its buffer, handlers and
 * path-changed announcements. */
static void
attach_path (P2pQuicConnection *self, P2pPacketPath *path)
{
  HandlerData *h = g_new0 (HandlerData, 1);

  self->path = g_object_ref (path);
  self->path_closed = FALSE;
  self->buflen = MAX (p2p_packet_path_get_mtu (path), P2P_INTERNET_MTU);
  /* room for a burst of packets sent in one go (UDP GSO) when two fit */
  self->bufsize = self->buflen * 2 <= P2P_GSO_MAX_BYTES ? P2P_GSO_MAX_BYTES : self->buflen;
  g_free (self->buf);
  self->buf = g_malloc (self->bufsize);
  g_weak_ref_init (&h->ref, self);
  p2p_packet_path_set_handlers (path, on_path_receive, on_path_timer, h, handler_data_free);
  self->path_changed_id = g_signal_connect_object (path, "path-changed",
      G_CALLBACK (on_path_changed), self, 0);
}

static P2pQuicConnection *
connection_new (P2pPacketPath *path)
{
  P2pQuicConnection *self = g_object_new (P2P_TYPE_QUIC_CONNECTION, NULL);

  self->ctx = g_main_context_ref (p2p_packet_path_get_context (path));
  self->owner = g_new0 (Owner, 1);
  self->owner->conn = self;
  attach_path (self, path);
  self->start_ns = p2p_packet_path_now (path);
  self->started_direct = p2p_packet_path_get_kind (path) == P2P_PATH_KIND_DIRECT;
  return self;
}

gboolean
p2p_quic_connection_replace_path (P2pQuicConnection *self, P2pPacketPath *path,
    const P2pPeerId *peer, const guint8 *first, gsize len, GError **error)
{
  gboolean open;
  P2pPathKind old_kind;

  g_return_val_if_fail (P2P_IS_QUIC_CONNECTION (self), FALSE);
  g_return_val_if_fail (P2P_IS_PACKET_PATH (path), FALSE);
  g_return_val_if_fail (peer != NULL, FALSE);
  g_return_val_if_fail (first != NULL || len == 0, FALSE);

  g_mutex_lock (&self->lock);
  open = self->established && !self->closed;
  g_mutex_unlock (&self->lock);
  /* peer_id is written once, before "established" */
  if (!self->have_peer_id || !p2p_peer_id_equal (&self->peer_id, peer)) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED,
        "a path offered by one peer cannot carry another peer's connection");
    return FALSE;
  }
  if (!open || self->session == NULL || self->path_closed) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CLOSED,
        "the connection is not established or already closed: nothing to move");
    return FALSE;
  }
  if (path == self->path || p2p_packet_path_get_context (path) != self->ctx) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "the new path must be another path on the connection's network thread");
    return FALSE;
  }

  old_kind = p2p_packet_path_get_kind (self->path);
  g_signal_handler_disconnect (self->path, self->path_changed_id);
  p2p_packet_path_set_timer (self->path, G_MAXUINT64);
  p2p_packet_path_set_handlers (self->path, NULL, NULL, NULL, NULL);
  p2p_packet_path_close (self->path);
  g_clear_object (&self->path);
  attach_path (self, path);
  if (len > 0)
    p2p_quic_session_receive_on (self->session, 0, first, len, p2p_packet_path_now (path));
  /* a packet on the new path at once: the peer hears from us there, and
   * its ACK lets both sides declare what the old path lost */
  p2p_quic_session_ping (self->session);
  note_path_change (self, old_kind, p2p_packet_path_get_kind (path));
  p2p_quic_conn_schedule_work (self);
  return TRUE;
}

static void
session_created (P2pQuicConnection *self)
{
  self->send_high = p2p_quic_session_get_send_queue_high (self->session);
  if (self->send_high == 0)
    self->send_high = 4 * 1024 * 1024;
}

/* ------------------------------------------------------------- dial/accept */

static gboolean
dial_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  P2pQuicConnection *self = user_data;
  g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
      "connection attempt cancelled");

  g_object_ref (self);
  if (self->session)
    p2p_quic_session_abort (self->session, error);
  finish_dial (self, g_error_copy (error));
  p2p_quic_conn_flush (self);
  p2p_quic_conn_after_session_call (self);
  g_object_unref (self);
  return G_SOURCE_REMOVE;
}

void
p2p_quic_connection_dial_async (P2pPacketPath *path, P2pIdentity *identity,
    const P2pPeerId *expected_peer, const P2pQuicSessionConfig *cfg,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (P2pQuicConnection) self = NULL;
  GError *error = NULL;

  g_return_if_fail (P2P_IS_PACKET_PATH (path));
  g_return_if_fail (P2P_IS_IDENTITY (identity));
  g_return_if_fail (expected_peer != NULL);

  self = connection_new (path);
  self->dial_task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (self->dial_task, p2p_quic_connection_dial_async);
  self->session = p2p_quic_session_new_client (identity, expected_peer, cfg, &session_callbacks,
      self->owner, p2p_packet_path_now (path), &error);
  if (self->session == NULL) {
    finish_dial (self, error);
    self->path_closed = TRUE;
    p2p_packet_path_set_handlers (path, NULL, NULL, NULL, NULL);
    p2p_packet_path_close (path);
    return;
  }
  session_created (self);
  self->peer_id = *expected_peer;
  self->have_peer_id = TRUE;
  if (cancellable) {
    self->dial_cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (self->dial_cancel_source, G_SOURCE_FUNC (dial_cancelled_cb),
        self, NULL);
    g_source_attach (self->dial_cancel_source, self->ctx);
  }
  /* The task keeps the connection alive until the dial completes. */
  g_task_set_task_data (self->dial_task, g_object_ref (self), g_object_unref);
  p2p_quic_conn_flush (self);
  p2p_quic_conn_after_session_call (self);
}

P2pConnection *
p2p_quic_connection_dial_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

P2pQuicConnection *
p2p_quic_connection_new_server (P2pPacketPath *path, P2pIdentity *identity,
    const guint8 *first_pkt, gsize len, const P2pQuicSessionConfig *cfg, GPtrArray *allowed,
    GError **error)
{
  return p2p_quic_connection_new_server_validated (path, identity, first_pkt, len, NULL, 0, cfg,
      allowed, error);
}

P2pQuicConnection *
p2p_quic_connection_new_server_validated (P2pPacketPath *path, P2pIdentity *identity,
    const guint8 *first_pkt, gsize len, const guint8 *odcid, gsize odcid_len,
    const P2pQuicSessionConfig *cfg, GPtrArray *allowed, GError **error)
{
  g_autoptr (P2pQuicConnection) self = NULL;

  g_return_val_if_fail (P2P_IS_PACKET_PATH (path), NULL);
  g_return_val_if_fail (P2P_IS_IDENTITY (identity), NULL);
  g_return_val_if_fail (first_pkt != NULL || len == 0, NULL);

  self = connection_new (path);
  self->session = p2p_quic_session_new_server_validated (identity, first_pkt, len, odcid,
      odcid_len, cfg, allowed, &session_callbacks, self->owner, p2p_packet_path_now (path),
      error);
  if (self->session == NULL) {
    self->path_closed = TRUE;
    p2p_packet_path_set_handlers (path, NULL, NULL, NULL, NULL);
    return NULL;
  }
  session_created (self);
  p2p_quic_conn_schedule_work (self);
  return g_steal_pointer (&self);
}

static void
describe_remote_net (P2pQuicConnection *self, gpointer data)
{
  char **out = data;

  /* (through a TURN relay, the address seen is the relay's, which every
   * peer relayed by it shares: no host then) */
  if (self->path && p2p_packet_path_get_kind (self->path) != P2P_PATH_KIND_RELAY)
    *out = p2p_packet_path_describe_remote (self->path);
}

static char *
quic_dup_remote_host (P2pConnection *conn)
{
  g_autofree char *desc = NULL;

  /* (the path and its address change on the network thread) */
  p2p_quic_conn_run_on_net_thread (P2P_QUIC_CONNECTION (conn), describe_remote_net, &desc);
  return p2p_address_limit_key_from_text (desc);
}

P2pPacketPath *
p2p_quic_connection_get_path (P2pQuicConnection *self)
{
  g_return_val_if_fail (P2P_IS_QUIC_CONNECTION (self), NULL);
  return self->path;
}

/* ------------------------------------------------------------ state getters */

static const P2pPeerId *
quic_get_peer_id (P2pConnection *conn)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);

  /* Written once before the connection is handed out. */
  return self->have_peer_id ? &self->peer_id : NULL;
}

static guint
quic_get_protocol_version (P2pConnection *conn)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  guint v;

  g_mutex_lock (&self->lock);
  v = (guint) MIN (self->protocol_version, G_MAXUINT);
  g_mutex_unlock (&self->lock);
  return v;
}

static guint64
quic_get_peer_capabilities (P2pConnection *conn)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  guint64 caps;

  g_mutex_lock (&self->lock);
  caps = self->peer_capabilities;
  g_mutex_unlock (&self->lock);
  return caps;
}

static gboolean
quic_is_connected (P2pConnection *conn)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean ok;

  g_mutex_lock (&self->lock);
  ok = (self->established || self->early_open) && !self->closed && !self->close_requested;
  g_mutex_unlock (&self->lock);
  return ok;
}

/* An early dial (early_streams): waits until the peer's Handshake is in
 * (established) or the connection closed. */
static gboolean
quic_wait_handshake (P2pConnection *conn, GCancellable *cancellable, GError **error)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean ok = FALSE;
  BlockingWait w;

  p2p_quic_conn_wait_begin (&w, self, cancellable);
  do {
    /* established (even if closed since): the peer's handshake is known */
    if (self->established) {
      ok = TRUE;
      break;
    }
    if (p2p_quic_conn_wait_failed_locked (self, self->closed || self->close_requested,
        cancellable, error))
      break;
  } while (p2p_quic_conn_wait_next (&w, "waiting for the peer's handshake", error));
  p2p_quic_conn_wait_end (&w);
  return ok;
}

static void
stats_net (P2pQuicConnection *self, gpointer data)
{
  P2pConnectionStats *stats = data;

  if (self->session)
    p2p_quic_session_get_stats (self->session, stats);
}

static void
quic_get_stats (P2pConnection *conn, P2pConnectionStats *stats)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (conn);
  gboolean closed;

  memset (stats, 0, sizeof *stats);
  g_mutex_lock (&self->lock);
  closed = self->closed;
  if (closed)
    *stats = self->last_stats;
  g_mutex_unlock (&self->lock);
  if (!closed)
    p2p_quic_conn_run_on_net_thread (self, stats_net, stats);
  stats->path_kind = p2p_packet_path_get_kind (self->path);
  g_mutex_lock (&self->lock);
  stats->datagrams_dropped += self->dgrams_dropped_local;
  stats->path_changes = self->path_changes;
  /* direct from the start: direct once set up */
  stats->direct_path_time_us = self->started_direct ? stats->setup_time_us
      : self->direct_path_time_us;
  g_mutex_unlock (&self->lock);
}

/* ---------------------------------------------------------------- GObject */

static void
p2p_quic_connection_dispose (GObject *object)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (object);

  if (self->path)
    p2p_quic_conn_teardown (self);
  G_OBJECT_CLASS (p2p_quic_connection_parent_class)->dispose (object);
}

static void
p2p_quic_connection_finalize (GObject *object)
{
  P2pQuicConnection *self = P2P_QUIC_CONNECTION (object);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    ((StreamState *) value)->dead = TRUE;
  g_hash_table_unref (self->streams);
  g_queue_clear_full (&self->accept_streams, (GDestroyNotify) p2p_quic_stream_state_unref);
  g_queue_clear_full (&self->recv_queue, (GDestroyNotify) g_bytes_unref);
  g_queue_clear_full (&self->send_queue, (GDestroyNotify) g_bytes_unref);
  g_queue_clear_full (&self->dgram_queue, (GDestroyNotify) g_bytes_unref);
  g_queue_clear_full (&self->dgram_rx, (GDestroyNotify) g_bytes_unref);
  g_clear_error (&self->close_error);
  g_clear_error (&self->closed_signal_error);
  g_free (self->closed_reason);
  g_free (self->close_reason);
  g_free (self->buf);
  g_free (self->owner);
  g_clear_pointer (&self->ctx, g_main_context_unref);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (p2p_quic_connection_parent_class)->finalize (object);
}

static void
p2p_quic_connection_class_init (P2pQuicConnectionClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  P2pConnectionClass *conn_class = P2P_CONNECTION_CLASS (klass);

  gobject_class->dispose = p2p_quic_connection_dispose;
  gobject_class->finalize = p2p_quic_connection_finalize;
  conn_class->get_peer_id = quic_get_peer_id;
  conn_class->dup_remote_host = quic_dup_remote_host;
  conn_class->get_protocol_version = quic_get_protocol_version;
  conn_class->get_peer_capabilities = quic_get_peer_capabilities;
  conn_class->is_connected = quic_is_connected;
  conn_class->wait_handshake = quic_wait_handshake;
  conn_class->get_stats = quic_get_stats;
  session_callbacks.established = cb_established;
  session_callbacks.migrated = cb_migrated;
  p2p_quic_conn_messages_class_init (conn_class, &session_callbacks);
  p2p_quic_conn_datagrams_class_init (conn_class, &session_callbacks);
  p2p_quic_conn_streams_class_init (conn_class, &session_callbacks);
  p2p_quic_conn_close_class_init (conn_class, &session_callbacks);

  /* Internal: a server connection finished its handshake (network thread). */
  signals[SIGNAL_ESTABLISHED] = g_signal_new ("established", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
p2p_quic_connection_init (P2pQuicConnection *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->streams = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
      (GDestroyNotify) p2p_quic_stream_state_unref);
  self->send_high = 4 * 1024 * 1024;
}
