/* p2p-connection.h: an authenticated, encrypted connection to one peer.
 *
 * Reliable ordered messages (send/receive), unreliable datagrams
 * (send_datagram), extra byte streams (open_stream) and stats.
 * Threads: every public function may be called from any thread; blocking
 * variants wait for the provider's network thread and honour @cancellable.
 * Signals ("closed", "path-changed", "datagram-received") are emitted on the
 * provider's network thread. "path-changed" (P2pPathKind old_kind,
 * P2pPathKind new_kind): the packets now take another route, e.g. from a
 * TURN relay to a direct ICE pair once hole punching succeeded (the kinds
 * may be equal: a direct path moved to another address); the stream goes
 * on, nothing is lost; counted in the stats (path_changes,
 * direct_path_time_us).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include "p2p-macros.h"
#include "p2p-peer-id.h"
#include "p2p-connection-stats.h"

G_BEGIN_DECLS

#define P2P_TYPE_CONNECTION (p2p_connection_get_type ())
P2P_EXPORT G_DECLARE_DERIVABLE_TYPE (P2pConnection, p2p_connection, P2P, CONNECTION, GObject)

struct _P2pConnectionClass {
  GObjectClass parent_class;

  gboolean (*send) (P2pConnection *self, GBytes *message, GCancellable *cancellable, GError **error);
  void (*send_async) (P2pConnection *self, GBytes *message, GCancellable *cancellable,
      GAsyncReadyCallback callback, gpointer user_data);
  gboolean (*send_finish) (P2pConnection *self, GAsyncResult *result, GError **error);
  GBytes *(*receive) (P2pConnection *self, GCancellable *cancellable, GError **error);
  void (*receive_async) (P2pConnection *self, GCancellable *cancellable,
      GAsyncReadyCallback callback, gpointer user_data);
  GBytes *(*receive_finish) (P2pConnection *self, GAsyncResult *result, GError **error);
  gboolean (*send_datagram) (P2pConnection *self, GBytes *datagram, GError **error);
  gsize (*get_max_datagram_size) (P2pConnection *self);
  GIOStream *(*open_stream) (P2pConnection *self, GCancellable *cancellable, GError **error);
  GIOStream *(*accept_stream) (P2pConnection *self, GCancellable *cancellable, GError **error);
  const P2pPeerId *(*get_peer_id) (P2pConnection *self);
  gboolean (*is_connected) (P2pConnection *self);
  void (*close) (P2pConnection *self, const char *reason);
  void (*get_stats) (P2pConnection *self, P2pConnectionStats *stats);
  guint (*get_protocol_version) (P2pConnection *self);
  guint64 (*get_peer_capabilities) (P2pConnection *self);
  void (*abort_stream) (P2pConnection *self, GIOStream *stream);
  gboolean (*try_send) (P2pConnection *self, GBytes *message, GError **error);
  /* a connection returned before the peer's handshake (early streams):
   * blocks until it is in; NULL = always in */
  gboolean (*wait_handshake) (P2pConnection *self, GCancellable *cancellable, GError **error);
  GBytes *(*try_receive) (P2pConnection *self, GError **error);
  /* NULL = g_output_stream_write_all() of the bytes */
  gboolean (*write_stream_bytes) (P2pConnection *self, GIOStream *stream, GBytes *bytes,
      GCancellable *cancellable, GError **error);
  /* NULL = nothing (what arrives is kept until read) */
  void (*stop_reading) (P2pConnection *self, GIOStream *stream);
  /* NULL = not known */
  char *(*dup_remote_host) (P2pConnection *self);
};

/* Queues one message (at most P2P_MAX_MESSAGE_SIZE bytes; more is
 * LIMIT_EXCEEDED). Blocks while the send queue is full (flow control /
 * backpressure): it holds what is not acknowledged yet, 4 MiB or 4
 * congestion windows, whichever is more, at most 32 MiB (QUIC).
 * Errors: CLOSED, TIMEOUT, LIMIT_EXCEEDED, G_IO_ERROR_CANCELLED. */
P2P_EXPORT gboolean p2p_connection_send (P2pConnection *self, GBytes *message,
    GCancellable *cancellable, GError **error);
P2P_EXPORT void p2p_connection_send_async (P2pConnection *self, GBytes *message,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
P2P_EXPORT gboolean p2p_connection_send_finish (P2pConnection *self, GAsyncResult *result, GError **error);
/* p2p_connection_send() that never blocks: a full send queue (or a
 * connection that cannot tell without blocking) is G_IO_ERROR_WOULD_BLOCK. */
P2P_EXPORT gboolean p2p_connection_try_send (P2pConnection *self, GBytes *message,
    GError **error);
/* Between begin and end (per thread, nestable), what this thread queues on
 * any connection is handed to the network thread at the end, with one
 * wake-up for all of them: a fan-out's burst. */
P2P_EXPORT void p2p_connection_batch_begin (void);
P2P_EXPORT void p2p_connection_batch_end (void);
/* Next message in order (transfer full). Blocks until one arrives. At the
 * peer's graceful close returns NULL with P2P_ERROR_CLOSED (message = reason). */
P2P_EXPORT GBytes *p2p_connection_receive (P2pConnection *self, GCancellable *cancellable, GError **error);
/* p2p_connection_receive() that never blocks: no message waiting (or a
 * connection that cannot tell without blocking) is G_IO_ERROR_WOULD_BLOCK. */
P2P_EXPORT GBytes *p2p_connection_try_receive (P2pConnection *self, GError **error);
P2P_EXPORT void p2p_connection_receive_async (P2pConnection *self, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data);
P2P_EXPORT GBytes *p2p_connection_receive_finish (P2pConnection *self, GAsyncResult *result, GError **error);
/* Unreliable (RFC 9221). Larger than get_max_datagram_size() is LIMIT_EXCEEDED.
 * Never blocks; a full queue drops (counted in stats). Received datagrams are
 * emitted by signal "datagram-received" (GBytes *) on the network thread. */
P2P_EXPORT gboolean p2p_connection_send_datagram (P2pConnection *self, GBytes *datagram, GError **error);
P2P_EXPORT gsize p2p_connection_get_max_datagram_size (P2pConnection *self);
/* A new bidirectional QUIC stream as a GIOStream (transfer full). */
P2P_EXPORT GIOStream *p2p_connection_open_stream (P2pConnection *self, GCancellable *cancellable, GError **error);
/* Waits for the peer to open a stream (transfer full). */
P2P_EXPORT GIOStream *p2p_connection_accept_stream (P2pConnection *self, GCancellable *cancellable, GError **error);
/* The rest of @stream (one of this connection's) is not wanted: the peer is
 * told to stop sending (STOP_SENDING) and the stream is reset
 * (RESET_STREAM), application error 0x102; later reads and writes fail. */
P2P_EXPORT void p2p_connection_abort_stream (P2pConnection *self, GIOStream *stream);
/* Nothing more will be read from @stream (one of this connection's): what
 * arrived unread and what arrives later is dropped (its flow-control credit
 * given back) and the peer is asked to stop sending (STOP_SENDING,
 * application error 0x103, once the peer's end has not arrived yet);
 * writing goes on. Later reads return end of stream. */
P2P_EXPORT void p2p_connection_stop_reading (P2pConnection *self, GIOStream *stream);
/* Writes all of @bytes to @stream (one of this connection's), blocking while
 * its buffer is full, as g_output_stream_write_all() does; a QUIC stream
 * keeps a reference to @bytes instead of copying them. */
P2P_EXPORT gboolean p2p_connection_write_stream_bytes (P2pConnection *self, GIOStream *stream,
    GBytes *bytes, GCancellable *cancellable, GError **error);
P2P_EXPORT const P2pPeerId *p2p_connection_get_peer_id (P2pConnection *self);
/* The host the peer's packets come from, as per-host limits count it: an
 * IPv4 address, an IPv6 /64 ("2001:db8::/64"); NULL when not known or
 * relayed (transfer full). */
P2P_EXPORT char *p2p_connection_dup_remote_host (P2pConnection *self);
P2P_EXPORT gboolean p2p_connection_is_connected (P2pConnection *self);
/* Protocol evolution (docs/protocol.md §3.1): the negotiated version and
 * the named capabilities the peer advertised ("files", ...). */
P2P_EXPORT guint p2p_connection_get_protocol_version (P2pConnection *self);
P2P_EXPORT gboolean p2p_connection_has_capability (P2pConnection *self, const char *name);
P2P_EXPORT char **p2p_connection_list_capabilities (P2pConnection *self);
/* A connection dialed with early streams (P2pConfig early_streams) is
 * returned before the peer's handshake: blocks until it is in (version,
 * capabilities), or fails with the close error. Any other connection: TRUE
 * at once. */
P2P_EXPORT gboolean p2p_connection_wait_handshake (P2pConnection *self,
    GCancellable *cancellable, GError **error);
/* Fails with P2P_ERROR_NOT_SUPPORTED naming the peer, @feature and the
 * capability unless the peer advertised @name (after
 * p2p_connection_wait_handshake()). For code about to use a feature (the
 * file client checks "files"). */
P2P_EXPORT gboolean p2p_connection_require_capability (P2pConnection *self, const char *name,
    const char *feature, GError **error);
/* Graceful close: queued messages are delivered first, then Disconnect{reason}. */
P2P_EXPORT void p2p_connection_close (P2pConnection *self, const char *reason);
P2P_EXPORT void p2p_connection_get_stats (P2pConnection *self, P2pConnectionStats *stats);

/* For implementations: emit "closed" (error may be NULL for a normal close). */
P2P_EXPORT void p2p_connection_emit_closed (P2pConnection *self, const GError *error);
P2P_EXPORT void p2p_connection_emit_path_changed (P2pConnection *self, P2pPathKind old_kind,
    P2pPathKind new_kind);
P2P_EXPORT void p2p_connection_emit_datagram (P2pConnection *self, GBytes *datagram);

G_END_DECLS
