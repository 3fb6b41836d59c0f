/* p2p-id.c: command-line tool to make and show gst-p2p identities, print
 * tickets and check peer IDs and tickets.
 *
 *   p2p-id new [--file F] [--force]
 *   p2p-id show [--file F] [--address HOST:PORT ...] [--relay URL]
 *   p2p-id check ID_OR_TICKET
 *
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage error.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>
#include <p2p/p2p.h>

#define EXIT_USAGE 2

static const char *commands_summary =
    "Commands:\n"
    "  new     create a new identity (key file, mode 0600)\n"
    "  show    print the peer ID of an identity, and a ticket with --address\n"
    "  check   check a peer ID, ticket or ID@HOST:PORT\n"
    "\n"
    "Run \"p2p-id COMMAND --help\" for the options of a command.\n"
    "The default key file is $XDG_DATA_HOME/gst-p2p/identity.key.";

static int
fail (const char *what, const GError *error)
{
  g_printerr ("p2p-id: %s%s%s\n", what ? what : "", what ? ": " : "", error->message);
  return 1;
}

/* Parses a subcommand's options; argv[0] of the subcommand is "p2p-id CMD". */
static gboolean
parse_options (const char *cmd, const char *params, const char *summary,
    const GOptionEntry *entries, int *argc, char ***argv, int *status)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new (params);
  g_autoptr (GError) err = NULL;

  g_option_context_set_summary (ctx, summary);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, &err)) {
    g_printerr ("p2p-id %s: %s\nRun \"p2p-id %s --help\" for usage.\n", cmd, err->message, cmd);
    *status = EXIT_USAGE;
    return FALSE;
  }
  return TRUE;
}

static int
cmd_new (int argc, char **argv)
{
  g_autofree char *file = NULL;
  gboolean force = FALSE;
  const GOptionEntry entries[] = {
    { "file", 'f', 0, G_OPTION_ARG_FILENAME, &file, "Key file to write (default: $XDG_DATA_HOME/gst-p2p/identity.key)", "FILE" },
    { "force", 0, 0, G_OPTION_ARG_NONE, &force, "Replace an existing key file (its identity is lost)", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (P2pIdentity) id = NULL;
  g_autoptr (GError) err = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *peer = NULL;
  int status = 0;

  if (!parse_options ("new", "- create a new identity",
          "Generates an Ed25519 key pair, writes it to the key file with mode 0600\n"
          "and prints its peer ID.", entries, &argc, &argv, &status))
    return status;
  if (argc > 1) {
    g_printerr ("p2p-id new: unexpected argument '%s'\n", argv[1]);
    return EXIT_USAGE;
  }
  if (file == NULL)
    file = p2p_identity_default_path ();
  if (!force && g_file_test (file, G_FILE_TEST_EXISTS)) {
    g_printerr ("p2p-id: %s already exists; use --force to replace it "
        "(the old identity will be lost)\n", file);
    return 1;
  }
  dir = g_path_get_dirname (file);
  if (g_mkdir_with_parents (dir, 0700) != 0) {
    int errsv = errno;

    g_printerr ("p2p-id: cannot create directory %s: %s\n", dir, g_strerror (errsv));
    return 1;
  }
  id = p2p_identity_new ();
  if (!p2p_identity_save (id, file, &err))
    return fail (NULL, err);
  peer = p2p_identity_dup_peer_id_string (id);
  g_print ("%s\nkey file: %s\n", peer, file);
  return 0;
}

static int
cmd_show (int argc, char **argv)
{
  g_autofree char *file = NULL;
  g_auto (GStrv) addresses = NULL;
  g_autofree char *relay = NULL;
  const GOptionEntry entries[] = {
    { "file", 'f', 0, G_OPTION_ARG_FILENAME, &file, "Key file to read (default: $XDG_DATA_HOME/gst-p2p/identity.key)", "FILE" },
    { "address", 'a', 0, G_OPTION_ARG_STRING_ARRAY, &addresses, "Address to put in the ticket (repeatable; up to 16)", "HOST:PORT" },
    { "relay", 'r', 0, G_OPTION_ARG_STRING, &relay, "Relay URL to put in the ticket", "URL" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (P2pIdentity) id = NULL;
  g_autoptr (GError) err = NULL;
  g_autofree char *peer = NULL;
  int status = 0;

  if (!parse_options ("show", "- show an identity",
          "Prints the peer ID of the identity on the first line; with --address\n"
          "(or --relay) also a line \"ticket: p2p1...\" to give to peers.",
          entries, &argc, &argv, &status))
    return status;
  if (argc > 1) {
    g_printerr ("p2p-id show: unexpected argument '%s'\n", argv[1]);
    return EXIT_USAGE;
  }
  if (file == NULL)
    file = p2p_identity_default_path ();
  id = p2p_identity_new_from_file (file, &err);
  if (id == NULL)
    return fail (NULL, err);
  peer = p2p_identity_dup_peer_id_string (id);

  /* nothing is printed before every option is checked ($(p2p-id show ...)
   * gets all or nothing) */
  if (addresses == NULL && relay == NULL)
    g_print ("%s\n", peer);
  else {
    g_autoptr (P2pPeerInfo) info = p2p_peer_info_new (p2p_identity_get_peer_id (id));
    g_autofree char *ticket = NULL;

    for (guint i = 0; addresses && addresses[i]; i++) {
      if (!p2p_peer_info_add_address (info, addresses[i], &err))
        return fail ("--address", err);
    }
    if (relay != NULL) {
      if (strlen (relay) > 512 || g_uri_peek_scheme (relay) == NULL
          || strpbrk (relay, " \t\r\n") != NULL) {
        g_printerr ("p2p-id: --relay '%s' is not a URL (at most 512 characters, no spaces)\n", relay);
        return 1;
      }
      p2p_peer_info_set_relay (info, relay);
    }
    ticket = p2p_peer_info_to_ticket (info);
    g_print ("%s\nticket: %s\n", peer, ticket);
  }
  return 0;
}

static int
cmd_check (int argc, char **argv)
{
  const GOptionEntry entries[] = { G_OPTION_ENTRY_NULL };
  g_autoptr (P2pPeerInfo) info = NULL;
  g_autoptr (GError) err = NULL;
  g_autofree char *peer = NULL;
  const char *const *addrs;
  const char *kind;
  int status = 0;

  if (!parse_options ("check", "ID_OR_TICKET - check a peer ID or ticket",
          "Checks a peer ID, a ticket (p2p1...) or ID@HOST:PORT and prints what it\n"
          "contains; exits with status 1 and names the problem if it is not valid.",
          entries, &argc, &argv, &status))
    return status;
  if (argc != 2) {
    g_printerr ("p2p-id check: expected one peer ID or ticket, got %d arguments\n", argc - 1);
    return EXIT_USAGE;
  }
  info = p2p_peer_info_parse (argv[1], &err);
  if (info == NULL)
    return fail ("invalid peer", err);

  if (g_ascii_strncasecmp (argv[1], "p2p1", 4) == 0)
    kind = "ticket";
  else if (strchr (argv[1], '@') != NULL)
    kind = "peer ID with address";
  else
    kind = "peer ID";
  peer = p2p_peer_id_to_string (p2p_peer_info_get_peer_id (info));
  g_print ("valid %s\npeer ID: %s\n", kind, peer);
  addrs = p2p_peer_info_get_addresses (info);
  for (guint i = 0; addrs[i] != NULL; i++)
    g_print ("address: %s\n", addrs[i]);
  if (p2p_peer_info_get_relay (info) != NULL)
    g_print ("relay: %s\n", p2p_peer_info_get_relay (info));
  return 0;
}

static void
print_usage (FILE *out)
{
  fprintf (out, "Usage:\n  p2p-id COMMAND [OPTION…]\n\n"
      "Make and show gst-p2p identities (peer IDs) and tickets.\n\n%s\n", commands_summary);
}

int
main (int argc, char **argv)
{
  g_autofree char *sub_argv0 = NULL;
  const char *cmd;

  setlocale (LC_ALL, "");

  if (argc < 2) {
    print_usage (stderr);
    return EXIT_USAGE;
  }
  cmd = argv[1];
  if (g_str_equal (cmd, "--help") || g_str_equal (cmd, "-h") || g_str_equal (cmd, "help")
      || g_str_equal (cmd, "-?")) {
    print_usage (stdout);
    return 0;
  }
  /* The subcommand sees "p2p-id CMD" as its program name. */
  sub_argv0 = g_strdup_printf ("p2p-id %s", cmd);
  argv[1] = sub_argv0;
  if (g_str_equal (cmd, "new"))
    return cmd_new (argc - 1, argv + 1);
  if (g_str_equal (cmd, "show"))
    return cmd_show (argc - 1, argv + 1);
  if (g_str_equal (cmd, "check"))
    return cmd_check (argc - 1, argv + 1);
  g_printerr ("p2p-id: unknown command '%s'\n\n", cmd);
  print_usage (stderr);
  return EXIT_USAGE;
}
