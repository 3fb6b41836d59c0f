/* p2p-file-root.c: path resolution confined to a P2pFileService's root.
 *
 * Path safety: the protocol path is checked first (p2p_file_path_check:
 * relative, UTF-8, no NUL, no "", "." or ".." component), then walked one
 * component at a time from a descriptor of the (real) root, each component
 * opened with O_PATH | O_NOFOLLOW relative to the descriptor of the one
 * before. A symbolic link is read and its target walked in its place: a
 * relative one from the directory holding it, an absolute one from the
 * root if it names the root or a path below it; a ".." above the root or an
 * absolute target elsewhere is OUTSIDE_ROOT at once, before anything beyond
 * it is looked at (so a peer cannot tell whether a file out there exists).
 * Every step holds a descriptor, so a component swapped for a link after it
 * was walked changes nothing: no window between a check and an open, and
 * no /proc needed. The last component is opened for reading with
 * O_NOFOLLOW | O_NONBLOCK and must be the object the walk found (same
 * device and inode). Only regular files are read; directories only through
 * LIST.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE 1          /* O_PATH */
#include "p2p-file-service-private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LINKS 40             /* as the kernel's own path walk */

static P2pFileStatus
status_from_errno (int e)
{
  switch (e) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
      return P2P_FILE_STATUS_NOT_FOUND;
    case EACCES:
    case EPERM:
      return P2P_FILE_STATUS_NOT_READABLE;
    case ENAMETOOLONG:
      return P2P_FILE_STATUS_BAD_PATH;
    default:
      return P2P_FILE_STATUS_IO_ERROR;
  }
}

static int
fail_errno (const char *path, int e, P2pFileStatus *status, char **text)
{
  *status = status_from_errno (e);
  if (e == ENOENT || e == ENOTDIR)
    *text = g_strdup_printf ("\"%s\": no such file or directory", path);
  else if (e == ELOOP)
    *text = g_strdup_printf ("\"%s\": too many levels of symbolic links", path);
  else if (*status == P2P_FILE_STATUS_NOT_READABLE)
    *text = g_strdup_printf ("\"%s\" is not readable by the server (%s)", path,
        g_strerror (e));
  else
    *text = g_strdup_printf ("\"%s\": %s", path, g_strerror (e));
  return -1;
}

static int
fail_outside (const char *path, P2pFileStatus *status, char **text)
{
  *status = P2P_FILE_STATUS_OUTSIDE_ROOT;
  *text = g_strdup_printf ("\"%s\" resolves outside the served directory "
      "(a symbolic link leads out of it)", path);
  return -1;
}

/* Puts the components of @s (split at '/') in front of @todo, in order. */
static void
push_components (GQueue *todo, const char *s)
{
  g_auto (GStrv) parts = g_strsplit (s, "/", -1);

  for (gint i = (gint) g_strv_length (parts) - 1; i >= 0; i--)
    if (parts[i][0] != '\0' && !g_str_equal (parts[i], "."))
      g_queue_push_head (todo, g_strdup (parts[i]));
}

static void
close_fd (gpointer data)
{
  close (*(int *) data);
}

int
p2p_file_service_open_below_root (P2pFileService *self, const char *path, gboolean want_dir,
    struct stat *st, P2pFileStatus *status, char **text)
{
  GQueue todo = G_QUEUE_INIT;           /* components still to walk (owned) */
  g_autoptr (GArray) dirs = g_array_new (FALSE, FALSE, sizeof (int));   /* root first */
  g_autofree char *name = NULL;         /* the last component, in dirs' last one */
  struct stat found;
  guint links = 0;
  int fd, e, ret = -1;

  g_array_set_clear_func (dirs, close_fd);
  fd = open (self->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return fail_errno (path, errno, status, text);
  g_array_append_val (dirs, fd);
  push_components (&todo, path);
  if (fstat (fd, &found) != 0)
    goto fail_errno;

  while (!g_queue_is_empty (&todo)) {
    g_autofree char *c = g_queue_pop_head (&todo);
    int parent = g_array_index (dirs, int, dirs->len - 1);
    char target[PATH_MAX + 1];
    ssize_t n;

    g_clear_pointer (&name, g_free);
    if (g_str_equal (c, "..")) {
      if (dirs->len == 1) {
        ret = fail_outside (path, status, text);
        goto out;
      }
      g_array_set_size (dirs, dirs->len - 1);
      if (fstat (g_array_index (dirs, int, dirs->len - 1), &found) != 0)
        goto fail_errno;
      continue;
    }
    fd = openat (parent, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat (fd, &found) != 0) {
      e = errno;
      if (fd >= 0)
        close (fd);
      ret = fail_errno (path, e, status, text);
      goto out;
    }
    if (S_ISLNK (found.st_mode)) {
      n = readlinkat (fd, "", target, PATH_MAX);
      e = errno;
      close (fd);
      if (n < 0) {
        ret = fail_errno (path, e, status, text);
        goto out;
      }
      if (++links > MAX_LINKS) {
        ret = fail_errno (path, ELOOP, status, text);
        goto out;
      }
      target[n] = '\0';
      if (target[0] == '/') {
        gsize rl = strlen (self->root);

        /* an absolute link must name the root or a path below it */
        if (!g_str_equal (self->root, "/") && (strncmp (target, self->root, rl) != 0
                || (target[rl] != '\0' && target[rl] != '/'))) {
          ret = fail_outside (path, status, text);
          goto out;
        }
        g_array_set_size (dirs, 1);
        push_components (&todo, g_str_equal (self->root, "/") ? target : target + rl);
      } else {
        push_components (&todo, target);
      }
      if (fstat (g_array_index (dirs, int, dirs->len - 1), &found) != 0)
        goto fail_errno;
      continue;
    }
    if (S_ISDIR (found.st_mode) && !g_queue_is_empty (&todo)) {
      g_array_append_val (dirs, fd);
      continue;
    }
    close (fd);
    if (!g_queue_is_empty (&todo)) {
      ret = fail_errno (path, ENOTDIR, status, text);
      goto out;
    }
    name = g_steal_pointer (&c);
  }

  /* the object found: the last component (name) in the last directory, or
   * that directory itself (the root, or a path ending in a link to a
   * directory or in "..") */
  if (S_ISDIR (found.st_mode) && !want_dir) {
    *status = P2P_FILE_STATUS_IS_DIRECTORY;
    *text = g_strdup_printf ("\"%s\" is a directory (list it instead, e.g. with p2p-cat ls "
        "PEER PATH)", path);
    goto out;
  }
  if (!S_ISDIR (found.st_mode) && want_dir) {
    *status = S_ISREG (found.st_mode) ? P2P_FILE_STATUS_NOT_A_DIRECTORY
        : P2P_FILE_STATUS_NOT_REGULAR;
    *text = g_strdup_printf ("\"%s\" is not a directory", path);
    goto out;
  }
  if (!S_ISDIR (found.st_mode) && !S_ISREG (found.st_mode)) {
    *status = P2P_FILE_STATUS_NOT_REGULAR;
    *text = g_strdup_printf ("\"%s\" is not a regular file (device, FIFO or socket)", path);
    goto out;
  }
  fd = openat (g_array_index (dirs, int, dirs->len - 1), name ? name : ".",
      O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | (want_dir ? O_DIRECTORY : 0));
  if (fd < 0) {
    ret = fail_errno (path, errno, status, text);
    goto out;
  }
  if (fstat (fd, st) != 0 || st->st_dev != found.st_dev || st->st_ino != found.st_ino
      || (want_dir ? !S_ISDIR (st->st_mode) : !S_ISREG (st->st_mode))) {
    close (fd);
    *status = P2P_FILE_STATUS_NOT_REGULAR;
    *text = g_strdup_printf ("\"%s\" changed while being opened", path);
    goto out;
  }
  ret = fd;
  goto out;

fail_errno:
  ret = fail_errno (path, errno, status, text);
out:
  g_queue_clear_full (&todo, g_free);
  return ret;
}
