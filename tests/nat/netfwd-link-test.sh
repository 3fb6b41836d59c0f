#!/bin/sh
# tests/nat/netfwd-link-test.sh: the emulated link of tests/support/netfwd-link.sh
# (netfwd between two TAP devices; this kernel has no sch_netem) does what
# its options say. Root; exits 77 = SKIP without root or /dev/net/tun.
#
#   netfwd-link-test.sh SRCDIR NETFWD PYTHON
#
# Checks, with UDP from namespace A (10.88.0.1) to B (10.88.0.2):
#  1. --delay-ms 25: 10 echo probes all come back, every RTT >= 50 ms (the
#     delay is a floor), median < 80 ms (the ceiling is on the median: one
#     probe may be late on a busy machine);
#  2. --loss 1.0: none of 5 probes comes back; netfwd counted them lost;
#  3. --delay-ms 5 --reorder 0.3 --reorder-ms 20: 100 datagrams sent at once
#     all arrive, some out of order, and netfwd counted reordered frames;
#  4. --rate-kbit 4000: 400 datagrams of 1250 bytes sent at once arrive
#     spread over the time the rate allows beyond the bucket's burst
#     (about 1.0 s: 0.85 to 1.4 s accepted).
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
SRC=${1:?source dir}
NETFWD=${2:?netfwd}
PY=${3:?python}
UDP="$SRC/tests/nat/netfwd-udp.py"
T=20                                 # bound of every UDP helper, seconds
NETFWD_SECONDS=120                   # bound of each netfwd run
. "$SRC/tests/support/netfwd-link.sh"
PIDS=""

log() { echo "[netfwd-link] $*"; }
fail() {
  log "FAIL: $*"
  for f in "$NETFWD_DIR"/*; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done
  exit 1
}
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  for p in $PIDS; do wait "$p" 2>/dev/null; done
  netfwd_link_down
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

netfwd_link_check || exit $?
command -v "$PY" >/dev/null || { echo "SKIP: no python3"; exit 77; }
NETFWD_DIR=$(mktemp -d /tmp/netfwd-test-XXXXXX)
NETFWD_OWN_DIR=$NETFWD_DIR

# server NAME CMD...: a UDP end in B, in the background; waits for "ready".
server() {
  name=$1; shift
  netfwd_b timeout $T "$PY" "$UDP" "$@" >"$NETFWD_DIR/$name.out" 2>"$NETFWD_DIR/$name.err" &
  SPID=$!; PIDS="$PIDS $SPID"
  for _ in $(seq 100); do
    grep -q '^ready' "$NETFWD_DIR/$name.out" && return 0
    kill -0 $SPID 2>/dev/null || break
    sleep 0.05
  done
  fail "$name did not start"
}

netfwd_link_up "$NETFWD" --delay-ms 25 --seed 1 || fail "link setup"

# 1. delay
server echo echo "$NETFWD_B_IP" 7000 $T
netfwd_a timeout $T "$PY" "$UDP" ping "$NETFWD_B_IP" 7000 10 >"$NETFWD_DIR/ping1.out" || fail "ping"
sum=$(tail -n 1 "$NETFWD_DIR/ping1.out")
log "25 ms each way: $sum"
set -- $sum
[ "$4" = 10 ] || fail "probes lost on a lossless link: $sum"
awk -v min="$6" -v med="$8" 'BEGIN { exit !(min >= 50 && med < 80) }' ||
  fail "RTT outside [50, 80) ms: $sum"

# 2. loss 1.0 (the echo server still runs)
netfwd_link_restart --delay-ms 25 --loss 1.0 || fail "netfwd restart"
netfwd_a timeout $T "$PY" "$UDP" ping "$NETFWD_B_IP" 7000 5 >"$NETFWD_DIR/ping2.out" || fail "ping"
sum=$(tail -n 1 "$NETFWD_DIR/ping2.out")
set -- $sum
[ "$4" = 0 ] || fail "--loss 1.0 let probes pass: $sum"
netfwd_link_stop
lost=$(netfwd_counter "0>1" lost); fwd=$(netfwd_counter "0>1" forwarded)
[ "${lost:-0}" -ge 5 ] && [ "$fwd" = 0 ] || fail "--loss 1.0 counters: lost '$lost' forwarded '$fwd'"
log "loss 1.0: $sum; netfwd A>B lost $lost forwarded $fwd"

# 3. reordering
netfwd_link_start --delay-ms 5 --reorder 0.3 --reorder-ms 20 --seed 7 || fail "netfwd restart"
server sink3 sink "$NETFWD_B_IP" 7001 100 10
netfwd_a timeout $T "$PY" "$UDP" burst "$NETFWD_B_IP" 7001 100 100 || fail "burst"
wait $SPID
got=$(tail -n 1 "$NETFWD_DIR/sink3.out")
netfwd_link_stop
reo=$(netfwd_counter "0>1" reordered)
set -- $got
[ "$2" = 100 ] && [ "$4" -gt 0 ] && [ "${reo:-0}" -gt 0 ] ||
  fail "reordering: $got, netfwd reordered '$reo'"
log "reorder 0.3: $got; netfwd reordered $reo"

# 4. rate: 400 x (1250 + 28 + 14) bytes, minus the 16 KiB burst, at 4 Mbit/s
netfwd_link_start --rate-kbit 4000 --rate-queue-kb 1024 || fail "netfwd restart"
server sink4 sink "$NETFWD_B_IP" 7002 400 10
netfwd_a timeout $T "$PY" "$UDP" burst "$NETFWD_B_IP" 7002 400 1250 || fail "burst"
wait $SPID
got=$(tail -n 1 "$NETFWD_DIR/sink4.out")
netfwd_link_stop
set -- $got
want=$(awk 'BEGIN { printf "%.0f", (400 * 1292 - 16384) * 8 / 4000000 * 1000 }')
[ "$2" = 400 ] && awk -v s="$6" 'BEGIN { exit !(s >= 850 && s <= 1400) }' ||
  fail "rate 4000 kbit: $got (expected about $want ms)"
log "rate 4000 kbit: $got (expected about $want ms); queue-full $(netfwd_counter "0>1" queue-full)"
log "ok"
exit 0
