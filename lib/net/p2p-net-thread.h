/* p2p-net-thread.h (internal): a network thread: one GThread iterating its
 * own GMainContext with a GMainLoop (docs/architecture.md, "Threads"). Every session, socket and
 * agent of a provider lives on one such thread; other threads hand work to it
 * with p2p_net_thread_invoke() (fire and forget) or
 * p2p_net_thread_invoke_sync() (run and wait).
 *
 * Threads: every function may be called from any thread. The last unref
 * stops the loop and joins the thread (when it happens on the network thread
 * itself, the thread is detached and exits when the current dispatch returns).
 * Work invoked before the stop still runs (the context is drained once after
 * the loop quits); work invoked after the stop runs on the caller's thread
 * with the context acquired.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _P2pNetThread P2pNetThread;

/* Starts a thread called @name (shown by debuggers and top -H). Never fails
 * (aborts like g_thread_new if no thread can be created). */
P2pNetThread *p2p_net_thread_new (const char *name);
/* Dropping the last reference stops and joins the thread. */
void p2p_net_thread_unref (P2pNetThread *self);

/* (transfer none) the thread's context; valid while @self is alive. */
GMainContext *p2p_net_thread_get_context (P2pNetThread *self);
/* TRUE when called from the network thread. */
gboolean p2p_net_thread_is_current (P2pNetThread *self);

/* Runs @func(@data) on the thread (directly if called on it, like
 * g_main_context_invoke_full); @notify(@data) afterwards. FALSE when the
 * thread is gone (it died in a callback: Python's finalization): @func
 * never runs, @notify ran already; the caller must fail what waits. */
gboolean p2p_net_thread_invoke (P2pNetThread *self, GSourceFunc func, gpointer data,
    GDestroyNotify notify);

typedef void (*P2pNetThreadFunc) (gpointer data);
/* Runs @func(@data) on the thread and waits for it to return. Called on the
 * network thread itself, runs @func directly. FALSE when it did not run:
 * the thread is gone (see p2p_net_thread_invoke()). */
gboolean p2p_net_thread_invoke_sync (P2pNetThread *self, P2pNetThreadFunc func,
    gpointer data);

/* Stops the loop and joins the thread (idempotent); later invokes run on the
 * caller's thread. Must not be called from the network thread. */
void p2p_net_thread_stop (P2pNetThread *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (P2pNetThread, p2p_net_thread_unref)

G_END_DECLS
