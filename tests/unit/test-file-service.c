/* test-file-service.c: P2pFileService and the file client over real QUIC
 * on loopback (issue 13): ranges and validators, LIST, every bad path
 * (".." in every position, absolute, symbolic links out of the root, NUL,
 * invalid UTF-8, directory, FIFO, not found, a loop, a component swapped
 * for a link out while being read) with its status and text sent
 * as raw requests (the client's own check is bypassed), the peer allow-list,
 * the per-peer request limit, and more requests on one connection than
 * QUIC's concurrent stream limit (and the connection's stream table stays
 * small), answers nobody reads (reset when the stall watchdog ends them),
 * and protocol evolution: a version-N listener without the "files"
 * capability against a version-N+1 dialer (issue 18).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE 1           /* renameat2 */
#include <p2p/p2p.h>
#include "p2p-test-util.h"
#include "p2p-quic-connection-private.h"
#include "p2p-quic-provider-private.h"
#include "p2p-file-service-private.h"
#include <glib/gstdio.h>
#include <string.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>

#define BIG_SIZE (300 * 1024 + 17)

typedef struct {
  char *tmp;                    /* holds root/ and outside/ */
  char *root;
  guint8 *big;
  P2pQuicProvider *a, *b;
  P2pListener *listener;
  P2pFileService *service;
  P2pConnection *conn;          /* b -> a */
} Fixture;

static void
write_file (const char *dir, const char *name, const void *data, gsize len)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (p, data, len, &error);
  g_assert_no_error (error);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pIdentity) ida = p2p_identity_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketAddress) local = NULL;
  g_autofree char *id = NULL, *peer = NULL, *outside = NULL, *p = NULL, *q = NULL, *q2 = NULL;
  GRand *rand = g_rand_new_with_seed (13);

  f->tmp = g_dir_make_tmp ("p2p-file-XXXXXX", &error);
  g_assert_no_error (error);
  f->root = g_build_filename (f->tmp, "root", NULL);
  outside = g_build_filename (f->tmp, "outside", NULL);
  g_assert_cmpint (g_mkdir (f->root, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (outside, 0755), ==, 0);
  write_file (outside, "secret", "SECRET", 6);
  f->big = g_malloc (BIG_SIZE);
  for (gsize i = 0; i < BIG_SIZE; i++)
    f->big[i] = g_rand_int (rand) & 0xff;
  g_rand_free (rand);
  write_file (f->root, "big.bin", f->big, BIG_SIZE);
  p = g_build_filename (f->root, "sub", NULL);
  g_assert_cmpint (g_mkdir (p, 0755), ==, 0);
  write_file (p, "b.txt", "hello b", 7);
  g_free (p);
  p = g_build_filename (f->root, "Ärger é.txt", NULL);
  g_assert_true (g_file_set_contents (p, "utf8", 4, NULL));
  g_free (p);
  /* links: out of the root (file and directory), absolute and relative;
   * inside the root (allowed) */
  p = g_build_filename (f->root, "out-abs", NULL);
  q = g_build_filename (outside, "secret", NULL);
  g_assert_cmpint (symlink (q, p), ==, 0);
  g_free (p);
  p = g_build_filename (f->root, "sub", "out-rel", NULL);
  g_assert_cmpint (symlink ("../../outside/secret", p), ==, 0);
  g_free (p);
  p = g_build_filename (f->root, "sub", "out-dir", NULL);
  g_assert_cmpint (symlink (outside, p), ==, 0);
  g_free (p);
  p = g_build_filename (f->root, "in-link", NULL);
  g_assert_cmpint (symlink ("sub/b.txt", p), ==, 0);
  g_free (p);
  /* inside too: absolute (by the root's real path), and up then down */
  p = g_build_filename (f->root, "in-abs", NULL);
  q2 = g_build_filename (f->root, "sub", NULL);
  g_assert_cmpint (symlink (q2, p), ==, 0);
  g_free (p);
  p = g_build_filename (f->root, "sub", "up-in", NULL);
  g_assert_cmpint (symlink ("../big.bin", p), ==, 0);
  g_free (p);
  /* a loop */
  p = g_build_filename (f->root, "loop", NULL);
  g_assert_cmpint (symlink ("loop", p), ==, 0);
  g_free (p);
  p = g_build_filename (f->root, "fifo", NULL);
  g_assert_cmpint (mkfifo (p, 0644), ==, 0);

  cfg->idle_timeout_ms = 10000;
  cfg->keepalive_ms = 0;
  cfg->listen_port = 0;
  f->a = p2p_quic_provider_new (ida, cfg);
  f->b = p2p_quic_provider_new (NULL, cfg);
  f->listener = p2p_provider_listen (P2P_PROVIDER (f->a), "127.0.0.1:0", &error);
  g_assert_no_error (error);
  f->service = p2p_file_service_new (f->root, &error);
  g_assert_no_error (error);
  p2p_file_service_attach_listener (f->service, f->listener);
  local = p2p_listener_get_local_address (f->listener);
  id = p2p_identity_dup_peer_id_string (ida);
  peer = g_strdup_printf ("%s@127.0.0.1:%u", id,
      g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  f->conn = p2p_provider_connect (P2P_PROVIDER (f->b), peer, NULL, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  p2p_connection_close (f->conn, "done");
  g_clear_object (&f->conn);
  p2p_listener_close (f->listener);
  p2p_file_service_stop (f->service);
  g_clear_object (&f->service);
  g_clear_object (&f->listener);
  g_clear_object (&f->b);
  g_clear_object (&f->a);
  p2p_test_rm_rf (f->tmp);
  g_free (f->tmp);
  g_free (f->root);
  g_free (f->big);
}

static void
test_ranges (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->root, "big.bin", NULL);
  struct stat st;
  struct {
    guint64 off, len, expect;
  } cases[] = {
    { 0, P2P_FILE_TO_END, BIG_SIZE },
    { 1000, 65536, 65536 },
    { BIG_SIZE - 10, 100, 10 },
    { BIG_SIZE, 100, 0 },
    { 5, 0, 0 },
  };

  g_assert_cmpint (stat (path, &st), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    P2pFileHeader hdr;
    g_autoptr (GBytes) b = p2p_file_client_get (f->conn, "big.bin", cases[i].off,
        cases[i].len, &hdr, NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (b), ==, cases[i].expect);
    g_assert_true (memcmp (g_bytes_get_data (b, NULL), f->big + cases[i].off,
            cases[i].expect) == 0);
    g_assert_cmpuint (hdr.size, ==, BIG_SIZE);
    g_assert_cmpuint (hdr.file_id, ==, st.st_ino);
    g_assert_cmpuint (hdr.mtime_ns, ==,
        (guint64) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
  }
  {
    g_autoptr (GBytes) b = p2p_file_client_get (f->conn, "big.bin", BIG_SIZE + 1, 1, NULL,
        NULL, &error);

    g_assert_null (b);
    g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_RANGE);
    g_assert_nonnull (strstr (error->message, "is past the end of \"big.bin\""));
    g_clear_error (&error);
  }
  /* TAIL: the last bytes; the body starts at size - body length; a whole
   * file when it is shorter; an offset other than 0 is a bad request */
  {
    struct {
      const char *path;
      guint64 off, len;
      guint64 expect_len;
      gint status;
    } tails[] = {
      { "big.bin", 0, 1000, 1000, P2P_FILE_STATUS_OK },
      { "big.bin", 0, BIG_SIZE + 5, BIG_SIZE, P2P_FILE_STATUS_OK },
      { "in-link", 0, 65536, 7, P2P_FILE_STATUS_OK },
      { "big.bin", 3, 10, 0, P2P_FILE_STATUS_BAD_REQUEST },
      { "nope", 0, 10, 0, P2P_FILE_STATUS_NOT_FOUND },
    };

    for (guint i = 0; i < G_N_ELEMENTS (tails); i++) {
      g_autoptr (GIOStream) s = p2p_file_client_send_request (f->conn, P2P_FILE_REQUEST_TAIL,
          tails[i].path, tails[i].off, tails[i].len, NULL, &error);
      g_autofree guint8 *body = NULL;
      P2pFileHeader hdr;
      gsize got = 0;

      g_assert_no_error (error);
      if (tails[i].status != P2P_FILE_STATUS_OK) {
        g_assert_false (p2p_file_client_read_header (s, &hdr, NULL, &error));
        g_assert_error (error, P2P_FILE_ERROR, tails[i].status);
        g_clear_error (&error);
        continue;
      }
      g_assert_true (p2p_file_client_read_header (s, &hdr, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (hdr.kind, ==, P2P_FILE_REQUEST_TAIL);
      g_assert_cmpuint (hdr.body_len, ==, tails[i].expect_len);
      body = g_malloc (hdr.body_len);
      g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (s), body,
              hdr.body_len, &got, NULL, &error));
      g_assert_cmpuint (got, ==, hdr.body_len);
      if (g_str_equal (tails[i].path, "big.bin"))
        g_assert_cmpmem (body, got, f->big + hdr.size - got, got);
      else
        g_assert_cmpmem (body, got, "hello b", 7);
    }
  }
  /* a link inside the root is followed; a UTF-8 name */
  {
    g_autoptr (GBytes) b = p2p_file_client_get (f->conn, "in-link", 0, P2P_FILE_TO_END, NULL,
        NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpmem (g_bytes_get_data (b, NULL), g_bytes_get_size (b), "hello b", 7);
  }
  {
    g_autoptr (GBytes) b = p2p_file_client_get (f->conn, "Ärger é.txt", 0, P2P_FILE_TO_END,
        NULL, NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpmem (g_bytes_get_data (b, NULL), g_bytes_get_size (b), "utf8", 4);
  }
  /* links that stay inside: absolute (by the root's real path), and a
   * relative one that goes up and down again */
  {
    g_autoptr (GBytes) b = p2p_file_client_get (f->conn, "in-abs/b.txt", 0, P2P_FILE_TO_END,
        NULL, NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpmem (g_bytes_get_data (b, NULL), g_bytes_get_size (b), "hello b", 7);
  }
  {
    g_autoptr (GBytes) b = p2p_file_client_get (f->conn, "sub/up-in", 1000, 5000, NULL, NULL,
        &error);

    g_assert_no_error (error);
    g_assert_cmpmem (g_bytes_get_data (b, NULL), g_bytes_get_size (b), f->big + 1000, 5000);
  }
}

static void
test_list (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) e = p2p_file_client_list (f->conn, "", NULL, &error);
  const char *names[] = { "big.bin", "fifo", "in-abs", "in-link", "loop", "out-abs", "sub",
    "Ärger é.txt" };
  GFileType types[] = { G_FILE_TYPE_REGULAR, G_FILE_TYPE_SPECIAL,
    G_FILE_TYPE_SYMBOLIC_LINK, G_FILE_TYPE_SYMBOLIC_LINK, G_FILE_TYPE_SYMBOLIC_LINK,
    G_FILE_TYPE_SYMBOLIC_LINK, G_FILE_TYPE_DIRECTORY, G_FILE_TYPE_REGULAR };

  g_assert_no_error (error);
  g_assert_cmpuint (e->len, ==, G_N_ELEMENTS (names));
  for (guint i = 0; i < e->len; i++) {
    GFileInfo *info = g_ptr_array_index (e, i);

    g_assert_cmpstr (g_file_info_get_name (info), ==, names[i]);
    g_assert_cmpint (g_file_info_get_file_type (info), ==, types[i]);
  }
  g_assert_cmpint (g_file_info_get_size (g_ptr_array_index (e, 0)), ==, BIG_SIZE);
  g_clear_pointer (&e, g_ptr_array_unref);
  /* also through an absolute link that stays inside */
  for (guint k = 0; k < 2; k++) {
    e = p2p_file_client_list (f->conn, k == 0 ? "sub" : "in-abs", NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (e->len, ==, 4);
    g_assert_cmpstr (g_file_info_get_name (g_ptr_array_index (e, 0)), ==, "b.txt");
    g_assert_cmpint (g_file_info_get_size (g_ptr_array_index (e, 0)), ==, 7);
    g_clear_pointer (&e, g_ptr_array_unref);
  }
  e = p2p_file_client_list (f->conn, "big.bin", NULL, &error);
  g_assert_null (e);
  g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_NOT_A_DIRECTORY);
  g_assert_cmpstr (error->message, ==, "\"big.bin\" is not a directory");
  g_clear_error (&error);
  e = p2p_file_client_list (f->conn, "sub/out-dir", NULL, &error);
  g_assert_null (e);
  g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_OUTSIDE_ROOT);
}

/* A listing bigger than the chunks it is written in (3000 entries, about
 * 190 KB): every entry, in order, with its size. */
static void
test_list_large (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = g_build_filename (f->root, "many", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) e = NULL;

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  for (guint i = 0; i < 3000; i++) {
    g_autofree char *name = g_strdup_printf ("%04u - a track with a longish title.flac", i);

    write_file (dir, name, "12345", i % 6);
  }
  e = p2p_file_client_list (f->conn, "many", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (e->len, ==, 3000);
  for (guint i = 0; i < e->len; i++) {
    GFileInfo *info = g_ptr_array_index (e, i);
    g_autofree char *name = g_strdup_printf ("%04u - a track with a longish title.flac", i);

    g_assert_cmpstr (g_file_info_get_name (info), ==, name);
    g_assert_cmpint (g_file_info_get_size (info), ==, i % 6);
  }
}

/* A request with raw path bytes, bypassing the client's check. */
static gboolean
raw_get (Fixture *f, P2pFileRequestKind kind, const char *path, gsize len,
    GByteArray *body, GError **error)
{
  g_autoptr (GIOStream) s = p2p_connection_open_stream (f->conn, NULL, error);
  guint8 fixed[P2P_FILE_REQUEST_FIXED_SIZE] = { P2P_FILE_PROTOCOL_VERSION, kind,
    len >> 8, len & 0xff };
  GOutputStream *out;
  P2pFileHeader hdr;
  guint8 buf[4096];
  gsize got;

  g_assert_nonnull (s);
  memset (fixed + 12, 0xff, 8);
  out = g_io_stream_get_output_stream (s);
  g_assert_true (g_output_stream_write_all (out, fixed, sizeof fixed, NULL, NULL, NULL));
  g_assert_true (g_output_stream_write_all (out, path, len, NULL, NULL, NULL));
  g_assert_true (g_output_stream_close (out, NULL, NULL));
  if (!p2p_file_client_read_header (s, &hdr, NULL, error))
    return FALSE;
  do {
    g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (s), buf,
            sizeof buf, &got, NULL, NULL));
    g_byte_array_append (body, buf, got);
  } while (got == sizeof buf);
  return TRUE;
}

static void
test_bad_paths (Fixture *f, gconstpointer data)
{
  struct {
    const char *path;
    gsize len;
    P2pFileStatus status;
    const char *text;
  } cases[] = {
#define C(p, s, t) { p, sizeof (p) - 1, s, t }
    C ("..", P2P_FILE_STATUS_BAD_PATH, "path component 1 is \"..\""),
    C ("../outside/secret", P2P_FILE_STATUS_BAD_PATH, "path component 1 is \"..\""),
    C ("sub/../big.bin", P2P_FILE_STATUS_BAD_PATH, "path component 2 is \"..\""),
    C ("sub/../../outside/secret", P2P_FILE_STATUS_BAD_PATH, "path component 2 is \"..\""),
    C ("sub/b.txt/..", P2P_FILE_STATUS_BAD_PATH, "path component 3 is \"..\""),
    C ("sub/..", P2P_FILE_STATUS_BAD_PATH, "path component 2 is \"..\""),
    C ("./big.bin", P2P_FILE_STATUS_BAD_PATH, "path component 1 is \".\""),
    C ("sub//b.txt", P2P_FILE_STATUS_BAD_PATH, "path component 2 is empty"),
    C ("sub/", P2P_FILE_STATUS_BAD_PATH, "path component 2 is empty"),
    C ("/etc/passwd", P2P_FILE_STATUS_BAD_PATH, "path is absolute"),
    C ("big.bin\0x", P2P_FILE_STATUS_BAD_PATH, "path contains a NUL byte at byte 7"),
    C ("caf\xc3(.txt", P2P_FILE_STATUS_BAD_PATH, "path is not valid UTF-8"),
    C ("out-abs", P2P_FILE_STATUS_OUTSIDE_ROOT, "\"out-abs\" resolves outside the served directory"),
    C ("sub/out-rel", P2P_FILE_STATUS_OUTSIDE_ROOT, "\"sub/out-rel\" resolves outside"),
    C ("sub/out-dir/secret", P2P_FILE_STATUS_OUTSIDE_ROOT, "\"sub/out-dir/secret\" resolves outside"),
    /* what is out there is never looked at: a missing file answers the
     * same as an existing one (no oracle) */
    C ("sub/out-dir/nope", P2P_FILE_STATUS_OUTSIDE_ROOT, "\"sub/out-dir/nope\" resolves outside"),
    C ("loop", P2P_FILE_STATUS_NOT_FOUND, "\"loop\": too many levels of symbolic links"),
    C ("loop/x", P2P_FILE_STATUS_NOT_FOUND, "\"loop/x\": too many levels of symbolic links"),
    C ("in-abs", P2P_FILE_STATUS_IS_DIRECTORY, "\"in-abs\" is a directory"),
    C ("sub", P2P_FILE_STATUS_IS_DIRECTORY, "\"sub\" is a directory (list it instead, e.g. "
        "with p2p-cat ls PEER PATH)"),
    C ("", P2P_FILE_STATUS_IS_DIRECTORY, "the empty path is the served directory"),
    C ("nope.flac", P2P_FILE_STATUS_NOT_FOUND, "\"nope.flac\": no such file or directory"),
    C ("sub/nope/x", P2P_FILE_STATUS_NOT_FOUND, "\"sub/nope/x\": no such file or directory"),
    C ("big.bin/x", P2P_FILE_STATUS_NOT_FOUND, "\"big.bin/x\": no such file or directory"),
    C ("fifo", P2P_FILE_STATUS_NOT_REGULAR, "\"fifo\" is not a regular file"),
#undef C
  };
  /* a component longer than the file system's NAME_MAX: the request is at
   * fault, not the server */
  char longname[301];
  g_autoptr (GString) cut = g_string_new ("a");

  memset (longname, 'a', 300);
  longname[300] = '\0';
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GByteArray) body = g_byte_array_new ();

    g_assert_false (raw_get (f, P2P_FILE_REQUEST_GET, longname, 300, body, &error));
    g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_PATH);
  }
  /* an error text longer than its 1024 bytes is cut at a character: still
   * UTF-8, so the client keeps it (800 two-byte characters in the path) */
  for (guint c = 0; c < 8; c++) {
    if (c)
      g_string_append_c (cut, '/');
    for (guint i = 0; i < 100; i++)
      g_string_append (cut, "\xc3\xa9");
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GByteArray) body = g_byte_array_new ();

    g_assert_false (raw_get (f, P2P_FILE_REQUEST_GET, cut->str, cut->len, body, &error));
    g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_NOT_FOUND);
    g_assert_true (g_str_has_prefix (error->message, "\"a\xc3\xa9"));
  }

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GByteArray) body = g_byte_array_new ();

    g_autofree char *shown = g_strescape (cases[i].path, NULL);  /* TAP is UTF-8 */
    g_test_message ("path %u: \"%s\"", i, shown);
    g_assert_false (raw_get (f, P2P_FILE_REQUEST_GET, cases[i].path, cases[i].len, body,
            &error));
    g_assert_error (error, P2P_FILE_ERROR, (gint) cases[i].status);
    g_assert_nonnull (strstr (error->message, cases[i].text));
    g_assert_cmpuint (body->len, ==, 0);
    /* the client refuses the syntax errors before sending */
    if (cases[i].status == P2P_FILE_STATUS_BAD_PATH && !memchr (cases[i].path, 0, cases[i].len)) {
      g_autoptr (GError) e2 = NULL;
      g_autoptr (GBytes) b = p2p_file_client_get (f->conn, cases[i].path, 0, 1, NULL, NULL, &e2);

      g_assert_null (b);
      g_assert_error (e2, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_PATH);
    }
  }
  /* not readable: only meaningful when not root (root reads anything) */
  if (geteuid () != 0) {
    g_autofree char *p = g_build_filename (f->root, "locked", NULL);
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) b = NULL;

    write_file (f->root, "locked", "x", 1);
    g_assert_cmpint (g_chmod (p, 0), ==, 0);
    b = p2p_file_client_get (f->conn, "locked", 0, 1, NULL, NULL, &error);
    g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_NOT_READABLE);
    g_assert_nonnull (strstr (error->message, "\"locked\" is not readable by the server"));
  }
  /* bad version and kind */
  {
    g_autoptr (GIOStream) s = p2p_connection_open_stream (f->conn, NULL, NULL);
    guint8 fixed[P2P_FILE_REQUEST_FIXED_SIZE] = { 7, 1 };
    g_autoptr (GError) error = NULL;
    P2pFileHeader hdr;

    g_output_stream_write_all (g_io_stream_get_output_stream (s), fixed, sizeof fixed, NULL,
        NULL, NULL);
    g_output_stream_close (g_io_stream_get_output_stream (s), NULL, NULL);
    g_assert_false (p2p_file_client_read_header (s, &hdr, NULL, &error));
    g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_REQUEST);
    g_assert_cmpstr (error->message, ==,
        "request version 7 is not supported (this server speaks version 1)");
  }
}

/* More requests on one connection than QUIC lets be open at once (100):
 * the server gives each closed stream's credit back. */
static void
test_many_requests (Fixture *f, gconstpointer data)
{
  guint n_streams;

  for (guint i = 0; i < 250; i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) b = p2p_file_client_get (f->conn, "big.bin", i * 1000, 100, NULL, NULL,
        &error);

    g_assert_no_error (error);
    g_assert_true (memcmp (g_bytes_get_data (b, NULL), f->big + i * 1000, 100) == 0);
  }
  /* the connection forgets streams that are closed and dropped: its table
   * holds the last few, not 250 */
  g_mutex_lock (&P2P_QUIC_CONNECTION (f->conn)->lock);
  n_streams = g_hash_table_size (P2P_QUIC_CONNECTION (f->conn)->streams);
  g_mutex_unlock (&P2P_QUIC_CONNECTION (f->conn)->lock);
  g_test_message ("%u streams left in the table", n_streams);
  g_assert_cmpuint (n_streams, <=, 8);
}

static void
test_too_many (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GIOStream) held = p2p_connection_open_stream (f->conn, NULL, &error);
  guint8 partial[5] = { P2P_FILE_PROTOCOL_VERSION, P2P_FILE_REQUEST_GET, 0, 7, 0 };
  g_autoptr (GBytes) b = NULL;
  guint64 n = 0;

  g_object_set (f->service, "max-streams-per-peer", 1, NULL);
  /* a request that never completes holds the peer's one slot */
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (held), partial,
          sizeof partial, NULL, NULL, NULL));
  g_assert_true (g_output_stream_flush (g_io_stream_get_output_stream (held), NULL, NULL));
  /* wait (bounded) until the service has taken it */
  for (guint i = 0; i < 2000 && n == 0; i++) {
    g_object_get (f->service, "requests", &n, NULL);
    if (n == 0)
      g_usleep (5000);
  }
  g_assert_cmpuint (n, ==, 1);
  b = p2p_file_client_get (f->conn, "big.bin", 0, 10, NULL, NULL, &error);
  g_assert_null (b);
  g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_TOO_MANY_REQUESTS);
  g_assert_cmpstr (error->message, ==, "too many requests: this peer already has 1 in "
      "progress (the limit per peer)");
}

/* Threads of this process whose name starts with @prefix. */
static guint
count_threads (const char *prefix)
{
  g_autoptr (GDir) d = g_dir_open ("/proc/self/task", 0, NULL);
  const char *e;
  guint n = 0;

  while (d && (e = g_dir_read_name (d))) {
    g_autofree char *p = g_strdup_printf ("/proc/self/task/%s/comm", e);
    g_autofree char *comm = NULL;

    if (g_file_get_contents (p, &comm, NULL, NULL) && g_str_has_prefix (comm, prefix))
      n++;
  }
  return n;
}

/* Cancels @cancel after 5 s unless told to stop first: a bound on a wait
 * that has no timeout of its own. */
typedef struct {
  GMutex lock;
  GCond cond;
  gboolean stop;
  GCancellable *cancel;
} Watchdog;

static gpointer
watchdog_thread (gpointer data)
{
  Watchdog *w = data;
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  g_mutex_lock (&w->lock);
  while (!w->stop && g_cond_wait_until (&w->cond, &w->lock, end))
    ;
  if (!w->stop)
    g_cancellable_cancel (w->cancel);
  g_mutex_unlock (&w->lock);
  return NULL;
}

/* Answers whose reader stopped reading: the stall watchdog cancels them,
 * and each is reset, so its thread ends and its queued data goes. Before,
 * the thread stayed blocked in the stream's close (waiting for the peer to
 * read) while the request no longer counted against max-streams: threads
 * and memory without bound. */
static void
test_stalled_answers_reset (Fixture *f, gconstpointer data)
{
  g_autofree char *p = g_build_filename (f->root, "huge.bin", NULL);
  g_autoptr (GPtrArray) streams = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GCancellable) c = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  static guint8 buf[1 << 16];
  guint64 n = 1;
  guint threads = 1;
  gssize got;
  GThread *t;
  Watchdog w = { 0 };
  int fd = open (p, O_WRONLY | O_CREAT, 0644);

  /* sparse: 48 MiB, far more than a stream's buffer and window */
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, 48 * 1024 * 1024), ==, 0);
  close (fd);
  g_object_set (f->service, "stall-timeout", 200, NULL);
  for (guint i = 0; i < 3; i++) {
    P2pFileHeader hdr;
    GIOStream *s = p2p_file_client_send_request (f->conn, P2P_FILE_REQUEST_GET, "huge.bin", 0,
        P2P_FILE_TO_END, NULL, &error);

    g_assert_no_error (error);
    g_assert_true (p2p_file_client_read_header (s, &hdr, NULL, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (hdr.body_len, ==, 48 * 1024 * 1024);
    g_ptr_array_add (streams, s);       /* and never read */
  }
  /* the watchdog cancels them (bounded waits) */
  for (guint i = 0; i < 500 && n > 0; i++) {
    g_mutex_lock (&f->service->lock);
    n = f->service->active;
    g_mutex_unlock (&f->service->lock);
    if (n > 0)
      g_usleep (10 * 1000);
  }
  g_assert_cmpuint (n, ==, 0);
  for (guint i = 0; i < 300 && threads > 0; i++) {
    threads = count_threads ("p2p-file-req");
    if (threads > 0)
      g_usleep (10 * 1000);
  }
  g_assert_cmpuint (threads, ==, 0);
  /* and the reader learns it: an error, not a wait */
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  w.cancel = c;
  t = g_thread_new ("watchdog", watchdog_thread, &w);
  while ((got = g_input_stream_read (g_io_stream_get_input_stream (streams->pdata[0]), buf,
              sizeof buf, c, &error)) > 0)
    ;
  g_mutex_lock (&w.lock);
  w.stop = TRUE;
  g_cond_signal (&w.cond);
  g_mutex_unlock (&w.lock);
  g_thread_join (t);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  g_assert_cmpint (got, ==, -1);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  g_test_message ("the reader's error: %s", error->message);
}

/* A peer that keeps writing after its GET (no end of stream, an answer it
 * never reads): once the request is read the service stops reading the
 * stream, so what comes after is dropped (and its credit given back), not
 * kept for the answer's duration: the peer is told to stop (STOP_SENDING)
 * and its writes fail well within one stream window; the answer still
 * comes whole. Before, up to a stream window (16 MiB) per request was held
 * (an adversarial review: about 1 GiB with 64 requests). */
static void
test_junk_after_request (Fixture *f, gconstpointer data)
{
  g_autoptr (GIOStream) s = p2p_connection_open_stream (f->conn, NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *junk = g_malloc0 (64 * 1024);
  guint8 fixed[P2P_FILE_REQUEST_FIXED_SIZE] = { P2P_FILE_PROTOCOL_VERSION,
    P2P_FILE_REQUEST_GET, 0, 7 };
  GOutputStream *out;
  GByteArray *body = g_byte_array_new ();
  P2pFileHeader hdr;
  guint64 written = 0;
  guint8 buf[4096];
  gsize got;

  g_assert_nonnull (s);
  memset (fixed + 12, 0xff, 8);         /* to the end */
  out = g_io_stream_get_output_stream (s);
  g_assert_true (g_output_stream_write_all (out, fixed, sizeof fixed, NULL, NULL, NULL));
  g_assert_true (g_output_stream_write_all (out, "big.bin", 7, NULL, NULL, NULL));
  /* 48 MiB of junk at most: three stream windows */
  while (written < 48 * 1024 * 1024
      && g_output_stream_write_all (out, junk, 64 * 1024, NULL, NULL, &error))
    written += 64 * 1024;
  g_test_message ("the junk stopped after %" G_GUINT64_FORMAT " bytes: %s", written,
      error ? error->message : "(none)");
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_nonnull (strstr (error->message, "stopped"));
  g_assert_cmpuint (written, <, 16 * 1024 * 1024);
  /* the answer is there, whole */
  g_assert_true (p2p_file_client_read_header (s, &hdr, NULL, NULL));
  g_assert_cmpint (hdr.status, ==, P2P_FILE_STATUS_OK);
  do {
    g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (s), buf,
            sizeof buf, &got, NULL, NULL));
    g_byte_array_append (body, buf, got);
  } while (got == sizeof buf);
  g_assert_cmpuint (body->len, ==, BIG_SIZE);
  g_assert_true (memcmp (body->data, f->big, BIG_SIZE) == 0);
  g_byte_array_unref (body);
}

/* A connection from a provider of its own (a new identity), dialling from
 * @bind ("127.0.0.2": another loopback address, another host). */
static P2pConnection *
connect_from (Fixture *f, const char *bind, P2pQuicProvider **provider)
{
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketAddress) local = p2p_listener_get_local_address (f->listener);
  g_autofree char *id = NULL, *peer = NULL;
  P2pConnection *conn;

  cfg->idle_timeout_ms = 10000;
  cfg->keepalive_ms = 0;
  cfg->listen_port = 0;
  *provider = p2p_quic_provider_new (NULL, cfg);
  if (bind) {
    p2p_quic_provider_set_dial_address (*provider, bind, &error);
    g_assert_no_error (error);
  }
  /* the server's ID: the peer of the fixture's connection */
  id = p2p_peer_id_to_string (p2p_connection_get_peer_id (f->conn));
  peer = g_strdup_printf ("%s@127.0.0.1:%u", id,
      g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  conn = p2p_provider_connect (P2P_PROVIDER (*provider), peer, NULL, &error);
  g_assert_no_error (error);
  return conn;
}

static guint
active_requests (Fixture *f)
{
  guint n;

  g_mutex_lock (&f->service->lock);
  n = f->service->active - f->service->evicting;
  g_mutex_unlock (&f->service->lock);
  return n;
}

/* The server is full of one host's requests (many identities cost it
 * nothing): a request from another host takes the slot of that host's
 * newest request, whose client reads a reset; a request from the same
 * host is still refused. Before, one host with 4 identities kept every
 * slot from everyone (an adversarial review: TOO_MANY_REQUESTS for every
 * other player for as long as it kept them). */
static void
test_fair_share_by_host (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) held = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GBytes) b = NULL;
  g_autoptr (P2pConnection) same = NULL, other = NULL;
  P2pQuicProvider *pa = NULL, *pb = NULL;
  guint8 partial[5] = { P2P_FILE_PROTOCOL_VERSION, P2P_FILE_REQUEST_GET, 0, 7, 0 };
  guint8 x;
  gssize got = 0;
  guint64 evicted;
  guint n = 0;

  g_object_set (f->service, "max-streams", 4, NULL);
  /* 127.0.0.1 holds the 4 slots with requests that never complete */
  for (guint i = 0; i < 4; i++) {
    GIOStream *s = p2p_connection_open_stream (f->conn, NULL, &error);

    g_assert_no_error (error);
    g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (s), partial,
            sizeof partial, NULL, NULL, NULL));
    g_assert_true (g_output_stream_flush (g_io_stream_get_output_stream (s), NULL, NULL));
    g_ptr_array_add (held, s);
  }
  for (guint i = 0; i < 2000 && active_requests (f) < 4; i++)
    g_usleep (5000);
  g_assert_cmpuint (active_requests (f), ==, 4);

  /* another identity on the same host: refused, nothing evicted */
  same = connect_from (f, NULL, &pa);
  b = p2p_file_client_get (same, "big.bin", 0, 10, NULL, NULL, &error);
  g_assert_null (b);
  g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_TOO_MANY_REQUESTS);
  g_clear_error (&error);

  /* another host: served, one of 127.0.0.1's requests gives way */
  other = connect_from (f, "127.0.0.2", &pb);
  b = p2p_file_client_get (other, "big.bin", 0, 10, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (b);
  g_assert_cmpmem (g_bytes_get_data (b, NULL), g_bytes_get_size (b), f->big, 10);
  g_mutex_lock (&f->service->lock);
  evicted = f->service->n_evicted;
  g_mutex_unlock (&f->service->lock);
  g_assert_cmpuint (evicted, ==, 1);
  /* the newest held request is the one reset (the least progress lost) */
  got = g_input_stream_read (g_io_stream_get_input_stream (held->pdata[3]), &x, 1, NULL,
      &error);
  g_assert_cmpint (got, ==, -1);
  g_assert_nonnull (error);
  g_test_message ("the evicted request's client reads: %s", error->message);
  g_clear_error (&error);
  /* the GET's slot is free once its thread ended (its client had the
   * answer a moment before): until then 127.0.0.2 counts two, its share,
   * and a request of its own would be refused (seen under load) */
  for (guint i = 0; i < 2000 && active_requests (f) > 3; i++)
    g_usleep (5000);
  g_assert_cmpuint (active_requests (f), ==, 3);

  /* the shares even out, then a host within its share is never cut:
   * 127.0.0.2 holds one (3 + 1, full), takes a second from 127.0.0.1's
   * three (2 + 2: each its share of 4 over 2 hosts), and its third is
   * refused, as is a further one of 127.0.0.1 */
  for (guint i = 0; i < 2; i++) {
    GIOStream *s = p2p_connection_open_stream (other, NULL, &error);

    g_assert_no_error (error);
    g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (s), partial,
            sizeof partial, NULL, NULL, NULL));
    g_assert_true (g_output_stream_flush (g_io_stream_get_output_stream (s), NULL, NULL));
    g_ptr_array_add (held, s);
    for (guint k = 0; k < 2000; k++) {
      g_mutex_lock (&f->service->lock);
      n = GPOINTER_TO_UINT (g_hash_table_lookup (f->service->per_host, "127.0.0.2"));
      g_mutex_unlock (&f->service->lock);
      if (n == i + 1)
        break;
      g_usleep (5000);
    }
    g_assert_cmpuint (n, ==, i + 1);
  }
  g_mutex_lock (&f->service->lock);
  evicted = f->service->n_evicted;
  n = GPOINTER_TO_UINT (g_hash_table_lookup (f->service->per_host, "127.0.0.1"));
  g_mutex_unlock (&f->service->lock);
  g_assert_cmpuint (evicted, ==, 2);
  g_assert_cmpuint (n, ==, 2);
  g_clear_pointer (&b, g_bytes_unref);
  b = p2p_file_client_get (other, "big.bin", 0, 10, NULL, NULL, &error);
  g_assert_null (b);
  g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_TOO_MANY_REQUESTS);
  g_clear_error (&error);
  b = p2p_file_client_get (f->conn, "big.bin", 0, 10, NULL, NULL, &error);
  g_assert_null (b);
  g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_TOO_MANY_REQUESTS);
  g_mutex_lock (&f->service->lock);
  g_assert_cmpuint (f->service->n_evicted, ==, 2);
  g_mutex_unlock (&f->service->lock);

  g_clear_object (&same);
  g_clear_object (&other);
  g_ptr_array_set_size (held, 0);
  g_object_unref (pa);
  g_object_unref (pb);
}

typedef struct {
  const char *root;
  gint stop;
} Swapper;

static gpointer
swapper_thread (gpointer data)
{
  Swapper *sw = data;
  g_autofree char *a = g_build_filename (sw->root, "d", NULL);
  g_autofree char *b = g_build_filename (sw->root, "x", NULL);

  while (!g_atomic_int_get (&sw->stop))
    g_assert_cmpint (renameat2 (AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE), ==, 0);
  return NULL;
}

/* A directory of the path swapped again and again with a link out of the
 * root while it is read (someone with write access inside the root racing
 * the server): every answer is the file inside or a refusal, never the one
 * outside; the walk holds a descriptor at each step, so there is no window
 * between a check and an open (and it needs no /proc). */
static void
test_swap_race (Fixture *f, gconstpointer data)
{
  g_autofree char *d = g_build_filename (f->root, "d", NULL);
  g_autofree char *x = g_build_filename (f->root, "x", NULL);
  g_autofree char *outside = g_build_filename (f->tmp, "outside", NULL);
  Swapper sw = { f->root, 0 };
  guint inside = 0, refused = 0;
  GThread *t;

  g_assert_cmpint (g_mkdir (d, 0755), ==, 0);
  write_file (d, "secret", "INSIDE", 6);
  g_assert_cmpint (symlink (outside, x), ==, 0);
  t = g_thread_new ("swapper", swapper_thread, &sw);
  for (guint i = 0; i < 300; i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) b = p2p_file_client_get (f->conn, "d/secret", 0, 100, NULL, NULL,
        &error);

    if (b) {
      g_assert_cmpmem (g_bytes_get_data (b, NULL), g_bytes_get_size (b), "INSIDE", 6);
      inside++;
    } else {
      g_assert_true (g_error_matches (error, P2P_FILE_ERROR, P2P_FILE_STATUS_OUTSIDE_ROOT)
          || g_error_matches (error, P2P_FILE_ERROR, P2P_FILE_STATUS_NOT_FOUND)
          || g_error_matches (error, P2P_FILE_ERROR, P2P_FILE_STATUS_NOT_REGULAR));
      refused++;
    }
  }
  g_atomic_int_set (&sw.stop, 1);
  g_thread_join (t);
  g_test_message ("inside %u, refused %u", inside, refused);
  g_assert_cmpuint (inside + refused, ==, 300);
}

static void
test_not_allowed (Fixture *f, gconstpointer data)
{
  g_autoptr (P2pIdentity) other = p2p_identity_new ();
  g_autofree char *oid = p2p_identity_dup_peer_id_string (other);
  g_autofree char *me = p2p_peer_id_to_string (p2p_provider_get_local_peer_id (P2P_PROVIDER (f->b)));
  g_autofree char *want = g_strdup_printf ("peer %s is not allowed to use this file service", me);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) b = NULL;

  g_assert_false (p2p_file_service_set_allowed_peers (f->service, "nonsense", &error));
  g_assert_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (p2p_file_service_set_allowed_peers (f->service, oid, &error));
  b = p2p_file_client_get (f->conn, "big.bin", 0, 10, NULL, NULL, &error);
  g_assert_null (b);
  g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_NOT_ALLOWED);
  g_assert_cmpstr (error->message, ==, want);
  g_clear_error (&error);
  g_assert_true (p2p_file_service_set_allowed_peers (f->service, me, &error));
  b = p2p_file_client_get (f->conn, "big.bin", 0, 10, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (b), ==, 10);
}

/* Protocol evolution over real QUIC (issue 18): the listener plays an
 * older peer (version 1 only, no "files" capability), the dialer a
 * version-N+1 peer (versions 1 to 2, "files"). They settle on version 1;
 * the file client refuses at once, naming the peer and the capability,
 * without sending anything, and the connection stays usable. A listener of
 * versions 1 to 2 with "files" gets version 2 and serves. */
static void
check_evolution (guint64 listener_max, guint64 listener_caps)
{
  g_autoptr (P2pConfig) cfg = p2p_config_new ();
  g_autoptr (P2pIdentity) ida = p2p_identity_new ();
  g_autoptr (P2pQuicProvider) a = NULL, b = NULL;
  g_autoptr (P2pListener) listener = NULL;
  g_autoptr (P2pFileService) service = NULL;
  g_autoptr (P2pConnection) conn = NULL, served = NULL;
  g_autoptr (GSocketAddress) local = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) got = NULL, msg = g_bytes_new_static ("still here", 10);
  g_autoptr (GBytes) echo = NULL;
  g_auto (GStrv) caps = NULL, served_caps = NULL;
  g_autofree char *tmp = NULL, *id = NULL, *peer = NULL, *want = NULL, *file = NULL;

  tmp = g_dir_make_tmp ("p2p-evo-XXXXXX", &error);
  g_assert_no_error (error);
  write_file (tmp, "a.txt", "hello", 5);
  cfg->idle_timeout_ms = 10000;
  cfg->keepalive_ms = 0;
  a = p2p_quic_provider_new (ida, cfg);
  b = p2p_quic_provider_new (NULL, cfg);
  p2p_quic_provider_set_protocol_for_testing (a, 1, listener_max, listener_caps);
  p2p_quic_provider_set_protocol_for_testing (b, 1, 2, P2P_CAPABILITY_FILES);
  listener = p2p_provider_listen (P2P_PROVIDER (a), "127.0.0.1:0", &error);
  g_assert_no_error (error);
  service = p2p_file_service_new (tmp, &error);
  g_assert_no_error (error);
  local = p2p_listener_get_local_address (listener);
  id = p2p_identity_dup_peer_id_string (ida);
  peer = g_strdup_printf ("%s@127.0.0.1:%u", id,
      g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  conn = p2p_provider_connect (P2P_PROVIDER (b), peer, NULL, &error);
  g_assert_no_error (error);
  served = p2p_listener_accept (listener, NULL, &error);
  g_assert_no_error (error);
  p2p_file_service_serve_connection (service, served);

  g_assert_cmpuint (p2p_connection_get_protocol_version (conn), ==, listener_max);
  g_assert_cmpuint (p2p_connection_get_protocol_version (served), ==, listener_max);
  /* the listener sees the dialer's "files" either way */
  g_assert_true (p2p_connection_has_capability (served, "files"));
  served_caps = p2p_connection_list_capabilities (served);
  g_assert_cmpstrv (served_caps, ((const char *[]) { "files", NULL }));
  g_assert_false (p2p_connection_has_capability (served, "no-such-feature"));
  caps = p2p_connection_list_capabilities (conn);

  got = p2p_file_client_get (conn, "a.txt", 0, 5, NULL, NULL, &error);
  if (listener_caps & P2P_CAPABILITY_FILES) {
    g_assert_no_error (error);
    g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), "hello", 5);
    g_assert_cmpstrv (caps, ((const char *[]) { "files", NULL }));
  } else {
    want = g_strdup_printf ("peer %s does not offer the file service (capability 'files'; "
        "it speaks protocol version 1)", id);
    g_assert_null (got);
    g_assert_error (error, P2P_ERROR, P2P_ERROR_NOT_SUPPORTED);
    g_assert_cmpstr (error->message, ==, want);
    g_assert_cmpstrv (caps, ((const char *[]) { NULL }));
    g_assert_false (p2p_connection_has_capability (conn, "files"));
    /* graceful: the connection still carries messages */
    g_clear_error (&error);
    g_assert_true (p2p_connection_send (conn, msg, NULL, &error));
    g_assert_no_error (error);
    echo = p2p_connection_receive (served, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (g_bytes_equal (echo, msg));
  }
  p2p_connection_close (conn, "done");
  p2p_listener_close (listener);
  p2p_file_service_stop (service);
  file = g_build_filename (tmp, "a.txt", NULL);
  g_unlink (file);
  g_rmdir (tmp);
}

static void
test_evolution (void)
{
  check_evolution (1, 0);       /* older listener: version 1, no "files" */
  check_evolution (2, P2P_CAPABILITY_FILES);    /* both newer: version 2 */
}

static void
test_path_check (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (p2p_file_path_check ("Artist/Album/01 Track.flac", 26, &error));
  g_assert_true (p2p_file_path_check ("", 0, &error));
  g_assert_true (p2p_file_path_check ("..a/b..", 7, &error));
  g_assert_no_error (error);
  g_assert_false (p2p_file_path_check ("a/../b", 6, &error));
  g_assert_error (error, P2P_FILE_ERROR, P2P_FILE_STATUS_BAD_PATH);
}

static gssize
fill_seq (guint8 *buf, gsize len, gpointer data)
{
  gssize *n = data;

  for (gssize i = 0; i < MIN (*n, (gssize) len); i++)
    buf[i] = (guint8) i;
  return MIN (*n, (gssize) len);
}

/* The GET chunks' buffers: a released full one is taken again (same
 * buffer), a short read gets one of its own and leaves the pool as it
 * is, a read-ahead of another size gets buffers of its size; a failed
 * fill gives no chunk; a chunk freed after the pool (the service gone,
 * the peer not yet acknowledging) is fine. */
static void
test_chunk_pool (void)
{
  P2pChunkPool *pool = p2p_chunk_pool_new ();
  gssize n = 4096, got = 0, none = 0;
  GBytes *a, *b, *c, *late;
  gconstpointer pa;

  a = p2p_chunk_pool_read (pool, 4096, 4096, fill_seq, &n, &got);
  g_assert_cmpint (got, ==, 4096);
  g_assert_cmpuint (g_bytes_get_size (a), ==, 4096);
  g_assert_cmpuint (((const guint8 *) g_bytes_get_data (a, NULL))[4095], ==, 255);
  pa = g_bytes_get_data (a, NULL);
  g_bytes_unref (a);
  /* a short read (a range's end): its own buffer, the pooled one stays */
  b = p2p_chunk_pool_read (pool, 4096, 100, fill_seq, &n, &got);
  g_assert_cmpint (got, ==, 100);
  g_assert_cmpuint (g_bytes_get_size (b), ==, 100);
  g_assert_true (g_bytes_get_data (b, NULL) != pa);
  g_bytes_unref (b);
  b = p2p_chunk_pool_read (pool, 4096, 4096, fill_seq, &n, &got);
  g_assert_true (g_bytes_get_data (b, NULL) == pa);
  /* taken while b is out: another buffer */
  c = p2p_chunk_pool_read (pool, 4096, 4096, fill_seq, &n, &got);
  g_assert_true (g_bytes_get_data (c, NULL) != pa);
  g_bytes_unref (c);
  g_bytes_unref (b);
  /* another size: the kept buffers are dropped, none is reused */
  n = 8192;
  a = p2p_chunk_pool_read (pool, 8192, 8192, fill_seq, &n, &got);
  g_assert_cmpuint (g_bytes_get_size (a), ==, 8192);
  g_bytes_unref (a);
  /* a failed read */
  g_assert_null (p2p_chunk_pool_read (pool, 8192, 8192, fill_seq, &none, &got));
  g_assert_cmpint (got, ==, 0);
  late = p2p_chunk_pool_read (pool, 8192, 8192, fill_seq, &n, &got);
  p2p_chunk_pool_unref (pool);
  g_assert_cmpuint (((const guint8 *) g_bytes_get_data (late, NULL))[8191], ==, 255);
  g_bytes_unref (late);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/file-service/path-check", test_path_check);
  g_test_add_func ("/file-service/chunk-pool", test_chunk_pool);
  g_test_add_func ("/file-service/protocol-evolution", test_evolution);
#define T(name, fn) g_test_add ("/file-service/" name, Fixture, NULL, fixture_setup, fn, \
    fixture_teardown)
  T ("ranges", test_ranges);
  T ("list", test_list);
  T ("list-large", test_list_large);
  T ("bad-paths", test_bad_paths);
  T ("many-requests", test_many_requests);
  T ("too-many", test_too_many);
  T ("not-allowed", test_not_allowed);
  T ("stalled-answers-reset", test_stalled_answers_reset);
  T ("junk-after-request", test_junk_after_request);
  T ("fair-share-by-host", test_fair_share_by_host);
  T ("swap-race", test_swap_race);
#undef T
  return g_test_run ();
}
