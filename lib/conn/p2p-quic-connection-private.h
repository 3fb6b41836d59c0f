/* p2p-quic-connection-private.h (internal): what the files of
 * P2pQuicConnection share: the connection's fields, the per-stream state,
 * the waiting helpers and each concept's part of the class. The object, its
 * construction and the driving of its session are in p2p-quic-connection.c;
 * the blocking waits in p2p-quic-connection-wait.c; messages, datagrams,
 * extra streams and the close in p2p-quic-connection-{messages,datagrams,
 * streams,close}.c; the GIOStream of an extra stream in p2p-quic-stream.c.
 * The threading rules are those of p2p-quic-connection.c.
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
  guint8 *buf;                  /* packets written for one send */
  gsize buflen;                 /* the largest packet */
  gsize bufsize;                /* of buf: a GSO batch when packets are small */
  GTask *dial_task;
  GSource *dial_cancel_source;
  gulong path_changed_id;
  guint64 start_ns;             /* path time at construction: the origin of the times in stats */
  gboolean started_direct;      /* the path was direct at construction */
  guint migrations_pending;     /* the session reported a migration: a path change to announce */
  gboolean path_closed;
  gboolean closed_pending;      /* session reported CLOSED; finish after the call */
  gboolean in_work;

  /* shared: under lock */
  GMutex lock;
  GCond cond;
  gboolean established;
  gboolean early_open;          /* an early_streams dial completed at TLS done: streams
                                 * may be opened before "established" */
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
  guint recv_consumed_pending_n;  /* and how many messages */
  GQueue recv_waiters;          /* Waiter* of receive_async */
  GQueue send_waiters;          /* Waiter* of send_async (message not yet queued) */
  GQueue send_queue;            /* GBytes not yet given to the session */
  gsize send_queue_bytes;
  gsize session_queued;         /* snapshot of p2p_quic_session_get_send_queued */
  gsize send_high;
  guint send_blocked;           /* threads in a blocking send waiting for room: the
                                 * only ones the send queue's draining wakes */
  GQueue dgram_queue;           /* GBytes */
  GQueue dgram_rx;              /* GBytes decoded by the session call running
                                 * (network thread only), emitted after it */
  guint64 dgrams_dropped_local;
  gsize max_dgram;
  char *close_reason;           /* local close requested */
  gboolean close_requested;     /* sticky: close() was called */
  gboolean close_pending;       /* work_cb must start the graceful close */
  gboolean work_scheduled;
  GHashTable *streams;          /* gint64* id → StreamState* */
  GQueue accept_streams;        /* StreamState* (ref) */
  P2pConnectionStats last_stats;
  guint64 path_changes;         /* announced by the path (stats) */
  guint64 direct_path_time_us;  /* since start_ns, when the path first became direct; 0 = not yet */
};

struct _StreamState {
  gint ref_count;
  gint64 id;
  /* under the connection's lock */
  GQueue in;                    /* GBytes as they arrived: no array to grow and move */
  gsize in_off;                 /* read from the first one */
  gsize in_len;                 /* unread bytes in all */
  gboolean in_fin;
  gboolean reset;               /* aborted here: reads and writes fail */
  gboolean in_reset;            /* the peer's RESET_STREAM: reads fail, writes go on */
  gsize consumed_pending;
  GQueue out;                   /* GBytes written, not yet in the session */
  gsize out_len;                /* their bytes in all */
  gboolean fin_requested;
  gboolean fin_sent;
  gboolean out_failed;          /* the session refused our data: writes fail */
  gboolean close_nowait;        /* dropped by the application: FIN goes later */
  gboolean dead;                /* stream objects gone: discard input */
  gboolean abort_pending;       /* p2p_connection_abort_stream(): reset it */
  gboolean in_stopped;          /* p2p_connection_stop_reading(): input dropped */
  gboolean stop_read_pending;   /* ... and the session not told yet */
  gboolean out_stopped;         /* the peer's STOP_SENDING: writes fail, reads go on */
  gboolean grant_pending;       /* accepted: the session must open its window */
};

/* One blocking call waiting for the network thread (p2p-quic-connection-wait.c). */
typedef struct {
  P2pQuicConnection *self;
  GCancellable *cancellable;
  gulong id;
  gboolean net;                 /* the caller owns the network context */
  guint *waiting;               /* counted while waiting, if set (after begin) */
} BlockingWait;

/* A function p2p_quic_conn_run_on_net_thread() runs on the network thread. */
typedef void (*NetFunc) (P2pQuicConnection *self, gpointer data);

/* ---- waiting for the network thread (p2p-quic-connection-wait.c) ---- */

/* TRUE when the caller owns the connection's context (see the .c file). */
gboolean p2p_quic_conn_on_net_thread (P2pQuicConnection *self);
/* A blocking call's loop: begin (call without the lock: watches
 * @cancellable, which wakes self->cond, and takes the lock), try to
 * complete under the lock, and while it cannot, wait_next(): TRUE after a
 * wake-up (try again), FALSE with G_IO_ERROR_WOULD_BLOCK naming @what when
 * the caller owns the network context; then end (unlocks). The tries check
 * the cancellable themselves, where their call must. */
void p2p_quic_conn_wait_begin (BlockingWait *w, P2pQuicConnection *self,
    GCancellable *cancellable);
gboolean p2p_quic_conn_wait_next (BlockingWait *w, const char *what, GError **error);
/* A try's usual stop: TRUE with @error set when @closed (the close error:
 * pass self->closed, or also self->close_requested for a call that queues
 * data) or else when @cancellable is cancelled. Under the lock. */
gboolean p2p_quic_conn_wait_failed_locked (P2pQuicConnection *self, gboolean closed,
    GCancellable *cancellable, GError **error);
void p2p_quic_conn_wait_end (BlockingWait *w);
/* Runs @func on the network thread and waits (directly when the caller owns
 * the context or nobody is iterating it). */
void p2p_quic_conn_run_on_net_thread (P2pQuicConnection *self, NetFunc func, gpointer data);

/* ---- driving (p2p-quic-connection.c, network thread unless said) ---- */

/* Any thread: wakes the network thread to move queued data into the session. */
void p2p_quic_conn_schedule_work (P2pQuicConnection *self);
/* Writes the session's datagrams to the path and re-arms its timer. */
void p2p_quic_conn_flush (P2pQuicConnection *self);
/* After a session call: completes what the callbacks reported (dial,
 * "established", "closed"). */
void p2p_quic_conn_after_session_call (P2pQuicConnection *self);

/* ---- each concept's vfuncs and session callbacks (class_init) ---- */

void p2p_quic_conn_messages_class_init (P2pConnectionClass *conn_class,
    P2pQuicSessionCallbacks *callbacks);
/* Network thread, after a session call that received packets: emits the
 * datagrams they carried ("datagram-received"). */
void p2p_quic_conn_emit_received_datagrams (P2pQuicConnection *self);
void p2p_quic_conn_datagrams_class_init (P2pConnectionClass *conn_class,
    P2pQuicSessionCallbacks *callbacks);
void p2p_quic_conn_streams_class_init (P2pConnectionClass *conn_class,
    P2pQuicSessionCallbacks *callbacks);
void p2p_quic_conn_close_class_init (P2pConnectionClass *conn_class,
    P2pQuicSessionCallbacks *callbacks);

/* ---- messages (p2p-quic-connection-messages.c) ---- */

/* Fails every parked async waiter with the close error (after the close). */
void p2p_quic_conn_fail_waiters (P2pQuicConnection *self);
/* Net thread: lets parked send_async callers in while there is room. */
void p2p_quic_conn_admit_send_waiters (P2pQuicConnection *self);

/* ---- extra streams (p2p-quic-connection-streams.c) ---- */

/* Net thread: feeds the stream buffers into the session. */
void p2p_quic_conn_drain_streams (P2pQuicConnection *self);

/* ---- the close (p2p-quic-connection-close.c) ---- */

/* Under lock: the error for a call on a closed connection. */
void p2p_quic_conn_set_closed_error_locked (P2pQuicConnection *self, GError **error);
/* Dispose: the session sends its CONNECTION_CLOSE and is freed on its own
 * thread, the path closed (self->path must be set). */
void p2p_quic_conn_teardown (P2pQuicConnection *self);

/* ---- per-stream state and the GIOStream (p2p-quic-stream.c) ---- */

StreamState *p2p_quic_stream_state_new (gint64 id);
StreamState *p2p_quic_stream_state_ref (StreamState *st);
void p2p_quic_stream_state_unref (StreamState *st);
void p2p_quic_stream_state_drop_input_locked (StreamState *st);
void p2p_quic_stream_state_drop_output_locked (StreamState *st);
/* A GIOStream over extra stream @st of @conn (transfer full). */
GIOStream *p2p_quic_stream_new (P2pQuicConnection *conn, StreamState *st);
/* The stream state of @stream if it is one of @conn's streams, else NULL
 * (transfer none). */
StreamState *p2p_quic_stream_get_state (P2pQuicConnection *conn, GIOStream *stream);
gboolean p2p_quic_stream_write_bytes (P2pQuicConnection *self, GIOStream *stream, GBytes *bytes,
    GCancellable *cancellable, GError **error);

G_END_DECLS
