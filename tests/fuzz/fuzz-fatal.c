/* fuzz-fatal.c: linked into every fuzz target. A GLib critical or error
 * raised while a target runs aborts (SIGABRT, so libFuzzer keeps the input
 * and prints the stack): a critical is a misuse that G_DEBUG=fatal-criticals
 * or gst-check turns into a crash, and peer data must never cause one.
 * G_DEBUG=fatal-criticals itself is no substitute: GLib then raises SIGTRAP,
 * which the sanitizers do not report. Warnings are only printed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "fuzz-fatal.h"

gboolean fuzz_criticals_excused;

static GLogWriterOutput
fatal_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields,
    gpointer data)
{
  GLogWriterOutput ret = g_log_writer_default (level, fields, n_fields, data);

  if ((level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) && !fuzz_criticals_excused)
    abort ();
  return ret;
}

__attribute__ ((constructor)) static void
fuzz_fatal_install (void)
{
  g_log_set_writer_func (fatal_writer, NULL, NULL);
}
