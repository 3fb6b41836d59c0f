/* p2p-mdns.h: LAN discovery over multicast DNS (RFC 6762), with Avahi's
 * embeddable responder (libavahi-core): a listener announces its signed
 * discovery record as the TXT record "<peer-id>._p2p._udp.local", a dialer
 * holding only a bare peer ID asks for that name and takes the first
 * record that verifies. No avahi-daemon and no D-Bus are needed (servers,
 * containers, network namespaces); IPv4 only, like tickets. Every call,
 * and every callback, runs on the GMainContext given to p2p_mdns_new().
 * Not installed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p-discovery-record.h"

G_BEGIN_DECLS

/* The DNS-SD service type the records live under. */
#define P2P_MDNS_SERVICE_TYPE "_p2p._udp"
/* The TTL of the announced record: how long a cache keeps it after its
 * listener vanished without a goodbye. */
#define P2P_MDNS_TTL_S 120
/* A record is signed for this long and signed again halfway. */
#define P2P_MDNS_RECORD_LIFETIME_S 3600

typedef struct _P2pMdns P2pMdns;
typedef struct _P2pMdnsLookup P2pMdnsLookup;

/* @record (transfer full): a record that verified for the peer looked up;
 * @elapsed_us: time since the lookup started. */
typedef void (*P2pMdnsFoundFunc) (P2pDiscoveryRecord *record, gint64 elapsed_us,
    gpointer user_data);

/* Starts a responder on @context (NETWORK error when its sockets cannot
 * be opened). */
P2pMdns *p2p_mdns_new (GMainContext *context, GError **error);
/* Withdraws what is announced (goodbye packets) and stops. */
void p2p_mdns_free (P2pMdns *self);

/* Announces @identity at @addresses ("IP:PORT"; loopback addresses are
 * left out) until the next call or p2p_mdns_free(), signing the record
 * again before it expires. No address left: withdraws. */
gboolean p2p_mdns_announce (P2pMdns *self, P2pIdentity *identity,
    const char *const *addresses, GError **error);

/* Publishes @record as it is (replacing the announcement; not re-signed):
 * what p2p_mdns_announce() does once signed, and how tests play a forger. */
gboolean p2p_mdns_publish_record (P2pMdns *self, const P2pDiscoveryRecord *record,
    GError **error);

/* Asks the LAN for @peer's record; @found is called at most once, with the
 * first record that verifies (records that do not are logged and skipped).
 * Free the lookup (before or after @found) to stop it. */
P2pMdnsLookup *p2p_mdns_lookup_start (P2pMdns *self, const P2pPeerId *peer,
    P2pMdnsFoundFunc found, gpointer user_data, GError **error);
void p2p_mdns_lookup_free (P2pMdnsLookup *lookup);

G_END_DECLS
