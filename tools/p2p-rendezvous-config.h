/* p2p-rendezvous-config.h: p2p-rendezvous's limits and config file: the
 * defaults, the range and help of each limit (a --option and a config key
 * of the same name), and the [rendezvous] group of the config file.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/resource.h>

#define RDV_DEFAULT_PORT 8443
#define RDV_DEFAULT_MAX_CONNECTIONS 1024
#define RDV_DEFAULT_MAX_PER_IP 16
#define RDV_DEFAULT_REGISTRATION_TIMEOUT_S 10
#define RDV_DEFAULT_IDLE_TIMEOUT_S 90
#define RDV_DEFAULT_MAX_QUEUED_BYTES (256 * 1024)
#define RDV_DEFAULT_MAX_RATE 100   /* messages per second per connection */

typedef struct {
  guint max_connections;
  guint max_per_ip;
  guint max_message_size;
  guint registration_timeout_s;
  guint idle_timeout_s;
  guint max_queued_bytes;
  guint max_rate;
} RdvLimits;

typedef struct {
  const char *key;              /* --KEY and the config key */
  gint64 min, max;
  gsize offset;                 /* of the guint in RdvLimits */
  const char *help;
} RdvLimitKey;

#define RDV_N_LIMITS 7
extern const RdvLimitKey rdv_limit_keys[RDV_N_LIMITS];

/* Sets limit @i from @text; errors name @origin ("--" or "FILE: "), the
 * key and the range. */
gboolean rdv_set_limit (RdvLimits *lim, guint i, const char *origin, const char *text,
    GError **error);
/* Reads the [rendezvous] group of @path: port, host, origin and the limits. */
gboolean rdv_load_config (const char *path, char **host, char **origin_url, int *port,
    RdvLimits *lim, GError **error);
/* Raises the soft open-file limit to the hard one; returns the limit. */
rlim_t rdv_raise_nofile (void);
