/* p2p-packet-path.h: "send a datagram / a datagram arrived / MTU / path kind /
 * time / close": the one environment a QUIC session runs in.
 *
 * Implementations: P2pSocketPath (one remote over a datagram socket: UDP in
 * real time, or the simulator's socket in virtual time), the ICE path
 * (libnice), and in the tests P2pMemPath (an in-memory pair). A path also owns the session's time domain: now() and one timer,
 * so the same session code runs on real sockets and on virtual time.
 *
 * Threads: every call and every callback of a path happens on the path's
 * GMainContext (p2p_packet_path_get_context()), the network thread of its
 * provider. Not installed: applications see P2pPathKind only (in
 * p2p-connection-stats.h); the ICE module links to the library for the
 * functions marked P2P_INTERNAL_EXPORT.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include "p2p/p2p-connection-stats.h"

G_BEGIN_DECLS

#define P2P_TYPE_PACKET_PATH (p2p_packet_path_get_type ())
P2P_INTERNAL_EXPORT G_DECLARE_DERIVABLE_TYPE (P2pPacketPath, p2p_packet_path, P2P, PACKET_PATH, GObject)

/* Called on the path's context for each datagram that arrived. */
typedef void (*P2pPacketPathReceiveFunc) (P2pPacketPath *path, const guint8 *data,
    gsize len, gpointer user_data);
/* Called on the path's context when the timer set by set_timer() fires. */
typedef void (*P2pPacketPathTimerFunc) (P2pPacketPath *path, gpointer user_data);

struct _P2pPacketPathClass {
  GObjectClass parent_class;

  /* Sends one datagram. Returns FALSE (and may set @error) if it was not
   * sent; datagram semantics: the caller treats that as loss. */
  gboolean (*send) (P2pPacketPath *self, const guint8 *data, gsize len, GError **error);
  /* Largest datagram payload this path carries (bytes). */
  gsize (*get_mtu) (P2pPacketPath *self);
  P2pPathKind (*get_kind) (P2pPacketPath *self);
  /* Current time of this path's time domain, in nanoseconds. */
  guint64 (*now) (P2pPacketPath *self);
  /* Arms the single timer for @deadline_ns (path time); G_MAXUINT64 disarms.
   * A deadline in the past fires as soon as the context runs. */
  void (*set_timer) (P2pPacketPath *self, guint64 deadline_ns);
  /* Stops delivering and sending; idempotent. */
  void (*close) (P2pPacketPath *self);
  /* (transfer full) (nullable) human readable remote end, e.g. "127.0.0.1:8800". */
  char *(*describe_remote) (P2pPacketPath *self);
  /* Sends @len bytes as datagrams of @segment bytes each (the last may be
   * shorter) in one go where the path can (UDP GSO); NULL: one send() per
   * datagram. Returns FALSE if they were not all sent (loss). */
  gboolean (*send_segments) (P2pPacketPath *self, const guint8 *data, gsize len,
      gsize segment, GError **error);
  /* The same to @route, one of the remote addresses this path learnt
   * (p2p_packet_path_deliver_on()); NULL: the path has route 0 only. */
  gboolean (*send_segments_on) (P2pPacketPath *self, guint32 route, const guint8 *data,
      gsize len, gsize segment, GError **error);

  gpointer padding[6];
};

P2P_INTERNAL_EXPORT gboolean p2p_packet_path_send (P2pPacketPath *self, const guint8 *data, gsize len, GError **error);
/* @len bytes as datagrams of @segment bytes (the last may be shorter). */
P2P_INTERNAL_EXPORT gboolean p2p_packet_path_send_segments (P2pPacketPath *self,
    const guint8 *data, gsize len, gsize segment, GError **error);
/* The same to @route (see "Routes" below). */
P2P_INTERNAL_EXPORT gboolean p2p_packet_path_send_segments_on (P2pPacketPath *self,
    guint32 route, const guint8 *data, gsize len, gsize segment, GError **error);
P2P_INTERNAL_EXPORT gsize p2p_packet_path_get_mtu (P2pPacketPath *self);
P2P_INTERNAL_EXPORT P2pPathKind p2p_packet_path_get_kind (P2pPacketPath *self);
P2P_INTERNAL_EXPORT guint64 p2p_packet_path_now (P2pPacketPath *self);
P2P_INTERNAL_EXPORT void p2p_packet_path_set_timer (P2pPacketPath *self, guint64 deadline_ns);
P2P_INTERNAL_EXPORT void p2p_packet_path_close (P2pPacketPath *self);
P2P_INTERNAL_EXPORT char *p2p_packet_path_describe_remote (P2pPacketPath *self);
/* The context all callbacks of this path run on (transfer none). */
P2P_INTERNAL_EXPORT GMainContext *p2p_packet_path_get_context (P2pPacketPath *self);

/* Installs the owner's callbacks (one owner per path). */
P2P_INTERNAL_EXPORT void p2p_packet_path_set_handlers (P2pPacketPath *self,
    P2pPacketPathReceiveFunc on_receive, P2pPacketPathTimerFunc on_timer,
    gpointer user_data, GDestroyNotify notify);

/* For implementations: deliver an arrived datagram / a timer expiry to the owner. */
P2P_INTERNAL_EXPORT void p2p_packet_path_deliver (P2pPacketPath *self, const guint8 *data, gsize len);
/* Routes: a path may learn further remote addresses of its peer (a NAT
 * that rebound, a peer on a new network); it numbers them (0 = the address
 * it started with) and delivers what comes from one with
 * p2p_packet_path_deliver_on(). The receive handler reads the route with
 * p2p_packet_path_get_rx_route() (0 outside a delivery); the QUIC session
 * decides, after path validation, where to answer, and the owner sends
 * there with p2p_packet_path_send_segments_on(). */
P2P_INTERNAL_EXPORT void p2p_packet_path_deliver_on (P2pPacketPath *self, guint32 route,
    const guint8 *data, gsize len);
P2P_INTERNAL_EXPORT guint32 p2p_packet_path_get_rx_route (P2pPacketPath *self);
P2P_INTERNAL_EXPORT void p2p_packet_path_fire_timer (P2pPacketPath *self);
/* For implementations: the route under this path changed (another ICE
 * pair, a migrated address, ...): emits "path-changed" (@old_kind, the
 * kind now reported by get_kind). The one way every path announces a
 * change; the connection above relays it to its users. */
P2P_INTERNAL_EXPORT void p2p_packet_path_announce_change (P2pPacketPath *self,
    P2pPathKind old_kind);

/* The "context" construct-only property is the GMainContext (default: thread
 * default at construction). Signal "path-changed" (P2pPathKind old_kind,
 * P2pPathKind new_kind), on that context; the kinds may be equal (a direct
 * path that moved to another address). */

G_END_DECLS
