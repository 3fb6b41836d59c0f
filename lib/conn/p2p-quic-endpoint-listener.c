/* p2p-quic-endpoint-listener.c: the P2pListener side of a
 * P2pQuicEndpoint: server connections that finished their handshake and
 * connections adopted from ICE wait in the accept queue for accept() (any
 * thread, blocking) or accept_async() (a parked waiter); set_accepting(),
 * the listener's ticket (this machine's addresses) and its close.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-endpoint-private.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-info.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

typedef struct {
  GTask *task;
  GSource *cancel_source;
} AcceptWaiter;

static void
accept_waiter_free (AcceptWaiter *w)
{
  if (w->cancel_source) {
    g_source_destroy (w->cancel_source);
    g_source_unref (w->cancel_source);
  }
  g_object_unref (w->task);
  g_free (w);
}

/* Under lock: connections adopted from ICE still connected (forgets the
 * others). */
guint
p2p_quic_endpoint_count_adopted_locked (P2pQuicEndpoint *self)
{
  for (guint i = 0; i < self->adopted->len;) {
    g_autoptr (P2pConnection) c = g_weak_ref_get (self->adopted->pdata[i]);

    if (c == NULL || !p2p_connection_is_connected (c))
      g_ptr_array_remove_index_fast (self->adopted, i);
    else
      i++;
  }
  return self->adopted->len;
}

/* ---------------------------------------------------------- accept queue */

void
p2p_quic_endpoint_on_server_established (P2pQuicConnection *conn, gpointer user_data)
{
  Remote *r = user_data;
  g_autoptr (P2pQuicEndpoint) self = g_weak_ref_get (&r->owner);
  g_autoptr (P2pQuicConnection) pending = NULL;

  if (r->pending == NULL)
    return;
  g_signal_handler_disconnect (r->pending, r->established_id);
  pending = g_steal_pointer (&r->pending);
  if (self == NULL)
    return;
  g_mutex_lock (&self->lock);
  if (self->closed || !self->accepting) {
    g_mutex_unlock (&self->lock);
    p2p_connection_close (P2P_CONNECTION (conn), "listener closed");
    return;
  }
  {
    AcceptWaiter *w = g_queue_pop_head (&self->accept_waiters);

    p2p_provider_counters_accepted (self->counters, P2P_CONNECTION (conn));
    if (w == NULL) {
      g_queue_push_tail (&self->accept_queue, g_object_ref (conn));
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
      return;
    }
    g_mutex_unlock (&self->lock);
    g_task_return_pointer (w->task, g_object_ref (conn), g_object_unref);
    accept_waiter_free (w);
  }
}

void
p2p_quic_endpoint_set_accepting (P2pQuicEndpoint *self, gboolean accepting,
    GPtrArray *allowed_peers, guint max_connections)
{
  g_return_if_fail (P2P_IS_QUIC_ENDPOINT (self));

  g_mutex_lock (&self->lock);
  self->accepting = accepting && !self->closed;
  self->accepted_once |= self->accepting;
  g_clear_pointer (&self->allowed, g_ptr_array_unref);
  if (allowed_peers)
    self->allowed = g_ptr_array_ref (allowed_peers);
  self->max_connections = max_connections ? max_connections : DEFAULT_MAX_CONNECTIONS;
  g_mutex_unlock (&self->lock);
}

gboolean
p2p_quic_endpoint_adopt (P2pQuicEndpoint *self, P2pConnection *conn, GError **error)
{
  AcceptWaiter *w;
  GWeakRef *wr;
  guint live;

  g_return_val_if_fail (P2P_IS_QUIC_ENDPOINT (self), FALSE);
  g_return_val_if_fail (P2P_IS_CONNECTION (conn), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_mutex_lock (&self->lock);
  if (self->closed || !self->accepting) {
    g_mutex_unlock (&self->lock);
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CLOSED,
        "the listener is closed or not accepting");
    return FALSE;
  }
  /* the limit accept() applies: accepted, pending and adopted connections */
  live = self->n_server + p2p_quic_endpoint_count_adopted_locked (self);
  if (live >= self->max_connections) {
    guint max = self->max_connections;

    g_mutex_unlock (&self->lock);
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "the listener already has %u connections (max-connections %u)", live, max);
    return FALSE;
  }
  wr = g_new0 (GWeakRef, 1);
  g_weak_ref_init (wr, conn);
  g_ptr_array_add (self->adopted, wr);
  p2p_provider_counters_accepted (self->counters, conn);
  w = g_queue_pop_head (&self->accept_waiters);
  if (w == NULL) {
    g_queue_push_tail (&self->accept_queue, g_object_ref (conn));
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
    return TRUE;
  }
  g_mutex_unlock (&self->lock);
  g_task_return_pointer (w->task, g_object_ref (conn), g_object_unref);
  accept_waiter_free (w);
  return TRUE;
}

/* ------------------------------------------------------ P2pListener API */

static void
accept_cancelled (GCancellable *cancellable, gpointer user_data)
{
  P2pQuicEndpoint *self = user_data;

  g_mutex_lock (&self->lock);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static P2pConnection *
endpoint_accept (P2pListener *listener, GCancellable *cancellable, GError **error)
{
  P2pQuicEndpoint *self = P2P_QUIC_ENDPOINT (listener);
  P2pConnection *conn = NULL;
  gulong id = 0;

  if (cancellable)
    id = g_cancellable_connect (cancellable, G_CALLBACK (accept_cancelled), self, NULL);
  g_mutex_lock (&self->lock);
  for (;;) {
    conn = g_queue_pop_head (&self->accept_queue);
    if (conn)
      break;
    if (self->closed) {
      g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CLOSED, "the listener is closed");
      break;
    }
    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      break;
    if (g_main_context_is_owner (self->ctx)) {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
          "p2p_listener_accept() would block on the network thread; use accept_async");
      break;
    }
    g_cond_wait (&self->cond, &self->lock);
  }
  g_mutex_unlock (&self->lock);
  if (id)
    g_cancellable_disconnect (cancellable, id);
  return conn;
}

typedef struct {
  P2pQuicEndpoint *self;
  AcceptWaiter *w;
} AcceptCancel;

static gboolean
accept_waiter_cancelled (GCancellable *cancellable, gpointer data)
{
  AcceptCancel *ac = data;
  gboolean found;

  g_mutex_lock (&ac->self->lock);
  found = g_queue_remove (&ac->self->accept_waiters, ac->w);
  g_mutex_unlock (&ac->self->lock);
  if (found) {
    g_task_return_error_if_cancelled (ac->w->task);
    g_clear_pointer (&ac->w->cancel_source, g_source_unref); /* being dispatched */
    accept_waiter_free (ac->w);
  }
  return G_SOURCE_REMOVE;
}

static void
accept_cancel_free (gpointer data)
{
  AcceptCancel *ac = data;

  g_object_unref (ac->self);
  g_free (ac);
}

static void
endpoint_accept_async (P2pListener *listener, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  P2pQuicEndpoint *self = P2P_QUIC_ENDPOINT (listener);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  P2pConnection *conn;
  gboolean closed;

  g_task_set_source_tag (task, endpoint_accept_async);
  if (g_task_return_error_if_cancelled (task)) {
    g_object_unref (task);
    return;
  }
  g_mutex_lock (&self->lock);
  conn = g_queue_pop_head (&self->accept_queue);
  closed = self->closed;
  if (conn == NULL && !closed) {
    AcceptWaiter *w = g_new0 (AcceptWaiter, 1);

    w->task = task;
    if (cancellable) {
      AcceptCancel *ac = g_new0 (AcceptCancel, 1);

      ac->self = g_object_ref (self);
      ac->w = w;
      w->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (w->cancel_source, G_SOURCE_FUNC (accept_waiter_cancelled), ac,
          accept_cancel_free);
      g_source_attach (w->cancel_source, self->ctx);
    }
    g_queue_push_tail (&self->accept_waiters, w);
    g_mutex_unlock (&self->lock);
    return;
  }
  g_mutex_unlock (&self->lock);
  if (conn)
    g_task_return_pointer (task, conn, g_object_unref);
  else
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_CLOSED, "the listener is closed");
  g_object_unref (task);
}

static P2pConnection *
endpoint_accept_finish (P2pListener *listener, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, listener), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static GSocketAddress *
endpoint_get_local_address (P2pListener *listener)
{
  return p2p_datagram_socket_get_local_address (P2P_QUIC_ENDPOINT (listener)->socket);
}

/* Non-loopback IPv4 addresses of this machine, then 127.0.0.1. */
static GPtrArray *
machine_addresses (void)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  struct ifaddrs *ifa = NULL;

  if (getifaddrs (&ifa) == 0) {
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
      g_autoptr (GInetAddress) ia = NULL;

      if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
        continue;
      if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
        continue;
      ia = g_inet_address_new_from_bytes (
          (const guint8 *) &((struct sockaddr_in *) i->ifa_addr)->sin_addr, G_SOCKET_FAMILY_IPV4);
      g_ptr_array_add (out, g_inet_address_to_string (ia));
    }
    freeifaddrs (ifa);
  }
  g_ptr_array_add (out, g_strdup ("127.0.0.1"));
  return out;
}

static char *
endpoint_get_ticket (P2pListener *listener)
{
  P2pQuicEndpoint *self = P2P_QUIC_ENDPOINT (listener);
  g_autoptr (P2pPeerInfo) info = p2p_peer_info_new (p2p_identity_get_peer_id (self->identity));
  g_autoptr (GSocketAddress) local = p2p_datagram_socket_get_local_address (self->socket);

  if (local && G_IS_INET_SOCKET_ADDRESS (local)) {
    GInetAddress *ia = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local));
    guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));

    if (g_inet_address_get_is_any (ia)) {
      g_autoptr (GPtrArray) addrs = machine_addresses ();

      for (guint i = 0; i < addrs->len; i++) {
        g_autofree char *hp = g_strdup_printf ("%s:%u", (char *) addrs->pdata[i], port);

        p2p_peer_info_add_address (info, hp, NULL);
      }
    } else {
      g_autofree char *hp = p2p_quic_endpoint_address_key (local);

      p2p_peer_info_add_address (info, hp, NULL);
    }
  }
  return p2p_peer_info_to_ticket (info);
}

static void
close_pending_net (P2pQuicEndpoint *self)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GPtrArray) conns = g_ptr_array_new_with_free_func (g_object_unref);

  g_hash_table_iter_init (&iter, self->remotes);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Remote *r = value;

    if (r->pending)
      g_ptr_array_add (conns, g_object_ref (r->pending));
  }
  for (guint i = 0; i < conns->len; i++)
    p2p_connection_close (conns->pdata[i], "listener closed");
}

static gboolean
close_pending_cb (gpointer data)
{
  close_pending_net (data);
  p2p_quic_endpoint_end_dial_waits (data);
  return G_SOURCE_REMOVE;
}

void
p2p_quic_endpoint_close_full (P2pQuicEndpoint *self, gboolean close_pending)
{
  GQueue q = G_QUEUE_INIT, waiters = G_QUEUE_INIT;
  P2pConnection *c;
  AcceptWaiter *w;

  g_mutex_lock (&self->lock);
  if (self->closed) {
    g_mutex_unlock (&self->lock);
    return;
  }
  self->closed = TRUE;
  self->accepting = FALSE;
  q = self->accept_queue;
  g_queue_init (&self->accept_queue);
  waiters = self->accept_waiters;
  g_queue_init (&self->accept_waiters);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  while ((w = g_queue_pop_head (&waiters))) {
    g_task_return_new_error (w->task, P2P_ERROR, P2P_ERROR_CLOSED, "the listener is closed");
    accept_waiter_free (w);
  }

  /* Never accepted: nobody else will ever close them. */
  while ((c = g_queue_pop_head (&q))) {
    p2p_connection_close (c, "listener closed");
    g_object_unref (c);
  }
  if (close_pending)
    g_main_context_invoke_full (self->ctx, G_PRIORITY_DEFAULT, close_pending_cb,
        g_object_ref (self), g_object_unref);
}

static void
endpoint_close (P2pListener *listener)
{
  p2p_quic_endpoint_close_full (P2P_QUIC_ENDPOINT (listener), TRUE);
}

void
p2p_quic_endpoint_listener_class_init (P2pListenerClass *listener_class)
{
  listener_class->accept = endpoint_accept;
  listener_class->accept_async = endpoint_accept_async;
  listener_class->accept_finish = endpoint_accept_finish;
  listener_class->get_local_address = endpoint_get_local_address;
  listener_class->get_ticket = endpoint_get_ticket;
  listener_class->close = endpoint_close;
}
