#!/bin/sh
# tests/tools/ice-module.sh BUILDDIR: the ICE layer is a module loaded on
# first use (issue 12). TAP output, one line per check:
#  1. the plugin, the library and p2p-cat do not need libnice, libsoup or
#     json-glib (ldd); the module libp2p-ice.so does;
#  2. with P2P_ICE_MODULE pointing nowhere, a dial by ticket still carries
#     its bytes intact (a direct dial never needs the module); the
#     listener, which could load it, loaded neither it nor libnice;
#  3. every p2p_ function the module calls is exported by the library;
#  4. a dial by bare peer ID through a rendezvous fails with the error that
#     names the module and where it was looked for, exit status 1.
# Every process is bounded by timeout(1) and killed on exit.
set -u
B=$1
W=$(mktemp -d /tmp/p2p-ice-module.XXXXXX)
L=""
cleanup() { [ -n "$L" ] && kill "$L" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT INT TERM
N=0
FAILS=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
notok() { N=$((N + 1)); FAILS=$((FAILS + 1)); echo "not ok $N - $1"; }
echo "1..6"

ICE_LIBS='libnice\.|libsoup-|libjson-glib-'
bad=""
for f in "$B/gst/libgstp2p.so" "$B/libp2p-glib-1.0.so" "$B/tools/p2p-cat"; do
  if [ ! -e "$f" ]; then bad="$bad $f(missing)"; continue; fi
  if ldd "$f" | grep -Eq "$ICE_LIBS"; then bad="$bad $(basename "$f")"; fi
done
[ -z "$bad" ] && ok "plugin, library and p2p-cat load no ICE library" \
  || notok "ICE libraries linked by:$bad"
if [ "$(ldd "$B/libp2p-ice.so" | grep -Ec "$ICE_LIBS")" -eq 3 ]; then
  ok "libp2p-ice.so links libnice, libsoup and json-glib"
else
  notok "libp2p-ice.so does not link the three ICE libraries"; ldd "$B/libp2p-ice.so" | sed 's/^/# /'
fi

# the module binds lazily: a p2p_ function the library does not export
# would only fail when called, so every one it needs must be exported
missing=$(nm -u "$B/libp2p-ice.so" | awk '$2 ~ /^p2p_/ {print $2}' | sort -u |
  comm -23 - "$(nm -D --defined-only "$B/libp2p-glib-1.0.so" | awk '{print $3}' | sort -u >"$W/exp"; echo "$W/exp")")
[ -z "$missing" ] && ok "every library function the module calls is exported" \
  || notok "the module calls functions the library does not export: $(echo $missing)"

NOWHERE="$W/nowhere/libp2p-ice.so"
head -c 200000 /dev/urandom >"$W/in"
# the dynamic loader logs every object it loads (dlopen included) to stderr
LD_DEBUG=files timeout 30 "$B/tools/p2p-cat" listen --port 0 --bind-address 127.0.0.1 >"$W/out" 2>"$W/err" &
L=$!
i=0
while [ $i -lt 200 ] && ! grep -q '^ticket: ' "$W/err"; do sleep 0.05; i=$((i + 1)); done
T=$(grep -m1 '^ticket: ' "$W/err" | cut -d' ' -f2)
if [ -n "$T" ] && P2P_ICE_MODULE=$NOWHERE timeout 30 "$B/tools/p2p-cat" connect "$T" \
    <"$W/in" 2>"$W/cerr"; then
  wait "$L"; L=""
  cmp -s "$W/in" "$W/out" && ok "a dial by ticket works without the module" \
    || notok "bytes differ over a dial by ticket"
else
  notok "dial by ticket failed without the module"; sed 's/^/# /' "$W/err" "$W/cerr"
fi
if ! grep -q 'file=libp2p-glib-1.0.so' "$W/err"; then
  notok "no loader log from the listener (LD_DEBUG=files)"
elif grep -Eq "file=.*($ICE_LIBS|libp2p-ice)" "$W/err"; then
  notok "the listener loaded an ICE library"; grep -E "file=.*($ICE_LIBS|libp2p-ice)" "$W/err" | sed 's/^/# /'
else
  ok "the listener accepted a direct dial without loading an ICE library"
fi

ID=$(timeout 10 "$B/tools/p2p-id" new --file "$W/key" 2>/dev/null | grep -o '[a-z2-7]\{55\}' | head -1)
if P2P_ICE_MODULE=$NOWHERE timeout 30 "$B/tools/p2p-cat" connect "${ID:-missing-id}" --rendezvous ws://127.0.0.1:9/ \
    </dev/null 2>"$W/rerr"; then
  notok "a dial through a rendezvous succeeded without the module"
elif grep -q 'needs the ICE module libp2p-ice.so' "$W/rerr" && grep -q "$NOWHERE" "$W/rerr"; then
  ok "a dial by bare peer ID names the missing module"
else
  notok "unclear error for a missing module"; sed 's/^/# /' "$W/rerr"
fi
[ "$FAILS" -eq 0 ]
