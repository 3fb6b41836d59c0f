/* test-peer-id.c: peer ID text form, base32 and checksum helpers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <p2p/p2p.h>
#include "p2p-base32.h"

/* Vectors computed independently with Python's base64/binascii. */
#define ID_ZERO "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaapcta"
#define ID_SEQ "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypshmy"

static void
seq_key (P2pPeerId *id)
{
  for (guint i = 0; i < P2P_PEER_ID_KEY_LEN; i++)
    id->key[i] = (guint8) i;
}

static void
test_checksums (void)
{
  const guint8 *check = (const guint8 *) "123456789";

  g_assert_cmphex (p2p_crc16_ccitt_false (check, 9), ==, 0x29b1);
  g_assert_cmphex (p2p_crc32 (check, 9), ==, 0xcbf43926);
  g_assert_cmphex (p2p_crc16_ccitt_false (NULL, 0), ==, 0xffff);
  g_assert_cmphex (p2p_crc32 (NULL, 0), ==, 0);
}

static void
test_base32_rfc4648 (void)
{
  /* RFC 4648 §10 vectors, lower case, padding removed. */
  const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
  const char *out[] = { "", "my", "mzxq", "mzxw6", "mzxw6yq", "mzxw6ytb", "mzxw6ytboi" };

  for (guint i = 0; i < G_N_ELEMENTS (in); i++) {
    g_autofree char *enc = p2p_base32_encode ((const guint8 *) in[i], strlen (in[i]));
    g_autofree char *upper = g_ascii_strup (out[i], -1);
    guint8 dec[16];
    gsize dec_len = 99;
    g_autoptr (GError) err = NULL;

    g_assert_cmpstr (enc, ==, out[i]);
    g_assert_cmpuint (p2p_base32_encoded_len (strlen (in[i])), ==, strlen (out[i]));
    g_assert_true (p2p_base32_decode (upper, strlen (upper), dec, &dec_len, "x", 0, &err));
    g_assert_no_error (err);
    g_assert_cmpmem (dec, dec_len, in[i], strlen (in[i]));
  }
}

static void
test_base32_errors (void)
{
  guint8 dec[16];
  gsize dec_len;
  g_autoptr (GError) err = NULL;

  /* impossible lengths */
  g_assert_false (p2p_base32_decode ("a", 1, dec, &dec_len, "thing", 0, &err));
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (err->message, "thing: 1 base32 characters is not a possible length"));
  g_clear_error (&err);
  g_assert_false (p2p_base32_decode ("mzxw6y", 6, dec, &dec_len, "thing", 0, &err));
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_clear_error (&err);
  /* non-zero pad bits: "mz" decodes 'f' with 2 spare bits; "mz" + 1 -> "m3" */
  g_assert_false (p2p_base32_decode ("m3", 2, dec, &dec_len, "thing", 0, &err));
  g_assert_nonnull (strstr (err->message, "non-zero padding bits"));
  g_clear_error (&err);
  /* bad characters, position offset applied, non-printable described */
  g_assert_false (p2p_base32_decode ("m=", 2, dec, &dec_len, "thing", 4, &err));
  g_assert_cmpstr (err->message, ==,
      "thing: character 6 ('=') is not in the base32 alphabet a-z2-7");
  g_clear_error (&err);
  g_assert_false (p2p_base32_decode ("m\x01", 2, dec, &dec_len, "thing", 0, &err));
  g_assert_cmpstr (err->message, ==,
      "thing: character 2 (byte 0x01) is not in the base32 alphabet a-z2-7");
}

static void
test_known_vectors (void)
{
  P2pPeerId id = { { 0 } }, parsed;
  char buf[P2P_PEER_ID_TEXT_LEN + 1];
  g_autofree char *s = NULL;
  g_autoptr (GError) err = NULL;

  p2p_peer_id_format (&id, buf);
  g_assert_cmpstr (buf, ==, ID_ZERO);
  seq_key (&id);
  s = p2p_peer_id_to_string (&id);
  g_assert_cmpstr (s, ==, ID_SEQ);
  g_assert_cmpuint (strlen (s), ==, P2P_PEER_ID_TEXT_LEN);

  g_assert_true (p2p_peer_id_parse (ID_SEQ, &parsed, &err));
  g_assert_no_error (err);
  g_assert_true (p2p_peer_id_equal (&id, &parsed));
  g_assert_cmpmem (parsed.key, 32, id.key, 32);
}

static void
test_upper_case (void)
{
  g_autofree char *upper = g_ascii_strup (ID_SEQ, -1);
  g_autofree char *mixed = g_strdup (ID_SEQ);
  P2pPeerId a, b, c;

  mixed[0] = 'A';
  mixed[10] = 'D';
  g_assert_true (p2p_peer_id_parse (upper, &a, NULL));
  g_assert_true (p2p_peer_id_parse (mixed, &b, NULL));
  g_assert_true (p2p_peer_id_parse (ID_SEQ, &c, NULL));
  g_assert_true (p2p_peer_id_equal (&a, &c));
  g_assert_true (p2p_peer_id_equal (&b, &c));
}

static void
assert_parse_fails (const char *text, const char *message)
{
  g_autoptr (GError) err = NULL;
  P2pPeerId id;

  g_assert_false (p2p_peer_id_parse (text, &id, &err));
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (err->message, ==, message);
}

static void
test_errors (void)
{
  g_autofree char *short_id = g_strndup (ID_SEQ, 54);
  g_autofree char *long_id = g_strconcat (ID_SEQ, "a", NULL);
  g_autofree char *space = g_strconcat (ID_SEQ, "\n", NULL);
  g_autofree char *one = g_strdup (ID_SEQ);
  g_autofree char *pad = g_strdup (ID_SEQ);
  g_autofree char *typo = g_strdup (ID_SEQ);

  assert_parse_fails (NULL, "no peer ID given (NULL)");
  assert_parse_fails ("", "a peer ID has 55 characters, got 0");
  assert_parse_fails (short_id, "a peer ID has 55 characters, got 54");
  assert_parse_fails (long_id, "a peer ID has 55 characters, got 56");
  assert_parse_fails (space, "a peer ID has 55 characters, got 56");
  one[6] = '1';
  assert_parse_fails (one, "peer ID: character 7 ('1') is not in the base32 alphabet a-z2-7");
  one[6] = '\xc3';
  assert_parse_fails (one, "peer ID: character 7 (byte 0xc3) is not in the base32 alphabet a-z2-7");
  /* last character 'y' = 24 = 0b11000: its 3 low bits are padding */
  pad[54] = 'z'; /* 25: low bit set */
  assert_parse_fails (pad, "peer ID: the last character (z) has non-zero padding bits; "
      "the text was changed or truncated");
  typo[3] = 'r';
  assert_parse_fails (typo, "checksum mismatch: the peer ID has a typo");
}

/* Every single-character substitution at every position is rejected. */
static void
test_every_substitution_rejected (void)
{
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  guint rejected = 0, checksum = 0, padding = 0;
  char ids[3][P2P_PEER_ID_TEXT_LEN + 1];
  P2pPeerId id = { { 0 } };

  p2p_peer_id_format (&id, ids[0]);
  seq_key (&id);
  p2p_peer_id_format (&id, ids[1]);
  for (guint i = 0; i < P2P_PEER_ID_KEY_LEN; i++)
    id.key[i] = (guint8) (0xa5 ^ (i * 37));
  p2p_peer_id_format (&id, ids[2]);

  for (guint k = 0; k < G_N_ELEMENTS (ids); k++) {
    for (guint pos = 0; pos < P2P_PEER_ID_TEXT_LEN; pos++) {
      for (guint a = 0; a < 32; a++) {
        char text[P2P_PEER_ID_TEXT_LEN + 1];
        g_autoptr (GError) err = NULL;
        P2pPeerId out;

        if (alphabet[a] == ids[k][pos])
          continue;
        memcpy (text, ids[k], sizeof text);
        text[pos] = alphabet[a];
        if (p2p_peer_id_parse (text, &out, &err))
          g_error ("substitution at %u by '%c' of %s was accepted", pos, alphabet[a], ids[k]);
        g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
        if (strstr (err->message, "checksum mismatch"))
          checksum++;
        else if (strstr (err->message, "padding bits"))
          padding++;
        else
          g_error ("unexpected message: %s", err->message);
        rejected++;
      }
    }
  }
  g_assert_cmpuint (rejected, ==, 3 * P2P_PEER_ID_TEXT_LEN * 31);
  g_assert_cmpuint (padding, >, 0);
  g_assert_cmpuint (checksum, >, padding);
}

static void
test_round_trip_random (void)
{
  for (guint n = 0; n < 1000; n++) {
    P2pPeerId id, back;
    g_autofree char *s = NULL;

    for (guint i = 0; i < P2P_PEER_ID_KEY_LEN; i++)
      id.key[i] = (guint8) g_test_rand_int_range (0, 256);
    s = p2p_peer_id_to_string (&id);
    g_assert_true (p2p_peer_id_parse (s, &back, NULL));
    g_assert_true (p2p_peer_id_equal (&id, &back));
    g_assert_cmpuint (p2p_peer_id_hash (&id), ==, p2p_peer_id_hash (&back));
  }
}

static void
test_boxed_and_helpers (void)
{
  guint8 key[P2P_PEER_ID_KEY_LEN];
  P2pPeerId id, other;
  g_autoptr (P2pPeerId) copy = NULL;
  P2pPeerId *boxed;
  GValue v = G_VALUE_INIT;

  g_assert_true (G_TYPE_IS_BOXED (P2P_TYPE_PEER_ID));
  g_assert_cmpstr (g_type_name (P2P_TYPE_PEER_ID), ==, "P2pPeerId");

  memset (key, 7, sizeof key);
  p2p_peer_id_from_key (&id, key);
  g_assert_cmpmem (id.key, 32, key, 32);
  other = id;
  other.key[31] ^= 1;
  g_assert_false (p2p_peer_id_equal (&id, &other));

  copy = p2p_peer_id_copy (&id);
  g_assert_true (copy != &id);
  g_assert_true (p2p_peer_id_equal (copy, &id));

  g_value_init (&v, P2P_TYPE_PEER_ID);
  g_value_set_boxed (&v, &id);
  boxed = g_value_get_boxed (&v);
  g_assert_true (boxed != &id);
  g_assert_true (p2p_peer_id_equal (boxed, &id));
  g_value_unset (&v);
}

static void
test_hash_table (void)
{
  g_autoptr (GHashTable) t = g_hash_table_new_full ((GHashFunc) p2p_peer_id_hash,
      (GEqualFunc) p2p_peer_id_equal, (GDestroyNotify) p2p_peer_id_free, NULL);
  P2pPeerId a = { { 1 } }, b = { { 2 } };

  g_hash_table_add (t, p2p_peer_id_copy (&a));
  g_hash_table_add (t, p2p_peer_id_copy (&b));
  g_hash_table_add (t, p2p_peer_id_copy (&a));
  g_assert_cmpuint (g_hash_table_size (t), ==, 2);
  g_assert_true (g_hash_table_contains (t, &b));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/peer-id/checksums", test_checksums);
  g_test_add_func ("/peer-id/base32-rfc4648", test_base32_rfc4648);
  g_test_add_func ("/peer-id/base32-errors", test_base32_errors);
  g_test_add_func ("/peer-id/known-vectors", test_known_vectors);
  g_test_add_func ("/peer-id/upper-case", test_upper_case);
  g_test_add_func ("/peer-id/errors", test_errors);
  g_test_add_func ("/peer-id/every-substitution-rejected", test_every_substitution_rejected);
  g_test_add_func ("/peer-id/round-trip-random", test_round_trip_random);
  g_test_add_func ("/peer-id/boxed-and-helpers", test_boxed_and_helpers);
  g_test_add_func ("/peer-id/hash-table", test_hash_table);
  return g_test_run ();
}
