/* p2p-signaling.c: the rendezvous protocol messages (pure: build, parse,
 * verify) and P2pSignaling, the client that registers with a rendezvous
 * server over a libsoup WebSocket and exchanges signed signals with peers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-signaling.h"

#include <string.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "p2p/p2p-error.h"
#include "p2p-json.h"

#define CONNECT_TIMEOUT_MS 10000

/* ---- messages ---- */

void
p2p_signaling_message_clear (P2pSignalingMessage *msg)
{
  g_clear_pointer (&msg->payload, g_free);
  g_clear_pointer (&msg->code, g_free);
  g_clear_pointer (&msg->message, g_free);
  g_clear_pointer (&msg->origin, g_free);
}

static const char *
get_string (JsonObject *obj, const char *name, GError **error)
{
  JsonNode *node = json_object_get_member (obj, name);
  if (!node || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "signaling message: field \"%s\" is missing or not a string", name);
    return NULL;
  }
  return json_node_get_string (node);
}

static gboolean
get_peer_id (JsonObject *obj, const char *name, P2pPeerId *out, GError **error)
{
  const char *s = get_string (obj, name, error);
  if (!s)
    return FALSE;
  g_autoptr (GError) local = NULL;
  if (!p2p_peer_id_parse (s, out, &local)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "signaling message: field \"%s\" is not a peer ID: %s", name, local->message);
    return FALSE;
  }
  return TRUE;
}

static gboolean
get_bytes (JsonObject *obj, const char *name, guint8 *out, gsize want, GError **error)
{
  const char *s = get_string (obj, name, error);
  if (!s)
    return FALSE;
  gsize slen = strlen (s);
  /* base64 of @want bytes, with padding */
  if (slen != ((want + 2) / 3) * 4) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "signaling message: field \"%s\" must be base64 of %" G_GSIZE_FORMAT " bytes", name, want);
    return FALSE;
  }
  for (gsize i = 0; i < slen; i++) {
    char c = s[i];
    if (!(g_ascii_isalnum (c) || c == '+' || c == '/' || (c == '=' && i >= slen - 2))) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
          "signaling message: field \"%s\" is not base64", name);
      return FALSE;
    }
  }
  gsize n = 0;
  g_autofree guint8 *bytes = g_base64_decode (s, &n);
  if (n != want) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "signaling message: field \"%s\" must be base64 of %" G_GSIZE_FORMAT " bytes", name, want);
    return FALSE;
  }
  memcpy (out, bytes, want);
  return TRUE;
}

gboolean
p2p_signaling_message_parse (const char *text, gsize len, P2pSignalingMessage *msg,
    GError **error)
{
  g_return_val_if_fail (msg != NULL, FALSE);
  memset (msg, 0, sizeof *msg);

  if (!text || len == 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "signaling message is empty");
    return FALSE;
  }
  if (len > P2P_SIGNALING_MAX_MESSAGE) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "signaling message of %" G_GSIZE_FORMAT " bytes exceeds the limit of %d bytes",
        len, P2P_SIGNALING_MAX_MESSAGE);
    return FALSE;
  }
  /* Strict RFC 8259, nesting bounded, before the recursive parser sees it. */
  g_autoptr (JsonNode) root = p2p_json_parse (text, len, "signaling message", error);
  if (!root)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "signaling message is not a JSON object");
    return FALSE;
  }
  JsonObject *obj = json_node_get_object (root);
  const char *type = get_string (obj, "type", error);
  if (!type)
    return FALSE;

  if (g_str_equal (type, "challenge")) {
    msg->type = P2P_SIGNALING_MSG_CHALLENGE;
    if (!get_bytes (obj, "nonce", msg->nonce, P2P_SIGNALING_NONCE_LEN, error))
      return FALSE;
    /* Optional here so that a client can name an older server precisely. */
    if (json_object_has_member (obj, "origin")) {
      const char *origin = get_string (obj, "origin", error);
      if (!origin)
        return FALSE;
      if (strlen (origin) > P2P_SIGNALING_MAX_ORIGIN) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
            "signaling message: field \"origin\" is longer than %d bytes",
            P2P_SIGNALING_MAX_ORIGIN);
        return FALSE;
      }
      msg->origin = g_strdup (origin);
    }
    return TRUE;
  } else if (g_str_equal (type, "register")) {
    msg->type = P2P_SIGNALING_MSG_REGISTER;
    return get_peer_id (obj, "peer_id", &msg->peer_id, error) &&
        get_bytes (obj, "signature", msg->signature, P2P_IDENTITY_SIGNATURE_LEN, error);
  } else if (g_str_equal (type, "registered")) {
    msg->type = P2P_SIGNALING_MSG_REGISTERED;
    return get_peer_id (obj, "peer_id", &msg->peer_id, error);
  } else if (g_str_equal (type, "signal")) {
    msg->type = P2P_SIGNALING_MSG_SIGNAL;
    if (!get_peer_id (obj, "from", &msg->from, error) ||
        !get_peer_id (obj, "to", &msg->to, error) ||
        !get_bytes (obj, "signature", msg->signature, P2P_IDENTITY_SIGNATURE_LEN, error))
      return FALSE;
    msg->has_to = TRUE;
    const char *payload = get_string (obj, "payload", error);
    if (!payload)
      return FALSE;
    msg->payload = g_strdup (payload);
    return TRUE;
  } else if (g_str_equal (type, "error")) {
    msg->type = P2P_SIGNALING_MSG_ERROR;
    const char *code = get_string (obj, "code", error);
    if (!code)
      return FALSE;
    msg->code = g_strdup (code);
    if (json_object_has_member (obj, "to")) {
      if (!get_peer_id (obj, "to", &msg->to, error))
        return FALSE;
      msg->has_to = TRUE;
    }
    if (json_object_has_member (obj, "message")) {
      const char *m = get_string (obj, "message", error);
      if (!m)
        return FALSE;
      msg->message = g_strdup (m);
    }
    return TRUE;
  }
  g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
      "signaling message has unknown type \"%.32s\"", type);
  return FALSE;
}

static char *
object_to_string (JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static void
add_b64 (JsonBuilder *b, const char *name, const guint8 *data, gsize len)
{
  g_autofree char *s = g_base64_encode (data, len);
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, s);
}

static void
add_peer (JsonBuilder *b, const char *name, const P2pPeerId *id)
{
  char buf[P2P_PEER_ID_TEXT_LEN + 1];
  p2p_peer_id_format (id, buf);
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, buf);
}

static void
add_str (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

char *
p2p_signaling_build_challenge (const guint8 nonce[P2P_SIGNALING_NONCE_LEN], const char *origin)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "type", "challenge");
  add_b64 (b, "nonce", nonce, P2P_SIGNALING_NONCE_LEN);
  add_str (b, "origin", origin);
  json_builder_end_object (b);
  return object_to_string (b);
}

/* nonce || "gst-p2p-rendezvous-v2" || "\n" || origin: the nonce and the
 * context have fixed lengths, so the origin is unambiguous. */
static GByteArray *
register_signed_bytes (const guint8 nonce[P2P_SIGNALING_NONCE_LEN], const char *origin)
{
  GByteArray *a = g_byte_array_new ();
  g_byte_array_append (a, nonce, P2P_SIGNALING_NONCE_LEN);
  g_byte_array_append (a, (const guint8 *) P2P_SIGNALING_REGISTER_CONTEXT "\n",
      strlen (P2P_SIGNALING_REGISTER_CONTEXT "\n"));
  g_byte_array_append (a, (const guint8 *) origin, strlen (origin));
  return a;
}

char *
p2p_signaling_build_register (P2pIdentity *identity, const guint8 nonce[P2P_SIGNALING_NONCE_LEN],
    const char *origin)
{
  g_autoptr (GByteArray) tbs = register_signed_bytes (nonce, origin);
  guint8 sig[P2P_IDENTITY_SIGNATURE_LEN];
  p2p_identity_sign (identity, tbs->data, tbs->len, sig);

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "type", "register");
  add_peer (b, "peer_id", p2p_identity_get_peer_id (identity));
  add_b64 (b, "signature", sig, sizeof sig);
  json_builder_end_object (b);
  return object_to_string (b);
}

char *
p2p_signaling_build_registered (const P2pPeerId *peer)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "type", "registered");
  add_peer (b, "peer_id", peer);
  json_builder_end_object (b);
  return object_to_string (b);
}

static GString *
signal_signed_bytes (const P2pPeerId *from, const P2pPeerId *to, const char *payload)
{
  char f[P2P_PEER_ID_TEXT_LEN + 1], t[P2P_PEER_ID_TEXT_LEN + 1];
  p2p_peer_id_format (from, f);
  p2p_peer_id_format (to, t);
  GString *s = g_string_new (P2P_SIGNALING_SIGNAL_CONTEXT "\n");
  g_string_append_printf (s, "%s\n%s\n", f, t);
  g_string_append (s, payload);
  return s;
}

char *
p2p_signaling_build_signal_raw (const P2pPeerId *from, const P2pPeerId *to, const char *payload,
    const guint8 signature[P2P_IDENTITY_SIGNATURE_LEN])
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "type", "signal");
  add_peer (b, "from", from);
  add_peer (b, "to", to);
  add_str (b, "payload", payload);
  add_b64 (b, "signature", signature, P2P_IDENTITY_SIGNATURE_LEN);
  json_builder_end_object (b);
  return object_to_string (b);
}

char *
p2p_signaling_build_signal (P2pIdentity *identity, const P2pPeerId *to, const char *payload)
{
  const P2pPeerId *from = p2p_identity_get_peer_id (identity);
  g_autoptr (GString) tbs = signal_signed_bytes (from, to, payload);
  guint8 sig[P2P_IDENTITY_SIGNATURE_LEN];
  p2p_identity_sign (identity, (const guint8 *) tbs->str, tbs->len, sig);
  return p2p_signaling_build_signal_raw (from, to, payload, sig);
}

char *
p2p_signaling_build_error (const char *code, const P2pPeerId *to, const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "type", "error");
  add_str (b, "code", code);
  if (to)
    add_peer (b, "to", to);
  if (message)
    add_str (b, "message", message);
  json_builder_end_object (b);
  return object_to_string (b);
}

gboolean
p2p_signaling_verify_register (const P2pSignalingMessage *msg,
    const guint8 nonce[P2P_SIGNALING_NONCE_LEN], const char *origin)
{
  if (msg->type != P2P_SIGNALING_MSG_REGISTER || !origin)
    return FALSE;
  g_autoptr (GByteArray) tbs = register_signed_bytes (nonce, origin);
  return p2p_identity_verify (&msg->peer_id, tbs->data, tbs->len, msg->signature);
}

gboolean
p2p_signaling_verify_signal (const P2pSignalingMessage *msg)
{
  if (msg->type != P2P_SIGNALING_MSG_SIGNAL || !msg->payload)
    return FALSE;
  g_autoptr (GString) tbs = signal_signed_bytes (&msg->from, &msg->to, msg->payload);
  return p2p_identity_verify (&msg->from, (const guint8 *) tbs->str, tbs->len, msg->signature);
}

char *
p2p_signaling_origin_from_url (const char *url, GError **error)
{
  g_autoptr (GUri) uri = url ? g_uri_parse (url, G_URI_FLAGS_NONE, NULL) : NULL;
  const char *scheme = uri ? g_uri_get_scheme (uri) : NULL;
  const char *host = uri ? g_uri_get_host (uri) : NULL;
  gboolean tls = scheme && g_ascii_strcasecmp (scheme, "wss") == 0;
  if (!uri || !scheme || !(tls || g_ascii_strcasecmp (scheme, "ws") == 0) || !host || !*host) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "rendezvous URL \"%s\": expected ws://HOST:PORT/ or wss://HOST:PORT/", url ? url : "");
    return NULL;
  }
  int port = g_uri_get_port (uri);
  if (port < 0)
    port = tls ? 443 : 80;
  g_autofree char *lhost = g_ascii_strdown (host, -1);
  char *origin = g_strdup_printf (strchr (lhost, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
      tls ? "wss" : "ws", lhost, port);
  if (strlen (origin) > P2P_SIGNALING_MAX_ORIGIN) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "rendezvous URL \"%.64s...\": the host name is too long", url);
    g_free (origin);
    return NULL;
  }
  return origin;
}

char *
p2p_signaling_origin_from_address (GSocketAddress *address)
{
  g_return_val_if_fail (G_IS_INET_SOCKET_ADDRESS (address), NULL);
  GInetSocketAddress *isa = G_INET_SOCKET_ADDRESS (address);
  GInetAddress *ia = g_inet_socket_address_get_address (isa);
  g_autofree char *text = g_inet_address_to_string (ia);
  /* A dual-stack socket shows IPv4 clients' destination as ::ffff:a.b.c.d. */
  if (g_str_has_prefix (text, "::ffff:") && strchr (text + 7, '.')) {
    char *v4 = g_strdup (text + 7);
    g_free (text);
    text = v4;
  }
  g_autofree char *url = g_strdup_printf (strchr (text, ':') ? "ws://[%s]:%u/" : "ws://%s:%u/",
      text, g_inet_socket_address_get_port (isa));
  return p2p_signaling_origin_from_url (url, NULL);
}

/* ---- P2pSignaling client ---- */

struct _P2pSignaling {
  GObject parent_instance;

  P2pIdentity *identity;
  GMainContext *context;
  SoupSession *session;
  SoupWebsocketConnection *ws;
  char *url;
  char *origin;           /* normalised origin of url: what the registration is bound to */
  gboolean registered;
  gboolean closed;
  guint rejected;
  GTask *connect_task;
  GSource *connect_timeout;
  gulong sig_message, sig_closed, sig_error;
  /* external carrier (p2p_signaling_new_external) */
  char *route;
  P2pSignalingSendFunc send;
  gpointer send_data;
  GDestroyNotify send_notify;
};

enum {
  SIGNAL_SIGNAL,
  SIGNAL_PEER_NOT_FOUND,
  SIGNAL_CLOSED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (P2pSignaling, p2p_signaling, G_TYPE_OBJECT)

static void
finish_connect (P2pSignaling *self, GError *error)
{
  if (self->connect_timeout) {
    g_source_destroy (self->connect_timeout);
    g_clear_pointer (&self->connect_timeout, g_source_unref);
  }
  GTask *task = g_steal_pointer (&self->connect_task);
  if (!task) {
    g_clear_error (&error);
    return;
  }
  if (error)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
drop_ws (P2pSignaling *self)
{
  if (!self->ws)
    return;
  g_clear_signal_handler (&self->sig_message, self->ws);
  g_clear_signal_handler (&self->sig_closed, self->ws);
  g_clear_signal_handler (&self->sig_error, self->ws);
  if (soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (self->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  g_clear_object (&self->ws);
}

static void
fail (P2pSignaling *self, GError *error)
{
  gboolean was_closed = self->closed;
  self->closed = TRUE;
  self->registered = FALSE;
  drop_ws (self);
  if (self->connect_task) {
    finish_connect (self, error);
    return;
  }
  if (!was_closed)
    g_signal_emit (self, signals[SIGNAL_CLOSED], 0, error);
  g_clear_error (&error);
}

static void
send_text (P2pSignaling *self, const char *text)
{
  if (self->ws && soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_send_text (self->ws, text);
}

/* A signal to us whose signature verifies is emitted; else counted. */
static void
handle_signal (P2pSignaling *self, P2pSignalingMessage *msg)
{
  if (!p2p_peer_id_equal (&msg->to, p2p_identity_get_peer_id (self->identity)) ||
      !p2p_signaling_verify_signal (msg)) {
    char from[P2P_PEER_ID_TEXT_LEN + 1];
    p2p_peer_id_format (&msg->from, from);
    if (self->send)
      g_debug ("rejected a signal through %s claiming to be from %s: not to us, or the "
          "signature does not verify", self->route, from);
    else
      g_message ("rejected a signal claiming to be from %s: the signature does not verify "
          "(forged or altered on the way)", from);
    self->rejected++;
    return;
  }
  g_signal_emit (self, signals[SIGNAL_SIGNAL], 0, &msg->from, msg->payload);
}

static void
handle_message (P2pSignaling *self, const char *text, gsize len)
{
  P2pSignalingMessage msg;
  g_autoptr (GError) error = NULL;
  if (!p2p_signaling_message_parse (text, len, &msg, &error)) {
    g_message ("rendezvous %s sent a malformed message: %s", self->url, error->message);
    p2p_signaling_message_clear (&msg);
    return;
  }

  switch (msg.type) {
    case P2P_SIGNALING_MSG_CHALLENGE:
      if (self->registered)
        break;
      /* Sign only for the server we dialed: a rendezvous that relays our
       * registration to another server shows that server's origin (or
       * lies, and the other server refuses the signature). */
      if (!msg.origin) {
        fail (self, g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL,
            "rendezvous %s speaks an older signaling protocol (its challenge names no "
            "origin); this client needs signaling version 2", self->url));
        break;
      }
      if (!g_str_equal (msg.origin, self->origin)) {
        fail (self, g_error_new (P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED,
            "rendezvous %s announced the origin %s, not %s: it relays to another server, or "
            "it was started with another --origin; not registering", self->url, msg.origin,
            self->origin));
        break;
      } else {
        g_autofree char *reg = p2p_signaling_build_register (self->identity, msg.nonce,
            self->origin);
        send_text (self, reg);
      }
      break;
    case P2P_SIGNALING_MSG_REGISTERED:
      if (!p2p_peer_id_equal (&msg.peer_id, p2p_identity_get_peer_id (self->identity))) {
        fail (self, g_error_new (P2P_ERROR, P2P_ERROR_PROTOCOL,
            "rendezvous %s confirmed a registration for another peer ID", self->url));
        break;
      }
      self->registered = TRUE;
      g_debug ("signaling: registered at %s", self->url);
      finish_connect (self, NULL);
      break;
    case P2P_SIGNALING_MSG_SIGNAL:
      handle_signal (self, &msg);
      break;
    case P2P_SIGNALING_MSG_ERROR:
      if (g_str_equal (msg.code, "PEER_NOT_FOUND") && msg.has_to) {
        g_signal_emit (self, signals[SIGNAL_PEER_NOT_FOUND], 0, &msg.to);
      } else if (!self->registered &&
          (g_str_equal (msg.code, "AUTHENTICATION_FAILED") || g_str_equal (msg.code, "FORBIDDEN"))) {
        fail (self, g_error_new (P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED,
            "rendezvous %s refused the registration: %s", self->url,
            msg.message ? msg.message : msg.code));
      } else {
        g_message ("rendezvous %s reported %s%s%s", self->url, msg.code,
            msg.message ? ": " : "", msg.message ? msg.message : "");
      }
      break;
    case P2P_SIGNALING_MSG_REGISTER:
    default:
      g_message ("rendezvous %s sent an unexpected message", self->url);
      break;
  }
  p2p_signaling_message_clear (&msg);
}

static void
on_ws_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
  P2pSignaling *self = user_data;
  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    return;
  gsize len = 0;
  const char *data = g_bytes_get_data (message, &len);
  g_object_ref (self);
  handle_message (self, data, len);
  g_object_unref (self);
}

static void
on_ws_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  P2pSignaling *self = user_data;
  gushort code = soup_websocket_connection_get_close_code (ws);
  const char *data = soup_websocket_connection_get_close_data (ws);
  g_object_ref (self);
  fail (self, g_error_new (P2P_ERROR, self->registered ? P2P_ERROR_CLOSED : P2P_ERROR_NETWORK,
      "the rendezvous server %s closed the connection (code %u%s%s)", self->url, code,
      data && *data ? ": " : "", data ? data : ""));
  g_object_unref (self);
}

static void
on_ws_error (SoupWebsocketConnection *ws, GError *error, gpointer user_data)
{
  g_debug ("signaling: websocket error: %s", error->message);
}

static void
on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  P2pSignaling *self = user_data;
  g_autoptr (GError) error = NULL;
  SoupWebsocketConnection *ws = soup_session_websocket_connect_finish (SOUP_SESSION (source),
      result, &error);
  if (!ws) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->connect_task)
      finish_connect (self, g_error_new (P2P_ERROR, P2P_ERROR_NETWORK,
          "cannot reach the rendezvous server %s: %s", self->url, error->message));
    g_object_unref (self);
    return;
  }
  if (self->closed || !self->connect_task) {
    soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    g_object_unref (ws);
    g_object_unref (self);
    return;
  }
  self->ws = ws;
  soup_websocket_connection_set_max_incoming_payload_size (ws, P2P_SIGNALING_MAX_MESSAGE);
  soup_websocket_connection_set_keepalive_interval (ws, 20);
  self->sig_message = g_signal_connect (ws, "message", G_CALLBACK (on_ws_message), self);
  self->sig_closed = g_signal_connect (ws, "closed", G_CALLBACK (on_ws_closed), self);
  self->sig_error = g_signal_connect (ws, "error", G_CALLBACK (on_ws_error), self);
  g_object_unref (self);
}

static gboolean
on_connect_timeout (gpointer user_data)
{
  P2pSignaling *self = user_data;
  g_clear_pointer (&self->connect_timeout, g_source_unref);
  fail (self, g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT,
      "the rendezvous server %s did not complete the registration within %d s",
      self->url, CONNECT_TIMEOUT_MS / 1000));
  return G_SOURCE_REMOVE;
}

void
p2p_signaling_connect_async (P2pSignaling *self, const char *url, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (P2P_IS_SIGNALING (self));

  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, p2p_signaling_connect_async);
  if (self->connect_task || self->ws) {
    g_task_return_new_error (task, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "this signaling client is already connected or connecting");
    return;
  }
  GError *error = NULL;
  g_autofree char *origin = p2p_signaling_origin_from_url (url, &error);
  if (!origin) {
    g_task_return_error (task, error);
    return;
  }
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  g_free (self->url);
  self->url = g_strdup (url);
  g_free (self->origin);
  self->origin = g_steal_pointer (&origin);
  self->closed = FALSE;
  self->context = g_main_context_ref_thread_default ();
  self->connect_task = g_steal_pointer (&task);

  if (!self->session)
    self->session = soup_session_new_with_options ("timeout", CONNECT_TIMEOUT_MS / 1000, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new_from_uri (SOUP_METHOD_GET, uri);
  soup_session_websocket_connect_async (self->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
      cancellable, on_connected, g_object_ref (self));

  self->connect_timeout = g_timeout_source_new (CONNECT_TIMEOUT_MS);
  g_source_set_callback (self->connect_timeout, on_connect_timeout, self, NULL);
  g_source_attach (self->connect_timeout, self->context);
}

gboolean
p2p_signaling_connect_finish (P2pSignaling *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
p2p_signaling_send (P2pSignaling *self, const P2pPeerId *to, const char *payload, GError **error)
{
  g_return_val_if_fail (P2P_IS_SIGNALING (self), FALSE);
  g_return_val_if_fail (to != NULL && payload != NULL, FALSE);

  if (!self->registered || (!self->ws && !self->send)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED,
        "not registered with a rendezvous server");
    return FALSE;
  }
  g_autofree char *text = p2p_signaling_build_signal (self->identity, to, payload);
  if (self->send)
    return self->send (to, text, self->send_data, error);
  if (strlen (text) > P2P_SIGNALING_MAX_MESSAGE) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "signal of %" G_GSIZE_FORMAT " bytes exceeds the rendezvous limit of %d bytes",
        strlen (text), P2P_SIGNALING_MAX_MESSAGE);
    return FALSE;
  }
  send_text (self, text);
  return TRUE;
}

gboolean
p2p_signaling_is_registered (P2pSignaling *self)
{
  g_return_val_if_fail (P2P_IS_SIGNALING (self), FALSE);
  return self->registered;
}

guint
p2p_signaling_get_rejected_count (P2pSignaling *self)
{
  g_return_val_if_fail (P2P_IS_SIGNALING (self), 0);
  return self->rejected;
}

void
p2p_signaling_close (P2pSignaling *self)
{
  g_return_if_fail (P2P_IS_SIGNALING (self));
  if (self->closed && !self->ws && !self->connect_task)
    return;
  self->closed = TRUE;
  self->registered = FALSE;
  drop_ws (self);
  finish_connect (self, g_error_new (P2P_ERROR, P2P_ERROR_CLOSED,
      "the signaling client was closed"));
}

static void
p2p_signaling_dispose (GObject *object)
{
  P2pSignaling *self = P2P_SIGNALING (object);
  self->closed = TRUE;
  drop_ws (self);
  if (self->connect_timeout) {
    g_source_destroy (self->connect_timeout);
    g_clear_pointer (&self->connect_timeout, g_source_unref);
  }
  g_clear_object (&self->session);
  if (self->send_notify)
    g_clear_pointer (&self->send_data, self->send_notify);
  self->send = NULL;
  G_OBJECT_CLASS (p2p_signaling_parent_class)->dispose (object);
}

static void
p2p_signaling_finalize (GObject *object)
{
  P2pSignaling *self = P2P_SIGNALING (object);
  g_clear_object (&self->identity);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->url);
  g_free (self->origin);
  g_free (self->route);
  G_OBJECT_CLASS (p2p_signaling_parent_class)->finalize (object);
}

static void
p2p_signaling_class_init (P2pSignalingClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = p2p_signaling_dispose;
  object_class->finalize = p2p_signaling_finalize;

  signals[SIGNAL_SIGNAL] = g_signal_new ("signal", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_POINTER, G_TYPE_STRING);
  signals[SIGNAL_PEER_NOT_FOUND] = g_signal_new ("peer-not-found", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
p2p_signaling_init (P2pSignaling *self)
{
}

P2pSignaling *
p2p_signaling_new (P2pIdentity *identity)
{
  g_return_val_if_fail (P2P_IS_IDENTITY (identity), NULL);
  P2pSignaling *self = g_object_new (P2P_TYPE_SIGNALING, NULL);
  self->identity = g_object_ref (identity);
  return self;
}

P2pSignaling *
p2p_signaling_new_external (P2pIdentity *identity, const char *route,
    P2pSignalingSendFunc send, gpointer user_data, GDestroyNotify notify)
{
  g_return_val_if_fail (P2P_IS_IDENTITY (identity) && route != NULL && send != NULL, NULL);
  P2pSignaling *self = p2p_signaling_new (identity);
  self->route = g_strdup (route);
  self->send = send;
  self->send_data = user_data;
  self->send_notify = notify;
  self->registered = TRUE;
  return self;
}

void
p2p_signaling_receive (P2pSignaling *self, const char *message, gsize len)
{
  g_return_if_fail (P2P_IS_SIGNALING (self) && self->send != NULL);
  P2pSignalingMessage msg;
  g_autoptr (GError) error = NULL;
  if (self->closed)
    return;
  /* the parser bounds the length and clears @msg first */
  if (!p2p_signaling_message_parse (message, len, &msg, &error)
      || msg.type != P2P_SIGNALING_MSG_SIGNAL) {
    p2p_signaling_message_clear (&msg);
    g_debug ("ignored a message through %s: %s", self->route,
        error ? error->message : "not a signal");
    self->rejected++;
    return;
  }
  handle_signal (self, &msg);
  p2p_signaling_message_clear (&msg);
}

const char *
p2p_signaling_get_route (P2pSignaling *self)
{
  g_return_val_if_fail (P2P_IS_SIGNALING (self), NULL);
  return self->route ? self->route : "the rendezvous";
}

gboolean
p2p_signaling_reports_absent_peers (P2pSignaling *self)
{
  g_return_val_if_fail (P2P_IS_SIGNALING (self), FALSE);
  return self->send == NULL;
}
