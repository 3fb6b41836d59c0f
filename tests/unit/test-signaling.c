/* test-signaling.c: rendezvous protocol messages (build, parse, verify and
 * every parse error), P2pSignaling client errors, and the whole ICE flow
 * (offer/answer through a real p2p-rendezvous, ICE on this machine's
 * interfaces, QUIC over the ICE path) in one process.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>
#include <signal.h>
#include <sys/prctl.h>

#include "p2p/p2p.h"
#include "p2p-signaling.h"
#include "p2p-ice-connect.h"

#define WAIT_MS 20000
#include "p2p-test-util.h"


static gboolean
parse (const char *text, P2pSignalingMessage *m, GError **error)
{
  return p2p_signaling_message_parse (text, strlen (text), m, error);
}

static void
test_roundtrip (void)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  guint8 nonce[P2P_SIGNALING_NONCE_LEN];
  for (guint i = 0; i < sizeof nonce; i++)
    nonce[i] = (guint8) (i * 13 + 1);
  P2pSignalingMessage m;
  g_autoptr (GError) error = NULL;

  g_autofree char *ch = p2p_signaling_build_challenge (nonce, "ws://127.0.0.1:8443");
  g_assert_true (parse (ch, &m, &error));
  g_assert_no_error (error);
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_CHALLENGE);
  g_assert_cmpmem (m.nonce, sizeof m.nonce, nonce, sizeof nonce);
  g_assert_cmpstr (m.origin, ==, "ws://127.0.0.1:8443");
  p2p_signaling_message_clear (&m);

  g_autofree char *reg = p2p_signaling_build_register (a, nonce, "ws://127.0.0.1:8443");
  g_assert_true (parse (reg, &m, &error));
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_REGISTER);
  g_assert_true (p2p_peer_id_equal (&m.peer_id, p2p_identity_get_peer_id (a)));
  g_assert_true (p2p_signaling_verify_register (&m, nonce, "ws://127.0.0.1:8443"));
  g_assert_false (p2p_signaling_verify_register (&m, nonce, "ws://127.0.0.1:8444"));
  g_assert_false (p2p_signaling_verify_register (&m, nonce, NULL));
  nonce[5] ^= 0x40;
  g_assert_false (p2p_signaling_verify_register (&m, nonce, "ws://127.0.0.1:8443"));
  p2p_signaling_message_clear (&m);

  g_autofree char *ok = p2p_signaling_build_registered (p2p_identity_get_peer_id (b));
  g_assert_true (parse (ok, &m, &error));
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_REGISTERED);
  g_assert_true (p2p_peer_id_equal (&m.peer_id, p2p_identity_get_peer_id (b)));
  g_assert_false (p2p_signaling_verify_signal (&m)); /* not a signal */
  p2p_signaling_message_clear (&m);

  const char *payload = "{\"kind\":\"ice-offer\",\"x\":\"\\\"quoted\\\" \\u00e9\"}";
  g_autofree char *sig = p2p_signaling_build_signal (a, p2p_identity_get_peer_id (b), payload);
  g_assert_true (parse (sig, &m, &error));
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_SIGNAL);
  g_assert_cmpstr (m.payload, ==, payload);
  g_assert_true (p2p_peer_id_equal (&m.from, p2p_identity_get_peer_id (a)));
  g_assert_true (p2p_peer_id_equal (&m.to, p2p_identity_get_peer_id (b)));
  g_assert_true (p2p_signaling_verify_signal (&m));
  /* Any change breaks the signature: payload, recipient, sender. */
  m.payload[2] ^= 1;
  g_assert_false (p2p_signaling_verify_signal (&m));
  m.payload[2] ^= 1;
  m.to = m.from;
  g_assert_false (p2p_signaling_verify_signal (&m));
  p2p_signaling_message_clear (&m);

  g_autofree char *err = p2p_signaling_build_error ("PEER_NOT_FOUND", p2p_identity_get_peer_id (b),
      "no such peer");
  g_assert_true (parse (err, &m, &error));
  g_assert_cmpint (m.type, ==, P2P_SIGNALING_MSG_ERROR);
  g_assert_cmpstr (m.code, ==, "PEER_NOT_FOUND");
  g_assert_cmpstr (m.message, ==, "no such peer");
  g_assert_true (m.has_to);
  p2p_signaling_message_clear (&m);
  g_autofree char *err2 = p2p_signaling_build_error ("BAD_MESSAGE", NULL, NULL);
  g_assert_true (parse (err2, &m, &error));
  g_assert_false (m.has_to);
  g_assert_null (m.message);
  p2p_signaling_message_clear (&m);
}

static void
test_parse_errors (void)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autofree char *id = p2p_identity_dup_peer_id_string (a);
  g_autofree char *sig64 = g_strnfill (86, 'A');
  g_autofree char *sig = g_strconcat (sig64, "==", NULL);

  struct { const char *text; const char *expect; } cases[] = {
    { "", "empty" },
    { "[1,2]", "not a JSON object" },
    { "{", "not valid JSON" },
    { "\"str\"", "not a JSON object" },
    { "{}", "\"type\" is missing" },
    { "{\"type\":5}", "\"type\" is missing or not a string" },
    { "{\"type\":\"hello\"}", "unknown type \"hello\"" },
    { "{\"type\":\"challenge\"}", "\"nonce\"" },
    { "{\"type\":\"challenge\",\"nonce\":\"AAAA\"}", "base64 of 32 bytes" },
    { "{\"type\":\"challenge\",\"nonce\":\"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\"}", "not base64" },
    { "{\"type\":\"register\",\"peer_id\":\"abc\",\"signature\":\"x\"}", "not a peer ID" },
    { "{\"type\":\"registered\",\"peer_id\":null}", "\"peer_id\"" },
    { "{\"type\":\"error\"}", "\"code\"" },
    { "{\"type\":\"error\",\"code\":\"X\",\"to\":\"bad\"}", "\"to\" is not a peer ID" },
    { "{\"type\":\"error\",\"code\":\"X\",\"message\":[]}", "\"message\"" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    P2pSignalingMessage m;
    g_autoptr (GError) error = NULL;
    g_assert_false (parse (cases[i].text, &m, &error));
    g_assert_nonnull (error);
    if (!strstr (error->message, cases[i].expect))
      g_error ("case %u (%s): \"%s\" lacks \"%s\"", i, cases[i].text, error->message, cases[i].expect);
    p2p_signaling_message_clear (&m);
  }

  /* A signal without payload, with a payload that is not a string. */
  g_autofree char *nopayload = g_strdup_printf (
      "{\"type\":\"signal\",\"from\":\"%s\",\"to\":\"%s\",\"signature\":\"%s\"}", id, id, sig);
  g_autofree char *objpayload = g_strdup_printf (
      "{\"type\":\"signal\",\"from\":\"%s\",\"to\":\"%s\",\"signature\":\"%s\",\"payload\":{}}",
      id, id, sig);
  const char *more[] = { nopayload, objpayload };
  for (guint i = 0; i < G_N_ELEMENTS (more); i++) {
    P2pSignalingMessage m;
    g_autoptr (GError) error = NULL;
    g_assert_false (parse (more[i], &m, &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_nonnull (strstr (error->message, "\"payload\""));
    p2p_signaling_message_clear (&m);
  }

  P2pSignalingMessage m;
  g_autoptr (GError) error = NULL;
  /* Too big. */
  g_autofree char *big = g_strnfill (P2P_SIGNALING_MAX_MESSAGE + 1, ' ');
  g_assert_false (p2p_signaling_message_parse (big, strlen (big), &m, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&error);
  /* Deep nesting is refused before the recursive parser sees it. */
  g_autofree char *deep = g_strnfill (20000, '[');
  g_assert_false (p2p_signaling_message_parse (deep, strlen (deep), &m, &error));
  g_assert_nonnull (strstr (error->message, "nests deeper"));
  g_clear_error (&error);
  /* Brackets inside strings do not count. */
  g_autofree char *inner = g_strnfill (100, '[');
  g_autofree char *ok = g_strdup_printf ("{\"type\":\"error\",\"code\":\"%s\\\"\"}", inner);
  g_assert_true (parse (ok, &m, &error));
  g_assert_no_error (error);
  p2p_signaling_message_clear (&m);
  /* Not UTF-8, embedded NUL, not NUL-terminated. */
  g_assert_false (p2p_signaling_message_parse ("{\"type\":\"\xff\"}", 12, &m, &error));
  g_assert_nonnull (strstr (error->message, "UTF-8"));
  g_clear_error (&error);
  g_assert_false (p2p_signaling_message_parse ("{\"type\0\":1}", 11, &m, &error));
  g_clear_error (&error);
  const char unterminated[] = { '{', '}', 'x' };
  g_assert_false (p2p_signaling_message_parse (unterminated, 2, &m, &error));
  g_assert_nonnull (strstr (error->message, "\"type\""));
  g_clear_error (&error);
}

typedef struct {
  gboolean done;
  GError *error;
  P2pConnection *conn;
} Op;

static void
connected_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Op *op = data;
  p2p_signaling_connect_finish (P2P_SIGNALING (source), res, &op->error);
  op->done = TRUE;
}

static void
test_client_errors (void)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pSignaling) sig = p2p_signaling_new (a);
  g_autoptr (GError) error = NULL;

  g_assert_false (p2p_signaling_send (sig, p2p_identity_get_peer_id (a), "x", &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_CLOSED);
  g_clear_error (&error);

  const char *bad[] = { "http://127.0.0.1:1/", "ws://", "not a url", NULL };
  for (guint i = 0; bad[i]; i++) {
    Op op = { 0 };
    p2p_signaling_connect_async (sig, bad[i], NULL, connected_cb, &op);
    WAIT_FOR (op.done);
    g_assert_error (op.error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (op.error->message, "expected ws://"));
    g_clear_error (&op.error);
  }

  /* Nothing listens on a port we just released. */
  g_autoptr (GSocket) s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
      G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_assert_true (g_socket_bind (s, any, FALSE, NULL));
  g_autoptr (GSocketAddress) bound = g_socket_get_local_address (s, NULL);
  guint port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_socket_close (s, NULL);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/", port);
  Op op = { 0 };
  p2p_signaling_connect_async (sig, url, NULL, connected_cb, &op);
  WAIT_FOR (op.done);
  g_assert_error (op.error, P2P_ERROR, P2P_ERROR_NETWORK);
  g_assert_nonnull (strstr (op.error->message, url));
  g_clear_error (&op.error);
  g_assert_false (p2p_signaling_is_registered (sig));
}

/* ---- the whole flow through a real rendezvous ---- */


static P2pSignaling *
register_at (const char *url, P2pIdentity *id)
{
  P2pSignaling *sig = p2p_signaling_new (id);
  Op op = { 0 };
  p2p_signaling_connect_async (sig, url, NULL, connected_cb, &op);
  WAIT_FOR (op.done);
  g_assert_no_error (op.error);
  return sig;
}

static void
on_accepted (P2pConnection *conn, gpointer user_data)
{
  P2pConnection **out = user_data;
  g_assert_null (*out);
  *out = g_object_ref (conn);
}

static void
dialed_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Op *op = data;
  op->conn = p2p_ice_connect_finish (res, &op->error);
  op->done = TRUE;
}

static void
received_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  GBytes **out = data;
  g_autoptr (GError) error = NULL;
  *out = p2p_connection_receive_finish (P2P_CONNECTION (source), res, &error);
  g_assert_no_error (error);
}

static void
sent_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  gboolean *done = data;
  g_autoptr (GError) error = NULL;
  g_assert_true (p2p_connection_send_finish (P2P_CONNECTION (source), res, &error));
  *done = TRUE;
}

static void
test_ice_flow (void)
{
  g_autofree char *url = NULL;
  GSubprocess *rdv = p2p_test_start_rendezvous (&url);
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pIdentity) ghost = p2p_identity_new ();
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pSignaling) sa = register_at (url, a);
  g_autoptr (P2pSignaling) sb = register_at (url, b);
  P2pConnection *accepted = NULL;
  P2pIceResponder *resp = p2p_ice_responder_new (sb, b, cfg, NULL, NULL, 0, on_accepted, &accepted);

  /* Unknown peer: PEER_NOT_FOUND, quickly. */
  Op op = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  p2p_ice_connect_async (sa, a, cfg, p2p_identity_get_peer_id (ghost), NULL, NULL, dialed_cb, &op);
  WAIT_FOR (op.done);
  g_assert_error (op.error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_assert_nonnull (strstr (op.error->message, "not registered at the rendezvous"));
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 5 * G_USEC_PER_SEC);
  g_clear_error (&op.error);

  /* The real thing. */
  memset (&op, 0, sizeof op);
  p2p_ice_connect_async (sa, a, cfg, p2p_identity_get_peer_id (b), NULL, NULL, dialed_cb, &op);
  WAIT_FOR (op.done && accepted != NULL);
  g_assert_no_error (op.error);
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (op.conn), p2p_identity_get_peer_id (b)));
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (accepted), p2p_identity_get_peer_id (a)));

  GBytes *got = NULL;
  gboolean sent = FALSE;
  g_autoptr (GBytes) hello = g_bytes_new_static ("hello over ICE", 14);
  p2p_connection_receive_async (accepted, NULL, received_cb, &got);
  p2p_connection_send_async (op.conn, hello, NULL, sent_cb, &sent);
  WAIT_FOR (sent && got != NULL);
  g_assert_true (g_bytes_equal (got, hello));
  g_bytes_unref (got);

  /* This thread is the connections' network thread: hold its context so
   * the synchronous calls run in place instead of waiting for a loop. */
  g_assert_true (g_main_context_acquire (NULL));
  P2pConnectionStats st;
  p2p_connection_get_stats (op.conn, &st);
  g_assert_cmpint (st.path_kind, ==, P2P_PATH_KIND_DIRECT);
  p2p_connection_get_stats (accepted, &st);
  g_assert_cmpint (st.path_kind, ==, P2P_PATH_KIND_DIRECT);
  p2p_connection_close (op.conn, "bye");
  p2p_connection_close (accepted, "bye");
  g_main_context_release (NULL);
  g_clear_object (&op.conn);
  g_clear_object (&accepted);
  p2p_ice_responder_free (resp);
  p2p_signaling_close (sa);
  p2p_signaling_close (sb);
  for (int i = 0; i < 50 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  p2p_test_stop_rendezvous (rdv);
}

static void
service_dialed_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Op *op = data;
  op->conn = p2p_ice_service_connect_finish (op->conn ? NULL : (P2pIceService *) NULL, res,
      &op->error);
  op->done = TRUE;
}

/* P2pIceService, the provider-facing wrapper: lazy registration, dial by
 * peer ID, accept, stop accepting and accept again; errors without a
 * rendezvous. */
static void
test_ice_service (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pConfig) cfg = p2p_config_new ();

  g_assert_null (p2p_ice_service_new (a, cfg, NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "P2P_BOOTSTRAP_PEERS"));
  g_clear_error (&error);

  g_autofree char *url = NULL;
  GSubprocess *rdv = p2p_test_start_rendezvous (&url);
  g_strfreev (cfg->bootstrap_peers);
  cfg->bootstrap_peers = g_strsplit (url, ",", -1);
  P2pIceService *sa = p2p_ice_service_new (a, cfg, NULL, &error);
  P2pIceService *sb = p2p_ice_service_new (b, cfg, NULL, &error);
  g_assert_no_error (error);
  P2pConnection *accepted = NULL;
  p2p_ice_service_start_accepting (sb, NULL, 0, on_accepted, &accepted);
  WAIT_FOR (p2p_ice_service_is_registered (sb));
  g_assert_false (p2p_ice_service_is_registered (sa));

  Op op = { 0 };
  p2p_ice_service_connect_async (sa, p2p_identity_get_peer_id (b), NULL, service_dialed_cb, &op);
  WAIT_FOR (op.done && accepted != NULL);
  g_assert_no_error (op.error);
  g_assert_true (p2p_ice_service_is_registered (sa));
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (op.conn), p2p_identity_get_peer_id (b)));

  g_assert_true (g_main_context_acquire (NULL));
  p2p_connection_close (op.conn, "bye");
  p2p_connection_close (accepted, "bye");
  g_main_context_release (NULL);
  g_clear_object (&op.conn);
  g_clear_object (&accepted);

  /* Stopped accepting: an offer is refused at once (ice-error), not left
   * to the 10 s answer timeout; idempotent; accepting again works. */
  p2p_ice_service_stop_accepting (sb);
  p2p_ice_service_stop_accepting (sb);
  memset (&op, 0, sizeof op);
  gint64 t0 = g_get_monotonic_time ();
  p2p_ice_service_connect_async (sa, p2p_identity_get_peer_id (b), NULL, service_dialed_cb, &op);
  WAIT_FOR (op.done);
  g_assert_null (op.conn);
  g_assert_error (op.error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED);
  g_assert_nonnull (strstr (op.error->message, "refused the connection: not accepting connections"));
  g_assert_cmpint (g_get_monotonic_time () - t0, <, P2P_ICE_ANSWER_TIMEOUT_MS * 1000 / 2);
  g_assert_null (accepted);
  g_assert_true (p2p_ice_service_is_registered (sb));
  g_clear_error (&op.error);

  p2p_ice_service_start_accepting (sb, NULL, 0, on_accepted, &accepted);
  memset (&op, 0, sizeof op);
  p2p_ice_service_connect_async (sa, p2p_identity_get_peer_id (b), NULL, service_dialed_cb, &op);
  WAIT_FOR (op.done && accepted != NULL);
  g_assert_no_error (op.error);
  g_assert_true (g_main_context_acquire (NULL));
  p2p_connection_close (op.conn, "bye");
  p2p_connection_close (accepted, "bye");
  g_main_context_release (NULL);
  g_clear_object (&op.conn);
  g_clear_object (&accepted);
  p2p_ice_service_stop_accepting (NULL);

  /* A service freed while its registration is pending: no callback into it. */
  P2pIceService *sc = p2p_ice_service_new (a, cfg, NULL, &error);
  memset (&op, 0, sizeof op);
  p2p_ice_service_connect_async (sc, p2p_identity_get_peer_id (b), NULL, service_dialed_cb, &op);
  p2p_ice_service_free (sc);
  WAIT_FOR (op.done);
  g_assert_error (op.error, P2P_ERROR, P2P_ERROR_CLOSED);
  g_clear_error (&op.error);

  p2p_ice_service_free (sa);
  p2p_ice_service_free (sb);
  for (int i = 0; i < 50 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  p2p_test_stop_rendezvous (rdv);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/signaling/roundtrip", test_roundtrip);
  g_test_add_func ("/signaling/parse-errors", test_parse_errors);
  g_test_add_func ("/signaling/client-errors", test_client_errors);
  g_test_add_func ("/signaling/ice-flow", test_ice_flow);
  g_test_add_func ("/signaling/ice-service", test_ice_service);
  return g_test_run ();
}
