/* gstp2pmedia-nesting.c: the bound on how deep the caps and tag text of a
 * peer nests before GStreamer's recursive parser sees it (a part of
 * gstp2pmedia.c's strict decoding, see there).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2pmedia.h"
#include "gstp2pmedia-private.h"

#include <string.h>

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

gboolean
gst_p2p_media_check_nesting (const char *what, const char *text, GError **error)
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
