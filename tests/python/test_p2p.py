#!/usr/bin/env python3
# test_p2p.py: the p2p-glib-1.0 library from Python through GObject
# introspection (PyGObject): identities, peer IDs, configuration, a listener
# and a dialer over the simulated network and over QUIC on 127.0.0.1:0,
# messages checked byte for byte, stats, graceful close with a reason, and
# errors raised as GLib.Error in the p2p-error-quark domain.
#
# Run by meson (suite 'python') with GI_TYPELIB_PATH and LD_LIBRARY_PATH set
# to the build directory. Exits 77 (skipped) only when python3-gi is missing.
# SPDX-License-Identifier: LGPL-2.1-or-later
import hashlib
import os
import random
import re
import subprocess
import sys
import threading
import unittest

try:
    import gi
except ImportError:
    print("SKIP: python3-gi (PyGObject) is not installed", file=sys.stderr)
    sys.exit(77)

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
gi.require_version("P2p", "1.0")
from gi.repository import GLib, GObject, Gio, P2p  # noqa: E402

# Every wait on the network is bounded by this many seconds.
TIMEOUT_S = 20


class AsyncWaiter:
    """Runs a GLib.MainLoop until every started async call has completed,
    failing the test if that takes longer than TIMEOUT_S."""

    def __init__(self, test):
        self.test = test
        self.results = {}
        self.pending = set()
        self.loop = GLib.MainLoop()

    def callback(self, name):
        self.pending.add(name)

        def done(source, result, *user_data):
            self.results[name] = (source, result)
            self.pending.discard(name)
            if not self.pending:
                self.loop.quit()

        return done

    def run(self):
        timed_out = []

        def on_timeout():
            timed_out.append(True)
            self.loop.quit()
            return GLib.SOURCE_REMOVE

        if self.pending:
            tid = GLib.timeout_add_seconds(TIMEOUT_S, on_timeout)
            self.loop.run()
            if not timed_out:
                GLib.source_remove(tid)
        if timed_out:
            self.test.fail("timed out after %d s waiting for %s"
                           % (TIMEOUT_S, ", ".join(sorted(self.pending))))
        return self.results


def receive(test, conn):
    """Next message of @conn as bytes (receive_async, bounded)."""
    w = AsyncWaiter(test)
    conn.receive_async(None, w.callback("receive"))
    _, result = w.run()["receive"]
    return conn.receive_finish(result).get_data()


def assert_p2p_error(test, cm, code, *needles):
    err = cm.exception
    test.assertEqual(err.domain, "p2p-error-quark")
    test.assertEqual(err.code, int(code), err.message)
    test.assertTrue(err.matches(P2p.error_quark(), code))
    for n in needles:
        test.assertIn(n, err.message)


class Endpoints:
    """A listening and a dialing provider, and one connection between them."""

    def __init__(self, test, config, listen_address, dial_target):
        self.server_id = P2p.Identity.new()
        self.client_id = P2p.Identity.new()
        self.server = P2p.Provider.new_from_config(self.server_id, config)
        self.client = P2p.Provider.new_from_config(self.client_id, config)
        self.listener = self.server.listen(listen_address)
        self.config = config
        self.target = target = dial_target(self)
        w = AsyncWaiter(test)
        self.listener.accept_async(None, w.callback("accept"))
        self.client.connect_async(target, None, w.callback("connect"))
        results = w.run()
        self.accepted = self.listener.accept_finish(results["accept"][1])
        self.dialed = self.client.connect_finish(results["connect"][1])

    def close(self):
        # Connections and listeners go before their providers.
        for c in (self.dialed, self.accepted):
            c.close("test over")
        self.listener.close()
        self.dialed = self.accepted = self.listener = None
        self.client = self.server = None


class TestValues(unittest.TestCase):
    """Identity, peer IDs, tickets, configuration: no network."""

    def test_identity_and_peer_id(self):
        ident = P2p.Identity.new()
        text = ident.dup_peer_id_string()
        self.assertEqual(len(text), 55)
        self.assertEqual(text, text.lower())
        pid = ident.get_peer_id()
        self.assertEqual(len(pid.key), 32)
        self.assertEqual(pid.to_string(), text)
        parsed = P2p.PeerId.parse(text.upper())
        self.assertTrue(parsed.equal(pid))
        self.assertEqual(bytes(parsed.key), bytes(pid.key))
        self.assertEqual(parsed.hash(), pid.hash())
        other = P2p.Identity.new()
        self.assertFalse(other.get_peer_id().equal(pid))

    def test_sign_verify(self):
        ident = P2p.Identity.new()
        data = bytes(range(256))
        sig = ident.sign(GLib.Bytes.new(data)).get_data()
        self.assertEqual(len(sig), 64)
        self.assertTrue(P2p.Identity.verify(ident.get_peer_id(), data, sig))
        self.assertFalse(P2p.Identity.verify(ident.get_peer_id(), data[:-1], sig))
        self.assertFalse(P2p.Identity.verify(P2p.Identity.new().get_peer_id(), data, sig))
        with self.assertRaises(ValueError):  # a signature has exactly 64 bytes
            P2p.Identity.verify(ident.get_peer_id(), data, sig[:63])

    def test_peer_info_forms(self):
        ident = P2p.Identity.new()
        text = ident.dup_peer_id_string()
        info = P2p.PeerInfo.parse(text + "@127.0.0.1:8800")
        self.assertTrue(info.get_peer_id().equal(ident.get_peer_id()))
        self.assertEqual(info.get_addresses(), ["127.0.0.1:8800"])
        self.assertIsNone(info.get_relay())
        info.add_address("[::1]:9000")
        info.set_relay("turn://u:p@example.org:3478")
        ticket = info.to_ticket()
        self.assertTrue(ticket.startswith("p2p1"))
        back = P2p.PeerInfo.parse(ticket)
        self.assertEqual(back.get_addresses(), ["127.0.0.1:8800", "[::1]:9000"])
        self.assertEqual(back.get_relay(), "turn://u:p@example.org:3478")
        bare = P2p.PeerInfo.parse(text)
        self.assertEqual(bare.get_addresses(), [])
        ok, host, port = P2p.parse_host_port("[::1]:443")
        self.assertEqual((ok, host, port), (True, "::1", 443))

    def test_config(self):
        c = P2p.Config.new_from_environ([
            "P2P_IMPLEMENTATION=sim", "P2P_LISTEN_PORT=0",
            "P2P_BOOTSTRAP_PEERS=ws://127.0.0.1:1/a,ws://127.0.0.1:2/b",
            "SIMULATOR_P2P_LATENCY_MS=7", "SIMULATOR_P2P_SEED=42"])
        self.assertEqual(c.implementation, P2p.Implementation.SIM)
        self.assertEqual(c.listen_port, 0)
        self.assertEqual(c.bootstrap_peers, ["ws://127.0.0.1:1/a", "ws://127.0.0.1:2/b"])
        self.assertEqual(c.sim_latency_ms, 7)
        self.assertEqual(c.sim_seed, 42)
        d = P2p.Config.new()
        self.assertEqual(d.implementation, P2p.Implementation.QUIC)
        self.assertEqual(d.listen_port, 8800)
        self.assertEqual(P2p.Config.new_from_environ(None).max_connections, 64)

    def test_malformed_peer_id(self):
        with self.assertRaises(GLib.Error) as cm:
            P2p.PeerInfo.parse("not-a-peer-id")
        assert_p2p_error(self, cm, P2p.Error.INVALID_ARGUMENT)
        self.assertTrue(cm.exception.message)
        with self.assertRaises(GLib.Error) as cm:
            P2p.PeerId.parse("abc")
        assert_p2p_error(self, cm, P2p.Error.INVALID_ARGUMENT, "55 characters", "got 3")
        # one changed character: caught by the checksum, never another ID
        text = P2p.Identity.new().dup_peer_id_string()
        typo = text[:10] + ("a" if text[10] != "a" else "b") + text[11:]
        with self.assertRaises(GLib.Error) as cm:
            P2p.PeerId.parse(typo)
        assert_p2p_error(self, cm, P2p.Error.INVALID_ARGUMENT)
        with self.assertRaises(GLib.Error) as cm:
            P2p.PeerId.parse(text[:20] + "!" + text[21:])
        assert_p2p_error(self, cm, P2p.Error.INVALID_ARGUMENT, "'!'")
        with self.assertRaises(GLib.Error) as cm:
            P2p.PeerInfo.parse(text + "@127.0.0.1:99999")
        assert_p2p_error(self, cm, P2p.Error.INVALID_ARGUMENT, "99999")

    def test_bad_config_value(self):
        with self.assertRaises(GLib.Error) as cm:
            P2p.Config.new_from_environ(["P2P_LISTEN_PORT=abc"])
        assert_p2p_error(self, cm, P2p.Error.INVALID_ARGUMENT, "P2P_LISTEN_PORT", "abc")
        with self.assertRaises(GLib.Error) as cm:
            P2p.Config.new_from_environ(["SIMULATOR_P2P_PACKET_LOSS=2"])
        assert_p2p_error(self, cm, P2p.Error.INVALID_ARGUMENT, "SIMULATOR_P2P_PACKET_LOSS")

    def test_error_names(self):
        self.assertEqual(P2p.error_code_to_string(P2p.Error.CLOSED), "CLOSED")
        self.assertEqual(P2p.error_code_to_string(P2p.Error.NOT_SUPPORTED), "NOT_SUPPORTED")
        self.assertEqual(P2p.path_kind_to_string(P2p.PathKind.RELAY), "relay")


class ConnectionTests:
    """Shared by the simulator and QUIC cases: a subclass sets make()."""

    path_kind = None

    def setUp(self):
        self.ep = self.make()

    def tearDown(self):
        if self.ep is not None:
            self.ep.close()
            self.ep = None

    def test_messages_byte_for_byte(self):
        ep = self.ep
        rng = random.Random(7)
        messages = [
            b"hello from python",
            bytes(range(256)),                 # every byte value, NULs included
            b"\x00" * 17,
            "h\u00e9llo \u2603".encode("utf-8"),
            rng.randbytes(200 * 1024),         # several QUIC packets
        ]
        for m in messages:
            self.assertTrue(ep.dialed.send(GLib.Bytes.new(m), None))
        for m in messages:
            got = receive(self, ep.accepted)
            self.assertEqual(len(got), len(m))
            self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(m).hexdigest())
            self.assertEqual(got, m)
        # and back the other way, with send_async
        reply = rng.randbytes(4096)
        w = AsyncWaiter(self)
        ep.accepted.send_async(GLib.Bytes.new(reply), None, w.callback("send"))
        _, result = w.run()["send"]
        self.assertTrue(ep.accepted.send_finish(result))
        self.assertEqual(receive(self, ep.dialed), reply)

        # the blocking receive, bounded by a cancellable
        ep.dialed.send(GLib.Bytes.new(b"sync"), None)
        cancellable = Gio.Cancellable()
        timer = threading.Timer(TIMEOUT_S, cancellable.cancel)
        timer.start()
        try:
            self.assertEqual(ep.accepted.receive(cancellable).get_data(), b"sync")
        finally:
            timer.cancel()

        # peer IDs are the authenticated keys
        self.assertTrue(ep.dialed.get_peer_id().equal(ep.server_id.get_peer_id()))
        self.assertTrue(ep.accepted.get_peer_id().equal(ep.client_id.get_peer_id()))
        self.assertTrue(ep.client.get_local_peer_id().equal(ep.client_id.get_peer_id()))

        # protocol evolution (docs/protocol.md 3.1): version and capabilities
        for conn in (ep.dialed, ep.accepted):
            self.assertEqual(conn.get_protocol_version(), 1)
            self.assertTrue(conn.has_capability("files"))
            self.assertEqual(conn.list_capabilities(), ["files", "stream-position", "datagram-epoch"])
            self.assertFalse(conn.has_capability("no-such-feature"))

        stats = ep.dialed.get_stats()
        self.assertIsInstance(stats, P2p.ConnectionStats)
        self.assertEqual(stats.path_kind, self.path_kind)
        self.assertEqual(stats.messages_sent, len(messages) + 1)
        self.assertEqual(stats.messages_received, 1)
        self.assertGreater(stats.bytes_sent, sum(len(m) for m in messages))
        self.assertGreater(stats.bytes_received, len(reply))
        self.assertGreater(stats.rtt_us, 0)
        self.assertGreaterEqual(stats.rtt_us, self.min_rtt_us)
        self.assertGreater(stats.packets_sent, 0)
        self.assertGreater(stats.setup_time_us, 0)
        rstats = ep.accepted.get_stats()
        self.assertEqual(rstats.messages_received, len(messages) + 1)
        self.assertEqual(rstats.path_kind, self.path_kind)
        self.assertEqual(P2p.path_kind_to_string(stats.path_kind), self.path_name)
        # no path change here; a direct path was direct once set up
        self.assertEqual((stats.path_changes, rstats.path_changes), (0, 0))
        want = stats.setup_time_us if self.path_kind == P2p.PathKind.DIRECT else 0
        self.assertEqual(stats.direct_path_time_us, want)
        # "path-changed" gives the old and the new kind
        q = GObject.signal_query("path-changed", P2p.Connection)
        self.assertEqual([t.name for t in q.param_types], ["P2pPathKind", "P2pPathKind"])

    def test_close_with_reason(self):
        ep = self.ep
        self.assertTrue(ep.accepted.is_connected())
        ep.dialed.send(GLib.Bytes.new(b"last words"), None)
        ep.dialed.close("bye from python")
        # queued messages are delivered before the Disconnect
        self.assertEqual(receive(self, ep.accepted), b"last words")
        with self.assertRaises(GLib.Error) as cm:
            receive(self, ep.accepted)
        assert_p2p_error(self, cm, P2p.Error.CLOSED, "bye from python")
        # the side that was closed is closed for good
        self.assertFalse(ep.accepted.is_connected())
        with self.assertRaises(GLib.Error) as cm:
            ep.accepted.send(GLib.Bytes.new(b"too late"), None)
        assert_p2p_error(self, cm, P2p.Error.CLOSED)
        with self.assertRaises(GLib.Error) as cm:
            receive(self, ep.accepted)
        assert_p2p_error(self, cm, P2p.Error.CLOSED, "bye from python")

    def test_datagrams_and_signals(self):
        # signals are emitted on the provider's network thread: the handlers
        # only record and set an event
        ep = self.ep
        got, arrived, closed, close_errors = [], threading.Event(), threading.Event(), []

        def on_datagram(conn, data):
            got.append(data.get_data())
            arrived.set()

        def on_closed(conn, error):
            close_errors.append(error)
            closed.set()

        ep.accepted.connect("datagram-received", on_datagram)
        ep.dialed.connect("closed", on_closed)
        max_size = ep.dialed.get_max_datagram_size()
        self.assertGreater(max_size, 1000)
        sent = [b"\x00datagram %d\xff" % i for i in range(5)]
        for d in sent:  # unreliable: a few, at least one must arrive
            self.assertTrue(ep.dialed.send_datagram(GLib.Bytes.new(d)))
        self.assertTrue(arrived.wait(TIMEOUT_S), "no datagram arrived")
        for d in list(got):
            self.assertIn(d, sent)
        with self.assertRaises(GLib.Error) as cm:
            ep.dialed.send_datagram(GLib.Bytes.new(bytes(max_size + 1)))
        assert_p2p_error(self, cm, P2p.Error.LIMIT_EXCEEDED, str(max_size))
        ep.dialed.close("done")
        self.assertTrue(closed.wait(TIMEOUT_S), "no closed signal")
        self.assertEqual(close_errors, [None])  # a normal close
        self.assertFalse(ep.dialed.is_connected())

    def test_connect_errors(self):
        ep = self.ep
        w = AsyncWaiter(self)
        ep.client.connect_async("definitely not a peer", None, w.callback("connect"))
        _, result = w.run()["connect"]
        with self.assertRaises(GLib.Error) as cm:
            ep.client.connect_finish(result)
        assert_p2p_error(self, cm, P2p.Error.INVALID_ARGUMENT)
        with self.assertRaises(GLib.Error) as cm:
            ep.server.listen("nonsense:port")
        assert_p2p_error(self, cm, P2p.Error.INVALID_ARGUMENT, "nonsense:port")
        too_big = GLib.Bytes.new(bytes(1024 * 1024 + 1))
        with self.assertRaises(GLib.Error) as cm:
            ep.dialed.send(too_big, None)
        assert_p2p_error(self, cm, P2p.Error.LIMIT_EXCEEDED)

    def test_accept_after_listener_close(self):
        ep = self.ep
        ep.listener.close()
        w = AsyncWaiter(self)
        ep.listener.accept_async(None, w.callback("accept"))
        _, result = w.run()["accept"]
        with self.assertRaises(GLib.Error) as cm:
            ep.listener.accept_finish(result)
        assert_p2p_error(self, cm, P2p.Error.CLOSED)


class TestSim(ConnectionTests, unittest.TestCase):
    """Over the simulator: P2P_IMPLEMENTATION=sim, 5 ms each way."""

    path_kind = P2p.PathKind.SIMULATED
    path_name = "simulated"
    min_rtt_us = 10000

    def make(self):
        config = P2p.Config.new_from_environ([
            "P2P_IMPLEMENTATION=sim", "SIMULATOR_P2P_LATENCY_MS=5",
            "SIMULATOR_P2P_SEED=3"])
        # the sim provider finds the listener by its peer ID
        return Endpoints(self, config, ":0",
                         lambda ep: ep.server_id.dup_peer_id_string())


class TestQuic(ConnectionTests, unittest.TestCase):
    """Over real QUIC on loopback: ID@127.0.0.1:PORT with the bound port."""

    path_kind = P2p.PathKind.DIRECT
    path_name = "direct"
    min_rtt_us = 1

    def make(self):
        config = P2p.Config.new_from_environ(["P2P_IMPLEMENTATION=quic"])

        def target(ep):
            addr = ep.listener.get_local_address()
            self.assertIsInstance(addr, Gio.InetSocketAddress)
            port = addr.get_port()
            self.assertGreater(port, 0)
            return "%s@127.0.0.1:%d" % (ep.server_id.dup_peer_id_string(), port)

        return Endpoints(self, config, "127.0.0.1:0", target)

    def test_connect_sync(self):
        """The blocking dial from Python: provider.connect_sync() (GObject's
        connect() hides a method named connect; found in a Python
        walkthrough)."""
        ep = self.ep
        client = P2p.Provider.new_from_config(P2p.Identity.new(), ep.config)
        conn = client.connect_sync(ep.target, None)
        self.assertTrue(conn.is_connected())
        self.assertTrue(conn.get_peer_id().equal(ep.server_id.get_peer_id()))
        conn.close("done")

    def test_ticket(self):
        ticket = self.ep.listener.get_ticket()
        info = P2p.PeerInfo.parse(ticket)
        self.assertTrue(info.get_peer_id().equal(self.ep.server_id.get_peer_id()))
        port = self.ep.listener.get_local_address().get_port()
        self.assertTrue(any(a.endswith(":%d" % port) for a in info.get_addresses()))


class TestFileService(unittest.TestCase):
    """Issue 13: P2pFileService and the file client from Python, over the
    simulator and over real QUIC on loopback."""

    def serve(self, config, listen, target):
        import tempfile
        self.tmp = tempfile.mkdtemp(prefix="p2p-py-files-")
        os.makedirs(os.path.join(self.tmp, "Album"))
        self.data = bytes(random.Random(13).getrandbits(8) for _ in range(200000))
        with open(os.path.join(self.tmp, "Album", "01 track.flac"), "wb") as f:
            f.write(self.data)
        ep = Endpoints(self, config, listen, target)
        service = P2p.FileService.new(self.tmp)
        service.props.max_streams_per_peer = 4
        service.serve_connection(ep.accepted)
        return ep, service

    def check(self, ep, service):
        try:
            entries = P2p.file_client_list(ep.dialed, "Album", None)
            self.assertEqual([(e.get_name(), e.get_size(), e.get_file_type())
                              for e in entries],
                             [("01 track.flac", 200000, Gio.FileType.REGULAR)])
            data, hdr = P2p.file_client_get(ep.dialed, "Album/01 track.flac",
                                            1000, 5000, None)
            self.assertEqual(data.get_data(), self.data[1000:6000])
            self.assertEqual(hdr.size, 200000)
            for path, code, text in [
                    ("Album/../x", P2p.FileStatus.BAD_PATH, 'path component 2 is ".."'),
                    ("nope", P2p.FileStatus.NOT_FOUND, '"nope": no such file'),
                    ("Album", P2p.FileStatus.IS_DIRECTORY, '"Album" is a directory')]:
                with self.assertRaises(GLib.Error) as cm:
                    P2p.file_client_get(ep.dialed, path, 0, 10, None)
                self.assertTrue(cm.exception.matches(P2p.file_status_quark(), code))
                self.assertIn(text, cm.exception.message)
            self.assertGreaterEqual(service.props.requests, 4)
        finally:
            ep.close()
            service.stop()
            import shutil
            shutil.rmtree(self.tmp)

    def test_constructor(self):
        """P2p.FileService(root=...) (g_object_new, what PyGObject calls)
        resolves the root as p2p_file_service_new() does; without a usable
        root it warns and will refuse connections saying why (it answered
        every request with "Bad address": found in a new-user
        walkthrough)."""
        import subprocess
        import tempfile
        tmp = tempfile.mkdtemp(prefix="p2p-py-root-")
        cwd = os.getcwd()
        try:
            os.chdir(os.path.dirname(tmp))
            service = P2p.FileService(root=os.path.basename(tmp))
            self.assertEqual(service.get_root(), os.path.realpath(tmp))
        finally:
            os.chdir(cwd)
            os.rmdir(tmp)
        env = dict(os.environ)
        env.pop("G_DEBUG", None)
        for args, text in (("", "no directory to serve"),
                           ("root='/nonexistent-p2p-root'", "No such file or directory")):
            code = ("import gi; gi.require_version('P2p', '1.0'); "
                    "from gi.repository import P2p; s = P2p.FileService(%s); "
                    "print('root', s.get_root())" % args)
            r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(text, r.stderr)

    def test_allowed_peers_and_path_check(self):
        """set_allowed_peers(None) means every peer, " , " (names nobody)
        is an error as for P2P_ALLOWED_PEERS; file_path_check() takes
        bytes (before: None refused by the binding, " , " accepted as
        everyone, and the path read as pointer bytes; found in a Python
        walkthrough)."""
        import tempfile
        tmp = tempfile.mkdtemp(prefix="p2p-py-allow-")
        try:
            service = P2p.FileService(root=tmp)
            self.assertTrue(service.set_allowed_peers(None))
            self.assertTrue(service.set_allowed_peers(P2p.Identity.new().dup_peer_id_string()))
            # spaces, newlines and a trailing comma separate too, as always
            self.assertTrue(service.set_allowed_peers("%s %s\n%s," % tuple(
                P2p.Identity.new().dup_peer_id_string() for _ in range(3))))
            with self.assertRaises(GLib.Error) as cm:
                service.set_allowed_peers(" , ")
            assert_p2p_error(self, cm, P2p.Error.INVALID_ARGUMENT)
            self.assertIn("names no peer ID", cm.exception.message)
        finally:
            os.rmdir(tmp)
        self.assertTrue(P2p.file_path_check(b"Artist/Album/01.flac"))
        with self.assertRaises(GLib.Error) as cm:
            P2p.file_path_check(b"Artist/../x")
        self.assertIn('".."', cm.exception.message)

    def test_quic(self):
        def target(ep):
            port = ep.listener.get_local_address().get_port()
            return "%s@127.0.0.1:%d" % (ep.server_id.dup_peer_id_string(), port)
        self.check(*self.serve(P2p.Config.new_from_environ(["P2P_IMPLEMENTATION=quic"]),
                               "127.0.0.1:0", target))

    def test_stop_says_why(self):
        """A player's connection to a service that stops learns why: its
        next request fails with "the file service stopped" (it got no
        answer, and the close said "connection closed": found in a Python
        embedder's walkthrough). A connection the application handed in
        (serve_connection) stays the application's: stop() leaves it open."""
        import shutil
        import tempfile
        tmp = tempfile.mkdtemp(prefix="p2p-py-stop-")
        with open(os.path.join(tmp, "a.bin"), "wb") as f:
            f.write(b"x" * 100000)
        config = P2p.Config.new_from_environ(["P2P_IMPLEMENTATION=quic", "P2P_MDNS=0"])
        server = P2p.Provider.new_from_config(P2p.Identity.new(), config)
        client = P2p.Provider.new_from_config(P2p.Identity.new(), config)
        listener = server.listen("127.0.0.1:0")
        service = P2p.FileService.new(tmp)
        service.attach_listener(listener)
        conn = client.connect_sync(listener.get_ticket(), None)
        closed = threading.Event()
        conn.connect("closed", lambda *_: closed.set())
        cancel = Gio.Cancellable()
        timer = threading.Timer(10.0, cancel.cancel)     # (bounded)
        timer.start()
        try:
            data, _ = P2p.file_client_get(conn, "a.bin", 0, 10, cancel)
            self.assertEqual(data.get_data(), b"x" * 10)
            service.stop()
            self.assertTrue(closed.wait(10), "the connection was not closed")
            with self.assertRaises(GLib.Error) as cm:
                P2p.file_client_get(conn, "a.bin", 0, 10, cancel)
            self.assertIn("the file service stopped", cm.exception.message)
        finally:
            timer.cancel()
            conn.close("done")
            listener.close()
            del conn, listener, service
            shutil.rmtree(tmp)
        # handed in: still connected after stop()
        ep, service = self.serve(P2p.Config.new_from_environ(["P2P_IMPLEMENTATION=quic"]),
                                 "127.0.0.1:0", lambda ep: "%s@127.0.0.1:%d" % (
                                     ep.server_id.dup_peer_id_string(),
                                     ep.listener.get_local_address().get_port()))
        cancel = Gio.Cancellable()
        timer = threading.Timer(10.0, cancel.cancel)     # (bounded)
        timer.start()
        try:
            service.stop()
            # a message still goes through it, both ways
            self.assertTrue(ep.dialed.send(GLib.Bytes.new(b"still here"), cancel))
            self.assertEqual(ep.accepted.receive(cancel).get_data(), b"still here")
            self.assertTrue(ep.accepted.send(GLib.Bytes.new(b"yes"), cancel))
            self.assertEqual(ep.dialed.receive(cancel).get_data(), b"yes")
            self.assertTrue(ep.accepted.is_connected())
        finally:
            timer.cancel()
            ep.close()
            shutil.rmtree(self.tmp)

    def test_sim(self):
        config = P2p.Config.new_from_environ([
            "P2P_IMPLEMENTATION=sim", "SIMULATOR_P2P_LATENCY_MS=5",
            "SIMULATOR_P2P_SEED=3"])
        self.check(*self.serve(config, ":0",
                               lambda ep: ep.server_id.dup_peer_id_string()))


class TestSimNetworkVirtualTime(unittest.TestCase):
    """A network in MANUAL clock mode driven from Python: virtual time only
    advances in run_until_cond(), and the same seed gives the same trace."""

    def run_once(self, seed):
        net = P2p.SimNetwork.new(seed)
        net.set_trace(True)
        link = P2p.SimLinkParams()
        link.init()
        link.latency_ms = 25
        link.jitter_ms = 5
        link.loss = 0.05
        net.set_default_link(link)
        self.assertEqual(net.get_default_link().latency_ms, 25)
        a, b = P2p.Identity.new(), P2p.Identity.new()
        pa = P2p.SimProvider.new(net, a, None)
        pb = P2p.SimProvider.new(net, b, None)
        self.assertEqual((pa.get_node(), pb.get_node()), (1, 2))
        listener = pa.listen(":0")
        conns = {}
        listener.accept_async(None, lambda s, r, *u: conns.__setitem__(
            "a", listener.accept_finish(r)))
        pb.connect_async(a.dup_peer_id_string(), None, lambda s, r, *u: conns.__setitem__(
            "b", pb.connect_finish(r)))
        self.assertTrue(net.run_until_cond(lambda *d: len(conns) == 2, None, 30 * 10**9))
        self.assertGreaterEqual(net.now(), 50 * 10**6)  # at least one round trip
        payload = random.Random(seed).randbytes(50000)
        conns["b"].send(GLib.Bytes.new(payload), None)
        got = []
        conns["a"].receive_async(None, lambda s, r, *u: got.append(
            conns["a"].receive_finish(r).get_data()))
        self.assertTrue(net.run_until_cond(lambda *d: bool(got), None, 30 * 10**9))
        self.assertEqual(got, [payload])
        stats = conns["b"].get_stats()
        self.assertEqual(stats.path_kind, P2p.PathKind.SIMULATED)
        self.assertGreaterEqual(stats.rtt_us, 50000)
        net_stats = net.get_stats()
        self.assertGreater(net_stats.packets_delivered, 0)
        self.assertGreaterEqual(net_stats.packets_sent, net_stats.packets_delivered
                                - net_stats.packets_duplicated)
        trace_hash = net.get_trace_hash()
        for c in conns.values():
            c.close("bye")
        net.run_until_idle(10 * 10**9)
        listener.close()
        conns.clear()
        del listener, pa, pb
        net.run_until_idle(10 * 10**9)
        return trace_hash

    def test_provider_stats(self):
        """Issue 18: p2p_provider_get_stats() from Python (an a{sv} that
        unpacks to a dict) after one dial that fails and one that succeeds,
        then a close: counted on both sides, by outcome and path."""
        net = P2p.SimNetwork.new(7)
        a, b = P2p.Identity.new(), P2p.Identity.new()
        pa = P2p.SimProvider.new(net, a, None)
        pb = P2p.SimProvider.new(net, b, None)
        self.assertEqual(pa.get_stats().unpack()["accepts"], 0)
        listener = pa.listen(":0")
        done = {}
        pb.connect_async(P2p.Identity.new().dup_peer_id_string(), None,
                         lambda s, r, *u: self._finish(done, "nobody", pb, r))
        self.assertTrue(net.run_until_cond(lambda *d: "nobody" in done, None, 30 * 10**9))
        self.assertIsInstance(done["nobody"], GLib.Error)
        listener.accept_async(None, lambda s, r, *u: done.__setitem__(
            "a", listener.accept_finish(r)))
        pb.connect_async(a.dup_peer_id_string(), None,
                         lambda s, r, *u: self._finish(done, "b", pb, r))
        self.assertTrue(net.run_until_cond(lambda *d: "a" in done and "b" in done,
                                           None, 30 * 10**9))
        sa, sb = pa.get_stats().unpack(), pb.get_stats().unpack()
        self.assertEqual((sa["accepts"], sa["established"], sa["active"]), (1, 1, 1))
        self.assertEqual((sa["paths-simulated"], sa["paths-direct"]), (1, 0))
        self.assertEqual((sb["dials-ok"], sb["dials-failed"]), (1, 1))
        self.assertEqual(sb["dials-failed-by-error"], {"peer-not-found": 1})
        self.assertEqual(sb["setup-ms-buckets"][-1], (2**32 - 1, 1))
        done["b"].close("bye")
        self.assertTrue(net.run_until_cond(
            lambda *d: pa.get_stats().unpack()["closed"] == 1, None, 30 * 10**9))
        sa = pa.get_stats().unpack()
        self.assertEqual((sa["active"], sa["accepts"]), (0, 1))
        listener.close()
        done.clear()
        net.run_until_idle(10 * 10**9)

    @staticmethod
    def _finish(done, key, provider, result):
        try:
            done[key] = provider.connect_finish(result)
        except GLib.Error as e:
            done[key] = e

    def test_same_seed_same_trace(self):
        self.assertEqual(self.run_once(11), self.run_once(11))

    def test_bad_link(self):
        net = P2p.SimNetwork.new(1)
        link = P2p.SimLinkParams()
        link.init()
        link.loss = 2.0
        with self.assertRaises(GLib.Error) as cm:
            net.set_default_link(link)
        assert_p2p_error(self, cm, P2p.Error.INVALID_ARGUMENT, "loss")


class TestDocExample(unittest.TestCase):
    """The complete example of docs/python.md runs and prints what it says."""

    def test_doc_example(self):
        doc = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "..", "..", "docs", "python.md")
        with open(doc, encoding="utf-8") as f:
            blocks = re.findall(r"^```python\n(.*?)^```", f.read(), re.S | re.M)
        self.assertEqual(len(blocks), 1, "docs/python.md has one python example")
        run = subprocess.run([sys.executable, "-c", blocks[0]], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("alice received 1035 bytes intact", run.stdout)
        self.assertIn("path direct", run.stdout)
        self.assertIn("bob closed: bye", run.stdout)
        self.assertIn("rejected: a peer ID has 55 characters", run.stdout)
        self.assertTrue(run.stdout.endswith("done\n"), run.stdout)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
