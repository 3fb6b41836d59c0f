/* p2p-file-root.c: path resolution confined to a P2pFileService's root.
 *
 * Path safety: the protocol path is checked first (p2p_file_path_check:
 * relative, UTF-8, no NUL, no "", "." or ".." component), then joined to
 * the resolved root and resolved with realpath(); a result that is not the
 * root or below it is OUTSIDE_ROOT (symbolic links inside the root are
 * followed, those leading out are refused). The file is opened with
 * O_NOFOLLOW | O_NONBLOCK and the opened descriptor's own path
 * (/proc/self/fd) is checked against the resolved path, so a component
 * swapped for a link between the check and the open is refused too. Only
 * regular files are read; directories only through LIST.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-file-service-private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static P2pFileStatus
status_from_errno (int e)
{
  switch (e) {
    case ENOENT:
    case ENOTDIR:
      return P2P_FILE_STATUS_NOT_FOUND;
    case EACCES:
    case EPERM:
      return P2P_FILE_STATUS_NOT_READABLE;
    case ELOOP:
      return P2P_FILE_STATUS_OUTSIDE_ROOT;
    default:
      return P2P_FILE_STATUS_IO_ERROR;
  }
}

static gboolean
under_root (const char *root, const char *real)
{
  gsize n = strlen (root);

  if (g_str_equal (root, "/"))
    return real[0] == '/';
  return strncmp (real, root, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

int
p2p_file_service_open_below_root (P2pFileService *self, const char *path, gboolean want_dir,
    struct stat *st, P2pFileStatus *status, char **text)
{
  g_autofree char *full = path[0] ? g_build_filename (self->root, path, NULL)
      : g_strdup (self->root);
  g_autofree char *real = realpath (full, NULL);
  char proc[64], linkbuf[PATH_MAX + 1];
  ssize_t n;
  int fd, e;

  if (real == NULL) {
    e = errno;
    *status = status_from_errno (e);
    if (*status == P2P_FILE_STATUS_OUTSIDE_ROOT)
      *text = g_strdup_printf ("\"%s\": too many levels of symbolic links", path);
    else if (*status == P2P_FILE_STATUS_NOT_FOUND)
      *text = g_strdup_printf ("\"%s\": no such file or directory", path);
    else
      *text = g_strdup_printf ("\"%s\": %s", path, g_strerror (e));
    return -1;
  }
  if (!under_root (self->root, real)) {
    *status = P2P_FILE_STATUS_OUTSIDE_ROOT;
    *text = g_strdup_printf ("\"%s\" resolves outside the served directory "
        "(a symbolic link leads out of it)", path);
    return -1;
  }
  if (stat (real, st) != 0) {
    e = errno;
    *status = status_from_errno (e);
    *text = g_strdup_printf ("\"%s\": %s", path, g_strerror (e));
    return -1;
  }
  if (S_ISDIR (st->st_mode) && !want_dir) {
    *status = P2P_FILE_STATUS_IS_DIRECTORY;
    *text = g_strdup_printf ("\"%s\" is a directory (list it instead)", path);
    return -1;
  }
  if (!S_ISDIR (st->st_mode) && want_dir) {
    *status = S_ISREG (st->st_mode) ? P2P_FILE_STATUS_NOT_A_DIRECTORY
        : P2P_FILE_STATUS_NOT_REGULAR;
    *text = g_strdup_printf ("\"%s\" is not a directory", path);
    return -1;
  }
  if (!S_ISDIR (st->st_mode) && !S_ISREG (st->st_mode)) {
    *status = P2P_FILE_STATUS_NOT_REGULAR;
    *text = g_strdup_printf ("\"%s\" is not a regular file (device, FIFO or socket)", path);
    return -1;
  }
  fd = open (real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY
      | (want_dir ? O_DIRECTORY : 0));
  if (fd < 0) {
    e = errno;
    *status = status_from_errno (e);
    if (*status == P2P_FILE_STATUS_NOT_READABLE)
      *text = g_strdup_printf ("\"%s\" is not readable by the server (%s)", path,
          g_strerror (e));
    else
      *text = g_strdup_printf ("\"%s\": %s", path, g_strerror (e));
    return -1;
  }
  /* the descriptor's own path: nothing was swapped since realpath() */
  g_snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
  n = readlink (proc, linkbuf, PATH_MAX);
  if (n >= 0) {
    linkbuf[n] = '\0';
    if (!under_root (self->root, linkbuf)) {
      close (fd);
      *status = P2P_FILE_STATUS_OUTSIDE_ROOT;
      *text = g_strdup_printf ("\"%s\" resolves outside the served directory", path);
      return -1;
    }
  }
  if (fstat (fd, st) != 0 || (want_dir ? !S_ISDIR (st->st_mode) : !S_ISREG (st->st_mode))) {
    close (fd);
    *status = P2P_FILE_STATUS_NOT_REGULAR;
    *text = g_strdup_printf ("\"%s\" changed type while being opened", path);
    return -1;
  }
  return fd;
}
