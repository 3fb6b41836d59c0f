#!/bin/sh
# pipelines/fanout.sh [N]: one p2psink serving N receivers (default 4) on this
# machine; each receiver decodes the clip and the script checks that every
# one got exactly the original audio.
set -eu
. "$(dirname "$0")/env.sh"
N=${1:-4}
WORK=$(mktemp -d /tmp/p2p-fanout.XXXXXX)
PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null || true; done; rm -rf "$WORK"' EXIT INT TERM

gst-launch-1.0 -q audiotestsrc wave=sine freq=440 num-buffers=200 ! audio/x-raw,rate=44100,channels=2 \
  ! flacenc ! filesink location="$WORK/clip.flac"
gst-launch-1.0 -q filesrc location="$WORK/clip.flac" ! flacparse ! flacdec ! audioconvert \
  ! audio/x-raw,format=S16LE ! filesink location="$WORK/original.raw"
"$P2P_ID" new --file "$WORK/key" >/dev/null
ID=$("$P2P_ID" show --file "$WORK/key" | head -n1)
PORT=$(free_udp_port)

# min-peers=N: the sink holds the stream until all N receivers are connected,
# so each gets the file from its first byte (a late joiner of a live stream
# would get the stream headers and then the next buffer).
gst-launch-1.0 -e -m filesrc location="$WORK/clip.flac" ! flacparse ! queue \
  ! p2psink identity="$WORK/key" port="$PORT" max-peers="$N" min-peers="$N" \
  >"$WORK/sender.log" 2>&1 &
SPID=$!; PIDS="$SPID"
wait_listening "$WORK/sender.log"
i=1
while [ $i -le "$N" ]; do
  timeout 60 gst-launch-1.0 -q p2psrc peer="$ID@127.0.0.1:$PORT" ! decodebin ! audioconvert \
    ! audio/x-raw,format=S16LE ! filesink location="$WORK/recv$i.raw" >"$WORK/recv$i.log" 2>&1 &
  PIDS="$PIDS $!"
  i=$((i + 1))
done
ok=0
for p in $PIDS; do [ "$p" = "$SPID" ] && continue; wait "$p" || true; done
kill "$SPID" 2>/dev/null || true
i=1
while [ $i -le "$N" ]; do
  if cmp -s "$WORK/original.raw" "$WORK/recv$i.raw"; then ok=$((ok + 1)); else
    echo "receiver $i: $(stat -c %s "$WORK/recv$i.raw" 2>/dev/null || echo 0) of $(stat -c %s "$WORK/original.raw") bytes"
  fi
  i=$((i + 1))
done
echo "fan-out: $ok of $N receivers got the original audio exactly"
[ "$ok" -eq "$N" ]
