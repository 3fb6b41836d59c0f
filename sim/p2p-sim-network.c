/* p2p-sim-network.c: P2pSimNetwork, the deterministic simulated network.
 *
 * A discrete-event simulator: packet deliveries and socket timers are events
 * in a binary heap ordered by (virtual time, sequence number). One seeded
 * GRand per network, drawn in a fixed order for every packet, so that the
 * same seed and the same sends give the same drops and delivery order.
 * The link model applied to each packet is documented in docs/simulator.md.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-private.h"
#include "p2p/p2p-error.h"
#include "p2p-net-thread.h"

#include <string.h>

#define NS_PER_MS G_GUINT64_CONSTANT (1000000)
#define MAX_NODES 65000
#define EPHEMERAL_FIRST 49152
#define MAX_LATENCY_MS 600000
#define DRAWS_PER_PACKET 6
#define MAX_DISPATCH_PER_STEP 100000

typedef enum {
  EV_DELIVER,
  EV_TIMER,
} EventKind;

typedef struct {
  guint64 time;
  guint64 seq;
  EventKind kind;
  /* EV_DELIVER */
  guint32 src;       /* endpoint key: node << 16 | port */
  guint32 dst;
  GBytes *data;
  /* EV_TIMER */
  guint timer_id;
} SimEvent;

typedef struct {
  char *name;
  gboolean crashed;
  guint16 next_port;
} SimNode;

typedef struct {
  P2pSimRecvFunc func;
  gpointer user_data;
  gboolean dead;
} SimBinding;

typedef struct {
  guint32 owner;     /* endpoint key */
  P2pSimTimerFunc func;
  gpointer user_data;
} SimTimer;

typedef struct {
  gboolean has_override;
  P2pSimLinkParams params;
  guint64 busy_until;  /* when the transmitter of this direction is free */
} SimLink;

struct _P2pSimNetwork {
  GObject parent_instance;

  GRecMutex lock;
  GMainContext *context;
  char *name;
  guint64 seed;
  GRand *rand;

  P2pSimLinkParams default_link;
  GArray *nodes;              /* SimNode, index = node id - 1 */
  GHashTable *bindings;       /* endpoint key -> SimBinding */
  GHashTable *links;          /* from << 32 | to -> SimLink */
  GHashTable *partitions;     /* min << 32 | max -> 1 */
  GHashTable *flows;          /* unordered endpoint pair -> 1 ok / 2 failed */
  GHashTable *timers;         /* id -> SimTimer */
  GHashTable *peers;          /* P2pPeerId -> GSocketAddress */
  guint next_timer_id;

  GArray *heap;               /* SimEvent */
  guint64 next_seq;
  guint64 now;

  P2pSimClockMode mode;
  P2pSimClockFunc clock_func;
  gpointer clock_data;
  GDestroyNotify clock_notify;
  GSource *follow_source;

  gboolean trace_on;
  GString *trace;
  gsize trace_limit;
  GChecksum *trace_sum;

  P2pSimStats stats;

  /* named networks are served by their own thread */
  P2pNetThread *thread;
};

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

static inline guint32
ep_key (guint node, guint16 port)
{
  return ((guint32) node << 16) | port;
}

static inline guint
ep_node (guint32 key)
{
  return key >> 16;
}

static inline guint16
ep_port (guint32 key)
{
  return key & 0xffff;
}

static inline guint64
pair_key (guint32 a, guint32 b)
{
  return ((guint64) a << 32) | b;
}

static inline guint64
unordered_key (guint32 a, guint32 b)
{
  return a < b ? pair_key (a, b) : pair_key (b, a);
}

static guint
u64_hash (gconstpointer p)
{
  guint64 v = *(const guint64 *) p;
  return (guint) (v ^ (v >> 32)) * 2654435761u;
}

static gboolean
u64_equal (gconstpointer a, gconstpointer b)
{
  return *(const guint64 *) a == *(const guint64 *) b;
}

static guint64 *
u64_dup (guint64 v)
{
  guint64 *p = g_new (guint64, 1);
  *p = v;
  return p;
}

static guint64
monotonic_ns (gpointer user_data)
{
  return (guint64) g_get_monotonic_time () * 1000;
}

static SimNode *
get_node (P2pSimNetwork *self, guint node)
{
  if (node == 0 || node > self->nodes->len)
    return NULL;
  return &g_array_index (self->nodes, SimNode, node - 1);
}

static void
format_ep (char *buf, gsize size, guint32 key)
{
  guint n = ep_node (key);

  g_snprintf (buf, size, "10.77.%u.%u:%u", (n >> 8) & 0xff, n & 0xff, ep_port (key));
}

/* Resolves @to to an endpoint key; *known = FALSE for an IPv4 address that
 * is not a node (packets to it vanish). FALSE + error for non-IPv4. */
static gboolean
resolve (P2pSimNetwork *self, GSocketAddress *to, guint32 *key, GError **error)
{
  GInetAddress *ia;
  const guint8 *b;
  guint n;

  if (!G_IS_INET_SOCKET_ADDRESS (to)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "simulated network: destination is not an IPv4 ADDRESS:PORT");
    return FALSE;
  }
  ia = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (to));
  if (g_inet_address_get_family (ia) != G_SOCKET_FAMILY_IPV4) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "simulated network: only IPv4 node addresses (10.77.x.y) exist");
    return FALSE;
  }
  b = g_inet_address_to_bytes (ia);
  n = ((guint) b[2] << 8) | b[3];
  if (b[0] != 10 || b[1] != 77 || n == 0 || n > self->nodes->len)
    n = 0;
  *key = ep_key (n, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (to)));
  return TRUE;
}

static void
trace_event (P2pSimNetwork *self, const char *kind, guint32 src, guint32 dst, gsize size)
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

/* ---------------------------------------------------------------- heap */

static gboolean
ev_before (const SimEvent *a, const SimEvent *b)
{
  return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void
heap_push (P2pSimNetwork *self, SimEvent *ev)
{
  GArray *h = self->heap;
  guint i;

  ev->seq = self->next_seq++;
  g_array_append_val (h, *ev);
  i = h->len - 1;
  while (i > 0) {
    guint parent = (i - 1) / 2;
    SimEvent *pi = &g_array_index (h, SimEvent, parent);
    SimEvent *ci = &g_array_index (h, SimEvent, i);
    SimEvent tmp;

    if (!ev_before (ci, pi))
      break;
    tmp = *pi;
    *pi = *ci;
    *ci = tmp;
    i = parent;
  }
}

static void
heap_pop (P2pSimNetwork *self, SimEvent *out)
{
  GArray *h = self->heap;
  guint i = 0;

  *out = g_array_index (h, SimEvent, 0);
  g_array_index (h, SimEvent, 0) = g_array_index (h, SimEvent, h->len - 1);
  g_array_set_size (h, h->len - 1);
  for (;;) {
    guint l = 2 * i + 1, r = l + 1, m = i;
    SimEvent tmp;

    if (l < h->len && ev_before (&g_array_index (h, SimEvent, l), &g_array_index (h, SimEvent, m)))
      m = l;
    if (r < h->len && ev_before (&g_array_index (h, SimEvent, r), &g_array_index (h, SimEvent, m)))
      m = r;
    if (m == i)
      break;
    tmp = g_array_index (h, SimEvent, m);
    g_array_index (h, SimEvent, m) = g_array_index (h, SimEvent, i);
    g_array_index (h, SimEvent, i) = tmp;
    i = m;
  }
}

static void
clear_event (gpointer p)
{
  SimEvent *ev = p;

  g_clear_pointer (&ev->data, g_bytes_unref);
}

/* ---------------------------------------------------------------- follow mode */

static void reschedule_follow (P2pSimNetwork *self);

static guint64
clock_now (P2pSimNetwork *self)
{
  if (self->mode == P2P_SIM_CLOCK_FOLLOW) {
    guint64 ext = self->clock_func (self->clock_data);

    if (ext > self->now)
      self->now = ext;
  }
  return self->now;
}

/* The source holds the network weakly, and a strong reference while it
 * dispatches: the last reference may be dropped on another thread (or by a
 * callback of this dispatch) while events run, and g_source_destroy() does
 * not wait for a dispatch in progress (it ran on a freed network,
 * ~1 run in 6 of unit/sim-network). */
typedef struct {
  GSource source;
  GWeakRef net;
} FollowSource;

static gboolean
follow_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  g_autoptr (P2pSimNetwork) self = g_weak_ref_get (&((FollowSource *) source)->net);
  guint64 now;

  if (self == NULL)
    return G_SOURCE_REMOVE;
  g_rec_mutex_lock (&self->lock);
  now = self->mode == P2P_SIM_CLOCK_FOLLOW ? self->clock_func (self->clock_data) : self->now;
  g_rec_mutex_unlock (&self->lock);
  p2p_sim_network_process_due (self, now);
  return G_SOURCE_CONTINUE;
}

static void
follow_finalize (GSource *source)
{
  g_weak_ref_clear (&((FollowSource *) source)->net);
}

static GSourceFuncs follow_funcs = {
  .dispatch = follow_dispatch,
  .finalize = follow_finalize,
};

/* Sets the follow source's ready time to the next event (lock held). */
static void
reschedule_follow (P2pSimNetwork *self)
{
  guint64 next, ext;
  gint64 ready;

  if (self->follow_source == NULL)
    return;
  if (self->heap->len == 0) {
    g_source_set_ready_time (self->follow_source, -1);
    return;
  }
  next = g_array_index (self->heap, SimEvent, 0).time;
  ext = self->clock_func (self->clock_data);
  ready = g_get_monotonic_time ();
  if (next > ext)
    ready += (gint64) ((next - ext + 999) / 1000);
  g_source_set_ready_time (self->follow_source, ready);
}

static void
push_event (P2pSimNetwork *self, SimEvent *ev)
{
  heap_push (self, ev);
  if (self->follow_source && g_array_index (self->heap, SimEvent, 0).seq == ev->seq)
    reschedule_follow (self);
}

/* ---------------------------------------------------------------- params */

void
p2p_sim_link_params_init (P2pSimLinkParams *params)
{
  g_return_if_fail (params != NULL);
  memset (params, 0, sizeof *params);
  params->queue_bytes = P2P_SIM_DEFAULT_QUEUE_BYTES;
  params->mtu = P2P_SIM_DEFAULT_MTU;
}

static gboolean
check_prob (const char *field, double v, GError **error)
{
  if (!(v >= 0.0 && v <= 1.0)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "simulated link: %s=%g is out of range: expected a probability 0.0..1.0", field, v);
    return FALSE;
  }
  return TRUE;
}

gboolean
p2p_sim_link_params_validate (const P2pSimLinkParams *p, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);

  if (p->latency_ms > MAX_LATENCY_MS || p->jitter_ms > MAX_LATENCY_MS) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "simulated link: %s=%u ms is out of range: expected 0..%u",
        p->latency_ms > MAX_LATENCY_MS ? "latency-ms" : "jitter-ms",
        p->latency_ms > MAX_LATENCY_MS ? p->latency_ms : p->jitter_ms, MAX_LATENCY_MS);
    return FALSE;
  }
  if (!check_prob ("loss", p->loss, error) || !check_prob ("duplicate", p->duplicate, error)
      || !check_prob ("reorder", p->reorder, error)
      || !check_prob ("failure-rate", p->failure_rate, error))
    return FALSE;
  if (p->bandwidth_kbps > 100000000) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "simulated link: bandwidth-kbps=%u is out of range: expected 0..100000000 (0 = unlimited)",
        p->bandwidth_kbps);
    return FALSE;
  }
  if (p->queue_bytes == 0 || p->queue_bytes > G_MAXINT32) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "simulated link: queue-bytes=%u is out of range: expected 1..%d", p->queue_bytes,
        G_MAXINT32);
    return FALSE;
  }
  if (p->mtu < 576 || p->mtu > 65507) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "simulated link: mtu=%u is out of range: expected 576..65507", p->mtu);
    return FALSE;
  }
  return TRUE;
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
  self->links = g_hash_table_new_full (u64_hash, u64_equal, g_free, g_free);
  self->partitions = g_hash_table_new_full (u64_hash, u64_equal, g_free, NULL);
  self->flows = g_hash_table_new_full (u64_hash, u64_equal, g_free, NULL);
  self->timers = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  self->peers = g_hash_table_new_full ((GHashFunc) p2p_peer_id_hash,
      (GEqualFunc) p2p_peer_id_equal, (GDestroyNotify) p2p_peer_id_free, g_object_unref);
  self->heap = g_array_new (FALSE, FALSE, sizeof (SimEvent));
  self->next_timer_id = 1;
  self->mode = P2P_SIM_CLOCK_MANUAL;
  self->clock_func = monotonic_ns;
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
stop_follow_source (P2pSimNetwork *self)
{
  if (self->follow_source) {
    g_source_destroy (self->follow_source);
    g_clear_pointer (&self->follow_source, g_source_unref);
  }
}

static GMutex named_lock;
static GHashTable *named_networks; /* name -> NamedEntry */

typedef struct {
  GWeakRef ref;
  P2pSimNetwork *raw;
} NamedEntry;

static void
named_entry_free (gpointer p)
{
  NamedEntry *e = p;

  g_weak_ref_clear (&e->ref);
  g_free (e);
}

static void
p2p_sim_network_dispose (GObject *object)
{
  P2pSimNetwork *self = P2P_SIM_NETWORK (object);

  /* stops and joins the thread (detaches it when called on it) */
  g_clear_pointer (&self->thread, p2p_net_thread_unref);
  g_rec_mutex_lock (&self->lock);
  stop_follow_source (self);
  g_rec_mutex_unlock (&self->lock);
  G_OBJECT_CLASS (p2p_sim_network_parent_class)->dispose (object);
}

static void
p2p_sim_network_finalize (GObject *object)
{
  P2pSimNetwork *self = P2P_SIM_NETWORK (object);
  guint i;

  if (self->name) {
    g_mutex_lock (&named_lock);
    if (named_networks) {
      NamedEntry *e = g_hash_table_lookup (named_networks, self->name);

      if (e && e->raw == self)
        g_hash_table_remove (named_networks, self->name);
    }
    g_mutex_unlock (&named_lock);
  }
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
    clear_event (&g_array_index (self->heap, SimEvent, i));
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

void
p2p_sim_link_params_init_from_config (P2pSimLinkParams *p, const P2pConfig *config)
{
  g_return_if_fail (p != NULL);
  g_return_if_fail (config != NULL);

  p2p_sim_link_params_init (p);
  p->latency_ms = MIN (config->sim_latency_ms, MAX_LATENCY_MS);
  p->jitter_ms = MIN (config->sim_jitter_ms, MAX_LATENCY_MS);
  p->loss = CLAMP (config->sim_packet_loss, 0.0, 1.0);
  p->bandwidth_kbps = MIN (config->sim_bandwidth_kbps, 100000000);
  p->failure_rate = CLAMP (config->sim_failure_rate, 0.0, 1.0);
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

P2pSimNetwork *
p2p_sim_network_get_named (const char *name, GError **error)
{
  return p2p_sim_network_get_named_full (name, NULL, error);
}

P2pSimNetwork *
p2p_sim_network_get_named_full (const char *name, const P2pConfig *config, GError **error)
{
  P2pSimNetwork *self = NULL;
  NamedEntry *e;

  g_return_val_if_fail (name != NULL, NULL);
  if (*name == '\0') {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "simulated network name is empty: give a name such as \"default\"");
    return NULL;
  }

  g_mutex_lock (&named_lock);
  if (named_networks == NULL)
    named_networks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, named_entry_free);
  e = g_hash_table_lookup (named_networks, name);
  if (e)
    self = g_weak_ref_get (&e->ref);
  if (self == NULL) {
    P2pNetThread *thread;
    g_autoptr (P2pConfig) env = config ? NULL : p2p_config_new_from_env (error);

    if (config == NULL && env == NULL) {
      g_mutex_unlock (&named_lock);
      return NULL;
    }
    if (config == NULL)
      config = env;
    thread = p2p_net_thread_new ("p2p-sim-net");
    self = p2p_sim_network_new_from_config (config, p2p_net_thread_get_context (thread));
    self->thread = thread;
    self->name = g_strdup (name);
    p2p_sim_network_set_clock_func (self, NULL, NULL, NULL);
    e = g_new0 (NamedEntry, 1);
    g_weak_ref_init (&e->ref, self);
    e->raw = self;
    g_hash_table_replace (named_networks, g_strdup (name), e);
  }
  g_mutex_unlock (&named_lock);
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

/* ---------------------------------------------------------------- links */

void
p2p_sim_network_get_default_link (P2pSimNetwork *self, P2pSimLinkParams *out)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self) && out != NULL);
  g_rec_mutex_lock (&self->lock);
  *out = self->default_link;
  g_rec_mutex_unlock (&self->lock);
}

gboolean
p2p_sim_network_set_default_link (P2pSimNetwork *self, const P2pSimLinkParams *params,
    GError **error)
{
  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self) && params != NULL, FALSE);
  if (!p2p_sim_link_params_validate (params, error))
    return FALSE;
  g_rec_mutex_lock (&self->lock);
  self->default_link = *params;
  g_rec_mutex_unlock (&self->lock);
  return TRUE;
}

static SimLink *
get_link (P2pSimNetwork *self, guint from, guint to)
{
  guint64 key = pair_key (from, to);
  SimLink *l = g_hash_table_lookup (self->links, &key);

  if (l == NULL) {
    l = g_new0 (SimLink, 1);
    g_hash_table_insert (self->links, u64_dup (key), l);
  }
  return l;
}

static const P2pSimLinkParams *
link_params (P2pSimNetwork *self, SimLink *l)
{
  return l && l->has_override ? &l->params : &self->default_link;
}

gboolean
p2p_sim_network_set_link (P2pSimNetwork *self, guint from, guint to,
    const P2pSimLinkParams *params, GError **error)
{
  SimLink *l;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self) && params != NULL, FALSE);
  if (!p2p_sim_link_params_validate (params, error))
    return FALSE;
  g_rec_mutex_lock (&self->lock);
  if (get_node (self, from) == NULL || get_node (self, to) == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "simulated network: no node %u (the network has nodes 1..%u)",
        get_node (self, from) ? to : from, self->nodes->len);
    g_rec_mutex_unlock (&self->lock);
    return FALSE;
  }
  l = get_link (self, from, to);
  l->has_override = TRUE;
  l->params = *params;
  g_rec_mutex_unlock (&self->lock);
  return TRUE;
}

void
p2p_sim_network_clear_link (P2pSimNetwork *self, guint from, guint to)
{
  guint64 key = pair_key (from, to);
  SimLink *l;

  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  l = g_hash_table_lookup (self->links, &key);
  if (l)
    l->has_override = FALSE;
  g_rec_mutex_unlock (&self->lock);
}

/* ---------------------------------------------------------------- nodes */

guint
p2p_sim_network_add_node (P2pSimNetwork *self, const char *name)
{
  SimNode n = { 0 };
  guint id;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  g_rec_mutex_lock (&self->lock);
  if (self->nodes->len >= MAX_NODES) {
    g_rec_mutex_unlock (&self->lock);
    return 0;
  }
  n.name = g_strdup (name);
  n.next_port = EPHEMERAL_FIRST;
  g_array_append_val (self->nodes, n);
  id = self->nodes->len;
  g_rec_mutex_unlock (&self->lock);
  return id;
}

guint
p2p_sim_network_get_n_nodes (P2pSimNetwork *self)
{
  guint n;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  g_rec_mutex_lock (&self->lock);
  n = self->nodes->len;
  g_rec_mutex_unlock (&self->lock);
  return n;
}

GInetAddress *
p2p_sim_network_get_node_address (P2pSimNetwork *self, guint node)
{
  guint8 b[4] = { 10, 77, (node >> 8) & 0xff, node & 0xff };

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), NULL);
  if (node == 0 || node > p2p_sim_network_get_n_nodes (self))
    return NULL;
  return g_inet_address_new_from_bytes (b, G_SOCKET_FAMILY_IPV4);
}

guint
p2p_sim_network_find_node (P2pSimNetwork *self, GInetAddress *address)
{
  g_autoptr (GSocketAddress) sa = NULL;
  guint32 key = 0;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  g_return_val_if_fail (G_IS_INET_ADDRESS (address), 0);
  sa = g_inet_socket_address_new (address, 1);
  g_rec_mutex_lock (&self->lock);
  if (!resolve (self, sa, &key, NULL))
    key = 0;
  g_rec_mutex_unlock (&self->lock);
  return ep_node (key);
}

GSocketAddress *
p2p_sim_network_make_address (P2pSimNetwork *self, guint node, guint16 port)
{
  g_autoptr (GInetAddress) ia = p2p_sim_network_get_node_address (self, node);

  if (ia == NULL)
    return NULL;
  return g_inet_socket_address_new (ia, port);
}

void
p2p_sim_network_partition (P2pSimNetwork *self, guint node_a, guint node_b)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  g_hash_table_add (self->partitions, u64_dup (unordered_key (node_a, node_b)));
  g_rec_mutex_unlock (&self->lock);
}

void
p2p_sim_network_heal (P2pSimNetwork *self, guint node_a, guint node_b)
{
  guint64 key = unordered_key (node_a, node_b);

  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  g_hash_table_remove (self->partitions, &key);
  g_rec_mutex_unlock (&self->lock);
}

void
p2p_sim_network_heal_all (P2pSimNetwork *self)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  g_hash_table_remove_all (self->partitions);
  g_rec_mutex_unlock (&self->lock);
}

static gboolean
partitioned (P2pSimNetwork *self, guint a, guint b)
{
  guint64 key = unordered_key (a, b);

  return g_hash_table_size (self->partitions) > 0
      && g_hash_table_contains (self->partitions, &key);
}

void
p2p_sim_network_crash_node (P2pSimNetwork *self, guint node)
{
  GHashTableIter it;
  gpointer k, v;
  SimNode *n;

  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  n = get_node (self, node);
  if (n) {
    n->crashed = TRUE;
    g_hash_table_iter_init (&it, self->bindings);
    while (g_hash_table_iter_next (&it, &k, &v))
      if (ep_node (GPOINTER_TO_UINT (k)) == node)
        ((SimBinding *) v)->dead = TRUE;
  }
  g_rec_mutex_unlock (&self->lock);
}

void
p2p_sim_network_restart_node (P2pSimNetwork *self, guint node)
{
  SimNode *n;

  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  n = get_node (self, node);
  if (n)
    n->crashed = FALSE;
  g_rec_mutex_unlock (&self->lock);
}

gboolean
p2p_sim_network_node_is_crashed (P2pSimNetwork *self, guint node)
{
  SimNode *n;
  gboolean ret;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), FALSE);
  g_rec_mutex_lock (&self->lock);
  n = get_node (self, node);
  ret = n && n->crashed;
  g_rec_mutex_unlock (&self->lock);
  return ret;
}

gboolean
p2p_sim_network_flow_is_failed (P2pSimNetwork *self, GSocketAddress *a, GSocketAddress *b)
{
  guint32 ka, kb;
  guint64 key;
  gboolean ret = FALSE;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), FALSE);
  g_rec_mutex_lock (&self->lock);
  if (resolve (self, a, &ka, NULL) && resolve (self, b, &kb, NULL)) {
    key = unordered_key (ka, kb);
    ret = GPOINTER_TO_UINT (g_hash_table_lookup (self->flows, &key)) == 2;
  }
  g_rec_mutex_unlock (&self->lock);
  return ret;
}

/* ---------------------------------------------------------------- registry */

void
p2p_sim_network_register_peer (P2pSimNetwork *self, const P2pPeerId *peer,
    GSocketAddress *address)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self) && peer != NULL && G_IS_SOCKET_ADDRESS (address));
  g_rec_mutex_lock (&self->lock);
  g_hash_table_replace (self->peers, p2p_peer_id_copy (peer), g_object_ref (address));
  g_rec_mutex_unlock (&self->lock);
}

void
p2p_sim_network_unregister_peer (P2pSimNetwork *self, const P2pPeerId *peer)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self) && peer != NULL);
  g_rec_mutex_lock (&self->lock);
  g_hash_table_remove (self->peers, peer);
  g_rec_mutex_unlock (&self->lock);
}

GSocketAddress *
p2p_sim_network_lookup_peer (P2pSimNetwork *self, const P2pPeerId *peer)
{
  GSocketAddress *a;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self) && peer != NULL, NULL);
  g_rec_mutex_lock (&self->lock);
  a = g_hash_table_lookup (self->peers, peer);
  if (a)
    g_object_ref (a);
  g_rec_mutex_unlock (&self->lock);
  return a;
}

/* ---------------------------------------------------------------- datagrams */

guint16
p2p_sim_network_bind (P2pSimNetwork *self, guint node, guint16 port, P2pSimRecvFunc func,
    gpointer user_data, GError **error)
{
  SimNode *n;
  SimBinding *b;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  g_rec_mutex_lock (&self->lock);
  n = get_node (self, node);
  if (n == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "simulated network: no node %u (the network has nodes 1..%u)", node, self->nodes->len);
    goto fail;
  }
  if (n->crashed) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
        "simulated network: node %u is crashed: restart it before binding", node);
    goto fail;
  }
  if (port == 0) {
    guint tries;

    for (tries = 0; tries < 65536 - EPHEMERAL_FIRST; tries++) {
      guint16 p = n->next_port;

      n->next_port = p == 65535 ? EPHEMERAL_FIRST : p + 1;
      if (!g_hash_table_contains (self->bindings, GUINT_TO_POINTER (ep_key (node, p)))) {
        port = p;
        break;
      }
    }
    if (port == 0) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
          "simulated network: node %u has no free ephemeral port", node);
      goto fail;
    }
  } else if (g_hash_table_contains (self->bindings, GUINT_TO_POINTER (ep_key (node, port)))) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
        "simulated network: port %u on node %u is already in use: pick another or 0 for any",
        port, node);
    goto fail;
  }
  b = g_new0 (SimBinding, 1);
  b->func = func;
  b->user_data = user_data;
  g_hash_table_insert (self->bindings, GUINT_TO_POINTER (ep_key (node, port)), b);
  g_rec_mutex_unlock (&self->lock);
  return port;

fail:
  g_rec_mutex_unlock (&self->lock);
  return 0;
}

void
p2p_sim_network_unbind (P2pSimNetwork *self, guint node, guint16 port)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  g_hash_table_remove (self->bindings, GUINT_TO_POINTER (ep_key (node, port)));
  g_rec_mutex_unlock (&self->lock);
}

gboolean
p2p_sim_network_binding_alive (P2pSimNetwork *self, guint node, guint16 port)
{
  SimBinding *b;
  gboolean ret;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), FALSE);
  g_rec_mutex_lock (&self->lock);
  b = g_hash_table_lookup (self->bindings, GUINT_TO_POINTER (ep_key (node, port)));
  ret = b && !b->dead;
  g_rec_mutex_unlock (&self->lock);
  return ret;
}

gsize
p2p_sim_network_get_mtu_towards (P2pSimNetwork *self, guint node, GSocketAddress *to)
{
  guint32 key = 0;
  guint64 lk;
  gsize mtu;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), P2P_SIM_DEFAULT_MTU);
  g_rec_mutex_lock (&self->lock);
  mtu = self->default_link.mtu;
  if (to && resolve (self, to, &key, NULL) && ep_node (key)) {
    lk = pair_key (node, ep_node (key));
    mtu = link_params (self, g_hash_table_lookup (self->links, &lk))->mtu;
  }
  g_rec_mutex_unlock (&self->lock);
  return mtu;
}

static void
drop (P2pSimNetwork *self, const char *reason, guint64 *counter, guint32 src, guint32 dst,
    gsize len)
{
  (*counter)++;
  trace_event (self, reason, src, dst, len);
}

static guint64
ms_draw (double u, guint ms)
{
  return (guint64) (u * (double) ms * (double) NS_PER_MS);
}

gboolean
p2p_sim_network_send (P2pSimNetwork *self, guint node, guint16 port, GSocketAddress *to,
    const guint8 *data, gsize len, GError **error)
{
  guint32 src = ep_key (node, port), dst;
  SimBinding *b;
  SimNode *sn, *dn;
  SimLink *l = NULL;
  const P2pSimLinkParams *p;
  double u[DRAWS_PER_PACKET];
  guint64 depart, flow_key, base, now;
  gpointer flow;
  SimEvent ev = { 0 };
  guint i;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  g_rec_mutex_lock (&self->lock);
  if (!resolve (self, to, &dst, error)) {
    g_rec_mutex_unlock (&self->lock);
    return FALSE;
  }
  now = clock_now (self);
  self->stats.packets_sent++;
  self->stats.bytes_sent += len;
  trace_event (self, "send", src, dst, len);

  b = g_hash_table_lookup (self->bindings, GUINT_TO_POINTER (src));
  sn = get_node (self, node);
  if (b == NULL || b->dead || sn == NULL || sn->crashed) {
    drop (self, "drop(crash)", &self->stats.dropped_crash, src, dst, len);
    goto out;
  }
  dn = get_node (self, ep_node (dst));
  if (dn == NULL) {
    drop (self, "drop(no-route)", &self->stats.dropped_unbound, src, dst, len);
    goto out;
  }

  for (i = 0; i < DRAWS_PER_PACKET; i++)
    u[i] = g_rand_double (self->rand);

  {
    guint64 lk = pair_key (node, ep_node (dst));

    l = g_hash_table_lookup (self->links, &lk);
  }
  p = link_params (self, l);

  if (len > p->mtu) {
    drop (self, "drop(mtu)", &self->stats.dropped_mtu, src, dst, len);
    goto out;
  }
  if (partitioned (self, node, ep_node (dst))) {
    drop (self, "drop(partition)", &self->stats.dropped_partition, src, dst, len);
    goto out;
  }
  flow_key = unordered_key (src, dst);
  flow = g_hash_table_lookup (self->flows, &flow_key);
  if (flow == NULL) {
    gboolean failed = p->failure_rate > 0.0 && g_rand_double (self->rand) < p->failure_rate;

    flow = GUINT_TO_POINTER (failed ? 2 : 1);
    g_hash_table_insert (self->flows, u64_dup (flow_key), flow);
  }
  if (GPOINTER_TO_UINT (flow) == 2) {
    drop (self, "drop(failure)", &self->stats.dropped_failure, src, dst, len);
    goto out;
  }
  if (u[0] < p->loss) {
    drop (self, "drop(loss)", &self->stats.dropped_loss, src, dst, len);
    goto out;
  }

  depart = now;
  if (p->bandwidth_kbps > 0) {
    guint64 tx_ns = (guint64) len * G_GUINT64_CONSTANT (8000000) / p->bandwidth_kbps;
    guint64 backlog = 0;

    if (l == NULL)
      l = get_link (self, node, ep_node (dst));
    if (l->busy_until > now)
      backlog = (l->busy_until - now) * p->bandwidth_kbps / G_GUINT64_CONSTANT (8000000);
    if (backlog + len > p->queue_bytes) {
      drop (self, "drop(queue)", &self->stats.dropped_queue, src, dst, len);
      goto out;
    }
    depart = MAX (now, l->busy_until) + tx_ns;
    l->busy_until = depart;
  }

  base = depart + (guint64) p->latency_ms * NS_PER_MS;
  ev.kind = EV_DELIVER;
  ev.src = src;
  ev.dst = dst;
  ev.data = g_bytes_new (data, len);
  ev.time = base + ms_draw (u[1], p->jitter_ms);
  if (u[2] < p->reorder) {
    ev.time += NS_PER_MS + ms_draw (u[3], MAX (p->latency_ms, 10));
    self->stats.packets_reordered++;
  }
  if (u[4] < p->duplicate) {
    SimEvent dup = ev;

    dup.data = g_bytes_ref (ev.data);
    dup.time = base + ms_draw (u[5], MAX (p->jitter_ms, 1));
    self->stats.packets_duplicated++;
    trace_event (self, "dup", src, dst, len);
    push_event (self, &ev);
    push_event (self, &dup);
  } else {
    push_event (self, &ev);
  }

out:
  g_rec_mutex_unlock (&self->lock);
  return TRUE;
}

/* ---------------------------------------------------------------- timers */

guint
p2p_sim_network_add_timer (P2pSimNetwork *self, guint node, guint16 port, guint64 deadline_ns,
    P2pSimTimerFunc func, gpointer user_data)
{
  SimTimer *t;
  SimEvent ev = { 0 };
  guint id;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  g_return_val_if_fail (func != NULL, 0);
  g_rec_mutex_lock (&self->lock);
  id = self->next_timer_id++;
  if (self->next_timer_id == 0)
    self->next_timer_id = 1;
  t = g_new0 (SimTimer, 1);
  t->owner = ep_key (node, port);
  t->func = func;
  t->user_data = user_data;
  g_hash_table_insert (self->timers, GUINT_TO_POINTER (id), t);
  ev.kind = EV_TIMER;
  ev.timer_id = id;
  ev.src = t->owner;
  ev.time = MAX (deadline_ns, self->now);
  push_event (self, &ev);
  g_rec_mutex_unlock (&self->lock);
  return id;
}

void
p2p_sim_network_cancel_timer (P2pSimNetwork *self, guint id)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  /* the heap entry stays and is skipped when it comes up */
  g_hash_table_remove (self->timers, GUINT_TO_POINTER (id));
  g_rec_mutex_unlock (&self->lock);
}

/* ---------------------------------------------------------------- event loop */

/* Pops and runs the first event if it is due at or before @limit (lock is
 * taken inside; callbacks run without it). FALSE when nothing is due. */
static gboolean
run_one (P2pSimNetwork *self, guint64 limit)
{
  SimEvent ev;
  P2pSimRecvFunc rfunc = NULL;
  P2pSimTimerFunc tfunc = NULL;
  gpointer udata = NULL;
  g_autoptr (GSocketAddress) from = NULL;

  g_rec_mutex_lock (&self->lock);
  if (self->heap->len == 0 || g_array_index (self->heap, SimEvent, 0).time > limit) {
    g_rec_mutex_unlock (&self->lock);
    return FALSE;
  }
  heap_pop (self, &ev);
  if (ev.time > self->now)
    self->now = ev.time;

  if (ev.kind == EV_TIMER) {
    SimTimer *t = g_hash_table_lookup (self->timers, GUINT_TO_POINTER (ev.timer_id));

    if (t) {
      SimBinding *b = g_hash_table_lookup (self->bindings, GUINT_TO_POINTER (t->owner));
      SimNode *n = get_node (self, ep_node (t->owner));

      if (!(n && n->crashed) && !(b && b->dead)) {
        tfunc = t->func;
        udata = t->user_data;
        self->stats.timers_fired++;
        trace_event (self, "timer", t->owner, 0, 0);
      }
      g_hash_table_remove (self->timers, GUINT_TO_POINTER (ev.timer_id));
    }
  } else {
    gsize len = g_bytes_get_size (ev.data);
    SimNode *dn = get_node (self, ep_node (ev.dst));
    SimBinding *b = g_hash_table_lookup (self->bindings, GUINT_TO_POINTER (ev.dst));

    if (partitioned (self, ep_node (ev.src), ep_node (ev.dst))) {
      drop (self, "drop(partition)", &self->stats.dropped_partition, ev.src, ev.dst, len);
    } else if ((dn && dn->crashed) || (b && b->dead)) {
      drop (self, "drop(crash)", &self->stats.dropped_crash, ev.src, ev.dst, len);
    } else if (b == NULL) {
      drop (self, "drop(unbound)", &self->stats.dropped_unbound, ev.src, ev.dst, len);
    } else {
      self->stats.packets_delivered++;
      self->stats.bytes_delivered += len;
      trace_event (self, "deliver", ev.src, ev.dst, len);
      rfunc = b->func;
      udata = b->user_data;
      from = p2p_sim_network_make_address (self, ep_node (ev.src), ep_port (ev.src));
    }
  }
  g_rec_mutex_unlock (&self->lock);

  if (tfunc)
    tfunc (udata);
  if (rfunc)
    rfunc (g_bytes_get_data (ev.data, NULL), g_bytes_get_size (ev.data), from, udata);
  clear_event (&ev);
  return TRUE;
}

static gboolean
dispatch_context (P2pSimNetwork *self)
{
  guint n = 0;

  while (n < MAX_DISPATCH_PER_STEP && g_main_context_iteration (self->context, FALSE))
    n++;
  return n > 0;
}

/* The MANUAL run loop: events up to @limit; stops early when @cond holds
 * (returns TRUE) or when nothing is pending (*idle = TRUE). */
static gboolean
run_loop_owned (P2pSimNetwork *self, guint64 limit, GSourceFunc cond, gpointer data,
    gboolean *idle)
{
  *idle = FALSE;
  for (;;) {
    dispatch_context (self);
    if (cond && cond (data))
      return TRUE;
    if (!run_one (self, limit)) {
      gboolean empty;

      if (dispatch_context (self))
        continue;
      g_rec_mutex_lock (&self->lock);
      empty = self->heap->len == 0;
      g_rec_mutex_unlock (&self->lock);
      *idle = empty;
      return cond ? cond (data) : FALSE;
    }
  }
}

/* Holds the context for the whole run, so that @cond runs as its owner:
 * blocking connection calls made there fail with WOULD_BLOCK instead of
 * waiting, which keeps a MANUAL run on one thread and deterministic. */
static gboolean
run_loop (P2pSimNetwork *self, guint64 limit, GSourceFunc cond, gpointer data, gboolean *idle)
{
  gboolean owned = g_main_context_acquire (self->context);
  gboolean ret = run_loop_owned (self, limit, cond, data, idle);

  if (owned)
    g_main_context_release (self->context);
  return ret;
}

static guint64
limit_after (P2pSimNetwork *self, guint64 ns)
{
  guint64 now = p2p_sim_network_now (self);

  return ns > G_MAXUINT64 - now ? G_MAXUINT64 : now + ns;
}

static void
set_now_at_least (P2pSimNetwork *self, guint64 t)
{
  g_rec_mutex_lock (&self->lock);
  if (t > self->now && t != G_MAXUINT64)
    self->now = t;
  g_rec_mutex_unlock (&self->lock);
}

void
p2p_sim_network_run_until (P2pSimNetwork *self, guint64 t)
{
  gboolean idle;

  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  run_loop (self, t, NULL, NULL, &idle);
  set_now_at_least (self, t);
}

void
p2p_sim_network_advance (P2pSimNetwork *self, guint64 ns)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  p2p_sim_network_run_until (self, limit_after (self, ns));
}

gboolean
p2p_sim_network_run_until_idle (P2pSimNetwork *self, guint64 max_ns)
{
  guint64 limit;
  gboolean idle;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), FALSE);
  limit = limit_after (self, max_ns);
  run_loop (self, limit, NULL, NULL, &idle);
  if (!idle)
    set_now_at_least (self, limit);
  return idle;
}

gboolean
p2p_sim_network_run_until_cond (P2pSimNetwork *self, GSourceFunc cond, gpointer data,
    guint64 max_ns)
{
  guint64 limit;
  gboolean idle, ret;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), FALSE);
  g_return_val_if_fail (cond != NULL, FALSE);
  limit = limit_after (self, max_ns);
  ret = run_loop (self, limit, cond, data, &idle);
  if (!ret && !idle)
    set_now_at_least (self, limit);
  return ret;
}

guint64
p2p_sim_network_now (P2pSimNetwork *self)
{
  guint64 now;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  g_rec_mutex_lock (&self->lock);
  now = clock_now (self);
  g_rec_mutex_unlock (&self->lock);
  return now;
}

guint64
p2p_sim_network_get_next_deadline (P2pSimNetwork *self)
{
  guint64 t;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), G_MAXUINT64);
  g_rec_mutex_lock (&self->lock);
  t = self->heap->len ? g_array_index (self->heap, SimEvent, 0).time : G_MAXUINT64;
  g_rec_mutex_unlock (&self->lock);
  return t;
}

guint
p2p_sim_network_process_due (P2pSimNetwork *self, guint64 now)
{
  guint n = 0;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  set_now_at_least (self, now);
  while (run_one (self, now))
    n++;
  g_rec_mutex_lock (&self->lock);
  reschedule_follow (self);
  g_rec_mutex_unlock (&self->lock);
  return n;
}

P2pSimClockMode
p2p_sim_network_get_clock_mode (P2pSimNetwork *self)
{
  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), P2P_SIM_CLOCK_MANUAL);
  return self->mode;
}

void
p2p_sim_network_set_clock_func (P2pSimNetwork *self, P2pSimClockFunc func, gpointer user_data,
    GDestroyNotify notify)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  if (self->clock_notify)
    self->clock_notify (self->clock_data);
  self->clock_func = func ? func : monotonic_ns;
  self->clock_data = func ? user_data : NULL;
  self->clock_notify = func ? notify : NULL;
  self->mode = P2P_SIM_CLOCK_FOLLOW;
  if (self->follow_source == NULL && self->context) {
    self->follow_source = g_source_new (&follow_funcs, sizeof (FollowSource));
    g_weak_ref_init (&((FollowSource *) self->follow_source)->net, self);
    g_source_set_static_name (self->follow_source, "p2p-sim-network");
    g_source_attach (self->follow_source, self->context);
  }
  clock_now (self);
  reschedule_follow (self);
  g_rec_mutex_unlock (&self->lock);
}

void
p2p_sim_network_set_manual (P2pSimNetwork *self)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  stop_follow_source (self);
  self->mode = P2P_SIM_CLOCK_MANUAL;
  g_rec_mutex_unlock (&self->lock);
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
