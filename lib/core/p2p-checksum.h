/* p2p-checksum.h: the checksums of the peer ID and ticket text forms:
 * CRC-16/CCITT-FALSE and CRC-32 (IEEE). Not installed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xffff, no reflection, no xorout.
 * Check value of "123456789" is 0x29b1. */
guint16 p2p_crc16_ccitt_false (const guint8 *data, gsize len);

/* CRC-32 (IEEE 802.3, as zlib): reflected poly 0xedb88320, init and xorout
 * 0xffffffff. Check value of "123456789" is 0xcbf43926. */
guint32 p2p_crc32 (const guint8 *data, gsize len);

G_END_DECLS
