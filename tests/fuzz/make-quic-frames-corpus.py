#!/usr/bin/env python3
# tests/fuzz/make-quic-frames-corpus.py: writes the hand-built seeds of the
# quic-frames fuzz target (tests/fuzz/fuzz-quic-frames.c) into
# tests/fuzz/corpus/quic-frames/. Each seed: byte 0 the target (0 server,
# 1 client), then records of a 2-byte big-endian length + the frames of one
# 1-RTT packet (RFC 9000 section 19 encodings, RFC 9221 DATAGRAM).
# After the handshake the control stream (0) is at offset 4 both ways; the
# peer's message stream is 2 (client) or 3 (server), its next bidirectional
# stream 4 (client) or 1 (server).
#   python3 tests/fuzz/make-quic-frames-corpus.py
# SPDX-License-Identifier: LGPL-2.1-or-later
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'quic-frames')


def varint(v):
    if v < 1 << 6:
        return bytes([v])
    if v < 1 << 14:
        return struct.pack('>H', v | 0x4000)
    if v < 1 << 30:
        return struct.pack('>I', v | 0x80000000)
    return struct.pack('>Q', v | 0xC000000000000000)


def stream(sid, offset, data, fin=False):
    t = 0x08 | 0x04 | 0x02 | (0x01 if fin else 0)
    return varint(t) + varint(sid) + varint(offset) + varint(len(data)) + data


def p2p_frame(ftype, body):
    return varint(ftype) + varint(len(body)) + body


def ack(largest, first_range, delay=0):
    return b'\x02' + varint(largest) + varint(delay) + varint(0) + varint(first_range)


def conn_close(code, ftype, reason):
    return b'\x1c' + varint(code) + varint(ftype) + varint(len(reason)) + reason


def app_close(code, reason):
    return b'\x1d' + varint(code) + varint(len(reason)) + reason


def seed(target, *packets):
    out = bytes([target])
    for p in packets:
        out += struct.pack('>H', len(p)) + p
    return out


def streams(target):
    # (control, peer's message stream, peer's next bidirectional stream)
    return (0, 2, 4) if target == 0 else (0, 3, 1)


SEEDS = {}
for target, who in ((0, 'server'), (1, 'client')):
    ctl, msg, bidi = streams(target)
    SEEDS[f'{who}-padding'] = seed(target, b'\x00' * 20)
    SEEDS[f'{who}-ping'] = seed(target, b'\x01')
    SEEDS[f'{who}-ack'] = seed(target, ack(3, 3), ack(8, 8, 25))
    SEEDS[f'{who}-ack-ranges'] = seed(target, b'\x02' + varint(9) + varint(0) + varint(2)
                                      + varint(1) + varint(1) + varint(1) + varint(1) + varint(0))
    SEEDS[f'{who}-message'] = seed(target, stream(msg, 0, p2p_frame(0x10, b'hello')))
    SEEDS[f'{who}-message-split'] = seed(
        target, stream(msg, 3, p2p_frame(0x10, b'abcdefgh')[3:]),
        stream(msg, 0, p2p_frame(0x10, b'abcdefgh')[:3]))
    SEEDS[f'{who}-extra-stream'] = seed(target, stream(bidi, 0, b'raw bytes', fin=True))
    SEEDS[f'{who}-stream-nolen'] = seed(target, b'\x0c' + varint(bidi) + varint(0) + b'rest of packet')
    SEEDS[f'{who}-keepalive'] = seed(target, stream(ctl, 4, p2p_frame(0x02, b'')))
    SEEDS[f'{who}-disconnect'] = seed(target, stream(ctl, 4, p2p_frame(0x03, b'\x00bye')))
    SEEDS[f'{who}-disconnect-error'] = seed(
        target, stream(ctl, 4, p2p_frame(0x03, b'\x04too many receivers')))
    SEEDS[f'{who}-second-handshake'] = seed(target, stream(ctl, 4, p2p_frame(0x01, b'\x01\x00')))
    SEEDS[f'{who}-control-unknown'] = seed(target, stream(ctl, 4, p2p_frame(0x3f, b'xyz')
                                                          + p2p_frame(0x02, b'')))
    SEEDS[f'{who}-message-bad-length'] = seed(target, stream(msg, 0, b'\x10\xff\xff\xff\xff'))
    SEEDS[f'{who}-max-data'] = seed(target, b'\x10' + varint(1 << 24), b'\x11' + varint(bidi) + varint(1 << 20))
    SEEDS[f'{who}-max-streams'] = seed(target, b'\x12' + varint(100), b'\x13' + varint(100))
    SEEDS[f'{who}-blocked'] = seed(target, b'\x14' + varint(1000), b'\x15' + varint(msg) + varint(10),
                                   b'\x16' + varint(4), b'\x17' + varint(4))
    SEEDS[f'{who}-datagram'] = seed(target, b'\x31' + varint(5) + b'media', b'\x30datagram to the end')
    SEEDS[f'{who}-connection-close'] = seed(target, conn_close(0x0a, 0x08, b'protocol violation'))
    SEEDS[f'{who}-app-close'] = seed(target, app_close(4, b'too many receivers'))
    SEEDS[f'{who}-new-connection-id'] = seed(
        target, b'\x18' + varint(1) + varint(0) + bytes([18]) + bytes(range(18)) + b'\xaa' * 16,
        b'\x18' + varint(2) + varint(1) + bytes([8]) + b'\x01' * 8 + b'\xbb' * 16)
    SEEDS[f'{who}-retire-connection-id'] = seed(target, b'\x19' + varint(0))
    SEEDS[f'{who}-reset-stream'] = seed(target, stream(bidi, 0, b'abc'),
                                        b'\x04' + varint(bidi) + varint(7) + varint(3))
    SEEDS[f'{who}-stop-sending'] = seed(target, b'\x05' + varint(bidi) + varint(9))
    SEEDS[f'{who}-path-challenge'] = seed(target, b'\x1a' + b'12345678', b'\x1b' + b'87654321')
    SEEDS[f'{who}-crypto'] = seed(target, b'\x06' + varint(0) + varint(4) + b'\x04\x00\x00\x00')
    SEEDS[f'{who}-mixed'] = seed(target, ack(2, 2) + stream(msg, 0, p2p_frame(0x10, b'm1'))
                                 + b'\x31' + varint(2) + b'dg' + b'\x01' + b'\x00' * 4,
                                 stream(ctl, 4, p2p_frame(0x02, b'')) + b'\x10' + varint(1 << 22))
SEEDS['client-new-token'] = seed(1, b'\x07' + varint(8) + b'tokentok')
SEEDS['client-handshake-done'] = seed(1, b'\x1e')
SEEDS['server-handshake-done'] = seed(0, b'\x1e')   # a protocol violation from a client

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)
print(f'{len(SEEDS)} seeds in {OUT}')
