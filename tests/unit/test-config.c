/* test-config.c: configuration from an environ array.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <p2p/p2p.h>
#include <glib/gstdio.h>
#include "p2p-ice-path.h"
#include "p2p-config-private.h"

static P2pConfig *
config_from (const char *var, const char *value, GError **error)
{
  g_autofree char *entry = g_strdup_printf ("%s=%s", var, value);
  const char *envp[] = { "UNRELATED=1", entry, NULL };

  return p2p_config_new_from_environ (envp, error);
}

static void
assert_bad (const char *var, const char *value, const char *message)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pConfig) c = config_from (var, value, &err);

  g_assert_null (c);
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (err->message, ==, message);
}

static P2pConfig *
good (const char *var, const char *value)
{
  g_autoptr (GError) err = NULL;
  P2pConfig *c = config_from (var, value, &err);

  g_assert_no_error (err);
  g_assert_nonnull (c);
  return c;
}

static void
assert_defaults (const P2pConfig *c)
{
  g_assert_cmpint (c->implementation, ==, P2P_IMPLEMENTATION_QUIC);
  g_assert_cmpuint (c->listen_port, ==, 8800);
  g_assert_null (c->bootstrap_peers);
  g_assert_null (c->relay_servers);
  g_assert_null (c->stun_servers);
  g_assert_null (c->identity_file);
  g_assert_cmpuint (c->max_connections, ==, 64);
  g_assert_cmpint (c->relay_policy, ==, P2P_RELAY_POLICY_ALL);
  g_assert_cmpuint (c->idle_timeout_ms, ==, 30000);
  g_assert_cmpuint (c->keepalive_ms, ==, 500);
  g_assert_null (c->allowed_peers);
  g_assert_null (c->ice_addresses);
  g_assert_cmpuint (c->sim_latency_ms, ==, 0);
  g_assert_cmpuint (c->sim_jitter_ms, ==, 0);
  g_assert_cmpfloat (c->sim_packet_loss, ==, 0.0);
  g_assert_cmpuint (c->sim_bandwidth_kbps, ==, 0);
  g_assert_cmpfloat (c->sim_failure_rate, ==, 0.0);
  g_assert_cmpuint (c->sim_seed, ==, 1);
}

static void
test_defaults (void)
{
  g_autoptr (P2pConfig) a = p2p_config_new ();
  g_autoptr (P2pConfig) b = p2p_config_new_from_environ (NULL, NULL);
  const char *envp[] = { "HOME=/x", "P2P_LISTEN_PORT=", "P2P_BOOTSTRAP_PEERS=", NULL };
  g_autoptr (P2pConfig) c = p2p_config_new_from_environ (envp, NULL);

  assert_defaults (a);
  assert_defaults (b);
  assert_defaults (c); /* empty values count as unset */
}

static void
test_from_env (void)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pConfig) c = NULL;

  g_setenv ("P2P_LISTEN_PORT", "4242", TRUE);
  c = p2p_config_new_from_env (&err);
  g_unsetenv ("P2P_LISTEN_PORT");
  g_assert_no_error (err);
  g_assert_cmpuint (c->listen_port, ==, 4242);
}

static void
test_boxed_copy (void)
{
  const char *envp[] = {
    "P2P_BOOTSTRAP_PEERS=ws://a:1,wss://b/x",
    "P2P_RELAY_SERVERS=turn://u:p@r:3478",
    "P2P_STUN_SERVERS=s:3478",
    "P2P_IDENTITY_FILE=/tmp/k",
    "P2P_ICE_ADDRESSES=127.0.0.1",
    NULL
  };
  g_autoptr (P2pConfig) c = p2p_config_new_from_environ (envp, NULL);
  g_autoptr (P2pConfig) d = NULL;
  GValue v = G_VALUE_INIT;

  g_assert_nonnull (c);
  g_assert_true (G_TYPE_IS_BOXED (P2P_TYPE_CONFIG));
  d = p2p_config_copy (c);
  g_assert_true (d->bootstrap_peers != c->bootstrap_peers);
  g_assert_cmpstrv (d->bootstrap_peers, c->bootstrap_peers);
  g_assert_cmpstrv (d->relay_servers, c->relay_servers);
  g_assert_cmpstrv (d->stun_servers, c->stun_servers);
  g_assert_true (d->ice_addresses != c->ice_addresses);
  g_assert_cmpstrv (d->ice_addresses, c->ice_addresses);
  g_assert_cmpstr (d->identity_file, ==, "/tmp/k");
  g_assert_true (d->identity_file != c->identity_file);

  g_value_init (&v, P2P_TYPE_CONFIG);
  g_value_set_boxed (&v, c);
  g_assert_cmpstr (((P2pConfig *) g_value_get_boxed (&v))->stun_servers[0], ==, "s:3478");
  g_value_unset (&v);
  p2p_config_free (NULL);
}

static void
test_implementation (void)
{
  g_autoptr (P2pConfig) a = good ("P2P_IMPLEMENTATION", "sim");
  g_autoptr (P2pConfig) b = good ("P2P_IMPLEMENTATION", "quic");

  g_assert_cmpint (a->implementation, ==, P2P_IMPLEMENTATION_SIM);
  g_assert_cmpint (b->implementation, ==, P2P_IMPLEMENTATION_QUIC);
  assert_bad ("P2P_IMPLEMENTATION", "tcp", "P2P_IMPLEMENTATION=tcp: expected quic or sim");
  assert_bad ("P2P_IMPLEMENTATION", "QUIC", "P2P_IMPLEMENTATION=QUIC: expected quic or sim");
}

static void
test_relay_policy (void)
{
  g_autoptr (P2pConfig) a = good ("P2P_RELAY_POLICY", "relay-only");
  g_autoptr (P2pConfig) b = good ("P2P_RELAY_POLICY", "all");

  g_assert_cmpint (a->relay_policy, ==, P2P_RELAY_POLICY_RELAY_ONLY);
  g_assert_cmpint (b->relay_policy, ==, P2P_RELAY_POLICY_ALL);
  assert_bad ("P2P_RELAY_POLICY", "relay", "P2P_RELAY_POLICY=relay: expected all or relay-only");
}

static void
test_congestion_control_and_mdns (void)
{
  static const struct { const char *v; P2pCongestionControl cc; } ok[] = {
    { "cubic", P2P_CONGESTION_CONTROL_CUBIC }, { "reno", P2P_CONGESTION_CONTROL_RENO },
    { "bbr", P2P_CONGESTION_CONTROL_BBR }, { "bbr2", P2P_CONGESTION_CONTROL_BBR2 },
  };
  g_autoptr (P2pConfig) d = p2p_config_new ();
  g_autoptr (P2pConfig) off = good ("P2P_MDNS", "0");

  g_assert_cmpint (d->congestion_control, ==, P2P_CONGESTION_CONTROL_BBR2);
  g_assert_true (d->mdns);
  g_assert_false (off->mdns);
  for (guint i = 0; i < G_N_ELEMENTS (ok); i++) {
    g_autoptr (P2pConfig) c = good ("P2P_CONGESTION_CONTROL", ok[i].v);

    g_assert_cmpint (c->congestion_control, ==, ok[i].cc);
  }
  assert_bad ("P2P_CONGESTION_CONTROL", "BBR",
      "P2P_CONGESTION_CONTROL=BBR: expected cubic, reno, bbr or bbr2");
  assert_bad ("P2P_MDNS", "yes", "P2P_MDNS=yes: expected an integer 0..1");
}

/* Integer variables: bounds inclusive, everything else rejected. */
static void
test_integers (void)
{
  struct {
    const char *var;
    gsize offset;
    guint64 min, max;
  } vars[] = {
    { "P2P_LISTEN_PORT", G_STRUCT_OFFSET (P2pConfig, listen_port), 0, 65535 },
    { "P2P_MAX_CONNECTIONS", G_STRUCT_OFFSET (P2pConfig, max_connections), 1, 65535 },
    { "P2P_IDLE_TIMEOUT_MS", G_STRUCT_OFFSET (P2pConfig, idle_timeout_ms), 100, 3600000 },
    { "P2P_KEEPALIVE_MS", G_STRUCT_OFFSET (P2pConfig, keepalive_ms), 0, 3600000 },
    { "P2P_ICE_RESTART_MS", G_STRUCT_OFFSET (P2pConfig, ice_restart_ms), 0, 600000 },
    { "P2P_ICE_RESTART_ATTEMPTS", G_STRUCT_OFFSET (P2pConfig, ice_restart_attempts), 1, 100 },
    { "P2P_FIND_TIMEOUT_MS", G_STRUCT_OFFSET (P2pConfig, find_timeout_ms), 100, 600000 },
    { "SIMULATOR_P2P_LATENCY_MS", G_STRUCT_OFFSET (P2pConfig, sim_latency_ms), 0, 600000 },
    { "SIMULATOR_P2P_JITTER_MS", G_STRUCT_OFFSET (P2pConfig, sim_jitter_ms), 0, 600000 },
    { "SIMULATOR_P2P_BANDWIDTH_KBPS", G_STRUCT_OFFSET (P2pConfig, sim_bandwidth_kbps), 0, 10000000 },
  };
  const char *bad_values[] = { "abc", "-1", "+5", " 5", "5 ", "0x10", "1.5", "1e3",
    "99999999999999999999999" };

  for (guint i = 0; i < G_N_ELEMENTS (vars); i++) {
    guint64 bounds[] = { vars[i].min, vars[i].max, (vars[i].min + vars[i].max) / 2 };
    g_autofree char *expected_tail = g_strdup_printf ("expected an integer %" G_GUINT64_FORMAT
        "..%" G_GUINT64_FORMAT, vars[i].min, vars[i].max);
    g_autofree char *above = g_strdup_printf ("%" G_GUINT64_FORMAT, vars[i].max + 1);
    g_autofree char *above_msg = g_strdup_printf ("%s=%s: %s", vars[i].var, above, expected_tail);

    for (guint b = 0; b < G_N_ELEMENTS (bounds); b++) {
      g_autofree char *value = g_strdup_printf ("%" G_GUINT64_FORMAT, bounds[b]);
      g_autoptr (P2pConfig) c = good (vars[i].var, value);

      g_assert_cmpuint (G_STRUCT_MEMBER (guint, c, vars[i].offset), ==, bounds[b]);
    }
    assert_bad (vars[i].var, above, above_msg);
    if (vars[i].min > 0) {
      g_autofree char *below = g_strdup_printf ("%" G_GUINT64_FORMAT, vars[i].min - 1);
      g_autofree char *below_msg = g_strdup_printf ("%s=%s: %s", vars[i].var, below, expected_tail);

      assert_bad (vars[i].var, below, below_msg);
    }
    for (guint b = 0; b < G_N_ELEMENTS (bad_values); b++) {
      g_autofree char *msg = g_strdup_printf ("%s=%s: %s", vars[i].var, bad_values[b], expected_tail);

      assert_bad (vars[i].var, bad_values[b], msg);
    }
  }
  /* the message quoted in p2p-config.h */
  assert_bad ("P2P_LISTEN_PORT", "abc", "P2P_LISTEN_PORT=abc: expected an integer 0..65535");
}

static void
test_seed (void)
{
  g_autoptr (P2pConfig) a = good ("SIMULATOR_P2P_SEED", "0");
  g_autoptr (P2pConfig) b = good ("SIMULATOR_P2P_SEED", "18446744073709551615");

  g_assert_cmpuint (a->sim_seed, ==, 0);
  g_assert_cmpuint (b->sim_seed, ==, G_MAXUINT64);
  assert_bad ("SIMULATOR_P2P_SEED", "18446744073709551616",
      "SIMULATOR_P2P_SEED=18446744073709551616: expected an integer 0..18446744073709551615");
  assert_bad ("SIMULATOR_P2P_SEED", "-1",
      "SIMULATOR_P2P_SEED=-1: expected an integer 0..18446744073709551615");
}

static void
test_fractions (void)
{
  const char *vars[] = { "SIMULATOR_P2P_PACKET_LOSS", "SIMULATOR_P2P_FAILURE_RATE" };
  const char *bad_values[] = { "abc", "-0.1", "1.01", "0.5x", " 0.5", "nan", "inf", "1e309", "." };
  struct {
    const char *text;
    double value;
  } goods[] = { { "0", 0.0 }, { "1", 1.0 }, { "0.25", 0.25 }, { "1e-2", 0.01 }, { ".5", 0.5 } };

  for (guint i = 0; i < G_N_ELEMENTS (vars); i++) {
    for (guint g = 0; g < G_N_ELEMENTS (goods); g++) {
      g_autoptr (P2pConfig) c = good (vars[i], goods[g].text);
      double v = i == 0 ? c->sim_packet_loss : c->sim_failure_rate;

      g_assert_cmpfloat_with_epsilon (v, goods[g].value, 1e-12);
    }
    for (guint b = 0; b < G_N_ELEMENTS (bad_values); b++) {
      g_autofree char *msg = g_strdup_printf ("%s=%s: expected a number 0.0..1.0", vars[i], bad_values[b]);

      assert_bad (vars[i], bad_values[b], msg);
    }
  }
}

static void
test_identity_file (void)
{
  g_autoptr (P2pConfig) c = good ("P2P_IDENTITY_FILE", "/some/where/id.key");

  g_assert_cmpstr (c->identity_file, ==, "/some/where/id.key");
}

static void
test_bootstrap (void)
{
  g_autoptr (P2pConfig) c = good ("P2P_BOOTSTRAP_PEERS",
      "ws://rv.example:8080/ws, wss://[::1]/x ,wss://10.0.0.1");
  const char *const expected[] = { "ws://rv.example:8080/ws", "wss://[::1]/x", "wss://10.0.0.1", NULL };

  g_assert_cmpstrv (c->bootstrap_peers, expected);
  assert_bad ("P2P_BOOTSTRAP_PEERS", "http://x",
      "P2P_BOOTSTRAP_PEERS: 'http://x' has scheme 'http'; expected ws://, wss:// or dht://");
  assert_bad ("P2P_BOOTSTRAP_PEERS", "rv.example:80",
      "P2P_BOOTSTRAP_PEERS: 'rv.example:80' has scheme 'rv.example'; expected ws://, wss:// or dht://");
  assert_bad ("P2P_BOOTSTRAP_PEERS", "no url",
      "P2P_BOOTSTRAP_PEERS: 'no url' is not a URL; expected ws://HOST[:PORT][/PATH], wss://... or "
      "dht://HOST[:PORT]");
  assert_bad ("P2P_BOOTSTRAP_PEERS", "ws://a,,ws://b",
      "P2P_BOOTSTRAP_PEERS=ws://a,,ws://b: entry 2 is empty; expected a comma-separated list "
      "without empty entries");
  assert_bad ("P2P_BOOTSTRAP_PEERS", "ws://a,",
      "P2P_BOOTSTRAP_PEERS=ws://a,: entry 2 is empty; expected a comma-separated list "
      "without empty entries");
  assert_bad ("P2P_BOOTSTRAP_PEERS", "ws:///path", "P2P_BOOTSTRAP_PEERS: 'ws:///path' has no host");
  assert_bad ("P2P_BOOTSTRAP_PEERS", "ws://a_b/",
      "P2P_BOOTSTRAP_PEERS: 'ws://a_b/': bad address 'a_b:443': host name: character 2 ('_') "
      "is not allowed (letters, digits, '-' and '.')");
}

/* dht:// entries: DHT bootstrap nodes, beside the rendezvous URLs */
static void
test_bootstrap_dht (void)
{
  g_autoptr (P2pConfig) c = good ("P2P_BOOTSTRAP_PEERS",
      "dht://127.0.0.1:4300,ws://rv.example:8080/ws,dht://[::1]:4301,dht://node.example,"
      "wss://10.0.0.1");
  const char *const dht[] = { "127.0.0.1:4300", "[::1]:4301", "node.example:4222", NULL };
  g_auto (GStrv) got = p2p_config_dup_dht_bootstrap (c);
  g_autoptr (P2pConfig) only_dht = good ("P2P_BOOTSTRAP_PEERS", "dht://127.0.0.1:4300/");
  g_auto (GStrv) none = NULL;
  g_autoptr (P2pConfig) empty = p2p_config_new ();

  const char *const rendezvous[] = { "ws://rv.example:8080/ws", "wss://10.0.0.1", NULL };
  g_auto (GStrv) rv = p2p_config_dup_rendezvous_urls (c);
  g_auto (GStrv) rv_none = p2p_config_dup_rendezvous_urls (only_dht);

  g_assert_cmpuint (g_strv_length (c->bootstrap_peers), ==, 5);
  g_assert_cmpstrv (got, dht);
  /* the rendezvous servers are the ws:// and wss:// entries, never a DHT node */
  g_assert_cmpstrv (rv, rendezvous);
  g_assert_true (p2p_config_has_rendezvous (c));
  g_assert_null (rv_none[0]);
  g_assert_false (p2p_config_has_rendezvous (only_dht));
  g_strfreev (got);
  got = p2p_config_dup_dht_bootstrap (only_dht);
  g_assert_cmpstr (got[0], ==, "127.0.0.1:4300");
  g_assert_null (got[1]);
  /* none configured: an empty array, no rendezvous */
  none = p2p_config_dup_dht_bootstrap (empty);
  g_assert_nonnull (none);
  g_assert_null (none[0]);
  g_assert_false (p2p_config_has_rendezvous (empty));

  assert_bad ("P2P_BOOTSTRAP_PEERS", "dht://",
      "P2P_BOOTSTRAP_PEERS: 'dht://' has no host");
  assert_bad ("P2P_BOOTSTRAP_PEERS", "dht://h:4222/path",
      "P2P_BOOTSTRAP_PEERS: 'dht://h:4222/path': a DHT bootstrap node is dht://HOST[:PORT], "
      "without user, path or query");
  assert_bad ("P2P_BOOTSTRAP_PEERS", "dht://u@h:4222",
      "P2P_BOOTSTRAP_PEERS: 'dht://u@h:4222': a DHT bootstrap node is dht://HOST[:PORT], "
      "without user, path or query");
  assert_bad ("P2P_BOOTSTRAP_PEERS", "dht://h_1:4222",
      "P2P_BOOTSTRAP_PEERS: 'dht://h_1:4222': bad address 'h_1:4222': host name: character 2 "
      "('_') is not allowed (letters, digits, '-' and '.')");
}

static void
test_list_limit (void)
{
  GString *s = g_string_new ("s:1");
  g_autofree char *value = NULL;
  g_autofree char *msg = NULL;

  for (guint i = 1; i < 65; i++)
    g_string_append (s, ",s:1");
  value = g_string_free (s, FALSE);
  msg = g_strdup_printf ("P2P_STUN_SERVERS: 65 entries; at most 64 are allowed");
  assert_bad ("P2P_STUN_SERVERS", value, msg);
}

static void
test_relays (void)
{
  g_autoptr (P2pConfig) c = good ("P2P_RELAY_SERVERS",
      "turn://user:pass@relay.example:3478,turn://u:p%40ss@[2001:db8::2]:5349?transport=tcp");
  const char *const expected[] = { "turn://user:pass@relay.example:3478",
    "turn://u:p%40ss@[2001:db8::2]:5349?transport=tcp", NULL };
  g_autoptr (P2pConfig) d = good ("P2P_RELAY_SERVERS", "turn://u:p@1.2.3.4:3478/?transport=udp");

  g_assert_cmpstrv (c->relay_servers, expected);
  g_assert_nonnull (d);
  assert_bad ("P2P_RELAY_SERVERS", "stun://u:p@h:1",
      "P2P_RELAY_SERVERS: 'stun://u:***@h:1' has scheme 'stun'; expected turn://");
  /* accepted here and refused by the ICE path before (issue 18): refused
   * at once, saying why and what to use */
  assert_bad ("P2P_RELAY_SERVERS", "turns://u:p@h:5349",
      "P2P_RELAY_SERVERS: 'turns://u:***@h:5349': turns:// (TURN over TLS) is not supported "
      "(libnice has no TLS for TURN); use turn://USER:PASS@HOST:PORT?transport=tcp to reach a "
      "TURN server over TCP (the media is encrypted end to end by QUIC either way)");
  assert_bad ("P2P_RELAY_SERVERS", "turn://h:3478",
      "P2P_RELAY_SERVERS: 'turn://h:3478' has no user name and password; expected turn://USER:PASS@HOST:PORT");
  assert_bad ("P2P_RELAY_SERVERS", "turn://u@h:3478",
      "P2P_RELAY_SERVERS: 'turn://u@h:3478' has no user name and password; expected turn://USER:PASS@HOST:PORT");
  assert_bad ("P2P_RELAY_SERVERS", "turn://u:@h:3478",
      "P2P_RELAY_SERVERS: 'turn://u:***@h:3478' has no user name and password; expected turn://USER:PASS@HOST:PORT");
  assert_bad ("P2P_RELAY_SERVERS", "turn://u:p@h",
      "P2P_RELAY_SERVERS: 'turn://u:***@h' has no port; expected turn://USER:PASS@HOST:PORT (e.g. port 3478)");
  assert_bad ("P2P_RELAY_SERVERS", "turn://u:p@h:1/path",
      "P2P_RELAY_SERVERS: 'turn://u:***@h:1/path' has a path; expected turn://USER:PASS@HOST:PORT[?transport=udp|tcp]");
  assert_bad ("P2P_RELAY_SERVERS", "turn://u:p@h:1?transport=sctp",
      "P2P_RELAY_SERVERS: 'turn://u:***@h:1?transport=sctp' has query 'transport=sctp'; only "
      "?transport=udp or ?transport=tcp is accepted");
  assert_bad ("P2P_RELAY_SERVERS", "turn://u:p@h:1#frag",
      "P2P_RELAY_SERVERS: 'turn://u:***@h:1#frag' has a #fragment; remove it");
  assert_bad ("P2P_RELAY_SERVERS", "turn://u:p@h:99999",
      "P2P_RELAY_SERVERS: 'turn://u:***@h:99999' is not a URL; expected turn://USER:PASS@HOST:PORT");
  assert_bad ("P2P_RELAY_SERVERS", "turn://u:p@:1",
      "P2P_RELAY_SERVERS: 'turn://u:***@:1' has no host");
}

/* @envp gives an error whose text is @message and never holds "s3cret". */
static void
assert_bad_env (const char *const *envp, const char *message)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pConfig) c = p2p_config_new_from_environ (envp, &err);

  g_assert_null (c);
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (err->message, ==, message);
  g_assert_null (strstr (err->message, "s3cret"));
}

static void
assert_relays_env (const char *const *envp, const char *const *expected)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pConfig) c = p2p_config_new_from_environ (envp, &err);

  g_assert_no_error (err);
  g_assert_cmpstrv (c->relay_servers, expected);
}

/* The architecture's form (issue 18): a bare HOST or HOST:PORT with the
 * credentials apart, in P2P_RELAY_USERNAME/P2P_RELAY_PASSWORD. */
static void
test_relay_bare_hosts (void)
{
  const char *envp[] = { "P2P_RELAY_SERVERS=relay1.example.com, relay2.example.com:5349,"
    "[2001:db8::7],[2001:db8::8]:3479,turn://relay3.example.com:3478?transport=tcp,"
    "turn://own:pw@relay4.example.com:3478",
    "P2P_RELAY_USERNAME=alice@example.com", "P2P_RELAY_PASSWORD=s3cret:/@%", NULL };
  const char *const expected[] = {
    "turn://alice%40example.com:s3cret%3A%2F%40%25@relay1.example.com:3478",
    "turn://alice%40example.com:s3cret%3A%2F%40%25@relay2.example.com:5349",
    "turn://alice%40example.com:s3cret%3A%2F%40%25@[2001:db8::7]:3478",
    "turn://alice%40example.com:s3cret%3A%2F%40%25@[2001:db8::8]:3479",
    /* a URL without credentials gets them; one with its own keeps them */
    "turn://alice%40example.com:s3cret%3A%2F%40%25@relay3.example.com:3478?transport=tcp",
    "turn://own:pw@relay4.example.com:3478", NULL };
  const char *no_creds[] = { "P2P_RELAY_SERVERS=relay1.example.com", NULL };
  const char *half[] = { "P2P_RELAY_SERVERS=relay1.example.com", "P2P_RELAY_USERNAME=alice",
    NULL };
  const char *half2[] = { "P2P_RELAY_PASSWORD=s3cret", NULL };
  const char *bad_port[] = { "P2P_RELAY_SERVERS=relay1.example.com:0",
    "P2P_RELAY_USERNAME=alice", "P2P_RELAY_PASSWORD=s3cret", NULL };
  const char *bad_v6[] = { "P2P_RELAY_SERVERS=2001:db8::7", "P2P_RELAY_USERNAME=alice",
    "P2P_RELAY_PASSWORD=s3cret", NULL };
  const char *bad_url[] = { "P2P_RELAY_SERVERS=turn://relay.example.com",
    "P2P_RELAY_USERNAME=alice", "P2P_RELAY_PASSWORD=s3cret", NULL };
  g_autofree char *user = NULL, *pass = NULL, *host = NULL;
  guint16 port = 0;
  gboolean tcp = TRUE;
  g_autoptr (GError) err = NULL;

  assert_relays_env (envp, expected);
  /* the ICE path reads back exactly the credentials given */
  g_assert_true (p2p_ice_parse_turn_url (expected[0], &user, &pass, &host, &port, &tcp, &err));
  g_assert_no_error (err);
  g_assert_cmpstr (user, ==, "alice@example.com");
  g_assert_cmpstr (pass, ==, "s3cret:/@%");
  g_assert_cmpstr (host, ==, "relay1.example.com");
  g_assert_cmpuint (port, ==, 3478);
  g_assert_false (tcp);

  assert_bad_env (no_creds, "P2P_RELAY_SERVERS: 'relay1.example.com' has no credentials: set "
      "P2P_RELAY_USERNAME and P2P_RELAY_PASSWORD (or P2P_RELAY_CREDENTIALS_FILE), or write "
      "turn://USER:PASS@HOST:PORT (a STUN server goes in P2P_STUN_SERVERS)");
  assert_bad_env (half, "P2P_RELAY_USERNAME is set but P2P_RELAY_PASSWORD is not; a TURN "
      "server needs both");
  assert_bad_env (half2, "P2P_RELAY_PASSWORD is set but P2P_RELAY_USERNAME is not; a TURN "
      "server needs both");
  assert_bad_env (bad_port, "P2P_RELAY_SERVERS: port '0' in "
      "'relay1.example.com:0' is not a number 1..65535; expected HOST[:PORT] or turn://USER:PASS@HOST:PORT");
  assert_bad_env (bad_v6, "P2P_RELAY_SERVERS: '2001:db8::7': an IPv6 address must be written "
      "in brackets, e.g. [::1]:8800; expected HOST[:PORT] or turn://USER:PASS@HOST:PORT");
  assert_bad ("P2P_RELAY_SERVERS", "alice:s3cret@relay.example.com:3478",
      "P2P_RELAY_SERVERS: '***@relay.example.com:3478' holds credentials but is not a turn:// "
      "URL; write turn://USER:PASS@HOST:PORT");
  assert_bad_env (bad_url, "P2P_RELAY_SERVERS: 'turn://alice:***@relay.example.com' has no "
      "port; expected turn://USER:PASS@HOST:PORT (e.g. port 3478)");
}

/* P2P_RELAY_CREDENTIALS_FILE: two lines, private to the user. */
static void
test_relay_credentials_file (void)
{
  g_autoptr (GError) err = NULL;
  g_autofree char *dir = g_dir_make_tmp ("p2p-cred-XXXXXX", &err);
  g_autofree char *path = g_build_filename (dir, "turn", NULL);
  g_autofree char *var = g_strdup_printf ("P2P_RELAY_CREDENTIALS_FILE=%s", path);
  g_autofree char *msg = NULL;
  const char *envp[] = { "P2P_RELAY_SERVERS=relay1.example.com", var, NULL };
  const char *both[] = { "P2P_RELAY_SERVERS=relay1.example.com", var,
    "P2P_RELAY_USERNAME=alice", "P2P_RELAY_PASSWORD=s3cret", NULL };
  const char *const expected[] = { "turn://1700000000%3Aalice:s3cret@relay1.example.com:3478",
    NULL };

  g_assert_no_error (err);
  msg = g_strdup_printf ("P2P_RELAY_CREDENTIALS_FILE=%s: not a readable regular file", path);
  assert_bad_env (envp, msg);
  /* a coturn REST user name holds a colon: lines, not USER:PASS */
  g_assert_true (g_file_set_contents (path, "1700000000:alice\r\ns3cret\n", -1, NULL));
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  g_free (msg);
  msg = g_strdup_printf ("P2P_RELAY_CREDENTIALS_FILE=%s: the file holds a password and is "
      "readable by others (mode 0644); run chmod 600 %s", path, path);
  assert_bad_env (envp, msg);
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  assert_relays_env (envp, expected);
  assert_bad_env (both, "P2P_RELAY_CREDENTIALS_FILE and P2P_RELAY_USERNAME/P2P_RELAY_PASSWORD "
      "are both set; use one of them");
  g_assert_true (g_file_set_contents (path, "alice s3cret\n", -1, NULL));
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  g_free (msg);
  msg = g_strdup_printf ("P2P_RELAY_CREDENTIALS_FILE=%s: expected two non-empty UTF-8 lines, "
      "the TURN user name then the password", path);
  assert_bad_env (envp, msg);
  g_assert_true (g_file_set_contents (path, "alice\n\n", -1, NULL));
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  assert_bad_env (envp, msg);
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_stun (void)
{
  g_autoptr (P2pConfig) c = good ("P2P_STUN_SERVERS", "stun.example:3478,[::1]:19302");
  const char *const expected[] = { "stun.example:3478", "[::1]:19302", NULL };

  g_assert_cmpstrv (c->stun_servers, expected);
  assert_bad ("P2P_STUN_SERVERS", "stun.example",
      "P2P_STUN_SERVERS: missing port in 'stun.example'; expected HOST:PORT");
  assert_bad ("P2P_STUN_SERVERS", "h:1,,h:2",
      "P2P_STUN_SERVERS=h:1,,h:2: entry 2 is empty; expected a comma-separated list without empty entries");
  assert_bad ("P2P_STUN_SERVERS", "stun:h:1",
      "P2P_STUN_SERVERS: 'stun:h:1': an IPv6 address must be written in brackets, e.g. [::1]:8800");
}

/* P2P_ICE_ADDRESSES: IP addresses only, as libnice binds to them */
static void
test_ice_addresses (void)
{
  g_autoptr (P2pConfig) c = good ("P2P_ICE_ADDRESSES", " 127.0.0.1 ,fd00::2");
  const char *const expected[] = { "127.0.0.1", "fd00::2", NULL };

  g_assert_cmpstrv (c->ice_addresses, expected);
  assert_bad ("P2P_ICE_ADDRESSES", "localhost",
      "P2P_ICE_ADDRESSES: \"localhost\" is not an IP address; expected local addresses such as "
      "192.168.1.20 or fd00::2 (no host names, no ports)");
  assert_bad ("P2P_ICE_ADDRESSES", "10.0.0.1:5000",
      "P2P_ICE_ADDRESSES: \"10.0.0.1:5000\" is not an IP address; expected local addresses "
      "such as 192.168.1.20 or fd00::2 (no host names, no ports)");
  assert_bad ("P2P_ICE_ADDRESSES", "10.0.0.1,",
      "P2P_ICE_ADDRESSES=10.0.0.1,: entry 2 is empty; expected a comma-separated list without "
      "empty entries");
}

static void
test_first_error_wins (void)
{
  const char *envp[] = { "P2P_LISTEN_PORT=1", "P2P_MAX_CONNECTIONS=0", "SIMULATOR_P2P_SEED=x", NULL };
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pConfig) c = p2p_config_new_from_environ (envp, &err);

  g_assert_null (c);
  g_assert_cmpstr (err->message, ==, "P2P_MAX_CONNECTIONS=0: expected an integer 1..65535");
}

/* Issue 11: an allow-list of only separators must not mean "anyone"; an
 * invalid entry is named. Same rules for P2P_ALLOWED_PEERS and for
 * p2p_config_set_allowed_peers() (the elements' allowed-peers). */
static void
test_allowed_peers (void)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autofree char *ida = p2p_identity_dup_peer_id_string (a);
  g_autofree char *idb = p2p_identity_dup_peer_id_string (b);
  g_autofree char *two = g_strdup_printf (" %s , %s ", ida, idb);
  g_autofree char *with_bad = g_strdup_printf ("%s,nonsense", ida);
  g_autofree char *with_empty = g_strdup_printf ("%s,,%s", ida, idb);
  g_autoptr (P2pConfig) c = good ("P2P_ALLOWED_PEERS", two);
  g_autoptr (P2pConfig) copy = NULL;
  g_autoptr (P2pConfig) d = p2p_config_new ();
  g_autoptr (GError) err = NULL;
  const char *const only_separators[] = { " , ", ",", "   ", " ,\t, " };

  g_assert_cmpuint (g_strv_length (c->allowed_peers), ==, 2);
  g_assert_cmpstr (c->allowed_peers[0], ==, ida);
  g_assert_cmpstr (c->allowed_peers[1], ==, idb);
  copy = p2p_config_copy (c);
  g_assert_true (copy->allowed_peers != c->allowed_peers);
  g_assert_cmpstr (copy->allowed_peers[1], ==, idb);

  for (guint i = 0; i < G_N_ELEMENTS (only_separators); i++) {
    g_autofree char *msg = g_strdup_printf ("P2P_ALLOWED_PEERS=\"%s\" names no peer ID; "
        "expected comma-separated peer IDs (leave it unset to allow anyone)",
        only_separators[i]);

    assert_bad ("P2P_ALLOWED_PEERS", only_separators[i], msg);
    g_assert_false (p2p_config_set_allowed_peers (d, only_separators[i], &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
    g_assert_true (g_str_has_prefix (err->message, "allowed-peers=\""));
    g_assert_nonnull (strstr (err->message, "names no peer ID"));
    g_clear_error (&err);
  }
  {
    g_autoptr (P2pConfig) bad = config_from ("P2P_ALLOWED_PEERS", with_bad, &err);

    g_assert_null (bad);
    g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
    g_assert_true (g_str_has_prefix (err->message,
        "Invalid peer ID \"nonsense\" in P2P_ALLOWED_PEERS: "));
    g_clear_error (&err);
  }
  {
    g_autofree char *msg = g_strdup_printf ("P2P_ALLOWED_PEERS=%s: entry 2 is empty; "
        "expected a comma-separated list without empty entries", with_empty);

    assert_bad ("P2P_ALLOWED_PEERS", with_empty, msg);
  }

  /* The setter: same rules, errors name the property, @config unchanged. */
  g_assert_true (p2p_config_set_allowed_peers (d, idb, &err));
  g_assert_no_error (err);
  g_assert_cmpuint (g_strv_length (d->allowed_peers), ==, 1);
  g_assert_false (p2p_config_set_allowed_peers (d, with_bad, &err));
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (err->message,
      "Invalid peer ID \"nonsense\" in allowed-peers: "));
  g_clear_error (&err);
  g_assert_cmpuint (g_strv_length (d->allowed_peers), ==, 1);
  g_assert_cmpstr (d->allowed_peers[0], ==, idb);
  /* NULL and "" clear the list: anyone. */
  g_assert_true (p2p_config_set_allowed_peers (d, "", &err));
  g_assert_null (d->allowed_peers);
  g_assert_true (p2p_config_set_allowed_peers (d, two, &err));
  g_assert_cmpuint (g_strv_length (d->allowed_peers), ==, 2);
  g_assert_true (p2p_config_set_allowed_peers (d, NULL, &err));
  g_assert_null (d->allowed_peers);
  g_assert_no_error (err);
}

/* the listen address of a bind address and a port: bracketed IPv6, the
 * config's port when the port is -1, NULL only for the full default */
static void
test_listen_address (void)
{
  g_autoptr (P2pConfig) c = p2p_config_new ();
  g_autofree char *v4 = NULL, *v4_default = NULL, *v6 = NULL, *any = NULL;
  g_autofree char *none = NULL, *empty = NULL;

  c->listen_port = 9911;
  v4 = p2p_config_listen_address (c, "127.0.0.1", 0);
  g_assert_cmpstr (v4, ==, "127.0.0.1:0");
  v4_default = p2p_config_listen_address (c, "127.0.0.1", -1);
  g_assert_cmpstr (v4_default, ==, "127.0.0.1:9911");
  v6 = p2p_config_listen_address (c, "::1", 4433);
  g_assert_cmpstr (v6, ==, "[::1]:4433");
  any = p2p_config_listen_address (c, NULL, 5000);
  g_assert_cmpstr (any, ==, ":5000");
  none = p2p_config_listen_address (c, NULL, -1);
  g_assert_null (none);
  empty = p2p_config_listen_address (c, "", -1);
  g_assert_null (empty);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/from-env", test_from_env);
  g_test_add_func ("/config/boxed-copy", test_boxed_copy);
  g_test_add_func ("/config/implementation", test_implementation);
  g_test_add_func ("/config/relay-policy", test_relay_policy);
  g_test_add_func ("/config/congestion-control-and-mdns", test_congestion_control_and_mdns);
  g_test_add_func ("/config/integers", test_integers);
  g_test_add_func ("/config/seed", test_seed);
  g_test_add_func ("/config/fractions", test_fractions);
  g_test_add_func ("/config/identity-file", test_identity_file);
  g_test_add_func ("/config/bootstrap", test_bootstrap);
  g_test_add_func ("/config/bootstrap-dht", test_bootstrap_dht);
  g_test_add_func ("/config/list-limit", test_list_limit);
  g_test_add_func ("/config/relays", test_relays);
  g_test_add_func ("/config/relay-bare-hosts", test_relay_bare_hosts);
  g_test_add_func ("/config/relay-credentials-file", test_relay_credentials_file);
  g_test_add_func ("/config/stun", test_stun);
  g_test_add_func ("/config/ice-addresses", test_ice_addresses);
  g_test_add_func ("/config/first-error-wins", test_first_error_wins);
  g_test_add_func ("/config/listen-address", test_listen_address);
  g_test_add_func ("/security/allowed-peers-only-separators", test_allowed_peers);
  return g_test_run ();
}
