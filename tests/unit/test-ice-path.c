/* test-ice-path.c: P2pIcePath: two libnice agents in one process on
 * loopback (host candidates, DIRECT), error paths, and relay-only through a
 * coturn started by the test on 127.0.0.1 and a free port (RELAY), also
 * named by a host name that a fake resolver maps (no DNS traffic).
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <glib/gstdio.h>

#include "p2p/p2p.h"
#include "p2p-ice-path.h"

#define WAIT_MS 20000
#include "p2p-test-util.h"


typedef struct {
  gboolean done;
  gboolean ok;
  GError *error;
} Op;

static void
gathered_cb (GObject *src, GAsyncResult *res, gpointer data)
{
  Op *op = data;
  op->ok = p2p_ice_path_gather_finish (P2P_ICE_PATH (src), res, &op->error);
  op->done = TRUE;
}

static void
connected_cb (GObject *src, GAsyncResult *res, gpointer data)
{
  Op *op = data;
  op->ok = p2p_ice_path_connect_finish (P2P_ICE_PATH (src), res, &op->error);
  op->done = TRUE;
}

static void
gather (P2pIcePath *p)
{
  Op op = { 0 };
  p2p_ice_path_gather_async (p, NULL, gathered_cb, &op);
  WAIT_FOR (op.done);
  g_assert_no_error (op.error);
  g_assert_true (op.ok);
}

static void
give_description (P2pIcePath *from, P2pIcePath *to)
{
  g_autofree char *ufrag = NULL, *pwd = NULL;
  g_auto (GStrv) cands = NULL;
  g_assert_true (p2p_ice_path_get_local_description (from, &ufrag, &pwd, &cands));
  g_assert_cmpuint (g_strv_length (cands), >, 0);
  /* P2P_ICE_ADDRESSES=127.0.0.1 (new_path): nothing offered on the
   * machine's own interfaces (the STUN and TURN servers are on loopback) */
  for (guint i = 0; cands[i]; i++)
    g_assert_nonnull (strstr (cands[i], " 127.0.0.1 "));
  g_autoptr (GError) error = NULL;
  g_assert_true (p2p_ice_path_set_remote_description (to, ufrag, pwd,
      (const char *const *) cands, &error));
  g_assert_no_error (error);
}

static P2pIcePath *
new_path (const P2pConfig *cfg, gboolean controlling)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConfig) c = p2p_test_ice_on_loopback (p2p_config_copy (cfg));
  P2pIcePath *p = p2p_ice_path_new (NULL, c, controlling, &error);
  g_assert_no_error (error);
  g_assert_nonnull (p);
  return p;
}

typedef struct {
  GPtrArray *got;
  guint timers;
} Sink;

static void
on_receive (P2pPacketPath *path, const guint8 *data, gsize len, gpointer user_data)
{
  Sink *s = user_data;
  g_ptr_array_add (s->got, g_bytes_new (data, len));
}

static void
on_timer (P2pPacketPath *path, gpointer user_data)
{
  Sink *s = user_data;
  s->timers++;
}

/* Connects @a (controlling) and @b, then checks datagrams both ways. */
static void
connect_and_exchange (P2pIcePath *a, P2pIcePath *b, P2pPathKind expect)
{
  gather (a);
  gather (b);
  give_description (a, b);
  give_description (b, a);
  Op oa = { 0 }, ob = { 0 };
  p2p_ice_path_connect_async (a, 0, NULL, connected_cb, &oa);
  p2p_ice_path_connect_async (b, 0, NULL, connected_cb, &ob);
  WAIT_FOR (oa.done && ob.done);
  g_assert_no_error (oa.error);
  g_assert_no_error (ob.error);
  g_assert_true (p2p_ice_path_is_connected (a));
  g_assert_true (p2p_ice_path_is_connected (b));

  Sink sa = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref), 0 };
  Sink sb = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref), 0 };
  p2p_packet_path_set_handlers (P2P_PACKET_PATH (a), on_receive, on_timer, &sa, NULL);
  p2p_packet_path_set_handlers (P2P_PACKET_PATH (b), on_receive, on_timer, &sb, NULL);

  guint8 big[P2P_ICE_PATH_MTU];
  for (guint i = 0; i < sizeof big; i++)
    big[i] = (guint8) (i * 7);
  g_autoptr (GError) error = NULL;
  g_assert_true (p2p_packet_path_send (P2P_PACKET_PATH (a), (const guint8 *) "ping", 4, &error));
  g_assert_no_error (error);
  g_assert_true (p2p_packet_path_send (P2P_PACKET_PATH (a), big, sizeof big, &error));
  g_assert_true (p2p_packet_path_send (P2P_PACKET_PATH (b), (const guint8 *) "pong!", 5, &error));
  WAIT_FOR (sb.got->len == 2 && sa.got->len == 1);
  g_assert_cmpmem (g_bytes_get_data (sb.got->pdata[0], NULL), g_bytes_get_size (sb.got->pdata[0]),
      "ping", 4);
  g_assert_cmpmem (g_bytes_get_data (sb.got->pdata[1], NULL), g_bytes_get_size (sb.got->pdata[1]),
      big, sizeof big);
  g_assert_cmpmem (g_bytes_get_data (sa.got->pdata[0], NULL), g_bytes_get_size (sa.got->pdata[0]),
      "pong!", 5);

  /* Over the MTU: refused, not truncated. */
  guint8 huge[P2P_INTERNET_MTU + 1] = { 0 };
  g_assert_false (p2p_packet_path_send (P2P_PACKET_PATH (a), huge, sizeof huge, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&error);
  g_assert_cmpuint (p2p_packet_path_get_mtu (P2P_PACKET_PATH (a)), ==, P2P_ICE_PATH_MTU);

  g_assert_cmpint (p2p_packet_path_get_kind (P2P_PACKET_PATH (a)), ==, expect);
  g_assert_cmpint (p2p_packet_path_get_kind (P2P_PACKET_PATH (b)), ==, expect);
  g_autofree char *remote = p2p_packet_path_describe_remote (P2P_PACKET_PATH (a));
  g_assert_nonnull (remote);
  g_assert_nonnull (strstr (remote, "127.0.0.1:"));
  if (expect == P2P_PATH_KIND_RELAY)
    g_assert_nonnull (strstr (remote, "via TURN relay"));

  /* The path timer runs on real monotonic time. */
  guint64 now = p2p_packet_path_now (P2P_PACKET_PATH (a));
  p2p_packet_path_set_timer (P2P_PACKET_PATH (a), now + 2 * 1000 * 1000);
  WAIT_FOR (sa.timers == 1);
  g_assert_cmpuint (p2p_packet_path_now (P2P_PACKET_PATH (a)), >=, now + 2 * 1000 * 1000);
  /* Disarmed timers do not fire. */
  p2p_packet_path_set_timer (P2P_PACKET_PATH (a), now);
  p2p_packet_path_set_timer (P2P_PACKET_PATH (a), G_MAXUINT64);
  for (int i = 0; i < 10; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (sa.timers, ==, 1);

  /* Closed: sends fail, nothing is delivered. */
  p2p_packet_path_close (P2P_PACKET_PATH (b));
  g_assert_false (p2p_packet_path_send (P2P_PACKET_PATH (b), (const guint8 *) "x", 1, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_CLOSED);
  p2p_packet_path_set_handlers (P2P_PACKET_PATH (a), NULL, NULL, NULL, NULL);
  p2p_packet_path_set_handlers (P2P_PACKET_PATH (b), NULL, NULL, NULL, NULL);
  g_ptr_array_unref (sa.got);
  g_ptr_array_unref (sb.got);
}

static void
test_loopback_direct (void)
{
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pIcePath) a = new_path (cfg, TRUE);
  g_autoptr (P2pIcePath) b = new_path (cfg, FALSE);
  connect_and_exchange (a, b, P2P_PATH_KIND_DIRECT);

  g_auto (GStrv) cands = NULL;
  g_assert_true (p2p_ice_path_get_local_description (a, NULL, NULL, &cands));
  g_assert_nonnull (strstr (cands[0], "typ host"));
  g_assert_cmpuint (p2p_ice_path_get_n_local_candidates (a), ==, g_strv_length (cands));
  g_assert_cmpuint (p2p_ice_path_get_n_remote_candidates (a), >, 0);
}

static void
test_turn_urls (void)
{
  g_autofree char *user = NULL, *pass = NULL, *host = NULL;
  guint16 port = 0;
  gboolean tcp = TRUE;
  g_autoptr (GError) error = NULL;

  g_assert_true (p2p_ice_parse_turn_url ("turn://alice:s%40cret@198.18.0.1:3478", &user, &pass,
      &host, &port, &tcp, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (user, ==, "alice");
  g_assert_cmpstr (pass, ==, "s@cret");
  g_assert_cmpstr (host, ==, "198.18.0.1");
  g_assert_cmpuint (port, ==, 3478);
  g_assert_false (tcp);
  g_clear_pointer (&user, g_free);
  g_clear_pointer (&pass, g_free);
  g_clear_pointer (&host, g_free);
  g_assert_true (p2p_ice_parse_turn_url ("turn://u:p@[::1]:5349?transport=tcp", &user, &pass,
      &host, &port, &tcp, &error));
  g_assert_cmpstr (host, ==, "::1");
  g_assert_true (tcp);

  struct { const char *url; const char *expect; } bad[] = {
    { "stun://1.2.3.4:3478", "expected turn://" },
    { "turn://1.2.3.4:3478", "missing USER:PASS@" },
    { "turn://nopass@1.2.3.4:3478", "USER:PASS" },
    { "turn://u:p@1.2.3.4", "turn://u:***@1.2.3.4" },
    { "turn://u:p@1.2.3.4:0", "turn://u:***@1.2.3.4:0" },
    { "turn://u:p@1.2.3.4:3478?transport=sctp", "unknown option \"transport=sctp\"" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_clear_error (&error);
    g_assert_false (p2p_ice_parse_turn_url (bad[i].url, NULL, NULL, NULL, NULL, NULL, &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
    if (!strstr (error->message, bad[i].expect))
      g_error ("%s: message \"%s\" lacks \"%s\"", bad[i].url, error->message, bad[i].expect);
  }
}

static void
test_bad_config (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConfig) cfg = p2p_config_new ();

  cfg->relay_policy = P2P_RELAY_POLICY_RELAY_ONLY;
  g_assert_null (p2p_ice_path_new (NULL, cfg, TRUE, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "P2P_RELAY_SERVERS"));
  g_clear_error (&error);

  cfg->relay_policy = P2P_RELAY_POLICY_ALL;
  g_strfreev (cfg->stun_servers);
  cfg->stun_servers = g_strsplit ("stun.example:notaport", ",", -1);
  g_assert_null (p2p_ice_path_new (NULL, cfg, TRUE, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "stun.example:notaport"));
  g_clear_error (&error);

  g_strfreev (cfg->stun_servers);
  cfg->stun_servers = NULL;
  g_strfreev (cfg->relay_servers);
  cfg->relay_servers = g_strsplit ("turn://1.2.3.4:3478", ",", -1);
  g_assert_null (p2p_ice_path_new (NULL, cfg, TRUE, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "missing USER:PASS@"));
  g_clear_error (&error);

  g_strfreev (cfg->relay_servers);
  cfg->relay_servers = NULL;
  g_autoptr (P2pIcePath) p = p2p_ice_path_new (NULL, cfg, TRUE, &error);
  g_assert_no_error (error);
  g_assert_false (p2p_ice_path_add_local_address (p, "localhost", &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
}

static void
test_remote_description_errors (void)
{
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pIcePath) a = new_path (cfg, TRUE);
  g_autoptr (GError) error = NULL;

  /* Not gathered yet: no local description. */
  g_assert_false (p2p_ice_path_get_local_description (a, NULL, NULL, NULL));

  /* Connect before the remote description. */
  Op op = { 0 };
  p2p_ice_path_connect_async (a, 1000, NULL, connected_cb, &op);
  WAIT_FOR (op.done);
  g_assert_error (op.error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&op.error);

  const char *one[] = { "a=candidate:1 1 UDP 2015363327 127.0.0.1 9 typ host", NULL };
  g_assert_false (p2p_ice_path_set_remote_description (a, "", "pwdpwdpwdpwdpwdpwdpwdpwd", one, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "ufrag/pwd"));
  g_clear_error (&error);
  g_assert_false (p2p_ice_path_set_remote_description (a, "ufr\"ag", "pwd", one, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_autoptr (GPtrArray) many = g_ptr_array_new ();
  for (int i = 0; i < 65; i++)
    g_ptr_array_add (many, (char *) one[0]);
  g_ptr_array_add (many, NULL);
  g_assert_false (p2p_ice_path_set_remote_description (a, "ufrag", "pwdpwdpwdpwdpwdpwdpwdpwd",
      (const char *const *) many->pdata, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "at most 64"));
  g_clear_error (&error);

  g_autofree char *longline = g_strnfill (600, 'a');
  const char *toolong[] = { longline, NULL };
  g_assert_false (p2p_ice_path_set_remote_description (a, "ufrag", "pwdpwdpwdpwdpwdpwdpwdpwd",
      toolong, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* Junk lines are skipped; none left → connect fails at once, saying why.
   * A TCP candidate without "tcptype" made libnice raise a critical (found
   * by the ice-candidate fuzzer); TCP ones are skipped before libnice. */
  const char *junk[] = { "garbage", "a=candidate:x", "",
    "a=candidate:7 1 TCP 2130706431 127.0.0.1 9 typ host",
    "a=candidate:8 1 tcp 2130706431 127.0.0.1 9 typ host tcptype active", NULL };
  g_assert_true (p2p_ice_path_set_remote_description (a, "ufrag", "pwdpwdpwdpwdpwdpwdpwdpwd",
      junk, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (p2p_ice_path_get_n_remote_candidates (a), ==, 0);
  g_assert_false (p2p_ice_path_set_remote_description (a, "ufrag", "pwdpwdpwdpwdpwdpwdpwdpwd",
      junk, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  gather (a);
  p2p_ice_path_set_peer_label (a, "peerX");
  memset (&op, 0, sizeof op);
  p2p_ice_path_connect_async (a, 1000, NULL, connected_cb, &op);
  WAIT_FOR (op.done);
  g_assert_error (op.error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED);
  g_assert_nonnull (strstr (op.error->message, "no path to peer peerX"));
  g_assert_nonnull (strstr (op.error->message, "offered no usable candidate"));
  g_assert_nonnull (strstr (op.error->message, "P2P_RELAY_SERVERS"));
  g_clear_error (&op.error);

  /* Closed path: every operation says so. */
  p2p_packet_path_close (P2P_PACKET_PATH (a));
  memset (&op, 0, sizeof op);
  p2p_ice_path_gather_async (a, NULL, gathered_cb, &op);
  WAIT_FOR (op.done);
  g_assert_error (op.error, P2P_ERROR, P2P_ERROR_CLOSED);
  g_clear_error (&op.error);
}

/* The peer disappears after giving its description: checks fail or time
 * out, and the error names what was tried. */
static void
test_no_path (void)
{
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pIcePath) a = new_path (cfg, TRUE);
  g_autoptr (P2pIcePath) b = new_path (cfg, FALSE);
  gather (a);
  gather (b);
  give_description (b, a);
  p2p_packet_path_close (P2P_PACKET_PATH (b));
  g_clear_object (&b);

  p2p_ice_path_set_peer_label (a, "gone");
  Op op = { 0 };
  p2p_ice_path_connect_async (a, 1500, NULL, connected_cb, &op);
  WAIT_FOR (op.done);
  g_assert_error (op.error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED);
  g_assert_nonnull (strstr (op.error->message, "no path to peer gone"));
  g_assert_nonnull (strstr (op.error->message, "tried host candidates (1 local, 1 remote)"));
  g_clear_error (&op.error);
  g_assert_false (p2p_ice_path_is_connected (a));
}

static void
test_cancel (void)
{
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pIcePath) a = new_path (cfg, TRUE);
  g_autoptr (P2pIcePath) b = new_path (cfg, FALSE);
  gather (a);
  gather (b);
  give_description (b, a);
  g_autoptr (GCancellable) c = g_cancellable_new ();
  Op op = { 0 };
  p2p_ice_path_connect_async (a, 10000, c, connected_cb, &op);
  g_cancellable_cancel (c);
  WAIT_FOR (op.done);
  g_assert_error (op.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&op.error);
}

/* ---- coturn ---- */

typedef struct {
  GSubprocess *proc;
  char *dir;
  guint16 port;
} Turn;

static guint16
free_port (void)
{
  /* A port free for both UDP and TCP right now (coturn binds both). */
  for (int attempt = 0; attempt < 20; attempt++) {
    g_autoptr (GSocket) u = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
        G_SOCKET_PROTOCOL_UDP, NULL);
    g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
    g_assert_true (g_socket_bind (u, any, FALSE, NULL));
    g_autoptr (GSocketAddress) bound = g_socket_get_local_address (u, NULL);
    guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
    g_autoptr (GSocket) t = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
        G_SOCKET_PROTOCOL_TCP, NULL);
    if (g_socket_bind (t, bound, FALSE, NULL))
      return port;
  }
  g_assert_not_reached ();
}

static gboolean
turn_start (Turn *t)
{
  g_autofree char *bin = g_find_program_in_path ("turnserver");
  if (!bin)
    return FALSE;
  t->dir = g_dir_make_tmp ("ice-turn-XXXXXX", NULL);
  g_assert_nonnull (t->dir);
  t->port = free_port ();
  g_autofree char *port = g_strdup_printf ("--listening-port=%u", t->port);
  g_autofree char *pid = g_strdup_printf ("--pidfile=%s/turn.pid", t->dir);
  g_autofree char *db = g_strdup_printf ("--userdb=%s/turn.db", t->dir);
  const char *argv[] = { bin, "-n", "--listening-ip=127.0.0.1", port, "--relay-ip=127.0.0.1",
    "--external-ip=127.0.0.1", "--user=test:test", "--realm=gst-p2p", "--lt-cred-mech",
    "--no-tls", "--no-dtls", "--no-cli", "--fingerprint", "--min-port=49152",
    "--max-port=65535", "--log-file=stdout", "--simple-log", "--allow-loopback-peers",
    pid, db, NULL };
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_child_setup (l, p2p_test_child_setup, NULL, NULL);
  g_autoptr (GError) error = NULL;
  t->proc = g_subprocess_launcher_spawnv (l, argv, &error);
  g_assert_no_error (error);
  g_autoptr (GDataInputStream) in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (t->proc));
  for (int lines = 0; lines < 500; lines++) {
    g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
    g_assert_no_error (error);
    if (!line)
      g_error ("turnserver exited during start-up");
    if (strstr (line, "Total General servers"))
      return TRUE;
  }
  g_error ("turnserver did not report ready");
  return FALSE;
}

static void
turn_stop (Turn *t)
{
  if (t->proc) {
    g_subprocess_send_signal (t->proc, SIGTERM);
    g_subprocess_wait (t->proc, NULL, NULL);
    g_clear_object (&t->proc);
  }
  if (t->dir) {
    g_autofree char *p1 = g_build_filename (t->dir, "turn.pid", NULL);
    g_autofree char *p2 = g_build_filename (t->dir, "turn.db", NULL);
    g_unlink (p1);
    g_unlink (p2);
    g_rmdir (t->dir);
    g_clear_pointer (&t->dir, g_free);
  }
}

static void
test_turn_relay_only (void)
{
  Turn t = { 0 };
  if (!turn_start (&t)) {
    g_test_skip ("turnserver (coturn) is not installed");
    return;
  }
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autofree char *url = g_strdup_printf ("turn://test:test@127.0.0.1:%u", t.port);
  g_strfreev (cfg->relay_servers);
  cfg->relay_servers = g_strsplit (url, ",", -1);
  cfg->relay_policy = P2P_RELAY_POLICY_RELAY_ONLY;
  {
    g_autoptr (P2pIcePath) a = new_path (cfg, TRUE);
    g_autoptr (P2pIcePath) b = new_path (cfg, FALSE);
    connect_and_exchange (a, b, P2P_PATH_KIND_RELAY);
    g_auto (GStrv) cands = NULL;
    g_assert_true (p2p_ice_path_get_local_description (a, NULL, NULL, &cands));
    for (guint i = 0; cands[i]; i++)
      g_assert_nonnull (strstr (cands[i], "typ relay"));
  }
  turn_stop (&t);
}

/* ---- a resolver that knows two names and answers nothing else ---- */

/* relay.p2p-test -> 127.0.0.1; silent.p2p-test never answers (until
 * cancelled); anything else: NOT_FOUND. No lookup leaves the process. */
typedef struct {
  GResolver parent_instance;
  guint lookups;
} FakeResolver;
typedef GResolverClass FakeResolverClass;
static GType fake_resolver_get_type (void);
G_DEFINE_TYPE (FakeResolver, fake_resolver, G_TYPE_RESOLVER)

static void
fake_cancelled (GCancellable *c, gpointer task)
{
  g_task_return_error_if_cancelled (task);
}

static void
fake_lookup_by_name_async (GResolver *r, const char *host, GCancellable *c,
    GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new (r, c, cb, data);

  ((FakeResolver *) r)->lookups++;
  if (g_strcmp0 (host, "relay.p2p-test") == 0) {
    g_task_return_pointer (task, g_list_prepend (NULL,
            g_inet_address_new_from_string ("127.0.0.1")),
        (GDestroyNotify) g_resolver_free_addresses);
    g_object_unref (task);
  } else if (g_strcmp0 (host, "silent.p2p-test") == 0) {
    g_assert_nonnull (c);       /* an unbounded lookup would hang here */
    g_cancellable_connect (c, G_CALLBACK (fake_cancelled), task, g_object_unref);
  } else {
    g_task_return_new_error (task, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND,
        "no such name: %s", host);
    g_object_unref (task);
  }
}

static GList *
fake_lookup_by_name_finish (GResolver *r, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
fake_resolver_class_init (FakeResolverClass *klass)
{
  klass->lookup_by_name_async = fake_lookup_by_name_async;
  klass->lookup_by_name_finish = fake_lookup_by_name_finish;
}

static void
fake_resolver_init (FakeResolver *r)
{
}

/* A relay given the architecture's way (issue 18): P2P_RELAY_SERVERS=HOST
 * with the credentials apart. The host name is resolved before it reaches
 * libnice (the relayed path works through coturn on 127.0.0.1); a name
 * that does not resolve and a resolver that never answers are errors
 * naming the host, the latter within the bound. */
static void
test_turn_host_name (void)
{
  Turn t = { 0 };
  FakeResolver *fake = g_object_new (fake_resolver_get_type (), NULL);
  g_autoptr (GResolver) saved = g_resolver_get_default ();
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pConfig) cfg = NULL;
  g_autofree char *servers = NULL;
  gint64 t0;

  if (!turn_start (&t)) {
    g_object_unref (fake);
    g_test_skip ("turnserver (coturn) is not installed");
    return;
  }
  g_resolver_set_default (G_RESOLVER (fake));
  servers = g_strdup_printf ("P2P_RELAY_SERVERS=relay.p2p-test:%u", t.port);
  {
    const char *envp[] = { servers, "P2P_RELAY_USERNAME=test", "P2P_RELAY_PASSWORD=test",
      "P2P_RELAY_POLICY=relay-only", NULL };

    cfg = p2p_config_new_from_environ (envp, &error);
    g_assert_no_error (error);
  }
  {
    g_autoptr (P2pIcePath) a = new_path (cfg, TRUE);
    g_autoptr (P2pIcePath) b = new_path (cfg, FALSE);
    g_auto (GStrv) cands = NULL;

    g_assert_cmpuint (fake->lookups, ==, 2);
    connect_and_exchange (a, b, P2P_PATH_KIND_RELAY);
    g_assert_true (p2p_ice_path_get_local_description (a, NULL, NULL, &cands));
    for (guint i = 0; cands[i]; i++)
      g_assert_nonnull (strstr (cands[i], "typ relay"));
  }
  turn_stop (&t);

  g_strfreev (cfg->relay_servers);
  cfg->relay_servers = g_strsplit ("turn://u:p@unknown.p2p-test:3478", ",", -1);
  g_assert_null (p2p_ice_path_new (NULL, cfg, TRUE, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "TURN server host \"unknown.p2p-test\" cannot be "
      "resolved: no such name: unknown.p2p-test");
  g_clear_error (&error);

  /* STUN: libnice takes one server, the first of the list that resolves;
   * one that cannot be looked up is skipped, the last one's error kept */
  g_strfreev (cfg->relay_servers);
  cfg->relay_servers = NULL;
  cfg->relay_policy = P2P_RELAY_POLICY_ALL;
  cfg->stun_servers = g_strsplit ("unknown.p2p-test:3478,127.0.0.1:3478", ",", -1);
  {
    g_autoptr (P2pIcePath) p = p2p_ice_path_new (NULL, cfg, TRUE, &error);

    g_assert_no_error (error);
    g_assert_nonnull (p);
  }
  g_strfreev (cfg->stun_servers);
  cfg->stun_servers = g_strsplit ("127.0.0.1:3478,unknown.p2p-test:3478", ",", -1);
  {
    g_autoptr (P2pIcePath) p = p2p_ice_path_new (NULL, cfg, TRUE, &error);

    g_assert_no_error (error);
  }
  g_strfreev (cfg->stun_servers);
  cfg->stun_servers = g_strsplit ("unknown.p2p-test:3478,unknown.p2p-test:3479", ",", -1);
  g_assert_null (p2p_ice_path_new (NULL, cfg, TRUE, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "STUN server host \"unknown.p2p-test\" cannot be "
      "resolved: no such name: unknown.p2p-test");
  g_clear_error (&error);
  g_clear_pointer (&cfg->stun_servers, g_strfreev);

  p2p_ice_set_resolve_timeout_for_testing (300);
  g_strfreev (cfg->relay_servers);
  cfg->relay_servers = g_strsplit ("turn://u:p@silent.p2p-test:3478", ",", -1);
  t0 = g_get_monotonic_time ();
  g_assert_null (p2p_ice_path_new (NULL, cfg, TRUE, &error));
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 300 * 1000);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 3 * G_USEC_PER_SEC);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "TURN server host \"silent.p2p-test\" could not be "
      "resolved within 300 ms (the DNS resolver did not answer)");
  g_clear_error (&error);
  p2p_ice_set_resolve_timeout_for_testing (0);

  g_resolver_set_default (saved);
  g_object_unref (fake);
}

/* Relay-only with a TURN server that does not accept our credentials: no
 * relayed candidate, a clear error at gathering. */
static void
test_turn_bad_credentials (void)
{
  Turn t = { 0 };
  if (!turn_start (&t)) {
    g_test_skip ("turnserver (coturn) is not installed");
    return;
  }
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autofree char *url = g_strdup_printf ("turn://test:wrong@127.0.0.1:%u", t.port);
  g_strfreev (cfg->relay_servers);
  cfg->relay_servers = g_strsplit (url, ",", -1);
  cfg->relay_policy = P2P_RELAY_POLICY_RELAY_ONLY;
  {
    g_autoptr (P2pIcePath) a = new_path (cfg, TRUE);
    Op op = { 0 };
    p2p_ice_path_gather_async (a, NULL, gathered_cb, &op);
    WAIT_FOR (op.done);
    g_assert_error (op.error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED);
    g_assert_nonnull (strstr (op.error->message, "check the TURN server"));
    g_clear_error (&op.error);
  }
  turn_stop (&t);
}

/* Datagrams sent before this side has a selected pair (the peer that
 * answered first already sends) are held, in order, and sent once the pair
 * is selected; more than 16 are refused. */
static void
test_send_before_selected (void)
{
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pIcePath) a = new_path (cfg, TRUE);
  g_autoptr (P2pIcePath) b = new_path (cfg, FALSE);
  gather (a);
  gather (b);
  give_description (a, b);
  give_description (b, a);
  Sink sb = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref), 0 };
  p2p_packet_path_set_handlers (P2P_PACKET_PATH (b), on_receive, NULL, &sb, NULL);

  g_autoptr (GError) error = NULL;
  for (guint8 i = 0; i < 16; i++) {
    guint8 d[3] = { 'e', i, (guint8) (i * 3) };
    g_assert_true (p2p_packet_path_send (P2P_PACKET_PATH (a), d, sizeof d, &error));
    g_assert_no_error (error);
  }
  g_assert_false (p2p_packet_path_send (P2P_PACKET_PATH (a), (const guint8 *) "x", 1, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, "16 datagrams already waiting"));
  g_clear_error (&error);
  g_assert_cmpuint (sb.got->len, ==, 0);

  Op oa = { 0 }, ob = { 0 };
  p2p_ice_path_connect_async (a, 0, NULL, connected_cb, &oa);
  p2p_ice_path_connect_async (b, 0, NULL, connected_cb, &ob);
  WAIT_FOR (oa.done && ob.done && sb.got->len == 16);
  g_assert_no_error (oa.error);
  g_assert_no_error (ob.error);
  for (guint8 i = 0; i < 16; i++) {
    guint8 d[3] = { 'e', i, (guint8) (i * 3) };
    g_assert_cmpmem (g_bytes_get_data (sb.got->pdata[i], NULL),
        g_bytes_get_size (sb.got->pdata[i]), d, sizeof d);
  }
  p2p_packet_path_set_handlers (P2P_PACKET_PATH (b), NULL, NULL, NULL, NULL);
  g_ptr_array_unref (sb.got);

  /* Held datagrams of a path closed before it connects are dropped. */
  g_autoptr (P2pIcePath) c = new_path (cfg, TRUE);
  g_assert_true (p2p_packet_path_send (P2P_PACKET_PATH (c), (const guint8 *) "y", 1, &error));
  p2p_packet_path_close (P2P_PACKET_PATH (c));
  g_assert_false (p2p_packet_path_send (P2P_PACKET_PATH (c), (const guint8 *) "y", 1, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_CLOSED);
}

/* A TURN server on 127.0.0.1 and no local address chosen: libnice skips
 * loopback interfaces, so the path adds the server's loopback address
 * itself; both ends get relayed candidates and connect through them. */
static void
test_turn_loopback_server (void)
{
  Turn t = { 0 };
  if (!turn_start (&t)) {
    g_test_skip ("turnserver (coturn) is not installed");
    return;
  }
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autofree char *url = g_strdup_printf ("turn://test:test@127.0.0.1:%u", t.port);
  g_strfreev (cfg->relay_servers);
  cfg->relay_servers = g_strsplit (url, ",", -1);
  cfg->relay_policy = P2P_RELAY_POLICY_RELAY_ONLY;
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (P2pIcePath) a = p2p_ice_path_new (NULL, cfg, TRUE, &error);
    g_assert_no_error (error);
    g_autoptr (P2pIcePath) b = p2p_ice_path_new (NULL, cfg, FALSE, &error);
    g_assert_no_error (error);
    p2p_ice_path_set_peer_label (a, "peer-b");   /* as the ICE flow does, before gathering */
    p2p_ice_path_set_peer_label (a, "peer-b2");
    connect_and_exchange (a, b, P2P_PATH_KIND_RELAY);
    g_auto (GStrv) cands = NULL;
    g_assert_true (p2p_ice_path_get_local_description (a, NULL, NULL, &cands));
    g_assert_cmpuint (g_strv_length (cands), >=, 1);
    for (guint i = 0; cands[i]; i++) {
      g_assert_nonnull (strstr (cands[i], "typ relay"));
      g_assert_nonnull (strstr (cands[i], " 127.0.0.1 "));
    }
  }
  /* Without relay-only the other interfaces still give host candidates
   * next to the relayed one (a loopback host candidate too). */
  cfg->relay_policy = P2P_RELAY_POLICY_ALL;
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (P2pIcePath) a = p2p_ice_path_new (NULL, cfg, TRUE, &error);
    g_assert_no_error (error);
    gather (a);
    g_auto (GStrv) cands = NULL;
    g_assert_true (p2p_ice_path_get_local_description (a, NULL, NULL, &cands));
    gboolean relay = FALSE, host_lo = FALSE;
    for (guint i = 0; cands[i]; i++) {
      relay |= strstr (cands[i], "typ relay") != NULL;
      host_lo |= strstr (cands[i], " 127.0.0.1 ") && strstr (cands[i], "typ host");
    }
    g_assert_true (relay);
    g_assert_true (host_lo);
  }
  turn_stop (&t);
}

static guint
count_open_fds (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;
  g_assert_nonnull (dir);
  while (g_dir_read_name (dir))
    n++;
  return n;
}

/* A path on its own context, closed while another context is the thread
 * default (as a fuzzer or an application thread does): libnice's close must
 * still finish on the path's context, or every agent and its context leak
 * (two eventfds each; a process ran out of descriptors after ~1 700). */
static void
test_close_releases_agent (void)
{
  const char *cands[] = { "a=candidate:1 1 UDP 2130706431 127.0.0.1 9 typ host", NULL };
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  guint before = count_open_fds ();

  for (guint i = 0; i < 40; i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GMainContext) ctx = g_main_context_new ();
    g_autoptr (P2pIcePath) p = p2p_ice_path_new (ctx, cfg, FALSE, &error);
    g_assert_no_error (error);
    g_assert_true (p2p_ice_path_set_remote_description (p, "abcd",
        "0123456789012345678901", cands, &error));
    g_assert_no_error (error);
    p2p_packet_path_close (P2P_PACKET_PATH (p));
    g_clear_object (&p);
    for (guint k = 0; k < 1000 && g_main_context_iteration (ctx, FALSE); k++)
      ;
  }
  /* a leak here is 80 descriptors; a few may be GLib's own, opened once */
  g_assert_cmpuint (count_open_fds (), <=, before + 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ice-path/turn-urls", test_turn_urls);
  g_test_add_func ("/ice-path/bad-config", test_bad_config);
  g_test_add_func ("/ice-path/loopback-direct", test_loopback_direct);
  g_test_add_func ("/ice-path/remote-description-errors", test_remote_description_errors);
  g_test_add_func ("/ice-path/no-path", test_no_path);
  g_test_add_func ("/ice-path/cancel", test_cancel);
  g_test_add_func ("/ice-path/turn-relay-only", test_turn_relay_only);
  g_test_add_func ("/ice-path/turn-bad-credentials", test_turn_bad_credentials);
  g_test_add_func ("/ice-path/turn-host-name", test_turn_host_name);
  g_test_add_func ("/ice-path/turn-loopback-server", test_turn_loopback_server);
  g_test_add_func ("/ice-path/send-before-selected", test_send_before_selected);
  g_test_add_func ("/ice-path/close-releases-agent", test_close_releases_agent);
  return g_test_run ();
}
