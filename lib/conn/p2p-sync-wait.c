/* p2p-sync-wait.c: a blocking call over an async one (p2p-sync-wait.h),
 * shared by the P2pConnection, P2pListener and P2pProvider wrappers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sync-wait.h"

void
p2p_sync_wait_begin (P2pSyncWait *w)
{
  w->ctx = g_main_context_new ();
  w->result = NULL;
  g_main_context_push_thread_default (w->ctx);
}

void
p2p_sync_wait_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  P2pSyncWait *w = user_data;

  w->result = g_object_ref (result);
}

void
p2p_sync_wait_end (P2pSyncWait *w)
{
  while (w->result == NULL)
    g_main_context_iteration (w->ctx, TRUE);
  g_main_context_pop_thread_default (w->ctx);
  g_main_context_unref (w->ctx);
}
