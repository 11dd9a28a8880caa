"""`speclang explain` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from speclang.cli import main

ROOT = Path(__file__).resolve().parents[2]
GRID = str(ROOT / "examples" / "gridworld.spec")


def _trace(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_text_names_the_violated_conjunct_under_its_source(tmp_path, capsys):
    trace = _trace(tmp_path, "[]", '["water"]', '{"lava": true}', "[]", '["lava"]')
    assert main(["explain", GRID, "--spec", "cooled_lava", "--trace", trace]) == 0
    out = capsys.readouterr().out
    table, _, cause = out.partition("\n\n")
    assert table.splitlines()[0].split() == [
        "step",
        "letter",
        "state",
        "verdict",
        "remaining",
        "obligation",
    ]
    assert table.splitlines()[3].split()[:4] == ["3", "{lava}", "0", "presumably_satisfied"]
    assert table.splitlines()[5].split()[:4] == ["5", "{lava}", "2", "violated"]
    assert f"{GRID}:14:18: error[violation]: step 5 violates `G(lava -> Y water)`" in cause
    assert "14 |     G !creeper & G(lava -> Y water)" in cause
    assert "= cause: at step 5 `lava` held but `Y water` was false" in cause


def test_json_for_tools(tmp_path, capsys):
    trace = _trace(tmp_path, "[]", '["dark"]')
    assert (
        main(["explain", GRID, "--spec", "light_first", "--trace", trace, "--format", "json"]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["spec"] == "light_first"
    assert [s["verdict"] for s in doc["steps"]] == ["presumably_satisfied", "violated"]
    (conj,) = doc["violation"]["conjuncts"]
    assert conj["text"] == "requires(dark, torch)"
    assert conj["span"]["line"] == 18
    assert "`torch` never held up to step 2" in conj["reason"]


def test_clean_trace_has_no_cause(tmp_path, capsys):
    trace = _trace(tmp_path, '["torch"]', '["dark"]')
    assert (
        main(["explain", GRID, "--spec", "light_first", "--trace", trace, "--format", "json"]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["violation"] is None
    assert doc["final_verdict"] == "satisfied"


def test_formula_mode(tmp_path, capsys):
    trace = _trace(tmp_path, '["a"]', "[]")
    assert main(["explain", "-f", "G(a -> X b)", "--trace", trace]) == 0
    out = capsys.readouterr().out
    assert "= cause: at step 1 `a` held but `X b` was false: `b` did not hold at step 2" in out
    # The conjunct is underlined inside the formula as typed.
    assert "<formula>:1:1: error[violation]: step 2 violates `G(a -> X b)`" in out
    assert "1 | G(a -> X b)\n  | ^^^^^^^^^^^\n" in out


def test_formula_mode_underlines_the_right_conjunct(tmp_path, capsys):
    trace = _trace(tmp_path, "[]", '["lava"]')
    assert main(["explain", "-f", "F goal & G !lava", "--trace", trace]) == 0
    out = capsys.readouterr().out
    assert "<formula>:1:10: error[violation]: step 2 violates `G !lava`" in out
    assert "  |          ^^^^^^^\n" in out


def test_bad_trace_line_is_located(tmp_path, capsys):
    trace = _trace(tmp_path, "[]", '["lavaa"]')
    assert main(["explain", GRID, "--spec", "no_lava", "--trace", trace]) == 1
    assert (
        f'{trace}:2: error: unknown proposition "lavaa" (did you mean "lava"?)'
        in capsys.readouterr().err
    )


def test_file_and_formula_together_is_a_usage_error(tmp_path, capsys):
    trace = _trace(tmp_path, "[]")
    assert main(["explain", GRID, "-f", "G a", "--trace", trace]) == 2
    assert main(["explain", GRID, "--trace", trace]) == 2


def test_trace_from_stdin(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO('[]\n["lava"]\n'))
    assert main(["explain", "-f", "G !lava", "--trace", "-", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["violation"]["step"] == 2
