/* p2p-ice-connect-private.h (internal): what the files of the ICE
 * offer/answer flow share beyond p2p-ice-connect.h: the payloads
 * (p2p-ice-payload.c), the offers' freshness and replay check
 * (p2p-ice-replay.c), the QUIC session configuration over ICE, and what
 * the service (p2p-ice-service.c) sets on its responder
 * (p2p-ice-responder.c). The dialer is p2p-ice-dialer.c. Threads: as in
 * p2p-ice-connect.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-ice-connect.h"
#include "p2p-ice-path.h"

G_BEGIN_DECLS

/* ---- payloads (p2p-ice-payload.c) ---- */

/* Parses an ICE payload; FALSE if it is not one (other payloads are
 * ignored, with a debug message). */
gboolean p2p_ice_payload_parse_signal (const char *text, P2pIcePayload *p);
/* Writes a fresh offer nonce (16 random bytes in lower-case hex). */
void p2p_ice_random_nonce (char out[P2P_ICE_NONCE_HEX_LEN + 1]);
/* Every payload carries "ts" (our clock, ms since 1970); @nonce (nullable):
 * an offer's own, echoed in its answer; @path (nullable): its local
 * description (ufrag, pwd, candidates); @message nullable. */
char *p2p_ice_payload_build_full (const char *kind, const char *session, const char *nonce,
    P2pIcePath *path, const char *message);
/* p2p_ice_payload_build_full() without a nonce. */
char *p2p_ice_payload_build (const char *kind, const char *session, P2pIcePath *path,
    const char *message);

/* ---- offer freshness and replay (p2p-ice-replay.c) ---- */

typedef enum {
  P2P_ICE_OFFER_FRESH,
  P2P_ICE_OFFER_STALE,
  P2P_ICE_OFFER_REPLAYED
} P2pIceOfferCheck;

/* Checks an offer's timestamp and nonce against the process-wide cache of
 * sender @key ("TO/FROM": this listener, the signed sender) and, if fresh,
 * remembers its nonce. Unless fresh, *why gets a reason for the peer. Any
 * thread. */
P2pIceOfferCheck p2p_ice_offer_check (const char *key, const P2pIcePayload *p, char **why);

/* ---- QUIC over an ICE path ---- */

/* @in (NULL: the defaults) with the datagram size an ICE path carries. */
static inline void
p2p_ice_session_config (const P2pQuicSessionConfig *in, P2pQuicSessionConfig *out)
{
  if (in)
    *out = *in;
  else
    p2p_quic_session_config_init (out);
  out->max_udp_payload = P2P_ICE_PATH_MTU;
}

/* ---- what the service sets on its responder (p2p-ice-responder.c) ---- */

/* The responder counts into @counters (not owned) instead of its own. */
void p2p_ice_responder_set_counters (P2pIceResponder *self, P2pIceCounters *counters);
/* The accepted connections an ICE restart may move (weak references to
 * P2pQuicConnection): one list per responder, or one shared by a
 * service's responders (a restart may come through another carrier). */
GPtrArray *p2p_ice_live_new (void);
void p2p_ice_live_add (GPtrArray *live, P2pQuicConnection *conn);
/* The responder records its connections in @live (not owned) instead of its own. */
void p2p_ice_responder_set_live (P2pIceResponder *self, GPtrArray *live);
/* ---- keeping client connections across a failed path (p2p-ice-restart.c) ---- */

typedef struct _P2pIceRestart P2pIceRestart;
/* The carriers to re-dial through, in order (transfer container:
 * P2pSignaling*, registered ones only). */
typedef GPtrArray *(*P2pIceCarriersFunc) (gpointer data);
/* Starts registering again wherever we are not registered (not waiting). */
typedef void (*P2pIceRegisterFunc) (gpointer data);
P2pIceRestart *p2p_ice_restart_new (P2pIdentity *identity, const P2pConfig *config,
    P2pIceCarriersFunc carriers, P2pIceRegisterFunc reregister, gpointer data);
/* Watches @conn (weakly) until it closes: re-dials its peer when its path
 * went silent or failed. */
void p2p_ice_restart_watch (P2pIceRestart *self, P2pQuicConnection *conn);
/* Stops watching and cancels the re-dials in flight. */
void p2p_ice_restart_free (P2pIceRestart *self);

/* Later offers get an "ice-error" (not accepting); setups in progress go on. */
void p2p_ice_responder_set_refusing (P2pIceResponder *self);

G_END_DECLS
