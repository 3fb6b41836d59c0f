/* p2p-config.c: configuration from the environment (docs/configuration.md,
 * docs/configuration.md). Strict parsing: a bad value is an error naming
 * the variable, the value and what is accepted. An empty value counts as
 * unset.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-config.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <glib/gstdio.h>

#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-info.h"
#include "p2p-config-private.h"

G_DEFINE_BOXED_TYPE (P2pConfig, p2p_config, p2p_config_copy, p2p_config_free)

#define MAX_LIST_ITEMS 64
/* Port of a relay given as a bare HOST (RFC 8656 §3.1, UDP and TCP). */
#define DEFAULT_TURN_PORT 3478
/* A relay credentials file is two short lines. */
#define MAX_CREDENTIALS_FILE_SIZE 4096

static void
config_set_defaults (P2pConfig *c)
{
  memset (c, 0, sizeof *c);
  c->implementation = P2P_IMPLEMENTATION_QUIC;
  c->listen_port = 8800;
  c->max_connections = 64;
  c->relay_policy = P2P_RELAY_POLICY_ALL;
  c->idle_timeout_ms = 30000;
  c->keepalive_ms = 500;
  c->liveness_timeout_ms = 4000;
  c->ice_restart_ms = 1500;
  c->ice_restart_attempts = 3;
  c->find_timeout_ms = 10000;
  c->mdns = TRUE;
  c->congestion_control = P2P_CONGESTION_CONTROL_BBR2;
  c->sim_packet_loss = 0.0;
  c->sim_failure_rate = 0.0;
  c->sim_seed = 1;
}

/**
 * p2p_config_new:
 *
 * Returns: (transfer full): the defaults, ignoring the environment.
 */
P2pConfig *
p2p_config_new (void)
{
  P2pConfig *c = g_new (P2pConfig, 1);

  config_set_defaults (c);
  return c;
}

/**
 * p2p_config_copy:
 * @config: a configuration
 *
 * Returns: (transfer full): a deep copy.
 */
P2pConfig *
p2p_config_copy (const P2pConfig *config)
{
  P2pConfig *c;

  g_return_val_if_fail (config != NULL, NULL);

  c = g_memdup2 (config, sizeof *config);
  c->bootstrap_peers = g_strdupv (config->bootstrap_peers);
  c->relay_servers = g_strdupv (config->relay_servers);
  c->stun_servers = g_strdupv (config->stun_servers);
  c->identity_file = g_strdup (config->identity_file);
  c->allowed_peers = g_strdupv (config->allowed_peers);
  c->ice_addresses = g_strdupv (config->ice_addresses);
  return c;
}

/**
 * p2p_config_free:
 * @config: (nullable): a configuration
 *
 * Frees @config and its strings.
 */
void
p2p_config_free (P2pConfig *config)
{
  if (config == NULL)
    return;
  g_strfreev (config->bootstrap_peers);
  g_strfreev (config->relay_servers);
  g_strfreev (config->stun_servers);
  g_free (config->identity_file);
  g_strfreev (config->allowed_peers);
  g_strfreev (config->ice_addresses);
  g_free (config);
}

/* One entry: "scheme://user:pass@host..." -> "scheme://user:***@host...".
 * The credentials end at the last '@' (a password may hold an unescaped
 * '@'); a user name without ':' has no password and stays. */
static void
append_redacted_entry (GString *out, const char *entry, gsize len)
{
  const char *sep = g_strstr_len (entry, (gssize) len, "://");
  gsize auth = sep ? (gsize) (sep - entry) + 3 : 0;
  gsize at = len;
  const char *colon;

  for (gsize i = len; i > auth; i--) {
    if (entry[i - 1] == '@') {
      at = i - 1;
      break;
    }
  }
  if (at == len) {
    g_string_append_len (out, entry, (gssize) len);
    return;
  }
  colon = memchr (entry + auth, ':', at - auth);
  if (!colon) {                 /* a user name alone */
    g_string_append_len (out, entry, (gssize) len);
    return;
  }
  g_string_append_len (out, entry, colon + 1 - entry);
  g_string_append (out, "***");
  g_string_append_len (out, entry + at, (gssize) (len - at));
}

/**
 * p2p_config_redact_urls:
 * @urls: (nullable): one URL or a comma-separated list (P2P_RELAY_SERVERS)
 *
 * The form of @urls fit for messages, logs and readable properties: every
 * password replaced by "***" (turn://user:***@host:port). Every error and
 * log line that quotes a server URL goes through it.
 *
 * Returns: (transfer full) (nullable): the redacted copy; NULL for NULL.
 */
char *
p2p_config_redact_urls (const char *urls)
{
  GString *out;
  const char *p;

  if (urls == NULL)
    return NULL;
  out = g_string_sized_new (strlen (urls));
  for (p = urls;;) {
    const char *comma = strchr (p, ',');
    gsize len = comma ? (gsize) (comma - p) : strlen (p);

    append_redacted_entry (out, p, len);
    if (!comma)
      break;
    g_string_append_c (out, ',');
    p = comma + 1;
  }
  return g_string_free (out, FALSE);
}

static gboolean
bad_value (GError **error, const char *var, const char *value, const char *expected)
{
  g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
      "%s=%s: expected %s", var, value, expected);
  return FALSE;
}

static gboolean
parse_uint (const char *var, const char *value, guint64 min, guint64 max,
    guint64 *out, GError **error)
{
  if (!g_ascii_string_to_unsigned (value, 10, min, max, out, NULL)) {
    g_autofree char *expected = g_strdup_printf ("an integer %" G_GUINT64_FORMAT
        "..%" G_GUINT64_FORMAT, min, max);

    return bad_value (error, var, value, expected);
  }
  return TRUE;
}

static gboolean
parse_fraction (const char *var, const char *value, double *out, GError **error)
{
  char *end = NULL;
  double v;

  v = g_ascii_strtod (value, &end);
  if (end == value || *end != '\0' || !isfinite (v) || v < 0.0 || v > 1.0
      || g_ascii_isspace (value[0]))
    return bad_value (error, var, value, "a number 0.0..1.0");
  *out = v;
  return TRUE;
}

typedef gboolean (*ItemCheck) (const char *var, const char *item, GError **error);

/* Comma-separated list; spaces around items are ignored, empty items are an
 * error. */
static gboolean
parse_list (const char *var, const char *value, ItemCheck check, char ***out,
    GError **error)
{
  g_auto (GStrv) items = g_strsplit (value, ",", -1);
  guint n = g_strv_length (items);

  if (n > MAX_LIST_ITEMS) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: %u entries; at most %d are allowed", var, n, MAX_LIST_ITEMS);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    g_strstrip (items[i]);
    if (items[i][0] == '\0') {
      g_autofree char *shown = p2p_config_redact_urls (value);

      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "%s=%s: entry %u is empty; expected a comma-separated list without empty entries",
          var, shown, i + 1);
      return FALSE;
    }
    if (!check (var, items[i], error))
      return FALSE;
  }
  g_strfreev (*out);
  *out = g_steal_pointer (&items);
  return TRUE;
}

/* Checks that @host (as GUri gives it, IPv6 without brackets) and @port
 * form a valid address. */
static gboolean
check_uri_host (const char *var, const char *item, const char *host, int port,
    GError **error)
{
  g_autofree char *hp = NULL;
  g_autoptr (GError) local = NULL;

  if (host == NULL || host[0] == '\0') {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s' has no host", var, item);
    return FALSE;
  }
  hp = strchr (host, ':') ? g_strdup_printf ("[%s]:%d", host, port)
      : g_strdup_printf ("%s:%d", host, port);
  if (!p2p_parse_host_port (hp, NULL, NULL, &local)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s': %s", var, item, local->message);
    return FALSE;
  }
  return TRUE;
}

/* A dht:// entry: dht://HOST[:PORT], nothing else (a DHT node has no path). */
static gboolean
check_dht_bootstrap (const char *var, const char *item, GUri *uri, GError **error)
{
  const char *path = g_uri_get_path (uri);

  if (g_uri_get_userinfo (uri) || g_uri_get_query (uri) || g_uri_get_fragment (uri)
      || (path && path[0] && strcmp (path, "/") != 0)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s': a DHT bootstrap node is dht://HOST[:PORT], without user, path or query",
        var, item);
    return FALSE;
  }
  return check_uri_host (var, item, g_uri_get_host (uri),
      g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : P2P_DHT_DEFAULT_PORT, error);
}

static gboolean
check_bootstrap (const char *var, const char *item, GError **error)
{
  g_autoptr (GUri) uri = g_uri_parse (item, G_URI_FLAGS_NONE, NULL);
  const char *scheme;

  if (uri == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s' is not a URL; expected ws://HOST[:PORT][/PATH], wss://... or "
        "dht://HOST[:PORT]", var, item);
    return FALSE;
  }
  scheme = g_uri_get_scheme (uri);
  if (g_strcmp0 (scheme, "dht") == 0)
    return check_dht_bootstrap (var, item, uri, error);
  if (g_strcmp0 (scheme, "ws") != 0 && g_strcmp0 (scheme, "wss") != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s' has scheme '%s'; expected ws://, wss:// or dht://", var, item, scheme);
    return FALSE;
  }
  return check_uri_host (var, item, g_uri_get_host (uri),
      g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : 443, error);
}

static gboolean
is_dht_entry (const char *entry)
{
  return g_ascii_strncasecmp (entry, "dht://", 6) == 0;
}

char **
p2p_config_dup_rendezvous_urls (const P2pConfig *config)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; config->bootstrap_peers && config->bootstrap_peers[i]; i++) {
    if (!is_dht_entry (config->bootstrap_peers[i]))
      g_ptr_array_add (out, g_strdup (config->bootstrap_peers[i]));
  }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

gboolean
p2p_config_has_rendezvous (const P2pConfig *config)
{
  for (guint i = 0; config->bootstrap_peers && config->bootstrap_peers[i]; i++) {
    if (!is_dht_entry (config->bootstrap_peers[i]))
      return TRUE;
  }
  return FALSE;
}

char **
p2p_config_dup_dht_bootstrap (const P2pConfig *config)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; config->bootstrap_peers && config->bootstrap_peers[i]; i++) {
    const char *entry = config->bootstrap_peers[i];
    g_autoptr (GUri) uri = NULL;
    const char *host;
    int port;

    if (!is_dht_entry (entry))
      continue;
    /* a caller may have filled the array by hand: what does not parse is
     * left out */
    uri = g_uri_parse (entry, G_URI_FLAGS_NONE, NULL);
    host = uri ? g_uri_get_host (uri) : NULL;
    if (host == NULL || host[0] == '\0')
      continue;
    port = g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : P2P_DHT_DEFAULT_PORT;
    g_ptr_array_add (out, strchr (host, ':') ? g_strdup_printf ("[%s]:%d", host, port)
        : g_strdup_printf ("%s:%d", host, port));
  }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

static gboolean
check_relay (const char *var, const char *item, GError **error)
{
  g_autoptr (GUri) uri = g_uri_parse (item, G_URI_FLAGS_HAS_PASSWORD, NULL);
  g_autofree char *shown = p2p_config_redact_urls (item); /* for messages */
  const char *scheme, *query, *path;

  if (uri == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s' is not a URL; expected turn://USER:PASS@HOST:PORT", var, shown);
    return FALSE;
  }
  scheme = g_uri_get_scheme (uri);
  if (g_strcmp0 (scheme, "turns") == 0) {
    /* libnice 0.1.21 has no real TLS for TURN (its "TLS" relay type is
     * Google's pseudo-TLS framing): refused here rather than failing later
     * in the ICE path */
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s': turns:// (TURN over TLS) is not supported (libnice has no TLS "
        "for TURN); use turn://USER:PASS@HOST:PORT?transport=tcp to reach a TURN "
        "server over TCP (the media is encrypted end to end by QUIC either way)",
        var, shown);
    return FALSE;
  }
  if (g_strcmp0 (scheme, "turn") != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s' has scheme '%s'; expected turn://", var, shown, scheme);
    return FALSE;
  }
  if (g_uri_get_user (uri) == NULL || g_uri_get_user (uri)[0] == '\0'
      || g_uri_get_password (uri) == NULL || g_uri_get_password (uri)[0] == '\0') {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s' has no user name and password; expected turn://USER:PASS@HOST:PORT",
        var, shown);
    return FALSE;
  }
  if (g_uri_get_port (uri) <= 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s' has no port; expected turn://USER:PASS@HOST:PORT (e.g. port 3478)",
        var, shown);
    return FALSE;
  }
  path = g_uri_get_path (uri);
  if (path[0] != '\0' && g_strcmp0 (path, "/") != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s' has a path; expected turn://USER:PASS@HOST:PORT[?transport=udp|tcp]",
        var, shown);
    return FALSE;
  }
  query = g_uri_get_query (uri);
  if (query != NULL && g_strcmp0 (query, "transport=udp") != 0
      && g_strcmp0 (query, "transport=tcp") != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s' has query '%s'; only ?transport=udp or ?transport=tcp is accepted",
        var, shown, query);
    return FALSE;
  }
  if (g_uri_get_fragment (uri) != NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: '%s' has a #fragment; remove it", var, shown);
    return FALSE;
  }
  return check_uri_host (var, shown, g_uri_get_host (uri), g_uri_get_port (uri), error);
}

/* Accepts every entry: parse_list() only splits, trims and counts. */
static gboolean
accept_item (const char *var, const char *item, GError **error)
{
  return TRUE;
}

/* Reads P2P_RELAY_CREDENTIALS_FILE: the user name on the first line, the
 * password on the second; a regular file not readable by others. */
static gboolean
read_credentials_file (const char *path, char **user, char **pass, GError **error)
{
  const char *var = "P2P_RELAY_CREDENTIALS_FILE";
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GError) local = NULL;
  struct stat st;
  gsize len = 0;
  guint n;

  if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s=%s: not a readable regular file", var, path);
    return FALSE;
  }
  if ((st.st_mode & 0077) != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s=%s: the file holds a password and is %s by others (mode %04o); run chmod 600 %s",
        var, path, (st.st_mode & 0044) ? "readable" : "writable",
        (guint) (st.st_mode & 07777), path);
    return FALSE;
  }
  if (st.st_size > MAX_CREDENTIALS_FILE_SIZE
      || !g_file_get_contents (path, &text, &len, &local)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT, "%s=%s: %s", var, path,
        local ? local->message : "too large for a credentials file (over 4096 bytes)");
    return FALSE;
  }
  lines = g_strsplit (text, "\n", -1);
  n = g_strv_length (lines);
  if (n > 0 && lines[n - 1][0] == '\0')
    n--;                        /* the final newline */
  for (guint i = 0; i < n; i++)
    g_strchomp (lines[i]);      /* CRLF */
  if (n != 2 || lines[0][0] == '\0' || lines[1][0] == '\0'
      || !g_utf8_validate (text, (gssize) len, NULL)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s=%s: expected two non-empty UTF-8 lines, the TURN user name then the password",
        var, path);
    return FALSE;
  }
  *user = g_strdup (lines[0]);
  *pass = g_strdup (lines[1]);
  return TRUE;
}

/* The TURN credentials given apart from P2P_RELAY_SERVERS (both NULL when
 * none): P2P_RELAY_USERNAME + P2P_RELAY_PASSWORD, or
 * P2P_RELAY_CREDENTIALS_FILE. Messages never quote the password. */
static gboolean
relay_credentials (const char *const *envp, char **user, char **pass, GError **error)
{
  const char *u = g_environ_getenv ((char **) envp, "P2P_RELAY_USERNAME");
  const char *p = g_environ_getenv ((char **) envp, "P2P_RELAY_PASSWORD");
  const char *file = g_environ_getenv ((char **) envp, "P2P_RELAY_CREDENTIALS_FILE");
  gboolean have_u = u && u[0], have_p = p && p[0];

  *user = *pass = NULL;
  if ((have_u || have_p) && file && file[0]) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "P2P_RELAY_CREDENTIALS_FILE and P2P_RELAY_USERNAME/P2P_RELAY_PASSWORD are both "
        "set; use one of them");
    return FALSE;
  }
  if (file && file[0])
    return read_credentials_file (file, user, pass, error);
  if (have_u != have_p) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s is set but %s is not; a TURN server needs both", have_u ? "P2P_RELAY_USERNAME"
        : "P2P_RELAY_PASSWORD", have_u ? "P2P_RELAY_PASSWORD" : "P2P_RELAY_USERNAME");
    return FALSE;
  }
  if (have_u) {
    *user = g_strdup (u);
    *pass = g_strdup (p);
  }
  return TRUE;
}

/* "USER:PASS@" with both percent-encoded for a URL's userinfo. */
static char *
userinfo (const char *user, const char *pass)
{
  g_autofree char *u = g_uri_escape_string (user, NULL, FALSE);
  g_autofree char *p = g_uri_escape_string (pass, NULL, FALSE);

  return g_strdup_printf ("%s:%s@", u, p);
}

/* One P2P_RELAY_SERVERS entry as a checked turn:// URL: a URL is taken as
 * it is (the separate credentials fill in a URL without any); a bare HOST,
 * HOST:PORT or [IPv6]:PORT gets port 3478 when it has none and the
 * separate credentials, which it then needs. */
static char *
relay_entry_url (const char *var, const char *item, const char *user, const char *pass,
    GError **error)
{
  g_autofree char *url = NULL;

  if (strstr (item, "://") != NULL) {
    const char *rest = strstr (item, "://") + 3;
    const char *end = rest + strcspn (rest, "/?#");

    if (user && g_str_has_prefix (item, "turn://") && memchr (rest, '@', end - rest) == NULL) {
      g_autofree char *ui = userinfo (user, pass);

      url = g_strconcat ("turn://", ui, rest, NULL);
    } else {
      url = g_strdup (item);
    }
  } else {
    g_autofree char *hp = NULL, *host = NULL, *ui = NULL;
    g_autoptr (GError) local = NULL;
    const char *close = strchr (item, ']');
    guint16 port = 0;
    gboolean has_port = item[0] == '['
        ? (close != NULL && close[1] == ':')
        : (strchr (item, ':') != NULL);

    if (strchr (item, '@') != NULL) {
      /* USER:PASS@HOST without turn://: never quote the password */
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "%s: '***@%s' holds credentials but is not a turn:// URL; write "
          "turn://USER:PASS@HOST:PORT", var, strrchr (item, '@') + 1);
      return NULL;
    }
    hp = has_port ? g_strdup (item) : g_strdup_printf ("%s:%d", item, DEFAULT_TURN_PORT);
    if (!p2p_parse_host_port (hp, &host, &port, &local)) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "%s: %s; expected HOST[:PORT] or turn://USER:PASS@HOST:PORT", var, local->message);
      return NULL;
    }
    if (user == NULL) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "%s: '%s' has no credentials: set P2P_RELAY_USERNAME and P2P_RELAY_PASSWORD (or "
          "P2P_RELAY_CREDENTIALS_FILE), or write turn://USER:PASS@HOST:PORT "
          "(a STUN server goes in P2P_STUN_SERVERS)", var, item);
      return NULL;
    }
    ui = userinfo (user, pass);
    url = g_strdup_printf (strchr (host, ':') ? "turn://%s[%s]:%u" : "turn://%s%s:%u", ui,
        host, port);
  }
  if (!check_relay (var, url, error))
    return NULL;
  return g_steal_pointer (&url);
}

/* P2P_RELAY_SERVERS into turn:// URLs (see relay_entry_url()). */
static gboolean
parse_relays (const char *var, const char *value, const char *user, const char *pass,
    char ***out, GError **error)
{
  g_auto (GStrv) items = NULL;

  if (!parse_list (var, value, accept_item, &items, error))
    return FALSE;
  for (guint i = 0; items[i]; i++) {
    char *url = relay_entry_url (var, items[i], user, pass, error);

    if (url == NULL)
      return FALSE;
    g_free (items[i]);
    items[i] = url;
  }
  g_strfreev (*out);
  *out = g_steal_pointer (&items);
  return TRUE;
}


static gboolean
check_stun (const char *var, const char *item, GError **error)
{
  g_autoptr (GError) local = NULL;

  if (!p2p_parse_host_port (item, NULL, NULL, &local)) {
    /* the message already quotes @item */
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: %s", var, local->message);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_ip (const char *var, const char *item, GError **error)
{
  g_autoptr (GInetAddress) addr = g_inet_address_new_from_string (item);

  if (addr == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: \"%s\" is not an IP address; expected local addresses such as "
        "192.168.1.20 or fd00::2 (no host names, no ports)", var, item);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_peer_id (const char *var, const char *item, GError **error)
{
  g_autoptr (GError) local = NULL;
  P2pPeerId id;

  if (!p2p_peer_id_parse (item, &id, &local)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "Invalid peer ID \"%s\" in %s: %s", item, var, local->message);
    return FALSE;
  }
  return TRUE;
}

/* An allow-list (@var names it in errors). A value of only separators and
 * spaces names nobody: taken as "no list" it would let anyone in, so it is
 * an error, like an empty entry or an invalid peer ID. */
static gboolean
parse_allowed_peers (const char *var, const char *value, char ***out, GError **error)
{
  if (strspn (value, ", \t\r\n") == strlen (value)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s=\"%s\" names no peer ID; expected comma-separated peer IDs "
        "(leave it unset to allow anyone)", var, value);
    return FALSE;
  }
  return parse_list (var, value, check_peer_id, out, error);
}

/**
 * p2p_config_listen_address:
 * @config: a configuration (its listen_port is the default port)
 * @bind_address: (nullable): a local IP address to listen on (IPv4 or
 *   IPv6, without brackets), NULL = every interface
 * @port: the UDP port, 0 = one the system chooses, -1 = @config's
 *
 * The address argument of p2p_provider_listen() for a bind address and a
 * port, as the elements' "bind-address" and "port" properties and the
 * tools' --bind-address and --port options give them: "IP:PORT",
 * "[IPv6]:PORT", ":PORT", or NULL (every interface, @config's port). A
 * listener bound to every interface lists every address of the machine in
 * its ticket; one bound to an address lists only that one.
 *
 * Returns: (transfer full) (nullable): the address, NULL for the default
 */
char *
p2p_config_listen_address (const P2pConfig *config, const char *bind_address, int port)
{
  guint use_port;

  g_return_val_if_fail (config != NULL, NULL);
  use_port = port >= 0 ? (guint) port : config->listen_port;
  if (bind_address && *bind_address && strchr (bind_address, ':'))
    return g_strdup_printf ("[%s]:%u", bind_address, use_port);
  if (bind_address && *bind_address)
    return g_strdup_printf ("%s:%u", bind_address, use_port);
  if (port >= 0)
    return g_strdup_printf (":%d", port);
  return NULL;
}

/**
 * p2p_config_set_allowed_peers:
 * @config: a configuration
 * @peers: (nullable): comma-separated peer IDs (spaces around them are
 *   ignored), as in P2P_ALLOWED_PEERS; NULL or "" = anyone
 * @error: return location for a #GError
 *
 * Sets @config->allowed_peers, the peer IDs a provider's listeners accept
 * (at most 64). Others fail the TLS handshake with
 * %P2P_ERROR_AUTHENTICATION_FAILED, and their ICE offers through the
 * rendezvous get no answer. The list does not restrict the peers this
 * provider dials: a dial already pins the key of the peer it names.
 *
 * Errors, all %P2P_ERROR_INVALID_ARGUMENT naming "allowed-peers" (the
 * element property of the same name) and leaving @config unchanged: a
 * value of only separators or spaces (e.g. " , ": it names nobody, and
 * must not mean anyone), an empty entry, an invalid peer ID (the message
 * quotes it), more than 64 entries. The provider reads the list when it is
 * created (the config is copied): set it before p2p_quic_provider_new(). A
 * P2pConfig is plain data: no locking, one thread at a time.
 *
 * Returns: TRUE, FALSE on error
 */
gboolean
p2p_config_set_allowed_peers (P2pConfig *config, const char *peers, GError **error)
{
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (peers == NULL || peers[0] == '\0') {
    g_clear_pointer (&config->allowed_peers, g_strfreev);
    return TRUE;
  }
  return parse_allowed_peers ("allowed-peers", peers, &config->allowed_peers, error);
}

gboolean
p2p_config_parse_allowed_peer_ids (const P2pConfig *config, GPtrArray **out, GError **error)
{
  g_autoptr (GPtrArray) ids = NULL;
  guint n;

  *out = NULL;
  if (config->allowed_peers == NULL)
    return TRUE;
  n = g_strv_length (config->allowed_peers);
  if (n == 0 || n > MAX_LIST_ITEMS) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "allowed-peers: %u entries; expected 1..%d peer IDs (NULL allows anyone)",
        n, MAX_LIST_ITEMS);
    return FALSE;
  }
  ids = g_ptr_array_new_full (n, (GDestroyNotify) p2p_peer_id_free);
  for (guint i = 0; i < n; i++) {
    g_autoptr (GError) local = NULL;
    P2pPeerId id;

    if (!p2p_peer_id_parse (config->allowed_peers[i], &id, &local)) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "Invalid peer ID \"%s\" in allowed-peers: %s", config->allowed_peers[i],
          local->message);
      return FALSE;
    }
    g_ptr_array_add (ids, p2p_peer_id_copy (&id));
  }
  *out = g_steal_pointer (&ids);
  return TRUE;
}

/**
 * p2p_config_new_from_environ:
 * @envp: (nullable) (array zero-terminated=1): a g_get_environ()-style array
 * @error: P2P_ERROR_INVALID_ARGUMENT naming the variable, the value and
 *   what is accepted
 *
 * Returns: (transfer full) (nullable): the defaults overridden by @envp.
 */
P2pConfig *
p2p_config_new_from_environ (const char *const *envp, GError **error)
{
  g_autoptr (P2pConfig) c = p2p_config_new ();
  g_autofree char *relay_user = NULL;
  g_autofree char *relay_pass = NULL;
  const char *v;
  guint64 u;

#define GET(name) ((v = g_environ_getenv ((char **) envp, name)) != NULL && v[0] != '\0')
#define UINT_VAR(name, field, min, max) \
  if (GET (name)) { \
    if (!parse_uint (name, v, min, max, &u, error)) \
      return NULL; \
    c->field = u; \
  }

  if (GET ("P2P_IMPLEMENTATION")) {
    if (g_strcmp0 (v, "quic") == 0)
      c->implementation = P2P_IMPLEMENTATION_QUIC;
    else if (g_strcmp0 (v, "sim") == 0)
      c->implementation = P2P_IMPLEMENTATION_SIM;
    else {
      bad_value (error, "P2P_IMPLEMENTATION", v, "quic or sim");
      return NULL;
    }
  }
  UINT_VAR ("P2P_LISTEN_PORT", listen_port, 0, 65535);
  if (GET ("P2P_BOOTSTRAP_PEERS")
      && !parse_list ("P2P_BOOTSTRAP_PEERS", v, check_bootstrap, &c->bootstrap_peers, error))
    return NULL;
  if (!relay_credentials (envp, &relay_user, &relay_pass, error))
    return NULL;
  if (GET ("P2P_RELAY_SERVERS")
      && !parse_relays ("P2P_RELAY_SERVERS", v, relay_user, relay_pass, &c->relay_servers,
          error))
    return NULL;
  if (GET ("P2P_STUN_SERVERS")
      && !parse_list ("P2P_STUN_SERVERS", v, check_stun, &c->stun_servers, error))
    return NULL;
  if (GET ("P2P_IDENTITY_FILE")) {
    g_free (c->identity_file);
    c->identity_file = g_strdup (v);
  }
  UINT_VAR ("P2P_MAX_CONNECTIONS", max_connections, 1, 65535);
  if (GET ("P2P_RELAY_POLICY")) {
    if (g_strcmp0 (v, "all") == 0)
      c->relay_policy = P2P_RELAY_POLICY_ALL;
    else if (g_strcmp0 (v, "relay-only") == 0)
      c->relay_policy = P2P_RELAY_POLICY_RELAY_ONLY;
    else {
      bad_value (error, "P2P_RELAY_POLICY", v, "all or relay-only");
      return NULL;
    }
  }
  UINT_VAR ("P2P_IDLE_TIMEOUT_MS", idle_timeout_ms, 100, 3600000);
  UINT_VAR ("P2P_KEEPALIVE_MS", keepalive_ms, 0, 3600000);
  UINT_VAR ("P2P_LIVENESS_TIMEOUT_MS", liveness_timeout_ms, 0, 3600000);
  UINT_VAR ("P2P_ICE_RESTART_MS", ice_restart_ms, 0, 600000);
  UINT_VAR ("P2P_ICE_RESTART_ATTEMPTS", ice_restart_attempts, 1, 100);
  UINT_VAR ("P2P_FIND_TIMEOUT_MS", find_timeout_ms, 100, 600000);
  if (GET ("P2P_ICE_ADDRESSES")
      && !parse_list ("P2P_ICE_ADDRESSES", v, check_ip, &c->ice_addresses, error))
    return NULL;
  if (GET ("P2P_ALLOWED_PEERS")
      && !parse_allowed_peers ("P2P_ALLOWED_PEERS", v, &c->allowed_peers, error))
    return NULL;
  UINT_VAR ("P2P_MDNS", mdns, 0, 1);
  if (GET ("P2P_CONGESTION_CONTROL")) {
    static const char *const names[] = { "cubic", "reno", "bbr", "bbr2" };
    guint i;

    for (i = 0; i < G_N_ELEMENTS (names) && g_strcmp0 (v, names[i]) != 0; i++)
      ;
    if (i == G_N_ELEMENTS (names)) {
      bad_value (error, "P2P_CONGESTION_CONTROL", v, "cubic, reno, bbr or bbr2");
      return NULL;
    }
    c->congestion_control = (P2pCongestionControl) i;
  }

  UINT_VAR ("SIMULATOR_P2P_LATENCY_MS", sim_latency_ms, 0, 600000);
  UINT_VAR ("SIMULATOR_P2P_JITTER_MS", sim_jitter_ms, 0, 600000);
  if (GET ("SIMULATOR_P2P_PACKET_LOSS")
      && !parse_fraction ("SIMULATOR_P2P_PACKET_LOSS", v, &c->sim_packet_loss, error))
    return NULL;
  UINT_VAR ("SIMULATOR_P2P_BANDWIDTH_KBPS", sim_bandwidth_kbps, 0, 10000000);
  if (GET ("SIMULATOR_P2P_FAILURE_RATE")
      && !parse_fraction ("SIMULATOR_P2P_FAILURE_RATE", v, &c->sim_failure_rate, error))
    return NULL;
  UINT_VAR ("SIMULATOR_P2P_SEED", sim_seed, 0, G_MAXUINT64);

#undef UINT_VAR
#undef GET
  return g_steal_pointer (&c);
}

/**
 * p2p_config_new_from_env:
 * @error: as p2p_config_new_from_environ()
 *
 * Returns: (transfer full) (nullable): the defaults overridden by the
 *   process environment.
 */
P2pConfig *
p2p_config_new_from_env (GError **error)
{
  g_auto (GStrv) env = g_get_environ ();

  return p2p_config_new_from_environ ((const char *const *) env, error);
}
