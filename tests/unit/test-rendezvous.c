/* test-rendezvous.c: tools/p2p-rendezvous run as a subprocess on a free port,
 * driven by P2pSignaling clients and by raw WebSocket clients that misbehave.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "p2p/p2p.h"
#include "p2p-signaling.h"

#define WAIT_MS 5000
#include "p2p-test-util.h"
#include "rdv-test-util.h"

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
  g_autofree char *reg = p2p_signaling_build_register (id, wrong, m.origin);
  p2p_signaling_message_clear (&m);
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

/* GET @url with libsoup, bounded: the body, or NULL (status in *status). */
static char *
http_get (const char *url, guint *status)
{
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 10, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = soup_session_send_and_read (session, msg, NULL, &error);

  g_assert_no_error (error);
  *status = soup_message_get_status (msg);
  return g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}

/* the value of the sample line "NAME VALUE" (NAME may hold {labels}) */
static guint64
sample (const char *text, const char *name)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  gsize len = strlen (name);

  for (guint i = 0; lines[i]; i++)
    if (strncmp (lines[i], name, len) == 0 && lines[i][len] == ' ')
      return g_ascii_strtoull (lines[i] + len + 1, NULL, 10);
  g_error ("no sample %s in:\n%s", name, text);
  return 0;
}

/* Issue 18: --metrics after a known sequence: 2 registrations, 1 signal
 * forwarded, 1 signal to nobody (refused: peer-not-found); /healthz ok;
 * an unknown path 404. */
static void
test_metrics (void)
{
  Server s = { 0 };
  const char *extra[] = { "--metrics=127.0.0.1:0", NULL };
  server_start (&s, extra);
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pIdentity) ghost = p2p_identity_new ();
  g_autoptr (P2pSignaling) sa = client_register (s.url, a);
  g_autoptr (P2pSignaling) sb = client_register (s.url, b);
  g_autofree char *text = NULL, *health = NULL, *missing = NULL;
  g_autofree char *health_url = NULL, *missing_url = NULL;
  guint status = 0;
  Inbox ia, ib;

  inbox_init (&ia, sa);
  inbox_init (&ib, sb);
  g_assert_true (p2p_signaling_send (sa, p2p_identity_get_peer_id (ghost), "hi", NULL));
  g_assert_true (p2p_signaling_send (sa, p2p_identity_get_peer_id (b), "offer", NULL));
  WAIT_FOR (ib.payloads->len == 1 && ia.not_found == 1);

  text = http_get (s.metrics_url, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpuint (sample (text, "p2p_rendezvous_registrations_total"), ==, 2);
  g_assert_cmpuint (sample (text, "p2p_rendezvous_signals_forwarded_total"), ==, 1);
  g_assert_cmpuint (sample (text, "p2p_rendezvous_refused_total{reason=\"peer-not-found\"}"), ==, 1);
  g_assert_cmpuint (sample (text, "p2p_rendezvous_registered_peers"), ==, 2);
  g_assert_cmpuint (sample (text, "p2p_rendezvous_connections_total"), ==, 2);
  g_assert_cmpuint (sample (text, "p2p_rendezvous_connections"), >=, 2);
  g_assert_cmpuint (sample (text, "process_resident_memory_bytes"), >, 0);
  g_assert_nonnull (strstr (text, "# TYPE p2p_rendezvous_registrations_total counter\n"));

  health_url = g_strdup (s.metrics_url);
  strcpy (strstr (health_url, "/metrics"), "/healthz");
  health = http_get (health_url, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (health, ==, "ok\n");
  missing_url = g_strdup (s.metrics_url);
  strcpy (strstr (missing_url, "/metrics"), "/nothing");
  missing = http_get (missing_url, &status);
  g_assert_cmpuint (status, ==, 404);

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
  /* Counted from accept(): the second TCP connection gets a 503, no upgrade. */
  g_assert_false (raw_try_connect (&r2, s.url, NULL));
  g_assert_cmpuint (r2.status, ==, SOUP_STATUS_SERVICE_UNAVAILABLE);
  raw_close (&r2);
  raw_close (&r1);
  server_stop (&s);
}

static void
test_server_bad_options (void)
{
  g_autofree char *bin = p2p_test_rendezvous_binary ();
  g_autofree char *cfg = NULL;
  int fd = g_file_open_tmp ("rdv-XXXXXX.conf", &cfg, NULL);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  g_assert_true (g_file_set_contents (cfg, "[rendezvous]\nmax-connections=lots\n", -1, NULL));

  struct { const char *arg; const char *expect; } cases[] = {
    { "--port=70000", "expected 0..65535" },
    { "--host=not-an-ip", "expected an IP address" },
    { "--bogus", "Unknown option" },
    { "--max-connections-per-ip=-3", "--max-connections-per-ip=-3: expected an integer 0..1000000" },
    { "--idle-timeout=1", "--idle-timeout=1: expected an integer 3..86400" },
    { "--max-queued-bytes=2000", "must be at least max-message-size + 16" },
    { "--metrics=nonsense", "--metrics \"nonsense\": expected IP:PORT" },
    { "--metrics=localhost:9100", "\"localhost\" is not an IP address" },
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
  g_test_add_func ("/rendezvous/metrics", test_metrics);
  return g_test_run ();
}
