"""Numbers past Python's 4,300-digit limit, JSON nested ~1,000 deep and NaN/Infinity in
specs, traces and artifacts: a clear error and exit 1, never an internal error (exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speclang.cli import main

HUGE = "9" * 5000


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(argv)
    out = capsys.readouterr()
    assert "internal error" not in out.err and "Traceback" not in out.err
    return rc, out.out + out.err


def test_huge_bound_in_a_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "n.spec"
    p.write_text(f"props a\nspec s {{ F[0,{HUGE}] a }}\n")
    rc, out = _run(["check", str(p)], capsys)
    assert rc == 1 and "error[E022]: bound of over 30 digits is too large" in out


@pytest.mark.parametrize(("line", "why"), [
    (f'{{"a": {HUGE}}}', "5000 digits"),
    (f'{{"a": 1.{HUGE}}}', "characters"),
    ("[" * 1000 + "]" * 1000, "nested too deeply"),
])
def test_hostile_trace_lines(tmp_path: Path, line: str, why: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "g.spec"
    spec.write_text("props a\nspec s { G a }\n")
    trace = tmp_path / "t.jsonl"
    trace.write_text(line + "\n")
    rc, out = _run(["monitor", str(spec), "--spec", "s", "--trace", str(trace)], capsys)
    assert rc == 1 and f"{trace}:1: error: unreadable step" in out and why in out


@pytest.mark.parametrize(("edit", "why"), [
    ('"meta": {"x": NaN, ', "NaN is not a JSON number"),
    ('"meta": {"x": -Infinity, ', "-Infinity is not a JSON number"),
    ('"meta": {"x": ' + HUGE + ", ", "5000 digits"),
])
def test_hostile_artifact(tmp_path: Path, edit: str, why: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "g.spec"
    spec.write_text("props a\nspec s { G a }\n")
    art = tmp_path / "a.json"
    assert main(["compile", str(spec), "--spec", "s", "-o", str(art)]) == 0
    text = art.read_text()
    assert '"meta": {' in text
    art.write_text(text.replace('"meta": {', edit, 1))
    trace = tmp_path / "t.jsonl"
    trace.write_text(json.dumps({"a": True}) + "\n")
    capsys.readouterr()
    rc, out = _run(["monitor", "--artifact", str(art), "--trace", str(trace)], capsys)
    assert rc == 1 and why in out


def test_deeply_nested_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    art = tmp_path / "a.json"
    art.write_text("[" * 1000 + "]" * 1000)
    trace = tmp_path / "t.jsonl"
    trace.write_text("{}\n")
    rc, out = _run(["monitor", "--artifact", str(art), "--trace", str(trace)], capsys)
    assert rc == 1 and "nested too deeply" in out
