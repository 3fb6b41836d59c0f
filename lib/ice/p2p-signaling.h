/* p2p-signaling.h (internal): the rendezvous protocol (docs/nat-traversal.md)
 * and its client.
 *
 * Protocol: JSON text messages over one WebSocket (tools/p2p-rendezvous):
 *   server → client  {"type":"challenge","nonce":B64,"origin":ORIGIN} (32 random bytes)
 *   client → server  {"type":"register","peer_id":ID,"signature":B64}
 *                    signature = Ed25519(nonce || "gst-p2p-rendezvous-v2\n" || ORIGIN)
 *                    ORIGIN = "ws://host:port" or "wss://host:port", normalised
 *                    (p2p_signaling_origin_from_url); the client refuses a
 *                    challenge whose origin is not the URL it dialed, the
 *                    server verifies against the origin it announced.
 *   server → client  {"type":"registered","peer_id":ID}
 *   client → server  {"type":"signal","from":ID,"to":ID,"payload":STRING,"signature":B64}
 *                    signature = Ed25519("gst-p2p-signal-v1\n" FROM "\n" TO "\n" PAYLOAD)
 *   server → client  the same signal message, unchanged (forwarded to TO)
 *   server → client  {"type":"error","code":CODE,"to":ID?,"message":TEXT?}
 *                    CODE: PEER_NOT_FOUND, BAD_MESSAGE, NOT_REGISTERED,
 *                    FORBIDDEN, AUTHENTICATION_FAILED, LIMIT_EXCEEDED
 * Signaling version 2 (docs/protocol.md §7): registrations bound to the
 * server's origin; ICE offers carry a timestamp and a nonce
 * (p2p-ice-connect.h).
 * The payload is a string (itself JSON text in the ICE flow) so that the
 * bytes signed by the sender are the bytes the receiver verifies: the server
 * relays but cannot forge or alter a signal.
 *
 * The message functions are pure (no I/O) and fuzzed (tests/fuzz/fuzz-signaling.c).
 * Threads: a P2pSignaling lives on the thread-default GMainContext of the
 * thread that created it (the provider's network thread).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include "p2p/p2p-identity.h"
#include "p2p/p2p-peer-id.h"

G_BEGIN_DECLS

#define P2P_SIGNALING_MAX_MESSAGE (64 * 1024)
#define P2P_SIGNALING_NONCE_LEN 32
#define P2P_SIGNALING_REGISTER_CONTEXT "gst-p2p-rendezvous-v2"
/* Longest origin in a challenge, bytes. */
#define P2P_SIGNALING_MAX_ORIGIN 256
#define P2P_SIGNALING_SIGNAL_CONTEXT "gst-p2p-signal-v1"

typedef enum {
  P2P_SIGNALING_MSG_CHALLENGE,
  P2P_SIGNALING_MSG_REGISTER,
  P2P_SIGNALING_MSG_REGISTERED,
  P2P_SIGNALING_MSG_SIGNAL,
  P2P_SIGNALING_MSG_ERROR,
} P2pSignalingMessageType;

typedef struct {
  P2pSignalingMessageType type;
  guint8 nonce[P2P_SIGNALING_NONCE_LEN];       /* challenge */
  char *origin;                                /* challenge (NULL from a version 1 server) */
  P2pPeerId peer_id;                           /* register, registered */
  P2pPeerId from;                              /* signal */
  P2pPeerId to;                                /* signal; error (if has_to) */
  gboolean has_to;
  char *payload;                               /* signal */
  guint8 signature[P2P_IDENTITY_SIGNATURE_LEN];/* register, signal */
  char *code;                                  /* error */
  char *message;                               /* error (nullable) */
} P2pSignalingMessage;

/* Parses one message (at most P2P_SIGNALING_MAX_MESSAGE bytes; need not be
 * NUL-terminated). Strict: unknown type, missing or malformed field →
 * FALSE + P2P_ERROR_PROTOCOL naming the field. Signatures are NOT checked
 * here. Clear @msg with p2p_signaling_message_clear() in every case. */
gboolean p2p_signaling_message_parse (const char *text, gsize len, P2pSignalingMessage *msg,
    GError **error);
void p2p_signaling_message_clear (P2pSignalingMessage *msg);

/* Builders (transfer full, JSON text). */
char *p2p_signaling_build_challenge (const guint8 nonce[P2P_SIGNALING_NONCE_LEN],
    const char *origin);
char *p2p_signaling_build_register (P2pIdentity *identity,
    const guint8 nonce[P2P_SIGNALING_NONCE_LEN], const char *origin);
char *p2p_signaling_build_registered (const P2pPeerId *peer);
char *p2p_signaling_build_signal (P2pIdentity *identity, const P2pPeerId *to, const char *payload);
/* Same as build_signal but claiming @from and with @signature as given (tests). */
char *p2p_signaling_build_signal_raw (const P2pPeerId *from, const P2pPeerId *to,
    const char *payload, const guint8 signature[P2P_IDENTITY_SIGNATURE_LEN]);
/* @to and @message nullable. */
char *p2p_signaling_build_error (const char *code, const P2pPeerId *to, const char *message);

/* Signature checks (constant inputs, no I/O). */
gboolean p2p_signaling_verify_register (const P2pSignalingMessage *msg,
    const guint8 nonce[P2P_SIGNALING_NONCE_LEN], const char *origin) G_GNUC_WARN_UNUSED_RESULT;

/* "scheme://host:port" of a ws:// or wss:// URL: scheme and host in lower
 * case, IPv6 in brackets, the default port (80/443) made explicit; path,
 * query and user info dropped. NULL + INVALID_ARGUMENT otherwise. */
char *p2p_signaling_origin_from_url (const char *url, GError **error);
/* "ws://IP:PORT" of a socket address (an IPv4-mapped IPv6 address as IPv4):
 * a server's origin when it is dialed by the address it accepted on. */
char *p2p_signaling_origin_from_address (GSocketAddress *address);
gboolean p2p_signaling_verify_signal (const P2pSignalingMessage *msg) G_GNUC_WARN_UNUSED_RESULT;

/* ---- P2pSignaling: the rendezvous client ---- */

#define P2P_TYPE_SIGNALING (p2p_signaling_get_type ())
G_DECLARE_FINAL_TYPE (P2pSignaling, p2p_signaling, P2P, SIGNALING, GObject)

/* Signals (on the client's context):
 *   "signal"         (const P2pPeerId *from, const char *payload): a verified
 *                    signal from @from (forged or altered ones are dropped
 *                    with a warning and counted);
 *   "peer-not-found" (const P2pPeerId *to): the server has no such peer;
 *   "closed"         (const GError *error): the WebSocket closed. */
P2pSignaling *p2p_signaling_new (P2pIdentity *identity);

/* Connects to @url (ws:// or wss://) and registers; completes when the
 * server confirmed the registration. Errors: INVALID_ARGUMENT (bad URL),
 * NETWORK (cannot connect: names the URL), AUTHENTICATION_FAILED (server
 * refused the registration), TIMEOUT (no answer in 10 s), CLOSED. */
void p2p_signaling_connect_async (P2pSignaling *self, const char *url, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data);
gboolean p2p_signaling_connect_finish (P2pSignaling *self, GAsyncResult *result, GError **error);

/* Sends a signed signal to @to. Errors: CLOSED (not registered / closed),
 * LIMIT_EXCEEDED (larger than P2P_SIGNALING_MAX_MESSAGE). An unknown @to is
 * reported asynchronously by "peer-not-found". */
gboolean p2p_signaling_send (P2pSignaling *self, const P2pPeerId *to, const char *payload,
    GError **error);

gboolean p2p_signaling_is_registered (P2pSignaling *self);

/* ---- the same client over another carrier (the DHT) ----
 * An external P2pSignaling sends and receives the same signed signal
 * messages ({"type":"signal",...}, signed over FROM, TO and PAYLOAD) but
 * through @send and p2p_signaling_receive() instead of a WebSocket: the
 * ICE dialer and responder work over it unchanged. It is registered from
 * the start (there is no server to register at) and never emits
 * "peer-not-found" (a carrier like a DHT cannot tell that a peer is
 * absent: silence until the answer's time limit means PEER_NOT_FOUND). */

/* Sends @message (a signed signal, JSON text) towards @to; FALSE + error
 * when it cannot be sent at all. */
typedef gboolean (*P2pSignalingSendFunc) (const P2pPeerId *to, const char *message,
    gpointer user_data, GError **error);

/* @route: how the carrier is named in messages ("the DHT"). */
P2pSignaling *p2p_signaling_new_external (P2pIdentity *identity, const char *route,
    P2pSignalingSendFunc send, gpointer user_data, GDestroyNotify notify);
/* A message that arrived over the carrier (@len bytes, need not be
 * NUL-terminated): a signal to us whose signature verifies is emitted as
 * "signal"; anything else is dropped (counted in get_rejected_count,
 * g_debug: anyone may write to a DHT key). */
void p2p_signaling_receive (P2pSignaling *self, const char *message, gsize len);
/* How this client's carrier is named in messages: "the rendezvous" or
 * the @route of p2p_signaling_new_external(). */
const char *p2p_signaling_get_route (P2pSignaling *self);
/* TRUE for a rendezvous client (it reports unknown peers at once). */
gboolean p2p_signaling_reports_absent_peers (P2pSignaling *self);
/* Number of received signals dropped because their signature did not verify. */
guint p2p_signaling_get_rejected_count (P2pSignaling *self);
void p2p_signaling_close (P2pSignaling *self);

G_END_DECLS
