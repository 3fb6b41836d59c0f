#!/usr/bin/env python3
"""tests/check-host-addresses.py: tests and benchmarks never aim at the
machine's own interfaces.

Tests and benchmarks may send traffic only to loopback or to addresses
inside network namespaces that the script itself creates. This check fails
when a script or program under tests/ or pipelines/ reads an address of the machine's
interfaces, the usual first step of aiming at one: the commands and calls
of PATTERNS below (the host name tool's address options, the interface
listing tools, reading `ip` addresses or asking `ip` for a route, and the
interface enumeration calls of libc, psutil and Python's interfaces module).

A line that runs inside a namespace the script created (`ip netns exec NS
...`, `nsenter`) is allowed: those addresses are the script's own. A line
may also carry the marker `host-addresses: ok (REASON)` for a reviewed
exception; none exists today.

Usage:
  check-host-addresses.py [--root DIR]       check the tree (exit 1 on a hit)
  check-host-addresses.py --tap [--root DIR] the meson test unit/host-addresses:
      the tree passes, every pattern is caught in a planted line, and the
      allowed forms (namespace commands, adding an address) pass.

This file passes its own scan: what it looks for is spelled in pieces (J),
so that it does not read like a script that reads the interfaces.
"""
import argparse
import os
import re
import sys
import tempfile

SCANNED = ('.sh', '.bash', '.py', '.c', '.h')


def J(*parts):
    """@parts joined: the forms this check looks for, written in pieces."""
    return ''.join(parts)


PATTERNS = [
    (J('host', 'name (-I, -i)'),
     re.compile(J(r'\bhost', r'name\s+(-\w*[iI]\w*|--(all-)?ip-addresses?)\b'))),
    (J('if', 'config'), re.compile(J(r'\bif', r'config\b'))),
    (J('ip ad', 'dr (read)'), re.compile(
        J(r'\bip\s+(?:-\S+\s+)*(?:ad', r'dr|ad', r'dress|a)\b')
        + r'(?!\s+(?:add|del|delete|flush|change|replace)\b)')),
    (J('ip rou', 'te get'), re.compile(J(r'\bip\s+(?:-\S+\s+)*(?:rou', r'te|r)\s+get\b'))),
    (J('getif', 'addrs'), re.compile(J(r'\bgetif', r'addrs\s*\('))),
    (J('psutil.net_if', '_addrs'), re.compile(J(r'\bnet_if', r'_addrs\s*\('))),
    (J('net', 'ifaces'), re.compile(J(r'\bnet', r'ifaces\b'))),
    (J('gethostby', 'name(gethost', 'name())'),
     re.compile(J(r'gethostby', r'name\s*\(\s*(?:socket\.)?gethost', r'name'))),
]
ALLOWED = re.compile(r'\bip\s+netns\s+exec\b|\bnsenter\b|host-addresses: ok \(')
COMMENT = re.compile(r'^\s*(#|//|/?\*)')


def hits_in_line(line):
    """The names of the patterns @line matches (empty when allowed)."""
    if COMMENT.match(line) or ALLOWED.search(line):
        return []
    return [name for name, rx in PATTERNS if rx.search(line)]


# tests and benchmarks, and the runnable pipelines (pipelines/demo.sh is one
# of the README's two commands)
SCANNED_DIRS = ('tests', 'pipelines')


def scan(root):
    """(path, line number, pattern name, line) for every hit under
    SCANNED_DIRS."""
    found = []
    for dirpath, dirnames, filenames in (w for d in SCANNED_DIRS
                                         for w in os.walk(os.path.join(root, d))):
        dirnames[:] = [d for d in dirnames if d not in ('corpus', '__pycache__')]
        for name in sorted(filenames):
            if not name.endswith(SCANNED):
                continue
            path = os.path.join(dirpath, name)
            try:
                with open(path, encoding='utf-8', errors='replace') as f:
                    for n, line in enumerate(f, 1):
                        for what in hits_in_line(line):
                            found.append((os.path.relpath(path, root), n, what, line.strip()))
            except OSError as e:
                found.append((os.path.relpath(path, root), 0, 'unreadable', str(e)))
    return found


def report(found):
    for path, n, what, line in found:
        print(f'{path}:{n}: reads the machine\'s interface addresses ({what}): {line}')


def tap(root):
    results = []

    found = scan(root)
    report(found)
    results.append((not found, 'the tree reads no interface address under tests/ or pipelines/'))

    # The forms to catch, written only into files of a temporary tree (never
    # run), spelled in pieces (J) as PATTERNS are.
    # one line for each of PATTERNS, in their order
    planted = dict(zip([name for name, _ in PATTERNS], [
        J('for a in $(host', 'name -I); do ping -c1 "$a"; done'),
        J("IP=$(if", "config eth0 | awk '/inet /{print $2}')"),
        J("IP=$(ip -4 -o ad", "dr show scope global | awk '{print $4}')"),
        J("SRC=$(ip rou", "te get 1.1.1.1 | awk '{print $7}')"),
        J('if (getif', 'addrs (&ifa) == 0) {'),
        J('addrs = psutil.net_if', '_addrs()'),
        J('import net', 'ifaces'),
        J('ip = socket.gethostby', 'name(socket.gethost', 'name())'),
    ]))
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, 'tests', 'bench'))
        for i, (what, line) in enumerate(planted.items()):
            path = os.path.join(tmp, 'tests', 'bench', f'planted{i}.sh')
            with open(path, 'w') as f:
                f.write('#!/bin/sh\n' + line + '\n')
            got = scan(tmp)
            os.unlink(path)
            results.append((len(got) == 1 and got[0][2] == what,
                            f'a planted "{what}" line is caught'))
        # the runnable pipelines too (the line serve-file.sh had)
        os.makedirs(os.path.join(tmp, 'pipelines'))
        path = os.path.join(tmp, 'pipelines', 'serve.sh')
        with open(path, 'w') as f:
            f.write(J('for a in $(host', 'name -I 2>/dev/null) 127.0.0.1; do echo "$a"; done\n'))
        got = scan(tmp)
        os.unlink(path)
        results.append((len(got) == 1 and got[0][0] == os.path.join('pipelines', 'serve.sh'),
                        'a planted line under pipelines/ is caught'))
        allowed = [
            J('ip netns exec "$NS" ip -4 ad', 'dr show dev veth0'),
            'ip -n "$NS" addr add 10.0.0.2/24 dev veth1',
            'ip addr add 10.99.0.1/24 dev veth-a',
            'ip link set lo up',
            J('# a comment about host', 'name -I is fine'),
        ]
        path = os.path.join(tmp, 'tests', 'bench', 'allowed.sh')
        with open(path, 'w') as f:
            f.write('\n'.join(allowed) + '\n')
        got = scan(tmp)
        report(got)
        results.append((not got, 'namespace commands, adding an address and comments pass'))

    print(f'1..{len(results)}')
    for i, (ok, what) in enumerate(results, 1):
        print(f'{"ok" if ok else "not ok"} {i} {what}')
    return 0 if all(ok for ok, _ in results) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--root', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
    ap.add_argument('--tap', action='store_true')
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    if args.tap:
        return tap(root)
    found = scan(root)
    report(found)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
