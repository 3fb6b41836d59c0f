/* test-bindings.c: the helpers that exist for language bindings (GObject
 * introspection, docs/python.md): the P2pConnectionStats boxed type and
 * p2p_identity_sign_bytes(); and the boxed types bindings rely on.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <p2p/p2p.h>

static void
test_stats_boxed (void)
{
  P2pConnectionStats stats = { 0, };
  g_autoptr (P2pConnectionStats) copy = NULL;
  P2pConnectionStats *boxed;
  GType type = P2P_TYPE_CONNECTION_STATS;

  g_assert_true (G_TYPE_IS_BOXED (type));
  g_assert_cmpstr (g_type_name (type), ==, "P2pConnectionStats");

  stats.rtt_us = 12345;
  stats.bytes_sent = G_MAXUINT64;
  stats.messages_received = 7;
  stats.path_kind = P2P_PATH_KIND_RELAY;
  copy = p2p_connection_stats_copy (&stats);
  g_assert_nonnull (copy);
  g_assert_true (copy != &stats);
  g_assert_cmpmem (copy, sizeof *copy, &stats, sizeof stats);

  boxed = g_boxed_copy (type, copy);
  g_assert_cmpuint (boxed->rtt_us, ==, 12345);
  g_assert_cmpuint (boxed->bytes_sent, ==, G_MAXUINT64);
  g_assert_cmpint (boxed->path_kind, ==, P2P_PATH_KIND_RELAY);
  g_boxed_free (type, boxed);

  p2p_connection_stats_free (NULL);
}

static void
test_stats_copy_null (void)
{
  if (g_test_subprocess ()) {
    g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
    g_assert_null (p2p_connection_stats_copy (NULL));
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*stats != NULL*");
}

static void
test_sign_bytes (void)
{
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  g_autoptr (P2pIdentity) other = p2p_identity_new ();
  static const guint8 msg[] = { 0x00, 0x01, 0xff, 'p', '2', 'p', 0x00 };
  guint8 expected[P2P_IDENTITY_SIGNATURE_LEN];
  g_autoptr (GBytes) data = g_bytes_new_static (msg, sizeof msg);
  g_autoptr (GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr (GBytes) sig = NULL;
  g_autoptr (GBytes) sig_empty = NULL;
  gsize len;
  const guint8 *p;

  sig = p2p_identity_sign_bytes (id, data);
  g_assert_nonnull (sig);
  p = g_bytes_get_data (sig, &len);
  g_assert_cmpuint (len, ==, P2P_IDENTITY_SIGNATURE_LEN);
  /* Ed25519 is deterministic: the same as the C array variant */
  p2p_identity_sign (id, msg, sizeof msg, expected);
  g_assert_cmpmem (p, len, expected, sizeof expected);
  g_assert_true (p2p_identity_verify (p2p_identity_get_peer_id (id), msg, sizeof msg, p));
  g_assert_false (p2p_identity_verify (p2p_identity_get_peer_id (other), msg, sizeof msg, p));
  g_assert_false (p2p_identity_verify (p2p_identity_get_peer_id (id), msg, sizeof msg - 1, p));

  sig_empty = p2p_identity_sign_bytes (id, empty);
  p = g_bytes_get_data (sig_empty, &len);
  g_assert_cmpuint (len, ==, P2P_IDENTITY_SIGNATURE_LEN);
  g_assert_true (p2p_identity_verify (p2p_identity_get_peer_id (id), NULL, 0, p));
}

static void
test_sign_bytes_bad_args (void)
{
  if (g_test_subprocess ()) {
    g_autoptr (P2pIdentity) id = p2p_identity_new ();

    g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
    g_assert_null (p2p_identity_sign_bytes (id, NULL));
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*data != NULL*");
}

/* The value types bindings pass around are registered boxed types. */
static void
test_boxed_types (void)
{
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  g_autoptr (P2pConfig) config = p2p_config_new ();
  P2pPeerId *pid;
  P2pConfig *cfg;

  g_assert_true (G_TYPE_IS_BOXED (P2P_TYPE_PEER_ID));
  g_assert_true (G_TYPE_IS_BOXED (P2P_TYPE_PEER_INFO));
  g_assert_true (G_TYPE_IS_BOXED (P2P_TYPE_CONFIG));
  g_assert_true (G_TYPE_IS_ENUM (P2P_TYPE_PATH_KIND));
  g_assert_true (G_TYPE_IS_INTERFACE (P2P_TYPE_PROVIDER));

  pid = g_boxed_copy (P2P_TYPE_PEER_ID, p2p_identity_get_peer_id (id));
  g_assert_true (p2p_peer_id_equal (pid, p2p_identity_get_peer_id (id)));
  g_boxed_free (P2P_TYPE_PEER_ID, pid);

  config->bootstrap_peers = g_strsplit ("ws://127.0.0.1:1,ws://127.0.0.1:2", ",", -1);
  cfg = g_boxed_copy (P2P_TYPE_CONFIG, config);
  g_assert_true (cfg->bootstrap_peers != config->bootstrap_peers);
  g_assert_cmpstrv (cfg->bootstrap_peers, config->bootstrap_peers);
  g_boxed_free (P2P_TYPE_CONFIG, cfg);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bindings/stats-boxed", test_stats_boxed);
  g_test_add_func ("/bindings/stats-copy-null", test_stats_copy_null);
  g_test_add_func ("/bindings/sign-bytes", test_sign_bytes);
  g_test_add_func ("/bindings/sign-bytes-bad-args", test_sign_bytes_bad_args);
  g_test_add_func ("/bindings/boxed-types", test_boxed_types);
  return g_test_run ();
}
