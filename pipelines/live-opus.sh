#!/bin/sh
# pipelines/live-opus.sh [SECONDS]: a live Opus stream in datagram delivery
# (unreliable QUIC DATAGRAMs: a lost packet is not repaired, latency stays
# low; p2psrc is a live source with a jitter buffer of "latency" ms).
# Both ends run on this machine; prints the receiver's p2p-connection
# message (peer, path, setup time) at the end.
#   send:    live-opus.sh send [PORT]      receive: live-opus.sh receive PEER
set -eu
. "$(dirname "$0")/env.sh"

send() {
  gst-launch-1.0 -e -m audiotestsrc is-live=true wave=sine freq=440 num-buffers="$1" \
    ! audio/x-raw,rate=48000,channels=2 ! opusenc bitrate=128000 \
    ! p2psink delivery=datagram identity="$2" port="$3"
}
receive() {
  gst-launch-1.0 -e -m p2psrc peer="$1" delivery=datagram latency=100 \
    ! opusdec ! audioconvert ! "${SINK:-fakesink}"
}

case "${1:-demo}" in
  send) KEY=$(mktemp -u /tmp/p2p-live.XXXXXX); trap 'rm -f "$KEY"' EXIT INT TERM
        "$P2P_ID" new --file "$KEY" >/dev/null
        echo "peer: $("$P2P_ID" show --file "$KEY" | head -n1)@127.0.0.1:${2:-8800}"
        send 100000 "$KEY" "${2:-8800}" ;;
  receive) receive "$2" ;;
  *)
    SECONDS_=${1:-5}; [ "$SECONDS_" = demo ] && SECONDS_=5
    WORK=$(mktemp -d); trap 'kill $SPID 2>/dev/null || true; rm -rf "$WORK"' EXIT INT TERM
    "$P2P_ID" new --file "$WORK/key" >/dev/null
    ID=$("$P2P_ID" show --file "$WORK/key" | head -n1)
    PORT=$(free_udp_port)
    send $((SECONDS_ * 100)) "$WORK/key" "$PORT" >"$WORK/send.log" 2>&1 & SPID=$!
    wait_listening "$WORK/send.log"
    timeout $((SECONDS_ + 20)) gst-launch-1.0 -e -m p2psrc peer="$ID@127.0.0.1:$PORT" delivery=datagram latency=100 \
      ! opusdec ! audioconvert ! fakesink >"$WORK/recv.log" 2>&1 || { tail "$WORK/recv.log"; exit 1; }
    wait $SPID || true
    grep -o "p2p-connection.*" "$WORK/recv.log" | head -n1
    echo "live Opus over QUIC datagrams for $SECONDS_ s: done"
    ;;
esac
