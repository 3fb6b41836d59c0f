#!/bin/sh
# tests/elements/eos-no-receiver.sh PLUGIN_DIR: issue 16 item 14 with real
# processes: a sender whose stream ends (EOS) while no receiver is connected
# does not wait for one: "gst-launch-1.0 -e audiotestsrc num-buffers=0 !
# p2psink" (default wait-for-peer=true) exits 0 with the EOS on its bus
# (before, the EOS waited for a peer forever); the same for a live source
# stopped with SIGINT (-e). Every process is bounded by
# timeout(1), waits are bounded polls, cleanup by PID. Exits 77 (SKIP)
# without gst-launch-1.0 or the elements.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
PLUGINS=${1:?plugin dir}
T=30
W=$(mktemp -d /tmp/p2p-eos-norecv-XXXXXX)
PIDS=""

log() { echo "[eos-no-receiver] $*"; }
fail() { log "FAIL: $*"; for f in "$W"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  for p in $PIDS; do wait "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT INT TERM

command -v gst-launch-1.0 >/dev/null || { echo "SKIP: gst-launch-1.0 is not installed"; exit 77; }
export GST_PLUGIN_PATH="$PLUGINS"
export GST_REGISTRY="$W/registry.bin"
export XDG_DATA_HOME="$W/data"
for e in p2psink audiotestsrc; do
  gst-inspect-1.0 "$e" >/dev/null 2>&1 || { echo "SKIP: element $e cannot be loaded"; exit 77; }
done

# wait (bounded: 100 x 0.05 s) for process $1 to end; 1 if it still runs
wait_end() {
  for i in $(seq 100); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.05
  done
  return 1
}

# 1. the stream ends at once, nobody connected
timeout --foreground $T gst-launch-1.0 -e -m audiotestsrc num-buffers=0 \
  ! p2psink transport=quic port=0 >"$W/empty.log" 2>&1 &
P=$!; PIDS="$PIDS $P"
for i in $(seq 200); do
  grep -q "p2p-listening" "$W/empty.log" && break
  kill -0 $P 2>/dev/null || break
  sleep 0.05
done
wait_end $P || fail "the sender still runs 5 s after its EOS with no receiver"
wait $P; rc=$?
PIDS=""
[ $rc -eq 0 ] || fail "the sender exited with $rc"
grep -q "Got EOS from element" "$W/empty.log" || fail "no EOS on the sender's bus"

# 2. a live source and Ctrl-C with nobody connected: the buffers of a live
# stream are not held for a receiver, so the EOS that gst-launch-1.0 -e
# injects gets through (before, it waited behind wait-for-peer forever)
timeout --foreground $T gst-launch-1.0 -e -m audiotestsrc is-live=true \
  ! p2psink transport=quic port=0 >"$W/live.log" 2>&1 &
P=$!; PIDS="$P"
for i in $(seq 200); do
  grep -q "p2p-listening" "$W/live.log" && break
  kill -0 $P 2>/dev/null || fail "the live sender exited early"
  sleep 0.05
done
grep -q "p2p-listening" "$W/live.log" || fail "the live sender never listened"
sleep 0.5                                # a few live buffers reach the sink
kill -INT $P
wait_end $P || fail "the live sender still runs 5 s after SIGINT with no receiver"
wait $P; rc=$?
PIDS=""
[ $rc -eq 0 ] || fail "the live sender exited with $rc"
grep -q "Got EOS from element" "$W/live.log" || fail "no EOS on the live sender's bus"

log "ok: EOS with no receiver ends the sender at once (exit 0), also a live one after SIGINT"
exit 0
