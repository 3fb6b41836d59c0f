/* p2p-quic-endpoint-dial.c: P2pQuicEndpoint's dials: one client
 * connection per remote address, bounded by the idle timeout, failed at
 * once by an ICMP unreachable, and waiting (DIAL_WAIT_CLOSE_NS at most)
 * for what is ending at the address (a connection closed by its user whose
 * close is not done, a cancelled dial) before cutting it short. Split from
 * p2p-quic-endpoint.c, which keeps the table of remotes and the
 * demultiplexing.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-quic-endpoint-private.h"

#include "p2p/p2p-error.h"


typedef struct {
  P2pQuicEndpoint *self;
  char *key;
  GCancellable *internal;
  GCancellable *user_cancel;    /* the caller's (ref), nullable */
  GSource *user_cancel_source;
  guint timer_id;
  gboolean timed_out;
  guint64 timeout_ns;
  char *unreachable;            /* an ICMP error's text: the dial failed */
  P2pSocketPath *path;          /* the remote's path this dial added (ref) */
  GSocketAddress *remote;
  P2pPeerId peer;
  /* waiting for a closed connection to the same address to finish its
   * close (dial_wait): the task, the old path and its "closed" handler,
   * the bound's timer and the idle source that ends the wait */
  GTask *waiting;
  P2pSocketPath *wait_path;
  gulong wait_closed_id;
  guint wait_timer_id;
  guint64 wait_deadline;        /* socket time the wait ends at (0: not waiting yet) */
  GSource *wait_idle;
} DialData;

/* How long a dial waits for a closed connection to the same address to
 * finish its close (the remote's last ACKs go to it), or for a cancelled
 * dial there to end, before cutting it short: 3 PTOs on most paths. */
#define DIAL_WAIT_CLOSE_NS (1000 * G_GUINT64_CONSTANT (1000000))
/* how often a waiting dial looks again */
#define DIAL_WAIT_POLL_NS (20 * G_GUINT64_CONSTANT (1000000))

/* (the wait's pieces call each other: dial_wait arms them, they end in
 * dial_wait_over, which may wait again) */
static gboolean dial_wait (P2pQuicEndpoint *self, GTask *task);
static void dial_wait_over (DialData *d, gboolean cut_short);
static void dial_wait_path_closed (DialData *d);
static void dial_wait_timeout (gpointer user_data);

/* The socket got an ICMP port/host unreachable for a datagram sent to @to:
 * a dial to that address fails at once (net thread). Established
 * connections are left to their own timers. */
void
p2p_quic_endpoint_on_socket_unreachable (P2pDatagramSocket *sock, GSocketAddress *to, const char *reason,
    gpointer user_data)
{
  GWeakRef *wr = user_data;
  g_autoptr (P2pQuicEndpoint) self = g_weak_ref_get (wr);
  g_autofree char *key = NULL;
  DialData *d;

  if (self == NULL || self->dials == NULL)
    return;
  key = p2p_quic_endpoint_address_key (to);
  d = g_hash_table_lookup (self->dials, key);
  /* (a dial still waiting for an old connection to the address has sent
   * nothing: the ICMP is the old one's) */
  if (d == NULL || d->unreachable || d->waiting)
    return;
  g_debug ("%s: %s: failing the dial", key, reason);
  d->unreachable = g_strdup (reason);
  g_cancellable_cancel (d->internal);
}

/* Ends a dial's wait for an old connection's close (dial_wait): its
 * handler, timer and idle source go. */
static void
dial_wait_clear (DialData *d)
{
  d->waiting = NULL;
  if (d->wait_closed_id)
    g_signal_handler_disconnect (d->wait_path, d->wait_closed_id);
  d->wait_closed_id = 0;
  g_clear_object (&d->wait_path);
  if (d->wait_timer_id && d->self->socket)
    p2p_datagram_socket_cancel_timer (d->self->socket, d->wait_timer_id);
  d->wait_timer_id = 0;
  if (d->wait_idle) {
    g_source_destroy (d->wait_idle);
    g_clear_pointer (&d->wait_idle, g_source_unref);
  }
}

static void
dial_data_free (gpointer data)
{
  DialData *d = data;

  if (d->user_cancel_source) {
    g_source_destroy (d->user_cancel_source);
    g_source_unref (d->user_cancel_source);
  }
  if (d->timer_id)
    p2p_datagram_socket_cancel_timer (d->self->socket, d->timer_id);
  dial_wait_clear (d);
  if (d->self->dials && g_hash_table_lookup (d->self->dials, d->key) == d)
    g_hash_table_remove (d->self->dials, d->key);
  g_free (d->unreachable);
  g_clear_object (&d->path);
  g_clear_object (&d->remote);
  g_clear_object (&d->user_cancel);
  g_clear_object (&d->internal);
  g_object_unref (d->self);
  g_free (d->key);
  g_free (d);
}

static void
dial_timeout (gpointer user_data)
{
  DialData *d = user_data;

  d->timer_id = 0;
  d->timed_out = TRUE;
  g_cancellable_cancel (d->internal);
}

static gboolean
user_cancelled (GCancellable *cancellable, gpointer user_data)
{
  DialData *d = user_data;

  g_cancellable_cancel (d->internal);
  if (d->waiting)
    dial_wait_over (d, FALSE);
  return G_SOURCE_REMOVE;
}

static void
dial_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  DialData *d = g_task_get_task_data (task);
  GError *error = NULL;
  P2pConnection *conn = p2p_quic_connection_dial_finish (result, &error);

  if (!conn && d->self->remotes) {
    Remote *r = g_hash_table_lookup (d->self->remotes, d->key);

    /* The failed connection may still close for a moment (draining, a
     * cancelled dial's CONNECTION_CLOSE): its remote goes now, so that
     * the caller may dial the address again at once instead of being
     * told it is "already connected" */
    if (r && r->path == d->path)
      g_hash_table_remove (d->self->remotes, d->key);
  }
  if (conn) {
    Remote *r = d->self->remotes ? g_hash_table_lookup (d->self->remotes, d->key) : NULL;

    if (r && P2P_PACKET_PATH (r->path) == p2p_quic_connection_get_path (P2P_QUIC_CONNECTION (conn)))
      g_weak_ref_set (&r->conn, conn);
    g_task_return_pointer (task, conn, g_object_unref);
  } else if (d->unreachable) {
    g_clear_error (&error);
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "connecting to %s: %s (ICMP unreachable): is the peer listening there?",
        d->key, d->unreachable);
  } else if (d->timed_out) {
    g_clear_error (&error);
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_TIMEOUT,
        "no QUIC answer from %s within %" G_GUINT64_FORMAT " ms: is the peer listening "
        "there and is UDP not blocked?", d->key, d->timeout_ns / 1000000);
  } else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_task_return_error (task, error);
  } else {
    g_prefix_error (&error, "connecting to %s: ", d->key);
    g_task_return_error (task, error);
  }
  g_object_unref (task);
}

/* TRUE when dial @d was cancelled (by its caller, a timeout, an ICMP
 * error) and only has to let go of its address. */
static gboolean
dial_is_ending (DialData *d)
{
  return g_cancellable_is_cancelled (d->internal)
      || (d->user_cancel && g_cancellable_is_cancelled (d->user_cancel));
}
/* Fails @task: one connection per remote address (returns TRUE). */
static gboolean
dial_refuse (GTask *task, const char *what, const char *key, const char *after)
{
  g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
      "%s %s over this socket%s (one connection per remote address)", what, key, after);
  g_object_unref (task);
  return TRUE;
}

/* What is at the dial's address: nothing (FALSE: dial now); an open
 * connection or a dial in progress (the dial fails: one connection per
 * remote address); or something ending: a connection closed by its user
 * whose close is not done (the remote's last ACKs go to it), or a
 * cancelled or timed-out dial that has not let go of the address yet (a
 * player dialling again at once). The dial then waits for it, polling,
 * DIAL_WAIT_CLOSE_NS at most, then cuts it short (dial_wait_over). */
static gboolean
dial_wait (P2pQuicEndpoint *self, GTask *task)
{
  DialData *d = g_task_get_task_data (task);
  DialData *prev = g_hash_table_lookup (self->dials, d->key);
  guint64 now = p2p_datagram_socket_now (self->socket);
  P2pSocketPath *ending = NULL;
  Remote *r;

  if (prev == d)
    prev = NULL;
  if (prev) {
    /* (its caller's cancel reaches it at the loop's next turn) */
    if (!dial_is_ending (prev))
      return dial_refuse (task, "a dial to", d->key, " is in progress");
    ending = prev->path;
  } else {
    gboolean over;

    r = g_hash_table_lookup (self->remotes, d->key);
    if (r == NULL)
      return FALSE;
    over = p2p_quic_endpoint_remote_is_over (r);
    /* (remote_is_over may have freed it) */
    r = g_hash_table_lookup (self->remotes, d->key);
    if (r == NULL)
      return FALSE;
    if (!over)
      return dial_refuse (task, "already connected to", d->key, "");
    ending = r->path;
  }
  if (d->wait_deadline == 0) {
    g_debug ("%s: a %s is ending there: the dial waits for it", d->key,
        prev ? "cancelled dial" : "closed connection");
    d->wait_deadline = now + MIN (DIAL_WAIT_CLOSE_NS, d->timeout_ns);
  }
  /* (in the table of dials unless the ending dial still is: a further
   * dial to the address then fails at once, and the endpoint's close
   * ends the wait) */
  if (prev == NULL)
    g_hash_table_replace (self->dials, d->key, d);
  d->waiting = task;
  if (ending) {
    d->wait_path = g_object_ref (ending);
    d->wait_closed_id = g_signal_connect_swapped (ending, "closed",
        G_CALLBACK (dial_wait_path_closed), d);
  }
  d->wait_timer_id = p2p_datagram_socket_add_timer (self->socket,
      MIN (now + DIAL_WAIT_POLL_NS, d->wait_deadline), dial_wait_timeout, d);
  return TRUE;
}

static void
dial_start (P2pQuicEndpoint *self, GTask *task)
{
  DialData *d = g_task_get_task_data (task);
  Remote *r;
  P2pQuicSessionConfig cfg;

  r = p2p_quic_endpoint_remote_add (self, d->key, d->remote);
  d->path = g_object_ref (r->path);
  p2p_quic_endpoint_watch_network (self);
  g_hash_table_replace (self->dials, d->key, d);

  d->timer_id = p2p_datagram_socket_add_timer (self->socket,
      p2p_datagram_socket_now (self->socket) + d->timeout_ns, dial_timeout, d);

  p2p_quic_endpoint_config_for_path (self, P2P_PACKET_PATH (r->path), &cfg);
  p2p_quic_connection_dial_async (P2P_PACKET_PATH (r->path), self->identity, &d->peer, &cfg,
      d->internal, dial_done, task);
}

/* The wait of dial_wait is over: the old connection's close is done, or
 * took too long (@cut_short: its remote is forgotten, its last packets
 * are sent but what the remote answers goes to the new connection), or
 * the dial was cancelled or the endpoint closed meanwhile. */
static void
dial_wait_over (DialData *d, gboolean cut_short)
{
  P2pQuicEndpoint *self = d->self;
  GTask *task = d->waiting;
  g_autoptr (P2pSocketPath) waited = d->wait_path ? g_object_ref (d->wait_path) : NULL;
  gboolean closed;
  Remote *r;

  dial_wait_clear (d);
  g_mutex_lock (&self->lock);
  closed = self->closed;
  g_mutex_unlock (&self->lock);
  if (g_cancellable_is_cancelled (d->internal)) {
    if (self->dials && g_hash_table_lookup (self->dials, d->key) == d)
      g_hash_table_remove (self->dials, d->key);
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
        "the dial to %s was cancelled", d->key);
    g_object_unref (task);
    return;
  }
  if (closed || self->remotes == NULL) {
    if (self->dials && g_hash_table_lookup (self->dials, d->key) == d)
      g_hash_table_remove (self->dials, d->key);
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_CLOSED,
        "cannot dial %s: the endpoint is closed", d->key);
    g_object_unref (task);
    return;
  }
  if (cut_short) {
    DialData *prev = g_hash_table_lookup (self->dials, d->key);

    /* a cancelled dial still there lets go of the address (its own end
     * then finds another dial in the table and leaves it) */
    if (prev && prev != d && dial_is_ending (prev))
      g_hash_table_remove (self->dials, d->key);
    /* only the connection waited for is cut short: the address may have
     * gone to another one since (the peer dialled us from it) */
    r = g_hash_table_lookup (self->remotes, d->key);
    if (r && r->path == waited) {
      g_debug ("%s: what was ending there still is after %" G_GUINT64_FORMAT " ms: cut "
          "short for the new dial", d->key, MIN (DIAL_WAIT_CLOSE_NS, d->timeout_ns) / 1000000);
      g_hash_table_remove (self->remotes, d->key);
    }
  }
  /* (another connection to the address since: wait for it or fail) */
  if (dial_wait (self, task))
    return;
  dial_start (self, task);
}

/* The endpoint closed: dials waiting for an old connection's close end
 * now (CLOSED), not at the end of their wait (network thread). */
void
p2p_quic_endpoint_end_dial_waits (P2pQuicEndpoint *self)
{
  g_autoptr (GPtrArray) waiting = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  if (self->dials == NULL)
    return;
  g_hash_table_iter_init (&iter, self->dials);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((DialData *) value)->waiting)
      g_ptr_array_add (waiting, value);
  for (guint i = 0; i < waiting->len; i++)
    dial_wait_over (g_ptr_array_index (waiting, i), FALSE);
}

static gboolean
dial_wait_idle (gpointer data)
{
  DialData *d = data;

  g_clear_pointer (&d->wait_idle, g_source_unref);
  dial_wait_over (d, FALSE);
  return G_SOURCE_REMOVE;
}

/* The old path closed (its remote is forgotten by then): the dial goes on
 * from the network thread's next turn, not inside the path's close. */
static void
dial_wait_path_closed (DialData *d)
{
  if (d->wait_idle)
    return;
  d->wait_idle = g_idle_source_new ();
  g_source_set_priority (d->wait_idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (d->wait_idle, dial_wait_idle, d, NULL);
  g_source_attach (d->wait_idle, d->self->ctx);
}

static void
dial_wait_timeout (gpointer user_data)
{
  DialData *d = user_data;

  d->wait_timer_id = 0;
  dial_wait_over (d, p2p_datagram_socket_now (d->self->socket) >= d->wait_deadline);
}

void
p2p_quic_endpoint_dial_async (P2pQuicEndpoint *self, GSocketAddress *remote,
    const P2pPeerId *peer, GCancellable *cancellable, GAsyncReadyCallback callback,
    gpointer user_data)
{
  GTask *task;
  DialData *d;

  g_return_if_fail (P2P_IS_QUIC_ENDPOINT (self));
  g_return_if_fail (G_IS_SOCKET_ADDRESS (remote));
  g_return_if_fail (peer != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_quic_endpoint_dial_async);
  d = g_new0 (DialData, 1);
  d->self = g_object_ref (self);
  d->key = p2p_quic_endpoint_address_key (remote);
  d->internal = g_cancellable_new ();
  g_task_set_task_data (task, d, dial_data_free);

  g_mutex_lock (&self->lock);
  if (self->closed) {
    g_mutex_unlock (&self->lock);
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_CLOSED,
        "cannot dial %s: the endpoint is closed", d->key);
    g_object_unref (task);
    return;
  }
  g_mutex_unlock (&self->lock);

  if (cancellable) {
    d->user_cancel = g_object_ref (cancellable);
    d->user_cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (d->user_cancel_source, G_SOURCE_FUNC (user_cancelled), d, NULL);
    g_source_attach (d->user_cancel_source, self->ctx);
  }
  d->timeout_ns = self->cfg.idle_timeout_ns ? self->cfg.idle_timeout_ns
      : 30 * G_GUINT64_CONSTANT (1000000000);
  d->remote = g_object_ref (remote);
  d->peer = *peer;
  if (dial_wait (self, task))
    return;
  dial_start (self, task);
}

P2pConnection *
p2p_quic_endpoint_dial_finish (P2pQuicEndpoint *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
