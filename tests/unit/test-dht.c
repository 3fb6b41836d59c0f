/* test-dht.c: discovery over OpenDHT (lib/discovery/p2p-dht.c) between
 * three nodes of this process on 127.0.0.1: a bootstrap node, a listener
 * A that announces its record and a dialer B that looks A up. The test
 * runs in a network namespace of its own (only its loopback: OpenDHT's C
 * binding binds every interface) when it may create one, else on the
 * host's loopback (the nodes only ever send to 127.0.0.1: they know no
 * other node, OpenDHT has no default bootstrap and its LAN multicast
 * discovery is off). Every wait is bounded.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>
#include <p2p/p2p.h>
#include "p2p-discovery-record.h"
#include "p2p-dht.h"
#include "p2p-dht-signal.h"
#include "p2p-ice-connect.h"
#include "p2p-quic-provider-private.h"

/* documentation addresses: announced, never dialled */
static const char *const ADDRS[] = { "192.0.2.7:8800", "[2001:db8::1]:8801", NULL };
static const char *const FORGED_ADDRS[] = { "203.0.113.66:9000", NULL };

/* A found record must arrive within this (measured: well under a second
 * on loopback); a lookup that must find nothing is given this long. */
#define FIND_LIMIT_S 20
#define NOTHING_LIMIT_S 4

static gboolean own_netns;
/* ICE gathers on non-loopback interfaces only: a veth pair of the test's
 * namespace (198.19.9.1 and .2) gives it two */
static gboolean have_ice_interfaces;

static gint64
now_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

/* A network namespace of this process with only its loopback, brought up
 * here (no ip(8) needed). */
static gboolean
enter_private_netns (void)
{
  struct ifreq ifr = { 0 };
  int fd;
  gboolean ok;

  if (unshare (CLONE_NEWNET) != 0)
    return FALSE;
  fd = socket (AF_INET, SOCK_DGRAM, 0);
  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (ifr.ifr_name, "lo", sizeof ifr.ifr_name);
  ok = ioctl (fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ioctl (fd, SIOCSIFFLAGS, &ifr) == 0;
  /* in a namespace without a working loopback nothing below could run */
  if (!ok)
    g_error ("cannot bring up the loopback of the test's network namespace: %s",
        g_strerror (errno));
  close (fd);
  return TRUE;
}

/* A veth pair in our namespace for ICE host candidates; FALSE when it
 * cannot be made (ip(8) missing). */
static gboolean
add_ice_interfaces (void)
{
  const char *cmds[] = {
    "ip link add p2pva type veth peer name p2pvb",
    "ip addr add 198.19.9.1/24 dev p2pva",
    "ip addr add 198.19.9.2/24 dev p2pvb",
    "ip link set p2pva up",
    "ip link set p2pvb up",
  };

  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++) {
    gint status = 1;

    if (!g_spawn_command_line_sync (cmds[i], NULL, NULL, &status, NULL) || status != 0)
      return FALSE;
  }
  return TRUE;
}

/* ------------------------------------------------------------ offline */

static void
test_key (void)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autofree char *ka = p2p_dht_key_to_string (p2p_identity_get_peer_id (a));
  g_autofree char *ka2 = p2p_dht_key_to_string (p2p_identity_get_peer_id (a));
  g_autofree char *kb = p2p_dht_key_to_string (p2p_identity_get_peer_id (b));

  g_assert_cmpuint (strlen (ka), ==, 40);
  for (guint i = 0; ka[i]; i++)
    g_assert_true (g_ascii_isxdigit (ka[i]));
  g_assert_cmpstr (ka, ==, ka2);
  g_assert_cmpstr (ka, !=, kb);
  {
    /* SHA-1 of the prefix and the peer ID text (OpenDHT's InfoHash::get) */
    g_autofree char *id = p2p_identity_dup_peer_id_string (a);
    g_autofree char *name = g_strconcat (P2P_DHT_KEY_PREFIX, id, NULL);
    g_autofree char *sha1 = g_compute_checksum_for_string (G_CHECKSUM_SHA1, name, -1);

    g_assert_cmpstr (ka, ==, sha1);
  }
}

static void
test_value (void)
{
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  const P2pPeerId *peer = p2p_identity_get_peer_id (id);
  g_autoptr (P2pDiscoveryRecord) r = p2p_discovery_record_new_signed (id, ADDRS, now_s () + 60);
  g_autoptr (GBytes) v = p2p_dht_encode_record (r);
  g_autoptr (P2pDiscoveryRecord) back = NULL;
  gsize len;
  const guint8 *data = g_bytes_get_data (v, &len);
  g_autofree char *text = g_strndup ((const char *) data, len);
  GError *error = NULL;
  guint8 big[P2P_DHT_VALUE_MAX + 1];

  g_assert_true (g_str_has_prefix (text, "v=1\ne="));
  g_assert_nonnull (strstr (text, "\na=192.0.2.7:8800\na=[2001:db8::1]:8801\ns="));
  g_assert_cmpuint (len, <, 300);
  back = p2p_dht_decode_record (data, len, peer, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (back->addresses, ADDRS);
  g_assert_true (p2p_discovery_record_verify (back, peer, now_s (), &error));
  g_assert_no_error (error);

  /* not records: too big, a NUL, no signature line, garbage */
  memset (big, 'a', sizeof big);
  g_assert_null (p2p_dht_decode_record (big, sizeof big, peer, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (p2p_dht_decode_record ((const guint8 *) "v=1\0e=1", 7, peer, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (p2p_dht_decode_record (data, strstr (text, "\ns=") - text, peer, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "no signature"));
  g_clear_error (&error);
  g_assert_null (p2p_dht_decode_record ((const guint8 *) "hello", 5, peer, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
}

static void
test_bad_arguments (void)
{
  const char *const bad[] = { "127.0.0.1", NULL };
  const char *const bad_port[] = { "127.0.0.1:0", NULL };
  GError *error = NULL;

  g_assert_null (p2p_dht_new (g_main_context_default (), bad, 0, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "DHT bootstrap node '127.0.0.1'"));
  g_clear_error (&error);
  g_assert_null (p2p_dht_new (g_main_context_default (), bad_port, 0, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
}

/* The sealed envelope of DHT signaling: only the recipient opens it,
 * expired / far-future / altered / foreign / oversized values are
 * refused with the documented codes. */
static void
test_signal_envelope (void)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) other = p2p_identity_new ();
  const P2pPeerId *pa = p2p_identity_get_peer_id (a);
  const char *msg = "{\"type\":\"signal\"}";
  gint64 now = 1700000000;
  g_autoptr (GBytes) v = NULL;
  g_autoptr (GBytes) v2 = NULL;
  g_autofree char *big = NULL;
  g_autofree char *ka = p2p_dht_inbox_key_to_string (pa);
  g_autofree char *kr = p2p_dht_key_to_string (pa);
  GError *error = NULL;
  gsize len = 0, size;
  gint64 exp = 0;
  char *out;
  guint8 *copy;

  /* the inbox key: SHA-1 of its prefix and the ID, not the record's key */
  {
    g_autofree char *id = p2p_identity_dup_peer_id_string (a);
    g_autofree char *name = g_strconcat (P2P_DHT_SIGNAL_KEY_PREFIX, id, NULL);
    g_autofree char *sha1 = g_compute_checksum_for_string (G_CHECKSUM_SHA1, name, -1);

    g_assert_cmpstr (ka, ==, sha1);
    g_assert_cmpstr (ka, !=, kr);
  }
  v = p2p_dht_signal_seal (pa, now + 30, msg, strlen (msg), &error);
  g_assert_no_error (error);
  /* sealing overhead only: context line, expiry line, 48 bytes of box */
  g_assert_cmpuint (g_bytes_get_size (v), ==, strlen (P2P_DHT_SIGNAL_CONTEXT "\n")
      + strlen ("1700000030\n") + strlen (msg) + crypto_box_SEALBYTES);
  /* the message is not visible in the value */
  g_assert_null (memmem (g_bytes_get_data (v, NULL), g_bytes_get_size (v), "signal", 6));
  out = p2p_dht_signal_open (a, g_bytes_get_data (v, NULL), g_bytes_get_size (v), now, &len,
      &exp, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (out, ==, msg);
  g_assert_cmpuint (len, ==, strlen (msg));
  g_assert_cmpint (exp, ==, now + 30);
  g_free (out);
  /* two seals of one message differ (fresh ephemeral key) */
  v2 = p2p_dht_signal_seal (pa, now + 30, msg, strlen (msg), &error);
  g_assert_false (g_bytes_equal (v, v2));

  /* another peer cannot open it */
  g_assert_null (p2p_dht_signal_open (other, g_bytes_get_data (v, NULL), g_bytes_get_size (v),
          now, &len, NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_clear_error (&error);
  /* expired, and dated too far ahead */
  g_assert_null (p2p_dht_signal_open (a, g_bytes_get_data (v, NULL), g_bytes_get_size (v),
          now + 31, &len, NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "expired"));
  g_clear_error (&error);
  g_assert_null (p2p_dht_signal_open (a, g_bytes_get_data (v, NULL), g_bytes_get_size (v),
          now + 30 - P2P_DHT_SIGNAL_MAX_AHEAD_S - 1, &len, NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "too far ahead"));
  g_clear_error (&error);
  /* one bit changed */
  {
    const guint8 *data = g_bytes_get_data (v, &size);

    copy = g_memdup2 (data, size);
  }
  copy[size - 1] ^= 1;
  g_assert_null (p2p_dht_signal_open (a, copy, size, now, &len, NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_clear_error (&error);
  g_free (copy);
  /* too short to be a box, too large */
  g_assert_null (p2p_dht_signal_open (a, (const guint8 *) "hello", 5, now, &len, NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED);
  g_clear_error (&error);
  big = g_malloc0 (P2P_DHT_SIGNAL_VALUE_MAX + 1);
  memset (big, 'x', P2P_DHT_SIGNAL_VALUE_MAX);
  g_assert_null (p2p_dht_signal_seal (pa, now, big, P2P_DHT_SIGNAL_VALUE_MAX, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&error);
  g_assert_null (p2p_dht_signal_open (a, (const guint8 *) big, P2P_DHT_SIGNAL_VALUE_MAX + 1, now,
          &len, NULL, &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED);
  g_clear_error (&error);
  /* sealed to us but not in our format: no context line / bad expiry */
  {
    guint8 curve_pk[crypto_box_PUBLICKEYBYTES];
    const char *bad[] = { "hello\n123\nx", P2P_DHT_SIGNAL_CONTEXT "\n12a\nx",
      P2P_DHT_SIGNAL_CONTEXT "\n99999999999999999999\nx", P2P_DHT_SIGNAL_CONTEXT "\n" };

    g_assert_cmpint (crypto_sign_ed25519_pk_to_curve25519 (curve_pk, pa->key), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
      gsize n = strlen (bad[i]) + crypto_box_SEALBYTES;
      g_autofree guint8 *box = g_malloc (n);

      crypto_box_seal (box, (const guint8 *) bad[i], strlen (bad[i]), curve_pk);
      g_assert_null (p2p_dht_signal_open (a, box, n, now, &len, NULL, &error));
      g_assert_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL);
      g_clear_error (&error);
    }
  }
}

/* ------------------------------------------------------------ on loopback */

typedef struct {
  P2pDht *boot, *a, *b, *c;
  P2pIdentity *ida;
  char *bootstrap[2];           /* "127.0.0.1:PORT" of boot */
} Net;

typedef struct {
  P2pDiscoveryRecord *record;
  gint64 elapsed_us;
  guint calls;
  gboolean got;
  P2pDhtLookup **free_me;       /* freed from within the callback */
} Found;

static void
on_found (P2pDiscoveryRecord *record, gint64 elapsed_us, gpointer user_data)
{
  Found *f = user_data;

  f->calls++;
  f->got = TRUE;
  if (f->record == NULL) {
    f->record = record;
    f->elapsed_us = elapsed_us;
  } else {
    p2p_discovery_record_free (record);
  }
  if (f->free_me)
    g_clear_pointer (f->free_me, p2p_dht_lookup_free);
}

static gboolean
set_true (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the default context until *@flag (when non-NULL) or @limit_s. */
static void
run_until (const gboolean *flag, guint limit_s)
{
  gboolean timed_out = FALSE;
  GSource *t = g_timeout_source_new_seconds (limit_s);

  g_source_set_callback (t, set_true, &timed_out, NULL);
  g_source_attach (t, NULL);
  while (!timed_out && !(flag && *flag))
    g_main_context_iteration (NULL, TRUE);
  g_source_destroy (t);
  g_source_unref (t);
}

static gboolean have_loopback_dht = TRUE;
static char *no_dht_reason;

/* Starts the bootstrap node and nodes bootstrapped to it; FALSE (the test
 * skipped) when OpenDHT cannot run on this machine at all. */
static gboolean
net_setup (Net *n, gboolean with_c)
{
  g_autoptr (GError) error = NULL;
  const char *const *bootstrap = (const char *const *) n->bootstrap;

  memset (n, 0, sizeof *n);
  if (!have_loopback_dht) {
    g_test_skip (no_dht_reason);
    return FALSE;
  }
  n->boot = p2p_dht_new (g_main_context_default (), NULL, 0, &error);
  if (n->boot == NULL) {
    have_loopback_dht = FALSE;
    no_dht_reason = g_strdup_printf ("OpenDHT cannot bind a UDP port: %s", error->message);
    g_test_skip (no_dht_reason);
    return FALSE;
  }
  g_assert_cmpuint (p2p_dht_get_port (n->boot), >, 0);
  n->bootstrap[0] = g_strdup_printf ("127.0.0.1:%u", p2p_dht_get_port (n->boot));
  n->a = p2p_dht_new (g_main_context_default (), bootstrap, 0, &error);
  g_assert_no_error (error);
  n->b = p2p_dht_new (g_main_context_default (), bootstrap, 0, &error);
  g_assert_no_error (error);
  if (with_c) {
    n->c = p2p_dht_new (g_main_context_default (), bootstrap, 0, &error);
    g_assert_no_error (error);
  }
  n->ida = p2p_identity_new ();
  return TRUE;
}

static void
net_teardown (Net *n)
{
  g_clear_pointer (&n->c, p2p_dht_free);
  g_clear_pointer (&n->b, p2p_dht_free);
  g_clear_pointer (&n->a, p2p_dht_free);
  g_clear_pointer (&n->boot, p2p_dht_free);
  g_clear_object (&n->ida);
  g_clear_pointer (&n->bootstrap[0], g_free);
}

static void
assert_found_a (Found *f, Net *n)
{
  GError *error = NULL;

  g_assert_nonnull (f->record);
  g_assert_cmpuint (f->calls, ==, 1);
  g_assert_true (p2p_peer_id_equal (&f->record->peer, p2p_identity_get_peer_id (n->ida)));
  g_assert_cmpstrv (f->record->addresses, ADDRS);
  g_assert_true (p2p_discovery_record_verify (f->record, p2p_identity_get_peer_id (n->ida),
          now_s (), &error));
  g_assert_no_error (error);
  g_assert_cmpint (f->record->expires, >, now_s () + P2P_DHT_RECORD_LIFETIME_S - 60);
}

/* A announces, then B looks A's bare peer ID up and gets A's addresses.
 * B starts after A's put (so it holds no copy of the value: in a network
 * this small every node is among the closest to any key): it bootstraps,
 * then asks the other nodes. */
static void
test_announce_then_lookup (void)
{
  Net n;
  Found f = { 0 };
  P2pDhtLookup *l;
  GError *error = NULL;
  gint64 t0;

  if (!net_setup (&n, FALSE))
    return;
  g_clear_pointer (&n.b, p2p_dht_free);
  g_assert_true (p2p_dht_announce (n.a, n.ida, ADDRS, &error));
  g_assert_no_error (error);
  /* let the put reach the bootstrap node */
  run_until (NULL, 1);
  t0 = g_get_monotonic_time ();
  n.b = p2p_dht_new (g_main_context_default (), (const char *const *) n.bootstrap, 0, &error);
  g_assert_no_error (error);
  l = p2p_dht_lookup_start (n.b, p2p_identity_get_peer_id (n.ida), on_found, &f, &error);
  g_assert_no_error (error);
  run_until (&f.got, FIND_LIMIT_S);
  g_assert_nonnull (f.record);
  g_test_message ("record of A found by a node started then in %.1f ms (bootstrap and"
      " lookup; the lookup reported %.1f ms)",
      (g_get_monotonic_time () - t0) / 1000.0, f.elapsed_us / 1000.0);
  assert_found_a (&f, &n);
  /* found once: later values are not reported */
  run_until (NULL, 1);
  g_assert_cmpuint (f.calls, ==, 1);
  p2p_dht_lookup_free (l);
  p2p_discovery_record_free (f.record);
  net_teardown (&n);
}

/* B starts looking before A announces: the listen reports the value put
 * later, and the lookup freed from within its callback is safe. */
static void
test_lookup_then_announce (void)
{
  Net n;
  Found f = { 0 };
  P2pDhtLookup *l;
  GError *error = NULL;
  gint64 t0;

  if (!net_setup (&n, FALSE))
    return;
  l = p2p_dht_lookup_start (n.b, p2p_identity_get_peer_id (n.ida), on_found, &f, &error);
  g_assert_no_error (error);
  f.free_me = &l;
  run_until (NULL, 1);
  g_assert_null (f.record);
  g_assert_true (p2p_dht_announce (n.a, n.ida, ADDRS, &error));
  g_assert_no_error (error);
  t0 = g_get_monotonic_time ();
  run_until (&f.got, FIND_LIMIT_S);
  g_test_message ("record announced after the lookup started found %.1f ms after the"
      " announcement", (g_get_monotonic_time () - t0) / 1000.0);
  assert_found_a (&f, &n);
  g_assert_null (l);
  p2p_discovery_record_free (f.record);
  net_teardown (&n);
}

static guint refusals;

/* The library logs structured (G_LOG_USE_STRUCTURED): counts its refusals
 * and writes every message as usual. */
static GLogWriterOutput
count_refusals (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  for (gsize i = 0; i < n_fields; i++) {
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0 && fields[i].length < 0
        && strstr (fields[i].value, "DHT: ignoring a value under the key of") != NULL)
      g_atomic_int_inc (&refusals);
  }
  return g_log_writer_default (level, fields, n_fields, data);
}

/* C (a forger) puts its own addresses under A's peer ID, signed with its
 * key: B refuses the value and reports nothing; when A then announces,
 * B's same lookup reports A's genuine record, not the forger's. */
static void
test_forged_record (void)
{
  Net n;
  Found f = { 0 };
  P2pDhtLookup *l;
  g_autoptr (P2pIdentity) forger = p2p_identity_new ();
  g_autoptr (P2pDiscoveryRecord) forged = NULL;
  g_autoptr (P2pDiscoveryRecord) expired = NULL;
  GError *error = NULL;

  if (!net_setup (&n, TRUE))
    return;
  g_atomic_int_set (&refusals, 0);
  forged = p2p_discovery_record_new_signed (forger, FORGED_ADDRS, now_s () + 600);
  forged->peer = *p2p_identity_get_peer_id (n.ida);
  g_assert_true (p2p_dht_publish_record (n.c, forged, &error));
  g_assert_no_error (error);
  /* A's own key, but expired: refused as well */
  expired = p2p_discovery_record_new_signed (n.ida, FORGED_ADDRS, now_s () - 10);
  g_assert_true (p2p_dht_publish_record (n.c, expired, &error));
  g_assert_no_error (error);

  l = p2p_dht_lookup_start (n.b, p2p_identity_get_peer_id (n.ida), on_found, &f, &error);
  g_assert_no_error (error);
  {
    gint64 deadline = g_get_monotonic_time () + FIND_LIMIT_S * G_USEC_PER_SEC;

    while (g_atomic_int_get (&refusals) < 2 && g_get_monotonic_time () < deadline)
      run_until (NULL, 1);
  }
  g_assert_cmpuint (g_atomic_int_get (&refusals), ==, 2);
  g_assert_null (f.record);

  g_assert_true (p2p_dht_announce (n.a, n.ida, ADDRS, &error));
  g_assert_no_error (error);
  run_until (&f.got, FIND_LIMIT_S);
  assert_found_a (&f, &n);
  p2p_dht_lookup_free (l);
  p2p_discovery_record_free (f.record);
  net_teardown (&n);
}

/* A peer nobody announced: nothing within the bound. */
static void
test_not_found (void)
{
  Net n;
  Found f = { 0 };
  P2pDhtLookup *l;
  g_autoptr (P2pIdentity) absent = p2p_identity_new ();
  GError *error = NULL;

  if (!net_setup (&n, FALSE))
    return;
  /* A announces itself: the DHT holds a record, just not the one asked for */
  g_assert_true (p2p_dht_announce (n.a, n.ida, ADDRS, &error));
  g_assert_no_error (error);
  l = p2p_dht_lookup_start (n.b, p2p_identity_get_peer_id (absent), on_found, &f, &error);
  g_assert_no_error (error);
  run_until (NULL, NOTHING_LIMIT_S);
  g_assert_null (f.record);
  g_assert_cmpuint (f.calls, ==, 0);
  p2p_dht_lookup_free (l);
  net_teardown (&n);
}

/* Freeing the node with a lookup open and a value in flight: no callback
 * after, and the lookup is freed later without touching the node. */
static void
test_free_with_lookup (void)
{
  Net n;
  Found f = { 0 };
  P2pDhtLookup *l;
  GError *error = NULL;
  gint64 t0;

  if (!net_setup (&n, FALSE))
    return;
  g_assert_true (p2p_dht_announce (n.a, n.ida, ADDRS, &error));
  g_assert_no_error (error);
  run_until (NULL, 1);
  l = p2p_dht_lookup_start (n.b, p2p_identity_get_peer_id (n.ida), on_found, &f, &error);
  g_assert_no_error (error);
  /* no iteration of the context: whatever B found is still queued on it */
  g_usleep (500 * 1000);
  t0 = g_get_monotonic_time ();
  g_clear_pointer (&n.b, p2p_dht_free);
  g_test_message ("node freed (OpenDHT's threads joined) in %.1f ms",
      (g_get_monotonic_time () - t0) / 1000.0);
  run_until (NULL, 1);
  g_assert_cmpuint (f.calls, ==, 0);
  p2p_dht_lookup_free (l);
  net_teardown (&n);
}

/* TRUE once something holds UDP 127.0.0.1:@port (a bind fails). */
static gboolean
udp_port_taken (guint16 port)
{
  g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
      G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, port);

  return sock && !g_socket_bind (sock, addr, FALSE, NULL);
}

/* A free UDP port on 127.0.0.1 (the kernel's pick; released at once). */
static guint16
free_udp_port (void)
{
  g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
      G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;

  g_assert_true (g_socket_bind (sock, addr, FALSE, NULL));
  bound = g_socket_get_local_address (sock, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* The stock node of Debian's dhtnode package as the bootstrap node (how an
 * operator runs one): A and B find each other through it. dhtnode binds
 * every interface like the C binding; it is given no bootstrap node of
 * its own, killed at the end. */
static void
test_dhtnode_bootstrap (void)
{
  g_autofree char *dhtnode = g_find_program_in_path ("dhtnode");
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (P2pIdentity) ida = p2p_identity_new ();
  g_autofree char *port_s = NULL;
  g_autofree char *boot = NULL;
  const char *bootstrap[2] = { NULL, NULL };
  P2pDht *a, *b;
  P2pDhtLookup *l;
  Found f = { 0 };
  GError *error = NULL;
  guint16 port;
  gint64 deadline, t0;

  if (dhtnode == NULL) {
    g_test_skip ("no dhtnode program (Debian package dhtnode)");
    return;
  }
  if (!have_loopback_dht) {
    g_test_skip (no_dht_reason);
    return;
  }
  port = free_udp_port ();
  port_s = g_strdup_printf ("%u", port);
  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
      &error, dhtnode, "-s", "-p", port_s, NULL);
  g_assert_no_error (error);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!udp_port_taken (port) && g_get_monotonic_time () < deadline)
    g_usleep (20 * 1000);
  g_assert_true (udp_port_taken (port));

  boot = g_strdup_printf ("127.0.0.1:%u", port);
  bootstrap[0] = boot;
  a = p2p_dht_new (g_main_context_default (), bootstrap, 0, &error);
  g_assert_no_error (error);
  b = p2p_dht_new (g_main_context_default (), bootstrap, 0, &error);
  g_assert_no_error (error);
  g_assert_true (p2p_dht_announce (a, ida, ADDRS, &error));
  g_assert_no_error (error);
  run_until (NULL, 1);
  t0 = g_get_monotonic_time ();
  l = p2p_dht_lookup_start (b, p2p_identity_get_peer_id (ida), on_found, &f, &error);
  g_assert_no_error (error);
  run_until (&f.got, FIND_LIMIT_S);
  g_assert_nonnull (f.record);
  g_test_message ("through dhtnode: record found in %.1f ms",
      (g_get_monotonic_time () - t0) / 1000.0);
  g_assert_true (p2p_peer_id_equal (&f.record->peer, p2p_identity_get_peer_id (ida)));
  g_assert_cmpstrv (f.record->addresses, ADDRS);
  g_assert_true (p2p_discovery_record_verify (f.record, p2p_identity_get_peer_id (ida),
          now_s (), NULL));
  p2p_dht_lookup_free (l);
  p2p_discovery_record_free (f.record);
  p2p_dht_free (b);
  p2p_dht_free (a);
  g_subprocess_force_exit (proc);
  g_assert_true (g_subprocess_wait (proc, NULL, NULL));
}

/* ------------------------------------------------------------ signaling */

typedef struct {
  GPtrArray *got;               /* char*: messages in order */
} Inbox;

static void
on_inbox (const char *message, gsize len, gpointer data)
{
  Inbox *in = data;

  g_assert_cmpuint (strlen (message), ==, len);
  g_ptr_array_add (in->got, g_strdup (message));
}

static void
run_until_count (GPtrArray *a, guint n, guint limit_s)
{
  gint64 deadline = g_get_monotonic_time () + limit_s * G_USEC_PER_SEC;

  while (a->len < n && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
}

/* B sends A two messages through A's DHT inbox, one before A listens
 * (stored, still valid) and one after: A gets each once, in clear, and
 * nothing more (a repeat of a value is not handed on twice). */
static void
test_inbox (void)
{
  Net n;
  Inbox in = { g_ptr_array_new_with_free_func (g_free) };
  P2pDhtLookup *inbox;
  GError *error = NULL;
  gint64 t0;

  if (!net_setup (&n, FALSE))
    return;
  g_assert_true (p2p_dht_send_signal (n.b, p2p_identity_get_peer_id (n.ida), "first", &error));
  g_assert_no_error (error);
  run_until (NULL, 1);
  inbox = p2p_dht_inbox_start (n.a, n.ida, on_inbox, &in, &error);
  g_assert_no_error (error);
  run_until_count (in.got, 1, FIND_LIMIT_S);
  g_assert_cmpuint (in.got->len, ==, 1);
  g_assert_cmpstr (in.got->pdata[0], ==, "first");
  t0 = g_get_monotonic_time ();
  g_assert_true (p2p_dht_send_signal (n.b, p2p_identity_get_peer_id (n.ida), "second", &error));
  run_until_count (in.got, 2, FIND_LIMIT_S);
  g_test_message ("a message put in a listened inbox arrived in %.1f ms",
      (g_get_monotonic_time () - t0) / 1000.0);
  g_assert_cmpuint (in.got->len, ==, 2);
  g_assert_cmpstr (in.got->pdata[1], ==, "second");
  run_until (NULL, 1);
  g_assert_cmpuint (in.got->len, ==, 2);
  g_assert_cmpuint (p2p_dht_inbox_get_refused (inbox), ==, 0);
  p2p_dht_lookup_free (inbox);
  g_ptr_array_unref (in.got);
  net_teardown (&n);
}

/* One peer's DHT carrier of ICE signals, wired as the provider does it. */
typedef struct {
  P2pDht *dht;
  P2pSignaling *sig;
  P2pDhtLookup *inbox;
} Carrier;

static gboolean
carrier_send (const P2pPeerId *to, const char *message, gpointer data, GError **error)
{
  return p2p_dht_send_signal (((Carrier *) data)->dht, to, message, error);
}

static void
carrier_receive (const char *message, gsize len, gpointer data)
{
  p2p_signaling_receive (((Carrier *) data)->sig, message, len);
}

static void
carrier_init (Carrier *c, P2pDht *dht, P2pIdentity *id)
{
  GError *error = NULL;

  c->dht = dht;
  c->sig = p2p_signaling_new_external (id, "the DHT", carrier_send, c, NULL);
  c->inbox = p2p_dht_inbox_start (dht, id, carrier_receive, c, &error);
  g_assert_no_error (error);
}

static void
carrier_clear (Carrier *c)
{
  g_clear_pointer (&c->inbox, p2p_dht_lookup_free);
  g_clear_object (&c->sig);
}

typedef struct {
  P2pConnection *conn;
  GError *error;
  gboolean done;
} Dialed;

static void
service_dialed (GObject *source, GAsyncResult *res, gpointer data)
{
  Dialed *d = data;

  d->conn = p2p_ice_service_connect_finish (NULL, res, &d->error);
  d->done = TRUE;
}

static void
service_accepted (P2pConnection *conn, gpointer data)
{
  P2pConnection **out = data;

  g_assert_null (*out);
  *out = g_object_ref (conn);
}

static void
got_bytes (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;

  *(GBytes **) data = p2p_connection_receive_finish (P2P_CONNECTION (source), res, &error);
  g_assert_no_error (error);
}

/* ICE offers and answers through the DHT, no rendezvous: two ICE services
 * whose only carrier is the DHT. A forger first puts an offer in A's inbox
 * claiming to come from B but signed with the forger's key (sealed to A,
 * so it opens): A ignores it (counted, no agent started). Then B dials A's
 * bare peer ID: connected both ways over a direct ICE path, bytes intact.
 * An absent peer: PEER_NOT_FOUND once no answer came (10 s). */
static void
test_ice_over_dht (void)
{
  Net n;
  g_autoptr (P2pIdentity) idb = p2p_identity_new ();
  g_autoptr (P2pIdentity) forger = p2p_identity_new ();
  g_autoptr (P2pIdentity) absent = p2p_identity_new ();
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (GBytes) hello = g_bytes_new_static ("ICE offer through the DHT", 25);
  GBytes *got = NULL;
  Carrier ca = { 0 }, cb = { 0 };
  P2pIceService *sa, *sb;
  P2pConnection *accepted = NULL;
  P2pIceCounters counters;
  Dialed d = { 0 };
  GError *error = NULL;
  gint64 t0;

  if (!have_ice_interfaces) {
    g_test_skip ("no veth pair for ICE candidates in the test's namespace");
    return;
  }
  if (!net_setup (&n, FALSE))
    return;
  cfg->bootstrap_peers = g_new0 (char *, 2);
  cfg->bootstrap_peers[0] = g_strconcat ("dht://", n.bootstrap[0], NULL);
  cfg->mdns = FALSE;
  /* an absent peer's answer is waited for 3 s (P2P_FIND_TIMEOUT_MS; the
   * present peer's answer comes in tens of ms, also under ASan) */
  cfg->find_timeout_ms = 3000;
  carrier_init (&ca, n.a, n.ida);
  carrier_init (&cb, n.b, idb);
  sa = p2p_ice_service_new (n.ida, cfg, NULL, &error);
  g_assert_no_error (error);
  p2p_ice_service_add_signaling (sa, ca.sig);
  p2p_ice_service_start_accepting (sa, NULL, 0, service_accepted, &accepted);
  sb = p2p_ice_service_new (idb, cfg, NULL, &error);
  g_assert_no_error (error);
  p2p_ice_service_add_signaling (sb, cb.sig);

  /* the forged offer: from B, signed by the forger, sealed to A */
  {
    g_autofree char *payload = g_strdup_printf ("{\"kind\":\"ice-offer\",\"session\":\"ab\","
        "\"ts\":%" G_GINT64_FORMAT ",\"nonce\":\"%032x\",\"ufrag\":\"u\",\"pwd\":"
        "\"pppppppppppppppppppppp\",\"candidates\":[]}", g_get_real_time () / 1000, 7);
    g_autofree char *honest = p2p_signaling_build_signal (forger, p2p_identity_get_peer_id (n.ida),
        payload);
    P2pSignalingMessage m;
    g_autofree char *forged = NULL;

    g_assert_true (p2p_signaling_message_parse (honest, strlen (honest), &m, &error));
    forged = p2p_signaling_build_signal_raw (p2p_identity_get_peer_id (idb),
        p2p_identity_get_peer_id (n.ida), payload, m.signature);
    p2p_signaling_message_clear (&m);
    g_assert_true (p2p_dht_send_signal (n.b, p2p_identity_get_peer_id (n.ida), forged, &error));
    g_assert_no_error (error);
  }
  {
    gint64 deadline = g_get_monotonic_time () + FIND_LIMIT_S * G_USEC_PER_SEC;

    while (p2p_signaling_get_rejected_count (ca.sig) == 0 && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
  }
  g_assert_cmpuint (p2p_signaling_get_rejected_count (ca.sig), ==, 1);
  p2p_ice_service_get_counters (sa, &counters);
  g_assert_cmpuint (counters.agents_started, ==, 0);

  t0 = g_get_monotonic_time ();
  p2p_ice_service_connect_async (sb, p2p_identity_get_peer_id (n.ida), NULL, service_dialed, &d);
  {
    gint64 deadline = g_get_monotonic_time () + FIND_LIMIT_S * G_USEC_PER_SEC;

    while (!(d.done && accepted) && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
  }
  g_assert_no_error (d.error);
  g_assert_nonnull (d.conn);
  g_assert_nonnull (accepted);
  g_test_message ("connected by ICE with the offer and answer through the DHT in %.1f ms",
      (g_get_monotonic_time () - t0) / 1000.0);
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (d.conn),
          p2p_identity_get_peer_id (n.ida)));
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (accepted),
          p2p_identity_get_peer_id (idb)));
  p2p_ice_service_get_counters (sa, &counters);
  g_assert_cmpuint (counters.agents_started, ==, 1);
  g_assert_cmpuint (p2p_signaling_get_rejected_count (ca.sig), ==, 1);
  p2p_connection_receive_async (accepted, NULL, got_bytes, &got);
  p2p_connection_send_async (d.conn, hello, NULL, NULL, NULL);
  {
    gint64 deadline = g_get_monotonic_time () + FIND_LIMIT_S * G_USEC_PER_SEC;

    while (got == NULL && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
  }
  g_assert_nonnull (got);
  g_assert_true (g_bytes_equal (got, hello));
  g_bytes_unref (got);
  g_assert_true (g_main_context_acquire (NULL));
  {
    P2pConnectionStats st;

    p2p_connection_get_stats (d.conn, &st);
    g_assert_cmpint (st.path_kind, ==, P2P_PATH_KIND_DIRECT);
  }
  p2p_connection_close (d.conn, "bye");
  p2p_connection_close (accepted, "bye");
  g_main_context_release (NULL);
  g_clear_object (&d.conn);
  g_clear_object (&accepted);

  /* nobody answers for an absent peer: PEER_NOT_FOUND naming the DHT */
  memset (&d, 0, sizeof d);
  t0 = g_get_monotonic_time ();
  p2p_ice_service_connect_async (sb, p2p_identity_get_peer_id (absent), NULL, service_dialed, &d);
  run_until (&d.done, FIND_LIMIT_S);
  g_assert_null (d.conn);
  g_assert_error (d.error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_assert_nonnull (strstr (d.error->message, "through the DHT within 3 s"));
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 3 * G_USEC_PER_SEC);
  g_test_message ("%s (after %.1f s)", d.error->message, (g_get_monotonic_time () - t0) / 1e6);
  g_clear_error (&d.error);

  p2p_ice_service_free (sb);
  p2p_ice_service_free (sa);
  carrier_clear (&cb);
  carrier_clear (&ca);
  for (int i = 0; i < 50 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  net_teardown (&n);
}

/* The provider end to end: A listens on 127.0.0.1 with only a dht://
 * bootstrap node in P2P_BOOTSTRAP_PEERS (no rendezvous, no mDNS) and
 * announces itself; B, configured the same, dials A's bare peer ID,
 * finds it in the DHT and connects. A peer nobody announced fails with
 * PEER_NOT_FOUND naming the DHT. */
static void
test_provider_bare_id (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pIdentity) ida = p2p_identity_new ();
  g_autoptr (P2pIdentity) nobody = p2p_identity_new ();
  g_autofree char *a_id = p2p_identity_dup_peer_id_string (ida);
  g_autofree char *nobody_id = p2p_identity_dup_peer_id_string (nobody);
  g_autofree char *entry = NULL;
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pQuicProvider) a = NULL;
  g_autoptr (P2pQuicProvider) b = NULL;
  g_autoptr (P2pListener) l = NULL;
  g_autoptr (P2pConnection) cb = NULL;
  g_autoptr (P2pConnection) ca = NULL;
  g_autoptr (GBytes) out = g_bytes_new_static ("found in the DHT", 16);
  g_autoptr (GBytes) in = NULL;
  P2pDht *boot;
  P2pConnection *none;
  gint64 t0;

  if (!have_loopback_dht) {
    g_test_skip (no_dht_reason);
    return;
  }
  boot = p2p_dht_new (g_main_context_default (), NULL, 0, &error);
  g_assert_no_error (error);
  entry = g_strdup_printf ("dht://127.0.0.1:%u", p2p_dht_get_port (boot));
  cfg->bootstrap_peers = g_strsplit (entry, ",", -1);
  cfg->mdns = FALSE;
  cfg->listen_port = 0;
  /* the absent peer: the lookup and the ICE offer give up after 3 s (A's
   * lookup takes milliseconds) */
  cfg->find_timeout_ms = 3000;
  a = p2p_quic_provider_new (ida, cfg);
  b = p2p_quic_provider_new (NULL, cfg);
  l = p2p_provider_listen (P2P_PROVIDER (a), "127.0.0.1:0", &error);
  g_assert_no_error (error);
  /* no wait for A's put: B's lookup listens, so a put after it started
   * reaches it too (/dht/lookup-then-announce) */
  t0 = g_get_monotonic_time ();
  cb = p2p_provider_connect (P2P_PROVIDER (b), a_id, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("bare peer ID dialled through the DHT in %.1f ms (B's node started, "
      "bootstrapped, looked up, QUIC)", (g_get_monotonic_time () - t0) / 1000.0);
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (cb),
          p2p_identity_get_peer_id (ida)));
  ca = p2p_listener_accept (l, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (p2p_connection_send (cb, out, NULL, &error));
  in = p2p_connection_receive (ca, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (in, out));

  none = p2p_provider_connect (P2P_PROVIDER (b), nobody_id, NULL, &error);
  g_assert_null (none);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  if (strstr (error->message, "in the DHT") == NULL)
    g_error ("\"%s\" does not name the DHT", error->message);

  p2p_listener_close (l);
  g_clear_object (&a);
  g_clear_object (&b);
  p2p_dht_free (boot);
}

/* Every discovery source down (a DHT bootstrap node and a rendezvous
 * where nothing listens, mDNS with no peer on the network): one
 * PEER_NOT_FOUND naming each source tried (the ICE offer through the DHT
 * too), within P2P_FIND_TIMEOUT_MS (1.5 s here). */
static void
test_all_sources_down (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (P2pIdentity) nobody = p2p_identity_new ();
  g_autofree char *id = p2p_identity_dup_peer_id_string (nobody);
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pQuicProvider) b = NULL;
  P2pConnection *none;
  gint64 t0;

  if (!have_loopback_dht) {
    g_test_skip (no_dht_reason);
    return;
  }
  /* port 9 (discard): nothing listens there in the test's namespace */
  cfg->bootstrap_peers = g_strsplit ("dht://127.0.0.1:9,ws://127.0.0.1:9/", ",", -1);
  cfg->mdns = TRUE;
  cfg->find_timeout_ms = 1500;
  b = p2p_quic_provider_new (NULL, cfg);
  t0 = g_get_monotonic_time ();
  none = p2p_provider_connect (P2P_PROVIDER (b), id, NULL, &error);
  g_assert_null (none);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_test_message ("%s (after %.1f s)", error->message,
      (g_get_monotonic_time () - t0) / 1e6);
  for (guint i = 0; i < 4; i++) {
    const char *words[] = { "on the local network (mDNS): no answer within",
      "in the DHT: no answer within",
      ("through the rendezvous and the DHT (ICE offer): no rendezvous server could be "
          "reached: cannot reach the rendezvous server ws://127.0.0.1:9/"),
      "did not answer an ICE offer through the DHT within 1500 ms" };

    if (strstr (error->message, words[i]) == NULL)
      g_error ("\"%s\" does not say \"%s\"", error->message, words[i]);
  }
  /* every source gives up within P2P_FIND_TIMEOUT_MS (the ICE offer after
   * it: the offer is sent once the local candidates are gathered) */
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 1500 * 1000);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 5 * G_USEC_PER_SEC);
}

int
main (int argc, char **argv)
{
  g_log_set_writer_func (count_refusals, NULL, NULL);
  g_test_init (&argc, &argv, NULL);
  own_netns = enter_private_netns ();
  have_ice_interfaces = own_netns && add_ice_interfaces ();
  g_test_add_func ("/dht/key", test_key);
  g_test_add_func ("/dht/value", test_value);
  g_test_add_func ("/dht/bad-arguments", test_bad_arguments);
  g_test_add_func ("/dht/signal-envelope", test_signal_envelope);
  g_test_add_func ("/dht/announce-then-lookup", test_announce_then_lookup);
  g_test_add_func ("/dht/lookup-then-announce", test_lookup_then_announce);
  g_test_add_func ("/dht/forged-record", test_forged_record);
  g_test_add_func ("/dht/not-found", test_not_found);
  g_test_add_func ("/dht/free-with-lookup", test_free_with_lookup);
  g_test_add_func ("/dht/dhtnode-bootstrap", test_dhtnode_bootstrap);
  g_test_add_func ("/dht/inbox", test_inbox);
  g_test_add_func ("/dht/ice-over-dht", test_ice_over_dht);
  g_test_add_func ("/dht/provider-bare-id", test_provider_bare_id);
  g_test_add_func ("/dht/all-sources-down", test_all_sources_down);
  if (!own_netns)
    g_test_message ("no network namespace of our own: the DHT nodes run on the host's loopback");
  return g_test_run ();
}
