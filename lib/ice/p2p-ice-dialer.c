/* p2p-ice-dialer.c: the dialing side of QUIC over ICE
 * (p2p_ice_connect_async): gather, send a signed "ice-offer" through the
 * rendezvous (or another carrier: p2p_signaling_new_external), take the
 * peer's "ice-answer", run the connectivity checks (controlling), then
 * dial QUIC over the P2pIcePath. A re-dial (p2p_ice_reconnect_async) runs
 * the same ICE steps and moves an existing connection onto the new path
 * instead of starting a QUIC handshake.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-connect-private.h"

#include <sodium.h>

#include "p2p/p2p-error.h"

typedef struct {
  gint refs;              /* the dial itself + one per async operation in flight */
  GTask *task;            /* NULL once completed */
  GCancellable *cancel;   /* ours: cancelled on completion; chained to the caller's */
  GSource *user_cancel;    /* the caller's cancellable, watched on our context */
  P2pSignaling *signaling;
  P2pIdentity *identity;
  P2pConfig *config;
  P2pQuicSessionConfig qcfg;
  P2pPeerId peer;
  char peer_text[P2P_PEER_ID_TEXT_LEN + 1];
  char *session;
  char nonce[P2P_ICE_NONCE_HEX_LEN + 1];  /* of our offer; the answer must echo it */
  P2pIcePath *path;
  P2pQuicConnection *adopt;  /* a re-dial: the connection to move onto the path */
  gulong sig_signal, sig_not_found, sig_closed;
  GSource *answer_timeout;
  gboolean answered;
} Dial;

static Dial *
dial_ref (Dial *d)
{
  d->refs++;
  return d;
}

static void
dial_unref (Dial *d)
{
  if (--d->refs > 0)
    return;
  g_clear_object (&d->cancel);
  g_clear_object (&d->signaling);
  g_clear_object (&d->identity);
  g_clear_pointer (&d->config, p2p_config_free);
  g_clear_object (&d->path);
  g_clear_object (&d->adopt);
  g_free (d->session);
  g_free (d);
}

/* Completes the dial (with @conn or @error) and releases what it holds. */
static void
dial_complete (Dial *d, P2pConnection *conn, GError *error)
{
  if (!d->task) {
    g_clear_object (&conn);
    g_clear_error (&error);
    return;
  }
  GTask *task = g_steal_pointer (&d->task);
  if (d->sig_signal)
    g_clear_signal_handler (&d->sig_signal, d->signaling);
  if (d->sig_not_found)
    g_clear_signal_handler (&d->sig_not_found, d->signaling);
  if (d->sig_closed)
    g_clear_signal_handler (&d->sig_closed, d->signaling);
  if (d->answer_timeout) {
    g_source_destroy (d->answer_timeout);
    g_clear_pointer (&d->answer_timeout, g_source_unref);
  }
  if (d->user_cancel) {
    g_source_destroy (d->user_cancel);
    g_clear_pointer (&d->user_cancel, g_source_unref);
  }
  if (!conn && d->path)
    p2p_packet_path_close (P2P_PACKET_PATH (d->path));
  g_cancellable_cancel (d->cancel);
  if (conn)
    g_task_return_pointer (task, conn, g_object_unref);
  else
    g_task_return_error (task, error);
  g_object_unref (task);
  dial_unref (d);
}

static void
on_quic_dialed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Dial *d = user_data;
  GError *error = NULL;
  P2pConnection *conn = p2p_quic_connection_dial_finish (result, &error);
  if (conn)
    dial_complete (d, conn, NULL);
  else
    dial_complete (d, NULL, error);
  dial_unref (d);
}

static void
on_ice_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Dial *d = user_data;
  GError *error = NULL;
  if (!p2p_ice_path_connect_finish (P2P_ICE_PATH (source), result, &error)) {
    dial_complete (d, NULL, error);
  } else if (d->task && d->adopt) {
    g_debug ("ice: new %s path to %s: moving the connection onto it",
        p2p_path_kind_to_string (p2p_packet_path_get_kind (P2P_PACKET_PATH (d->path))),
        d->peer_text);
    if (p2p_quic_connection_replace_path (d->adopt, P2P_PACKET_PATH (d->path), &d->peer, NULL, 0,
            &error))
      dial_complete (d, g_object_ref (P2P_CONNECTION (d->adopt)), NULL);
    else
      dial_complete (d, NULL, error);
  } else if (d->task) {
    g_debug ("ice: connected to %s over a %s path", d->peer_text,
        p2p_path_kind_to_string (p2p_packet_path_get_kind (P2P_PACKET_PATH (d->path))));
    p2p_quic_connection_dial_async (P2P_PACKET_PATH (d->path), d->identity, &d->peer,
        &d->qcfg, d->cancel, on_quic_dialed, dial_ref (d));
  }
  dial_unref (d);
}

static void
dial_on_signal (P2pSignaling *sig, const P2pPeerId *from, const char *text, gpointer user_data)
{
  Dial *d = user_data;
  if (!d->task || d->answered || !p2p_peer_id_equal (from, &d->peer))
    return;
  P2pIcePayload p;
  if (!p2p_ice_payload_parse_signal (text, &p))
    return;
  if (!g_str_equal (p.session, d->session)) {
    p2p_ice_payload_clear (&p);
    return;
  }
  /* An answer must be made for this very offer (an ice-error needs only
   * the session: it starts nothing). */
  if (g_str_equal (p.kind, "ice-answer") && (!p.nonce || !g_str_equal (p.nonce, d->nonce))) {
    g_message ("ignored an ICE answer from %s that does not echo our offer's nonce", d->peer_text);
    p2p_ice_payload_clear (&p);
    return;
  }
  d->answered = TRUE;
  if (d->answer_timeout) {
    g_source_destroy (d->answer_timeout);
    g_clear_pointer (&d->answer_timeout, g_source_unref);
  }
  GError *error = NULL;
  if (g_str_equal (p.kind, "ice-error")) {
    dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_CONNECTION_FAILED,
        "peer %s refused the connection: %s", d->peer_text, p.message ? p.message : "no reason"));
  } else if (!g_str_equal (p.kind, "ice-answer")) {
    dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL,
        "peer %s answered with an unexpected \"%s\"", d->peer_text, p.kind));
  } else if (!p2p_ice_path_set_remote_description (d->path, p.ufrag, p.pwd,
      (const char *const *) p.candidates, &error)) {
    g_prefix_error (&error, "peer %s sent a bad ICE answer: ", d->peer_text);
    dial_complete (d, NULL, error);
  } else {
    p2p_ice_path_connect_async (d->path, 0, d->cancel, on_ice_connected, dial_ref (d));
  }
  p2p_ice_payload_clear (&p);
}

static void
dial_on_not_found (P2pSignaling *sig, const P2pPeerId *to, gpointer user_data)
{
  Dial *d = user_data;
  if (!d->task || d->answered || !p2p_peer_id_equal (to, &d->peer))
    return;
  dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND,
      "peer %s is not registered at the rendezvous server (is it running and using the same "
      "rendezvous?)", d->peer_text));
}

static void
dial_on_closed (P2pSignaling *sig, const GError *error, gpointer user_data)
{
  Dial *d = user_data;
  if (!d->task || d->answered)
    return;
  dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_NETWORK,
      "lost the rendezvous server before peer %s answered: %s", d->peer_text,
      error ? error->message : "closed"));
}

static gboolean
on_answer_timeout (gpointer user_data)
{
  Dial *d = user_data;
  guint ms = d->config->find_timeout_ms;
  g_autofree char *limit = ms % 1000 == 0 ? g_strdup_printf ("%u s", ms / 1000)
      : g_strdup_printf ("%u ms", ms);
  g_clear_pointer (&d->answer_timeout, g_source_unref);
  /* A rendezvous says at once when the peer is not registered; through a
   * DHT, silence is all an absent peer gives. */
  if (p2p_signaling_reports_absent_peers (d->signaling))
    dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
        "peer %s did not answer through the rendezvous within %s (P2P_FIND_TIMEOUT_MS)",
        d->peer_text, limit));
  else
    dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND,
        "peer %s did not answer an ICE offer through %s within %s (not online, not "
        "accepting, or not in the same DHT; P2P_FIND_TIMEOUT_MS)", d->peer_text,
        p2p_signaling_get_route (d->signaling), limit));
  return G_SOURCE_REMOVE;
}

static void
on_dial_gathered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Dial *d = user_data;
  GError *error = NULL;
  if (!p2p_ice_path_gather_finish (P2P_ICE_PATH (source), result, &error)) {
    dial_complete (d, NULL, error);
  } else if (d->task) {
    g_autofree char *offer = p2p_ice_payload_build_full ("ice-offer", d->session, d->nonce,
        d->path, NULL);
    if (!p2p_signaling_send (d->signaling, &d->peer, offer, &error)) {
      dial_complete (d, NULL, error);
    } else {
      d->answer_timeout = g_timeout_source_new (d->config->find_timeout_ms);
      g_source_set_callback (d->answer_timeout, on_answer_timeout, d, NULL);
      g_source_attach (d->answer_timeout, g_main_context_get_thread_default ());
    }
  }
  dial_unref (d);
}

/* On the dial's context: the operation in flight fails with CANCELLED; a
 * dial only waiting for the peer's answer completes now. */
static gboolean
on_user_cancelled (GCancellable *c, gpointer user_data)
{
  Dial *d = user_data;
  g_cancellable_cancel (d->cancel);
  if (d->task && d->answer_timeout && !d->answered)
    dial_complete (d, NULL, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
        "Operation was cancelled"));
  return G_SOURCE_REMOVE;
}

/* A session ID from libsodium's CSPRNG (GLib's g_random is a seeded
 * Mersenne Twister whose output a peer could predict). */
static char *
random_session (void)
{
  guint8 raw[16];
  randombytes_buf (raw, sizeof raw);
  char *hex = g_malloc (sizeof raw * 2 + 1);
  sodium_bin2hex (hex, sizeof raw * 2 + 1, raw, sizeof raw);
  return hex;
}

/* A dial, or with @adopt a re-dial (@peer is then @adopt's peer). */
static void
dial_start (P2pSignaling *signaling, P2pIdentity *identity, const P2pConfig *config,
    const P2pPeerId *peer, const P2pQuicSessionConfig *qcfg, P2pQuicConnection *adopt,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  Dial *d = g_new0 (Dial, 1);
  d->refs = 1;
  d->task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (d->task, p2p_ice_connect_async);
  d->adopt = adopt ? g_object_ref (adopt) : NULL;
  d->cancel = g_cancellable_new ();
  d->signaling = g_object_ref (signaling);
  d->identity = g_object_ref (identity);
  d->config = p2p_config_copy (config);
  p2p_ice_session_config (qcfg, &d->qcfg);
  d->peer = *peer;
  p2p_peer_id_format (peer, d->peer_text);
  d->session = random_session ();
  p2p_ice_random_nonce (d->nonce);

  if (g_task_return_error_if_cancelled (d->task)) {
    g_clear_object (&d->task);
    dial_unref (d);
    return;
  }
  if (!p2p_signaling_is_registered (signaling)) {
    dial_complete (d, NULL, g_error_new (P2P_ERROR, P2P_ERROR_NETWORK,
        "not registered at a rendezvous server: cannot look up peer %s", d->peer_text));
    return;
  }
  GError *error = NULL;
  d->path = p2p_ice_path_new (g_main_context_get_thread_default (), d->config, TRUE, &error);
  if (!d->path) {
    dial_complete (d, NULL, error);
    return;
  }
  p2p_ice_path_set_peer_label (d->path, d->peer_text);
  d->sig_signal = g_signal_connect (signaling, "signal", G_CALLBACK (dial_on_signal), d);
  d->sig_not_found = g_signal_connect (signaling, "peer-not-found",
      G_CALLBACK (dial_on_not_found), d);
  d->sig_closed = g_signal_connect (signaling, "closed", G_CALLBACK (dial_on_closed), d);
  if (cancellable) {
    d->user_cancel = g_cancellable_source_new (cancellable);
    g_source_set_callback (d->user_cancel, G_SOURCE_FUNC (on_user_cancelled), d, NULL);
    g_source_attach (d->user_cancel, g_main_context_get_thread_default ());
  }
  p2p_ice_path_gather_async (d->path, d->cancel, on_dial_gathered, dial_ref (d));
}

void
p2p_ice_connect_async (P2pSignaling *signaling, P2pIdentity *identity,
    const P2pConfig *config, const P2pPeerId *peer, const P2pQuicSessionConfig *qcfg,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (P2P_IS_SIGNALING (signaling));
  g_return_if_fail (P2P_IS_IDENTITY (identity));
  g_return_if_fail (config != NULL && peer != NULL);
  dial_start (signaling, identity, config, peer, qcfg, NULL, cancellable, callback, user_data);
}

void
p2p_ice_reconnect_async (P2pSignaling *signaling, P2pIdentity *identity,
    const P2pConfig *config, P2pQuicConnection *conn, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  const P2pPeerId *peer;

  g_return_if_fail (P2P_IS_SIGNALING (signaling));
  g_return_if_fail (P2P_IS_IDENTITY (identity));
  g_return_if_fail (config != NULL && P2P_IS_QUIC_CONNECTION (conn));
  peer = p2p_connection_get_peer_id (P2P_CONNECTION (conn));
  if (peer == NULL) {
    g_task_report_new_error (NULL, callback, user_data, p2p_ice_connect_async, P2P_ERROR,
        P2P_ERROR_CLOSED, "the connection has no authenticated peer yet: nothing to move");
    return;
  }
  dial_start (signaling, identity, config, peer, NULL, conn, cancellable, callback, user_data);
}

gboolean
p2p_ice_reconnect_finish (GAsyncResult *result, GError **error)
{
  g_autoptr (P2pConnection) conn = p2p_ice_connect_finish (result, error);

  return conn != NULL;
}

P2pConnection *
p2p_ice_connect_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
