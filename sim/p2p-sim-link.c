/* p2p-sim-link.c: the link model of a P2pSimNetwork: link parameters
 * (validation, defaults, per-direction overrides between two nodes) and
 * sending a datagram through it (MTU, partition, flow failure, loss,
 * bandwidth and queue, latency, jitter, reordering, duplication; see
 * docs/simulator.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-network-private.h"
#include "p2p/p2p-error.h"

#include <string.h>

#define NS_PER_MS G_GUINT64_CONSTANT (1000000)
#define DRAWS_PER_PACKET 6

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
    g_hash_table_insert (self->links, p2p_sim_u64_dup (key), l);
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
  if (p2p_sim_network_get_node (self, from) == NULL
      || p2p_sim_network_get_node (self, to) == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "simulated network: no node %u (the network has nodes 1..%u)",
        p2p_sim_network_get_node (self, from) ? to : from, self->nodes->len);
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

/* ---------------------------------------------------------------- datagrams */

gsize
p2p_sim_network_get_mtu_towards (P2pSimNetwork *self, guint node, GSocketAddress *to)
{
  guint32 key = 0;
  guint64 lk;
  gsize mtu;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), P2P_SIM_DEFAULT_MTU);
  g_rec_mutex_lock (&self->lock);
  mtu = self->default_link.mtu;
  if (to && p2p_sim_network_resolve (self, to, &key, NULL) && ep_node (key)) {
    lk = pair_key (node, ep_node (key));
    mtu = link_params (self, g_hash_table_lookup (self->links, &lk))->mtu;
  }
  g_rec_mutex_unlock (&self->lock);
  return mtu;
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
  if (!p2p_sim_network_resolve (self, to, &dst, error)) {
    g_rec_mutex_unlock (&self->lock);
    return FALSE;
  }
  now = p2p_sim_network_clock_now (self);
  self->stats.packets_sent++;
  self->stats.bytes_sent += len;
  p2p_sim_network_trace (self, "send", src, dst, len);

  b = g_hash_table_lookup (self->bindings, GUINT_TO_POINTER (src));
  sn = p2p_sim_network_get_node (self, node);
  if (b == NULL || b->dead || sn == NULL || sn->crashed) {
    p2p_sim_network_drop (self, "drop(crash)", &self->stats.dropped_crash, src, dst, len);
    goto out;
  }
  dn = p2p_sim_network_get_node (self, ep_node (dst));
  if (dn == NULL) {
    p2p_sim_network_drop (self, "drop(no-route)", &self->stats.dropped_unbound, src, dst, len);
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
    p2p_sim_network_drop (self, "drop(mtu)", &self->stats.dropped_mtu, src, dst, len);
    goto out;
  }
  if (p2p_sim_network_partitioned (self, node, ep_node (dst))) {
    p2p_sim_network_drop (self, "drop(partition)", &self->stats.dropped_partition, src, dst, len);
    goto out;
  }
  flow_key = unordered_key (src, dst);
  flow = g_hash_table_lookup (self->flows, &flow_key);
  if (flow == NULL) {
    gboolean failed = p->failure_rate > 0.0 && g_rand_double (self->rand) < p->failure_rate;

    flow = GUINT_TO_POINTER (failed ? 2 : 1);
    g_hash_table_insert (self->flows, p2p_sim_u64_dup (flow_key), flow);
  }
  if (GPOINTER_TO_UINT (flow) == 2) {
    p2p_sim_network_drop (self, "drop(failure)", &self->stats.dropped_failure, src, dst, len);
    goto out;
  }
  if (u[0] < p->loss) {
    p2p_sim_network_drop (self, "drop(loss)", &self->stats.dropped_loss, src, dst, len);
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
      p2p_sim_network_drop (self, "drop(queue)", &self->stats.dropped_queue, src, dst, len);
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
    p2p_sim_network_trace (self, "dup", src, dst, len);
    p2p_sim_network_push_event (self, &ev);
    p2p_sim_network_push_event (self, &dup);
  } else {
    p2p_sim_network_push_event (self, &ev);
  }

out:
  g_rec_mutex_unlock (&self->lock);
  return TRUE;
}
