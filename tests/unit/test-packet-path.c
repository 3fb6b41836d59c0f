/* test-packet-path.c: the P2pPacketPath base class and the in-memory path
 * pair (virtual and real clock): delivery, ordering, timers, latency, MTU,
 * drops, close, handlers, context.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <p2p/p2p.h>
#include "p2p-mem-path.h"

/* ---- a recorder installed as a path's handlers ---- */

typedef struct {
  GPtrArray *received;          /* GBytes* */
  guint timer_fires;
  guint64 timer_fired_at;
  gboolean destroyed;
  /* optional behaviour */
  P2pPacketPath *echo_to;       /* send every datagram back through this */
  guint echo_limit;
  guint64 rearm_at;             /* re-arm the timer once from its callback */
} Recorder;

static void
recorder_init (Recorder *r)
{
  memset (r, 0, sizeof *r);
  r->received = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
}

static void
recorder_clear (Recorder *r)
{
  g_clear_pointer (&r->received, g_ptr_array_unref);
}

static void
on_receive (P2pPacketPath *path, const guint8 *data, gsize len, gpointer user_data)
{
  Recorder *r = user_data;

  g_ptr_array_add (r->received, g_bytes_new (data, len));
  if (r->echo_to && r->received->len < r->echo_limit) {
    g_autoptr (GError) error = NULL;

    g_assert_true (p2p_packet_path_send (r->echo_to, data, len, &error));
    g_assert_no_error (error);
  }
}

static void
on_timer (P2pPacketPath *path, gpointer user_data)
{
  Recorder *r = user_data;

  r->timer_fires++;
  r->timer_fired_at = p2p_packet_path_now (path);
  if (r->rearm_at) {
    guint64 at = r->rearm_at;

    r->rearm_at = 0;
    p2p_packet_path_set_timer (path, at);
  }
}

static void
on_destroy (gpointer user_data)
{
  ((Recorder *) user_data)->destroyed = TRUE;
}

static void
install (P2pMemPath *p, Recorder *r)
{
  p2p_packet_path_set_handlers (P2P_PACKET_PATH (p), on_receive, on_timer, r, on_destroy);
}

static void
iterate_all (GMainContext *ctx)
{
  guint n = 0;

  while (g_main_context_iteration (ctx, FALSE))
    g_assert_cmpuint (++n, <, 100000);
}

static void
assert_received (Recorder *r, guint i, const char *text)
{
  g_assert_cmpuint (i, <, r->received->len);
  g_assert_cmpmem (g_bytes_get_data (r->received->pdata[i], NULL),
      g_bytes_get_size (r->received->pdata[i]), text, strlen (text));
}

static gboolean
send_str (P2pMemPath *p, const char *s, GError **error)
{
  return p2p_packet_path_send (P2P_PACKET_PATH (p), (const guint8 *) s, strlen (s), error);
}

/* A private context as thread default for each test, so nothing leaks
 * between tests and the default context is never used. */
typedef struct {
  GMainContext *ctx;
  P2pMemPath *a, *b;
  Recorder ra, rb;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer realtime)
{
  f->ctx = g_main_context_new ();
  g_main_context_push_thread_default (f->ctx);
  if (GPOINTER_TO_INT (realtime))
    p2p_mem_path_new_pair_realtime (NULL, &f->a, &f->b);
  else
    p2p_mem_path_new_pair (NULL, &f->a, &f->b);
  recorder_init (&f->ra);
  recorder_init (&f->rb);
  install (f->a, &f->ra);
  install (f->b, &f->rb);
}

static void
fixture_teardown (Fixture *f, gconstpointer realtime)
{
  g_clear_object (&f->a);
  g_clear_object (&f->b);
  g_assert_true (f->ra.destroyed);
  g_assert_true (f->rb.destroyed);
  recorder_clear (&f->ra);
  recorder_clear (&f->rb);
  iterate_all (f->ctx);
  g_main_context_pop_thread_default (f->ctx);
  g_main_context_unref (f->ctx);
}

/* ---- path kind ---- */

static void
test_path_kind (void)
{
  g_autoptr (GEnumClass) klass = g_type_class_ref (P2P_TYPE_PATH_KIND);

  g_assert_cmpstr (p2p_path_kind_to_string (P2P_PATH_KIND_DIRECT), ==, "direct");
  g_assert_cmpstr (p2p_path_kind_to_string (P2P_PATH_KIND_RELAY), ==, "relay");
  g_assert_cmpstr (p2p_path_kind_to_string (P2P_PATH_KIND_SIMULATED), ==, "simulated");
  g_assert_cmpstr (p2p_path_kind_to_string ((P2pPathKind) 42), ==, "unknown");
  g_assert_cmpstr (g_enum_get_value (klass, P2P_PATH_KIND_RELAY)->value_nick, ==, "relay");
  g_assert_cmpint (g_enum_get_value_by_nick (klass, "simulated")->value, ==,
      P2P_PATH_KIND_SIMULATED);
  g_assert_cmpuint (klass->n_values, ==, 3);
}

/* ---- base class defaults through a subclass that overrides nothing ---- */

typedef struct {
  P2pPacketPath parent;
} TestPath;
typedef struct {
  P2pPacketPathClass parent_class;
} TestPathClass;

static GType test_path_get_type (void);
G_DEFINE_TYPE (TestPath, test_path, P2P_TYPE_PACKET_PATH)

static void
test_path_class_init (TestPathClass *klass)
{
}

static void
test_path_init (TestPath *self)
{
}

static void
test_base_defaults (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (P2pPacketPath) path = NULL;
  g_autoptr (P2pPacketPath) path2 = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainContext) got = NULL;
  Recorder r;

  /* default context: the thread default at construction */
  g_main_context_push_thread_default (ctx);
  path = g_object_new (test_path_get_type (), NULL);
  g_main_context_pop_thread_default (ctx);
  g_assert_true (p2p_packet_path_get_context (path) == ctx);
  g_object_get (path, "context", &got, NULL);
  g_assert_true (got == ctx);

  /* an explicit context wins */
  path2 = g_object_new (test_path_get_type (), "context", ctx, NULL);
  g_assert_true (p2p_packet_path_get_context (path2) == ctx);

  g_assert_false (p2p_packet_path_send (path, (const guint8 *) "x", 1, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_NETWORK);
  g_assert_cmpuint (p2p_packet_path_get_mtu (path), ==, 1200);
  g_assert_cmpint (p2p_packet_path_get_kind (path), ==, P2P_PATH_KIND_DIRECT);
  g_assert_cmpuint (p2p_packet_path_now (path), >, 0);
  g_assert_null (p2p_packet_path_describe_remote (path));
  p2p_packet_path_set_timer (path, 0);  /* no-ops without an implementation */
  p2p_packet_path_close (path);

  /* deliver / fire_timer reach the handlers; replacing them frees the old */
  recorder_init (&r);
  p2p_packet_path_deliver (path, (const guint8 *) "lost", 4);   /* no handler yet */
  p2p_packet_path_set_handlers (path, on_receive, on_timer, &r, on_destroy);
  p2p_packet_path_deliver (path, (const guint8 *) "hi", 2);
  p2p_packet_path_fire_timer (path);
  g_assert_cmpuint (r.received->len, ==, 1);
  assert_received (&r, 0, "hi");
  g_assert_cmpuint (r.timer_fires, ==, 1);
  g_assert_false (r.destroyed);
  p2p_packet_path_set_handlers (path, NULL, NULL, NULL, NULL);
  g_assert_true (r.destroyed);
  p2p_packet_path_deliver (path, (const guint8 *) "x", 1);
  g_assert_cmpuint (r.received->len, ==, 1);
  recorder_clear (&r);
}

/* logs each change as two entries: old kind, new kind */
static void
on_path_changed (P2pPacketPath *path, P2pPathKind old_kind, P2pPathKind new_kind,
    gpointer user_data)
{
  GArray *kinds = user_data;

  g_array_append_val (kinds, old_kind);
  g_array_append_val (kinds, new_kind);
}

/* ---- mem path ---- */

static void
test_mem_delivery (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (send_str (f->a, "one", &error));
  g_assert_true (send_str (f->a, "two", &error));
  g_assert_true (send_str (f->b, "back", &error));
  g_assert_no_error (error);
  /* never delivered inside send() */
  g_assert_cmpuint (f->rb.received->len, ==, 0);
  g_assert_cmpuint (f->ra.received->len, ==, 0);
  iterate_all (f->ctx);
  g_assert_cmpuint (f->rb.received->len, ==, 2);
  assert_received (&f->rb, 0, "one");
  assert_received (&f->rb, 1, "two");
  g_assert_cmpuint (f->ra.received->len, ==, 1);
  assert_received (&f->ra, 0, "back");
  g_assert_cmpuint (p2p_mem_path_get_sent (f->a), ==, 2);
  g_assert_cmpuint (p2p_mem_path_get_delivered (f->b), ==, 2);
  g_assert_cmpuint (p2p_mem_path_get_delivered (f->a), ==, 1);

  /* zero-length datagrams are datagrams too */
  g_assert_true (p2p_packet_path_send (P2P_PACKET_PATH (f->a), NULL, 0, &error));
  iterate_all (f->ctx);
  g_assert_cmpuint (f->rb.received->len, ==, 3);
  g_assert_cmpuint (g_bytes_get_size (f->rb.received->pdata[2]), ==, 0);

  g_assert_cmpint (p2p_packet_path_get_kind (P2P_PACKET_PATH (f->a)), ==,
      P2P_PATH_KIND_SIMULATED);
  {
    g_autofree char *ra = p2p_packet_path_describe_remote (P2P_PACKET_PATH (f->a));
    g_autofree char *rb = p2p_packet_path_describe_remote (P2P_PACKET_PATH (f->b));

    g_assert_cmpstr (ra, ==, "mem:b");
    g_assert_cmpstr (rb, ==, "mem:a");
  }
  g_assert_true (p2p_packet_path_get_context (P2P_PACKET_PATH (f->a)) == f->ctx);
}

static void
test_mem_ping_pong (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  /* each side echoes from inside its receive handler: no re-entrancy, the
   * exchange runs to its bound, alternating */
  f->ra.echo_to = P2P_PACKET_PATH (f->a);
  f->ra.echo_limit = 50;
  f->rb.echo_to = P2P_PACKET_PATH (f->b);
  f->rb.echo_limit = 50;
  g_assert_true (send_str (f->a, "ball", &error));
  iterate_all (f->ctx);
  g_assert_cmpuint (f->rb.received->len, ==, 50);
  g_assert_cmpuint (f->ra.received->len, ==, 49);
  assert_received (&f->ra, 48, "ball");
}

static void
test_mem_mtu (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *big = g_malloc0 (70000);

  g_assert_cmpuint (p2p_packet_path_get_mtu (P2P_PACKET_PATH (f->a)), ==, 1452);
  g_assert_true (p2p_packet_path_send (P2P_PACKET_PATH (f->a), big, 1452, &error));
  g_assert_false (p2p_packet_path_send (P2P_PACKET_PATH (f->a), big, 1453, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "1453 bytes exceeds the path MTU of 1452"));
  g_clear_error (&error);
  p2p_mem_path_set_mtu (f->a, 65000);
  g_assert_cmpuint (p2p_packet_path_get_mtu (P2P_PACKET_PATH (f->a)), ==, 65000);
  g_assert_true (p2p_packet_path_send (P2P_PACKET_PATH (f->a), big, 65000, &error));
  iterate_all (f->ctx);
  g_assert_cmpuint (f->rb.received->len, ==, 2);
  g_assert_cmpuint (g_bytes_get_size (f->rb.received->pdata[1]), ==, 65000);
}

static gboolean
drop_odd (P2pMemPath *from, const guint8 *data, gsize len, gpointer user_data)
{
  guint *n = user_data;

  return (*n)++ % 2 == 1;
}

static void
test_mem_drop (Fixture *f, gconstpointer data)
{
  guint counter = 0;
  char msg[8];

  p2p_mem_path_set_drop_func (f->a, drop_odd, &counter, NULL);
  for (int i = 0; i < 6; i++) {
    g_snprintf (msg, sizeof msg, "m%d", i);
    g_assert_true (send_str (f->a, msg, NULL));
  }
  iterate_all (f->ctx);
  g_assert_cmpuint (f->rb.received->len, ==, 3);
  assert_received (&f->rb, 0, "m0");
  assert_received (&f->rb, 1, "m2");
  assert_received (&f->rb, 2, "m4");
  g_assert_cmpuint (p2p_mem_path_get_sent (f->a), ==, 6);
  g_assert_cmpuint (p2p_mem_path_get_dropped (f->a), ==, 3);
  /* the other direction is not affected */
  g_assert_true (send_str (f->b, "x", NULL));
  iterate_all (f->ctx);
  g_assert_cmpuint (f->ra.received->len, ==, 1);
  p2p_mem_path_set_drop_func (f->a, NULL, NULL, NULL);
  g_assert_true (send_str (f->a, "m6", NULL));
  iterate_all (f->ctx);
  assert_received (&f->rb, 3, "m6");
}

static void
test_mem_virtual_timer (Fixture *f, gconstpointer data)
{
  P2pPacketPath *a = P2P_PACKET_PATH (f->a);
  guint64 t0 = p2p_packet_path_now (a);

  g_assert_cmpuint (t0, ==, P2P_MEM_PATH_VIRTUAL_START);
  g_assert_cmpuint (p2p_packet_path_now (P2P_PACKET_PATH (f->b)), ==, t0);
  p2p_packet_path_set_timer (a, t0 + 10000000);
  g_assert_cmpuint (p2p_mem_path_get_next_deadline (f->b), ==, t0 + 10000000);
  iterate_all (f->ctx);
  g_assert_cmpuint (f->ra.timer_fires, ==, 0);
  p2p_mem_path_advance (f->b, 9999999);     /* the clock is shared */
  iterate_all (f->ctx);
  g_assert_cmpuint (f->ra.timer_fires, ==, 0);
  p2p_mem_path_advance (f->a, 1);
  g_assert_cmpuint (f->ra.timer_fires, ==, 0);   /* not inside advance() */
  iterate_all (f->ctx);
  g_assert_cmpuint (f->ra.timer_fires, ==, 1);
  g_assert_cmpuint (f->ra.timer_fired_at, ==, t0 + 10000000);
  /* one-shot */
  p2p_mem_path_advance (f->a, 1000000000);
  iterate_all (f->ctx);
  g_assert_cmpuint (f->ra.timer_fires, ==, 1);
  g_assert_cmpuint (p2p_mem_path_get_next_deadline (f->a), ==, G_MAXUINT64);

  /* a deadline in the past fires as soon as the context runs */
  p2p_packet_path_set_timer (a, 5);
  iterate_all (f->ctx);
  g_assert_cmpuint (f->ra.timer_fires, ==, 2);

  /* re-arming replaces; G_MAXUINT64 disarms */
  p2p_packet_path_set_timer (a, p2p_packet_path_now (a) + 100);
  p2p_packet_path_set_timer (a, p2p_packet_path_now (a) + 200);
  p2p_mem_path_advance (f->a, 150);
  iterate_all (f->ctx);
  g_assert_cmpuint (f->ra.timer_fires, ==, 2);
  p2p_packet_path_set_timer (a, G_MAXUINT64);
  p2p_mem_path_advance (f->a, 1000);
  iterate_all (f->ctx);
  g_assert_cmpuint (f->ra.timer_fires, ==, 2);

  /* set_now: forward only */
  p2p_mem_path_set_now (f->a, p2p_packet_path_now (a) + 7);
  g_assert_cmpuint (p2p_packet_path_now (P2P_PACKET_PATH (f->b)), ==,
      t0 + 1010000000 + 1150 + 7);
}

static gboolean
have_n_received (gpointer user_data)
{
  Recorder *r = user_data;

  return r->received->len >= 3;
}

static gboolean
never (gpointer user_data)
{
  return FALSE;
}

static void
test_mem_latency_run_until (Fixture *f, gconstpointer data)
{
  guint64 t0 = p2p_packet_path_now (P2P_PACKET_PATH (f->a));

  p2p_mem_path_set_latency (f->a, 50000000);    /* 50 ms one way */
  g_assert_true (send_str (f->a, "p0", NULL));
  p2p_mem_path_advance (f->a, 10000000);
  g_assert_true (send_str (f->a, "p1", NULL));
  iterate_all (f->ctx);
  g_assert_cmpuint (f->rb.received->len, ==, 0);
  g_assert_cmpuint (p2p_mem_path_get_next_deadline (f->a), ==, t0 + 50000000);

  /* the timer of b at 55 ms interleaves with the deliveries at 50 and 60 */
  p2p_packet_path_set_timer (P2P_PACKET_PATH (f->b), t0 + 55000000);
  g_assert_true (send_str (f->a, "p2", NULL));     /* sent at 10 ms, due at 60 */
  g_assert_true (p2p_mem_path_run_until (f->a, have_n_received, &f->rb, 1000000000));
  g_assert_cmpuint (p2p_packet_path_now (P2P_PACKET_PATH (f->a)), ==, t0 + 60000000);
  assert_received (&f->rb, 0, "p0");
  assert_received (&f->rb, 1, "p1");
  assert_received (&f->rb, 2, "p2");
  g_assert_cmpuint (f->rb.timer_fires, ==, 1);
  g_assert_cmpuint (f->rb.timer_fired_at, ==, t0 + 55000000);

  /* nothing pending: returns FALSE at once without moving the clock */
  g_assert_false (p2p_mem_path_run_until (f->a, never, NULL, 1000000000));
  g_assert_cmpuint (p2p_packet_path_now (P2P_PACKET_PATH (f->a)), ==, t0 + 60000000);

  /* a deadline beyond the bound is not reached */
  p2p_packet_path_set_timer (P2P_PACKET_PATH (f->a), t0 + 5000000000);
  g_assert_false (p2p_mem_path_run_until (f->a, never, NULL, 1000000000));
  g_assert_cmpuint (f->ra.timer_fires, ==, 0);
  /* a timer callback re-arming itself keeps the run going */
  f->ra.rearm_at = t0 + 6000000000;
  g_assert_false (p2p_mem_path_run_until (f->a, never, NULL, 10000000000));
  g_assert_cmpuint (f->ra.timer_fires, ==, 2);
  g_assert_cmpuint (f->ra.timer_fired_at, ==, t0 + 6000000000);
}

static void
test_mem_close (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (send_str (f->a, "in flight", NULL));
  p2p_packet_path_set_timer (P2P_PACKET_PATH (f->b), 0);
  p2p_packet_path_close (P2P_PACKET_PATH (f->b));
  p2p_packet_path_close (P2P_PACKET_PATH (f->b));      /* idempotent */
  iterate_all (f->ctx);
  /* nothing is delivered to or fired on a closed path */
  g_assert_cmpuint (f->rb.received->len, ==, 0);
  g_assert_cmpuint (f->rb.timer_fires, ==, 0);
  /* sending from a closed path is an error; to one is loss */
  g_assert_false (send_str (f->b, "x", &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_CLOSED);
  g_assert_true (send_str (f->a, "void", NULL));
  iterate_all (f->ctx);
  g_assert_cmpuint (f->rb.received->len, ==, 0);
  p2p_packet_path_set_timer (P2P_PACKET_PATH (f->b), 0);
  iterate_all (f->ctx);
  g_assert_cmpuint (f->rb.timer_fires, ==, 0);
}

static void
test_mem_peer_gone (Fixture *f, gconstpointer data)
{
  /* the peer object is destroyed while a datagram is queued to it */
  g_assert_true (send_str (f->a, "x", NULL));
  g_clear_object (&f->b);
  g_assert_true (f->rb.destroyed);
  g_assert_true (send_str (f->a, "y", NULL));
  iterate_all (f->ctx);
  g_assert_cmpuint (f->rb.received->len, ==, 0);
  g_assert_cmpuint (p2p_mem_path_get_next_deadline (f->a), ==, G_MAXUINT64);
}

static void
test_mem_path_changed (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) kinds = g_array_new (FALSE, FALSE, sizeof (P2pPathKind));
  static const P2pPathKind want[] = {
    P2P_PATH_KIND_SIMULATED, P2P_PATH_KIND_RELAY,
    P2P_PATH_KIND_RELAY, P2P_PATH_KIND_DIRECT,
    P2P_PATH_KIND_DIRECT, P2P_PATH_KIND_DIRECT,
  };

  g_signal_connect (f->a, "path-changed", G_CALLBACK (on_path_changed), kinds);
  p2p_mem_path_set_kind (f->a, P2P_PATH_KIND_RELAY);
  p2p_mem_path_set_kind (f->a, P2P_PATH_KIND_RELAY);     /* no change, no signal */
  p2p_mem_path_set_kind (f->a, P2P_PATH_KIND_DIRECT);
  /* a route change of the same kind (a direct path moved to another
   * address) is announced too, with equal kinds */
  p2p_packet_path_announce_change (P2P_PACKET_PATH (f->a), P2P_PATH_KIND_DIRECT);
  g_assert_cmpuint (kinds->len, ==, G_N_ELEMENTS (want));
  for (guint i = 0; i < G_N_ELEMENTS (want); i++)
    g_assert_cmpint (g_array_index (kinds, P2pPathKind, i), ==, want[i]);
  g_assert_cmpint (p2p_packet_path_get_kind (P2P_PACKET_PATH (f->a)), ==,
      P2P_PATH_KIND_DIRECT);
  /* the other end's path did not change */
  g_assert_cmpint (p2p_packet_path_get_kind (P2P_PACKET_PATH (f->b)), ==,
      P2P_PATH_KIND_SIMULATED);
}

static void
test_mem_explicit_context (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (GMainContext) other = g_main_context_new ();
  P2pMemPath *a = NULL, *b = NULL;
  Recorder rb;

  /* the pair lives on @ctx, not on the thread default (@other) */
  g_main_context_push_thread_default (other);
  p2p_mem_path_new_pair (ctx, &a, &b);
  recorder_init (&rb);
  install (b, &rb);
  g_assert_true (send_str (a, "ctx", NULL));
  iterate_all (other);
  g_assert_cmpuint (rb.received->len, ==, 0);
  iterate_all (ctx);
  g_assert_cmpuint (rb.received->len, ==, 1);
  g_object_unref (a);
  g_object_unref (b);
  g_assert_true (rb.destroyed);
  recorder_clear (&rb);
  g_main_context_pop_thread_default (other);
}

static gboolean
timer_fired (gpointer user_data)
{
  return ((Recorder *) user_data)->timer_fires > 0;
}

static void
test_mem_realtime (Fixture *f, gconstpointer data)
{
  P2pPacketPath *a = P2P_PACKET_PATH (f->a);
  guint64 t0 = p2p_packet_path_now (a);
  guint64 mono = (guint64) g_get_monotonic_time () * 1000;

  /* real monotonic nanoseconds */
  g_assert_cmpuint (t0, <=, mono);
  g_assert_cmpuint (mono - t0, <, 1000000000);
  /* advance/set_now do not apply to a realtime pair */
  p2p_mem_path_advance (f->a, 1000000000000);
  g_assert_cmpuint (p2p_packet_path_now (a), <, t0 + 1000000000000);

  /* a 20 ms timer fires at or after its deadline */
  p2p_packet_path_set_timer (a, t0 + 20000000);
  g_assert_true (p2p_mem_path_run_until (f->a, timer_fired, &f->ra, 5000000000));
  g_assert_cmpuint (f->ra.timer_fired_at, >=, t0 + 20000000);

  /* delivery with latency: the datagram waits for real time to pass */
  p2p_mem_path_set_latency (f->a, 10000000);
  t0 = p2p_packet_path_now (a);
  g_assert_true (send_str (f->a, "later", NULL));
  g_assert_false (p2p_mem_path_run_until (f->b, have_n_received, &f->rb, 20000000));
  g_assert_cmpuint (f->rb.received->len, ==, 1);
  g_assert_cmpuint (p2p_packet_path_now (a), >=, t0 + 10000000);
  assert_received (&f->rb, 0, "later");

  /* the bound is honoured */
  t0 = p2p_packet_path_now (a);
  g_assert_false (p2p_mem_path_run_until (f->a, never, NULL, 30000000));
  g_assert_cmpuint (p2p_packet_path_now (a), >=, t0 + 30000000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/packet-path/kind", test_path_kind);
  g_test_add_func ("/packet-path/base-defaults", test_base_defaults);
#define ADD(name, fn, rt) g_test_add ("/packet-path/mem/" name, Fixture, GINT_TO_POINTER (rt), \
      fixture_setup, fn, fixture_teardown)
  ADD ("delivery", test_mem_delivery, 0);
  ADD ("ping-pong", test_mem_ping_pong, 0);
  ADD ("mtu", test_mem_mtu, 0);
  ADD ("drop", test_mem_drop, 0);
  ADD ("virtual-timer", test_mem_virtual_timer, 0);
  ADD ("latency-run-until", test_mem_latency_run_until, 0);
  ADD ("close", test_mem_close, 0);
  ADD ("peer-gone", test_mem_peer_gone, 0);
  ADD ("path-changed", test_mem_path_changed, 0);
  ADD ("realtime", test_mem_realtime, 1);
#undef ADD
  g_test_add_func ("/packet-path/mem/explicit-context", test_mem_explicit_context);
  return g_test_run ();
}
