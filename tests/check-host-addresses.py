#!/usr/bin/env python3
"""tests/check-host-addresses.py: tests and benchmarks never aim at the
machine's own interfaces.

Tests and benchmarks may send traffic only to loopback or to addresses
inside network namespaces that the script itself creates. This check fails
when a script or program under tests/ or pipelines/ reads an address of the
machine's interfaces, the usual first step of aiming at one. What counts
as such a read, what is exempt (commands run inside a namespace the script
created, a reviewed exception marked `host-addresses: ok (REASON)`; none
exists today) and the lines the self-test plants are data, in
tests/host-addresses.txt: a text file, which this check does not scan, so
that no script of the tree spells those forms out.

Usage:
  check-host-addresses.py [--root DIR]       check the tree (exit 1 on a hit)
  check-host-addresses.py --tap [--root DIR] the meson test unit/host-addresses:
      the tree passes, every pattern is caught in a planted line, and the
      allowed forms (namespace commands, adding an address) pass.
"""
import argparse
import os
import re
import sys
import tempfile

SCANNED = ('.sh', '.bash', '.py', '.c', '.h')
# tests and benchmarks, and the runnable pipelines (pipelines/demo.sh is one
# of the README's two commands)
SCANNED_DIRS = ('tests', 'pipelines')
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'host-addresses.txt')
COMMENT = re.compile(r'^\s*(#|//|/?\*)')


def load(path=DATA):
    """The records of @path by kind: 'pattern' [(name, regex)], 'exempt'
    [regex], 'planted' and 'planted-pipelines' [(name, line)], 'allowed'
    [line]."""
    data = {'pattern': [], 'exempt': [], 'planted': [], 'planted-pipelines': [],
            'allowed': []}
    with open(path, encoding='utf-8') as f:
        for n, raw in enumerate(f, 1):
            raw = raw.rstrip('\n')
            if not raw or raw.startswith('#'):
                continue
            kind, _, rest = raw.partition('\t')
            if kind not in data or not rest:
                raise SystemExit(f'{path}:{n}: not a record: {raw!r}')
            if kind == 'pattern':
                name, _, rx = rest.partition('\t')
                data[kind].append((name, re.compile(rx)))
            elif kind == 'exempt':
                data[kind].append(re.compile(rest))
            elif kind.startswith('planted'):
                data[kind].append(tuple(rest.split('\t', 1)))
            else:
                data[kind].append(rest)
    if not data['pattern']:
        raise SystemExit(f'{path}: no pattern')
    return data


def hits_in_line(data, line):
    """The names of the patterns @line matches (empty when allowed)."""
    if COMMENT.match(line) or any(rx.search(line) for rx in data['exempt']):
        return []
    return [name for name, rx in data['pattern'] if rx.search(line)]


def scan(data, root):
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
                        for what in hits_in_line(data, line):
                            found.append((os.path.relpath(path, root), n, what, line.strip()))
            except OSError as e:
                found.append((os.path.relpath(path, root), 0, 'unreadable', str(e)))
    return found


def report(found):
    for path, n, what, line in found:
        print(f'{path}:{n}: reads the machine\'s interface addresses ({what}): {line}')


def plant(tmp, sub, name, text):
    """Writes @text as tmp/@sub/@name; returns the path."""
    os.makedirs(os.path.join(tmp, sub), exist_ok=True)
    path = os.path.join(tmp, sub, name)
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n' + text + '\n')
    return path


def tap(data, root):
    results = []

    found = scan(data, root)
    report(found)
    results.append((not found, 'the tree reads no interface address under tests/ or pipelines/'))

    # the forms to catch, written only into files of a temporary tree (never
    # run): each pattern has its planted line
    planted = dict(data['planted'])
    results.append((sorted(planted) == sorted(n for n, _ in data['pattern']),
                    'every pattern has a planted line'))
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(os.path.join('tests', 'bench'), name, line) for name, line in data['planted']]
        cases += [('pipelines', name, line) for name, line in data['planted-pipelines']]
        for i, (sub, what, line) in enumerate(cases):
            path = plant(tmp, sub, f'planted{i}.sh', line)
            got = scan(data, tmp)
            os.unlink(path)
            results.append((len(got) == 1 and got[0][2] == what
                            and got[0][0] == os.path.join(sub, f'planted{i}.sh'),
                            f'a planted "{what}" line under {sub.split(os.sep)[0]}/ is caught'))
        path = plant(tmp, os.path.join('tests', 'bench'), 'allowed.sh',
                     '\n'.join(data['allowed']))
        got = scan(data, tmp)
        os.unlink(path)
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
    data = load()
    if args.tap:
        return tap(data, root)
    found = scan(data, root)
    report(found)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
