/* test-discovery.c: the signed discovery record (its TXT form, forged,
 * altered, expired and malformed records) and LAN discovery over mDNS
 * between two providers, in a network namespace of the test's own (a
 * dummy interface with a private address; skipped without the rights).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <p2p/p2p.h>
#include "p2p-discovery-record.h"
#include "p2p-mdns.h"

static const char *const ADDRS[] = { "192.0.2.7:8800", "198.51.100.1:9000", NULL };

static gint64
now_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

static P2pDiscoveryRecord *
txt_roundtrip (const P2pDiscoveryRecord *r, const P2pPeerId *peer, GError **error)
{
  g_auto (GStrv) txt = p2p_discovery_record_to_txt (r);

  return p2p_discovery_record_from_txt ((const char *const *) txt, peer, error);
}

static void
test_record_roundtrip (void)
{
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  const P2pPeerId *peer = p2p_identity_get_peer_id (id);
  g_autoptr (P2pDiscoveryRecord) r = p2p_discovery_record_new_signed (id, ADDRS, now_s () + 60);
  g_autoptr (P2pDiscoveryRecord) back = NULL;
  g_auto (GStrv) txt = p2p_discovery_record_to_txt (r);
  GError *error = NULL;

  g_assert_cmpstr (txt[0], ==, "v=1");
  g_assert_true (g_str_has_prefix (txt[1], "e="));
  g_assert_cmpstr (txt[2], ==, "a=192.0.2.7:8800");
  g_assert_cmpstr (txt[3], ==, "a=198.51.100.1:9000");
  g_assert_true (g_str_has_prefix (txt[4], "s="));
  g_assert_null (txt[5]);
  for (guint i = 0; txt[i]; i++)
    g_assert_cmpuint (strlen (txt[i]), <, 256);

  back = txt_roundtrip (r, peer, &error);
  g_assert_no_error (error);
  g_assert_true (p2p_discovery_record_verify (back, peer, now_s (), &error));
  g_assert_no_error (error);
  g_assert_cmpint (back->expires, ==, r->expires);
  g_assert_cmpstrv (back->addresses, ADDRS);
}

/* DNS need not keep the order of TXT strings: the signature does not
 * depend on it. */
static void
test_record_order (void)
{
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  const P2pPeerId *peer = p2p_identity_get_peer_id (id);
  g_autoptr (P2pDiscoveryRecord) r = p2p_discovery_record_new_signed (id, ADDRS, now_s () + 60);
  g_auto (GStrv) txt = p2p_discovery_record_to_txt (r);
  guint n = g_strv_length (txt);
  g_autoptr (P2pDiscoveryRecord) back = NULL;
  GError *error = NULL;

  for (guint i = 0; i < n / 2; i++) {
    char *t = txt[i];

    txt[i] = txt[n - 1 - i];
    txt[n - 1 - i] = t;
  }
  back = p2p_discovery_record_from_txt ((const char *const *) txt, peer, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->addresses[0], ==, ADDRS[1]);
  g_assert_true (p2p_discovery_record_verify (back, peer, now_s (), &error));
  g_assert_no_error (error);
}

static void
assert_refused (const P2pDiscoveryRecord *r, const P2pPeerId *peer, gint64 now, gint code,
    const char *words)
{
  GError *error = NULL;

  g_assert_false (p2p_discovery_record_verify (r, peer, now, &error));
  g_assert_error (error, P2P_ERROR, code);
  if (strstr (error->message, words) == NULL)
    g_error ("\"%s\" does not say \"%s\"", error->message, words);
  g_error_free (error);
}

static void
test_record_forged (void)
{
  g_autoptr (P2pIdentity) victim = p2p_identity_new ();
  g_autoptr (P2pIdentity) forger = p2p_identity_new ();
  const P2pPeerId *vpeer = p2p_identity_get_peer_id (victim);
  gint64 exp = now_s () + 60;
  g_autoptr (P2pDiscoveryRecord) forged = p2p_discovery_record_new_signed (forger, ADDRS, exp);
  g_autoptr (P2pDiscoveryRecord) good = p2p_discovery_record_new_signed (victim, ADDRS, exp);

  /* the forger's own record asked for as the victim's */
  assert_refused (forged, vpeer, now_s (), P2P_ERROR_AUTHENTICATION_FAILED, "names peer");
  /* the forger's signature under the victim's name */
  forged->peer = *vpeer;
  assert_refused (forged, vpeer, now_s (), P2P_ERROR_AUTHENTICATION_FAILED, "not signed");
  /* the victim's record with an address changed, an expiry extended, a bit flipped */
  g_free (good->addresses[1]);
  good->addresses[1] = g_strdup ("203.0.113.66:9000");
  assert_refused (good, vpeer, now_s (), P2P_ERROR_AUTHENTICATION_FAILED, "not signed");
  g_free (good->addresses[1]);
  good->addresses[1] = g_strdup (ADDRS[1]);
  g_assert_true (p2p_discovery_record_verify (good, vpeer, now_s (), NULL));
  good->expires += 3600;
  assert_refused (good, vpeer, now_s (), P2P_ERROR_AUTHENTICATION_FAILED, "not signed");
  good->expires -= 3600;
  good->signature[17] ^= 0x10;
  assert_refused (good, vpeer, now_s (), P2P_ERROR_AUTHENTICATION_FAILED, "not signed");
}

static void
test_record_expiry (void)
{
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  const P2pPeerId *peer = p2p_identity_get_peer_id (id);
  gint64 now = now_s ();
  g_autoptr (P2pDiscoveryRecord) old = p2p_discovery_record_new_signed (id, ADDRS, now - 5);
  g_autoptr (P2pDiscoveryRecord) forever = p2p_discovery_record_new_signed (id, ADDRS,
      now + P2P_DISCOVERY_RECORD_MAX_LIFETIME_S + 10);

  assert_refused (old, peer, now, P2P_ERROR_INVALID_ARGUMENT, "expired 5 s ago");
  assert_refused (forever, peer, now, P2P_ERROR_INVALID_ARGUMENT, "claims to be valid");
  g_assert_true (p2p_discovery_record_verify (old, peer, now - 10, NULL));
}

static void
test_record_malformed (void)
{
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  const P2pPeerId *peer = p2p_identity_get_peer_id (id);
  guint8 zeros[P2P_IDENTITY_SIGNATURE_LEN] = { 0 };
  g_autofree char *sig = g_base64_encode (zeros, sizeof zeros);
  g_autofree char *s = g_strdup_printf ("s=%s", sig);
  struct {
    const char *txt[6];
    const char *says;
  } cases[] = {
    { { "e=1", "a=1.2.3.4:5", s, NULL }, "no version" },
    { { "v=2", "e=1", "a=1.2.3.4:5", s, NULL }, "unknown version" },
    { { "v=1", "v=1", "e=1", "a=1.2.3.4:5", s, NULL }, "repeated version" },
    { { "v=1", "a=1.2.3.4:5", s, NULL }, "no expiry" },
    { { "v=1", "e=soon", "a=1.2.3.4:5", s, NULL }, "expiry is not a number" },
    { { "v=1", "e=-1", "a=1.2.3.4:5", s, NULL }, "expiry is not a number" },
    { { "v=1", "e=1", s, NULL }, "no address" },
    { { "v=1", "e=1", "a=1.2.3.4", s, NULL }, "address" },
    { { "v=1", "e=1", "a=1.2.3.4:99999", s, NULL }, "address" },
    { { "v=1", "e=1", "a=1.2.3.4:5", NULL }, "no signature" },
    { { "v=1", "e=1", "a=1.2.3.4:5", "s=AAAA", NULL }, "not 64 bytes" },
    { { "v=1", "e=1", "a=1.2.3.4:5", s, s, NULL }, "repeated signature" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GError *error = NULL;
    P2pDiscoveryRecord *r = p2p_discovery_record_from_txt (cases[i].txt, peer, &error);

    g_assert_null (r);
    g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
    if (strstr (error->message, cases[i].says) == NULL)
      g_error ("case %u: \"%s\" does not say \"%s\"", i, error->message, cases[i].says);
    g_error_free (error);
  }
  {
    /* 17 addresses: more than a record may hold */
    const char *many[21] = { "v=1", "e=1", s };

    for (guint i = 0; i < 17; i++)
      many[3 + i] = "a=10.0.0.1:1";
    g_autoptr (GError) error = NULL;
    g_assert_null (p2p_discovery_record_from_txt (many, peer, &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
    if (strstr (error->message, "too many addresses") == NULL)
      g_error ("%s", error->message);
  }
}

/* ------------------------------------------------------------ mDNS */

static gboolean have_lan;

/* A network namespace of this process with a veth pair (10.77.0.1/24 and
 * 10.77.0.2/24; the kernel here has no dummy interfaces): mDNS never
 * leaves it. */
static gboolean
enter_private_lan (void)
{
  if (unshare (CLONE_NEWNET) != 0)
    return FALSE;
  return system ("ip link set lo up && ip link add p2pv0 type veth peer name p2pv1"
      " && ip addr add 10.77.0.1/24 dev p2pv0 && ip addr add 10.77.0.2/24 dev p2pv1"
      " && ip link set p2pv0 up && ip link set p2pv1 up") == 0;
}

static P2pProvider *
lan_provider (P2pIdentity *id, gboolean mdns)
{
  g_autoptr (P2pConfig) cfg = p2p_config_new ();

  cfg->mdns = mdns;
  cfg->listen_port = 0;
  return P2P_PROVIDER (p2p_quic_provider_new (id, cfg));
}

static void
test_mdns_dial_bare_id (void)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pProvider) pa = NULL;
  g_autoptr (P2pProvider) pb = NULL;
  g_autoptr (P2pListener) l = NULL;
  g_autoptr (P2pConnection) conn = NULL;
  g_autofree char *ida = p2p_identity_dup_peer_id_string (a);
  g_autoptr (GError) error = NULL;
  gint64 t0;

  if (!have_lan) {
    g_test_skip ("no network namespace of our own (needs CAP_SYS_ADMIN)");
    return;
  }
  pa = lan_provider (a, TRUE);
  pb = lan_provider (b, TRUE);
  l = p2p_provider_listen (pa, "0.0.0.0:0", &error);
  g_assert_no_error (error);
  t0 = g_get_monotonic_time ();
  conn = p2p_provider_connect (pb, ida, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("bare peer ID dialled through mDNS in %.1f ms",
      (g_get_monotonic_time () - t0) / 1000.0);
  g_assert_true (p2p_peer_id_equal (p2p_connection_get_peer_id (conn),
          p2p_identity_get_peer_id (a)));
  p2p_connection_close (conn, "done");
}

static void
test_mdns_not_found (void)
{
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pIdentity) absent = p2p_identity_new ();
  g_autofree char *id = p2p_identity_dup_peer_id_string (absent);
  g_autoptr (P2pProvider) pb = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) off_error = NULL;
  P2pConnection *conn;
  gint64 t0;

  if (!have_lan) {
    g_test_skip ("no network namespace of our own (needs CAP_SYS_ADMIN)");
    return;
  }
  pb = lan_provider (b, TRUE);
  t0 = g_get_monotonic_time ();
  conn = p2p_provider_connect (pb, id, NULL, &error);
  g_assert_null (conn);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "local network (mDNS)"));
  /* the lookup's time limit, not the idle timeout */
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 10 * G_USEC_PER_SEC);
  g_clear_object (&pb);

  /* P2P_MDNS=0: no LAN lookup, the error says so by not naming it */
  pb = lan_provider (b, FALSE);
  conn = p2p_provider_connect (pb, id, NULL, &off_error);
  g_assert_null (conn);
  g_assert_error (off_error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_assert_null (strstr (off_error->message, "mDNS"));
}

typedef struct {
  P2pDiscoveryRecord *record;
  GMainContext *ctx;
  GMainLoop *loop;
  GMutex lock;
  GCond cond;
  gboolean published;
} Forger;

/* The forger's responder, on a thread of its own until its loop quits. */
static gpointer
forger_thread (gpointer data)
{
  Forger *f = data;
  GError *error = NULL;
  P2pMdns *mdns;

  g_main_context_push_thread_default (f->ctx);
  mdns = p2p_mdns_new (f->ctx, &error);
  g_assert_no_error (error);
  g_assert_true (p2p_mdns_publish_record (mdns, f->record, &error));
  g_assert_no_error (error);
  g_mutex_lock (&f->lock);
  f->published = TRUE;
  g_cond_signal (&f->cond);
  g_mutex_unlock (&f->lock);
  g_main_loop_run (f->loop);
  p2p_mdns_free (mdns);
  g_main_context_pop_thread_default (f->ctx);
  return NULL;
}

/* A forger announces its own addresses under the victim's name: the dialer
 * refuses the record and does not connect to the forger. */
static void
test_mdns_forged_record (void)
{
  g_autoptr (P2pIdentity) victim = p2p_identity_new ();
  g_autoptr (P2pIdentity) forger = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autoptr (P2pIdentity) c = p2p_identity_new ();
  g_autofree char *vid = p2p_identity_dup_peer_id_string (victim);
  g_autoptr (P2pProvider) pb = NULL;
  g_autoptr (P2pProvider) pc = NULL;
  g_autoptr (P2pListener) l = NULL;
  g_autoptr (GError) error = NULL;
  Forger f = { 0 };
  GThread *thread;
  P2pConnection *conn;
  char *addrs[2] = { NULL, NULL };

  if (!have_lan) {
    g_test_skip ("no network namespace of our own (needs CAP_SYS_ADMIN)");
    return;
  }
  /* a real listener (another peer) whose address the forger points at */
  pc = lan_provider (c, FALSE);
  l = p2p_provider_listen (pc, "10.77.0.1:0", &error);
  g_assert_no_error (error);
  {
    g_autofree char *ticket = p2p_listener_get_ticket (l);
    g_autoptr (P2pPeerInfo) info = p2p_peer_info_parse (ticket, NULL);

    addrs[0] = g_strdup (p2p_peer_info_get_addresses (info)[0]);
  }
  f.record = p2p_discovery_record_new_signed (forger, (const char *const *) addrs,
      now_s () + 600);
  f.record->peer = *p2p_identity_get_peer_id (victim);
  f.ctx = g_main_context_new ();
  f.loop = g_main_loop_new (f.ctx, FALSE);
  g_mutex_init (&f.lock);
  g_cond_init (&f.cond);
  thread = g_thread_new ("forger", forger_thread, &f);
  g_mutex_lock (&f.lock);
  while (!f.published)
    g_cond_wait (&f.cond, &f.lock);
  g_mutex_unlock (&f.lock);

  pb = lan_provider (b, TRUE);
  conn = p2p_provider_connect (pb, vid, NULL, &error);
  g_assert_null (conn);
  g_assert_error (error, P2P_ERROR, P2P_ERROR_PEER_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "local network (mDNS)"));

  g_main_loop_quit (f.loop);
  g_thread_join (thread);
  g_main_loop_unref (f.loop);
  g_main_context_unref (f.ctx);
  g_mutex_clear (&f.lock);
  g_cond_clear (&f.cond);
  p2p_discovery_record_free (f.record);
  g_free (addrs[0]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  have_lan = enter_private_lan ();
  g_test_add_func ("/discovery/record/roundtrip", test_record_roundtrip);
  g_test_add_func ("/discovery/record/order", test_record_order);
  g_test_add_func ("/discovery/record/forged", test_record_forged);
  g_test_add_func ("/discovery/record/expiry", test_record_expiry);
  g_test_add_func ("/discovery/record/malformed", test_record_malformed);
  g_test_add_func ("/discovery/mdns/dial-bare-id", test_mdns_dial_bare_id);
  g_test_add_func ("/discovery/mdns/not-found", test_mdns_not_found);
  g_test_add_func ("/discovery/mdns/forged-record", test_mdns_forged_record);
  return g_test_run ();
}
