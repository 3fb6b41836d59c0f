#!/usr/bin/python3
# tests/bench/files-bench.py: on-demand tracks (issue 13), p2p:// against
# HTTP on loopback in the same run: time to the first decoded buffer and
# seek latency (seek to 50 % -> first buffer), and the time to read a large
# file whole, for p2psrc (a p2p-serve process) and souphttpsrc (python3's
# http.server with byte ranges, range-http-server.py) serving the same directory.
#   tests/bench/files-bench.py BUILDDIR [RUNS]
# Prints one line per figure: name, p2p median, http median, ratio.
# (No netem link here: the 50 ms RTT figures of the issue are not measured.)
import os, select, shutil, socket, statistics, subprocess, sys, tempfile, time
import gi
gi.require_version('Gst', '1.0')
from gi.repository import Gst

build = os.path.abspath(sys.argv[1])
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
os.environ['GST_PLUGIN_PATH'] = os.path.join(build, 'gst')
Gst.init(None)
WAIT = 30 * Gst.SECOND

def run(desc):
    p = Gst.parse_launch(desc)
    p.set_state(Gst.State.PLAYING)
    m = p.get_bus().timed_pop_filtered(WAIT, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    assert m and m.type == Gst.MessageType.EOS, desc

def first_and_seek(uri):
    p = Gst.parse_launch('uridecodebin uri="%s" ! audioconvert ! appsink name=s sync=false' % uri)
    s = p.get_by_name('s')
    t0 = time.monotonic()
    p.set_state(Gst.State.PLAYING)
    assert s.emit('try-pull-sample', WAIT)
    t1 = time.monotonic()
    ok, d = p.query_duration(Gst.Format.TIME)
    t2 = time.monotonic()
    p.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.ACCURATE, d // 2)
    assert s.emit('try-pull-sample', WAIT)
    t3 = time.monotonic()
    p.set_state(Gst.State.NULL)
    return t1 - t0, t3 - t2

def bulk(uri):
    t0 = time.monotonic()
    run('uridecodebin uri="%s" caps=audio/x-flac ! fakesink' % uri)
    return time.monotonic() - t0

tmp = tempfile.mkdtemp(prefix='p2p-files-bench-')
try:
    run('audiotestsrc num-buffers=2600 wave=white-noise ! audio/x-raw,rate=44100,channels=2 '
        '! flacenc ! filesink location=%s/t.flac' % tmp)
    size = os.path.getsize(tmp + '/t.flac')
    srv = subprocess.Popen([os.path.join(build, 'tools', 'p2p-serve'), tmp, '--port', '0',
                            '--bind-address', '127.0.0.1'],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
    http = subprocess.Popen(['/usr/bin/python3', os.path.join(os.path.dirname(
                             os.path.abspath(__file__)), 'range-http-server.py'), str(port), tmp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        buf = b''
        while b'ticket: ' not in buf or not buf.endswith(b'\n'):
            r, _, _ = select.select([srv.stdout], [], [], 30)
            assert r
            buf += os.read(srv.stdout.fileno(), 4096)
        ticket = buf.decode().split('ticket: ')[1].split()[0]
        for _ in range(100):           # the HTTP server is up (bounded)
            try:
                socket.create_connection(('127.0.0.1', port), 1).close(); break
            except OSError:
                time.sleep(0.05)
        uris = {'p2p': 'p2p://%s/t.flac' % ticket, 'http': 'http://127.0.0.1:%d/t.flac' % port}
        res = {k: {'first': [], 'seek': [], 'bulk': []} for k in uris}
        for _ in range(runs):
            for k, u in uris.items():
                f, sk = first_and_seek(u)
                res[k]['first'].append(f); res[k]['seek'].append(sk)
                res[k]['bulk'].append(bulk(u))
        print('file %d bytes, %d runs, medians (loopback)' % (size, runs))
        for fig in ('first', 'seek', 'bulk'):
            a = statistics.median(res['p2p'][fig]); b = statistics.median(res['http'][fig])
            print('%-6s p2p %.1f ms  http %.1f ms  ratio %.2f' % (fig, a * 1000, b * 1000, a / b))
    finally:
        for p in (srv, http):
            p.terminate(); p.wait(10)
finally:
    shutil.rmtree(tmp)
