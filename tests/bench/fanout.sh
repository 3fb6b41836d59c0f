#!/usr/bin/env bash
# tests/bench/fanout.sh: one live 1.41 Mbit/s stream served to 100 receivers
# by p2psink, against tcpserversink serving 100 tcpclientsrc, same run.
#
# Prints one line:
#   fanout p2p_cpu_s=… p2p_rss_mib=… tcp_cpu_s=… tcp_rss_mib=… receivers=…
#          p2p_connected=… tcp_connected=… seconds=…
#
# Method: the sender is a bench-pipeline process (gst_parse_launch, as
# gst-launch-1.0): audiotestsrc is-live=true, raw 44.1 kHz stereo S16
# (1.41 Mbit/s) → p2psink (reliable delivery, max-peers=N) or tcpserversink.
# The receivers are N/10 processes of 10 "p2psrc ! fakesink" (or
# "tcpclientsrc ! fakesink") branches each. Once they are started and 2 s
# have passed for them to connect, a window of BENCH_FANOUT_SECONDS (30)
# starts: CPU seconds = utime + stime of the sending process
# (/proc/PID/stat) at the end of the window minus at its start; RSS = its
# peak resident set (VmHWM, /proc/PID/status) at the end of the window.
# *_connected is the sink's own count when the window ends (p2psink
# n-peers, tcpserversink num-handles); receivers is how many were started.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init fanout
bench_require "$BENCH_PIPELINE" "$BENCH_P2P_ID" "$BENCH_PLUGIN"

N=${BENCH_FANOUT_RECEIVERS:-100}
SECS=${BENCH_FANOUT_SECONDS:-30}
PER=10
CAPS="audio/x-raw,format=S16LE,rate=44100,channels=2,layout=interleaved"
NOTES=()
# The provider refuses connections beyond P2P_MAX_CONNECTIONS (default 64),
# whatever p2psink's max-peers says.
export P2P_MAX_CONNECTIONS=$((N + 16))

# fan NAME PROTO PORT SEND_SINK RECV_SRC PRINT_END: sets CPU RSS CONNECTED
fan () {
  local name=$1 proto=$2 port=$3 sink=$4 src=$5 pend=$6
  local slog=$BENCH_TMP/$name.send spid cpid c0 c1 i j desc n
  local -a rpids=()
  CPU=nan RSS=nan CONNECTED=0
  # shellcheck disable=SC2086
  bench_spawn $((SECS + 60)) "$slog" "$BENCH_PIPELINE" --probe sink \
    --print-end "$pend" --timeout $((SECS + 50)) \
    audiotestsrc is-live=true samplesperbuffer=441 ! "$CAPS" ! $sink
  spid=$BENCH_LAST_PID
  if ! bench_wait_port "$proto" "$port" "$spid" 10; then
    NOTES+=("$name:sender-did-not-listen")
    [ -s "$slog.err" ] && sed "s/^/# fanout $name sender: /" "$slog.err" | head -n 3 >&2
    bench_stop "$spid"
    return
  fi
  cpid=$(bench_child_pid "${BENCH_TPID[$spid]}")
  for ((i = 0; i < N; i += PER)); do
    desc=
    for ((j = i; j < i + PER && j < N; j++)); do
      desc+=" $src ! fakesink name=out$j sync=false async=false"
    done
    # shellcheck disable=SC2086
    bench_spawn $((SECS + 55)) "$BENCH_TMP/$name.recv$i" "$BENCH_PIPELINE" \
      --probe "out$i" --timeout $((SECS + 45)) $desc
    rpids+=("$BENCH_LAST_PID")
  done
  sleep 2
  c0=$(bench_proc_cpu_s "$cpid")
  sleep "$SECS"
  c1=$(bench_proc_cpu_s "$cpid")
  RSS=$(bench_proc_hwm_mib "$cpid")
  if [ -n "$c0" ] && [ -n "$c1" ]; then
    CPU=$(bench_calc "$c1 - $c0")
  else
    NOTES+=("$name:sender-died")
    [ -s "$slog.err" ] && sed "s/^/# fanout $name sender: /" "$slog.err" | head -n 3 >&2
  fi
  n=0
  for i in "${rpids[@]}"; do
    kill -0 "$i" 2>/dev/null && n=$((n + 1))
  done
  bench_stop "$spid"
  CONNECTED=$(bench_field "${pend//./\\.}" "$slog")
  for i in "${rpids[@]}"; do
    bench_stop "$i"
  done
  [ "$n" -lt ${#rpids[@]} ] && NOTES+=("$name:$(( ${#rpids[@]} - n ))-receiver-processes-ended-early")
  for ((i = 0; i < N; i += PER)); do
    if [ -s "$BENCH_TMP/$name.recv$i.err" ]; then
      sed "s/^/# fanout $name receivers $i: /" "$BENCH_TMP/$name.recv$i.err" | head -n 2 >&2
      break
    fi
  done
}

port=$(bench_free_port udp)
id=$(bench_new_identity "$BENCH_TMP/sender.key")
[ -n "$id" ] || bench_die "tools/p2p-id new failed"
fan p2p udp "$port" \
  "p2psink name=sink port=$port identity=$BENCH_TMP/sender.key transport=quic max-peers=$N" \
  "p2psrc peer=$id@127.0.0.1:$port transport=quic" sink.n-peers
P_CPU=$CPU P_RSS=$RSS P_CONN=$CONNECTED

port=$(bench_free_port tcp)
fan tcp tcp "$port" \
  "tcpserversink name=sink host=127.0.0.1 port=$port sync=false" \
  "tcpclientsrc host=127.0.0.1 port=$port" sink.num-handles
T_CPU=$CPU T_RSS=$RSS T_CONN=$CONNECTED

line="fanout p2p_cpu_s=$P_CPU p2p_rss_mib=$P_RSS tcp_cpu_s=$T_CPU tcp_rss_mib=$T_RSS"
line+=" receivers=$N p2p_connected=${P_CONN:-unknown} tcp_connected=${T_CONN:-unknown} seconds=$SECS"
[ ${#NOTES[@]} -gt 0 ] && line+=" note=$(IFS=,; echo "${NOTES[*]}")"
echo "$line"
