/* p2p-ice-path-private.h (internal): what the files of P2pIcePath share:
 * its fields, and the functions one file gives the others. p2p-ice-path.c
 * holds the object, the connectivity checks and the datagram I/O;
 * p2p-ice-candidates.c gathering and the local and remote descriptions;
 * p2p-ice-servers.c the STUN and TURN servers; p2p-stun-check.c which
 * STUN server answers. Threads: as in
 * p2p-ice-path.h (everything on the path's context).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <nice/agent.h>

#include "p2p-ice-path.h"

G_BEGIN_DECLS

struct _P2pIcePath {
  P2pPacketPath parent_instance;

  GMainContext *context;
  NiceAgent *agent;
  guint stream_id;
  gboolean relay_only;
  gboolean have_relay;        /* at least one TURN server configured */
  gboolean have_stun;
  char *loopback_server;      /* a STUN/TURN server's loopback IP, or NULL */
  gboolean user_local;        /* p2p_ice_path_add_local_address() was called */
  gboolean closed;
  gboolean gathering_started;
  gboolean gathered;
  gboolean have_remote;
  NiceComponentState state;
  P2pPathKind kind;
  gboolean have_pair;         /* a pair was selected: the next one is a path change */
  NiceAddress pair_local, pair_remote;  /* the selected pair's ends */
  char *peer_label;

  guint n_local, n_remote;
  guint remote_types;         /* bit per NiceCandidateType seen remotely */
  guint remote_skipped;

  gulong sig_gathering_done, sig_state_changed, sig_pair, sig_new_cand;

  GTask *gather_task;
  GTask *connect_task;
  GSource *connect_timeout;
  gulong gather_cancel_id, connect_cancel_id;

  GSource *timer;             /* path timer (P2pPacketPath set_timer) */
  GQueue pending;             /* GBytes*: sent before this side had a selected pair */
};

/* ---- p2p-ice-path.c ---- */

/* Runs @func on the path's context from a fresh idle source: never inside
 * the GCancellable "cancelled" emission (disconnecting there deadlocks). */
void p2p_ice_path_run_soon (P2pIcePath *self, GSourceFunc func);
/* Completes a pending gathering or connect @task (transfer full, nullable:
 * none pending then, and @error is dropped): disconnects its cancellable's
 * handler *@cancel_id and returns @error (taken, nullable) or TRUE. */
void p2p_ice_path_complete_task (GTask *task, gulong *cancel_id, GError *error);
/* Before the checks start (the peer's description is known): gives the
 * checks more transmissions when a relayed pair can carry the stream while
 * the direct pairs are still tried. */
void p2p_ice_path_plan_checks (P2pIcePath *self);

/* ---- p2p-ice-candidates.c ---- */

/* FALSE for a candidate the relay policy drops (local or remote). */
gboolean p2p_ice_path_candidate_allowed (P2pIcePath *self, const NiceCandidate *c);
/* Completes the gathering task, if any (takes @error, nullable). */
void p2p_ice_path_finish_gather (P2pIcePath *self, GError *error);
/* The agent's "candidate-gathering-done" and "new-candidate-full" handlers. */
void p2p_ice_path_on_gathering_done (NiceAgent *agent, guint stream_id, gpointer user_data);
void p2p_ice_path_on_new_candidate (NiceAgent *agent, NiceCandidate *c, gpointer user_data);

/* ---- p2p-ice-servers.c ---- */

/* Gives the agent @config's STUN server (the one the check found
 * answering, else the first that resolves) and TURN servers (every one),
 * host names resolved; notes a loopback server. Errors: INVALID_ARGUMENT
 * naming the entry. */
gboolean p2p_ice_path_configure_servers (P2pIcePath *self, const P2pConfig *config,
    GError **error);
/* Resolves @host to a numeric IP string (transfer full) within
 * P2P_ICE_RESOLVE_TIMEOUT_MS, on a private main context (any thread);
 * errors (INVALID_ARGUMENT) name @what and @host. */
char *p2p_ice_resolve_ip (const char *host, const char *what, GError **error);

/* ---- p2p-stun-check.c ---- */

/* For a list of two or more STUN servers: TRUE, with the address that
 * answered (*@ip transfer full, nullable outputs), if a check found one;
 * starts a check (on a thread of its own, never blocking) if none ended in
 * the last P2P_STUN_CHECK_TTL_S and none is running. FALSE for a shorter
 * list, before the first check ended, or when no server answered. Any
 * thread. */
gboolean p2p_ice_stun_check_lookup (const char *const *servers, char **ip, guint16 *port);

G_END_DECLS
