/* fuzz-ice-candidate.c: libFuzzer target for the peer's ICE description as
 * p2p_ice_path_set_remote_description (lib/ice/p2p-ice-candidates.c) takes
 * it from an offer or answer: credentials and "a=candidate:..." lines, parsed by
 * libnice's nice_agent_parse_remote_candidate_sdp after our own limits.
 * Input: line 1 the ufrag, line 2 the password, then one candidate per
 * line; the first byte's low bit selects the relay-only policy. Every input
 * is accepted or refused with an error, never a crash, and no more
 * candidates are kept than lines given (at most 64).
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdint.h>
#include <string.h>

#include "p2p/p2p.h"
#include "p2p-ice-path.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size > 64 * 1024)
    return 0;     /* the payload (and the rendezvous message) is smaller */
  g_autofree char *text = g_strndup ((const char *) data, size);   /* stops at a NUL, as C strings do */
  g_auto (GStrv) lines = g_strsplit (text, "\n", 70);
  guint n = g_strv_length (lines);

  g_autoptr (P2pConfig) config = p2p_config_new ();
  GError *error = NULL;
  if (size > 0 && (data[0] & 1)) {
    config->relay_policy = P2P_RELAY_POLICY_RELAY_ONLY;
    /* relay-only needs a TURN server; a reserved address nothing dials */
    g_strfreev (config->relay_servers);
    config->relay_servers = g_strsplit ("turn://u:p@192.0.2.1:3478", ",", -1);
  }
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (P2pIcePath) path = p2p_ice_path_new (ctx, config, FALSE, &error);
  if (!path) {
    g_clear_error (&error);
    return 0;
  }
  const char *ufrag = n > 0 ? lines[0] : NULL;
  const char *pwd = n > 1 ? lines[1] : NULL;
  const char *const *cands = n > 2 ? (const char *const *) lines + 2 : NULL;
  if (p2p_ice_path_set_remote_description (path, ufrag, pwd, cands, &error)) {
    if (error || p2p_ice_path_get_n_remote_candidates (path) > MIN (n, 64u))
      __builtin_trap ();
  } else if (error == NULL) {
    __builtin_trap ();
  }
  g_clear_error (&error);
  p2p_packet_path_close (P2P_PACKET_PATH (path));
  g_clear_object (&path);
  /* the agent's close finishes in idle callbacks on ctx that hold the
   * agent, which holds ctx: run them, or both leak (an eventfd each) */
  while (g_main_context_iteration (ctx, FALSE))
    ;
  return 0;
}
