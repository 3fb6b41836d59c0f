/* gstp2pmedia.c: GstBuffer / GstEvent <-> the library's media frames.
 *
 * Mapping (docs/protocol.md): stream-start -> STREAM_START (stream id),
 * caps -> CAPS (gst_caps_to_string, streamheader included), segment ->
 * SEGMENT (P2pMediaSegment), tag -> TAG (gst_tag_list_to_string), buffer ->
 * BUFFER (P2pMediaBuffer), eos -> EOS, flush-start/stop -> FLUSH_START /
 * FLUSH_STOP (reset-time), gap -> GAP (timestamp, duration); a
 * DATAGRAM_SEQNUM frame (where a receiver's datagrams start and end)
 * becomes a custom event for p2psrc itself. Decoding is
 * strict: anything malformed is P2P_ERROR_PROTOCOL, never a GStreamer
 * critical, and caps or tag text nested deeper than
 * GST_P2P_MEDIA_MAX_NESTING (counting the levels GStreamer's deserializers
 * add: quoted structures with octal escapes, base64 samples) never reaches
 * GStreamer's recursive parser.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2pmedia.h"

#include <math.h>
#include <string.h>

/* a TAG frame of global scope names its structure so (stream scope:
 * "taglist", as gst_tag_list_to_string() writes it) */
#define GLOBAL_TAGLIST_NAME "taglist-global"

/* the custom event a DATAGRAM_EPOCH frame becomes (the receiver consumes
 * it) */
#define DATAGRAM_EPOCH_EVENT "p2p-datagram-epoch"

/* the custom event a DATAGRAM_SEQNUM frame becomes (p2psrc consumes it) */
#define DATAGRAM_SEQNUM_EVENT "p2p-datagram-seqnum"
/* ... and a STREAM_POSITION frame */
#define STREAM_POSITION_EVENT "p2p-stream-position"

static const struct {
  guint32 p2p;
  GstBufferFlags gst;
} flag_map[] = {
  { P2P_MEDIA_FLAG_DELTA_UNIT, GST_BUFFER_FLAG_DELTA_UNIT },
  { P2P_MEDIA_FLAG_DISCONT, GST_BUFFER_FLAG_DISCONT },
  { P2P_MEDIA_FLAG_HEADER, GST_BUFFER_FLAG_HEADER },
  { P2P_MEDIA_FLAG_GAP, GST_BUFFER_FLAG_GAP },
  { P2P_MEDIA_FLAG_DROPPABLE, GST_BUFFER_FLAG_DROPPABLE },
  { P2P_MEDIA_FLAG_MARKER, GST_BUFFER_FLAG_MARKER },
};

static guint32
flags_to_p2p (GstBuffer *buffer)
{
  guint32 flags = 0;

  for (guint i = 0; i < G_N_ELEMENTS (flag_map); i++)
    if (GST_BUFFER_FLAG_IS_SET (buffer, flag_map[i].gst))
      flags |= flag_map[i].p2p;
  return flags;
}

static void
flags_to_gst (GstBuffer *buffer, guint32 flags)
{
  for (guint i = 0; i < G_N_ELEMENTS (flag_map); i++)
    if (flags & flag_map[i].p2p)
      GST_BUFFER_FLAG_SET (buffer, flag_map[i].gst);
}

static void
fill_media_buffer (P2pMediaBuffer *mb, GstBuffer *buffer, const GstMapInfo *map,
    guint64 seqnum)
{
  memset (mb, 0, sizeof *mb);
  mb->pts = GST_BUFFER_PTS (buffer);
  mb->dts = GST_BUFFER_DTS (buffer);
  mb->duration = GST_BUFFER_DURATION (buffer);
  mb->offset = GST_BUFFER_OFFSET (buffer);
  mb->offset_end = GST_BUFFER_OFFSET_END (buffer);
  mb->flags = flags_to_p2p (buffer);
  mb->seqnum = seqnum;
  mb->payload = map->data;
  mb->payload_len = map->size;
}

void
gst_p2p_media_append_buffer (GByteArray *out, GstBuffer *buffer)
{
  GstMapInfo map = GST_MAP_INFO_INIT;
  P2pMediaBuffer mb;
  static const guint8 empty[1] = { 0 };

  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    /* unmappable memory: send the metadata with an empty payload */
    map.data = (guint8 *) empty;
    map.size = 0;
    fill_media_buffer (&mb, buffer, &map, 0);
    p2p_frame_append_buffer (out, &mb);
    return;
  }
  fill_media_buffer (&mb, buffer, &map, 0);
  p2p_frame_append_buffer (out, &mb);
  gst_buffer_unmap (buffer, &map);
}

void
gst_p2p_media_append_buffer_parts (GByteArray *out, GstBuffer *buffer)
{
  GstMapInfo map = GST_MAP_INFO_INIT;
  P2pMediaBuffer mb;
  gsize done = 0;

  if (gst_buffer_get_size (buffer) <= GST_P2P_MEDIA_PART_PAYLOAD
      || !gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    gst_p2p_media_append_buffer (out, buffer);
    return;
  }
  fill_media_buffer (&mb, buffer, &map, 0);
  while (done < map.size) {
    gsize n = MIN (map.size - done, GST_P2P_MEDIA_PART_PAYLOAD);
    P2pMediaBuffer part = mb;

    part.payload = map.data + done;
    part.payload_len = n;
    done += n;
    if (done < map.size)
      part.flags |= GST_P2P_MEDIA_FLAG_CONTINUED;
    p2p_frame_append_buffer (out, &part);
  }
  gst_buffer_unmap (buffer, &map);
}

gsize
gst_p2p_media_frame_length (const guint8 *data, gsize len)
{
  guint64 t = 0, l = 0;
  gsize n = p2p_varint_read (data, len, &t), m;

  if (n == 0)
    return 0;
  m = p2p_varint_read (data + n, len - n, &l);
  if (m == 0 || l > len - n - m)
    return 0;
  return n + m + l;
}

GBytes *
gst_p2p_media_buffer_to_datagram (GstBuffer *buffer, guint64 seqnum)
{
  GstMapInfo map = GST_MAP_INFO_INIT;
  P2pMediaBuffer mb;
  GByteArray *out = g_byte_array_new ();
  gboolean mapped = gst_buffer_map (buffer, &map, GST_MAP_READ);

  if (!mapped) {
    map.data = NULL;
    map.size = 0;
  }
  fill_media_buffer (&mb, buffer, &map, seqnum);
  p2p_media_buffer_encode_body (out, &mb);
  if (mapped)
    gst_buffer_unmap (buffer, &map);
  return g_byte_array_free_to_bytes (out);
}

static void
append_string_frame (GByteArray *out, guint64 type, const char *s)
{
  p2p_frame_append_string (out, type, s ? s : "");
}

gboolean
gst_p2p_media_append_event (GByteArray *out, GstEvent *event)
{
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:{
      const char *stream_id = NULL;

      gst_event_parse_stream_start (event, &stream_id);
      append_string_frame (out, P2P_FRAME_STREAM_START, stream_id);
      return TRUE;
    }
    case GST_EVENT_CAPS:{
      GstCaps *caps = NULL;
      g_autofree char *s = NULL;

      gst_event_parse_caps (event, &caps);
      s = gst_caps_to_string (caps);
      append_string_frame (out, P2P_FRAME_CAPS, s);
      return TRUE;
    }
    case GST_EVENT_SEGMENT:{
      const GstSegment *segment = NULL;
      P2pMediaSegment seg;

      gst_event_parse_segment (event, &segment);
      seg.flags = segment->flags;
      seg.rate = segment->rate;
      seg.applied_rate = segment->applied_rate;
      seg.format = segment->format;
      seg.base = segment->base;
      seg.offset = segment->offset;
      seg.start = segment->start;
      seg.stop = segment->stop;
      seg.time = segment->time;
      seg.position = segment->position;
      seg.duration = segment->duration;
      p2p_frame_append_segment (out, &seg);
      return TRUE;
    }
    case GST_EVENT_TAG:{
      GstTagList *tags = NULL;
      g_autofree char *s = NULL;

      gst_event_parse_tag (event, &tags);
      s = gst_tag_list_to_string (tags);
      if (gst_tag_list_get_scope (tags) == GST_TAG_SCOPE_GLOBAL
          && g_str_has_prefix (s, "taglist")) {
        /* the scope rides in the structure's name (docs/protocol.md 5):
         * "taglist-global, title=..." (an older receiver still reads the
         * tags, as stream ones) */
        g_autofree char *global = g_strconcat (GLOBAL_TAGLIST_NAME, s + strlen ("taglist"),
            NULL);

        append_string_frame (out, P2P_FRAME_TAG, global);
      } else {
        append_string_frame (out, P2P_FRAME_TAG, s);
      }
      return TRUE;
    }
    case GST_EVENT_EOS:
      p2p_frame_append (out, P2P_FRAME_EOS, NULL, 0);
      return TRUE;
    case GST_EVENT_FLUSH_START:
      p2p_frame_append (out, P2P_FRAME_FLUSH_START, NULL, 0);
      return TRUE;
    case GST_EVENT_FLUSH_STOP:{
      gboolean reset = FALSE;

      gst_event_parse_flush_stop (event, &reset);
      p2p_frame_append_flush_stop (out, reset);
      return TRUE;
    }
    case GST_EVENT_GAP:{
      GstClockTime ts, dur;

      gst_event_parse_gap (event, &ts, &dur);
      p2p_frame_append_gap (out, ts, dur);
      return TRUE;
    }
    default:
      return FALSE;
  }
}

gboolean
gst_p2p_media_split_message (const guint8 *data, gsize len, guint64 *type,
    const guint8 **body, gsize *body_len, GError **error)
{
  guint64 t, l;
  gsize n, m;

  n = p2p_varint_read (data, len, &t);
  if (n == 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "Truncated media message: %" G_GSIZE_FORMAT " bytes, no frame type", len);
    return FALSE;
  }
  m = p2p_varint_read (data + n, len - n, &l);
  if (m == 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "Truncated media message: %" G_GSIZE_FORMAT " bytes, no frame length", len);
    return FALSE;
  }
  if (l != len - n - m) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "Malformed media message: frame length %" G_GUINT64_FORMAT
        " but %" G_GSIZE_FORMAT " body bytes", l, len - n - m);
    return FALSE;
  }
  *type = t;
  *body = data + n + m;
  *body_len = len - n - m;
  return TRUE;
}

static GstBuffer *
buffer_from_media (const P2pMediaBuffer *mb)
{
  GstBuffer *buffer;

  if (mb->payload_len > 0)
    buffer = gst_buffer_new_memdup (mb->payload, mb->payload_len);
  else
    buffer = gst_buffer_new ();
  GST_BUFFER_PTS (buffer) = mb->pts;
  GST_BUFFER_DTS (buffer) = mb->dts;
  GST_BUFFER_DURATION (buffer) = mb->duration;
  GST_BUFFER_OFFSET (buffer) = mb->offset;
  GST_BUFFER_OFFSET_END (buffer) = mb->offset_end;
  flags_to_gst (buffer, mb->flags);
  return buffer;
}

static gboolean
expect_empty (const char *what, gsize len, GError **error)
{
  if (len != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "Malformed %s frame: expected an empty body, got %" G_GSIZE_FORMAT
        " bytes", what, len);
    return FALSE;
  }
  return TRUE;
}

/* GStreamer's caps and structure parser (1.22) recurses once per '{', '[',
 * '<' and '(' with no depth limit, and once more for every value it hands
 * to a deserializer that parses text again: a CAPS or TAG frame of 200 000
 * '{' overflows the stack of the streaming thread. GST_P2P_MEDIA_MAX_NESTING
 * (32) bounds that depth before the parser sees the text; real caps use 2-5
 * levels (a streamheader array is 1). There is no length bound below the
 * 1 MiB frame limit: FLAC caps carry every metadata block in "streamheader",
 * so a 100 KB cover picture already makes 205 KB of caps text.
 *
 * The deserializers of GStreamer 1.22 (gstvalue.c) that parse text again:
 * GstStructure, GstCaps, GstTagList, GstCapsFeatures (gst_string_unwrap of a
 * quoted value, then the parser), GstSegment (a quoted value with only its
 * quotes stripped, escapes left as they are), and GstSample (the casts
 * "(sample)", "(GstSample)"; an unquoted "HEX:CAPS:SEGMENT:INFO" whose three
 * last fields are base64, '=' written '_', decoded and parsed as caps and
 * structures). Lists and arrays are brackets. GstBuffer and GBytes are hex
 * and base64 data, GstDateTime, flag sets, bitmasks and enums are scanned
 * with sscanf-like code: none recurses.
 *
 * So the scan counts brackets the way the parser can reach them, whatever
 * the type casts say (a cast may apply to every element of a list):
 *  - outside quotes every bracket counts;
 *  - a quoted string ("..." ending at the first quote not preceded by a
 *    backslash, as _priv_gst_value_parse_string finds it) is scanned one
 *    level deeper twice: its raw text counting every bracket (GstSegment),
 *    and its text decoded exactly as gst_string_unwrap does ("\ooo" with a
 *    first digit 0-3 is one byte, "\X" is X), scanned again with these rules;
 *  - every unquoted run of the characters GStreamer allows there
 *    (GST_ASCII_IS_STRING: alphanumerics and "_-+/:.") made of four
 *    ':'-separated fields is a possible sample: its fields 2-4 are decoded
 *    as gst_value_deserialize_sample does (g_base64_decode_inplace after '_'
 *    -> '=') and scanned one level deeper with these rules.
 * The depth returns to the outer level after a quoted string or a sample. A
 * closing bracket never takes the depth below the level the text started
 * at, so an unbalanced ')' in a title does not hide later openers. Each
 * byte is scanned at most three times per level (a decoded text is smaller
 * than its source), at most GST_P2P_MEDIA_MAX_NESTING + 1 levels deep.
 * Returns the deepest level reached, stopping early once it exceeds @max. */
static guint nesting_depth (const char *s, gsize len, guint base, guint max);

static gboolean
is_opener (char c)
{
  return c == '{' || c == '[' || c == '<' || c == '(';
}

static gboolean
is_closer (char c)
{
  return c == '}' || c == ']' || c == '>' || c == ')';
}

/* GST_ASCII_IS_STRING (gst_private.h, 1.22): an unquoted value's bytes */
static gboolean
is_simple_char (char c)
{
  return g_ascii_isalnum (c) || c == '_' || c == '-' || c == '+' || c == '/'
      || c == ':' || c == '.';
}

static gboolean
is_octal (char c)
{
  return c >= '0' && c <= '7';
}

/* Every bracket of @s counts, quotes or not. */
static guint
bracket_depth (const char *s, gsize len, guint base, guint max)
{
  guint depth = base, deepest = base;

  for (gsize i = 0; i < len && deepest <= max; i++) {
    if (is_opener (s[i])) {
      depth++;
      deepest = MAX (deepest, depth);
    } else if (is_closer (s[i]) && depth > base) {
      depth--;
    }
  }
  return deepest;
}

/* The content of a quoted string (without its quotes) decoded as
 * gst_string_unwrap() does; where that fails (a "\1" not followed by two
 * octal digits), the escaped byte is kept, which only adds text to scan. */
static char *
unwrap_string (const char *s, gsize len, gsize *out_len)
{
  char *out = g_malloc (len + 1);
  gsize i = 0, n = 0;

  while (i < len) {
    if (s[i] != '\\' || i + 1 == len) {
      out[n++] = s[i++];
    } else if (s[i + 1] >= '0' && s[i + 1] <= '3' && i + 3 < len
        && is_octal (s[i + 2]) && is_octal (s[i + 3])) {
      out[n++] = (char) (((s[i + 1] - '0') << 6) + ((s[i + 2] - '0') << 3)
          + (s[i + 3] - '0'));
      i += 4;
    } else {
      out[n++] = s[i + 1];
      i += 2;
    }
  }
  out[n] = '\0';
  *out_len = n;
  return out;
}

/* What nesting_depth() returns for a text GStreamer's parser cannot take
 * without a g_critical(): in a text that names the sample type, a sample
 * field of one character or none, which gst_value_deserialize_sample()
 * hands to g_base64_decode_inplace() (it asserts a length of 2 or more).
 * A text that never names the type ("sample", "GstSample", any case and
 * spacing of the cast) has no sample to decode: a title "a::b:c" stays. */
#define UNDECODABLE G_MAXUINT

static gboolean
names_sample (const char *s, gsize len)
{
  for (gsize i = 0; i + 6 <= len; i++)
    if (g_ascii_strncasecmp (s + i, "sample", 6) == 0)
      return TRUE;
  return FALSE;
}

/* An unquoted run that gst_value_deserialize_sample() would split into four
 * fields: the texts it parses, as it decodes them, one level deeper. */
static guint
sample_depth (const char *s, gsize len, guint base, guint max,
    gboolean typed)
{
  g_autofree char *run = g_strndup (s, len);
  g_auto (GStrv) fields = g_strsplit (run, ":", -1);
  guint deepest = base;

  if (g_strv_length (fields) != 4)
    return base;
  for (guint f = 1; f < 4 && deepest <= max; f++) {
    gsize decoded_len = 0;

    if (strcmp (fields[f], "None") == 0)
      continue;
    if (strlen (fields[f]) < 2) {
      if (typed)
        return UNDECODABLE;
      continue;               /* not base64 for us either */
    }
    g_strdelimit (fields[f], "_", '=');
    g_base64_decode_inplace (fields[f], &decoded_len);
    /* GStreamer parses the field as a C string: the decoded bytes and
     * whatever base64 text is left after them, up to the first NUL */
    deepest = MAX (deepest, nesting_depth (fields[f], strlen (fields[f]),
            base, max));
  }
  return deepest;
}

static guint
nesting_depth (const char *s, gsize len, guint base, guint max)
{
  guint depth = base, deepest = base;
  gboolean typed = names_sample (s, len);
  gsize i = 0;

  while (i < len && deepest <= max) {
    char c = s[i];

    if (c == '"') {
      gsize start = ++i, content_len, unwrapped_len = 0;
      g_autofree char *unwrapped = NULL;

      while (i < len && s[i] != '"')
        i += (s[i] == '\\' && i + 1 < len) ? 2 : 1;
      content_len = i - start;
      deepest = MAX (deepest, bracket_depth (s + start, content_len, depth + 1,
              max));
      unwrapped = unwrap_string (s + start, content_len, &unwrapped_len);
      deepest = MAX (deepest, nesting_depth (unwrapped, unwrapped_len,
              depth + 1, max));
      i++;                      /* the closing quote (or the end) */
      continue;
    }
    if (is_simple_char (c)) {
      gsize start = i, colons = 0;

      for (; i < len && is_simple_char (s[i]); i++)
        colons += s[i] == ':';
      if (colons == 3)
        deepest = MAX (deepest, sample_depth (s + start, i - start, depth + 1,
                max, typed));
      continue;
    }
    if (is_opener (c)) {
      depth++;
      deepest = MAX (deepest, depth);
    } else if (is_closer (c) && depth > base) {
      depth--;
    }
    i++;
  }
  return deepest;
}

/* Checks the text of a CAPS or TAG frame before GStreamer parses it. */
static gboolean
check_nesting (const char *what, const char *text, GError **error)
{
  guint depth = nesting_depth (text, strlen (text), 0,
      GST_P2P_MEDIA_MAX_NESTING);

  if (depth == UNDECODABLE) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "peer sent malformed %s: a sample field too short to decode", what);
    return FALSE;
  }
  if (depth > GST_P2P_MEDIA_MAX_NESTING) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "peer sent malformed %s: nesting deeper than %d", what,
        GST_P2P_MEDIA_MAX_NESTING);
    return FALSE;
  }
  return TRUE;
}

static GstEvent *
segment_event_from_body (const guint8 *body, gsize len, GError **error)
{
  P2pMediaSegment seg;
  GstSegment segment;

  if (!p2p_frame_parse_segment (body, len, &seg, error))
    return NULL;
  if (!isfinite (seg.rate) || seg.rate == 0.0 || !isfinite (seg.applied_rate)
      || seg.applied_rate == 0.0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "Invalid segment: rate %g and applied rate %g must be finite and non-zero",
        seg.rate, seg.applied_rate);
    return NULL;
  }
  if (seg.format < GST_FORMAT_DEFAULT || seg.format > GST_FORMAT_PERCENT) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "Invalid segment: unknown format %u", seg.format);
    return NULL;
  }
  if (seg.stop != G_MAXUINT64 && seg.start != G_MAXUINT64 && seg.stop < seg.start) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "Invalid segment: stop %" G_GUINT64_FORMAT " before start %"
        G_GUINT64_FORMAT, seg.stop, seg.start);
    return NULL;
  }
  gst_segment_init (&segment, (GstFormat) seg.format);
  segment.flags = (GstSegmentFlags) seg.flags;
  segment.rate = seg.rate;
  segment.applied_rate = seg.applied_rate;
  segment.base = seg.base;
  segment.offset = seg.offset;
  segment.start = seg.start;
  segment.stop = seg.stop;
  segment.time = seg.time;
  segment.position = seg.position;
  segment.duration = seg.duration;
  return gst_event_new_segment (&segment);
}

GstMiniObject *
gst_p2p_media_frame_to_object (guint64 type, const guint8 *body, gsize len,
    GError **error)
{
  switch (type) {
    case P2P_FRAME_BUFFER:{
      P2pMediaBuffer mb;

      if (!p2p_frame_parse_buffer (body, len, &mb, error))
        return NULL;
      return GST_MINI_OBJECT_CAST (buffer_from_media (&mb));
    }
    case P2P_FRAME_STREAM_START:{
      g_autofree char *id = p2p_frame_parse_string (body, len, error);

      if (!id)
        return NULL;
      return GST_MINI_OBJECT_CAST (gst_event_new_stream_start (id));
    }
    case P2P_FRAME_CAPS:{
      g_autofree char *s = p2p_frame_parse_string (body, len, error);
      g_autoptr (GstCaps) caps = NULL;

      if (!s || !check_nesting ("caps", s, error))
        return NULL;
      caps = gst_caps_from_string (s);
      if (!caps) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
            "Malformed CAPS frame: \"%.64s\" does not parse as caps", s);
        return NULL;
      }
      if (!gst_caps_is_fixed (caps)) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
            "Malformed CAPS frame: caps \"%.64s\" are not fixed", s);
        return NULL;
      }
      return GST_MINI_OBJECT_CAST (gst_event_new_caps (caps));
    }
    case P2P_FRAME_SEGMENT:
      return GST_MINI_OBJECT_CAST (segment_event_from_body (body, len, error));
    case P2P_FRAME_TAG:{
      g_autofree char *s = p2p_frame_parse_string (body, len, error);
      GstTagList *tags;

      gboolean global;

      if (!s || !check_nesting ("tags", s, error))
        return NULL;
      global = g_str_has_prefix (s, GLOBAL_TAGLIST_NAME);
      if (global) {
        char *stream = g_strconcat ("taglist", s + strlen (GLOBAL_TAGLIST_NAME), NULL);

        g_free (s);
        s = stream;
      }
      /* gst_tag_list_new_from_string() asserts on anything else */
      tags = g_str_has_prefix (s, "taglist") ? gst_tag_list_new_from_string (s)
          : NULL;
      if (!tags) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
            "Malformed TAG frame: \"%.64s\" does not parse as a tag list", s);
        return NULL;
      }
      if (global)
        gst_tag_list_set_scope (tags, GST_TAG_SCOPE_GLOBAL);
      return GST_MINI_OBJECT_CAST (gst_event_new_tag (tags));
    }
    case P2P_FRAME_EOS:
      if (!expect_empty ("EOS", len, error))
        return NULL;
      return GST_MINI_OBJECT_CAST (gst_event_new_eos ());
    case P2P_FRAME_FLUSH_START:
      if (!expect_empty ("FLUSH_START", len, error))
        return NULL;
      return GST_MINI_OBJECT_CAST (gst_event_new_flush_start ());
    case P2P_FRAME_FLUSH_STOP:
    {
      gboolean reset = FALSE;

      if (!p2p_frame_parse_flush_stop (body, len, &reset, error))
        return NULL;
      return GST_MINI_OBJECT_CAST (gst_event_new_flush_stop (reset));
    }
    case P2P_FRAME_DATAGRAM_SEQNUM:{
      guint64 seqnum = 0;

      if (len == 0 || p2p_varint_read (body, len, &seqnum) != len) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
            "Malformed DATAGRAM_SEQNUM frame: the body of %" G_GSIZE_FORMAT
            " bytes is not one varint", len);
        return NULL;
      }
      return GST_MINI_OBJECT_CAST (gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
              gst_structure_new (DATAGRAM_SEQNUM_EVENT, "seqnum", G_TYPE_UINT64,
                  seqnum, NULL)));
    }
    case P2P_FRAME_DATAGRAM_EPOCH:{
      guint64 epoch = 0;

      if (len == 0 || p2p_varint_read (body, len, &epoch) != len) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
            "Malformed DATAGRAM_EPOCH frame: the body of %" G_GSIZE_FORMAT
            " bytes is not one varint", len);
        return NULL;
      }
      return GST_MINI_OBJECT_CAST (gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
              gst_structure_new (DATAGRAM_EPOCH_EVENT, "epoch", G_TYPE_UINT64, epoch,
                  NULL)));
    }
    case P2P_FRAME_STREAM_POSITION:{
      guint64 v[3] = { 0, 0, 0 };
      gsize off = 0;
      guint got = 0;

      for (; got < 3; got++) {
        gsize n = off < len ? p2p_varint_read (body + off, len - off, &v[got]) : 0;

        if (n == 0)
          break;
        off += n;
      }
      if (got != 3 || off != len || v[2] > G_MAXUINT) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
            "Malformed STREAM_POSITION frame: the body of %" G_GSIZE_FORMAT
            " bytes is not three varints", len);
        return NULL;
      }
      return GST_MINI_OBJECT_CAST (gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
              gst_structure_new (STREAM_POSITION_EVENT, "token", G_TYPE_UINT64, v[0],
                  "index", G_TYPE_UINT64, v[1], "flags", G_TYPE_UINT, (guint) v[2], NULL)));
    }
    case P2P_FRAME_GAP:{
      guint64 ts = 0, dur = 0;

      if (!p2p_frame_parse_gap (body, len, &ts, &dur, error))
        return NULL;
      if (!GST_CLOCK_TIME_IS_VALID (ts)) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
            "Malformed GAP frame: the timestamp is not set");
        return NULL;
      }
      return GST_MINI_OBJECT_CAST (gst_event_new_gap (ts, dur));
    }
    default:
      g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
          "Unexpected frame type 0x%" G_GINT64_MODIFIER "x on the media stream",
          type);
      return NULL;
  }
}

GBytes *
gst_p2p_media_datagram_seqnum_message (guint64 seqnum)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();
  GByteArray *out = g_byte_array_new ();

  p2p_varint_append (body, seqnum);
  p2p_frame_append (out, P2P_FRAME_DATAGRAM_SEQNUM, body->data, body->len);
  return g_byte_array_free_to_bytes (out);
}

gboolean
gst_p2p_media_event_get_datagram_seqnum (GstEvent *event, guint64 *seqnum)
{
  guint64 value = 0;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM_OOB
      || !gst_event_has_name (event, DATAGRAM_SEQNUM_EVENT)
      || !gst_structure_get_uint64 (gst_event_get_structure (event), "seqnum", &value))
    return FALSE;
  if (seqnum)
    *seqnum = value;
  return TRUE;
}

GBytes *
gst_p2p_media_datagram_epoch_message (guint64 epoch)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();
  GByteArray *out = g_byte_array_new ();

  p2p_varint_append (body, epoch);
  p2p_frame_append (out, P2P_FRAME_DATAGRAM_EPOCH, body->data, body->len);
  return g_byte_array_free_to_bytes (out);
}

gboolean
gst_p2p_media_event_raises_epoch (GstEvent *event)
{
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
    case GST_EVENT_CAPS:
    case GST_EVENT_SEGMENT:
    case GST_EVENT_FLUSH_STOP:
      return TRUE;
    default:
      return FALSE;
  }
}

gboolean
gst_p2p_media_event_get_datagram_epoch (GstEvent *event, guint64 *epoch)
{
  guint64 value = 0;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM_OOB
      || !gst_event_has_name (event, DATAGRAM_EPOCH_EVENT)
      || !gst_structure_get_uint64 (gst_event_get_structure (event), "epoch", &value))
    return FALSE;
  if (epoch)
    *epoch = value;
  return TRUE;
}

GBytes *
gst_p2p_media_stream_position_message (guint64 token, guint64 index, guint flags)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();
  GByteArray *out = g_byte_array_new ();

  p2p_varint_append (body, token);
  p2p_varint_append (body, index);
  p2p_varint_append (body, flags);
  p2p_frame_append (out, P2P_FRAME_STREAM_POSITION, body->data, body->len);
  return g_byte_array_free_to_bytes (out);
}

gboolean
gst_p2p_media_event_get_stream_position (GstEvent *event, guint64 *token, guint64 *index,
    guint *flags)
{
  const GstStructure *s;
  guint64 t = 0, i = 0;
  guint f = 0;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM_OOB
      || !gst_event_has_name (event, STREAM_POSITION_EVENT))
    return FALSE;
  s = gst_event_get_structure (event);
  if (!gst_structure_get_uint64 (s, "token", &t) || !gst_structure_get_uint64 (s, "index", &i)
      || !gst_structure_get_uint (s, "flags", &f))
    return FALSE;
  if (token)
    *token = t;
  if (index)
    *index = i;
  if (flags)
    *flags = f;
  return TRUE;
}

GstMiniObject *
gst_p2p_media_message_to_object (GBytes *message, GError **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (message, &len);
  const guint8 *body = NULL;
  gsize body_len = 0;
  guint64 type = 0;

  if (!gst_p2p_media_split_message (data, len, &type, &body, &body_len, error))
    return NULL;
  return gst_p2p_media_frame_to_object (type, body, body_len, error);
}

GBytes *
gst_p2p_media_buffer_to_datagram_epoch (GstBuffer *buffer, guint64 seqnum, guint64 epoch)
{
  g_autoptr (GBytes) plain = gst_p2p_media_buffer_to_datagram (buffer, seqnum);
  gsize len = 0, n;
  const guint8 *p = g_bytes_get_data (plain, &len);
  GByteArray *out = g_byte_array_sized_new (len + 8);
  guint64 v;

  /* seqnum, then the epoch, then the rest of the plain layout */
  n = p2p_varint_read (p, len, &v);
  g_byte_array_append (out, p, n);
  p2p_varint_append (out, epoch);
  g_byte_array_append (out, p + n, len - n);
  return g_byte_array_free_to_bytes (out);
}

GstBuffer *
gst_p2p_media_buffer_from_datagram_epoch (const guint8 *data, gsize len, guint64 *seqnum,
    guint64 *epoch, GError **error)
{
  g_autoptr (GByteArray) plain = NULL;
  guint64 s = 0;
  gsize n = len > 0 ? p2p_varint_read (data, len, &s) : 0;
  gsize m = n > 0 && n < len ? p2p_varint_read (data + n, len - n, epoch) : 0;

  if (n == 0 || m == 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "Malformed datagram: %" G_GSIZE_FORMAT " bytes without a sequence number "
        "and an epoch", len);
    return NULL;
  }
  plain = g_byte_array_sized_new (len);
  g_byte_array_append (plain, data, n);
  g_byte_array_append (plain, data + n + m, len - n - m);
  return gst_p2p_media_buffer_from_datagram (plain->data, plain->len, seqnum, error);
}

GstBuffer *
gst_p2p_media_buffer_from_datagram (const guint8 *data, gsize len,
    guint64 *seqnum, GError **error)
{
  P2pMediaBuffer mb;

  if (!p2p_media_buffer_decode_body (data, len, &mb, error))
    return NULL;
  if (seqnum)
    *seqnum = mb.seqnum;
  return buffer_from_media (&mb);
}

/* ---- buffers in parts ---- */

void
gst_p2p_media_assembler_init (GstP2pMediaAssembler *a)
{
  memset (a, 0, sizeof *a);
}

void
gst_p2p_media_assembler_clear (GstP2pMediaAssembler *a)
{
  gst_clear_buffer (&a->meta);
  if (a->payload)
    g_byte_array_unref (g_steal_pointer (&a->payload));
}

static const char *
frame_type_name (guint64 type)
{
  switch (type) {
    case P2P_FRAME_STREAM_START:
      return "STREAM_START";
    case P2P_FRAME_CAPS:
      return "CAPS";
    case P2P_FRAME_SEGMENT:
      return "SEGMENT";
    case P2P_FRAME_TAG:
      return "TAG";
    case P2P_FRAME_EOS:
      return "EOS";
    case P2P_FRAME_FLUSH_START:
      return "FLUSH_START";
    case P2P_FRAME_FLUSH_STOP:
      return "FLUSH_STOP";
    case P2P_FRAME_GAP:
      return "GAP";
    case P2P_FRAME_DATAGRAM_SEQNUM:
      return "DATAGRAM_SEQNUM";
    case P2P_FRAME_STREAM_POSITION:
      return "STREAM_POSITION";
    case P2P_FRAME_DATAGRAM_EPOCH:
      return "DATAGRAM_EPOCH";
    default:
      return "unknown";
  }
}

GstMiniObject *
gst_p2p_media_assembler_push (GstP2pMediaAssembler *a, GBytes *message,
    GError **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (message, &len);
  const guint8 *body = NULL;
  gsize body_len = 0;
  guint64 type = 0;
  P2pMediaBuffer mb;
  GstBuffer *buffer;

  if (!gst_p2p_media_split_message (data, len, &type, &body, &body_len, error)) {
    gst_p2p_media_assembler_clear (a);
    return NULL;
  }
  if (type != P2P_FRAME_BUFFER) {
    if (a->meta) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
          "Malformed media stream: a %s frame between the parts of a buffer",
          frame_type_name (type));
      gst_p2p_media_assembler_clear (a);
      return NULL;
    }
    return gst_p2p_media_frame_to_object (type, body, body_len, error);
  }
  if (!p2p_frame_parse_buffer (body, body_len, &mb, error)) {
    gst_p2p_media_assembler_clear (a);
    return NULL;
  }
  if (!a->meta && !(mb.flags & GST_P2P_MEDIA_FLAG_CONTINUED))
    return GST_MINI_OBJECT_CAST (buffer_from_media (&mb));

  if (!a->meta) {
    P2pMediaBuffer meta = mb;

    meta.payload_len = 0;
    a->meta = buffer_from_media (&meta);
    a->payload = g_byte_array_sized_new (2 * GST_P2P_MEDIA_PART_PAYLOAD);
  }
  if (mb.payload_len > GST_P2P_MEDIA_MAX_BUFFER_SIZE - a->payload->len) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "peer sent a buffer of more than %u bytes (the limit of a buffer "
        "sent in parts)", (guint) GST_P2P_MEDIA_MAX_BUFFER_SIZE);
    gst_p2p_media_assembler_clear (a);
    return NULL;
  }
  g_byte_array_append (a->payload, mb.payload, mb.payload_len);
  if (mb.flags & GST_P2P_MEDIA_FLAG_CONTINUED)
    return NULL;

  buffer = g_steal_pointer (&a->meta);
  {
    gsize size = a->payload->len;
    guint8 *bytes = g_byte_array_free (g_steal_pointer (&a->payload), FALSE);

    gst_buffer_append_memory (buffer, gst_memory_new_wrapped (0, bytes, size,
            0, size, bytes, g_free));
  }
  return GST_MINI_OBJECT_CAST (buffer);
}
