/* test-peer-info.c: tickets, ID@HOST:PORT, HOST:PORT parsing.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <p2p/p2p.h>
#include "p2p-base32.h"

/* Computed independently with Python (base64, zlib.crc32, socket.inet_pton). */
#define ID_SEQ "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypshmy"
#define TICKET_BARE "p2p1aeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aaaacdgzjzh"
#define TICKET_FULL "p2p1aeaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6ayeycuacarcm" \
  "adcaainxaaaaaaaaaaaaaaaaaaacan3nafwk6dbnvygyzjomnxw2iziaamxi5lsny5c6l3smvwgc6jomv4gc3lq" \
  "nrstumzug44nwwhfmm"
#define TICKET_V2 "p2p1aiaacaqdaqcqmbyibefawdanbyhraeiscmkbkfqxdamrugy4dupb6aaaadrizxgz"

static void
seq_id (P2pPeerId *id)
{
  for (guint i = 0; i < P2P_PEER_ID_KEY_LEN; i++)
    id->key[i] = (guint8) i;
}

static void
assert_addresses (const P2pPeerInfo *info, const char *const *expected)
{
  const char *const *got = p2p_peer_info_get_addresses (info);

  g_assert_nonnull (got);
  g_assert_cmpuint (g_strv_length ((char **) got), ==, g_strv_length ((char **) expected));
  for (guint i = 0; expected[i]; i++)
    g_assert_cmpstr (got[i], ==, expected[i]);
}

static void
test_new_ref_boxed (void)
{
  P2pPeerId id;
  P2pPeerInfo *info, *copy;
  const char *const none[] = { NULL };
  GValue v = G_VALUE_INIT;

  seq_id (&id);
  info = p2p_peer_info_new (&id);
  g_assert_true (p2p_peer_id_equal (p2p_peer_info_get_peer_id (info), &id));
  assert_addresses (info, none);
  g_assert_null (p2p_peer_info_get_relay (info));

  g_assert_true (G_TYPE_IS_BOXED (P2P_TYPE_PEER_INFO));
  g_value_init (&v, P2P_TYPE_PEER_INFO);
  g_value_set_boxed (&v, info);
  copy = g_value_get_boxed (&v);
  g_assert_true (copy == info); /* boxed copy is a ref */
  g_assert_true (p2p_peer_info_ref (info) == info);
  p2p_peer_info_unref (info);
  g_value_unset (&v);

  p2p_peer_info_set_relay (info, "turn://r:1");
  g_assert_cmpstr (p2p_peer_info_get_relay (info), ==, "turn://r:1");
  p2p_peer_info_set_relay (info, "");
  g_assert_null (p2p_peer_info_get_relay (info));
  p2p_peer_info_set_relay (info, "turn://r:2");
  p2p_peer_info_set_relay (info, NULL);
  g_assert_null (p2p_peer_info_get_relay (info));
  p2p_peer_info_unref (info);
}

static void
test_host_port_good (void)
{
  struct {
    const char *text, *host;
    guint16 port;
  } cases[] = {
    { "1.2.3.4:1", "1.2.3.4", 1 },
    { "127.0.0.1:65535", "127.0.0.1", 65535 },
    { "[::1]:8800", "::1", 8800 },
    { "[2001:DB8::1]:443", "2001:DB8::1", 443 },
    { "[::ffff:1.2.3.4]:9", "::ffff:1.2.3.4", 9 },
    { "localhost:80", "localhost", 80 },
    { "a-b.Example.com:80", "a-b.Example.com", 80 },
    { "x1.y2:7", "x1.y2", 7 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *host = NULL;
    g_autoptr (GError) err = NULL;
    guint16 port = 0;

    g_assert_true (p2p_parse_host_port (cases[i].text, &host, &port, &err));
    g_assert_no_error (err);
    g_assert_cmpstr (host, ==, cases[i].host);
    g_assert_cmpuint (port, ==, cases[i].port);
  }
  /* out arguments are optional */
  g_assert_true (p2p_parse_host_port ("h:1", NULL, NULL, NULL));
}

static void
test_host_port_bad (void)
{
  struct {
    const char *text, *message;
  } cases[] = {
    { NULL, "empty address; expected HOST:PORT or [IPV6]:PORT" },
    { "", "empty address; expected HOST:PORT or [IPV6]:PORT" },
    { "host", "missing port in 'host'; expected HOST:PORT" },
    { "host:", "missing port in 'host:'; expected HOST:PORT with a port 1..65535" },
    { "host:0", "port '0' in 'host:0' is not a number 1..65535" },
    { "host:65536", "port '65536' in 'host:65536' is not a number 1..65535" },
    { "host:+80", "port '+80' in 'host:+80' is not a number 1..65535" },
    { "host:8o", "port '8o' in 'host:8o' is not a number 1..65535" },
    { "host: 80", "port ' 80' in 'host: 80' is not a number 1..65535" },
    { "::1:80", "'::1:80': an IPv6 address must be written in brackets, e.g. [::1]:8800" },
    { "[::1:80", "missing ']' in '[::1:80'; expected [IPV6]:PORT" },
    { "[::1]80", "missing port in '[::1]80'; expected [IPV6]:PORT" },
    { "[::1]", "missing port in '[::1]'; expected [IPV6]:PORT" },
    { "[1.2.3.4]:80", "'1.2.3.4' in '[1.2.3.4]:80' is not an IPv6 address" },
    { "[]:80", "'' in '[]:80' is not an IPv6 address" },
    { "[fe80::1%eth0]:80", "'[fe80::1%eth0]:80': IPv6 scope IDs (%...) are not supported" },
    { ":80", "bad address ':80': empty host name" },
    { "127.1:80", "bad address '127.1:80': '127.1' is neither a valid IPv4 address nor a host name" },
    { "1.2.3.256:80", "bad address '1.2.3.256:80': '1.2.3.256' is neither a valid IPv4 address nor a host name" },
    { "a..b:80", "bad address 'a..b:80': host name 'a..b' has a label of 0 characters (1..63 allowed)" },
    { "a.:80", "bad address 'a.:80': host name 'a.' has a label of 0 characters (1..63 allowed)" },
    { "-a.b:80", "bad address '-a.b:80': host name '-a.b': a label cannot start or end with '-'" },
    { "a-.b:80", "bad address 'a-.b:80': host name 'a-.b': a label cannot start or end with '-'" },
    { "a_b:80", "bad address 'a_b:80': host name: character 2 ('_') is not allowed (letters, digits, '-' and '.')" },
    { "a b:80", "bad address 'a b:80': host name: character 2 (' ') is not allowed (letters, digits, '-' and '.')" },
    { "caf\xc3\xa9:80", "bad address 'caf\xc3\xa9:80': host name: character 4 (byte 0xc3) is not allowed (letters, digits, '-' and '.')" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *host = NULL;
    g_autoptr (GError) err = NULL;
    guint16 port = 0;

    g_assert_false (p2p_parse_host_port (cases[i].text, &host, &port, &err));
    g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
    g_assert_cmpstr (err->message, ==, cases[i].message);
    g_assert_null (host);
  }
}

static void
test_host_name_lengths (void)
{
  g_autofree char *label63 = g_strnfill (63, 'a');
  g_autofree char *label64 = g_strnfill (64, 'a');
  g_autofree char *ok63 = g_strconcat (label63, ".b:1", NULL);
  g_autofree char *bad64 = g_strconcat (label64, ".b:1", NULL);
  /* 4 labels of 63 + 3 dots = 255 > 253; 3 of 63 + "a" = 193 fine */
  g_autofree char *long_name = g_strjoin (".", label63, label63, label63, label63, NULL);
  g_autofree char *too_long = g_strconcat (long_name, ":1", NULL);
  g_autofree char *name253 = g_strjoin (".", label63, label63, label63, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL);
  g_autofree char *ok253 = g_strconcat (name253, ":1", NULL);
  g_autoptr (GError) err = NULL;

  g_assert_cmpuint (strlen (name253), ==, 252);
  g_assert_true (p2p_parse_host_port (ok63, NULL, NULL, NULL));
  g_assert_true (p2p_parse_host_port (ok253, NULL, NULL, NULL));
  g_assert_false (p2p_parse_host_port (bad64, NULL, NULL, &err));
  g_assert_nonnull (strstr (err->message, "has a label of 64 characters (1..63 allowed)"));
  g_clear_error (&err);
  g_assert_false (p2p_parse_host_port (too_long, NULL, NULL, &err));
  g_assert_nonnull (strstr (err->message, "host name is 255 characters long; at most 253 are allowed"));
}

static void
test_add_address (void)
{
  P2pPeerId id;
  g_autoptr (P2pPeerInfo) info = NULL;
  g_autoptr (GError) err = NULL;
  const char *const expected[] = { "192.168.1.2:8800", "[2001:db8::1]:443",
    "example.com:9000", NULL };

  seq_id (&id);
  info = p2p_peer_info_new (&id);
  g_assert_true (p2p_peer_info_add_address (info, "192.168.1.2:8800", &err));
  g_assert_true (p2p_peer_info_add_address (info, "[2001:DB8:0:0::1]:443", &err));
  g_assert_true (p2p_peer_info_add_address (info, "Example.COM:9000", &err));
  g_assert_no_error (err);
  assert_addresses (info, expected);

  g_assert_false (p2p_peer_info_add_address (info, "nope", &err));
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (err->message, ==, "missing port in 'nope'; expected HOST:PORT");
  g_clear_error (&err);
  assert_addresses (info, expected);

  for (guint i = 3; i < 16; i++)
    g_assert_true (p2p_peer_info_add_address (info, "h:1", NULL));
  g_assert_false (p2p_peer_info_add_address (info, "h:1", &err));
  g_assert_cmpstr (err->message, ==, "a peer can have at most 16 addresses");
}

static void
test_ticket_vectors (void)
{
  P2pPeerId id;
  g_autoptr (P2pPeerInfo) info = NULL;
  g_autoptr (P2pPeerInfo) parsed = NULL;
  g_autoptr (GError) err = NULL;
  g_autofree char *bare = NULL;
  g_autofree char *full = NULL;
  const char *const expected[] = { "192.168.1.2:8800", "[2001:db8::1]:443",
    "example.com:9000", NULL };

  seq_id (&id);
  info = p2p_peer_info_new (&id);
  bare = p2p_peer_info_to_ticket (info);
  g_assert_cmpstr (bare, ==, TICKET_BARE);

  g_assert_true (p2p_peer_info_add_address (info, "192.168.1.2:8800", NULL));
  g_assert_true (p2p_peer_info_add_address (info, "[2001:db8::1]:443", NULL));
  g_assert_true (p2p_peer_info_add_address (info, "example.com:9000", NULL));
  p2p_peer_info_set_relay (info, "turn://relay.example:3478");
  full = p2p_peer_info_to_ticket (info);
  g_assert_cmpstr (full, ==, TICKET_FULL);

  parsed = p2p_peer_info_parse (TICKET_FULL, &err);
  g_assert_no_error (err);
  g_assert_true (p2p_peer_id_equal (p2p_peer_info_get_peer_id (parsed), &id));
  assert_addresses (parsed, expected);
  g_assert_cmpstr (p2p_peer_info_get_relay (parsed), ==, "turn://relay.example:3478");
  g_clear_pointer (&parsed, p2p_peer_info_unref);

  parsed = p2p_peer_info_parse (TICKET_BARE, &err);
  g_assert_no_error (err);
  g_assert_true (p2p_peer_id_equal (p2p_peer_info_get_peer_id (parsed), &id));
  g_assert_null (p2p_peer_info_get_addresses (parsed)[0]);
  g_assert_null (p2p_peer_info_get_relay (parsed));
}

static void
test_ticket_upper_case (void)
{
  g_autofree char *upper = g_ascii_strup (TICKET_FULL, -1);
  g_autoptr (P2pPeerInfo) parsed = NULL;
  g_autoptr (GError) err = NULL;
  g_autofree char *again = NULL;

  parsed = p2p_peer_info_parse (upper, &err);
  g_assert_no_error (err);
  again = p2p_peer_info_to_ticket (parsed);
  g_assert_cmpstr (again, ==, TICKET_FULL);
}

/* Every single-character change and every truncation is rejected. */
static void
test_ticket_typos_rejected (void)
{
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  gsize len = strlen (TICKET_FULL);
  guint checked = 0;

  for (gsize pos = 4; pos < len; pos++) {
    for (guint a = 0; a < 32; a++) {
      g_autofree char *t = g_strdup (TICKET_FULL);
      g_autoptr (GError) err = NULL;
      P2pPeerInfo *info;

      if (t[pos] == alphabet[a])
        continue;
      t[pos] = alphabet[a];
      info = p2p_peer_info_parse (t, &err);
      if (info != NULL)
        g_error ("typo at %" G_GSIZE_FORMAT " accepted: %s", pos, t);
      g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
      g_assert_true (strstr (err->message, "checksum mismatch") ||
          strstr (err->message, "padding bits"));
      checked++;
    }
  }
  g_assert_cmpuint (checked, ==, (len - 4) * 31);

  for (gsize cut = 0; cut < len; cut++) {
    g_autofree char *t = g_strndup (TICKET_FULL, cut);
    g_autoptr (GError) err = NULL;
    P2pPeerInfo *info = p2p_peer_info_parse (t, &err);

    g_assert_null (info);
    g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  }
}

/* Builds a ticket from raw record bytes, appending a valid CRC-32. */
static char *
make_ticket (const guint8 *rec, gsize len)
{
  g_autoptr (GByteArray) b = g_byte_array_new ();
  guint32 crc = p2p_crc32 (rec, len);
  guint8 c[4] = { crc >> 24, crc >> 16, crc >> 8, crc };
  g_autofree char *b32 = NULL;

  g_byte_array_append (b, rec, (guint) len);
  g_byte_array_append (b, c, 4);
  b32 = p2p_base32_encode (b->data, b->len);
  return g_strconcat ("p2p1", b32, NULL);
}

static void
assert_ticket_fails (const guint8 *rec, gsize len, const char *message)
{
  g_autofree char *t = make_ticket (rec, len);
  g_autoptr (GError) err = NULL;
  P2pPeerInfo *info = p2p_peer_info_parse (t, &err);

  g_assert_null (info);
  g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (err->message, ==, message);
}

#define HDR 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, \
  21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31

static void
test_ticket_malformed (void)
{
  const guint8 ok[] = { HDR, 1, 'h', 1, 'a', 0, 80, 0, 3, 't', ':', 'x' };
  const guint8 v2[] = { 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
    21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 0, 0, 0 };
  const guint8 trailing[] = { HDR, 0, 0, 0, 0 };
  const guint8 count17[] = { HDR, 17, 0, 0 };
  const guint8 bad_type[] = { HDR, 1, 5, 1, 2, 3, 4, 0, 80, 0, 0 };
  const guint8 port0[] = { HDR, 1, 4, 1, 2, 3, 4, 0, 0, 0, 0 };
  const guint8 host_bad[] = { HDR, 1, 'h', 3, 'a', '_', 'b', 0, 80, 0, 0 };
  const guint8 host_empty[] = { HDR, 1, 'h', 0, 0, 80, 0, 0 };
  const guint8 host_digits[] = { HDR, 1, 'h', 3, '1', '.', '2', 0, 80, 0, 0 };
  const guint8 trunc_ip[] = { HDR, 1, 6, 1, 2, 3 };
  const guint8 trunc_count[] = { HDR };
  const guint8 trunc_key[] = { 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
    18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 0, 0 };
  const guint8 trunc_type[] = { HDR, 2, 4, 1, 2, 3, 4, 0, 80 };
  const guint8 trunc_port[] = { HDR, 1, 4, 1, 2, 3, 4, 0 };
  const guint8 trunc_hostlen[] = { HDR, 2, 4, 1, 2, 3, 4, 0, 80, 'h' };
  const guint8 trunc_host[] = { HDR, 1, 'h', 9, 'a', 'b', 'c', 'd', 'e' };
  const guint8 trunc_relaylen[] = { HDR, 1, 4, 1, 2, 3, 4, 0, 80, 0 };
  const guint8 trunc_relay[] = { HDR, 0, 0, 9, 't', 'u', 'r', 'n' };
  const guint8 relay_space[] = { HDR, 0, 0, 3, 'a', ' ', 'b' };
  const guint8 relay_long[] = { HDR, 0, 0x02, 0x01 };
  g_autoptr (P2pPeerInfo) info = NULL;
  g_autofree char *t = make_ticket (ok, sizeof ok);
  g_autoptr (GError) err = NULL;

  /* the well-formed base case parses */
  info = p2p_peer_info_parse (t, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (p2p_peer_info_get_addresses (info)[0], ==, "a:80");
  g_assert_cmpstr (p2p_peer_info_get_relay (info), ==, "t:x");

  assert_ticket_fails (v2, sizeof v2,
      "ticket version 2 is not supported (this build reads version 1); upgrade gst-p2p");
  assert_ticket_fails (trailing, sizeof trailing,
      "ticket has 1 unexpected bytes after its last field");
  assert_ticket_fails (count17, sizeof count17, "ticket lists 17 addresses; at most 16 are allowed");
  assert_ticket_fails (bad_type, sizeof bad_type, "ticket address 1 has unknown type 0x05");
  assert_ticket_fails (port0, sizeof port0, "ticket address 1 has port 0");
  assert_ticket_fails (host_bad, sizeof host_bad, "ticket address 1: host name: character 2 ('_') "
      "is not allowed (letters, digits, '-' and '.')");
  assert_ticket_fails (host_empty, sizeof host_empty, "ticket address 1: empty host name");
  assert_ticket_fails (host_digits, sizeof host_digits,
      "ticket address 1: '1.2' is neither a valid IPv4 address nor a host name");
  assert_ticket_fails (trunc_ip, sizeof trunc_ip, "ticket is truncated: it ends inside the IP address");
  assert_ticket_fails (trunc_count, sizeof trunc_count, "ticket is too short (64 characters); was it cut off?");
  assert_ticket_fails (trunc_key, sizeof trunc_key, "ticket is too short (67 characters); was it cut off?");
  assert_ticket_fails (trunc_type, sizeof trunc_type, "ticket is truncated: it ends inside the address type");
  assert_ticket_fails (trunc_port, sizeof trunc_port, "ticket is truncated: it ends inside the port");
  assert_ticket_fails (trunc_hostlen, sizeof trunc_hostlen,
      "ticket is truncated: it ends inside the host name length");
  assert_ticket_fails (trunc_host, sizeof trunc_host, "ticket is truncated: it ends inside the host name");
  assert_ticket_fails (trunc_relaylen, sizeof trunc_relaylen,
      "ticket is truncated: it ends inside the relay length");
  assert_ticket_fails (trunc_relay, sizeof trunc_relay, "ticket is truncated: it ends inside the relay URL");
  assert_ticket_fails (relay_space, sizeof relay_space,
      "ticket relay URL contains spaces or non-printable characters");
  assert_ticket_fails (relay_long, sizeof relay_long,
      "ticket relay URL is 513 bytes; at most 512 are allowed");
}

static void
test_ticket_text_errors (void)
{
  g_autofree char *huge = g_strnfill (20000, 'a');
  g_autofree char *huge_ticket = g_strconcat ("p2p1", huge, NULL);
  g_autofree char *bad_char = g_strdup (TICKET_FULL);
  g_autoptr (GError) err = NULL;
  P2pPeerInfo *info;

  bad_char[10] = '0';
  info = p2p_peer_info_parse (bad_char, &err);
  g_assert_null (info);
  g_assert_cmpstr (err->message, ==, "ticket: character 11 ('0') is not in the base32 alphabet a-z2-7");
  g_clear_error (&err);

  info = p2p_peer_info_parse (huge_ticket, &err);
  g_assert_null (info);
  g_assert_cmpstr (err->message, ==, "ticket is too long (20004 characters)");
  g_clear_error (&err);

  info = p2p_peer_info_parse ("p2p1", &err);
  g_assert_null (info);
  g_assert_cmpstr (err->message, ==, "ticket is too short (4 characters); was it cut off?");
}

static void
test_max_ticket_round_trip (void)
{
  P2pPeerId id;
  g_autoptr (P2pPeerInfo) info = NULL;
  g_autoptr (P2pPeerInfo) parsed = NULL;
  g_autofree char *label = g_strnfill (63, 'z');
  g_autofree char *host = g_strjoin (".", label, label, label,
      "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", NULL);
  g_autofree char *hp = g_strconcat (host, ":65535", NULL);
  g_autofree char *relay = g_strnfill (512, 'r');
  g_autofree char *ticket = NULL;
  g_autofree char *again = NULL;
  g_autoptr (GError) err = NULL;

  g_assert_cmpuint (strlen (host), ==, 253);
  seq_id (&id);
  info = p2p_peer_info_new (&id);
  for (guint i = 0; i < 16; i++)
    g_assert_true (p2p_peer_info_add_address (info, hp, NULL));
  p2p_peer_info_set_relay (info, relay);
  ticket = p2p_peer_info_to_ticket (info);
  parsed = p2p_peer_info_parse (ticket, &err);
  g_assert_no_error (err);
  again = p2p_peer_info_to_ticket (parsed);
  g_assert_cmpstr (again, ==, ticket);
  g_assert_cmpstr (p2p_peer_info_get_addresses (parsed)[15], ==, hp);
  g_assert_cmpstr (p2p_peer_info_get_relay (parsed), ==, relay);
}

static void
test_parse_forms (void)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (P2pPeerInfo) a = NULL;
  g_autoptr (P2pPeerInfo) b = NULL;
  g_autoptr (P2pPeerInfo) c = NULL;
  P2pPeerId id;

  seq_id (&id);
  a = p2p_peer_info_parse (ID_SEQ, &err);
  g_assert_no_error (err);
  g_assert_true (p2p_peer_id_equal (p2p_peer_info_get_peer_id (a), &id));
  g_assert_null (p2p_peer_info_get_addresses (a)[0]);

  b = p2p_peer_info_parse (ID_SEQ "@[::1]:8800", &err);
  g_assert_no_error (err);
  g_assert_true (p2p_peer_id_equal (p2p_peer_info_get_peer_id (b), &id));
  g_assert_cmpstr (p2p_peer_info_get_addresses (b)[0], ==, "[::1]:8800");
  g_assert_null (p2p_peer_info_get_addresses (b)[1]);

  c = p2p_peer_info_parse (ID_SEQ "@LocalHost:1", &err);
  g_assert_no_error (err);
  g_assert_cmpstr (p2p_peer_info_get_addresses (c)[0], ==, "localhost:1");
}

static void
test_parse_errors (void)
{
  struct {
    const char *text, *message;
  } cases[] = {
    { NULL, "no peer given: expected a peer ID, a ticket (p2p1...) or ID@HOST:PORT" },
    { "", "no peer given: expected a peer ID, a ticket (p2p1...) or ID@HOST:PORT" },
    { "hello", "a peer ID has 55 characters, got 5" },
    { ID_SEQ "@", "in ID@HOST:PORT: empty address; expected HOST:PORT or [IPV6]:PORT" },
    { ID_SEQ "@host", "in ID@HOST:PORT: missing port in 'host'; expected HOST:PORT" },
    { ID_SEQ "@h:1@x", "in ID@HOST:PORT: port '1@x' in 'h:1@x' is not a number 1..65535" },
    { "abc@h:1", "in ID@HOST:PORT: a peer ID has 55 characters, got 3" },
    { "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypshma@h:1",
      "in ID@HOST:PORT: checksum mismatch: the peer ID has a typo" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) err = NULL;
    P2pPeerInfo *info = p2p_peer_info_parse (cases[i].text, &err);

    g_assert_null (info);
    g_assert_error (err, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT);
    g_assert_cmpstr (err->message, ==, cases[i].message);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/peer-info/new-ref-boxed", test_new_ref_boxed);
  g_test_add_func ("/peer-info/host-port-good", test_host_port_good);
  g_test_add_func ("/peer-info/host-port-bad", test_host_port_bad);
  g_test_add_func ("/peer-info/host-name-lengths", test_host_name_lengths);
  g_test_add_func ("/peer-info/add-address", test_add_address);
  g_test_add_func ("/peer-info/ticket-vectors", test_ticket_vectors);
  g_test_add_func ("/peer-info/ticket-upper-case", test_ticket_upper_case);
  g_test_add_func ("/peer-info/ticket-typos-rejected", test_ticket_typos_rejected);
  g_test_add_func ("/peer-info/ticket-malformed", test_ticket_malformed);
  g_test_add_func ("/peer-info/ticket-text-errors", test_ticket_text_errors);
  g_test_add_func ("/peer-info/max-ticket-round-trip", test_max_ticket_round_trip);
  g_test_add_func ("/peer-info/parse-forms", test_parse_forms);
  g_test_add_func ("/peer-info/parse-errors", test_parse_errors);
  return g_test_run ();
}
