#!/bin/sh
# tests/bench/files-link.sh [RUNS]: tests/bench/files-bench.py (on-demand
# files, p2p:// against HTTP) across an emulated link of 50 ms RTT: the
# servers (p2p-serve, range-http-server.py) in namespace A on 10.88.0.1, the
# players in namespace B, netfwd between them with 25 ms each way
# (tests/support/netfwd-link.sh). Root; exits 77 without it.
#   FILES_LINK_ARGS   more netfwd options (e.g. "--rate-kbit 20000 --loss 0.001")
#   FILES_BENCH_RAW=1 also print every run's figures
#   BENCH_BUILDDIR    the build (default build-bench/ if made, else build/)
# Prints files-bench.py's lines, then netfwd's counters (drops on the link).
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${1:-7}
if [ -n "${BENCH_BUILDDIR:-}" ]; then BUILD=$BENCH_BUILDDIR
elif [ -f "$ROOT/build-bench/build.ninja" ]; then BUILD=$ROOT/build-bench
else BUILD=$ROOT/build; fi
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
for f in tests/support/netfwd tools/p2p-serve gst/libgstp2p.so; do
  [ -e "$BUILD/$f" ] || { echo "files-link: missing $BUILD/$f (ninja -C $BUILD)" >&2; exit 1; }
done
. "$ROOT/tests/support/netfwd-link.sh"
netfwd_link_check || exit $?
NETFWD_SECONDS=$((RUNS * 120 + 120))  # netfwd's bound; the benchmark's is below
trap netfwd_link_down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export P2P_MDNS=0

# shellcheck disable=SC2086 # FILES_LINK_ARGS is a list of options
netfwd_link_up "$BUILD/tests/support/netfwd" --delay-ms 25 --seed 1 ${FILES_LINK_ARGS:-} ||
  { echo "files-link: the link did not come up" >&2; exit 1; }
netfwd_b timeout -k 5 $((RUNS * 120)) /usr/bin/python3 "$ROOT/tests/bench/files-bench.py" "$BUILD" "$RUNS" \
  --server-ns "$NETFWD_NS_A" --host "$NETFWD_A_IP" \
  --label "50 ms RTT netfwd link${FILES_LINK_ARGS:+ $FILES_LINK_ARGS}"
st=$?
netfwd_link_stop
grep '^netfwd: total' "$NETFWD_DIR/netfwd.out"
exit $st
