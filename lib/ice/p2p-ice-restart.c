/* p2p-ice-restart.c: keeps the client connections a P2pIceService dialed
 * alive across a failed ICE path (P2pIceRestart). Every
 * P2P_ICE_RESTART_TICK_MS it reads each connection's received-packet
 * count; after a third of P2P_ICE_RESTART_MS without a packet it sends a PING
 * (an ACK answers within a round trip on a working path), and if nothing
 * at all arrives within the rest of P2P_ICE_RESTART_MS, or the ICE
 * path reports its pair failed, it re-dials the peer through the
 * service's carriers (p2p_ice_reconnect_async: new ICE session, same
 * QUIC connection), at most P2P_ICE_RESTART_ATTEMPTS times in a row, one
 * carrier after the other. The network change that killed the path often
 * killed the rendezvous connection too: with no carrier registered, it has
 * the service register again and waits for that, up to
 * P2P_ICE_RESTART_REGISTER_WAIT_MS. Each attempt and its outcome is logged
 * (g_message). After a move, a PING every tick until the peer is heard
 * (at most P2P_ICE_RESTART_CONFIRM_PINGS): the first one may reach the
 * peer's end of the new path before that end is up. Threads: the
 * service's network thread.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-connect-private.h"

typedef struct {
  P2pIceRestart *owner;         /* NULL once the restarter is freed */
  GWeakRef conn;
  gint refs;                    /* the list + a re-dial in flight */
  guint64 rx_packets;           /* at the last tick */
  gint64 rx_us;                 /* when that count last moved */
  gint64 probe_us;              /* when the PING went; 0 = no probe out */
  gint64 restart_us;            /* when the current restart began */
  gint64 retry_us;              /* the next attempt not before */
  guint attempts;               /* of the current restart */
  gboolean restarting;
  gboolean inflight;            /* a re-dial runs */
  gboolean waiting_logged;
  guint confirm;                /* PINGs left to send after a move until the peer answers */
} Watch;

struct _P2pIceRestart {
  P2pIdentity *identity;
  P2pConfig *config;
  P2pIceCarriersFunc carriers;
  P2pIceRegisterFunc reregister;
  gpointer data;
  GPtrArray *watches;           /* Watch* */
  GSource *tick;
  GCancellable *cancel;
};

static void
watch_unref (Watch *w)
{
  if (--w->refs > 0)
    return;
  g_weak_ref_clear (&w->conn);
  g_free (w);
}

static void
watch_drop (Watch *w)
{
  w->owner = NULL;
  watch_unref (w);
}

static void
on_reconnected (GObject *source, GAsyncResult *result, gpointer data)
{
  Watch *w = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pQuicConnection) conn = g_weak_ref_get (&w->conn);
  gboolean ok = p2p_ice_reconnect_finish (result, &error);

  if (w->owner == NULL || conn == NULL) {
    watch_unref (w);
    return;
  }
  w->inflight = FALSE;
  if (ok) {
    g_message ("ICE restart: connection moved to a new path %" G_GINT64_FORMAT " ms after the "
        "restart began (attempt %u)", (g_get_monotonic_time () - w->restart_us) / 1000,
        w->attempts);
    w->restarting = FALSE;
    w->attempts = 0;
    w->probe_us = 0;
    w->rx_us = g_get_monotonic_time ();
    w->confirm = P2P_ICE_RESTART_CONFIRM_PINGS;
  } else {
    g_message ("ICE restart attempt %u/%u failed: %s", w->attempts,
        w->owner->config->ice_restart_attempts, error->message);
    w->retry_us = g_get_monotonic_time ();    /* the next at the next tick */
  }
  watch_unref (w);
}

/* The next attempt, through the next carrier; after the last one the
 * connection is left to its idle timeout (its "closed" error says why). */
static void
restart_next (Watch *w, P2pQuicConnection *conn, gint64 now)
{
  P2pIceRestart *self = w->owner;
  g_autoptr (GPtrArray) carriers = self->carriers (self->data);
  gboolean waited_out = now - w->restart_us >= P2P_ICE_RESTART_REGISTER_WAIT_MS * 1000;

  if (w->attempts >= self->config->ice_restart_attempts || (carriers->len == 0 && waited_out)) {
    g_message ("ICE restart: giving up after %u attempts%s", w->attempts,
        carriers->len == 0 ? " (not registered at any rendezvous or other carrier)" : "");
    w->restarting = FALSE;
    w->attempts = self->config->ice_restart_attempts;    /* no further restarts */
    return;
  }
  if (carriers->len == 0) {
    if (!w->waiting_logged)
      g_message ("ICE restart: registering again at the rendezvous first");
    w->waiting_logged = TRUE;
    self->reregister (self->data);
    return;
  }
  P2pSignaling *sig = carriers->pdata[w->attempts % carriers->len];
  w->attempts++;
  w->inflight = TRUE;
  g_message ("ICE restart attempt %u/%u through %s", w->attempts, self->config->ice_restart_attempts,
      p2p_signaling_get_route (sig));
  w->refs++;
  p2p_ice_reconnect_async (sig, self->identity, self->config, conn, self->cancel,
      on_reconnected, w);
}

/* TRUE while @w's connection lives. */
static gboolean
watch_tick (Watch *w, gint64 now)
{
  g_autoptr (P2pQuicConnection) conn = g_weak_ref_get (&w->conn);
  P2pIceRestart *self = w->owner;
  P2pConnectionStats st;
  P2pPacketPath *path;

  if (conn == NULL || !p2p_connection_is_connected (P2P_CONNECTION (conn)))
    return FALSE;
  if (w->restarting) {
    if (!w->inflight && now >= w->retry_us)
      restart_next (w, conn, now);
    return TRUE;
  }
  p2p_connection_get_stats (P2P_CONNECTION (conn), &st);
  if (st.packets_received != w->rx_packets) {
    w->rx_packets = st.packets_received;
    w->rx_us = now;
    w->probe_us = 0;
    w->confirm = 0;
    w->attempts = 0;            /* heard again (also after giving up) */
    return TRUE;
  }
  if (self->config->ice_restart_ms == 0 || w->attempts >= self->config->ice_restart_attempts)
    return TRUE;                /* gave up: until the peer is heard again */
  if (w->confirm > 0) {
    /* the first PING on a new path may arrive before the peer's end of
     * it is up (and be dropped); QUIC's own probe is backed off by then */
    w->confirm--;
    p2p_quic_connection_ping (conn);
    return TRUE;
  }
  path = p2p_quic_connection_get_path (conn);
  if (P2P_IS_ICE_PATH (path) && p2p_ice_path_has_failed (P2P_ICE_PATH (path))) {
    g_message ("ICE restart: the path's candidate pair failed");
  } else if (w->probe_us == 0) {
    if (now - w->rx_us >= (gint64) self->config->ice_restart_ms / 3 * 1000) {
      w->probe_us = now;
      p2p_quic_connection_ping (conn);
    }
    return TRUE;
  } else if (now - w->probe_us < (gint64) (self->config->ice_restart_ms - self->config->ice_restart_ms / 3) * 1000) {
    return TRUE;
  } else {
    g_message ("ICE restart: nothing received for %" G_GINT64_FORMAT " ms, not even the answer "
        "to a PING", (now - w->rx_us) / 1000);
  }
  w->restarting = TRUE;
  w->waiting_logged = FALSE;
  w->restart_us = now;
  restart_next (w, conn, now);
  return TRUE;
}

static gboolean
on_tick (gpointer data)
{
  P2pIceRestart *self = data;
  gint64 now = g_get_monotonic_time ();

  for (guint i = self->watches->len; i-- > 0;)
    if (!watch_tick (self->watches->pdata[i], now))
      g_ptr_array_remove_index_fast (self->watches, i);
  if (self->watches->len > 0)
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&self->tick, g_source_unref);
  return G_SOURCE_REMOVE;
}

P2pIceRestart *
p2p_ice_restart_new (P2pIdentity *identity, const P2pConfig *config,
    P2pIceCarriersFunc carriers, P2pIceRegisterFunc reregister, gpointer data)
{
  P2pIceRestart *self = g_new0 (P2pIceRestart, 1);

  self->identity = g_object_ref (identity);
  self->config = p2p_config_copy (config);
  self->carriers = carriers;
  self->reregister = reregister;
  self->data = data;
  self->watches = g_ptr_array_new_with_free_func ((GDestroyNotify) watch_drop);
  self->cancel = g_cancellable_new ();
  return self;
}

void
p2p_ice_restart_watch (P2pIceRestart *self, P2pQuicConnection *conn)
{
  Watch *w = g_new0 (Watch, 1);

  w->owner = self;
  w->refs = 1;
  g_weak_ref_init (&w->conn, conn);
  w->rx_us = g_get_monotonic_time ();
  g_ptr_array_add (self->watches, w);
  if (self->tick == NULL) {
    self->tick = g_timeout_source_new (P2P_ICE_RESTART_TICK_MS);
    g_source_set_callback (self->tick, on_tick, self, NULL);
    g_source_attach (self->tick, g_main_context_get_thread_default ());
  }
}

void
p2p_ice_restart_free (P2pIceRestart *self)
{
  if (self == NULL)
    return;
  if (self->tick) {
    g_source_destroy (self->tick);
    g_clear_pointer (&self->tick, g_source_unref);
  }
  g_cancellable_cancel (self->cancel);
  g_ptr_array_unref (self->watches);
  g_object_unref (self->cancel);
  g_object_unref (self->identity);
  p2p_config_free (self->config);
  g_free (self);
}
