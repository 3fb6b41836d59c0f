/* test-signaling.c: rendezvous protocol messages (build, parse, verify and
 * every parse error), P2pSignaling client errors, and the whole ICE flow
 * (offer/answer through a real p2p-rendezvous, ICE on this machine's
 * interfaces, QUIC over the ICE path) in one process.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>
#include <signal.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <libsoup/soup.h>

#include "p2p/p2p.h"
#include "p2p-signaling.h"
#include "p2p-ice-connect.h"
#include "p2p-json.h"

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

/* ---- /security/json-depth-bypass (issue 11 item 10) ---- */


typedef enum { AS_SIGNALING, AS_ICE, AS_JSON } ParseAs;

typedef struct {
  const char *text;
  ParseAs as;
  gboolean ok;
  GError *error;
} ParseJob;

static void *
parse_jobs_thread (void *data)
{
  GPtrArray *jobs = data;
  for (guint i = 0; i < jobs->len; i++) {
    ParseJob *j = jobs->pdata[i];
    gsize len = strlen (j->text);
    if (j->as == AS_SIGNALING) {
      P2pSignalingMessage m;
      j->ok = p2p_signaling_message_parse (j->text, len, &m, &j->error);
      p2p_signaling_message_clear (&m);
    } else if (j->as == AS_ICE) {
      P2pIcePayload p;
      j->ok = p2p_ice_payload_parse (j->text, len, &p, &j->error);
      p2p_ice_payload_clear (&p);
    } else {
      j->ok = p2p_json_check (j->text, len, "text", &j->error);
    }
  }
  return NULL;
}

/* Runs the parses on a thread with a 256 KiB stack: json-glib recursing
 * through thousands of levels would overflow it and crash the test. */
static void
run_parse_jobs (GPtrArray *jobs)
{
  pthread_attr_t attr;
  pthread_t t;
  g_assert_cmpint (pthread_attr_init (&attr), ==, 0);
  g_assert_cmpint (pthread_attr_setstacksize (&attr, 256 * 1024), ==, 0);
  g_assert_cmpint (pthread_create (&t, &attr, parse_jobs_thread, jobs), ==, 0);
  g_assert_cmpint (pthread_join (t, NULL), ==, 0);
  pthread_attr_destroy (&attr);
}

/* @head, @depth '[' then as many ']' (or none, for @depth over 1000:
 * the 60 000-level attack fits in a 64 KiB message only unclosed, and the
 * recursive parser recurses on the way in), @tail; kept in @keep. */
static const char *
nest (GPtrArray *keep, const char *head, guint depth, const char *tail)
{
  g_autofree char *open = g_strnfill (depth, '[');
  g_autofree char *close = g_strnfill (depth > 1000 ? 0 : depth, ']');
  char *s = g_strconcat (head, open, close, tail, NULL);
  g_ptr_array_add (keep, s);
  return s;
}

static void
test_json_depth_bypass (void)
{
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) bad = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) good = g_ptr_array_new_with_free_func (g_free);
  const guint deep = 60000;

#define BAD(as_, text_) G_STMT_START { ParseJob *j_ = g_new0 (ParseJob, 1); \
    j_->as = (as_); j_->text = (text_); g_ptr_array_add (bad, j_); } G_STMT_END

  /* The bypasses of the old bracket counter: a '"' inside single quotes
   * or inside a comment made it treat the brackets after it as string. */
  BAD (AS_SIGNALING, nest (keep, "{\"type\":\"error\",\"code\":'\"',\"x\":", deep, "}"));
  BAD (AS_SIGNALING, nest (keep, "{\"type\":\"error\",\"code\":\"c\" /* \" */,\"x\":", deep,
      "/* \" */}"));
  BAD (AS_SIGNALING, nest (keep, "{\"type\":\"error\",\"code\":\"c\",\"x\":// \"\n", deep, "}"));
  BAD (AS_ICE, nest (keep, "{\"kind\":\"ice-offer\",\"session\":'\"',\"x\":", deep, "}"));
  BAD (AS_ICE, nest (keep, "/* \" */{\"kind\":\"ice-offer\",\"session\":\"s\",\"x\":", deep, "}"));
  /* 60 000 levels in an ICE payload (the server crash), and plain. */
  BAD (AS_ICE, nest (keep, "{\"kind\":\"ice-offer\",\"session\":\"s\",\"candidates\":", deep, "}"));
  BAD (AS_ICE, nest (keep, "", deep, ""));
  BAD (AS_JSON, nest (keep, "", deep, ""));
  /* Deep nesting (17 levels, one over the limit) in each message type. */
  const char *sig_types[] = { "challenge", "register", "registered", "signal", "error" };
  for (guint i = 0; i < G_N_ELEMENTS (sig_types); i++) {
    g_autofree char *head = g_strdup_printf ("{\"type\":\"%s\",\"x\":", sig_types[i]);
    BAD (AS_SIGNALING, nest (keep, head, P2P_JSON_MAX_DEPTH, "}"));
  }
  const char *ice_kinds[] = { "ice-offer", "ice-answer", "ice-error" };
  for (guint i = 0; i < G_N_ELEMENTS (ice_kinds); i++) {
    g_autofree char *head = g_strdup_printf ("{\"kind\":\"%s\",\"session\":\"s\",\"x\":",
        ice_kinds[i]);
    BAD (AS_ICE, nest (keep, head, P2P_JSON_MAX_DEPTH, "}"));
  }
  /* Not RFC 8259 (json-glib would take most of these). */
  const char *not_json[] = {
    "{'type':'error','code':'x'}", "{\"type\":\"error\",\"code\":\"x\",}",
    "{\"type\":\"error\",\"code\":\"x\"} // c", "/**/{\"type\":\"error\",\"code\":\"x\"}",
    "{type:\"error\",\"code\":\"x\"}", "{\"type\":\"error\",\"code\":\"x\",\"n\":01}",
    "{\"type\":\"error\",\"code\":\"x\\u0000y\"}", "{\"type\":\"error\",\"code\":\"\\ud800\"}",
    "{\"type\":\"error\",\"code\":\"\\udc00\\ud800\"}", "{\"type\":\"error\",\"code\":\"a\tb\"}",
    "{\"type\":\"error\",\"code\":\"x\",\"n\":NaN}", "{\"type\":\"error\",\"code\":\"x\",\"n\":.5}",
    "{\"type\":\"error\",\"code\":\"x\",\"n\":1.}", "{\"type\":\"error\",\"code\":\"x\"}}",
    "{\"type\":\"error\",\"code\":\"x\"} {}", "{\"type\" \"error\"}", "{\"type\":\"error\"",
    "[1,]", "{\"type\":\"error\",\"code\":\"\\x41\"}", "\xef\xbb\xbf{}",
    "{\"type\":\"error\",\"code\":\"x\",\"n\":+1}", "{\"type\":\"error\",\"code\":tru}",
  };
  for (guint i = 0; i < G_N_ELEMENTS (not_json); i++) {
    BAD (AS_SIGNALING, not_json[i]);
    BAD (AS_JSON, not_json[i]);
  }
  /* Strict JSON up to the limit is taken; brackets in strings do not count. */
  const char *is_json[] = {
    "{\"a\":[1,-2.5e+3,0.5E-1,true,false,null,\"\\u00e9\\ud83d\\ude00\\n\\\"[[[\\\\\"],\"b\":{}}",
    " [] ", "\"x\"", "0", "-0", "{\"\":\"\"}", "\t\r\n{ \"a\" : [ ] }\n",
  };
  for (guint i = 0; i < G_N_ELEMENTS (is_json); i++) {
    ParseJob *j = g_new0 (ParseJob, 1);
    j->as = AS_JSON;
    j->text = is_json[i];
    g_ptr_array_add (good, j);
  }
  ParseJob *at_limit = g_new0 (ParseJob, 1);
  at_limit->as = AS_SIGNALING;
  at_limit->text = nest (keep, "{\"type\":\"error\",\"code\":\"'\\\"/*\",\"x\":",
      P2P_JSON_MAX_DEPTH - 1, "}");
  g_ptr_array_add (good, at_limit);
  ParseJob *ice_ok = g_new0 (ParseJob, 1);
  ice_ok->as = AS_ICE;
  ice_ok->text = "{\"kind\":\"ice-offer\",\"session\":\"s\",\"ts\":1,\"nonce\":"
      "\"0123456789abcdef0123456789abcdef\",\"candidates\":[\"a\",5,\"b\"]}";
  g_ptr_array_add (good, ice_ok);
#undef BAD

  run_parse_jobs (bad);
  run_parse_jobs (good);
  for (guint i = 0; i < bad->len; i++) {
    ParseJob *j = bad->pdata[i];
    if (j->ok || !g_error_matches (j->error, P2P_ERROR, P2P_ERROR_PROTOCOL))
      g_error ("bad input %u (%.60s...) was %s", i, j->text,
          j->ok ? "accepted" : j->error->message);
    const char *what = j->as == AS_SIGNALING ? "signaling message" : j->as == AS_ICE
        ? "ICE payload" : "text";
    g_assert_true (g_str_has_prefix (j->error->message, what));
    g_assert_true (strstr (j->error->message, "nests deeper than 16 levels") ||
        strstr (j->error->message, "is not valid JSON (RFC 8259)"));
    g_clear_error (&j->error);
  }
  for (guint i = 0; i < good->len; i++) {
    ParseJob *j = good->pdata[i];
    if (!j->ok)
      g_error ("good input %u (%.60s) refused: %s", i, j->text, j->error->message);
  }
  P2pIcePayload p;
  g_autoptr (GError) error = NULL;
  g_assert_true (p2p_ice_payload_parse (ice_ok->text, strlen (ice_ok->text), &p, &error));
  g_assert_cmpstr (p.nonce, ==, "0123456789abcdef0123456789abcdef");
  g_assert_true (p.has_ts);
  g_assert_cmpint (p.ts_ms, ==, 1);
  g_assert_cmpuint (g_strv_length (p.candidates), ==, 2);
  p2p_ice_payload_clear (&p);
  /* Size cap: LIMIT_EXCEEDED before anything is parsed. */
  g_autofree char *big = g_strnfill (P2P_JSON_MAX_SIZE + 1, ' ');
  g_assert_false (p2p_ice_payload_parse (big, strlen (big), &p, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&error);
  p2p_ice_payload_clear (&p);
  /* Fields of the wrong type or shape are PROTOCOL errors naming them. */
  const struct { const char *text, *field; } fields[] = {
    { "{\"kind\":\"ice-offer\"}", "\"session\"" },
    { "{\"kind\":1,\"session\":\"s\"}", "\"kind\"" },
    { "{\"kind\":\"ice-offer\",\"session\":\"s\",\"ts\":\"1\"}", "\"ts\"" },
    { "{\"kind\":\"ice-offer\",\"session\":\"s\",\"ts\":1.5}", "\"ts\"" },
    { "{\"kind\":\"ice-offer\",\"session\":\"s\",\"nonce\":\"ABCDEF\"}", "\"nonce\"" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++) {
    g_assert_false (p2p_ice_payload_parse (fields[i].text, strlen (fields[i].text), &p, &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_nonnull (strstr (error->message, fields[i].field));
    g_clear_error (&error);
    p2p_ice_payload_clear (&p);
  }
  g_ptr_array_set_free_func (bad, g_free);
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

/* ---- /signaling/ice-restart: a live connection moved to a new ICE path ---- */

static void
count_changes (P2pConnection *conn, P2pPathKind old_kind, P2pPathKind new_kind, gpointer data)
{
  (*(guint *) data)++;
}

static void
reconnected_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Op *op = data;
  g_assert_true (p2p_ice_reconnect_finish (res, &op->error) == (op->error == NULL));
  op->done = TRUE;
}

/* Messages 0..19 on the first path; both ICE paths then die (closed under
 * the connections) with 20..59 sent into them. With @sig, the test
 * re-dials itself before message 40 (p2p_ice_reconnect_async); without,
 * the service's watch must notice and re-dial. Either way 0..59 arrive
 * once each, in order, on the same QUIC connection, and each side
 * announces one path change. Returns the ms from the paths' death to the
 * arrival of message 20. */
static gint64
exchange_across_restart (P2pConnection *dialer, P2pConnection *accepted, P2pSignaling *sig,
    P2pIdentity *id, P2pConfig *cfg)
{
  Op re = { 0 };
  guint changes_a = 0, changes_b = 0;
  P2pPacketPath *old_a = NULL, *old_b = NULL;
  guint32 n = 0;
  gint64 t_dead = 0, t0 = 0, gap = 0;
  P2pConnectionStats st;
  guint64 before;

  g_assert_true (g_main_context_acquire (NULL));
  p2p_connection_get_stats (accepted, &st);
  g_main_context_release (NULL);
  before = st.messages_received;
  g_signal_connect (dialer, "path-changed", G_CALLBACK (count_changes), &changes_a);
  g_signal_connect (accepted, "path-changed", G_CALLBACK (count_changes), &changes_b);
  for (guint32 i = 0; i < 60; i++) {
    g_autofree char *text = g_strdup_printf ("message %u", i);
    g_autoptr (GBytes) msg = g_bytes_new (text, strlen (text));
    gboolean sent = FALSE;

    if (i == 20) {
      old_a = p2p_quic_connection_get_path (P2P_QUIC_CONNECTION (dialer));
      old_b = p2p_quic_connection_get_path (P2P_QUIC_CONNECTION (accepted));
      p2p_packet_path_close (old_a);
      p2p_packet_path_close (old_b);
      t_dead = g_get_monotonic_time ();
    }
    if (i == 40 && sig) {
      t0 = g_get_monotonic_time ();
      p2p_ice_reconnect_async (sig, id, cfg, P2P_QUIC_CONNECTION (dialer), NULL, reconnected_cb,
          &re);
      WAIT_FOR (re.done);
      g_assert_no_error (re.error);
      g_test_message ("ICE re-dial took %" G_GINT64_FORMAT " ms",
          (g_get_monotonic_time () - t0) / 1000);
      g_assert_true (p2p_quic_connection_get_path (P2P_QUIC_CONNECTION (dialer)) != old_a);
    }
    p2p_connection_send_async (dialer, msg, NULL, sent_cb, &sent);
    WAIT_FOR (sent);
    if (i < 20) {
      GBytes *got = NULL;

      p2p_connection_receive_async (accepted, NULL, received_cb, &got);
      WAIT_FOR (got != NULL);
      g_assert_true (g_bytes_equal (got, msg));
      g_bytes_unref (got);
      n++;
    }
  }
  for (; n < 60; n++) {
    g_autofree char *text = g_strdup_printf ("message %u", n);
    g_autoptr (GBytes) want = g_bytes_new (text, strlen (text));
    GBytes *got = NULL;

    p2p_connection_receive_async (accepted, NULL, received_cb, &got);
    WAIT_FOR (got != NULL);
    g_assert_true (g_bytes_equal (got, want));
    g_bytes_unref (got);
    if (n == 20)
      gap = (g_get_monotonic_time () - t_dead) / 1000;
  }
  if (sig)
    g_test_message ("re-dial start to all 60 messages received: %" G_GINT64_FORMAT " ms",
        (g_get_monotonic_time () - t0) / 1000);
  g_assert_true (p2p_quic_connection_get_path (P2P_QUIC_CONNECTION (dialer)) != old_a);
  g_assert_true (p2p_quic_connection_get_path (P2P_QUIC_CONNECTION (accepted)) != old_b);
  g_assert_cmpuint (changes_a, ==, 1);
  g_assert_cmpuint (changes_b, ==, 1);
  g_signal_handlers_disconnect_by_func (dialer, count_changes, &changes_a);
  g_signal_handlers_disconnect_by_func (accepted, count_changes, &changes_b);

  g_assert_true (g_main_context_acquire (NULL));
  p2p_connection_get_stats (accepted, &st);
  g_assert_cmpuint (st.messages_received, ==, before + 60);
  g_assert_cmpuint (st.path_changes, ==, 1);
  g_assert_cmpint (st.path_kind, ==, P2P_PATH_KIND_DIRECT);
  g_main_context_release (NULL);
  g_test_message ("paths dead to message 20 received: %" G_GINT64_FORMAT " ms", gap);
  return gap;
}

static void
test_ice_flow (void)
{
  g_autofree char *url = NULL;
  GSubprocess *rdv = p2p_test_start_rendezvous (&url);
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pIdentity) ghost = p2p_identity_new ();
  g_autoptr (P2pConfig) cfg = p2p_test_ice_on_loopback (p2p_config_new ());
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

  /* An ICE restart: the paths die, the dialer re-dials, the connection lives on. */
  exchange_across_restart (op.conn, accepted, sa, a, cfg);

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

static void service_dialed_cb (GObject *source, GAsyncResult *res, gpointer data);

/* The same through two P2pIceServices, with nobody calling the re-dial:
 * the dialing service's watch notices the silence (a PING unanswered),
 * re-dials and moves the connection; the responder side moves it too. */
static void
test_ice_restart_auto (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pConfig) cfg = p2p_test_ice_on_loopback (p2p_config_new ());
  g_autofree char *url = NULL;
  GSubprocess *rdv = p2p_test_start_rendezvous (&url);
  P2pConnection *accepted = NULL;
  P2pIceCounters counters;
  Op op = { 0 };
  gint64 gap;

  g_strfreev (cfg->bootstrap_peers);
  cfg->bootstrap_peers = g_strsplit (url, ",", -1);
  P2pIceService *sa = p2p_ice_service_new (a, cfg, NULL, &error);
  P2pIceService *sb = p2p_ice_service_new (b, cfg, NULL, &error);
  g_assert_no_error (error);
  p2p_ice_service_start_accepting (sb, NULL, 0, on_accepted, &accepted);
  WAIT_FOR (p2p_ice_service_is_registered (sb));
  p2p_ice_service_connect_async (sa, p2p_identity_get_peer_id (b), NULL, service_dialed_cb, &op);
  WAIT_FOR (op.done && accepted != NULL);
  g_assert_no_error (op.error);

  gap = exchange_across_restart (op.conn, accepted, NULL, NULL, NULL);
  /* silence: P2P_ICE_RESTART_MS (a PING at a third of it, then the wait
   * for its answer), then the re-dial */
  {
    g_autoptr (P2pConfig) defaults = p2p_config_new ();

    g_assert_cmpuint (defaults->ice_restart_ms, ==, 1500);
    g_assert_cmpint (gap, >=, (gint64) defaults->ice_restart_ms - 2 * P2P_ICE_RESTART_TICK_MS);
  }
  g_assert_cmpint (gap, <, 5000);
  p2p_ice_service_get_counters (sb, &counters);
  g_assert_cmpuint (counters.restarts, ==, 1);

  g_assert_true (g_main_context_acquire (NULL));
  p2p_connection_close (op.conn, "bye");
  p2p_connection_close (accepted, "bye");
  g_main_context_release (NULL);
  g_clear_object (&op.conn);
  g_clear_object (&accepted);
  p2p_ice_service_free (sa);
  p2p_ice_service_free (sb);
  for (int i = 0; i < 50 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  p2p_test_stop_rendezvous (rdv);
}

/* ---- /security/registration-origin (issue 11 item 12) ---- */

/* A p2p-rendezvous on 127.0.0.1, any port, with --origin @origin if given. */
static GSubprocess *
start_rdv (const char *origin, char **url)
{
  g_autofree char *opt = origin ? g_strconcat ("--origin=", origin, NULL) : NULL;
  const char *extra[] = { opt, NULL };
  return p2p_test_start_rendezvous_with (extra, url);
}

/* A WebSocket to the rendezvous that speaks the protocol by hand. */
typedef struct {
  SoupSession *session;
  SoupWebsocketConnection *ws;
  GQueue messages;        /* char* */
  gboolean failed, closed;
} RawWs;

static void
raw_ws_on_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
  RawWs *r = data;
  gsize len = 0;
  const char *text = g_bytes_get_data (message, &len);
  g_queue_push_tail (&r->messages, g_strndup (text, len));
}

static void
raw_ws_on_closed (SoupWebsocketConnection *ws, gpointer data)
{
  ((RawWs *) data)->closed = TRUE;
}

static void
raw_ws_connected (GObject *source, GAsyncResult *res, gpointer data)
{
  RawWs *r = data;
  r->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), res, NULL);
  if (!r->ws) {
    r->failed = TRUE;
    return;
  }
  g_signal_connect (r->ws, "message", G_CALLBACK (raw_ws_on_message), r);
  g_signal_connect (r->ws, "closed", G_CALLBACK (raw_ws_on_closed), r);
}

static void
raw_ws_open (RawWs *r, const char *url)
{
  memset (r, 0, sizeof *r);
  g_queue_init (&r->messages);
  r->session = soup_session_new ();
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", url);
  soup_session_websocket_connect_async (r->session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
      raw_ws_connected, r);
  WAIT_FOR (r->ws || r->failed);
  g_assert_nonnull (r->ws);
}

static void
raw_ws_next (RawWs *r, P2pSignalingMessage *m)
{
  WAIT_FOR (!g_queue_is_empty (&r->messages));
  g_autofree char *text = g_queue_pop_head (&r->messages);
  g_autoptr (GError) error = NULL;
  g_assert_true (p2p_signaling_message_parse (text, strlen (text), m, &error));
  g_assert_no_error (error);
}

static void
raw_ws_close (RawWs *r)
{
  g_signal_handlers_disconnect_by_data (r->ws, r);
  if (soup_websocket_connection_get_state (r->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (r->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  g_clear_object (&r->ws);
  g_clear_object (&r->session);
  g_queue_clear_full (&r->messages, g_free);
}

/* Registers @id over a raw WebSocket, signing for @origin (NULL: the one
 * the server announces); returns the server's answer (clear it). */
static void
raw_register_for (const char *url, P2pIdentity *id, const char *origin, const char *announced,
    P2pSignalingMessage *answer, gboolean *closed)
{
  RawWs r;
  raw_ws_open (&r, url);
  P2pSignalingMessage ch;
  raw_ws_next (&r, &ch);
  g_assert_cmpint (ch.type, ==, P2P_SIGNALING_MSG_CHALLENGE);
  g_assert_cmpstr (ch.origin, ==, announced);
  g_autofree char *reg = p2p_signaling_build_register (id, ch.nonce, origin ? origin : ch.origin);
  p2p_signaling_message_clear (&ch);
  soup_websocket_connection_send_text (r.ws, reg);
  raw_ws_next (&r, answer);
  if (answer->type == P2P_SIGNALING_MSG_ERROR)
    WAIT_FOR (r.closed);
  *closed = r.closed;
  raw_ws_close (&r);
}

static void
test_registration_origin (void)
{
  /* The origin both sides sign: normalised scheme://host:port. */
  const struct { const char *url, *origin; } norm[] = {
    { "ws://127.0.0.1:8443/", "ws://127.0.0.1:8443" },
    { "WS://Rdv.Example.ORG/path?q=1", "ws://rdv.example.org:80" },
    { "wss://rdv.example.org/", "wss://rdv.example.org:443" },
    { "ws://[::1]:9/", "ws://[::1]:9" },
    { "ws://user@h:1/", "ws://h:1" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (norm); i++) {
    g_autofree char *o = p2p_signaling_origin_from_url (norm[i].url, NULL);
    g_assert_cmpstr (o, ==, norm[i].origin);
  }
  const char *not_ws[] = { "http://h/", "ws://", "ws:///x", "x" };
  for (guint i = 0; i < G_N_ELEMENTS (not_ws); i++) {
    g_autoptr (GError) error = NULL;
    g_assert_null (p2p_signaling_origin_from_url (not_ws[i], &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  }
  g_autoptr (GInetAddress) mapped = g_inet_address_new_from_string ("::ffff:127.0.0.1");
  g_autoptr (GSocketAddress) msa = g_inet_socket_address_new (mapped, 5);
  g_autofree char *mo = p2p_signaling_origin_from_address (msa);
  g_assert_cmpstr (mo, ==, "ws://127.0.0.1:5");

  /* Server B on 127.0.0.1: a registration signed for origin A (what a
   * relaying rendezvous A would forward, with B's nonce) is refused; the
   * same key signing for B is registered. */
  g_autofree char *url_b = NULL;
  GSubprocess *rdv_b = start_rdv (NULL, &url_b);
  g_autofree char *origin_b = p2p_signaling_origin_from_url (url_b, NULL);
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  P2pSignalingMessage ans;
  gboolean closed = FALSE;
  raw_register_for (url_b, id, "ws://127.0.0.1:1", origin_b, &ans, &closed);
  g_assert_cmpint (ans.type, ==, P2P_SIGNALING_MSG_ERROR);
  g_assert_cmpstr (ans.code, ==, "AUTHENTICATION_FAILED");
  g_assert_nonnull (strstr (ans.message, origin_b));
  g_assert_true (closed);
  p2p_signaling_message_clear (&ans);
  raw_register_for (url_b, id, NULL, origin_b, &ans, &closed);
  g_assert_cmpint (ans.type, ==, P2P_SIGNALING_MSG_REGISTERED);
  g_assert_true (p2p_peer_id_equal (&ans.peer_id, p2p_identity_get_peer_id (id)));
  p2p_signaling_message_clear (&ans);

  /* A server announcing another origin than the URL dialed (a relay, or a
   * wrong --origin): the client refuses to sign at all. */
  g_autofree char *url_c = NULL;
  GSubprocess *rdv_c = start_rdv ("ws://rdv-c.example:9/", &url_c);
  g_autoptr (P2pSignaling) sig = p2p_signaling_new (id);
  Op op = { 0 };
  p2p_signaling_connect_async (sig, url_c, NULL, connected_cb, &op);
  WAIT_FOR (op.done);
  g_assert_error (op.error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_assert_nonnull (strstr (op.error->message, "announced the origin ws://rdv-c.example:9, not "));
  g_assert_false (p2p_signaling_is_registered (sig));
  g_clear_error (&op.error);
  /* ... and B, dialed by the name it announces, registers the client. */
  g_autoptr (P2pSignaling) sig_b = register_at (url_b, id);
  g_assert_true (p2p_signaling_is_registered (sig_b));
  p2p_signaling_close (sig_b);
  p2p_test_stop_rendezvous (rdv_c);
  p2p_test_stop_rendezvous (rdv_b);
}

/* ---- /security/offer-replay, /security/answer-nonce (issue 11 item 12) ---- */

#define NONCE_1 "11111111111111111111111111111111"
#define NONCE_2 "22222222222222222222222222222222"
#define NONCE_3 "33333333333333333333333333333333"
#define NONCE_4 "44444444444444444444444444444444"

/* An offer as a dialer makes it (one loopback candidate to the discard
 * port: checks go nowhere). @ts_ms G_MININT64 and @nonce NULL: omitted. */
static char *
test_offer (const char *session, gint64 ts_ms, const char *nonce)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "{\"kind\":\"ice-offer\",\"session\":\"%s\"", session);
  if (ts_ms != G_MININT64)
    g_string_append_printf (s, ",\"ts\":%" G_GINT64_FORMAT, ts_ms);
  if (nonce)
    g_string_append_printf (s, ",\"nonce\":\"%s\"", nonce);
  g_string_append (s, ",\"ufrag\":\"abcd\",\"pwd\":\"abcdefghijklmnopqrstuv\",\"candidates\":"
      "[\"a=candidate:1 1 UDP 2130706431 127.0.0.1 9 typ host\"]}");
  return g_string_free (s, FALSE);
}

static void
inbox_add (P2pSignaling *sig, const P2pPeerId *from, const char *payload, gpointer data)
{
  g_ptr_array_add (data, g_strdup (payload));
}

/* Number of payloads for @session in @inbox; *last gets the last parsed. */
static guint
inbox_count (GPtrArray *inbox, const char *session, P2pIcePayload *last)
{
  guint n = 0;
  for (guint i = 0; i < inbox->len; i++) {
    P2pIcePayload p;
    const char *text = inbox->pdata[i];
    g_assert_true (p2p_ice_payload_parse (text, strlen (text), &p, NULL));
    if (g_str_equal (p.session, session)) {
      n++;
      if (last) {
        p2p_ice_payload_clear (last);
        *last = p;
        continue;
      }
    }
    p2p_ice_payload_clear (&p);
  }
  return n;
}

static void
test_offer_replay (void)
{
  g_autofree char *url = NULL;
  GSubprocess *rdv = p2p_test_start_rendezvous (&url);
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pConfig) cfg = p2p_test_ice_on_loopback (p2p_config_new ());
  g_autoptr (P2pSignaling) sa = register_at (url, a);
  g_autoptr (P2pSignaling) sb = register_at (url, b);
  P2pConnection *accepted = NULL;
  P2pIceResponder *resp = p2p_ice_responder_new (sb, b, cfg, NULL, NULL, 0, on_accepted, &accepted);
  g_autoptr (GPtrArray) inbox = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (sa, "signal", G_CALLBACK (inbox_add), inbox);
  const P2pPeerId *bid = p2p_identity_get_peer_id (b);
  P2pIcePayload last = { 0 };
  guint started = 0, replayed = 0, stale = 0;
  gint64 now = g_get_real_time () / 1000;

  /* A fresh offer is answered, the answer echoing its nonce. */
  g_autofree char *offer1 = test_offer ("s1", now, NONCE_1);
  g_assert_true (p2p_signaling_send (sa, bid, offer1, NULL));
  WAIT_FOR (inbox_count (inbox, "s1", NULL) == 1);
  inbox_count (inbox, "s1", &last);
  g_assert_cmpstr (last.kind, ==, "ice-answer");
  g_assert_cmpstr (last.nonce, ==, NONCE_1);
  p2p_ice_responder_get_counts (resp, &started, &replayed, &stale);
  g_assert_cmpuint (started, ==, 1);

  /* The same signed offer again: dropped (no answer, no gathering). The
   * next offer's answer shows that the replay was handled (one socket,
   * in order). */
  g_autofree char *offer2 = test_offer ("s2", now, NONCE_2);
  g_assert_true (p2p_signaling_send (sa, bid, offer1, NULL));
  g_assert_true (p2p_signaling_send (sa, bid, offer2, NULL));
  WAIT_FOR (inbox_count (inbox, "s2", NULL) == 1);
  g_assert_cmpuint (inbox_count (inbox, "s1", NULL), ==, 1);
  p2p_ice_responder_get_counts (resp, &started, &replayed, &stale);
  g_assert_cmpuint (started, ==, 2);
  g_assert_cmpuint (replayed, ==, 1);
  g_assert_cmpuint (stale, ==, 0);

  /* A listener that stopped and started again (a new responder, no setup
   * left from the offer) still drops the replay. */
  p2p_ice_responder_free (resp);
  resp = p2p_ice_responder_new (sb, b, cfg, NULL, NULL, 0, on_accepted, &accepted);
  g_autofree char *offer2b = test_offer ("s2b", now, NONCE_3);
  g_assert_true (p2p_signaling_send (sa, bid, offer1, NULL));
  g_assert_true (p2p_signaling_send (sa, bid, offer2b, NULL));
  WAIT_FOR (inbox_count (inbox, "s2b", NULL) == 1);
  g_assert_cmpuint (inbox_count (inbox, "s1", NULL), ==, 1);
  p2p_ice_responder_get_counts (resp, &started, &replayed, &stale);
  g_assert_cmpuint (started, ==, 1);
  g_assert_cmpuint (replayed, ==, 1);

  /* Stale, from the future, without timestamp/nonce (version 1): an
   * ice-error saying why, nothing started. */
  const struct { const char *session; gint64 ts; const char *nonce, *why; } refused[] = {
    { "s3", now - P2P_ICE_OFFER_WINDOW_MS - 1000, NONCE_1, "more than 60 s behind" },
    { "s4", now + P2P_ICE_OFFER_WINDOW_MS + 1000, NONCE_4, "more than 60 s ahead of" },
    { "s5", G_MININT64, NULL, "no timestamp and nonce" },
    { "s6", now, NULL, "no timestamp and nonce" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_autofree char *offer = test_offer (refused[i].session, refused[i].ts, refused[i].nonce);
    g_assert_true (p2p_signaling_send (sa, bid, offer, NULL));
    WAIT_FOR (inbox_count (inbox, refused[i].session, NULL) == 1);
    inbox_count (inbox, refused[i].session, &last);
    g_assert_cmpstr (last.kind, ==, "ice-error");
    if (!strstr (last.message, refused[i].why))
      g_error ("offer %s: \"%s\" lacks \"%s\"", refused[i].session, last.message, refused[i].why);
  }
  p2p_ice_responder_get_counts (resp, &started, &replayed, &stale);
  g_assert_cmpuint (started, ==, 1);
  g_assert_cmpuint (replayed, ==, 1);
  g_assert_cmpuint (stale, ==, G_N_ELEMENTS (refused));
  p2p_ice_payload_clear (&last);

  p2p_ice_responder_free (resp);
  g_assert_null (accepted);
  p2p_signaling_close (sa);
  p2p_signaling_close (sb);
  for (int i = 0; i < 50 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  p2p_test_stop_rendezvous (rdv);
}

/* The nonce cache when full (capacity 4 here): the oldest nonce is
 * forgotten and becomes a floor, so neither it nor anything not newer can
 * be replayed; remembered nonces are still dropped as replays. Offers go
 * straight to the responder (the signal a P2pSignaling emits). */
static void
test_offer_cache_full (void)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pConfig) cfg = p2p_test_ice_on_loopback (p2p_config_new ());
  g_autoptr (P2pSignaling) sb = p2p_signaling_new (b);   /* not connected: answers go nowhere */
  P2pConnection *accepted = NULL;
  p2p_ice_set_nonce_cache_max (4);
  P2pIceResponder *resp = p2p_ice_responder_new (sb, b, cfg, NULL, NULL, 64, on_accepted,
      &accepted);
  const P2pPeerId *aid = p2p_identity_get_peer_id (a);
  gint64 now = g_get_real_time () / 1000;
  gint64 ts[8];
  char *offers[8];
  for (guint i = 0; i < G_N_ELEMENTS (offers); i++) {
    g_autofree char *session = g_strdup_printf ("c%u", i);
    g_autofree char *nonce = g_strdup_printf ("%032x", i + 1);
    ts[i] = now - 10000 + i * 1000;
    offers[i] = test_offer (session, ts[i], nonce);
  }
  g_autofree char *same_ts_as_0 = test_offer ("x0", ts[0], "abababababababababababababababab");
  g_autofree char *after_0 = test_offer ("x1", ts[0] + 1, "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd");
  const struct { const char *text; guint started, replayed, stale; } steps[] = {
    { offers[0], 1, 0, 0 }, { offers[1], 2, 0, 0 }, { offers[2], 3, 0, 0 },
    { offers[3], 4, 0, 0 },
    { offers[4], 5, 0, 0 },       /* full: forgets offer 0, floor = its ts */
    { offers[0], 5, 0, 1 },       /* forgotten, refused by the floor */
    { same_ts_as_0, 5, 0, 2 },    /* not newer than the floor */
    { offers[1], 5, 1, 2 },       /* still remembered: a replay */
    { after_0, 6, 1, 2 },         /* newer than the floor: taken; forgets offer 1 */
    { offers[1], 6, 1, 3 },
    { offers[4], 6, 2, 3 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++) {
    guint started, replayed, stale;
    g_signal_emit_by_name (sb, "signal", aid, steps[i].text);
    p2p_ice_responder_get_counts (resp, &started, &replayed, &stale);
    if (started != steps[i].started || replayed != steps[i].replayed || stale != steps[i].stale)
      g_error ("step %u: started %u replayed %u stale %u, expected %u %u %u", i, started,
          replayed, stale, steps[i].started, steps[i].replayed, steps[i].stale);
  }
  p2p_ice_responder_free (resp);
  g_assert_null (accepted);
  p2p_ice_set_nonce_cache_max (0);
  for (guint i = 0; i < G_N_ELEMENTS (offers); i++)
    g_free (offers[i]);
  for (int i = 0; i < 50 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

/* Emits @text from @from on @sig (straight to the responder) and checks
 * the responder's counts after it. */
static void
offer_step (P2pSignaling *sig, P2pIceResponder *resp, const P2pPeerId *from, const char *text,
    guint want_started, guint want_replayed, guint want_stale, const char *what)
{
  guint started, replayed, stale;
  g_signal_emit_by_name (sig, "signal", from, text);
  p2p_ice_responder_get_counts (resp, &started, &replayed, &stale);
  if (started != want_started || replayed != want_replayed || stale != want_stale)
    g_error ("%s: started %u replayed %u stale %u, expected %u %u %u", what, started, replayed,
        stale, want_started, want_replayed, want_stale);
}

/* A responder fed straight through its P2pSignaling's "signal" (not
 * connected: its answers go nowhere), with a nonce cache of @cache_max
 * (0 = the default) and @max_pending setups. */
typedef struct {
  P2pIdentity *b;
  P2pConfig *cfg;
  P2pSignaling *sb;
  P2pIceResponder *resp;
  P2pConnection *accepted;
} OfferBench;

static void
offer_bench_init (OfferBench *o, guint cache_max, guint max_pending)
{
  memset (o, 0, sizeof *o);
  o->b = p2p_identity_new ();
  o->cfg = p2p_test_ice_on_loopback (p2p_config_new ());
  o->sb = p2p_signaling_new (o->b);
  p2p_ice_set_nonce_cache_max (cache_max);
  o->resp = p2p_ice_responder_new (o->sb, o->b, o->cfg, NULL, NULL, max_pending, on_accepted,
      &o->accepted);
}

static void
offer_bench_clear (OfferBench *o)
{
  p2p_ice_responder_free (o->resp);
  g_assert_null (o->accepted);
  p2p_ice_set_nonce_cache_max (0);
  p2p_ice_set_clock_skew (0);
  g_object_unref (o->sb);
  p2p_config_free (o->cfg);
  g_object_unref (o->b);
  for (int i = 0; i < 50 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

/* Review finding 3: one sender flooding offers dated 59 s ahead (with
 * a ufrag that does not even parse) overflows the cache; it raises only
 * its own floor: another sender's offer dated now is still taken, while
 * the flooder's next offer not newer than its own forgotten ones is
 * refused. */
static void
test_offer_floor_per_sender (void)
{
  g_autoptr (P2pIdentity) flooder = p2p_identity_new ();
  g_autoptr (P2pIdentity) honest = p2p_identity_new ();
  OfferBench o;
  offer_bench_init (&o, 8, 64);
  const P2pPeerId *fid = p2p_identity_get_peer_id (flooder);
  gint64 now = g_get_real_time () / 1000;
  for (guint i = 0; i < 24; i++) {
    g_autofree char *session = g_strdup_printf ("f%u", i);
    g_autofree char *nonce = g_strdup_printf ("%032x", i + 1);
    g_autofree char *offer = g_strdup_printf ("{\"kind\":\"ice-offer\",\"session\":\"%s\","
        "\"ts\":%" G_GINT64_FORMAT ",\"nonce\":\"%s\",\"ufrag\":\"a!\","
        "\"pwd\":\"abcdefghijklmnopqrstuv\",\"candidates\":[\"a=candidate:junk\"]}", session,
        now + P2P_ICE_OFFER_WINDOW_MS - 1000 + i, nonce);
    offer_step (o.sb, o.resp, fid, offer, 0, 0, 0, session);
  }
  g_autofree char *own_older = test_offer ("f-older", now + P2P_ICE_OFFER_WINDOW_MS - 2000,
      "abababababababababababababababab");
  offer_step (o.sb, o.resp, fid, own_older, 0, 0, 1, "the flooder's offer older than its floor");
  g_autofree char *offer = test_offer ("h1", now, NONCE_1);
  offer_step (o.sb, o.resp, p2p_identity_get_peer_id (honest), offer, 1, 0, 1,
      "the honest sender's offer");
  offer_step (o.sb, o.resp, p2p_identity_get_peer_id (honest), offer, 1, 1, 1,
      "the honest sender's offer replayed");
  offer_bench_clear (&o);
}

/* Review finding 9: an offer refused for capacity (max_pending) is
 * remembered: replayed to a responder with room, it is dropped (no agent). */
static void
test_offer_capacity_replay (void)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  const P2pPeerId *aid = p2p_identity_get_peer_id (a);
  OfferBench o;
  offer_bench_init (&o, 0, 1);
  gint64 now = g_get_real_time () / 1000;
  g_autofree char *first = test_offer ("k1", now, NONCE_1);
  g_autofree char *second = test_offer ("k2", now, NONCE_2);
  offer_step (o.sb, o.resp, aid, first, 1, 0, 0, "first offer");
  offer_step (o.sb, o.resp, aid, second, 1, 0, 0, "second offer, refused for capacity");
  p2p_ice_responder_free (o.resp);
  o.resp = p2p_ice_responder_new (o.sb, o.b, o.cfg, NULL, NULL, 64, on_accepted, &o.accepted);
  offer_step (o.sb, o.resp, aid, second, 0, 1, 0, "the refused offer replayed");
  offer_bench_clear (&o);
}

/* Review finding 8: a nonce forgotten because its offer left the window
 * raises its sender's floor; after our clock steps back 20 s (NTP), the
 * offer is inside the window again but still refused. */
static void
test_offer_clock_step (void)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  const P2pPeerId *aid = p2p_identity_get_peer_id (a);
  OfferBench o;
  offer_bench_init (&o, 2, 64);
  gint64 now = g_get_real_time () / 1000;
  g_autofree char *old = test_offer ("t1", now - P2P_ICE_OFFER_WINDOW_MS + 10000, NONCE_1);
  g_autofree char *o2 = test_offer ("t2", now + 20000, NONCE_2);
  g_autofree char *o3 = test_offer ("t3", now + 20001, NONCE_3);
  offer_step (o.sb, o.resp, aid, old, 1, 0, 0, "offer 50 s old");
  p2p_ice_set_clock_skew (20000);      /* our clock steps forward 20 s */
  offer_step (o.sb, o.resp, aid, o2, 2, 0, 0, "offer 2");
  offer_step (o.sb, o.resp, aid, o3, 3, 0, 0, "offer 3 (prunes the old one)");
  p2p_ice_set_clock_skew (0);          /* and back */
  offer_step (o.sb, o.resp, aid, old, 3, 0, 1, "the old offer replayed after the step back");
  offer_bench_clear (&o);
}

/* The bound on senders (2 × the cache size: 2 here, cache of 1 nonce): a
 * sender's offer evicts the previous sender's nonce (raising its floor);
 * senders left with only a floor are dropped past the bound and their
 * floors fold into the process-wide one (MIN (floor, now)): their offers
 * still cannot be replayed, while a new offer from anyone is taken. */
static void
test_offer_senders_bound (void)
{
  OfferBench o;
  offer_bench_init (&o, 1, 64);
  gint64 now = g_get_real_time () / 1000;
  P2pIdentity *ids[4];
  char *offers[4];
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++) {
    g_autofree char *session = g_strdup_printf ("b%u", i);
    g_autofree char *nonce = g_strdup_printf ("%032x", i + 1);
    ids[i] = p2p_identity_new ();
    offers[i] = test_offer (session, now - 5000 + i, nonce);
    offer_step (o.sb, o.resp, p2p_identity_get_peer_id (ids[i]), offers[i], i + 1, 0, 0,
        session);
  }
  /* 0 and 1 were folded away (sender 2 took the count past 2), 2 has only
   * its floor, 3 its nonce: every replay refused or dropped */
  offer_step (o.sb, o.resp, p2p_identity_get_peer_id (ids[0]), offers[0], 4, 0, 1, "replay 0");
  offer_step (o.sb, o.resp, p2p_identity_get_peer_id (ids[1]), offers[1], 4, 0, 2, "replay 1");
  offer_step (o.sb, o.resp, p2p_identity_get_peer_id (ids[2]), offers[2], 4, 0, 3, "replay 2");
  offer_step (o.sb, o.resp, p2p_identity_get_peer_id (ids[3]), offers[3], 4, 1, 3, "replay 3");
  g_autofree char *fresh = test_offer ("b-new", g_get_real_time () / 1000 + 1, NONCE_4);
  offer_step (o.sb, o.resp, p2p_identity_get_peer_id (ids[0]), fresh, 5, 1, 3,
      "a new offer from sender 0");
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++) {
    g_object_unref (ids[i]);
    g_free (offers[i]);
  }
  offer_bench_clear (&o);
}

typedef struct {
  P2pSignaling *sig;
  guint offers;
  gint64 offer_ts;
  char *offer_nonce;
} FakeResponder;

/* Answers an offer with two answers not made for it (another nonce, no
 * nonce: either would fail the dial with "bad ICE answer" if taken), then
 * an ice-error the dial must report. */
static void
fake_responder_on_signal (P2pSignaling *sig, const P2pPeerId *from, const char *text,
    gpointer data)
{
  FakeResponder *f = data;
  P2pIcePayload p;
  g_assert_true (p2p_ice_payload_parse (text, strlen (text), &p, NULL));
  g_assert_cmpstr (p.kind, ==, "ice-offer");
  f->offers++;
  f->offer_ts = p.ts_ms;
  f->offer_nonce = g_strdup (p.nonce);
  g_autofree char *wrong = g_strdup_printf ("{\"kind\":\"ice-answer\",\"session\":\"%s\","
      "\"nonce\":\"%s\",\"ufrag\":\"!\",\"pwd\":\"!\",\"candidates\":[]}", p.session, NONCE_1);
  g_autofree char *none = g_strdup_printf ("{\"kind\":\"ice-answer\",\"session\":\"%s\","
      "\"ufrag\":\"!\",\"pwd\":\"!\",\"candidates\":[]}", p.session);
  g_autofree char *err = g_strdup_printf ("{\"kind\":\"ice-error\",\"session\":\"%s\","
      "\"message\":\"sentinel: the answers before were ignored\"}", p.session);
  g_assert_true (p2p_signaling_send (f->sig, from, wrong, NULL));
  g_assert_true (p2p_signaling_send (f->sig, from, none, NULL));
  g_assert_true (p2p_signaling_send (f->sig, from, err, NULL));
  p2p_ice_payload_clear (&p);
}

static void
test_answer_nonce (void)
{
  g_autofree char *url = NULL;
  GSubprocess *rdv = p2p_test_start_rendezvous (&url);
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pConfig) cfg = p2p_test_ice_on_loopback (p2p_config_new ());
  g_autoptr (P2pSignaling) sa = register_at (url, a);
  g_autoptr (P2pSignaling) sb = register_at (url, b);
  FakeResponder f = { sb, 0, 0, NULL };
  g_signal_connect (sb, "signal", G_CALLBACK (fake_responder_on_signal), &f);

  Op op = { 0 };
  p2p_ice_connect_async (sa, a, cfg, p2p_identity_get_peer_id (b), NULL, NULL, dialed_cb, &op);
  WAIT_FOR (op.done);
  g_assert_null (op.conn);
  g_assert_error (op.error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED);
  g_assert_nonnull (strstr (op.error->message, "sentinel"));
  g_clear_error (&op.error);
  /* The offer carried a nonce and a timestamp from this clock. */
  g_assert_cmpuint (f.offers, ==, 1);
  g_assert_cmpuint (strlen (f.offer_nonce), ==, P2P_ICE_NONCE_HEX_LEN);
  gint64 now = g_get_real_time () / 1000;
  g_assert_cmpint (f.offer_ts, >, now - P2P_ICE_OFFER_WINDOW_MS);
  g_assert_cmpint (f.offer_ts, <=, now);
  g_free (f.offer_nonce);

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
  g_autoptr (P2pConfig) cfg = p2p_test_ice_on_loopback (p2p_config_new ());

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
  /* half the default P2P_FIND_TIMEOUT_MS */
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 5 * G_USEC_PER_SEC);
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
  g_test_add_func ("/signaling/ice-restart-auto", test_ice_restart_auto);
  g_test_add_func ("/security/json-depth-bypass", test_json_depth_bypass);
  g_test_add_func ("/security/registration-origin", test_registration_origin);
  g_test_add_func ("/security/offer-replay", test_offer_replay);
  g_test_add_func ("/security/offer-cache-full", test_offer_cache_full);
  g_test_add_func ("/security/offer-floor-per-sender", test_offer_floor_per_sender);
  g_test_add_func ("/security/offer-capacity-replay", test_offer_capacity_replay);
  g_test_add_func ("/security/offer-clock-step", test_offer_clock_step);
  g_test_add_func ("/security/offer-senders-bound", test_offer_senders_bound);
  g_test_add_func ("/security/answer-nonce", test_answer_nonce);
  return g_test_run ();
}
