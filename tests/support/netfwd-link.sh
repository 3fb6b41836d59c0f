# tests/support/netfwd-link.sh: an emulated link between two network
# namespaces through tests/support/netfwd (delay, jitter, loss, reordering,
# rate: this kernel has no sch_netem). Sourced by POSIX sh and bash scripts
# that run as root:
#
#   . tests/support/netfwd-link.sh
#   trap netfwd_link_down EXIT          # or call it from the script's own trap
#   netfwd_link_up BUILD/tests/support/netfwd --delay-ms 25 || exit 1
#   netfwd_a CMD...   # runs CMD in namespace A (10.88.0.1)
#   netfwd_b CMD...   # runs CMD in namespace B (10.88.0.2)
#   netfwd_link_restart --loss 1.0      # same link, new netfwd options
#   netfwd_link_down                    # counters to $NETFWD_DIR/netfwd.out
#
# Topology (the addresses exist only inside these namespaces; no route out):
#
#   A: eth0 10.88.0.1/24 --veth-- R: va -br0- tap0 ==netfwd== tap1 -br1- vb --veth-- B: eth0 10.88.0.2/24
#
# A and B are on one Ethernet segment, MTU 1500, with fixed MAC addresses
# and permanent neighbour entries (no ARP exchange crosses the link, so the
# first packet sees the same delay as the rest, and a link that loses
# everything loses only the test's packets). IPv6 is off in the three
# namespaces (no router or neighbour solicitations on the link). Namespace
# names carry the shell's PID: nfa<PID>, nfb<PID>, nfr<PID>.
#
# Bounds: netfwd runs under timeout(1) for $NETFWD_SECONDS (default 300);
# "netfwd: ready" is awaited at most 5 s; netfwd_link_stop sends TERM and
# waits at most 5 s before KILL; netfwd_link_down stops netfwd by its PID,
# kills whatever still runs in the namespaces and deletes them; it is safe
# to call twice and after a failed netfwd_link_up.
# SPDX-License-Identifier: LGPL-2.1-or-later

NETFWD_A_IP=10.88.0.1
NETFWD_B_IP=10.88.0.2
NETFWD_NS_A=nfa$$
NETFWD_NS_B=nfb$$
NETFWD_NS_R=nfr$$
NETFWD_NSS=""
NETFWD_PID=""
NETFWD_BIN=""
NETFWD_DIR=""
NETFWD_OWN_DIR=""

netfwd_a() { ip netns exec "$NETFWD_NS_A" "$@"; }
netfwd_b() { ip netns exec "$NETFWD_NS_B" "$@"; }

# netfwd_link_check: 0 when this process can build the link, else prints
# why and returns 77 (the callers' SKIP).
netfwd_link_check() {
  if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root for network namespaces and TAP devices"; return 77; fi
  if [ ! -c /dev/net/tun ]; then echo "SKIP: no /dev/net/tun"; return 77; fi
  command -v ip >/dev/null || { echo "SKIP: ip (iproute2) is not installed"; return 77; }
  command -v timeout >/dev/null || { echo "SKIP: timeout(1) is not installed"; return 77; }
  return 0
}

_netfwd_mkns() {
  ip netns add "$1" || return 1
  NETFWD_NSS="$NETFWD_NSS $1"
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null &&
    ip -n "$1" link set lo up
}

# netfwd_link_start [NETFWD OPTIONS...]: starts netfwd on tap0/tap1 in R and
# waits for its "ready" line.
netfwd_link_start() {
  : >"$NETFWD_DIR/netfwd.out"
  timeout -k 2 "${NETFWD_SECONDS:-300}" ip netns exec "$NETFWD_NS_R" \
    "$NETFWD_BIN" --tap0 tap0 --tap1 tap1 "$@" >"$NETFWD_DIR/netfwd.out" 2>"$NETFWD_DIR/netfwd.err" &
  NETFWD_PID=$!
  _i=0
  while [ $_i -lt 100 ]; do
    grep -q '^netfwd: ready' "$NETFWD_DIR/netfwd.out" && return 0
    kill -0 "$NETFWD_PID" 2>/dev/null || break
    sleep 0.05
    _i=$((_i + 1))
  done
  echo "netfwd-link: netfwd did not start: $(cat "$NETFWD_DIR/netfwd.err")" >&2
  netfwd_link_stop
  return 1
}

# netfwd_link_stop: TERM to netfwd (by PID), KILL after 5 s; its counters
# stay in $NETFWD_DIR/netfwd.out.
netfwd_link_stop() {
  [ -n "$NETFWD_PID" ] || return 0
  kill -TERM "$NETFWD_PID" 2>/dev/null
  _i=0
  while [ $_i -lt 100 ] && kill -0 "$NETFWD_PID" 2>/dev/null; do sleep 0.05; _i=$((_i + 1)); done
  kill -0 "$NETFWD_PID" 2>/dev/null && kill -KILL "$NETFWD_PID" 2>/dev/null
  wait "$NETFWD_PID" 2>/dev/null
  NETFWD_PID=""
  return 0
}

# netfwd_link_restart [NETFWD OPTIONS...]: the same link with new options.
netfwd_link_restart() {
  netfwd_link_stop
  netfwd_link_start "$@"
}

# netfwd_counter DIR FIELD: a counter of the last stop ("total" line of
# direction 0>1 = A to B, 1>0 = B to A), e.g. netfwd_counter "0>1" lost.
netfwd_counter() {
  awk -v d="$1" -v f="$2" '$1 == "netfwd:" && $2 == "total" && $3 == d {
      for (i = 4; i < NF; i++) if ($i == f) v = $(i + 1) }
    END { print v }' "$NETFWD_DIR/netfwd.out"
}

# netfwd_link_up NETFWD_BINARY [NETFWD OPTIONS...]: builds the namespaces
# and starts netfwd. $NETFWD_DIR (default: a new temp dir, removed by
# netfwd_link_down) holds netfwd's output.
netfwd_link_up() {
  NETFWD_BIN=$1
  shift
  [ -x "$NETFWD_BIN" ] || { echo "netfwd-link: no program $NETFWD_BIN" >&2; return 1; }
  if [ -z "$NETFWD_DIR" ]; then
    NETFWD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/netfwd-link-XXXXXX") || return 1
    NETFWD_OWN_DIR=$NETFWD_DIR
  fi
  _netfwd_mkns "$NETFWD_NS_A" && _netfwd_mkns "$NETFWD_NS_B" && _netfwd_mkns "$NETFWD_NS_R" || return 1
  _r="ip -n $NETFWD_NS_R"
  ip -n "$NETFWD_NS_A" link add eth0 type veth peer name va netns "$NETFWD_NS_R" &&
    ip -n "$NETFWD_NS_B" link add eth0 type veth peer name vb netns "$NETFWD_NS_R" &&
    $_r tuntap add dev tap0 mode tap && $_r tuntap add dev tap1 mode tap &&
    $_r link add br0 type bridge forward_delay 0 stp_state 0 &&
    $_r link add br1 type bridge forward_delay 0 stp_state 0 || return 1
  for _l in va tap0 br0; do $_r link set "$_l" mtu 1500 || return 1; done
  for _l in vb tap1 br1; do $_r link set "$_l" mtu 1500 || return 1; done
  $_r link set va master br0 && $_r link set tap0 master br0 &&
    $_r link set vb master br1 && $_r link set tap1 master br1 || return 1
  for _l in va vb tap0 tap1 br0 br1; do $_r link set "$_l" up || return 1; done
  ip -n "$NETFWD_NS_A" link set eth0 address 02:88:00:00:00:01 mtu 1500 up &&
    ip -n "$NETFWD_NS_B" link set eth0 address 02:88:00:00:00:02 mtu 1500 up &&
    ip -n "$NETFWD_NS_A" addr add "$NETFWD_A_IP/24" dev eth0 &&
    ip -n "$NETFWD_NS_B" addr add "$NETFWD_B_IP/24" dev eth0 &&
    ip -n "$NETFWD_NS_A" neigh add "$NETFWD_B_IP" lladdr 02:88:00:00:00:02 dev eth0 nud permanent &&
    ip -n "$NETFWD_NS_B" neigh add "$NETFWD_A_IP" lladdr 02:88:00:00:00:01 dev eth0 nud permanent || return 1
  netfwd_link_start "$@"
}

# netfwd_link_down: stops netfwd and everything left in the namespaces,
# deletes them (and the temp dir netfwd_link_up made).
netfwd_link_down() {
  netfwd_link_stop
  for _n in $NETFWD_NSS; do
    for _p in $(ip netns pids "$_n" 2>/dev/null); do kill -KILL "$_p" 2>/dev/null; done
    ip netns del "$_n" 2>/dev/null
  done
  NETFWD_NSS=""
  if [ -n "$NETFWD_OWN_DIR" ] && [ -z "${NETFWD_KEEP:-}" ]; then rm -rf "$NETFWD_OWN_DIR"; fi
  NETFWD_OWN_DIR=""
  return 0
}
