#!/bin/sh
# tests/elements/eos-sigint.sh PLUGIN_DIR: issue 16 item 3 with real
# processes on loopback: "gst-launch-1.0 -e p2psrc ... ! wavenc ! filesink"
# receiving from a live sender ends after SIGINT (Ctrl-C) with exit status 0
# and a WAV file whose RIFF and data sizes match the file (wavenc rewrote its
# header at EOS). Every process is bounded by timeout(1); the wait after
# SIGINT is a bounded poll. Exits 77 (SKIP) without gst-launch-1.0 or the
# elements (e.g. a sanitizer build's plugin, which needs its runtime
# preloaded).
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
. "$(dirname "$0")/../support/launch-util.sh"
PLUGINS=${1:?plugin dir}
T=30                                    # bound for every process, seconds
W=$(mktemp -d /tmp/p2p-eos-sigint-XXXXXX)
PIDS=""

log() { echo "[eos-sigint] $*"; }
fail() {
  log "FAIL: $*"
  for f in "$W"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done
  [ -f "$W/out.wav" ] && { echo "--- out.wav, first 96 bytes"; od -A d -c -N 96 "$W/out.wav"; }
  exit 1
}
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  for p in $PIDS; do wait "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT INT TERM

launch_setup "$PLUGINS" "$W" p2psink p2psrc audiotestsrc wavenc

timeout $T gst-launch-1.0 -m audiotestsrc is-live=true samplesperbuffer=441 \
  ! audio/x-raw,format=S16LE,rate=44100,channels=1 \
  ! p2psink transport=quic port=0 bind-address=127.0.0.1 >"$W/sender.log" 2>&1 &
PIDS="$PIDS $!"
TICKET=$(wait_ticket "$W/sender.log")
[ -n "$TICKET" ] || fail "the sender printed no ticket"

# --foreground: timeout(1) passes our SIGINT to gst-launch-1.0 once (without
# it, it also signals its process group: a second SIGINT kills gst-launch)
timeout --foreground $T gst-launch-1.0 -e p2psrc transport=quic peer="$TICKET" ! wavenc \
  ! filesink location="$W/out.wav" >"$W/receiver.log" 2>&1 &
R=$!; PIDS="$PIDS $R"
# audio flows: more than the 44-byte header was written (bounded)
for i in $(seq 200); do
  [ "$(stat -c %s "$W/out.wav" 2>/dev/null || echo 0)" -gt 8820 ] && break
  kill -0 $R 2>/dev/null || fail "the receiver exited early"
  sleep 0.05
done
[ "$(stat -c %s "$W/out.wav" 2>/dev/null || echo 0)" -gt 8820 ] || fail "no audio received"

kill -INT $R
# bounded: 100 x 0.05 s; before the fix it waited for EOS until timeout(1)
for i in $(seq 100); do
  kill -0 $R 2>/dev/null || break
  sleep 0.05
done
kill -0 $R 2>/dev/null && fail "the receiver still runs 5 s after SIGINT (no EOS)"
wait $R; rc=$?
PIDS=$(echo "$PIDS" | sed "s/ $R\$//")
[ $rc -eq 0 ] || fail "the receiver exited with $rc"
grep -q "EOS" "$W/receiver.log" || fail "the receiver did not report EOS"

# a valid WAV: RIFF size = file size - 8; a "data" chunk (found by walking
# the chunks: wavenc puts a LIST chunk with the tags before or after it,
# depending on when the tags arrive) holds whole samples, more than 0.1 s
# of them, within the file
# (the file tools run without a sanitizer build's LD_PRELOAD: dd under a
# preloaded libasan prints nothing)
u32() { env -u LD_PRELOAD od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
size=$(stat -c %s "$W/out.wav")
[ "$(head -c 4 "$W/out.wav")" = RIFF ] || fail "not a RIFF file"
[ "$(u32 "$W/out.wav" 4)" -eq $((size - 8)) ] || fail "RIFF size $(u32 "$W/out.wav" 4), file $size bytes"
off=12; data=""; n=0
while [ $((off + 8)) -le "$size" ] && [ $n -lt 64 ]; do
  id=$(env -u LD_PRELOAD dd if="$W/out.wav" bs=1 skip=$off count=4 2>/dev/null)
  len=$(u32 "$W/out.wav" $((off + 4)))
  if [ "$id" = data ]; then data=$len; data_off=$((off + 8)); break; fi
  off=$((off + 8 + len + len % 2)); n=$((n + 1))
done
[ -n "$data" ] || fail "no data chunk"
[ "$data" -gt 8820 ] && [ $((data % 2)) -eq 0 ] && [ $((data_off + data)) -le "$size" ] ||
  fail "data size $data at $data_off, file $size bytes"
log "ok: exit 0 after SIGINT, WAV of $size bytes ($data bytes of samples), header rewritten"
exit 0
