/* gstp2psrc-files-private.h (internal): the state of p2psrc's
 * random-access reader (gstp2psrc-files.c: blocks, the request window, the
 * reads) shared with its recovery (gstp2psrc-files-recovery.c: the
 * connection, the validator, retries and reconnects, errors and messages).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstp2psrc-files.h"

G_BEGIN_DECLS

/* the first request after a jump, and the largest of a sequential read */
#define BLOCK_MIN (64 * 1024)
#define BLOCK_MAX (1024 * 1024)
/* 8 x 1 MiB: a 50 ms path at 130 Mbit/s needs more than its 0.8 MB
 * bandwidth-delay product while slow start and the window ramp up (4: 100
 * Mbit/s against 131 for HTTP's one range request; 8: 113-114) */
#define WINDOW 8
/* blocks kept after being read: at most RECENT of them, RECENT_BYTES in all */
#define RECENT 4
#define RECENT_BYTES (1024 * 1024)
/* the end of the file, asked for at open */
#define TAIL_LEN (16 * 1024)
/* push mode: the least a buffer carries (unless its block ends first) */
#define PUSH_MIN (4 * 1024)
#define BUSY_RETRIES 10
#define BUSY_WAIT_MS 20
/* a dropped connection: reconnect and resume at the block's offset */
#define RECONNECT_MAX 5
#define RECONNECT_DELAY_MS 500

typedef struct {
  guint64 offset;
  guint64 len;                  /* bytes asked for */
  GIOStream *stream;
  gboolean have_header;         /* header read already (the size query) */
  P2pFileHeader header;
  guint64 consumed;             /* push mode, the block being read: body bytes read */
} Pending;

struct _GstP2pFileReader {
  gint ref_count;
  GstElement *element;
  GstP2pObject *obj;
  char *path;

  GMutex lock;                  /* one getrange at a time; cancel from others */
  /* of the blocking calls; replaced (under both locks) after a flush */
  GCancellable *cancel;
  GMutex cancel_lock;           /* the pointer, for interrupt() and cancel() */
  gboolean stopped;             /* cancel(): no new cancellable (cancel_lock) */
  gboolean ended;               /* end(): the application's EOS (cancel_lock) */
  guint32 eos_seqnum;
  P2pConnection *conn;
  /* conn's "connected" was posted: once the peer answered on it (with
   * early streams the handshake ends after the first requests went out:
   * a refused peer never gets a "connected") */
  gboolean conn_said;
  char *peer;
  gboolean have_first;
  P2pFileHeader first;
  /* the block in hand */
  guint64 block_offset;
  GBytes *block;
  GQueue recent;                /* Block*: the blocks read before, newest first */
  GQueue pending;               /* Pending*, in offset order */
  Pending *reading;             /* push mode: the block being read, out of pending */
  Pending *tail;                /* the TAIL request sent at open, until read */
  guint window;                 /* blocks to keep requested ahead, 1..WINDOW */
  guint64 req_len;              /* length of the next request */
  guint reconnects;             /* consecutive attempts */
  gboolean conn_suspect;        /* an error not about the file: not kept (keep-alive) */
  /* GstMessage*: posted once @lock is dropped (a bus sync handler may
   * query this element, which takes @lock) */
  GQueue deferred;
  /* the file's size once known, for queries that must not wait behind a
   * read holding @lock (cancel_lock) */
  gboolean size_known;
  guint64 known_size;
};

typedef struct {
  guint64 offset;
  GBytes *bytes;
} Block;

/* One attempt at a read at @at of up to @want bytes; @out: the read's
 * own result. */
typedef gboolean (*ReadOnce) (GstP2pFileReader *self, guint64 at, guint64 want,
    gpointer out, GError **error);

/* Under the reader's lock unless said otherwise. */

/* Posts @err as the element error naming the path and the peer (not a
 * cancellation). */
void gst_p2p_file_reader_post_error (GstP2pFileReader *self, const GError *err);
/* Drops the lock, then posts the messages deferred while it was held. */
void gst_p2p_file_reader_unlock_and_post (GstP2pFileReader *self);
/* The connection, dialled if there is none (connect-timeout). */
gboolean gst_p2p_file_reader_ensure_conn (GstP2pFileReader *self, GError **error);
/* The peer answered on the connection: its "connected" message, once. */
void gst_p2p_file_reader_say_connected (GstP2pFileReader *self);
/* (transfer full) the "disconnected" p2p-connection message of the
 * reader's connection (which must be set), with @reason. */
GstMessage *gst_p2p_file_reader_disconnected_message (GstP2pFileReader *self,
    const char *reason);
/* FALSE (CHANGED, saying what changed) unless @h's validator is the first
 * answer's. */
gboolean gst_p2p_file_reader_check_validator (GstP2pFileReader *self, const P2pFileHeader *h,
    GError **error);
/* Runs @once until it succeeds or fails for good (busy server, reconnects). */
gboolean gst_p2p_file_reader_with_recovery (GstP2pFileReader *self, ReadOnce once, guint64 at,
    guint64 want, gpointer out, GError **error);
/* Releases the requests of the window / the TAIL request. */
void gst_p2p_file_reader_drop_window (GstP2pFileReader *self);
void gst_p2p_file_reader_drop_tail (GstP2pFileReader *self);

G_END_DECLS
