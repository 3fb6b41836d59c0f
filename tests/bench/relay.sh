#!/usr/bin/env bash
# tests/bench/relay.sh: throughput and RTT through a TURN relay (coturn,
# P2P_RELAY_POLICY=relay-only) against the direct path, side by side.
#
# Prints one line:
#   relay direct_mbps=… relay_mbps=… direct_rtt_ms=… relay_rtt_ms=…
#         direct_path=… relay_path=… bytes=… turn_ip=… via=p2p-cat
# or, when the relayed connection cannot be made here,
#   relay skipped=REASON direct_mbps=… direct_rtt_ms=… error="…"
#
# Method: the script starts coturn on a free UDP port of this machine (the
# flags of /work/shared/NAT-TESTBED.md plus --allow-loopback-peers, on
# 127.0.0.1) and p2p-rendezvous on 127.0.0.1. Both runs go through the rendezvous and ICE
# with the same P2P_RELAY_SERVERS=turn://test:test@IP:PORT; only P2P_RELAY_POLICY
# differs (all: ICE picks the direct host pair; relay-only: relayed
# candidates only). The library's own tool p2p-cat carries the bytes (same
# QUIC, same ICE as the elements, without a GStreamer pipeline's costs). The listener's stdout is
# read by a bench-pipeline (filesrc on a FIFO → filesink) that stamps the
# first and last buffer: Mbit/s = 8 × bytes ÷ (last − first), as in
# throughput.sh; bytes are checked with cmp. RTT is p2p-cat --ping's figure
# (QUIC smoothed RTT right after the handshake, idle connection).
# BENCH_RELAY_BYTES (default 64 MiB) sets the size.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init relay
BENCH_CAT=$BENCH_BUILD/tools/p2p-cat
BENCH_RDV=$BENCH_BUILD/tools/p2p-rendezvous

skip () {
  echo "relay skipped=$1${2:+ $2}"
  exit 0
}

command -v turnserver >/dev/null || skip no-coturn "error=\"turnserver (coturn) is not installed\""
[ -x "$BENCH_CAT" ] || skip no-p2p-cat "error=\"$BENCH_CAT was not built\""
[ -x "$BENCH_RDV" ] || skip no-rendezvous "error=\"$BENCH_RDV was not built\""
bench_require "$BENCH_PIPELINE"

SIZE=${BENCH_RELAY_BYTES:-67108864}
SRC=$BENCH_TMP/source.bin
head -c "$SIZE" /dev/urandom >"$SRC" || bench_die "cannot write $SIZE bytes to $BENCH_TMP"

# coturn: relay ports from a random 500-port range, so that parallel runs
# (and other tests' coturns) rarely meet.
TURN_PORT=$(bench_free_port udp)
relay_lo=$((20000 + RANDOM % 20000))
# coturn listens on 127.0.0.1: benchmarks send traffic only to loopback or
# to namespaces they create, never to an address of the machine's own
# interfaces (tests/check-host-addresses.py fails the run on that). The ICE
# path binds its candidates to loopback when the TURN server is there
# (p2p-ice-servers.c and p2p-ice-candidates.c, loopback_server). BENCH_TURN_IP overrides.
TURN_IP=${BENCH_TURN_IP:-127.0.0.1}
bench_spawn 300 "$BENCH_TMP/turn.log" turnserver -n --listening-ip="$TURN_IP" \
  --listening-port="$TURN_PORT" --relay-ip="$TURN_IP" --external-ip="$TURN_IP" \
  --user=test:test --realm=gst-p2p --lt-cred-mech --no-tls --no-dtls --no-cli \
  --fingerprint --min-port=$relay_lo --max-port=$((relay_lo + 499)) \
  --log-file=stdout --simple-log --allow-loopback-peers \
  --pidfile="$BENCH_TMP/turn.pid" --userdb="$BENCH_TMP/turn.db"
TURN_PID=$BENCH_LAST_PID
bench_wait_line "$BENCH_TMP/turn.log" "Total General servers" "$TURN_PID" 15 ||
  skip coturn-did-not-start "error=\"$(tail -n 1 "$BENCH_TMP/turn.log.err" "$BENCH_TMP/turn.log" 2>/dev/null | tr '\n"' ' _')\""
bench_wait_port udp "$TURN_PORT" "$TURN_PID" 10 || skip coturn-did-not-listen

bench_spawn 300 "$BENCH_TMP/rdv.out" "$BENCH_RDV" --host 127.0.0.1 --port 0
RDV_PID=$BENCH_LAST_PID
bench_wait_line "$BENCH_TMP/rdv.out" "^listening on " "$RDV_PID" 15 ||
  skip rendezvous-did-not-start
URL=$(sed -n 's/^listening on //p' "$BENCH_TMP/rdv.out" | head -n 1)

export P2P_RELAY_SERVERS="turn://test:test@$TURN_IP:$TURN_PORT"
unset P2P_BOOTSTRAP_PEERS P2P_STUN_SERVERS P2P_LISTEN_PORT P2P_IDENTITY_FILE
# ICE host candidates on loopback only: no checks to this machine's own addresses
export P2P_ICE_ADDRESSES=127.0.0.1

# run NAME POLICY: one transfer; sets MBPS RTT PATH ERR
run () {
  local name=$1 policy=$2 fifo=$BENCH_TMP/$1.fifo out=$BENCH_TMP/$1.bin
  local rlog=$BENCH_TMP/$1.recv clog=$BENCH_TMP/$1.connect
  local lpid rpid cpid id st=0 first last
  MBPS=nan RTT=nan PATH_KIND=none ERR=
  export P2P_RELAY_POLICY=$policy
  mkfifo "$fifo"
  bench_spawn 120 "$rlog" "$BENCH_PIPELINE" --probe out --timeout 110 \
    filesrc location="$fifo" blocksize=65536 ! filesink name=out location="$out"
  rpid=$BENCH_LAST_PID
  bench_spawn 120 "$fifo" "$BENCH_CAT" listen --port 0 --rendezvous "$URL" \
    --identity "$BENCH_TMP/$name.key"
  lpid=$BENCH_LAST_PID
  if ! bench_wait_line "$fifo.err" "^registered:" "$lpid" 20; then
    ERR=$(tail -n 1 "$fifo.err" 2>/dev/null)
    ERR=${ERR:-the listener did not register}
    bench_stop "$lpid"; bench_stop "$rpid"
    return
  fi
  id=$(sed -n 's/^peer-id: //p' "$fifo.err" | head -n 1)
  bench_spawn_in 120 "$clog" "$SRC" "$BENCH_CAT" connect --ping --timeout 30 \
    --rendezvous "$URL" "$id"
  cpid=$BENCH_LAST_PID
  bench_wait "$cpid" || st=$?
  if [ "$st" -ne 0 ]; then
    ERR=$(grep -v '^#' "$clog.err" | tail -n 1)
    ERR=${ERR:-p2p-cat connect exited with status $st}
    bench_stop "$lpid"; bench_stop "$rpid"
    return
  fi
  bench_wait "$lpid" || ERR="the listener failed: $(tail -n 1 "$fifo.err")"
  bench_wait "$rpid" || ERR="${ERR:-the FIFO reader failed: $(tail -n 1 "$rlog.err")}"
  PATH_KIND=$(sed -n 's/^path: //p' "$clog.err" | head -n 1)
  RTT=$(sed -n 's/^rtt: \([0-9.]*\) ms.*/\1/p' "$clog.err" | head -n 1)
  first=$(bench_field first_ns "$rlog")
  last=$(bench_field last_ns "$rlog")
  if ! timeout 120 cmp -s "$SRC" "$out"; then
    ERR="${ERR:-bytes differ: $(stat -c %s "$out" 2>/dev/null || echo 0) of $SIZE arrived}"
  elif [ -n "$first" ] && [ -n "$last" ] && [ "$last" -gt "$first" ]; then
    MBPS=$(bench_mbps "$SIZE" $((last - first)))
  fi
  rm -f "$out"
}

run direct all
D_MBPS=$MBPS D_RTT=$RTT D_PATH=$PATH_KIND D_ERR=$ERR
run relayed relay-only
R_MBPS=$MBPS R_RTT=$RTT R_PATH=$PATH_KIND R_ERR=$ERR

if [ -n "$R_ERR" ] || [ "$R_PATH" != relay ]; then
  reason=relay-connection-failed
  [ -z "$R_ERR" ] && reason=not-relayed R_ERR="path was $R_PATH"
  line="relay skipped=$reason direct_mbps=$D_MBPS direct_rtt_ms=$D_RTT direct_path=$D_PATH turn_ip=$TURN_IP"
  line+=" error=\"${R_ERR//\"/\'}\""
  [ -n "$D_ERR" ] && line+=" direct_error=\"${D_ERR//\"/\'}\""
  echo "$line"
  exit 0
fi
line="relay direct_mbps=$D_MBPS relay_mbps=$R_MBPS direct_rtt_ms=$D_RTT relay_rtt_ms=$R_RTT"
line+=" direct_path=$D_PATH relay_path=$R_PATH bytes=$SIZE turn_ip=$TURN_IP via=p2p-cat"
[ -n "$D_ERR" ] && line+=" direct_error=\"${D_ERR//\"/\'}\""
echo "$line"
