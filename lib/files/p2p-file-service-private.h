/* p2p-file-service-private.h (internal): what the files of P2pFileService
 * share: its fields, one request in progress, and the functions one file
 * gives the others. p2p-file-service.c holds the object (properties,
 * limits, connections and listeners, the stall watchdog, stop);
 * p2p-file-request.c one request (admission, reading it, bookkeeping);
 * p2p-file-answer.c the answers (errors, GET, LIST); p2p-file-root.c the
 * path resolution confined to the root. Threads: as in p2p-file-service.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/stat.h>

#include "p2p/p2p-file-service.h"

G_BEGIN_DECLS

typedef struct {
  P2pFileService *service;
  P2pConnection *conn;
  GIOStream *stream;
  char *peer;                   /* text peer ID */
  char *host;                   /* p2p_connection_dup_remote_host(), else the peer */
  gint64 started_us;
  gboolean evicted;             /* cancelled to make room for another host (lock) */
  GCancellable *cancel;
  gint64 progress_us;           /* monotonic, last progress (lock) */
  gboolean answered;            /* the answer ended with its FIN (request thread) */
} Request;

/* Buffers for the chunks a GET reads, reused (p2p-file-answer.c): a fresh
 * buffer of read-ahead size per chunk (128 KiB: malloc maps it anew) cost
 * a page fault per 4 KiB and its zeroing, on every chunk. Reference-counted:
 * a chunk may be freed (acknowledged by the peer) after the service. */
typedef struct _P2pChunkPool P2pChunkPool;
P2pChunkPool *p2p_chunk_pool_new (void);
void p2p_chunk_pool_unref (P2pChunkPool *pool);
/* A GBytes of what @fill read (at most @want bytes) into a buffer: one of
 * @size bytes from @pool when @want is @size (the pool's buffers change
 * size with it), else one of @want bytes of its own (a small range or a
 * file's tail pins no full-size buffer until the peer acknowledged it).
 * NULL when @fill returned 0 or less (its result is in *@got). */
GBytes *p2p_chunk_pool_read (P2pChunkPool *pool, gsize size, gsize want,
    gssize (*fill) (guint8 *buf, gsize len, gpointer data), gpointer data, gssize *got);

struct _P2pFileService {
  GObject parent;

  char *root;                   /* resolved */
  char *root_error;             /* why root is not usable (a service made with g_object_new) */
  guint max_streams_per_peer, max_streams, max_open_files;
  guint read_ahead, stall_timeout_ms;

  GMutex lock;
  GCond cond;
  GArray *allowed;              /* P2pPeerId; empty = everyone */
  gboolean stopping;
  guint threads;                /* live threads of the service */
  guint active;                 /* requests in progress */
  guint open_files;
  GHashTable *per_peer;         /* peer text -> GUINT count */
  GHashTable *per_host;         /* host -> GUINT count (evicted ones not counted) */
  guint evicting;               /* evicted requests whose threads still run */
  guint64 n_evicted;
  GPtrArray *requests;          /* Request*, in progress */
  GPtrArray *cancels;           /* GCancellable* of connection/listener threads */
  GThread *watchdog;
  guint64 n_requests, bytes_sent;
  P2pChunkPool *chunks;
};

/* ---- p2p-file-request.c ---- */

/* Takes @stream: starts its request or answers the refusal. @host: the
 * connection's (p2p_connection_dup_remote_host()), nullable. */
void p2p_file_service_start_request (P2pFileService *self, P2pConnection *conn,
    const char *host, GIOStream *stream, GCancellable *conn_cancel);

/* ---- p2p-file-answer.c ---- */

/* An error answer: header with the status, the text as body, FIN. */
void p2p_file_request_note_progress (Request *r);
gboolean p2p_file_answer_error (GIOStream *stream, P2pFileRequestKind kind, P2pFileStatus status,
    const char *text, GCancellable *cancel);
/* Answers GET @path (checked): the bytes @offset .. @offset + @length,
 * within the open files limit. */
/* GET (@offset, @length) or TAIL (the last @length bytes) */
void p2p_file_serve_get (Request *r, const char *path, P2pFileRequestKind kind,
    guint64 offset, guint64 length);
/* Answers LIST @path (checked): the directory's entries, sorted by name. */
void p2p_file_serve_list (Request *r, const char *path);

/* ---- p2p-file-root.c ---- */

/* Opens @path (checked) below the root: a regular file (@want_dir FALSE)
 * or a directory. Returns the fd or -1 with *status and *text set. */
int p2p_file_service_open_below_root (P2pFileService *self, const char *path, gboolean want_dir,
    struct stat *st, P2pFileStatus *status, char **text);

G_END_DECLS
