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
 * GStreamer's recursive parser (gstp2pmedia-nesting.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2pmedia.h"
#include "gstp2pmedia-private.h"

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

/* A frame whose body is one varint (DATAGRAM_SEQNUM, DATAGRAM_EPOCH): the
 * custom event @name with that value in @field, for the receiver itself. */
static GstMiniObject *
mark_event (const char *frame, const char *name, const char *field, const guint8 *body,
    gsize len, GError **error)
{
  guint64 v = 0;

  if (len == 0 || p2p_varint_read (body, len, &v) != len) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "Malformed %s frame: the body of %" G_GSIZE_FORMAT " bytes is not one varint",
        frame, len);
    return NULL;
  }
  return GST_MINI_OBJECT_CAST (gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
          gst_structure_new (name, field, G_TYPE_UINT64, v, NULL)));
}

/* The value of mark_event()'s event @name, FALSE if @event is not one. */
static gboolean
mark_event_get (GstEvent *event, const char *name, const char *field, guint64 *out)
{
  guint64 v = 0;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM_OOB
      || !gst_event_has_name (event, name)
      || !gst_structure_get_uint64 (gst_event_get_structure (event), field, &v))
    return FALSE;
  if (out)
    *out = v;
  return TRUE;
}

/* (transfer full) a message of one frame of @type whose body is @v. */
static GBytes *
varint_frame_message (guint64 type, guint64 v)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();
  GByteArray *out = g_byte_array_new ();

  p2p_varint_append (body, v);
  p2p_frame_append (out, type, body->data, body->len);
  return g_byte_array_free_to_bytes (out);
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

      if (!s || !gst_p2p_media_check_nesting ("caps", s, error))
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

      if (!s || !gst_p2p_media_check_nesting ("tags", s, error))
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
    case P2P_FRAME_DATAGRAM_SEQNUM:
      return mark_event ("DATAGRAM_SEQNUM", DATAGRAM_SEQNUM_EVENT, "seqnum", body, len, error);
    case P2P_FRAME_DATAGRAM_EPOCH:
      return mark_event ("DATAGRAM_EPOCH", DATAGRAM_EPOCH_EVENT, "epoch", body, len, error);
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
  return varint_frame_message (P2P_FRAME_DATAGRAM_SEQNUM, seqnum);
}

gboolean
gst_p2p_media_event_get_datagram_seqnum (GstEvent *event, guint64 *seqnum)
{
  return mark_event_get (event, DATAGRAM_SEQNUM_EVENT, "seqnum", seqnum);
}

GBytes *
gst_p2p_media_datagram_epoch_message (guint64 epoch)
{
  return varint_frame_message (P2P_FRAME_DATAGRAM_EPOCH, epoch);
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
  return mark_event_get (event, DATAGRAM_EPOCH_EVENT, "epoch", epoch);
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
