#!/usr/bin/env python3
# tests/nat/netfwd-udp.py: the UDP ends of tests/nat/netfwd-link-test.sh,
# each bounded in count and time (socket timeouts; no loop without a limit).
#   echo IP PORT SECONDS        echo datagrams back for SECONDS ("ready" first)
#   ping IP PORT COUNT          COUNT probes, one at a time, 1 s timeout each:
#                               "rtt-ms X" or "lost" each, then a summary line
#                               "sent N received M min X median Y max Z"
#   sink IP PORT COUNT SECONDS  numbered datagrams until COUNT arrived, 2 s
#                               without one, or SECONDS: "ready" first, then
#                               "received N out-of-order K span-ms S"
#   burst IP PORT COUNT SIZE    COUNT numbered datagrams of SIZE bytes at once
# SPDX-License-Identifier: LGPL-2.1-or-later
import socket, statistics, struct, sys, time

mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if mode == 'echo':
    s.bind((ip, port))
    end = time.monotonic() + float(sys.argv[4])
    print('ready', flush=True)
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            d, a = s.recvfrom(65536)
        except socket.timeout:
            break
        s.sendto(d, a)
elif mode == 'ping':
    rtts, n = [], int(sys.argv[4])
    for i in range(n):
        t0 = time.monotonic()
        s.sendto(struct.pack('!I', i), (ip, port))
        got = None
        while got is None:             # skip a late echo of an earlier probe
            left = 1.0 - (time.monotonic() - t0)
            if left <= 0:
                break
            s.settimeout(left)
            try:
                d = s.recv(64)
            except socket.timeout:
                break
            if d == struct.pack('!I', i):
                got = time.monotonic() - t0
        if got is None:
            print('lost')
        else:
            rtts.append(got * 1000)
            print('rtt-ms %.2f' % rtts[-1])
        time.sleep(0.02)
    if rtts:
        print('sent %d received %d min %.2f median %.2f max %.2f' %
              (n, len(rtts), min(rtts), statistics.median(rtts), max(rtts)))
    else:
        print('sent %d received 0 min - median - max -' % n)
elif mode == 'sink':
    count, end = int(sys.argv[4]), time.monotonic() + float(sys.argv[5])
    s.bind((ip, port))
    print('ready', flush=True)
    got, ooo, top, first, last = 0, 0, -1, None, None
    while got < count and time.monotonic() < end:
        s.settimeout(min(2.0, max(0.01, end - time.monotonic())))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        last = time.monotonic()
        first = first or last
        seq = struct.unpack('!I', d[:4])[0]
        got += 1
        if seq < top:
            ooo += 1
        top = max(top, seq)
    span = (last - first) * 1000 if got else 0
    print('received %d out-of-order %d span-ms %.1f' % (got, ooo, span))
elif mode == 'burst':
    count, size = int(sys.argv[4]), int(sys.argv[5])
    for i in range(count):
        s.sendto(struct.pack('!I', i) + b'\0' * (size - 4), (ip, port))
else:
    sys.exit('unknown mode ' + mode)
