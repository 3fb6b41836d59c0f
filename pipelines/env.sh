# pipelines/env.sh: sourced by the example scripts. Builds the project if
# needed and points GStreamer at the freshly built p2p plugin (an installed
# plugin works too: then nothing here is needed).
P2P_ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$P2P_ROOT/scripts/deps.sh"           # installs only what is missing
if [ ! -f "$P2P_ROOT/build/build.ninja" ]; then
  meson setup "$P2P_ROOT/build" >/dev/null
fi
ninja -C "$P2P_ROOT/build" >/dev/null
export GST_PLUGIN_PATH="$P2P_ROOT/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
P2P_ID="$P2P_ROOT/build/tools/p2p-id"

# wait_listening LOG: waits (at most 5 s) until a p2psink started with
# gst-launch-1.0 -m has posted its "p2p-listening" message in LOG.
wait_listening() {
  _i=0
  while [ $_i -lt 100 ] && ! grep -q "p2p-listening" "$1" 2>/dev/null; do
    sleep 0.05; _i=$((_i + 1))
  done
  grep -q "p2p-listening" "$1" || { echo "the sender did not start listening:"; tail -5 "$1"; return 1; }
}

# free_udp_port: prints a UDP port that is free on 127.0.0.1 now.
free_udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
