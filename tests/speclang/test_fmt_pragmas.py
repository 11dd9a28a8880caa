"""Pragmas are positional and unambiguous, and ``fmt`` never turns a comment into one:
``check(fmt(x))`` accepts whatever ``check(x)`` accepts, with the same lowered formulas."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import speclang
from speclang.compiler import compile_spec
from speclang.formatter import format_file
from speclang.parser import parse_text

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.spec"))
PRAGMA_LIKE = ["# pragma next = weak", "# pragma next = strong", "# pragma x", "#pragma",
               "// pragma next = weak", "#   pragma   next=weak  # more", "# plain"]


def _fmt(text: str) -> str:
    res = parse_text(text, "<t>")
    assert res.file is not None, res.diagnostics
    return format_file(res.file, res.source)


def _errors(text: str, path: str) -> list[str]:
    try:
        speclang.loads(text, path)
    except speclang.SpecErrors as exc:
        return [d.code for d in exc.diagnostics if d.is_error]
    return []


def _formulas(text: str, path: str) -> dict[str, object]:
    return {n: s.formula for n, s in speclang.loads(text, path).specs.items()}


def test_trailing_pragma_comment_keeps_strong_next() -> None:
    src = "props a, b\nspec s {\n  G a & # pragma next = weak\n  X b }\n"
    out = _fmt(src)
    assert "\n# pragma" not in out
    before, after = speclang.loads(src), speclang.loads(out)
    assert before.specs["s"].formula == after.specs["s"].formula
    a, b = compile_spec(before, "s"), compile_spec(after, "s")
    assert (a.n_states, a.accepting.tolist()) == (b.n_states, b.accepting.tolist())


def test_trailing_pragma_like_comment_stays_valid() -> None:
    out = _fmt("props a, b\nspec s {\n  G a & # pragma x\n  X b }\n")
    assert _errors(out, "<t>") == []


def test_pragma_after_the_first_declaration_is_an_error() -> None:
    with pytest.raises(speclang.SpecErrors, match="after the first declaration"):
        speclang.loads("props a\nspec s { X a }\n#pragma next = weak\n")


def test_contradictory_pragmas_are_an_error() -> None:
    with pytest.raises(speclang.SpecErrors, match="contradictory pragma"):
        speclang.loads("#pragma next = weak\n#pragma next = strong\nprops a\n")
    # Saying the same thing twice is harmless.
    m = speclang.loads("#pragma next = weak\n# pragma next = weak\nprops a\nspec s { X a }\n")
    assert m.weak_next


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(EXAMPLES), st.data())
def test_fmt_preserves_what_check_accepts(path: Path, data: st.DataObject) -> None:
    lines = path.read_text().split("\n")
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        lines[i] = lines[i] + " " + data.draw(st.sampled_from(PRAGMA_LIKE))
    text = "\n".join(lines)
    where = str(path)  # imports resolve next to the example
    if _errors(text, where):
        return
    out = _fmt(text)
    assert _errors(out, where) == [], out
    assert _formulas(out, where) == _formulas(text, where)


def test_pragma_errors_are_located_and_name_both_pragmas(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 18: contradictory pragmas must be reported at the second one, naming the first;
    # a pragma at the end of the file is refused where it stands, not applied retroactively.
    from speclang.cli import main
    p = tmp_path / "two.spec"
    p.write_text("#pragma next = weak\n#pragma next = strong\nprops a\nspec s { X a }\n")
    assert main(["check", str(p)]) == 1
    err = "".join(capsys.readouterr())
    assert f'{p}:2:9: error[E021]: contradictory pragma "next = strong"' in err
    assert 'line 1 already says "next = weak"' in err
    q = tmp_path / "late.spec"
    q.write_text("props a\nspec s { X a }\n#pragma next = weak\n")
    assert main(["check", str(q)]) == 1
    err = "".join(capsys.readouterr())
    assert f'{q}:3:9: error[E021]: pragma "next = weak" after the first declaration' in err
