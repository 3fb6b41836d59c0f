#!/bin/sh
# tests/nat/gst-rendezvous.sh: the elements by bare peer ID on loopback:
# p2psink rendezvous=ws://... listens and registers; p2psrc peer=<bare ID>
# rendezvous=ws://... finds it through a p2p-rendezvous on 127.0.0.1 (any
# port) and ICE; a short FLAC clip is streamed and the decoded audio
# compared sample for sample. No root needed; exits 77 (SKIP) without
# gst-launch-1.0 or the FLAC elements.
#
#   gst-rendezvous.sh PLUGIN_DIR P2P_ID P2P_RENDEZVOUS
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
PLUGINS=${1:?plugin dir}
P2P_ID=${2:?p2p-id}
RDV=${3:?p2p-rendezvous}
T=${GST_RDV_T:-30}                   # bound for every process, seconds
W=$(mktemp -d /tmp/gst-rdv-XXXXXX)
PIDS=""

log() { echo "[gst-rendezvous] $*"; }
fail() { log "FAIL: $*"; for f in "$W"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -25 "$f"; }; done; exit 1; }
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  for p in $PIDS; do wait "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT INT TERM

command -v gst-launch-1.0 >/dev/null || { echo "SKIP: gst-launch-1.0 is not installed"; exit 77; }
export GST_PLUGIN_PATH="$PLUGINS"
export GST_REGISTRY="$W/registry.bin"
# ICE host candidates on loopback only: no checks to this machine's own addresses
export P2P_ICE_ADDRESSES=127.0.0.1
for e in p2psink p2psrc flacenc flacparse flacdec; do
  # (A sanitizer build's plugin does not load into gst-launch-1.0 without
  # the sanitizer runtime preloaded: skipped there too.)
  gst-inspect-1.0 "$e" >/dev/null 2>&1 || { echo "SKIP: element $e cannot be loaded"; exit 77; }
done

# A 1 s clip (44 x 1024 samples at 44.1 kHz) and its decoded samples.
gst-launch-1.0 -q audiotestsrc wave=sine freq=440 num-buffers=44 samplesperbuffer=1024 \
  ! audio/x-raw,rate=44100,channels=2,format=S16LE ! flacenc ! filesink location="$W/clip.flac" ||
  fail "cannot make the clip"
gst-launch-1.0 -q filesrc location="$W/clip.flac" ! flacparse ! flacdec ! audioconvert \
  ! audio/x-raw,format=S16LE ! filesink location="$W/original.raw" || fail "cannot decode the clip"

"$P2P_ID" new --file "$W/sender.key" >/dev/null || fail "p2p-id new"
SENDER_ID=$("$P2P_ID" show --file "$W/sender.key" | head -n1)

timeout $((T * 2)) "$RDV" --host 127.0.0.1 --port 0 >"$W/rdv.out" 2>"$W/rdv.log" &
PIDS="$PIDS $!"
URL=""
for i in $(seq 100); do
  URL=$(sed -n 's/^listening on //p' "$W/rdv.out")
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || fail "p2p-rendezvous did not start"

timeout $T gst-launch-1.0 -e filesrc location="$W/clip.flac" ! flacparse \
  ! p2psink identity="$W/sender.key" port=0 rendezvous="$URL" >"$W/sender.log" 2>&1 &
SENDER_PID=$!; PIDS="$PIDS $SENDER_PID"
# The sender's listener registers its peer ID in the background: wait until
# the rendezvous logged it (bounded).
for i in $(seq 150); do
  grep -q "registered $SENDER_ID" "$W/rdv.log" && break
  kill -0 $SENDER_PID 2>/dev/null || fail "the sender exited early"
  sleep 0.1
done
grep -q "registered $SENDER_ID" "$W/rdv.log" || fail "the sender did not register at $URL"

timeout $T gst-launch-1.0 -e -m p2psrc peer="$SENDER_ID" rendezvous="$URL" \
  ! flacparse ! flacdec ! audioconvert ! audio/x-raw,format=S16LE \
  ! filesink location="$W/received.raw" >"$W/receiver.log" 2>&1 || fail "the receiver failed"
wait $SENDER_PID || fail "the sender failed"
cmp -s "$W/original.raw" "$W/received.raw" ||
  fail "decoded audio differs ($(stat -c %s "$W/received.raw") of $(stat -c %s "$W/original.raw") bytes)"
path=$(grep -o 'path=(string)[a-z]*' "$W/receiver.log" | head -n1 | sed 's/.*)//')
[ "$path" = direct ] || fail "path is '$path', expected 'direct'"
log "ok: $(stat -c %s "$W/original.raw") bytes of audio identical, found by bare peer ID, path $path"
exit 0
