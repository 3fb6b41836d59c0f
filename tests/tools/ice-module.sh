#!/bin/sh
# tests/tools/ice-module.sh BUILDDIR: the ICE layer and the DHT source are
# modules loaded on first use (issue 12, 15). TAP output, one line per check:
#  1. the plugin, the library and p2p-cat do not need libnice, libsoup or
#     json-glib (ldd); the module libp2p-ice.so does;
#  2. with P2P_ICE_MODULE pointing nowhere, a dial by ticket still carries
#     its bytes intact (a direct dial never needs the module); the
#     listener, which could load it, loaded neither it nor libnice;
#  3. every p2p_ function the module calls is exported by the library;
#  4. a dial by bare peer ID through a rendezvous fails with the error that
#     names the module and where it was looked for, exit status 1;
#  5. the same for the DHT module (OpenDHT): not linked by the plugin, the
#     library or p2p-cat, every p2p_ function it calls exported, a bare
#     peer ID found through a dhtnode on loopback (in a network namespace
#     of the test's own) by p2p-cat loading the module, bytes intact; with
#     P2P_DHT_MODULE pointing nowhere, an error naming it.
# Every process is bounded by timeout(1) and killed on exit.
set -u
B=$1
W=$(mktemp -d /tmp/p2p-ice-module.XXXXXX)
L=""
cleanup() { [ -n "$L" ] && kill "$L" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT INT TERM
# ICE host candidates on loopback only: no checks to this machine's own addresses
export P2P_ICE_ADDRESSES=127.0.0.1
N=0
FAILS=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
notok() { N=$((N + 1)); FAILS=$((FAILS + 1)); echo "not ok $N - $1"; }
echo "1..10"

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
# ---- the DHT module
DHT_LIBS='libopendht'
bad=""
for f in "$B/gst/libgstp2p.so" "$B/libp2p-glib-1.0.so" "$B/tools/p2p-cat"; do
  [ -e "$f" ] && ldd "$f" | grep -Eq "$DHT_LIBS" && bad="$bad $(basename "$f")"
done
if [ -z "$bad" ] && ldd "$B/libp2p-dht.so" | grep -q libopendht-c; then
  ok "OpenDHT is linked by libp2p-dht.so only"
else
  notok "OpenDHT linked by:$bad (or not by libp2p-dht.so)"
fi
missing=$(nm -u "$B/libp2p-dht.so" | awk '$2 ~ /^p2p_/ {print $2}' | sort -u | comm -23 - "$W/exp")
[ -z "$missing" ] && ok "every library function the DHT module calls is exported" \
  || notok "the DHT module calls functions the library does not export: $(echo $missing)"

# a bare peer ID through a DHT of one dhtnode, all on the loopback of a
# namespace of our own (root and unshare(1) needed, else skipped)
if [ "$(id -u)" = 0 ] && command -v dhtnode >/dev/null && command -v unshare >/dev/null; then
  cat >"$W/dht.sh" <<'EOS'
set -u
B=$1; W=$2
ip link set lo up
timeout 40 dhtnode -s -p 4399 >"$W/dhtnode.log" 2>&1 &
D=$!
trap 'kill $D $LP 2>/dev/null' EXIT
LP=""
export P2P_BOOTSTRAP_PEERS=dht://127.0.0.1:4399 P2P_MDNS=0 G_MESSAGES_DEBUG=p2p
# the dhtnode's UDP port bound (at most 10 s)
i=0
while [ $i -lt 200 ] && ! ss -Hlun 'sport = :4399' | grep -q .; do sleep 0.05; i=$((i + 1)); done
timeout 30 "$B/tools/p2p-cat" listen --port 0 --bind-address 127.0.0.1 --identity "$W/dkey" \
  >"$W/dout" 2>"$W/derr" &
LP=$!
i=0
while [ $i -lt 200 ] && ! grep -q '^peer-id: ' "$W/derr"; do sleep 0.05; i=$((i + 1)); done
ID=$(grep -m1 '^peer-id: ' "$W/derr" | cut -d' ' -f2)
# no wait for the listener's put: the dialer's lookup listens and gets a
# later put too
timeout 30 "$B/tools/p2p-cat" connect "${ID:-none}" <"$W/in" 2>"$W/dcerr" || exit 1
wait $LP
cmp -s "$W/in" "$W/dout" || exit 2
grep -q 'found in the DHT' "$W/dcerr" || exit 3
P2P_DHT_MODULE="$W/nowhere/libp2p-dht.so" timeout 30 "$B/tools/p2p-cat" connect "$ID" </dev/null \
  2>"$W/dnerr" && exit 4
grep -q 'need the DHT module libp2p-dht.so' "$W/dnerr" || exit 5
exit 0
EOS
  timeout 90 "$B/tools/p2p-id" new --file "$W/dkey" >/dev/null 2>&1
  unshare --net sh "$W/dht.sh" "$B" "$W"
  rc=$?
  case $rc in
    0) ok "a bare peer ID found through a dhtnode by the loaded DHT module, bytes intact"
       ok "with P2P_DHT_MODULE pointing nowhere, the error names the DHT module" ;;
    4|5) ok "a bare peer ID found through a dhtnode by the loaded DHT module, bytes intact"
       notok "missing DHT module: unclear error (exit $rc)"; sed 's/^/# /' "$W/dnerr" ;;
    *) notok "bare peer ID through the DHT failed (exit $rc)"
       for f in "$W/derr" "$W/dcerr" "$W/dhtnode.log"; do [ -f "$f" ] && sed 's/^/# /' "$f" | tail -15; done
       notok "missing DHT module not checked" ;;
  esac
else
  echo "ok 9 # SKIP needs root, dhtnode and unshare"; N=$((N + 1))
  echo "ok 10 # SKIP needs root, dhtnode and unshare"; N=$((N + 1))
fi
[ "$FAILS" -eq 0 ]
