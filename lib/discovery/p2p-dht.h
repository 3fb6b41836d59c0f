/* p2p-dht.h: discovery over a distributed hash table, with OpenDHT's C
 * binding (libopendht-c): a listener puts its signed discovery record
 * under a key derived from its peer ID, a dialer holding only a bare peer
 * ID listens on that key and takes the first record that verifies; and
 * signaling (ICE offers and answers) between peers that cannot reach each
 * other directly, through sealed values in per-peer inboxes
 * (p2p-dht-signal.h). The
 * DHT is OpenDHT's Kademlia network (the public one, or a private one of
 * your own bootstrap nodes), so discovery reaches past one LAN without a
 * server of ours; it learns nothing that a record does not already show.
 *
 * OpenDHT runs its own threads; every call here is made, and every
 * callback delivered, on the GMainContext given to p2p_dht_new(). No
 * default bootstrap node: a node reaches only the nodes it is given (and
 * those they tell it about). Not installed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-discovery-record.h"

G_BEGIN_DECLS

/* The DHT key of a peer: SHA-1 (OpenDHT's InfoHash) of this prefix
 * followed by the peer ID's text form. */
#define P2P_DHT_KEY_PREFIX "gst-p2p:"
/* An announced record is signed for this long... */
#define P2P_DHT_RECORD_LIFETIME_S 1800
/* ...and signed and put again this often: OpenDHT nodes keep a value of
 * the default type for 10 minutes after its last put. */
#define P2P_DHT_REPUBLISH_S 300
/* A value larger than this is not a record of ours (one with 16 IPv6
 * addresses is under 1 KiB). */
#define P2P_DHT_VALUE_MAX 2048
/* The OpenDHT user type of our values. */
#define P2P_DHT_USER_TYPE "gst-p2p/record-v1"

typedef struct _P2pDht P2pDht;
typedef struct _P2pDhtLookup P2pDhtLookup;

/* @record (transfer full): a record that verified for the peer looked up;
 * @elapsed_us: time since the lookup started. */
typedef void (*P2pDhtFoundFunc) (P2pDiscoveryRecord *record, gint64 elapsed_us,
    gpointer user_data);
/* @message: a signaling message from our inbox (opened, not expired, not
 * seen before; its sender is not checked here: the signaling layer
 * verifies the signature inside); NUL-terminated, @len bytes. */
typedef void (*P2pDhtSignalFunc) (const char *message, gsize len, gpointer user_data);

/* Starts a DHT node on UDP @port (0: any port; IPv4 and IPv6, all
 * interfaces: the C binding has no bind address) and bootstraps it from
 * @bootstrap ("HOST:PORT" or "[V6]:PORT" entries, nullable; a host name is
 * resolved by OpenDHT, retried while the node has no peer).
 * INVALID_ARGUMENT for a malformed entry, NETWORK when the node cannot
 * start (port taken). */
P2pDht *p2p_dht_new (GMainContext *context, const char *const *bootstrap, guint16 port,
    GError **error);
/* Stops the node. What was put stays in the DHT until its nodes drop it
 * (10 minutes); lookups not yet freed stop and never call back (free
 * them afterwards all the same). */
void p2p_dht_free (P2pDht *self);

/* The UDP port the node's IPv4 socket is bound to. */
guint16 p2p_dht_get_port (P2pDht *self);
/* Adds a bootstrap node ("HOST:PORT"); INVALID_ARGUMENT when malformed. */
gboolean p2p_dht_add_bootstrap (P2pDht *self, const char *host_port, GError **error);

/* The key of @peer's records, as 40 hex digits (logs, tests). */
char *p2p_dht_key_to_string (const P2pPeerId *peer);
/* The key of @peer's signaling inbox (P2P_DHT_SIGNAL_KEY_PREFIX), likewise. */
char *p2p_dht_inbox_key_to_string (const P2pPeerId *peer);

/* The value put for @record: its TXT strings (p2p_discovery_record_to_txt)
 * joined by newlines. */
GBytes *p2p_dht_encode_record (const P2pDiscoveryRecord *record);
/* Parses a value found under @peer's key (not verified: call _verify).
 * INVALID_ARGUMENT for a value over P2P_DHT_VALUE_MAX, with a NUL byte,
 * or whose lines are not a record. */
P2pDiscoveryRecord *p2p_dht_decode_record (const guint8 *data, gsize len,
    const P2pPeerId *peer, GError **error);

/* Publishes @identity's record for @addresses ("IP:PORT", as given: the
 * caller picks the dialable ones; at most P2P_DISCOVERY_RECORD_MAX_ADDRESSES)
 * until the next call or p2p_dht_free(), signing and putting it again
 * every P2P_DHT_REPUBLISH_S. No address: stops publishing (what was put
 * expires from the DHT). INVALID_ARGUMENT for a malformed or extra
 * address. */
gboolean p2p_dht_announce (P2pDht *self, P2pIdentity *identity,
    const char *const *addresses, GError **error);

/* Puts @record once as it is (not re-signed, not re-published): how tests
 * play a forger. */
gboolean p2p_dht_publish_record (P2pDht *self, const P2pDiscoveryRecord *record,
    GError **error);

/* Listens on @peer's key; @found is called at most once, with the first
 * record that verifies (values that do not are logged with g_message and
 * skipped), also when the peer announces after the lookup started. No
 * time limit: the caller's. Free the lookup (before or after @found, also
 * from within it) to stop it. */
P2pDhtLookup *p2p_dht_lookup_start (P2pDht *self, const P2pPeerId *peer,
    P2pDhtFoundFunc found, gpointer user_data, GError **error);
void p2p_dht_lookup_free (P2pDhtLookup *lookup);

/* Seals @message (text) to @to and puts it under @to's inbox key, valid
 * P2P_DHT_SIGNAL_LIFETIME_S. Errors: NETWORK (node not running),
 * INVALID_ARGUMENT / LIMIT_EXCEEDED (p2p_dht_signal_seal). Whether any
 * node stored it is not known here: a reply, or its absence, tells. */
gboolean p2p_dht_send_signal (P2pDht *self, const P2pPeerId *to, const char *message,
    GError **error);
/* Listens on @identity's inbox key; @func gets each message sealed to it
 * (values that do not open, have expired or were seen already are
 * skipped and counted, g_debug), also those put before the listen
 * started that are still valid. Free with p2p_dht_lookup_free(). NETWORK
 * when the node is not running. */
P2pDhtLookup *p2p_dht_inbox_start (P2pDht *self, P2pIdentity *identity, P2pDhtSignalFunc func,
    gpointer user_data, GError **error);
/* Values an inbox skipped (not sealed to us, malformed, expired). */
guint p2p_dht_inbox_get_refused (P2pDhtLookup *inbox);

G_END_DECLS
