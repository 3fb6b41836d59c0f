/* test-stun-check.c: which STUN server of P2P_STUN_SERVERS the ICE agent
 * gets (lib/ice/p2p-stun-check.c, p2p-ice-servers.c), against STUN
 * responders in the test on 127.0.0.1 (libnice's STUN library): a live one
 * answers Binding requests with a mapped address of its own (203.0.113.N, so
 * that a gathered server-reflexive candidate names the server that made
 * it); a dead one reads the requests and never answers (no ICMP).
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>
#include <stun/stunagent.h>
#include <stun/usages/bind.h>

#include "p2p/p2p.h"
#include "p2p-ice-path.h"

#define WAIT_MS 20000
#include "p2p-test-util.h"

/* p2p's messages (G_LOG_USE_STRUCTURED: g_test_expect_message does not see
 * them), from any thread */
static GMutex log_lock;
static GPtrArray *messages;

static GLogWriterOutput
keep_messages (GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
  const char *domain = NULL, *text = NULL;

  for (gsize i = 0; i < n; i++) {
    if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
      domain = fields[i].value;
    else if (g_str_equal (fields[i].key, "MESSAGE"))
      text = fields[i].value;
  }
  if ((level & G_LOG_LEVEL_MESSAGE) && g_strcmp0 (domain, "p2p") == 0 && text) {
    g_mutex_lock (&log_lock);
    g_ptr_array_add (messages, g_strdup (text));
    g_mutex_unlock (&log_lock);
  }
  return g_log_writer_default (level, fields, n, data);
}

/* Asserts that the messages since the last call are exactly @expected
 * (NULL: none), shell pattern. */
static void
assert_messages (const char *expected)
{
  g_mutex_lock (&log_lock);
  if (expected) {
    g_assert_cmpuint (messages->len, ==, 1);
    if (!g_pattern_match_simple (expected, messages->pdata[0]))
      g_assert_cmpstr (messages->pdata[0], ==, expected);
  } else {
    g_assert_cmpuint (messages->len, ==, 0);
  }
  g_ptr_array_set_size (messages, 0);
  g_mutex_unlock (&log_lock);
}

typedef struct {
  GSocket *socket;
  GSource *source;
  guint16 port;
  guint8 octet;        /* mapped address 203.0.113.@octet */
  gboolean mute;       /* dead: reads, never answers */
  guint requests;      /* valid Binding requests received */
  char *entry;         /* "127.0.0.1:PORT" */
} Responder;

static gboolean
on_request (GSocket *socket, GIOCondition cond, gpointer data)
{
  Responder *r = data;
  guint8 buf[1500], out[1500];
  g_autoptr (GSocketAddress) from = NULL;
  gssize n = g_socket_receive_from (socket, &from, (char *) buf, sizeof buf, NULL, NULL);
  StunAgent plain, with_fp, old;
  StunMessage req, resp;
  struct sockaddr_in mapped = { .sin_family = AF_INET };
  gsize len;

  if (n <= 0)
    return G_SOURCE_CONTINUE;
  stun_agent_init (&plain, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389, 0);
  stun_agent_init (&with_fp, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
      STUN_AGENT_USAGE_USE_FINGERPRINT);
  stun_agent_init (&old, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC3489, 0);
  /* libnice's agent asks in RFC 3489 form (no magic cookie) */
  StunAgent *a = &plain;
  if (stun_agent_validate (a, &req, buf, n, NULL, NULL) != STUN_VALIDATION_SUCCESS)
    a = &old;
  if (stun_agent_validate (a, &req, buf, n, NULL, NULL) != STUN_VALIDATION_SUCCESS
      || stun_message_get_class (&req) != STUN_REQUEST
      || stun_message_get_method (&req) != STUN_BINDING)
    return G_SOURCE_CONTINUE;
  r->requests++;
  if (r->mute)
    return G_SOURCE_CONTINUE;
  /* a FINGERPRINT in the answer when the request had one */
  if (a == &plain && stun_message_has_attribute (&req, STUN_ATTRIBUTE_FINGERPRINT))
    a = &with_fp;
  g_assert_true (stun_agent_init_response (a, &resp, out, sizeof out, &req));
  mapped.sin_port = g_htons (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (from)));
  mapped.sin_addr.s_addr = g_htonl (0xcb007100u | r->octet);
  if (a == &old)
    g_assert_cmpint (stun_message_append_addr (&resp, STUN_ATTRIBUTE_MAPPED_ADDRESS,
        (struct sockaddr *) &mapped, sizeof mapped), ==, STUN_MESSAGE_RETURN_SUCCESS);
  else
    g_assert_cmpint (stun_message_append_xor_addr (&resp, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
        (struct sockaddr_storage *) &mapped, sizeof mapped), ==, STUN_MESSAGE_RETURN_SUCCESS);
  len = stun_agent_finish_message (a, &resp, NULL, 0);
  g_assert_cmpuint (len, >, 0);
  g_socket_send_to (socket, from, (const char *) out, len, NULL, NULL);
  return G_SOURCE_CONTINUE;
}

static void
responder_start (Responder *r, guint8 octet, gboolean mute)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;

  r->octet = octet;
  r->mute = mute;
  r->socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
      G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (r->socket, addr, FALSE, &error));
  bound = g_socket_get_local_address (r->socket, &error);
  g_assert_no_error (error);
  r->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  r->entry = g_strdup_printf ("127.0.0.1:%u", r->port);
  r->source = g_socket_create_source (r->socket, G_IO_IN, NULL);
  g_source_set_callback (r->source, G_SOURCE_FUNC (on_request), r, NULL);
  g_source_attach (r->source, NULL);
}

static void
responder_stop (Responder *r)
{
  g_source_destroy (r->source);
  g_clear_pointer (&r->source, g_source_unref);
  g_clear_object (&r->socket);
  g_clear_pointer (&r->entry, g_free);
}

static gboolean
wake (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs this thread's context (the responders) until no check runs. */
static void
wait_checks (void)
{
  guint t = g_timeout_add (5, wake, NULL);

  WAIT_FOR (!p2p_ice_stun_check_busy_for_testing ());
  g_source_remove (t);
}

static P2pConfig *
config_with (const char *a, const char *b)
{
  P2pConfig *cfg = p2p_config_new ();

  cfg->stun_servers = g_new0 (char *, 3);
  cfg->stun_servers[0] = g_strdup (a);
  cfg->stun_servers[1] = g_strdup (b);
  return cfg;
}

/* The port of the STUN server a new path's agent got (127.0.0.1 asserted). */
static guint
agent_stun_port (const P2pConfig *cfg)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pIcePath) p = p2p_ice_path_new (NULL, cfg, TRUE, &error);
  g_autofree char *ip = NULL;
  guint port = 0;

  g_assert_no_error (error);
  ip = p2p_ice_path_get_stun_server (p, &port);
  g_assert_cmpstr (ip, ==, "127.0.0.1");
  return port;
}

typedef struct {
  GError *error;
  gboolean done;
} Op;

static void
gathered_cb (GObject *src, GAsyncResult *res, gpointer data)
{
  Op *op = data;

  p2p_ice_path_gather_finish (P2P_ICE_PATH (src), res, &op->error);
  op->done = TRUE;
}

/* Gathers on 127.0.0.1 with @cfg: the server-reflexive candidate's address. */
static char *
gather_srflx (const P2pConfig *cfg)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pIcePath) p = p2p_ice_path_new (NULL, cfg, TRUE, &error);
  g_auto (GStrv) cands = NULL;
  Op op = { 0 };

  g_assert_no_error (error);
  g_assert_true (p2p_ice_path_add_local_address (p, "127.0.0.1", &error));
  p2p_ice_path_gather_async (p, NULL, gathered_cb, &op);
  WAIT_FOR (op.done);
  g_assert_no_error (op.error);
  g_assert_true (p2p_ice_path_get_local_description (p, NULL, NULL, &cands));
  for (guint i = 0; cands[i]; i++) {
    if (strstr (cands[i], "typ srflx")) {
      g_auto (GStrv) f = g_strsplit (cands[i], " ", -1);
      /* foundation component transport priority ADDRESS port typ srflx ... */
      g_assert_cmpuint (g_strv_length (f), >, 4);
      return g_strdup (f[4]);
    }
  }
  return NULL;
}

static void
setup (void)
{
  wait_checks ();
  p2p_ice_stun_check_reset_for_testing (0);
  assert_messages (NULL);
}

/* "DEAD,LIVE": the first dial gets DEAD (the check has not ended: it waits
 * out the window for the earlier server); after it, LIVE, whose mapped
 * address the gathered candidate carries. */
static void
test_dead_first (void)
{
  Responder dead = { 0 }, live = { 0 };
  g_autoptr (P2pConfig) cfg = NULL;
  g_autofree char *srflx = NULL;
  g_autofree char *expected = NULL;
  guint took = 0;

  setup ();
  responder_start (&dead, 1, TRUE);
  responder_start (&live, 2, FALSE);
  cfg = config_with (dead.entry, live.entry);
  g_assert_cmpint (p2p_ice_stun_check_result_for_testing (
      (const char *const *) cfg->stun_servers, NULL), ==, -2);

  g_assert_cmpuint (agent_stun_port (cfg), ==, dead.port);
  g_assert_true (p2p_ice_stun_check_busy_for_testing ());
  expected = g_strdup_printf ("STUN server %s did not answer within %u ms; dials use %s "
      "(entry 2 of P2P_STUN_SERVERS)", dead.entry, P2P_STUN_CHECK_WINDOW_MS, live.entry);
  wait_checks ();
  assert_messages (expected);
  g_assert_cmpint (p2p_ice_stun_check_result_for_testing (
      (const char *const *) cfg->stun_servers, &took), ==, 1);
  g_test_message ("check of DEAD,LIVE took %u ms", took);
  g_assert_cmpuint (took, >=, P2P_STUN_CHECK_WINDOW_MS);
  g_assert_cmpuint (took, <, P2P_STUN_CHECK_WINDOW_MS + 1000);
  /* the request was sent at 0, 100 and 300 ms to the silent server */
  g_assert_cmpuint (dead.requests, ==, 3);
  g_assert_cmpuint (live.requests, ==, 1);

  g_assert_cmpuint (agent_stun_port (cfg), ==, live.port);
  g_assert_false (p2p_ice_stun_check_busy_for_testing ());
  srflx = gather_srflx (cfg);
  g_assert_cmpstr (srflx, ==, "203.0.113.2");
  g_assert_cmpuint (live.requests, >, 1);
  responder_stop (&dead);
  responder_stop (&live);
}

/* "LIVE,DEAD": LIVE from the start, and the check ends as soon as LIVE
 * answers (nothing listed before it to wait for). */
static void
test_live_first (void)
{
  Responder dead = { 0 }, live = { 0 };
  g_autoptr (P2pConfig) cfg = NULL;
  guint took = 0;

  setup ();
  responder_start (&live, 3, FALSE);
  responder_start (&dead, 4, TRUE);
  cfg = config_with (live.entry, dead.entry);
  g_assert_cmpuint (agent_stun_port (cfg), ==, live.port);
  wait_checks ();
  g_assert_cmpint (p2p_ice_stun_check_result_for_testing (
      (const char *const *) cfg->stun_servers, &took), ==, 0);
  g_test_message ("check of LIVE,DEAD took %u ms", took);
  g_assert_cmpuint (took, <, 100);   /* before the first resend */
  g_assert_cmpuint (dead.requests, ==, 1);
  g_assert_cmpuint (agent_stun_port (cfg), ==, live.port);
  responder_stop (&dead);
  responder_stop (&live);
}

/* A closed port (ICMP port unreachable on loopback) ends that server's
 * probe: "CLOSED,LIVE" is decided before the window ends. */
static void
test_refused_first (void)
{
  Responder closed = { 0 }, live = { 0 };
  g_autoptr (P2pConfig) cfg = NULL;
  g_autofree char *closed_entry = NULL;
  g_autofree char *expected = NULL;
  guint took = 0;

  setup ();
  responder_start (&closed, 5, TRUE);
  closed_entry = g_strdup (closed.entry);
  responder_stop (&closed);
  responder_start (&live, 6, FALSE);
  cfg = config_with (closed_entry, live.entry);
  p2p_ice_check_stun_servers (cfg);
  wait_checks ();
  g_assert_cmpint (p2p_ice_stun_check_result_for_testing (
      (const char *const *) cfg->stun_servers, &took), ==, 1);
  g_test_message ("check of CLOSED,LIVE took %u ms", took);
  expected = g_strdup_printf ("STUN server %s did not answer within %u ms; dials use %s "
      "(entry 2 of P2P_STUN_SERVERS)", closed_entry, P2P_STUN_CHECK_WINDOW_MS, live.entry);
  assert_messages (expected);
  g_assert_cmpuint (took, <, P2P_STUN_CHECK_WINDOW_MS);
  g_assert_cmpuint (agent_stun_port (cfg), ==, live.port);
  responder_stop (&live);
}

/* No server answers: the first one that resolves, as with one server, and
 * a message saying so. */
static void
test_all_dead (void)
{
  Responder d1 = { 0 }, d2 = { 0 };
  g_autoptr (P2pConfig) cfg = NULL;
  g_autofree char *expected = NULL;

  setup ();
  responder_start (&d1, 7, TRUE);
  responder_start (&d2, 8, TRUE);
  cfg = config_with (d1.entry, d2.entry);
  expected = g_strdup_printf ("no STUN server of P2P_STUN_SERVERS=%s,%s answered a Binding "
      "request within %u ms; dials give libnice the first one whose name resolves",
      d1.entry, d2.entry, P2P_STUN_CHECK_WINDOW_MS);
  p2p_ice_check_stun_servers (cfg);
  wait_checks ();
  assert_messages (expected);
  g_assert_cmpint (p2p_ice_stun_check_result_for_testing (
      (const char *const *) cfg->stun_servers, NULL), ==, -1);
  g_assert_cmpuint (d1.requests, ==, 3);
  g_assert_cmpuint (d2.requests, ==, 3);
  g_assert_cmpuint (agent_stun_port (cfg), ==, d1.port);
  /* a recent result: no second check */
  g_assert_false (p2p_ice_stun_check_busy_for_testing ());
  responder_stop (&d1);
  responder_stop (&d2);
}

/* After the TTL the next lookup uses the old answer and checks again. */
static void
test_recheck (void)
{
  Responder a = { 0 }, b = { 0 };
  g_autoptr (P2pConfig) cfg = NULL;

  setup ();
  p2p_ice_stun_check_reset_for_testing (1);
  responder_start (&a, 9, TRUE);
  responder_start (&b, 10, FALSE);
  cfg = config_with (a.entry, b.entry);
  p2p_ice_check_stun_servers (cfg);
  wait_checks ();
  assert_messages ("STUN server * did not answer within * ms; dials use *");
  g_assert_cmpuint (agent_stun_port (cfg), ==, b.port);
  g_assert_false (p2p_ice_stun_check_busy_for_testing ());

  a.mute = FALSE;      /* the first server comes back */
  {
    gboolean slept = FALSE;

    g_timeout_add (1100, p2p_test_timeout_cb, &slept);
    WAIT_FOR (slept);
  }
  g_assert_cmpuint (agent_stun_port (cfg), ==, b.port);
  g_assert_true (p2p_ice_stun_check_busy_for_testing ());
  wait_checks ();
  g_assert_cmpint (p2p_ice_stun_check_result_for_testing (
      (const char *const *) cfg->stun_servers, NULL), ==, 0);
  g_assert_cmpuint (agent_stun_port (cfg), ==, a.port);
  responder_stop (&a);
  responder_stop (&b);
  p2p_ice_stun_check_reset_for_testing (0);
}

/* A malformed entry is an error naming it, wherever it is in the list, and
 * starts no check; a single server is not checked. */
static void
test_malformed (void)
{
  g_autoptr (P2pConfig) cfg = config_with ("127.0.0.1:3478", "stun.example:notaport");
  g_autoptr (P2pConfig) one = p2p_config_new ();
  g_autoptr (GError) error = NULL;

  setup ();
  g_assert_null (p2p_ice_path_new (NULL, cfg, TRUE, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message,
      "STUN server \"stun.example:notaport\" (P2P_STUN_SERVERS): "));
  g_assert_false (p2p_ice_stun_check_busy_for_testing ());

  one->stun_servers = g_strsplit ("127.0.0.1:3478", ",", -1);
  g_assert_cmpuint (agent_stun_port (one), ==, 3478);
  g_assert_false (p2p_ice_stun_check_busy_for_testing ());
  g_assert_cmpint (p2p_ice_stun_check_result_for_testing (
      (const char *const *) one->stun_servers, NULL), ==, -2);
}

int
main (int argc, char **argv)
{
  messages = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (keep_messages, NULL, NULL);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/stun-check/dead-first", test_dead_first);
  g_test_add_func ("/stun-check/live-first", test_live_first);
  g_test_add_func ("/stun-check/refused-first", test_refused_first);
  g_test_add_func ("/stun-check/all-dead", test_all_dead);
  g_test_add_func ("/stun-check/recheck", test_recheck);
  g_test_add_func ("/stun-check/malformed", test_malformed);
  return g_test_run ();
}
