#!/bin/sh
# pipelines/serve-file.sh FILE.flac [PORT]: serve a FLAC file to whoever
# connects (machine A). Prints the peer ID and a ticket; on machine B run
#   pipelines/play.sh <ticket>        (or ID@HOST:PORT)
# The identity is kept in ~/.local/share/gst-p2p/identity.key, so the peer ID
# stays the same across runs. PORT defaults to 8800 (UDP; open it in your
# firewall for other machines, or use a rendezvous server: docs/nat-traversal.md).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 FILE.flac [PORT]" >&2; exit 2; }
. "$(dirname "$0")/env.sh"
FILE=$1
PORT=${2:-8800}
KEY=${P2P_IDENTITY_FILE:-${XDG_DATA_HOME:-$HOME/.local/share}/gst-p2p/identity.key}
[ -f "$KEY" ] || "$P2P_ID" new --file "$KEY" >/dev/null
ID=$("$P2P_ID" show --file "$KEY" | head -n1)
echo "peer ID: $ID"
# the ticket (this machine's addresses, the port, the key) is in p2psink's
# p2p-listening message, which gst-launch -m prints
echo "play with: pipelines/play.sh <ticket from the p2p-listening line below>"
echo "       or: pipelines/play.sh $ID@<this machine's address>:$PORT"
exec gst-launch-1.0 -e -m filesrc location="$FILE" ! flacparse ! p2psink identity="$KEY" port="$PORT"
