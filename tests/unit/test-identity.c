/* test-identity.c: Ed25519 identities, signatures and the key file.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <p2p/p2p.h>
#include "p2p-test-util.h"

/* RFC 8032 §7.1, TEST 1. */
#define RFC8032_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define RFC8032_PUB "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define RFC8032_SIG "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155" \
  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) err = NULL;

  f->dir = g_dir_make_tmp ("p2p-identity-XXXXXX", &err);
  g_assert_no_error (err);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  p2p_test_rm_rf (f->dir);
  g_free (f->dir);
}

static void
hex_decode (const char *hex, guint8 *out, gsize len)
{
  g_assert_cmpuint (strlen (hex), ==, len * 2);
  for (gsize i = 0; i < len; i++)
    out[i] = (guint8) (g_ascii_xdigit_value (hex[2 * i]) << 4 | g_ascii_xdigit_value (hex[2 * i + 1]));
}

static char *
write_file (Fixture *f, const char *name, const char *content, int mode)
{
  char *path = g_build_filename (f->dir, name, NULL);
  g_autoptr (GError) err = NULL;

  g_file_set_contents (path, content, -1, &err);
  g_assert_no_error (err);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
  return path;
}

static void
test_new_and_sign (void)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = p2p_identity_new ();
  g_autofree char *s = p2p_identity_dup_peer_id_string (a);
  const guint8 *sk = p2p_identity_get_secret_key (a);
  const guint8 msg[] = "hello";
  guint8 sig[P2P_IDENTITY_SIGNATURE_LEN], sig_empty[P2P_IDENTITY_SIGNATURE_LEN];
  guint8 bad[sizeof msg];
  P2pPeerId parsed;

  g_assert_true (G_TYPE_IS_OBJECT (P2P_TYPE_IDENTITY));
  g_assert_cmpuint (strlen (s), ==, P2P_PEER_ID_TEXT_LEN);
  g_assert_true (p2p_peer_id_parse (s, &parsed, NULL));
  g_assert_true (p2p_peer_id_equal (&parsed, p2p_identity_get_peer_id (a)));
  g_assert_false (p2p_peer_id_equal (p2p_identity_get_peer_id (a), p2p_identity_get_peer_id (b)));
  /* libsodium layout: seed || public */
  g_assert_cmpmem (sk + 32, 32, p2p_identity_get_peer_id (a)->key, 32);

  p2p_identity_sign (a, msg, sizeof msg, sig);
  g_assert_true (p2p_identity_verify (p2p_identity_get_peer_id (a), msg, sizeof msg, sig));
  g_assert_false (p2p_identity_verify (p2p_identity_get_peer_id (b), msg, sizeof msg, sig));
  memcpy (bad, msg, sizeof msg);
  bad[0] ^= 1;
  g_assert_false (p2p_identity_verify (p2p_identity_get_peer_id (a), bad, sizeof bad, sig));
  sig[10] ^= 0x80;
  g_assert_false (p2p_identity_verify (p2p_identity_get_peer_id (a), msg, sizeof msg, sig));

  p2p_identity_sign (a, NULL, 0, sig_empty);
  g_assert_true (p2p_identity_verify (p2p_identity_get_peer_id (a), NULL, 0, sig_empty));
  g_assert_false (p2p_identity_verify (p2p_identity_get_peer_id (a), msg, 1, sig_empty));
}

/* A key file written by hand with the RFC 8032 seed gives its public key and
 * its signature of the empty message. */
static void
test_rfc8032_key_file (Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_file (f, "rfc.key",
      "gst-p2p-identity-v1\r\n# a comment\n\n  seed:  " RFC8032_SEED "  \n", 0600);
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pIdentity) id = p2p_identity_new_from_file (path, &err);
  guint8 pub[32], expected_sig[64], sig[64];

  g_assert_no_error (err);
  g_assert_nonnull (id);
  hex_decode (RFC8032_PUB, pub, 32);
  hex_decode (RFC8032_SIG, expected_sig, 64);
  g_assert_cmpmem (p2p_identity_get_peer_id (id)->key, 32, pub, 32);
  p2p_identity_sign (id, NULL, 0, sig);
  g_assert_cmpmem (sig, 64, expected_sig, 64);
}

static void
test_save_and_load (Fixture *f, gconstpointer data)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autoptr (P2pIdentity) b = NULL;
  g_autofree char *path = g_build_filename (f->dir, "id.key", NULL);
  g_autofree char *content = NULL;
  g_autofree char *id_text = p2p_identity_dup_peer_id_string (a);
  g_autofree char *comment = g_strdup_printf ("# peer ID: %s\n", id_text);
  g_autoptr (GError) err = NULL;
  g_autoptr (GDir) dir = NULL;
  struct stat st;
  guint n_files = 0;

  g_assert_true (p2p_identity_save (a, path, &err));
  g_assert_no_error (err);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_true (g_file_get_contents (path, &content, NULL, NULL));
  g_assert_true (g_str_has_prefix (content, "gst-p2p-identity-v1\n"));
  g_assert_nonnull (strstr (content, comment));
  g_assert_nonnull (strstr (content, "\nseed: "));

  b = p2p_identity_new_from_file (path, &err);
  g_assert_no_error (err);
  g_assert_true (p2p_peer_id_equal (p2p_identity_get_peer_id (a), p2p_identity_get_peer_id (b)));
  g_assert_cmpmem (p2p_identity_get_secret_key (a), 64, p2p_identity_get_secret_key (b), 64);

  /* Saving again replaces the file atomically; no temporary file is left. */
  g_clear_object (&b);
  b = p2p_identity_new ();
  g_assert_true (p2p_identity_save (b, path, &err));
  g_assert_no_error (err);
  g_clear_object (&a);
  a = p2p_identity_new_from_file (path, &err);
  g_assert_no_error (err);
  g_assert_true (p2p_peer_id_equal (p2p_identity_get_peer_id (a), p2p_identity_get_peer_id (b)));
  dir = g_dir_open (f->dir, 0, NULL);
  while (g_dir_read_name (dir) != NULL)
    n_files++;
  g_assert_cmpuint (n_files, ==, 1);
}

static void
test_save_errors (Fixture *f, gconstpointer data)
{
  g_autoptr (P2pIdentity) a = p2p_identity_new ();
  g_autofree char *path = g_build_filename (f->dir, "missing-dir", "id.key", NULL);
  g_autofree char *dir_path = g_build_filename (f->dir, "adir", NULL);
  g_autoptr (GError) err = NULL;

  g_assert_false (p2p_identity_save (a, path, &err));
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (err->message, "cannot create key file in "));
  g_assert_nonnull (strstr (err->message, "No such file or directory"));
  g_clear_error (&err);

  /* a directory in the way of the rename */
  g_assert_cmpint (g_mkdir (dir_path, 0700), ==, 0);
  g_assert_false (p2p_identity_save (a, dir_path, &err));
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (err->message, "cannot write key file "));
}

static void
assert_load_fails (const char *path, const char *expected_message)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pIdentity) id = p2p_identity_new_from_file (path, &err);

  g_assert_null (id);
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (err->message, ==, expected_message);
}

#define GOOD_SEED "seed: " RFC8032_SEED "\n"

static void
test_load_errors (Fixture *f, gconstpointer data)
{
  struct {
    const char *content;
    int mode;
    const char *message; /* FILE = path */
  } cases[] = {
    { "gst-p2p-identity-v1\n" GOOD_SEED, 0644,
      "key file FILE is readable by others (mode 0644); run chmod 600 FILE" },
    { "gst-p2p-identity-v1\n" GOOD_SEED, 0640,
      "key file FILE is readable by others (mode 0640); run chmod 600 FILE" },
    { "gst-p2p-identity-v1\n" GOOD_SEED, 0602,
      "key file FILE is writable by others (mode 0602); run chmod 600 FILE" },
    { "", 0600,
      "key file FILE is not a gst-p2p identity: the first line must be \"gst-p2p-identity-v1\"" },
    { "gst-p2p-identity-v2\n" GOOD_SEED, 0600,
      "key file FILE is not a gst-p2p identity: the first line must be \"gst-p2p-identity-v1\"" },
    { "gst-p2p-identity-v1\n# only a comment\n", 0600,
      "key file FILE has no \"seed:\" line" },
    { "gst-p2p-identity-v1\nseed: 00zz\n", 0600,
      "key file FILE: the seed must be hexadecimal, character 3 is not" },
    { "gst-p2p-identity-v1\nseed: 0011\n", 0600,
      "key file FILE: the seed has 4 hex digits, expected 64 (32 bytes)" },
    { "gst-p2p-identity-v1\nseed: " RFC8032_SEED "00\n", 0600,
      "key file FILE: the seed has 66 hex digits, expected 64 (32 bytes)" },
    { "gst-p2p-identity-v1\n" GOOD_SEED GOOD_SEED, 0600,
      "key file FILE, line 3: unexpected content (expected one \"seed: <64 hex digits>\" line)" },
    { "gst-p2p-identity-v1\nsecret: 1234\n", 0600,
      "key file FILE, line 2: unexpected content (expected one \"seed: <64 hex digits>\" line)" },
    { "gst-p2p-identity-v1\n\xff\xfe\n", 0600,
      "key file FILE is not a gst-p2p identity (binary content)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *name = g_strdup_printf ("case%u.key", i);
    g_autofree char *path = write_file (f, name, cases[i].content, cases[i].mode);
    g_auto (GStrv) parts = g_strsplit (cases[i].message, "FILE", -1);
    g_autofree char *msg = g_strjoinv (path, parts);

    assert_load_fails (path, msg);
  }
}

/* issue 11 item 13: a symbolic link to a valid key file is refused (an
 * attacker who can write the directory must not redirect us to a key of
 * theirs, or make us read another file); the link's target still loads. */
static void
test_key_file_symlink (Fixture *f, gconstpointer data)
{
  g_autofree char *real = write_file (f, "real.key",
      "gst-p2p-identity-v1\n" GOOD_SEED, 0600);
  g_autofree char *link = g_build_filename (f->dir, "link.key", NULL);
  g_autofree char *msg = g_strdup_printf ("key file %s is a symbolic link; "
      "refusing to follow it (give the path of the file itself)", link);
  g_autoptr (P2pIdentity) id = NULL;
  g_autoptr (GError) err = NULL;

  g_assert_cmpint (symlink (real, link), ==, 0);
  id = p2p_identity_new_from_file (real, &err);
  g_assert_no_error (err);
  g_assert_nonnull (id);
  assert_load_fails (link, msg);
  /* load_or_create does not replace it either */
  {
    g_autoptr (P2pIdentity) id2 = p2p_identity_load_or_create (link, &err);

    g_assert_null (id2);
    g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
    g_assert_cmpstr (err->message, ==, msg);
  }
}

/* issue 11 item 13: a key file owned by another user is refused, whatever
 * its mode (that user could have chosen the key). Needs root to chown. */
static void
test_key_file_owner (Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_file (f, "other.key",
      "gst-p2p-identity-v1\n" GOOD_SEED, 0600);
  g_autofree char *msg = NULL;
  const uid_t nobody = 65534;

  if (geteuid () != 0) {
    g_test_skip ("chown to another uid needs root");
    return;
  }
  g_assert_cmpint (chown (path, nobody, (gid_t) -1), ==, 0);
  msg = g_strdup_printf ("key file %s is owned by uid %u, not by this user "
      "(uid 0); refusing a key another user controls", path, (guint) nobody);
  assert_load_fails (path, msg);
}

static void
test_load_errors_files (Fixture *f, gconstpointer data)
{
  g_autofree char *missing = g_build_filename (f->dir, "nope.key", NULL);
  g_autofree char *msg = g_strdup_printf (
      "key file %s does not exist; create one with: p2p-id new --file %s", missing, missing);
  g_autofree char *big_content = g_strnfill (5000, '#');
  g_autofree char *big = NULL;
  g_autofree char *big_msg = NULL;
  g_autofree char *nul_path = g_build_filename (f->dir, "nul.key", NULL);
  g_autofree char *nul_msg = NULL;
  g_autofree char *dir_msg = g_strdup_printf ("key file %s is not a regular file", f->dir);
  static const char nul_content[] = "gst-p2p-identity-v1\n\0seed";

  assert_load_fails (missing, msg);

  big_content[0] = 'g';
  big = write_file (f, "big.key", big_content, 0600);
  big_msg = g_strdup_printf ("key file %s is too large to be a gst-p2p identity (over 4096 bytes)", big);
  assert_load_fails (big, big_msg);

  g_assert_true (g_file_set_contents (nul_path, nul_content, sizeof nul_content, NULL));
  g_assert_cmpint (g_chmod (nul_path, 0600), ==, 0);
  nul_msg = g_strdup_printf ("key file %s is not a gst-p2p identity (binary content)", nul_path);
  assert_load_fails (nul_path, nul_msg);

  assert_load_fails (f->dir, dir_msg);
}

static void
test_load_or_create (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "a", "b", "identity.key", NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pIdentity) a = NULL;
  g_autoptr (P2pIdentity) b = NULL;
  struct stat st;

  a = p2p_identity_load_or_create (path, &err);
  g_assert_no_error (err);
  g_assert_nonnull (a);
  g_assert_cmpint (g_stat (parent, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  b = p2p_identity_load_or_create (path, &err);
  g_assert_no_error (err);
  g_assert_true (p2p_peer_id_equal (p2p_identity_get_peer_id (a), p2p_identity_get_peer_id (b)));

  /* an existing file with bad permissions is refused, not replaced */
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  g_clear_object (&b);
  b = p2p_identity_load_or_create (path, &err);
  g_assert_null (b);
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (err->message, "chmod 600"));
}

static void
test_load_or_create_errors (Fixture *f, gconstpointer data)
{
  g_autofree char *file = write_file (f, "plain", "x", 0600);
  g_autofree char *path = g_build_filename (file, "sub", "identity.key", NULL);
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pIdentity) a = p2p_identity_load_or_create (path, &err);

  g_assert_null (a);
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (err->message, "cannot create directory "));
}

static void
test_default_path (void)
{
  g_autofree char *path = p2p_identity_default_path ();
  g_autofree char *expected = g_build_filename (g_get_user_data_dir (), "gst-p2p",
      "identity.key", NULL);

  g_assert_cmpstr (path, ==, expected);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/identity/new-and-sign", test_new_and_sign);
  g_test_add_func ("/identity/default-path", test_default_path);
#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/identity/rfc8032-key-file", test_rfc8032_key_file);
  ADD ("/identity/save-and-load", test_save_and_load);
  ADD ("/identity/save-errors", test_save_errors);
  ADD ("/identity/load-errors", test_load_errors);
  ADD ("/identity/load-errors-files", test_load_errors_files);
  ADD ("/identity/load-or-create", test_load_or_create);
  ADD ("/identity/load-or-create-errors", test_load_or_create_errors);
  ADD ("/security/key-file-symlink", test_key_file_symlink);
  ADD ("/security/key-file-owner", test_key_file_owner);
#undef ADD
  return g_test_run ();
}
