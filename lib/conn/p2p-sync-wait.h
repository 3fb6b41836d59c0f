/* p2p-sync-wait.h (internal): a blocking call over an async one, as the
 * P2pConnection, P2pListener and P2pProvider wrappers make them when the
 * implementation has only the async variant: p2p_sync_wait_begin() pushes a
 * private main context as the thread default, the async call is started
 * with p2p_sync_wait_done() and the wait as its callback and user data,
 * p2p_sync_wait_end() iterates the context until the result came and drops
 * the context; the caller finishes with w.result and unrefs it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  GMainContext *ctx;
  GAsyncResult *result;         /* (owned): set by p2p_sync_wait_done() */
} P2pSyncWait;

void p2p_sync_wait_begin (P2pSyncWait *w);
/* A GAsyncReadyCallback; @user_data is the P2pSyncWait. */
void p2p_sync_wait_done (GObject *source, GAsyncResult *result, gpointer user_data);
void p2p_sync_wait_end (P2pSyncWait *w);

G_END_DECLS
