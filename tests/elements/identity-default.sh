#!/bin/sh
# tests/elements/identity-default.sh PLUGIN_DIR P2P_ID P2P_SERVE P2P_CAT: issue 16 item 6 with
# real processes and a temporary XDG_DATA_HOME: p2psink without `identity`
# uses the key file "p2p-id new" made (its peer ID is the one "p2p-id show"
# prints; the p2p-listening message says identity=default-file), and without
# that file an ephemeral key (identity=ephemeral); identity=/missing/dir/key
# is an error that names the directory and creates nothing; a key file named
# in an existing directory is created and said so (identity=new-file).
# p2p-serve and p2p-cat listen follow the same rule ($P2P_IDENTITY_FILE,
# else the default key file, else ephemeral, said on stderr); before, they
# ignored both and a music server got a new peer ID at every start.
# Every process is bounded by timeout(1). Exits 77 (SKIP) without
# gst-launch-1.0 or the elements.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
PLUGINS=${1:?plugin dir}
P2P_ID=${2:?p2p-id}
P2P_SERVE=${3:?p2p-serve}
P2P_CAT=${4:?p2p-cat}
T=20
W=$(mktemp -d /tmp/p2p-identity-XXXXXX)

log() { echo "[identity-default] $*"; }
fail() { log "FAIL: $*"; for f in "$W"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }
trap 'rm -rf "$W"' EXIT

command -v gst-launch-1.0 >/dev/null || { echo "SKIP: gst-launch-1.0 is not installed"; exit 77; }
export GST_PLUGIN_PATH="$PLUGINS"
export GST_REGISTRY="$W/registry.bin"
export XDG_DATA_HOME="$W/data"
unset P2P_IDENTITY_FILE
gst-inspect-1.0 p2psink >/dev/null 2>&1 || { echo "SKIP: element p2psink cannot be loaded"; exit 77; }

# one buffer, then EOS with no receiver: wait-for-peer=false, eos-timeout=0;
# the sender's p2p-listening message is all we look at
run_sink() {  # $1 log name, rest: extra properties
  name=$1; shift
  timeout $T gst-launch-1.0 -m fakesrc num-buffers=1 ! p2psink transport=quic \
    port=0 wait-for-peer=false eos-timeout=0 "$@" >"$W/$name.log" 2>&1
}
field() {  # $1 log, $2 field name
  sed -n "s/.*p2p-listening.*$2=(string)\([^,;]*\).*/\1/p" "$1" | head -n1
}

# 1. no key file: ephemeral, said in the message
run_sink eph || fail "the sender without identity failed"
[ "$(field "$W/eph.log" identity)" = ephemeral ] || fail "identity is not ephemeral"
[ ! -e "$XDG_DATA_HOME" ] || fail "the sender created $XDG_DATA_HOME"

# 2. p2p-id new: the sender uses that key
"$P2P_ID" new >"$W/new.log" 2>&1 || fail "p2p-id new failed"
ID=$("$P2P_ID" show 2>/dev/null | head -n1)
[ ${#ID} -eq 55 ] || fail "p2p-id show printed \"$ID\""
run_sink def || fail "the sender with the default key file failed"
[ "$(field "$W/def.log" peer-id)" = "$ID" ] || fail "peer ID $(field "$W/def.log" peer-id), p2p-id shows $ID"
[ "$(field "$W/def.log" identity)" = default-file ] || fail "identity is not default-file"
run_sink def2 || fail "second run failed"
[ "$(field "$W/def2.log" peer-id)" = "$ID" ] || fail "the peer ID changed between runs"

# 3. a key file in a missing directory: an error naming it, nothing created
run_sink missing identity="$W/nonexistent/dir/key" && fail "a key file in a missing directory was accepted"
grep -q "the directory \"$W/nonexistent/dir\" does not exist" "$W/missing.log" ||
  fail "the error does not name the missing directory"
[ ! -e "$W/nonexistent" ] || fail "the sender created $W/nonexistent"

# 4. a new key file in an existing directory: created, and said so
run_sink created identity="$W/new.key" || fail "the sender with a new key file failed"
[ -f "$W/new.key" ] || fail "no key file created"
[ "$(field "$W/created.log" identity)" = new-file ] || fail "identity is not new-file"
[ "$(field "$W/created.log" identity-file)" = "$W/new.key" ] || fail "identity-file is not the new file"

# 5. the tools that others dial: the peer ID they print once ready
tool_id() {  # $1 log name, rest: the command; prints its peer-id line's ID
  name=$1; shift
  "$@" >"$W/$name.log" 2>&1 </dev/null &
  pid=$!
  i=0
  while [ $i -lt 100 ] && ! grep -q "^peer-id: " "$W/$name.log"; do sleep 0.05; i=$((i + 1)); done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  sed -n 's/^peer-id: //p' "$W/$name.log" | head -n1
}
mkdir -p "$W/root"
NEWID=$("$P2P_ID" show --file "$W/new.key" 2>/dev/null | head -n1)
for tool in serve cat; do
  if [ $tool = serve ]; then set -- "$P2P_SERVE" "$W/root"; else set -- "$P2P_CAT" listen; fi
  got=$(tool_id "$tool-def" timeout $T "$@" --port 0 --bind-address 127.0.0.1)
  [ "$got" = "$ID" ] || fail "p2p-$tool with the default key file: peer ID \"$got\", p2p-id shows $ID"
  got=$(P2P_IDENTITY_FILE="$W/new.key" tool_id "$tool-env" timeout $T "$@" --port 0 \
    --bind-address 127.0.0.1)
  [ "$got" = "$NEWID" ] || fail "p2p-$tool ignores P2P_IDENTITY_FILE: \"$got\", the file's is $NEWID"
done
mv "$XDG_DATA_HOME" "$W/data.off"
got=$(tool_id serve-eph timeout $T "$P2P_SERVE" "$W/root" --port 0 --bind-address 127.0.0.1)
[ ${#got} -eq 55 ] && [ "$got" != "$ID" ] || fail "p2p-serve without a key file: \"$got\""
grep -q "an ephemeral identity" "$W/serve-eph.log" || fail "p2p-serve does not say its identity is ephemeral"
log "ok: default key file $ID used, ephemeral without it, missing directory refused, new file said; the tools too"
exit 0
