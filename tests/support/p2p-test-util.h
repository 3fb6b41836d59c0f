/* p2p-test-util.h: helpers shared by the unit tests, the sim benchmark
 * and the sim soak (GLib and the p2p API only; the element tests have
 * theirs in p2p-gst-test-util.h): a bounded wait on the default main
 * context, a p2p-rendezvous subprocess on 127.0.0.1 (also under
 * rdv-test-util.h's Server), removing a temporary directory, and the
 * result of an asynchronous p2p_provider_connect ().
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <p2p/p2p.h>

#ifndef WAIT_MS
#define WAIT_MS 20000
#endif

static inline gboolean
p2p_test_timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default main context until @cond holds; fails the test
 * after WAIT_MS milliseconds. */
#define WAIT_FOR(cond) G_STMT_START { \
    gboolean timed_out_ = FALSE; \
    guint t_ = g_timeout_add (WAIT_MS, p2p_test_timeout_cb, &timed_out_); \
    while (!(cond) && !timed_out_) \
      g_main_context_iteration (NULL, TRUE); \
    if (!timed_out_) g_source_remove (t_); \
    g_assert_true (cond); \
  } G_STMT_END

static inline void
p2p_test_child_setup (gpointer data)
{
  /* the child dies with the test, also when the test aborts */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* $P2P_TEST_BUILDDIR/tools/p2p-rendezvous (tools/p2p-rendezvous without
 * it). */
static inline char *
p2p_test_rendezvous_binary (void)
{
  const char *builddir = g_getenv ("P2P_TEST_BUILDDIR");
  if (builddir)
    return g_build_filename (builddir, "tools", "p2p-rendezvous", NULL);
  return g_build_filename ("tools", "p2p-rendezvous", NULL);
}

/* Spawns p2p-rendezvous --port=0 --host=127.0.0.1 with the options @extra
 * (NULL-terminated, nullable) through @l (its stdout a pipe) and reads the
 * first line it prints: *url gets its ws:// URL (transfer full), *in (if
 * not NULL) its stdout, for the lines after. */
static inline GSubprocess *
p2p_test_rendezvous_spawn (GSubprocessLauncher *l, const char *const *extra,
    char **url, GDataInputStream **in)
{
  g_autofree char *bin = p2p_test_rendezvous_binary ();
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, bin);
  g_ptr_array_add (argv, (char *) "--port=0");
  g_ptr_array_add (argv, (char *) "--host=127.0.0.1");
  for (guint i = 0; extra && extra[i]; i++)
    g_ptr_array_add (argv, (char *) extra[i]);
  g_ptr_array_add (argv, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDataInputStream) stdout_in = NULL;
  g_autofree char *line = NULL;
  GSubprocess *p;

  p = g_subprocess_launcher_spawnv (l, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  stdout_in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (p));
  line = g_data_input_stream_read_line (stdout_in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (line && g_str_has_prefix (line, "listening on ws://"));
  *url = g_strdup (line + strlen ("listening on "));
  if (in)
    *in = g_steal_pointer (&stdout_in);
  return p;
}

/* Starts $P2P_TEST_BUILDDIR/tools/p2p-rendezvous on 127.0.0.1, any port,
 * with the options @extra (NULL-terminated, nullable); *url gets its ws://
 * URL (transfer full). */
static inline GSubprocess *
p2p_test_start_rendezvous_with (const char *const *extra, char **url)
{
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);

  g_subprocess_launcher_set_child_setup (l, p2p_test_child_setup, NULL, NULL);
  return p2p_test_rendezvous_spawn (l, extra, url, NULL);
}

/* The same without extra options. */
static inline GSubprocess *
p2p_test_start_rendezvous (char **url)
{
  return p2p_test_start_rendezvous_with (NULL, url);
}

static inline void
p2p_test_stop_rendezvous (GSubprocess *p)
{
  g_subprocess_send_signal (p, SIGTERM);
  g_subprocess_wait (p, NULL, NULL);
  g_object_unref (p);
}

/* Removes @path and everything below it; a symbolic link is removed, never
 * followed. */
static inline void
p2p_test_rm_rf (const char *path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  const char *n;

  if (d) {
    while ((n = g_dir_read_name (d))) {
      g_autofree char *p = g_build_filename (path, n, NULL);

      if (g_file_test (p, G_FILE_TEST_IS_DIR) && !g_file_test (p, G_FILE_TEST_IS_SYMLINK))
        p2p_test_rm_rf (p);
      else
        g_unlink (p);
    }
    g_dir_close (d);
  }
  g_rmdir (path);
}

/* ICE host candidates on loopback only (P2P_ICE_ADDRESSES=127.0.0.1): a
 * test without a network namespace of its own must not aim connectivity
 * checks at the machine's own interfaces. Returns @cfg. */
static inline P2pConfig *
p2p_test_ice_on_loopback (P2pConfig *cfg)
{
  g_strfreev (cfg->ice_addresses);
  cfg->ice_addresses = g_strsplit ("127.0.0.1", ",", -1);
  return cfg;
}

/* The outcome of p2p_provider_connect () with p2p_test_connect_cb () as its
 * callback; p2p_test_connect_done (): whether it finished (a condition for
 * p2p_sim_network_run_until_cond ()). */
typedef struct {
  gboolean done;
  P2pConnection *conn;
  GError *error;
} P2pTestConnectResult;

static inline void
p2p_test_connect_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  P2pTestConnectResult *r = user_data;

  r->conn = p2p_provider_connect_finish (P2P_PROVIDER (source), result, &r->error);
  r->done = TRUE;
}

static inline gboolean
p2p_test_connect_done (gpointer data)
{
  return ((P2pTestConnectResult *) data)->done;
}
