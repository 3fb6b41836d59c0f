/* p2p-checksum.c: the two small checksums of the text forms
 * (docs/peer-id.md): CRC-16/CCITT-FALSE for peer IDs and CRC-32 for
 * tickets. Bitwise, table-free: the inputs are tiny.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-checksum.h"

guint16
p2p_crc16_ccitt_false (const guint8 *data, gsize len)
{
  guint16 crc = 0xffff;

  for (gsize i = 0; i < len; i++) {
    crc ^= (guint16) (data[i] << 8);
    for (int b = 0; b < 8; b++)
      crc = (crc & 0x8000) ? (guint16) ((crc << 1) ^ 0x1021) : (guint16) (crc << 1);
  }
  return crc;
}

guint32
p2p_crc32 (const guint8 *data, gsize len)
{
  guint32 crc = 0xffffffffu;

  for (gsize i = 0; i < len; i++) {
    crc ^= data[i];
    for (int b = 0; b < 8; b++)
      crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}
