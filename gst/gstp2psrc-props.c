/* gstp2psrc-props.c: p2psrc's properties (besides GstP2pObject's): their
 * installation, get and set, the "stats" structure (the connection's
 * figures, or the last one's, with the receiver's datagram counters and
 * queue bytes), and the p2p:// URI (property and GstURIHandler; a path
 * selects the random-access mode).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psrc-private.h"

#include <string.h>

#define GST_CAT_DEFAULT gst_p2p_src_debug

enum {
  PROP_LATENCY = GST_P2P_PROP_LAST,
  PROP_RECONNECT,
  PROP_RECONNECT_DELAY,
  PROP_RECONNECT_MAX,
  PROP_IS_LIVE,
  PROP_MAX_QUEUE_BYTES,
  PROP_CONNECT_TIMEOUT,
  PROP_URI,
  PROP_LOCATION,                /* issue 13: random-access mode */
  PROP_KEEP_ALIVE,
  PROP_PULL_MODE,
};

GType
gst_p2p_reconnect_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_P2P_RECONNECT_NONE, "Post an error when the peer is unreachable or gone",
        "none"},
    {GST_P2P_RECONNECT_ALWAYS,
          "Try again after reconnect-delay ms, at most reconnect-max times",
        "always"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstP2pReconnect", values));
  return type;
}

void
gst_p2p_src_install_properties (GObjectClass *gobject_class)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  gst_p2p_object_install_properties (gobject_class, FALSE);
  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency",
          "delivery=datagram: jitter buffer size in ms (how long a buffer waits "
          "for missing earlier ones; also the reported latency). "
          "delivery=reliable: a first buffer later than this after its "
          "segment's start is a late join (played at once)", 0, 60000,
          DEFAULT_LATENCY, rw));
  g_object_class_install_property (gobject_class, PROP_RECONNECT,
      g_param_spec_enum ("reconnect", "Reconnect",
          "When the peer is unreachable or gone: none (post an error) or "
          "always (retry after reconnect-delay, at most reconnect-max times)",
          GST_TYPE_P2P_RECONNECT, DEFAULT_RECONNECT, rw));
  g_object_class_install_property (gobject_class, PROP_RECONNECT_DELAY,
      g_param_spec_uint ("reconnect-delay", "Reconnect delay",
          "Wait before each reconnection attempt, in ms", 0, 3600000,
          DEFAULT_RECONNECT_DELAY, rw));
  g_object_class_install_property (gobject_class, PROP_RECONNECT_MAX,
      g_param_spec_uint ("reconnect-max", "Maximum reconnections",
          "Consecutive failed attempts before giving up with an error "
          "(0 = unlimited); each attempt posts an element message "
          "\"p2p-reconnect\" (attempt, max-attempts, delay-ms, reason)",
          0, G_MAXUINT, DEFAULT_RECONNECT_MAX, rw));
  g_object_class_install_property (gobject_class, PROP_URI,
      g_param_spec_string ("uri", "URI",
          "p2p://<peer ID, ticket or ID@HOST:PORT>[/path]: sets \"peer\", and "
          "\"location\" to the path (percent-decoded) when there is one (also "
          "the URI handler: playbin uri=p2p://...); a malformed URI leaves both "
          "unchanged and the element then fails to start with an error saying "
          "why", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "Path of a file served by the peer's file service (p2p-serve), "
          "relative to its root, UTF-8: p2psrc then reads that file by byte "
          "ranges (random access, seekable, pull mode) instead of receiving "
          "a p2psink's stream. NULL = stream mode. A p2p:// URI here is the "
          "same as setting \"uri\" (as souphttpsrc takes a URI as location)",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_KEEP_ALIVE,
      g_param_spec_uint ("keep-alive", "Keep-alive",
          "With location (random-access mode): how long, in ms, the connection "
          "stays open after this element stopped, for the next p2psrc of the "
          "same peer with the same settings in this process (the next track: "
          "no new handshake, a warm congestion window; one user at a time). "
          "0 = close it at once", 0, 3600000, DEFAULT_KEEP_ALIVE, rw));
  g_object_class_install_property (gobject_class, PROP_PULL_MODE,
      g_param_spec_boolean ("pull-mode", "Pull mode",
          "With location (random-access mode): let downstream elements pull "
          "byte ranges (GstPad pull mode), so demuxers and parsers read as "
          "from a local file (Ogg durations and seeks exact); a parser's "
          "first read is then 64 KiB, 3 round trips of a new connection's "
          "slow start. FALSE: push mode only, like souphttpsrc: bytes go "
          "downstream as they arrive (a FLAC track starts a round trip "
          "sooner on a new connection; BYTES seeks still work, but a parser "
          "in push mode does no SEGMENT seeks, no reverse playback, and "
          "without a seek table its non-accurate seeks can land late)",
          DEFAULT_PULL_MODE, rw));
  g_object_class_install_property (gobject_class, PROP_CONNECT_TIMEOUT,
      g_param_spec_uint ("connect-timeout", "Connect timeout",
          "mode=connect: how long one connection attempt may take, in ms, "
          "before it fails (or is retried with reconnect=always; with location, "
          "each of the reader's 5 reconnect attempts, which follow a failed first "
          "dial too, as souphttpsrc's retries); a closed port on a direct dial "
          "fails that attempt at once. 0 = only idle-timeout bounds it", 0, 3600000,
          DEFAULT_CONNECT_TIMEOUT, rw));

  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Live",
          "Be a live source (no preroll, reports \"latency\") also in "
          "delivery=reliable; delivery=datagram is always live. Set it when one "
          "pipeline holds both the p2psink and the p2psrc (it could not "
          "preroll otherwise)",
          FALSE, rw));

  g_object_class_install_property (gobject_class, PROP_MAX_QUEUE_BYTES,
      g_param_spec_uint64 ("max-queue-bytes", "Maximum queue bytes",
          "delivery=datagram: bytes held for the reliable stream (events and "
          "stream buffers: when full, the sender waits) and, separately, "
          "for datagrams (when full, the oldest is dropped, counted in stats "
          "datagrams-dropped, and the next buffer is DISCONT)",
          MIN_MAX_QUEUE_BYTES, G_MAXUINT64, DEFAULT_MAX_QUEUE_BYTES, rw));
  gst_type_mark_as_plugin_api (GST_TYPE_P2P_RECONNECT, 0);
}

static GstStructure *
gst_p2p_src_dup_stats (GstP2pSrc *self)
{
  GstStructure *s = gst_p2p_stats_new ();
  P2pConnection *conn;
  guint64 lost, late, dropped, queued, queued_max;
  P2pConnectionStats last;
  gboolean have_last;

  g_mutex_lock (&self->lock);
  conn = self->conn ? g_object_ref (self->conn) : NULL;
  last = self->last_stats;
  have_last = self->have_last_stats;
  lost = self->receiver.datagrams_lost;
  late = self->receiver.datagrams_late;
  dropped = self->receiver.datagrams_dropped;
  queued = gst_p2p_receiver_get_bytes (&self->receiver);
  queued_max = self->receiver.bytes_max;
  g_mutex_unlock (&self->lock);
  if (conn) {
    P2pConnectionStats st;

    p2p_connection_get_stats (conn, &st);
    gst_p2p_stats_accumulate (s, &st);
    g_object_unref (conn);
  } else if (have_last) {
    /* the connection ended: its final figures, no peer */
    gst_p2p_stats_accumulate (s, &last);
    gst_structure_set (s, "peers", G_TYPE_UINT, 0u, NULL);
  }
  {
    guint64 transport_dropped = 0;

    /* the transport's drops plus those of our own datagram bound */
    gst_structure_get_uint64 (s, "datagrams-dropped", &transport_dropped);
    dropped += transport_dropped;
  }
  gst_structure_set (s, "datagrams-lost", G_TYPE_UINT64, lost,
      "datagrams-late", G_TYPE_UINT64, late,
      "datagrams-dropped", G_TYPE_UINT64, dropped,
      "queued-bytes", G_TYPE_UINT64, queued,
      "queued-bytes-max", G_TYPE_UINT64, queued_max, NULL);
  return s;
}

/* p2p://PEER[/path]: a path selects the random-access mode (location). */
/* Splits "p2p://PEER/path" into the peer (as given) and the
 * percent-decoded path (NULL when the URI has none). */
static gboolean
file_uri_split (const char *uri, char **peer, char **path, GError **error)
{
  const char *auth, *slash;

  *peer = *path = NULL;
  if (uri == NULL || g_ascii_strncasecmp (uri, "p2p://", 6) != 0) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_UNSUPPORTED_PROTOCOL,
        "Not a p2p:// URI: \"%s\"", uri ? uri : "(null)");
    return FALSE;
  }
  auth = uri + 6;
  slash = strchr (auth, '/');
  if (!slash || slash[1] == '\0') {
    *peer = g_strndup (auth, slash ? (gsize) (slash - auth) : strlen (auth));
    return TRUE;
  }
  *peer = g_strndup (auth, slash - auth);
  *path = g_uri_unescape_string (slash + 1, NULL);
  if (*path == NULL) {
    g_clear_pointer (peer, g_free);
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
        "Invalid %%-escape in the path of \"%s\"", uri);
    return FALSE;
  }
  if (!p2p_file_path_check (*path, strlen (*path), error)) {
    g_clear_pointer (peer, g_free);
    g_clear_pointer (path, g_free);
    return FALSE;
  }
  return TRUE;
}

/* TRUE if the location may change now: not once the element runs (as
 * filesrc; the pad's deactivation must find the mode it started in). */
static gboolean
location_settable (GstP2pSrc *self, GError **error)
{
  GstState state;

  GST_OBJECT_LOCK (self);
  state = GST_STATE (self);
  if (GST_STATE_PENDING (self) != GST_STATE_VOID_PENDING)
    state = MAX (state, GST_STATE_PENDING (self));
  GST_OBJECT_UNLOCK (self);
  if (state <= GST_STATE_READY)
    return TRUE;
  g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_STATE,
      "Changing the URI or location of p2psrc in the %s state is not "
      "supported: set it in the NULL or READY state", gst_element_state_get_name (state));
  return FALSE;
}

/* Under the object lock: a uri or location property was refused (@err);
 * the element fails to start with why (a property cannot return an
 * error, and without the location p2psrc would run in stream mode). */
static void
refused_locked (GstP2pSrc *self, const char *prop, const char *value, const GError *err,
    const char *hint)
{
  GST_WARNING_OBJECT (self, "%s \"%s\" refused: %s", prop, value, err->message);
  g_free (self->settings_error);
  self->settings_error = g_strdup_printf ("The %s \"%s\" was refused: %s%s", prop, value,
      err->message, hint ? hint : "");
}

static gboolean
src_set_uri (GstP2pSrc *self, const char *uri, GError **error)
{
  g_autofree char *peer = NULL, *path = NULL, *peer_uri = NULL;
  g_autoptr (GError) err = NULL;

  if (!location_settable (self, error))
    return FALSE;

  if (!file_uri_split (uri, &peer, &path, &err)) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "%s", err->message);
    return FALSE;
  }
  peer_uri = g_strdup_printf ("p2p://%s", peer);
  if (!gst_p2p_object_set_uri (self->obj, peer_uri, error))
    return FALSE;
  GST_OBJECT_LOCK (self);
  g_free (self->location);
  self->location = g_steal_pointer (&path);
  g_clear_pointer (&self->settings_error, g_free);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static char *
src_get_uri (GstP2pSrc *self)
{
  g_autofree char *base = gst_p2p_object_get_uri (self->obj);
  g_autofree char *loc = NULL;

  GST_OBJECT_LOCK (self);
  loc = g_strdup (self->location);
  GST_OBJECT_UNLOCK (self);
  if (base && loc) {
    /* all ASCII, as URIs are (RFC 3986): a name's UTF-8 bytes are
     * percent-encoded, as Python's quote() and gst_filename_to_uri() do */
    g_autofree char *esc = g_uri_escape_string (loc, "/", FALSE);

    return g_strdup_printf ("%s/%s", base, esc);
  }
  return g_steal_pointer (&base);
}

void
gst_p2p_src_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstP2pSrc *self = GST_P2P_SRC (object);

  if (gst_p2p_object_set_property (self->obj, prop_id, value, pspec))
    return;
  if (prop_id == PROP_URI || prop_id == PROP_LOCATION) {
    g_autoptr (GError) err = NULL;

    /* (src_set_uri() checks it too, for the URI handler) */
    if (!location_settable (self, &err)) {
      g_warning ("p2psrc: %s \"%s\" refused: %s", pspec->name,
          g_value_get_string (value) ? g_value_get_string (value) : "", err->message);
      return;
    }
  }
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LATENCY:
      self->latency = g_value_get_uint (value);
      break;
    case PROP_RECONNECT:
      self->reconnect = g_value_get_enum (value);
      break;
    case PROP_RECONNECT_DELAY:
      self->reconnect_delay = g_value_get_uint (value);
      break;
    case PROP_RECONNECT_MAX:
      self->reconnect_max = g_value_get_uint (value);
      break;
    case PROP_IS_LIVE:
      self->is_live = g_value_get_boolean (value);
      break;
    case PROP_MAX_QUEUE_BYTES:
      self->max_queue_bytes = g_value_get_uint64 (value);
      break;
    case PROP_CONNECT_TIMEOUT:
      self->connect_timeout = g_value_get_uint (value);
      break;
    case PROP_PULL_MODE:
      self->pull_mode = g_value_get_boolean (value);
      break;
    case PROP_KEEP_ALIVE:
      self->keep_alive = g_value_get_uint (value);
      break;
    case PROP_URI:
    case PROP_LOCATION:{
      const char *v = g_value_get_string (value);
      const char *prop = prop_id == PROP_URI ? "uri" : "location";
      g_autoptr (GError) err = NULL;

      if (v && (prop_id == PROP_URI || g_ascii_strncasecmp (v, "p2p://", 6) == 0)) {
        /* like the URI handler: a bad URI is refused, the peer unchanged */
        GST_OBJECT_UNLOCK (self);
        if (!src_set_uri (self, v, &err)) {
          GST_OBJECT_LOCK (self);
          refused_locked (self, prop, v, err, NULL);
          break;
        }
        GST_OBJECT_LOCK (self);
        break;
      }
      if (prop_id == PROP_URI)
        break;
      if (v && v[0] && !p2p_file_path_check (v, strlen (v), &err)) {
        refused_locked (self, prop, v, err, " (a path relative to the served directory, "
            "such as Artist/Album/01.flac)");
        break;
      }
      g_clear_pointer (&self->settings_error, g_free);
      g_free (self->location);
      self->location = v && v[0] ? g_strdup (v) : NULL;
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

void
gst_p2p_src_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstP2pSrc *self = GST_P2P_SRC (object);

  if (prop_id == GST_P2P_PROP_STATS) {
    GstStructure *stats = gst_p2p_src_dup_stats (self);

    gst_p2p_object_add_provider_stats (self->obj, stats);
    g_value_take_boxed (value, stats);
    return;
  }
  if (gst_p2p_object_get_property (self->obj, prop_id, value, pspec))
    return;
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LATENCY:
      g_value_set_uint (value, self->latency);
      break;
    case PROP_RECONNECT:
      g_value_set_enum (value, self->reconnect);
      break;
    case PROP_RECONNECT_DELAY:
      g_value_set_uint (value, self->reconnect_delay);
      break;
    case PROP_RECONNECT_MAX:
      g_value_set_uint (value, self->reconnect_max);
      break;
    case PROP_IS_LIVE:
      g_value_set_boolean (value, self->is_live);
      break;
    case PROP_MAX_QUEUE_BYTES:
      g_value_set_uint64 (value, self->max_queue_bytes);
      break;
    case PROP_CONNECT_TIMEOUT:
      g_value_set_uint (value, self->connect_timeout);
      break;
    case PROP_PULL_MODE:
      g_value_set_boolean (value, self->pull_mode);
      break;
    case PROP_KEEP_ALIVE:
      g_value_set_uint (value, self->keep_alive);
      break;
    case PROP_URI:
      GST_OBJECT_UNLOCK (self);
      g_value_take_string (value, src_get_uri (self));
      GST_OBJECT_LOCK (self);
      break;
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- URI handler: p2p://<peer ID, ticket or ID@HOST:PORT> ---- */

static GstURIType
src_uri_get_type (GType type)
{
  return GST_URI_SRC;
}

static gchar *
src_uri_get_uri (GstURIHandler *handler)
{
  return src_get_uri (GST_P2P_SRC (handler));
}

static gboolean
src_uri_set_uri (GstURIHandler *handler, const gchar *uri, GError **error)
{
  return src_set_uri (GST_P2P_SRC (handler), uri, error);
}

void
gst_p2p_src_uri_handler_init (gpointer g_iface, gpointer data)
{
  GstURIHandlerInterface *iface = g_iface;

  iface->get_type = src_uri_get_type;
  iface->get_protocols = gst_p2p_uri_get_protocols;
  iface->get_uri = src_uri_get_uri;
  iface->set_uri = src_uri_set_uri;
}
