/* gstp2psrc-private.h (internal): what the files of p2psrc share: the
 * element's fields, its defaults and bounds, and the functions one file
 * calls in another. gstp2psrc.c: the element (pad, states, queries,
 * events); gstp2psrc-stream.c: the stream mode's streaming task;
 * gstp2psrc-props.c: properties, stats and the URI handler;
 * gstp2psrc-connect.c: connecting and reconnecting;
 * gstp2psrc-datagram.c: delivery=datagram's receive side;
 * gstp2psrc-segment.c: the segments of a live receiver and of a late
 * joiner; gstp2psrc-files.c: the random-access mode. Locking: the object
 * lock for properties, "lock" for the runtime fields (see the struct).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstp2psrc.h"
#include "gstp2pmedia.h"
#include "gstp2preceiver.h"
#include "gstp2psrc-files.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_p2p_src_debug);

#define DEFAULT_LATENCY 200
#define DEFAULT_RECONNECT GST_P2P_RECONNECT_NONE
#define DEFAULT_RECONNECT_DELAY 1000
#define DEFAULT_RECONNECT_MAX 5
/* mode=connect: how long one dial may take (QUIC answer, TLS, ICE through a
 * rendezvous) before it fails (or is retried with reconnect=always); a
 * closed port on a direct dial fails at once (ICMP port unreachable) */
#define DEFAULT_CONNECT_TIMEOUT 10000
/* random-access mode: a stopped p2psrc's connection waits this long (ms)
 * for the next p2psrc of the same peer (the next track) */
#define DEFAULT_KEEP_ALIVE 5000
#define DEFAULT_PULL_MODE TRUE
#define MAX_JITTER_ITEMS 4096
/* delivery=datagram: bytes of the reliable-stream queue (events and stream
 * buffers) and, separately, of held datagrams. At least one maximum-size
 * message, so a queue that is not empty always has room for one. */
#define DEFAULT_MAX_QUEUE_BYTES (8 * 1024 * 1024)
#define MIN_MAX_QUEUE_BYTES P2P_MAX_MESSAGE_SIZE
/* delivery=datagram: events queued from the reliable stream */
#define MAX_QUEUED_EVENTS 256


struct _GstP2pSrc {
  GstElement parent;

  GstPad *srcpad;
  GstP2pObject *obj;

  /* properties (object lock) */
  guint latency;
  GstP2pReconnect reconnect;
  guint reconnect_delay;
  guint reconnect_max;
  guint connect_timeout;
  guint keep_alive;
  gboolean pull_mode;            /* random-access mode: offer pull mode downstream */
  /* the pad was activated in the random-access mode (location set); its
   * deactivation follows the same path (object lock) */
  gboolean files_active;
  /* why the last uri/location set through a property was refused (object
   * lock): the element fails to start with it instead of running without
   * that location (a bad location made p2psrc wait in stream mode) */
  char *settings_error;
  gboolean is_live;
  guint64 max_queue_bytes;

  /* runtime (lock) */
  GMutex lock;
  GCond cond;
  gboolean flushing;
  GCancellable *cancellable;
  P2pConnection *conn;
  char *conn_peer;              /* who we are connected to, for messages */
  /* the last connection's final figures, reported in "stats" once it is
   * gone (EOS, error) until the next connection */
  P2pConnectionStats last_stats;
  gboolean have_last_stats;
  guint attempts;
  gboolean stream_started;
  /* the sender's FLUSH_START was pushed, its FLUSH_STOP not yet (task) */
  gboolean sender_flushing;
  /* the group id given to the stream-starts of this run, and the stream
   * id it was given for (streaming thread; reset at activation): the same
   * stream again (a resume's replay) keeps it, another stream gets a new
   * one */
  guint group_id;
  char *group_stream_id;
  GstP2pDelivery delivery;
  gboolean live;                /* delivery=datagram or is-live, at start */
  /* not live: the sender's last segment as pushed, whether a buffer
   * followed it yet, and the running-time shift of a late join (decided at
   * the first buffer of a connection, applied to every later segment) */
  GstSegment segment;
  gboolean segment_fresh;
  gboolean shift_decided;
  GstClockTimeDiff rt_shift;
  gint64 activated_us;          /* monotonic, when the task started */
  gboolean first_buffer_done;
  /* send_event(EOS) from the application (gst-launch-1.0 -e): pushed by the
   * streaming thread, which it wakes (like GstBaseSrc's pending EOS) */
  GstEvent *pending_eos;
  /* reliable delivery: a buffer arriving in parts (streaming thread) */
  GstP2pMediaAssembler assembler;
  /* reliable delivery, streaming thread: what ended a buffer list (the item
   * after its buffers, or the error decoding it), pushed or handled next;
   * kept across a reconnection (it came before what a resume sends) */
  GstMiniObject *pending_item;
  GError *pending_error;
  /* reliable delivery, streaming thread: where we are in the sender's
   * stream (its STREAM_POSITION frames), to resume there on a new
   * connection (docs/protocol.md §5.3) */
  gboolean resume_known;
  guint64 resume_token, resume_next;
  char *resume_peer;
  gboolean resume_waiting;      /* asked to resume: drop all until the answer */

  /* datagram delivery: the events from the reliable stream and the
   * datagrams (arrival times: monotonic us); its counters are those of the
   * stats, since the element started (kept after EOS and in READY/NULL,
   * zeroed by the next start) */
  GstP2pReceiver receiver;
  gsize queue_limit;            /* max-queue-bytes when the reader started */
  gboolean overrun;             /* the reader waits for room */
  gint64 eos_due;               /* monotonic us: EOS waits for late datagrams */
  GstEvent *pending_segment;
  /* live, streaming thread: the segment as last pushed (placed with a
   * buffer: live_anchored), and the running time and monotonic time (us)
   * of the last buffer checked in PLAYING. When the running time stood
   * still meanwhile (PAUSED and back to PLAYING), the segment moves by
   * that much and what arrived while paused is dropped
   * (gst_p2p_src_live_check_buffer) */
  gboolean live_anchored;
  GstSegment live_segment;
  GstClockTime live_anchor_rt;
  gint64 live_anchor_us;
  gboolean live_dropping;       /* dropping what is too late after a move */
  gint64 live_late_since_us;    /* buffers late in a row since (0: the last one was not) */
  GstClockTime pipeline_latency;  /* from the LATENCY event (object lock); 0 = none yet */
  /* the running time may have stood still since the anchor: it was taken
   * before PLAYING, or the element went PLAYING -> PAUSED since (set by
   * change_state; a clock that stalls in PLAYING is not a pause) (lock) */
  gboolean live_maybe_paused;
  guint64 live_dropped;         /* buffers dropped by the last move */
  gboolean live_discont;        /* the next buffer pushed gets DISCONT */
  gboolean resume_gap_pending;  /* a resume with a gap whose DISCONT is still to go out */
  GThread *reader;
  GCancellable *reader_cancellable;
  gboolean reader_done;
  GError *reader_error;

  /* issue 13: random-access mode (gstp2psrc-files.c) when location is set */
  char *location;               /* object lock */
  GstP2pFileReader *files;      /* while the pad is active */
  GstP2pFilePush *push;         /* while it is active in push mode (stream lock) */
};

/* gstp2psrc-props.c */

/* Installs the properties (GstP2pObject's and p2psrc's own). */
void gst_p2p_src_install_properties (GObjectClass *gobject_class);
void gst_p2p_src_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec);
void gst_p2p_src_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec);
/* GstURIHandler: p2p://<peer ID, ticket or ID@HOST:PORT>[/path] */
void gst_p2p_src_uri_handler_init (gpointer g_iface, gpointer data);

/* gstp2psrc-stream.c */

/* The streaming task of the stream mode (one iteration). */
void gst_p2p_src_loop (gpointer data);

/* gstp2psrc-connect.c */

/* Returns TRUE when connected; FALSE after an error was posted or when
 * flushing. */
gboolean gst_p2p_src_ensure_connected (GstP2pSrc *self);
/* Closes the connection with @reason (stats kept as the last ones, the
 * reader thread joined, "disconnected" posted); nothing when none. */
void gst_p2p_src_drop_connection (GstP2pSrc *self, const char *reason);
/* reconnect=always: waits reconnect-delay ms before the next attempt
 * (posting "p2p-reconnect"); FALSE when no attempt is left or when
 * flushing. */
gboolean gst_p2p_src_may_retry (GstP2pSrc *self, const char *reason);
/* Streaming thread, reliable delivery: TRUE when *@obj is not for
 * downstream (a STREAM_POSITION, or what comes before the answer to our
 * "resume"): it is consumed. Otherwise counts it as the next frame. */
gboolean gst_p2p_src_resume_filter (GstP2pSrc *self, GstMiniObject **obj);

/* gstp2psrc-datagram.c */

void gst_p2p_src_install_overrun_signal (GObjectClass *gobject_class);
/* Called with the lock: forgets the connection's receive state. */
void gst_p2p_src_clear_datagram_state_locked (GstP2pSrc *self);
/* Called with the lock, delivery=datagram: takes @conn's datagrams and
 * starts the reader thread of its reliable stream. */
void gst_p2p_src_start_datagram_receive_locked (GstP2pSrc *self, P2pConnection *conn);
/* The next event or buffer in datagram delivery (transfer full); NULL when
 * flushing (@error unset) or when the stream ended (@error set). */
GstMiniObject *gst_p2p_src_next_datagram_item (GstP2pSrc *self, GError **error);

/* gstp2psrc-segment.c (streaming thread) */

/* Live: pushes the segment waiting for its first buffer or GAP (@ts, its
 * timestamp; GST_CLOCK_TIME_NONE when something else comes first), shifted
 * to play it now. */
void gst_p2p_src_push_pending_segment (GstP2pSrc *self, GstClockTime ts);
/* Live, before buffer @buf (its segment placed) is pushed: when the
 * running time stood still since the last buffer (the pipeline was PAUSED
 * and is PLAYING again), pushes the segment moved by that much, so that
 * what arrives now plays "latency" from now again instead of the delay
 * growing by every pause. FALSE when @buf arrived while paused and is
 * now too late to play: it is dropped (the next buffer pushed is DISCONT). */
gboolean gst_p2p_src_live_check_buffer (GstP2pSrc *self, GstBuffer *buf);
/* Not live: pushes the sender's segment @event (transfer full), shifted by
 * a late join's shift. */
void gst_p2p_src_push_segment_not_live (GstP2pSrc *self, GstEvent *event);
/* Not live: at the first buffer or GAP after a segment (@ts, its
 * timestamp), decides whether this connection joined late and then pushes
 * the segment again shifted. */
void gst_p2p_src_shift_late_join_not_live (GstP2pSrc *self, GstClockTime ts);

G_END_DECLS
