/* p2p-dht-module.c: the DHT source's table (p2p-dht-module.h), and the
 * entry point libp2p-dht.so exports for the provider's loader.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-dht-module.h"

#include <gmodule.h>

static const P2pDhtModule table = {
  .size = sizeof (P2pDhtModule),
  .dht_new = p2p_dht_new,
  .dht_free = p2p_dht_free,
  .announce = p2p_dht_announce,
  .lookup_start = p2p_dht_lookup_start,
  .lookup_free = p2p_dht_lookup_free,
  .send_signal = p2p_dht_send_signal,
  .inbox_start = p2p_dht_inbox_start,
};

const P2pDhtModule *
p2p_dht_module_table (void)
{
  return &table;
}

G_MODULE_EXPORT const P2pDhtModule *p2p_dht_module_entry (void);

G_MODULE_EXPORT const P2pDhtModule *
p2p_dht_module_entry (void)
{
  return &table;
}
