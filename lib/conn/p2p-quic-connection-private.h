/* p2p-quic-connection-private.h (internal): what p2p-quic-connection.c and
 * p2p-quic-stream.c (the GIOStream of an extra QUIC stream) share: the
 * connection's fields, the per-stream state and the waiting helpers. The
 * threading rules are those of p2p-quic-connection.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-quic-connection.h"

G_BEGIN_DECLS

typedef struct _StreamState StreamState;

/* The session's user_data: outlives the connection until the session is
 * freed (a dropped connection's session still sends its CONNECTION_CLOSE
 * on the network thread, with callbacks going nowhere). */
typedef struct {
  P2pQuicConnection *conn;      /* no ref; NULL once the connection is gone */
} Owner;

#define OWNER(user_data) (((Owner *) (user_data))->conn)

struct _P2pQuicConnection {
  P2pConnection parent;

  /* net: network thread only */
  GMainContext *ctx;
  P2pPacketPath *path;
  P2pQuicSession *session;
  Owner *owner;
  guint8 *buf;
  gsize buflen;
  GTask *dial_task;
  GSource *dial_cancel_source;
  gulong kind_changed_id;
  gboolean path_closed;
  gboolean closed_pending;      /* session reported CLOSED; finish after the call */
  gboolean in_work;

  /* shared: under lock */
  GMutex lock;
  GCond cond;
  gboolean established;
  gboolean closed;
  gboolean closed_emitted;
  GError *close_error;          /* what blocked callers get after the close */
  GError *closed_signal_error;  /* NULL for a normal close */
  char *closed_reason;          /* a normal close's Disconnect reason (a failed dial names it) */
  P2pPeerId peer_id;
  gboolean have_peer_id;
  guint64 protocol_version;     /* negotiated; written once at establishment */
  guint64 peer_capabilities;
  GQueue recv_queue;            /* GBytes */
  gsize recv_consumed_pending;  /* message bytes taken by the application, credit not yet
                                 * returned to the session (receive backpressure) */
  GQueue recv_waiters;          /* Waiter* of receive_async */
  GQueue send_waiters;          /* Waiter* of send_async (message not yet queued) */
  GQueue send_queue;            /* GBytes not yet given to the session */
  gsize send_queue_bytes;
  gsize session_queued;         /* snapshot of p2p_quic_session_get_send_queued */
  gsize send_high;
  GQueue dgram_queue;           /* GBytes */
  guint64 dgrams_dropped_local;
  gsize max_dgram;
  char *close_reason;           /* local close requested */
  gboolean close_requested;     /* sticky: close() was called */
  gboolean close_pending;       /* work_cb must start the graceful close */
  gboolean work_scheduled;
  GHashTable *streams;          /* gint64* id → StreamState* */
  GQueue accept_streams;        /* StreamState* (ref) */
  P2pConnectionStats last_stats;
};

struct _StreamState {
  gint ref_count;
  gint64 id;
  /* under the connection's lock */
  GByteArray *in;
  gsize in_off;
  gboolean in_fin;
  gboolean reset;
  gsize consumed_pending;
  GByteArray *out;
  gboolean fin_requested;
  gboolean fin_sent;
  gboolean dead;                /* stream objects gone: discard input */
  gboolean grant_pending;       /* accepted: the session must open its window */
};

typedef struct {
  P2pQuicConnection *self;
  GCancellable *cancellable;
  gulong id;
} CancelWatch;

StreamState *p2p_quic_stream_state_new (gint64 id);
StreamState *p2p_quic_stream_state_ref (StreamState *st);
void p2p_quic_stream_state_unref (StreamState *st);

/* TRUE when the caller owns the connection's context (see the .c file). */
gboolean p2p_quic_conn_on_net_thread (P2pQuicConnection *self);
/* Wake self->cond when @cancellable fires; call without holding the lock. */
void p2p_quic_conn_watch_begin (CancelWatch *w, P2pQuicConnection *self,
    GCancellable *cancellable);
void p2p_quic_conn_watch_end (CancelWatch *w);
void p2p_quic_conn_set_would_block (GError **error, const char *what);
/* Under lock: the error for a call on a closed connection. */
void p2p_quic_conn_set_closed_error_locked (P2pQuicConnection *self, GError **error);
/* Wakes the network thread to move queued data into the session. */
void p2p_quic_conn_schedule_work (P2pQuicConnection *self);

/* A GIOStream over extra stream @st of @conn (transfer full). */
GIOStream *p2p_quic_stream_new (P2pQuicConnection *conn, StreamState *st);

G_END_DECLS
