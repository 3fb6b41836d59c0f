/* p2p-ngtcp2-mem.c: an ngtcp2_mem that lists its blocks (why:
 * p2p-ngtcp2-mem.h). Each block has a header before it that links it into
 * a doubly linked list, aligned as malloc aligns; malloc, not g_malloc,
 * so that ngtcp2 sees a failed allocation as NGTCP2_ERR_NOMEM as it
 * expects.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-ngtcp2-mem.h"

#include <stddef.h>
#include <stdlib.h>

/* 16 bytes on x86_64: two pointers, aligned as malloc aligns */
struct _P2pNgMemBlock {
  _Alignas (max_align_t) P2pNgMemBlock *prev;
  P2pNgMemBlock *next;
};

static gint reclaimed;          /* atomic */

static void
link_block (P2pNgMem *m, P2pNgMemBlock *b)
{
  b->prev = NULL;
  b->next = m->blocks;
  if (m->blocks)
    m->blocks->prev = b;
  m->blocks = b;
}

static void
unlink_block (P2pNgMem *m, P2pNgMemBlock *b)
{
  if (b->prev)
    b->prev->next = b->next;
  else
    m->blocks = b->next;
  if (b->next)
    b->next->prev = b->prev;
}

static void *
mem_malloc (size_t size, void *user_data)
{
  P2pNgMemBlock *b;

  if (size > G_MAXSIZE - sizeof *b || (b = malloc (sizeof *b + size)) == NULL)
    return NULL;
  link_block (user_data, b);
  return b + 1;
}

static void *
mem_calloc (size_t nmemb, size_t size, void *user_data)
{
  P2pNgMemBlock *b;

  if (size != 0 && nmemb > (G_MAXSIZE - sizeof *b) / size)
    return NULL;
  if ((b = calloc (1, sizeof *b + nmemb * size)) == NULL)
    return NULL;
  link_block (user_data, b);
  return b + 1;
}

static void
mem_free (void *ptr, void *user_data)
{
  P2pNgMemBlock *b;

  if (ptr == NULL)
    return;
  b = (P2pNgMemBlock *) ptr - 1;
  unlink_block (user_data, b);
  free (b);
}

static void *
mem_realloc (void *ptr, size_t size, void *user_data)
{
  P2pNgMemBlock *b, *nb;

  if (ptr == NULL)
    return mem_malloc (size, user_data);
  if (size > G_MAXSIZE - sizeof *b)
    return NULL;
  b = (P2pNgMemBlock *) ptr - 1;
  unlink_block (user_data, b);
  nb = realloc (b, sizeof *b + size);
  if (nb == NULL) {
    link_block (user_data, b);  /* the old block stays valid */
    return NULL;
  }
  link_block (user_data, nb);
  return nb + 1;
}

void
p2p_ng_mem_init (P2pNgMem *m)
{
  m->mem.user_data = m;
  m->mem.malloc = mem_malloc;
  m->mem.free = mem_free;
  m->mem.calloc = mem_calloc;
  m->mem.realloc = mem_realloc;
  m->blocks = NULL;
}

guint
p2p_ng_mem_clear (P2pNgMem *m)
{
  guint n = 0;

  while (m->blocks) {
    P2pNgMemBlock *b = m->blocks;

    m->blocks = b->next;
    free (b);
    n++;
  }
  if (n > 0) {
    g_debug ("freed %u blocks ngtcp2 still held after its connection was freed"
        " (ngtcp2 before 1.6.0 loses some STREAM frame chains)", n);
    g_atomic_int_add (&reclaimed, (gint) n);
  }
  return n;
}

guint
p2p_ng_mem_reclaimed (void)
{
  return (guint) g_atomic_int_get (&reclaimed);
}
