/* gstp2pobject.c: settings and connection logic shared by p2psink and p2psrc.
 *
 * Holds the common properties, turns them into a P2pConfig, an identity, a
 * provider (P2pQuicProvider or P2pSimProvider on a named simulated network)
 * and, in listen mode, a listener whose peer ID and ticket become the
 * read-only "peer-id" and "ticket" properties from READY on.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2pobject.h"

#include <string.h>
#include "p2p/p2p-sim.h"
#include "p2p/p2p-quic-provider.h"

GST_DEBUG_CATEGORY (gst_p2p_debug);
#define GST_CAT_DEFAULT gst_p2p_debug

GType
gst_p2p_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_P2P_MODE_LISTEN, "Wait for peers to connect", "listen"},
    {GST_P2P_MODE_CONNECT, "Connect to the peer named by \"peer\"", "connect"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstP2pMode", values));
  return type;
}

GType
gst_p2p_transport_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_P2P_TRANSPORT_QUIC, "QUIC over UDP (direct, ICE, relay)", "quic"},
    {GST_P2P_TRANSPORT_SIM, "Simulated network (deterministic, in process)", "sim"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstP2pTransport", values));
  return type;
}

GType
gst_p2p_delivery_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_P2P_DELIVERY_RELIABLE, "Every buffer on the reliable ordered stream", "reliable"},
    {GST_P2P_DELIVERY_DATAGRAM,
        "Buffers as unreliable QUIC datagrams, events on the stream (live)", "datagram"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstP2pDelivery", values));
  return type;
}

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

/* the "provider" field of both elements' "stats" */
#define PROVIDER_STATS_BLURB "; provider (READY and up): the counters of " \
  "the element's provider since it started (p2p_provider_get_stats(), " \
  "docs/observability.md): dials-ok, dials-failed, accepts, refused, " \
  "established, active, closed, paths-direct, paths-relay, paths-simulated, " \
  "relay-bytes-closed, setup-ms-sum, and dials-failed-by-error and " \
  "refused-by-reason (structures of counts)"

void
gst_p2p_object_install_properties (GObjectClass *klass, gboolean is_sink)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  g_object_class_install_property (klass, GST_P2P_PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          is_sink ? "listen: wait for receivers to connect (default); "
          "connect: connect to the receiver named by \"peer\""
          : "connect: connect to the sender named by \"peer\" (default); "
          "listen: wait for the sender to connect",
          GST_TYPE_P2P_MODE,
          is_sink ? GST_P2P_MODE_LISTEN : GST_P2P_MODE_CONNECT, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_PEER,
      g_param_spec_string ("peer", "Peer",
          "The peer to connect to in mode=connect: a peer ID, a ticket or "
          "ID@HOST:PORT (checked when the element starts)", NULL, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_TRANSPORT,
      g_param_spec_enum ("transport", "Transport",
          "quic: real network; sim: the in-process simulated network named by "
          "\"sim-network\" (default: $P2P_IMPLEMENTATION, else quic)",
          GST_TYPE_P2P_TRANSPORT, GST_P2P_TRANSPORT_QUIC, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_SIM_NETWORK,
      g_param_spec_string ("sim-network", "Simulated network",
          "Name of the process-wide simulated network used with transport=sim "
          "(configured from SIMULATOR_P2P_* when first used)", "default", rw));
  g_object_class_install_property (klass, GST_P2P_PROP_IDENTITY,
      g_param_spec_string ("identity", "Identity key file",
          is_sink ? "Ed25519 key file (created with mode 0600 if missing, in an "
          "existing directory); NULL = $P2P_IDENTITY_FILE if set, else p2p-id's "
          "default $XDG_DATA_HOME/gst-p2p/identity.key if it exists, else a "
          "new ephemeral key (the p2p-listening message says which)"
          : "Ed25519 key file (created with mode 0600 if missing, in an "
          "existing directory); "
          "NULL = a new ephemeral key", NULL, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_PEER_ID,
      g_param_spec_string ("peer-id", "Peer ID",
          "This element's own peer ID (read-only, available from READY)",
          NULL, ro));
  g_object_class_install_property (klass, GST_P2P_PROP_TICKET,
      g_param_spec_string ("ticket", "Ticket",
          "A ticket (peer ID and addresses) for connecting to this element in "
          "mode=listen (read-only, available from READY)", NULL, ro));
  g_object_class_install_property (klass, GST_P2P_PROP_RENDEZVOUS,
      g_param_spec_string ("rendezvous", "Rendezvous servers",
          "Comma-separated ws:// or wss:// rendezvous URLs "
          "(NULL = $P2P_BOOTSTRAP_PEERS)", NULL, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_STUN_SERVER,
      g_param_spec_string ("stun-server", "STUN servers",
          "Comma-separated HOST:PORT STUN servers (NULL = $P2P_STUN_SERVERS)",
          NULL, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_TURN_SERVER,
      g_param_spec_string ("turn-server", "TURN servers",
          "Comma-separated TURN relays: turn://USER:PASS@HOST:PORT, or "
          "HOST[:PORT] (port 3478) with the credentials of $P2P_RELAY_USERNAME "
          "and $P2P_RELAY_PASSWORD or $P2P_RELAY_CREDENTIALS_FILE "
          "(NULL = $P2P_RELAY_SERVERS). Reads back with each password "
          "replaced by *** (turn://USER:***@HOST:PORT), so pipeline dumps "
          "and logs do not carry it", NULL, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_RELAY_ONLY,
      g_param_spec_boolean ("relay-only", "Relay only",
          "Use only relayed paths through the TURN servers (hides this host's "
          "addresses from the peer; needs turn-server); FALSE = $P2P_RELAY_POLICY",
          FALSE, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_PORT,
      g_param_spec_int ("port", "UDP port",
          "UDP port to listen on in mode=listen (0 = any free port, "
          "-1 = $P2P_LISTEN_PORT, else 8800)", -1, 65535, -1, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_BIND_ADDRESS,
      g_param_spec_string ("bind-address", "Bind address",
          "Local IP address to listen on in mode=listen (NULL = every "
          "interface); an address of no local interface fails the start",
          NULL, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_BOUND_PORT,
      g_param_spec_int ("bound-port", "Bound port",
          "The UDP port actually listened on (with port=0: the one the system "
          "chose); -1 while not listening", -1, 65535, -1,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (klass, GST_P2P_PROP_ALLOWED_PEERS,
      g_param_spec_string ("allowed-peers", "Allowed peers",
          "Comma-separated peer IDs allowed to connect; others fail the TLS "
          "handshake and get no ICE answer (NULL = $P2P_ALLOWED_PEERS, else "
          "anyone; \"\" = anyone; a list of only commas/spaces is an error)",
          NULL, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_DELIVERY,
      g_param_spec_enum ("delivery", "Delivery",
          "reliable: every buffer arrives, in order; datagram: buffers as "
          "unreliable datagrams (live, losses are not repaired)",
          GST_TYPE_P2P_DELIVERY, GST_P2P_DELIVERY_RELIABLE, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          is_sink ? "application/x-p2p-stats, totals over every receiver "
          "since start (they never go down when receivers leave): bytes-sent, "
          "bytes-received, packets-lost, packets-retransmitted (QUIC "
          "packets), datagrams-dropped (datagrams not sent: too big or the "
          "send queue full), buffers-dropped (buffers not queued for a slow "
          "receiver), receivers-total (receivers served); of the receivers "
          "connected now: peers (how many), rtt-us (the largest RTT, us), "
          "setup-time-ms (the longest set-up), path (of the last one: direct, "
          "relay, simulated, none); receivers: an array with one structure "
          "per connected receiver: peer-id, bytes-sent, rtt-us, path, bitrate "
          "(bits/s sent since it connected), packets-lost, queued-bytes "
          "(waiting in its queue), buffers-dropped, connected-ms" PROVIDER_STATS_BLURB
          : "application/x-p2p-stats of the connection (the last one's final "
          "figures once it is gone): rtt-us (us), bytes-sent, bytes-received, "
          "packets-lost, packets-retransmitted (QUIC packets), path (direct, "
          "relay, simulated, none), setup-time-ms (ms), peers (0 or 1), "
          "datagrams-dropped (datagrams the transport or the full queue "
          "dropped), datagrams-lost (sequence numbers sent to this receiver "
          "that never came out: gaps, and before the first and after the last "
          "datagram that arrived; not those sent before it joined), "
          "datagrams-late (arrived after their buffer's time); these since "
          "the element started, kept after EOS and in READY/NULL; "
          "queued-bytes, queued-bytes-max (bytes waiting for the streaming "
          "thread now and at most)" PROVIDER_STATS_BLURB,
          GST_TYPE_STRUCTURE, ro));

  /* ---- issue 16 (p2psrc side): shared timeouts ---- */
  g_object_class_install_property (klass, GST_P2P_PROP_IDLE_TIMEOUT,
      g_param_spec_uint ("idle-timeout", "Idle timeout",
          "A connection with no packet from the peer for this long (ms) is "
          "closed as lost; also how long a dial waits for an answer at most. "
          "100..3600000; 0 = $P2P_IDLE_TIMEOUT_MS, else 30000",
          0, 3600000, 0, rw));
  /* ---- end of issue 16 (p2psrc side) ---- */

  gst_type_mark_as_plugin_api (GST_TYPE_P2P_MODE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_P2P_TRANSPORT, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_P2P_DELIVERY, 0);
}

static void
set_string (GstP2pObject *self, char **field, const GValue *value)
{
  GST_OBJECT_LOCK (self->element);
  g_free (*field);
  *field = g_value_dup_string (value);
  GST_OBJECT_UNLOCK (self->element);
}

gboolean
gst_p2p_object_set_property (GstP2pObject *self, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  switch (prop_id) {
    case GST_P2P_PROP_MODE:
      GST_OBJECT_LOCK (self->element);
      self->mode = g_value_get_enum (value);
      GST_OBJECT_UNLOCK (self->element);
      return TRUE;
    case GST_P2P_PROP_PEER:
      set_string (self, &self->peer, value);
      return TRUE;
    case GST_P2P_PROP_TRANSPORT:
      GST_OBJECT_LOCK (self->element);
      self->transport = g_value_get_enum (value);
      GST_OBJECT_UNLOCK (self->element);
      return TRUE;
    case GST_P2P_PROP_SIM_NETWORK:
      set_string (self, &self->sim_network, value);
      return TRUE;
    case GST_P2P_PROP_IDENTITY:
      set_string (self, &self->identity_path, value);
      return TRUE;
    case GST_P2P_PROP_RENDEZVOUS:
      set_string (self, &self->rendezvous, value);
      return TRUE;
    case GST_P2P_PROP_STUN_SERVER:
      set_string (self, &self->stun_server, value);
      return TRUE;
    case GST_P2P_PROP_RELAY_ONLY:
      GST_OBJECT_LOCK (self->element);
      self->relay_only = g_value_get_boolean (value);
      GST_OBJECT_UNLOCK (self->element);
      return TRUE;
    /* issue 16 (p2psrc side): shared timeouts */
    case GST_P2P_PROP_IDLE_TIMEOUT:
      GST_OBJECT_LOCK (self->element);
      self->idle_timeout = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self->element);
      return TRUE;
    case GST_P2P_PROP_TURN_SERVER:
      set_string (self, &self->turn_server, value);
      return TRUE;
    case GST_P2P_PROP_PORT:
      GST_OBJECT_LOCK (self->element);
      self->port = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self->element);
      return TRUE;
    case GST_P2P_PROP_BIND_ADDRESS:
      set_string (self, &self->bind_address, value);
      return TRUE;
    case GST_P2P_PROP_ALLOWED_PEERS:
      set_string (self, &self->allowed_peers, value);
      return TRUE;
    case GST_P2P_PROP_DELIVERY:
      GST_OBJECT_LOCK (self->element);
      self->delivery = g_value_get_enum (value);
      GST_OBJECT_UNLOCK (self->element);
      return TRUE;
    default:
      return FALSE;
  }
}

gboolean
gst_p2p_object_get_property (GstP2pObject *self, guint prop_id,
    GValue *value, GParamSpec *pspec)
{
  GST_OBJECT_LOCK (self->element);
  switch (prop_id) {
    case GST_P2P_PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case GST_P2P_PROP_PEER:
      g_value_set_string (value, self->peer);
      break;
    case GST_P2P_PROP_TRANSPORT:
      g_value_set_enum (value, self->transport);
      break;
    case GST_P2P_PROP_SIM_NETWORK:
      g_value_set_string (value, self->sim_network);
      break;
    case GST_P2P_PROP_IDENTITY:
      g_value_set_string (value, self->identity_path);
      break;
    case GST_P2P_PROP_PEER_ID:
      g_value_set_string (value, self->peer_id);
      break;
    case GST_P2P_PROP_TICKET:
      g_value_set_string (value, self->ticket);
      break;
    case GST_P2P_PROP_RENDEZVOUS:
      g_value_set_string (value, self->rendezvous);
      break;
    case GST_P2P_PROP_STUN_SERVER:
      g_value_set_string (value, self->stun_server);
      break;
    case GST_P2P_PROP_TURN_SERVER:
      /* redacted: dot dumps and gst-launch -v print readable properties */
      g_value_take_string (value, p2p_config_redact_urls (self->turn_server));
      break;
    case GST_P2P_PROP_RELAY_ONLY:
      g_value_set_boolean (value, self->relay_only);
      break;
    /* issue 16 (p2psrc side): shared timeouts */
    case GST_P2P_PROP_IDLE_TIMEOUT:
      g_value_set_uint (value, self->idle_timeout);
      break;
    case GST_P2P_PROP_PORT:
      g_value_set_int (value, self->port);
      break;
    case GST_P2P_PROP_BIND_ADDRESS:
      g_value_set_string (value, self->bind_address);
      break;
    case GST_P2P_PROP_BOUND_PORT:
      g_value_set_int (value, self->bound_port);
      break;
    case GST_P2P_PROP_ALLOWED_PEERS:
      g_value_set_string (value, self->allowed_peers);
      break;
    case GST_P2P_PROP_DELIVERY:
      g_value_set_enum (value, self->delivery);
      break;
    default:
      GST_OBJECT_UNLOCK (self->element);
      return FALSE;
  }
  GST_OBJECT_UNLOCK (self->element);
  return TRUE;
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
  gboolean relay_only;
  guint idle_timeout;
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
   * (P2pConfig) validates both, so a bad value fails the state change. */
  env = g_get_environ ();
  if (rendezvous)
    env = g_environ_setenv (env, "P2P_BOOTSTRAP_PEERS", rendezvous, TRUE);
  if (stun)
    env = g_environ_setenv (env, "P2P_STUN_SERVERS", stun, TRUE);
  if (turn)
    env = g_environ_setenv (env, "P2P_RELAY_SERVERS", turn, TRUE);
  if (relay_only)
    env = g_environ_setenv (env, "P2P_RELAY_POLICY", "relay-only", TRUE);
  if (idle_timeout) {
    g_autofree char *ms = g_strdup_printf ("%u", idle_timeout);

    env = g_environ_setenv (env, "P2P_IDLE_TIMEOUT_MS", ms, TRUE);
  }
  config = p2p_config_new_from_environ ((const char *const *) env, &err);
  if (!config) {
    GST_ELEMENT_ERROR (self->element, RESOURCE, SETTINGS,
        ("Invalid network setting: %s (the properties rendezvous, stun-server, "
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
  config->implementation = transport == GST_P2P_TRANSPORT_SIM ?
      P2P_IMPLEMENTATION_SIM : P2P_IMPLEMENTATION_QUIC;
  if (port >= 0)
    config->listen_port = (guint) port;

  /* identity: the property, else (sink only) $P2P_IDENTITY_FILE, else (sink
   * only) the default key file of p2p-id if it exists, else new. A named
   * file is created if missing, but never its directory. */
  if (!identity_path && self->is_sink && config->identity_file)
    identity_path = g_strdup (config->identity_file);
  g_clear_pointer (&self->identity_kind, g_free);
  if (!identity_path && self->is_sink) {
    g_autofree char *def = p2p_identity_default_path ();

    if (g_file_test (def, G_FILE_TEST_EXISTS)) {
      identity_path = g_steal_pointer (&def);
      self->identity_kind = g_strdup ("default-file");
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
  }
  if (!provider) {
    GST_ELEMENT_ERROR (self->element, RESOURCE, OPEN_READ_WRITE,
        ("Cannot start the P2P transport: %s",
            err ? err->message : "no provider"), (NULL));
    return FALSE;
  }

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

  GST_OBJECT_LOCK (self->element);
  listener = g_steal_pointer (&self->listener);
  provider = g_steal_pointer (&self->provider);
  identity = g_steal_pointer (&self->identity);
  g_clear_pointer (&self->peer_id, g_free);
  g_clear_pointer (&self->ticket, g_free);
  self->bound_port = -1;
  g_clear_pointer (&self->allowed, g_array_unref);
  GST_OBJECT_UNLOCK (self->element);

  if (listener) {
    p2p_listener_close (listener);
    g_object_unref (listener);
  }
  g_clear_object (&provider);
  g_clear_object (&identity);
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

P2pConnection *
gst_p2p_object_connect (GstP2pObject *self, GCancellable *cancellable,
    GError **error)
{
  g_autofree char *peer = gst_p2p_object_dup_peer (self);
  P2pProvider *provider;
  P2pConnection *conn;

  GST_OBJECT_LOCK (self->element);
  provider = self->provider ? g_object_ref (self->provider) : NULL;
  GST_OBJECT_UNLOCK (self->element);
  if (!provider) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "The element is not started");
    return NULL;
  }
  conn = p2p_provider_connect (provider, peer, cancellable, error);
  g_object_unref (provider);
  return conn;
}

char *
gst_p2p_connection_dup_peer_id (P2pConnection *conn)
{
  const P2pPeerId *id = p2p_connection_get_peer_id (conn);

  return id ? p2p_peer_id_to_string (id) : g_strdup ("(unknown)");
}

/* @table (a{st}) as a structure named @name with one guint64 per entry */
static GstStructure *
table_structure (const char *name, GVariant *table)
{
  GstStructure *t = gst_structure_new_empty (name);
  GVariantIter it;
  const char *key;
  guint64 n;

  g_variant_iter_init (&it, table);
  while (g_variant_iter_next (&it, "{&st}", &key, &n))
    gst_structure_set (t, key, G_TYPE_UINT64, n, NULL);
  return t;
}

void
gst_p2p_object_add_provider_stats (GstP2pObject *self, GstStructure *s)
{
  g_autoptr (P2pProvider) provider = NULL;
  g_autoptr (GVariant) stats = NULL;
  GstStructure *ps;
  GVariantIter it;
  const char *key;
  GVariant *v;

  GST_OBJECT_LOCK (self->element);
  provider = self->provider ? g_object_ref (self->provider) : NULL;
  GST_OBJECT_UNLOCK (self->element);
  if (provider == NULL)
    return;
  stats = p2p_provider_get_stats (provider);
  ps = gst_structure_new_empty ("application/x-p2p-provider-stats");
  g_variant_iter_init (&it, stats);
  while (g_variant_iter_next (&it, "{&sv}", &key, &v)) {
    if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT64))
      gst_structure_set (ps, key, G_TYPE_UINT64, g_variant_get_uint64 (v), NULL);
    else if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT32))
      gst_structure_set (ps, key, G_TYPE_UINT, g_variant_get_uint32 (v), NULL);
    else if (g_variant_is_of_type (v, G_VARIANT_TYPE_DOUBLE))
      gst_structure_set (ps, key, G_TYPE_DOUBLE, g_variant_get_double (v), NULL);
    else if (g_variant_is_of_type (v, G_VARIANT_TYPE ("a{st}"))) {
      GstStructure *t = table_structure (key, v);

      gst_structure_set (ps, key, GST_TYPE_STRUCTURE, t, NULL);
      gst_structure_free (t);
    }
    /* the setup histogram (a(ut)) stays in p2p_provider_get_stats() */
    g_variant_unref (v);
  }
  gst_structure_set (s, "provider", GST_TYPE_STRUCTURE, ps, NULL);
  gst_structure_free (ps);
}

GstStructure *
gst_p2p_stats_new (void)
{
  return gst_structure_new ("application/x-p2p-stats",
      "rtt-us", G_TYPE_UINT64, (guint64) 0,
      "bytes-sent", G_TYPE_UINT64, (guint64) 0,
      "bytes-received", G_TYPE_UINT64, (guint64) 0,
      "packets-lost", G_TYPE_UINT64, (guint64) 0,
      "packets-retransmitted", G_TYPE_UINT64, (guint64) 0,
      "path", G_TYPE_STRING, "none",
      "setup-time-ms", G_TYPE_UINT64, (guint64) 0,
      "datagrams-dropped", G_TYPE_UINT64, (guint64) 0,
      "peers", G_TYPE_UINT, 0u, NULL);
}

static void
add_u64 (GstStructure *s, const char *field, guint64 v)
{
  guint64 cur = 0;

  gst_structure_get_uint64 (s, field, &cur);
  gst_structure_set (s, field, G_TYPE_UINT64, cur + v, NULL);
}

static void
max_u64 (GstStructure *s, const char *field, guint64 v)
{
  guint64 cur = 0;

  gst_structure_get_uint64 (s, field, &cur);
  gst_structure_set (s, field, G_TYPE_UINT64, MAX (cur, v), NULL);
}

void
gst_p2p_stats_accumulate (GstStructure *s, const P2pConnectionStats *st)
{
  guint peers = 0;

  max_u64 (s, "rtt-us", st->rtt_us);
  add_u64 (s, "bytes-sent", st->bytes_sent);
  add_u64 (s, "bytes-received", st->bytes_received);
  add_u64 (s, "packets-lost", st->packets_lost);
  add_u64 (s, "packets-retransmitted", st->packets_retransmitted);
  max_u64 (s, "setup-time-ms", st->setup_time_us / 1000);
  add_u64 (s, "datagrams-dropped", st->datagrams_dropped);
  gst_structure_get_uint (s, "peers", &peers);
  gst_structure_set (s, "peers", G_TYPE_UINT, peers + 1,
      "path", G_TYPE_STRING, p2p_path_kind_to_string (st->path_kind), NULL);
}

void
gst_p2p_object_post_connection (GstP2pObject *self, P2pConnection *conn,
    const char *event)
{
  P2pConnectionStats st;
  g_autofree char *peer_id = gst_p2p_connection_dup_peer_id (conn);

  p2p_connection_get_stats (conn, &st);
  gst_element_post_message (self->element,
      gst_message_new_element (GST_OBJECT (self->element),
          gst_structure_new ("p2p-connection",
              "peer-id", G_TYPE_STRING, peer_id,
              "event", G_TYPE_STRING, event,
              "path", G_TYPE_STRING, p2p_path_kind_to_string (st.path_kind),
              "rtt-us", G_TYPE_UINT64, st.rtt_us,
              "setup-time-ms", G_TYPE_UINT64, st.setup_time_us / 1000,
              "bytes-sent", G_TYPE_UINT64, st.bytes_sent,
              "bytes-received", G_TYPE_UINT64, st.bytes_received, NULL)));
}

void
gst_p2p_object_post_disconnected (GstP2pObject *self, P2pConnection *conn,
    const P2pConnectionStats *st, const char *reason)
{
  g_autofree char *peer_id = gst_p2p_connection_dup_peer_id (conn);

  gst_element_post_message (self->element,
      gst_message_new_element (GST_OBJECT (self->element),
          gst_structure_new ("p2p-connection",
              "peer-id", G_TYPE_STRING, peer_id,
              "event", G_TYPE_STRING, "disconnected",
              "reason", G_TYPE_STRING, reason,
              "path", G_TYPE_STRING, p2p_path_kind_to_string (st->path_kind),
              "rtt-us", G_TYPE_UINT64, st->rtt_us,
              "setup-time-ms", G_TYPE_UINT64, st->setup_time_us / 1000,
              "bytes-sent", G_TYPE_UINT64, st->bytes_sent,
              "bytes-received", G_TYPE_UINT64, st->bytes_received, NULL)));
}
