/* p2p-identity.c: an Ed25519 identity (libsodium) and its key file.
 *
 * Key file (text, mode 0600):
 *   gst-p2p-identity-v1
 *   # peer ID: <55-character peer ID>      (comment, informational)
 *   seed: <64 lowercase hex digits>       (the 32-byte Ed25519 seed)
 * Blank lines and lines starting with '#' are ignored after the first line.
 *
 * Loading refuses a symbolic link (O_NOFOLLOW), anything but a regular file,
 * a file owned by another user or accessible by group or others, and a file
 * over KEY_FILE_MAX_SIZE. The secret key lives in sodium_malloc() memory
 * (guard pages, never swapped where mlock works) and every buffer that held
 * the seed, in binary or hex, is zeroed before it is freed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-identity.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sodium.h>

#include "p2p/p2p-error.h"

#define KEY_FILE_MAGIC "gst-p2p-identity-v1"
#define KEY_FILE_MAX_SIZE 4096
#define SEED_LEN crypto_sign_ed25519_SEEDBYTES

G_STATIC_ASSERT (crypto_sign_ed25519_SECRETKEYBYTES == P2P_IDENTITY_SECRET_KEY_LEN);
G_STATIC_ASSERT (crypto_sign_ed25519_PUBLICKEYBYTES == P2P_PEER_ID_KEY_LEN);
G_STATIC_ASSERT (crypto_sign_ed25519_BYTES == P2P_IDENTITY_SIGNATURE_LEN);

struct _P2pIdentity {
  GObject parent_instance;
  guint8 *secret_key;           /* seed || public, sodium_malloc() */
  P2pPeerId peer_id;
};

G_DEFINE_FINAL_TYPE (P2pIdentity, p2p_identity, G_TYPE_OBJECT)

static void
ensure_sodium (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    if (sodium_init () < 0)
      g_error ("libsodium could not be initialised");
    g_once_init_leave (&done, 1);
  }
}

static void
p2p_identity_finalize (GObject *object)
{
  P2pIdentity *self = P2P_IDENTITY (object);

  /* sodium_free() zeroes it */
  g_clear_pointer (&self->secret_key, sodium_free);
  G_OBJECT_CLASS (p2p_identity_parent_class)->finalize (object);
}

static void
p2p_identity_class_init (P2pIdentityClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = p2p_identity_finalize;
}

static void
p2p_identity_init (P2pIdentity *self)
{
  ensure_sodium ();
  self->secret_key = sodium_malloc (P2P_IDENTITY_SECRET_KEY_LEN);
  if (self->secret_key == NULL)
    g_error ("libsodium could not allocate secure memory for a key");
}

static P2pIdentity *
identity_new_from_seed (const guint8 seed[SEED_LEN])
{
  P2pIdentity *self = g_object_new (P2P_TYPE_IDENTITY, NULL);
  guint8 pk[crypto_sign_ed25519_PUBLICKEYBYTES];

  ensure_sodium ();
  crypto_sign_ed25519_seed_keypair (pk, self->secret_key, seed);
  p2p_peer_id_from_key (&self->peer_id, pk);
  return self;
}

/**
 * p2p_identity_new:
 *
 * Returns: (transfer full): a fresh random identity.
 */
P2pIdentity *
p2p_identity_new (void)
{
  guint8 seed[SEED_LEN];
  P2pIdentity *self;

  ensure_sodium ();
  randombytes_buf (seed, sizeof seed);
  self = identity_new_from_seed (seed);
  sodium_memzero (seed, sizeof seed);
  return self;
}

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Parses the content of a key file, in place (@content is writable, its
 * owner zeroes it): no copy of the seed, hex or binary, is left behind. */
static P2pIdentity *
parse_key_file (const char *path, char *content, gsize len, GError **error)
{
  const char *seed_hex = NULL;
  gsize hex_len = 0;
  guint8 seed[SEED_LEN];
  char *line, *next;
  guint lineno = 0;
  P2pIdentity *self;

  if (memchr (content, '\0', len) != NULL || !g_utf8_validate (content, len, NULL)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "key file %s is not a gst-p2p identity (binary content)", path);
    return NULL;
  }
  for (line = content; line != NULL; line = next) {
    next = strchr (line, '\n');
    if (next)
      *next++ = '\0';
    lineno++;
    g_strstrip (line);
    if (lineno == 1) {
      if (strcmp (line, KEY_FILE_MAGIC) != 0) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
            "key file %s is not a gst-p2p identity: the first line must be \"%s\"",
            path, KEY_FILE_MAGIC);
        return NULL;
      }
      continue;
    }
    if (line[0] == '\0' || line[0] == '#')
      continue;
    if (g_str_has_prefix (line, "seed:") && seed_hex == NULL) {
      seed_hex = g_strchug (line + strlen ("seed:"));
      continue;
    }
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "key file %s, line %u: unexpected content (expected one \"seed: <64 hex digits>\" line)",
        path, lineno);
    return NULL;
  }
  if (seed_hex == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "key file %s has no \"seed:\" line", path);
    return NULL;
  }
  hex_len = strlen (seed_hex);
  for (gsize i = 0; i < hex_len; i++) {
    if (hex_value (seed_hex[i]) < 0) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "key file %s: the seed must be hexadecimal, character %" G_GSIZE_FORMAT " is not",
          path, i + 1);
      return NULL;
    }
  }
  if (hex_len != SEED_LEN * 2) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "key file %s: the seed has %" G_GSIZE_FORMAT " hex digits, expected %d (%d bytes)",
        path, hex_len, SEED_LEN * 2, SEED_LEN);
    return NULL;
  }
  for (gsize i = 0; i < SEED_LEN; i++)
    seed[i] = (guint8) (hex_value (seed_hex[2 * i]) << 4 | hex_value (seed_hex[2 * i + 1]));
  self = identity_new_from_seed (seed);
  sodium_memzero (seed, sizeof seed);
  return self;
}

/**
 * p2p_identity_new_from_file:
 * @path: a key file written by p2p_identity_save() or `p2p-id new`
 * @error: P2P_ERROR_INVALID_ARGUMENT if the file is missing, accessible by
 *   group or others, or malformed
 *
 * Returns: (transfer full) (nullable): the identity.
 */
P2pIdentity *
p2p_identity_new_from_file (const char *path, GError **error)
{
  struct stat st;
  char buf[KEY_FILE_MAX_SIZE + 1];
  gsize len = 0;
  P2pIdentity *self;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);

  /* O_NOFOLLOW: a symbolic link planted at @path (by whoever can write its
   * directory) must not make us read, or trust, another file */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0);
  if (fd < 0) {
    int errsv = errno;

    if (errsv == ELOOP)
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "key file %s is a symbolic link; refusing to follow it (give the "
          "path of the file itself)", path);
    else if (errsv == ENOENT)
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "key file %s does not exist; create one with: p2p-id new --file %s", path, path);
    else
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "cannot open key file %s: %s", path, g_strerror (errsv));
    return NULL;
  }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "key file %s is not a regular file", path);
    close (fd);
    return NULL;
  }
  if (st.st_uid != geteuid ()) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "key file %s is owned by uid %u, not by this user (uid %u); "
        "refusing a key another user controls", path, (guint) st.st_uid,
        (guint) geteuid ());
    close (fd);
    return NULL;
  }
  if (st.st_size > KEY_FILE_MAX_SIZE) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "key file %s is too large to be a gst-p2p identity (over %d bytes)",
        path, KEY_FILE_MAX_SIZE);
    close (fd);
    return NULL;
  }
  if ((st.st_mode & 0077) != 0) {
    const char *what = (st.st_mode & 0044) ? "readable" : "writable";

    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "key file %s is %s by others (mode %04o); run chmod 600 %s",
        path, what, (guint) (st.st_mode & 07777), path);
    close (fd);
    return NULL;
  }
  while (len <= KEY_FILE_MAX_SIZE) {
    gssize n = read (fd, buf + len, sizeof buf - len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int errsv = errno;

      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "cannot read key file %s: %s", path, g_strerror (errsv));
      close (fd);
      sodium_memzero (buf, sizeof buf);
      return NULL;
    }
    if (n == 0)
      break;
    len += (gsize) n;
  }
  close (fd);
  if (len > KEY_FILE_MAX_SIZE) {
    sodium_memzero (buf, sizeof buf);
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "key file %s is too large to be a gst-p2p identity (over %d bytes)",
        path, KEY_FILE_MAX_SIZE);
    return NULL;
  }
  buf[len] = '\0';
  self = parse_key_file (path, buf, len, error);
  sodium_memzero (buf, sizeof buf);
  return self;
}

/* The key file text, in one sodium_malloc() block written in place (no
 * intermediate copies of the hex seed); free it with sodium_free(). */
static char *
key_file_content (P2pIdentity *self, gsize *len)
{
  static const char head[] = KEY_FILE_MAGIC "\n# peer ID: ";
  static const char mid[] = "\nseed: ";
  char id[P2P_PEER_ID_TEXT_LEN + 1];
  gsize size = sizeof head - 1 + P2P_PEER_ID_TEXT_LEN + sizeof mid - 1
      + SEED_LEN * 2 + 2;
  char *content = sodium_malloc (size), *p = content;

  if (content == NULL)
    g_error ("libsodium could not allocate secure memory for a key file");
  p2p_peer_id_format (&self->peer_id, id);
  memcpy (p, head, sizeof head - 1);
  p += sizeof head - 1;
  memcpy (p, id, P2P_PEER_ID_TEXT_LEN);
  p += P2P_PEER_ID_TEXT_LEN;
  memcpy (p, mid, sizeof mid - 1);
  p += sizeof mid - 1;
  sodium_bin2hex (p, SEED_LEN * 2 + 1, self->secret_key, SEED_LEN);
  p += SEED_LEN * 2;
  *p++ = '\n';
  *p = '\0';
  *len = (gsize) (p - content);
  return content;
}

static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0) {
    gssize n = write (fd, data, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    data += n;
    len -= (gsize) n;
  }
  return TRUE;
}

/* Writes the key file through a 0600 temporary file in the same directory.
 * With @no_replace, an existing @path is kept and FALSE is returned with
 * *exists set. */
static gboolean
save_key_file (P2pIdentity *self, const char *path, gboolean no_replace,
    gboolean *exists, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".tmp-XXXXXX", NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  gsize len = 0;
  char *content = key_file_content (self, &len);
  int fd, dfd, errsv;

  if (exists)
    *exists = FALSE;
  fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    errsv = errno;
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "cannot create key file in %s: %s", dir, g_strerror (errsv));
    sodium_free (content);
    return FALSE;
  }
  if (fchmod (fd, 0600) != 0 || !write_all (fd, content, len) || fsync (fd) != 0) {
    errsv = errno;
    close (fd);
    g_unlink (tmp);
    sodium_free (content);
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "cannot write key file %s: %s", path, g_strerror (errsv));
    return FALSE;
  }
  sodium_free (content);
  close (fd);

  if (no_replace) {
    /* link() fails if @path exists, so a concurrent creator wins cleanly. */
    if (link (tmp, path) != 0) {
      errsv = errno;
      g_unlink (tmp);
      if (errsv == EEXIST && exists) {
        *exists = TRUE;
        return FALSE;
      }
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "cannot create key file %s: %s", path, g_strerror (errsv));
      return FALSE;
    }
    g_unlink (tmp);
  } else if (g_rename (tmp, path) != 0) {
    errsv = errno;
    g_unlink (tmp);
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "cannot write key file %s: %s", path, g_strerror (errsv));
    return FALSE;
  }
  /* Make the rename durable. */
  dfd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dfd >= 0) {
    (void) fsync (dfd);
    close (dfd);
  }
  return TRUE;
}

/**
 * p2p_identity_save:
 * @self: an identity
 * @path: where to write the key file (replaced atomically if it exists)
 * @error: P2P_ERROR_INVALID_ARGUMENT when the file cannot be written
 *
 * Returns: TRUE when the key file was written with mode 0600.
 */
gboolean
p2p_identity_save (P2pIdentity *self, const char *path, GError **error)
{
  g_return_val_if_fail (P2P_IS_IDENTITY (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  return save_key_file (self, path, FALSE, NULL, error);
}

/**
 * p2p_identity_load_or_create:
 * @path: the key file
 * @error: as p2p_identity_new_from_file() and p2p_identity_save()
 *
 * Loads @path; if it does not exist, creates its parent directories (mode
 * 0700), generates a new identity and saves it there.
 *
 * Returns: (transfer full) (nullable): the identity.
 */
P2pIdentity *
p2p_identity_load_or_create (const char *path, GError **error)
{
  g_autoptr (P2pIdentity) self = NULL;
  g_autofree char *dir = NULL;
  gboolean exists = FALSE;

  g_return_val_if_fail (path != NULL, NULL);

  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return p2p_identity_new_from_file (path, error);

  dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0700) != 0) {
    int errsv = errno;

    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "cannot create directory %s for the key file: %s", dir, g_strerror (errsv));
    return NULL;
  }
  self = p2p_identity_new ();
  if (!save_key_file (self, path, TRUE, &exists, error)) {
    if (exists) /* created by someone else meanwhile */
      return p2p_identity_new_from_file (path, error);
    return NULL;
  }
  return g_steal_pointer (&self);
}

/**
 * p2p_identity_default_path:
 *
 * Returns: (transfer full): $XDG_DATA_HOME/gst-p2p/identity.key
 */
char *
p2p_identity_default_path (void)
{
  return g_build_filename (g_get_user_data_dir (), "gst-p2p", "identity.key", NULL);
}

/**
 * p2p_identity_choose_file:
 * @path: (nullable): a key file the user named (a property, an option)
 * @env_path: (nullable): `P2P_IDENTITY_FILE` (#P2pConfig's identity_file)
 * @is_default: (out) (optional): set to %TRUE when the result is the
 *   default key file
 *
 * The key file of a peer that others dial (p2psink, p2p-serve,
 * p2p-cat listen): @path, else @env_path, else the default key file of
 * `p2p-id new` (p2p_identity_default_path()) when it exists.
 *
 * Returns: (transfer full) (nullable): the path, or %NULL for an
 *   ephemeral key (the peer ID changes every run).
 */
char *
p2p_identity_choose_file (const char *path, const char *env_path, gboolean *is_default)
{
  g_autofree char *def = NULL;

  if (is_default)
    *is_default = FALSE;
  if (path && *path)
    return g_strdup (path);
  if (env_path && *env_path)
    return g_strdup (env_path);
  def = p2p_identity_default_path ();
  if (!g_file_test (def, G_FILE_TEST_EXISTS))
    return NULL;
  if (is_default)
    *is_default = TRUE;
  return g_steal_pointer (&def);
}

/**
 * p2p_identity_get_peer_id:
 * @self: an identity
 *
 * Returns: (transfer none): the peer ID (public key) of @self.
 */
const P2pPeerId *
p2p_identity_get_peer_id (P2pIdentity *self)
{
  g_return_val_if_fail (P2P_IS_IDENTITY (self), NULL);
  return &self->peer_id;
}

/**
 * p2p_identity_dup_peer_id_string:
 * @self: an identity
 *
 * Returns: (transfer full): the text form of the peer ID.
 */
char *
p2p_identity_dup_peer_id_string (P2pIdentity *self)
{
  g_return_val_if_fail (P2P_IS_IDENTITY (self), NULL);
  return p2p_peer_id_to_string (&self->peer_id);
}

/**
 * p2p_identity_get_secret_key:
 * @self: an identity
 *
 * Returns: (transfer none) (array fixed-size=64): the 64-byte libsodium
 *   secret key (seed || public).
 */
const guint8 *
p2p_identity_get_secret_key (P2pIdentity *self)
{
  g_return_val_if_fail (P2P_IS_IDENTITY (self), NULL);
  return self->secret_key;
}

/**
 * p2p_identity_sign: (skip)
 * @self: an identity
 * @data: (array length=len) (nullable): the message
 * @len: its length
 * @sig: (out caller-allocates) (array fixed-size=64): the 64-byte Ed25519
 *   signature
 *
 * Signs @data. Bindings call p2p_identity_sign_bytes() under this name (a
 * caller-allocated C array is not safely bindable).
 */
void
p2p_identity_sign (P2pIdentity *self, const guint8 *data, gsize len,
    guint8 sig[P2P_IDENTITY_SIGNATURE_LEN])
{
  static const guint8 empty[1] = { 0 };

  g_return_if_fail (P2P_IS_IDENTITY (self));
  g_return_if_fail (sig != NULL && (data != NULL || len == 0));

  crypto_sign_ed25519_detached (sig, NULL, data ? data : empty, len, self->secret_key);
}

/**
 * p2p_identity_sign_bytes: (rename-to p2p_identity_sign)
 * @self: an identity
 * @data: the message
 *
 * p2p_identity_sign() for bindings (Python: `identity.sign(data)`).
 *
 * Returns: (transfer full): the 64-byte Ed25519 signature of @data.
 */
GBytes *
p2p_identity_sign_bytes (P2pIdentity *self, GBytes *data)
{
  guint8 *sig;
  gsize len;
  const guint8 *p;

  g_return_val_if_fail (P2P_IS_IDENTITY (self), NULL);
  g_return_val_if_fail (data != NULL, NULL);

  p = g_bytes_get_data (data, &len);
  sig = g_malloc (P2P_IDENTITY_SIGNATURE_LEN);
  p2p_identity_sign (self, p, len, sig);
  return g_bytes_new_take (sig, P2P_IDENTITY_SIGNATURE_LEN);
}

/**
 * p2p_identity_verify:
 * @signer: the peer ID (public key) that supposedly signed
 * @data: (array length=len) (nullable): the message
 * @len: its length
 * @sig: (array fixed-size=64): the 64-byte signature
 *
 * Returns: TRUE when @sig is @signer's signature of @data.
 */
gboolean
p2p_identity_verify (const P2pPeerId *signer, const guint8 *data, gsize len,
    const guint8 sig[P2P_IDENTITY_SIGNATURE_LEN])
{
  static const guint8 empty[1] = { 0 };

  g_return_val_if_fail (signer != NULL && sig != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  ensure_sodium ();
  return crypto_sign_ed25519_verify_detached (sig, data ? data : empty, len, signer->key) == 0;
}
