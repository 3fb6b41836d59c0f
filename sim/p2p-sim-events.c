/* p2p-sim-events.c: the time of a P2pSimNetwork: the event heap
 * (deliveries and timers, ordered by virtual time then sequence number),
 * the FOLLOW clock mode's source, socket timers, and the run loops that
 * pop and run events (delivery checks partitions, crashes and bindings).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-network-private.h"

#define MAX_DISPATCH_PER_STEP 100000

/* ---------------------------------------------------------------- heap */

static gboolean
ev_before (const SimEvent *a, const SimEvent *b)
{
  return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void
heap_push (P2pSimNetwork *self, SimEvent *ev)
{
  GArray *h = self->heap;
  guint i;

  ev->seq = self->next_seq++;
  g_array_append_val (h, *ev);
  i = h->len - 1;
  while (i > 0) {
    guint parent = (i - 1) / 2;
    SimEvent *pi = &g_array_index (h, SimEvent, parent);
    SimEvent *ci = &g_array_index (h, SimEvent, i);
    SimEvent tmp;

    if (!ev_before (ci, pi))
      break;
    tmp = *pi;
    *pi = *ci;
    *ci = tmp;
    i = parent;
  }
}

static void
heap_pop (P2pSimNetwork *self, SimEvent *out)
{
  GArray *h = self->heap;
  guint i = 0;

  *out = g_array_index (h, SimEvent, 0);
  g_array_index (h, SimEvent, 0) = g_array_index (h, SimEvent, h->len - 1);
  g_array_set_size (h, h->len - 1);
  for (;;) {
    guint l = 2 * i + 1, r = l + 1, m = i;
    SimEvent tmp;

    if (l < h->len && ev_before (&g_array_index (h, SimEvent, l), &g_array_index (h, SimEvent, m)))
      m = l;
    if (r < h->len && ev_before (&g_array_index (h, SimEvent, r), &g_array_index (h, SimEvent, m)))
      m = r;
    if (m == i)
      break;
    tmp = g_array_index (h, SimEvent, m);
    g_array_index (h, SimEvent, m) = g_array_index (h, SimEvent, i);
    g_array_index (h, SimEvent, i) = tmp;
    i = m;
  }
}

void
p2p_sim_event_clear (gpointer p)
{
  SimEvent *ev = p;

  g_clear_pointer (&ev->data, g_bytes_unref);
}

/* ---------------------------------------------------------------- follow mode */

static void reschedule_follow (P2pSimNetwork *self);

guint64
p2p_sim_monotonic_ns (gpointer user_data)
{
  return (guint64) g_get_monotonic_time () * 1000;
}

guint64
p2p_sim_network_clock_now (P2pSimNetwork *self)
{
  if (self->mode == P2P_SIM_CLOCK_FOLLOW) {
    guint64 ext = self->clock_func (self->clock_data);

    if (ext > self->now)
      self->now = ext;
  }
  return self->now;
}

/* The source holds the network weakly, and a strong reference while it
 * dispatches: the last reference may be dropped on another thread (or by a
 * callback of this dispatch) while events run, and g_source_destroy() does
 * not wait for a dispatch in progress (it ran on a freed network,
 * ~1 run in 6 of unit/sim-network). */
typedef struct {
  GSource source;
  GWeakRef net;
} FollowSource;

static gboolean
follow_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  g_autoptr (P2pSimNetwork) self = g_weak_ref_get (&((FollowSource *) source)->net);
  guint64 now;

  if (self == NULL)
    return G_SOURCE_REMOVE;
  g_rec_mutex_lock (&self->lock);
  now = self->mode == P2P_SIM_CLOCK_FOLLOW ? self->clock_func (self->clock_data) : self->now;
  g_rec_mutex_unlock (&self->lock);
  p2p_sim_network_process_due (self, now);
  return G_SOURCE_CONTINUE;
}

static void
follow_finalize (GSource *source)
{
  g_weak_ref_clear (&((FollowSource *) source)->net);
}

static GSourceFuncs follow_funcs = {
  .dispatch = follow_dispatch,
  .finalize = follow_finalize,
};

/* Sets the follow source's ready time to the next event (lock held). */
static void
reschedule_follow (P2pSimNetwork *self)
{
  guint64 next, ext;
  gint64 ready;

  if (self->follow_source == NULL)
    return;
  if (self->heap->len == 0) {
    g_source_set_ready_time (self->follow_source, -1);
    return;
  }
  next = g_array_index (self->heap, SimEvent, 0).time;
  ext = self->clock_func (self->clock_data);
  ready = g_get_monotonic_time ();
  if (next > ext)
    ready += (gint64) ((next - ext + 999) / 1000);
  g_source_set_ready_time (self->follow_source, ready);
}

void
p2p_sim_network_push_event (P2pSimNetwork *self, SimEvent *ev)
{
  heap_push (self, ev);
  if (self->follow_source && g_array_index (self->heap, SimEvent, 0).seq == ev->seq)
    reschedule_follow (self);
}

void
p2p_sim_network_stop_follow (P2pSimNetwork *self)
{
  if (self->follow_source) {
    g_source_destroy (self->follow_source);
    g_clear_pointer (&self->follow_source, g_source_unref);
  }
}

/* ---------------------------------------------------------------- timers */

guint
p2p_sim_network_add_timer (P2pSimNetwork *self, guint node, guint16 port, guint64 deadline_ns,
    P2pSimTimerFunc func, gpointer user_data)
{
  SimTimer *t;
  SimEvent ev = { 0 };
  guint id;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  g_return_val_if_fail (func != NULL, 0);
  g_rec_mutex_lock (&self->lock);
  id = self->next_timer_id++;
  if (self->next_timer_id == 0)
    self->next_timer_id = 1;
  t = g_new0 (SimTimer, 1);
  t->owner = ep_key (node, port);
  t->func = func;
  t->user_data = user_data;
  g_hash_table_insert (self->timers, GUINT_TO_POINTER (id), t);
  ev.kind = EV_TIMER;
  ev.timer_id = id;
  ev.src = t->owner;
  ev.time = MAX (deadline_ns, self->now);
  p2p_sim_network_push_event (self, &ev);
  g_rec_mutex_unlock (&self->lock);
  return id;
}

void
p2p_sim_network_cancel_timer (P2pSimNetwork *self, guint id)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  /* the heap entry stays and is skipped when it comes up */
  g_hash_table_remove (self->timers, GUINT_TO_POINTER (id));
  g_rec_mutex_unlock (&self->lock);
}

/* ---------------------------------------------------------------- event loop */

/* Pops and runs the first event if it is due at or before @limit (lock is
 * taken inside; callbacks run without it). FALSE when nothing is due. */
static gboolean
run_one (P2pSimNetwork *self, guint64 limit)
{
  SimEvent ev;
  P2pSimRecvFunc rfunc = NULL;
  P2pSimTimerFunc tfunc = NULL;
  gpointer udata = NULL;
  g_autoptr (GSocketAddress) from = NULL;

  g_rec_mutex_lock (&self->lock);
  if (self->heap->len == 0 || g_array_index (self->heap, SimEvent, 0).time > limit) {
    g_rec_mutex_unlock (&self->lock);
    return FALSE;
  }
  heap_pop (self, &ev);
  if (ev.time > self->now)
    self->now = ev.time;

  if (ev.kind == EV_TIMER) {
    SimTimer *t = g_hash_table_lookup (self->timers, GUINT_TO_POINTER (ev.timer_id));

    if (t) {
      SimBinding *b = g_hash_table_lookup (self->bindings, GUINT_TO_POINTER (t->owner));
      SimNode *n = p2p_sim_network_get_node (self, ep_node (t->owner));

      if (!(n && n->crashed) && !(b && b->dead)) {
        tfunc = t->func;
        udata = t->user_data;
        self->stats.timers_fired++;
        p2p_sim_network_trace (self, "timer", t->owner, 0, 0);
      }
      g_hash_table_remove (self->timers, GUINT_TO_POINTER (ev.timer_id));
    }
  } else {
    gsize len = g_bytes_get_size (ev.data);
    SimNode *dn = p2p_sim_network_get_node (self, ep_node (ev.dst));
    SimBinding *b = g_hash_table_lookup (self->bindings, GUINT_TO_POINTER (ev.dst));

    if (p2p_sim_network_partitioned (self, ep_node (ev.src), ep_node (ev.dst))) {
      p2p_sim_network_drop (self, "drop(partition)", &self->stats.dropped_partition, ev.src,
          ev.dst, len);
    } else if ((dn && dn->crashed) || (b && b->dead)) {
      p2p_sim_network_drop (self, "drop(crash)", &self->stats.dropped_crash, ev.src, ev.dst, len);
    } else if (b == NULL) {
      p2p_sim_network_drop (self, "drop(unbound)", &self->stats.dropped_unbound, ev.src, ev.dst,
          len);
    } else {
      self->stats.packets_delivered++;
      self->stats.bytes_delivered += len;
      p2p_sim_network_trace (self, "deliver", ev.src, ev.dst, len);
      rfunc = b->func;
      udata = b->user_data;
      from = p2p_sim_network_make_address (self, ep_node (ev.src), ep_port (ev.src));
    }
  }
  g_rec_mutex_unlock (&self->lock);

  if (tfunc)
    tfunc (udata);
  if (rfunc)
    rfunc (g_bytes_get_data (ev.data, NULL), g_bytes_get_size (ev.data), from, udata);
  p2p_sim_event_clear (&ev);
  return TRUE;
}

static gboolean
dispatch_context (P2pSimNetwork *self)
{
  guint n = 0;

  while (n < MAX_DISPATCH_PER_STEP && g_main_context_iteration (self->context, FALSE))
    n++;
  return n > 0;
}

/* The MANUAL run loop: events up to @limit; stops early when @cond holds
 * (returns TRUE) or when nothing is pending (*idle = TRUE). */
static gboolean
run_loop_owned (P2pSimNetwork *self, guint64 limit, GSourceFunc cond, gpointer data,
    gboolean *idle)
{
  *idle = FALSE;
  for (;;) {
    dispatch_context (self);
    if (cond && cond (data))
      return TRUE;
    if (!run_one (self, limit)) {
      gboolean empty;

      if (dispatch_context (self))
        continue;
      g_rec_mutex_lock (&self->lock);
      empty = self->heap->len == 0;
      g_rec_mutex_unlock (&self->lock);
      *idle = empty;
      return cond ? cond (data) : FALSE;
    }
  }
}

/* Holds the context for the whole run, so that @cond runs as its owner:
 * blocking connection calls made there fail with WOULD_BLOCK instead of
 * waiting, which keeps a MANUAL run on one thread and deterministic. */
static gboolean
run_loop (P2pSimNetwork *self, guint64 limit, GSourceFunc cond, gpointer data, gboolean *idle)
{
  gboolean owned = g_main_context_acquire (self->context);
  gboolean ret = run_loop_owned (self, limit, cond, data, idle);

  if (owned)
    g_main_context_release (self->context);
  return ret;
}

static guint64
limit_after (P2pSimNetwork *self, guint64 ns)
{
  guint64 now = p2p_sim_network_now (self);

  return ns > G_MAXUINT64 - now ? G_MAXUINT64 : now + ns;
}

static void
set_now_at_least (P2pSimNetwork *self, guint64 t)
{
  g_rec_mutex_lock (&self->lock);
  if (t > self->now && t != G_MAXUINT64)
    self->now = t;
  g_rec_mutex_unlock (&self->lock);
}

void
p2p_sim_network_run_until (P2pSimNetwork *self, guint64 t)
{
  gboolean idle;

  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  run_loop (self, t, NULL, NULL, &idle);
  set_now_at_least (self, t);
}

void
p2p_sim_network_advance (P2pSimNetwork *self, guint64 ns)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  p2p_sim_network_run_until (self, limit_after (self, ns));
}

gboolean
p2p_sim_network_run_until_idle (P2pSimNetwork *self, guint64 max_ns)
{
  guint64 limit;
  gboolean idle;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), FALSE);
  limit = limit_after (self, max_ns);
  run_loop (self, limit, NULL, NULL, &idle);
  if (!idle)
    set_now_at_least (self, limit);
  return idle;
}

gboolean
p2p_sim_network_run_until_cond (P2pSimNetwork *self, GSourceFunc cond, gpointer data,
    guint64 max_ns)
{
  guint64 limit;
  gboolean idle, ret;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), FALSE);
  g_return_val_if_fail (cond != NULL, FALSE);
  limit = limit_after (self, max_ns);
  ret = run_loop (self, limit, cond, data, &idle);
  if (!ret && !idle)
    set_now_at_least (self, limit);
  return ret;
}

guint64
p2p_sim_network_now (P2pSimNetwork *self)
{
  guint64 now;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  g_rec_mutex_lock (&self->lock);
  now = p2p_sim_network_clock_now (self);
  g_rec_mutex_unlock (&self->lock);
  return now;
}

guint64
p2p_sim_network_get_next_deadline (P2pSimNetwork *self)
{
  guint64 t;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), G_MAXUINT64);
  g_rec_mutex_lock (&self->lock);
  t = self->heap->len ? g_array_index (self->heap, SimEvent, 0).time : G_MAXUINT64;
  g_rec_mutex_unlock (&self->lock);
  return t;
}

guint
p2p_sim_network_process_due (P2pSimNetwork *self, guint64 now)
{
  guint n = 0;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  set_now_at_least (self, now);
  while (run_one (self, now))
    n++;
  g_rec_mutex_lock (&self->lock);
  reschedule_follow (self);
  g_rec_mutex_unlock (&self->lock);
  return n;
}

P2pSimClockMode
p2p_sim_network_get_clock_mode (P2pSimNetwork *self)
{
  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), P2P_SIM_CLOCK_MANUAL);
  return self->mode;
}

void
p2p_sim_network_set_clock_func (P2pSimNetwork *self, P2pSimClockFunc func, gpointer user_data,
    GDestroyNotify notify)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  if (self->clock_notify)
    self->clock_notify (self->clock_data);
  self->clock_func = func ? func : p2p_sim_monotonic_ns;
  self->clock_data = func ? user_data : NULL;
  self->clock_notify = func ? notify : NULL;
  self->mode = P2P_SIM_CLOCK_FOLLOW;
  if (self->follow_source == NULL && self->context) {
    self->follow_source = g_source_new (&follow_funcs, sizeof (FollowSource));
    g_weak_ref_init (&((FollowSource *) self->follow_source)->net, self);
    g_source_set_static_name (self->follow_source, "p2p-sim-network");
    g_source_attach (self->follow_source, self->context);
  }
  p2p_sim_network_clock_now (self);
  reschedule_follow (self);
  g_rec_mutex_unlock (&self->lock);
}

void
p2p_sim_network_set_manual (P2pSimNetwork *self)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  p2p_sim_network_stop_follow (self);
  self->mode = P2P_SIM_CLOCK_MANUAL;
  g_rec_mutex_unlock (&self->lock);
}
