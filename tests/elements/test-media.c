/* test-media.c: GstBuffer / GstEvent <-> media frame round trips
 * (gst/gstp2pmedia.c), and every decoding error path.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>
#include <pthread.h>
#include <string.h>
#include "gstp2pmedia.h"
#include "p2p-control-frame.h"

/* Encodes @event (transfer full), decodes it, returns the copy. */
static GstMiniObject *
round_trip_event (GstEvent *event_in)
{
  g_autoptr (GstEvent) event = event_in;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) msg = NULL;
  g_autoptr (GError) err = NULL;
  GstMiniObject *obj;

  fail_unless (gst_p2p_media_append_event (out, event));
  msg = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  obj = gst_p2p_media_message_to_object (msg, &err);
  fail_unless (obj != NULL, "decode failed: %s", err ? err->message : "?");
  fail_unless (GST_IS_EVENT (obj));
  fail_unless_equals_int (GST_EVENT_TYPE (obj), GST_EVENT_TYPE (event));
  return obj;
}

GST_START_TEST (test_buffer_round_trip)
{
  static const guint8 payload[] = { 0, 1, 2, 3, 0xff, 0xfe, 7 };
  g_autoptr (GstBuffer) in = gst_buffer_new_memdup (payload, sizeof payload);
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) msg = NULL;
  g_autoptr (GError) err = NULL;
  GstMiniObject *obj;
  GstBuffer *buf;

  GST_BUFFER_PTS (in) = 40 * GST_MSECOND;
  GST_BUFFER_DTS (in) = 20 * GST_MSECOND;
  GST_BUFFER_DURATION (in) = 20 * GST_MSECOND;
  GST_BUFFER_OFFSET (in) = 1234;
  GST_BUFFER_OFFSET_END (in) = 5678;
  GST_BUFFER_FLAG_SET (in, GST_BUFFER_FLAG_DELTA_UNIT | GST_BUFFER_FLAG_HEADER
      | GST_BUFFER_FLAG_DISCONT | GST_BUFFER_FLAG_MARKER);

  gst_p2p_media_append_buffer (out, in);
  msg = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  obj = gst_p2p_media_message_to_object (msg, &err);
  fail_unless (obj != NULL);
  fail_unless (GST_IS_BUFFER (obj));
  buf = GST_BUFFER_CAST (obj);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), 40 * GST_MSECOND);
  fail_unless_equals_uint64 (GST_BUFFER_DTS (buf), 20 * GST_MSECOND);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf), 20 * GST_MSECOND);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), 1234);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), 5678);
  fail_unless (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT));
  fail_unless (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_HEADER));
  fail_unless (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT));
  fail_unless (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_MARKER));
  fail_if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_GAP));
  fail_if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DROPPABLE));
  fail_unless_equals_int (gst_buffer_get_size (buf), sizeof payload);
  fail_unless (gst_buffer_memcmp (buf, 0, payload, sizeof payload) == 0);
  gst_buffer_unref (buf);
}
GST_END_TEST;

GST_START_TEST (test_buffer_unset_fields)
{
  g_autoptr (GstBuffer) in = gst_buffer_new ();
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) msg = NULL;
  GstBuffer *buf;

  GST_BUFFER_FLAG_SET (in, GST_BUFFER_FLAG_GAP | GST_BUFFER_FLAG_DROPPABLE);
  gst_p2p_media_append_buffer (out, in);
  msg = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  buf = GST_BUFFER_CAST (gst_p2p_media_message_to_object (msg, NULL));
  fail_unless (buf != NULL);
  fail_if (GST_BUFFER_PTS_IS_VALID (buf));
  fail_if (GST_BUFFER_DTS_IS_VALID (buf));
  fail_if (GST_BUFFER_DURATION_IS_VALID (buf));
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), GST_BUFFER_OFFSET_NONE);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), GST_BUFFER_OFFSET_NONE);
  fail_unless (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_GAP));
  fail_unless (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DROPPABLE));
  fail_unless_equals_int (gst_buffer_get_size (buf), 0);
  gst_buffer_unref (buf);
}
GST_END_TEST;

GST_START_TEST (test_datagram_round_trip)
{
  static const guint8 payload[] = "opus frame";
  g_autoptr (GstBuffer) in = gst_buffer_new_memdup (payload, sizeof payload);
  g_autoptr (GBytes) dgram = NULL;
  g_autoptr (GstBuffer) buf = NULL;
  g_autoptr (GError) err = NULL;
  guint64 seqnum = 0;
  gsize len;
  const guint8 *p;

  GST_BUFFER_PTS (in) = 3 * GST_SECOND;
  GST_BUFFER_DURATION (in) = 20 * GST_MSECOND;
  dgram = gst_p2p_media_buffer_to_datagram (in, 987654321);
  p = g_bytes_get_data (dgram, &len);
  buf = gst_p2p_media_buffer_from_datagram (p, len, &seqnum, &err);
  fail_unless (buf != NULL);
  fail_unless_equals_uint64 (seqnum, 987654321);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), 3 * GST_SECOND);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf), 20 * GST_MSECOND);
  fail_unless (gst_buffer_memcmp (buf, 0, payload, sizeof payload) == 0);

  /* truncated datagram */
  fail_unless (gst_p2p_media_buffer_from_datagram (p, 1, &seqnum, &err) == NULL);
  fail_unless (g_error_matches (err, P2P_ERROR, P2P_ERROR_PROTOCOL));
}
GST_END_TEST;

GST_START_TEST (test_stream_start_caps_tags)
{
  g_autoptr (GstCaps) caps = NULL;
  GstMiniObject *obj;
  const char *id = NULL;
  GstCaps *out_caps = NULL;
  GstTagList *tags, *out_tags = NULL;
  GstBuffer *hdr1 = gst_buffer_new_memdup ("fLaC", 4);
  GstBuffer *hdr2 = gst_buffer_new_memdup ("\x84\0\0\x22", 4);
  GValue array = G_VALUE_INIT, v = G_VALUE_INIT;
  char *title = NULL;
  guint bitrate = 0;

  obj = round_trip_event (gst_event_new_stream_start ("stream/éé/1"));
  gst_event_parse_stream_start (GST_EVENT (obj), &id);
  fail_unless_equals_string (id, "stream/éé/1");
  gst_mini_object_unref (obj);

  caps = gst_caps_new_simple ("audio/x-flac", "rate", G_TYPE_INT, 44100,
      "channels", G_TYPE_INT, 2, "framed", G_TYPE_BOOLEAN, TRUE, NULL);
  g_value_init (&array, GST_TYPE_ARRAY);
  g_value_init (&v, GST_TYPE_BUFFER);
  GST_BUFFER_FLAG_SET (hdr1, GST_BUFFER_FLAG_HEADER);
  gst_value_set_buffer (&v, hdr1);
  gst_value_array_append_value (&array, &v);
  g_value_unset (&v);
  g_value_init (&v, GST_TYPE_BUFFER);
  gst_value_set_buffer (&v, hdr2);
  gst_value_array_append_value (&array, &v);
  g_value_unset (&v);
  gst_caps_set_value (caps, "streamheader", &array);
  g_value_unset (&array);
  gst_buffer_unref (hdr1);
  gst_buffer_unref (hdr2);

  obj = round_trip_event (gst_event_new_caps (caps));
  gst_event_parse_caps (GST_EVENT (obj), &out_caps);
  fail_unless (gst_caps_is_equal (caps, out_caps));
  gst_mini_object_unref (obj);

  tags = gst_tag_list_new (GST_TAG_TITLE, "A \"quoted\" title, with commas",
      GST_TAG_BITRATE, 128000, NULL);
  obj = round_trip_event (gst_event_new_tag (tags));
  gst_event_parse_tag (GST_EVENT (obj), &out_tags);
  fail_unless (gst_tag_list_get_string (out_tags, GST_TAG_TITLE, &title));
  fail_unless_equals_string (title, "A \"quoted\" title, with commas");
  fail_unless (gst_tag_list_get_uint (out_tags, GST_TAG_BITRATE, &bitrate));
  fail_unless_equals_int (bitrate, 128000);
  g_free (title);
  gst_mini_object_unref (obj);
}
GST_END_TEST;

GST_START_TEST (test_segment_round_trip)
{
  GstSegment in;
  const GstSegment *out = NULL;
  GstMiniObject *obj;

  gst_segment_init (&in, GST_FORMAT_TIME);
  in.flags = GST_SEGMENT_FLAG_RESET | GST_SEGMENT_FLAG_SKIP;
  in.rate = 2.0;
  in.applied_rate = 0.5;
  in.base = 11 * GST_SECOND;
  in.offset = 3;
  in.start = 5 * GST_SECOND;
  in.stop = 50 * GST_SECOND;
  in.time = 7 * GST_SECOND;
  in.position = 6 * GST_SECOND;
  in.duration = 99 * GST_SECOND;

  obj = round_trip_event (gst_event_new_segment (&in));
  gst_event_parse_segment (GST_EVENT (obj), &out);
  fail_unless (gst_segment_is_equal (&in, out));
  fail_unless_equals_int (out->flags, in.flags);
  fail_unless_equals_uint64 (out->position, in.position);
  fail_unless_equals_uint64 (out->duration, in.duration);
  gst_mini_object_unref (obj);

  gst_segment_init (&in, GST_FORMAT_BYTES);
  obj = round_trip_event (gst_event_new_segment (&in));
  gst_event_parse_segment (GST_EVENT (obj), &out);
  fail_unless (gst_segment_is_equal (&in, out));
  gst_mini_object_unref (obj);
}
GST_END_TEST;

GST_START_TEST (test_simple_events)
{
  GstMiniObject *obj;
  gboolean reset = FALSE;
  GstClockTime ts, dur;

  gst_mini_object_unref (round_trip_event (gst_event_new_eos ()));
  gst_mini_object_unref (round_trip_event (gst_event_new_flush_start ()));
  obj = round_trip_event (gst_event_new_flush_stop (TRUE));
  gst_event_parse_flush_stop (GST_EVENT (obj), &reset);
  fail_unless (reset);
  gst_mini_object_unref (obj);
  obj = round_trip_event (gst_event_new_flush_stop (FALSE));
  gst_event_parse_flush_stop (GST_EVENT (obj), &reset);
  fail_if (reset);
  gst_mini_object_unref (obj);
  obj = round_trip_event (gst_event_new_gap (5 * GST_SECOND, GST_SECOND));
  gst_event_parse_gap (GST_EVENT (obj), &ts, &dur);
  fail_unless_equals_uint64 (ts, 5 * GST_SECOND);
  fail_unless_equals_uint64 (dur, GST_SECOND);
  gst_mini_object_unref (obj);
}
GST_END_TEST;

GST_START_TEST (test_events_not_carried)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  GstEvent *ev;

  ev = gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
      gst_structure_new_empty ("x-custom"));
  fail_if (gst_p2p_media_append_event (out, ev));
  gst_event_unref (ev);
  ev = gst_event_new_latency (GST_SECOND);
  fail_if (gst_p2p_media_append_event (out, ev));
  gst_event_unref (ev);
  fail_unless_equals_int (out->len, 0);
}
GST_END_TEST;

/* Decodes a whole frame built by hand; expects a PROTOCOL error whose message
 * contains @needle. */
static void
expect_frame_error (guint64 type, const void *body, gsize len, const char *needle)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) msg = NULL;
  g_autoptr (GError) err = NULL;

  p2p_frame_append (out, type, body, len);
  msg = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  fail_unless (gst_p2p_media_message_to_object (msg, &err) == NULL);
  fail_unless (g_error_matches (err, P2P_ERROR, P2P_ERROR_PROTOCOL),
      "unexpected error %s", err ? err->message : "(none)");
  fail_unless (strstr (err->message, needle) != NULL,
      "\"%s\" not in \"%s\"", needle, err->message);
}

static void
expect_segment_error (const P2pMediaSegment *seg, const char *needle)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GBytes) msg = NULL;
  g_autoptr (GError) err = NULL;

  p2p_frame_append_segment (out, seg);
  msg = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  fail_unless (gst_p2p_media_message_to_object (msg, &err) == NULL);
  fail_unless (g_error_matches (err, P2P_ERROR, P2P_ERROR_PROTOCOL));
  fail_unless (strstr (err->message, needle) != NULL,
      "\"%s\" not in \"%s\"", needle, err->message);
}

/* Issue 16 item 15: DATAGRAM_SEQNUM (0x29) carries one varint, byte-exact
 * as docs/protocol.md §5.2 shows it (seqnum 300: 29 02 41 2c), and becomes
 * an event only the receiver reads; a body that is not one varint is a
 * protocol error. */
GST_START_TEST (test_datagram_seqnum_frame)
{
  static const guint8 wire[] = { 0x29, 0x02, 0x41, 0x2c };
  static const guint8 trailing[] = { 0x41, 0x2c, 0x00 };
  static const guint8 short_varint[] = { 0x41 };
  g_autoptr (GBytes) msg = gst_p2p_media_datagram_seqnum_message (300);
  g_autoptr (GError) err = NULL;
  GstMiniObject *obj;
  guint64 seqnum = 0;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (msg, &len);

  fail_unless_equals_int (len, sizeof wire);
  fail_unless (memcmp (data, wire, sizeof wire) == 0);
  obj = gst_p2p_media_message_to_object (msg, &err);
  fail_unless (obj != NULL && GST_IS_EVENT (obj), "%s", err ? err->message : "");
  fail_unless (gst_p2p_media_event_get_datagram_seqnum (GST_EVENT_CAST (obj), &seqnum));
  fail_unless_equals_uint64 (seqnum, 300);
  gst_mini_object_unref (obj);
  /* other events are not one */
  obj = GST_MINI_OBJECT_CAST (gst_event_new_eos ());
  fail_if (gst_p2p_media_event_get_datagram_seqnum (GST_EVENT_CAST (obj), NULL));
  gst_mini_object_unref (obj);

  expect_frame_error (P2P_FRAME_DATAGRAM_SEQNUM, NULL, 0, "DATAGRAM_SEQNUM");
  expect_frame_error (P2P_FRAME_DATAGRAM_SEQNUM, trailing, sizeof trailing,
      "not one varint");
  expect_frame_error (P2P_FRAME_DATAGRAM_SEQNUM, short_varint, sizeof short_varint,
      "not one varint");
}
GST_END_TEST;

/* Issue 17: STREAM_POSITION (0x2a) carries three varints (token, index,
 * flags), byte-exact as docs/protocol.md §5.3 shows it (token 0x1234,
 * index 300, flags 0: 2a 05 52 34 41 2c 00), and becomes an event only
 * p2psrc reads; a body that is not three varints is a protocol error. */
GST_START_TEST (test_stream_position_frame)
{
  static const guint8 wire[] = { 0x2a, 0x05, 0x52, 0x34, 0x41, 0x2c, 0x00 };
  static const guint8 two[] = { 0x52, 0x34, 0x41, 0x2c };
  static const guint8 four[] = { 0x01, 0x02, 0x03, 0x04 };
  static const guint8 cut[] = { 0x52, 0x34, 0x41 };
  g_autoptr (GBytes) msg = gst_p2p_media_stream_position_message (0x1234, 300, 0);
  g_autoptr (GBytes) resumed = gst_p2p_media_stream_position_message (G_GUINT64_CONSTANT (1) << 61,
      7, GST_P2P_POSITION_RESUMED);
  g_autoptr (GError) err = NULL;
  GstMiniObject *obj;
  guint64 token = 0, index = 0;
  guint flags = 9;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (msg, &len);

  fail_unless_equals_int (len, sizeof wire);
  fail_unless (memcmp (data, wire, sizeof wire) == 0);
  obj = gst_p2p_media_message_to_object (msg, &err);
  fail_unless (obj != NULL && GST_IS_EVENT (obj), "%s", err ? err->message : "");
  fail_unless (gst_p2p_media_event_get_stream_position (GST_EVENT_CAST (obj), &token, &index,
          &flags));
  fail_unless_equals_uint64 (token, 0x1234);
  fail_unless_equals_uint64 (index, 300);
  fail_unless_equals_int (flags, 0);
  /* a DATAGRAM_SEQNUM event is not one, nor the other way round */
  fail_if (gst_p2p_media_event_get_datagram_seqnum (GST_EVENT_CAST (obj), NULL));
  gst_mini_object_unref (obj);
  obj = gst_p2p_media_message_to_object (resumed, &err);
  fail_unless (obj != NULL);
  fail_unless (gst_p2p_media_event_get_stream_position (GST_EVENT_CAST (obj), &token, &index,
          &flags));
  fail_unless_equals_uint64 (token, G_GUINT64_CONSTANT (1) << 61);
  fail_unless_equals_uint64 (index, 7);
  fail_unless_equals_int (flags, GST_P2P_POSITION_RESUMED);
  gst_mini_object_unref (obj);

  expect_frame_error (P2P_FRAME_STREAM_POSITION, NULL, 0, "STREAM_POSITION");
  expect_frame_error (P2P_FRAME_STREAM_POSITION, two, sizeof two, "not three varints");
  expect_frame_error (P2P_FRAME_STREAM_POSITION, four, sizeof four, "not three varints");
  expect_frame_error (P2P_FRAME_STREAM_POSITION, cut, sizeof cut, "not three varints");
}
GST_END_TEST;

GST_START_TEST (test_malformed)
{
  static const guint8 trunc1[] = { 0x40 };      /* 2-byte varint cut short */
  static const guint8 trunc2[] = { 0x24 };      /* type only */
  static const guint8 mismatch[] = { 0x25, 0x03, 0x00 };
  static const guint8 one[] = { 2 };
  static const guint8 sixteen[16] = { 0 };
  g_autoptr (GError) err = NULL;
  const guint8 *body;
  gsize body_len;
  guint64 type;
  P2pMediaSegment seg = { 0, 1.0, 1.0, GST_FORMAT_TIME, 0, 0, 0,
    G_MAXUINT64, 0, 0, G_MAXUINT64
  };
  guint8 gap_none[16];

  fail_if (gst_p2p_media_split_message (trunc1, 0, &type, &body, &body_len, &err));
  fail_unless (g_error_matches (err, P2P_ERROR, P2P_ERROR_PROTOCOL));
  g_clear_error (&err);
  fail_if (gst_p2p_media_split_message (trunc1, sizeof trunc1, &type, &body,
          &body_len, &err));
  fail_unless (strstr (err->message, "Truncated") != NULL);
  g_clear_error (&err);
  fail_if (gst_p2p_media_split_message (trunc2, sizeof trunc2, &type, &body,
          &body_len, &err));
  fail_unless (strstr (err->message, "no frame length") != NULL);
  g_clear_error (&err);
  fail_if (gst_p2p_media_split_message (mismatch, sizeof mismatch, &type, &body,
          &body_len, &err));
  fail_unless (strstr (err->message, "frame length 3 but 1 body bytes") != NULL,
      "%s", err->message);

  expect_frame_error (0x3f, NULL, 0, "Unexpected frame type 0x3f");
  expect_frame_error (P2P_FRAME_HANDSHAKE, NULL, 0, "Unexpected frame type");
  expect_frame_error (P2P_FRAME_CAPS, "audio/x-raw, rate=(int)[", 24,
      "does not parse as caps");
  expect_frame_error (P2P_FRAME_CAPS, "audio/x-raw, rate=(int){ 1, 2 }", 31,
      "are not fixed");
  expect_frame_error (P2P_FRAME_TAG, "not a tag list ((", 17,
      "does not parse as a tag list");
  expect_frame_error (P2P_FRAME_EOS, one, 1, "expected an empty body");
  expect_frame_error (P2P_FRAME_FLUSH_START, one, 1, "expected an empty body");
  {
    /* flush-stop with a value other than 0/1, a GAP of the wrong size: the
     * library's parsers refuse them */
    static const guint8 two[] = { 2 };
    g_autoptr (GByteArray) out = g_byte_array_new ();
    g_autoptr (GBytes) msg = NULL;
    g_autoptr (GError) e = NULL;

    p2p_frame_append (out, P2P_FRAME_FLUSH_STOP, two, 1);
    msg = g_byte_array_free_to_bytes (g_steal_pointer (&out));
    fail_unless (gst_p2p_media_message_to_object (msg, &e) == NULL);
    fail_unless (g_error_matches (e, P2P_ERROR, P2P_ERROR_PROTOCOL));
  }
  {
    g_autoptr (GByteArray) out = g_byte_array_new ();
    g_autoptr (GBytes) msg = NULL;
    g_autoptr (GError) e = NULL;

    p2p_frame_append (out, P2P_FRAME_GAP, sixteen, 15);
    msg = g_byte_array_free_to_bytes (g_steal_pointer (&out));
    fail_unless (gst_p2p_media_message_to_object (msg, &e) == NULL);
    fail_unless (g_error_matches (e, P2P_ERROR, P2P_ERROR_PROTOCOL));
  }
  memset (gap_none, 0xff, 8);
  memset (gap_none + 8, 0, 8);
  {
    g_autoptr (GByteArray) out = g_byte_array_new ();
    g_autoptr (GBytes) msg = NULL;
    g_autoptr (GError) e = NULL;

    p2p_frame_append_gap (out, G_MAXUINT64, 0);
    msg = g_byte_array_free_to_bytes (g_steal_pointer (&out));
    fail_unless (gst_p2p_media_message_to_object (msg, &e) == NULL);
    fail_unless (strstr (e->message, "timestamp is not set") != NULL, "%s",
        e->message);
  }

  seg.rate = 0.0;
  expect_segment_error (&seg, "must be finite and non-zero");
  seg.rate = 1.0;
  seg.applied_rate = 0.0;
  expect_segment_error (&seg, "must be finite and non-zero");
  seg.applied_rate = 1.0;
  seg.format = 77;
  expect_segment_error (&seg, "unknown format 77");
  seg.format = GST_FORMAT_UNDEFINED;
  expect_segment_error (&seg, "unknown format 0");
  seg.format = GST_FORMAT_TIME;
  seg.start = 10;
  seg.stop = 5;
  expect_segment_error (&seg, "stop 5 before start 10");

  /* a truncated BUFFER body */
  expect_frame_error (P2P_FRAME_BUFFER, one, 1,
      "BUFFER frame truncated: field 'pts' needs 8 bytes at offset 0, only 1 left");
}
GST_END_TEST;

/* ---- security (issue 11 item 1): nesting limits before GStreamer's
 * recursive caps/structure parser ---- */

/* The real caps of flacparse on a short flacenc stream (STREAMINFO and
 * VORBIS_COMMENT in "streamheader"). */
static const char flac_caps[] =
    "audio/x-flac, channels=(int)1, framed=(boolean)true, rate=(int)44100, "
    "streamheader=(buffer)< 7f464c414301000002664c614300000022120012000000850004"
    "350ac440700000c800e62fa824f892df5408b5680307eb402c, 84000046200000007265666"
    "572656e6365206c6962464c414320312e342e32203230323231303232010000001a00000044"
    "45534352495054494f4e3d617564696f746573742077617665 >";

typedef struct {
  guint64 type;
  GBytes *message;
  GstMiniObject *obj;
  GError *error;
} Decode;

/* Decodes in a thread with a 512 KiB stack: without the nesting guard,
 * GStreamer's parser overflows it (SIGSEGV) on the deep frames below. */
static gpointer
decode_thread (gpointer data)
{
  Decode *d = data;

  d->obj = gst_p2p_media_message_to_object (d->message, &d->error);
  return NULL;
}

static GstMiniObject *
decode_small_stack (guint64 type, const char *text, GError **error)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  Decode d = { type, NULL, NULL, NULL };
  pthread_attr_t attr;
  pthread_t thread;

  p2p_frame_append_string (out, type, text);
  d.message = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  fail_unless (pthread_attr_init (&attr) == 0);
  fail_unless (pthread_attr_setstacksize (&attr, 512 * 1024) == 0);
  fail_unless (pthread_create (&thread, &attr, (void *(*)(void *)) decode_thread,
          &d) == 0);
  fail_unless (pthread_join (thread, NULL) == 0);
  pthread_attr_destroy (&attr);
  g_bytes_unref (d.message);
  if (d.error)
    g_propagate_error (error, d.error);
  return d.obj;
}

/* @prefix, then @n times @open, "1", @n times @close. */
static char *
nested (const char *prefix, guint n, char open, char close)
{
  GString *s = g_string_new (prefix);

  for (guint i = 0; i < n; i++)
    g_string_append_c (s, open);
  g_string_append_c (s, '1');
  for (guint i = 0; i < n; i++)
    g_string_append_c (s, close);
  return g_string_free (s, FALSE);
}

static void
expect_nesting_error (guint64 type, const char *text, const char *what)
{
  g_autoptr (GError) err = NULL;
  g_autofree char *expected = g_strdup_printf ("peer sent malformed %s: "
      "nesting deeper than %d", what, GST_P2P_MEDIA_MAX_NESTING);

  fail_unless (decode_small_stack (type, text, &err) == NULL);
  fail_unless (g_error_matches (err, P2P_ERROR, P2P_ERROR_PROTOCOL), "%s",
      err ? err->message : "(no error)");
  fail_unless_equals_string (err->message, expected);
}

GST_START_TEST (test_caps_nesting)
{
  static const char opens[] = "{[<(";
  static const char closes[] = "}]>)";
  GstMiniObject *obj;
  g_autoptr (GError) err = NULL;
  GstCaps *caps = NULL;

  /* the attack: 200 000 levels (about 400 KB), each kind of bracket */
  for (guint k = 0; k < 4; k++) {
    g_autofree char *deep = nested ("audio/x-raw, rate=", 200000, opens[k],
        closes[k]);

    expect_nesting_error (P2P_FRAME_CAPS, deep, "caps");
  }
  {
    /* a structure written inside a quoted string is parsed again: its
     * brackets count even though they are quoted */
    g_autofree char *inner = nested ("audio/x-raw, s=(structure)\"x, y=",
        200000, '{', '}');
    g_autofree char *quoted = g_strconcat (inner, "\"", NULL);

    expect_nesting_error (P2P_FRAME_CAPS, quoted, "caps");
  }
  {
    /* the boundary: arrays nested GST_P2P_MEDIA_MAX_NESTING deep parse (the
     * "(int)" cast closes before them), one more level does not */
    g_autofree char *ok = nested ("audio/x-raw, a=(int)",
        GST_P2P_MEDIA_MAX_NESTING, '<', '>');
    g_autofree char *over = nested ("audio/x-raw, a=(int)",
        GST_P2P_MEDIA_MAX_NESTING + 1, '<', '>');

    obj = decode_small_stack (P2P_FRAME_CAPS, ok, &err);
    fail_unless (obj != NULL, "%s", err ? err->message : "");
    gst_mini_object_unref (obj);
    expect_nesting_error (P2P_FRAME_CAPS, over, "caps");
  }

  /* legitimate caps are not refused: real FLAC caps with streamheader */
  obj = decode_small_stack (P2P_FRAME_CAPS, flac_caps, &err);
  fail_unless (obj != NULL, "%s", err ? err->message : "");
  gst_event_parse_caps (GST_EVENT (obj), &caps);
  fail_unless_equals_int (gst_value_array_get_size (gst_structure_get_value
          (gst_caps_get_structure (caps, 0), "streamheader")), 2);
  gst_mini_object_unref (obj);
  /* brackets inside a quoted string, unbalanced, up to the limit */
  obj = decode_small_stack (P2P_FRAME_CAPS, "application/x-test, "
      "title=(string)\"((((((((((((((((((((((((((((((( :) ]]]] {{{{ <\"",
      &err);
  fail_unless (obj != NULL, "%s", err ? err->message : "");
  gst_event_parse_caps (GST_EVENT (obj), &caps);
  fail_unless_equals_string (gst_structure_get_string (gst_caps_get_structure
          (caps, 0), "title"), "((((((((((((((((((((((((((((((( :) ]]]] {{{{ <");
  gst_mini_object_unref (obj);
  {
    /* nested structures and caps as GStreamer 1.22 writes them */
    g_autoptr (GstCaps) in = gst_caps_new_simple ("application/x-test",
        "n", G_TYPE_INT, 1, NULL);
    g_autoptr (GstStructure) st = gst_structure_new ("inner", "list",
        G_TYPE_STRING, "a, {b}, [c]", NULL);
    g_autoptr (GstCaps) sub = gst_caps_from_string ("video/x-raw, "
        "width=(int)320, framerate=(fraction)30/1");
    g_autofree char *text = NULL;

    gst_caps_set_simple (in, "s", GST_TYPE_STRUCTURE, st, "c", GST_TYPE_CAPS,
        sub, NULL);
    text = gst_caps_to_string (in);
    obj = decode_small_stack (P2P_FRAME_CAPS, text, &err);
    fail_unless (obj != NULL, "%s: %s", text, err ? err->message : "");
    gst_event_parse_caps (GST_EVENT (obj), &caps);
    fail_unless (gst_caps_is_equal (caps, in), "%s", text);
    gst_mini_object_unref (obj);
  }
}
GST_END_TEST;

GST_START_TEST (test_tag_nesting)
{
  g_autofree char *deep = nested ("taglist, title=", 200000, '{', '}');
  g_autofree char *deep_str = nested ("taglist, title=(string)\"", 200000,
      '[', ']');
  g_autoptr (GError) err = NULL;
  g_autoptr (GstBuffer) img = gst_buffer_new_memdup ("\xff\xd8\xff\xe0 jpeg", 9);
  g_autoptr (GstCaps) img_caps = gst_caps_new_empty_simple ("image/jpeg");
  g_autoptr (GstSample) sample = gst_sample_new (img, img_caps, NULL, NULL);
  g_autoptr (GstTagList) tags = NULL;
  g_autofree char *text = NULL;
  GstTagList *out_tags = NULL;
  GstMiniObject *obj;
  char *title = NULL;

  expect_nesting_error (P2P_FRAME_TAG, deep, "tags");
  expect_nesting_error (P2P_FRAME_TAG, deep_str, "tags");

  /* a real tag list (a title with brackets and quotes, a cover image) */
  tags = gst_tag_list_new (GST_TAG_TITLE, "Live [2020] {remastered} \"(B)\"",
      GST_TAG_IMAGE, sample, NULL);
  text = gst_tag_list_to_string (tags);
  obj = decode_small_stack (P2P_FRAME_TAG, text, &err);
  fail_unless (obj != NULL, "%s: %s", text, err ? err->message : "");
  gst_event_parse_tag (GST_EVENT (obj), &out_tags);
  fail_unless (gst_tag_list_get_string (out_tags, GST_TAG_TITLE, &title));
  fail_unless_equals_string (title, "Live [2020] {remastered} \"(B)\"");
  fail_unless (gst_tag_list_is_equal (out_tags, tags), "%s", text);
  g_free (title);
  gst_mini_object_unref (obj);
}
GST_END_TEST;

/* ---- review of issue 11, finding 1: the nesting scan follows what
 * GStreamer's deserializers parse again ---- */

/* @prefix, then @n times @unit, then @suffix. */
static char *
repeated (const char *prefix, guint n, const char *unit, const char *suffix)
{
  GString *s = g_string_new (prefix);

  for (guint i = 0; i < n; i++)
    g_string_append (s, unit);
  g_string_append (s, suffix);
  return g_string_free (s, FALSE);
}

/* @text in base64 as gst_value_serialize_sample writes it ('=' as '_'). */
static char *
sample_base64 (const char *text)
{
  char *b64 = g_base64_encode ((const guchar *) text, strlen (text) + 1);

  return g_strdelimit (b64, "=", '_');
}

GST_START_TEST (test_nesting_octal_escapes)
{
  /* "\173" is '{' to gst_string_unwrap: the structure parser recurses once
   * per escaped brace of this quoted value (SIGSEGV on the small stack) */
  g_autofree char *octal = repeated ("video/x-raw, s=(structure)\"a\\,\\ b\\=",
      200000, "\\173", "1\"");
  /* the same in a tag list, with '[' ("\133": ranges) */
  g_autofree char *octal_tags = repeated ("taglist, s=(structure)\"a\\,\\ "
      "b\\=", 200000, "\\133", "\"");
  /* 31 arrays ("\074" is '<') inside the quoted structure: 32 levels */
  g_autofree char *ok = repeated ("video/x-raw, s=(structure)\"a\\,\\ b\\=",
      GST_P2P_MEDIA_MAX_NESTING - 1, "\\074", "1");
  g_autofree char *ok_text = NULL;
  g_autoptr (GError) err = NULL;
  GstMiniObject *obj;
  GstCaps *caps = NULL;

  expect_nesting_error (P2P_FRAME_CAPS, octal, "caps");
  expect_nesting_error (P2P_FRAME_TAG, octal_tags, "tags");

  /* the boundary: the quoted structure is one level, its arrays the rest;
   * one array more is refused */
  ok_text = repeated (ok, GST_P2P_MEDIA_MAX_NESTING - 1, "\\076", "\\;\"");
  obj = decode_small_stack (P2P_FRAME_CAPS, ok_text, &err);
  fail_unless (obj != NULL, "%s", err ? err->message : "");
  gst_event_parse_caps (GST_EVENT (obj), &caps);
  fail_unless (gst_structure_has_field_typed (gst_caps_get_structure (caps, 0),
          "s", GST_TYPE_STRUCTURE));
  gst_mini_object_unref (obj);
  {
    g_autofree char *over = repeated ("video/x-raw, s=(structure)\"a\\,\\ b\\=",
        GST_P2P_MEDIA_MAX_NESTING, "\\074", "1");
    g_autofree char *over_text = repeated (over, GST_P2P_MEDIA_MAX_NESTING,
        "\\076", "\\;\"");

    expect_nesting_error (P2P_FRAME_CAPS, over_text, "caps");
  }
  /* "\9" and "\q" are not octal escapes (just the character); octal
   * brackets in a string value are counted, and parse up to the limit */
  obj = decode_small_stack (P2P_FRAME_CAPS, "application/x-test, "
      "title=(string)\"\\9\\q\\173\\050\"", &err);
  fail_unless (obj != NULL, "%s", err ? err->message : "");
  gst_event_parse_caps (GST_EVENT (obj), &caps);
  fail_unless_equals_string (gst_structure_get_string (gst_caps_get_structure
          (caps, 0), "title"), "9q{(");
  gst_mini_object_unref (obj);
}
GST_END_TEST;

GST_START_TEST (test_nesting_base64_sample)
{
  g_autofree char *deep = repeated ("a, b=", 200000, "{", "1");
  g_autofree char *deep_b64 = sample_base64 (deep);
  g_autofree char *deep_struct = repeated ("info, b=", 200000, "[", "");
  g_autofree char *deep_struct_b64 = sample_base64 (deep_struct);
  /* the attack of the review: the caps of a sample, no bracket in sight */
  g_autofree char *caps_attack = g_strconcat ("taglist, image=(GstSample)00:",
      deep_b64, ":None:None", NULL);
  /* the info structure, the cast applying to the elements of a list */
  g_autofree char *info_attack = g_strconcat ("taglist, image=(sample){ 00:"
      "None:None:", deep_struct_b64, " }", NULL);
  /* the segment (parsed as a structure) */
  g_autofree char *segment_attack = g_strconcat ("taglist, image=(sample)00:"
      "None:", deep_struct_b64, ":None", NULL);
  /* a sample inside the caps of a sample, inside a quoted structure */
  g_autofree char *inner = g_strconcat ("x, s=(sample)00:", deep_b64,
      ":None:None", NULL);
  g_autofree char *inner_b64 = sample_base64 (inner);
  g_autofree char *twice = g_strconcat ("video/x-raw, s=(structure)\"y\\,\\ "
      "t\\=(sample)00:", inner_b64, ":None:None\\;\"", NULL);

  expect_nesting_error (P2P_FRAME_TAG, caps_attack, "tags");
  expect_nesting_error (P2P_FRAME_TAG, info_attack, "tags");
  expect_nesting_error (P2P_FRAME_TAG, segment_attack, "tags");
  expect_nesting_error (P2P_FRAME_CAPS, caps_attack + strlen ("taglist, "),
      "caps");
  expect_nesting_error (P2P_FRAME_CAPS, twice, "caps");
}
GST_END_TEST;

/* A cover picture as FLAC tags carry it: a GstSample with the image bytes,
 * its caps and an info structure, 64 KiB. */
GST_START_TEST (test_nesting_cover_art)
{
  g_autoptr (GstBuffer) img = gst_buffer_new_allocate (NULL, 65536, NULL);
  g_autoptr (GstCaps) img_caps = gst_caps_from_string ("image/jpeg, "
      "width=(int)600, height=(int)600, sof-marker=(int)0, "
      "framerate=(fraction)0/1, parsed=(boolean)true");
  GstStructure *info = gst_structure_new ("GstTagImageInfo", "image-type",
      G_TYPE_INT, 3, "description", G_TYPE_STRING, "Front [cover] {2020} (A)",
      NULL);
  g_autoptr (GstSample) sample = NULL;
  g_autoptr (GstTagList) tags = NULL;
  g_autoptr (GError) err = NULL;
  g_autofree char *text = NULL;
  GstTagList *out_tags = NULL;
  GstSample *out_sample = NULL;
  GstMiniObject *obj;
  GstMapInfo map;

  fail_unless (gst_buffer_map (img, &map, GST_MAP_WRITE));
  for (gsize i = 0; i < map.size; i++)
    map.data[i] = (guint8) (i * 7 + (i >> 8));
  memcpy (map.data, "\xff\xd8\xff\xe0\x00\x10JFIF", 10);
  gst_buffer_unmap (img, &map);
  sample = gst_sample_new (img, img_caps, NULL, info);
  tags = gst_tag_list_new (GST_TAG_TITLE, "Cover {test}", GST_TAG_IMAGE,
      sample, GST_TAG_PREVIEW_IMAGE, sample, NULL);
  text = gst_tag_list_to_string (tags);

  obj = decode_small_stack (P2P_FRAME_TAG, text, &err);
  fail_unless (obj != NULL, "%.200s: %s", text, err ? err->message : "");
  gst_event_parse_tag (GST_EVENT (obj), &out_tags);
  fail_unless (gst_tag_list_get_sample (out_tags, GST_TAG_IMAGE, &out_sample));
  fail_unless (gst_buffer_memcmp (gst_sample_get_buffer (out_sample), 0,
          "\xff\xd8\xff\xe0\x00\x10JFIF", 10) == 0);
  fail_unless_equals_int (gst_buffer_get_size (gst_sample_get_buffer
          (out_sample)), 65536);
  fail_unless (gst_caps_is_equal (gst_sample_get_caps (out_sample), img_caps));
  fail_unless_equals_string (gst_structure_get_string (gst_sample_get_info
          (out_sample), "description"), "Front [cover] {2020} (A)");
  fail_unless (gst_tag_list_is_equal (out_tags, tags));
  gst_sample_unref (out_sample);
  gst_mini_object_unref (obj);
}
GST_END_TEST;

/* CI fuzzing (fuzz-media): a sample field of one character or none made
 * GStreamer's sample deserializer call g_base64_decode_inplace() on it, a
 * g_critical() (fatal here, as in gst-check). Such a frame is refused
 * before the parser; a string that only looks like a sample is kept. */
GST_START_TEST (test_sample_short_field)
{
  static const char *const refused[] = {
    "taglist, image=(sample)00::None:None",
    "taglist, image=(GstSample)00:None:A:None",
    "taglist, image=( sample ){ 00:None:None: }",
  };
  g_autoptr (GError) err = NULL;
  GstTagList *out_tags = NULL;
  GstMiniObject *obj;
  char *title = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_clear_error (&err);
    fail_unless (decode_small_stack (P2P_FRAME_TAG, refused[i], &err) == NULL,
        "%s", refused[i]);
    fail_unless (g_error_matches (err, P2P_ERROR, P2P_ERROR_PROTOCOL));
    fail_unless_equals_string (err->message, "peer sent malformed tags: "
        "a sample field too short to decode");
  }
  g_clear_error (&err);
  fail_unless (decode_small_stack (P2P_FRAME_CAPS,
          "video/x-raw, s=(sample)00:a:None:None", &err) == NULL);
  fail_unless_equals_string (err->message, "peer sent malformed caps: "
      "a sample field too short to decode");

  /* no sample type named: a title of four ':'-separated fields stays */
  g_clear_error (&err);
  obj = decode_small_stack (P2P_FRAME_TAG, "taglist, title=(string)a::b:c",
      &err);
  fail_unless (obj != NULL, "%s", err ? err->message : "");
  gst_event_parse_tag (GST_EVENT (obj), &out_tags);
  fail_unless (gst_tag_list_get_string (out_tags, GST_TAG_TITLE, &title));
  fail_unless_equals_string (title, "a::b:c");
  g_free (title);
  gst_mini_object_unref (obj);
}
GST_END_TEST;

/* Issue 16 item 10: a buffer bigger than one message is cut into parts of
 * at most P2P_MAX_MESSAGE_SIZE, every part but the last flagged CONTINUED,
 * and the assembler gives back the same buffer; a frame other than BUFFER
 * between the parts and a buffer over 64 MiB are PROTOCOL errors. */
GST_START_TEST (test_buffer_parts)
{
  const gsize size = 2 * 1024 * 1024 + 12345;
  g_autoptr (GstBuffer) in = gst_buffer_new_allocate (NULL, size, NULL);
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GError) err = NULL;
  GstP2pMediaAssembler a;
  GstMiniObject *obj = NULL;
  GstMapInfo map, got;
  gsize off = 0;
  guint parts = 0;

  gst_buffer_map (in, &map, GST_MAP_WRITE);
  for (gsize k = 0; k < size; k++)
    map.data[k] = (guint8) (k * 7 + k / 1000);
  gst_buffer_unmap (in, &map);
  GST_BUFFER_PTS (in) = 3 * GST_SECOND;
  GST_BUFFER_DURATION (in) = 40 * GST_MSECOND;
  GST_BUFFER_FLAG_SET (in, GST_BUFFER_FLAG_DELTA_UNIT);

  gst_p2p_media_append_buffer_parts (out, in);
  gst_p2p_media_assembler_init (&a);
  while (off < out->len) {
    gsize n = gst_p2p_media_frame_length (out->data + off, out->len - off);
    g_autoptr (GBytes) msg = NULL;

    fail_unless (n > 0 && n <= P2P_MAX_MESSAGE_SIZE, "part of %" G_GSIZE_FORMAT
        " bytes", n);
    fail_unless (obj == NULL, "a buffer before the last part");
    msg = g_bytes_new (out->data + off, n);
    off += n;
    parts++;
    obj = gst_p2p_media_assembler_push (&a, msg, &err);
    fail_unless (err == NULL, "%s", err ? err->message : "");
  }
  fail_unless_equals_int (parts, 3);
  fail_unless (obj != NULL && GST_IS_BUFFER (obj));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (obj), 3 * GST_SECOND);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (obj), 40 * GST_MSECOND);
  fail_unless (GST_BUFFER_FLAG_IS_SET (obj, GST_BUFFER_FLAG_DELTA_UNIT));
  fail_unless_equals_int (gst_buffer_get_size (GST_BUFFER_CAST (obj)), size);
  gst_buffer_map (in, &map, GST_MAP_READ);
  gst_buffer_map (GST_BUFFER_CAST (obj), &got, GST_MAP_READ);
  fail_unless (memcmp (map.data, got.data, size) == 0);
  gst_buffer_unmap (GST_BUFFER_CAST (obj), &got);
  gst_buffer_unmap (in, &map);
  gst_mini_object_unref (obj);

  /* a small buffer is one plain frame (no CONTINUED), as before */
  {
    g_autoptr (GstBuffer) small = gst_buffer_new_allocate (NULL, 1000, NULL);
    g_autoptr (GByteArray) o2 = g_byte_array_new ();
    g_autoptr (GByteArray) o3 = g_byte_array_new ();

    gst_p2p_media_append_buffer_parts (o2, small);
    gst_p2p_media_append_buffer (o3, small);
    fail_unless_equals_int (o2->len, o3->len);
    fail_unless (memcmp (o2->data, o3->data, o2->len) == 0);
  }

  /* CAPS between the first part and the rest */
  {
    gsize n = gst_p2p_media_frame_length (out->data, out->len);
    g_autoptr (GBytes) first = g_bytes_new (out->data, n);
    g_autoptr (GByteArray) caps = g_byte_array_new ();
    g_autoptr (GBytes) cmsg = NULL;
    g_autoptr (GstCaps) c = gst_caps_new_empty_simple ("audio/x-raw");
    g_autoptr (GstEvent) ev = gst_event_new_caps (c);

    fail_unless (gst_p2p_media_append_event (caps, ev));
    cmsg = g_byte_array_free_to_bytes (g_steal_pointer (&caps));
    fail_unless (gst_p2p_media_assembler_push (&a, first, &err) == NULL);
    fail_unless (err == NULL);
    fail_unless (gst_p2p_media_assembler_push (&a, cmsg, &err) == NULL);
    fail_unless (g_error_matches (err, P2P_ERROR, P2P_ERROR_PROTOCOL));
    fail_unless (strstr (err->message, "a CAPS frame between the parts of a buffer"),
        "%s", err->message);
    g_clear_error (&err);

    /* over 64 MiB: the same CONTINUED part again and again */
    for (guint i = 0; i < 100 && !err; i++)
      fail_unless (gst_p2p_media_assembler_push (&a, first, &err) == NULL);
    fail_unless (g_error_matches (err, P2P_ERROR, P2P_ERROR_PROTOCOL));
    fail_unless (strstr (err->message, "a buffer of more than 67108864 bytes"),
        "%s", err->message);
    fail_unless (a.meta == NULL && a.payload == NULL);
  }
  gst_p2p_media_assembler_clear (&a);
}
GST_END_TEST;

static Suite *
media_suite (void)
{
  Suite *s = suite_create ("p2pmedia");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_buffer_round_trip);
  tcase_add_test (tc, test_buffer_parts);
  tcase_add_test (tc, test_buffer_unset_fields);
  tcase_add_test (tc, test_datagram_round_trip);
  tcase_add_test (tc, test_stream_start_caps_tags);
  tcase_add_test (tc, test_segment_round_trip);
  tcase_add_test (tc, test_simple_events);
  tcase_add_test (tc, test_events_not_carried);
  tcase_add_test (tc, test_malformed);
  tcase_add_test (tc, test_datagram_seqnum_frame);
  tcase_add_test (tc, test_stream_position_frame);

  tc = tcase_create ("security");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_caps_nesting);
  tcase_add_test (tc, test_tag_nesting);
  tcase_add_test (tc, test_nesting_octal_escapes);
  tcase_add_test (tc, test_nesting_base64_sample);
  tcase_add_test (tc, test_nesting_cover_art);
  tcase_add_test (tc, test_sample_short_field);
  return s;
}

GST_CHECK_MAIN (media);
