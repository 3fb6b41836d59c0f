/* fuzz-config.c: libFuzzer target for p2p_config_new_from_environ: the input
 * lines form a fake environment ("NAME=VALUE" per line). Never crashes; a
 * failure is INVALID_ARGUMENT naming a variable; a success copies cleanly.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include <p2p/p2p.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_auto (GStrv) envp = g_strsplit (text, "\n", 64);
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pConfig) config = NULL;
  g_autoptr (P2pConfig) copy = NULL;

  config = p2p_config_new_from_environ ((const char *const *) envp, &err);
  if (config == NULL) {
    if (err == NULL || err->domain != P2P_ERROR || err->code != P2P_ERROR_INVALID_ARGUMENT
        || (strstr (err->message, "P2P_") == NULL))
      abort ();
    return 0;
  }
  if (config->max_connections < 1 || config->listen_port > 65535
      || !(config->sim_packet_loss >= 0.0 && config->sim_packet_loss <= 1.0)
      || !(config->sim_failure_rate >= 0.0 && config->sim_failure_rate <= 1.0))
    abort ();
  copy = p2p_config_copy (config);
  if (g_strcmp0 (copy->identity_file, config->identity_file) != 0)
    abort ();
  return 0;
}
