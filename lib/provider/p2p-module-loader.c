/* p2p-module-loader.c: finds the optional layers of the QUIC provider on
 * first use (p2p-module-loader.h). A direct dial never gets here, so a
 * process that only dials by ticket or ID@HOST:PORT never loads libnice,
 * libsoup, json-glib or OpenDHT (docs/architecture.md "Loading").
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* dladdr */
#include "p2p-module-loader.h"

#include <dlfcn.h>
#include <gmodule.h>

#include "p2p/p2p-error.h"

/* Defined when a layer is linked into this binary (the tests and fuzzers
 * link the layers statically); NULL in the shared library. */
extern const P2pIceModule *p2p_ice_module_table (void)
    __attribute__ ((weak, visibility ("hidden")));
extern const P2pDhtModule *p2p_dht_module_table (void)
    __attribute__ ((weak, visibility ("hidden")));

typedef gconstpointer (*EntryFunc) (void);

/* One loadable module and what became of loading it. */
typedef struct {
  const char *name;             /* file name */
  const char *env;              /* variable naming the file instead */
  const char *entry;            /* exported symbol returning the table */
  gsize size;                   /* sizeof the table in this build */
  const char *needed_for;       /* for the error: what needs it */
  gsize once;
  gconstpointer table;
  char *error;
} Module;

static Module ice = {
  P2P_ICE_MODULE_NAME, "P2P_ICE_MODULE", P2P_ICE_MODULE_ENTRY, sizeof (P2pIceModule),
  "reaching a peer through a rendezvous needs the ICE module",
};
static Module dht = {
  P2P_DHT_MODULE_NAME, "P2P_DHT_MODULE", P2P_DHT_MODULE_ENTRY, sizeof (P2pDhtModule),
  "the dht:// entries of P2P_BOOTSTRAP_PEERS need the DHT module",
};

/* Opens @path and takes its table, or appends why not to @why. */
static gconstpointer
try_open (Module *m, const char *path, GString *why)
{
  GModule *module;
  EntryFunc entry = NULL;
  gconstpointer table;

  module = g_module_open (path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  if (module == NULL) {
    g_string_append_printf (why, "; %s", g_module_error ());
    return NULL;
  }
  if (!g_module_symbol (module, m->entry, (gpointer *) &entry) || entry == NULL) {
    g_string_append_printf (why, "; %s: no %s", path, m->entry);
    g_module_close (module);
    return NULL;
  }
  table = entry ();
  /* every table starts with its size */
  if (table == NULL || *(const gsize *) table != m->size) {
    g_string_append_printf (why, "; %s: built for another version of the library", path);
    g_module_close (module);
    return NULL;
  }
  /* its GTypes and sources live as long as the process */
  g_module_make_resident (module);
  g_debug ("%s loaded from %s", m->name, path);
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
load (Module *m)
{
  g_autoptr (GString) why = g_string_new (NULL);
  const char *env = g_getenv (m->env);
  g_autofree char *dir = NULL;

  if (env && *env) {
    m->table = try_open (m, env, why);
  } else if ((dir = own_directory ()) != NULL) {
    g_autofree char *installed = g_build_filename (dir, "p2p-glib-" P2P_API_VERSION,
        m->name, NULL);
    g_autofree char *beside = g_build_filename (dir, m->name, NULL);

    m->table = try_open (m, installed, why);
    if (m->table == NULL)
      m->table = try_open (m, beside, why);
  } else {
    g_string_append (why, "; the library's own directory is unknown");
  }
  if (m->table == NULL)
    m->error = g_strdup_printf ("%s %s, which could not be loaded (%s); install it or point "
        "%s at it (a ticket or ID@HOST:PORT needs no module)", m->needed_for, m->name,
        why->str + 2, m->env);
}

static gconstpointer
get (Module *m, GError **error)
{
  if (g_once_init_enter (&m->once)) {
    load (m);
    g_once_init_leave (&m->once, 1);
  }
  if (m->table == NULL)
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_CONNECTION_FAILED, m->error);
  return m->table;
}

const P2pIceModule *
p2p_ice_loader_get (GError **error)
{
  if (p2p_ice_module_table != NULL)
    return p2p_ice_module_table ();
  return get (&ice, error);
}

const P2pDhtModule *
p2p_dht_loader_get (GError **error)
{
  if (p2p_dht_module_table != NULL)
    return p2p_dht_module_table ();
  return get (&dht, error);
}
