#!/usr/bin/env bash
# tests/bench/throughput.sh: bulk throughput of p2psink → p2psrc (QUIC,
# reliable) against tcpclientsink → tcpserversrc and srtsink → srtsrc, all on
# 127.0.0.1, all in this one invocation.
#
# Prints one line:
#   throughput p2p_mbps=… p2p_lost_bytes=… tcp_mbps=… tcp_lost_bytes=…
#              srt_mbps=… srt_lost_bytes=… ratio_tcp=… ratio_srt=… runs=… bytes=…
# (plus note=… when a transfer ended by error, timeout or stall).
#
# Method: one file of random bytes (BENCH_THROUGHPUT_BYTES, default 256 MiB)
# is made once; for each transport the sender is a gst-launch-1.0 process
# (filesrc blocksize=64 KiB) and the receiver a bench-pipeline process (the
# same gst_parse_launch() as gst-launch-1.0) ending in a filesink. The
# receiver stamps, on CLOCK_MONOTONIC, the first and the last buffer that
# reach the filesink; Mbit/s = 8 × bytes that arrived matching the source
# ÷ (last − first). Connection setup is not in that window. A transfer that
# does not end in EOS (stalled, timed out, failed) is charged until the
# receiver gave up (first → end of the receiving process's run, which for
# SRT is 2 s after the last byte), so a stall does not look like speed.
# Lost bytes = source size − bytes that arrived matching (equal files: 0;
# otherwise a greedy in-order alignment, see lib.sh). SRT runs as
# configured by default (live mode, default 125 ms latency); it carries no
# EOS, so its receiver stops after 2 s without data.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init throughput
bench_require "$BENCH_PIPELINE" "$BENCH_P2P_ID" "$BENCH_PLUGIN"

SIZE=${BENCH_THROUGHPUT_BYTES:-268435456}
BLOCK=${BENCH_BLOCKSIZE:-65536}
TMO=${BENCH_TIMEOUT:-90}
SRC=$BENCH_TMP/source.bin
NOTES=()

head -c "$SIZE" /dev/urandom >"$SRC" || bench_die "cannot write $SIZE bytes to $BENCH_TMP"

# transfer NAME LISTENER(recv|send) PROTO PORT RECV_DESC SEND_DESC [IDLE_MS]
# sets MBPS and LOST
transfer () {
  local name=$1 listener=$2 proto=$3 port=$4 rdesc=$5 sdesc=$6 idle=${7:-0}
  local out=$BENCH_TMP/$name.bin rlog=$BENCH_TMP/$name.recv slog=$BENCH_TMP/$name.send
  local rpid spid st=0 first last matched exitwhy i
  local -a ropts=(--probe out --timeout "$TMO")
  [ "$idle" -gt 0 ] && ropts+=(--idle-exit "$idle")

  MBPS=nan
  LOST=$SIZE
  if [ "$listener" = recv ]; then
    # shellcheck disable=SC2086
    bench_spawn $((TMO + 5)) "$rlog" "$BENCH_PIPELINE" "${ropts[@]}" $rdesc \
      ! filesink name=out location="$out"
    rpid=$BENCH_LAST_PID
    if ! bench_wait_port "$proto" "$port" "$rpid" 10; then
      NOTES+=("$name:receiver-did-not-listen")
      bench_stop "$rpid"
      return
    fi
    # shellcheck disable=SC2086
    bench_spawn $((TMO + 5)) "$slog" gst-launch-1.0 -q filesrc location="$SRC" \
      blocksize="$BLOCK" ! $sdesc
    spid=$BENCH_LAST_PID
  else
    # shellcheck disable=SC2086
    bench_spawn $((TMO + 5)) "$slog" gst-launch-1.0 -q filesrc location="$SRC" \
      blocksize="$BLOCK" ! $sdesc
    spid=$BENCH_LAST_PID
    if ! bench_wait_port "$proto" "$port" "$spid" 10; then
      NOTES+=("$name:sender-did-not-listen")
      bench_stop "$spid"
      return
    fi
    # shellcheck disable=SC2086
    bench_spawn $((TMO + 5)) "$rlog" "$BENCH_PIPELINE" "${ropts[@]}" $rdesc \
      ! filesink name=out location="$out"
    rpid=$BENCH_LAST_PID
  fi
  bench_wait "$rpid" || st=$?
  # the sender normally ends by itself; a stalled one gets 3 s, then TERM
  for ((i = 0; i < 300; i++)); do
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.01
  done
  bench_stop "$spid"

  exitwhy=$(bench_field exit "$rlog")
  first=$(bench_field first_ns "$rlog")
  last=$(bench_field last_ns "$rlog")
  [ "$exitwhy" = eos ] || last=$(bench_field end_ns "$rlog")
  if [ "$st" -ne 0 ] || [ "$exitwhy" != eos ]; then
    NOTES+=("$name:${exitwhy:-failed}")
    [ -s "$rlog.err" ] && sed "s/^/# $name receiver: /" "$rlog.err" | head -n 3 >&2
    [ -s "$slog.err" ] && sed "s/^/# $name sender: /" "$slog.err" | head -n 3 >&2
  fi
  [ -f "$out" ] || : >"$out"
  matched=$(bench_matched_bytes "$SRC" "$out")
  [[ "$matched" =~ ^[0-9]+$ ]] || { matched=0; NOTES+=("$name:could-not-compare"); }
  LOST=$((SIZE - matched))
  if [ -n "$first" ] && [ -n "$last" ] && [ "$last" -gt "$first" ]; then
    MBPS=$(bench_mbps "$matched" $((last - first)))
  fi
  rm -f "$out"
}

# Each transport runs BENCH_THROUGHPUT_RUNS times (default 3), interleaved
# (tcp, srt, p2p, tcp, …) so that a noisy moment of the machine hits all of
# them; the figure is the median Mbit/s and the worst loss.
RUNS=${BENCH_THROUGHPUT_RUNS:-3}
id=$(bench_new_identity "$BENCH_TMP/sender.key")
[ -n "$id" ] || bench_die "tools/p2p-id new failed"
declare -A ALL_MBPS=() WORST=()
record () {
  ALL_MBPS[$1]+="$MBPS"$'\n'
  [ "$LOST" -gt "${WORST[$1]:-0}" ] && WORST[$1]=$LOST
  : "${WORST[$1]:=0}"
}
have_srt=1
bench_have_element srtsink || { have_srt=0; NOTES+=("srt:no-srtsink-element"); }

for ((r = 0; r < RUNS; r++)); do
  # TCP: the receiver listens.
  port=$(bench_free_port tcp)
  transfer tcp recv tcp "$port" \
    "tcpserversrc host=127.0.0.1 port=$port" \
    "tcpclientsink host=127.0.0.1 port=$port"
  record tcp

  # SRT: the receiver listens (mode=listener), the sender calls; defaults.
  if [ "$have_srt" = 1 ]; then
    port=$(bench_free_port udp)
    transfer srt recv udp "$port" \
      "srtsrc uri=srt://127.0.0.1:$port?mode=listener" \
      "srtsink uri=srt://127.0.0.1:$port?mode=caller" 2000
    record srt
  fi

  # p2p: p2psink listens on a free UDP port with an identity made by
  # tools/p2p-id, p2psrc dials ID@127.0.0.1:PORT. slow-receiver-policy=block:
  # a file transfer waits for its one receiver instead of dropping it.
  port=$(bench_free_port udp)
  transfer p2p send udp "$port" \
    "p2psrc peer=$id@127.0.0.1:$port transport=quic delivery=reliable" \
    "p2psink port=$port identity=$BENCH_TMP/sender.key transport=quic delivery=reliable slow-receiver-policy=block"
  record p2p
done

median () {
  printf '%s' "${ALL_MBPS[$1]:-}" | grep -E '^[0-9.]+$' | bench_percentile 50
}
P2P_MBPS=$(median p2p) TCP_MBPS=$(median tcp) SRT_MBPS=$(median srt)
P2P_LOST=${WORST[p2p]:-$SIZE} TCP_LOST=${WORST[tcp]:-$SIZE} SRT_LOST=${WORST[srt]:-$SIZE}

line="throughput p2p_mbps=$P2P_MBPS p2p_lost_bytes=$P2P_LOST"
line+=" tcp_mbps=$TCP_MBPS tcp_lost_bytes=$TCP_LOST"
line+=" srt_mbps=$SRT_MBPS srt_lost_bytes=$SRT_LOST"
line+=" ratio_tcp=$(bench_ratio "$P2P_MBPS" "$TCP_MBPS")"
line+=" ratio_srt=$(bench_ratio "$P2P_MBPS" "$SRT_MBPS")"
line+=" runs=$RUNS bytes=$SIZE"
[ ${#NOTES[@]} -gt 0 ] && line+=" note=$(IFS=,; printf '%s\n' "${NOTES[@]}" | sort -u | paste -sd,)"
echo "$line"
