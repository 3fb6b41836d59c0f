#!/bin/sh
# tests/nat/mdns-lan.sh: the elements by bare peer ID on one LAN, with no
# rendezvous and no other server: p2psink announces its signed record over
# mDNS, p2psrc peer=<bare ID> finds it there. Two namespaces (la, lb) on a
# bridge in a third (lan); addresses exist only inside them. A short FLAC
# clip is streamed and the decoded audio compared sample for sample; the
# receiver's discovery time is reported. Then a receiver with mdns=false
# must fail with PEER_NOT_FOUND. Root needed (exits 77 = SKIP without).
#
#   mdns-lan.sh PLUGIN_DIR P2P_ID
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
PLUGINS=${1:?plugin dir}
P2P_ID=${2:?p2p-id}
T=${MDNS_T:-30}                      # bound for every process, seconds
W=$(mktemp -d /tmp/mdns-lan-XXXXXX)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/support/launch-util.sh"
. "$ROOT/tests/support/netns-lan.sh"
LAN_PREFIX=m

log() { echo "[mdns-lan] $*"; }
fail() { log "FAIL: $*"; for f in "$W"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -25 "$f"; }; done; exit 1; }
cleanup() { lan_cleanup; rm -rf "$W"; }
trap cleanup EXIT INT TERM

if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root for network namespaces"; exit 77; fi
launch_setup "$PLUGINS" "$W" p2psink p2psrc flacenc flacparse flacdec
# The LAN: a bridge in 'lan', one veth cable to each peer's namespace.
lan_up 198.19.5 la lb 2>"$W/ns.log" || { echo "SKIP: cannot make the namespaces: $(cat "$W/ns.log")"; exit 77; }

gst-launch-1.0 -q audiotestsrc wave=sine freq=440 num-buffers=44 samplesperbuffer=1024 \
  ! audio/x-raw,rate=44100,channels=2,format=S16LE ! flacenc ! filesink location="$W/clip.flac" ||
  fail "cannot make the clip"
gst-launch-1.0 -q filesrc location="$W/clip.flac" ! flacparse ! flacdec ! audioconvert \
  ! audio/x-raw,format=S16LE ! filesink location="$W/original.raw" || fail "cannot decode the clip"
"$P2P_ID" new --file "$W/sender.key" >/dev/null || fail "p2p-id new"
SENDER_ID=$("$P2P_ID" show --file "$W/sender.key" | head -n1)

# The sender listens on every address of la (port 8800) and announces itself.
P2P_MDNS=1 G_MESSAGES_DEBUG=p2p timeout $T ip netns exec "$(lan_ns la)" gst-launch-1.0 -e \
  filesrc location="$W/clip.flac" ! flacparse ! p2psink identity="$W/sender.key" \
  >"$W/sender.log" 2>&1 &
SENDER_PID=$!; LAN_PIDS="$LAN_PIDS $SENDER_PID"

# The receiver has the bare peer ID only (no rendezvous, no address).
P2P_MDNS=1 G_MESSAGES_DEBUG=p2p timeout $T ip netns exec "$(lan_ns lb)" gst-launch-1.0 -e -m \
  p2psrc peer="$SENDER_ID" ! flacparse ! flacdec ! audioconvert ! audio/x-raw,format=S16LE \
  ! filesink location="$W/received.raw" >"$W/receiver.log" 2>&1 || fail "the receiver failed"
wait $SENDER_PID || fail "the sender failed"
cmp -s "$W/original.raw" "$W/received.raw" ||
  fail "decoded audio differs ($(stat -c %s "$W/received.raw") of $(stat -c %s "$W/original.raw") bytes)"
found=$(sed -n 's/.*found on the local network (mDNS) in \([0-9.]*\) ms at \(.*\)/\1 ms (\2)/p' \
  "$W/receiver.log" | head -n1)
[ -n "$found" ] || fail "the receiver did not log its mDNS discovery"
echo "$found" | grep -q "198.19.5.1:" || fail "discovered '$found', not the sender's LAN address"
path=$(grep -o 'path=(string)[a-z]*' "$W/receiver.log" | head -n1 | sed 's/.*)//')
[ "$path" = direct ] || fail "path is '$path', expected 'direct'"
log "ok: $(stat -c %s "$W/original.raw") bytes of audio identical; peer found by mDNS in $found; path $path"

# LAN discovery off on the receiver (its mdns property; the sender still
# announces): the same bare ID is not found.
P2P_MDNS=1 timeout $T ip netns exec "$(lan_ns la)" gst-launch-1.0 -e \
  filesrc location="$W/clip.flac" ! flacparse ! p2psink identity="$W/sender.key" \
  >"$W/sender2.log" 2>&1 &
SENDER_PID=$!; LAN_PIDS="$LAN_PIDS $SENDER_PID"
if P2P_MDNS=1 timeout $T ip netns exec "$(lan_ns lb)" gst-launch-1.0 \
  p2psrc peer="$SENDER_ID" mdns=false reconnect=none ! fakesink >"$W/off.log" 2>&1; then
  fail "a receiver with mdns=false found the peer"
fi
grep -q "no rendezvous configured" "$W/off.log" || fail "mdns=false: not the expected error"
grep -q "local network" "$W/off.log" && fail "mdns=false: the error names the local network"
log "ok: with mdns=false the bare ID is not found"
exit 0
