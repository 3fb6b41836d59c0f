/* p2p-ice-module.c: the ICE layer's table (p2p-ice-module.h), and the
 * entry point libp2p-ice.so exports for the provider's loader.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-ice-module.h"

#include <gmodule.h>

static const P2pIceModule table = {
  .size = sizeof (P2pIceModule),
  .service_new = p2p_ice_service_new,
  .service_free = p2p_ice_service_free,
  .connect_async = p2p_ice_service_connect_async,
  .connect_finish = p2p_ice_service_connect_finish,
  .start_accepting = p2p_ice_service_start_accepting,
  .stop_accepting = p2p_ice_service_stop_accepting,
  .register_async = p2p_ice_service_register_async,
  .register_finish = p2p_ice_service_register_finish,
  .get_counters = p2p_ice_service_get_counters,
  .add_signaling = p2p_ice_service_add_signaling,
  .signaling_new_external = p2p_signaling_new_external,
  .signaling_receive = p2p_signaling_receive,
  .signaling_get_rejected_count = p2p_signaling_get_rejected_count,
};

const P2pIceModule *
p2p_ice_module_table (void)
{
  return &table;
}

G_MODULE_EXPORT const P2pIceModule *p2p_ice_module_entry (void);

G_MODULE_EXPORT const P2pIceModule *
p2p_ice_module_entry (void)
{
  return &table;
}
