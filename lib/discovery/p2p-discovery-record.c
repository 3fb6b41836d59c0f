/* p2p-discovery-record.c: signing, verifying and the TXT form of a peer's
 * discovery record (p2p-discovery-record.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-discovery-record.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-info.h"

#include <stdlib.h>
#include <string.h>

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* The signed bytes: a domain string (a signature made for something else
 * never verifies here), the peer, the expiry and the addresses sorted (a
 * transport such as DNS TXT need not keep their order). */
static GBytes *
signed_payload (const P2pPeerId *peer, gint64 expires, const char *const *addresses)
{
  char id[P2P_PEER_ID_TEXT_LEN + 1];
  GString *s = g_string_new ("gst-p2p discovery record v1\n");
  g_autofree char **sorted = g_new0 (char *, addresses ? g_strv_length ((char **) addresses) + 1 : 1);
  guint n = 0;

  for (; addresses && addresses[n]; n++)
    sorted[n] = (char *) addresses[n];
  qsort (sorted, n, sizeof (char *), compare_strings);
  p2p_peer_id_format (peer, id);
  g_string_append_printf (s, "%s\n%" G_GINT64_FORMAT "\n", id, expires);
  for (guint i = 0; i < n; i++)
    g_string_append_printf (s, "%s\n", sorted[i]);
  return g_string_free_to_bytes (s);
}

P2pDiscoveryRecord *
p2p_discovery_record_new_signed (P2pIdentity *identity, const char *const *addresses,
    gint64 expires)
{
  P2pDiscoveryRecord *r = g_new0 (P2pDiscoveryRecord, 1);
  g_autoptr (GBytes) payload = NULL;
  gsize len;
  const guint8 *data;

  r->peer = *p2p_identity_get_peer_id (identity);
  r->addresses = g_strdupv ((char **) addresses);
  if (r->addresses == NULL)
    r->addresses = g_new0 (char *, 1);
  r->expires = expires;
  payload = signed_payload (&r->peer, expires, (const char *const *) r->addresses);
  data = g_bytes_get_data (payload, &len);
  p2p_identity_sign (identity, data, len, r->signature);
  return r;
}

gboolean
p2p_discovery_record_verify (const P2pDiscoveryRecord *record, const P2pPeerId *expected,
    gint64 now, GError **error)
{
  g_autoptr (GBytes) payload = NULL;
  g_autofree char *want = p2p_peer_id_to_string (expected);
  gsize len;
  const guint8 *data;

  if (!p2p_peer_id_equal (&record->peer, expected)) {
    g_autofree char *got = p2p_peer_id_to_string (&record->peer);

    g_set_error (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED,
        "discovery record names peer %s, not %s", got, want);
    return FALSE;
  }
  payload = signed_payload (&record->peer, record->expires,
      (const char *const *) record->addresses);
  data = g_bytes_get_data (payload, &len);
  if (!p2p_identity_verify (expected, data, len, record->signature)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_AUTHENTICATION_FAILED,
        "discovery record of peer %s is not signed by its key", want);
    return FALSE;
  }
  if (record->expires < now) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "discovery record of peer %s expired %" G_GINT64_FORMAT " s ago",
        want, now - record->expires);
    return FALSE;
  }
  if (record->expires - now > P2P_DISCOVERY_RECORD_MAX_LIFETIME_S) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "discovery record of peer %s claims to be valid for %" G_GINT64_FORMAT
        " s (at most %d)", want, record->expires - now, P2P_DISCOVERY_RECORD_MAX_LIFETIME_S);
    return FALSE;
  }
  return TRUE;
}

char **
p2p_discovery_record_to_txt (const P2pDiscoveryRecord *record)
{
  GPtrArray *txt = g_ptr_array_new ();
  g_autofree char *sig = g_base64_encode (record->signature, sizeof record->signature);

  g_ptr_array_add (txt, g_strdup ("v=1"));
  g_ptr_array_add (txt, g_strdup_printf ("e=%" G_GINT64_FORMAT, record->expires));
  for (guint i = 0; record->addresses[i]; i++)
    g_ptr_array_add (txt, g_strdup_printf ("a=%s", record->addresses[i]));
  g_ptr_array_add (txt, g_strdup_printf ("s=%s", sig));
  g_ptr_array_add (txt, NULL);
  return (char **) g_ptr_array_free (txt, FALSE);
}

static gboolean
bad_txt (GError **error, const char *what, const char *entry)
{
  g_autofree char *shown = g_strescape (entry ? entry : "", NULL);

  g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
      "malformed discovery record: %s (\"%s\")", what, shown);
  return FALSE;
}

/* One TXT string into @r; @seen_* catch repeated keys. */
static gboolean
parse_entry (P2pDiscoveryRecord *r, GPtrArray *addrs, const char *t, gboolean *seen_v,
    gboolean *seen_e, gboolean *seen_s, GError **error)
{
  if (g_str_has_prefix (t, "v=")) {
    if (*seen_v || strcmp (t, "v=1") != 0)
      return bad_txt (error, *seen_v ? "repeated version" : "unknown version", t);
    *seen_v = TRUE;
  } else if (g_str_has_prefix (t, "e=")) {
    guint64 e;

    if (*seen_e || !g_ascii_string_to_unsigned (t + 2, 10, 0, G_MAXINT64, &e, NULL))
      return bad_txt (error, *seen_e ? "repeated expiry" : "expiry is not a number", t);
    *seen_e = TRUE;
    r->expires = (gint64) e;
  } else if (g_str_has_prefix (t, "a=")) {
    GError *local = NULL;

    if (addrs->len >= P2P_DISCOVERY_RECORD_MAX_ADDRESSES)
      return bad_txt (error, "too many addresses", t);
    if (!p2p_parse_host_port (t + 2, NULL, NULL, &local)) {
      g_autofree char *what = g_strdup_printf ("address: %s", local->message);

      g_error_free (local);
      return bad_txt (error, what, t);
    }
    g_ptr_array_add (addrs, g_strdup (t + 2));
  } else if (g_str_has_prefix (t, "s=")) {
    g_autofree guint8 *sig = NULL;
    gsize len = 0;

    if (*seen_s)
      return bad_txt (error, "repeated signature", t);
    /* g_base64_decode accepts anything: check the length it gives */
    sig = g_base64_decode (t + 2, &len);
    if (len != P2P_IDENTITY_SIGNATURE_LEN)
      return bad_txt (error, "signature is not 64 bytes of base64", t);
    memcpy (r->signature, sig, len);
    *seen_s = TRUE;
  }
  /* other keys: ignored (a later version may add some) */
  return TRUE;
}

P2pDiscoveryRecord *
p2p_discovery_record_from_txt (const char *const *txt, const P2pPeerId *peer, GError **error)
{
  g_autoptr (P2pDiscoveryRecord) r = g_new0 (P2pDiscoveryRecord, 1);
  g_autoptr (GPtrArray) addrs = g_ptr_array_new_with_free_func (g_free);
  gboolean seen_v = FALSE, seen_e = FALSE, seen_s = FALSE;

  r->peer = *peer;
  for (guint i = 0; txt && txt[i]; i++) {
    if (!parse_entry (r, addrs, txt[i], &seen_v, &seen_e, &seen_s, error))
      return NULL;
  }
  if (!seen_v || !seen_e || !seen_s || addrs->len == 0) {
    bad_txt (error, !seen_v ? "no version" : !seen_e ? "no expiry"
        : !seen_s ? "no signature" : "no address", "");
    return NULL;
  }
  g_ptr_array_add (addrs, NULL);
  r->addresses = (char **) g_ptr_array_steal (addrs, NULL);
  return g_steal_pointer (&r);
}

void
p2p_discovery_record_free (P2pDiscoveryRecord *record)
{
  if (record == NULL)
    return;
  g_strfreev (record->addresses);
  g_free (record);
}
