/* p2p-rendezvous-config.c: p2p-rendezvous's limits (defaults, ranges, the
 * --options and config keys of the same names) and its config file.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-rendezvous-config.h"

const RdvLimitKey rdv_limit_keys[RDV_N_LIMITS] = {
  { "max-connections", 1, 1000000, G_STRUCT_OFFSET (RdvLimits, max_connections),
    "most TCP connections at once, counted before the WebSocket upgrade (default 1024)" },
  { "max-connections-per-ip", 0, 1000000, G_STRUCT_OFFSET (RdvLimits, max_per_ip),
    "most connections (so registrations) from one address, IPv6 per /64 (default 16, "
    "0 = no cap, e.g. behind a reverse proxy)" },
  { "max-message-size", 256, 16 * 1024 * 1024, G_STRUCT_OFFSET (RdvLimits, max_message_size),
    "largest accepted message in bytes (default 65536)" },
  { "registration-timeout", 1, 3600, G_STRUCT_OFFSET (RdvLimits, registration_timeout_s),
    "seconds from the TCP connection to a registration, upgrade included (default 10)" },
  { "idle-timeout", 3, 86400, G_STRUCT_OFFSET (RdvLimits, idle_timeout_s),
    "seconds a registered client may send neither message nor pong (pinged every third "
    "of it) or leave its socket full; then it is unregistered (default 90)" },
  { "max-queued-bytes", 1024, 1024 * 1024 * 1024, G_STRUCT_OFFSET (RdvLimits, max_queued_bytes),
    "bytes waiting to be sent to one client; beyond, it is disconnected (default 262144)" },
  { "max-rate", 1, 1000000, G_STRUCT_OFFSET (RdvLimits, max_rate),
    "messages per second per connection; more are dropped (default 100)" },
};

gboolean
rdv_set_limit (RdvLimits *lim, guint i, const char *origin, const char *text, GError **error)
{
  gint64 n = 0;
  if (!g_ascii_string_to_signed (text, 10, rdv_limit_keys[i].min, rdv_limit_keys[i].max, &n, NULL)) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s%s=%s: expected an integer %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, origin,
        rdv_limit_keys[i].key, text, rdv_limit_keys[i].min, rdv_limit_keys[i].max);
    return FALSE;
  }
  G_STRUCT_MEMBER (guint, lim, rdv_limit_keys[i].offset) = (guint) n;
  return TRUE;
}

gboolean
rdv_load_config (const char *path, char **host, char **origin_url, int *port, RdvLimits *lim,
    GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, error))
    return FALSE;
  const char *group = "rendezvous";
  if (!g_key_file_has_group (kf, group)) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
        "%s: missing the [rendezvous] group", path);
    return FALSE;
  }
  g_autofree char *origin = g_strconcat (path, ": ", NULL);
  for (guint i = 0; i < RDV_N_LIMITS; i++) {
    g_autofree char *v = g_key_file_get_string (kf, group, rdv_limit_keys[i].key, NULL);
    if (v && !rdv_set_limit (lim, i, origin, g_strstrip (v), error))
      return FALSE;
  }
  g_autofree char *p = g_key_file_get_string (kf, group, "port", NULL);
  gint64 n = 0;
  if (p && !g_ascii_string_to_signed (g_strstrip (p), 10, 0, 65535, &n, NULL)) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s: port=%s: expected an integer 0..65535", path, p);
    return FALSE;
  }
  if (p)
    *port = (int) n;
  if (g_key_file_has_key (kf, group, "host", NULL)) {
    g_free (*host);
    *host = g_key_file_get_string (kf, group, "host", NULL);
    g_strstrip (*host);
  }
  if (g_key_file_has_key (kf, group, "origin", NULL)) {
    g_free (*origin_url);
    *origin_url = g_key_file_get_string (kf, group, "origin", NULL);
    g_strstrip (*origin_url);
  }
  return TRUE;
}

/* Raises the soft open-file limit to the hard one; returns the limit. */
rlim_t
rdv_raise_nofile (void)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
    return RLIM_INFINITY;
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit up = { rl.rlim_max, rl.rlim_max };
    if (setrlimit (RLIMIT_NOFILE, &up) == 0)
      rl = up;
  }
  return rl.rlim_cur;
}
