/* gstp2psimnet-props.c: p2psimnet's settings: the link's defaults from the
 * SIMULATOR_P2P_* variables, the properties (link parameters, seed,
 * delivery) and the read-only network-name, trace-hash and net-stats (the
 * network's counters with the datagram counters of the receiver).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psimnet-private.h"

#define GST_CAT_DEFAULT gst_p2p_sim_net_debug

enum {
  PROP_0,
  PROP_LATENCY,
  PROP_JITTER,
  PROP_LOSS,
  PROP_DUPLICATE,
  PROP_REORDER,
  PROP_BANDWIDTH,
  PROP_FAILURE_RATE,
  PROP_SEED,
  PROP_DELIVERY,
  PROP_NETWORK_NAME,
  PROP_TRACE_HASH,
  PROP_NET_STATS,
};

void
gst_p2p_sim_net_init_settings (GstP2pSimNet *self)
{
  /* the link's defaults are the SIMULATOR_P2P_* variables (as for
   * P2P_IMPLEMENTATION=sim); properties set later override them. A value
   * the parser refuses fails the start, naming the variable. */
  g_auto (GStrv) env = g_get_environ ();
  g_autoptr (GPtrArray) sim = g_ptr_array_new ();
  g_autoptr (P2pConfig) cfg = NULL;

  /* only the simulator's variables: the element uses no other setting, so
   * a bad P2P_LISTEN_PORT (say) is none of its business */
  for (guint i = 0; env[i]; i++)
    if (g_str_has_prefix (env[i], "SIMULATOR_P2P_"))
      g_ptr_array_add (sim, env[i]);
  g_ptr_array_add (sim, NULL);
  cfg = p2p_config_new_from_environ ((const char *const *) sim->pdata, &self->env_error);

  if (cfg) {
    p2p_sim_link_params_init_from_config (&self->link, cfg);
    self->seed = cfg->sim_seed;
  } else {
    p2p_sim_link_params_init (&self->link);
    self->seed = 1;
  }
}

void
gst_p2p_sim_net_install_properties (GObjectClass *gobject_class)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency",
          "One-way delay of the link in ms (default $SIMULATOR_P2P_LATENCY_MS, else 0)", 0,
          600000, 0, rw));
  g_object_class_install_property (gobject_class, PROP_JITTER,
      g_param_spec_uint ("jitter", "Jitter",
          "Extra random delay per packet, uniform in [0, jitter] ms (default "
          "$SIMULATOR_P2P_JITTER_MS, else 0)", 0, 600000, 0, rw));
  g_object_class_install_property (gobject_class, PROP_LOSS,
      g_param_spec_double ("loss", "Loss", "Probability a packet is dropped "
          "(0 = none, 1 = all; default $SIMULATOR_P2P_PACKET_LOSS, else 0)", 0.0, 1.0,
          0.0, rw));
  g_object_class_install_property (gobject_class, PROP_DUPLICATE,
      g_param_spec_double ("duplicate", "Duplicate",
          "Probability a packet is delivered twice", 0.0, 1.0, 0.0, rw));
  g_object_class_install_property (gobject_class, PROP_REORDER,
      g_param_spec_double ("reorder", "Reorder",
          "Probability a packet is delayed so that later ones overtake it",
          0.0, 1.0, 0.0, rw));
  g_object_class_install_property (gobject_class, PROP_BANDWIDTH,
      g_param_spec_uint ("bandwidth", "Bandwidth",
          "Link rate in kbit/s (0 = unlimited; default $SIMULATOR_P2P_BANDWIDTH_KBPS, "
          "else 0)", 0, 10000000, 0, rw));
  g_object_class_install_property (gobject_class, PROP_FAILURE_RATE,
      g_param_spec_double ("failure-rate", "Failure rate",
          "Probability that a new connection's flow is black-holed (default "
          "$SIMULATOR_P2P_FAILURE_RATE, else 0)", 0.0, 1.0, 0.0, rw));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of the network's random numbers (same seed, same drops; default "
          "$SIMULATOR_P2P_SEED, else 1)", 0, G_MAXUINT64, 1, rw));
  g_object_class_install_property (gobject_class, PROP_DELIVERY,
      g_param_spec_enum ("delivery", "Delivery",
          "reliable (every buffer) or datagram (live, unrepaired losses)",
          GST_TYPE_P2P_DELIVERY, GST_P2P_DELIVERY_RELIABLE, rw));
  g_object_class_install_property (gobject_class, PROP_NETWORK_NAME,
      g_param_spec_string ("network-name", "Network name",
          "Name of this instance's simulated network (read-only)", NULL,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_TRACE_HASH,
      g_param_spec_string ("trace-hash", "Trace hash",
          "Hex SHA-256 of every packet event on the link so far (time in ns, "
          "kind, endpoints, size); equal for two runs that put the same "
          "packets on the link at the same virtual times (NULL in NULL state; "
          "read-only)", NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_NET_STATS,
      g_param_spec_boxed ("net-stats", "Network statistics",
          "Counters of the simulated network since the link was set up: now "
          "(virtual ns), packets-sent, packets-delivered, dropped-loss, "
          "bytes-sent, ..., and datagram delivery's datagrams-sent, "
          "datagrams-lost, datagrams-late, datagrams-too-big "
          "(NULL in NULL state; read-only)", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
}

void
gst_p2p_sim_net_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstP2pSimNet *self = GST_P2P_SIM_NET (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LATENCY:
      self->link.latency_ms = g_value_get_uint (value);
      break;
    case PROP_JITTER:
      self->link.jitter_ms = g_value_get_uint (value);
      break;
    case PROP_LOSS:
      self->link.loss = g_value_get_double (value);
      break;
    case PROP_DUPLICATE:
      self->link.duplicate = g_value_get_double (value);
      break;
    case PROP_REORDER:
      self->link.reorder = g_value_get_double (value);
      break;
    case PROP_BANDWIDTH:
      self->link.bandwidth_kbps = g_value_get_uint (value);
      break;
    case PROP_FAILURE_RATE:
      self->link.failure_rate = g_value_get_double (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      break;
    case PROP_DELIVERY:
      self->delivery = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static GstStructure *
net_stats (P2pSimNetwork *net)
{
  P2pSimStats st;

  p2p_sim_network_get_stats (net, &st);
  return gst_structure_new ("p2p-sim-stats",
      "now", G_TYPE_UINT64, p2p_sim_network_now (net),
      "packets-sent", G_TYPE_UINT64, st.packets_sent,
      "packets-delivered", G_TYPE_UINT64, st.packets_delivered,
      "packets-duplicated", G_TYPE_UINT64, st.packets_duplicated,
      "packets-reordered", G_TYPE_UINT64, st.packets_reordered,
      "dropped-loss", G_TYPE_UINT64, st.dropped_loss,
      "dropped-queue", G_TYPE_UINT64, st.dropped_queue,
      "dropped-mtu", G_TYPE_UINT64, st.dropped_mtu,
      "dropped-failure", G_TYPE_UINT64, st.dropped_failure,
      "dropped-unbound", G_TYPE_UINT64, st.dropped_unbound,
      "bytes-sent", G_TYPE_UINT64, st.bytes_sent,
      "bytes-delivered", G_TYPE_UINT64, st.bytes_delivered,
      "timers-fired", G_TYPE_UINT64, st.timers_fired, NULL);
}

/* Object lock held. */
static GstStructure *
all_stats_locked (GstP2pSimNet *self)
{
  GstStructure *s = net_stats (self->net);

  gst_structure_set (s,
      "datagrams-sent", G_TYPE_UINT64, self->datagrams_sent,
      "datagrams-lost", G_TYPE_UINT64, self->receiver.datagrams_lost,
      "datagrams-late", G_TYPE_UINT64, self->receiver.datagrams_late,
      "datagrams-too-big", G_TYPE_UINT64, self->datagrams_too_big, NULL);
  return s;
}

void
gst_p2p_sim_net_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstP2pSimNet *self = GST_P2P_SIM_NET (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LATENCY:
      g_value_set_uint (value, self->link.latency_ms);
      break;
    case PROP_JITTER:
      g_value_set_uint (value, self->link.jitter_ms);
      break;
    case PROP_LOSS:
      g_value_set_double (value, self->link.loss);
      break;
    case PROP_DUPLICATE:
      g_value_set_double (value, self->link.duplicate);
      break;
    case PROP_REORDER:
      g_value_set_double (value, self->link.reorder);
      break;
    case PROP_BANDWIDTH:
      g_value_set_uint (value, self->link.bandwidth_kbps);
      break;
    case PROP_FAILURE_RATE:
      g_value_set_double (value, self->link.failure_rate);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_DELIVERY:
      g_value_set_enum (value, self->delivery);
      break;
    case PROP_NETWORK_NAME:
      g_value_set_string (value, self->network_name);
      break;
    case PROP_TRACE_HASH:
      g_value_take_string (value, self->net ?
          p2p_sim_network_get_trace_hash (self->net) : NULL);
      break;
    case PROP_NET_STATS:
      g_value_take_boxed (value, self->net ? all_stats_locked (self) : NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}
