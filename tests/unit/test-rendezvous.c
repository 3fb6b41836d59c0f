/* test-rendezvous.c: tools/p2p-rendezvous run as a subprocess on a free port,
 * driven by P2pSignaling clients and by raw WebSocket clients that misbehave.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "p2p/p2p.h"
#include "p2p-signaling.h"

#define WAIT_MS 5000
#include "p2p-test-util.h"

/* ---- server subprocess ---- */

typedef struct {
  GSubprocess *proc;
  char *url;
} Server;

static void
child_setup (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
}

static char *
server_binary (void)
{
  const char *builddir = g_getenv ("P2P_TEST_BUILDDIR");
  if (builddir)
    return g_build_filename (builddir, "tools", "p2p-rendezvous", NULL);
  return g_build_filename ("tools", "p2p-rendezvous", NULL);
}

static void
server_start (Server *s, const char *const *extra)
{
  g_autofree char *bin = server_binary ();
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, bin);
  g_ptr_array_add (argv, (char *) "--port=0");
  g_ptr_array_add (argv, (char *) "--host=127.0.0.1");
  for (guint i = 0; extra && extra[i]; i++)
    g_ptr_array_add (argv, (char *) extra[i]);
  g_ptr_array_add (argv, NULL);

  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_child_setup (l, child_setup, NULL, NULL);
  g_autoptr (GError) error = NULL;
  s->proc = g_subprocess_launcher_spawnv (l, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);

  g_autoptr (GDataInputStream) in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (s->proc));
  g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  g_assert_true (g_str_has_prefix (line, "listening on ws://127.0.0.1:"));
  s->url = g_strdup (line + strlen ("listening on "));
}

static void
server_stop (Server *s)
{
  if (s->proc) {
    g_subprocess_send_signal (s->proc, SIGTERM);
    g_subprocess_wait (s->proc, NULL, NULL);
    g_clear_object (&s->proc);
  }
  g_clear_pointer (&s->url, g_free);
}

/* ---- waiting, bounded ---- */


/* ---- P2pSignaling helpers ---- */

typedef struct {
  gboolean done;
  GError *error;
} Result;

static void
connected_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Result *r = data;
  p2p_signaling_connect_finish (P2P_SIGNALING (source), res, &r->error);
  r->done = TRUE;
}

static P2pSignaling *
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

static void
on_signal (P2pSignaling *sig, const P2pPeerId *from, const char *payload, Inbox *in)
{
  g_ptr_array_add (in->payloads, g_strdup (payload));
  g_ptr_array_add (in->froms, p2p_peer_id_to_string (from));
}

static void
on_not_found (P2pSignaling *sig, const P2pPeerId *to, Inbox *in)
{
  in->not_found++;
  in->not_found_id = *to;
  in->not_found_at = g_get_monotonic_time ();
}

static void
on_closed (P2pSignaling *sig, const GError *error, Inbox *in)
{
  in->closed++;
}

static void
inbox_init (Inbox *in, P2pSignaling *sig)
{
  memset (in, 0, sizeof *in);
  in->payloads = g_ptr_array_new_with_free_func (g_free);
  in->froms = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (sig, "signal", G_CALLBACK (on_signal), in);
  g_signal_connect (sig, "peer-not-found", G_CALLBACK (on_not_found), in);
  g_signal_connect (sig, "closed", G_CALLBACK (on_closed), in);
}

static void
inbox_clear (Inbox *in)
{
  g_ptr_array_unref (in->payloads);
  g_ptr_array_unref (in->froms);
}

/* ---- raw WebSocket client ---- */

typedef struct {
  SoupSession *session;
  SoupWebsocketConnection *ws;
  GQueue messages; /* char* */
  gboolean closed;
  GError *error;
} Raw;

static void
raw_on_message (SoupWebsocketConnection *ws, gint type, GBytes *msg, Raw *raw)
{
  gsize len;
  const char *d = g_bytes_get_data (msg, &len);
  g_queue_push_tail (&raw->messages, g_strndup (d, len));
}

static void
raw_on_closed (SoupWebsocketConnection *ws, Raw *raw)
{
  raw->closed = TRUE;
}

static void
raw_connected (GObject *src, GAsyncResult *res, gpointer data)
{
  Raw *raw = data;
  raw->ws = soup_session_websocket_connect_finish (SOUP_SESSION (src), res, &raw->error);
  if (!raw->ws)
    raw->closed = TRUE;
}

static void
raw_connect (Raw *raw, const char *url)
{
  memset (raw, 0, sizeof *raw);
  g_queue_init (&raw->messages);
  raw->session = soup_session_new ();
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", url);
  soup_session_websocket_connect_async (raw->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
      NULL, raw_connected, raw);
  WAIT_FOR (raw->ws || raw->closed);
  g_assert_no_error (raw->error);
  soup_websocket_connection_set_max_incoming_payload_size (raw->ws, 1024 * 1024);
  g_signal_connect (raw->ws, "message", G_CALLBACK (raw_on_message), raw);
  g_signal_connect (raw->ws, "closed", G_CALLBACK (raw_on_closed), raw);
}

/* Next message, parsed (fails after WAIT_MS). */
static void
raw_next (Raw *raw, P2pSignalingMessage *msg)
{
  WAIT_FOR (!g_queue_is_empty (&raw->messages));
  g_autofree char *text = g_queue_pop_head (&raw->messages);
  g_autoptr (GError) error = NULL;
  gboolean ok = p2p_signaling_message_parse (text, strlen (text), msg, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
}

static void
raw_register (Raw *raw, P2pIdentity *id)
{
  P2pSignalingMessage m;
  raw_next (raw, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_CHALLENGE);
  g_autofree char *reg = p2p_signaling_build_register (id, m.nonce);
  p2p_signaling_message_clear (&m);
  soup_websocket_connection_send_text (raw->ws, reg);
  raw_next (raw, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_REGISTERED);
  g_assert_true (p2p_peer_id_equal (&m.peer_id, p2p_identity_get_peer_id (id)));
  p2p_signaling_message_clear (&m);
}

static void
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

/* ---- tests ---- */

static void
test_register_ok (void)
{
  Server s = { 0 };
  server_start (&s, NULL);
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  g_autoptr (P2pSignaling) sig = client_register (s.url, id);
  p2p_signaling_close (sig);
  g_assert_false (p2p_signaling_is_registered (sig));
  server_stop (&s);
}

static void
test_register_bad_signature (void)
{
  Server s = { 0 };
  server_start (&s, NULL);
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  Raw raw;
  raw_connect (&raw, s.url);

  P2pSignalingMessage m;
  raw_next (&raw, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_CHALLENGE);
  guint8 wrong[P2P_SIGNALING_NONCE_LEN];
  memcpy (wrong, m.nonce, sizeof wrong);
  wrong[0] ^= 1; /* signs another nonce: a replayed or made-up registration */
  p2p_signaling_message_clear (&m);
  g_autofree char *reg = p2p_signaling_build_register (id, wrong);
  soup_websocket_connection_send_text (raw.ws, reg);

  raw_next (&raw, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_ERROR);
  g_assert_cmpstr (m.code, ==, "AUTHENTICATION_FAILED");
  g_assert_nonnull (strstr (m.message, "signature"));
  p2p_signaling_message_clear (&m);
  WAIT_FOR (raw.closed);
  g_assert_cmpint (soup_websocket_connection_get_close_code (raw.ws), ==,
      SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
  raw_close (&raw);
  server_stop (&s);
}

static void
test_signal_before_register (void)
{
  Server s = { 0 };
  server_start (&s, NULL);
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  Raw raw;
  raw_connect (&raw, s.url);
  P2pSignalingMessage m;
  raw_next (&raw, &m); /* challenge */
  p2p_signaling_message_clear (&m);
  g_autofree char *text = p2p_signaling_build_signal (a, p2p_identity_get_peer_id (b), "x");
  soup_websocket_connection_send_text (raw.ws, text);
  raw_next (&raw, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_ERROR);
  g_assert_cmpstr (m.code, ==, "NOT_REGISTERED");
  p2p_signaling_message_clear (&m);

  soup_websocket_connection_send_text (raw.ws, "{not json");
  raw_next (&raw, &m);
  g_assert_cmpstr (m.code, ==, "BAD_MESSAGE");
  g_assert_nonnull (strstr (m.message, "not valid JSON"));
  p2p_signaling_message_clear (&m);
  raw_close (&raw);
  server_stop (&s);
}

static void
test_forward (void)
{
  Server s = { 0 };
  server_start (&s, NULL);
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pSignaling) sa = client_register (s.url, a);
  g_autoptr (P2pSignaling) sb = client_register (s.url, b);
  Inbox ia, ib;
  inbox_init (&ia, sa);
  inbox_init (&ib, sb);

  g_autoptr (GError) error = NULL;
  const char *offer = "{\"kind\":\"offer\",\"ufrag\":\"abcd\",\"x\":\"\\u00e9\\n\"}";
  g_assert_true (p2p_signaling_send (sa, p2p_identity_get_peer_id (b), offer, &error));
  g_assert_no_error (error);
  WAIT_FOR (ib.payloads->len == 1);
  g_assert_cmpstr (ib.payloads->pdata[0], ==, offer);
  g_autofree char *a_text = p2p_identity_dup_peer_id_string (a);
  g_assert_cmpstr (ib.froms->pdata[0], ==, a_text);

  g_assert_true (p2p_signaling_send (sb, p2p_identity_get_peer_id (a), "answer", &error));
  WAIT_FOR (ia.payloads->len == 1);
  g_assert_cmpstr (ia.payloads->pdata[0], ==, "answer");
  g_assert_cmpuint (p2p_signaling_get_rejected_count (sa), ==, 0);

  /* Too large for the rendezvous: refused locally. */
  g_autofree char *big = g_strnfill (P2P_SIGNALING_MAX_MESSAGE, 'x');
  g_assert_false (p2p_signaling_send (sa, p2p_identity_get_peer_id (b), big, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);

  inbox_clear (&ia);
  inbox_clear (&ib);
  server_stop (&s);
}

static void
test_forged (void)
{
  Server s = { 0 };
  server_start (&s, NULL);
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pIdentity) c = p2p_identity_new ();
  g_autoptr (P2pSignaling) sb = client_register (s.url, b);
  Inbox ib;
  inbox_init (&ib, sb);
  Raw raw;
  raw_connect (&raw, s.url);
  raw_register (&raw, c);

  /* C claims to be A: signed with C's key, "from" = A. */
  const P2pPeerId *to = p2p_identity_get_peer_id (b);
  g_autoptr (GString) tbs = g_string_new (P2P_SIGNALING_SIGNAL_CONTEXT "\n");
  g_autofree char *a_s = p2p_identity_dup_peer_id_string (a);
  g_autofree char *b_s = p2p_identity_dup_peer_id_string (b);
  g_string_append_printf (tbs, "%s\n%s\n%s", a_s, b_s, "evil");
  guint8 sig[P2P_IDENTITY_SIGNATURE_LEN];
  p2p_identity_sign (c, (const guint8 *) tbs->str, tbs->len, sig);
  g_autofree char *forged = p2p_signaling_build_signal_raw (p2p_identity_get_peer_id (a), to,
      "evil", sig);

  /* The receiver's own check (a rendezvous that forwarded it anyway). */
  P2pSignalingMessage m;
  g_assert_true (p2p_signaling_message_parse (forged, strlen (forged), &m, NULL));
  g_assert_false (p2p_signaling_verify_signal (&m));
  p2p_signaling_message_clear (&m);

  /* The server refuses a "from" other than the registration. */
  soup_websocket_connection_send_text (raw.ws, forged);
  raw_next (&raw, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_ERROR);
  g_assert_cmpstr (m.code, ==, "FORBIDDEN");
  p2p_signaling_message_clear (&m);

  /* C as itself but with a signature over another payload (altered in
   * transit): forwarded, and the receiver drops it. */
  g_autoptr (GString) tbs2 = g_string_new (P2P_SIGNALING_SIGNAL_CONTEXT "\n");
  g_autofree char *c_s = p2p_identity_dup_peer_id_string (c);
  g_string_append_printf (tbs2, "%s\n%s\n%s", c_s, b_s, "original");
  p2p_identity_sign (c, (const guint8 *) tbs2->str, tbs2->len, sig);
  g_autofree char *altered = p2p_signaling_build_signal_raw (p2p_identity_get_peer_id (c), to,
      "altered", sig);
  soup_websocket_connection_send_text (raw.ws, altered);
  WAIT_FOR (p2p_signaling_get_rejected_count (sb) == 1);
  g_assert_cmpuint (ib.payloads->len, ==, 0);

  /* A genuine one from C still arrives. */
  g_autofree char *good = p2p_signaling_build_signal (c, to, "genuine");
  soup_websocket_connection_send_text (raw.ws, good);
  WAIT_FOR (ib.payloads->len == 1);
  g_assert_cmpstr (ib.payloads->pdata[0], ==, "genuine");
  g_assert_cmpstr (ib.froms->pdata[0], ==, c_s);

  raw_close (&raw);
  inbox_clear (&ib);
  server_stop (&s);
}

static void
test_peer_not_found (void)
{
  Server s = { 0 };
  server_start (&s, NULL);
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) ghost = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pSignaling) sa = client_register (s.url, a);
  g_autoptr (P2pSignaling) sb = client_register (s.url, b);
  Inbox ia, ib;
  inbox_init (&ia, sa);
  inbox_init (&ib, sb);

  /* The answer is immediate, not after a delay: A then signals B, B answers
   * A, and the server, which handles A's messages in order, has sent
   * "not found" on A's connection before B's answer. */
  g_assert_true (p2p_signaling_send (sa, p2p_identity_get_peer_id (ghost), "hi", NULL));
  g_assert_true (p2p_signaling_send (sa, p2p_identity_get_peer_id (b), "ping", NULL));
  WAIT_FOR (ib.payloads->len == 1);
  g_assert_true (p2p_signaling_send (sb, p2p_identity_get_peer_id (a), "pong", NULL));
  WAIT_FOR (ia.payloads->len == 1);
  g_assert_cmpstr (ia.payloads->pdata[0], ==, "pong");
  g_assert_cmpuint (ia.not_found, ==, 1);
  g_assert_true (p2p_peer_id_equal (&ia.not_found_id, p2p_identity_get_peer_id (ghost)));
  inbox_clear (&ia);
  inbox_clear (&ib);
  server_stop (&s);
}

static void
test_oversized (void)
{
  Server s = { 0 };
  const char *extra[] = { "--max-message-size=4096", NULL };
  server_start (&s, extra);
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  Raw raw;
  raw_connect (&raw, s.url);
  raw_register (&raw, a);
  g_autofree char *big = g_strnfill (5000, 'x');
  soup_websocket_connection_send_text (raw.ws, big);
  WAIT_FOR (raw.closed);
  /* libsoup's server fails the connection (close code 1009 on its side; the
   * TCP connection drops before our side reads the close frame). */
  gushort code = soup_websocket_connection_get_close_code (raw.ws);
  g_assert_true (code == SOUP_WEBSOCKET_CLOSE_TOO_BIG || code == 0);
  raw_close (&raw);

  /* The server is still up for well-behaved clients. */
  g_autoptr (P2pSignaling) sa = client_register (s.url, a);
  server_stop (&s);
}

static void
test_replaced (void)
{
  Server s = { 0 };
  server_start (&s, NULL);
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pSignaling) first = client_register (s.url, a);
  Inbox i1;
  inbox_init (&i1, first);
  g_autoptr (P2pSignaling) second = client_register (s.url, a);
  Inbox i2;
  inbox_init (&i2, second);
  WAIT_FOR (i1.closed == 1);
  g_assert_false (p2p_signaling_is_registered (first));

  /* Signals for A now reach the newer registration. */
  g_autoptr (P2pSignaling) sb = client_register (s.url, b);
  g_assert_true (p2p_signaling_send (sb, p2p_identity_get_peer_id (a), "to-new", NULL));
  WAIT_FOR (i2.payloads->len == 1);
  g_assert_cmpuint (i1.payloads->len, ==, 0);
  inbox_clear (&i1);
  inbox_clear (&i2);
  server_stop (&s);
}

static void
test_max_connections (void)
{
  Server s = { 0 };
  const char *extra[] = { "--max-connections=1", NULL };
  server_start (&s, extra);
  Raw r1, r2;
  raw_connect (&r1, s.url);
  P2pSignalingMessage m;
  raw_next (&r1, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_CHALLENGE);
  p2p_signaling_message_clear (&m);
  raw_connect (&r2, s.url);
  raw_next (&r2, &m);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_ERROR);
  g_assert_cmpstr (m.code, ==, "LIMIT_EXCEEDED");
  p2p_signaling_message_clear (&m);
  WAIT_FOR (r2.closed);
  raw_close (&r2);
  raw_close (&r1);
  server_stop (&s);
}

static void
test_server_bad_options (void)
{
  g_autofree char *bin = server_binary ();
  g_autofree char *cfg = NULL;
  int fd = g_file_open_tmp ("rdv-XXXXXX.conf", &cfg, NULL);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  g_assert_true (g_file_set_contents (cfg, "[rendezvous]\nmax-connections=lots\n", -1, NULL));

  struct { const char *arg; const char *expect; } cases[] = {
    { "--port=70000", "expected 0..65535" },
    { "--host=not-an-ip", "expected an IP address" },
    { "--bogus", "Unknown option" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases) + 1; i++) {
    g_autofree char *cfg_arg = g_strdup_printf ("--config=%s", cfg);
    const char *arg = i < G_N_ELEMENTS (cases) ? cases[i].arg : cfg_arg;
    const char *expect = i < G_N_ELEMENTS (cases) ? cases[i].expect : "max-connections=lots";
    const char *argv[] = { bin, "--port=0", arg, NULL };
    g_autoptr (GError) error = NULL;
    g_autoptr (GSubprocess) p = g_subprocess_newv (argv,
        G_SUBPROCESS_FLAGS_STDERR_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error);
    g_assert_no_error (error);
    g_autofree char *err_text = NULL;
    g_subprocess_communicate_utf8 (p, NULL, NULL, NULL, &err_text, &error);
    g_assert_no_error (error);
    g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 1);
    g_assert_nonnull (strstr (err_text, expect));
  }
  g_unlink (cfg);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rendezvous/register-ok", test_register_ok);
  g_test_add_func ("/rendezvous/register-bad-signature", test_register_bad_signature);
  g_test_add_func ("/rendezvous/signal-before-register", test_signal_before_register);
  g_test_add_func ("/rendezvous/forward", test_forward);
  g_test_add_func ("/rendezvous/forged", test_forged);
  g_test_add_func ("/rendezvous/peer-not-found", test_peer_not_found);
  g_test_add_func ("/rendezvous/oversized", test_oversized);
  g_test_add_func ("/rendezvous/replaced", test_replaced);
  g_test_add_func ("/rendezvous/max-connections", test_max_connections);
  g_test_add_func ("/rendezvous/bad-options", test_server_bad_options);
  return g_test_run ();
}
