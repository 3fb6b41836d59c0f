#!/bin/sh
# tests/nat/nat-test.sh: NAT traversal end to end in network namespaces
# (run as root; exits 77 = SKIP when namespaces cannot be created).
#
#   nat-test.sh CASE P2P_CAT P2P_RENDEZVOUS [GST_PLUGIN_DIR P2P_ID]
#   CASE: same-lan | cone | symmetric | relay-only | no-turn | dht-cone | dht-symmetric
#         | relay-upgrade | relay-upgrade-gst (the elements: needs the last two arguments)
#         | ice-restart
#
# Topology (addresses exist only inside the namespaces):
#   pub:  bridge 198.18.0.10/15, coturn (STUN+TURN :3478), p2p-rendezvous
#   d1..d5 (dht-* cases): five dhtnode processes, 198.18.0.20-24 :4222, on
#         the bridge in namespaces of their own; no rendezvous at all: the
#         peers find each other and exchange ICE offer/answer through them
#   ra, rb: NAT routers, WAN 198.18.0.11 / .12, LAN 198.19.1.1 / 198.19.2.1
#   pa, pb: peers 198.19.1.2 / 198.19.2.2 behind them
#   same-lan: l1 198.19.3.1 <-> l2 198.19.3.2, no router, no server
# Each case checks the bytes (sha256sum) and the reported path kind.
# relay-upgrade: cone NATs with TURN, the direct route held back for 2 s
# (iptables in ra): the stream starts on the relay and moves to the direct
# pair without a gap (p2p-cat); relay-upgrade-gst: the same with p2psink
# and p2psrc streaming live PCM, checked on the bus messages.
# ice-restart: cone NATs and a rendezvous; mid-stream the dialer's NAT (rb)
# forgets its mappings and maps UDP to other ports (the rebinding of
# net-change.sh): the dialer hears nothing on its ICE path, re-dials through
# the rendezvous (registering again first if the rebinding cut it) and moves
# the same QUIC connection to the new path; bytes identical, the longest
# time the listener received nothing is reported.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
CASE=${1:?case}
CAT=${2:?p2p-cat}
RDV=${3:?p2p-rendezvous}
T=${NAT_T:-30}                       # bound for every p2p-cat run, seconds
ID=$$
W=$(mktemp -d /tmp/nat-$CASE-XXXXXX)
NSS=""
PIDS=""

log() { echo "[$CASE] $*"; }
fail() { log "FAIL: $*"; for f in "$W"/*.err "$W"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -25 "$f"; }; done; exit 1; }

cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  for p in $PIDS; do wait "$p" 2>/dev/null; done
  for n in $NSS; do ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del "$n" 2>/dev/null; done
  [ -n "${NAT_KEEP:-}" ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT INT TERM

ns() { n="n$ID$1"; echo "$n"; }
mkns() {
  n=$(ns "$1")
  ip netns add "$n" || return 1
  NSS="$NSS $n"
  ip -n "$n" link set lo up
}
x() { n=$(ns "$1"); shift; ip netns exec "$n" "$@"; }

if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root for network namespaces"; exit 77; fi
if [ "$CASE" = relay-upgrade-gst ]; then
  export GST_PLUGIN_PATH=${4:?plugin dir} GST_REGISTRY="$W/registry.bin"
  P2P_ID=${5:?p2p-id}
  command -v gst-launch-1.0 >/dev/null || { echo "SKIP: gst-launch-1.0 is not installed"; exit 77; }
  for e in p2psink p2psrc audiotestsrc; do
    gst-inspect-1.0 "$e" >/dev/null 2>&1 || { echo "SKIP: element $e cannot be loaded"; exit 77; }
  done
fi
if ! command -v iptables >/dev/null; then echo "SKIP: iptables is not installed"; exit 77; fi
if ! mkns probe 2>"$W/probe.err"; then echo "SKIP: ip netns add failed: $(cat "$W/probe.err")"; exit 77; fi

# veth NS1 IF1 NS2 IF2: a cable between two namespaces.
veth() { ip -n "$(ns "$1")" link add "$2" type veth peer name "$4" netns "$(ns "$3")" &&
  ip -n "$(ns "$1")" link set "$2" up && ip -n "$(ns "$3")" link set "$4" up; }

# router NAME WANIP LANNET(without .x) MODE: a home router doing NAT.
router() {
  r=$1; wan=$2; lan=$3; mode=$4
  mkns "$r" && veth pub "w$r" "$r" wan && ip -n "$(ns pub)" link set "w$r" master br0 || return 1
  x "$r" ip addr add "$wan/15" dev wan
  x "$r" sysctl -qw net.ipv4.ip_forward=1
  case $mode in
    cone) x "$r" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE ;;
    symmetric) x "$r" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE --random-fully ;;
  esac
  x "$r" iptables -A FORWARD -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  x "$r" iptables -A FORWARD -i wan -j DROP
  # Like a home router, nothing unsolicited reaches the router itself either.
  # Without this, a peer's first hole-punching packet (addressed to the
  # router's WAN address) is delivered locally and leaves a conntrack entry
  # that makes MASQUERADE pick another port for our own later packet to that
  # peer: the "simultaneous open" clash, and hole punching fails.
  x "$r" iptables -A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  x "$r" iptables -A INPUT -i wan -j DROP
  p=p${r#r}
  mkns "$p" && veth "$r" lan "$p" eth0 || return 1
  x "$r" ip addr add "$lan.1/24" dev lan
  x "$p" ip addr add "$lan.2/24" dev eth0
  x "$p" ip route add default via "$lan.1"
}

public() {
  mkns pub || return 1
  x pub ip link add br0 type bridge && x pub ip link set br0 up && x pub ip addr add 198.18.0.10/15 dev br0
}

start_turn() {
  x pub turnserver -n --listening-ip=198.18.0.10 --listening-port=3478 --relay-ip=198.18.0.10 \
    --external-ip=198.18.0.10 --user=test:test --realm=gst-p2p --lt-cred-mech --no-tls --no-dtls \
    --no-cli --fingerprint --min-port=49152 --max-port=49999 --log-file=stdout --simple-log \
    --pidfile="$W/turn.pid" --userdb="$W/turn.db" >"$W/turn.log" 2>&1 &
  TURN_PID=$!; PIDS="$PIDS $TURN_PID"
  for i in $(seq 100); do grep -q "Total General servers" "$W/turn.log" && return 0; sleep 0.1; done
  fail "turnserver did not start"
}

start_rendezvous() {
  x pub timeout 120 "$RDV" --host 198.18.0.10 --port 0 >"$W/rdv.out" 2>"$W/rdv.log" &
  PIDS="$PIDS $!"
  for i in $(seq 100); do
    URL=$(sed -n 's/^listening on //p' "$W/rdv.out")
    [ -n "$URL" ] && return 0
    sleep 0.1
  done
  fail "p2p-rendezvous did not start"
}

# start_dht: a DHT of 5 dhtnode processes (Debian's stock node runner),
# each in a namespace of its own on the public bridge, the others
# bootstrapped from the first; returns once each has bound its UDP port.
start_dht() {
  for i in 1 2 3 4 5; do
    ip="198.18.0.$((19 + i))"
    mkns "d$i" && veth pub "wd$i" "d$i" eth0 && ip -n "$(ns pub)" link set "wd$i" master br0 ||
      fail "topology (dht node $i)"
    x "d$i" ip addr add "$ip/15" dev eth0
    boot=""; [ "$i" -gt 1 ] && boot="-b 198.18.0.20:4222"
    # shellcheck disable=SC2086 # $boot: no option or two words
    x "d$i" timeout 150 dhtnode -s -p 4222 $boot >"$W/dht$i.log" 2>&1 &
    PIDS="$PIDS $!"
    j=0
    while [ $j -lt 200 ] && ! x "d$i" ss -Hlun 'sport = :4222' | grep -q .; do sleep 0.05; j=$((j + 1)); done
    x "d$i" ss -Hlun 'sport = :4222' | grep -q . || fail "dhtnode $i did not bind UDP 4222"
  done
  DHT="dht://198.18.0.20:4222,dht://198.18.0.22:4222"
}

# listen NS ARGS...: starts a listener, sets LPID and TICKET / PEERID.
listen() {
  where=$1; shift
  x "$where" timeout $T "$CAT" listen --port 0 "$@" >"$W/recv.bin" 2>"$W/listen.err" &
  LPID=$!; PIDS="$PIDS $LPID"
  for i in $(seq 150); do
    if grep -q '^peer-id:' "$W/listen.err" && { [ "$NEED_REG" = 0 ] || grep -q '^registered:' "$W/listen.err"; }; then
      TICKET=$(sed -n 's/^ticket: //p' "$W/listen.err"); PEERID=$(sed -n 's/^peer-id: //p' "$W/listen.err")
      return 0
    fi
    kill -0 $LPID 2>/dev/null || fail "listener exited early"
    sleep 0.1
  done
  fail "listener did not start"
}

# expect_transfer NS PEER EXPECTED_PATH ARGS...
expect_transfer() {
  where=$1; peer=$2; want=$3; shift 3
  head -c 1048576 /dev/urandom >"$W/send.bin"
  start=$(date +%s.%N)
  x "$where" timeout $T "$CAT" connect --ping "$peer" "$@" <"$W/send.bin" 2>"$W/connect.err" ||
    fail "connect failed: $(tail -1 "$W/connect.err")"
  wait $LPID || fail "listener failed"
  a=$(sha256sum <"$W/send.bin"); b=$(sha256sum <"$W/recv.bin")
  [ "$a" = "$b" ] || fail "bytes differ ($(stat -c %s "$W/recv.bin") of 1048576 received)"
  got=$(sed -n 's/^path: //p' "$W/connect.err")
  [ "$got" = "$want" ] || fail "path is '$got', expected '$want'"
  got_l=$(sed -n 's/^path: //p' "$W/listen.err")
  [ "$got_l" = "$want" ] || fail "listener reports path '$got_l', expected '$want'"
  # the providers count the connection by its path (p2p_provider_get_stats())
  d=0; r=0; [ "$want" = relay ] && r=1 || d=1
  grep -qx "provider: dials-ok 1, dials-failed 0, accepts 0, paths direct $d relay $r" \
    "$W/connect.err" || fail "dialer's provider counters: $(grep '^provider:' "$W/connect.err")"
  grep -qx "provider: dials-ok 0, dials-failed 0, accepts 1, paths direct $d relay $r" \
    "$W/listen.err" || fail "listener's provider counters: $(grep '^provider:' "$W/listen.err")"
  # The setup time is reported, not asserted (speed lives in benchmarks:
  # 6.2 s before the ICE speed-ups, about 0.1-0.2 s after).
  setup_ms=$(sed -n 's/^setup: \([0-9]*\).*/\1/p' "$W/connect.err")
  [ -n "$setup_ms" ] || fail "no setup time reported"
  log "ok: 1 MiB intact, path $got ($(grep -E '^(setup|rtt):' "$W/connect.err" | tr '\n' ' '))"
}

# The relay-upgrade cases: cone NATs, TURN and a rendezvous; router ra
# drops everything between the two NATs' public addresses (hole punching)
# until unblock_later, 2 s (NAT_BLOCK_S) after the connection is up on the
# relay.
upgrade_topology() {
  public && router ra 198.18.0.11 198.19.1 cone && router rb 198.18.0.12 198.19.2 cone ||
    fail "topology"
  start_turn; start_rendezvous
  x ra iptables -I FORWARD 1 -s 198.18.0.12 -j DROP
  x ra iptables -I FORWARD 1 -d 198.18.0.12 -j DROP
  export P2P_RELAY_POLICY=all
}
BLOCK_S=${NAT_BLOCK_S:-2}             # relay-upgrade: how long the direct route stays blocked
unblock_later() {
  sleep "$BLOCK_S"
  x ra iptables -D FORWARD -d 198.18.0.12 -j DROP
  x ra iptables -D FORWARD -s 198.18.0.12 -j DROP
}

NEED_REG=1
RELAY="turn://test:test@198.18.0.10:3478"
case $CASE in
  same-lan)
    NEED_REG=0
    mkns l1 && mkns l2 && veth l1 eth0 l2 eth0 || fail "topology"
    x l1 ip addr add 198.19.3.1/24 dev eth0; x l2 ip addr add 198.19.3.2/24 dev eth0
    listen l1
    expect_transfer l2 "$TICKET" direct
    ;;
  cone|symmetric|relay-only)
    mode=cone; [ "$CASE" = symmetric ] && mode=symmetric
    public && router ra 198.18.0.11 198.19.1 $mode && router rb 198.18.0.12 198.19.2 $mode || fail "topology"
    start_turn; start_rendezvous
    extra=""; [ "$CASE" = relay-only ] && extra="--relay-only"
    want=direct; [ "$CASE" != cone ] && want=relay
    listen pa --rendezvous "$URL" --relay "$RELAY" $extra
    expect_transfer pb "$PEERID" $want --rendezvous "$URL" --relay "$RELAY" $extra
    ;;
  dht-cone|dht-symmetric)
    # Bare peer ID, no rendezvous: the dialer finds the listener's record
    # in the DHT (its private address, unreachable from the other NAT) and
    # puts a sealed, signed ICE offer in the listener's DHT inbox; the
    # answer comes back through the dialer's inbox.
    command -v dhtnode >/dev/null || { echo "SKIP: dhtnode is not installed"; exit 77; }
    command -v ss >/dev/null || { echo "SKIP: ss (iproute2) is not installed"; exit 77; }
    NEED_REG=0
    export P2P_MDNS=0
    mode=${CASE#dht-}
    want=direct; [ "$mode" = symmetric ] && want=relay
    public && router ra 198.18.0.11 198.19.1 $mode && router rb 198.18.0.12 198.19.2 $mode || fail "topology"
    start_turn; start_dht
    listen pa --rendezvous "$DHT" --relay "$RELAY"
    # (the record's address is private: only the ICE route can connect)
    expect_transfer pb "$PEERID" $want --rendezvous "$DHT" --relay "$RELAY"
    ;;
  no-turn)
    public && router ra 198.18.0.11 198.19.1 symmetric && router rb 198.18.0.12 198.19.2 symmetric || fail "topology"
    start_rendezvous
    listen pa --rendezvous "$URL" --relay "$RELAY"
    if x pb timeout $T "$CAT" connect "$PEERID" --rendezvous "$URL" --relay "$RELAY" </dev/null 2>"$W/connect.err"; then
      fail "connected although no path exists"
    fi
    rc_msg=$(tail -1 "$W/connect.err")
    echo "$rc_msg" | grep -q "no path to peer $PEERID" || fail "unexpected error: $rc_msg"
    echo "$rc_msg" | grep -q "candidates (" || fail "error does not name the candidate types: $rc_msg"
    echo "$rc_msg" | grep -q "TURN server" || fail "error does not point at the TURN server: $rc_msg"
    log "ok: $rc_msg"
    ;;
  relay-upgrade)
    # Relay -> direct under a live stream. Both NATs are cone (a hole can be
    # punched) and TURN is configured (P2P_RELAY_POLICY=all), but router ra
    # drops everything between the two NATs' public addresses until 2 s after
    # the connection is up, on a relayed pair. libnice keeps retransmitting
    # the direct pair's check (0.5, 1.5 and 3.5 s after the first), so it
    # succeeds once the rule is gone and the selected pair moves to it.
    upgrade_topology
    listen pa --rendezvous "$URL" --relay "$RELAY"
    # The sender writes 64 KiB every 0.1 s (at most 128 chunks), so the
    # stream spans the change; it stops 10 chunks after the dialer reported
    # the move to the direct path.
    head -c $((128 * 65536)) /dev/urandom >"$W/src.bin"
    : >"$W/send.bin"
    produce() {
      stop=-1
      for i in $(seq 0 127); do
        dd if="$W/src.bin" bs=65536 skip="$i" count=1 2>/dev/null | tee -a "$W/send.bin" || return
        [ "$stop" -lt 0 ] && grep -q '^path-changed: relay -> direct' "$W/connect.err" && stop=$((i + 10))
        [ "$i" -eq "$stop" ] && return
        sleep 0.1
      done
    }
    produce | x pb timeout $T "$CAT" connect --ping "$PEERID" --rendezvous "$URL" \
      --relay "$RELAY" 2>"$W/connect.err" &
    CPID=$!; PIDS="$PIDS $CPID"
    for i in $(seq 150); do
      grep -q '^path:' "$W/connect.err" && break
      kill -0 $CPID 2>/dev/null || fail "connect failed: $(tail -1 "$W/connect.err")"
      sleep 0.1
    done
    first=$(sed -n 's/^path: //p' "$W/connect.err")
    [ "$first" = relay ] || fail "first path is '$first', expected 'relay' (the direct route is blocked)"
    unblock_later
    wait $CPID || fail "connect failed: $(tail -1 "$W/connect.err")"
    wait $LPID || fail "listener failed"
    a=$(sha256sum <"$W/send.bin"); b=$(sha256sum <"$W/recv.bin")
    [ "$a" = "$b" ] || fail "bytes differ ($(stat -c %s "$W/recv.bin") of $(stat -c %s "$W/send.bin") received)"
    for side in connect listen; do
      last=$(sed -n 's/^path-changed: .* -> \([a-z]*\) after.*/\1/p' "$W/$side.err" | tail -n1)
      [ "$last" = direct ] || fail "$side: final path is '$last', expected 'direct' (no relay -> direct change seen)"
    done
    grep -q '^path: relay' "$W/listen.err" || fail "listener did not start on the relay"
    setup=$(sed -n 's/^setup: \([0-9.]*\) ms.*/\1/p' "$W/connect.err")
    direct=$(sed -n 's/^path-changed: relay -> direct after \([0-9.]*\) ms/\1/p' "$W/connect.err" | head -n1)
    log "ok: $(stat -c %s "$W/send.bin") bytes intact; usable on the relay after $setup ms," \
      "direct after $direct ms (route blocked until $BLOCK_S s after the relay was usable)"
    ;;
  relay-upgrade-gst)
    # The same with the elements: PCM (8 s at 44.1 kHz, in real time)
    # from p2psink to p2psrc by bare peer ID; both post "p2p-connection"
    # messages: connected on the relay, then path-changed relay -> direct.
    upgrade_topology
    "$P2P_ID" new --file "$W/sender.key" >/dev/null || fail "p2p-id new"
    SENDER_ID=$("$P2P_ID" show --file "$W/sender.key" | head -n1)
    caps="audio/x-raw,rate=44100,channels=2,format=S16LE,layout=interleaved"
    gst-launch-1.0 -q audiotestsrc wave=sine freq=441.7 num-buffers=80 samplesperbuffer=4410 ! "$caps" \
      ! filesink location="$W/original.raw" || fail "cannot make the reference PCM"
    # A live source: p2psink drops what comes before the receiver (docs/elements.md,
    # wait-for-peer), so the receiver must get the original's tail, whole.
    # 441.7 Hz: a lost 0.1 s buffer would shift the phase (44.17 periods).
    x pa timeout $T stdbuf -oL gst-launch-1.0 -e -m audiotestsrc is-live=true wave=sine \
      freq=441.7 num-buffers=80 samplesperbuffer=4410 ! "$caps" \
      ! p2psink identity="$W/sender.key" port=0 rendezvous="$URL" turn-server="$RELAY" \
      >"$W/sender.log" 2>&1 &
    SPID=$!; PIDS="$PIDS $SPID"
    for i in $(seq 150); do
      grep -q "registered $SENDER_ID" "$W/rdv.log" && break
      kill -0 $SPID 2>/dev/null || fail "the sender exited early"
      sleep 0.1
    done
    x pb timeout $T stdbuf -oL gst-launch-1.0 -e -m p2psrc peer="$SENDER_ID" rendezvous="$URL" \
      turn-server="$RELAY" ! filesink location="$W/received.raw" >"$W/receiver.log" 2>&1 &
    CPID=$!; PIDS="$PIDS $CPID"
    for i in $(seq 150); do
      grep -q 'event=(string)connected' "$W/receiver.log" && break
      kill -0 $CPID 2>/dev/null || fail "the receiver exited early"
      sleep 0.1
    done
    first=$(grep -o 'event=(string)connected, path=(string)[a-z]*' "$W/receiver.log" | head -n1)
    [ "${first##*)}" = relay ] || fail "first path is '${first##*)}', expected 'relay' (the direct route is blocked)"
    unblock_later
    wait $CPID || fail "the receiver failed"
    wait $SPID || fail "the sender failed"
    got=$(stat -c %s "$W/received.raw")
    [ "$got" -ge $((60 * 17640)) ] || fail "only $got bytes of PCM arrived (want 60 of the 80 buffers)"
    tail -c "$got" "$W/original.raw" | cmp -s - "$W/received.raw" ||
      fail "the $got bytes of PCM received are not the end of the original"
    for side in receiver sender; do
      grep 'event=(string)path-changed' "$W/$side.log" | tail -n1 |
        grep 'path=(string)direct' | grep -q 'old-path=(string)relay' ||
        fail "$side: no p2p-connection path-changed message from relay to direct"
    done
    direct=$(grep 'event=(string)path-changed' "$W/receiver.log" | head -n1 |
      sed -n 's/.*direct-path-time-ms=(guint64)\([0-9]*\).*/\1/p')
    log "ok: $got bytes of PCM identical to the original's end; p2psrc connected on the" \
      "relay, path-changed relay -> direct ${direct} ms after its QUIC start"
    ;;
  ice-restart)
    public && router ra 198.18.0.11 198.19.1 cone && router rb 198.18.0.12 198.19.2 cone ||
      fail "topology"
    start_turn; start_rendezvous
    listen pa --rendezvous "$URL" --relay "$RELAY"
    # 64 KiB every 0.1 s (80 chunks, 8 s), the rebinding 3 s in
    head -c $((80 * 65536)) /dev/urandom >"$W/send.bin"
    produce() {
      for i in $(seq 0 79); do
        dd if="$W/send.bin" bs=65536 skip="$i" count=1 2>/dev/null || return
        sleep 0.1
      done
    }
    produce | x pb timeout $T "$CAT" connect --ping "$PEERID" --rendezvous "$URL" \
      --relay "$RELAY" 2>"$W/connect.err" &
    CPID=$!; PIDS="$PIDS $CPID"
    # the listener's progress, every 50 ms (bounded): the longest stall
    ( last=0; t_last=$(date +%s%N); worst=0
      for i in $(seq 600); do
        n=$(stat -c %s "$W/recv.bin" 2>/dev/null || echo 0); now=$(date +%s%N)
        if [ "$n" != "$last" ]; then
          [ "$last" -gt 0 ] && [ $(( (now - t_last) / 1000000 )) -gt "$worst" ] &&
            worst=$(( (now - t_last) / 1000000 ))
          last=$n; t_last=$now; echo "$worst" >"$W/stall"
        fi
        [ "$n" -ge $((80 * 65536)) ] && break
        sleep 0.05
      done ) &
    MPID=$!; PIDS="$PIDS $MPID"
    for i in $(seq 150); do
      grep -q '^path:' "$W/connect.err" && break
      kill -0 $CPID 2>/dev/null || fail "connect failed: $(tail -1 "$W/connect.err")"
      sleep 0.1
    done
    first=$(sed -n 's/^path: //p' "$W/connect.err")
    [ "$first" = direct ] || fail "first path is '$first', expected 'direct' (cone NATs)"
    sleep 3
    log "rebinding rb's NAT"
    x rb iptables -t nat -I POSTROUTING 1 -o wan -p udp -j MASQUERADE --to-ports 20000-20999 &&
      x rb ip addr del 198.18.0.12/15 dev wan && x rb ip addr add 198.18.0.12/15 dev wan ||
      fail "the rebinding failed"
    wait $CPID || fail "connect failed: $(tail -1 "$W/connect.err")"
    wait $LPID || fail "listener failed"
    wait $MPID
    a=$(sha256sum <"$W/send.bin"); b=$(sha256sum <"$W/recv.bin")
    [ "$a" = "$b" ] || fail "bytes differ ($(stat -c %s "$W/recv.bin") of $(stat -c %s "$W/send.bin") received)"
    for side in connect listen; do
      grep -q '^path-changed: direct -> direct' "$W/$side.err" ||
        fail "$side: no path change reported (the connection was not moved)"
    done
    grep -q 'ICE restart: connection moved' "$W/connect.err" || fail "the dialer did not restart ICE"
    log "ok: $(stat -c %s "$W/send.bin") bytes intact across the rebinding; longest time the" \
      "listener received nothing: $(cat "$W/stall") ms; $(grep -c 'ICE restart attempt' "$W/connect.err") re-dial(s)"
    ;;
  *) echo "unknown case $CASE"; exit 2 ;;
esac
exit 0
