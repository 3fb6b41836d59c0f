/* p2p-rendezvous.c: the gst-p2p rendezvous (signaling) server.
 *
 * A WebSocket server (libsoup 3) that keeps one registration per peer ID,
 * proven by signing a server challenge, and forwards signed signals between
 * registered peers (protocol: lib/p2p-signaling.h, docs/nat-traversal.md).
 * It never sees media, holds no secrets and cannot forge a signal: receivers
 * verify the sender's signature.
 *
 *   p2p-rendezvous --port 8443
 *   p2p-rendezvous --config /etc/gst-p2p/rendezvous.conf
 *
 * State is a hash table peer ID → socket; several instances could share it
 * through a broker (DESIGN §10), which this single-process server does not do.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <glib-unix.h>
#include <libsoup/soup.h>
#include <sodium.h>

#include "p2p/p2p.h"
#include "p2p-signaling.h"

#define DEFAULT_PORT 8443
#define DEFAULT_MAX_CONNECTIONS 1024
#define DEFAULT_REGISTRATION_TIMEOUT_S 10
#define DEFAULT_MAX_RATE 100   /* messages per second per connection */

typedef struct _Server Server;

typedef struct {
  Server *server;
  SoupWebsocketConnection *ws;
  char *remote;
  guint8 nonce[P2P_SIGNALING_NONCE_LEN];
  char *origin;          /* announced in the challenge; the registration must be signed for it */
  gboolean registered;
  P2pPeerId peer;
  char peer_text[P2P_PEER_ID_TEXT_LEN + 1];
  GSource *reg_timeout;
  gint64 window_start;
  guint window_count;
} Client;

struct _Server {
  SoupServer *soup;
  GHashTable *clients;   /* Client* set (owned) */
  GHashTable *by_peer;   /* P2pPeerId* (the client's) → Client* */
  guint max_connections;
  guint max_message_size;
  guint registration_timeout_s;
  guint max_rate;
  char *origin;          /* --origin, normalised; NULL = the address each client reached */
  GMainLoop *loop;
};

static void
client_send_error (Client *c, const char *code, const P2pPeerId *to, const char *message)
{
  g_autofree char *text = p2p_signaling_build_error (code, to, message);
  if (soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_send_text (c->ws, text);
}

static void
client_close (Client *c, gushort code, const char *why)
{
  if (soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (c->ws, code, why);
}

static void
client_free (Client *c)
{
  if (c->reg_timeout) {
    g_source_destroy (c->reg_timeout);
    g_source_unref (c->reg_timeout);
  }
  g_signal_handlers_disconnect_by_data (c->ws, c);
  g_object_unref (c->ws);
  g_free (c->remote);
  g_free (c->origin);
  g_free (c);
}

static void
client_unregister (Client *c)
{
  if (c->registered && g_hash_table_lookup (c->server->by_peer, &c->peer) == c)
    g_hash_table_remove (c->server->by_peer, &c->peer);
  c->registered = FALSE;
}

static void
handle_register (Client *c, P2pSignalingMessage *msg)
{
  Server *s = c->server;
  char id[P2P_PEER_ID_TEXT_LEN + 1];
  p2p_peer_id_format (&msg->peer_id, id);

  if (c->registered) {
    client_send_error (c, "BAD_MESSAGE", NULL, "this connection is already registered");
    return;
  }
  if (!p2p_signaling_verify_register (msg, c->nonce, c->origin)) {
    g_message ("%s: registration as %s refused: bad signature (or signed for another origin "
        "than %s)", c->remote, id, c->origin);
    g_autofree char *why = g_strdup_printf ("the signature does not match the peer ID and this "
        "server's origin (sign nonce || \"" P2P_SIGNALING_REGISTER_CONTEXT "\\n%s\" with the "
        "peer's key)", c->origin);
    client_send_error (c, "AUTHENTICATION_FAILED", NULL, why);
    client_close (c, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "registration refused");
    return;
  }
  Client *old = g_hash_table_lookup (s->by_peer, &msg->peer_id);
  if (old && old != c) {
    g_message ("%s: %s registered again; closing the older connection %s", c->remote, id,
        old->remote);
    client_unregister (old);
    client_send_error (old, "REPLACED", NULL, "a newer connection registered this peer ID");
    client_close (old, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "replaced by a newer registration");
  }
  c->registered = TRUE;
  c->peer = msg->peer_id;
  memcpy (c->peer_text, id, sizeof id);
  g_hash_table_insert (s->by_peer, &c->peer, c);
  if (c->reg_timeout) {
    g_source_destroy (c->reg_timeout);
    g_clear_pointer (&c->reg_timeout, g_source_unref);
  }
  g_message ("%s: registered %s (%u peers)", c->remote, id, g_hash_table_size (s->by_peer));
  g_autofree char *ok = p2p_signaling_build_registered (&c->peer);
  soup_websocket_connection_send_text (c->ws, ok);
}

static void
handle_signal (Client *c, P2pSignalingMessage *msg, const char *text)
{
  if (!c->registered) {
    client_send_error (c, "NOT_REGISTERED", NULL, "register before sending signals");
    return;
  }
  if (!p2p_peer_id_equal (&msg->from, &c->peer)) {
    g_message ("%s: %s sent a signal claiming another sender; refused", c->remote, c->peer_text);
    client_send_error (c, "FORBIDDEN", NULL, "\"from\" must be your registered peer ID");
    return;
  }
  Client *target = g_hash_table_lookup (c->server->by_peer, &msg->to);
  if (!target) {
    client_send_error (c, "PEER_NOT_FOUND", &msg->to, "no peer with this ID is registered here");
    return;
  }
  /* Forwarded byte for byte: the receiver checks the sender's signature. */
  if (soup_websocket_connection_get_state (target->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_send_text (target->ws, text);
}

static gboolean
rate_ok (Client *c)
{
  gint64 now = g_get_monotonic_time ();
  if (now - c->window_start >= G_USEC_PER_SEC) {
    c->window_start = now;
    c->window_count = 0;
  }
  return ++c->window_count <= c->server->max_rate;
}

static void
on_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
  Client *c = user_data;
  if (type != SOUP_WEBSOCKET_DATA_TEXT) {
    client_send_error (c, "BAD_MESSAGE", NULL, "only JSON text messages are accepted");
    return;
  }
  if (!rate_ok (c)) {
    if (c->window_count == c->server->max_rate + 1)
      client_send_error (c, "LIMIT_EXCEEDED", NULL, "too many messages per second; dropping");
    return;
  }
  gsize len = 0;
  const char *data = g_bytes_get_data (message, &len);
  P2pSignalingMessage msg;
  g_autoptr (GError) error = NULL;
  if (!p2p_signaling_message_parse (data, len, &msg, &error)) {
    client_send_error (c, "BAD_MESSAGE", NULL, error->message);
    p2p_signaling_message_clear (&msg);
    return;
  }
  switch (msg.type) {
    case P2P_SIGNALING_MSG_REGISTER: {
      handle_register (c, &msg);
      break;
    }
    case P2P_SIGNALING_MSG_SIGNAL: {
      g_autofree char *text = g_strndup (data, len);
      handle_signal (c, &msg, text);
      break;
    }
    default:
      client_send_error (c, "BAD_MESSAGE", NULL, "clients may send only register and signal");
      break;
  }
  p2p_signaling_message_clear (&msg);
}

static void
on_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  Client *c = user_data;
  Server *s = c->server;
  g_message ("%s: disconnected%s%s (code %u)", c->remote, c->registered ? " " : "",
      c->registered ? c->peer_text : "", soup_websocket_connection_get_close_code (ws));
  client_unregister (c);
  g_hash_table_remove (s->clients, c);
}

static gboolean
on_registration_timeout (gpointer user_data)
{
  Client *c = user_data;
  g_clear_pointer (&c->reg_timeout, g_source_unref);
  g_message ("%s: no registration within %u s; closing", c->remote,
      c->server->registration_timeout_s);
  client_send_error (c, "TIMEOUT", NULL, "no registration in time");
  client_close (c, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "registration timeout");
  return G_SOURCE_REMOVE;
}

static void
on_websocket (SoupServer *soup, SoupServerMessage *smsg, const char *path,
    SoupWebsocketConnection *ws, gpointer user_data)
{
  Server *s = user_data;
  GSocketAddress *ra = soup_server_message_get_remote_address (smsg);
  g_autofree char *remote = ra ? g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (ra))
                               : g_strdup ("?");

  Client *c = g_new0 (Client, 1);
  c->server = s;
  c->ws = g_object_ref (ws);
  c->remote = g_steal_pointer (&remote);
  c->window_start = g_get_monotonic_time ();
  soup_websocket_connection_set_max_incoming_payload_size (ws, s->max_message_size);
  soup_websocket_connection_set_keepalive_interval (ws, 30);
  g_signal_connect (ws, "message", G_CALLBACK (on_message), c);
  g_signal_connect (ws, "closed", G_CALLBACK (on_closed), c);
  g_hash_table_add (s->clients, c);

  if (g_hash_table_size (s->clients) > s->max_connections) {
    g_message ("%s: refused: %u connections is the limit", c->remote, s->max_connections);
    client_send_error (c, "LIMIT_EXCEEDED", NULL, "the server is full; try again later");
    client_close (c, 1013, "server full");
    return;
  }

  randombytes_buf (c->nonce, sizeof c->nonce);
  /* Registrations are bound to this server's origin (a rendezvous relaying
   * one elsewhere is refused): the configured public URL, else the address
   * and port this connection reached (what a client dialing by IP signs). */
  GSocketAddress *la = soup_server_message_get_local_address (smsg);
  c->origin = s->origin ? g_strdup (s->origin)
      : la ? p2p_signaling_origin_from_address (la) : g_strdup ("ws://unknown:0");
  c->reg_timeout = g_timeout_source_new_seconds (s->registration_timeout_s);
  g_source_set_callback (c->reg_timeout, on_registration_timeout, c, NULL);
  g_source_attach (c->reg_timeout, NULL);

  g_autofree char *challenge = p2p_signaling_build_challenge (c->nonce, c->origin);
  soup_websocket_connection_send_text (ws, challenge);
}

static gboolean
on_signal_quit (gpointer user_data)
{
  Server *s = user_data;
  g_message ("shutting down");
  g_main_loop_quit (s->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
load_config (const char *path, char **host, char **origin, int *port, guint *max_conn,
    guint *max_msg, guint *reg_timeout, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, error))
    return FALSE;
  const char *group = "rendezvous";
  if (!g_key_file_has_group (kf, group)) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
        "%s: missing the [rendezvous] group", path);
    return FALSE;
  }
  struct { const char *key; gint64 min, max; void *out; gboolean is_int; } keys[] = {
    { "port", 0, 65535, port, TRUE },
    { "max-connections", 1, 1000000, max_conn, FALSE },
    { "max-message-size", 256, 16 * 1024 * 1024, max_msg, FALSE },
    { "registration-timeout", 1, 3600, reg_timeout, FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
    if (!g_key_file_has_key (kf, group, keys[i].key, NULL))
      continue;
    g_autofree char *v = g_key_file_get_string (kf, group, keys[i].key, NULL);
    gint64 n = 0;
    if (!v || !g_ascii_string_to_signed (g_strstrip (v), 10, keys[i].min, keys[i].max, &n, NULL)) {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
          "%s: %s=%s: expected an integer %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
          path, keys[i].key, v ? v : "", keys[i].min, keys[i].max);
      return FALSE;
    }
    if (keys[i].is_int)
      *(int *) keys[i].out = (int) n;
    else
      *(guint *) keys[i].out = (guint) n;
  }
  if (g_key_file_has_key (kf, group, "host", NULL)) {
    g_free (*host);
    *host = g_key_file_get_string (kf, group, "host", NULL);
    g_strstrip (*host);
  }
  if (g_key_file_has_key (kf, group, "origin", NULL)) {
    g_free (*origin);
    *origin = g_key_file_get_string (kf, group, "origin", NULL);
    g_strstrip (*origin);
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  int port = -1;
  g_autofree char *host = NULL;
  g_autofree char *config = NULL;
  g_autofree char *origin = NULL;
  int max_conn = 0, max_msg = 0;

  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port,
      "TCP port to listen on (default 8443, 0 = any free port)", "PORT" },
    { "host", 0, 0, G_OPTION_ARG_STRING, &host,
      "address to listen on (default: all interfaces)", "ADDRESS" },
    { "origin", 0, 0, G_OPTION_ARG_STRING, &origin,
      "the URL clients dial (e.g. wss://rdv.example.org/ behind a TLS proxy); registrations "
      "are signed for it (default: ws://ADDRESS:PORT the client reached)", "URL" },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config,
      "key file with a [rendezvous] group: port, host, origin, max-connections, max-message-size, "
      "registration-timeout (command-line options win)", "FILE" },
    { "max-connections", 0, 0, G_OPTION_ARG_INT, &max_conn,
      "most simultaneous WebSocket connections (default 1024)", "N" },
    { "max-message-size", 0, 0, G_OPTION_ARG_INT, &max_msg,
      "largest accepted message in bytes (default 65536)", "BYTES" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- gst-p2p rendezvous server");
  g_option_context_set_summary (ctx,
      "Registers peers by their Ed25519 peer ID (challenge signed with the peer's key) and\n"
      "forwards their signed ICE offers and answers. Clients connect to ws://HOST:PORT/.\n"
      "Prints \"listening on ws://HOST:PORT/\" on stdout once ready.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("p2p-rendezvous: %s (try --help)\n", error->message);
    return 1;
  }

  Server s = { 0 };
  s.max_connections = DEFAULT_MAX_CONNECTIONS;
  s.max_message_size = P2P_SIGNALING_MAX_MESSAGE;
  s.registration_timeout_s = DEFAULT_REGISTRATION_TIMEOUT_S;
  s.max_rate = DEFAULT_MAX_RATE;
  int cfg_port = DEFAULT_PORT;
  g_autofree char *cfg_host = NULL;
  g_autofree char *cfg_origin = NULL;
  if (config && !load_config (config, &cfg_host, &cfg_origin, &cfg_port, &s.max_connections,
          &s.max_message_size, &s.registration_timeout_s, &error)) {
    g_printerr ("p2p-rendezvous: configuration: %s\n", error->message);
    return 1;
  }
  if (port < -1 || port > 65535) {
    g_printerr ("p2p-rendezvous: --port %d: expected 0..65535\n", port);
    return 1;
  }
  if (max_conn < 0 || max_msg < 0 || (max_msg > 0 && max_msg < 256)) {
    g_printerr ("p2p-rendezvous: --max-connections/--max-message-size must be positive "
        "(message size at least 256)\n");
    return 1;
  }
  if (port >= 0)
    cfg_port = port;
  if (host) {
    g_free (cfg_host);
    cfg_host = g_strdup (host);
  }
  if (origin || cfg_origin) {
    s.origin = p2p_signaling_origin_from_url (origin ? origin : cfg_origin, &error);
    if (!s.origin) {
      g_printerr ("p2p-rendezvous: --origin: %s\n", error->message);
      return 1;
    }
  }
  if (max_conn > 0)
    s.max_connections = max_conn;
  if (max_msg > 0)
    s.max_message_size = max_msg;

  g_autoptr (GSocketAddress) sa = NULL;
  if (cfg_host) {
    g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (cfg_host);
    if (!ia) {
      g_printerr ("p2p-rendezvous: --host \"%s\": expected an IP address\n", cfg_host);
      return 1;
    }
    sa = g_inet_socket_address_new (ia, cfg_port);
  }

  s.clients = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) client_free, NULL);
  s.by_peer = g_hash_table_new ((GHashFunc) p2p_peer_id_hash, (GEqualFunc) p2p_peer_id_equal);
  s.soup = soup_server_new ("server-header", "p2p-rendezvous", NULL);
  soup_server_add_websocket_handler (s.soup, NULL, NULL, NULL, on_websocket, &s, NULL);

  gboolean ok = sa ? soup_server_listen (s.soup, sa, 0, &error)
                   : soup_server_listen_all (s.soup, cfg_port, 0, &error);
  if (!ok) {
    g_printerr ("p2p-rendezvous: cannot listen on %s:%d: %s\n", cfg_host ? cfg_host : "*",
        cfg_port, error->message);
    g_hash_table_destroy (s.by_peer);
    g_hash_table_destroy (s.clients);
    g_object_unref (s.soup);
    return 1;
  }

  GSList *uris = soup_server_get_uris (s.soup);
  guint bound_port = uris ? (guint) g_uri_get_port (uris->data) : (guint) cfg_port;
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  const char *shown = cfg_host ? cfg_host : "0.0.0.0";
  if (strchr (shown, ':'))
    printf ("listening on ws://[%s]:%u/\n", shown, bound_port);
  else
    printf ("listening on ws://%s:%u/\n", shown, bound_port);
  fflush (stdout);
  g_message ("max %u connections, max message %u bytes, registration timeout %u s, origin %s",
      s.max_connections, s.max_message_size, s.registration_timeout_s,
      s.origin ? s.origin : "the address each client reached");

  s.loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, on_signal_quit, &s);
  g_unix_signal_add (SIGTERM, on_signal_quit, &s);
  g_main_loop_run (s.loop);

  soup_server_disconnect (s.soup);
  g_hash_table_destroy (s.by_peer);
  g_hash_table_destroy (s.clients);
  g_object_unref (s.soup);
  g_main_loop_unref (s.loop);
  g_free (s.origin);
  return 0;
}
