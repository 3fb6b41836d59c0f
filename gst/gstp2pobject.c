/* gstp2pobject.c: settings and connection logic shared by p2psink and p2psrc.
 *
 * Turns the common properties (gstp2pobject-props.c) into a P2pConfig, an
 * identity, a provider (P2pQuicProvider or P2pSimProvider on a named
 * simulated network) and, in listen mode, a listener whose peer ID and
 * ticket become the read-only "peer-id" and "ticket" properties from READY
 * on; the allow-list and "peer-connecting", the p2p:// URI, dialing. The
 * stats and bus messages are in gstp2pobject-stats.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2pobject.h"
#include "gstp2ppool.h"

#include <string.h>
#include "p2p/p2p-sim.h"
#include "p2p/p2p-quic-provider.h"

GST_DEBUG_CATEGORY (gst_p2p_debug);
#define GST_CAT_DEFAULT gst_p2p_debug

static GstP2pTransport
transport_from_env (void)
{
  const char *v = g_getenv ("P2P_IMPLEMENTATION");

  /* exactly as the configuration parser reads it: another spelling
   * ("SIM") fails the start with the parser's error */
  if (g_strcmp0 (v, "sim") == 0)
    return GST_P2P_TRANSPORT_SIM;
  return GST_P2P_TRANSPORT_QUIC;
}

GstP2pObject *
gst_p2p_object_new (GstElement *element, gboolean is_sink)
{
  GstP2pObject *self = g_new0 (GstP2pObject, 1);

  self->element = element;
  self->is_sink = is_sink;
  self->mode = is_sink ? GST_P2P_MODE_LISTEN : GST_P2P_MODE_CONNECT;
  self->transport = transport_from_env ();
  self->sim_network = g_strdup ("default");
  self->port = -1;
  self->mdns = TRUE;
  self->bound_port = -1;
  self->delivery = GST_P2P_DELIVERY_RELIABLE;
  return self;
}

void
gst_p2p_object_free (GstP2pObject *self)
{
  if (!self)
    return;
  gst_p2p_object_close (self);
  g_free (self->peer);
  g_free (self->sim_network);
  g_free (self->identity_path);
  g_free (self->identity_kind);
  g_free (self->identity_file_used);
  g_free (self->rendezvous);
  g_free (self->stun_server);
  g_free (self->turn_server);
  g_free (self->bind_address);
  g_free (self->allowed_peers);
  g_free (self);
}

gboolean
gst_p2p_object_validate_peer (const char *peer, GError **error)
{
  g_autoptr (P2pPeerInfo) info = NULL;
  g_autoptr (GError) err = NULL;

  if (!peer || !*peer) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "No peer given: set \"peer\" to a peer ID, a ticket or ID@HOST:PORT");
    return FALSE;
  }
  info = p2p_peer_info_parse (peer, &err);
  if (!info) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "Invalid peer \"%s\": %s", peer, err->message);
    return FALSE;
  }
  return TRUE;
}

/* The element's own copy of the allow-list (defence in depth: the
 * provider already refuses other peers in TLS and ICE), from the
 * configuration's entries, which p2p_config_set_allowed_peers() or the
 * P2P_ALLOWED_PEERS parser has validated. */
static GArray *
allowed_ids_from_config (const P2pConfig *config, GError **error)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (P2pPeerId));

  for (guint i = 0; config->allowed_peers && config->allowed_peers[i]; i++) {
    P2pPeerId id;

    if (!p2p_peer_id_parse (config->allowed_peers[i], &id, error))
      return NULL;
    g_array_append_val (ids, id);
  }
  return g_steal_pointer (&ids);
}

static gboolean
peer_connecting_accumulator (GSignalInvocationHint *ihint, GValue *return_accu,
    const GValue *handler_return, gpointer data)
{
  gboolean accept = g_value_get_boolean (handler_return);

  g_value_set_boolean (return_accu, accept);
  return accept;                /* the first handler that refuses decides */
}

guint
gst_p2p_object_install_peer_connecting (GObjectClass *klass)
{
  return g_signal_new ("peer-connecting", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
      0, peer_connecting_accumulator, NULL, NULL, G_TYPE_BOOLEAN, 1, G_TYPE_STRING);
}

gboolean
gst_p2p_object_peer_allowed (GstP2pObject *self, P2pConnection *conn, const char **why)
{
  const P2pPeerId *id = p2p_connection_get_peer_id (conn);
  guint signal_id = g_signal_lookup ("peer-connecting", G_OBJECT_TYPE (self->element));
  gboolean listed = FALSE, accept = TRUE;

  *why = "not in allowed-peers";
  if (!id)
    return FALSE;
  if (!self->allowed || self->allowed->len == 0)
    listed = TRUE;
  for (guint i = 0; !listed && i < self->allowed->len; i++)
    listed = p2p_peer_id_equal (&g_array_index (self->allowed, P2pPeerId, i), id);
  if (!listed)
    return FALSE;
  if (signal_id != 0 && g_signal_has_handler_pending (self->element, signal_id, 0, TRUE)) {
    g_autofree char *peer = p2p_peer_id_to_string (id);

    g_signal_emit (self->element, signal_id, 0, peer, &accept);
  }
  *why = "refused by the application (peer-connecting)";
  return accept;
}

static gint
compare_strings (gconstpointer a, gconstpointer b, gpointer unused)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Appends "\n" NAME "=" and @value escaped (no newline of a value can
 * forge a field), or NAME "-" for NULL. */
static void
key_add (GString *key, const char *name, const char *value)
{
  g_autofree char *escaped = value ? g_strescape (value, NULL) : NULL;

  g_string_append_printf (key, "\n%s%s%s", name, value ? "=" : "-", value ? escaped : "");
}

/* What a kept connection is filed under (gstp2ppool.c): everything it was
 * made with. @env has the properties' overrides already. */
static char *
pool_key_new (GstP2pTransport transport, const char *sim_network, const char *identity_path,
    const char *peer, const char *allowed, gint port, const char *bind_address,
    gboolean early_streams, const char *const *env)
{
  GString *key = g_string_new (NULL);
  g_autofree const char **vars = g_new0 (const char *, g_strv_length ((char **) env) + 1);
  g_autofree char *identity = identity_path ? g_canonicalize_filename (identity_path, NULL) : NULL;
  guint n = 0;

  g_string_append_printf (key, "transport=%d port=%d early=%d", transport, port, early_streams);
  key_add (key, "sim-network", sim_network);
  key_add (key, "identity", identity);
  key_add (key, "peer", peer);
  key_add (key, "allowed", allowed);
  key_add (key, "bind", bind_address);
  for (guint i = 0; env[i]; i++)
    if (g_str_has_prefix (env[i], "P2P_"))
      vars[n++] = env[i];
  g_qsort_with_data (vars, n, sizeof (char *), compare_strings, NULL);
  for (guint i = 0; i < n; i++)
    key_add (key, "env", vars[i]);
  return g_string_free (key, FALSE);
}

/* After the environment with the properties in it failed to parse
 * (@err): if it is one of the properties that stand for P2P_* variables
 * (the environment parses without it), that property is named in the
 * element error instead of its variable. FALSE: not a property's fault. */
static gboolean
blame_property (GstP2pObject *self, const char *const *env, const GError *err,
    const char *rendezvous, const char *stun, const char *turn, guint idle_timeout)
{
  g_autofree char *ms = idle_timeout ? g_strdup_printf ("%u", idle_timeout) : NULL;
  const struct {
    const char *var, *prop, *value;
  } props[] = {
    { "P2P_BOOTSTRAP_PEERS", "rendezvous", rendezvous },
    { "P2P_STUN_SERVERS", "stun-server", stun },
    { "P2P_RELAY_SERVERS", "turn-server", turn },
    { "P2P_IDLE_TIMEOUT_MS", "idle-timeout", ms },
  };

  for (guint i = 0; i < G_N_ELEMENTS (props); i++) {
    const char *orig = g_getenv (props[i].var);
    g_auto (GStrv) without = NULL;
    g_autoptr (P2pConfig) c = NULL;
    const char *why = err->message;
    gsize n = strlen (props[i].var);

    if (props[i].value == NULL)
      continue;
    without = g_strdupv ((char **) env);
    without = orig ? g_environ_setenv (without, props[i].var, orig, TRUE)
        : g_environ_unsetenv (without, props[i].var);
    c = p2p_config_new_from_environ ((const char *const *) without, NULL);
    if (c == NULL)
      continue;
    /* "P2P_X=value: why" or "P2P_X: why", said of the property (the
     * parser's text, never the value as given: a TURN URL's password is
     * redacted there) */
    if (strncmp (why, props[i].var, n) == 0 && (why[n] == '=' || why[n] == ':'))
      why += n;
    else
      why = NULL;
    GST_ELEMENT_ERROR (self->element, RESOURCE, SETTINGS,
        ("Invalid property %s%s%s", props[i].prop, why ? "" : ": ", why ? why : err->message),
        (NULL));
    return TRUE;
  }
  return FALSE;
}

gboolean
gst_p2p_object_open (GstP2pObject *self)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pConfig) config = NULL;
  g_autoptr (P2pIdentity) identity = NULL;
  g_autoptr (P2pProvider) provider = NULL;
  g_autoptr (P2pListener) listener = NULL;
  g_autoptr (GArray) allowed = NULL;
  g_autofree char *peer = NULL, *identity_path = NULL, *rendezvous = NULL;
  g_autofree char *stun = NULL, *turn = NULL, *allowed_text = NULL;
  g_auto (GStrv) env = NULL;
  gboolean relay_only, mdns, early_streams;
  guint idle_timeout, keep_alive;
  g_autofree char *pool_key = NULL;
  g_autoptr (P2pConnection) kept = NULL;
  g_autofree char *sim_network = NULL, *address = NULL, *ticket = NULL;
  GstP2pMode mode;
  GstP2pTransport transport;
  gint port, bound_port = -1;
  g_autofree char *bind_address = NULL;

  GST_OBJECT_LOCK (self->element);
  mode = self->mode;
  transport = self->transport;
  port = self->port;
  bind_address = g_strdup (self->bind_address);
  peer = g_strdup (self->peer);
  identity_path = g_strdup (self->identity_path);
  rendezvous = g_strdup (self->rendezvous);
  stun = g_strdup (self->stun_server);
  turn = g_strdup (self->turn_server);
  relay_only = self->relay_only;
  mdns = self->mdns;
  early_streams = self->early_streams;
  keep_alive = self->keep_alive;
  idle_timeout = self->idle_timeout;
  allowed_text = g_strdup (self->allowed_peers);
  sim_network = g_strdup (self->sim_network);
  GST_OBJECT_UNLOCK (self->element);

  if (mode == GST_P2P_MODE_CONNECT && !gst_p2p_object_validate_peer (peer, &err)) {
    GST_ELEMENT_ERROR (self->element, RESOURCE, SETTINGS, ("%s", err->message),
        (NULL));
    return FALSE;
  }

  /* The network properties override the P2P_* variables: one parser
   * (P2pConfig) validates both, so a bad value fails the state change; a
   * bad property is named as such (blame_property). */
  env = g_get_environ ();
  if (port >= 0)
    env = g_environ_unsetenv (env, "P2P_LISTEN_PORT");
  if (rendezvous)
    env = g_environ_setenv (env, "P2P_BOOTSTRAP_PEERS", rendezvous, TRUE);
  if (stun)
    env = g_environ_setenv (env, "P2P_STUN_SERVERS", stun, TRUE);
  if (turn)
    env = g_environ_setenv (env, "P2P_RELAY_SERVERS", turn, TRUE);
  if (relay_only)
    env = g_environ_setenv (env, "P2P_RELAY_POLICY", "relay-only", TRUE);
  if (!mdns)
    env = g_environ_setenv (env, "P2P_MDNS", "0", TRUE);
  if (idle_timeout) {
    g_autofree char *ms = g_strdup_printf ("%u", idle_timeout);

    env = g_environ_setenv (env, "P2P_IDLE_TIMEOUT_MS", ms, TRUE);
  }
  config = p2p_config_new_from_environ ((const char *const *) env, &err);
  if (!config && blame_property (self, (const char *const *) env, err, rendezvous, stun, turn,
          idle_timeout))
    return FALSE;
  if (!config) {
    GST_ELEMENT_ERROR (self->element, RESOURCE, SETTINGS,
        ("Invalid network setting: %s (the properties port, rendezvous, stun-server, "
            "turn-server, relay-only, idle-timeout and allowed-peers override "
            "these variables)",
            err->message), (NULL));
    return FALSE;
  }
  /* Passed down to the provider: strangers fail TLS and get no ICE answer.
   * NULL = $P2P_ALLOWED_PEERS; "" = anyone; " , " is an error. */
  if (allowed_text && !p2p_config_set_allowed_peers (config, allowed_text, &err)) {
    GST_ELEMENT_ERROR (self->element, RESOURCE, SETTINGS, ("%s", err->message),
        (NULL));
    return FALSE;
  }
  allowed = allowed_ids_from_config (config, &err);
  if (!allowed) {
    GST_ELEMENT_ERROR (self->element, RESOURCE, SETTINGS,
        ("Invalid allowed-peers: %s", err->message), (NULL));
    return FALSE;
  }
  config->early_streams = early_streams;
  config->implementation = transport == GST_P2P_TRANSPORT_SIM ?
      P2P_IMPLEMENTATION_SIM : P2P_IMPLEMENTATION_QUIC;
  if (port >= 0)
    config->listen_port = (guint) port;

  /* identity: the property, else (sink only) $P2P_IDENTITY_FILE, else (sink
   * only) the default key file of p2p-id if it exists, else new. A named
   * file is created if missing, but never its directory. */
  g_clear_pointer (&self->identity_kind, g_free);
  if (self->is_sink) {
    gboolean is_default;
    char *chosen = p2p_identity_choose_file (identity_path, config->identity_file, &is_default);

    g_free (identity_path);
    identity_path = chosen;
    if (is_default)
      self->identity_kind = g_strdup ("default-file");
  }
  if (keep_alive > 0 && mode == GST_P2P_MODE_CONNECT) {
    pool_key = pool_key_new (transport, sim_network, identity_path, peer, allowed_text,
        port, bind_address, early_streams, (const char *const *) env);
    if (gst_p2p_pool_take (pool_key, &identity, &provider, &kept)) {
      GST_INFO_OBJECT (self->element, "a kept connection to %s is there: no new dial", peer);
      self->identity_kind = g_strdup (identity_path ? "file" : "ephemeral");
      g_free (self->identity_file_used);
      self->identity_file_used = g_strdup (identity_path);
      goto have_provider;
    }
  }
  if (identity_path) {
    gboolean exists = g_file_test (identity_path, G_FILE_TEST_EXISTS);

    if (!exists) {
      g_autofree char *dir = g_path_get_dirname (identity_path);

      if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
        GST_ELEMENT_ERROR (self->element, RESOURCE, SETTINGS,
            ("Cannot use identity key file \"%s\": the directory \"%s\" "
                "does not exist (it is not created)", identity_path, dir),
            (NULL));
        return FALSE;
      }
    }
    identity = p2p_identity_load_or_create (identity_path, &err);
    if (!identity) {
      GST_ELEMENT_ERROR (self->element, RESOURCE, SETTINGS,
          ("Cannot use identity key file \"%s\": %s", identity_path,
              err->message), (NULL));
      return FALSE;
    }
    if (!exists) {
      GST_WARNING_OBJECT (self->element, "created a new identity key file %s",
          identity_path);
      self->identity_kind = g_strdup ("new-file");
    } else if (!self->identity_kind) {
      self->identity_kind = g_strdup ("file");
    }
    GST_INFO_OBJECT (self->element, "identity from key file %s (%s)",
        identity_path, self->identity_kind);
  } else {
    identity = p2p_identity_new ();
    self->identity_kind = g_strdup ("ephemeral");
    if (self->is_sink)
      GST_WARNING_OBJECT (self->element, "no identity key file (identity "
          "property, $P2P_IDENTITY_FILE or p2p-id's default): using an "
          "ephemeral key, the peer ID changes every run");
  }
  g_free (self->identity_file_used);
  self->identity_file_used = g_strdup (identity_path);

  if (transport == GST_P2P_TRANSPORT_SIM) {
    g_autoptr (P2pSimNetwork) net = NULL;

    if (!sim_network || !*sim_network) {
      GST_ELEMENT_ERROR (self->element, RESOURCE, SETTINGS,
          ("Empty \"sim-network\": name the simulated network to use"), (NULL));
      return FALSE;
    }
    net = p2p_sim_network_get_named (sim_network, &err);
    if (!net) {
      GST_ELEMENT_ERROR (self->element, RESOURCE, SETTINGS,
          ("Cannot use simulated network \"%s\": %s", sim_network,
              err->message), (NULL));
      return FALSE;
    }
    provider = p2p_sim_provider_new (net, identity, config);
  } else {
    provider = P2P_PROVIDER (p2p_quic_provider_new (identity, config));
    /* mode=connect: bind-address is where the dial leaves from */
    if (provider && mode != GST_P2P_MODE_LISTEN && bind_address && *bind_address
        && !p2p_quic_provider_set_dial_address (P2P_QUIC_PROVIDER (provider), bind_address,
            &err)) {
      GST_ELEMENT_ERROR (self->element, RESOURCE, OPEN_READ_WRITE,
          ("Cannot use bind-address \"%s\": %s", bind_address, err->message), (NULL));
      return FALSE;
    }
  }
  if (!provider) {
    GST_ELEMENT_ERROR (self->element, RESOURCE, OPEN_READ_WRITE,
        ("Cannot start the P2P transport: %s",
            err ? err->message : "no provider"), (NULL));
    return FALSE;
  }

have_provider:
  if (mode == GST_P2P_MODE_LISTEN) {
    address = p2p_config_listen_address (config, bind_address, port);
    listener = p2p_provider_listen (provider, address, &err);
    if (!listener) {
      if (port >= 0)
        GST_ELEMENT_ERROR (self->element, RESOURCE, OPEN_READ_WRITE,
            ("Cannot listen on UDP port %d: %s", port, err->message), (NULL));
      else
        GST_ELEMENT_ERROR (self->element, RESOURCE, OPEN_READ_WRITE,
            ("Cannot listen: %s", err->message), (NULL));
      return FALSE;
    }
    ticket = p2p_listener_get_ticket (listener);
    {
      g_autoptr (GSocketAddress) local = p2p_listener_get_local_address (listener);

      if (G_IS_INET_SOCKET_ADDRESS (local))
        bound_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
    }
  }

  GST_OBJECT_LOCK (self->element);
  self->identity = g_steal_pointer (&identity);
  self->provider = g_steal_pointer (&provider);
  self->listener = g_steal_pointer (&listener);
  self->allowed = g_steal_pointer (&allowed);
  self->peer_id = p2p_identity_dup_peer_id_string (self->identity);
  self->ticket = g_steal_pointer (&ticket);
  self->bound_port = bound_port;
  self->pool_key = g_steal_pointer (&pool_key);
  self->pool_peer = self->pool_key ? g_strdup (peer) : NULL;
  self->kept_conn = g_steal_pointer (&kept);
  GST_OBJECT_UNLOCK (self->element);

  GST_INFO_OBJECT (self->element, "peer ID %s, ticket %s", self->peer_id,
      GST_STR_NULL (self->ticket));
  g_object_notify (G_OBJECT (self->element), "peer-id");
  if (self->listener) {
    g_object_notify (G_OBJECT (self->element), "ticket");
    g_object_notify (G_OBJECT (self->element), "bound-port");
    gst_element_post_message (self->element,
        gst_message_new_element (GST_OBJECT (self->element),
            gst_structure_new ("p2p-listening",
                "peer-id", G_TYPE_STRING, self->peer_id,
                "ticket", G_TYPE_STRING, self->ticket,
                "identity", G_TYPE_STRING, self->identity_kind,
                "identity-file", G_TYPE_STRING, self->identity_file_used,
                "port", G_TYPE_INT, bound_port,
                NULL)));
  }
  return TRUE;
}

void
gst_p2p_object_close (GstP2pObject *self)
{
  P2pListener *listener;
  P2pProvider *provider;
  P2pIdentity *identity;
  P2pConnection *kept;
  g_autofree char *pool_key = NULL;
  guint keep_alive;

  GST_OBJECT_LOCK (self->element);
  listener = g_steal_pointer (&self->listener);
  provider = g_steal_pointer (&self->provider);
  identity = g_steal_pointer (&self->identity);
  kept = g_steal_pointer (&self->kept_conn);
  pool_key = g_steal_pointer (&self->pool_key);
  g_clear_pointer (&self->pool_peer, g_free);
  keep_alive = self->keep_alive;
  g_clear_pointer (&self->peer_id, g_free);
  g_clear_pointer (&self->ticket, g_free);
  self->bound_port = -1;
  g_clear_pointer (&self->allowed, g_array_unref);
  GST_OBJECT_UNLOCK (self->element);

  if (listener) {
    p2p_listener_close (listener);
    g_object_unref (listener);
  }
  if (kept && pool_key && provider && identity) {
    /* the pool takes the three */
    gst_p2p_pool_keep (pool_key, g_steal_pointer (&identity), g_steal_pointer (&provider),
        g_steal_pointer (&kept), keep_alive);
  } else if (kept) {
    p2p_connection_close (kept, "receiver stopped");
    g_object_unref (kept);
  }
  g_clear_object (&provider);
  g_clear_object (&identity);
}

/* A file reader is done with @conn (the caller keeps its reference): with
 * keep-alive it waits in the element for close(), which hands it to the
 * pool (or for the next connect() of this element); else it is closed. */
gboolean
gst_p2p_object_release_connection (GstP2pObject *self, P2pConnection *conn,
    const char *reason)
{
  P2pConnection *old = NULL;
  gboolean keep;

  GST_OBJECT_LOCK (self->element);
  /* (not if "peer" changed since open: it is filed under the peer then) */
  keep = self->keep_alive > 0 && self->pool_key != NULL
      && g_strcmp0 (self->peer, self->pool_peer) == 0 && p2p_connection_is_connected (conn);
  if (keep) {
    old = self->kept_conn;
    self->kept_conn = g_object_ref (conn);
  }
  GST_OBJECT_UNLOCK (self->element);
  if (old) {
    p2p_connection_close (old, reason);
    g_object_unref (old);
  }
  if (!keep)
    p2p_connection_close (conn, reason);
  return keep;
}

char *
gst_p2p_object_dup_peer (GstP2pObject *self)
{
  char *peer;

  GST_OBJECT_LOCK (self->element);
  peer = g_strdup (self->peer);
  GST_OBJECT_UNLOCK (self->element);
  return peer;
}

/* ---- GstURIHandler, shared by p2psink and p2psrc: p2p://<peer> ---- */

const gchar *const *
gst_p2p_uri_get_protocols (GType type)
{
  static const gchar *protocols[] = { "p2p", NULL };
  return protocols;
}

gchar *
gst_p2p_object_get_uri (GstP2pObject *self)
{
  g_autofree char *peer = gst_p2p_object_dup_peer (self);

  return peer ? g_strdup_printf ("p2p://%s", peer) : NULL;
}

/* p2p://<peer ID, ticket or ID@HOST:PORT>[/]: sets "peer" and mode=connect. */
gboolean
gst_p2p_object_set_uri (GstP2pObject *self, const gchar *uri, GError **error)
{
  g_autofree char *peer = NULL;
  g_autoptr (GError) err = NULL;

  if (uri == NULL || g_ascii_strncasecmp (uri, "p2p://", 6) != 0) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_UNSUPPORTED_PROTOCOL,
        "Not a p2p:// URI: \"%s\"", uri ? uri : "(null)");
    return FALSE;
  }
  peer = g_uri_unescape_string (uri + 6, NULL);
  if (peer) {
    /* tolerate a trailing slash added by URI tools */
    gsize n = strlen (peer);

    if (n > 0 && peer[n - 1] == '/')
      peer[n - 1] = '\0';
  }
  if (!peer || !gst_p2p_object_validate_peer (peer, &err)) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "%s",
        err ? err->message : "Invalid %-escape in the URI");
    return FALSE;
  }
  GST_OBJECT_LOCK (self->element);
  g_free (self->peer);
  self->peer = g_steal_pointer (&peer);
  self->mode = GST_P2P_MODE_CONNECT;
  GST_OBJECT_UNLOCK (self->element);
  return TRUE;
}

typedef struct {
  GAsyncResult *result;
  gboolean timed_out;
  GCancellable *cancellable;
} ConnectWait;

static void
connect_wait_done (GObject *source, GAsyncResult *result, gpointer data)
{
  ConnectWait *w = data;

  w->result = g_object_ref (result);
}

static gboolean
connect_wait_timeout (gpointer data)
{
  ConnectWait *w = data;

  w->timed_out = TRUE;
  g_cancellable_cancel (w->cancellable);
  return G_SOURCE_REMOVE;
}

static void
connect_wait_cancel (GCancellable *parent, gpointer data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
}

/* One dial of @peer through @provider, bounded by @timeout_ms (0: the
 * transport's own bound) and @cancellable; blocking. On timeout:
 * P2P_ERROR_TIMEOUT naming connect-timeout. */
static P2pConnection *
dial_with_timeout (P2pProvider *provider, const char *peer, guint timeout,
    GCancellable *cancellable, GError **error)
{
  g_autoptr (GMainContext) ctx = NULL;
  g_autoptr (GSource) timer = NULL;
  ConnectWait w = { 0 };
  P2pConnection *conn;
  GError *local = NULL;
  gulong handler;

  w.cancellable = g_cancellable_new ();
  handler = g_cancellable_connect (cancellable, G_CALLBACK (connect_wait_cancel),
      g_object_ref (w.cancellable), g_object_unref);
  /* the completion and the timer run on a private context (the thread
   * default at the call), iterated here like p2p_provider_connect() does */
  ctx = g_main_context_new ();
  g_main_context_push_thread_default (ctx);
  if (timeout > 0) {
    timer = g_timeout_source_new (timeout);
    g_source_set_callback (timer, connect_wait_timeout, &w, NULL);
    g_source_attach (timer, ctx);
  }
  p2p_provider_connect_async (provider, peer, w.cancellable, connect_wait_done, &w);
  while (w.result == NULL)
    g_main_context_iteration (ctx, TRUE);
  if (timer)
    g_source_destroy (timer);
  g_main_context_pop_thread_default (ctx);
  g_cancellable_disconnect (cancellable, handler);
  conn = p2p_provider_connect_finish (provider, w.result, &local);
  g_object_unref (w.result);
  if (!conn && w.timed_out && !g_cancellable_is_cancelled (cancellable)) {
    g_clear_error (&local);
    g_set_error (&local, P2P_ERROR, P2P_ERROR_TIMEOUT,
        "no connection within %u ms (connect-timeout)", timeout);
  }
  g_object_unref (w.cancellable);
  if (!conn)
    g_propagate_error (error, local);
  return conn;
}

P2pConnection *
gst_p2p_object_connect (GstP2pObject *self, guint timeout_ms, GCancellable *cancellable,
    GError **error)
{
  g_autofree char *peer = gst_p2p_object_dup_peer (self);
  P2pProvider *provider;
  P2pConnection *conn;
  gboolean same_peer;

  GST_OBJECT_LOCK (self->element);
  provider = self->provider ? g_object_ref (self->provider) : NULL;
  conn = g_steal_pointer (&self->kept_conn);
  /* a kept connection goes to the peer of open(): "peer" may have changed */
  same_peer = g_strcmp0 (peer, self->pool_peer) == 0;
  self->reused = FALSE;
  GST_OBJECT_UNLOCK (self->element);
  if (conn && same_peer && p2p_connection_is_connected (conn)) {
    GST_INFO_OBJECT (self->element, "reusing the kept connection to %s", peer);
    g_clear_object (&provider);
    self->reused = TRUE;
    return conn;
  }
  if (conn) {
    p2p_connection_close (conn, "closed while kept");
    g_object_unref (conn);
  }
  if (!provider) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "The element is not started");
    return NULL;
  }
  conn = dial_with_timeout (provider, peer, timeout_ms, cancellable, error);
  g_object_unref (provider);
  return conn;
}
