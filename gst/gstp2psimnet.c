/* gstp2psimnet.c: p2psimnet, a whole P2P link in one bin.
 *
 * SECTION:element-p2psimnet
 * @see_also: p2psink, p2psrc
 *
 * sink pad -> p2psink (transport=sim) -> simulated network -> p2psrc
 * (transport=sim) -> src pad. Each instance has its own simulated network
 * (named "p2psimnet-N") with the link model given by the properties, running
 * the real QUIC stack over the simulated link: loss, reordering and
 * bandwidth limits exercise the real loss recovery and flow control. The
 * network is seeded, so the same seed gives the same drops, and it follows the
 * pipeline clock (a GstTestClock in tests) from the moment the pipeline sets
 * it.
 *
 * |[
 * gst-launch-1.0 audiotestsrc num-buffers=100 ! flacenc ! p2psimnet latency=50 loss=0.02 seed=7 ! flacdec ! fakesink
 * ]|
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psimnet.h"
#include "gstp2pobject.h"
#include "p2p/p2p-sim.h"

GST_DEBUG_CATEGORY_STATIC (gst_p2p_sim_net_debug);
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

/* trace text kept in memory (the hash covers every event) */
#define SIMNET_TRACE_LIMIT (64 * 1024)

struct _GstP2pSimNet {
  GstBin parent;

  GstElement *sink;
  GstElement *src;
  char *network_name;
  P2pSimNetwork *net;

  /* properties (object lock) */
  P2pSimLinkParams link;
  guint64 seed;
  GstP2pDelivery delivery;
};

#define gst_p2p_sim_net_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstP2pSimNet, gst_p2p_sim_net, GST_TYPE_BIN,
    GST_DEBUG_CATEGORY_INIT (gst_p2p_sim_net_debug, "p2psimnet", 0,
        "P2P simulated link"));
GST_ELEMENT_REGISTER_DEFINE (p2psimnet, "p2psimnet", GST_RANK_NONE,
    GST_TYPE_P2P_SIM_NET);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static gboolean
setup_network (GstP2pSimNet *self)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pSimNetwork) net = NULL;
  g_autofree char *peer_id = NULL;
  P2pSimLinkParams link;
  guint64 seed;
  GstP2pDelivery delivery;
  GParamSpec *pspec;

  GST_OBJECT_LOCK (self);
  link = self->link;
  seed = self->seed;
  delivery = self->delivery;
  GST_OBJECT_UNLOCK (self);

  net = p2p_sim_network_get_named (self->network_name, &err);
  if (!net) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Cannot create the simulated network: %s", err->message), (NULL));
    return FALSE;
  }
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (net), "seed");
  if (pspec && (pspec->flags & G_PARAM_WRITABLE)
      && !(pspec->flags & G_PARAM_CONSTRUCT_ONLY))
    g_object_set (net, "seed", seed, NULL);
  else
    GST_WARNING_OBJECT (self, "the simulated network's seed cannot be set");
  if (!p2p_sim_network_set_default_link (net, &link, &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid link settings: %s", err->message), (NULL));
    return FALSE;
  }
  /* the hash of every packet event: equal hashes, equal runs on the link */
  p2p_sim_network_set_trace_limit (net, SIMNET_TRACE_LIMIT);
  p2p_sim_network_set_trace (net, TRUE);
  GST_OBJECT_LOCK (self);
  self->net = g_steal_pointer (&net);
  GST_OBJECT_UNLOCK (self);

  /* datagram delivery is for live media: pace the sender on the clock
   * rather than bursting into the transport's datagram queue */
  g_object_set (self->sink, "transport", GST_P2P_TRANSPORT_SIM,
      "sim-network", self->network_name, "mode", GST_P2P_MODE_LISTEN,
      "port", 0, "delivery", delivery,
      "sync", delivery == GST_P2P_DELIVERY_DATAGRAM, NULL);
  if (gst_element_set_state (self->sink, GST_STATE_READY) == GST_STATE_CHANGE_FAILURE)
    return FALSE;
  g_object_get (self->sink, "peer-id", &peer_id, NULL);
  g_object_set (self->src, "transport", GST_P2P_TRANSPORT_SIM,
      "sim-network", self->network_name, "mode", GST_P2P_MODE_CONNECT,
      "peer", peer_id, "delivery", delivery, NULL);
  return TRUE;
}

/* The network follows the pipeline clock: virtual time = the network's time
 * when the clock was set + how far the clock moved since (the rate of the
 * clock, a GstTestClock included, without a jump backwards). */
typedef struct {
  GstClock *clock;
  guint64 net_base;
  GstClockTime clock_base;
} ClockFollow;

static guint64
clock_follow_now (gpointer data)
{
  ClockFollow *f = data;
  GstClockTime now = gst_clock_get_time (f->clock);

  return f->net_base + (now > f->clock_base ? now - f->clock_base : 0);
}

static void
clock_follow_free (gpointer data)
{
  ClockFollow *f = data;

  gst_object_unref (f->clock);
  g_free (f);
}

/* Makes the network follow @clock (NULL: the system clock) from its current
 * virtual time on. */
static void
follow_clock (GstP2pSimNet *self, GstClock *clock)
{
  ClockFollow *f;

  if (!self->net)
    return;
  f = g_new0 (ClockFollow, 1);
  f->clock = clock ? gst_object_ref (clock) : gst_system_clock_obtain ();
  f->net_base = p2p_sim_network_now (self->net);
  f->clock_base = gst_clock_get_time (f->clock);
  GST_DEBUG_OBJECT (self, "network follows %" GST_PTR_FORMAT, f->clock);
  p2p_sim_network_set_clock_func (self->net, clock_follow_now, f,
      clock_follow_free);
}

/* Drops the network (object lock: get_property reads it). */
static void
clear_net (GstP2pSimNet *self)
{
  P2pSimNetwork *net;

  GST_OBJECT_LOCK (self);
  net = g_steal_pointer (&self->net);
  GST_OBJECT_UNLOCK (self);
  g_clear_object (&net);
}

static gboolean
gst_p2p_sim_net_set_clock (GstElement *element, GstClock *clock)
{
  follow_clock (GST_P2P_SIM_NET (element), clock);
  return GST_ELEMENT_CLASS (parent_class)->set_clock (element, clock);
}

static GstStateChangeReturn
gst_p2p_sim_net_change_state (GstElement *element, GstStateChange transition)
{
  GstP2pSimNet *self = GST_P2P_SIM_NET (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !setup_network (self)) {
    gst_element_set_state (self->sink, GST_STATE_NULL);
    clear_net (self);
    return GST_STATE_CHANGE_FAILURE;
  }

  /* shutting down needs time to pass on the link even when the pipeline
   * clock (a test clock) stops: back to real time, continuing from now */
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    follow_clock (self, NULL);

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_READY_TO_NULL
      || (transition == GST_STATE_CHANGE_NULL_TO_READY
          && ret == GST_STATE_CHANGE_FAILURE))
    clear_net (self);
  return ret;
}

static void
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

static void
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
      g_value_take_boxed (value, self->net ? net_stats (self->net) : NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_p2p_sim_net_finalize (GObject *object)
{
  GstP2pSimNet *self = GST_P2P_SIM_NET (object);

  g_clear_object (&self->net);
  g_free (self->network_name);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_p2p_sim_net_class_init (GstP2pSimNetClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  gobject_class->set_property = gst_p2p_sim_net_set_property;
  gobject_class->get_property = gst_p2p_sim_net_get_property;
  gobject_class->finalize = gst_p2p_sim_net_finalize;

  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency",
          "One-way delay of the link in ms", 0, 600000, 0, rw));
  g_object_class_install_property (gobject_class, PROP_JITTER,
      g_param_spec_uint ("jitter", "Jitter",
          "Extra random delay per packet, uniform in [0, jitter] ms", 0, 600000,
          0, rw));
  g_object_class_install_property (gobject_class, PROP_LOSS,
      g_param_spec_double ("loss", "Loss", "Probability a packet is dropped "
          "(0 = none, 1 = all)", 0.0, 1.0, 0.0, rw));
  g_object_class_install_property (gobject_class, PROP_DUPLICATE,
      g_param_spec_double ("duplicate", "Duplicate",
          "Probability a packet is delivered twice", 0.0, 1.0, 0.0, rw));
  g_object_class_install_property (gobject_class, PROP_REORDER,
      g_param_spec_double ("reorder", "Reorder",
          "Probability a packet is delayed so that later ones overtake it",
          0.0, 1.0, 0.0, rw));
  g_object_class_install_property (gobject_class, PROP_BANDWIDTH,
      g_param_spec_uint ("bandwidth", "Bandwidth",
          "Link rate in kbit/s (0 = unlimited)", 0, 10000000, 0, rw));
  g_object_class_install_property (gobject_class, PROP_FAILURE_RATE,
      g_param_spec_double ("failure-rate", "Failure rate",
          "Probability that a new connection's flow is black-holed", 0.0, 1.0,
          0.0, rw));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of the network's random numbers (same seed, same drops)", 0,
          G_MAXUINT64, 1, rw));
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
          "Counters of the simulated network since READY: now (virtual ns), "
          "packets-sent, packets-delivered, dropped-loss, bytes-sent, ... "
          "(NULL in NULL state; read-only)", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "P2P simulated link",
      "Filter/Network", "p2psink and p2psrc over a deterministic simulated "
      "network with latency, jitter, loss and bandwidth",
      "gst-p2p developers");
  element_class->change_state = gst_p2p_sim_net_change_state;
  element_class->set_clock = gst_p2p_sim_net_set_clock;
}

static void
gst_p2p_sim_net_init (GstP2pSimNet *self)
{
  static gint counter = 0;
  GstPad *pad, *ghost;

  self->network_name = g_strdup_printf ("p2psimnet-%d",
      g_atomic_int_add (&counter, 1));
  p2p_sim_link_params_init (&self->link);
  self->seed = 1;
  self->delivery = GST_P2P_DELIVERY_RELIABLE;

  self->sink = gst_element_factory_make ("p2psink", "sink");
  self->src = gst_element_factory_make ("p2psrc", "src");
  g_assert (self->sink && self->src);
  /* the bin acts as a filter: its sink must not hold the preroll */
  g_object_set (self->sink, "async", FALSE, NULL);
  /* the pipeline holds both ends: the receiving half must not wait for a
   * preroll that the sending half can only give in PLAYING */
  g_object_set (self->src, "is-live", TRUE, NULL);
  gst_bin_add_many (GST_BIN (self), self->sink, self->src, NULL);

  pad = gst_element_get_static_pad (self->sink, "sink");
  ghost = gst_ghost_pad_new_from_template ("sink", pad,
      gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self), "sink"));
  gst_element_add_pad (GST_ELEMENT (self), ghost);
  gst_object_unref (pad);

  pad = gst_element_get_static_pad (self->src, "src");
  ghost = gst_ghost_pad_new_from_template ("src", pad,
      gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self), "src"));
  gst_element_add_pad (GST_ELEMENT (self), ghost);
  gst_object_unref (pad);
}
