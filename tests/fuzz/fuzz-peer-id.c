/* fuzz-peer-id.c: libFuzzer target for p2p_peer_id_parse: never crashes,
 * and whatever parses formats back to the same ID (lower case of the input).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include <p2p/p2p.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (GError) err = NULL;
  P2pPeerId id, again;
  char buf[P2P_PEER_ID_TEXT_LEN + 1];

  if (!p2p_peer_id_parse (text, &id, &err)) {
    if (err == NULL || err->domain != P2P_ERROR || err->code != P2P_ERROR_INVALID_ARGUMENT
        || err->message[0] == '\0')
      abort ();
    return 0;
  }
  if (err != NULL)
    abort ();
  p2p_peer_id_format (&id, buf);
  if (g_ascii_strcasecmp (buf, text) != 0)
    abort ();
  if (!p2p_peer_id_parse (buf, &again, NULL) || !p2p_peer_id_equal (&id, &again))
    abort ();
  return 0;
}
