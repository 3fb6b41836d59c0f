/* gstp2psimnet.c: p2psimnet, a whole P2P link in one element, deterministic
 * by construction.
 *
 * SECTION:element-p2psimnet
 * @see_also: p2psink, p2psrc
 *
 * sink pad -> sender connection -> simulated network -> receiver connection
 * -> src pad, with the real QUIC stack over the simulated link: loss,
 * reordering and bandwidth limits exercise the real loss recovery and flow
 * control. Buffers and events are encoded as p2psink encodes them and decoded
 * as p2psrc decodes them (gstp2pmedia.h).
 *
 * Everything runs in the streaming thread of the sink pad: the network is in
 * MANUAL clock mode on a private GMainContext that this thread holds while it
 * works. Virtual time follows the data, not a clock: before a buffer is sent
 * the network runs until virtual time = the time the link was connected + the
 * buffer's running time; then what has arrived is pushed downstream, in
 * order, from the same thread. At EOS the network runs until everything sent
 * has arrived. So the same input with the same seed gives the same output and
 * the same trace-hash under any pipeline clock (a GstTestClock included) and
 * any thread scheduling.
 *
 * |[
 * gst-launch-1.0 audiotestsrc num-buffers=100 ! flacenc ! p2psimnet latency=50 loss=0.02 seed=7 ! flacdec ! fakesink
 * ]|
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstp2psimnet-private.h"
#include "gstp2pmedia.h"

GST_DEBUG_CATEGORY (gst_p2p_sim_net_debug);
#define GST_CAT_DEFAULT gst_p2p_sim_net_debug

/* trace text kept in memory (the hash covers every event) */
#define SIMNET_TRACE_LIMIT (64 * 1024)
#define MS G_GUINT64_CONSTANT (1000000)
#define SEC (1000 * MS)
/* bounds on virtual time for the link to connect, accept a message or
 * deliver the end of the stream */
#define SIMNET_CONNECT_NS (30 * SEC)
#define SIMNET_SEND_NS (60 * SEC)
#define SIMNET_CLOSE_NS (30 * SEC)

#define gst_p2p_sim_net_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstP2pSimNet, gst_p2p_sim_net, GST_TYPE_ELEMENT,
    GST_DEBUG_CATEGORY_INIT (gst_p2p_sim_net_debug, "p2psimnet", 0,
        "P2P simulated link"));
GST_ELEMENT_REGISTER_DEFINE (p2psimnet, "p2psimnet", GST_RANK_NONE,
    GST_TYPE_P2P_SIM_NET);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

/* ---- the private context: held by the thread that works on the link ---- */

static gboolean
enter_context (GstP2pSimNet *self)
{
  if (!g_main_context_acquire (self->context)) {
    GST_ERROR_OBJECT (self, "the network's context is held by another thread");
    return FALSE;
  }
  g_main_context_push_thread_default (self->context);
  return TRUE;
}

static void
leave_context (GstP2pSimNet *self)
{
  g_main_context_pop_thread_default (self->context);
  g_main_context_release (self->context);
}

/* ---- receiving: called with the context held ---- */

static void
on_datagram (P2pConnection *conn, GBytes *datagram, gpointer data)
{
  GstP2pSimNet *self = data;
  guint64 seqnum = 0;
  GstBuffer *buffer = gst_p2p_receiver_decode_datagram (&self->receiver, datagram,
      &seqnum);
  guint64 now = p2p_sim_network_now (self->net);

  if (!buffer)
    return;
  self->n_arrived++;
  GST_OBJECT_LOCK (self);
  gst_p2p_receiver_hold_datagram (&self->receiver, seqnum, now, buffer);
  GST_OBJECT_UNLOCK (self);
}

/* Decodes every message that has arrived into the receiver's stream queue. */
static void
receive_messages (GstP2pSimNet *self)
{
  while (self->rx && !self->rx_error) {
    g_autoptr (GError) err = NULL;
    g_autoptr (GBytes) msg = p2p_connection_receive (self->rx, NULL, &err);
    GstMiniObject *obj;

    if (!msg) {
      if (!g_error_matches (err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        self->rx_error = g_steal_pointer (&err);
      return;
    }
    obj = gst_p2p_media_message_to_object (msg, &err);
    if (!obj) {
      self->rx_error = g_steal_pointer (&err);
      return;
    }
    if (GST_IS_EVENT (obj) && GST_EVENT_TYPE (obj) == GST_EVENT_EOS)
      self->eos_received = TRUE;
    self->n_arrived++;
    GST_OBJECT_LOCK (self);
    gst_p2p_receiver_queue_stream (&self->receiver, obj, g_bytes_get_size (msg));
    GST_OBJECT_UNLOCK (self);
  }
}

static gboolean
receive_step (gpointer data)
{
  GstP2pSimNet *self = data;

  receive_messages (self);
  return self->rx_error != NULL;
}

/* Virtual time an untimed buffer may take to arrive (a lost datagram
 * never does) */
#define UNTIMED_RUN_NS (2 * SEC)

static gboolean
all_arrived (gpointer data)
{
  GstP2pSimNet *self = data;

  receive_messages (self);
  return self->rx_error != NULL || self->n_arrived >= self->n_sent;
}

static gboolean
receive_until_eos (gpointer data)
{
  GstP2pSimNet *self = data;

  receive_messages (self);
  return self->rx_error != NULL || self->eos_received;
}

/* How long a datagram waits for the ones before it (virtual ns). */
static guint64
jitter_window (GstP2pSimNet *self)
{
  guint64 w;

  GST_OBJECT_LOCK (self);
  w = (guint64) self->link.jitter_ms * MS + MS;
  if (self->link.reorder > 0)
    w += (guint64) MAX (self->link.latency_ms, 10) * MS;
  GST_OBJECT_UNLOCK (self);
  return w;
}

/* Pushes downstream, in order, everything that may go now. */
static GstFlowReturn
push_arrived (GstP2pSimNet *self, gboolean final)
{
  guint64 wait = jitter_window (self);

  for (;;) {
    GstMiniObject *obj;

    /* EOS goes last, after the datagrams still in flight; the tail loss is
     * counted when it leaves, before it goes downstream: stats read at EOS
     * (the EOS message can be on the bus before push_event() returns)
     * include it */
    GST_OBJECT_LOCK (self);
    obj = gst_p2p_receiver_next (&self->receiver, p2p_sim_network_now (self->net), wait,
        final, !final);
    GST_OBJECT_UNLOCK (self);
    if (!obj)
      break;
    if (GST_IS_BUFFER (obj)) {
      GstFlowReturn ret = gst_pad_push (self->srcpad, GST_BUFFER_CAST (obj));

      if (ret != GST_FLOW_OK)
        return ret;
    } else {
      gst_pad_push_event (self->srcpad, GST_EVENT_CAST (obj));
    }
  }
  return GST_FLOW_OK;
}

/* ---- the link ---- */

static void
connect_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GstP2pSimNet *self = user_data;

  self->rx = p2p_provider_connect_finish (P2P_PROVIDER (source), result,
      &self->connect_error);
  self->connect_done = TRUE;
}

static gboolean
link_ready (gpointer data)
{
  GstP2pSimNet *self = data;

  if (!self->tx) {
    g_autoptr (GError) err = NULL;

    self->tx = p2p_listener_accept (self->listener, NULL, &err);
    if (!self->tx && !g_error_matches (err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)
        && !self->connect_error)
      self->connect_error = g_steal_pointer (&err);
  }
  return self->connect_error != NULL || (self->connect_done && self->tx);
}

/* Closes the connections and drops the providers (context held). The network
 * stays for trace-hash and net-stats. */
static void
teardown_link (GstP2pSimNet *self)
{
  if (self->rx)
    g_signal_handlers_disconnect_by_data (self->rx, self);
  if (self->tx)
    p2p_connection_close (self->tx, "end of simulation");
  if (self->rx)
    p2p_connection_close (self->rx, "end of simulation");
  if (self->listener)
    p2p_listener_close (self->listener);
  if (self->net && (self->tx || self->rx || self->listener))
    p2p_sim_network_run_until_idle (self->net, SIMNET_CLOSE_NS);
  g_clear_object (&self->tx);
  g_clear_object (&self->rx);
  g_clear_object (&self->listener);
  g_clear_object (&self->tx_provider);
  g_clear_object (&self->rx_provider);
  if (self->net && !self->connect_done)
    p2p_sim_network_run_until_idle (self->net, SIMNET_CLOSE_NS);
  g_clear_error (&self->connect_error);
  g_clear_error (&self->rx_error);
  GST_OBJECT_LOCK (self);
  gst_p2p_receiver_reset (&self->receiver);
  gst_p2p_receiver_expect (&self->receiver, 0);     /* the sender is ours */
  GST_OBJECT_UNLOCK (self);
  self->connect_done = FALSE;
  self->eos_received = FALSE;
  self->n_sent = self->n_arrived = 0;
  self->tx_seqnum = 0;
  self->epochs = FALSE;
  self->tx_epoch = 0;
  self->base = 0;
}

/* Creates the network and connects the two ends (context held). Posts an
 * element error and returns FALSE on failure. */
static gboolean
setup_link (GstP2pSimNet *self)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pIdentity) tx_id = NULL, rx_id = NULL;
  g_autoptr (P2pConfig) cfg = NULL;
  g_autofree char *peer = NULL;
  P2pSimNetwork *net, *old;
  P2pSimLinkParams link;
  guint64 seed;

  if (self->env_error) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid network setting in the environment: %s", self->env_error->message),
        (NULL));
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  link = self->link;
  seed = self->seed;
  self->active_delivery = self->delivery;
  self->datagrams_sent = self->datagrams_too_big = 0;
  gst_p2p_receiver_reset_counters (&self->receiver);
  GST_OBJECT_UNLOCK (self);

  /* thread default = self->context */
  net = p2p_sim_network_new (seed);
  if (!p2p_sim_network_set_default_link (net, &link, &err)) {
    g_object_unref (net);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid link settings: %s", err->message), (NULL));
    return FALSE;
  }
  /* the hash of every packet event: equal hashes, equal runs on the link */
  p2p_sim_network_set_trace_limit (net, SIMNET_TRACE_LIMIT);
  p2p_sim_network_set_trace (net, TRUE);
  GST_OBJECT_LOCK (self);
  old = self->net;
  self->net = net;
  GST_OBJECT_UNLOCK (self);
  g_clear_object (&old);

  cfg = p2p_config_new ();
  tx_id = p2p_identity_new ();
  rx_id = p2p_identity_new ();
  self->tx_provider = p2p_sim_provider_new (net, tx_id, cfg);
  self->rx_provider = p2p_sim_provider_new (net, rx_id, cfg);
  self->listener = p2p_provider_listen (self->tx_provider, NULL, &err);
  if (!self->listener) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
        ("Cannot listen on the simulated network: %s", err->message), (NULL));
    return FALSE;
  }
  peer = p2p_identity_dup_peer_id_string (tx_id);
  self->connect_done = FALSE;
  p2p_provider_connect_async (self->rx_provider, peer, NULL, connect_cb, self);
  if (!p2p_sim_network_run_until_cond (net, link_ready, self, SIMNET_CONNECT_NS)
      || self->connect_error) {
    const char *why = self->connect_error ? self->connect_error->message :
        "no connection within 30 s of virtual time";

    /* a pending connect must complete before the providers go */
    if (!self->connect_done)
      p2p_sim_network_run_until_cond (net, link_ready, self, SIMNET_CONNECT_NS);
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
        ("The simulated link did not connect: %s", why),
        ("failure-rate %g, loss %g", link.failure_rate, link.loss));
    return FALSE;
  }
  g_signal_connect (self->rx, "datagram-received", G_CALLBACK (on_datagram),
      self);
  /* a datagram never overtakes an event sent before it (docs/protocol.md
   * §5.2) */
  self->epochs = self->active_delivery == GST_P2P_DELIVERY_DATAGRAM
      && p2p_connection_has_capability (self->rx, "datagram-epoch")
      && p2p_connection_has_capability (self->tx, "datagram-epoch");
  GST_OBJECT_LOCK (self);
  gst_p2p_receiver_use_epochs (&self->receiver, self->epochs);
  GST_OBJECT_UNLOCK (self);
  self->base = p2p_sim_network_now (net);
  GST_DEBUG_OBJECT (self, "link connected at %" G_GUINT64_FORMAT " ns",
      self->base);
  return TRUE;
}

/* ---- sending: called with the context held and the link up ---- */

typedef struct {
  GstP2pSimNet *self;
  GBytes *msg;
  gboolean sent;
  GError *error;
} SendOp;

static gboolean
try_send (gpointer data)
{
  SendOp *op = data;
  g_autoptr (GError) err = NULL;

  receive_messages (op->self);
  if (!op->sent) {
    if (p2p_connection_send (op->self->tx, op->msg, NULL, &err))
      op->sent = TRUE;
    else if (!g_error_matches (err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
      op->error = g_steal_pointer (&err);
  }
  return op->sent || op->error != NULL;
}

/* Sends one message on the reliable stream, running the network while the
 * send queue is full. */
static gboolean
send_message (GstP2pSimNet *self, GBytes *msg)
{
  SendOp op = { self, msg, FALSE, NULL };

  if (!try_send (&op))
    p2p_sim_network_run_until_cond (self->net, try_send, &op,
        SIMNET_SEND_NS);
  if (op.sent) {
    self->n_sent++;
    return TRUE;
  }
  GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
      ("The simulated link did not take a message: %s", op.error ?
          op.error->message : "send queue still full after 60 s of virtual "
          "time"), (NULL));
  g_clear_error (&op.error);
  return FALSE;
}

/* After an epoch-raising event: the DATAGRAM_EPOCH that says the stream
 * reached the next epoch. */
static gboolean
send_next_epoch (GstP2pSimNet *self)
{
  g_autoptr (GBytes) msg = gst_p2p_media_datagram_epoch_message (++self->tx_epoch);

  return send_message (self, msg);
}

static void
send_datagram (GstP2pSimNet *self, GstBuffer *buffer)
{
  g_autoptr (GBytes) msg = self->epochs ?
      gst_p2p_media_buffer_to_datagram_epoch (buffer, self->tx_seqnum++, self->tx_epoch) :
      gst_p2p_media_buffer_to_datagram (buffer, self->tx_seqnum++);
  g_autoptr (GError) err = NULL;

  GST_OBJECT_LOCK (self);
  self->datagrams_sent++;
  GST_OBJECT_UNLOCK (self);
  if (g_bytes_get_size (msg) > p2p_connection_get_max_datagram_size (self->tx)) {
    gboolean first;

    GST_WARNING_OBJECT (self, "buffer of %" G_GSIZE_FORMAT " bytes does not "
        "fit in a datagram: dropped (use delivery=reliable for big buffers)",
        gst_buffer_get_size (buffer));
    GST_OBJECT_LOCK (self);
    first = self->datagrams_too_big++ == 0;
    GST_OBJECT_UNLOCK (self);
    /* on the bus once (the stats count them all): a test that lost most
     * of its data otherwise had only a debug line to say why */
    if (first)
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE, ("Buffers of %" G_GSIZE_FORMAT
              " bytes do not fit in a datagram (at most %" G_GSIZE_FORMAT "): dropped; "
              "use delivery=reliable for big buffers", gst_buffer_get_size (buffer),
              p2p_connection_get_max_datagram_size (self->tx)), (NULL));
    return;
  }
  if (p2p_connection_send_datagram (self->tx, msg, &err))
    self->n_sent++;
  else
    GST_DEBUG_OBJECT (self, "datagram not sent: %s", err->message);
}

/* Runs the network until virtual time @t, receiving on the way. */
static void
run_to (GstP2pSimNet *self, guint64 t)
{
  guint64 now = p2p_sim_network_now (self->net);

  if (t > now)
    p2p_sim_network_run_until_cond (self->net, receive_step, self, t - now);
  p2p_sim_network_run_until (self->net, t);
  receive_messages (self);
}

/* Posts the receiver's error; returns the flow to give upstream. */
static GstFlowReturn
check_rx_error (GstP2pSimNet *self)
{
  if (!self->rx_error)
    return GST_FLOW_OK;
  GST_ELEMENT_ERROR (self, RESOURCE, READ,
      ("The simulated link failed: %s", self->rx_error->message), (NULL));
  self->failed = TRUE;
  return GST_FLOW_ERROR;
}

/* Makes sure the link is up (context held). */
static gboolean
ensure_link (GstP2pSimNet *self)
{
  if (self->failed)
    return FALSE;
  if (self->tx && self->rx)
    return TRUE;
  teardown_link (self);
  if (!setup_link (self)) {
    self->failed = TRUE;
    teardown_link (self);
    return FALSE;
  }
  return TRUE;
}

static GstClockTime
buffer_running_time (GstP2pSimNet *self, GstBuffer *buffer)
{
  GstClockTime ts = GST_BUFFER_DTS_OR_PTS (buffer);
  GstSegment *segment = NULL;
  GstEvent *ev;
  GstClockTime rt = GST_CLOCK_TIME_NONE;

  if (!GST_CLOCK_TIME_IS_VALID (ts))
    return GST_CLOCK_TIME_NONE;
  ev = gst_pad_get_sticky_event (self->sinkpad, GST_EVENT_SEGMENT, 0);
  if (!ev)
    return GST_CLOCK_TIME_NONE;
  gst_event_parse_segment (ev, (const GstSegment **) &segment);
  if (segment->format == GST_FORMAT_TIME)
    rt = gst_segment_to_running_time (segment, GST_FORMAT_TIME, ts);
  gst_event_unref (ev);
  return rt;
}

static GstFlowReturn
gst_p2p_sim_net_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstP2pSimNet *self = GST_P2P_SIM_NET (parent);
  GstClockTime rt = buffer_running_time (self, buffer);
  GstFlowReturn ret;

  if (!enter_context (self)) {
    gst_buffer_unref (buffer);
    return GST_FLOW_ERROR;
  }
  if (!ensure_link (self)) {
    ret = GST_FLOW_ERROR;
    goto out;
  }
  /* virtual time follows the data */
  if (GST_CLOCK_TIME_IS_VALID (rt))
    run_to (self, self->base + rt);
  if (self->active_delivery == GST_P2P_DELIVERY_DATAGRAM) {
    send_datagram (self, buffer);
  } else {
    GByteArray *out = g_byte_array_new ();
    g_autoptr (GBytes) msg = NULL;

    gst_p2p_media_append_buffer (out, buffer);
    msg = g_byte_array_free_to_bytes (out);
    if (!send_message (self, msg)) {
      self->failed = TRUE;
      ret = GST_FLOW_ERROR;
      goto out;
    }
  }
  receive_messages (self);
  /* no timestamp to follow (BYTES, untimed data): the network runs until
   * what was sent has arrived (a lost datagram: until UNTIMED_RUN_NS), so
   * the data flows through instead of waiting for the next timestamp or
   * EOS */
  if (!GST_CLOCK_TIME_IS_VALID (rt))
    p2p_sim_network_run_until_cond (self->net, all_arrived, self, UNTIMED_RUN_NS);
  ret = check_rx_error (self);
  if (ret == GST_FLOW_OK)
    ret = push_arrived (self, FALSE);

out:
  leave_context (self);
  gst_buffer_unref (buffer);
  return ret;
}

/* EOS: runs until the end of the stream has arrived (and the datagrams that
 * may still follow it), pushes everything. */
static GstFlowReturn
finish_stream (GstP2pSimNet *self)
{
  GstFlowReturn ret;

  /* a slow link may still carry a long backlog: what arrives meanwhile
   * goes downstream, and only 60 s of virtual time without anything
   * arriving is a failure (an absolute bound cut a 16 kbit/s link's
   * backlog and dropped what had arrived) */
  for (;;) {
    guint64 before = self->n_arrived;

    if (p2p_sim_network_run_until_cond (self->net, receive_until_eos, self,
            SIMNET_SEND_NS) || self->rx_error)
      break;
    if (self->n_arrived == before) {
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("The simulated link did not deliver the end of the stream: nothing "
              "arrived in 60 s of virtual time"), (NULL));
      self->failed = TRUE;
      return GST_FLOW_ERROR;
    }
    ret = push_arrived (self, FALSE);
    if (ret != GST_FLOW_OK)
      return ret;
  }
  ret = check_rx_error (self);
  if (ret != GST_FLOW_OK)
    return ret;
  if (self->active_delivery == GST_P2P_DELIVERY_DATAGRAM) {
    run_to (self, p2p_sim_network_now (self->net) + jitter_window (self));
    /* a loss at the tail shows no gap: the sender is ours, it knows the
     * last sequence number (counted when EOS leaves) */
    GST_OBJECT_LOCK (self);
    gst_p2p_receiver_note_datagram_seqnum (&self->receiver, self->tx_seqnum);
    GST_OBJECT_UNLOCK (self);
  }
  return push_arrived (self, TRUE);
}

static gboolean
gst_p2p_sim_net_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstP2pSimNet *self = GST_P2P_SIM_NET (parent);
  g_autoptr (GByteArray) out = NULL;
  gboolean ok = TRUE;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_FLUSH_STOP:
      /* a fresh link for what follows: nothing sent before the flush
       * arrives after it */
      if (enter_context (self)) {
        teardown_link (self);
        self->failed = FALSE;
        leave_context (self);
      }
      return gst_pad_push_event (self->srcpad, event);
    default:
      break;
  }
  if (!GST_EVENT_IS_SERIALIZED (event))
    return gst_pad_event_default (pad, parent, event);

  out = g_byte_array_new ();
  if (!gst_p2p_media_append_event (out, event)) {
    /* not carried over the wire, as with p2psink */
    GST_LOG_OBJECT (self, "not carried: %" GST_PTR_FORMAT, event);
    gst_event_unref (event);
    return TRUE;
  }
  if (!enter_context (self)) {
    gst_event_unref (event);
    return FALSE;
  }
  if (!ensure_link (self)) {
    ok = FALSE;
  } else {
    g_autoptr (GBytes) msg = g_byte_array_free_to_bytes (g_steal_pointer (&out));

    if (!send_message (self, msg)) {
      self->failed = TRUE;
      ok = FALSE;
    } else if (self->epochs && gst_p2p_media_event_raises_epoch (event)
        && !send_next_epoch (self)) {
      self->failed = TRUE;
      ok = FALSE;
    } else if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
      ok = finish_stream (self) == GST_FLOW_OK;
    } else {
      receive_messages (self);
      ok = check_rx_error (self) == GST_FLOW_OK;
      if (ok)
        push_arrived (self, FALSE);
    }
  }
  leave_context (self);
  gst_event_unref (event);
  return ok;
}

static gboolean
gst_p2p_sim_net_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstP2pSimNet *self = GST_P2P_SIM_NET (parent);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    gboolean live, datagram;
    GstClockTime min, max, extra;

    if (!gst_pad_peer_query (self->sinkpad, query))
      return FALSE;
    gst_query_parse_latency (query, &live, &min, &max);
    GST_OBJECT_LOCK (self);
    extra = (GstClockTime) (self->link.latency_ms + self->link.jitter_ms) *
        GST_MSECOND;
    datagram = self->delivery == GST_P2P_DELIVERY_DATAGRAM;
    GST_OBJECT_UNLOCK (self);
    /* a datagram may also wait in the jitter buffer for the ones before it
     * (before: sync sinks got reordered datagrams late, by up to 36 ms with
     * latency=40 jitter=15 reorder=0.1) */
    if (datagram)
      extra += jitter_window (self);
    min += extra;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += extra;
    gst_query_set_latency (query, live, min, max);
    return TRUE;
  }
  return gst_pad_query_default (pad, parent, query);
}

/* Drops the link and the network (object lock: get_property reads it). */
static void
clear_all (GstP2pSimNet *self, gboolean keep_net)
{
  P2pSimNetwork *net = NULL;

  if (enter_context (self)) {
    teardown_link (self);
    leave_context (self);
  }
  self->failed = FALSE;
  if (keep_net)
    return;
  GST_OBJECT_LOCK (self);
  net = g_steal_pointer (&self->net);
  GST_OBJECT_UNLOCK (self);
  g_clear_object (&net);
}

static GstStateChangeReturn
gst_p2p_sim_net_change_state (GstElement *element, GstStateChange transition)
{
  GstP2pSimNet *self = GST_P2P_SIM_NET (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    P2pSimLinkParams link;
    g_autoptr (GError) err = NULL;

    /* at once, not at the first data */
    if (self->env_error) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("Invalid network setting in the environment: %s", self->env_error->message),
          (NULL));
      return GST_STATE_CHANGE_FAILURE;
    }
    GST_OBJECT_LOCK (self);
    link = self->link;
    GST_OBJECT_UNLOCK (self);
    if (!p2p_sim_link_params_validate (&link, &err)) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("Invalid link settings: %s", err->message), (NULL));
      return GST_STATE_CHANGE_FAILURE;
    }
  }
  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  /* the pads are inactive now: no streaming thread holds the context */
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    clear_all (self, TRUE);
  else if (transition == GST_STATE_CHANGE_READY_TO_NULL)
    clear_all (self, FALSE);
  return ret;
}

static void
gst_p2p_sim_net_finalize (GObject *object)
{
  GstP2pSimNet *self = GST_P2P_SIM_NET (object);

  g_clear_object (&self->net);
  g_main_context_unref (self->context);
  g_clear_error (&self->env_error);
  g_free (self->network_name);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_p2p_sim_net_class_init (GstP2pSimNetClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->set_property = gst_p2p_sim_net_set_property;
  gobject_class->get_property = gst_p2p_sim_net_get_property;
  gobject_class->finalize = gst_p2p_sim_net_finalize;

  gst_p2p_sim_net_install_properties (gobject_class);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "P2P simulated link",
      "Filter/Network", "p2psink's encoding, a deterministic simulated network "
      "with latency, jitter, loss and bandwidth, and p2psrc's decoding, in "
      "the streaming thread on virtual time",
      "gst-p2p developers");
  element_class->change_state = gst_p2p_sim_net_change_state;
}

static void
gst_p2p_sim_net_init (GstP2pSimNet *self)
{
  static gint counter = 0;

  self->network_name = g_strdup_printf ("p2psimnet-%d",
      g_atomic_int_add (&counter, 1));
  self->context = g_main_context_new ();
  gst_p2p_sim_net_init_settings (self);
  self->delivery = GST_P2P_DELIVERY_RELIABLE;
  self->active_delivery = GST_P2P_DELIVERY_RELIABLE;
  gst_p2p_receiver_init (&self->receiver, GST_OBJECT (self), gst_p2p_sim_net_debug, 0);
  gst_p2p_receiver_expect (&self->receiver, 0);

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, gst_p2p_sim_net_chain);
  gst_pad_set_event_function (self->sinkpad, gst_p2p_sim_net_sink_event);
  GST_PAD_SET_PROXY_CAPS (self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, gst_p2p_sim_net_src_query);
  GST_PAD_SET_PROXY_CAPS (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}
