/* p2p-rendezvous.c: the gst-p2p rendezvous (signaling) server.
 *
 * A WebSocket server (libsoup 3) that keeps one registration per peer ID,
 * proven by signing a server challenge, and forwards signed signals between
 * registered peers (protocol: lib/ice/p2p-signaling.h, docs/nat-traversal.md).
 * It never sees media, holds no secrets and cannot forge a signal: receivers
 * verify the sender's signature.
 *
 *   p2p-rendezvous --port 8443
 *   p2p-rendezvous --config /etc/gst-p2p/rendezvous.conf
 *
 * State is a hash table peer ID → socket; several instances could share it
 * through a shared broker, which this single-process server does not do.
 *
 * Limits (each an option and a config key of the same name; checked before
 * the server keeps state for a client):
 *   max-connections         1024  TCP connections at once, counted from accept()
 *                                 (before the WebSocket upgrade); more get a 503
 *                                 and are closed at once
 *   max-connections-per-ip    16  the same per source address (IPv6: per /64):
 *                                 how many peer IDs one host can hold registered
 *                                 (0 = no cap, e.g. behind a reverse proxy)
 *   registration-timeout      10  seconds from accept() to a registration (the
 *                                 upgrade included); a slower client is closed
 *   idle-timeout              90  seconds a registered client may send neither a
 *                                 message nor a pong (it is pinged every third of
 *                                 it); it is then unregistered and closed. Also the
 *                                 longest its socket may stay full.
 *   max-queued-bytes      262144  bytes waiting to be written to one client (the
 *                                 pongs libsoup queues for its pings included); a
 *                                 signal that would pass it is dropped and its
 *                                 sender gets LIMIT_EXCEEDED naming the target;
 *                                 the server's own messages passing it disconnect
 *                                 the client (1008), as does a socket full for
 *                                 idle-timeout
 *   max-message-size       65536  largest incoming message (1009 beyond)
 *   max-rate                 100  messages per second per connection
 * The accept loop is our own (RdvListener, p2p-rendezvous-conn.c): libsoup
 * 3.2's listener drops its accept source for good when accept() fails
 * (EMFILE); ours pauses RDV_ACCEPT_RETRY_MS (100 ms) and tries again. At
 * start the soft RLIMIT_NOFILE is raised to the hard limit. Only WebSocket
 * upgrades are served: a request with a body is cut before libsoup
 * buffers it. WebSocket compression is off.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <glib-unix.h>
#include <libsoup/soup.h>
#include <sodium.h>

#include "p2p/p2p.h"
#include "p2p-signaling.h"
#include "p2p-quic-endpoint.h"
#include "p2p-rendezvous-conn.h"
#include "p2p-metrics.h"
#include "p2p-rendezvous-config.h"

#define SWEEP_MS 250           /* how often the timeouts are checked */
#define LISTEN_BACKLOG 128

typedef struct _Server Server;
typedef struct _Client Client;

/* ---- clients (after the upgrade) ---- */

/* The server's record of one accepted connection: from accept() until the
 * connection is closed or freed, it holds a slot of the limits. */
typedef struct {
  RdvConn *conn;          /* not owned: its close removes this slot */
  char *ip_key;           /* per-address accounting */
  char *remote;           /* "ADDRESS:PORT", for the log */
  GSocketAddress *remote_addr;
  gint64 accepted_at;
  Client *client;         /* after the upgrade (not owned) */
  gboolean expired;       /* a timeout or limit acted: nothing more to do */
} Slot;

struct _Client {
  Server *server;
  SoupWebsocketConnection *ws;
  RdvConn *conn;          /* owned by ws's stream */
  char *remote;
  guint8 nonce[P2P_SIGNALING_NONCE_LEN];
  char *origin;           /* announced in the challenge; the registration must be signed for it */
  gboolean registered;
  P2pPeerId peer;
  char peer_text[P2P_PEER_ID_TEXT_LEN + 1];
  gint64 window_start;
  guint window_count;
  gint64 last_activity;   /* µs of the last message or pong */
  guint64 queued;         /* frame bytes handed to ws */
  guint64 read_base;      /* rdv_conn_get_read() at the upgrade */
  guint64 explained;      /* frame bytes of the messages and pongs received */
  guint64 written_base;   /* rdv_conn_get_written() at the upgrade */
};

struct _Server {
  SoupServer *soup;
  GPtrArray *listeners;  /* RdvListener* (owned) */
  GHashTable *conns;     /* RdvConn* → Slot* (owned) */
  GHashTable *per_ip;    /* ip key (owned) → count */
  GHashTable *clients;   /* Client* set (owned) */
  GHashTable *by_peer;   /* P2pPeerId* (the client's) → Client* */
  RdvLimits lim;
  GSource *sweep;
  gint64 refusal_logged_at;
  guint refusals;
  char *origin;           /* --origin, normalised; NULL = the address each client reached */
  GMainLoop *loop;
  /* --metrics: totals since start */
  guint64 m_connections;  /* TCP connections taken */
  guint64 m_registrations;
  guint64 m_forwarded;    /* signals passed on */
  GHashTable *m_refused;  /* reason → guint64*: errors sent, connections refused */
};

/* s->m_refused[reason]++ */
static void
count_refused (Server *s, const char *reason)
{
  guint64 *n = g_hash_table_lookup (s->m_refused, reason);

  if (n == NULL) {
    n = g_new0 (guint64, 1);
    g_hash_table_insert (s->m_refused, g_strdup (reason), n);
  }
  (*n)++;
}

/* Bytes of a WebSocket frame with @len bytes of payload, @mask: from a client. */
static guint64
frame_size (gsize len, gboolean mask)
{
  return len + (len < 126 ? 2 : len < 65536 ? 4 : 10) + (mask ? 4 : 0);
}

/* An upper bound of the bytes waiting in libsoup for the socket: those we
 * gave it, plus the pongs it queued by itself (at most the ping bytes read,
 * i.e. the bytes read that were neither a message nor a pong; up to one
 * message is presumed still being read), minus those the socket took. */
static guint64
client_queued (Client *c)
{
  guint64 written = rdv_conn_get_written (c->conn) - c->written_base;
  /* libsoup may have taken frame bytes from the socket before read_base was
   * taken: more explained than read is no pong. */
  guint64 read = rdv_conn_get_read (c->conn) - c->read_base;
  guint64 unexplained = read > c->explained ? read - c->explained : 0;
  guint64 in_flight = frame_size (c->server->lim.max_message_size, TRUE);
  guint64 pongs = unexplained > in_flight ? unexplained - in_flight : 0;
  return c->queued + pongs > written ? c->queued + pongs - written : 0;
}

static gboolean
client_open (Client *c)
{
  return soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

static void
client_unregister (Client *c)
{
  if (c->registered && g_hash_table_lookup (c->server->by_peer, &c->peer) == c)
    g_hash_table_remove (c->server->by_peer, &c->peer);
  c->registered = FALSE;
}

static void
client_close (Client *c, gushort code, const char *why)
{
  if (client_open (c))
    soup_websocket_connection_close (c->ws, code, why);
}

/* Ends @c's registration now and closes it (policy violation, @why). */
static void
client_drop (Client *c, const char *why)
{
  client_unregister (c);
  Slot *slot = g_hash_table_lookup (c->server->conns, c->conn);
  if (slot)
    slot->expired = TRUE;
  client_close (c, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, why);
}

/* Queues @text for @c. A message of the server's own (@relayed FALSE) that
 * would take the queue past max-queued-bytes unregisters and closes @c
 * instead: it does not read what it asked for. A relayed signal that would
 * is dropped and @c is left alone: another peer sending faster than @c
 * reads must not knock it off (a client that does not read at all is
 * closed by the sweep, its socket full for idle-timeout). FALSE: not queued. */
static gboolean
client_send_full (Client *c, const char *text, gboolean relayed)
{
  if (!client_open (c))
    return FALSE;
  guint64 frame = frame_size (strlen (text), FALSE);
  guint64 queued = client_queued (c);
  if (queued + frame <= c->server->lim.max_queued_bytes) {
    c->queued += frame;
    soup_websocket_connection_send_text (c->ws, text);
    return TRUE;
  }
  if (relayed) {
    g_debug ("%s: %s reads slower than it is sent to (%" G_GUINT64_FORMAT " bytes queued, "
        "limit %u); a signal dropped", c->remote, c->peer_text, queued,
        c->server->lim.max_queued_bytes);
    return FALSE;
  }
  g_message ("%s: %s does not read (%" G_GUINT64_FORMAT " bytes queued, limit %u); closing",
      c->remote, c->registered ? c->peer_text : "client", queued,
      c->server->lim.max_queued_bytes);
  client_drop (c, "not reading: outgoing queue full");
  return FALSE;
}

static gboolean
client_send (Client *c, const char *text)
{
  return client_send_full (c, text, FALSE);
}

static void
client_send_error (Client *c, const char *code, const P2pPeerId *to, const char *message)
{
  g_autofree char *text = p2p_signaling_build_error (code, to, message);
  g_autofree char *reason = g_strdelimit (g_ascii_strdown (code, -1), "_", '-');

  count_refused (c->server, reason);
  client_send (c, text);
}

static void
client_free (Client *c)
{
  Slot *slot = g_hash_table_lookup (c->server->conns, c->conn);
  if (slot && slot->client == c)
    slot->client = NULL;
  g_signal_handlers_disconnect_by_data (c->ws, c);
  g_object_unref (c->ws);
  g_free (c->remote);
  g_free (c->origin);
  g_free (c);
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
    client_drop (old, "replaced by a newer registration");
  }
  c->registered = TRUE;
  c->peer = msg->peer_id;
  memcpy (c->peer_text, id, sizeof id);
  g_hash_table_insert (s->by_peer, &c->peer, c);
  s->m_registrations++;
  g_message ("%s: registered %s (%u peers)", c->remote, id, g_hash_table_size (s->by_peer));
  g_autofree char *ok = p2p_signaling_build_registered (&c->peer);
  client_send (c, ok);
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
  if (!target || !client_open (target)) {
    client_send_error (c, "PEER_NOT_FOUND", &msg->to, "no peer with this ID is registered here");
    return;
  }
  /* Forwarded byte for byte: the receiver checks the sender's signature. */
  if (client_send_full (target, text, TRUE))
    c->server->m_forwarded++;
  else
    client_send_error (c, "LIMIT_EXCEEDED", &msg->to,
        "the peer does not read its messages fast enough (its queue is full); this signal "
        "was dropped");
}

static gboolean
rate_ok (Client *c)
{
  gint64 now = g_get_monotonic_time ();
  if (now - c->window_start >= G_USEC_PER_SEC) {
    c->window_start = now;
    c->window_count = 0;
  }
  return ++c->window_count <= c->server->lim.max_rate;
}

static void
on_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
  Client *c = user_data;
  c->last_activity = g_get_monotonic_time ();
  c->explained += frame_size (g_bytes_get_size (message), TRUE);
  if (type != SOUP_WEBSOCKET_DATA_TEXT) {
    client_send_error (c, "BAD_MESSAGE", NULL, "only JSON text messages are accepted");
    return;
  }
  if (!rate_ok (c)) {
    if (c->window_count == c->server->lim.max_rate + 1)
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

/* libsoup 3 (3.2 … 3.6 at least) declares "pong" with a GBytes but emits a
 * GByteArray (receive_pong() in soup-websocket-connection.c). */
static void
on_pong (SoupWebsocketConnection *ws, gpointer message, gpointer user_data)
{
  Client *c = user_data;
  const GByteArray *payload = message;
  c->last_activity = g_get_monotonic_time ();
  c->explained += frame_size (payload->len, TRUE);
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

static void
on_websocket (SoupServer *soup, SoupServerMessage *smsg, const char *path,
    SoupWebsocketConnection *ws, gpointer user_data)
{
  Server *s = user_data;
  RdvConn *conn = rdv_conn_find (soup_websocket_connection_get_io_stream (ws));
  Slot *slot = conn ? g_hash_table_lookup (s->conns, conn) : NULL;
  if (!slot) {
    g_warning ("a WebSocket without its accounted connection; closing it");
    soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_SERVER_ERROR, NULL);
    return;
  }

  Client *c = g_new0 (Client, 1);
  c->server = s;
  c->ws = g_object_ref (ws);
  c->conn = conn;
  c->remote = g_strdup (slot->remote);
  c->window_start = c->last_activity = g_get_monotonic_time ();
  c->written_base = rdv_conn_get_written (conn);
  c->read_base = rdv_conn_get_read (conn);
  slot->client = c;
  soup_websocket_connection_set_max_incoming_payload_size (ws, s->lim.max_message_size);
  soup_websocket_connection_set_keepalive_interval (ws, MAX (1, s->lim.idle_timeout_s / 3));
  g_signal_connect (ws, "message", G_CALLBACK (on_message), c);
  g_signal_connect (ws, "pong", G_CALLBACK (on_pong), c);
  g_signal_connect (ws, "closed", G_CALLBACK (on_closed), c);
  g_hash_table_add (s->clients, c);

  randombytes_buf (c->nonce, sizeof c->nonce);
  /* Registrations are bound to this server's origin (a rendezvous relaying
   * one elsewhere is refused): the configured public URL, else the address
   * and port this connection reached (what a client dialing by IP signs). */
  GSocketAddress *la = soup_server_message_get_local_address (smsg);
  c->origin = s->origin ? g_strdup (s->origin)
      : la ? p2p_signaling_origin_from_address (la) : g_strdup ("ws://unknown:0");
  g_autofree char *challenge = p2p_signaling_build_challenge (c->nonce, c->origin);
  client_send (c, challenge);
}

/* Only WebSocket upgrades are served: libsoup 3.2 would read a request body
 * into memory whatever its size (a POST took the server to 270 MB in 3 s),
 * so a request announcing one is cut before its body is read. */
static void
on_request_headers (SoupServerMessage *msg, gpointer user_data)
{
  Server *s = user_data;
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  SoupEncoding enc = soup_message_headers_get_encoding (h);
  if (enc == SOUP_ENCODING_NONE ||
      (enc == SOUP_ENCODING_CONTENT_LENGTH && soup_message_headers_get_content_length (h) == 0))
    return;
  /* libsoup keeps the very address objects server_take() gave it. */
  GSocketAddress *ra = soup_server_message_get_remote_address (msg);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, s->conns);
  while (g_hash_table_iter_next (&it, &key, &value)) {
    Slot *slot = value;
    if (slot->remote_addr != ra)
      continue;
    g_message ("%s: refused: a request with a body (only WebSocket upgrades are served)",
        slot->remote);
    slot->expired = TRUE;
    g_socket_shutdown (g_socket_connection_get_socket (G_SOCKET_CONNECTION (slot->conn)), TRUE,
        TRUE, NULL);
    return;
  }
}

static void
on_request_started (SoupServer *soup, SoupServerMessage *msg, gpointer user_data)
{
  g_signal_connect (msg, "got-headers", G_CALLBACK (on_request_headers), user_data);
}

/* ---- timeouts: one sweep over the connections ---- */

static void
slot_expire (Server *s, Slot *slot, gint64 now)
{
  Client *c = slot->client;
  if (slot->expired)
    return;
  if ((!c || !c->registered) &&
      now - slot->accepted_at > (gint64) s->lim.registration_timeout_s * G_USEC_PER_SEC) {
    slot->expired = TRUE;
    g_message ("%s: no registration within %u s; closing", slot->remote,
        s->lim.registration_timeout_s);
    if (c) {
      client_send_error (c, "TIMEOUT", NULL, "no registration in time");
      client_close (c, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "registration timeout");
    } else {
      /* Before the upgrade: libsoup reads EOF and drops the connection. */
      g_socket_shutdown (g_socket_connection_get_socket (G_SOCKET_CONNECTION (slot->conn)),
          TRUE, TRUE, NULL);
    }
    return;
  }
  if (!c || !c->registered)
    return;
  gint64 idle = (gint64) s->lim.idle_timeout_s * G_USEC_PER_SEC;
  gint64 blocked_since = rdv_conn_get_blocked_since (slot->conn);
  const char *why = NULL;
  if (now - c->last_activity > idle)
    why = "idle: no message or pong";
  else if (blocked_since && now - blocked_since > idle)
    why = "not reading: socket full";
  if (!why)
    return;
  g_message ("%s: %s %s for %u s; unregistered and closed", c->remote, c->peer_text, why,
      s->lim.idle_timeout_s);
  client_drop (c, why);
}

static gboolean
on_sweep (gpointer user_data)
{
  Server *s = user_data;
  gint64 now = g_get_monotonic_time ();
  /* Closing may give slots back: walk a copy, holding the connections. */
  g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, s->conns);
  while (g_hash_table_iter_next (&it, &key, NULL))
    g_ptr_array_add (all, g_object_ref (key));
  for (guint i = 0; i < all->len; i++) {
    Slot *slot = g_hash_table_lookup (s->conns, all->pdata[i]);
    if (slot)
      slot_expire (s, slot, now);
  }
  return G_SOURCE_CONTINUE;
}

/* ---- accepting: our own loop; the limits are checked before libsoup sees
 * a byte of the connection ---- */

/* The per-address accounting key: the IP, or its /64 for IPv6 (one host
 * usually owns a whole /64); p2p_address_limit_key(), as the QUIC
 * listener's handshake limits. */
static char *
ip_key (GSocketAddress *addr)
{
  char *key = p2p_address_limit_key (addr);
  return key ? key : g_strdup ("?");
}

static void
slot_free (Slot *slot)
{
  g_free (slot->ip_key);
  g_free (slot->remote);
  g_object_unref (slot->remote_addr);
  g_free (slot);
}

/* RdvConnReleaseFunc: @conn was closed or freed. */
static void
server_release_slot (gpointer owner, RdvConn *conn)
{
  Server *s = owner;
  Slot *slot = g_hash_table_lookup (s->conns, conn);
  if (!slot)
    return;
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (s->per_ip, slot->ip_key));
  if (n > 1)
    g_hash_table_replace (s->per_ip, g_strdup (slot->ip_key), GUINT_TO_POINTER (n - 1));
  else
    g_hash_table_remove (s->per_ip, slot->ip_key);
  g_hash_table_remove (s->conns, conn);
}

/* RdvConnReadFunc: a client that keeps sending pings without reading the
 * pongs fills libsoup's queue by itself; its read fails (no libsoup call
 * here: libsoup then drops the connection). */
static gboolean
server_on_read (gpointer owner, RdvConn *conn)
{
  Server *s = owner;
  Slot *slot = g_hash_table_lookup (s->conns, conn);
  Client *c = slot ? slot->client : NULL;
  if (!c)
    return TRUE;
  guint64 queued = client_queued (c);
  if (queued <= s->lim.max_queued_bytes)
    return TRUE;
  g_message ("%s: %s does not read the answers to its pings (%" G_GUINT64_FORMAT
      " bytes queued, limit %u); closing", c->remote, c->registered ? c->peer_text : "client",
      queued, s->lim.max_queued_bytes);
  client_unregister (c);
  slot->expired = TRUE;
  return FALSE;
}

/* Answers 503 and closes; logs at most once a second. */
static void
server_refuse (Server *s, GSocket *sock, const char *remote, const char *why)
{
  g_autofree char *resp = g_strdup_printf ("HTTP/1.1 503 Service Unavailable\r\n"
      "Connection: close\r\nRetry-After: 10\r\nContent-Type: text/plain\r\n"
      "Content-Length: %u\r\n\r\n%s\n", (guint) strlen (why) + 1, why);
  g_socket_set_blocking (sock, FALSE);
  g_socket_send (sock, resp, strlen (resp), NULL, NULL);
  /* Read what already came (the request), so that closing sends a FIN and
   * not a reset that could destroy the answer on its way. */
  char drain[4096];
  g_socket_receive (sock, drain, sizeof drain, NULL, NULL);
  g_socket_shutdown (sock, FALSE, TRUE, NULL);
  g_socket_close (sock, NULL);
  s->refusals++;
  gint64 now = g_get_monotonic_time ();
  if (now - s->refusal_logged_at >= G_USEC_PER_SEC) {
    g_message ("%s: refused: %s (%u refused since the last such message)", remote, why,
        s->refusals);
    s->refusals = 0;
    s->refusal_logged_at = now;
  }
}

/* RdvAcceptFunc: a new connection; the limits decide before libsoup sees it. */
static void
server_take (gpointer owner, GSocket *sock)
{
  Server *s = owner;
  g_autoptr (GSocketAddress) remote = g_socket_get_remote_address (sock, NULL);
  g_autoptr (GSocketAddress) local = g_socket_get_local_address (sock, NULL);
  if (!remote || !local) {
    g_socket_close (sock, NULL); /* reset before we looked at it */
    return;
  }
  g_autofree char *key = ip_key (remote);
  g_autofree char *remote_text = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (remote));
  guint from_ip = GPOINTER_TO_UINT (g_hash_table_lookup (s->per_ip, key));
  if (s->lim.max_per_ip && from_ip >= s->lim.max_per_ip) {
    count_refused (s, "connections-per-address");
    server_refuse (s, sock, remote_text, "too many connections from your address");
    return;
  }
  if (g_hash_table_size (s->conns) >= s->lim.max_connections) {
    count_refused (s, "server-full");
    server_refuse (s, sock, remote_text, "the server is full; try again later");
    return;
  }
  g_socket_set_option (sock, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
  s->m_connections++;
  RdvConn *conn = rdv_conn_new (sock, server_release_slot, server_on_read, s);
  Slot *slot = g_new0 (Slot, 1);
  slot->conn = conn;
  slot->ip_key = g_steal_pointer (&key);
  slot->remote = g_steal_pointer (&remote_text);
  slot->remote_addr = g_object_ref (remote);
  slot->accepted_at = g_get_monotonic_time ();
  g_hash_table_insert (s->conns, conn, slot);
  g_hash_table_replace (s->per_ip, g_strdup (slot->ip_key), GUINT_TO_POINTER (from_ip + 1));
  g_autoptr (GError) error = NULL;
  if (!soup_server_accept_iostream (s->soup, G_IO_STREAM (conn), local, remote, &error)) {
    g_message ("%s: %s", slot->remote, error->message);
    g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
  }
  g_object_unref (conn);
}

static gboolean
server_listen (Server *s, const char *host, guint16 port, guint16 *bound, GError **error)
{
  RdvListener *l = rdv_listener_new (host, port, LISTEN_BACKLOG, server_take, s, bound, error);
  if (l)
    g_ptr_array_add (s->listeners, l);
  return l != NULL;
}

/* @host NULL: IPv4 and (where there is IPv6) IPv6, on one port. */
static gboolean
server_listen_all (Server *s, const char *host, guint16 port, guint16 *bound, GError **error)
{
  if (host)
    return server_listen (s, host, port, bound, error);
  if (!server_listen (s, "0.0.0.0", port, bound, error))
    return FALSE;
  g_autoptr (GError) v6_error = NULL;
  guint16 v6_port = 0;
  if (!server_listen (s, "::", *bound, &v6_port, &v6_error))
    g_message ("not listening on IPv6: %s", v6_error->message);
  return TRUE;
}

static gboolean
on_signal_quit (gpointer user_data)
{
  Server *s = user_data;
  g_message ("shutting down");
  g_main_loop_quit (s->loop);
  return G_SOURCE_REMOVE;
}

/* P2pMetricsFillFunc: the server's counters and gauges */
static void
fill_metrics (GString *out, gpointer data)
{
  Server *s = data;
  GVariantBuilder b;
  GHashTableIter it;
  gpointer key, value;
  g_autoptr (GVariant) refused = NULL;

  p2p_metrics_add (out, "p2p_rendezvous_connections_total", "counter",
      "TCP connections taken (refused ones are not counted)", s->m_connections);
  p2p_metrics_add (out, "p2p_rendezvous_registrations_total", "counter",
      "peer IDs registered (a proven key)", s->m_registrations);
  p2p_metrics_add (out, "p2p_rendezvous_signals_forwarded_total", "counter",
      "signals (ICE offers and answers) passed on", s->m_forwarded);
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{st}"));
  g_hash_table_iter_init (&it, s->m_refused);
  while (g_hash_table_iter_next (&it, &key, &value))
    g_variant_builder_add (&b, "{st}", (const char *) key, *(guint64 *) value);
  refused = g_variant_ref_sink (g_variant_builder_end (&b));
  p2p_metrics_add_labelled (out, "p2p_rendezvous_refused_total",
      "errors sent to clients and connections refused, by reason", "reason", refused);
  p2p_metrics_add (out, "p2p_rendezvous_connections", "gauge", "TCP connections open",
      g_hash_table_size (s->conns));
  p2p_metrics_add (out, "p2p_rendezvous_registered_peers", "gauge", "peer IDs registered now",
      g_hash_table_size (s->by_peer));
}

int
main (int argc, char **argv)
{
  int port = -1;
  g_autofree char *host = NULL;
  g_autofree char *config = NULL;
  g_autofree char *origin = NULL;
  int cli[RDV_N_LIMITS];

  g_autofree char *metrics_addr = NULL;
  GOptionEntry entries[6 + RDV_N_LIMITS] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port,
      "TCP port to listen on (default 8443, 0 = any free port)", "PORT" },
    { "host", 0, 0, G_OPTION_ARG_STRING, &host,
      "address to listen on (default: all interfaces)", "ADDRESS" },
    { "origin", 0, 0, G_OPTION_ARG_STRING, &origin,
      "the URL clients dial (e.g. wss://rdv.example.org/ behind a TLS proxy); registrations "
      "are signed for it (default: ws://ADDRESS:PORT the client reached)", "URL" },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config,
      "key file with a [rendezvous] group: port, host, origin and the limits below by the same "
      "names (command-line options win)", "FILE" },
    { "metrics", 0, 0, G_OPTION_ARG_STRING, &metrics_addr,
      "serve Prometheus metrics on http://IP:PORT/metrics and /healthz (port 0 = any; the URL "
      "is printed as \"metrics: URL\" after the listening line)", "IP:PORT" },
  };
  for (guint i = 0; i < RDV_N_LIMITS; i++) {
    cli[i] = G_MININT;
    entries[5 + i] = (GOptionEntry) { rdv_limit_keys[i].key, 0, 0, G_OPTION_ARG_INT, &cli[i],
        rdv_limit_keys[i].help, "N" };
  }
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
  s.lim = (RdvLimits) {
    .max_connections = RDV_DEFAULT_MAX_CONNECTIONS,
    .max_per_ip = RDV_DEFAULT_MAX_PER_IP,
    .max_message_size = P2P_SIGNALING_MAX_MESSAGE,
    .registration_timeout_s = RDV_DEFAULT_REGISTRATION_TIMEOUT_S,
    .idle_timeout_s = RDV_DEFAULT_IDLE_TIMEOUT_S,
    .max_queued_bytes = RDV_DEFAULT_MAX_QUEUED_BYTES,
    .max_rate = RDV_DEFAULT_MAX_RATE,
  };
  int cfg_port = RDV_DEFAULT_PORT;
  g_autofree char *cfg_host = NULL;
  g_autofree char *cfg_origin = NULL;
  if (config && !rdv_load_config (config, &cfg_host, &cfg_origin, &cfg_port, &s.lim, &error)) {
    g_printerr ("p2p-rendezvous: configuration: %s\n", error->message);
    return 1;
  }
  if (port < -1 || port > 65535) {
    g_printerr ("p2p-rendezvous: --port %d: expected 0..65535\n", port);
    return 1;
  }
  for (guint i = 0; i < RDV_N_LIMITS; i++) {
    char text[16];
    g_snprintf (text, sizeof text, "%d", cli[i]);
    if (cli[i] != G_MININT && !rdv_set_limit (&s.lim, i, "--", text, &error)) {
      g_printerr ("p2p-rendezvous: %s\n", error->message);
      return 1;
    }
  }
  if (s.lim.max_queued_bytes < s.lim.max_message_size + 16) {
    g_printerr ("p2p-rendezvous: max-queued-bytes %u: must be at least max-message-size + 16 "
        "(%u)\n", s.lim.max_queued_bytes, s.lim.max_message_size + 16);
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
  if (cfg_host) {
    g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (cfg_host);
    if (!ia) {
      g_printerr ("p2p-rendezvous: --host \"%s\": expected an IP address\n", cfg_host);
      return 1;
    }
  }

  rlim_t nofile = rdv_raise_nofile ();
  g_autofree char *nofile_text = nofile == RLIM_INFINITY ? g_strdup ("unlimited")
      : g_strdup_printf ("%" G_GUINT64_FORMAT, (guint64) nofile);
  s.listeners = g_ptr_array_new_with_free_func ((GDestroyNotify) rdv_listener_free);
  s.conns = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) slot_free);
  s.per_ip = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  s.clients = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) client_free, NULL);
  s.by_peer = g_hash_table_new ((GHashFunc) p2p_peer_id_hash, (GEqualFunc) p2p_peer_id_equal);
  s.m_refused = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  P2pMetricsServer *metrics = NULL;
  s.soup = soup_server_new ("server-header", "p2p-rendezvous", NULL);
  /* Signals are small; compression would only hide the queued bytes and
   * cost CPU (and inflate attacker data). */
  soup_server_remove_websocket_extension (s.soup, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
  soup_server_add_websocket_handler (s.soup, NULL, NULL, NULL, on_websocket, &s, NULL);
  g_signal_connect (s.soup, "request-started", G_CALLBACK (on_request_started), &s);

  guint16 bound_port = 0;
  int status = 0;
  if (!server_listen_all (&s, cfg_host, cfg_port, &bound_port, &error)) {
    g_printerr ("p2p-rendezvous: cannot listen on %s:%d: %s\n", cfg_host ? cfg_host : "*",
        cfg_port, error->message);
    status = 1;
    goto out;
  }

  const char *shown = cfg_host ? cfg_host : "0.0.0.0";
  if (strchr (shown, ':'))
    printf ("listening on ws://[%s]:%u/\n", shown, bound_port);
  else
    printf ("listening on ws://%s:%u/\n", shown, bound_port);
  if (metrics_addr) {
    metrics = p2p_metrics_server_new (metrics_addr, fill_metrics, &s, &error);
    if (!metrics) {
      g_printerr ("p2p-rendezvous: %s\n", error->message);
      status = 1;
      goto out;
    }
    g_autofree char *url = p2p_metrics_server_dup_url (metrics);
    printf ("metrics: %s\n", url);
  }
  fflush (stdout);
  g_message ("limits: max-connections %u, max-connections-per-ip %u, registration-timeout %u s, "
      "idle-timeout %u s, max-queued-bytes %u, max-message-size %u, max-rate %u/s; "
      "open files %s; origin %s", s.lim.max_connections, s.lim.max_per_ip, s.lim.registration_timeout_s,
      s.lim.idle_timeout_s, s.lim.max_queued_bytes, s.lim.max_message_size, s.lim.max_rate,
      nofile_text, s.origin ? s.origin : "the address each client reached");
  if (nofile != RLIM_INFINITY && (rlim_t) s.lim.max_connections + 64 > nofile)
    g_message ("max-connections %u is not well below the open-file limit %s: when it is "
        "reached, accepting pauses until descriptors are free", s.lim.max_connections,
        nofile_text);

  s.sweep = g_timeout_source_new (SWEEP_MS);
  g_source_set_callback (s.sweep, on_sweep, &s, NULL);
  g_source_attach (s.sweep, NULL);
  s.loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, on_signal_quit, &s);
  g_unix_signal_add (SIGTERM, on_signal_quit, &s);
  g_main_loop_run (s.loop);
  g_main_loop_unref (s.loop);
  g_source_destroy (s.sweep);
  g_source_unref (s.sweep);

out:
  p2p_metrics_server_free (metrics);
  g_ptr_array_unref (s.listeners);
  g_hash_table_destroy (s.by_peer);
  g_hash_table_destroy (s.clients);
  soup_server_disconnect (s.soup);
  g_object_unref (s.soup);
  /* Connections still finishing their close keep no pointer to us. */
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, s.conns);
  while (g_hash_table_iter_next (&it, &key, NULL))
    rdv_conn_forget_owner (key);
  g_hash_table_destroy (s.conns);
  g_hash_table_destroy (s.per_ip);
  g_hash_table_destroy (s.m_refused);
  g_free (s.origin);
  return status;
}
