# shellcheck shell=bash
# tests/bench/lib.sh: shared shell helpers of the benchmark scripts (bash).
#
# Sourced by throughput.sh, setup.sh, latency.sh, relay.sh and fanout.sh:
# build dir and GStreamer environment, a private temp dir, background
# processes that are always bounded by timeout(1) and always killed on exit,
# free ports, waiting for a listening port, median/percentile arithmetic.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

set -u

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# The build: $BENCH_BUILDDIR, else build-bench/ (made by tests/bench/run.sh),
# else build/.
if [ -n "${BENCH_BUILDDIR:-}" ]; then
  BENCH_BUILD=$BENCH_BUILDDIR
elif [ -f "$BENCH_ROOT/build-bench/build.ninja" ]; then
  BENCH_BUILD=$BENCH_ROOT/build-bench
else
  BENCH_BUILD=$BENCH_ROOT/build
fi
case "$BENCH_BUILD" in /*) ;; *) BENCH_BUILD=$BENCH_ROOT/$BENCH_BUILD ;; esac

BENCH_PIDS=()
declare -A BENCH_TPID=()
BENCH_TMP=

bench_die () {
  echo "bench: $*" >&2
  exit 1
}

# bench_stop PID: stop a spawned process (TERM, then KILL if it is still
# there after 1 s) and reap it.
bench_stop () {
  local sub=$1 tp=${BENCH_TPID[$1]:-} c i
  [ -n "$tp" ] || return 0
  kill -TERM "$tp" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$sub" 2>/dev/null || break
    sleep 0.01
  done
  if kill -0 "$sub" 2>/dev/null; then
    c=$(bench_child_pid "$tp")
    [ -n "$c" ] && kill -KILL "$c" 2>/dev/null
    kill -KILL "$tp" 2>/dev/null
  fi
  wait "$sub" 2>/dev/null
  return 0
}

bench_cleanup () {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null && bench_stop "$pid"
  done
  BENCH_PIDS=()
  if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ]; then
    rm -rf "$BENCH_TMP"
  fi
}

# bench_init NAME: temp dir, exit trap, environment, check the build.
bench_init () {
  BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gst-p2p-bench-$1.XXXXXX") ||
    bench_die "cannot make a temp dir"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP

  [ -f "$BENCH_BUILD/build.ninja" ] ||
    bench_die "no build in $BENCH_BUILD: run tests/bench/run.sh (it builds build-bench/) or set BENCH_BUILDDIR"
  # shellcheck disable=SC2034 # used by the scripts that source this file
  BENCH_PIPELINE=$BENCH_BUILD/tests/bench/bench-pipeline
  BENCH_P2P_ID=$BENCH_BUILD/tools/p2p-id
  # shellcheck disable=SC2034
  BENCH_PLUGIN=$BENCH_BUILD/gst/libgstp2p.so
  export GST_PLUGIN_PATH=$BENCH_BUILD/gst
  # A private registry: other builds' plugin paths do not trigger rescans
  # during a measurement; made once here, before anything is timed.
  export GST_REGISTRY=$BENCH_TMP/registry.bin
  export GST_REGISTRY_FORK=no
  unset GST_DEBUG
  # nothing announced on, or asked of, the machine's own networks (mDNS);
  # discovery.sh sets it per route inside its namespaces
  export P2P_MDNS=0
  command -v gst-launch-1.0 >/dev/null || bench_die "gst-launch-1.0 is not installed"
  command -v timeout >/dev/null || bench_die "timeout(1) is not installed"
  timeout 120 gst-inspect-1.0 coreelements >/dev/null 2>&1 ||
    bench_die "gst-inspect-1.0 fails (or took over 120 s to scan the plugins)"
}

# bench_require FILE...: the named build outputs must exist.
bench_require () {
  local f
  for f in "$@"; do
    [ -e "$f" ] || bench_die "missing $f: build it with ninja -C $BENCH_BUILD (tests/bench/run.sh does)"
  done
}

# bench_have_element NAME: is the GStreamer element available?
bench_have_element () {
  timeout 60 gst-inspect-1.0 "$1" >/dev/null 2>&1
}

# bench_spawn SECONDS OUTFILE CMD...: run CMD in the background, killed after
# SECONDS (then KILLed 2 s later), stdout to OUTFILE, stderr to OUTFILE.err.
# Sets BENCH_LAST_PID (a subshell waiting for timeout(1), so that the
# shell's "Killed" notices go to OUTFILE.err) and BENCH_LAST_CMD_PID (the
# timeout process; a TERM to it reaches CMD).
bench_spawn () {
  local secs=$1 out=$2 i
  shift 2
  : >"$out.pid"
  (
    timeout -k 2 "$secs" "$@" <"${BENCH_STDIN:-/dev/null}" >"$out" 2>"$out.err" &
    echo $! >"$out.pid"
    wait $!
  ) 2>>"$out.err" &
  BENCH_LAST_PID=$!
  BENCH_PIDS+=("$BENCH_LAST_PID")
  for ((i = 0; i < 1000; i++)); do
    [ -s "$out.pid" ] && break
    sleep 0.001
  done
  BENCH_LAST_CMD_PID=$(cat "$out.pid")
  BENCH_TPID[$BENCH_LAST_PID]=$BENCH_LAST_CMD_PID
}

# bench_spawn_in SECONDS OUTFILE INFILE CMD...: bench_spawn with stdin from
# INFILE.
bench_spawn_in () {
  local secs=$1 out=$2 in=$3
  shift 3
  BENCH_STDIN=$in bench_spawn "$secs" "$out" "$@"
}

# bench_wait PID: wait for a spawned process, return its status.
bench_wait () {
  local st=0
  wait "$1" || st=$?
  return $st
}

# bench_free_port tcp|udp: a port that was free on 127.0.0.1 a moment ago
# (the kernel picks it: bind to port 0, read it, close).
bench_free_port () {
  timeout 10 python3 - "$1" <<'EOF'
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET, kind)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# bench_wait_port tcp|udp PORT PID [SECONDS]: wait (bounded) until something
# listens on PORT; fails early when PID died.
bench_wait_port () {
  local proto=$1 port=$2 pid=$3 secs=${4:-10} flag i n
  [ "$proto" = tcp ] && flag=-Hltn || flag=-Hlun
  n=$((secs * 200))
  for ((i = 0; i < n; i++)); do
    if [ -n "$(ss $flag "sport = :$port" 2>/dev/null)" ]; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.005
  done
  return 1
}

# bench_wait_line FILE PATTERN PID [SECONDS]: wait (bounded) until FILE has a
# line matching PATTERN (grep -E); fails early when PID died.
bench_wait_line () {
  local file=$1 pat=$2 pid=$3 secs=${4:-10} i n
  n=$((secs * 200))
  for ((i = 0; i < n; i++)); do
    grep -Eq "$pat" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { grep -Eq "$pat" "$file" 2>/dev/null; return; }
    sleep 0.005
  done
  return 1
}

# bench_field KEY FILE: value of KEY=… on the last line of FILE that has it.
bench_field () {
  grep -Eo "(^| )$1=[^ ]*" "$2" 2>/dev/null | tail -n 1 | sed "s/^ *$1=//"
}

# bench_percentile P < numbers: nearest-rank P-th percentile (P in 0..100;
# 50 gives the median, the mean of the two middle values for even counts).
bench_percentile () {
  sort -g | awk -v p="$1" '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "nan"; exit }
      if (p == 50) {
        if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f\n", m; exit
      }
      r = int(p / 100 * NR); if (r < p / 100 * NR) r++
      if (r < 1) r = 1
      printf "%.2f\n", v[r]
    }'
}

# bench_calc EXPR: floating-point arithmetic (awk), e.g. bench_calc "1/3".
bench_calc () {
  awk "BEGIN { printf \"%.2f\n\", $1 }"
}

# bench_mbps BYTES NS: Mbit/s.
bench_mbps () {
  awk -v b="$1" -v ns="$2" 'BEGIN {
    if (ns <= 0) { print "nan"; exit }
    printf "%.1f\n", b * 8 / (ns / 1e9) / 1e6 }'
}

# bench_new_identity FILE: make a key file with tools/p2p-id, print its ID.
bench_new_identity () {
  timeout 10 "$BENCH_P2P_ID" new --file "$1" 2>/dev/null | head -n 1
}

# bench_proc_cpu_s PID: user+system CPU seconds of PID so far (/proc/PID/stat).
bench_proc_cpu_s () {
  local hz
  hz=$(getconf CLK_TCK)
  # fields after the ")" of the command name: 14 = utime, 15 = stime
  sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null |
    awk -v hz="$hz" '{ printf "%.2f\n", ($12 + $13) / hz }'
}

# bench_proc_hwm_mib PID: peak resident set (VmHWM) of PID in MiB.
bench_proc_hwm_mib () {
  awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status" 2>/dev/null
}

# bench_child_pid PID: the first child of PID (timeout's child is the
# measured program).
bench_child_pid () {
  local c
  c=$(cat "/proc/$1/task/$1/children" 2>/dev/null)
  [ -n "$c" ] || c=$(pgrep -P "$1" 2>/dev/null | tr '\n' ' ')
  echo "${c%% *}"
}

# bench_matched_bytes SOURCE RECEIVED: how many bytes of RECEIVED arrived
# matching SOURCE, in order: the whole size when the files are equal, else
# a greedy alignment (common runs, resynchronised on the next 64 bytes of
# RECEIVED found further on in SOURCE, which is random so a hit is unique).
# Duplicated or foreign bytes do not count; the work is bounded.
bench_matched_bytes () {
  if timeout 120 cmp -s "$1" "$2"; then
    stat -c %s "$1"
    return
  fi
  timeout 300 python3 - "$1" "$2" <<'EOF_PY'
import mmap, os, sys

def load(path):
    if os.path.getsize(path) == 0:
        return b""
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

src, rcv = load(sys.argv[1]), load(sys.argv[2])
ns, nr = len(src), len(rcv)

def common(s, r):
    n, step = 0, 1 << 20
    while s + n < ns and r + n < nr:
        k = min(step, ns - s - n, nr - r - n)
        if src[s + n:s + n + k] == rcv[r + n:r + n + k]:
            n += k
        elif k == 1:
            break
        else:
            step = max(1, k // 2)
    return n

s = r = matched = 0
K, WINDOW, tries = 64, 64 << 20, 0
while r < nr and s < ns and tries < 200000:
    n = common(s, r)
    matched += n; s += n; r += n
    if r >= nr or s >= ns:
        break
    tries += 1
    probe = rcv[r:r + K]
    j = src.find(probe, s + 1, min(ns, s + WINDOW))
    if j < 0:
        r += len(probe)          # foreign bytes: skip them
    else:
        s = j                    # a gap in the source: those bytes were lost
print(matched)
EOF_PY
}

# bench_ratio A B: A / B with two decimals, "nan" when either is not a
# positive number.
bench_ratio () {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) { print "nan"; exit }
    printf "%.2f\n", a / b }'
}
