#!/usr/bin/env python3
"""Names the tests that started but never finished in a `swift test` log (Swift Testing's
console output). scripts/test runs it when the test run hit its time limit, so a hang in CI
says which test hung instead of only that the run timed out.

Usage: unfinished_tests.py LOG
"""
import re
import sys
from collections import Counter

# "◇ Test name started." / "✔ Test name passed after 1.2 seconds." / "✘ Test name failed after …" /
# "➜ Test name skipped." — a parameterised test's cases ("Test case passing …") only start, and the
# run's own lines ("Test run …") are not a test.
STARTED = re.compile(r"^\S+ (Test|Suite) (?!case passing |run )(.+) started\.$")
FINISHED = re.compile(r"^\S+ (Test|Suite) (?!case passing |run )(.+?)(?: with \d+ test cases?)?"
                      r"(?: (?:passed|failed) after .*| skipped(?:\.|: .*))$")


def unfinished(lines):
    open_ = Counter()
    order = []
    for line in lines:
        line = line.rstrip("\n")
        if m := STARTED.match(line):
            key = (m.group(1), m.group(2))
            open_[key] += 1
            order.append(key)
        elif m := FINISHED.match(line):
            key = (m.group(1), m.group(2))
            if open_[key] > 0:
                open_[key] -= 1
    seen = set()
    result = []
    for key in order:
        if open_[key] > 0 and key not in seen:
            seen.add(key)
            result.append(key)
    return result


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        left = unfinished(f)
    if not left:
        print("[test] every test that started also finished")
    for kind, name in left:
        print(f"[test] still running when the time limit struck: {kind} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
