#!/bin/sh
# pipelines/play.sh PEER: play what a p2psink serves (machine B). PEER is a
# peer ID (with a rendezvous server: P2P_BOOTSTRAP_PEERS=ws://...), a ticket or
# ID@HOST:PORT. Audio goes to the default output; set SINK=fakesink to test
# without a sound card.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 PEER   (peer ID, ticket or ID@HOST:PORT)" >&2; exit 2; }
. "$(dirname "$0")/env.sh"
exec gst-launch-1.0 -m p2psrc peer="$1" ! decodebin ! audioconvert ! audioresample \
  ! "${SINK:-autoaudiosink}"
