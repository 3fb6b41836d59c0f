/* p2p-json.c: strict, bounded JSON parsing of untrusted text (see
 * p2p-json.h): an iterative RFC 8259 recogniser with a depth limit, then
 * json-glib on text known to be plain, shallow JSON.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-json.h"

#include <string.h>

#include "p2p/p2p-error.h"

static gboolean
bad (GError **error, const char *what, gsize at, const char *why)
{
  g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
      "%s is not valid JSON (RFC 8259): %s at byte %" G_GSIZE_FORMAT, what, why, at);
  return FALSE;
}

static int
hex4 (const char *s, gsize avail)
{
  if (avail < 4)
    return -1;
  int v = 0;
  for (int k = 0; k < 4; k++) {
    int d = g_ascii_xdigit_value (s[k]);
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* @i at the opening quote; on success just past the closing one. */
static gboolean
scan_string (const char *t, gsize len, gsize *i, const char *what, GError **error)
{
  gsize start = *i;
  gsize p = start + 1;
  for (;;) {
    if (p >= len)
      return bad (error, what, start, "unterminated string");
    guchar b = (guchar) t[p];
    if (b == '"') {
      *i = p + 1;
      return TRUE;
    }
    if (b < 0x20)
      return bad (error, what, p, "control character in a string");
    if (b != '\\') {
      p++;
      continue;
    }
    if (p + 1 >= len)
      return bad (error, what, p, "unterminated escape");
    char e = t[p + 1];
    if (strchr ("\"\\/bfnrt", e) && e != '\0') {
      p += 2;
      continue;
    }
    if (e != 'u')
      return bad (error, what, p, "invalid escape");
    int u = hex4 (t + p + 2, len - (p + 2));
    if (u < 0)
      return bad (error, what, p, "invalid \\u escape");
    if (u == 0)
      return bad (error, what, p, "\\u0000 in a string");
    if (u >= 0xDC00 && u <= 0xDFFF)
      return bad (error, what, p, "unpaired surrogate");
    if (u >= 0xD800 && u <= 0xDBFF) {
      int lo = (p + 8 <= len && t[p + 6] == '\\' && t[p + 7] == 'u')
          ? hex4 (t + p + 8, len - (p + 8)) : -1;
      if (lo < 0xDC00 || lo > 0xDFFF)
        return bad (error, what, p, "unpaired surrogate");
      p += 12;
    } else {
      p += 6;
    }
  }
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static gboolean
scan_number (const char *t, gsize len, gsize *i, const char *what, GError **error)
{
  gsize p = *i;
  if (p < len && t[p] == '-')
    p++;
  if (p < len && t[p] == '0')
    p++;
  else if (p < len && t[p] >= '1' && t[p] <= '9')
    while (p < len && g_ascii_isdigit (t[p]))
      p++;
  else
    return bad (error, what, *i, "malformed number");
  if (p < len && t[p] == '.') {
    p++;
    if (p >= len || !g_ascii_isdigit (t[p]))
      return bad (error, what, *i, "malformed number");
    while (p < len && g_ascii_isdigit (t[p]))
      p++;
  }
  if (p < len && (t[p] == 'e' || t[p] == 'E')) {
    p++;
    if (p < len && (t[p] == '+' || t[p] == '-'))
      p++;
    if (p >= len || !g_ascii_isdigit (t[p]))
      return bad (error, what, *i, "malformed number");
    while (p < len && g_ascii_isdigit (t[p]))
      p++;
  }
  *i = p;
  return TRUE;
}

typedef enum {
  WANT_VALUE,
  WANT_VALUE_OR_CLOSE,   /* just after '[' */
  WANT_KEY,
  WANT_KEY_OR_CLOSE,     /* just after '{' */
  WANT_COLON,
  WANT_COMMA_OR_CLOSE,
  DONE,
} State;

gboolean
p2p_json_check (const char *text, gsize len, const char *what, GError **error)
{
  if (len > P2P_JSON_MAX_SIZE) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "%s of %" G_GSIZE_FORMAT " bytes exceeds the limit of %d bytes", what, len,
        P2P_JSON_MAX_SIZE);
    return FALSE;
  }
  if (!text || !g_utf8_validate_len (text, len, NULL) || memchr (text, '\0', len)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "%s is not UTF-8 text", what);
    return FALSE;
  }
  char stack[P2P_JSON_MAX_DEPTH];
  guint depth = 0;
  State st = WANT_VALUE;
  gsize i = 0;
  for (;;) {
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
      i++;
    if (i >= len)
      break;
    char c = text[i];
    gboolean value_done = FALSE;
    switch (st) {
      case WANT_VALUE_OR_CLOSE:
        if (c == ']') {
          depth--;
          i++;
          value_done = TRUE;
          break;
        }
        /* fall through */
      case WANT_VALUE:
        if (c == '{' || c == '[') {
          if (depth == P2P_JSON_MAX_DEPTH) {
            g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
                "%s nests deeper than %d levels (byte %" G_GSIZE_FORMAT ")", what,
                P2P_JSON_MAX_DEPTH, i);
            return FALSE;
          }
          stack[depth++] = c;
          st = c == '{' ? WANT_KEY_OR_CLOSE : WANT_VALUE_OR_CLOSE;
          i++;
        } else if (c == '"') {
          if (!scan_string (text, len, &i, what, error))
            return FALSE;
          value_done = TRUE;
        } else if (c == '-' || g_ascii_isdigit (c)) {
          if (!scan_number (text, len, &i, what, error))
            return FALSE;
          value_done = TRUE;
        } else {
          static const char *const literals[] = { "true", "false", "null" };
          for (guint k = 0; k < G_N_ELEMENTS (literals) && !value_done; k++) {
            gsize n = strlen (literals[k]);
            if (len - i >= n && memcmp (text + i, literals[k], n) == 0) {
              i += n;
              value_done = TRUE;
            }
          }
          if (!value_done)
            return bad (error, what, i, c == '\'' ? "single-quoted string"
                : c == '/' ? "comment" : "unexpected character");
        }
        break;
      case WANT_KEY_OR_CLOSE:
        if (c == '}') {
          depth--;
          i++;
          value_done = TRUE;
          break;
        }
        /* fall through */
      case WANT_KEY:
        if (c != '"')
          return bad (error, what, i, c == '\'' ? "single-quoted key"
              : c == '/' ? "comment" : "object key is not a string");
        if (!scan_string (text, len, &i, what, error))
          return FALSE;
        st = WANT_COLON;
        break;
      case WANT_COLON:
        if (c != ':')
          return bad (error, what, i, "expected ':'");
        i++;
        st = WANT_VALUE;
        break;
      case WANT_COMMA_OR_CLOSE:
        if (c == ',') {
          st = stack[depth - 1] == '{' ? WANT_KEY : WANT_VALUE;
          i++;
        } else if ((c == '}' && stack[depth - 1] == '{') || (c == ']' && stack[depth - 1] == '[')) {
          depth--;
          i++;
          value_done = TRUE;
        } else {
          return bad (error, what, i, c == '/' ? "comment" : "expected ',' or a closing bracket");
        }
        break;
      case DONE:
      default:
        return bad (error, what, i, c == '/' ? "comment" : "data after the value");
    }
    if (value_done)
      st = depth == 0 ? DONE : WANT_COMMA_OR_CLOSE;
  }
  if (st != DONE)
    return bad (error, what, len, "truncated text");
  return TRUE;
}

JsonNode *
p2p_json_parse (const char *text, gsize len, const char *what, GError **error)
{
  if (!p2p_json_check (text, len, what, error))
    return NULL;
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local = NULL;
  if (!json_parser_load_from_data (parser, text, (gssize) len, &local)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "%s is not valid JSON: %s", what,
        local->message);
    return NULL;
  }
  JsonNode *root = json_parser_steal_root (parser);
  if (!root)
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "%s is not valid JSON: empty", what);
  return root;
}
