#!/bin/sh
# tests/run.sh: installs what is missing, builds, runs every test suite and
# ends with the line "N passed, N failed". Exits non-zero on any failure.
#
# Stages: build + all meson suites (unit, elements, soak, nat); the unit and
# element suites again under ASan+UBSan; each libFuzzer target for a bounded
# time. Set P2P_TEST_QUICK=1 to skip the sanitizer and fuzz stages.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=""

note() { printf '\n==== %s\n' "$*"; }
fail_stage() { FAILED=$((FAILED + 1)); FAILED_NAMES="$FAILED_NAMES $1"; echo "FAILED: $1"; }

# Adds the results of a meson testlog.json to the counters.
tally() {
  log="$1"; label="$2"
  if [ ! -f "$log" ]; then fail_stage "$label:no-testlog"; return; fi
  set -- $(python3 - "$log" "$label" <<'PY'
import json, sys
p = f = s = 0
names = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line)
    res = r.get("result")
    if res in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif res == "SKIP":
        s += 1
    else:
        f += 1
        names.append(sys.argv[2] + ":" + r.get("name", "?").replace(" ", "_"))
print(p, f, s, *names)
PY
)
  PASSED=$((PASSED + $1)); FAILED=$((FAILED + $2)); SKIPPED=$((SKIPPED + $3))
  shift 3
  FAILED_NAMES="$FAILED_NAMES $*"
}

note "dependencies"
if ! scripts/deps.sh; then
  echo "could not install dependencies"
  echo "0 passed, 1 failed"
  exit 1
fi

note "build (build/)"
if [ ! -f build/build.ninja ]; then
  meson setup build >build-setup.log 2>&1 || { cat build-setup.log; echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C build; then
  echo "0 passed, 1 failed"
  exit 1
fi

note "test suites (meson test)"
meson test -C build --num-processes "$JOBS" --print-errorlogs
tally build/meson-logs/testlog.json main

if [ "${P2P_TEST_QUICK:-0}" != 1 ]; then
  note "ASan + UBSan (build-asan/): unit, element and python suites"
  if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbuildtype=debug >build-asan-setup.log 2>&1 || cat build-asan-setup.log
  fi
  if ninja -C build-asan >build-asan.log 2>&1; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:suppressions=$ROOT/tests/asan.supp \
    LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      meson test -C build-asan --suite unit --suite elements --suite python --num-processes "$JOBS" \
      --print-errorlogs --timeout-multiplier 3
    tally build-asan/meson-logs/testlog.json asan
  else
    tail -40 build-asan.log
    fail_stage asan:build
  fi

  note "fuzzing (build-fuzz/, ${FUZZ_SECONDS}s per target)"
  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzz=true -Dgst=enabled -Dintrospection=disabled \
      -Db_lundef=false >build-fuzz-setup.log 2>&1 || cat build-fuzz-setup.log
  fi
  if ninja -C build-fuzz >build-fuzz.log 2>&1; then
    for f in build-fuzz/tests/fuzz/fuzz-*; do
      [ -f "$f" ] && [ -x "$f" ] || continue
      name=$(basename "$f")
      corpus="tests/fuzz/corpus/${name#fuzz-}"
      work=$(mktemp -d)
      [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
      if "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
          -print_final_stats=0 "$work" >"build-fuzz/$name.log" 2>&1; then
        PASSED=$((PASSED + 1)); echo "ok: $name ($(grep -c . "build-fuzz/$name.log") log lines)"
      else
        tail -30 "build-fuzz/$name.log"; fail_stage "fuzz:$name"
      fi
      rm -rf "$work"
    done
  else
    tail -40 build-fuzz.log
    fail_stage fuzz:build
  fi
fi

note "summary"
[ "$SKIPPED" -gt 0 ] && echo "$SKIPPED skipped (not counted as passed)"
[ -n "$(echo $FAILED_NAMES)" ] && echo "failed:$FAILED_NAMES"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
