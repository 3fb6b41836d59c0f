#!/usr/bin/env python3
"""tests/check-config-docs.py: docs/configuration.md and the parser agree.

Every variable in the tables of docs/configuration.md (`| `NAME` | ...`) is
read by lib/core/p2p-config.c, and every variable the parser reads (a
"P2P_..." or "SIMULATOR_P2P_..." string literal there) has a row in the
docs. The meson test unit/config-docs (--tap) also shows that a row
without a parser and a parsed variable without a row are caught.
"""
import argparse
import os
import re
import sys
import tempfile

ROW = re.compile(r'^\|\s*`((?:SIMULATOR_)?P2P_[A-Z0-9_]+)`\s*\|', re.M)
READ = re.compile(r'"((?:SIMULATOR_)?P2P_[A-Z0-9_]+)"')


def names(docs_text, parser_text):
    return set(ROW.findall(docs_text)), set(READ.findall(parser_text))


def problems(docs_text, parser_text):
    documented, read = names(docs_text, parser_text)
    out = []
    for n in sorted(documented - read):
        out.append(f'docs/configuration.md documents {n}, which the parser never reads')
    for n in sorted(read - documented):
        out.append(f'the parser reads {n}, which docs/configuration.md does not document')
    if not documented:
        out.append('no variable rows found in docs/configuration.md')
    return out


def load(root):
    with open(os.path.join(root, 'docs', 'configuration.md'), encoding='utf-8') as f:
        docs = f.read()
    with open(os.path.join(root, 'lib', 'core', 'p2p-config.c'), encoding='utf-8') as f:
        parser = f.read()
    return docs, parser


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--root', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
    ap.add_argument('--tap', action='store_true')
    args = ap.parse_args()
    docs, parser = load(os.path.abspath(args.root))
    found = problems(docs, parser)
    for p in found:
        print(('# ' if args.tap else '') + p)
    if not args.tap:
        return 1 if found else 0
    documented, read = names(docs, parser)
    results = [
        (not found, f'{len(documented)} documented variables, each read by the parser, and back'),
        (any('never reads' in p for p in problems(docs + '\n| `P2P_PLANTED_MS` | x | y | z |\n', parser)),
         'a documented variable the parser does not read is caught'),
        (any('does not document' in p for p in problems(docs, parser + '\nGET ("P2P_PLANTED");\n')),
         'a parsed variable without a row is caught'),
    ]
    print(f'1..{len(results)}')
    for i, (ok, what) in enumerate(results, 1):
        print(f'{"ok" if ok else "not ok"} {i} {what}')
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == '__main__':
    sys.exit(main())
