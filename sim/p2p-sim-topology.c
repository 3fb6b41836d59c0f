/* p2p-sim-topology.c: the topology of a P2pSimNetwork: nodes and their
 * addresses (10.77.x.y), ports bound on them, partitions between nodes,
 * node crashes and restarts, failed flows.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-network-private.h"
#include "p2p/p2p-error.h"

#define MAX_NODES 65000
#define EPHEMERAL_FIRST 49152

/* ---------------------------------------------------------------- helpers */

SimNode *
p2p_sim_network_get_node (P2pSimNetwork *self, guint node)
{
  if (node == 0 || node > self->nodes->len)
    return NULL;
  return &g_array_index (self->nodes, SimNode, node - 1);
}

/* Resolves @to to an endpoint key; *known = FALSE for an IPv4 address that
 * is not a node (packets to it vanish). FALSE + error for non-IPv4. */
gboolean
p2p_sim_network_resolve (P2pSimNetwork *self, GSocketAddress *to, guint32 *key, GError **error)
{
  GInetAddress *ia;
  const guint8 *b;
  guint n;
  guint16 port;

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
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (to));
  if (b[0] != 10 || b[1] < 77 || n == 0 || n > self->nodes->len)
    n = 0;
  else {
    SimNode *node = p2p_sim_network_get_node (self, n);

    /* an address the node had before it moved leads nowhere */
    if ((guint) b[1] - 77 != node->addr_gen % 179)
      n = 0;
    else
      port ^= sim_port_mask (node->rebinds);
  }
  *key = ep_key (n, port);
  return TRUE;
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
  SimNode *n;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), NULL);
  g_rec_mutex_lock (&self->lock);
  n = p2p_sim_network_get_node (self, node);
  if (n)
    b[1] = (guint8) (77 + n->addr_gen % 179);
  g_rec_mutex_unlock (&self->lock);
  if (n == NULL)
    return NULL;
  return g_inet_address_new_from_bytes (b, G_SOCKET_FAMILY_IPV4);
}

void
p2p_sim_network_change_node_address (P2pSimNetwork *self, guint node)
{
  SimNode *n;

  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  n = p2p_sim_network_get_node (self, node);
  if (n)
    n->addr_gen++;
  g_rec_mutex_unlock (&self->lock);
}

void
p2p_sim_network_rebind_node (P2pSimNetwork *self, guint node)
{
  SimNode *n;

  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  n = p2p_sim_network_get_node (self, node);
  if (n)
    n->rebinds++;
  g_rec_mutex_unlock (&self->lock);
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
  if (!p2p_sim_network_resolve (self, sa, &key, NULL))
    key = 0;
  g_rec_mutex_unlock (&self->lock);
  return ep_node (key);
}

/* The address others see for @port of @node (after its address changes
 * and NAT rebindings). */
GSocketAddress *
p2p_sim_network_make_address (P2pSimNetwork *self, guint node, guint16 port)
{
  g_autoptr (GInetAddress) ia = p2p_sim_network_get_node_address (self, node);
  SimNode *n;

  if (ia == NULL)
    return NULL;
  g_rec_mutex_lock (&self->lock);
  n = p2p_sim_network_get_node (self, node);
  port ^= sim_port_mask (n->rebinds);
  g_rec_mutex_unlock (&self->lock);
  return g_inet_socket_address_new (ia, port);
}

void
p2p_sim_network_partition (P2pSimNetwork *self, guint node_a, guint node_b)
{
  g_return_if_fail (P2P_IS_SIM_NETWORK (self));
  g_rec_mutex_lock (&self->lock);
  g_hash_table_add (self->partitions, p2p_sim_u64_dup (unordered_key (node_a, node_b)));
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

gboolean
p2p_sim_network_partitioned (P2pSimNetwork *self, guint a, guint b)
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
  n = p2p_sim_network_get_node (self, node);
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
  n = p2p_sim_network_get_node (self, node);
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
  n = p2p_sim_network_get_node (self, node);
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
  if (p2p_sim_network_resolve (self, a, &ka, NULL)
      && p2p_sim_network_resolve (self, b, &kb, NULL)) {
    key = unordered_key (ka, kb);
    ret = GPOINTER_TO_UINT (g_hash_table_lookup (self->flows, &key)) == 2;
  }
  g_rec_mutex_unlock (&self->lock);
  return ret;
}

/* ---------------------------------------------------------------- ports */

guint16
p2p_sim_network_bind (P2pSimNetwork *self, guint node, guint16 port, P2pSimRecvFunc func,
    gpointer user_data, GError **error)
{
  SimNode *n;
  SimBinding *b;

  g_return_val_if_fail (P2P_IS_SIM_NETWORK (self), 0);
  g_rec_mutex_lock (&self->lock);
  n = p2p_sim_network_get_node (self, node);
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
