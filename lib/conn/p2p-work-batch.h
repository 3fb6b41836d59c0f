/* p2p-work-batch.h (internal): the work of many objects for one
 * GMainContext (a provider's network thread), handed over with one idle
 * source and one wake-up per context instead of one per object. See the .c
 * file.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef void (*P2pWorkFunc) (GObject *object);

/* Any thread: runs @func (@object) once, soon, on @ctx at default priority
 * (after the sources already pending there in the same iteration). Takes a
 * reference on @object until then; @object must keep @ctx alive while it
 * lives (a connection holds its network context). The caller makes sure an
 * object is scheduled at most once at a time (a "scheduled" flag cleared by
 * @func). */
void p2p_work_batch_schedule (GMainContext *ctx, P2pWorkFunc func, GObject *object);

/* Any thread: between hold and release (nested, per thread), work scheduled
 * by this thread is kept back and handed over at the outermost release, at
 * once for all the objects it names: one source per context. */
void p2p_work_batch_hold (void);
void p2p_work_batch_release (void);
/* Hands over what this thread's batch holds now, the batch going on: a
 * thread about to block on a connection must not hold the very work that
 * would wake it. */
void p2p_work_batch_hand_over_held (void);

G_END_DECLS
