# pipelines/env.sh: sourced by the example scripts. Builds the project if
# needed and points GStreamer at the freshly built p2p plugin (an installed
# plugin works too: then nothing here is needed).
P2P_ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$P2P_ROOT/build/build.ninja" ]; then
  "$P2P_ROOT/scripts/deps.sh"
  meson setup "$P2P_ROOT/build" >/dev/null
fi
ninja -C "$P2P_ROOT/build" >/dev/null
export GST_PLUGIN_PATH="$P2P_ROOT/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
P2P_ID="$P2P_ROOT/build/tools/p2p-id"
