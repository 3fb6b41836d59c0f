/* p2p-discovery-record.h: a peer's signed discovery record, the one thing
 * every discovery source (LAN mDNS today, a DHT later) carries: the peer
 * ID, its dialable addresses and an expiry, signed with the peer's Ed25519
 * key, so no source can point a peer ID at another machine (QUIC still
 * pins the key when dialling). Not installed; exported for the DHT module
 * (P2P_INTERNAL_EXPORT).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "p2p/p2p-identity.h"
#include "p2p/p2p-macros.h"
#include "p2p/p2p-peer-id.h"

G_BEGIN_DECLS

/* The longest validity a record may claim (a record expiring later is
 * refused: a leaked old record cannot stay good for long). */
#define P2P_DISCOVERY_RECORD_MAX_LIFETIME_S (24 * 3600)
/* At most this many addresses in one record. */
#define P2P_DISCOVERY_RECORD_MAX_ADDRESSES 16

typedef struct {
  P2pPeerId peer;
  char **addresses;             /* "IP:PORT", NULL-terminated */
  gint64 expires;               /* Unix time, seconds */
  guint8 signature[P2P_IDENTITY_SIGNATURE_LEN];
} P2pDiscoveryRecord;

/* A record of @identity for @addresses ("IP:PORT"), valid until @expires. */
P2P_INTERNAL_EXPORT P2pDiscoveryRecord *p2p_discovery_record_new_signed (P2pIdentity *identity,
    const char *const *addresses, gint64 expires);
/* TRUE when @record is signed by @expected's key, names @expected, has not
 * expired at @now (Unix seconds) and does not claim to live longer than
 * P2P_DISCOVERY_RECORD_MAX_LIFETIME_S; else AUTHENTICATION_FAILED (bad
 * signature, another peer) or INVALID_ARGUMENT (expired, too long). */
P2P_INTERNAL_EXPORT gboolean p2p_discovery_record_verify (const P2pDiscoveryRecord *record,
    const P2pPeerId *expected, gint64 now, GError **error);

/* The record as DNS TXT strings ("key=value"): v=1, e=EXPIRY, one a=IP:PORT
 * per address, s=SIGNATURE (base64). Each string is under 256 bytes. */
P2P_INTERNAL_EXPORT char **p2p_discovery_record_to_txt (const P2pDiscoveryRecord *record);
/* Parses TXT strings of @peer's record (not verified: call _verify). A
 * missing, repeated or malformed entry gives INVALID_ARGUMENT. */
P2P_INTERNAL_EXPORT P2pDiscoveryRecord *p2p_discovery_record_from_txt (const char *const *txt,
    const P2pPeerId *peer, GError **error);

P2P_INTERNAL_EXPORT void p2p_discovery_record_free (P2pDiscoveryRecord *record);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (P2pDiscoveryRecord, p2p_discovery_record_free)

G_END_DECLS
