#!/usr/bin/env python3
# tests/nat/gap-receiver.py: receives a p2psink's FLAC (or Opus) stream with
# p2psrc, writes the decoded PCM (S16LE) to OUT and measures the time without
# media: the longest gap between two buffers leaving p2psrc, wall clock. It
# touches STARTED when the first buffer arrives (the test then changes the
# network) and prints at EOS one line:
#   gap-receiver buffers=N max_gap_ms=X path=KIND resumed=N resume_gaps=N
# (resumed: "p2p-resumed" messages, the stream taken up where it stopped on
# a new connection; resume_gaps: of them, those where the sender no longer
# had what was missed), and with delivery=datagram the frames missing from
# the buffers' timestamps (each buffer should start where the one before it
# ended) next to what p2psrc's stats count:
#   ... first_ms=S end_ms=E missing=M holes=H largest_hole=F
#   outside_largest=O datagrams_lost=L datagrams_late=T
# (S, E: where the first buffer starts and the last one ends, stream time;
# F: frames of the largest hole; O: frames missing outside it). Exits 1 on an element error or when EOS does not
# come within LIMIT s. $P2PSRC_PROPS is added to p2psrc's properties (e.g.
# "reconnect=always reconnect-delay=300"). With $GAP_RECEIVER_WARM_UP set, a
# first p2psrc dials a closed port and is freed before the real one.
#
#   gap-receiver.py PEER OUT STARTED LIMIT_S [DELIVERY [CODEC]]
#   DELIVERY: reliable (default) or datagram; CODEC: flac (default) or opus
# SPDX-License-Identifier: LGPL-2.1-or-later
import os
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def warm_up(peer):
    """A p2psrc that dials nobody (port 9 on loopback, refused at once) and
    is freed, with its provider and network thread, before the real one: the
    process's network monitor must keep reporting changes to the providers
    that come after (it used to live on the first provider's thread)."""
    ident = peer.split("@")[0]
    pipe = Gst.parse_launch(f'p2psrc peer="{ident}@127.0.0.1:9" connect-timeout=2000 ! fakesink')
    pipe.set_state(Gst.State.PLAYING)
    msg = pipe.get_bus().timed_pop_filtered(5 * Gst.SECOND, Gst.MessageType.ERROR)
    pipe.set_state(Gst.State.NULL)
    if msg is None:
        print("gap-receiver: the warm-up dial did not fail", file=sys.stderr)
    del pipe


def main():
    peer, out, started, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    delivery = sys.argv[5] if len(sys.argv) > 5 else "reliable"
    codec = sys.argv[6] if len(sys.argv) > 6 else "flac"
    decode = {"flac": "flacparse ! flacdec", "opus": "opusdec"}[codec]
    Gst.init(None)
    if os.environ.get("GAP_RECEIVER_WARM_UP"):
        warm_up(peer)
    pipe = Gst.parse_launch(
        f'p2psrc name=src peer="{peer}" delivery={delivery} '
        f'{os.environ.get("P2PSRC_PROPS", "")} ! {decode} '
        f'! audioconvert ! audio/x-raw,format=S16LE ! filesink location="{out}"')
    src = pipe.get_by_name("src")
    state = {"n": 0, "last": None, "gap": 0.0, "err": None, "resumed": 0, "resume_gaps": 0,
             "holes": [], "first": None, "end": None, "frame": None}

    def probe(pad, info):
        # p2psrc pushes what has arrived together as a list
        if info.type & Gst.PadProbeType.BUFFER_LIST:
            blist = info.get_buffer_list()
            for i in range(blist.length()):
                on_buffer(blist.get(i))
        else:
            on_buffer(info.get_buffer())
        return Gst.PadProbeReturn.OK

    def on_buffer(buf):
        now = time.monotonic()
        if buf.pts != Gst.CLOCK_TIME_NONE and buf.duration != Gst.CLOCK_TIME_NONE:
            if state["frame"] is None or buf.duration > state["frame"]:
                state["frame"] = buf.duration
            if state["first"] is None:
                state["first"] = buf.pts
            if state["end"] is not None and buf.pts > state["end"]:
                state["holes"].append(buf.pts - state["end"])
            state["end"] = buf.pts + buf.duration
        if state["last"] is None:
            open(started, "w").close()
        else:
            state["gap"] = max(state["gap"], now - state["last"])
        state["last"] = now
        state["n"] += 1

    src.get_static_pad("src").add_probe(
        Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, probe)
    loop = GLib.MainLoop()

    def on_message(bus, msg):
        if msg.type == Gst.MessageType.EOS:
            loop.quit()
        elif msg.type == Gst.MessageType.ELEMENT and msg.get_structure().get_name() == "p2p-resumed":
            state["resumed"] += 1
            if msg.get_structure().get_value("gap"):
                state["resume_gaps"] += 1
        elif msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            state["err"] = f"{err.message} ({dbg})"
            loop.quit()

    def on_timeout():
        state["err"] = f"no EOS within {limit:.0f} s"
        loop.quit()
        return False

    bus = pipe.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    GLib.timeout_add(int(limit * 1000), on_timeout)
    pipe.set_state(Gst.State.PLAYING)
    loop.run()
    stats = src.get_property("stats")
    path = stats.get_string("path") if stats else None
    pipe.set_state(Gst.State.NULL)
    line = (f"gap-receiver buffers={state['n']} max_gap_ms={state['gap'] * 1000:.0f} path={path} "
            f"resumed={state['resumed']} resume_gaps={state['resume_gaps']}")
    if delivery == "datagram" and state["end"] is not None:
        frames = [round(h / state["frame"]) for h in state["holes"]]
        largest = max(frames, default=0)
        lost, late = stats.get_uint64("datagrams-lost")[1], stats.get_uint64("datagrams-late")[1]
        line += (f" first_ms={state['first'] // Gst.MSECOND}"
                 f" end_ms={state['end'] // Gst.MSECOND} missing={sum(frames)}"
                 f" holes={len(frames)} largest_hole={largest}"
                 f" outside_largest={sum(frames) - largest}"
                 f" datagrams_lost={lost} datagrams_late={late}")
    print(line, flush=True)
    if state["err"]:
        print(f"gap-receiver error: {state['err']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
