/* fuzz-ticket.c: libFuzzer target for p2p_peer_info_parse (peer ID, ticket,
 * ID@HOST:PORT): never crashes, and whatever parses survives a round trip
 * through its ticket unchanged. The input bytes are also used as a raw
 * ticket record (with a valid CRC-32 appended), so the record parser is
 * explored beyond the checksum.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include <p2p/p2p.h>
#include "p2p-base32.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static gboolean
same_info (const P2pPeerInfo *a, const P2pPeerInfo *b)
{
  const char *const *x = p2p_peer_info_get_addresses (a);
  const char *const *y = p2p_peer_info_get_addresses (b);

  if (!p2p_peer_id_equal (p2p_peer_info_get_peer_id (a), p2p_peer_info_get_peer_id (b)))
    return FALSE;
  if (g_strcmp0 (p2p_peer_info_get_relay (a), p2p_peer_info_get_relay (b)) != 0)
    return FALSE;
  return g_strv_equal ((const char *const *) x, (const char *const *) y);
}

static void
check_text (const char *text)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pPeerInfo) info = NULL;
  g_autoptr (P2pPeerInfo) again = NULL;
  g_autofree char *ticket = NULL;
  g_autofree char *ticket2 = NULL;

  info = p2p_peer_info_parse (text, &err);
  if (info == NULL) {
    if (err == NULL || err->domain != P2P_ERROR || err->code != P2P_ERROR_INVALID_ARGUMENT
        || err->message[0] == '\0')
      abort ();
    return;
  }
  ticket = p2p_peer_info_to_ticket (info);
  again = p2p_peer_info_parse (ticket, NULL);
  if (again == NULL || !same_info (info, again))
    abort ();
  ticket2 = p2p_peer_info_to_ticket (again);
  if (strcmp (ticket, ticket2) != 0)
    abort ();
  /* every address hint re-parses */
  for (const char *const *a = p2p_peer_info_get_addresses (info); *a; a++) {
    if (!p2p_parse_host_port (*a, NULL, NULL, NULL))
      abort ();
  }
}

/* Wraps @data as a ticket record: p2p1 + base32 (data || CRC-32). */
static char *
ticket_from_record (const guint8 *data, size_t size)
{
  g_autofree guint8 *rec = g_malloc (size + 4);
  guint32 crc = p2p_crc32 (data, size);
  g_autofree char *b32 = NULL;

  memcpy (rec, data, size);
  rec[size] = crc >> 24;
  rec[size + 1] = (crc >> 16) & 0xff;
  rec[size + 2] = (crc >> 8) & 0xff;
  rec[size + 3] = crc & 0xff;
  b32 = p2p_base32_encode (rec, size + 4);
  return g_strconcat ("p2p1", b32, NULL);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autofree char *ticket = NULL;

  check_text (text);
  if (size <= 8192) {
    ticket = ticket_from_record (data, size);
    check_text (ticket);
  }
  return 0;
}
