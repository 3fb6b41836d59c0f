# tests/support/netns-lan.sh: a LAN of network namespaces for the tests and
# benchmarks that need one (sourced: tests/nat/mdns-lan.sh,
# tests/bench/discovery.sh). Run as root. Addresses exist only inside the
# namespaces; nothing routes out.
#
#   . tests/support/netns-lan.sh
#   LAN_PREFIX=m                       # namespace names: PREFIX<PID><name>
#   trap lan_cleanup EXIT INT TERM     # after the script's own cleanup
#   lan_up 198.19.5 a b                # bridge in "lan", a=.1, b=.2 on eth0
#   lan_x a CMD...                     # runs CMD in namespace a
#   LAN_PIDS="$LAN_PIDS $!"            # background processes to stop
#
# lan_cleanup stops $LAN_PIDS (TERM, then reaps them), kills whatever still
# runs in the namespaces and deletes them; safe to call twice.
# SPDX-License-Identifier: LGPL-2.1-or-later

LAN_PREFIX=${LAN_PREFIX:-n}
LAN_NSS=""
LAN_PIDS=""

lan_ns() { echo "$LAN_PREFIX$$$1"; }
lan_x() { _n=$(lan_ns "$1"); shift; ip netns exec "$_n" "$@"; }

_lan_mkns() {
  _n=$(lan_ns "$1")
  ip netns add "$_n" || return 1
  LAN_NSS="$LAN_NSS $_n"
  ip -n "$_n" link set lo up
}

# lan_up NET24 NAME...: namespace "lan" holding a bridge, and one namespace
# per NAME cabled to it by a veth, its end eth0 at NET24.1, .2, ... in
# order. Returns 1 (with a message) when something cannot be made.
lan_up() {
  _net=$1
  shift
  _lan_mkns lan && ip -n "$(lan_ns lan)" link add br0 type bridge &&
    ip -n "$(lan_ns lan)" link set br0 up || { echo "lan: cannot make the bridge namespace" >&2; return 1; }
  _i=1
  for _p in "$@"; do
    _lan_mkns "$_p" &&
      ip -n "$(lan_ns lan)" link add "v$_p" type veth peer name eth0 netns "$(lan_ns "$_p")" &&
      ip -n "$(lan_ns lan)" link set "v$_p" master br0 up &&
      ip -n "$(lan_ns "$_p")" link set eth0 up &&
      ip -n "$(lan_ns "$_p")" addr add "$_net.$_i/24" dev eth0 ||
      { echo "lan: cannot cable namespace $_p" >&2; return 1; }
    _i=$((_i + 1))
  done
}

lan_cleanup() {
  for _p in $LAN_PIDS; do kill "$_p" 2>/dev/null; done
  for _p in $LAN_PIDS; do wait "$_p" 2>/dev/null; done
  LAN_PIDS=""
  for _n in $LAN_NSS; do
    ip netns pids "$_n" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$_n" 2>/dev/null
  done
  LAN_NSS=""
}
