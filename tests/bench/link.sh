#!/bin/sh
# tests/bench/link.sh [BYTES]: bulk throughput across emulated links between
# two network namespaces (tests/support/netfwd-link.sh: veth, MTU 1500,
# netfwd between two TAP devices; this kernel has no netem), QUIC
# (bench-quic listen/send: p2p_connection_send of 64 KiB messages, SHA-256
# checked) against TCP (bench-quic tcp-recv/tcp-send, the same bytes and
# chunks; the kernel's congestion control or BENCH_TCP_CC, see the tcp_cc
# field) and SRT in file mode (srt-file-transmit from Debian's srt-tools:
# transtype=file, its file congestion control; the received file compared
# with the sent one) in the same run, one line per profile:
#   link profile=NAME p2p_mbps=… tcp_mbps=… srt_mbps=… ratio_tcp=… ratio_srt=…
#        p2p_lost_bytes=… srt_lost_bytes=… cc=… tcp_cc=…
# Profiles (per direction): lan (no shaping), wan (25 ms, 0.5 % loss),
# lossy (25 ms, 2 % loss, 1 % reordered), slow (10 Mbit/s, 20 ms).
# BYTES default 64 MiB (slow: a tenth). P2P_CONGESTION_CONTROL applies to
# the QUIC side. Root; exits 77 without it. Every process is bounded.
# Without srt-file-transmit (scripts/deps.sh installs srt-tools) the SRT
# fields say "nan". srt_lost_bytes: bytes missing or different at the
# receiver (a transfer is cut after BENCH_SRT_TIMEOUT s, default 30).
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BYTES=${1:-67108864}
if [ -n "${BENCH_BUILDDIR:-}" ]; then B=$BENCH_BUILDDIR
elif [ -f "$ROOT/build-bench/build.ninja" ]; then B=$ROOT/build-bench
else B=$ROOT/build; fi
case "$B" in /*) ;; *) B=$ROOT/$B ;; esac
BQ=$B/tests/bench/bench-quic
for f in "$BQ" "$B/tests/support/netfwd"; do
  [ -x "$f" ] || { echo "link: missing $f (ninja -C $B)" >&2; exit 1; }
done
. "$ROOT/tests/support/netfwd-link.sh"
netfwd_link_check || exit $?
NETFWD_SECONDS=1800
W=$(mktemp -d /tmp/bench-link-XXXXXX)
LP=""
cleanup() { [ -n "$LP" ] && kill "$LP" 2>/dev/null; netfwd_link_down; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export P2P_MDNS=0
CC=${P2P_CONGESTION_CONTROL:-bbr2}
# BENCH_TCP_CC (e.g. cubic) sets the TCP baseline's congestion control per
# socket; else the kernel's default
TCP_CC=${BENCH_TCP_CC:-$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null || echo unknown)}

# run_quic BYTES: prints "SECONDS LOST_BYTES" of one QUIC transfer A<-B
run_quic() {
  : >"$W/l.out"
  netfwd_a timeout 600 "$BQ" listen "$1" "$NETFWD_A_IP" >"$W/l.out" 2>"$W/l.err" &
  LP=$!
  for i in $(seq 100); do [ -s "$W/l.out" ] && break; sleep 0.05; done
  T=$(head -n1 "$W/l.out")
  netfwd_b timeout 600 "$BQ" send "$T" "$1" >"$W/s.out" 2>"$W/s.err"
  wait "$LP"; LP=""
  # sent BYTES HASH SECONDS match ... / received BYTES HASH
  set -- $(cat "$W/s.out") x x x x
  secs=$4; shash=$3
  set -- $(sed -n 2p "$W/l.out") x x x
  lost=$(( BYTES_NOW - ${2:-0} ))
  [ "$3" = "$shash" ] || lost=$BYTES_NOW
  echo "$secs $lost"
}

# run_tcp BYTES: prints SECONDS of one TCP transfer A<-B
run_tcp() {
  : >"$W/t.out"
  netfwd_a timeout 600 "$BQ" tcp-recv "$NETFWD_A_IP" "$1" >"$W/t.out" 2>"$W/t.err" &
  LP=$!
  for i in $(seq 100); do grep -q '^port ' "$W/t.out" && break; sleep 0.05; done
  P=$(sed -n 's/^port //p' "$W/t.out")
  netfwd_b timeout 600 "$BQ" tcp-send "$NETFWD_A_IP:$P" "$1" >/dev/null 2>"$W/ts.err"
  wait "$LP"; LP=""
  sed -n 's/^tcp [0-9]* [0-9a-f]* //p' "$W/t.out"
}

# run_srt BYTES: prints "SECONDS LOST_BYTES" of one SRT file transfer A<-B
# (A listens and writes the file, B calls and reads it; SECONDS from B's
# start to A's end)
run_srt() {
  # (the caller sends the file's name; the listener writes it into its
  # output directory: $W/srt/srt.in)
  rm -rf "$W/srt.in" "$W/srt"; mkdir "$W/srt"
  head -c "$1" "$W/data" >"$W/srt.in"
  netfwd_a timeout "$SRT_TMO" srt-file-transmit -q "srt://:9000?mode=listener" \
    "file://$W/srt/" >"$W/srt-r.log" 2>&1 &
  LP=$!
  # its UDP port bound in A (at most 5 s)
  for i in $(seq 100); do
    [ -n "$(netfwd_a ss -Hlun 'sport = :9000' 2>/dev/null)" ] && break
    sleep 0.05
  done
  t0=$(date +%s.%N)
  netfwd_b timeout "$SRT_TMO" srt-file-transmit -q "file://$W/srt.in" \
    "srt://$NETFWD_A_IP:9000?mode=caller" >"$W/srt-s.log" 2>&1
  wait "$LP"; LP=""
  t1=$(date +%s.%N)
  got=$(stat -c %s "$W/srt/srt.in" 2>/dev/null || echo 0)
  if cmp -s "$W/srt.in" "$W/srt/srt.in"; then lost=0
  elif [ "$got" -lt "$1" ] && cmp -s -n "$got" "$W/srt.in" "$W/srt/srt.in"; then lost=$(( $1 - got ))
  else lost=$1; fi
  awk -v a="$t0" -v b="$t1" -v l="$lost" 'BEGIN { printf "%.3f %d\n", b - a, l }'
}

mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", b * 8 / s / 1e6; else print 0 }'; }

HAVE_SRT=0
command -v srt-file-transmit >/dev/null && HAVE_SRT=1
# SRT file mode can stall on the lossy link (1.2 Mbit/s once, against 146
# another day): each transfer is cut after this many seconds and counted
# with what arrived by then (srt_lost_bytes), so the run stays bounded
SRT_TMO=${BENCH_SRT_TIMEOUT:-30}
# the data SRT sends (bench-quic makes its own)
head -c "$BYTES" /dev/urandom >"$W/data"

status=0
for profile in lan wan lossy slow; do
  case $profile in
    lan) opts=""; BYTES_NOW=$BYTES ;;
    wan) opts="--delay-ms 25 --loss 0.005"; BYTES_NOW=$BYTES ;;
    lossy) opts="--delay-ms 25 --loss 0.02 --reorder 0.01"; BYTES_NOW=$BYTES ;;
    slow) opts="--delay-ms 20 --rate-kbit 10000"; BYTES_NOW=$((BYTES / 10)) ;;
  esac
  # one link, netfwd restarted with each profile's options
  # shellcheck disable=SC2086 # $opts is a list of options
  if [ "$profile" = lan ]; then
    netfwd_link_up "$B/tests/support/netfwd" --seed 1 $opts ||
      { echo "link: the link did not come up" >&2; exit 1; }
  else
    netfwd_link_restart --seed 1 $opts || { echo "link: netfwd did not restart" >&2; exit 1; }
  fi
  set -- $(run_quic "$BYTES_NOW")
  qs=${1:-0}; lost=${2:-$BYTES_NOW}
  ts=$(run_tcp "$BYTES_NOW")
  q=$(mbps "$BYTES_NOW" "$qs"); t=$(mbps "$BYTES_NOW" "${ts:-0}")
  r=$(awk -v q="$q" -v t="$t" 'BEGIN { if (t > 0) printf "%.2f", q / t; else print 0 }')
  sm=nan rs=nan slost=nan
  if [ "$HAVE_SRT" = 1 ]; then
    set -- $(run_srt "$BYTES_NOW")
    slost=${2:-$BYTES_NOW}
    # throughput of what arrived intact
    sm=$(mbps "$(( BYTES_NOW - slost ))" "${1:-0}")
    rs=$(awk -v q="$q" -v t="$sm" 'BEGIN { if (t > 0) printf "%.2f", q / t; else print "inf" }')
  fi
  echo "link profile=$profile p2p_mbps=$q tcp_mbps=$t srt_mbps=$sm ratio_tcp=$r ratio_srt=$rs p2p_lost_bytes=$lost srt_lost_bytes=$slost cc=$CC tcp_cc=$TCP_CC"
  [ "$lost" = 0 ] || status=1
done
exit $status
