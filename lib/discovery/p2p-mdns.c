/* p2p-mdns.c: LAN discovery with libavahi-core (p2p-mdns.h).
 *
 * Why the embeddable core and not avahi-client: the client needs a running
 * avahi-daemon reached over the system D-Bus, which servers, containers
 * and the tests' network namespaces do not have; the core is the same
 * maintained responder (Debian's libavahi-core), run in-process on our
 * network thread through avahi-glib. It shares port 5353 with an
 * avahi-daemon on the same host (SO_REUSEADDR), as mDNS allows.
 *
 * What is published: one TXT record per peer, unique by construction (its
 * name is the peer's key), so it is announced without probing; a PTR
 * record under _p2p._udp lists the peers for browsing. No host name and
 * no address records are published: the addresses are in the signed TXT.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-mdns.h"
#include "p2p/p2p-error.h"
#include "p2p/p2p-peer-info.h"

#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-core/core.h>
#include <avahi-core/log.h>
#include <avahi-core/lookup.h>
#include <avahi-core/publish.h>
#include <avahi-glib/glib-watch.h>

struct _P2pMdns {
  GMainContext *context;
  AvahiGLibPoll *poll;
  AvahiServer *server;
  AvahiSEntryGroup *group;
  P2pIdentity *identity;        /* what is announced, for re-signing */
  char **addresses;
  GSource *resign;
};

struct _P2pMdnsLookup {
  P2pPeerId peer;
  AvahiSRecordBrowser *browser;
  P2pMdnsFoundFunc found;
  gpointer user_data;
  gint64 started;
  gboolean done;
};

static void
log_to_glib (AvahiLogLevel level, const char *txt)
{
  g_debug ("avahi: %s", txt);
}

static char *
record_name (const P2pPeerId *peer)
{
  char id[P2P_PEER_ID_TEXT_LEN + 1];

  p2p_peer_id_format (peer, id);
  return g_strdup_printf ("%s." P2P_MDNS_SERVICE_TYPE ".local", id);
}

P2pMdns *
p2p_mdns_new (GMainContext *context, GError **error)
{
  static gsize log_once = 0;
  P2pMdns *self = g_new0 (P2pMdns, 1);
  AvahiServerConfig config;
  int err = 0;

  if (g_once_init_enter (&log_once)) {
    avahi_set_log_function (log_to_glib);
    g_once_init_leave (&log_once, 1);
  }
  self->context = g_main_context_ref (context);
  self->poll = avahi_glib_poll_new (context, G_PRIORITY_DEFAULT);
  avahi_server_config_init (&config);
  config.use_ipv6 = FALSE;
  config.publish_hinfo = FALSE;
  config.publish_addresses = FALSE;
  config.publish_workstation = FALSE;
  config.publish_domain = FALSE;
  self->server = avahi_server_new (avahi_glib_poll_get (self->poll), &config, NULL, NULL, &err);
  avahi_server_config_free (&config);
  if (self->server == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
        "cannot start the mDNS responder: %s", avahi_strerror (err));
    p2p_mdns_free (self);
    return NULL;
  }
  return self;
}

static void
withdraw (P2pMdns *self)
{
  if (self->resign) {
    g_source_destroy (self->resign);
    g_clear_pointer (&self->resign, g_source_unref);
  }
  /* freeing the group sends the goodbye packets (TTL 0) */
  g_clear_pointer (&self->group, avahi_s_entry_group_free);
  g_clear_object (&self->identity);
  g_clear_pointer (&self->addresses, g_strfreev);
}

void
p2p_mdns_free (P2pMdns *self)
{
  if (self == NULL)
    return;
  withdraw (self);
  g_clear_pointer (&self->server, avahi_server_free);
  g_clear_pointer (&self->poll, avahi_glib_poll_free);
  g_main_context_unref (self->context);
  g_free (self);
}

gboolean
p2p_mdns_publish_record (P2pMdns *self, const P2pDiscoveryRecord *record, GError **error)
{
  g_auto (GStrv) txt = p2p_discovery_record_to_txt (record);
  g_autofree char *name = record_name (&record->peer);
  AvahiRecord *r;
  int err;

  if (self->group == NULL)
    self->group = avahi_s_entry_group_new (self->server, NULL, NULL);
  else
    avahi_s_entry_group_reset (self->group);
  if (self->group == NULL) {
    err = avahi_server_errno (self->server);
    goto fail;
  }
  r = avahi_record_new_full (name, AVAHI_DNS_CLASS_IN, AVAHI_DNS_TYPE_TXT, P2P_MDNS_TTL_S);
  r->data.txt.string_list = avahi_string_list_new_from_array ((const char **) txt, -1);
  err = avahi_server_add (self->server, self->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_INET,
      AVAHI_PUBLISH_UNIQUE | AVAHI_PUBLISH_NO_PROBE, r);
  avahi_record_unref (r);
  if (err == 0) {
    r = avahi_record_new_full (P2P_MDNS_SERVICE_TYPE ".local", AVAHI_DNS_CLASS_IN,
        AVAHI_DNS_TYPE_PTR, P2P_MDNS_TTL_S);
    r->data.ptr.name = avahi_strdup (name);
    err = avahi_server_add (self->server, self->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_INET, 0, r);
    avahi_record_unref (r);
  }
  if (err == 0)
    err = avahi_s_entry_group_commit (self->group);
  if (err == 0)
    return TRUE;
fail:
  g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
      "cannot announce on the local network (mDNS): %s", avahi_strerror (err));
  return FALSE;
}

/* Signs the current announcement anew and publishes it. */
static gboolean
publish (P2pMdns *self, GError **error)
{
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + P2P_MDNS_RECORD_LIFETIME_S;
  g_autoptr (P2pDiscoveryRecord) rec = p2p_discovery_record_new_signed (self->identity,
      (const char *const *) self->addresses, expires);

  return p2p_mdns_publish_record (self, rec, error);
}

static gboolean
resign_cb (gpointer data)
{
  P2pMdns *self = data;
  g_autoptr (GError) error = NULL;

  if (!publish (self, &error))
    g_warning ("%s", error->message);
  return G_SOURCE_CONTINUE;
}

gboolean
p2p_mdns_announce (P2pMdns *self, P2pIdentity *identity, const char *const *addresses,
    GError **error)
{
  g_autoptr (GPtrArray) keep = g_ptr_array_new ();

  for (guint i = 0; addresses && addresses[i]; i++) {
    g_autofree char *host = NULL;
    g_autoptr (GInetAddress) ip = NULL;

    if (!p2p_parse_host_port (addresses[i], &host, NULL, NULL))
      continue;
    ip = g_inet_address_new_from_string (host);
    if (ip && !g_inet_address_get_is_loopback (ip)
        && keep->len < P2P_DISCOVERY_RECORD_MAX_ADDRESSES)
      g_ptr_array_add (keep, g_strdup (addresses[i]));
  }
  withdraw (self);
  if (keep->len == 0)
    return TRUE;
  g_ptr_array_add (keep, NULL);
  self->addresses = (char **) g_ptr_array_steal (keep, NULL);
  self->identity = g_object_ref (identity);
  if (!publish (self, error)) {
    withdraw (self);
    return FALSE;
  }
  self->resign = g_timeout_source_new_seconds (P2P_MDNS_RECORD_LIFETIME_S / 2);
  g_source_set_callback (self->resign, resign_cb, self, NULL);
  g_source_attach (self->resign, self->context);
  return TRUE;
}

static void
on_record (AvahiSRecordBrowser *b, AvahiIfIndex interface, AvahiProtocol protocol,
    AvahiBrowserEvent event, AvahiRecord *record, AvahiLookupResultFlags flags,
    gpointer user_data)
{
  P2pMdnsLookup *l = user_data;
  g_autoptr (GPtrArray) txt = NULL;
  g_autoptr (P2pDiscoveryRecord) rec = NULL;
  g_autoptr (GError) error = NULL;

  if (event != AVAHI_BROWSER_NEW || l->done || record->key->type != AVAHI_DNS_TYPE_TXT)
    return;
  txt = g_ptr_array_new_with_free_func (g_free);
  for (AvahiStringList *s = record->data.txt.string_list; s; s = avahi_string_list_get_next (s))
    g_ptr_array_add (txt, g_strndup ((const char *) avahi_string_list_get_text (s),
            avahi_string_list_get_size (s)));
  g_ptr_array_add (txt, NULL);
  rec = p2p_discovery_record_from_txt ((const char *const *) txt->pdata, &l->peer, &error);
  if (rec && p2p_discovery_record_verify (rec, &l->peer,
          g_get_real_time () / G_USEC_PER_SEC, &error)) {
    l->done = TRUE;
    l->found (g_steal_pointer (&rec), g_get_monotonic_time () - l->started, l->user_data);
    return;
  }
  g_message ("mDNS: ignoring a record for %s: %s", record->key->name, error->message);
}

P2pMdnsLookup *
p2p_mdns_lookup_start (P2pMdns *self, const P2pPeerId *peer, P2pMdnsFoundFunc found,
    gpointer user_data, GError **error)
{
  P2pMdnsLookup *l = g_new0 (P2pMdnsLookup, 1);
  g_autofree char *name = record_name (peer);
  AvahiKey *key = avahi_key_new (name, AVAHI_DNS_CLASS_IN, AVAHI_DNS_TYPE_TXT);

  l->peer = *peer;
  l->found = found;
  l->user_data = user_data;
  l->started = g_get_monotonic_time ();
  /* may report a cached record at once: l is complete before this call */
  l->browser = avahi_s_record_browser_new (self->server, AVAHI_IF_UNSPEC, AVAHI_PROTO_INET,
      key, AVAHI_LOOKUP_USE_MULTICAST, on_record, l);
  avahi_key_unref (key);
  if (l->browser == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK, "cannot look up %s over mDNS: %s",
        name, avahi_strerror (avahi_server_errno (self->server)));
    g_free (l);
    return NULL;
  }
  return l;
}

void
p2p_mdns_lookup_free (P2pMdnsLookup *lookup)
{
  if (lookup == NULL)
    return;
  g_clear_pointer (&lookup->browser, avahi_s_record_browser_free);
  g_free (lookup);
}
