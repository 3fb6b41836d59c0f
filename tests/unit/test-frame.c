/* test-frame.c: wire frames: varints, every frame type's round trip, the
 * incremental decoder under every split of a multi-frame stream, truncated,
 * over-long and malformed input.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <string.h>

#include <p2p/p2p.h>
#include "p2p-control-frame.h"

/* ---- helpers ---- */

static GByteArray *
unhex (const char *hex)
{
  GByteArray *out = g_byte_array_new ();

  while (*hex) {
    guint8 b;

    if (*hex == ' ') {
      hex++;
      continue;
    }
    g_assert_true (g_ascii_isxdigit (hex[0]) && g_ascii_isxdigit (hex[1]));
    b = (guint8) (g_ascii_xdigit_value (hex[0]) << 4 | g_ascii_xdigit_value (hex[1]));
    g_byte_array_append (out, &b, 1);
    hex += 2;
  }
  return out;
}

static void
assert_bytes (const guint8 *data, gsize len, const char *hex)
{
  g_autoptr (GByteArray) want = unhex (hex);

  g_assert_cmpmem (data, len, want->data, want->len);
}

/* Splits @frame into header and body, asserting it holds exactly one frame. */
static GBytes *
single_frame_body (GByteArray *frame, guint64 expect_type)
{
  g_autoptr (P2pFrameDecoder) dec = p2p_frame_decoder_new (0);
  g_autoptr (GError) error = NULL;
  guint64 type = 0;
  GBytes *body = NULL;

  p2p_frame_decoder_push (dec, frame->data, frame->len);
  g_assert_true (p2p_frame_decoder_next (dec, &type, &body, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (type, ==, expect_type);
  g_assert_cmpuint (p2p_frame_decoder_pending (dec), ==, 0);
  return body;
}

/* ---- varints ---- */

static void
test_varint_encoding (void)
{
  static const struct {
    guint64 v;
    const char *hex;
  } cases[] = {
    /* RFC 9000 §A.1 examples and the boundaries of each length */
    { 0, "00" },
    { 37, "25" },
    { 63, "3f" },
    { 64, "4040" },
    { 15293, "7bbd" },
    { 16383, "7fff" },
    { 16384, "80004000" },
    { 494878333, "9d7f3e7d" },
    { 1073741823, "bfffffff" },
    { 1073741824, "c000000040000000" },
    { G_GUINT64_CONSTANT (151288809941952652), "c2197c5eff14e88c" },
    { (G_GUINT64_CONSTANT (1) << 62) - 1, "ffffffffffffffff" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GByteArray) out = g_byte_array_new ();
    guint64 v = 0;

    p2p_varint_append (out, cases[i].v);
    assert_bytes (out->data, out->len, cases[i].hex);
    g_assert_cmpuint (p2p_varint_read (out->data, out->len, &v), ==, out->len);
    g_assert_cmpuint (v, ==, cases[i].v);
    /* every shorter prefix is incomplete */
    for (gsize k = 0; k < out->len; k++)
      g_assert_cmpuint (p2p_varint_read (out->data, k, &v), ==, 0);
  }
}

static void
test_varint_non_minimal (void)
{
  /* RFC 9000: "4025" is a valid 2-byte encoding of 37; readers accept it. */
  static const guint8 two[] = { 0x40, 0x25 };
  static const guint8 eight[] = { 0xc0, 0, 0, 0, 0, 0, 0, 0x25 };
  guint64 v = 0;

  g_assert_cmpuint (p2p_varint_read (two, sizeof two, &v), ==, 2);
  g_assert_cmpuint (v, ==, 37);
  g_assert_cmpuint (p2p_varint_read (eight, sizeof eight, &v), ==, 8);
  g_assert_cmpuint (v, ==, 37);
  g_assert_cmpuint (p2p_varint_read (NULL, 0, &v), ==, 0);
}

static void
test_varint_too_large (void)
{
  if (g_test_subprocess ()) {
    g_autoptr (GByteArray) out = g_byte_array_new ();

    p2p_varint_append (out, G_GUINT64_CONSTANT (1) << 62);
    g_assert_cmpuint (out->len, ==, 0);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*v <= P2P_VARINT_MAX*");
}

/* ---- round trips ---- */

static void
test_handshake (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  guint64 version = 0, caps = 0;
  gsize len;
  const guint8 *p;

  p2p_frame_append_handshake (out, 1, 0x5);
  assert_bytes (out->data, out->len, "01 02 01 05");
  body = single_frame_body (out, P2P_FRAME_HANDSHAKE);
  p = g_bytes_get_data (body, &len);
  g_assert_true (p2p_frame_parse_handshake (p, len, &version, &caps, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (version, ==, 1);
  g_assert_cmpuint (caps, ==, 5);

  /* a higher version and large capabilities still parse */
  g_byte_array_set_size (out, 0);
  p2p_frame_append_handshake (out, 1000, G_GUINT64_CONSTANT (1) << 40);
  g_clear_pointer (&body, g_bytes_unref);
  body = single_frame_body (out, P2P_FRAME_HANDSHAKE);
  p = g_bytes_get_data (body, &len);
  g_assert_true (p2p_frame_parse_handshake (p, len, &version, &caps, &error));
  g_assert_cmpuint (version, ==, 1000);
  g_assert_cmpuint (caps, ==, G_GUINT64_CONSTANT (1) << 40);
}

/* A peer of versions 1 to 2 appends min_version; one version alone keeps
 * the version 1 layout (docs/protocol.md §3.1 examples). */
static void
test_handshake_range (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GError) error = NULL;
  guint64 min = 0, max = 0, caps = 0;

  p2p_frame_append_handshake_range (out, 1, 2, P2P_CAPABILITY_FILES);
  assert_bytes (out->data, out->len, "01 03 02 01 01");
  g_assert_true (p2p_frame_parse_handshake_range (out->data + 2, out->len - 2, &min, &max,
          &caps, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (min, ==, 1);
  g_assert_cmpuint (max, ==, 2);
  g_assert_cmpuint (caps, ==, P2P_CAPABILITY_FILES);
  /* the version-only parser reads the highest version */
  g_assert_true (p2p_frame_parse_handshake (out->data + 2, out->len - 2, &max, &caps, &error));
  g_assert_cmpuint (max, ==, 2);

  g_byte_array_set_size (out, 0);
  p2p_frame_append_handshake_range (out, 3, 3, 0);
  assert_bytes (out->data, out->len, "01 02 03 00");
  g_assert_true (p2p_frame_parse_handshake_range (out->data + 2, out->len - 2, &min, &max,
          NULL, &error));
  g_assert_cmpuint (min, ==, 3);
  g_assert_cmpuint (max, ==, 3);
}

static void
test_handshake_malformed (void)
{
  static const struct {
    const char *hex;
    const char *msg;
  } cases[] = {
    { "", "*'version' incomplete*" },
    { "01", "*'capabilities' incomplete*" },
    { "0140", "*'capabilities' incomplete*" },
    { "01000100", "*1 unexpected trailing bytes*" },
    { "0000", "*version 0 is not valid*" },
    { "010000", "*version 0 is not valid*" },
    { "020003", "HANDSHAKE frame: min_version 3 is above version 2" },
    { "0200c0", "*'min_version' incomplete*" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GByteArray) b = unhex (cases[i].hex);
    g_autoptr (GError) error = NULL;
    guint64 v = 99, c = 99;

    g_assert_false (p2p_frame_parse_handshake (b->data, b->len, &v, &c, &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_true (g_pattern_match_simple (cases[i].msg, error->message));
    g_assert_cmpuint (v, ==, 99);
  }
}

static void
test_keepalive_and_empty (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) body = NULL;

  p2p_frame_append (out, P2P_FRAME_KEEPALIVE, NULL, 0);
  p2p_frame_append (out, P2P_FRAME_EOS, NULL, 0);
  p2p_frame_append (out, P2P_FRAME_FLUSH_START, NULL, 0);
  assert_bytes (out->data, out->len, "0200 2500 2600");
  g_byte_array_set_size (out, 2);
  body = single_frame_body (out, P2P_FRAME_KEEPALIVE);
  g_assert_cmpuint (g_bytes_get_size (body), ==, 0);
}

static void
test_disconnect (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *long_reason = NULL;
  guint64 code = 0;
  gsize len;
  const guint8 *p;

  p2p_frame_append_disconnect (out, P2P_DISCONNECT_VERSION_MISMATCH, "bye é");
  assert_bytes (out->data, out->len, "03 07 01 627965 20 c3a9");
  body = single_frame_body (out, P2P_FRAME_DISCONNECT);
  p = g_bytes_get_data (body, &len);
  g_assert_true (p2p_frame_parse_disconnect (p, len, &code, &reason, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (code, ==, P2P_DISCONNECT_VERSION_MISMATCH);
  g_assert_cmpstr (reason, ==, "bye é");

  /* NULL reason: empty */
  g_byte_array_set_size (out, 0);
  p2p_frame_append_disconnect (out, 0, NULL);
  assert_bytes (out->data, out->len, "03 01 00");

  /* an over-long reason is cut at a character boundary to 1024 bytes;
   * "é" is 2 bytes so 1023 'a' + "é" would be 1025: cut before it */
  {
    GString *s = g_string_new (NULL);

    for (int i = 0; i < 1023; i++)
      g_string_append_c (s, 'a');
    g_string_append (s, "é");
    long_reason = g_string_free (s, FALSE);
  }
  g_byte_array_set_size (out, 0);
  p2p_frame_append_disconnect (out, 4, long_reason);
  g_clear_pointer (&body, g_bytes_unref);
  body = single_frame_body (out, P2P_FRAME_DISCONNECT);
  p = g_bytes_get_data (body, &len);
  g_clear_pointer (&reason, g_free);
  g_assert_true (p2p_frame_parse_disconnect (p, len, &code, &reason, &error));
  g_assert_cmpuint (strlen (reason), ==, 1023);

  /* invalid UTF-8 given to the encoder is repaired, never sent */
  g_byte_array_set_size (out, 0);
  p2p_frame_append_disconnect (out, 2, "a\xff");
  g_clear_pointer (&body, g_bytes_unref);
  body = single_frame_body (out, P2P_FRAME_DISCONNECT);
  p = g_bytes_get_data (body, &len);
  g_clear_pointer (&reason, g_free);
  g_assert_true (p2p_frame_parse_disconnect (p, len, &code, &reason, &error));
  g_assert_cmpstr (reason, ==, "a\xef\xbf\xbd");
}

static void
test_disconnect_malformed (void)
{
  g_autoptr (GByteArray) big = g_byte_array_new ();
  static const struct {
    const char *hex;
    const char *msg;
  } cases[] = {
    { "", "*'code' incomplete*" },
    { "40", "*'code' incomplete*" },
    { "00 61ff", "*not valid UTF-8 (at byte 1)*" },
    { "00 6100", "*NUL byte*" },
    { "00 c3", "*not valid UTF-8*" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GByteArray) b = unhex (cases[i].hex);
    g_autoptr (GError) error = NULL;
    char *reason = NULL;

    g_assert_false (p2p_frame_parse_disconnect (b->data, b->len, NULL, &reason, &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_true (g_pattern_match_simple (cases[i].msg, error->message));
    g_assert_null (reason);
  }

  /* 1024 bytes of reason is fine, 1025 is not */
  p2p_varint_append (big, 0);
  g_byte_array_set_size (big, 1 + 1024);
  memset (big->data + 1, 'x', 1024);
  {
    g_autoptr (GError) error = NULL;
    g_autofree char *reason = NULL;

    g_assert_true (p2p_frame_parse_disconnect (big->data, big->len, NULL, &reason, &error));
    g_assert_cmpuint (strlen (reason), ==, 1024);
  }
  g_byte_array_append (big, (const guint8 *) "x", 1);
  {
    g_autoptr (GError) error = NULL;

    g_assert_false (p2p_frame_parse_disconnect (big->data, big->len, NULL, NULL, &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_true (strstr (error->message, "1025 bytes, the maximum is 1024") != NULL);
  }
}

static void
test_message (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) body = NULL;
  static const guint8 payload[] = { 0xde, 0xad, 0xbe, 0xef };

  p2p_frame_append (out, P2P_FRAME_MESSAGE, payload, sizeof payload);
  assert_bytes (out->data, out->len, "10 04 deadbeef");
  body = single_frame_body (out, P2P_FRAME_MESSAGE);
  g_assert_cmpmem (g_bytes_get_data (body, NULL), g_bytes_get_size (body), payload,
      sizeof payload);
}

static void
test_strings (void)
{
  static const guint64 types[] = { P2P_FRAME_STREAM_START, P2P_FRAME_CAPS, P2P_FRAME_TAG };
  const char *text = "audio/x-flac, rate=(int)44100, name=\"ü\"";
  guint i;

  for (i = 0; i < G_N_ELEMENTS (types); i++) {
    g_autoptr (GByteArray) out = g_byte_array_new ();
    g_autoptr (GBytes) body = NULL;
    g_autoptr (GError) error = NULL;
    g_autofree char *s = NULL;
    gsize len;
    const guint8 *p;

    p2p_frame_append_string (out, types[i], text);
    g_assert_cmpuint (out->data[0], ==, types[i]);
    g_assert_cmpuint (out->data[1], ==, strlen (text));
    body = single_frame_body (out, types[i]);
    p = g_bytes_get_data (body, &len);
    s = p2p_frame_parse_string (p, len, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (s, ==, text);
  }
}

static void
test_string_malformed (void)
{
  static const char *bad[] = { "61 00 62", "ff", "c3", "ed a0 80" /* surrogate */ };
  g_autoptr (GError) error = NULL;
  g_autofree char *empty = NULL;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GByteArray) b = unhex (bad[i]);
    g_autoptr (GError) err = NULL;

    g_assert_null (p2p_frame_parse_string (b->data, b->len, &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_PROTOCOL);
  }
  empty = p2p_frame_parse_string (NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (empty, ==, "");
}

static const guint8 test_payload[] = { 'm', 'e', 'd', 'i', 'a' };

static void
fill_buffer (P2pMediaBuffer *b)
{
  *b = (P2pMediaBuffer) {
    .pts = 1000000000,
    .dts = P2P_TIME_NONE,
    .duration = 20000000,
    .offset = 7,
    .offset_end = G_MAXUINT64,
    .flags = P2P_MEDIA_FLAG_DELTA_UNIT | P2P_MEDIA_FLAG_MARKER,
    .seqnum = 0,
    .payload = test_payload,
    .payload_len = sizeof test_payload,
  };
}

static void
test_buffer (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  P2pMediaBuffer in, got;
  gsize len;
  const guint8 *p;

  fill_buffer (&in);
  p2p_frame_append_buffer (out, &in);
  assert_bytes (out->data, out->len,
      "24 2e"
      "000000003b9aca00 ffffffffffffffff 0000000001312d00 0000000000000007 ffffffffffffffff"
      "21 6d65646961");
  body = single_frame_body (out, P2P_FRAME_BUFFER);
  p = g_bytes_get_data (body, &len);
  g_assert_true (p2p_frame_parse_buffer (p, len, &got, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (got.pts, ==, in.pts);
  g_assert_cmpuint (got.dts, ==, P2P_TIME_NONE);
  g_assert_cmpuint (got.duration, ==, in.duration);
  g_assert_cmpuint (got.offset, ==, 7);
  g_assert_cmpuint (got.offset_end, ==, G_MAXUINT64);
  g_assert_cmpuint (got.flags, ==, in.flags);
  g_assert_cmpuint (got.seqnum, ==, 0);
  g_assert_true (got.payload == p + 41);
  g_assert_cmpmem (got.payload, got.payload_len, test_payload, sizeof test_payload);

  /* empty payload */
  in.payload = NULL;
  in.payload_len = 0;
  g_byte_array_set_size (out, 0);
  p2p_frame_append_buffer (out, &in);
  g_clear_pointer (&body, g_bytes_unref);
  body = single_frame_body (out, P2P_FRAME_BUFFER);
  p = g_bytes_get_data (body, &len);
  g_assert_true (p2p_frame_parse_buffer (p, len, &got, &error));
  g_assert_cmpuint (got.payload_len, ==, 0);
}

static void
test_datagram_body (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GError) error = NULL;
  P2pMediaBuffer in, got;

  fill_buffer (&in);
  in.seqnum = 300;
  p2p_media_buffer_encode_body (out, &in);
  assert_bytes (out->data, out->len,
      "412c"
      "000000003b9aca00 ffffffffffffffff 0000000001312d00 0000000000000007 ffffffffffffffff"
      "21 6d65646961");
  g_assert_true (p2p_media_buffer_decode_body (out->data, out->len, &got, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (got.seqnum, ==, 300);
  g_assert_cmpuint (got.pts, ==, in.pts);
  g_assert_cmpmem (got.payload, got.payload_len, test_payload, sizeof test_payload);

  /* truncated anywhere in the fixed part is an error, the struct untouched */
  for (gsize k = 0; k < 2 + 40 + 1; k++) {
    g_autoptr (GError) err = NULL;
    P2pMediaBuffer untouched = { .seqnum = 77 };

    g_assert_false (p2p_media_buffer_decode_body (out->data, k, &untouched, &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_true (strstr (err->message, "truncated") != NULL);
    g_assert_cmpuint (untouched.seqnum, ==, 77);
  }
}

static void
test_buffer_malformed (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  P2pMediaBuffer in, got;

  fill_buffer (&in);
  p2p_frame_append_buffer (out, &in);
  /* body starts at 2; every truncation of the 41 fixed bytes fails */
  for (gsize k = 0; k < 41; k++) {
    g_autoptr (GError) err = NULL;

    g_assert_false (p2p_frame_parse_buffer (out->data + 2, k, &got, &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_PROTOCOL);
  }
  /* flags beyond 32 bits */
  {
    g_autoptr (GByteArray) b = g_byte_array_new ();
    g_autoptr (GError) err = NULL;

    g_byte_array_set_size (b, 40);
    memset (b->data, 0, 40);
    p2p_varint_append (b, G_GUINT64_CONSTANT (1) << 32);
    g_assert_false (p2p_frame_parse_buffer (b->data, b->len, &got, &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_true (strstr (err->message, "'flags'") != NULL);
  }
}

static void
fill_segment (P2pMediaSegment *s)
{
  *s = (P2pMediaSegment) {
    .flags = 1,
    .rate = 1.0,
    .applied_rate = -0.5,
    .format = 3,
    .base = 1,
    .offset = 2,
    .start = 3,
    .stop = G_MAXUINT64,
    .time = 5,
    .position = 6,
    .duration = 7,
  };
}

static void
test_segment (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  P2pMediaSegment in, got;
  gsize len;
  const guint8 *p;

  fill_segment (&in);
  p2p_frame_append_segment (out, &in);
  assert_bytes (out->data, out->len,
      "22 404a 01 3ff0000000000000 bfe0000000000000 03"
      "0000000000000001 0000000000000002 0000000000000003 ffffffffffffffff"
      "0000000000000005 0000000000000006 0000000000000007");
  body = single_frame_body (out, P2P_FRAME_SEGMENT);
  p = g_bytes_get_data (body, &len);
  g_assert_true (p2p_frame_parse_segment (p, len, &got, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (got.flags, ==, in.flags);
  g_assert_cmpfloat (got.rate, ==, in.rate);
  g_assert_cmpfloat (got.applied_rate, ==, in.applied_rate);
  g_assert_cmpuint (got.format, ==, in.format);
  g_assert_cmpuint (got.base, ==, in.base);
  g_assert_cmpuint (got.offset, ==, in.offset);
  g_assert_cmpuint (got.start, ==, in.start);
  g_assert_cmpuint (got.stop, ==, in.stop);
  g_assert_cmpuint (got.time, ==, in.time);
  g_assert_cmpuint (got.position, ==, in.position);
  g_assert_cmpuint (got.duration, ==, in.duration);
}

static void
test_segment_malformed (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  P2pMediaSegment in, got;
  static const double bad_rates[] = { 0.0, -0.0, INFINITY, -INFINITY, NAN };
  guint i;

  fill_segment (&in);
  p2p_frame_append_segment (out, &in);
  for (gsize k = 0; k < out->len - 3; k++) {
    g_autoptr (GError) err = NULL;

    g_assert_false (p2p_frame_parse_segment (out->data + 3, k, &got, &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_PROTOCOL);
  }
  {
    g_autoptr (GError) err = NULL;

    g_byte_array_append (out, (const guint8 *) "", 1);
    g_assert_false (p2p_frame_parse_segment (out->data + 3, out->len - 3, &got, &err));
    g_assert_true (strstr (err->message, "trailing") != NULL);
  }
  for (i = 0; i < G_N_ELEMENTS (bad_rates) * 2; i++) {
    g_autoptr (GByteArray) o = g_byte_array_new ();
    g_autoptr (GError) err = NULL;

    fill_segment (&in);
    if (i % 2)
      in.applied_rate = bad_rates[i / 2];
    else
      in.rate = bad_rates[i / 2];
    p2p_frame_append_segment (o, &in);
    g_assert_false (p2p_frame_parse_segment (o->data + 3, o->len - 3, &got, &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_true (strstr (err->message, "finite and non-zero") != NULL);
  }
}

static void
test_gap_and_flush_stop (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  guint64 ts = 0, dur = 0;
  gboolean reset = FALSE;
  gsize len;
  const guint8 *p;

  p2p_frame_append_gap (out, 5000000000, P2P_TIME_NONE);
  assert_bytes (out->data, out->len, "28 10 000000012a05f200 ffffffffffffffff");
  body = single_frame_body (out, P2P_FRAME_GAP);
  p = g_bytes_get_data (body, &len);
  g_assert_true (p2p_frame_parse_gap (p, len, &ts, &dur, &error));
  g_assert_cmpuint (ts, ==, 5000000000);
  g_assert_cmpuint (dur, ==, P2P_TIME_NONE);
  for (gsize k = 0; k < len; k++) {
    g_autoptr (GError) err = NULL;

    g_assert_false (p2p_frame_parse_gap (p, k, &ts, &dur, &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_PROTOCOL);
  }
  {
    g_autoptr (GError) err = NULL;
    guint8 longer[17] = { 0 };

    g_assert_false (p2p_frame_parse_gap (longer, sizeof longer, &ts, &dur, &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_PROTOCOL);
  }

  g_byte_array_set_size (out, 0);
  p2p_frame_append_flush_stop (out, TRUE);
  p2p_frame_append_flush_stop (out, FALSE);
  assert_bytes (out->data, out->len, "27 01 01 27 01 00");
  g_assert_true (p2p_frame_parse_flush_stop (out->data + 2, 1, &reset, &error));
  g_assert_true (reset);
  g_assert_true (p2p_frame_parse_flush_stop (out->data + 5, 1, &reset, &error));
  g_assert_false (reset);
  {
    static const guint8 two[] = { 2 }, pair[] = { 0, 0 };
    g_autoptr (GError) e1 = NULL;
    g_autoptr (GError) e2 = NULL;
    g_autoptr (GError) e3 = NULL;

    g_assert_false (p2p_frame_parse_flush_stop (two, 1, &reset, &e1));
    g_assert_error (e1, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_false (p2p_frame_parse_flush_stop (pair, 2, &reset, &e2));
    g_assert_error (e2, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_false (p2p_frame_parse_flush_stop (NULL, 0, &reset, &e3));
    g_assert_error (e3, P2P_ERROR, P2P_ERROR_PROTOCOL);
  }
}

/* ---- the incremental decoder ---- */

typedef struct {
  guint64 type;
  GBytes *body;
} Frame;

static void frame_free (gpointer p);

static void
expect_last (GPtrArray *expect, GByteArray *out, gsize start, guint64 type)
{
  g_autoptr (GByteArray) one = g_byte_array_new ();
  Frame *f = g_new0 (Frame, 1);

  g_byte_array_append (one, out->data + start, (guint) (out->len - start));
  f->type = type;
  f->body = single_frame_body (one, type);
  g_ptr_array_add (expect, f);
}

/* A stream of several frames of all kinds, with lengths that need 1, 2 and
 * 4 byte varints, and a non-minimally encoded header. */
static GByteArray *
build_stream (GPtrArray *expect)
{
  GByteArray *out = g_byte_array_new ();
  g_autoptr (GByteArray) big = g_byte_array_new ();
  P2pMediaBuffer buf;
  P2pMediaSegment seg;
  gsize start;

#define EXPECT_LAST(t) expect_last (expect, out, start, (t))
  start = out->len;
  p2p_frame_append_handshake (out, 1, 0);
  EXPECT_LAST (P2P_FRAME_HANDSHAKE);
  start = out->len;
  p2p_frame_append_string (out, P2P_FRAME_CAPS, "audio/x-raw");
  EXPECT_LAST (P2P_FRAME_CAPS);
  start = out->len;
  fill_segment (&seg);
  p2p_frame_append_segment (out, &seg);
  EXPECT_LAST (P2P_FRAME_SEGMENT);
  start = out->len;
  fill_buffer (&buf);
  g_byte_array_set_size (big, 300);
  for (guint i = 0; i < big->len; i++)
    big->data[i] = (guint8) i;
  buf.payload = big->data;
  buf.payload_len = big->len;
  p2p_frame_append_buffer (out, &buf);
  EXPECT_LAST (P2P_FRAME_BUFFER);
  start = out->len;
  p2p_frame_append (out, P2P_FRAME_EOS, NULL, 0);
  EXPECT_LAST (P2P_FRAME_EOS);
  start = out->len;
  p2p_frame_append_gap (out, 1, 2);
  EXPECT_LAST (P2P_FRAME_GAP);
  start = out->len;
  {
    /* type 0x10 as a 2-byte varint, length 3 as a 4-byte varint */
    static const guint8 nm[] = { 0x40, 0x10, 0x80, 0, 0, 3, 'a', 'b', 'c' };

    g_byte_array_append (out, nm, sizeof nm);
  }
  EXPECT_LAST (P2P_FRAME_MESSAGE);
  start = out->len;
  p2p_frame_append_flush_stop (out, TRUE);
  EXPECT_LAST (P2P_FRAME_FLUSH_STOP);
#undef EXPECT_LAST
  return out;
}

static void
frame_free (gpointer p)
{
  Frame *f = p;

  g_bytes_unref (f->body);
  g_free (f);
}

/* Pulls every available frame, comparing with @expect from *@idx on. */
static void
drain (P2pFrameDecoder *dec, GPtrArray *expect, guint *idx)
{
  guint64 type;
  GBytes *body;
  GError *error = NULL;

  while (p2p_frame_decoder_next (dec, &type, &body, &error)) {
    Frame *f;

    g_assert_cmpuint (*idx, <, expect->len);
    f = expect->pdata[*idx];
    g_assert_cmpuint (type, ==, f->type);
    g_assert_true (g_bytes_equal (body, f->body));
    g_bytes_unref (body);
    (*idx)++;
  }
  g_assert_no_error (error);
}

static void
test_decoder_byte_by_byte (void)
{
  g_autoptr (GPtrArray) expect = g_ptr_array_new_with_free_func (frame_free);
  g_autoptr (GByteArray) stream = build_stream (expect);
  g_autoptr (P2pFrameDecoder) dec = p2p_frame_decoder_new (0);
  guint idx = 0;

  for (gsize i = 0; i < stream->len; i++) {
    p2p_frame_decoder_push (dec, stream->data + i, 1);
    drain (dec, expect, &idx);
  }
  g_assert_cmpuint (idx, ==, expect->len);
  g_assert_cmpuint (p2p_frame_decoder_pending (dec), ==, 0);
}

static void
test_decoder_every_split (void)
{
  g_autoptr (GPtrArray) expect = g_ptr_array_new_with_free_func (frame_free);
  g_autoptr (GByteArray) stream = build_stream (expect);

  for (gsize split = 0; split <= stream->len; split++) {
    g_autoptr (P2pFrameDecoder) dec = p2p_frame_decoder_new (0);
    guint idx = 0;

    p2p_frame_decoder_push (dec, stream->data, split);
    drain (dec, expect, &idx);
    p2p_frame_decoder_push (dec, stream->data + split, stream->len - split);
    drain (dec, expect, &idx);
    g_assert_cmpuint (idx, ==, expect->len);
    g_assert_cmpuint (p2p_frame_decoder_pending (dec), ==, 0);
  }
}

static void
test_decoder_truncated (void)
{
  g_autoptr (GPtrArray) expect = g_ptr_array_new_with_free_func (frame_free);
  g_autoptr (GByteArray) stream = build_stream (expect);

  /* every strict prefix of one frame yields nothing, no error */
  for (gsize k = 0; k < 5; k++) {
    g_autoptr (P2pFrameDecoder) dec = p2p_frame_decoder_new (0);
    g_autoptr (GError) error = NULL;
    GBytes *body = NULL;
    guint64 type;

    p2p_frame_decoder_push (dec, stream->data, k);   /* handshake is 4 bytes */
    if (k < 4) {
      g_assert_false (p2p_frame_decoder_next (dec, &type, &body, &error));
      g_assert_no_error (error);
      g_assert_null (body);
      g_assert_cmpuint (p2p_frame_decoder_pending (dec), ==, k);
    } else {
      g_assert_true (p2p_frame_decoder_next (dec, &type, &body, &error));
      g_bytes_unref (body);
    }
  }
}

static void
test_decoder_max_size (void)
{
  const gsize max = 1000;
  g_autoptr (GByteArray) frame = g_byte_array_new ();
  g_autoptr (GByteArray) body = g_byte_array_new ();

  g_byte_array_set_size (body, max);
  memset (body->data, 0xab, max);
  p2p_frame_append (frame, P2P_FRAME_MESSAGE, body->data, body->len);

  /* exactly the maximum is fine */
  {
    g_autoptr (P2pFrameDecoder) dec = p2p_frame_decoder_new (max);
    g_autoptr (GError) error = NULL;
    g_autoptr (GBytes) b = NULL;
    guint64 type;

    p2p_frame_decoder_push (dec, frame->data, frame->len);
    g_assert_true (p2p_frame_decoder_next (dec, &type, &b, &error));
    g_assert_cmpuint (g_bytes_get_size (b), ==, max);
  }
  /* one more is refused as soon as the header is complete */
  {
    g_autoptr (P2pFrameDecoder) dec = p2p_frame_decoder_new (max - 1);
    g_autoptr (GError) error = NULL;
    g_autoptr (GError) again = NULL;
    GBytes *b = NULL;
    guint64 type;

    p2p_frame_decoder_push (dec, frame->data, 3);   /* header only: 10 43e8 */
    g_assert_false (p2p_frame_decoder_next (dec, &type, &b, &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_nonnull (strstr (error->message, "1000 bytes, above the maximum of 999"));
    g_assert_null (b);
    /* stays failed, even with valid input afterwards */
    p2p_frame_decoder_push (dec, (const guint8 *) "\x02\x00", 2);
    g_assert_false (p2p_frame_decoder_next (dec, &type, &b, &again));
    g_assert_error (again, P2P_ERROR, P2P_ERROR_PROTOCOL);
    g_assert_cmpuint (p2p_frame_decoder_pending (dec), ==, 0);
  }
  /* the default maximum is P2P_MAX_FRAME_SIZE; a huge length (2^62-1) is
   * refused without allocating it */
  {
    g_autoptr (P2pFrameDecoder) dec = p2p_frame_decoder_new (0);
    g_autoptr (GError) error = NULL;
    g_autoptr (GByteArray) hdr = g_byte_array_new ();
    GBytes *b = NULL;

    p2p_varint_append (hdr, P2P_FRAME_BUFFER);
    p2p_varint_append (hdr, P2P_MAX_FRAME_SIZE + 1);
    p2p_frame_decoder_push (dec, hdr->data, hdr->len);
    g_assert_false (p2p_frame_decoder_next (dec, NULL, &b, &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL);

    g_clear_error (&error);
    g_clear_pointer (&dec, p2p_frame_decoder_free);
    dec = p2p_frame_decoder_new (0);
    p2p_frame_decoder_push (dec, (const guint8 *) "\x10\xff\xff\xff\xff\xff\xff\xff\xff", 9);
    g_assert_false (p2p_frame_decoder_next (dec, NULL, &b, &error));
    g_assert_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL);
  }
}

static void
test_decoder_large_frames (void)
{
  /* frames of the default maximum size, fed in odd chunks: exercises
   * compaction; every frame's content is checked */
  g_autoptr (P2pFrameDecoder) dec = p2p_frame_decoder_new (0);
  g_autoptr (GByteArray) stream = g_byte_array_new ();
  g_autoptr (GByteArray) body = g_byte_array_new ();
  guint got = 0;
  gsize pos = 0;

  g_byte_array_set_size (body, P2P_MAX_FRAME_SIZE);
  for (guint f = 0; f < 3; f++) {
    memset (body->data, 'A' + f, body->len);
    p2p_frame_append (stream, P2P_FRAME_MESSAGE, body->data, body->len);
  }
  while (pos < stream->len) {
    gsize n = MIN (stream->len - pos, 65521);
    GBytes *b;
    guint64 type;
    GError *error = NULL;

    p2p_frame_decoder_push (dec, stream->data + pos, n);
    pos += n;
    while (p2p_frame_decoder_next (dec, &type, &b, &error)) {
      gsize len;
      const guint8 *p = g_bytes_get_data (b, &len);

      g_assert_cmpuint (len, ==, P2P_MAX_FRAME_SIZE);
      g_assert_cmpuint (p[0], ==, 'A' + got);
      g_assert_cmpuint (p[len - 1], ==, 'A' + got);
      g_bytes_unref (b);
      got++;
    }
    g_assert_no_error (error);
  }
  g_assert_cmpuint (got, ==, 3);
  g_assert_cmpuint (p2p_frame_decoder_pending (dec), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/frame/varint/encoding", test_varint_encoding);
  g_test_add_func ("/frame/varint/non-minimal", test_varint_non_minimal);
  g_test_add_func ("/frame/varint/too-large", test_varint_too_large);
  g_test_add_func ("/frame/handshake", test_handshake);
  g_test_add_func ("/frame/handshake-range", test_handshake_range);
  g_test_add_func ("/frame/handshake/malformed", test_handshake_malformed);
  g_test_add_func ("/frame/keepalive-and-empty", test_keepalive_and_empty);
  g_test_add_func ("/frame/disconnect", test_disconnect);
  g_test_add_func ("/frame/disconnect/malformed", test_disconnect_malformed);
  g_test_add_func ("/frame/message", test_message);
  g_test_add_func ("/frame/strings", test_strings);
  g_test_add_func ("/frame/strings/malformed", test_string_malformed);
  g_test_add_func ("/frame/buffer", test_buffer);
  g_test_add_func ("/frame/buffer/malformed", test_buffer_malformed);
  g_test_add_func ("/frame/datagram-body", test_datagram_body);
  g_test_add_func ("/frame/segment", test_segment);
  g_test_add_func ("/frame/segment/malformed", test_segment_malformed);
  g_test_add_func ("/frame/gap-and-flush-stop", test_gap_and_flush_stop);
  g_test_add_func ("/frame/decoder/byte-by-byte", test_decoder_byte_by_byte);
  g_test_add_func ("/frame/decoder/every-split", test_decoder_every_split);
  g_test_add_func ("/frame/decoder/truncated", test_decoder_truncated);
  g_test_add_func ("/frame/decoder/max-size", test_decoder_max_size);
  g_test_add_func ("/frame/decoder/large-frames", test_decoder_large_frames);
  return g_test_run ();
}
