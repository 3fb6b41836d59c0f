/* p2p-ngtcp2-mem.h (internal): the allocator one QUIC connection gives
 * ngtcp2. It keeps every block ngtcp2 allocates on a list, so that what
 * ngtcp2 still holds after ngtcp2_conn_del() is freed with the session
 * instead of leaking.
 *
 * Why: ngtcp2 before 1.6.0 (Debian 12 has 0.12.1) returns a STREAM frame
 * chain of more than NGTCP2_FRAME_CHAIN_STREAM_DATACNT_THRES (3 in 0.12.1)
 * buffers, which it allocated on its own, to its object pool once an
 * acknowledgement or a retransmission lowered the count (ngtcp2 issue 1244,
 * fixed by commit af11b29 in 1.6.0). The pool reuses such a block while the
 * connection lives, but frees its memory by chunks, not by object, so the
 * block was lost when the connection was freed: about 600 bytes a time,
 * seen as LeakSanitizer reports of a receiver flooding p2psink with small
 * messages. The list costs two pointers per block and no lock (a
 * connection is used by one thread at a time).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <ngtcp2/ngtcp2.h>

G_BEGIN_DECLS

typedef struct _P2pNgMemBlock P2pNgMemBlock;

typedef struct {
  ngtcp2_mem mem;               /* what ngtcp2_conn_*_new() is given */
  P2pNgMemBlock *blocks;        /* every block not freed yet */
} P2pNgMem;

void p2p_ng_mem_init (P2pNgMem *m);
/* Frees the blocks still on the list: call after ngtcp2_conn_del().
 * Returns how many there were. */
guint p2p_ng_mem_clear (P2pNgMem *m);
/* Blocks freed by p2p_ng_mem_clear() in this process so far (tests). */
guint p2p_ng_mem_reclaimed (void);

G_END_DECLS
