#!/usr/bin/env python3
# tests/elements/test_files_sim.py: p2psrc's random-access mode over the
# simulated network (issue 13). A P2pFileService runs in this process on a
# sim provider of the "default" network; the players' p2psrc elements join
# the same network (P2P_IMPLEMENTATION=sim, set by meson with the link
# model: 10 ms each way, 1 % loss, seed 13) and reach the service by its
# bare peer ID. Checked: PCM of uridecodebin uri=p2p://ID/path identical to
# a local decode (FLAC, Ogg/Opus, an M4A with its index at the end), the
# same duration, seeks to 50 % and 90 % landing where a local player lands,
# and a 3 s partition of the link mid-track after which the player resumes
# with the PCM still identical (the stall is printed).
# Exit 77 (skip) without gi/Gst or the P2p typelib.
import os
import shutil
import sys
import tempfile
import time
import unittest
import urllib.parse

import test_files as tf   # exits 77 without gi/Gst; runs Gst.init

try:
    import gi
    gi.require_version('P2p', '1.0')
    from gi.repository import GLib, P2p
except (ImportError, ValueError):
    sys.exit(77)

from gi.repository import Gst

LATENCY_MS = 10      # SIMULATOR_P2P_LATENCY_MS in tests/elements/meson.build
PARTITION_S = 3.0


class FilesSimTest(tf.TrackChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        assert os.environ.get('P2P_IMPLEMENTATION') == 'sim'
        assert os.environ.get('SIMULATOR_P2P_LATENCY_MS') == str(LATENCY_MS)
        cls.tmp = tempfile.mkdtemp(prefix='p2p-files-sim-')
        cls.root = os.path.join(cls.tmp, 'root')
        cls.files = tf.make_files(cls.root)
        cls.files.pop('03 mp3.mp3', None)   # no duration to seek in; QUIC covers it
        config = P2p.Config.new_from_env()
        cls.identity = P2p.Identity.new()
        cls.provider = P2p.Provider.new_from_config(cls.identity, config)
        cls.listener = cls.provider.listen(':0')
        cls.service = P2p.FileService.new(cls.root)
        cls.service.attach_listener(cls.listener)
        cls.peer_id = cls.identity.dup_peer_id_string()
        cls.net = cls.provider.get_network()
        cls.node = cls.provider.get_node()

    @classmethod
    def tearDownClass(cls):
        cls.service.stop()
        cls.listener.close()
        cls.listener = cls.service = cls.provider = None
        shutil.rmtree(cls.tmp)

    def remote(self, rel):
        return 'p2p://%s/%s' % (self.peer_id, urllib.parse.quote(rel))

    def test_decode_identical(self):
        self.check_decode_identical(2)

    def test_duration_and_seek(self):
        for name, rel in sorted(self.files.items()):
            with self.subTest(name=name):
                a, b = tf.Player(self.local(rel)), tf.Player(self.remote(rel))
                self.assertIsNone(b.error)
                self.assertIsNotNone(a.duration())
                self.assertEqual(b.duration(), a.duration())
                a.close()
                b.close()
            for frac in (0.5, 0.9):
                with self.subTest(name=name, frac=frac):
                    a, b = tf.Player(self.local(rel)), tf.Player(self.remote(rel))
                    pa, da = a.seek_first(frac)
                    pb, _ = b.seek_first(frac)
                    a.close()
                    b.close()
                    self.assertGreater(pa, 0)
                    self.assertLessEqual(abs(pb - pa), max(da, 1), name)

    def test_partition_3s_mid_track(self):
        """The link between the player's node and the service's node drops
        every packet for 3 s shortly after the first buffers, while the
        player keeps pulling (sync=false; the service's direction limited to
        4 Mbit/s so that most of the track is still to come): the player
        resumes (same connection, or a reconnect at its byte offset) and the
        PCM is identical to a local decode."""
        rel = self.files['01 flac.flac']
        expect = self.decode(self.local(rel))
        self.assertGreater(os.path.getsize(os.path.join(self.root, rel)), 1000000)
        nodes_before = self.net.get_n_nodes()
        p = Gst.parse_launch(
            'uridecodebin name=d uri="%s" ! audioconvert ! '
            'audio/x-raw,format=S16LE ! appsink name=s sync=false max-buffers=2'
            % self.remote(rel))
        sink = p.get_by_name('s')
        # a connection of its own (no kept one of an earlier player's), so
        # that its node is a new one
        p.get_by_name('d').connect('source-setup',
                                   lambda _bin, src: src.set_property('keep-alive', 0))
        p.set_state(Gst.State.PAUSED)
        p.get_state(tf.WAIT_S * Gst.SECOND)
        # the player's provider added its own node(s) after ours
        player_nodes = list(range(nodes_before + 1, self.net.get_n_nodes() + 1))
        self.assertGreaterEqual(len(player_nodes), 1)
        link = P2p.SimLinkParams()
        link.init()
        link.latency_ms = LATENCY_MS
        link.bandwidth_kbps = 4000
        link.queue_bytes = 256 * 1024
        for n in player_nodes:
            self.net.set_link(self.node, n, link)
        out = bytearray()
        stamps = []
        partitioned = [None, None]
        stats = {}
        p.set_state(Gst.State.PLAYING)
        try:
            while True:
                smp = sink.emit('try-pull-sample', tf.WAIT_S * Gst.SECOND)
                if smp is None:
                    self.assertTrue(sink.get_property('eos'))
                    break
                now = time.monotonic()
                stamps.append(now)
                out += smp.get_buffer().extract_dup(0, smp.get_buffer().get_size())
                if len(stamps) == 5:
                    stats['before'] = self.net.get_stats()
                    for n in player_nodes:
                        self.net.partition(self.node, n)
                    partitioned[0] = now
                if len(stamps) == 5:
                    # pull nothing until the outage is over: the player's
                    # own queues run dry meanwhile
                    time.sleep(PARTITION_S)
                    stats['after'] = self.net.get_stats()
                    for n in player_nodes:
                        self.net.heal(self.node, n)
                    partitioned[1] = time.monotonic()
            reconnects = 0
            while True:
                msg = p.get_bus().pop_filtered(Gst.MessageType.ERROR |
                                               Gst.MessageType.ELEMENT)
                if msg is None:
                    break
                self.assertNotEqual(msg.type, Gst.MessageType.ERROR,
                                    msg.type == Gst.MessageType.ERROR
                                    and msg.parse_error()[0].message)
                if msg.get_structure().get_name() == 'p2p-reconnect':
                    reconnects += 1
        finally:
            p.set_state(Gst.State.NULL)
            for n in player_nodes:
                self.net.heal(self.node, n)
                self.net.clear_link(self.node, n)
        self.assertIsNotNone(partitioned[1])
        # the partition really cut packets of this transfer
        before, after = stats['before'], stats['after']
        self.assertGreater(after.dropped_partition, before.dropped_partition)
        end = self.net.get_stats()
        # most of the track crossed the link after the heal
        size = os.path.getsize(os.path.join(self.root, rel))
        delivered = end.packets_delivered - after.packets_delivered
        self.assertGreater(delivered * 1452, size // 2)
        later = [t for t in stamps if t > partitioned[1]]
        stall = max(b - a for a, b in zip([partitioned[1]] + later, later))
        print('partition %.1f s at buffer 5 of %d: %d packets dropped, %d '
              'delivered after the heal (file %d bytes); longest gap between '
              'buffers after the heal %.2f s; %d reconnects' % (
                  PARTITION_S, len(stamps),
                  after.dropped_partition - before.dropped_partition,
                  delivered, size, stall, reconnects), file=sys.stderr)
        self.assertEqual(len(out), len(expect))
        self.assertTrue(bytes(out) == expect)


if __name__ == '__main__':
    unittest.main(verbosity=2)
