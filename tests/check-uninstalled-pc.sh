#!/bin/sh
# tests/check-uninstalled-pc.sh BUILDDIR CC [SANITIZE]: a program builds and runs
# against a build tree through meson-uninstalled/p2p-glib-1.0-uninstalled.pc
# (issue 18: that file lacked the include directory of <p2p/p2p.h>). TAP.
#   1 pkg-config picks the uninstalled file (prefix = the build tree)
#   2 a C program including <p2p/p2p.h> compiles and links with its flags
#   3 it runs against the build tree's library and prints what it read
#   4 planted: the same file without the include directories fails step 2
# SANITIZE: the build's b_sanitize (address,undefined in build-asan/): the
# program is built with it too, as a sanitized library needs.
set -u
BUILD=$(cd "${1:?usage: $0 BUILDDIR CC}" && pwd)
CC=${2:?usage: $0 BUILDDIR CC}
case "${3:-none}" in
  none|"") ;;
  *) CC="$CC -fsanitize=$3" ;;
esac
TMP=$(mktemp -d "${TMPDIR:-/tmp}/p2p-pc-XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
N=0
FAILED=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
not_ok() { N=$((N + 1)); FAILED=1; echo "not ok $N - $1"; }
echo "1..4"

cat > "$TMP/prog.c" <<'PROG'
#include <p2p/p2p.h>
#include <stdio.h>

int
main (void)
{
  g_autoptr (P2pIdentity) id = p2p_identity_new ();
  g_autofree char *text = p2p_identity_dup_peer_id_string (id);
  P2pPeerId back;

  if (!p2p_peer_id_parse (text, &back, NULL))
    return 1;
  printf ("protocol %d capability files=%u error %s\n", P2P_PROTOCOL_VERSION,
      (unsigned) p2p_capability_from_name ("files"),
      p2p_error_code_to_string (P2P_ERROR_NOT_SUPPORTED));
  return 0;
}
PROG

# pkg-config looks for NAME-uninstalled.pc first; the Requires (glib, gio)
# come from the system's path
PC="env PKG_CONFIG_PATH=$BUILD/meson-uninstalled pkg-config"
prefix=$($PC --variable=prefix p2p-glib-1.0 2>"$TMP/err")
if [ "$prefix" = "$BUILD" ]; then
  ok "pkg-config p2p-glib-1.0 is the uninstalled file (prefix $prefix)"
else
  not_ok "pkg-config p2p-glib-1.0 prefix is '$prefix', expected $BUILD: $(cat "$TMP/err")"
fi

flags=$($PC --cflags --libs p2p-glib-1.0)
# shellcheck disable=SC2086
if $CC -o "$TMP/prog" "$TMP/prog.c" $flags 2>"$TMP/cc.log"; then
  ok "a program including <p2p/p2p.h> builds with the uninstalled flags"
else
  not_ok "the program does not build with: $flags"
  sed 's/^/# /' "$TMP/cc.log" | head -20
fi

out=$(LD_LIBRARY_PATH=$BUILD timeout 10 "$TMP/prog" 2>&1)
if [ "$out" = "protocol 1 capability files=1 error NOT_SUPPORTED" ]; then
  ok "it runs against the build tree's library: $out"
else
  not_ok "it printed '$out'"
fi

mkdir "$TMP/planted"
sed 's| -I[^ ]*/include||g' "$BUILD/meson-uninstalled/p2p-glib-1.0-uninstalled.pc" \
  > "$TMP/planted/p2p-glib-1.0-uninstalled.pc"
bad=$(env PKG_CONFIG_PATH="$TMP/planted" pkg-config --cflags --libs p2p-glib-1.0)
# shellcheck disable=SC2086
if ! $CC -o "$TMP/prog2" "$TMP/prog.c" $bad 2>/dev/null; then
  ok "planted: the file without the include directories is caught"
else
  not_ok "planted: a file without the include directories still built ($bad)"
fi
exit $FAILED
