/* p2p-file-protocol-private.h (internal): the codec of one LIST entry
 * (P2P_FILE_ENTRY_FIXED_SIZE bytes before its name, layout in
 * p2p-file-protocol.h and docs/protocol.md "File requests"), written in
 * p2p-file-protocol.c with the other codecs: the service encodes the
 * entries (p2p-file-answer.c), the client decodes them
 * (p2p-file-client.c). No I/O.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-file-protocol.h"

G_BEGIN_DECLS

/* Writes an entry's fixed part: @kind (0 file, 1 directory, 2 symbolic
 * link, 3 other), @name_len, @size and @mtime_ns; the reserved byte is 0. */
void p2p_file_entry_encode (guint8 out[P2P_FILE_ENTRY_FIXED_SIZE], guint8 kind, guint16 name_len,
    guint64 size, guint64 mtime_ns);
/* Reads an entry's fixed part (any reserved byte is ignored). */
void p2p_file_entry_decode (const guint8 e[P2P_FILE_ENTRY_FIXED_SIZE], guint8 *kind,
    gsize *name_len, guint64 *size, guint64 *mtime_ns);

G_END_DECLS
