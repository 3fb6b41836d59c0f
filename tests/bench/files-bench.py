#!/usr/bin/python3
# tests/bench/files-bench.py: on-demand tracks (issue 13), p2p:// against
# HTTP on loopback (or across an emulated link, below) in the same run: time
# to the first decoded buffer, seek latency (seek to 50 % -> first buffer),
# and the time to read a large file whole, for p2psrc (a p2p-serve process)
# and souphttpsrc (python3's http.server with byte ranges,
# range-http-server.py) serving the same directory. These three with a new
# connection each (p2psrc keep-alive=0); "next" is the first buffer of a
# player started right after another one of the same peer stopped (the next
# track: p2psrc takes the connection that one left, keep-alive; each
# souphttpsrc connects anew).
# Two FLAC tracks of the same 60 s of noise: t.flac has a SEEKTABLE (a seek
# point every 10 s, as flac(1) writes and as flacenc writes when it knows
# the duration: here it encodes a WAV file), so a seek reads near its
# target; scan.flac has none (flacenc fed by a live-less audiotestsrc), so
# flacparse finds the target by reading from the start, about 5 MB for a
# seek to 50 % in either mode and over HTTP too: "seek-scan" is that worst
# case, a measure of the stream's throughput.
# p2psrc runs with its default pull-mode (true: flacparse pulls 64 KiB
# ranges); the "-push" figures with pull-mode=false (bytes pushed as they
# arrive, as souphttpsrc does). "first-opus"/"seek-opus": an Ogg/Opus
# track of the same noise. A seek counts to the first buffer at or after its
# target (oggdemux over souphttpsrc seeks in the background); a seek that
# is refused, or a track with no duration yet, prints as "no duration".
# HTTPS: the same server with TLS (python's ssl module, a throwaway
# self-signed certificate made with openssl; souphttpsrc ssl-strict=false)
# when openssl and GLib's TLS backend (glib-networking) are there: a
# baseline that encrypts too, printed as "https … ratio_https …" (the
# p2p:// link is always encrypted; plain HTTP is not).
#   tests/bench/files-bench.py BUILDDIR [RUNS] [--server-ns NS --host IP --label TEXT]
# Prints one line per figure: name, p2p median, http median, ratio.
# Both servers bind to --host (default 127.0.0.1); with --server-ns they run
# in that network namespace (ip netns exec) and the players in this
# process's namespace: tests/bench/files-link.sh runs it so across an
# emulated link with 50 ms RTT (tests/support/netfwd-link.sh).
import argparse, os, select, shutil, socket, statistics, subprocess, sys, tempfile, time
import gi
gi.require_version('Gst', '1.0')
gi.require_version('Gio', '2.0')
from gi.repository import Gio, Gst

ap = argparse.ArgumentParser()
ap.add_argument('build')
ap.add_argument('runs', nargs='?', type=int, default=7)
ap.add_argument('--server-ns', help='run the servers in this network namespace')
ap.add_argument('--host', default='127.0.0.1', help='the servers\' address (default 127.0.0.1)')
ap.add_argument('--label', default='loopback', help='what the link is, for the summary line')
args = ap.parse_args()
build = os.path.abspath(args.build)
runs = args.runs
host = args.host
prefix = ['ip', 'netns', 'exec', args.server_ns] if args.server_ns else []
os.environ['GST_PLUGIN_PATH'] = os.path.join(build, 'gst')
Gst.init(None)
WAIT = 30 * Gst.SECOND

def run(desc):
    p = Gst.parse_launch(desc)
    p.set_state(Gst.State.PLAYING)
    m = p.get_bus().timed_pop_filtered(WAIT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    assert m and m.type == Gst.MessageType.EOS, desc

def keep_alive(p, ms, pull='true'):
    """p2psrc's keep-alive (and pull-mode: true, false) for the sources of p's
    uridecodebin named d; souphttpsrc takes the HTTPS baseline's
    self-signed certificate."""
    def setup(_bin, src):
        # (souphttpsrc has a boolean keep-alive of its own: left as it is)
        if src.get_factory().get_name() == 'p2psrc':
            src.set_property('keep-alive', ms)
            Gst.util_set_object_arg(src, 'pull-mode', pull)
        elif src.get_factory().get_name() == 'souphttpsrc':
            src.set_property('ssl-strict', False)
    p.get_by_name('d').connect('source-setup', setup)

def make_tls_cert(d):
    """A throwaway self-signed certificate for the HTTPS baseline: the
    (cert, key) paths, or None without openssl or a GLib TLS backend."""
    if shutil.which('openssl') is None or not Gio.TlsBackend.get_default().supports_tls():
        return None
    cert, key = os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')
    r = subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj',
                        '/CN=files-bench', '-keyout', key, '-out', cert],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    return (cert, key) if r.returncode == 0 else None

def first_and_seek(uri, keep_ms=0, pull='true'):
    p = Gst.parse_launch('uridecodebin name=d uri="%s" ! audioconvert ! appsink name=s sync=false'
                         % uri)
    keep_alive(p, keep_ms, pull)
    s = p.get_by_name('s')
    t0 = time.monotonic()
    p.set_state(Gst.State.PLAYING)
    assert s.emit('try-pull-sample', WAIT)
    t1 = time.monotonic()
    ok, d = p.query_duration(Gst.Format.TIME)
    if not ok or d < 0:
        # (souphttpsrc's Ogg/Opus: oggdemux in push mode has no duration
        # yet, and refuses the seek)
        p.set_state(Gst.State.NULL)
        return t1 - t0, None
    t2 = time.monotonic()
    if not p.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.ACCURATE, d // 2):
        p.set_state(Gst.State.NULL)
        return t1 - t0, None
    # the first buffer at the target (a seek done in the background, as
    # oggdemux's in push mode, lets older buffers through first)
    for _ in range(10000):
        smp = s.emit('try-pull-sample', WAIT)
        assert smp
        buf = smp.get_buffer()
        at_target = buf.pts + buf.duration >= d // 2
        # (appsink of GStreamer 1.22 reuses its sample: one still held here
        # when it pulls the next made it warn "gst_sample_is_writable")
        smp = buf = None
        if at_target:
            break
    else:
        assert False, 'no buffer at the seek target'
    t3 = time.monotonic()
    p.set_state(Gst.State.NULL)
    return t1 - t0, t3 - t2

def bulk(uri):
    p = Gst.parse_launch('uridecodebin name=d uri="%s" caps=audio/x-flac ! fakesink' % uri)
    keep_alive(p, 0)
    t0 = time.monotonic()
    p.set_state(Gst.State.PLAYING)
    m = p.get_bus().timed_pop_filtered(WAIT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    assert m and m.type == Gst.MessageType.EOS, uri
    return time.monotonic() - t0

def next_track(uri):
    """The first buffer of a player started right after another one of the
    same peer stopped: p2psrc takes the connection it left (keep-alive);
    each souphttpsrc makes its own connection."""
    first_and_seek(uri, 5000)
    return first_and_seek(uri, 5000)[0]

def has_seektable(path):
    """Whether the FLAC file at path has a SEEKTABLE metadata block."""
    with open(path, 'rb') as f:
        assert f.read(4) == b'fLaC', path
        while True:
            head = f.read(4)
            assert len(head) == 4, path
            if head[0] & 0x7f == 3:
                return True
            if head[0] & 0x80:
                return False
            f.seek(int.from_bytes(head[1:], 'big'), 1)

tmp = tempfile.mkdtemp(prefix='p2p-files-bench-')
try:
    run('audiotestsrc num-buffers=2600 wave=white-noise ! audio/x-raw,rate=44100,channels=2 '
        '! flacenc ! filesink location=%s/scan.flac' % tmp)
    run('audiotestsrc num-buffers=2600 wave=white-noise ! audio/x-raw,rate=44100,channels=2 '
        '! wavenc ! filesink location=%s/t.wav' % tmp)
    run('filesrc location=%s/t.wav ! wavparse ! flacenc ! filesink location=%s/t.flac' % (tmp, tmp))
    run('filesrc location=%s/t.wav ! wavparse ! audioconvert ! audioresample ! opusenc ! oggmux '
        '! filesink location=%s/t.opus' % (tmp, tmp))
    os.unlink(tmp + '/t.wav')
    for name, table in (('t.flac', True), ('scan.flac', False)):
        assert has_seektable(tmp + '/' + name) == table, name
    size = os.path.getsize(tmp + '/t.flac')
    srv = subprocess.Popen(prefix + [os.path.join(build, 'tools', 'p2p-serve'), tmp, '--port', '0',
                                     '--bind-address', host],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if args.server_ns:
        port = 8080                    # the namespace is the script's own, empty
    else:
        s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
    server_py = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'range-http-server.py')
    http = subprocess.Popen(prefix + ['/usr/bin/python3', server_py, str(port), tmp, host],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers = [srv, http]
    certdir = tempfile.mkdtemp(prefix='p2p-files-bench-tls-')
    tls = make_tls_cert(certdir)
    https_port = port + 1 if args.server_ns else None
    if tls:
        if https_port is None:
            s = socket.socket(); s.bind(('127.0.0.1', 0)); https_port = s.getsockname()[1]; s.close()
        servers.append(subprocess.Popen(prefix + ['/usr/bin/python3', server_py, str(https_port),
                                                  tmp, host, tls[0], tls[1]],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    else:
        print('files-bench: no HTTPS baseline (needs openssl and glib-networking)')
    try:
        buf = b''
        while b'ticket: ' not in buf or not buf.endswith(b'\n'):
            r, _, _ = select.select([srv.stdout], [], [], 30)
            assert r
            buf += os.read(srv.stdout.fileno(), 4096)
        ticket = buf.decode().split('ticket: ')[1].split()[0]
        for p in [port] + ([https_port] if tls else []):
            for _ in range(100):       # the HTTP servers are up (bounded)
                try:
                    socket.create_connection((host, p), 1).close(); break
                except OSError:
                    time.sleep(0.05)
        uris = {'p2p': 'p2p://%s/t.flac' % ticket, 'http': 'http://%s:%d/t.flac' % (host, port)}
        if tls:
            uris['https'] = 'https://%s:%d/t.flac' % (host, https_port)
        figs = ('first', 'seek', 'bulk', 'next', 'first-push', 'seek-push', 'seek-scan',
                'seek-scan-push', 'first-opus', 'seek-opus')
        res = {k: {f: [] for f in figs} for k in uris}
        for _ in range(runs):
            for k, u in uris.items():
                f, sk = first_and_seek(u)
                res[k]['first'].append(f); res[k]['seek'].append(sk)
                res[k]['bulk'].append(bulk(u))
                res[k]['next'].append(next_track(u))
                if k == 'p2p':
                    # p2psrc pull-mode=false: the parsers in push mode, as
                    # over souphttpsrc (its figures are HTTP's first and seek)
                    f, sk = first_and_seek(u, 0, 'false')
                else:
                    f, sk = res[k]['first'][-1], res[k]['seek'][-1]
                res[k]['first-push'].append(f); res[k]['seek-push'].append(sk)
                scan = u.replace('/t.flac', '/scan.flac')
                res[k]['seek-scan'].append(first_and_seek(scan)[1])
                if k == 'p2p':
                    sk = first_and_seek(scan, 0, 'false')[1]
                else:
                    sk = res[k]['seek-scan'][-1]
                res[k]['seek-scan-push'].append(sk)
                f, sk = first_and_seek(u.replace('/t.flac', '/t.opus'))
                res[k]['first-opus'].append(f); res[k]['seek-opus'].append(sk)
        print('file %d bytes, %d runs, medians (%s)' % (size, runs, args.label))
        def med(k, fig):
            v = [x for x in res[k][fig] if x is not None]
            return statistics.median(v) if v else None
        for fig in figs:
            a, b = med('p2p', fig), med('http', fig)
            if a is None or b is None:
                # a seek without a duration to seek to half of
                print('%-14s %s' % (fig, ' '.join('%s %s' % (k, 'no duration' if med(k, fig) is None
                                                             else '%.1f ms' % (med(k, fig) * 1000))
                                                  for k in uris)))
                continue
            extra = ''
            if tls and med('https', fig) is not None:
                c = med('https', fig)
                extra = '  https %.1f ms  ratio_https %.2f' % (c * 1000, a / c)
            if fig == 'bulk':
                extra += '  (%.1f / %.1f%s Mbit/s)' % (size * 8 / a / 1e6, size * 8 / b / 1e6,
                                                      ' / %.1f' % (size * 8 / c / 1e6) if tls else '')
            print('%-14s p2p %.1f ms  http %.1f ms  ratio %.2f%s' % (fig, a * 1000, b * 1000, a / b, extra))
        if os.environ.get('FILES_BENCH_RAW'):
            for k in uris:
                for fig in figs:
                    print('raw %s %s %s' % (k, fig, ' '.join('-' if v is None else '%.1f' % (v * 1000)
                                                             for v in res[k][fig])))
    finally:
        for p in servers:
            p.terminate(); p.wait(10)
        shutil.rmtree(certdir)
finally:
    shutil.rmtree(tmp)
