/* p2p-metrics.c: the --metrics HTTP endpoint (see the header).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p-metrics.h"

#include <libsoup/soup.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct _P2pMetricsServer {
  SoupServer *soup;
  GSocketService *service;      /* accepts, hands connections to soup */
  P2pMetricsFillFunc fill;
  gpointer user_data;
  char *url;
};

static void
on_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
    gpointer user_data)
{
  P2pMetricsServer *m = user_data;
  GString *body;

  /* one request per connection: nothing stays open between scrapes (and
   * nothing is left half-served when the process stops) */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
      "Connection", "close");

  if (soup_server_message_get_method (msg) != SOUP_METHOD_GET
      && soup_server_message_get_method (msg) != SOUP_METHOD_HEAD) {
    soup_server_message_set_status (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
    return;
  }
  if (g_strcmp0 (path, "/healthz") == 0) {
    soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "ok\n", 3);
    return;
  }
  if (g_strcmp0 (path, "/metrics") != 0) {
    soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
    return;
  }
  body = g_string_new (NULL);
  m->fill (body, m->user_data);
  p2p_metrics_add_process (body);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE,
      body->str, body->len);
  g_string_free (body, FALSE);
}

/* Our own accept loop (GSocketService) rather than soup_server_listen():
 * libsoup 3.2's listener leaks every accepted socket. */
static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  P2pMetricsServer *m = data;
  g_autoptr (GSocketAddress) local = g_socket_connection_get_local_address (conn, NULL);
  g_autoptr (GSocketAddress) remote = g_socket_connection_get_remote_address (conn, NULL);
  g_autoptr (GError) error = NULL;

  if (local == NULL || remote == NULL
      || !soup_server_accept_iostream (m->soup, G_IO_STREAM (conn), local, remote, &error))
    g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
  return TRUE;
}

P2pMetricsServer *
p2p_metrics_server_new (const char *address, P2pMetricsFillFunc fill, gpointer user_data,
    GError **error)
{
  g_autoptr (GSocketConnectable) parsed = NULL;
  g_autoptr (GInetAddress) ip = NULL;
  g_autoptr (GSocketAddress) sa = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (GSocketAddress) bound = NULL;
  P2pMetricsServer *m;

  g_return_val_if_fail (address != NULL && fill != NULL, NULL);

  parsed = g_network_address_parse (address, 0, &local);
  if (parsed == NULL || !strchr (address, ':')) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "--metrics \"%s\": expected IP:PORT (e.g. 127.0.0.1:9100; port 0 = any free port)",
        address);
    return NULL;
  }
  ip = g_inet_address_new_from_string (
      g_network_address_get_hostname (G_NETWORK_ADDRESS (parsed)));
  if (ip == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "--metrics \"%s\": \"%s\" is not an IP address", address,
        g_network_address_get_hostname (G_NETWORK_ADDRESS (parsed)));
    return NULL;
  }
  sa = g_inet_socket_address_new (ip, g_network_address_get_port (G_NETWORK_ADDRESS (parsed)));

  m = g_new0 (P2pMetricsServer, 1);
  m->fill = fill;
  m->user_data = user_data;
  m->soup = soup_server_new ("server-header", "gst-p2p-metrics", NULL);
  soup_server_add_handler (m->soup, NULL, on_request, m, NULL);
  m->service = g_socket_service_new ();
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (m->service), sa, G_SOCKET_TYPE_STREAM,
          G_SOCKET_PROTOCOL_TCP, NULL, &bound, &local)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "--metrics %s: cannot listen: %s",
        address, local->message);
    p2p_metrics_server_free (m);
    return NULL;
  }
  g_signal_connect (m->service, "incoming", G_CALLBACK (on_incoming), m);
  g_socket_service_start (m->service);
  {
    g_autofree char *host = g_inet_address_to_string (
        g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (bound)));
    guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

    m->url = strchr (host, ':') ? g_strdup_printf ("http://[%s]:%u/metrics", host, port)
        : g_strdup_printf ("http://%s:%u/metrics", host, port);
  }
  return m;
}

char *
p2p_metrics_server_dup_url (P2pMetricsServer *m)
{
  return g_strdup (m->url);
}

void
p2p_metrics_server_free (P2pMetricsServer *m)
{
  if (m == NULL)
    return;
  if (m->service) {
    g_socket_service_stop (m->service);
    g_socket_listener_close (G_SOCKET_LISTENER (m->service));
    g_signal_handlers_disconnect_by_data (m->service, m);
    g_object_unref (m->service);
  }
  soup_server_disconnect (m->soup);
  g_object_unref (m->soup);
  g_free (m->url);
  g_free (m);
}

void
p2p_metrics_add (GString *out, const char *name, const char *type, const char *help,
    guint64 value)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n%s %" G_GUINT64_FORMAT "\n",
      name, help, name, type, name, value);
}

/* label values: \ " and newline escaped (Prometheus text format) */
static void
append_label_value (GString *out, const char *v)
{
  for (; *v; v++) {
    if (*v == '\\' || *v == '"')
      g_string_append_c (out, '\\');
    if (*v == '\n')
      g_string_append (out, "\\n");
    else
      g_string_append_c (out, *v);
  }
}

void
p2p_metrics_add_labelled (GString *out, const char *name, const char *help, const char *label,
    GVariant *table)
{
  GVariantIter it;
  const char *key;
  guint64 n;

  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
  if (table == NULL)
    return;
  g_variant_iter_init (&it, table);
  while (g_variant_iter_next (&it, "{&st}", &key, &n)) {
    g_string_append_printf (out, "%s{%s=\"", name, label);
    append_label_value (out, key);
    g_string_append_printf (out, "\"} %" G_GUINT64_FORMAT "\n", n);
  }
}

static guint64
lookup_u64 (GVariant *stats, const char *key)
{
  guint64 n = 0;

  g_variant_lookup (stats, key, "t", &n);
  return n;
}

void
p2p_metrics_add_provider_stats (GString *out, const char *prefix, GVariant *stats)
{
  static const struct {
    const char *key, *name, *help;
  } counters[] = {
    { "dials-ok", "dials_ok_total", "dials that ended with an authenticated connection" },
    { "accepts", "accepts_total", "connections accepted by a listener" },
    { "closed", "closed_total", "established connections that have closed" },
    { "relay-bytes-closed", "relay_bytes_closed_total",
      "UDP bytes of relayed connections that have closed" },
  };
  g_autoptr (GVariant) failed = g_variant_lookup_value (stats, "dials-failed-by-error",
      G_VARIANT_TYPE ("a{st}"));
  g_autoptr (GVariant) refused = g_variant_lookup_value (stats, "refused-by-reason",
      G_VARIANT_TYPE ("a{st}"));
  g_autoptr (GVariant) buckets = g_variant_lookup_value (stats, "setup-ms-buckets",
      G_VARIANT_TYPE ("a(ut)"));
  g_autofree char *name = NULL;
  GVariantIter it;
  guint32 bound, active = 0;
  guint64 n;
  gdouble sum = 0;

  for (guint i = 0; i < G_N_ELEMENTS (counters); i++) {
    g_free (name);
    name = g_strdup_printf ("%s_provider_%s", prefix, counters[i].name);
    p2p_metrics_add (out, name, "counter", counters[i].help, lookup_u64 (stats, counters[i].key));
  }
  g_free (name);
  name = g_strdup_printf ("%s_provider_dials_failed_total", prefix);
  p2p_metrics_add_labelled (out, name, "failed dials by error", "error", failed);
  g_free (name);
  name = g_strdup_printf ("%s_provider_refused_total", prefix);
  p2p_metrics_add_labelled (out, name, "peers a listener turned away, by reason", "reason",
      refused);
  g_free (name);
  name = g_strdup_printf ("%s_provider_established_total", prefix);
  g_string_append_printf (out, "# HELP %s connections established, by path\n# TYPE %s counter\n"
      "%s{path=\"direct\"} %" G_GUINT64_FORMAT "\n%s{path=\"relay\"} %" G_GUINT64_FORMAT "\n"
      "%s{path=\"simulated\"} %" G_GUINT64_FORMAT "\n", name, name,
      name, lookup_u64 (stats, "paths-direct"), name, lookup_u64 (stats, "paths-relay"),
      name, lookup_u64 (stats, "paths-simulated"));
  g_free (name);
  name = g_strdup_printf ("%s_provider_active_connections", prefix);
  g_variant_lookup (stats, "active", "u", &active);
  p2p_metrics_add (out, name, "gauge", "established connections not closed yet", active);
  g_free (name);
  name = g_strdup_printf ("%s_provider_setup_seconds", prefix);
  g_string_append_printf (out, "# HELP %s connection setup time\n# TYPE %s histogram\n",
      name, name);
  n = 0;
  if (buckets) {
    g_variant_iter_init (&it, buckets);
    while (g_variant_iter_next (&it, "(ut)", &bound, &n)) {
      if (bound == G_MAXUINT32)
        g_string_append_printf (out, "%s_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n", name, n);
      else
        g_string_append_printf (out, "%s_bucket{le=\"%g\"} %" G_GUINT64_FORMAT "\n", name,
            bound / 1000.0, n);
    }
  }
  g_variant_lookup (stats, "setup-ms-sum", "d", &sum);
  g_string_append_printf (out, "%s_sum %g\n%s_count %" G_GUINT64_FORMAT "\n", name,
      sum / 1000.0, name, n);
}

void
p2p_metrics_add_process (GString *out)
{
  g_autofree char *statm = NULL;
  g_autoptr (GDir) fds = g_dir_open ("/proc/self/fd", 0, NULL);
  guint64 pages = 0, resident = 0, n_fds = 0;

  if (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL))
    sscanf (statm, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, &pages, &resident);
  p2p_metrics_add (out, "process_resident_memory_bytes", "gauge", "resident memory",
      resident * (guint64) sysconf (_SC_PAGESIZE));
  while (fds && g_dir_read_name (fds))
    n_fds++;
  p2p_metrics_add (out, "process_open_fds", "gauge", "open file descriptors", n_fds);
}
