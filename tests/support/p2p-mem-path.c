/* p2p-mem-path.c: an in-memory pair of packet paths for unit tests, on a
 * virtual clock shared by the pair or on real monotonic time.
 *
 * Each path has one "pump" GSource on the context whose ready time is the
 * earliest of: its armed timer and the delivery time of the first datagram
 * queued towards it. On a virtual clock a due item makes the pump ready
 * immediately and a future one waits for the clock to move; on real time
 * the ready time is the deadline itself (microsecond precision).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-mem-path.h"
#include "p2p/p2p-error.h"

typedef struct {
  gint ref_count;
  gboolean realtime;
  guint64 now;                  /* virtual clock, ns */
  P2pMemPath *paths[2];         /* not owned: each clears its slot */
} MemLink;

typedef struct {
  guint64 deliver_at;
  GBytes *data;
} Pending;

struct _P2pMemPath {
  P2pPacketPath parent;

  MemLink *link;
  guint index;
  gboolean closed;
  gsize mtu;
  guint64 latency;
  P2pPathKind kind;
  GQueue inbound;               /* Pending*, towards this path, in order */
  guint64 timer_deadline;       /* G_MAXUINT64 = disarmed */
  GSource *pump;

  P2pMemPathDropFunc drop_func;
  gpointer drop_data;
  GDestroyNotify drop_notify;

  guint64 n_sent, n_dropped, n_delivered;
};

G_DEFINE_FINAL_TYPE (P2pMemPath, p2p_mem_path, P2P_TYPE_PACKET_PATH)

static void
pending_free (Pending *p)
{
  g_bytes_unref (p->data);
  g_free (p);
}

static MemLink *
mem_link_ref (MemLink *link)
{
  g_atomic_int_inc (&link->ref_count);
  return link;
}

static void
mem_link_unref (MemLink *link)
{
  if (g_atomic_int_dec_and_test (&link->ref_count))
    g_free (link);
}

static guint64
mem_now (P2pMemPath *self)
{
  if (self->link->realtime)
    return (guint64) g_get_monotonic_time () * 1000;
  return self->link->now;
}

static P2pMemPath *
mem_peer (P2pMemPath *self)
{
  return self->link->paths[1 - self->index];
}

/* Earliest deadline of this path's pump (path time), G_MAXUINT64 if none. */
static guint64
pump_deadline (P2pMemPath *self)
{
  guint64 d = self->timer_deadline;
  Pending *head = g_queue_peek_head (&self->inbound);

  if (head && head->deliver_at < d)
    d = head->deliver_at;
  return d;
}

static void
pump_update (P2pMemPath *self)
{
  guint64 d;

  if (self->pump == NULL)
    return;
  d = self->closed ? G_MAXUINT64 : pump_deadline (self);
  if (d == G_MAXUINT64) {
    g_source_set_ready_time (self->pump, -1);
  } else if (!self->link->realtime) {
    g_source_set_ready_time (self->pump, d <= self->link->now ? 0 : -1);
  } else {
    /* Round up so the owner's now() is at or past the deadline. */
    gint64 us = (gint64) MIN (d / 1000 + (d % 1000 ? 1 : 0), (guint64) G_MAXINT64);

    g_source_set_ready_time (self->pump, us);
  }
}

static gboolean
pump_dispatch_cb (gpointer user_data)
{
  P2pMemPath *self = g_object_ref (P2P_MEM_PATH (user_data));
  guint64 now = mem_now (self);
  guint budget = g_queue_get_length (&self->inbound);
  Pending *head;

  /* Deliver what is due (not what the callbacks queue meanwhile). */
  while (budget-- > 0 && !self->closed
      && (head = g_queue_peek_head (&self->inbound)) != NULL && head->deliver_at <= now) {
    gsize len;
    const guint8 *data;

    g_queue_pop_head (&self->inbound);
    data = g_bytes_get_data (head->data, &len);
    self->n_delivered++;
    p2p_packet_path_deliver (P2P_PACKET_PATH (self), data, len);
    pending_free (head);
  }
  if (!self->closed && self->timer_deadline <= now) {
    self->timer_deadline = G_MAXUINT64;
    p2p_packet_path_fire_timer (P2P_PACKET_PATH (self));
  }
  pump_update (self);
  g_object_unref (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
pump_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  return callback (user_data);
}

static GSourceFuncs pump_funcs = {
  .dispatch = pump_dispatch,
};

/* ---- P2pPacketPath vfuncs ---- */

static gboolean
mem_send (P2pPacketPath *path, const guint8 *data, gsize len, GError **error)
{
  P2pMemPath *self = P2P_MEM_PATH (path);
  P2pMemPath *peer;
  Pending *p;

  if (self->closed) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "in-memory path is closed");
    return FALSE;
  }
  if (len > self->mtu) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "datagram of %" G_GSIZE_FORMAT " bytes exceeds the path MTU of %" G_GSIZE_FORMAT,
        len, self->mtu);
    return FALSE;
  }
  self->n_sent++;
  if (self->drop_func && self->drop_func (self, data, len, self->drop_data)) {
    self->n_dropped++;
    return TRUE;
  }
  peer = mem_peer (self);
  if (peer == NULL || peer->closed)
    return TRUE;                /* into the void: datagram loss */
  p = g_new0 (Pending, 1);
  p->deliver_at = mem_now (self) + self->latency;
  p->data = g_bytes_new (data, len);
  g_queue_push_tail (&peer->inbound, p);
  pump_update (peer);
  return TRUE;
}

static gsize
mem_get_mtu (P2pPacketPath *path)
{
  return P2P_MEM_PATH (path)->mtu;
}

static P2pPathKind
mem_get_kind (P2pPacketPath *path)
{
  return P2P_MEM_PATH (path)->kind;
}

static guint64
mem_path_now (P2pPacketPath *path)
{
  return mem_now (P2P_MEM_PATH (path));
}

static void
mem_set_timer (P2pPacketPath *path, guint64 deadline_ns)
{
  P2pMemPath *self = P2P_MEM_PATH (path);

  if (self->closed)
    return;
  self->timer_deadline = deadline_ns;
  pump_update (self);
}

static void
mem_close (P2pPacketPath *path)
{
  P2pMemPath *self = P2P_MEM_PATH (path);

  if (self->closed)
    return;
  self->closed = TRUE;
  self->timer_deadline = G_MAXUINT64;
  g_queue_clear_full (&self->inbound, (GDestroyNotify) pending_free);
  pump_update (self);
}

static char *
mem_describe_remote (P2pPacketPath *path)
{
  P2pMemPath *self = P2P_MEM_PATH (path);

  return g_strdup_printf ("mem:%c", self->index == 0 ? 'b' : 'a');
}

/* ---- GObject ---- */

static void
p2p_mem_path_dispose (GObject *object)
{
  P2pMemPath *self = P2P_MEM_PATH (object);

  self->closed = TRUE;
  if (self->pump) {
    g_source_destroy (self->pump);
    g_clear_pointer (&self->pump, g_source_unref);
  }
  g_queue_clear_full (&self->inbound, (GDestroyNotify) pending_free);
  p2p_mem_path_set_drop_func (self, NULL, NULL, NULL);
  G_OBJECT_CLASS (p2p_mem_path_parent_class)->dispose (object);
}

static void
p2p_mem_path_finalize (GObject *object)
{
  P2pMemPath *self = P2P_MEM_PATH (object);

  g_queue_clear_full (&self->inbound, (GDestroyNotify) pending_free);
  if (self->link) {
    self->link->paths[self->index] = NULL;
    mem_link_unref (self->link);
  }
  G_OBJECT_CLASS (p2p_mem_path_parent_class)->finalize (object);
}

static void
p2p_mem_path_class_init (P2pMemPathClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  P2pPacketPathClass *path_class = P2P_PACKET_PATH_CLASS (klass);

  gobject_class->dispose = p2p_mem_path_dispose;
  gobject_class->finalize = p2p_mem_path_finalize;

  path_class->send = mem_send;
  path_class->get_mtu = mem_get_mtu;
  path_class->get_kind = mem_get_kind;
  path_class->now = mem_path_now;
  path_class->set_timer = mem_set_timer;
  path_class->close = mem_close;
  path_class->describe_remote = mem_describe_remote;
}

static void
p2p_mem_path_init (P2pMemPath *self)
{
  self->mtu = P2P_MEM_PATH_DEFAULT_MTU;
  self->kind = P2P_PATH_KIND_SIMULATED;
  self->timer_deadline = G_MAXUINT64;
  g_queue_init (&self->inbound);
}

static P2pMemPath *
mem_path_new (GMainContext *ctx, MemLink *link, guint index)
{
  P2pMemPath *self = g_object_new (P2P_TYPE_MEM_PATH, "context", ctx, NULL);

  self->link = mem_link_ref (link);
  self->index = index;
  link->paths[index] = self;
  self->pump = g_source_new (&pump_funcs, sizeof (GSource));
  g_source_set_name (self->pump, "p2p-mem-path pump");
  g_source_set_callback (self->pump, pump_dispatch_cb, self, NULL);
  g_source_set_ready_time (self->pump, -1);
  g_source_attach (self->pump, p2p_packet_path_get_context (P2P_PACKET_PATH (self)));
  return self;
}

static void
new_pair (GMainContext *ctx, gboolean realtime, P2pMemPath **a, P2pMemPath **b)
{
  MemLink *link;

  g_return_if_fail (a != NULL && b != NULL);

  link = g_new0 (MemLink, 1);
  link->ref_count = 1;
  link->realtime = realtime;
  link->now = P2P_MEM_PATH_VIRTUAL_START;
  *a = mem_path_new (ctx, link, 0);
  *b = mem_path_new (ctx, link, 1);
  mem_link_unref (link);
}

void
p2p_mem_path_new_pair (GMainContext *ctx, P2pMemPath **a, P2pMemPath **b)
{
  new_pair (ctx, FALSE, a, b);
}

void
p2p_mem_path_new_pair_realtime (GMainContext *ctx, P2pMemPath **a, P2pMemPath **b)
{
  new_pair (ctx, TRUE, a, b);
}

/* ---- clock ---- */

void
p2p_mem_path_set_now (P2pMemPath *self, guint64 now_ns)
{
  guint i;

  g_return_if_fail (P2P_IS_MEM_PATH (self));

  if (self->link->realtime)
    return;
  g_return_if_fail (now_ns >= self->link->now);
  self->link->now = now_ns;
  for (i = 0; i < 2; i++)
    if (self->link->paths[i])
      pump_update (self->link->paths[i]);
}

void
p2p_mem_path_advance (P2pMemPath *self, guint64 ns)
{
  g_return_if_fail (P2P_IS_MEM_PATH (self));

  if (self->link->realtime)
    return;
  p2p_mem_path_set_now (self, ns > G_MAXUINT64 - self->link->now ? G_MAXUINT64 - 1
      : self->link->now + ns);
}

guint64
p2p_mem_path_get_next_deadline (P2pMemPath *self)
{
  guint64 d = G_MAXUINT64;
  guint i;

  g_return_val_if_fail (P2P_IS_MEM_PATH (self), G_MAXUINT64);

  for (i = 0; i < 2; i++) {
    P2pMemPath *p = self->link->paths[i];

    if (p && !p->closed)
      d = MIN (d, pump_deadline (p));
  }
  return d;
}

static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_REMOVE;
}

gboolean
p2p_mem_path_run_until (P2pMemPath *self, P2pMemPathCondition cond, gpointer user_data,
    guint64 max_ns)
{
  GMainContext *ctx;
  guint64 start, end;
  g_autoptr (P2pMemPath) keep = NULL;

  g_return_val_if_fail (P2P_IS_MEM_PATH (self), FALSE);
  g_return_val_if_fail (cond != NULL, FALSE);

  keep = g_object_ref (self);
  ctx = p2p_packet_path_get_context (P2P_PACKET_PATH (self));
  start = mem_now (self);
  end = max_ns > G_MAXUINT64 - start ? G_MAXUINT64 - 1 : start + max_ns;

  if (!self->link->realtime) {
    for (;;) {
      guint64 next;

      while (g_main_context_iteration (ctx, FALSE))
        if (cond (user_data))
          return TRUE;
      if (cond (user_data))
        return TRUE;
      next = p2p_mem_path_get_next_deadline (self);
      if (next == G_MAXUINT64 || next > end)
        return FALSE;
      if (next > self->link->now)
        p2p_mem_path_set_now (self, next);
    }
  }

  while (!cond (user_data)) {
    guint64 now = mem_now (self);
    g_autoptr (GSource) wake = NULL;

    if (now >= end)
      return FALSE;
    /* Wake up at the end even if nothing else happens. */
    wake = g_timeout_source_new ((guint) MIN ((end - now + 999999) / 1000000, G_MAXUINT));
    g_source_set_callback (wake, wake_cb, NULL, NULL);
    g_source_attach (wake, ctx);
    g_main_context_iteration (ctx, TRUE);
    g_source_destroy (wake);
  }
  return TRUE;
}

/* ---- configuration ---- */

void
p2p_mem_path_set_mtu (P2pMemPath *self, gsize mtu)
{
  g_return_if_fail (P2P_IS_MEM_PATH (self));
  g_return_if_fail (mtu > 0);

  self->mtu = mtu;
}

void
p2p_mem_path_set_latency (P2pMemPath *self, guint64 latency_ns)
{
  g_return_if_fail (P2P_IS_MEM_PATH (self));

  self->latency = latency_ns;
}

void
p2p_mem_path_set_kind (P2pMemPath *self, P2pPathKind kind)
{
  g_return_if_fail (P2P_IS_MEM_PATH (self));

  P2pPathKind old = self->kind;

  if (old == kind)
    return;
  self->kind = kind;
  p2p_packet_path_announce_change (P2P_PACKET_PATH (self), old);
}

void
p2p_mem_path_set_drop_func (P2pMemPath *self, P2pMemPathDropFunc func, gpointer user_data,
    GDestroyNotify notify)
{
  GDestroyNotify old_notify;
  gpointer old_data;

  g_return_if_fail (P2P_IS_MEM_PATH (self));

  old_notify = self->drop_notify;
  old_data = self->drop_data;
  self->drop_func = func;
  self->drop_data = user_data;
  self->drop_notify = notify;
  if (old_notify)
    old_notify (old_data);
}

guint64
p2p_mem_path_get_sent (P2pMemPath *self)
{
  g_return_val_if_fail (P2P_IS_MEM_PATH (self), 0);
  return self->n_sent;
}

guint64
p2p_mem_path_get_dropped (P2pMemPath *self)
{
  g_return_val_if_fail (P2P_IS_MEM_PATH (self), 0);
  return self->n_dropped;
}

guint64
p2p_mem_path_get_delivered (P2pMemPath *self)
{
  g_return_val_if_fail (P2P_IS_MEM_PATH (self), 0);
  return self->n_delivered;
}
