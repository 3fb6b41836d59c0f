/* test-error.c: the P2P_ERROR domain. */
#include <p2p/p2p.h>

static void
test_quark_and_names (void)
{
  g_autoptr (GError) err = g_error_new (P2P_ERROR, P2P_ERROR_TIMEOUT, "x");

  g_assert_error (err, P2P_ERROR, P2P_ERROR_TIMEOUT);
  g_assert_cmpstr (g_quark_to_string (P2P_ERROR), ==, "p2p-error-quark");
  g_assert_cmpstr (p2p_error_code_to_string (P2P_ERROR_AUTHENTICATION_FAILED), ==,
      "AUTHENTICATION_FAILED");
  g_assert_cmpstr (p2p_error_code_to_string (P2P_ERROR_INVALID_ARGUMENT), ==, "INVALID_ARGUMENT");
  g_assert_cmpstr (p2p_error_code_to_string (P2P_ERROR_VERSION_MISMATCH), ==, "VERSION_MISMATCH");
  g_assert_cmpstr (p2p_error_code_to_string (P2P_ERROR_NOT_SUPPORTED), ==, "NOT_SUPPORTED");
  g_assert_cmpstr (p2p_error_code_to_string ((P2pError) 999), ==, "UNKNOWN");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/error/quark-and-names", test_quark_and_names);
  return g_test_run ();
}
