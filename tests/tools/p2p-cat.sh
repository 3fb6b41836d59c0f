#!/bin/sh
# tests/tools/p2p-cat.sh BUILDDIR: p2p-cat end to end on loopback, dialed by
# ticket: 3 MB of random bytes arrive intact, the path is reported, the
# ticket of a listener bound to 127.0.0.1 (--bind-address) lists only that
# address (tests never aim at the machine's interfaces), and with
# every debug log switched on (G_MESSAGES_DEBUG=all) no log line lands in the
# data on stdout. Every process is bounded by timeout(1) and killed on exit.
set -eu
B=$1
W=$(mktemp -d /tmp/p2p-cat-test.XXXXXX)
L=""
cleanup() { [ -n "$L" ] && kill "$L" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT INT TERM

head -c 3000000 /dev/urandom >"$W/in"
G_MESSAGES_DEBUG=all timeout 30 "$B/tools/p2p-cat" listen --port 0 --bind-address 127.0.0.1 >"$W/out" 2>"$W/err" &
L=$!
i=0
while [ $i -lt 200 ] && ! grep -q '^ticket: ' "$W/err"; do sleep 0.05; i=$((i + 1)); done
T=$(grep -m1 '^ticket: ' "$W/err" | cut -d' ' -f2)
[ -n "$T" ] || { echo "listener printed no ticket:"; cat "$W/err"; exit 1; }
"$B/tools/p2p-id" check "$T" >"$W/check"
[ "$(grep -c '^address: ' "$W/check")" = 1 ] && grep -qx 'address: 127\.0\.0\.1:[0-9]*' "$W/check" ||
  { echo "the ticket of a listener bound to 127.0.0.1 lists other addresses:"; cat "$W/check"; exit 1; }
G_MESSAGES_DEBUG=all timeout 30 "$B/tools/p2p-cat" connect "$T" <"$W/in" 2>"$W/cerr"
wait "$L"; L=""
cmp "$W/in" "$W/out" || { echo "data differs"; exit 1; }
grep -q '^path: direct' "$W/cerr" || { echo "no 'path: direct' from connect:"; cat "$W/cerr"; exit 1; }
# the providers' counters (p2p_provider_get_stats()): one dial, one accept, direct
grep -qx 'provider: dials-ok 1, dials-failed 0, accepts 0, paths direct 1 relay 0' "$W/cerr" \
  || { echo "no provider counters from connect:"; cat "$W/cerr"; exit 1; }
grep -qx 'provider: dials-ok 0, dials-failed 0, accepts 1, paths direct 1 relay 0' "$W/err" \
  || { echo "no provider counters from listen:"; cat "$W/err"; exit 1; }
grep -qx 'protocol: version 1, peer capabilities: files,stream-position,datagram-epoch' "$W/cerr" \
  || { echo "no negotiated version and capabilities from connect:"; cat "$W/cerr"; exit 1; }

# errors in plain words, exit status 1
if timeout 30 "$B/tools/p2p-cat" connect not-a-peer </dev/null 2>"$W/bad"; then
  echo "a malformed peer was accepted"; exit 1
fi
grep -qi "peer" "$W/bad" || { echo "unclear error:"; cat "$W/bad"; exit 1; }
echo "ok: 3000000 bytes intact, path direct, logs kept out of the data"
