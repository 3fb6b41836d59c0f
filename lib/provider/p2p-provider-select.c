/* p2p-provider-select.c: p2p_provider_new_from_config(), the one place that
 * knows every P2pProvider implementation: "quic" -> P2pQuicProvider, "sim" ->
 * P2pSimProvider on the process-wide simulated network "default" (created
 * from the config's SIMULATOR_P2P_* fields on first use).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-provider.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-quic-provider.h"
#include "p2p/p2p-sim.h"

#define P2P_SIM_DEFAULT_NETWORK "default"

/**
 * p2p_provider_new_from_config:
 * @identity: (nullable): this peer's identity (NULL = a fresh ephemeral one)
 * @config: (nullable): the configuration (NULL = defaults); its
 *   implementation field selects the provider
 * @error: %P2P_ERROR_INVALID_ARGUMENT (bad SIMULATOR_P2P_* value or unknown
 *   implementation)
 *
 * Creates the provider selected by @config: a #P2pQuicProvider for
 * %P2P_IMPLEMENTATION_QUIC, a #P2pSimProvider on the process-wide simulated
 * network "default" for %P2P_IMPLEMENTATION_SIM.
 *
 * Returns: (transfer full) (nullable): the provider, NULL on error.
 */
P2pProvider *
p2p_provider_new_from_config (P2pIdentity *identity, const P2pConfig *config, GError **error)
{
  g_autoptr (P2pConfig) defaults = NULL;

  g_return_val_if_fail (identity == NULL || P2P_IS_IDENTITY (identity), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (config == NULL)
    config = defaults = p2p_config_new ();

  switch (config->implementation) {
    case P2P_IMPLEMENTATION_QUIC:
      return P2P_PROVIDER (p2p_quic_provider_new (identity, config));
    case P2P_IMPLEMENTATION_SIM: {
      g_autoptr (P2pSimNetwork) net =
          p2p_sim_network_get_named_full (P2P_SIM_DEFAULT_NETWORK, config, error);

      if (net == NULL)
        return NULL;
      return p2p_sim_provider_new (net, identity, config);
    }
  }
  g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
      "unknown P2P implementation %d: expected quic or sim", (int) config->implementation);
  return NULL;
}
