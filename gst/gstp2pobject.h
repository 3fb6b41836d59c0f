/* gstp2pobject.h: settings and connection logic shared by p2psink and p2psrc
 * (in the spirit of gst-plugins-bad ext/srt/gstsrtobject.c): the common
 * properties (gstp2pobject-props.c), identity, provider and listener
 * set-up, allow-list (gstp2pobject.c), stats and bus messages
 * (gstp2pobject-stats.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include <p2p/p2p.h>

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_p2p_debug);

typedef enum {
  GST_P2P_MODE_LISTEN,
  GST_P2P_MODE_CONNECT,
} GstP2pMode;

typedef enum {
  GST_P2P_TRANSPORT_QUIC,
  GST_P2P_TRANSPORT_SIM,
} GstP2pTransport;

typedef enum {
  GST_P2P_DELIVERY_RELIABLE,
  GST_P2P_DELIVERY_DATAGRAM,
} GstP2pDelivery;

#define GST_TYPE_P2P_MODE (gst_p2p_mode_get_type ())
GType gst_p2p_mode_get_type (void);
#define GST_TYPE_P2P_TRANSPORT (gst_p2p_transport_get_type ())
GType gst_p2p_transport_get_type (void);
#define GST_TYPE_P2P_DELIVERY (gst_p2p_delivery_get_type ())
GType gst_p2p_delivery_get_type (void);

/* Property ids of the common properties; element-specific ones start at
 * GST_P2P_PROP_LAST. */
enum {
  GST_P2P_PROP_0,
  GST_P2P_PROP_MODE,
  GST_P2P_PROP_PEER,
  GST_P2P_PROP_TRANSPORT,
  GST_P2P_PROP_SIM_NETWORK,
  GST_P2P_PROP_IDENTITY,
  GST_P2P_PROP_PEER_ID,
  GST_P2P_PROP_TICKET,
  GST_P2P_PROP_RENDEZVOUS,
  GST_P2P_PROP_STUN_SERVER,
  GST_P2P_PROP_TURN_SERVER,
  GST_P2P_PROP_PORT,
  GST_P2P_PROP_ALLOWED_PEERS,
  GST_P2P_PROP_DELIVERY,
  GST_P2P_PROP_STATS,
  GST_P2P_PROP_RELAY_ONLY,
  /* issue 16 (p2psrc side): shared timeouts */
  GST_P2P_PROP_IDLE_TIMEOUT,
  /* issue 16 item 8: like udpsrc/srtsink */
  GST_P2P_PROP_BIND_ADDRESS,
  GST_P2P_PROP_BOUND_PORT,
  /* issue 15: LAN discovery */
  GST_P2P_PROP_MDNS,
  GST_P2P_PROP_LAST
};

typedef struct {
  GstElement *element;          /* not a reference: the owner */
  gboolean is_sink;
  /* p2psrc reading a file: dials complete at TLS done (P2pConfig
   * early_streams); object lock */
  gboolean early_streams;
  /* p2psrc reading a file: its connection is kept this long after it
   * stopped, for the next p2psrc of the same peer (gstp2ppool.c); ms, 0 =
   * closed at once; object lock */
  guint keep_alive;

  /* settings, protected by the element's object lock */
  GstP2pMode mode;
  char *peer;
  GstP2pTransport transport;
  char *sim_network;
  char *identity_path;
  char *rendezvous;
  char *stun_server;
  char *turn_server;
  gboolean relay_only;
  gboolean mdns;                /* FALSE: P2P_MDNS=0 */
  gint port;                    /* -1: P2P_LISTEN_PORT or 8800 */
  char *bind_address;           /* NULL: every interface */
  gint bound_port;              /* -1 while not listening */
  char *allowed_peers;
  GstP2pDelivery delivery;
  /* issue 16 (p2psrc side): shared timeouts */
  guint idle_timeout;           /* ms, 0 = $P2P_IDLE_TIMEOUT_MS or 30000 */

  /* runtime, set in open() (READY) and cleared in close() (NULL) */
  P2pIdentity *identity;
  P2pProvider *provider;
  P2pListener *listener;
  char *peer_id;                /* our own ID, text form */
  char *ticket;
  /* how the identity was found, for the p2p-listening message: "file",
   * "default-file" (p2p-id's), "new-file" (created now), "ephemeral" */
  char *identity_kind;
  char *identity_file_used;     /* the key file, NULL if ephemeral */
  GArray *allowed;              /* P2pPeerId, empty = everyone */
  /* keep-alive: what a kept connection is filed under (NULL: not kept),
   * and the connection taken from the pool at open or left by the file
   * reader, until connect() or close() */
  char *pool_key;
  char *pool_peer;              /* the "peer" in pool_key: kept_conn's peer */
  P2pConnection *kept_conn;
  gboolean reused;              /* the last connect() returned a kept one */
} GstP2pObject;

GstP2pObject *gst_p2p_object_new (GstElement *element, gboolean is_sink);
void gst_p2p_object_free (GstP2pObject *self);

void gst_p2p_object_install_properties (GObjectClass *klass, gboolean is_sink);
gboolean gst_p2p_object_set_property (GstP2pObject *self, guint prop_id,
    const GValue *value, GParamSpec *pspec);
/* STATS is answered by the element (it knows its connections). */
gboolean gst_p2p_object_get_property (GstP2pObject *self, guint prop_id,
    GValue *value, GParamSpec *pspec);

/* NULL -> READY: validates the settings, loads or makes the identity, creates
 * the provider and (in listen mode) the listener. On failure posts
 * GST_ELEMENT_ERROR with a message naming the bad setting and returns FALSE. */
gboolean gst_p2p_object_open (GstP2pObject *self);
/* READY -> NULL. */
void gst_p2p_object_close (GstP2pObject *self);

/* Validators (also used by the URI handler); errors are
 * P2P_ERROR_INVALID_ARGUMENT naming the property. */
gboolean gst_p2p_object_validate_peer (const char *peer, GError **error);

/* TRUE if @conn's peer may stay: in allowed-peers (when set) and accepted
 * by every "peer-connecting" handler of the element. Else FALSE and *@why
 * (static) says which, for the close reason and the log. */
gboolean gst_p2p_object_peer_allowed (GstP2pObject *self, P2pConnection *conn,
    const char **why);
/* Installs the "peer-connecting" signal (p2psink, p2psrc in listen mode). */
guint gst_p2p_object_install_peer_connecting (GObjectClass *klass);

/* Connects to the configured peer (blocking, cancellable): the kept
 * connection if there is one, else a dial bounded by @timeout_ms (0: the
 * transport's own bound; timeout: P2P_ERROR_TIMEOUT naming connect-timeout). */
P2pConnection *gst_p2p_object_connect (GstP2pObject *self, guint timeout_ms,
    GCancellable *cancellable, GError **error);
/* A file reader is done with @conn: kept for the next p2psrc (keep-alive;
 * TRUE) or closed with @reason (FALSE). */
gboolean gst_p2p_object_release_connection (GstP2pObject *self, P2pConnection *conn,
    const char *reason);
/* (transfer full) a copy of the configured peer string. */
char *gst_p2p_object_dup_peer (GstP2pObject *self);
/* GstURIHandler helpers (p2p://<peer>) shared by p2psink and p2psrc */
const gchar *const *gst_p2p_uri_get_protocols (GType type);
gchar *gst_p2p_object_get_uri (GstP2pObject *self);
gboolean gst_p2p_object_set_uri (GstP2pObject *self, const gchar *uri, GError **error);

/* (transfer full) the text form of @conn's peer ID. */
char *gst_p2p_connection_dup_peer_id (P2pConnection *conn);

/* Adds one connection's stats to a stats structure being built. */
void gst_p2p_stats_accumulate (GstStructure *s, const P2pConnectionStats *st);
/* A fresh "application/x-p2p-stats" structure with every field zero. */
GstStructure *gst_p2p_stats_new (void);
/* Adds "provider": the counters of the element's provider since it
 * started (p2p_provider_get_stats()), while it has one (READY and up). */
void gst_p2p_object_add_provider_stats (GstP2pObject *self, GstStructure *s);

/* Posts the element message "p2p-connection". */
void gst_p2p_object_post_connection (GstP2pObject *self, P2pConnection *conn,
    const char *event);
/* That message, not posted (transfer full): for a caller that holds a lock
 * a bus sync handler could need. */
GstMessage *gst_p2p_object_connection_message (GstP2pObject *self, P2pConnection *conn,
    const char *event);
/* The same for event "path-changed": "old-path" and "path" are the kinds of
 * this change (P2pConnection::path-changed). */
void gst_p2p_object_post_path_changed (GstP2pObject *self, P2pConnection *conn,
    P2pPathKind old_kind, P2pPathKind new_kind);
/* The same for event "disconnected", with the connection's figures taken
 * before it was closed (@st) and the @reason it was closed for. */
void gst_p2p_object_post_disconnected (GstP2pObject *self, P2pConnection *conn,
    const P2pConnectionStats *st, const char *reason);

/* Errors from the library as element errors. */
#define GST_P2P_ELEMENT_ERROR_FROM(el, err, ...) \
  G_STMT_START { \
    g_autofree char *__msg = g_strdup_printf (__VA_ARGS__); \
    if ((err)->domain == P2P_ERROR && (err)->code == P2P_ERROR_INVALID_ARGUMENT) \
      GST_ELEMENT_ERROR (el, RESOURCE, SETTINGS, ("%s", __msg), \
          ("%s", (err)->message)); \
    else if ((err)->domain == P2P_ERROR && (err)->code == P2P_ERROR_AUTHENTICATION_FAILED) \
      GST_ELEMENT_ERROR (el, RESOURCE, NOT_AUTHORIZED, ("%s", __msg), \
          ("%s", (err)->message)); \
    else if ((err)->domain == P2P_ERROR && ((err)->code == P2P_ERROR_PEER_NOT_FOUND \
            || (err)->code == P2P_ERROR_CONNECTION_FAILED \
            || (err)->code == P2P_ERROR_TIMEOUT)) \
      GST_ELEMENT_ERROR (el, RESOURCE, NOT_FOUND, ("%s", __msg), \
          ("%s", (err)->message)); \
    else \
      GST_ELEMENT_ERROR (el, RESOURCE, OPEN_READ_WRITE, ("%s", __msg), \
          ("%s", (err)->message)); \
  } G_STMT_END

G_END_DECLS
