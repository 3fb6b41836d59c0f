/* gstp2pobject-props.c: the properties p2psink and p2psrc share (the
 * GstP2pObject half of their properties): the mode, transport and delivery
 * enums, the installation of the common properties with their blurbs, and
 * their get and set under the element's object lock. "stats" is installed
 * here and answered by each element.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2pobject.h"

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
  g_object_class_install_property (klass, GST_P2P_PROP_MDNS,
      g_param_spec_boolean ("mdns", "LAN discovery (mDNS)",
          "Find and be found by bare peer ID on the local network with no "
          "server: a listening element announces its signed record (peer ID, "
          "addresses) over mDNS, a connecting one asks the local network "
          "besides the rendezvous; FALSE = off, TRUE = $P2P_MDNS (default on)",
          TRUE, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_PORT,
      g_param_spec_int ("port", "UDP port",
          "UDP port to listen on in mode=listen (0 = any free port, "
          "-1 = $P2P_LISTEN_PORT, else 8800)", -1, 65535, -1, rw));
  g_object_class_install_property (klass, GST_P2P_PROP_BIND_ADDRESS,
      g_param_spec_string ("bind-address", "Bind address",
          "Local IP address to listen on in mode=listen (NULL = every "
          "interface); in mode=connect (transport=quic) the address direct "
          "dials of its family (IPv4 or IPv6) leave from (not the ICE route); "
          "an address of no local interface fails the start",
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
          "receiver), receivers-total (receivers served), resumes (receivers "
          "that came back on a new connection where they stopped), path-changes (a "
          "receiver's path moved, e.g. relay to direct); of the receivers "
          "connected now: peers (how many), rtt-us (the largest RTT, us), "
          "setup-time-ms (the longest set-up), direct-path-time-ms (the latest "
          "a path became direct, ms from the QUIC start; 0 = none yet), path "
          "(of the last one: direct, relay, simulated, none); receivers: an array with one structure "
          "per connected receiver: peer-id, bytes-sent, rtt-us, path, bitrate "
          "(bits/s sent since it connected), packets-lost, queued-bytes "
          "(waiting in its queue), buffers-dropped, connected-ms" PROVIDER_STATS_BLURB
          : "application/x-p2p-stats of the connection (the last one's final "
          "figures once it is gone): rtt-us (us), bytes-sent, bytes-received, "
          "packets-lost, packets-retransmitted (QUIC packets), path (direct, "
          "relay, simulated, none), setup-time-ms (ms), path-changes (the path "
          "moved, e.g. relay to direct), direct-path-time-ms (when the path "
          "became direct, ms from the QUIC start; 0 = not yet), peers (0 or 1), "
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
    case GST_P2P_PROP_MDNS:
      GST_OBJECT_LOCK (self->element);
      self->mdns = g_value_get_boolean (value);
      GST_OBJECT_UNLOCK (self->element);
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
    case GST_P2P_PROP_MDNS:
      g_value_set_boolean (value, self->mdns);
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
