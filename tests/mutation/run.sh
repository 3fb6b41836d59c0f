#!/bin/sh
# tests/mutation/run.sh: the mutation check. Plants each bug listed in
# tests/mutation/mutations.txt (one sed script on one file) into a copy of
# the tree, builds, runs the tests named for it, and expects them to fail.
# A bug the tests do not notice "survived" and makes this script fail; so
# does a mutation that no longer applies or no longer builds, and named tests
# that fail without any bug planted.
#
#   tests/mutation/run.sh [ID...]      (default: every mutation in the list)
#
# The copy of the working tree (tracked and new files) and its build live in
# a temporary directory removed on exit; set P2P_MUTATION_DIR=DIR to keep
# them there and reuse the build on the next run. Each mutation is reverted
# before the next. Time: one full build, then per mutation a rebuild of the
# files it touches and its tests (bounded by P2P_MUTATION_TIMEOUT seconds,
# default 600). Run from tests/run.sh with P2P_MUTATION=1; docs/testing.md.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
LIST=$ROOT/tests/mutation/mutations.txt
TIMEOUT=${P2P_MUTATION_TIMEOUT:-600}
TAB=$(printf '\t')

if [ -n "${P2P_MUTATION_DIR:-}" ]; then
  WORK=$P2P_MUTATION_DIR
  mkdir -p "$WORK"
  KEEP=1
else
  WORK=$(mktemp -d /tmp/p2p-mutation-XXXXXX)
  KEEP=0
fi
SRC=$WORK/src
BUILD=$WORK/build
CURRENT=""                      # the file holding a planted bug, if any

cleanup() {
  [ -n "$CURRENT" ] && [ -f "$CURRENT.orig" ] && mv -f "$CURRENT.orig" "$CURRENT"
  [ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }

# copy the working tree; cmp keeps unchanged files (and their mtimes) so a
# kept build only rebuilds what changed since the last run
mkdir -p "$SRC"
git ls-files --cached --others --exclude-standard | while IFS= read -r f; do
  [ -f "$f" ] || continue
  if ! cmp -s "$f" "$SRC/$f" 2>/dev/null; then
    mkdir -p "$SRC/$(dirname "$f")" && cp -p "$f" "$SRC/$f"
  fi
done

if [ ! -f "$BUILD/build.ninja" ]; then
  say "configuring $BUILD"
  meson setup "$BUILD" "$SRC" >"$WORK/setup.log" 2>&1 || { tail -30 "$WORK/setup.log"; exit 1; }
fi
say "building the unmodified copy"
nice ninja -C "$BUILD" >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }

# run_tests SPEC...: SPEC is NAME or NAME:FILTER; returns non-zero if any fails
run_tests() {
  rc=0
  for spec in $(echo "$1" | tr , ' '); do
    name=${spec%%:*}
    filter=""
    [ "$name" != "$spec" ] && filter=${spec#*:}
    case $filter in
      "") set -- ;;
      /*) set -- --test-args "-p $filter" ;;
      *) set -- ;;
    esac
    if [ -n "$filter" ] && [ "${filter#/}" = "$filter" ]; then
      GST_CHECKS=$filter timeout "$TIMEOUT" meson test -C "$BUILD" --no-rebuild "$name" "$@" \
        >>"$WORK/test.log" 2>&1 || rc=1
    else
      timeout "$TIMEOUT" meson test -C "$BUILD" --no-rebuild "$name" "$@" \
        >>"$WORK/test.log" 2>&1 || rc=1
    fi
  done
  return $rc
}

ONLY=" $* "
entries() {
  grep -v '^#' "$LIST" | grep "$TAB" | while IFS="$TAB" read -r id file tests sed; do
    if [ "$ONLY" = "  " ] || case "$ONLY" in *" $id "*) true ;; *) false ;; esac; then
      printf '%s\t%s\t%s\t%s\n' "$id" "$file" "$tests" "$sed"
    fi
  done
}

# the named tests must pass before any bug is planted
ALL_TESTS=$(entries | cut -f3 | tr '\n' , | sed 's/,$//')
say "baseline: $ALL_TESTS"
if ! run_tests "$ALL_TESTS"; then
  tail -40 "$WORK/test.log"
  say "the named tests fail without a planted bug"
  exit 1
fi

CAUGHT=0; SURVIVED=0; BROKEN=0; SURVIVORS=""
TMPLIST=$WORK/list
entries >"$TMPLIST"
while IFS="$TAB" read -r id file tests sed; do
  : >"$WORK/test.log"
  cp -p "$SRC/$file" "$SRC/$file.orig"
  CURRENT=$SRC/$file
  if ! sed -e "$sed" "$SRC/$file.orig" >"$SRC/$file" || cmp -s "$SRC/$file" "$SRC/$file.orig"; then
    result="does-not-apply"
  elif ! nice ninja -C "$BUILD" >"$WORK/build.log" 2>&1; then
    result="does-not-build"
    tail -15 "$WORK/build.log"
  elif run_tests "$tests"; then
    result="SURVIVED"
  else
    result="caught"
  fi
  mv -f "$SRC/$file.orig" "$SRC/$file"
  touch "$SRC/$file"
  CURRENT=""
  case $result in
    caught) CAUGHT=$((CAUGHT + 1)) ;;
    SURVIVED) SURVIVED=$((SURVIVED + 1)); SURVIVORS="$SURVIVORS $id" ;;
    *) BROKEN=$((BROKEN + 1)); SURVIVORS="$SURVIVORS $id" ;;
  esac
  printf '%-26s %-15s %s (%s)\n' "$id" "$result" "$tests" "$file"
done <"$TMPLIST"
# leave the copy's build matching the tree
nice ninja -C "$BUILD" >"$WORK/build.log" 2>&1

say "mutations: $CAUGHT caught, $SURVIVED survived, $BROKEN invalid${SURVIVORS:+ (not caught:$SURVIVORS)}"
[ "$SURVIVED" -eq 0 ] && [ "$BROKEN" -eq 0 ]
