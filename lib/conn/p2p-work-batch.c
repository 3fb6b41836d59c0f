/* p2p-work-batch.c: hand the work of many objects to a network thread at
 * once.
 *
 * A fan-out queues each media buffer to every receiver's connection; each
 * connection then needs its network thread to move the message into its
 * session and write packets. One idle source and one g_main_context_wakeup()
 * per connection per buffer made the wake-ups, not the sending, the
 * fan-out's main cost. Here a context has at most one pending source, which
 * runs every object scheduled on it so far; an object scheduled while that
 * source runs goes into a new one. A thread may hold its work back
 * (p2p_work_batch_hold, public as p2p_connection_batch_begin) while it
 * queues to many connections and hand it over at the release: one wake-up
 * for the whole burst.
 *
 * The pending batches are in one process-wide table keyed by context; a
 * batch holds a reference on its context, so a key is never a freed
 * context's address reused.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-work-batch.h"

#include <string.h>

typedef struct {
  GObject *object;              /* ref */
  P2pWorkFunc func;
  GMainContext *ctx;            /* kept alive by @object */
} WorkItem;

typedef struct {
  GMainContext *ctx;            /* ref */
  GArray *items;                /* WorkItem (object refs) */
} WorkBatch;

typedef struct {
  guint depth;
  GArray *held;                 /* WorkItem */
} WorkHold;

G_LOCK_DEFINE_STATIC (batches);
static GHashTable *batches;     /* GMainContext * -> WorkBatch *, source not run yet */

static void
work_item_clear (gpointer data)
{
  WorkItem *it = data;

  g_clear_object (&it->object);
}

/* Under the lock: @b is no longer where new work for its context goes. */
static void
forget_batch_locked (WorkBatch *b)
{
  if (batches && g_hash_table_lookup (batches, b->ctx) == b)
    g_hash_table_remove (batches, b->ctx);
}

static void
work_batch_free (gpointer data)
{
  WorkBatch *b = data;

  /* A source destroyed without running (its context went away) must not
   * stay the context's pending batch. */
  G_LOCK (batches);
  forget_batch_locked (b);
  G_UNLOCK (batches);
  g_array_unref (b->items);
  g_main_context_unref (b->ctx);
  g_free (b);
}

static gboolean
work_batch_run (gpointer data)
{
  WorkBatch *b = data;
  guint i;

  /* Close the batch first: what is scheduled from now on (also by the
   * functions below) goes into a new source. */
  G_LOCK (batches);
  forget_batch_locked (b);
  G_UNLOCK (batches);
  for (i = 0; i < b->items->len; i++) {
    WorkItem *it = &g_array_index (b->items, WorkItem, i);

    it->func (it->object);
  }
  return G_SOURCE_REMOVE;
}

/* Moves @items (cleared: their references pass to the batches) into the
 * pending batch of each one's context, attaching a source for a context
 * that had none. */
static void
hand_over (WorkItem *items, guint n)
{
  guint i;

  G_LOCK (batches);
  if (batches == NULL)
    batches = g_hash_table_new (NULL, NULL);
  for (i = 0; i < n; i++) {
    WorkBatch *b = g_hash_table_lookup (batches, items[i].ctx);

    if (b == NULL) {
      GSource *src = g_idle_source_new ();

      b = g_new0 (WorkBatch, 1);
      b->ctx = g_main_context_ref (items[i].ctx);
      b->items = g_array_new (FALSE, FALSE, sizeof (WorkItem));
      g_array_set_clear_func (b->items, work_item_clear);
      g_hash_table_insert (batches, b->ctx, b);
      g_source_set_priority (src, G_PRIORITY_DEFAULT);
      g_source_set_static_name (src, "p2p work");
      g_source_set_callback (src, work_batch_run, b, work_batch_free);
      /* under the lock: the source cannot run (and close the batch)
       * before its items are in */
      g_source_attach (src, b->ctx);
      g_source_unref (src);
    }
    g_array_append_val (b->items, items[i]);
    memset (&items[i], 0, sizeof (WorkItem));
  }
  G_UNLOCK (batches);
}

static void
work_hold_free (gpointer data)
{
  WorkHold *h = data;

  if (h->held)
    g_array_unref (h->held);
  g_free (h);
}

static GPrivate hold_key = G_PRIVATE_INIT (work_hold_free);

static WorkHold *
get_hold (void)
{
  WorkHold *h = g_private_get (&hold_key);

  if (h == NULL) {
    h = g_new0 (WorkHold, 1);
    g_private_set (&hold_key, h);
  }
  return h;
}

void
p2p_work_batch_schedule (GMainContext *ctx, P2pWorkFunc func, GObject *object)
{
  WorkHold *h = g_private_get (&hold_key);
  WorkItem it = { g_object_ref (object), func, ctx };

  if (h && h->depth > 0) {
    if (h->held == NULL) {
      h->held = g_array_new (FALSE, FALSE, sizeof (WorkItem));
      g_array_set_clear_func (h->held, work_item_clear);
    }
    g_array_append_val (h->held, it);
    return;
  }
  hand_over (&it, 1);
}

void
p2p_work_batch_hold (void)
{
  get_hold ()->depth++;
}

void
p2p_work_batch_hand_over_held (void)
{
  WorkHold *h = g_private_get (&hold_key);

  if (h == NULL || h->held == NULL || h->held->len == 0)
    return;
  hand_over ((WorkItem *) h->held->data, h->held->len);
  g_array_set_size (h->held, 0);
}

void
p2p_work_batch_release (void)
{
  WorkHold *h = g_private_get (&hold_key);

  g_return_if_fail (h != NULL && h->depth > 0);
  if (--h->depth == 0)
    p2p_work_batch_hand_over_held ();
}
