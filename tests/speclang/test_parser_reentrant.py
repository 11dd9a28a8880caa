"""The parser keeps no per-parse state in the module: two files parsed at once from threads,
and a parse started while another is in progress, each get their own spans, `next` reading,
comments and diagnostics. The reference for each file is the same file parsed alone."""

from __future__ import annotations

import dataclasses
import sys
import threading
from typing import Any

import pytest

from speclang import parser as P
from speclang.diagnostics import Span

FIRST = """\
#pragma next = weak
# the first file
props a, "door open"
spec one { G("door open" -> X a) }  // X is weak here
def twice(p) = X X p
spec two "described" { F twice(a) & a U "door open" }
"""

SECOND = """\
props b, c
observe level: {low, high}
prop is_low = level == low
# the second file: X is strong
spec three { G(b -> X[2] c) }
progression p = [three]
"""

BROKEN = """\
props x
spec bad { G(x -> ) }
spec worse { F }
"""


def _facts(obj: Any) -> Any:
    """Every field of a parse result, spans included (the AST's equality leaves them out)."""
    if isinstance(obj, Span):
        return ("span", obj.path, obj.line, obj.col, obj.end_line, obj.end_col)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (type(obj).__name__,
                tuple((f.name, _facts(getattr(obj, f.name))) for f in dataclasses.fields(obj)))
    if isinstance(obj, list | tuple):
        return tuple(_facts(x) for x in obj)
    return obj


def _parse(text: str, path: str) -> Any:
    return _facts(P.parse_text(text, path))


CASES = [(FIRST, "first.spec"), (SECOND, "second.spec"), (BROKEN, "broken.spec")]


def test_the_reference_parses_are_what_the_files_say() -> None:
    first, second, broken = (P.parse_text(t, p) for t, p in CASES)
    assert first.file is not None and first.file.weak_next and not first.diagnostics
    assert [c.text for c in first.file.comments] == [
        "#pragma next = weak", "# the first file", "// X is weak here"]
    assert second.file is not None and not second.file.weak_next
    assert {d.span.path for d in broken.diagnostics} == {"broken.spec"}
    assert [d.span.line for d in broken.diagnostics] == [2, 3]


def test_threads_parsing_different_files_at_once_get_their_own_results() -> None:
    expected = {path: _parse(text, path) for text, path in CASES}
    failures: list[str] = []
    start = threading.Barrier(len(CASES))

    def work(text: str, path: str) -> None:
        start.wait()
        for i in range(40):
            if _parse(text, path) != expected[path]:
                failures.append(f"{path} (run {i})")
                return

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, mid-parse
    try:
        threads = [threading.Thread(target=work, args=case) for case in CASES]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert failures == []


def test_a_parse_started_during_another_parse_leaves_both_intact(
        monkeypatch: pytest.MonkeyPatch) -> None:
    expected_outer = _parse(FIRST, "first.spec")
    expected_inner = [_parse(SECOND, "second.spec"), _parse(BROKEN, "broken.spec")]
    inner: list[Any] = []
    unescape = P._unescape

    def unescape_and_parse_another_file(tok: str) -> str:
        # FIRST's quoted name is read mid-parse: the builder is half-way through the file
        if len(inner) < 2:
            text, path = CASES[1 + len(inner)]
            inner.append(None)
            inner[-1] = _parse(text, path)
        return unescape(tok)

    monkeypatch.setattr(P, "_unescape", unescape_and_parse_another_file)
    outer = _parse(FIRST, "first.spec")
    assert inner == expected_inner
    assert outer == expected_outer
