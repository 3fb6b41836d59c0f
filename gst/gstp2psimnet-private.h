/* gstp2psimnet-private.h (internal): what the files of p2psimnet share:
 * the element's fields and the functions of gstp2psimnet-props.c (its
 * settings, properties and net-stats). gstp2psimnet.c: the element (the
 * link, sending, receiving, pads and states).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstp2psimnet.h"
#include "gstp2pobject.h"
#include "gstp2preceiver.h"
#include "p2p/p2p-sim.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_p2p_sim_net_debug);

struct _GstP2pSimNet {
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;
  char *network_name;
  GMainContext *context;        /* the network's, held while working */
  GError *env_error;            /* SIMULATOR_P2P_* (or P2P_*) unreadable */

  /* object lock: read by get_property */
  P2pSimNetwork *net;

  /* the link (streaming thread, or state changes with the pads inactive) */
  P2pProvider *tx_provider, *rx_provider;
  P2pListener *listener;
  P2pConnection *tx, *rx;
  P2pConnection *accepted_tmp;
  GError *connect_error;
  gboolean connect_done;
  gboolean failed;
  guint64 base;                 /* virtual ns at running time 0 */
  guint64 tx_seqnum;
  /* datagram delivery with capability "datagram-epoch" (both ends are
   * ours): epoch-raising events sent on this link */
  gboolean epochs;
  guint64 tx_epoch;
  /* decoded events and buffers from the stream in arrival order, and the
   * datagrams (arrival in virtual ns); object lock: get_property reads its
   * counters datagrams-lost and datagrams-late */
  GstP2pReceiver receiver;
  gboolean eos_received;
  /* messages and datagrams sent and arrived on this link: an untimed
   * buffer runs the network until what was sent has arrived */
  guint64 n_sent, n_arrived;
  GError *rx_error;
  GstP2pDelivery active_delivery;

  /* statistics (object lock) */
  guint64 datagrams_sent, datagrams_too_big;

  /* properties (object lock) */
  P2pSimLinkParams link;
  guint64 seed;
  GstP2pDelivery delivery;
};

/* gstp2psimnet-props.c */

/* The link's defaults: the SIMULATOR_P2P_* variables (init). */
void gst_p2p_sim_net_init_settings (GstP2pSimNet *self);
void gst_p2p_sim_net_install_properties (GObjectClass *gobject_class);
void gst_p2p_sim_net_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec);
void gst_p2p_sim_net_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec);

G_END_DECLS
