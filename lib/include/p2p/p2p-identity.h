/* p2p-identity.h: an Ed25519 identity (libsodium) and its key file.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>
#include "p2p-macros.h"
#include "p2p-peer-id.h"

G_BEGIN_DECLS

#define P2P_IDENTITY_SIGNATURE_LEN 64
#define P2P_IDENTITY_SECRET_KEY_LEN 64 /* libsodium layout: seed(32) || public(32) */

#define P2P_TYPE_IDENTITY (p2p_identity_get_type ())
P2P_EXPORT G_DECLARE_FINAL_TYPE (P2pIdentity, p2p_identity, P2P, IDENTITY, GObject)

/* A fresh random key pair. Never fails (aborts if libsodium cannot init). */
P2P_EXPORT P2pIdentity *p2p_identity_new (void);
/* Loads a key file. Errors (P2P_ERROR_INVALID_ARGUMENT): missing file, file
 * readable or writable by group/others ("chmod 600 FILE"), malformed content. */
P2P_EXPORT P2pIdentity *p2p_identity_new_from_file (const char *path, GError **error);
/* Loads @path if it exists, else generates and saves it (creating parent dirs 0700). */
P2P_EXPORT P2pIdentity *p2p_identity_load_or_create (const char *path, GError **error);
/* Writes the key file with mode 0600 (atomically, never readable by others). */
P2P_EXPORT gboolean p2p_identity_save (P2pIdentity *self, const char *path, GError **error);
/* Default key file: $XDG_DATA_HOME/gst-p2p/identity.key (transfer full). */
P2P_EXPORT char *p2p_identity_default_path (void);
/* The key file of a peer that others dial: @path, else @env_path
 * (P2P_IDENTITY_FILE), else the default key file if it exists; NULL: an
 * ephemeral key (transfer full). */
P2P_EXPORT char *p2p_identity_choose_file (const char *path, const char *env_path,
    gboolean *is_default);

P2P_EXPORT const P2pPeerId *p2p_identity_get_peer_id (P2pIdentity *self);
/* (transfer full) text form of the peer ID. */
P2P_EXPORT char *p2p_identity_dup_peer_id_string (P2pIdentity *self);
/* The 64-byte libsodium secret key (seed || public). Internal use (TLS). */
P2P_EXPORT const guint8 *p2p_identity_get_secret_key (P2pIdentity *self);

P2P_EXPORT void p2p_identity_sign (P2pIdentity *self, const guint8 *data, gsize len,
    guint8 sig[P2P_IDENTITY_SIGNATURE_LEN]);
/* (transfer full) the 64-byte signature of @data (p2p_identity_sign for bindings). */
P2P_EXPORT GBytes *p2p_identity_sign_bytes (P2pIdentity *self, GBytes *data);
/* TRUE when @sig is @signer's signature of @data. */
P2P_EXPORT gboolean p2p_identity_verify (const P2pPeerId *signer, const guint8 *data,
    gsize len, const guint8 sig[P2P_IDENTITY_SIGNATURE_LEN]) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
