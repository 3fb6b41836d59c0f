/* test-p2p-id.c: runs the built tools/p2p-id ($P2P_TEST_BUILDDIR) in a
 * temporary directory and checks its output and exit status.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <p2p/p2p.h>
#include "p2p-test-util.h"

typedef struct {
  char *dir;  /* temporary, also XDG_DATA_HOME */
  char *tool;
  char *out;
  char *err;
  int status;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const char *builddir = g_getenv ("P2P_TEST_BUILDDIR");
  g_autoptr (GError) err = NULL;

  if (builddir == NULL) {
    g_test_skip ("P2P_TEST_BUILDDIR is not set (run through meson test)");
    return;
  }
  f->tool = g_build_filename (builddir, "tools", "p2p-id", NULL);
  if (!g_file_test (f->tool, G_FILE_TEST_IS_EXECUTABLE)) {
    g_test_skip ("tools/p2p-id was not built");
    return;
  }
  f->dir = g_dir_make_tmp ("p2p-id-test-XXXXXX", &err);
  g_assert_no_error (err);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  if (f->dir)
    p2p_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->tool);
  g_free (f->out);
  g_free (f->err);
}

/* Runs p2p-id with the NULL-terminated arguments; fills out, err, status. */
static void
run (Fixture *f, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  const char *arg;
  va_list ap;

  g_ptr_array_add (args, f->tool);
  va_start (ap, f);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_cwd (launcher, f->dir);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", f->dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C", TRUE);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) args->pdata, &error);
  g_assert_no_error (error);
  g_clear_pointer (&f->out, g_free);
  g_clear_pointer (&f->err, g_free);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &f->out, &f->err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (proc));
  f->status = g_subprocess_get_exit_status (proc);
}

static char *
first_line (const char *text)
{
  const char *nl = strchr (text, '\n');

  return nl ? g_strndup (text, (gsize) (nl - text)) : g_strdup (text);
}

#define SKIP_IF_NEEDED(f) \
  if ((f)->dir == NULL) \
    return

static void
test_help (Fixture *f, gconstpointer data)
{
  const char *cmds[] = { "new", "show", "check" };

  SKIP_IF_NEEDED (f);
  run (f, "--help", NULL);
  g_assert_cmpint (f->status, ==, 0);
  g_assert_true (g_str_has_prefix (f->out, "Usage:\n  p2p-id COMMAND"));
  g_assert_nonnull (strstr (f->out, "\n  new "));
  g_assert_nonnull (strstr (f->out, "\n  show "));
  g_assert_nonnull (strstr (f->out, "\n  check "));

  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++) {
    g_autofree char *prefix = g_strdup_printf ("Usage:\n  p2p-id %s [OPTION", cmds[i]);

    run (f, cmds[i], "--help", NULL);
    g_assert_cmpint (f->status, ==, 0);
    g_assert_true (g_str_has_prefix (f->out, prefix));
  }
  run (f, "show", "--help", NULL);
  g_assert_nonnull (strstr (f->out, "--address=HOST:PORT"));
  run (f, "new", "--help", NULL);
  g_assert_nonnull (strstr (f->out, "--force"));
}

static void
test_usage_errors (Fixture *f, gconstpointer data)
{
  SKIP_IF_NEEDED (f);
  run (f, NULL);
  g_assert_cmpint (f->status, ==, 2);
  g_assert_true (g_str_has_prefix (f->err, "Usage:"));
  g_assert_cmpstr (f->out, ==, "");

  run (f, "frobnicate", NULL);
  g_assert_cmpint (f->status, ==, 2);
  g_assert_true (g_str_has_prefix (f->err, "p2p-id: unknown command 'frobnicate'\n"));

  run (f, "show", "--bogus", NULL);
  g_assert_cmpint (f->status, ==, 2);
  g_assert_true (g_str_has_prefix (f->err, "p2p-id show: Unknown option --bogus\n"));

  run (f, "check", NULL);
  g_assert_cmpint (f->status, ==, 2);
  g_assert_cmpstr (f->err, ==, "p2p-id check: expected one peer ID or ticket, got 0 arguments\n");

  run (f, "new", "extra", NULL);
  g_assert_cmpint (f->status, ==, 2);
  g_assert_cmpstr (f->err, ==, "p2p-id new: unexpected argument 'extra'\n");
}

static void
test_new_show_check (Fixture *f, gconstpointer data)
{
  g_autofree char *key = NULL;
  g_autofree char *id = NULL;
  g_autofree char *id2 = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *msg = NULL;
  g_autofree char *typo = NULL;
  struct stat st;
  P2pPeerId parsed;

  SKIP_IF_NEEDED (f);
  key = g_build_filename (f->dir, "gst-p2p", "identity.key", NULL);

  /* show without an identity says how to create one */
  run (f, "show", NULL);
  g_assert_cmpint (f->status, ==, 1);
  msg = g_strdup_printf ("p2p-id: key file %s does not exist; create one with: "
      "p2p-id new --file %s\n", key, key);
  g_assert_cmpstr (f->err, ==, msg);
  g_assert_cmpstr (f->out, ==, "");

  run (f, "new", NULL);
  g_assert_cmpint (f->status, ==, 0);
  id = first_line (f->out);
  g_assert_true (p2p_peer_id_parse (id, &parsed, NULL));
  expected = g_strdup_printf ("%s\nkey file: %s\n", id, key);
  g_assert_cmpstr (f->out, ==, expected);
  g_assert_cmpint (g_stat (key, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  /* refuses to overwrite */
  run (f, "new", NULL);
  g_assert_cmpint (f->status, ==, 1);
  g_clear_pointer (&msg, g_free);
  msg = g_strdup_printf ("p2p-id: %s already exists; use --force to replace it "
      "(the old identity will be lost)\n", key);
  g_assert_cmpstr (f->err, ==, msg);
  run (f, "show", NULL);
  g_assert_cmpint (f->status, ==, 0);
  g_clear_pointer (&expected, g_free);
  expected = g_strdup_printf ("%s\n", id);
  g_assert_cmpstr (f->out, ==, expected);

  /* a bad option value: nothing on stdout (the ID used to be printed
   * before the error, so $(p2p-id show ...) got half an answer) */
  run (f, "show", "--address", "bad", NULL);
  g_assert_cmpint (f->status, ==, 1);
  g_assert_cmpstr (f->out, ==, "");
  g_assert_nonnull (strstr (f->err, "--address: missing port in 'bad'"));

  /* --force replaces */
  run (f, "new", "--force", NULL);
  g_assert_cmpint (f->status, ==, 0);
  id2 = first_line (f->out);
  g_assert_cmpstr (id2, !=, id);
  run (f, "show", NULL);
  g_assert_true (g_str_has_prefix (f->out, id2));

  /* check the ID; a changed character is rejected with the reason */
  run (f, "check", id2, NULL);
  g_assert_cmpint (f->status, ==, 0);
  g_clear_pointer (&expected, g_free);
  expected = g_strdup_printf ("valid peer ID\npeer ID: %s\n", id2);
  g_assert_cmpstr (f->out, ==, expected);

  typo = g_strdup (id2);
  typo[20] = typo[20] == 'a' ? 'b' : 'a';
  run (f, "check", typo, NULL);
  g_assert_cmpint (f->status, ==, 1);
  g_assert_cmpstr (f->out, ==, "");
  g_assert_cmpstr (f->err, ==, "p2p-id: invalid peer: checksum mismatch: the peer ID has a typo\n");

  typo[20] = id2[20];
  typo[6] = '1';
  run (f, "check", typo, NULL);
  g_assert_cmpint (f->status, ==, 1);
  g_assert_cmpstr (f->err, ==, "p2p-id: invalid peer: peer ID: character 7 ('1') is not in the "
      "base32 alphabet a-z2-7\n");

  run (f, "check", "abc", NULL);
  g_assert_cmpint (f->status, ==, 1);
  g_assert_cmpstr (f->err, ==, "p2p-id: invalid peer: a peer ID has 55 characters, got 3\n");
}

static void
test_tickets (Fixture *f, gconstpointer data)
{
  g_autofree char *key = NULL;
  g_autofree char *id = NULL;
  g_autofree char *ticket = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *with_addr = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (P2pPeerInfo) info = NULL;
  g_autoptr (GError) err = NULL;

  SKIP_IF_NEEDED (f);
  key = g_build_filename (f->dir, "custom", "my.key", NULL);
  run (f, "new", "--file", key, NULL);
  g_assert_cmpint (f->status, ==, 0);
  id = first_line (f->out);

  run (f, "show", "--file", key, "--address", "192.0.2.1:8800", "-a", "[2001:db8::7]:9",
      "--relay", "turn://relay.example:3478", NULL);
  g_assert_cmpint (f->status, ==, 0);
  lines = g_strsplit (f->out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  g_assert_cmpstr (lines[0], ==, id);
  g_assert_true (g_str_has_prefix (lines[1], "ticket: p2p1"));
  g_assert_cmpstr (lines[2], ==, "");
  ticket = g_strdup (lines[1] + strlen ("ticket: "));

  info = p2p_peer_info_parse (ticket, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (p2p_peer_info_get_addresses (info)[0], ==, "192.0.2.1:8800");
  g_assert_cmpstr (p2p_peer_info_get_addresses (info)[1], ==, "[2001:db8::7]:9");
  g_assert_cmpstr (p2p_peer_info_get_relay (info), ==, "turn://relay.example:3478");

  run (f, "check", ticket, NULL);
  g_assert_cmpint (f->status, ==, 0);
  expected = g_strdup_printf ("valid ticket\npeer ID: %s\naddress: 192.0.2.1:8800\n"
      "address: [2001:db8::7]:9\nrelay: turn://relay.example:3478\n", id);
  g_assert_cmpstr (f->out, ==, expected);

  ticket[10] = ticket[10] == 'a' ? 'b' : 'a';
  run (f, "check", ticket, NULL);
  g_assert_cmpint (f->status, ==, 1);
  g_assert_cmpstr (f->err, ==,
      "p2p-id: invalid peer: checksum mismatch: the ticket has a typo or was cut off\n");

  with_addr = g_strdup_printf ("%s@Example.org:443", id);
  run (f, "check", with_addr, NULL);
  g_assert_cmpint (f->status, ==, 0);
  g_clear_pointer (&expected, g_free);
  expected = g_strdup_printf ("valid peer ID with address\npeer ID: %s\naddress: example.org:443\n", id);
  g_assert_cmpstr (f->out, ==, expected);

  run (f, "show", "--file", key, "--address", "nope", NULL);
  g_assert_cmpint (f->status, ==, 1);
  g_assert_cmpstr (f->err, ==, "p2p-id: --address: missing port in 'nope'; expected HOST:PORT\n");

  run (f, "show", "--file", key, "--relay", "not a url", NULL);
  g_assert_cmpint (f->status, ==, 1);
  g_assert_cmpstr (f->err, ==,
      "p2p-id: --relay 'not a url' is not a URL (at most 512 characters, no spaces)\n");
}

static void
test_bad_key_file (Fixture *f, gconstpointer data)
{
  g_autofree char *key = NULL;
  g_autofree char *msg = NULL;

  SKIP_IF_NEEDED (f);
  key = g_build_filename (f->dir, "open.key", NULL);
  run (f, "new", "--file", key, NULL);
  g_assert_cmpint (f->status, ==, 0);
  g_assert_cmpint (g_chmod (key, 0644), ==, 0);
  run (f, "show", "--file", key, NULL);
  g_assert_cmpint (f->status, ==, 1);
  msg = g_strdup_printf ("p2p-id: key file %s is readable by others (mode 0644); run chmod 600 %s\n",
      key, key);
  g_assert_cmpstr (f->err, ==, msg);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/p2p-id/help", test_help);
  ADD ("/p2p-id/usage-errors", test_usage_errors);
  ADD ("/p2p-id/new-show-check", test_new_show_check);
  ADD ("/p2p-id/tickets", test_tickets);
  ADD ("/p2p-id/bad-key-file", test_bad_key_file);
#undef ADD
  return g_test_run ();
}
