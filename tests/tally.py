#!/usr/bin/env python3
# tests/tally.py: reads one meson testlog.json for tests/run.sh and counts
# tests and their subtests, so that a skip is never counted as a pass:
#   TAP (GTest --tap)   "ok N /path", "ok N # SKIP reason", "not ok N"
#   gst-check           "NN%: Checks: N, Failures: F, Errors: E", plus
#                       "# SKIP name: reason" lines for tests not registered
#   python unittest     "Ran N tests", "OK (skipped=N)", "FAILED (failures=N)"
#   anything else       one subtest: the test's own result
# Then checks the run against the expected-tests table (every meson test of
# the build, with the least number of subtests it must report) and against
# the suites that must not be skipped on this machine (--require SUITE or
# SUITE/NAME).
#
#   tally.py --log testlog.json --label main [--list intro-tests.json]
#            [--expected tests/expected-tests.txt] [--suites unit,elements]
#            [--require nat ...]
#
# Prints shell assignments for run.sh (passed= failed= skipped= tests_*=
# failed_names=) on stdout, the reasons on stderr.
# SPDX-License-Identifier: LGPL-2.1-or-later
import argparse
import json
import re
import shlex
import sys

TAP_PLAN_RE = re.compile(r"^1\.\.\d+", re.M)
TAP_RE = re.compile(r"^(not ok|ok) \d+\b\s*(.*)$")
CHECK_RE = re.compile(r"^\d+%: Checks: (\d+), Failures: (\d+), Errors: (\d+)",
                      re.M)
CHECK_SKIP_RE = re.compile(r"^# SKIP (\S+): (.+)$", re.M)
RAN_RE = re.compile(r"^Ran (\d+) tests? in", re.M)
PY_END_RE = re.compile(r"^(OK|FAILED)(?: \((.*)\))?\s*$", re.M)


def key_of(record):
    """'suite/name' of a testlog record ("gst-p2p:unit / error") or of a
    meson introspect record (suite ['gst-p2p:unit'], name 'error')."""
    if "suite" in record:
        return record["suite"][0].split(":")[-1] + "/" + record["name"]
    full = record.get("name", "?")
    if " / " in full:
        suite, name = full.split(" / ", 1)
        return suite.split(":")[-1] + "/" + name
    return "?/" + full


def subtests(record):
    """(passed, failed, skipped, [skip reasons]) of one test's output."""
    out = (record.get("stdout") or "") + "\n" + (record.get("stderr") or "")
    reasons = []
    if TAP_PLAN_RE.search(out):
        p = f = s = 0
        for line in out.splitlines():
            m = TAP_RE.match(line.strip())
            if not m:
                continue
            ok, rest = m.group(1) == "ok", m.group(2)
            directive = rest.split("#", 1)[1].strip() if "#" in rest else ""
            if directive.upper().startswith("SKIP"):
                s += 1
                reasons.append(rest.split("#", 1)[0].strip() + " " + directive)
            elif ok or directive.upper().startswith("TODO"):
                p += 1
            else:
                f += 1
        if p + f + s:
            return p, f, s, reasons
    m = CHECK_RE.search(out)
    if m:
        n, fl, er = (int(x) for x in m.groups())
        skips = CHECK_SKIP_RE.findall(out)
        return (n - fl - er, fl + er, len(skips),
                ["%s: %s" % sk for sk in skips])
    m = RAN_RE.search(out)
    end = PY_END_RE.findall(out)
    if m and end:
        n = int(m.group(1))
        fields = dict(kv.split("=") for kv in (end[-1][1] or "").split(", ")
                      if "=" in kv)
        fl = int(fields.get("failures", 0)) + int(fields.get("errors", 0))
        sk = int(fields.get("skipped", 0))
        reasons = re.findall(r"^(\S+ \(\S+\)) \.\.\. skipped (.*)$", out, re.M)
        return (n - fl - sk, fl, sk, ["%s %s" % r for r in reasons])
    res = record.get("result")
    if res in ("OK", "EXPECTEDFAIL"):
        return 1, 0, 0, []
    if res == "SKIP":
        why = [l for l in out.splitlines() if l.startswith("SKIP")]
        return 0, 0, 1, why[:1] or ["(no reason printed)"]
    return 0, 1, 0, []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--list", help="meson introspect --tests output (JSON)")
    ap.add_argument("--expected", help="tests/expected-tests.txt")
    ap.add_argument("--suites", help="comma-separated: only these suites "
                    "ran (--list and --expected are filtered to them)")
    ap.add_argument("--require", action="append", default=[],
                    help="SUITE or SUITE/NAME that must run and not skip")
    a = ap.parse_args()

    problems = []
    only = set(a.suites.split(",")) if a.suites else None

    def wanted(key):
        return only is None or key.split("/")[0] in only
    tests = {"passed": 0, "failed": 0, "skipped": 0}
    sub = {"passed": 0, "failed": 0, "skipped": 0}
    failed_names = []
    seen = {}
    try:
        lines = open(a.log).read().splitlines()
    except OSError as e:
        lines = []
        problems.append(("no-testlog", "cannot read %s: %s" % (a.log, e)))
    for line in lines:
        if not line.strip():
            continue
        r = json.loads(line)
        key = key_of(r)
        res = r.get("result")
        if res in ("OK", "EXPECTEDFAIL"):
            tests["passed"] += 1
        elif res == "SKIP":
            tests["skipped"] += 1
        else:
            tests["failed"] += 1
            failed_names.append(key)
        p, f, s, why = subtests(r)
        if res not in ("OK", "EXPECTEDFAIL", "SKIP") and f == 0:
            f = 1               # crashed or timed out after its last "ok"
        sub["passed"] += p
        sub["failed"] += f
        sub["skipped"] += s
        seen[key] = (res, p + f + s, s)
        for w in why:
            print("%s: skipped in %s: %s" % (a.label, key, w), file=sys.stderr)

    # every test meson knows of ran, and the table lists exactly those
    listed = set()
    if not lines:
        a.list = a.expected = None      # nothing ran: one failure says so
        a.require = []
    if a.list:
        for t in json.load(open(a.list)):
            if wanted(key_of(t)):
                listed.add(key_of(t))
        for key in sorted(listed - set(seen)):
            problems.append(("not-run:" + key, "%s is in the build but did "
                             "not run" % key))
    if a.expected:
        want = {}
        for raw in open(a.expected):
            raw = raw.split("#", 1)[0].split()
            if raw and wanted(raw[0]):
                want[raw[0]] = int(raw[1]) if len(raw) > 1 else 1
        if a.list:
            for key in sorted(set(want) - listed):
                problems.append(("vanished:" + key, "%s is in %s but not in "
                                 "the build" % (key, a.expected)))
            for key in sorted(listed - set(want)):
                problems.append(("unlisted:" + key, "%s is not in %s: add "
                                 "the line '%s N' (N = its subtests)"
                                 % (key, a.expected, key)))
        for key, least in sorted(want.items()):
            if key in seen and seen[key][1] < least:
                problems.append(("too-few:" + key, "%s reported %d subtests, "
                                 "%s expects at least %d" % (
                                     key, seen[key][1], a.expected, least)))

    # suites that must run (and not skip) on this machine
    for req in a.require:
        hits = [k for k in seen if k == req or k.split("/")[0] == req]
        if not hits:
            problems.append(("missing:" + req, "%s is expected on this "
                             "machine but did not run" % req))
        for k in sorted(hits):
            if seen[k][0] == "SKIP" or seen[k][2]:
                problems.append(("skipped:" + k, "%s is expected on this "
                                 "machine but skipped" % k))

    for name, why in problems:
        print("%s: %s" % (a.label, why), file=sys.stderr)
    failed_names += [n for n, _ in problems]
    print("tests_passed=%d tests_failed=%d tests_skipped=%d" % (
        tests["passed"], tests["failed"], tests["skipped"]))
    print("passed=%d failed=%d skipped=%d" % (
        sub["passed"], sub["failed"] + len(problems), sub["skipped"]))
    print("failed_names=%s" % shlex.quote(" ".join(
        a.label + ":" + n for n in failed_names)))


if __name__ == "__main__":
    main()
