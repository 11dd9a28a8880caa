"""Name-resolution messages point at the right place and say the right thing."""

from __future__ import annotations

from pathlib import Path

import pytest

from speclang.cli import main


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out + err


def test_duplicate_parameter_points_at_the_repeat(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "dup.spec"
    p.write_text("props x, y\ndef f(a, b, a) = a & b\nspec s { G f(x, y, x) }\n")
    code, out = _check(p, capsys)
    assert code == 1
    # The caret is on the second "a" (column 13); the hint names the first (column 7).
    assert f'{p}:2:13: error[E012]: duplicate parameter "a"' in out
    assert f"first declared at {p}:2:7" in out
    assert "2:7: error" not in out


def test_every_repeat_of_a_parameter_is_reported_against_the_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "dup3.spec"
    p.write_text("props x\ndef f(a, a, a) = a\nspec s { G f(x, x, x) }\n")
    code, out = _check(p, capsys)
    assert code == 1
    assert f'{p}:2:10: error[E012]: duplicate parameter "a"' in out
    assert f'{p}:2:13: error[E012]: duplicate parameter "a"' in out
    assert out.count(f"first declared at {p}:2:7") == 2


def test_naming_a_spec_in_a_formula_says_specs_cannot_be_referenced(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "specref.spec"
    p.write_text("props x, y\nspec a { G x }\nspec b { a & F y }\n")
    code, out = _check(p, capsys)
    assert code == 1
    assert (f'{p}:3:10: error[E010]: "a" is a spec, and specs cannot be referenced '
            "from formulas") in out
    assert f"spec declared at {p}:2:6" in out and "`def a = ...`" in out
    assert "did you mean" not in out and "undeclared proposition" not in out


def test_calling_an_imported_spec_says_specs_cannot_be_referenced(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lib.spec").write_text("props x\nspec a { G x }\n")
    p = tmp_path / "main.spec"
    p.write_text('import "lib.spec"\nspec b { a(x) }\n')
    code, out = _check(p, capsys)
    assert code == 1
    assert f'{p}:2:10: error[E010]: "a" is a spec, and specs cannot be referenced' in out
    assert "undeclared template" not in out


def test_the_hinted_def_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Following the hint: a def may share the spec's name, since specs have their own.
    p = tmp_path / "shared.spec"
    p.write_text("props x, y\ndef a = G x\nspec a { a }\nspec b { a & F y }\n")
    code, _ = _check(p, capsys)
    assert code == 0
