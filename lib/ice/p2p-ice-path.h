/* p2p-ice-path.h (internal): a P2pPacketPath over one libnice ICE component
 * (RFC 8445 full ICE: host, server-reflexive and TURN-relayed candidates).
 *
 * Life of a path: p2p_ice_path_new() → p2p_ice_path_gather_async() →
 * p2p_ice_path_get_local_description() (sent to the peer through signaling)
 * → p2p_ice_path_set_remote_description() (the peer's) →
 * p2p_ice_path_connect_async() (connectivity checks; completes when a pair
 * is selected, or fails with P2P_ERROR_CONNECTION_FAILED naming the
 * candidate types tried) → datagrams via the P2pPacketPath API.
 * Nomination is aggressive and connect completes as soon as a pair is
 * selected (CONNECTED), not when every check has finished (READY).
 * Datagrams sent before this side has a selected pair (up to 16) are held
 * and sent, in order, once it has one; beyond that send() fails (NETWORK).
 *
 * The path kind follows the selected pair (a relayed candidate on either end
 * → P2P_PATH_KIND_RELAY, else DIRECT); every later switch to another pair
 * is announced ("path-changed", p2p_packet_path_announce_change()): with a
 * TURN relay configured the path is usable on the first pair that works,
 * often relayed, and moves to a direct pair when its checks succeed later
 * (see the nomination notes in p2p-ice-path.c). now() / set_timer() run on real monotonic time with a
 * GSource on the path's context.
 *
 * Threads: everything (creation included) on the context given to
 * p2p_ice_path_new(), the provider's network thread.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-packet-path.h"
#include "p2p/p2p-config.h"
#include "p2p-mtu.h"

G_BEGIN_DECLS

/* Datagram payload limit of an ICE path: safe across TURN (RFC 8656 overhead
 * of 36 bytes on a 1280-byte IPv6 minimum MTU, with room for tunnels). */
#define P2P_ICE_PATH_MTU 1200
/* Largest datagram send() accepts: P2P_INTERNET_MTU (p2p-mtu.h), the size
 * QUIC handshake packets are written at before the session applies the path
 * MTU (fits a 1500-byte link with IPv4/UDP and a 4-byte TURN ChannelData
 * header). */

/* Default bound on connectivity checks, milliseconds. */
#define P2P_ICE_PATH_DEFAULT_TIMEOUT_MS 15000

#define P2P_TYPE_ICE_PATH (p2p_ice_path_get_type ())
G_DECLARE_FINAL_TYPE (P2pIcePath, p2p_ice_path, P2P, ICE_PATH, P2pPacketPath)

/* Creates the agent on @context (NULL = thread default), one stream with one
 * component. STUN: the first of @config->stun_servers; TURN: every entry of
 * @config->relay_servers (turn://USER:PASS@IP:PORT[?transport=tcp|udp]);
 * @config->relay_policy RELAY_ONLY keeps only relayed candidates (local and
 * remote). @controlling: TRUE for the dialer. Errors: INVALID_ARGUMENT for a
 * malformed STUN/TURN entry (naming it), RELAY_ONLY without any relay. */
P2pIcePath *p2p_ice_path_new (GMainContext *context, const P2pConfig *config,
    gboolean controlling, GError **error);

/* Restricts host candidates to @ip (may be called several times before
 * gathering; default: every non-loopback interface, plus the loopback
 * address of a STUN/TURN server configured on 127.0.0.1 or ::1, so coturn
 * on the same machine works). Tests use "127.0.0.1".
 * FALSE + INVALID_ARGUMENT if @ip is not an IP address. */
gboolean p2p_ice_path_add_local_address (P2pIcePath *self, const char *ip, GError **error);

/* A label for the peer used in error messages ("no path to peer LABEL: ..."). */
void p2p_ice_path_set_peer_label (P2pIcePath *self, const char *label);

/* Gathers local candidates; completes (on the context) when gathering is
 * done. Errors: NETWORK (no local address could be bound), CLOSED,
 * G_IO_ERROR_CANCELLED. */
void p2p_ice_path_gather_async (P2pIcePath *self, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data);
gboolean p2p_ice_path_gather_finish (P2pIcePath *self, GAsyncResult *result, GError **error);

/* After gathering: the local ICE ufrag, password and candidate lines
 * ("a=candidate:..." SDP attribute form), filtered by the relay policy.
 * All (transfer full); FALSE if gathering has not completed. */
gboolean p2p_ice_path_get_local_description (P2pIcePath *self, char **ufrag, char **pwd,
    GStrv *candidates);

/* Sets the peer's credentials and candidates. Candidates that do not parse
 * are skipped (counted); with RELAY_ONLY non-relayed candidates are dropped.
 * Errors: INVALID_ARGUMENT (missing ufrag/pwd, over 64 candidates, a
 * candidate line longer than 512 bytes). May be called before gathering
 * completes. */
gboolean p2p_ice_path_set_remote_description (P2pIcePath *self, const char *ufrag,
    const char *pwd, const char *const *candidates, GError **error);

/* Runs connectivity checks until a pair is selected (READY) or they fail or
 * @timeout_ms (0 = P2P_ICE_PATH_DEFAULT_TIMEOUT_MS) expires. Requires the
 * remote description. Error: CONNECTION_FAILED "no path to peer X: tried
 * host, server-reflexive and relayed candidates (N local, M remote); check
 * the TURN server", CLOSED, G_IO_ERROR_CANCELLED. */
void p2p_ice_path_connect_async (P2pIcePath *self, guint timeout_ms, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data);
gboolean p2p_ice_path_connect_finish (P2pIcePath *self, GAsyncResult *result, GError **error);

/* TRUE once a pair is selected and datagrams can flow. */
gboolean p2p_ice_path_is_connected (P2pIcePath *self);

/* TRUE once the checks failed, or the selected pair stopped answering
 * (libnice's component state FAILED). */
gboolean p2p_ice_path_has_failed (P2pIcePath *self);

/* Number of local / remote candidates (after policy filtering). */
guint p2p_ice_path_get_n_local_candidates (P2pIcePath *self);
guint p2p_ice_path_get_n_remote_candidates (P2pIcePath *self);

/* Parses one relay URL turn://USER:PASS@HOST:PORT[?transport=udp|tcp].
 * All outputs (transfer full); @tcp is TRUE for transport=tcp. */
gboolean p2p_ice_parse_turn_url (const char *url, char **user, char **pass, char **host,
    guint16 *port, gboolean *tcp, GError **error);

/* A STUN or TURN server given by host name is resolved (GResolver, first
 * address) when the path is created, since libnice takes only IP
 * addresses; a lookup that does not answer within this bound is an error
 * naming the host. */
#define P2P_ICE_RESOLVE_TIMEOUT_MS 5000

/* Tests only: another bound for the lookups (0 = the default). */
void p2p_ice_set_resolve_timeout_for_testing (guint ms);

/* The agent's STUN server (transfer full) and its port (nullable output),
 * NULL if it has none. */
char *p2p_ice_path_get_stun_server (P2pIcePath *self, guint *port);

/* Of two or more STUN servers, libnice's agent gets the earliest listed
 * one that answered a Binding request within P2P_STUN_CHECK_WINDOW_MS
 * (p2p-stun-check.c); the check runs in the background, its result is
 * kept P2P_STUN_CHECK_TTL_S, then checked again on next use. */
#define P2P_STUN_CHECK_WINDOW_MS 500
#define P2P_STUN_CHECK_TTL_S 60

/* Starts the check of @config's STUN servers if none is recent (two or
 * more servers), without waiting for it. Any thread. */
void p2p_ice_check_stun_servers (const P2pConfig *config);

/* Tests only: TRUE while a check runs; the result of the last check of
 * @servers: index of the server chosen, -1 none answered, -2 no check
 * ended (*@took_ms its duration); forget every result (when none runs)
 * and keep the next ones @ttl_s (0 = P2P_STUN_CHECK_TTL_S). */
gboolean p2p_ice_stun_check_busy_for_testing (void);
int p2p_ice_stun_check_result_for_testing (const char *const *servers, guint *took_ms);
void p2p_ice_stun_check_reset_for_testing (guint ttl_s);

G_END_DECLS
