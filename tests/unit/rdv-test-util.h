/* rdv-test-util.h: helpers of the rendezvous tests (test-rendezvous.c,
 * test-rendezvous-limits.c): tools/p2p-rendezvous as a subprocess on
 * 127.0.0.1, P2pSignaling clients, libsoup WebSocket clients that misbehave
 * ("Raw", optionally bound to another loopback address) and hand-made
 * WebSocket clients on a bare GSocket ("Sock") that can stop reading or
 * never answer a ping. Include after p2p-test-util.h (WAIT_FOR, the
 * rendezvous subprocess).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <libsoup/soup.h>

#include "p2p/p2p.h"
#include "p2p-signaling.h"

/* ---- server subprocess ---- */

typedef struct {
  GSubprocess *proc;
  char *url;
  guint16 port;
  char *metrics_url;    /* with --metrics: the URL it printed */
} Server;

static inline void
rdv_child_setup (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
  rlim_t nofile = GPOINTER_TO_UINT (data);
  if (nofile) {
    struct rlimit rl = { nofile, nofile };
    setrlimit (RLIMIT_NOFILE, &rl);
  }
}

/* Starts the server on 127.0.0.1 with @extra options; @nofile > 0 sets its
 * RLIMIT_NOFILE (soft and hard). */
static inline void
server_start_full (Server *s, const char *const *extra, guint nofile)
{
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | (g_getenv ("RDV_TEST_STDERR") ? 0 : G_SUBPROCESS_FLAGS_STDERR_SILENCE));
  g_subprocess_launcher_set_child_setup (l, rdv_child_setup, GUINT_TO_POINTER (nofile), NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDataInputStream) in = NULL;
  s->proc = p2p_test_rendezvous_spawn (l, extra, &s->url, &in);

  g_assert_true (g_str_has_prefix (s->url, "ws://127.0.0.1:"));
  s->port = (guint16) atoi (s->url + strlen ("ws://127.0.0.1:"));
  for (guint i = 0; extra && extra[i]; i++) {
    if (g_str_has_prefix (extra[i], "--metrics")) {
      g_autofree char *mline = g_data_input_stream_read_line (in, NULL, NULL, &error);

      g_assert_no_error (error);
      g_assert_true (g_str_has_prefix (mline, "metrics: http://127.0.0.1:"));
      s->metrics_url = g_strdup (mline + strlen ("metrics: "));
    }
  }
}

static inline void
server_start (Server *s, const char *const *extra)
{
  server_start_full (s, extra, 0);
}

static inline void
server_stop (Server *s)
{
  if (s->proc) {
    g_subprocess_send_signal (s->proc, SIGTERM);
    g_subprocess_wait (s->proc, NULL, NULL);
    /* a clean exit: no crash, and under ASan no leak */
    g_assert_true (g_subprocess_get_if_exited (s->proc));
    g_assert_cmpint (g_subprocess_get_exit_status (s->proc), ==, 0);
    g_clear_object (&s->proc);
  }
  g_clear_pointer (&s->url, g_free);
  g_clear_pointer (&s->metrics_url, g_free);
}

/* A field of /proc/PID/status of the server, in kB ("VmRSS", "VmHWM"). */
static inline guint64
server_status_kb (Server *s, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status", g_subprocess_get_identifier (s->proc));
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_autofree char *key = g_strconcat ("\n", field, ":", NULL);
  const char *p = strstr (text, key);
  g_assert_nonnull (p);
  return g_ascii_strtoull (p + strlen (key), NULL, 10);
}

/* ---- P2pSignaling helpers ---- */

typedef struct {
  gboolean done;
  GError *error;
} Result;

static inline void
connected_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Result *r = data;
  p2p_signaling_connect_finish (P2P_SIGNALING (source), res, &r->error);
  r->done = TRUE;
}

static inline P2pSignaling *
client_register (const char *url, P2pIdentity *id)
{
  P2pSignaling *sig = p2p_signaling_new (id);
  Result r = { 0 };
  p2p_signaling_connect_async (sig, url, NULL, connected_cb, &r);
  WAIT_FOR (r.done);
  g_assert_no_error (r.error);
  g_assert_true (p2p_signaling_is_registered (sig));
  return sig;
}

typedef struct {
  GPtrArray *payloads;
  GPtrArray *froms;
  guint not_found;
  P2pPeerId not_found_id;
  gint64 not_found_at;
  guint closed;
} Inbox;

static inline void
on_signal (P2pSignaling *sig, const P2pPeerId *from, const char *payload, Inbox *in)
{
  g_ptr_array_add (in->payloads, g_strdup (payload));
  g_ptr_array_add (in->froms, p2p_peer_id_to_string (from));
}

static inline void
on_not_found (P2pSignaling *sig, const P2pPeerId *to, Inbox *in)
{
  in->not_found++;
  in->not_found_id = *to;
  in->not_found_at = g_get_monotonic_time ();
}

static inline void
on_closed (P2pSignaling *sig, const GError *error, Inbox *in)
{
  in->closed++;
}

static inline void
inbox_init (Inbox *in, P2pSignaling *sig)
{
  memset (in, 0, sizeof *in);
  in->payloads = g_ptr_array_new_with_free_func (g_free);
  in->froms = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (sig, "signal", G_CALLBACK (on_signal), in);
  g_signal_connect (sig, "peer-not-found", G_CALLBACK (on_not_found), in);
  g_signal_connect (sig, "closed", G_CALLBACK (on_closed), in);
}

static inline void
inbox_clear (Inbox *in)
{
  g_ptr_array_unref (in->payloads);
  g_ptr_array_unref (in->froms);
}

/* ---- raw WebSocket client (libsoup) ---- */

typedef struct {
  SoupSession *session;
  SoupWebsocketConnection *ws;
  GQueue messages; /* char* */
  gboolean closed;
  guint status;    /* HTTP status of the upgrade request */
  GError *error;
} Raw;

static inline void
raw_on_message (SoupWebsocketConnection *ws, gint type, GBytes *msg, Raw *raw)
{
  gsize len;
  const char *d = g_bytes_get_data (msg, &len);
  g_queue_push_tail (&raw->messages, g_strndup (d, len));
}

static inline void
raw_on_closed (SoupWebsocketConnection *ws, Raw *raw)
{
  raw->closed = TRUE;
}

static inline void
raw_connected (GObject *src, GAsyncResult *res, gpointer data)
{
  Raw *raw = data;
  raw->ws = soup_session_websocket_connect_finish (SOUP_SESSION (src), res, &raw->error);
  if (!raw->ws)
    raw->closed = TRUE;
}

/* Connects from @local_ip (NULL: the default, 127.0.0.1); returns whether
 * the upgrade succeeded (raw->status and raw->error tell otherwise). */
static inline gboolean
raw_try_connect (Raw *raw, const char *url, const char *local_ip)
{
  memset (raw, 0, sizeof *raw);
  g_queue_init (&raw->messages);
  g_autoptr (GSocketAddress) local = NULL;
  if (local_ip)
    local = g_inet_socket_address_new_from_string (local_ip, 0);
  raw->session = soup_session_new_with_options ("local-address", local, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", url);
  soup_session_websocket_connect_async (raw->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
      NULL, raw_connected, raw);
  WAIT_FOR (raw->ws || raw->closed);
  raw->status = soup_message_get_status (msg);
  if (!raw->ws)
    return FALSE;
  soup_websocket_connection_set_max_incoming_payload_size (raw->ws, 1024 * 1024);
  g_signal_connect (raw->ws, "message", G_CALLBACK (raw_on_message), raw);
  g_signal_connect (raw->ws, "closed", G_CALLBACK (raw_on_closed), raw);
  return TRUE;
}

static inline void
raw_connect_from (Raw *raw, const char *url, const char *local_ip)
{
  raw_try_connect (raw, url, local_ip);
  g_assert_no_error (raw->error);
  g_assert_nonnull (raw->ws);
}

static inline void
raw_connect (Raw *raw, const char *url)
{
  raw_connect_from (raw, url, NULL);
}

/* Next message, parsed (fails after WAIT_MS). */
static inline void
raw_next (Raw *raw, P2pSignalingMessage *msg)
{
  WAIT_FOR (!g_queue_is_empty (&raw->messages));
  g_autofree char *text = g_queue_pop_head (&raw->messages);
  g_autoptr (GError) error = NULL;
  gboolean ok = p2p_signaling_message_parse (text, strlen (text), msg, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
}

static inline void
raw_register (Raw *raw, P2pIdentity *id)
{
  P2pSignalingMessage m;
  raw_next (raw, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_CHALLENGE);
  g_autofree char *reg = p2p_signaling_build_register (id, m.nonce, m.origin);
  p2p_signaling_message_clear (&m);
  soup_websocket_connection_send_text (raw->ws, reg);
  raw_next (raw, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_REGISTERED);
  g_assert_true (p2p_peer_id_equal (&m.peer_id, p2p_identity_get_peer_id (id)));
  p2p_signaling_message_clear (&m);
}

static inline void
raw_close (Raw *raw)
{
  if (raw->ws) {
    g_signal_handlers_disconnect_by_data (raw->ws, raw);
    if (soup_websocket_connection_get_state (raw->ws) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (raw->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    g_clear_object (&raw->ws);
  }
  g_queue_clear_full (&raw->messages, g_free);
  g_clear_object (&raw->session);
  g_clear_error (&raw->error);
}

/* Closes with the closing handshake and waits for the server's side. */
static inline void
raw_close_wait (Raw *raw)
{
  soup_websocket_connection_close (raw->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  WAIT_FOR (raw->closed);
  raw_close (raw);
}

/* ---- hand-made WebSocket client on a GSocket ---- */

typedef struct {
  GSocket *sock;
  GByteArray *in;   /* received, not yet parsed */
  GSource *watch;   /* reads into @in while set */
  gboolean eof;
} Sock;

/* A TCP socket from @local_ip to 127.0.0.1:@port; @rcvbuf > 0 sets SO_RCVBUF;
 * @wait: complete the connect (else it may still be in progress). */
static inline GSocket *
tcp_socket (guint16 port, const char *local_ip, int rcvbuf, gboolean wait)
{
  g_autoptr (GError) error = NULL;
  GSocket *sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
      G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  if (rcvbuf > 0)
    g_assert_true (g_socket_set_option (sock, SOL_SOCKET, SO_RCVBUF, rcvbuf, NULL));
  if (local_ip) {
    g_autoptr (GSocketAddress) la = g_inet_socket_address_new_from_string (local_ip, 0);
    g_assert_true (g_socket_bind (sock, la, FALSE, &error));
  }
  g_autoptr (GSocketAddress) ra = g_inet_socket_address_new_from_string ("127.0.0.1", port);
  g_socket_set_timeout (sock, WAIT_MS / 1000);
  g_socket_set_blocking (sock, wait);
  if (!g_socket_connect (sock, ra, NULL, &error))
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
  return sock;
}

static inline gboolean
sock_on_readable (GSocket *socket, GIOCondition cond, gpointer data)
{
  Sock *s = data;
  guint8 buf[65536];
  g_autoptr (GError) error = NULL;
  gssize n = g_socket_receive_with_blocking (socket, (char *) buf, sizeof buf, FALSE, NULL,
      &error);
  if (n > 0)
    g_byte_array_append (s->in, buf, n);
  if (n > 0 || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;
  s->eof = TRUE; /* EOF or reset */
  g_clear_pointer (&s->watch, g_source_unref);
  return G_SOURCE_REMOVE;
}

static inline void
sock_start_reading (Sock *s)
{
  if (s->watch)
    return;
  s->watch = g_socket_create_source (s->sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (s->watch, G_SOURCE_FUNC (sock_on_readable), s, NULL);
  g_source_attach (s->watch, NULL);
}

static inline void
sock_send_all (Sock *s, const void *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  const char *p = data;
  while (len > 0) {
    gssize n = g_socket_send_with_blocking (s->sock, p, len, TRUE, NULL, &error);
    g_assert_no_error (error);
    p += n;
    len -= n;
  }
}

/* One masked text frame (client → server). */
static inline void
sock_send_text (Sock *s, const char *text)
{
  gsize len = strlen (text);
  static const guint8 mask[4] = { 0x12, 0x34, 0x56, 0x78 };
  g_autoptr (GByteArray) f = g_byte_array_new ();
  guint8 h[2] = { 0x81, 0x80 };
  if (len < 126) {
    h[1] |= len;
    g_byte_array_append (f, h, 2);
  } else {
    g_assert_cmpuint (len, <, 65536);
    h[1] |= 126;
    guint8 ext[2] = { len >> 8, len & 0xff };
    g_byte_array_append (f, h, 2);
    g_byte_array_append (f, ext, 2);
  }
  g_byte_array_append (f, mask, 4);
  for (gsize i = 0; i < len; i++) {
    guint8 b = text[i] ^ mask[i % 4];
    g_byte_array_append (f, &b, 1);
  }
  sock_send_all (s, f->data, f->len);
}

/* Whether s->in holds a complete server frame; if so and @payload is set,
 * takes it out: its opcode and payload. */
static inline gboolean
sock_take_frame (Sock *s, guint8 *opcode, GBytes **payload)
{
  if (s->in->len < 2)
    return FALSE;
  guint64 len = s->in->data[1] & 0x7f;
  gsize hdr = 2;
  if (len == 126) {
    if (s->in->len < 4)
      return FALSE;
    len = (s->in->data[2] << 8) | s->in->data[3];
    hdr = 4;
  } else if (len == 127) {
    if (s->in->len < 10)
      return FALSE;
    len = 0;
    for (int i = 0; i < 8; i++)
      len = (len << 8) | s->in->data[2 + i];
    hdr = 10;
  }
  g_assert_cmpuint (s->in->data[1] & 0x80, ==, 0); /* servers do not mask */
  if (s->in->len < hdr + len)
    return FALSE;
  if (!payload)
    return TRUE;
  *opcode = s->in->data[0] & 0x0f;
  *payload = g_bytes_new (s->in->data + hdr, len);
  g_byte_array_remove_range (s->in, 0, hdr + len);
  return TRUE;
}

/* The next frame (read while waiting; fails after WAIT_MS). */
static inline GBytes *
sock_next_frame (Sock *s, guint8 *opcode)
{
  GBytes *payload = NULL;
  sock_start_reading (s);
  WAIT_FOR (sock_take_frame (s, NULL, NULL) || s->eof);
  g_assert_true (sock_take_frame (s, opcode, &payload));
  return payload;
}

/* The next text message, parsed; pings are skipped (and never answered). */
static inline void
sock_next_message (Sock *s, P2pSignalingMessage *msg)
{
  for (;;) {
    guint8 op = 0;
    g_autoptr (GBytes) b = sock_next_frame (s, &op);
    if (op == 0x9)
      continue;
    g_assert_cmpuint (op, ==, 0x1);
    gsize len;
    const char *text = g_bytes_get_data (b, &len);
    g_autoptr (GError) error = NULL;
    g_assert_true (p2p_signaling_message_parse (text, len, msg, &error));
    return;
  }
}

/* Connects from @local_ip, upgrades to a WebSocket and registers @id. */
static inline void
sock_open (Sock *s, guint16 port, const char *local_ip, int rcvbuf, P2pIdentity *id)
{
  memset (s, 0, sizeof *s);
  s->in = g_byte_array_new ();
  s->sock = tcp_socket (port, local_ip, rcvbuf, TRUE);
  static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  sock_send_all (s, req, strlen (req));
  sock_start_reading (s);
#define SOCK_HEADERS_END(s) ((s)->in->len ? g_strstr_len ((char *) (s)->in->data, (s)->in->len, \
      "\r\n\r\n") : NULL)
  WAIT_FOR (SOCK_HEADERS_END (s) || s->eof);
  const char *end = SOCK_HEADERS_END (s);
  g_assert_nonnull (end);
  g_assert_true (g_str_has_prefix ((char *) s->in->data, "HTTP/1.1 101"));
  g_byte_array_remove_range (s->in, 0, end + 4 - (char *) s->in->data);

  P2pSignalingMessage m;
  sock_next_message (s, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_CHALLENGE);
  g_autofree char *reg = p2p_signaling_build_register (id, m.nonce, m.origin);
  p2p_signaling_message_clear (&m);
  sock_send_text (s, reg);
  sock_next_message (s, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_REGISTERED);
  p2p_signaling_message_clear (&m);
}

static inline void
sock_stop_reading (Sock *s)
{
  if (s->watch)
    g_source_destroy (s->watch);
  g_clear_pointer (&s->watch, g_source_unref);
}

static inline void
sock_close (Sock *s)
{
  sock_stop_reading (s);
  if (s->sock)
    g_socket_close (s->sock, NULL);
  g_clear_object (&s->sock);
  g_clear_pointer (&s->in, g_byte_array_unref);
}
