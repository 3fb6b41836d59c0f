/* p2p-capability.c: the capability registry (docs/protocol.md §3.1): the
 * name of each P2pCapability bit a HANDSHAKE advertises, and back.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "p2p/p2p-frame.h"

/* The capability registry (docs/protocol.md §3.1): bit, name. */
static const struct {
  guint64 bit;
  const char *name;
} capability_names[] = {
  { P2P_CAPABILITY_FILES, "files" },
  { P2P_CAPABILITY_STREAM_POSITION, "stream-position" },
  { P2P_CAPABILITY_DATAGRAM_EPOCH, "datagram-epoch" },
};

/**
 * p2p_capability_to_name:
 * @capability: one #P2pCapability bit
 *
 * Returns: (nullable): its registry name, NULL if unknown.
 */
const char *
p2p_capability_to_name (guint64 capability)
{
  for (gsize i = 0; i < G_N_ELEMENTS (capability_names); i++)
    if (capability_names[i].bit == capability)
      return capability_names[i].name;
  return NULL;
}

/**
 * p2p_capability_from_name:
 * @name: a registry name ("files")
 *
 * Returns: its #P2pCapability bit, 0 if @name is not in the registry.
 */
guint64
p2p_capability_from_name (const char *name)
{
  g_return_val_if_fail (name != NULL, 0);

  for (gsize i = 0; i < G_N_ELEMENTS (capability_names); i++)
    if (strcmp (capability_names[i].name, name) == 0)
      return capability_names[i].bit;
  return 0;
}
