/* fuzz-signaling.c: libFuzzer target for the rendezvous message parser
 * (lib/ice/p2p-signaling.c): arbitrary bytes must parse or fail cleanly, never
 * crash, hang or read out of bounds; whatever parses must survive the
 * signature checks and a rebuild.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdint.h>
#include <string.h>

#include "p2p/p2p.h"
#include "p2p-signaling.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  P2pSignalingMessage msg;
  GError *error = NULL;
  guint8 nonce[P2P_SIGNALING_NONCE_LEN] = { 0 };

  /* The parser takes a length and needs no NUL terminator: pass the bytes
   * as they are (a copy, so ASan catches reads past the end). */
  guint8 *copy = g_memdup2 (data, size);
  if (p2p_signaling_message_parse ((const char *) copy, size, &msg, &error)) {
    (void) !p2p_signaling_verify_register (&msg, nonce, "ws://127.0.0.1:8443");
    (void) !p2p_signaling_verify_register (&msg, nonce, msg.origin);
    (void) !p2p_signaling_verify_signal (&msg);
    if (msg.type == P2P_SIGNALING_MSG_SIGNAL) {
      char *again = p2p_signaling_build_signal_raw (&msg.from, &msg.to, msg.payload, msg.signature);
      P2pSignalingMessage m2;
      if (!p2p_signaling_message_parse (again, strlen (again), &m2, NULL) ||
          strcmp (m2.payload, msg.payload) != 0)
        __builtin_trap ();
      p2p_signaling_message_clear (&m2);
      g_free (again);
    }
  } else if (error == NULL) {
    __builtin_trap (); /* a failure must say why */
  }
  p2p_signaling_message_clear (&msg);
  g_clear_error (&error);
  g_free (copy);
  return 0;
}
