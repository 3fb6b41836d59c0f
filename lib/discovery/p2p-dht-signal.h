/* p2p-dht-signal.h: ICE signaling through the DHT, the way Jami does it:
 * two peers behind NATs, with no rendezvous server, exchange their ICE
 * offer and answer as DHT values. Each peer listens on its own inbox key,
 * SHA-1 (OpenDHT's InfoHash) of P2P_DHT_SIGNAL_KEY_PREFIX followed by its
 * peer ID (distinct from the key of its discovery record); a sender puts
 * its message under the recipient's inbox key.
 *
 * A value is a sealed box (libsodium crypto_box_seal: X25519 with a fresh
 * ephemeral key, XSalsa20-Poly1305) to the recipient's X25519 key, which is
 * its Ed25519 peer ID converted (crypto_sign_ed25519_pk_to_curve25519), so
 * only the recipient reads it. Inside:
 *   "gst-p2p-dht-signal-v1\n" EXPIRES "\n" MESSAGE
 * EXPIRES: Unix seconds (the sender's clock + P2P_DHT_SIGNAL_LIFETIME_S);
 * MESSAGE: the signaling layer's signed signal (lib/ice/p2p-signaling.h:
 * sender, recipient and payload signed with the sender's Ed25519 key), so
 * the recipient learns and checks who sent it there; this layer does not
 * look inside. A value that does not open, is malformed, has expired or
 * claims a later expiry than P2P_DHT_SIGNAL_MAX_AHEAD_S is dropped (and
 * counted): DHT nodes keep values 10 minutes, so a listener that starts
 * sees older messages, and anyone can put anything under any key.
 * Replays inside the expiry are caught by the ICE layer (an offer's
 * timestamp and nonce, an answer echoing its offer's nonce).
 *
 * The functions here are pure (no I/O); putting and listening are in
 * p2p-dht.h (p2p_dht_send_signal, p2p_dht_inbox_start).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-identity.h"
#include "p2p/p2p-peer-id.h"

G_BEGIN_DECLS

#define P2P_DHT_SIGNAL_KEY_PREFIX "gst-p2p-signal:"
#define P2P_DHT_SIGNAL_CONTEXT "gst-p2p-dht-signal-v1"
/* How long a message stays good: an ICE answer comes within 10 s. */
#define P2P_DHT_SIGNAL_LIFETIME_S 30
/* A message claiming to expire later than this from now is refused (a
 * sender clock that far ahead, or a forged expiry). */
#define P2P_DHT_SIGNAL_MAX_AHEAD_S 300
/* Largest value (sealed) put or taken: an ICE offer with 64 candidates,
 * signed, is under 12 KiB. */
#define P2P_DHT_SIGNAL_VALUE_MAX (16 * 1024)
/* The OpenDHT user type of these values. */
#define P2P_DHT_SIGNAL_USER_TYPE "gst-p2p/signal-v1"

/* Seals @message (@len bytes) for @to, expiring at @expires (Unix
 * seconds). INVALID_ARGUMENT when @to is not a usable Ed25519 key (no
 * X25519 counterpart), LIMIT_EXCEEDED when the value would be larger than
 * P2P_DHT_SIGNAL_VALUE_MAX. */
GBytes *p2p_dht_signal_seal (const P2pPeerId *to, gint64 expires, const char *message,
    gsize len, GError **error);

/* Opens a value found under @identity's inbox key, at @now (Unix
 * seconds): returns the message (NUL-terminated; its length in *@len) and
 * its expiry in *@expires (nullable). AUTHENTICATION_FAILED when it is not
 * sealed to @identity (or altered), PROTOCOL when malformed (no context
 * line, a bad expiry, a NUL byte in the message), INVALID_ARGUMENT when
 * expired or dated too far ahead, LIMIT_EXCEEDED when too large. */
char *p2p_dht_signal_open (P2pIdentity *identity, const guint8 *data, gsize size, gint64 now,
    gsize *len, gint64 *expires, GError **error) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
