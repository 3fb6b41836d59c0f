#!/bin/sh
# pipelines/demo.sh: the README's first command. Installs what is missing,
# builds, makes a short music-like clip (a C-major chord with a little noise,
# FLAC), streams it from one gst-launch-1.0 process (p2psink) to another
# (p2psrc) over QUIC on loopback, and prints what happened: both peer IDs,
# the path kind, the setup time, the bytes, the time to the first buffer and
# whether the decoded audio equals the original sample for sample.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

step "checking dependencies, building (build/)"
. pipelines/env.sh
export GST_REGISTRY="$ROOT/build/demo-registry.bin"
gst-inspect-1.0 p2psink >/dev/null 2>&1 || { echo "the p2p plugin did not load: gst-inspect-1.0 p2psink"; exit 1; }

WORK=$(mktemp -d /tmp/gst-p2p-demo.XXXXXX)
SENDER_PID=""
cleanup() {
  [ -n "$SENDER_PID" ] && kill "$SENDER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
[ -n "${P2P_DEMO_KEEP:-}" ] && trap - EXIT

step "making a 5 s music clip ($WORK/clip.flac)"
N=215  # 215 x 1024 samples at 44.1 kHz = 5 s
gst-launch-1.0 -q audiomixer name=mix ! audio/x-raw,rate=44100,channels=2,format=S16LE \
  ! audioconvert ! flacenc ! filesink location="$WORK/clip.flac" \
  audiotestsrc wave=sine freq=261.63 volume=0.20 num-buffers=$N samplesperbuffer=1024 ! mix. \
  audiotestsrc wave=sine freq=329.63 volume=0.15 num-buffers=$N samplesperbuffer=1024 ! mix. \
  audiotestsrc wave=sine freq=392.00 volume=0.15 num-buffers=$N samplesperbuffer=1024 ! mix. \
  audiotestsrc wave=pink-noise volume=0.03 num-buffers=$N samplesperbuffer=1024 ! mix.
gst-launch-1.0 -q filesrc location="$WORK/clip.flac" ! flacparse ! flacdec ! audioconvert \
  ! audio/x-raw,format=S16LE ! filesink location="$WORK/original.raw"

step "identities"
"$P2P_ID" new --file "$WORK/sender.key" >/dev/null
"$P2P_ID" new --file "$WORK/receiver.key" >/dev/null
SENDER_ID=$("$P2P_ID" show --file "$WORK/sender.key" | head -n1)
RECEIVER_ID=$("$P2P_ID" show --file "$WORK/receiver.key" | head -n1)

# A free UDP port on loopback for the sender.
PORT=$(free_udp_port)

step "streaming: p2psink (sender) -> p2psrc (receiver) over QUIC on 127.0.0.1:$PORT"
GST_DEBUG=p2p*:4 GST_DEBUG_NO_COLOR=1 gst-launch-1.0 -e -m \
  filesrc location="$WORK/clip.flac" ! flacparse ! p2psink name=sink identity="$WORK/sender.key" port=$PORT \
  >"$WORK/sender.log" 2>&1 &
SENDER_PID=$!

# The receiver dials ID@HOST:PORT: wait (bounded) until the sender listens.
wait_listening "$WORK/sender.log"

START=$(date +%s%N)
GST_DEBUG=p2p*:4 GST_DEBUG_NO_COLOR=1 timeout 60 gst-launch-1.0 -e -m \
  p2psrc name=src peer="$SENDER_ID@127.0.0.1:$PORT" identity="$WORK/receiver.key" \
  ! decodebin ! audioconvert ! audio/x-raw,format=S16LE ! filesink location="$WORK/received.raw" \
  >"$WORK/receiver.log" 2>&1 || { echo "receiver failed:"; tail -20 "$WORK/receiver.log"; exit 1; }
END=$(date +%s%N)
wait "$SENDER_PID" || { echo "sender failed:"; tail -20 "$WORK/sender.log"; exit 1; }
SENDER_PID=""

# Figures, read from the element messages and debug lines the elements post.
field() { grep -o "$1=([a-z0-9]*)[^,;]*" "$2" | head -n1 | sed 's/.*)//'; }
PATH_KIND=$(field path "$WORK/receiver.log")
SETUP_MS=$(field setup-time-ms "$WORK/receiver.log")
FIRST_BUF=$(grep -m1 -o "first buffer after [0-9.]* ms" "$WORK/receiver.log" | awk '{print $4}')
BYTES_OUT=$(grep "event=(string)disconnected" "$WORK/sender.log" | grep -o "bytes-sent=(guint64)[0-9]*" | tail -n1 | sed 's/.*)//')
CLIP_BYTES=$(stat -c %s "$WORK/clip.flac")
ORIG_BYTES=$(stat -c %s "$WORK/original.raw")
RECV_BYTES=$(stat -c %s "$WORK/received.raw" 2>/dev/null || echo 0)
if cmp -s "$WORK/original.raw" "$WORK/received.raw"; then SAME=yes; else SAME=NO; fi

step "result"
echo "sender peer ID:      $SENDER_ID"
echo "receiver peer ID:    $RECEIVER_ID"
echo "path:                ${PATH_KIND:-unknown}"
echo "setup time:          ${SETUP_MS:-?} ms (QUIC handshake, both keys checked)"
echo "first buffer after:  ${FIRST_BUF:-?} ms (from p2psrc start: dial, handshake, first media)"
echo "FLAC bytes sent:     $CLIP_BYTES"
echo "UDP bytes sent:      ${BYTES_OUT:-not reported before the sender exited} (p2psink to this receiver: QUIC, encrypted)"
echo "decoded PCM bytes:   $RECV_BYTES (original $ORIG_BYTES)"
echo "receiver run time:   $(( (END - START) / 1000000 )) ms"
echo "decoded audio equals the original: $SAME"
[ "$SAME" = yes ]
