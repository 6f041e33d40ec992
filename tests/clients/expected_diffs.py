"""The EXPECTED_DIFFERENCES mechanism of the peer-suite tests.

A suite's table is a list of `Expected(cases, check, pattern, why)`: every difference
line that `check` reports for a case must match the pattern of an entry listed for that
case (else the test fails: an unexplained difference), and every entry listed for a
case must match at least one of its difference lines (else the test fails too: the
difference no longer occurs and the entry must go).
"""

from __future__ import annotations

import re
from typing import NamedTuple

ALL = "*"


class Expected(NamedTuple):
    cases: tuple  # case names, or (ALL,)
    check: str
    pattern: str  # regular expression searched in each difference line
    why: str


def entries_for(table: list[Expected], check: str, case: str) -> list[Expected]:
    return [e for e in table if e.check == check and (ALL in e.cases or case in e.cases)]


def assert_only_expected(table: list[Expected], check: str, case: str, diffs: list[str]) -> None:
    rules = entries_for(table, check, case)
    unexplained = [d for d in diffs if not any(re.search(r.pattern, d) for r in rules)]
    gone = [r for r in rules if not any(re.search(r.pattern, d) for d in diffs)]
    msg = []
    if unexplained:
        msg.append(f"{len(unexplained)} difference(s) not in EXPECTED_DIFFERENCES for {case} ({check}):")
        msg += [f"  {d}" for d in unexplained[:60]]
        if len(unexplained) > 60:
            msg.append(f"  ... {len(unexplained) - 60} more")
    if gone:
        msg.append(f"EXPECTED_DIFFERENCES entries for {case} ({check}) that no longer occur (remove them):")
        msg += [f"  {r.pattern!r}: {r.why}" for r in gone]
    if msg:
        explained = [d for d in diffs if d not in unexplained]
        if explained:
            msg.append(f"({len(explained)} further difference(s) are explained by the table)")
        raise AssertionError("\n".join(msg))


def check_table_cases(table: list[Expected], known_cases: set, known_checks: set) -> None:
    """The table names only existing cases and checks (catches typos)."""
    for e in table:
        assert e.check in known_checks, f"EXPECTED_DIFFERENCES: unknown check {e.check!r}"
        for c in e.cases:
            assert c == ALL or c in known_cases, f"EXPECTED_DIFFERENCES: unknown case {c!r} ({e.check})"
        re.compile(e.pattern)
