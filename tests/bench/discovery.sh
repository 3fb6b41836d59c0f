#!/bin/sh
# tests/bench/discovery.sh [RUNS]: setup time of a dial by bare peer ID by
# each discovery route, side by side, with a ticket (no discovery) as the
# baseline. Two network namespaces on a bridge (a LAN, 10.89.0.1 and
# .2, addresses only inside them): the listener, a p2p-rendezvous and a
# dhtnode in A, the dialer in B. Per run a fresh `p2p-cat listen` (one key
# for all runs) announces itself on every route (mDNS, DHT, rendezvous);
# once it is registered and 1 s has passed, `p2p-cat connect --ping` dials
# with only one route configured and reports "setup" (from the start of
# the dialing process: library start, discovery, QUIC and the gst-p2p
# handshake). Prints one line per route:
#   discovery route=ticket|mdns|dht|rendezvous setup_median_ms=… min_ms=… max_ms=… runs=N
# Root; exits 77 without it. Every process bounded; namespaces removed on exit.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${1:-7}
if [ -n "${BENCH_BUILDDIR:-}" ]; then B=$BENCH_BUILDDIR
elif [ -f "$ROOT/build-bench/build.ninja" ]; then B=$ROOT/build-bench
else B=$ROOT/build; fi
case "$B" in /*) ;; *) B=$ROOT/$B ;; esac
CAT=$B/tools/p2p-cat
RDV=$B/tools/p2p-rendezvous
for f in "$CAT" "$RDV" "$B/tools/p2p-id"; do
  [ -x "$f" ] || { echo "discovery: missing $f (ninja -C $B)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "discovery: needs root for network namespaces" >&2; exit 77; }
command -v dhtnode >/dev/null || { echo "discovery: dhtnode is not installed" >&2; exit 77; }
W=$(mktemp -d /tmp/bench-discovery-XXXXXX)
. "$ROOT/tests/support/netns-lan.sh"
LAN_PREFIX=d
cleanup() { lan_cleanup; rm -rf "$W"; }
trap cleanup EXIT INT TERM
x() { lan_x "$@"; }
lan_up 10.89.0 a b || exit 77

"$B/tools/p2p-id" new --file "$W/key" >/dev/null 2>&1 || exit 1
PEER=$("$B/tools/p2p-id" show --file "$W/key" | head -n1)
T=$((RUNS * 60 + 120))
x a timeout $T "$RDV" --host 10.89.0.1 --port 0 >"$W/rdv.out" 2>"$W/rdv.log" &
LAN_PIDS="$LAN_PIDS $!"
x a timeout $T dhtnode -s -p 4222 >"$W/dht.log" 2>&1 &
LAN_PIDS="$LAN_PIDS $!"
URL=""
for i in $(seq 100); do URL=$(sed -n 's/^listening on //p' "$W/rdv.out"); [ -n "$URL" ] && break; sleep 0.1; done
[ -n "$URL" ] || { echo "discovery: p2p-rendezvous did not start" >&2; exit 1; }

# one listener per run, announced on every route; returns once registered
listen() {
  : >"$W/l.err"
  P2P_MDNS=1 P2P_BOOTSTRAP_PEERS="$URL,dht://10.89.0.1:4222" x a timeout 60 "$CAT" listen \
    --port 9000 --identity "$W/key" >/dev/null 2>"$W/l.err" </dev/null &
  LP=$!
  for i in $(seq 200); do grep -q '^registered: ' "$W/l.err" && break; sleep 0.05; done
  grep -q '^registered: ' "$W/l.err" || { echo "discovery: the listener did not register" >&2; cat "$W/l.err" >&2; return 1; }
  sleep 1                       # the DHT put and the mDNS announcement
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.1f %.1f %.1f", a[int((NR+1)/2)], a[1], a[NR]}'; }

for route in ticket mdns dht rendezvous; do
  : >"$W/$route.ms"
  for r in $(seq "$RUNS"); do
    listen || exit 1
    case $route in
      ticket) env="P2P_MDNS=0"; peer="$PEER@10.89.0.1:9000" ;;
      mdns) env="P2P_MDNS=1"; peer=$PEER ;;
      dht) env="P2P_MDNS=0 P2P_BOOTSTRAP_PEERS=dht://10.89.0.1:4222"; peer=$PEER ;;
      rendezvous) env="P2P_MDNS=0 P2P_BOOTSTRAP_PEERS=$URL"; peer=$PEER ;;
    esac
    # shellcheck disable=SC2086 # $env is a list of assignments
    if echo hi | env $env ip netns exec "$(lan_ns b)" timeout 30 "$CAT" connect --ping "$peer" \
        2>"$W/c.err"; then
      sed -n 's/^setup: \([0-9.]*\) ms.*/\1/p' "$W/c.err" >>"$W/$route.ms"
    else
      echo "discovery: $route run $r failed: $(tail -n1 "$W/c.err")" >&2
    fi
    wait "$LP" 2>/dev/null
  done
  n=$(wc -l <"$W/$route.ms")
  if [ "$n" -gt 0 ]; then
    set -- $(median <"$W/$route.ms")
    echo "discovery route=$route setup_median_ms=$1 min_ms=$2 max_ms=$3 runs=$n"
  else
    echo "discovery route=$route setup_median_ms=0 runs=0"
  fi
done
