/* p2p-peer-info.c: how to reach a peer (ID, address hints, relay), its three
 * text forms (bare ID, ticket, ID@HOST:PORT) and HOST:PORT parsing.
 *
 * Ticket (docs/peer-id.md): "p2p1" + lowercase base32 (no padding) of
 *   u8 version (1) | key[32] | u8 n_addresses (0..16) | addresses |
 *   u16 relay_len (0 = none, <= 512) | relay bytes | u32 CRC-32 (big-endian)
 * where an address is one of
 *   0x04 | ipv4[4] | u16 port,   0x06 | ipv6[16] | u16 port,
 *   'h' (0x68) | u8 len (1..253) | host name | u16 port.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "p2p/p2p-peer-info.h"

#include <string.h>

#include "p2p/p2p-error.h"
#include "p2p-base32.h"
#include "p2p-checksum.h"

#define TICKET_PREFIX "p2p1"
#define TICKET_PREFIX_LEN 4
#define TICKET_VERSION 1
#define TICKET_MAX_ADDRESSES 16
#define TICKET_MAX_HOST_LEN 253
#define TICKET_MAX_RELAY_LEN 512
#define TICKET_ADDR_IPV4 0x04
#define TICKET_ADDR_IPV6 0x06
#define TICKET_ADDR_HOST 'h'
/* version + key + count + relay_len + crc */
#define TICKET_MIN_RAW_LEN (1 + P2P_PEER_ID_KEY_LEN + 1 + 2 + 4)
#define TICKET_MAX_RAW_LEN (TICKET_MIN_RAW_LEN + TICKET_MAX_ADDRESSES * (2 + TICKET_MAX_HOST_LEN + 2) \
    + TICKET_MAX_RELAY_LEN)

struct _P2pPeerInfo {
  gatomicrefcount ref_count;
  P2pPeerId id;
  GPtrArray *addresses; /* canonical "HOST:PORT" strings, NULL-terminated */
  char *relay;
};

G_DEFINE_BOXED_TYPE (P2pPeerInfo, p2p_peer_info, p2p_peer_info_ref, p2p_peer_info_unref)

/**
 * p2p_peer_info_new:
 * @id: the peer's ID
 *
 * Returns: (transfer full): a peer info with no addresses and no relay.
 */
P2pPeerInfo *
p2p_peer_info_new (const P2pPeerId *id)
{
  P2pPeerInfo *info;

  g_return_val_if_fail (id != NULL, NULL);

  info = g_new0 (P2pPeerInfo, 1);
  g_atomic_ref_count_init (&info->ref_count);
  info->id = *id;
  info->addresses = g_ptr_array_new_null_terminated (2, g_free, TRUE);
  return info;
}

/**
 * p2p_peer_info_ref:
 * @info: a peer info
 *
 * Returns: (transfer full): @info
 */
P2pPeerInfo *
p2p_peer_info_ref (P2pPeerInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  g_atomic_ref_count_inc (&info->ref_count);
  return info;
}

/**
 * p2p_peer_info_unref:
 * @info: (transfer full): a peer info
 *
 * Drops a reference; the last one frees @info.
 */
void
p2p_peer_info_unref (P2pPeerInfo *info)
{
  g_return_if_fail (info != NULL);
  if (!g_atomic_ref_count_dec (&info->ref_count))
    return;
  g_ptr_array_unref (info->addresses);
  g_free (info->relay);
  g_free (info);
}

/**
 * p2p_peer_info_get_peer_id:
 * @info: a peer info
 *
 * Returns: (transfer none): the peer ID
 */
const P2pPeerId *
p2p_peer_info_get_peer_id (const P2pPeerInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return &info->id;
}

/**
 * p2p_peer_info_get_addresses:
 * @info: a peer info
 *
 * Returns: (transfer none) (array zero-terminated=1): the address hints
 */
const char *const *
p2p_peer_info_get_addresses (const P2pPeerInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return (const char *const *) info->addresses->pdata;
}

/**
 * p2p_peer_info_get_relay:
 * @info: a peer info
 *
 * Returns: (transfer none) (nullable): the relay URL
 */
const char *
p2p_peer_info_get_relay (const P2pPeerInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->relay;
}

static gboolean
relay_is_printable (const char *relay, gsize len)
{
  for (gsize i = 0; i < len; i++) {
    if ((guchar) relay[i] <= 0x20 || (guchar) relay[i] >= 0x7f)
      return FALSE;
  }
  return TRUE;
}

/**
 * p2p_peer_info_set_relay:
 * @info: a peer info
 * @relay_url: (nullable): a relay URL (printable ASCII, at most 512 bytes),
 *   or NULL for none
 */
void
p2p_peer_info_set_relay (P2pPeerInfo *info, const char *relay_url)
{
  g_return_if_fail (info != NULL);
  g_return_if_fail (relay_url == NULL || (strlen (relay_url) <= TICKET_MAX_RELAY_LEN
          && relay_is_printable (relay_url, strlen (relay_url))));

  g_free (info->relay);
  info->relay = (relay_url && relay_url[0]) ? g_strdup (relay_url) : NULL;
}

/* A DNS name: labels of 1..63 letters, digits and '-' (not at either end),
 * separated by dots, at most 253 characters, the last label not all digits
 * (so "127.1" is not taken for a name). */
static gboolean
validate_hostname (const char *host, gsize len, GError **error)
{
  gsize label_start = 0;
  gboolean all_digits = TRUE;

  if (len == 0) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "empty host name");
    return FALSE;
  }
  if (len > TICKET_MAX_HOST_LEN) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "host name is %" G_GSIZE_FORMAT " characters long; at most %d are allowed",
        len, TICKET_MAX_HOST_LEN);
    return FALSE;
  }
  for (gsize i = 0; i <= len; i++) {
    char c = i < len ? host[i] : '.';

    if (c == '.') {
      gsize label_len = i - label_start;

      if (label_len == 0 || label_len > 63) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
            "host name '%.*s' has a label of %" G_GSIZE_FORMAT " characters (1..63 allowed)",
            (int) len, host, label_len);
        return FALSE;
      }
      if (host[label_start] == '-' || host[i - 1] == '-') {
        g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
            "host name '%.*s': a label cannot start or end with '-'", (int) len, host);
        return FALSE;
      }
      if (i == len && all_digits) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
            "'%.*s' is neither a valid IPv4 address nor a host name", (int) len, host);
        return FALSE;
      }
      label_start = i + 1;
      all_digits = TRUE;
    } else if (g_ascii_isalnum (c) || c == '-') {
      if (!g_ascii_isdigit (c))
        all_digits = FALSE;
    } else {
      g_autofree char *desc = p2p_describe_char (c);

      if (c == ':')
        g_set_error_literal (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
            "an IPv6 address must be written in brackets, e.g. [::1]:8800");
      else
        g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
            "host name: character %" G_GSIZE_FORMAT " (%s) is not allowed "
            "(letters, digits, '-' and '.')", i + 1, desc);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
parse_port (const char *text, const char *whole, guint16 *port, GError **error)
{
  guint64 v;

  if (text[0] == '\0') {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "missing port in '%s'; expected HOST:PORT with a port 1..65535", whole);
    return FALSE;
  }
  if (!g_ascii_string_to_unsigned (text, 10, 1, 65535, &v, NULL)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "port '%s' in '%s' is not a number 1..65535", text, whole);
    return FALSE;
  }
  *port = (guint16) v;
  return TRUE;
}

/* Like p2p_parse_host_port(), also giving the parsed IP address (NULL for a
 * host name). */
static gboolean
parse_host_port_full (const char *text, char **host, guint16 *port,
    GInetAddress **address, GError **error)
{
  g_autofree char *h = NULL;
  g_autoptr (GInetAddress) addr = NULL;
  const char *port_text;
  guint16 p = 0;

  if (text == NULL || text[0] == '\0') {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "empty address; expected HOST:PORT or [IPV6]:PORT");
    return FALSE;
  }
  if (text[0] == '[') {
    const char *end = strchr (text, ']');

    if (end == NULL) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "missing ']' in '%s'; expected [IPV6]:PORT", text);
      return FALSE;
    }
    h = g_strndup (text + 1, (gsize) (end - text - 1));
    if (strchr (h, '%') != NULL) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "'%s': IPv6 scope IDs (%%...) are not supported", text);
      return FALSE;
    }
    addr = g_inet_address_new_from_string (h);
    if (addr == NULL || g_inet_address_get_family (addr) != G_SOCKET_FAMILY_IPV6) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "'%s' in '%s' is not an IPv6 address", h, text);
      return FALSE;
    }
    if (end[1] != ':') {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "missing port in '%s'; expected [IPV6]:PORT", text);
      return FALSE;
    }
    port_text = end + 2;
  } else {
    const char *colon = strrchr (text, ':');

    if (colon == NULL) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "missing port in '%s'; expected HOST:PORT", text);
      return FALSE;
    }
    h = g_strndup (text, (gsize) (colon - text));
    if (strchr (h, ':') != NULL) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "'%s': an IPv6 address must be written in brackets, e.g. [::1]:8800", text);
      return FALSE;
    }
    addr = g_inet_address_new_from_string (h);
    if (addr == NULL) {
      g_autoptr (GError) local = NULL;

      if (!validate_hostname (h, strlen (h), &local)) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
            "bad address '%s': %s", text, local->message);
        return FALSE;
      }
    }
    port_text = colon + 1;
  }
  if (!parse_port (port_text, text, &p, error))
    return FALSE;
  if (host)
    *host = g_steal_pointer (&h);
  if (port)
    *port = p;
  if (address)
    *address = g_steal_pointer (&addr);
  return TRUE;
}

/**
 * p2p_parse_host_port:
 * @text: "HOST:PORT" (HOST an IPv4 address or a DNS name) or "[IPV6]:PORT"
 * @host: (out) (transfer full) (optional): the host, without brackets
 * @port: (out) (optional): the port, 1..65535
 * @error: P2P_ERROR_INVALID_ARGUMENT naming the problem
 *
 * Returns: TRUE if @text is a valid address.
 */
gboolean
p2p_parse_host_port (const char *text, char **host, guint16 *port, GError **error)
{
  return parse_host_port_full (text, host, port, NULL, error);
}

static char *
canonical_address (const char *host, GInetAddress *addr, guint16 port)
{
  if (addr != NULL) {
    g_autofree char *s = g_inet_address_to_string (addr);

    if (g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV6)
      return g_strdup_printf ("[%s]:%u", s, port);
    return g_strdup_printf ("%s:%u", s, port);
  } else {
    g_autofree char *lower = g_ascii_strdown (host, -1);

    return g_strdup_printf ("%s:%u", lower, port);
  }
}

/**
 * p2p_peer_info_add_address:
 * @info: a peer info
 * @host_port: "HOST:PORT" or "[IPV6]:PORT"
 * @error: P2P_ERROR_INVALID_ARGUMENT if malformed or if @info already has
 *   16 addresses
 *
 * Adds an address hint, in canonical form (IP addresses as GLib prints them,
 * host names in lower case).
 *
 * Returns: TRUE on success.
 */
gboolean
p2p_peer_info_add_address (P2pPeerInfo *info, const char *host_port, GError **error)
{
  g_autofree char *host = NULL;
  g_autoptr (GInetAddress) addr = NULL;
  guint16 port;

  g_return_val_if_fail (info != NULL, FALSE);

  if (info->addresses->len >= TICKET_MAX_ADDRESSES) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "a peer can have at most %d addresses", TICKET_MAX_ADDRESSES);
    return FALSE;
  }
  if (!parse_host_port_full (host_port, &host, &port, &addr, error))
    return FALSE;
  g_ptr_array_add (info->addresses, canonical_address (host, addr, port));
  return TRUE;
}

static void
put_u16 (GByteArray *b, guint16 v)
{
  guint8 x[2] = { v >> 8, v & 0xff };

  g_byte_array_append (b, x, 2);
}

/**
 * p2p_peer_info_to_ticket:
 * @info: a peer info
 *
 * Returns: (transfer full): the ticket "p2p1..." of @info.
 */
char *
p2p_peer_info_to_ticket (const P2pPeerInfo *info)
{
  g_autoptr (GByteArray) b = g_byte_array_new ();
  guint8 version = TICKET_VERSION;
  guint8 count;
  guint32 crc;
  guint8 crc_be[4];
  gsize relay_len;
  char *out;

  g_return_val_if_fail (info != NULL, NULL);

  g_byte_array_append (b, &version, 1);
  g_byte_array_append (b, info->id.key, P2P_PEER_ID_KEY_LEN);
  count = (guint8) info->addresses->len;
  g_byte_array_append (b, &count, 1);
  for (guint i = 0; i < info->addresses->len; i++) {
    g_autofree char *host = NULL;
    g_autoptr (GInetAddress) addr = NULL;
    guint16 port = 0;
    gboolean ok;

    ok = parse_host_port_full (g_ptr_array_index (info->addresses, i), &host, &port, &addr, NULL);
    g_assert (ok); /* validated by add_address */
    if (addr != NULL) {
      guint8 type = g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV6 ?
          TICKET_ADDR_IPV6 : TICKET_ADDR_IPV4;

      g_byte_array_append (b, &type, 1);
      g_byte_array_append (b, g_inet_address_to_bytes (addr), g_inet_address_get_native_size (addr));
    } else {
      guint8 hdr[2] = { TICKET_ADDR_HOST, (guint8) strlen (host) };

      g_byte_array_append (b, hdr, 2);
      g_byte_array_append (b, (const guint8 *) host, hdr[1]);
    }
    put_u16 (b, port);
  }
  relay_len = info->relay ? strlen (info->relay) : 0;
  put_u16 (b, (guint16) relay_len);
  if (relay_len)
    g_byte_array_append (b, (const guint8 *) info->relay, (guint) relay_len);
  crc = p2p_crc32 (b->data, b->len);
  crc_be[0] = crc >> 24;
  crc_be[1] = (crc >> 16) & 0xff;
  crc_be[2] = (crc >> 8) & 0xff;
  crc_be[3] = crc & 0xff;
  g_byte_array_append (b, crc_be, 4);

  out = g_malloc (TICKET_PREFIX_LEN + p2p_base32_encoded_len (b->len) + 1);
  memcpy (out, TICKET_PREFIX, TICKET_PREFIX_LEN);
  p2p_base32_encode_into (b->data, b->len, out + TICKET_PREFIX_LEN);
  return out;
}

/* A bounds-checked reader over the decoded ticket. */
typedef struct {
  const guint8 *p;
  gsize left;
} Reader;

static gboolean
take (Reader *r, gsize n, const guint8 **out, const char *what, GError **error)
{
  if (r->left < n) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "ticket is truncated: it ends inside the %s", what);
    return FALSE;
  }
  *out = r->p;
  r->p += n;
  r->left -= n;
  return TRUE;
}

static P2pPeerInfo *
parse_ticket (const char *text, GError **error)
{
  const char *b32 = text + TICKET_PREFIX_LEN;
  gsize b32_len = strlen (b32);
  g_autofree guint8 *raw = NULL;
  g_autoptr (P2pPeerInfo) info = NULL;
  gsize raw_len = 0;
  const guint8 *p;
  P2pPeerId id;
  guint32 crc;
  Reader r;
  guint n_addr;
  guint16 relay_len;

  if (b32_len > p2p_base32_encoded_len (TICKET_MAX_RAW_LEN)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "ticket is too long (%" G_GSIZE_FORMAT " characters)", b32_len + TICKET_PREFIX_LEN);
    return NULL;
  }
  raw = g_malloc (b32_len * 5 / 8 + 1);
  if (!p2p_base32_decode (b32, b32_len, raw, &raw_len, "ticket", TICKET_PREFIX_LEN, error))
    return NULL;
  if (raw_len < TICKET_MIN_RAW_LEN) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "ticket is too short (%" G_GSIZE_FORMAT " characters); was it cut off?",
        b32_len + TICKET_PREFIX_LEN);
    return NULL;
  }
  raw_len -= 4;
  crc = (guint32) raw[raw_len] << 24 | (guint32) raw[raw_len + 1] << 16 |
      (guint32) raw[raw_len + 2] << 8 | raw[raw_len + 3];
  if (crc != p2p_crc32 (raw, raw_len)) {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "checksum mismatch: the ticket has a typo or was cut off");
    return NULL;
  }
  if (raw[0] != TICKET_VERSION) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "ticket version %u is not supported (this build reads version %d); "
        "upgrade gst-p2p", raw[0], TICKET_VERSION);
    return NULL;
  }
  r.p = raw + 1;
  r.left = raw_len - 1;
  if (!take (&r, P2P_PEER_ID_KEY_LEN, &p, "peer key", error))
    return NULL;
  p2p_peer_id_from_key (&id, p);
  info = p2p_peer_info_new (&id);

  if (!take (&r, 1, &p, "address count", error))
    return NULL;
  n_addr = p[0];
  if (n_addr > TICKET_MAX_ADDRESSES) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "ticket lists %u addresses; at most %d are allowed", n_addr, TICKET_MAX_ADDRESSES);
    return NULL;
  }
  for (guint i = 0; i < n_addr; i++) {
    g_autofree char *host = NULL;
    g_autoptr (GInetAddress) addr = NULL;
    guint16 port;
    const guint8 *type;

    if (!take (&r, 1, &type, "address type", error))
      return NULL;
    if (type[0] == TICKET_ADDR_IPV4 || type[0] == TICKET_ADDR_IPV6) {
      gboolean v4 = type[0] == TICKET_ADDR_IPV4;

      if (!take (&r, v4 ? 4 : 16, &p, "IP address", error))
        return NULL;
      addr = g_inet_address_new_from_bytes (p, v4 ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);
    } else if (type[0] == TICKET_ADDR_HOST) {
      if (!take (&r, 1, &p, "host name length", error))
        return NULL;
      if (!take (&r, p[0], &p, "host name", error))
        return NULL;
      if (!validate_hostname ((const char *) p, p[-1], error)) {
        g_prefix_error (error, "ticket address %u: ", i + 1);
        return NULL;
      }
      host = g_strndup ((const char *) p, p[-1]);
    } else {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "ticket address %u has unknown type 0x%02x", i + 1, type[0]);
      return NULL;
    }
    if (!take (&r, 2, &p, "port", error))
      return NULL;
    port = (guint16) (p[0] << 8 | p[1]);
    if (port == 0) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "ticket address %u has port 0", i + 1);
      return NULL;
    }
    g_ptr_array_add (info->addresses, canonical_address (host, addr, port));
  }

  if (!take (&r, 2, &p, "relay length", error))
    return NULL;
  relay_len = (guint16) (p[0] << 8 | p[1]);
  if (relay_len > TICKET_MAX_RELAY_LEN) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "ticket relay URL is %u bytes; at most %d are allowed", relay_len, TICKET_MAX_RELAY_LEN);
    return NULL;
  }
  if (relay_len > 0) {
    if (!take (&r, relay_len, &p, "relay URL", error))
      return NULL;
    if (!relay_is_printable ((const char *) p, relay_len)) {
      g_set_error_literal (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "ticket relay URL contains spaces or non-printable characters");
      return NULL;
    }
    info->relay = g_strndup ((const char *) p, relay_len);
  }
  if (r.left != 0) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "ticket has %" G_GSIZE_FORMAT " unexpected bytes after its last field", r.left);
    return NULL;
  }
  return g_steal_pointer (&info);
}

/**
 * p2p_peer_info_parse:
 * @text: a peer ID, a ticket ("p2p1...") or "ID@HOST:PORT"
 * @error: P2P_ERROR_INVALID_ARGUMENT saying what is wrong
 *
 * Returns: (transfer full) (nullable): the peer info.
 */
P2pPeerInfo *
p2p_peer_info_parse (const char *text, GError **error)
{
  const char *at;
  P2pPeerId id;

  if (text == NULL || text[0] == '\0') {
    g_set_error_literal (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "no peer given: expected a peer ID, a ticket (p2p1...) or ID@HOST:PORT");
    return NULL;
  }
  /* '1' is not in the base32 alphabet, so no peer ID starts with "p2p1". */
  if (g_ascii_strncasecmp (text, TICKET_PREFIX, TICKET_PREFIX_LEN) == 0)
    return parse_ticket (text, error);

  at = strchr (text, '@');
  if (at != NULL) {
    g_autofree char *id_text = g_strndup (text, (gsize) (at - text));
    g_autoptr (P2pPeerInfo) info = NULL;

    if (!p2p_peer_id_parse (id_text, &id, error)) {
      g_prefix_error (error, "in ID@HOST:PORT: ");
      return NULL;
    }
    info = p2p_peer_info_new (&id);
    if (!p2p_peer_info_add_address (info, at + 1, error)) {
      g_prefix_error (error, "in ID@HOST:PORT: ");
      return NULL;
    }
    return g_steal_pointer (&info);
  }

  if (!p2p_peer_id_parse (text, &id, error))
    return NULL;
  return p2p_peer_info_new (&id);
}
