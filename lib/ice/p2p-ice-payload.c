/* p2p-ice-payload.c: the JSON payloads of the ICE offer/answer flow
 * ("ice-offer", "ice-answer", "ice-error"; format in p2p-ice-connect.h):
 * parsing, building, and the offer nonce.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

#include "p2p-ice-connect-private.h"

#include <string.h>
#include <sodium.h>
#include <json-glib/json-glib.h>

#include "p2p/p2p-error.h"
#include "p2p-json.h"

#define MAX_SESSION_LEN 64

void
p2p_ice_payload_clear (P2pIcePayload *p)
{
  g_free (p->kind);
  g_free (p->session);
  g_free (p->ufrag);
  g_free (p->pwd);
  g_free (p->message);
  g_free (p->nonce);
  g_strfreev (p->candidates);
  memset (p, 0, sizeof *p);
}

/* NULL if absent; FALSE + error if present but not a string. */
static gboolean
member_string (JsonObject *o, const char *name, char **out, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  *out = NULL;
  if (!n)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "ICE payload: field \"%s\" is not a string", name);
    return FALSE;
  }
  *out = g_strdup (json_node_get_string (n));
  return TRUE;
}

static gboolean
is_nonce (const char *s)
{
  if (strlen (s) != P2P_ICE_NONCE_HEX_LEN)
    return FALSE;
  for (const char *c = s; *c; c++)
    if (!g_ascii_isdigit (*c) && !(*c >= 'a' && *c <= 'f'))
      return FALSE;
  return TRUE;
}

gboolean
p2p_ice_payload_parse (const char *text, gsize len, P2pIcePayload *p, GError **error)
{
  memset (p, 0, sizeof *p);
  g_autoptr (GStrvBuilder) b = NULL;
  /* Strict RFC 8259 and nesting bounded before json-glib recurses. */
  g_autoptr (JsonNode) root = p2p_json_parse (text, len, "ICE payload", error);
  if (!root)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL, "ICE payload is not a JSON object");
    return FALSE;
  }
  JsonObject *o = json_node_get_object (root);
  if (!member_string (o, "kind", &p->kind, error) ||
      !member_string (o, "session", &p->session, error) ||
      !member_string (o, "ufrag", &p->ufrag, error) ||
      !member_string (o, "pwd", &p->pwd, error) ||
      !member_string (o, "message", &p->message, error) ||
      !member_string (o, "nonce", &p->nonce, error))
    goto fail;
  if (!p->kind || !p->session) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "ICE payload: field \"%s\" is missing", p->kind ? "session" : "kind");
    goto fail;
  }
  if (strlen (p->session) > MAX_SESSION_LEN) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "ICE payload: field \"session\" is longer than %d bytes", MAX_SESSION_LEN);
    goto fail;
  }
  if (p->nonce && !is_nonce (p->nonce)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
        "ICE payload: field \"nonce\" must be %d lower-case hex digits", P2P_ICE_NONCE_HEX_LEN);
    goto fail;
  }
  JsonNode *ts = json_object_get_member (o, "ts");
  if (ts) {
    if (!JSON_NODE_HOLDS_VALUE (ts) || json_node_get_value_type (ts) != G_TYPE_INT64) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_PROTOCOL,
          "ICE payload: field \"ts\" is not an integer (milliseconds since 1970)");
      goto fail;
    }
    p->ts_ms = json_node_get_int (ts);
    p->has_ts = TRUE;
  }
  JsonNode *cn = json_object_get_member (o, "candidates");
  b = g_strv_builder_new ();
  if (cn && JSON_NODE_HOLDS_ARRAY (cn)) {
    JsonArray *a = json_node_get_array (cn);
    guint n = MIN (json_array_get_length (a), 65); /* the path refuses more than 64 */
    for (guint i = 0; i < n; i++) {
      JsonNode *e = json_array_get_element (a, i);
      if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING)
        g_strv_builder_add (b, json_node_get_string (e));
    }
  }
  p->candidates = g_strv_builder_end (b);
  return TRUE;

fail:
  p2p_ice_payload_clear (p);
  return FALSE;
}

gboolean
p2p_ice_payload_parse_signal (const char *text, P2pIcePayload *p)
{
  g_autoptr (GError) error = NULL;
  if (p2p_ice_payload_parse (text, strlen (text), p, &error))
    return TRUE;
  g_debug ("ice: ignoring a signal: %s", error->message);
  return FALSE;
}

void
p2p_ice_random_nonce (char out[P2P_ICE_NONCE_HEX_LEN + 1])
{
  guint8 raw[P2P_ICE_NONCE_HEX_LEN / 2];
  randombytes_buf (raw, sizeof raw);
  for (guint i = 0; i < sizeof raw; i++)
    g_snprintf (out + 2 * i, 3, "%02x", raw[i]);
}

char *
p2p_ice_payload_build_full (const char *kind, const char *session, const char *nonce,
    P2pIcePath *path, const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, kind);
  json_builder_set_member_name (b, "session");
  json_builder_add_string_value (b, session);
  json_builder_set_member_name (b, "ts");
  json_builder_add_int_value (b, g_get_real_time () / 1000);
  if (nonce) {
    json_builder_set_member_name (b, "nonce");
    json_builder_add_string_value (b, nonce);
  }
  if (path) {
    g_autofree char *ufrag = NULL, *pwd = NULL;
    g_auto (GStrv) cands = NULL;
    p2p_ice_path_get_local_description (path, &ufrag, &pwd, &cands);
    json_builder_set_member_name (b, "ufrag");
    json_builder_add_string_value (b, ufrag ? ufrag : "");
    json_builder_set_member_name (b, "pwd");
    json_builder_add_string_value (b, pwd ? pwd : "");
    json_builder_set_member_name (b, "candidates");
    json_builder_begin_array (b);
    for (guint i = 0; cands && cands[i]; i++)
      json_builder_add_string_value (b, cands[i]);
    json_builder_end_array (b);
  }
  if (message) {
    json_builder_set_member_name (b, "message");
    json_builder_add_string_value (b, message);
  }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

char *
p2p_ice_payload_build (const char *kind, const char *session, P2pIcePath *path,
    const char *message)
{
  return p2p_ice_payload_build_full (kind, session, NULL, path, message);
}
