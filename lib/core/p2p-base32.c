/* p2p-base32.c: lowercase RFC 4648 base32 (no padding) of the text forms
 * (docs/peer-id.md), and p2p_describe_char() for their error messages.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-base32.h"

#include "p2p/p2p-error.h"

static const char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

gsize
p2p_base32_encoded_len (gsize n_bytes)
{
  return (n_bytes * 8 + 4) / 5;
}

void
p2p_base32_encode_into (const guint8 *data, gsize len, char *out)
{
  guint32 acc = 0;
  guint bits = 0;
  gsize o = 0;

  for (gsize i = 0; i < len; i++) {
    acc = (acc << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[o++] = base32_alphabet[(acc >> bits) & 0x1f];
    }
  }
  if (bits > 0)
    out[o++] = base32_alphabet[(acc << (5 - bits)) & 0x1f];
  out[o] = '\0';
}

char *
p2p_base32_encode (const guint8 *data, gsize len)
{
  char *out = g_malloc (p2p_base32_encoded_len (len) + 1);

  p2p_base32_encode_into (data, len, out);
  return out;
}

static int
base32_value (char c)
{
  if (c >= 'a' && c <= 'z')
    return c - 'a';
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= '2' && c <= '7')
    return c - '2' + 26;
  return -1;
}

char *
p2p_describe_char (char c)
{
  guchar u = (guchar) c;

  if (u >= 0x20 && u < 0x7f)
    return g_strdup_printf ("'%c'", c);
  return g_strdup_printf ("byte 0x%02x", u);
}

gboolean
p2p_base32_decode (const char *text, gsize len, guint8 *out, gsize *out_len,
    const char *what, gsize pos_offset, GError **error)
{
  guint32 acc = 0;
  guint bits = 0;
  gsize o = 0;

  /* Lengths whose leftover bits form a whole extra character never occur in
   * unpadded base32 (1, 3 or 6 characters modulo 8). */
  switch (len % 8) {
    case 1: case 3: case 6:
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "%s: %" G_GSIZE_FORMAT " base32 characters is not a possible length "
          "(text truncated or extended?)", what, len);
      return FALSE;
    default:
      break;
  }

  for (gsize i = 0; i < len; i++) {
    int v = base32_value (text[i]);

    if (v < 0) {
      g_autofree char *desc = p2p_describe_char (text[i]);

      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "%s: character %" G_GSIZE_FORMAT " (%s) is not in the base32 alphabet a-z2-7",
          what, i + 1 + pos_offset, desc);
      return FALSE;
    }
    acc = (acc << 5) | (guint32) v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (guint8) (acc >> bits);
    }
    acc &= (1u << bits) - 1;
  }
  if (acc != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "%s: the last character (%c) has non-zero padding bits; the text was "
        "changed or truncated", what, text[len - 1]);
    return FALSE;
  }
  *out_len = o;
  return TRUE;
}
