/* p2p-sim-registry.c: the registries of the simulator: named networks
 * (process-wide, weakly held, each served by its own network thread) and
 * the peer IDs registered on a network (peer ID -> address).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-sim-network-private.h"
#include "p2p/p2p-error.h"

/* ---------------------------------------------------------------- named networks */

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

void
p2p_sim_network_forget_named (P2pSimNetwork *self)
{
  g_mutex_lock (&named_lock);
  if (named_networks) {
    NamedEntry *e = g_hash_table_lookup (named_networks, self->name);

    if (e && e->raw == self)
      g_hash_table_remove (named_networks, self->name);
  }
  g_mutex_unlock (&named_lock);
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

/* ---------------------------------------------------------------- peers */

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
