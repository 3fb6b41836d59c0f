/* p2p-sim-network.c: P2pSimNetwork, the deterministic simulated network.
 *
 * A discrete-event simulator: packet deliveries and socket timers are events
 * in a binary heap ordered by (virtual time, sequence number). One seeded
 * GRand per network, drawn in a fixed order for every packet, so that the
 * same seed and the same sends give the same drops and delivery order.
 * The link model applied to each packet is documented in docs/simulator.md.
 *
 * This file: the object (properties, construction, accessors), the trace
 * and the statistics. The event heap, clock and run loops are in
 * p2p-sim-events.c, the link model in p2p-sim-link.c, nodes and ports in
 * p2p-sim-topology.c, named networks and peers in p2p-sim-registry.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-network-private.h"

G_DEFINE_TYPE (P2pSimNetwork, p2p_sim_network, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_SEED,
  PROP_CONTEXT,
  PROP_CLOCK_MODE,
  PROP_LATENCY_MS,
  PROP_JITTER_MS,
  PROP_LOSS,
  PROP_DUPLICATE,
  PROP_REORDER,
  PROP_BANDWIDTH_KBPS,
  PROP_QUEUE_BYTES,
  PROP_MTU,
  PROP_FAILURE_RATE,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void reseed (P2pSimNetwork *self);

/* ---------------------------------------------------------------- helpers */

guint
p2p_sim_u64_hash (gconstpointer p)
{
  guint64 v = *(const guint64 *) p;
  return (guint) (v ^ (v >> 32)) * 2654435761u;
}

gboolean
p2p_sim_u64_equal (gconstpointer a, gconstpointer b)
{
  return *(const guint64 *) a == *(const guint64 *) b;
}

guint64 *
p2p_sim_u64_dup (guint64 v)
{
  guint64 *p = g_new (guint64, 1);
  *p = v;
  return p;
}

static void
format_ep (char *buf, gsize size, guint32 key)
{
  guint n = ep_node (key);

  g_snprintf (buf, size, "10.77.%u.%u:%u", (n >> 8) & 0xff, n & 0xff, ep_port (key));
}

void
p2p_sim_network_trace (P2pSimNetwork *self, const char *kind, guint32 src, guint32 dst,
    gsize size)
{
  char line[160], s[32], d[32];
  int n;

  if (!self->trace_on)
    return;
  format_ep (s, sizeof s, src);
  if (dst)
    format_ep (d, sizeof d, dst);
  else
    g_strlcpy (d, "-", sizeof d);
  n = g_snprintf (line, sizeof line, "%" G_GUINT64_FORMAT " %s %s %s %" G_GSIZE_FORMAT "\n",
      self->now, kind, s, d, size);
  n = MIN (n, (int) sizeof line - 1);
  g_checksum_update (self->trace_sum, (const guchar *) line, n);
  if (self->trace_limit == 0 || self->trace->len + n <= self->trace_limit)
    g_string_append_len (self->trace, line, n);
}

void
p2p_sim_network_drop (P2pSimNetwork *self, const char *reason, guint64 *counter, guint32 src,
    guint32 dst, gsize len)
{
  (*counter)++;
  p2p_sim_network_trace (self, reason, src, dst, len);
}

/* ---------------------------------------------------------------- GObject */

static void
p2p_sim_network_init (P2pSimNetwork *self)
{
  g_rec_mutex_init (&self->lock);
  self->seed = 1;
  p2p_sim_link_params_init (&self->default_link);
  self->nodes = g_array_new (FALSE, TRUE, sizeof (SimNode));
  self->bindings = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  self->links = g_hash_table_new_full (p2p_sim_u64_hash, p2p_sim_u64_equal, g_free, g_free);
  self->partitions = g_hash_table_new_full (p2p_sim_u64_hash, p2p_sim_u64_equal, g_free, NULL);
  self->flows = g_hash_table_new_full (p2p_sim_u64_hash, p2p_sim_u64_equal, g_free, NULL);
  self->timers = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  self->peers = g_hash_table_new_full ((GHashFunc) p2p_peer_id_hash,
      (GEqualFunc) p2p_peer_id_equal, (GDestroyNotify) p2p_peer_id_free, g_object_unref);
  self->heap = g_array_new (FALSE, FALSE, sizeof (SimEvent));
  self->next_timer_id = 1;
  self->mode = P2P_SIM_CLOCK_MANUAL;
  self->clock_func = p2p_sim_monotonic_ns;
  self->trace = g_string_new (NULL);
  self->trace_sum = g_checksum_new (G_CHECKSUM_SHA256);
}

static void
p2p_sim_network_constructed (GObject *object)
{
  P2pSimNetwork *self = P2P_SIM_NETWORK (object);

  G_OBJECT_CLASS (p2p_sim_network_parent_class)->constructed (object);
  if (self->context == NULL)
    self->context = g_main_context_ref_thread_default ();
  if (self->rand == NULL)
    reseed (self);
}

static void
p2p_sim_network_dispose (GObject *object)
{
  P2pSimNetwork *self = P2P_SIM_NETWORK (object);

  /* stops and joins the thread (detaches it when called on it) */
  g_clear_pointer (&self->thread, p2p_net_thread_unref);
  g_rec_mutex_lock (&self->lock);
  p2p_sim_network_stop_follow (self);
  g_rec_mutex_unlock (&self->lock);
  G_OBJECT_CLASS (p2p_sim_network_parent_class)->dispose (object);
}

static void
p2p_sim_network_finalize (GObject *object)
{
  P2pSimNetwork *self = P2P_SIM_NETWORK (object);
  guint i;

  if (self->name)
    p2p_sim_network_forget_named (self);
  if (self->clock_notify)
    self->clock_notify (self->clock_data);
  for (i = 0; i < self->nodes->len; i++)
    g_free (g_array_index (self->nodes, SimNode, i).name);
  g_array_unref (self->nodes);
  g_hash_table_unref (self->bindings);
  g_hash_table_unref (self->links);
  g_hash_table_unref (self->partitions);
  g_hash_table_unref (self->flows);
  g_hash_table_unref (self->timers);
  g_hash_table_unref (self->peers);
  for (i = 0; i < self->heap->len; i++)
    p2p_sim_event_clear (&g_array_index (self->heap, SimEvent, i));
  g_array_unref (self->heap);
  g_string_free (self->trace, TRUE);
  g_checksum_free (self->trace_sum);
  g_clear_pointer (&self->rand, g_rand_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->name);
  g_rec_mutex_clear (&self->lock);
  G_OBJECT_CLASS (p2p_sim_network_parent_class)->finalize (object);
}

/* Restarts the PRNG from self->seed (lock held). */
static void
reseed (P2pSimNetwork *self)
{
  guint32 words[2] = { (guint32) self->seed, (guint32) (self->seed >> 32) };

  if (self->rand)
    g_rand_set_seed_array (self->rand, words, 2);
  else
    self->rand = g_rand_new_with_seed_array (words, 2);
}

static void
p2p_sim_network_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  P2pSimNetwork *self = P2P_SIM_NETWORK (object);
  P2pSimLinkParams *p = &self->default_link;

  g_rec_mutex_lock (&self->lock);
  switch (prop_id) {
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      if (self->rand)
        reseed (self);
      break;
    case PROP_CONTEXT:
      self->context = g_value_dup_boxed (value);
      break;
    case PROP_CLOCK_MODE:
      if (g_value_get_enum (value) == P2P_SIM_CLOCK_FOLLOW)
        p2p_sim_network_set_clock_func (self, NULL, NULL, NULL);
      else
        p2p_sim_network_set_manual (self);
      break;
    case PROP_LATENCY_MS:
      p->latency_ms = g_value_get_uint (value);
      break;
    case PROP_JITTER_MS:
      p->jitter_ms = g_value_get_uint (value);
      break;
    case PROP_LOSS:
      p->loss = g_value_get_double (value);
      break;
    case PROP_DUPLICATE:
      p->duplicate = g_value_get_double (value);
      break;
    case PROP_REORDER:
      p->reorder = g_value_get_double (value);
      break;
    case PROP_BANDWIDTH_KBPS:
      p->bandwidth_kbps = g_value_get_uint (value);
      break;
    case PROP_QUEUE_BYTES:
      p->queue_bytes = g_value_get_uint (value);
      break;
    case PROP_MTU:
      p->mtu = g_value_get_uint (value);
      break;
    case PROP_FAILURE_RATE:
      p->failure_rate = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  g_rec_mutex_unlock (&self->lock);
}

static void
p2p_sim_network_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  P2pSimNetwork *self = P2P_SIM_NETWORK (object);
  P2pSimLinkParams *p = &self->default_link;

  g_rec_mutex_lock (&self->lock);
  switch (prop_id) {
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_CONTEXT:
      g_value_set_boxed (value, self->context);
      break;
    case PROP_CLOCK_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_LATENCY_MS:
      g_value_set_uint (value, p->latency_ms);
      break;
    case PROP_JITTER_MS:
      g_value_set_uint (value, p->jitter_ms);
      break;
    case PROP_LOSS:
      g_value_set_double (value, p->loss);
      break;
    case PROP_DUPLICATE:
      g_value_set_double (value, p->duplicate);
      break;
    case PROP_REORDER:
      g_value_set_double (value, p->reorder);
      break;
    case PROP_BANDWIDTH_KBPS:
      g_value_set_uint (value, p->bandwidth_kbps);
      break;
    case PROP_QUEUE_BYTES:
      g_value_set_uint (value, p->queue_bytes);
      break;
    case PROP_MTU:
      g_value_set_uint (value, p->mtu);
      break;
    case PROP_FAILURE_RATE:
      g_value_set_double (value, p->failure_rate);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  g_rec_mutex_unlock (&self->lock);
}

static GType
p2p_sim_clock_mode_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    { P2P_SIM_CLOCK_MANUAL, "P2P_SIM_CLOCK_MANUAL", "manual" },
    { P2P_SIM_CLOCK_FOLLOW, "P2P_SIM_CLOCK_FOLLOW", "follow" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("P2pSimClockMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void
p2p_sim_network_class_init (P2pSimNetworkClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  oc->constructed = p2p_sim_network_constructed;
  oc->dispose = p2p_sim_network_dispose;
  oc->finalize = p2p_sim_network_finalize;
  oc->set_property = p2p_sim_network_set_property;
  oc->get_property = p2p_sim_network_get_property;

  props[PROP_SEED] = g_param_spec_uint64 ("seed", "Seed",
      "Seed of the network's PRNG (same seed and inputs = same run); setting it later "
      "restarts the PRNG from the new seed", 0, G_MAXUINT64, 1,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  props[PROP_CONTEXT] = g_param_spec_boxed ("context", "Context",
      "GMainContext all events run on (NULL = thread default at construction)",
      G_TYPE_MAIN_CONTEXT, G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  props[PROP_CLOCK_MODE] = g_param_spec_enum ("clock-mode", "Clock mode",
      "manual: the owner advances time; follow: follow real monotonic time",
      p2p_sim_clock_mode_get_type (), P2P_SIM_CLOCK_MANUAL, rw);
  props[PROP_LATENCY_MS] = g_param_spec_uint ("latency-ms", "Latency",
      "Default one-way delay in milliseconds", 0, MAX_LATENCY_MS, 0, rw);
  props[PROP_JITTER_MS] = g_param_spec_uint ("jitter-ms", "Jitter",
      "Default extra delay, uniform in [0, jitter] milliseconds", 0, MAX_LATENCY_MS, 0, rw);
  props[PROP_LOSS] = g_param_spec_double ("loss", "Loss",
      "Probability a packet is dropped (0..1)", 0.0, 1.0, 0.0, rw);
  props[PROP_DUPLICATE] = g_param_spec_double ("duplicate", "Duplicate",
      "Probability a packet is delivered twice (0..1)", 0.0, 1.0, 0.0, rw);
  props[PROP_REORDER] = g_param_spec_double ("reorder", "Reorder",
      "Probability a packet is held back so that later ones overtake it (0..1)", 0.0, 1.0, 0.0,
      rw);
  props[PROP_BANDWIDTH_KBPS] = g_param_spec_uint ("bandwidth-kbps", "Bandwidth",
      "Link rate in kbit/s (0 = unlimited)", 0, 100000000, 0, rw);
  props[PROP_QUEUE_BYTES] = g_param_spec_uint ("queue-bytes", "Queue bytes",
      "Bytes queued before the link (with a bandwidth) beyond which packets are tail-dropped",
      1, G_MAXINT32, P2P_SIM_DEFAULT_QUEUE_BYTES, rw);
  props[PROP_MTU] = g_param_spec_uint ("mtu", "MTU",
      "Largest datagram payload carried, bytes (bigger ones are dropped)", 576, 65507,
      P2P_SIM_DEFAULT_MTU, rw);
  props[PROP_FAILURE_RATE] = g_param_spec_double ("failure-rate", "Failure rate",
      "Probability a new flow between two endpoints is black-holed (0..1)", 0.0, 1.0, 0.0, rw);
  g_object_class_install_properties (oc, N_PROPS, props);
}

/* ---------------------------------------------------------------- construction */

P2pSimNetwork *
p2p_sim_network_new (guint64 seed)
{
  return g_object_new (P2P_TYPE_SIM_NETWORK, "seed", seed, NULL);
}

static void
apply_config (P2pSimNetwork *self, const P2pConfig *config)
{
  p2p_sim_link_params_init_from_config (&self->default_link, config);
}

P2pSimNetwork *
p2p_sim_network_new_from_config (const P2pConfig *config, GMainContext *context)
{
  P2pSimNetwork *self;

  g_return_val_if_fail (config != NULL, NULL);
  self = g_object_new (P2P_TYPE_SIM_NETWORK, "seed", config->sim_seed, "context", context, NULL);
  apply_config (self, config);
  return self;
}

const char *
p2p_sim_network_get_name (P2pSimNetwork *self)
{
  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), NULL);
  return self->name;
}

P2pNetThread *
p2p_sim_network_get_net_thread (P2pSimNetwork *self)
{
  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), NULL);
  return self->thread;
}

GMainContext *
p2p_sim_network_get_context (P2pSimNetwork *self)
{
  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), NULL);
  return self->context;
}

guint64
p2p_sim_network_get_seed (P2pSimNetwork *self)
{
  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  return self->seed;
}

/* ---------------------------------------------------------------- trace, stats */

void
p2p_sim_network_set_trace (P2pSimNetwork *self, gboolean enabled)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  self->trace_on = enabled;
  g_rec_mutex_unlock (&self->lock);
}

void
p2p_sim_network_set_trace_limit (P2pSimNetwork *self, gsize max_bytes)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  self->trace_limit = max_bytes;
  g_rec_mutex_unlock (&self->lock);
}

char *
p2p_sim_network_dup_trace (P2pSimNetwork *self)
{
  char *s;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), NULL);
  g_rec_mutex_lock (&self->lock);
  s = g_strndup (self->trace->str, self->trace->len);
  g_rec_mutex_unlock (&self->lock);
  return s;
}

char *
p2p_sim_network_get_trace_hash (P2pSimNetwork *self)
{
  g_autoptr (GChecksum) copy = NULL;
  char *s;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), NULL);
  g_rec_mutex_lock (&self->lock);
  copy = g_checksum_copy (self->trace_sum);
  s = g_strdup (g_checksum_get_string (copy));
  g_rec_mutex_unlock (&self->lock);
  return s;
}

void
p2p_sim_network_get_stats (P2pSimNetwork *self, P2pSimStats *out)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self) && out != NULL);
  g_rec_mutex_lock (&self->lock);
  *out = self->stats;
  g_rec_mutex_unlock (&self->lock);
}
