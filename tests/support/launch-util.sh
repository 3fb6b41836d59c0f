# tests/support/launch-util.sh: shell helpers of the tests that run
# gst-launch-1.0 (sourced: tests/elements/eos-sigint.sh, tests/soak/churn.sh).
# SPDX-License-Identifier: LGPL-2.1-or-later

# wait_ticket LOG: prints the ticket of the p2p-listening message that
# "gst-launch-1.0 -m ... ! p2psink" wrote to LOG, waiting for it at most
# 10 s (200 x 50 ms); prints nothing when none came.
wait_ticket() {
  _ticket=""
  for _i in $(seq 200); do
    _ticket=$(sed -n 's/.*p2p-listening.*ticket=(string)\(p2p1[a-z0-9]*\).*/\1/p' "$1" | head -n1)
    [ -n "$_ticket" ] && break
    sleep 0.05
  done
  echo "$_ticket"
}

# wait_loopback_peer LOG: like wait_ticket, but prints ID@127.0.0.1:PORT
# (peer-id and port of the p2p-listening message): a p2psink with
# bind-address=127.0.0.1 is dialed there, never at the machine's own
# addresses a ticket may list.
wait_loopback_peer() {
  _peer=""
  for _i in $(seq 200); do
    _peer=$(sed -n 's/.*p2p-listening, peer-id=(string)\([a-z0-9]*\),.* port=(int)\([0-9]*\);.*/\1@127.0.0.1:\2/p' "$1" | head -n1)
    [ -n "$_peer" ] && break
    sleep 0.05
  done
  echo "$_peer"
}
