/* test-p2psrc.c: p2psrc and p2psink settings and failures: malformed peer
 * IDs, tickets, ports and allow-lists are refused with a clear error; an
 * unreachable peer is an element error naming it and the cause; the
 * p2p:// URI handler; identity key files; NULL <-> PLAYING cycles.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-test-util.h"
#include <glib/gstdio.h>
#include <p2p/p2p.h>

/* A valid peer ID nobody listens as. */
static char *
random_peer_id (void)
{
  g_autoptr (P2pIdentity) id = p2p_identity_new ();

  return p2p_identity_dup_peer_id_string (id);
}

/* Sets @element to READY with a bus; expects failure and returns the error
 * message posted (transfer full). */
static GError *
expect_start_error (GstElement *element, GstState state)
{
  g_autoptr (GstBus) bus = gst_bus_new ();
  GstMessage *msg;
  GError *err = NULL;
  gchar *dbg = NULL;
  GstStateChangeReturn ret;

  gst_element_set_bus (element, bus);
  ret = gst_element_set_state (element, state);
  if (ret == GST_STATE_CHANGE_ASYNC)
    ret = gst_element_get_state (element, NULL, NULL, 0);
  msg = gst_bus_timed_pop_filtered (bus, P2P_TEST_TIMEOUT_S * GST_SECOND,
      GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error posted");
  gst_message_parse_error (msg, &err, &dbg);
  GST_INFO ("error: %s (%s)", err->message, GST_STR_NULL (dbg));
  g_free (dbg);
  gst_message_unref (msg);
  gst_element_set_state (element, GST_STATE_NULL);
  gst_element_set_bus (element, NULL);
  return err;
}

#define assert_contains(hay, needle) \
  fail_unless (strstr ((hay), (needle)) != NULL, "\"%s\" not in \"%s\"", \
      (needle), (hay))

GST_START_TEST (test_bad_peer)
{
  static const char *bad[] = {
    "not-a-peer-id",
    "p2p1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",       /* broken ticket */
    "",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    GstElement *src = gst_element_factory_make ("p2psrc", NULL);
    g_autoptr (GError) err = NULL;

    g_object_set (src, "transport", 1, "peer", bad[i], NULL);
    err = expect_start_error (src, GST_STATE_READY);
    fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
            GST_RESOURCE_ERROR_SETTINGS));
    if (*bad[i]) {
      g_autofree char *quoted = g_strdup_printf ("Invalid peer \"%s\"", bad[i]);

      assert_contains (err->message, quoted);
    } else {
      assert_contains (err->message, "No peer given");
    }
    gst_object_unref (src);
  }
  {
    /* a peer ID with one character changed is refused by its checksum */
    g_autofree char *id = random_peer_id ();
    GstElement *src = gst_element_factory_make ("p2psrc", NULL);
    g_autoptr (GError) err = NULL;

    id[10] = id[10] == 'a' ? 'b' : 'a';
    g_object_set (src, "transport", 1, "peer", id, NULL);
    err = expect_start_error (src, GST_STATE_READY);
    assert_contains (err->message, "Invalid peer");
    gst_object_unref (src);
  }
  {
    /* ID@HOST:PORT with a bad port */
    g_autofree char *id = random_peer_id ();
    g_autofree char *peer = g_strdup_printf ("%s@127.0.0.1:99999", id);
    GstElement *src = gst_element_factory_make ("p2psrc", NULL);
    g_autoptr (GError) err = NULL;

    g_object_set (src, "transport", 1, "peer", peer, NULL);
    err = expect_start_error (src, GST_STATE_READY);
    assert_contains (err->message, "Invalid peer");
    gst_object_unref (src);
  }
}
GST_END_TEST;

GST_START_TEST (test_bad_allowed_peers)
{
  GstElement *sink = gst_element_factory_make ("p2psink", NULL);
  g_autofree char *good = random_peer_id ();
  g_autofree char *list = g_strdup_printf ("%s, nonsense", good);
  g_autoptr (GError) err = NULL;

  g_object_set (sink, "transport", 1, "port", 0, "allowed-peers", list, NULL);
  err = expect_start_error (sink, GST_STATE_READY);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_SETTINGS));
  assert_contains (err->message, "Invalid peer ID \"nonsense\" in allowed-peers");
  gst_object_unref (sink);
}
GST_END_TEST;

GST_START_TEST (test_bad_network_settings)
{
  static const struct {
    const char *property, *value, *expect;
  } cases[] = {
    { "turn-server", "bogus", "P2P_RELAY_SERVERS: 'bogus' is not a URL" },
    { "turn-server", "turn://user:pass@198.51.100.4", "P2P_RELAY_SERVERS" },
    { "rendezvous", "http://rv.example.org/", "P2P_BOOTSTRAP_PEERS" },
    { "stun-server", "stun.example.org", "P2P_STUN_SERVERS" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstElement *sink = gst_element_factory_make ("p2psink", NULL);
    g_autoptr (GError) err = NULL;

    g_object_set (sink, "port", 0, cases[i].property, cases[i].value, NULL);
    err = expect_start_error (sink, GST_STATE_READY);
    fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
            GST_RESOURCE_ERROR_SETTINGS));
    assert_contains (err->message, "Invalid network setting");
    assert_contains (err->message, cases[i].expect);
    gst_object_unref (sink);
  }
}
GST_END_TEST;

GST_START_TEST (test_bad_port_in_launch_line)
{
  GError *err = NULL;
  GstElement *p;

  /* (an out-of-range port such as 70000 is refused by the GParamSpec range
   * -1..65535 with a GObject warning) */
  p = gst_parse_launch ("p2psrc port=abc ! fakesink", &err);
  fail_unless (err != NULL);
  assert_contains (err->message, "port");
  g_clear_error (&err);
  if (p)
    gst_object_unref (p);
}
GST_END_TEST;

GST_START_TEST (test_unreachable_peer)
{
  g_autofree char *net = p2p_test_network_name ("unreachable");
  g_autofree char *id = random_peer_id ();
  GstElement *src = p2p_test_make_src (net, id);
  g_autoptr (GError) err = NULL;
  g_autofree char *expected = g_strdup_printf ("Could not connect to peer \"%s\": ",
      id);

  err = expect_start_error (src, GST_STATE_PLAYING);
  fail_unless (err->domain == GST_RESOURCE_ERROR);
  assert_contains (err->message, expected);
  /* the cause follows: something longer than the prefix */
  fail_unless (strlen (err->message) > strlen (expected) + 3, "%s",
      err->message);
  gst_object_unref (src);
}
GST_END_TEST;

GST_START_TEST (test_uri_handler)
{
  g_autofree char *id = random_peer_id ();
  g_autofree char *uri = g_strdup_printf ("p2p://%s", id);
  g_autofree char *peer = NULL, *back = NULL;
  GError *err = NULL;
  GstElement *src = gst_element_make_from_uri (GST_URI_SRC, uri, NULL, &err);

  fail_unless (src != NULL, "%s", err ? err->message : "");
  fail_unless (g_str_has_prefix (GST_OBJECT_NAME (gst_element_get_factory (src)),
          "p2psrc"));
  g_object_get (src, "peer", &peer, NULL);
  fail_unless_equals_string (peer, id);
  back = gst_uri_handler_get_uri (GST_URI_HANDLER (src));
  fail_unless_equals_string (back, uri);

  fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (src), "p2p://garbage", &err));
  fail_unless (g_error_matches (err, GST_URI_ERROR, GST_URI_ERROR_BAD_URI));
  assert_contains (err->message, "Invalid peer \"garbage\"");
  g_clear_error (&err);
  fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (src), "http://x", &err));
  g_clear_error (&err);
  gst_object_unref (src);
}
GST_END_TEST;

GST_START_TEST (test_identity_file)
{
  g_autofree char *dir = g_dir_make_tmp ("p2p-gst-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "id.key", NULL);
  g_autofree char *id_a = NULL, *id_b = NULL, *ticket = NULL;
  GstElement *sink = gst_element_factory_make ("p2psink", NULL);

  g_object_set (sink, "transport", 0, "port", 0, "identity", path, NULL);
  fail_unless_equals_int (gst_element_set_state (sink, GST_STATE_READY),
      GST_STATE_CHANGE_SUCCESS);
  g_object_get (sink, "peer-id", &id_a, "ticket", &ticket, NULL);
  fail_unless (id_a != NULL && ticket != NULL);
  gst_element_set_state (sink, GST_STATE_NULL);
  /* the key was saved: the same ID again */
  fail_unless_equals_int (gst_element_set_state (sink, GST_STATE_READY),
      GST_STATE_CHANGE_SUCCESS);
  g_object_get (sink, "peer-id", &id_b, NULL);
  fail_unless_equals_string (id_a, id_b);
  gst_element_set_state (sink, GST_STATE_NULL);
  gst_object_unref (sink);
  g_unlink (path);
  g_rmdir (dir);

  {
    /* a key file readable by others is refused */
    g_autofree char *dir2 = g_dir_make_tmp ("p2p-gst-XXXXXX", NULL);
    g_autofree char *bad = g_build_filename (dir2, "open.key", NULL);
    g_autoptr (P2pIdentity) id = p2p_identity_new ();
    g_autoptr (GError) err = NULL;

    fail_unless (p2p_identity_save (id, bad, NULL));
    g_chmod (bad, 0644);
    sink = gst_element_factory_make ("p2psink", NULL);
    g_object_set (sink, "transport", 0, "port", 0, "identity", bad, NULL);
    err = expect_start_error (sink, GST_STATE_READY);
    assert_contains (err->message, "Cannot use identity key file");
    gst_object_unref (sink);
    g_unlink (bad);
    g_rmdir (dir2);
  }
}
GST_END_TEST;

GST_START_TEST (test_state_cycles)
{
  GstElement *sink = gst_element_factory_make ("p2psink", NULL);
  GstElement *src = gst_element_factory_make ("p2psrc", NULL);

  /* real UDP sockets on any port, a provider thread each time */
  g_object_set (sink, "transport", 0, "port", 0, "async", FALSE, NULL);
  /* a listening source does not fail without a sender */
  g_object_set (src, "transport", 0, "port", 0, "mode", 0, NULL);
  for (guint i = 0; i < 100; i++) {
    fail_unless (gst_element_set_state (sink, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    fail_unless_equals_int (gst_element_set_state (src, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    fail_unless_equals_int (gst_element_set_state (sink, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
  }
  gst_object_unref (sink);
  gst_object_unref (src);
}
GST_END_TEST;

GST_START_TEST (test_properties)
{
  GstElement *src = gst_element_factory_make ("p2psrc", NULL);
  GstElement *sink = gst_element_factory_make ("p2psink", NULL);
  g_autoptr (GstStructure) stats = NULL;
  gboolean sync = TRUE;
  guint latency = 0;
  gint port = 0;
  g_autofree char *peer_id = NULL;

  g_object_get (sink, "sync", &sync, "port", &port, "peer-id", &peer_id, NULL);
  fail_if (sync, "p2psink defaults to sync=false");
  fail_unless_equals_int (port, -1);
  fail_unless (peer_id == NULL, "no peer ID before READY");
  g_object_get (src, "latency", &latency, "stats", &stats, NULL);
  fail_unless_equals_int (latency, 200);
  fail_unless (gst_structure_has_name (stats, "application/x-p2p-stats"));
  gst_object_unref (src);
  gst_object_unref (sink);
}
GST_END_TEST;

/* reconnect-max=N: exactly N retries (counted in the log), then the error */
static void
run_reconnect_bounded (guint max)
{
  g_autofree char *net = p2p_test_network_name ("reconnect");
  g_autofree char *id = random_peer_id ();
  GstElement *src = p2p_test_make_src (net, id);
  g_autoptr (GError) err = NULL;
  gint64 start = g_get_monotonic_time ();
  P2pLogProbe retries;

  p2p_log_probe_start (&retries, "p2psrc", "reconnecting in ");
  g_object_set (src, "reconnect", 1, "reconnect-delay", 20, "reconnect-max",
      max, NULL);
  err = expect_start_error (src, GST_STATE_PLAYING);
  assert_contains (err->message, "Could not connect to peer");
  fail_unless_equals_int (p2p_log_probe_stop (&retries), max);
  fail_unless (g_get_monotonic_time () - start >= (gint64) max * 20 * 1000,
      "gave up before %u reconnect delays", max);
  gst_object_unref (src);
}

GST_START_TEST (test_reconnect_bounded)
{
  run_reconnect_bounded (2);
  run_reconnect_bounded (5);
}
GST_END_TEST;

static Suite *
p2psrc_suite (void)
{
  Suite *s = suite_create ("p2psrc");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_properties);
  tcase_add_test (tc, test_bad_peer);
  tcase_add_test (tc, test_bad_allowed_peers);
  tcase_add_test (tc, test_bad_network_settings);
  tcase_add_test (tc, test_bad_port_in_launch_line);
  tcase_add_test (tc, test_unreachable_peer);
  tcase_add_test (tc, test_reconnect_bounded);
  tcase_add_test (tc, test_uri_handler);
  tcase_add_test (tc, test_identity_file);
  tcase_add_test (tc, test_state_cycles);
  return s;
}

GST_CHECK_MAIN (p2psrc);
