#!/bin/sh
# tests/bench/run.sh [NAME...]: builds the benchmarks (release build in
# build-bench/) and runs the named ones, or all. Each prints one result line.
#   quic: 256 MiB over QUIC/UDP loopback between two processes vs TCP
#         loopback: "quic quic_mbps=… tcp_mbps=… ratio=… lost_bytes=…"
#         (BENCH_QUIC_BYTES overrides the size)
#   sim:  60 simulated s of a 1.4 Mbit/s stream at 50 ms RTT, 2 % loss:
#         "sim seed=… trace_hash=… simulated_s=… wall_s=… speedup=…"
#         (seed from SIMULATOR_P2P_SEED, default 1)
#   throughput, setup, latency, relay, fanout: the elements end to end
#         against TCP/SRT/UDP/direct baselines (tests/bench/NAME.sh; methods
#         and knobs in docs/performance.md, "Pipelines")
#   files: on-demand files, p2p:// (p2p-serve + p2psrc) against HTTP
#         (souphttpsrc) on loopback: first buffer, seek, whole file
#         (tests/bench/files-bench.py; BENCH_FILES_RUNS, default 9)
#   files-link: the same across an emulated 50 ms RTT link between two
#         network namespaces (tests/bench/files-link.sh, netfwd; root, else
#         skipped)
#   link: bulk QUIC against TCP and SRT (file mode) across emulated links (lan, wan, lossy,
#         slow) between two namespaces (tests/bench/link.sh, netfwd; root,
#         else skipped; BENCH_LINK_BYTES, default 64 MiB)
#   discovery: setup time of a dial by bare peer ID by each discovery route
#         (mDNS, DHT, rendezvous) and by ticket, two namespaces on a bridge
#         (tests/bench/discovery.sh; root and dhtnode, else skipped;
#         BENCH_DISCOVERY_RUNS, default 7)
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BENCH_BUILDDIR:-build-bench}
ALL="quic sim throughput setup latency relay fanout files files-link link discovery"
NAMES=${*:-$ALL}

if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" --buildtype=release -Dwerror=false >/dev/null
fi
ninja -C "$BUILD" tests/bench/bench-quic tests/bench/bench-sim >/dev/null
ninja -C "$BUILD" tests/bench/bench-pipeline tests/bench/bench-latency \
  gst/libgstp2p.so tools/p2p-id tools/p2p-cat tools/p2p-rendezvous tools/p2p-serve \
  tests/support/netfwd >/dev/null ||
  echo "run.sh: the pipeline benchmarks' programs did not all build" >&2

status=0
for name in $NAMES; do
  case "$name" in
    quic)
      "$BUILD/tests/bench/bench-quic" run "${BENCH_QUIC_BYTES:-268435456}" || status=1
      ;;
    sim)
      "$BUILD/tests/bench/bench-sim" || status=1
      ;;
    throughput|setup|latency|relay|fanout)
      BENCH_BUILDDIR=$BUILD "tests/bench/$name.sh" || status=1
      ;;
    files)
      P2P_MDNS=0 tests/bench/files-bench.py "$BUILD" "${BENCH_FILES_RUNS:-9}" || status=1
      ;;
    files-link)
      st=0
      BENCH_BUILDDIR=$BUILD tests/bench/files-link.sh "${BENCH_FILES_RUNS:-9}" || st=$?
      if [ "$st" = 77 ]; then echo "files-link: skipped (needs root)"
      elif [ "$st" != 0 ]; then status=1; fi
      ;;
    link)
      st=0
      BENCH_BUILDDIR=$BUILD tests/bench/link.sh "${BENCH_LINK_BYTES:-67108864}" || st=$?
      if [ "$st" = 77 ]; then echo "link: skipped (needs root)"
      elif [ "$st" != 0 ]; then status=1; fi
      ;;
    discovery)
      st=0
      BENCH_BUILDDIR=$BUILD tests/bench/discovery.sh "${BENCH_DISCOVERY_RUNS:-7}" || st=$?
      if [ "$st" = 77 ]; then echo "discovery: skipped (needs root and dhtnode)"
      elif [ "$st" != 0 ]; then status=1; fi
      ;;
    *)
      echo "unknown benchmark: $name (known: $ALL)" >&2
      status=2
      ;;
  esac
done
exit $status
