/* fuzz-fatal.h: criticals abort a fuzz target (fuzz-fatal.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* TRUE while a third-party parser with known criticals of its own runs
 * (fuzz-media.c sets it around GStreamer's caps and tag parsers). */
extern gboolean fuzz_criticals_excused;
