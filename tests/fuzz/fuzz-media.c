/* fuzz-media.c: libFuzzer target for the media frame -> GStreamer object
 * conversion of the elements (gst/gstp2pmedia.c, compiled into the fuzzer):
 * the input is one message as p2psrc receives it (CAPS, TAG, SEGMENT,
 * BUFFER, STREAM_START, EOS, FLUSH_*, GAP, anything else) and, again, a
 * datagram body, and as a run of whole frames through the assembler of
 * buffers sent in parts (GstP2pMediaAssembler). Every decoded event is encoded back and decoded again. A
 * critical is a crash here (the decoder promises P2P_ERROR_PROTOCOL for
 * anything malformed), except those GStreamer's own parser emits (below). Built with -Dfuzz=true and the
 * gst feature enabled (clang); seed corpus in tests/fuzz/corpus/media/.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include <gst/gst.h>

#include "gstp2pmedia.h"
#include "fuzz-fatal.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);
const char *__asan_default_options (void);
const char *__lsan_default_suppressions (void);

/* Full allocation stacks, so that the one suppression below matches. */
const char *
__asan_default_options (void)
{
  return "fast_unwind_on_malloc=0";
}

/* GStreamer 1.22's caps parser leaks the GValue holding a nested structure
 * when a later field fails to parse ("s=(structure)[a, b=(int)1;], l=(int)<
 * 1,:2 >": gst_caps_from_string -> g_value_init). Not ours to fix; the
 * decoder itself never calls g_value_init, so no leak of ours hides here.
 * GLib's quark table drops its old array when it grows (readers may still
 * hold it, by design): every field name GStreamer parses is interned, so a
 * run that has seen 2 048 distinct names reports the first array, allocated
 * in GLib's constructor (_dl_init), and later ones under
 * g_quark_from_string. docs/security.md names that growth. */
const char *
__lsan_default_suppressions (void)
{
  return "leak:g_value_init\nleak:_dl_init\nleak:g_quark_from_string\n";
}

/* GStreamer 1.22's own parser emits criticals on some malformed text
 * (e.g. "gst_structure_new_empty: assertion 'gst_structure_validate_name
 * (name)' failed" for "s=(structure)[inner,0a=(intt, ...", "gst_buffer_unmap:
 * assertion 'GST_IS_BUFFER (buffer)' failed" for a mangled tag list; the
 * corpus keeps both). They are GStreamer's bugs, not a misuse of ours, and
 * the decoder still reports P2P_ERROR_PROTOCOL. The linker wraps the two
 * parser entry points (-Wl,--wrap) to know when GStreamer is parsing; a
 * critical anywhere else aborts (fuzz-fatal.c). */
GstCaps *__real_gst_caps_from_string (const gchar *string);
GstCaps *__wrap_gst_caps_from_string (const gchar *string);
GstTagList *__real_gst_tag_list_new_from_string (const gchar *str);
GstTagList *__wrap_gst_tag_list_new_from_string (const gchar *str);

GstCaps *
__wrap_gst_caps_from_string (const gchar *string)
{
  GstCaps *caps;

  fuzz_criticals_excused = TRUE;
  caps = __real_gst_caps_from_string (string);
  fuzz_criticals_excused = FALSE;
  return caps;
}

GstTagList *
__wrap_gst_tag_list_new_from_string (const gchar *str)
{
  GstTagList *tags;

  fuzz_criticals_excused = TRUE;
  tags = __real_gst_tag_list_new_from_string (str);
  fuzz_criticals_excused = FALSE;
  return tags;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* no plugin is needed: keep the registry out of the fuzzer's time */
  g_setenv ("GST_REGISTRY_DISABLE", "yes", TRUE);
  gst_init (NULL, NULL);
  return 0;
}

static void
round_trip (GstMiniObject *obj)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) msg = NULL;
  g_autoptr (GError) error = NULL;
  GstMiniObject *again;

  if (GST_IS_EVENT (obj)) {
    if (!gst_p2p_media_append_event (out, GST_EVENT_CAST (obj)))
      return;
  } else {
    gst_p2p_media_append_buffer (out, GST_BUFFER_CAST (obj));
  }
  msg = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  again = gst_p2p_media_message_to_object (msg, &error);
  if (again)
    gst_mini_object_unref (again);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr (GBytes) message = g_bytes_new (data, size);
  g_autoptr (GError) error = NULL;
  GstMiniObject *obj;
  GstBuffer *buffer;
  guint64 seqnum = 0;

  obj = gst_p2p_media_message_to_object (message, &error);
  if (obj) {
    round_trip (obj);
    gst_mini_object_unref (obj);
  } else {
    g_assert (error != NULL && error->domain == P2P_ERROR
        && error->code == P2P_ERROR_PROTOCOL);
  }
  g_clear_error (&error);
  buffer = gst_p2p_media_buffer_from_datagram (data, size, &seqnum, &error);
  if (buffer)
    gst_buffer_unref (buffer);
  g_clear_error (&error);
  {
    /* the "datagram-epoch" layout (seqnum, epoch, body) */
    guint64 epoch = 0;

    buffer = gst_p2p_media_buffer_from_datagram_epoch (data, size, &seqnum, &epoch, &error);
    if (buffer)
      gst_buffer_unref (buffer);
    g_clear_error (&error);
  }

  /* the input as a run of whole frames, one message each, through the
   * assembler of buffers sent in parts */
  {
    GstP2pMediaAssembler a;
    gsize off = 0, n;

    gst_p2p_media_assembler_init (&a);
    while (off < size && (n = gst_p2p_media_frame_length (data + off,
                size - off)) > 0) {
      g_autoptr (GBytes) part = g_bytes_new (data + off, n);

      off += n;
      obj = gst_p2p_media_assembler_push (&a, part, &error);
      if (obj)
        gst_mini_object_unref (obj);
      else if (error)
        g_assert (error->domain == P2P_ERROR && error->code == P2P_ERROR_PROTOCOL);
      g_clear_error (&error);
    }
    gst_p2p_media_assembler_clear (&a);
  }
  return 0;
}
