/* p2p-host-share.c: the fair share of a service's slots by host
 * (p2p-host-share.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-host-share.h"

const char *
p2p_host_share_gives_way (GHashTable *per_host, const char *host, guint limit, guint *most,
    guint *share)
{
  guint mine, hosts, fair, top = 0;
  const char *biggest = NULL;
  GHashTableIter iter;
  gpointer key, value;

  g_return_val_if_fail (per_host != NULL, NULL);
  g_return_val_if_fail (host != NULL, NULL);

  mine = GPOINTER_TO_UINT (g_hash_table_lookup (per_host, host));
  hosts = g_hash_table_size (per_host) + (mine == 0 ? 1 : 0);
  fair = MAX (limit / MAX (hosts, 1), 1);
  g_hash_table_iter_init (&iter, per_host);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (GPOINTER_TO_UINT (value) > top) {
      top = GPOINTER_TO_UINT (value);
      biggest = key;
    }
  if (most)
    *most = top;
  if (share)
    *share = fair;
  if (biggest == NULL || top <= fair || top < mine + 2)
    return NULL;
  return biggest;
}
