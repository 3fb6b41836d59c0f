/* p2p-test-util.h: helpers shared by the unit tests: a bounded wait on the
 * default main context, and a p2p-rendezvous subprocess on 127.0.0.1.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <gio/gio.h>

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

/* Starts $P2P_TEST_BUILDDIR/tools/p2p-rendezvous on 127.0.0.1, any port,
 * with the options @extra (NULL-terminated, nullable); *url gets its ws://
 * URL (transfer full). */
static inline GSubprocess *
p2p_test_start_rendezvous_with (const char *const *extra, char **url)
{
  const char *builddir = g_getenv ("P2P_TEST_BUILDDIR");
  g_autofree char *bin = g_build_filename (builddir ? builddir : ".", "tools",
      "p2p-rendezvous", NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, bin);
  g_ptr_array_add (argv, (char *) "--port=0");
  g_ptr_array_add (argv, (char *) "--host=127.0.0.1");
  for (guint i = 0; extra && extra[i]; i++)
    g_ptr_array_add (argv, (char *) extra[i]);
  g_ptr_array_add (argv, NULL);
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDataInputStream) in = NULL;
  g_autofree char *line = NULL;
  GSubprocess *p;

  g_subprocess_launcher_set_child_setup (l, p2p_test_child_setup, NULL, NULL);
  p = g_subprocess_launcher_spawnv (l, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (p));
  line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (line && g_str_has_prefix (line, "listening on ws://"));
  *url = g_strdup (line + strlen ("listening on "));
  return p;
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
