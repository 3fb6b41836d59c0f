/* test-net-thread.c: P2pNetThread (thread + own GMainContext).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-net-thread.h"

typedef struct {
  P2pNetThread *nt;
  GMutex lock;
  GCond cond;
  guint count;
  gboolean on_thread;
  gpointer thread_seen;
  GMainContext *default_ctx;
} Fixture;

static gboolean
count_cb (gpointer data)
{
  Fixture *f = data;

  g_mutex_lock (&f->lock);
  f->count++;
  f->on_thread = p2p_net_thread_is_current (f->nt);
  f->default_ctx = g_main_context_get_thread_default ();
  g_cond_broadcast (&f->cond);
  g_mutex_unlock (&f->lock);
  return G_SOURCE_REMOVE;
}

static void
wait_count (Fixture *f, guint n)
{
  gint64 end = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;

  g_mutex_lock (&f->lock);
  while (f->count < n)
    if (!g_cond_wait_until (&f->cond, &f->lock, end))
      break;
  g_assert_cmpuint (f->count, ==, n);
  g_mutex_unlock (&f->lock);
}

static void
test_invoke_async (void)
{
  Fixture f = { 0 };

  f.nt = p2p_net_thread_new ("test-net");
  g_assert_false (p2p_net_thread_is_current (f.nt));
  for (guint i = 0; i < 100; i++)
    p2p_net_thread_invoke (f.nt, count_cb, &f, NULL);
  wait_count (&f, 100);
  g_assert_true (f.on_thread);
  g_assert_true (f.default_ctx == p2p_net_thread_get_context (f.nt));
  p2p_net_thread_unref (f.nt);
}

static void
sync_fn (gpointer data)
{
  Fixture *f = data;

  count_cb (f);
  f->thread_seen = g_thread_self ();
}

static void
nested_sync_fn (gpointer data)
{
  Fixture *f = data;

  /* On the thread itself: runs directly, no deadlock. */
  p2p_net_thread_invoke_sync (f->nt, sync_fn, f);
  g_assert_cmpuint (f->count, ==, 1);
}

static void
test_invoke_sync (void)
{
  Fixture f = { 0 };

  f.nt = p2p_net_thread_new ("test-net");
  p2p_net_thread_invoke_sync (f.nt, sync_fn, &f);
  /* invoke_sync returned: the function has already run on the thread. */
  g_assert_cmpuint (f.count, ==, 1);
  g_assert_true (f.on_thread);
  g_assert_true (f.thread_seen != g_thread_self ());

  f.count = 0;
  p2p_net_thread_invoke_sync (f.nt, nested_sync_fn, &f);
  g_assert_cmpuint (f.count, ==, 1);
  p2p_net_thread_unref (f.nt);
}

static gboolean
unref_on_thread_cb (gpointer data)
{
  Fixture *f = data;

  /* Dropping the last reference on the thread must not deadlock. */
  p2p_net_thread_unref (f->nt);
  g_mutex_lock (&f->lock);
  f->count++;
  g_cond_broadcast (&f->cond);
  g_mutex_unlock (&f->lock);
  return G_SOURCE_REMOVE;
}

static void
test_unref_on_thread (void)
{
  Fixture f = { 0 };

  f.nt = p2p_net_thread_new ("test-net");
  p2p_net_thread_invoke (f.nt, unref_on_thread_cb, &f, NULL);
  wait_count (&f, 1);
}

static void
notify_cb (gpointer data)
{
  Fixture *f = data;

  f->thread_seen = GUINT_TO_POINTER (1);
}

static void
test_stop (void)
{
  Fixture f = { 0 };

  f.nt = p2p_net_thread_new ("test-net");
  p2p_net_thread_stop (f.nt);
  p2p_net_thread_stop (f.nt); /* idempotent */
  g_assert_false (p2p_net_thread_is_current (f.nt));
  /* After the stop, work runs inline on the caller. */
  p2p_net_thread_invoke (f.nt, count_cb, &f, notify_cb);
  g_assert_cmpuint (f.count, ==, 1);
  g_assert_false (f.on_thread);
  g_assert_nonnull (f.thread_seen);
  p2p_net_thread_invoke_sync (f.nt, sync_fn, &f);
  g_assert_cmpuint (f.count, ==, 2);
  p2p_net_thread_unref (f.nt);
}

static gboolean
never_cb (gpointer data)
{
  return G_SOURCE_REMOVE;
}

static void
test_queued_before_stop_runs (void)
{
  Fixture f = { 0 };

  f.nt = p2p_net_thread_new ("test-net");
  /* Queue a lot of work and stop at once: all of it runs (drained). */
  for (guint i = 0; i < 50; i++)
    p2p_net_thread_invoke (f.nt, count_cb, &f, NULL);
  p2p_net_thread_invoke (f.nt, never_cb, NULL, NULL);
  p2p_net_thread_unref (f.nt);
  g_assert_cmpuint (f.count, ==, 50);
}

typedef struct {
  guint n;
} StressData;

static gpointer
stress_thread (gpointer data)
{
  StressData *sd = data;

  for (guint i = 0; i < 100; i++) {
    Fixture f = { 0 };
    GMainContext *ctx;

    f.nt = p2p_net_thread_new ("test-stress");
    ctx = p2p_net_thread_get_context (f.nt);
    /* The thread owns its context as soon as new() returns: nobody else can
     * acquire it first (its push_thread_default would then fail). */
    if (g_main_context_acquire (ctx)) {
      g_main_context_release (ctx);
      g_error ("acquired a net thread's context right after new()");
    }
    for (guint k = 0; k < 5; k++)
      p2p_net_thread_invoke (f.nt, count_cb, &f, NULL);
    p2p_net_thread_invoke_sync (f.nt, sync_fn, &f);
    wait_count (&f, 6);
    g_assert_true (f.default_ctx == ctx);
    if (i % 2)
      p2p_net_thread_stop (f.nt);
    p2p_net_thread_unref (f.nt);
    sd->n++;
  }
  return NULL;
}

static void
test_create_destroy_stress (void)
{
  StressData sd[4] = { 0 };
  GThread *t[4];

  /* Several threads creating, invoking on and destroying net threads at
   * once (regression: "g_main_context_push_thread_default: assertion
   * 'acquired_context' failed" when another thread acquired the new context
   * before the net thread pushed it). */
  for (guint i = 0; i < G_N_ELEMENTS (t); i++)
    t[i] = g_thread_new ("stress", stress_thread, &sd[i]);
  for (guint i = 0; i < G_N_ELEMENTS (t); i++) {
    g_thread_join (t[i]);
    g_assert_cmpuint (sd[i].n, ==, 100);
  }
}

static gboolean
exit_cb (gpointer data)
{
  g_thread_exit (NULL);
  return G_SOURCE_REMOVE;
}

static void
drop_notify_cb (gpointer data)
{
  Fixture *f = data;

  g_mutex_lock (&f->lock);
  f->count += 100;
  g_mutex_unlock (&f->lock);
}

/* The network thread ends inside a callback (pthread_exit: Python 3 ends a
 * thread that wants the GIL while the interpreter finalizes, and a Python
 * handler of a connection's signal runs there): a sync call returns
 * without running (before, it waited forever: a Python player that exits
 * with a handler connected hung in the provider's dispose, found in
 * review), an async one is dropped with its notify, and the last unref
 * returns. */
static void
test_thread_died (void)
{
  Fixture f = { 0 };

  f.nt = p2p_net_thread_new ("test-dies");
  g_assert_true (p2p_net_thread_invoke (f.nt, exit_cb, NULL, NULL));
  /* FALSE: the callers fail what waits (a listen, a dial) */
  g_assert_false (p2p_net_thread_invoke_sync (f.nt, sync_fn, &f));
  g_assert_cmpuint (f.count, ==, 0);
  g_assert_false (p2p_net_thread_invoke (f.nt, count_cb, &f, drop_notify_cb));
  g_assert_cmpuint (f.count, ==, 100);
  p2p_net_thread_unref (f.nt);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/net-thread/invoke-async", test_invoke_async);
  g_test_add_func ("/net-thread/invoke-sync", test_invoke_sync);
  g_test_add_func ("/net-thread/unref-on-thread", test_unref_on_thread);
  g_test_add_func ("/net-thread/stop", test_stop);
  g_test_add_func ("/net-thread/queued-before-stop-runs", test_queued_before_stop_runs);
  g_test_add_func ("/net-thread/create-destroy-stress", test_create_destroy_stress);
  g_test_add_func ("/net-thread/thread-died", test_thread_died);
  return g_test_run ();
}
