#!/usr/bin/env bash
# tests/bench/setup.sh: connection setup time of p2psrc on loopback.
#
# Prints one line:
#   setup median_ms=… p90_ms=… runs=… from_play_median_ms=…
#         process_only_median_ms=… tcp_median_ms=… ratio_tcp=…
#
# Method: for each run a p2psink (gst-launch-1.0, fakesrc, fresh UDP port,
# one identity made with tools/p2p-id for all runs) is started and awaited
# until its UDP port is bound (not timed). Then the dialing side, a
# bench-pipeline process "p2psrc peer=ID@127.0.0.1:PORT ! fakesink", is
# started; it stamps CLOCK_MONOTONIC first thing in main() (before
# gst_init(), so plugin loading, pipeline construction, its own ephemeral
# identity, the QUIC handshake and the gst-p2p handshake all count) and
# again when the first buffer reaches the fakesink, and exits there. The
# figure is the difference. One warm-up run (page cache) is not counted;
# BENCH_SETUP_RUNS (default 20) runs are. p90 is the nearest-rank
# percentile. from_play_median_ms counts from the moment the pipeline
# (plugin loaded) is set to PLAYING: the elements and the network only.
# process_only_median_ms is the same measurement of
# "fakesrc ! fakesink" in the same program: the part of the figure that is
# process start and GStreamer, not the network.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init setup
bench_require "$BENCH_PIPELINE" "$BENCH_P2P_ID" "$BENCH_PLUGIN"

RUNS=${BENCH_SETUP_RUNS:-20}
KEY=$BENCH_TMP/sender.key
ID=$(bench_new_identity "$KEY")
[ -n "$ID" ] || bench_die "tools/p2p-id new failed"
SAMPLES=$BENCH_TMP/samples
: >"$SAMPLES"
: >"$SAMPLES.play"
failures=0
last_err=

for ((run = 0; run <= RUNS; run++)); do
  port=$(bench_free_port udp)
  bench_spawn 30 "$BENCH_TMP/send.$run" gst-launch-1.0 -q \
    fakesrc num-buffers=1000 sizetype=fixed sizemax=1024 filltype=zero \
    ! p2psink port="$port" identity="$KEY" transport=quic
  spid=$BENCH_LAST_PID
  if ! bench_wait_port udp "$port" "$spid" 10; then
    failures=$((failures + 1))
    last_err="sender-did-not-listen"
    bench_stop "$spid"
    continue
  fi
  rlog=$BENCH_TMP/recv.$run
  bench_spawn 15 "$rlog" "$BENCH_PIPELINE" --probe out --exit-on-first \
    --timeout 10 p2psrc peer="$ID@127.0.0.1:$port" transport=quic \
    ! fakesink name=out
  rpid=$BENCH_LAST_PID
  st=0
  bench_wait "$rpid" || st=$?
  bench_stop "$spid"
  start=$(bench_field start_ns "$rlog")
  first=$(bench_field first_ns "$rlog")
  if [ "$st" -ne 0 ] || [ "$(bench_field exit "$rlog")" != first ]; then
    failures=$((failures + 1))
    last_err=$(bench_field exit "$rlog")
    [ -s "$rlog.err" ] && sed "s/^/# setup run $run: /" "$rlog.err" | head -n 2 >&2
    continue
  fi
  [ "$run" -eq 0 ] && continue          # warm-up
  awk -v a="$start" -v b="$first" 'BEGIN { printf "%.3f\n", (b - a) / 1e6 }' >>"$SAMPLES"
  awk -v a="$(bench_field play_ns "$rlog")" -v b="$first" \
    'BEGIN { printf "%.3f\n", (b - a) / 1e6 }' >>"$SAMPLES.play"
done

# The baseline: the same measurement over TCP on loopback, tcpserversink
# (gst-launch-1.0) -> "tcpclientsrc ! fakesink" in bench-pipeline: process
# start, plugin loading, TCP connect, first buffer (no authentication).
TCPS=$BENCH_TMP/tcp
: >"$TCPS"
for ((run = 0; run <= RUNS; run++)); do
  port=$(bench_free_port tcp)
  bench_spawn 30 "$BENCH_TMP/tsend.$run" gst-launch-1.0 -q \
    fakesrc num-buffers=-1 sizetype=fixed sizemax=1024 filltype=zero datarate=1024000 \
    ! tcpserversink host=127.0.0.1 port="$port" sync=false
  spid=$BENCH_LAST_PID
  if ! bench_wait_port tcp "$port" "$spid" 10; then
    bench_stop "$spid"
    continue
  fi
  tlog=$BENCH_TMP/trecv.$run
  timeout 15 "$BENCH_PIPELINE" --probe out --exit-on-first --timeout 10 \
    tcpclientsrc host=127.0.0.1 port="$port" ! fakesink name=out >"$tlog" 2>&1
  bench_stop "$spid"
  [ "$(bench_field exit "$tlog")" = first ] || continue
  [ "$run" -eq 0 ] && continue
  awk -v a="$(bench_field start_ns "$tlog")" -v b="$(bench_field first_ns "$tlog")" \
    'BEGIN { printf "%.3f\n", (b - a) / 1e6 }' >>"$TCPS"
done

# The same process with no network: fakesrc ! fakesink, start to first
# buffer (what process start, gst_init() and the pipeline cost by themselves).
BASE=$BENCH_TMP/base
: >"$BASE"
for ((run = 0; run <= RUNS; run++)); do
  blog=$BENCH_TMP/base.$run
  timeout 10 "$BENCH_PIPELINE" --probe out --exit-on-first --timeout 5 \
    fakesrc ! fakesink name=out >"$blog" 2>&1 || continue
  [ "$run" -eq 0 ] && continue
  awk -v a="$(bench_field start_ns "$blog")" -v b="$(bench_field first_ns "$blog")" \
    'BEGIN { printf "%.3f\n", (b - a) / 1e6 }' >>"$BASE"
done

n=$(grep -c . "$SAMPLES")
line="setup median_ms=$(bench_percentile 50 <"$SAMPLES") p90_ms=$(bench_percentile 90 <"$SAMPLES") runs=$n"
line+=" from_play_median_ms=$(bench_percentile 50 <"$SAMPLES.play")"
line+=" process_only_median_ms=$(bench_percentile 50 <"$BASE")"
tcp_med=$(bench_percentile 50 <"$TCPS")
line+=" tcp_median_ms=$tcp_med ratio_tcp=$(awk -v p="$(bench_percentile 50 <"$SAMPLES")" \
  -v t="$tcp_med" 'BEGIN { if (t > 0) printf "%.2f", p / t; else print 0 }')"
[ "$failures" -gt 0 ] && line+=" failed=$failures note=${last_err:-error}"
echo "$line"
