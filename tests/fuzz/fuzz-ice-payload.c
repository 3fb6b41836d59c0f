/* fuzz-ice-payload.c: libFuzzer target for the ICE offer/answer payload
 * parser (p2p_ice_payload_parse in lib/ice/p2p-ice-payload.c, through the
 * strict JSON guard of lib/ice/p2p-json.c): arbitrary bytes parse or fail with
 * an error, never crash, recurse deeply, hang or read out of bounds; what
 * parses satisfies the documented shape.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdint.h>
#include <string.h>

#include "p2p/p2p.h"
#include "p2p-ice-connect.h"
#include "p2p-json.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  P2pIcePayload p;
  GError *error = NULL;
  /* A copy without terminator, so that ASan catches reads past the end. */
  guint8 *copy = g_memdup2 (data, size);

  gboolean ok = p2p_ice_payload_parse ((const char *) copy, size, &p, &error);
  if (ok) {
    if (error || !p.kind || !p.session || strlen (p.session) > 64 || !p.candidates ||
        g_strv_length (p.candidates) > 65 ||
        (p.nonce && strlen (p.nonce) != P2P_ICE_NONCE_HEX_LEN))
      __builtin_trap ();
    /* Accepted text is strict JSON. */
    if (!p2p_json_check ((const char *) copy, size, "input", NULL))
      __builtin_trap ();
  } else if (error == NULL || (error->code != P2P_ERROR_PROTOCOL &&
      error->code != P2P_ERROR_LIMIT_EXCEEDED)) {
    __builtin_trap (); /* a failure must say why, as a protocol error */
  }
  p2p_ice_payload_clear (&p);
  g_clear_error (&error);
  g_free (copy);
  return 0;
}
