/* p2p-metrics.h: the --metrics ADDRESS:PORT endpoint of p2p-serve and
 * p2p-rendezvous: an HTTP server answering GET /metrics (Prometheus text
 * format 0.0.4) and GET /healthz ("ok"), on the caller's main context.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _P2pMetricsServer P2pMetricsServer;

/* Appends the process's metrics (Prometheus lines) to @out. */
typedef void (*P2pMetricsFillFunc) (GString *out, gpointer user_data);

/* @address: "IP:PORT" or "[IPv6]:PORT", port 0 = any free port. Errors
 * name the address and what is wrong with it. */
P2pMetricsServer *p2p_metrics_server_new (const char *address, P2pMetricsFillFunc fill,
    gpointer user_data, GError **error);
/* (transfer full) "http://IP:PORT/metrics" with the bound port. */
char *p2p_metrics_server_dup_url (P2pMetricsServer *m);
void p2p_metrics_server_free (P2pMetricsServer *m);

/* One metric with its HELP and TYPE lines (@type "counter" or "gauge"). */
void p2p_metrics_add (GString *out, const char *name, const char *type, const char *help,
    guint64 value);
/* One metric with a label per entry of @table (a{st}): name{label="key"} n. */
void p2p_metrics_add_labelled (GString *out, const char *name, const char *help,
    const char *label, GVariant *table);
/* Every counter of p2p_provider_get_stats() (@stats, a{sv}) as
 * @prefix_provider_*: counters, gauges and the setup-time histogram. */
void p2p_metrics_add_provider_stats (GString *out, const char *prefix, GVariant *stats);
/* process_resident_memory_bytes and process_open_fds (Linux /proc). */
void p2p_metrics_add_process (GString *out);

G_END_DECLS
