#!/usr/bin/env bash
# tests/bench/latency.sh: one-way latency of live buffers in datagram
# delivery, against plain UDP (udpsink → udpsrc) in the same invocation.
#
# Prints one line:
#   latency median_ms=… p99_ms=… udp_median_ms=… udp_p99_ms=… samples=…
#
# Method (bench-latency.c): sender and receiver pipelines in one process;
# audiotestsrc is-live (10 ms buffers, raw 44.1 kHz stereo S16) → p2psink
# delivery=datagram … p2psrc delivery=datagram → fakesink. A probe at the
# p2psink's sink pad writes CLOCK_MONOTONIC into each buffer's payload, a
# probe at the fakesink's sink pad reads it on arrival: the difference is
# the latency the transport adds, the elements included. The first 0.5 s
# are warm-up; BENCH_LATENCY_SECONDS (default 10) seconds are measured.
# The udp_* figures are the same measurement with udpsink/udpsrc: what the
# kernel's loopback and GStreamer cost by themselves.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init latency
BENCH_LATENCY=$BENCH_BUILD/tests/bench/bench-latency
bench_require "$BENCH_LATENCY" "$BENCH_PLUGIN"

SECS=${BENCH_LATENCY_SECONDS:-10}
NOTES=()

measure () {
  local t=$1 log=$BENCH_TMP/$1 st=0
  bench_spawn $((SECS + 30)) "$log" "$BENCH_LATENCY" --transport "$t" \
    --seconds "$SECS" --timeout $((SECS + 20))
  bench_wait "$BENCH_LAST_PID" || st=$?
  if [ "$st" -ne 0 ]; then
    NOTES+=("$t:failed")
    [ -s "$log.err" ] && sed "s/^/# latency $t: /" "$log.err" | head -n 3 >&2
  fi
}

measure p2p
measure udp
P=$BENCH_TMP/p2p U=$BENCH_TMP/udp
line="latency median_ms=$(bench_field median_ms "$P") p99_ms=$(bench_field p99_ms "$P")"
line+=" udp_median_ms=$(bench_field median_ms "$U") udp_p99_ms=$(bench_field p99_ms "$U")"
line+=" samples=$(bench_field samples "$P") path=$(bench_field path "$P")"
[ ${#NOTES[@]} -gt 0 ] && line+=" note=$(IFS=,; echo "${NOTES[*]}")"
echo "$line"
