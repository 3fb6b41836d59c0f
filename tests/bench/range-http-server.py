#!/usr/bin/python3
# tests/bench/range-http-server.py PORT DIR [ADDRESS [CERT KEY]]: python3's
# http.server plus single byte ranges (Range: bytes=A-B -> 206), which
# `python3 -m http.server` lacks and souphttpsrc needs to seek; threaded; on
# 127.0.0.1 unless ADDRESS; HTTPS (python's ssl, TLS 1.2+) with CERT and KEY
# (PEM files). Files are copied with read/write in 64 KiB chunks (no
# sendfile).
import os, sys, http.server, functools, ssl

class H(http.server.SimpleHTTPRequestHandler):
    def send_head(self):
        rng = self.headers.get('Range')
        path = self.translate_path(self.path)
        if not rng or not rng.startswith('bytes=') or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        a, _, b = rng[6:].partition('-')
        a = int(a) if a else 0
        b = min(int(b), size - 1) if b else size - 1
        if a >= size:
            self.send_error(416)
            return None
        f = open(path, 'rb')
        f.seek(a)
        self.send_response(206)
        self.send_header('Content-Type', self.guess_type(path))
        self.send_header('Accept-Ranges', 'bytes')
        self.send_header('Content-Range', 'bytes %d-%d/%d' % (a, b, size))
        self.send_header('Content-Length', str(b - a + 1))
        self.end_headers()
        self.range_left = b - a + 1
        return f

    def copyfile(self, src, dst):
        left = getattr(self, 'range_left', None)
        if left is None:
            return super().copyfile(src, dst)
        while left > 0:
            chunk = src.read(min(65536, left))
            if not chunk:
                break
            dst.write(chunk)
            left -= len(chunk)

    def end_headers(self):
        if not self.headers.get('Range'):
            self.send_header('Accept-Ranges', 'bytes')
        super().end_headers()

    def log_message(self, *a):
        pass

srv = http.server.ThreadingHTTPServer((sys.argv[3] if len(sys.argv) > 3 else '127.0.0.1',
                                       int(sys.argv[1])), functools.partial(H, directory=sys.argv[2]))
if len(sys.argv) > 5:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
