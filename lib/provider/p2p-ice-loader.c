/* p2p-ice-loader.c: finds the ICE layer for the QUIC provider on first use
 * (p2p-ice-loader.h). A direct dial never gets here, so a process that only
 * dials by ticket or ID@HOST:PORT never loads libnice, libsoup or
 * json-glib (docs/architecture.md "Loading").
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* dladdr */
#include "p2p-ice-loader.h"

#include <dlfcn.h>
#include <gmodule.h>

#include "p2p/p2p-error.h"

/* Defined when the ICE layer is linked into this binary (the tests and
 * fuzzers link the layers statically); NULL in the shared library. */
extern const P2pIceModule *p2p_ice_module_table (void)
    __attribute__ ((weak, visibility ("hidden")));

typedef const P2pIceModule *(*EntryFunc) (void);

static const P2pIceModule *loaded;
static char *load_error;

/* Opens @path and takes its table, or appends why not to @why. */
static const P2pIceModule *
try_open (const char *path, GString *why)
{
  GModule *module;
  EntryFunc entry = NULL;
  const P2pIceModule *table;

  module = g_module_open (path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  if (module == NULL) {
    g_string_append_printf (why, "; %s", g_module_error ());
    return NULL;
  }
  if (!g_module_symbol (module, P2P_ICE_MODULE_ENTRY, (gpointer *) &entry) || entry == NULL) {
    g_string_append_printf (why, "; %s: no %s", path, P2P_ICE_MODULE_ENTRY);
    g_module_close (module);
    return NULL;
  }
  table = entry ();
  if (table == NULL || table->size != sizeof (P2pIceModule)) {
    g_string_append_printf (why, "; %s: built for another version of the library", path);
    g_module_close (module);
    return NULL;
  }
  /* its GTypes and sources live as long as the process */
  g_module_make_resident (module);
  g_debug ("ICE module loaded from %s", path);
  return table;
}

/* The directory of the shared library (or program) holding this code. */
static char *
own_directory (void)
{
  Dl_info info;

  if (dladdr ((void *) p2p_ice_loader_get, &info) == 0 || info.dli_fname == NULL)
    return NULL;
  return g_path_get_dirname (info.dli_fname);
}

static void
load (void)
{
  g_autoptr (GString) why = g_string_new (NULL);
  const char *env = g_getenv ("P2P_ICE_MODULE");
  g_autofree char *dir = NULL;

  if (env && *env) {
    loaded = try_open (env, why);
  } else if ((dir = own_directory ()) != NULL) {
    g_autofree char *installed = g_build_filename (dir, "p2p-glib-" P2P_API_VERSION,
        P2P_ICE_MODULE_NAME, NULL);
    g_autofree char *beside = g_build_filename (dir, P2P_ICE_MODULE_NAME, NULL);

    loaded = try_open (installed, why);
    if (loaded == NULL)
      loaded = try_open (beside, why);
  } else {
    g_string_append (why, "; the library's own directory is unknown");
  }
  if (loaded == NULL)
    load_error = g_strdup_printf ("reaching a peer through a rendezvous needs the ICE module "
        "%s, which could not be loaded (%s); install it or point P2P_ICE_MODULE at it "
        "(a ticket or ID@HOST:PORT needs no module)", P2P_ICE_MODULE_NAME, why->str + 2);
}

const P2pIceModule *
p2p_ice_loader_get (GError **error)
{
  static gsize once;

  if (p2p_ice_module_table != NULL)
    return p2p_ice_module_table ();
  if (g_once_init_enter (&once)) {
    load ();
    g_once_init_leave (&once, 1);
  }
  if (loaded == NULL)
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED, load_error);
  return loaded;
}
