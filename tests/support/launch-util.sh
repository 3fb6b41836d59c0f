# tests/support/launch-util.sh: shell helpers of the tests that run
# gst-launch-1.0 (sourced: tests/elements/eos-sigint.sh, tests/soak/churn.sh).
# SPDX-License-Identifier: LGPL-2.1-or-later

# launch_setup PLUGIN_DIR WORKDIR ELEMENT...: our plugin directory and a
# registry of our own in WORKDIR; exits 77 (SKIP) without gst-launch-1.0 or
# when an element cannot be loaded (e.g. a sanitizer build's plugin without
# its runtime preloaded).
launch_setup() {
  command -v gst-launch-1.0 >/dev/null || { echo "SKIP: gst-launch-1.0 is not installed"; exit 77; }
  export GST_PLUGIN_PATH="$1"
  export GST_REGISTRY="$2/registry.bin"
  shift 2
  for _e in "$@"; do
    gst-inspect-1.0 "$_e" >/dev/null 2>&1 || { echo "SKIP: element $_e cannot be loaded"; exit 77; }
  done
}

# wait_log LOG SED_SCRIPT: prints the first line sed -n SED_SCRIPT prints
# from LOG, waiting for one at most 10 s (200 x 50 ms); nothing if none.
wait_log() {
  _out=""
  for _i in $(seq 200); do
    _out=$(sed -n "$2" "$1" | head -n1)
    [ -n "$_out" ] && break
    sleep 0.05
  done
  echo "$_out"
}

# wait_ticket LOG: the ticket of the p2p-listening message that
# "gst-launch-1.0 -m ... ! p2psink" wrote to LOG.
wait_ticket() {
  wait_log "$1" 's/.*p2p-listening.*ticket=(string)\(p2p1[a-z0-9]*\).*/\1/p'
}

# wait_loopback_peer LOG: ID@127.0.0.1:PORT from the peer-id and port of
# that message: a p2psink with bind-address=127.0.0.1 is dialed there, never
# at the machine's own addresses a ticket may list.
wait_loopback_peer() {
  wait_log "$1" 's/.*p2p-listening, peer-id=(string)\([a-z0-9]*\),.* port=(int)\([0-9]*\);.*/\1@127.0.0.1:\2/p'
}
