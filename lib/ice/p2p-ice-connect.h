/* p2p-ice-connect.h (internal): QUIC over ICE, set up through a rendezvous.
 *
 * Dialer (p2p_ice_connect_async): gather → signed "ice-offer" to the peer
 * → its "ice-answer" → connectivity checks (controlling) → QUIC dial over
 * the P2pIcePath, expecting the peer's key.
 * Listener (P2pIceResponder): for each verified "ice-offer", a
 * non-controlling P2pIcePath, gather → "ice-answer" → checks; the first
 * datagram over the path starts a server P2pQuicConnection, handed to the
 * accept callback once it is established (authenticated).
 *
 * Offer/answer payloads (JSON text carried in a signed signal; signaling
 * version 2, docs/protocol.md §7):
 *   {"kind":"ice-offer"|"ice-answer","session":HEX,"ts":MS,"nonce":HEX32,
 *    "ufrag":S,"pwd":S,"candidates":["a=candidate:...", ...]}
 *   {"kind":"ice-error","session":HEX,"ts":MS,"message":S}
 * ts: the sender's clock, milliseconds since 1970. An offer's nonce is 16
 * random bytes; the answer echoes it and the dialer ignores an answer that
 * does not. The responder refuses offers outside ±P2P_ICE_OFFER_WINDOW_MS
 * (ice-error) and drops offers whose nonce it has seen (no answer, no
 * gathering).
 *
 * Threads: everything on the context of the P2pSignaling (the thread
 * default context of its creator: the network thread).
 *
 * Code: p2p-ice-payload.c (payloads), p2p-ice-replay.c (offer freshness
 * and replay), p2p-ice-dialer.c, p2p-ice-responder.c, p2p-ice-service.c;
 * what they share: p2p-ice-connect-private.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-connection.h"
#include "p2p/p2p-config.h"
#include "p2p-signaling.h"
#include "p2p-quic-connection.h"

G_BEGIN_DECLS

/* Offers whose timestamp is further than this from the responder's clock
 * are refused (ms): bounds how long a recorded offer can be replayed and
 * how long its nonce must be remembered. */
#define P2P_ICE_OFFER_WINDOW_MS 60000
/* Most offer nonces responders remember, all senders together (≈ 150
 * bytes each); beyond, the oldest is forgotten and offers from its sender
 * not newer than it are refused. */
#define P2P_ICE_NONCE_CACHE_MAX 4096
/* Most offer nonces remembered per sender and listener; beyond, that
 * sender's oldest is forgotten and its offers not newer than it are
 * refused (a flooding sender locks out only itself). */
#define P2P_ICE_NONCE_CACHE_PER_SENDER 64
/* An offer nonce: 16 random bytes in lower-case hex. */
#define P2P_ICE_NONCE_HEX_LEN 32

/* One parsed offer/answer/error payload (internal; exposed for tests and
 * tests/fuzz/fuzz-ice-payload.c). */
typedef struct {
  char *kind, *session;           /* always set */
  char *ufrag, *pwd, *message;    /* nullable */
  char *nonce;                    /* nullable; else P2P_ICE_NONCE_HEX_LEN hex digits */
  gint64 ts_ms;
  gboolean has_ts;
  GStrv candidates;               /* at most 65 (the path refuses more than 64) */
} P2pIcePayload;

/* Parses @len bytes (need not be NUL-terminated) through p2p_json_parse()
 * (strict JSON, nesting ≤ P2P_JSON_MAX_DEPTH). Errors: PROTOCOL naming the
 * field, LIMIT_EXCEEDED (over P2P_JSON_MAX_SIZE). Clear @p in every case. */
gboolean p2p_ice_payload_parse (const char *text, gsize len, P2pIcePayload *p, GError **error);
void p2p_ice_payload_clear (P2pIcePayload *p);

/* Dials @peer through @signaling (registered) and ICE. Errors:
 * PEER_NOT_FOUND (not registered at the rendezvous), CONNECTION_FAILED (no
 * candidate pair works: names the candidate types tried), TIMEOUT (no
 * answer), AUTHENTICATION_FAILED (wrong key), INVALID_ARGUMENT (bad
 * STUN/TURN configuration), G_IO_ERROR_CANCELLED. @qcfg may be NULL. */
void p2p_ice_connect_async (P2pSignaling *signaling, P2pIdentity *identity,
    const P2pConfig *config, const P2pPeerId *peer, const P2pQuicSessionConfig *qcfg,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
P2pConnection *p2p_ice_connect_finish (GAsyncResult *result, GError **error);

/* A P2pIceService watches the connections it dialed: after a third of
 * P2P_ICE_RESTART_MS (P2pConfig.ice_restart_ms) without a packet it sends
 * a PING; if nothing arrives within the rest of it (or the ICE pair
 * failed) it re-dials (p2p_ice_reconnect_async), up to
 * P2P_ICE_RESTART_ATTEMPTS times in a row. Connections are looked at every P2P_ICE_RESTART_TICK_MS. */
#define P2P_ICE_RESTART_TICK_MS 100
/* With no rendezvous (or other carrier) registered, how long a restart
 * waits for the registration made again before giving up. */
#define P2P_ICE_RESTART_REGISTER_WAIT_MS 10000
/* PINGs after a move, one a tick, until the peer answers. */
#define P2P_ICE_RESTART_CONFIRM_PINGS 20

/* ICE restart under a live connection: re-dials the peer of @conn (a
 * client connection from p2p_ice_connect_async) through @signaling with a
 * new ICE session (fresh credentials, candidates and checks), then moves
 * @conn onto the new path (p2p_quic_connection_replace_path: no new QUIC
 * handshake; a PING goes out on it). The responder recognises its
 * connection by that short-header packet (its DCID) and moves it too,
 * only if the signed offer came from the connection's own peer. Errors:
 * those of p2p_ice_connect_async, and of replace_path (CLOSED: the
 * connection closed meanwhile). The responder's side completes when the
 * PING arrives. */
void p2p_ice_reconnect_async (P2pSignaling *signaling, P2pIdentity *identity,
    const P2pConfig *config, P2pQuicConnection *conn, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data);
gboolean p2p_ice_reconnect_finish (GAsyncResult *result, GError **error);

/* What ICE responders did with the offers they got (network thread; for
 * tests and monitoring). A responder counts into its own, or into its
 * service's (the sum over every responder the service had). */
typedef struct {
  guint offers_ignored;         /* signals from peers outside the allow-list: no answer */
  guint agents_started;         /* ICE agents (P2pIcePath) created to answer an offer */
  guint offers_replayed;        /* offers dropped as replays (nonce seen) */
  guint offers_stale;           /* offers refused as stale (or without ts/nonce) */
  guint restarts;               /* accepted connections moved onto a new path (ICE restart) */
} P2pIceCounters;

typedef struct _P2pIceResponder P2pIceResponder;

/* Called with each established (authenticated) server connection (transfer
 * none: ref it to keep it). */
typedef void (*P2pIceAcceptFunc) (P2pConnection *connection, gpointer user_data);

/* Answers offers arriving on @signaling. @allowed: NULL (anyone) or a
 * P2pPeerId* array (allow-list): an offer from another peer is dropped
 * without any answer, before any gathering, TURN allocation or check, and
 * the QUIC handshake over an ICE path checks the list again. At most
 * @max_pending ICE/QUIC setups at once (0 = 16). */
P2pIceResponder *p2p_ice_responder_new (P2pSignaling *signaling, P2pIdentity *identity,
    const P2pConfig *config, const P2pQuicSessionConfig *qcfg, GPtrArray *allowed,
    guint max_pending, P2pIceAcceptFunc func, gpointer user_data);
/* Stops answering and drops setups in progress. */
void p2p_ice_responder_free (P2pIceResponder *self);
/* Tests: the nonce cache's capacity (0 = P2P_ICE_NONCE_CACHE_MAX); empties it. */
void p2p_ice_set_nonce_cache_max (guint max);
/* Tests: adds @ms to the clock offers are checked against (a clock step). */
void p2p_ice_set_clock_skew (gint64 ms);
/* Offers that started a setup (gathering), offers dropped as replays,
 * offers refused as stale (or without timestamp/nonce). Each nullable. */
void p2p_ice_responder_get_counts (P2pIceResponder *self, guint *started, guint *replayed,
    guint *stale);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (P2pIceResponder, p2p_ice_responder_free)

G_END_DECLS

G_BEGIN_DECLS

/* ---- P2pIceService: what a provider needs, in one object ----
 * A registration at every rendezvous server of @config->bootstrap_peers
 * (its ws:// and wss:// entries: p2p_config_dup_rendezvous_urls()),
 * made on first use and remade (every 2 s) after a server drops us while
 * accepting; dials by peer ID through them (one after the other, the first
 * connection wins) and answers offers from each. Create, use and free it
 * on the provider's network thread (its thread-default context). */
typedef struct _P2pIceService P2pIceService;

/* What the service's responders did with the offers they got (network
 * thread; for tests and monitoring). */

/* NULL + INVALID_ARGUMENT when @config has neither a rendezvous URL nor
 * a dht:// entry (the caller adds the DHT: p2p_ice_service_add_signaling). */
P2pIceService *p2p_ice_service_new (P2pIdentity *identity, const P2pConfig *config,
    const P2pQuicSessionConfig *qcfg, GError **error);
/* Adds @signaling, another carrier (p2p_signaling_new_external: the
 * DHT), after the rendezvous servers: dials go through it in that order,
 * and offers arriving on it are answered while accepting. The service
 * holds a reference and closes it when freed. */
void p2p_ice_service_add_signaling (P2pIceService *self, P2pSignaling *signaling);
/* Registers if needed, then p2p_ice_connect_async(); same errors, plus
 * NETWORK / TIMEOUT / AUTHENTICATION_FAILED from the registration. */
void p2p_ice_service_connect_async (P2pIceService *self, const P2pPeerId *peer,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
P2pConnection *p2p_ice_service_connect_finish (P2pIceService *self, GAsyncResult *result,
    GError **error);
/* Starts answering offers (registers in the background); @func gets each
 * established connection. Idempotent. */
void p2p_ice_service_start_accepting (P2pIceService *self, GPtrArray *allowed, guint max_pending,
    P2pIceAcceptFunc func, gpointer user_data);
/* Stops answering offers: later offers (from allowed peers) get an
 * "ice-error" (the dialer fails at once with CONNECTION_FAILED "... not
 * accepting connections"); setups
 * already in progress still complete through the accept callback. The
 * registration stays for dialing, but is not remade after losing the
 * server. start_accepting() may be called again. Idempotent. */
void p2p_ice_service_stop_accepting (P2pIceService *self);
/* Registers if needed and completes once registered at one server (TRUE;
 * at once when only other carriers are configured),
 * or, when every server failed, with the registration's error (NETWORK / TIMEOUT / AUTHENTICATION_FAILED), or
 * CLOSED when the service is freed first. */
void p2p_ice_service_register_async (P2pIceService *self, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data);
gboolean p2p_ice_service_register_finish (P2pIceService *self, GAsyncResult *result,
    GError **error);
gboolean p2p_ice_service_is_registered (P2pIceService *self);
void p2p_ice_service_get_counters (P2pIceService *self, P2pIceCounters *out);
void p2p_ice_service_free (P2pIceService *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (P2pIceService, p2p_ice_service_free)

G_END_DECLS
