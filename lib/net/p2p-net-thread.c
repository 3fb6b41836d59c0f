/* p2p-net-thread.c: a GThread running its own GMainContext (see the header).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-net-thread.h"

struct _P2pNetThread {
  gint ref_count;        /* users' references */
  gint alloc_refs;       /* struct lifetime: 1 for all users + 1 for the thread */
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;       /* joinable handle; NULL once joined */
  gpointer thread_id;    /* for comparison only, never dereferenced */
  gboolean joined;

  GMutex lock;
  GCond started_cond;
  gboolean started;     /* the thread owns (acquired and pushed) the context */
  gboolean stopped;     /* loop quit and context drained: invoke runs inline */
  gboolean stopping;
  /* the thread ended without returning from thread_main (pthread_exit in a
   * callback: Python 3 ends a thread that wants the GIL while the
   * interpreter finalizes): what was queued never runs, the context stays
   * owned by the dead thread; invokes are dropped and sync callers return */
  gboolean dead;
};

typedef struct {
  GMainContext *context;
  GMainLoop *loop;
  P2pNetThread *owner;  /* holds one alloc_refs */
} ThreadData;

static void
free_struct (P2pNetThread *self)
{
  if (!g_atomic_int_dec_and_test (&self->alloc_refs))
    return;
  if (self->thread)
    g_thread_unref (self->thread);
  g_main_loop_unref (self->loop);
  g_main_context_unref (self->context);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->started_cond);
  g_free (self);
}

/* Runs when a network thread exits with the watch still set: it did not
 * return from thread_main. It drops the thread's reference on the struct,
 * as thread_main would have. */
static void
on_abnormal_exit (gpointer data)
{
  ThreadData *td = data;
  P2pNetThread *self = td->owner;

  g_mutex_lock (&self->lock);
  self->dead = TRUE;
  self->stopped = TRUE;
  g_cond_broadcast (&self->started_cond);
  g_mutex_unlock (&self->lock);
  g_main_loop_unref (td->loop);
  g_main_context_unref (td->context);
  free_struct (self);
  g_free (td);
}

static GPrivate exit_watch = G_PRIVATE_INIT (on_abnormal_exit);

static gpointer
thread_main (gpointer user_data)
{
  ThreadData *td = user_data;
  P2pNetThread *self = td->owner;

  g_private_set (&exit_watch, td);

  /* Own the context before anyone else can see it: new() does not return
   * (so nobody can acquire or iterate the context) until this is done. The
   * lock also waits until new() stored thread_id. */
  g_main_context_push_thread_default (td->context);
  g_mutex_lock (&self->lock);
  self->started = TRUE;
  g_cond_broadcast (&self->started_cond);
  g_mutex_unlock (&self->lock);
  g_main_loop_run (td->loop);

  /* From now on new invokes run inline on the caller; run what was queued. */
  g_mutex_lock (&self->lock);
  self->stopped = TRUE;
  g_mutex_unlock (&self->lock);
  for (guint i = 0; i < 1000 && g_main_context_pending (td->context); i++)
    g_main_context_iteration (td->context, FALSE);

  g_main_context_pop_thread_default (td->context);
  g_private_set (&exit_watch, NULL);    /* a normal exit */
  g_main_loop_unref (td->loop);
  g_main_context_unref (td->context);
  free_struct (self);
  g_free (td);
  return NULL;
}

P2pNetThread *
p2p_net_thread_new (const char *name)
{
  P2pNetThread *self = g_new0 (P2pNetThread, 1);
  ThreadData *td = g_new0 (ThreadData, 1);

  self->ref_count = 1;
  self->alloc_refs = 2;
  g_mutex_init (&self->lock);
  g_cond_init (&self->started_cond);
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  td->context = g_main_context_ref (self->context);
  td->loop = g_main_loop_ref (self->loop);
  td->owner = self;
  g_mutex_lock (&self->lock);   /* thread_main reads thread_id under it */
  self->thread = g_thread_new (name ? name : "p2p-net", thread_main, td);
  self->thread_id = self->thread;
  /* Publish the context only once the thread owns it (otherwise a caller
   * could acquire it first and the thread's push_thread_default fails). */
  while (!self->started)
    g_cond_wait (&self->started_cond, &self->lock);
  g_mutex_unlock (&self->lock);
  return self;
}

GMainContext *
p2p_net_thread_get_context (P2pNetThread *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->context;
}

gboolean
p2p_net_thread_is_current (P2pNetThread *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  gboolean current;

  g_mutex_lock (&self->lock);
  current = !self->joined && (gpointer) g_thread_self () == self->thread_id;
  g_mutex_unlock (&self->lock);
  return current;
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
request_quit (P2pNetThread *self)
{
  GSource *src;

  g_mutex_lock (&self->lock);
  if (self->stopping) {
    g_mutex_unlock (&self->lock);
    return;
  }
  self->stopping = TRUE;
  g_mutex_unlock (&self->lock);

  /* A source (not g_main_loop_quit directly): quitting before the thread
   * entered g_main_loop_run() would otherwise be lost. */
  src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_LOW);
  g_source_set_callback (src, quit_cb, g_main_loop_ref (self->loop),
      (GDestroyNotify) g_main_loop_unref);
  g_source_attach (src, self->context);
  g_source_unref (src);
}

void
p2p_net_thread_stop (P2pNetThread *self)
{
  GThread *thread;

  g_return_if_fail (self != NULL);
  if (p2p_net_thread_is_current (self)) {
    g_critical ("p2p_net_thread_stop() called on the network thread itself");
    return;
  }
  request_quit (self);
  g_mutex_lock (&self->lock);
  thread = g_steal_pointer (&self->thread);
  g_mutex_unlock (&self->lock);
  if (thread) {
    g_thread_join (thread);
    g_mutex_lock (&self->lock);
    self->joined = TRUE;
    g_mutex_unlock (&self->lock);
  }
}

void
p2p_net_thread_unref (P2pNetThread *self)
{
  g_return_if_fail (self != NULL);
  if (!g_atomic_int_dec_and_test (&self->ref_count))
    return;

  if (p2p_net_thread_is_current (self)) {
    /* Last reference dropped from a callback on the thread itself: it cannot
     * join itself; it quits after the current dispatch and frees the struct
     * (it holds the other alloc reference) when it exits. */
    request_quit (self);
  } else {
    p2p_net_thread_stop (self);
  }
  free_struct (self);
}

gboolean
p2p_net_thread_invoke (P2pNetThread *self, GSourceFunc func, gpointer data,
    GDestroyNotify notify)
{
  gboolean inline_run;

  g_return_val_if_fail (self != NULL && func != NULL, FALSE);
  g_mutex_lock (&self->lock);
  if (self->dead) {
    g_mutex_unlock (&self->lock);
    g_debug ("the network thread is gone: a call to it is dropped");
    if (notify)
      notify (data);
    return FALSE;
  }
  inline_run = self->stopped;
  if (!inline_run)
    g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, func, data, notify);
  g_mutex_unlock (&self->lock);
  if (inline_run) {
    while (!g_main_context_acquire (self->context))
      g_thread_yield ();
    while (func (data) == G_SOURCE_CONTINUE)
      ;
    g_main_context_release (self->context);
    if (notify)
      notify (data);
  }
  return TRUE;
}

typedef struct {
  P2pNetThreadFunc func;
  gpointer data;
  GMutex lock;
  GCond cond;
  gboolean done;
} SyncCall;

static gboolean
sync_call_cb (gpointer user_data)
{
  SyncCall *call = user_data;

  call->func (call->data);
  g_mutex_lock (&call->lock);
  call->done = TRUE;
  g_cond_broadcast (&call->cond);
  g_mutex_unlock (&call->lock);
  return G_SOURCE_REMOVE;
}

gboolean
p2p_net_thread_invoke_sync (P2pNetThread *self, P2pNetThreadFunc func, gpointer data)
{
  SyncCall call = { func, data };
  gboolean ran;

  g_return_val_if_fail (self != NULL && func != NULL, FALSE);
  if (p2p_net_thread_is_current (self)) {
    func (data);
    return TRUE;
  }
  g_mutex_init (&call.lock);
  g_cond_init (&call.cond);
  if (!p2p_net_thread_invoke (self, sync_call_cb, &call, NULL)) {
    g_mutex_clear (&call.lock);
    g_cond_clear (&call.cond);
    return FALSE;
  }
  g_mutex_lock (&call.lock);
  while (!call.done) {
    gboolean dead;

    if (g_cond_wait_until (&call.cond, &call.lock,
            g_get_monotonic_time () + 100 * G_TIME_SPAN_MILLISECOND))
      continue;
    /* (checked now and then: a thread that died runs nothing more, and
     * its call stays queued in a context nobody iterates) */
    g_mutex_lock (&self->lock);
    dead = self->dead;
    g_mutex_unlock (&self->lock);
    if (dead) {
      g_debug ("the network thread is gone: a call to it did not run");
      break;
    }
  }
  ran = call.done;
  g_mutex_unlock (&call.lock);
  g_mutex_clear (&call.lock);
  g_cond_clear (&call.cond);
  return ran;
}
