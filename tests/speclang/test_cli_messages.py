"""Wording of CLI help and messages that users read (issue 18, "Messages")."""

from __future__ import annotations

from pathlib import Path

from speclang.cli import main

ROOT = Path(__file__).resolve().parents[2]
GRID = str(ROOT / "examples" / "gridworld.spec")


def _help(capsys, command: str) -> str:
    assert main([command, "--help"]) == 0
    return capsys.readouterr().out


def test_report_help_shows_a_single_percent_sign(capsys):
    out = _help(capsys, "report")
    assert "95% confidence" in " ".join(out.split())
    assert "%%" not in out


def test_train_help_names_the_option_it_means(capsys):
    out = _help(capsys, "train")
    assert "RUN_DIR" not in out
    assert "--out" in out


def test_a_string_where_a_number_belongs_is_quoted_once(tmp_path, capsys):
    spec = tmp_path / "s.spec"
    spec.write_text('observe temp: number\nprop hot = temp > "high"\nspec s { G !hot }\n')
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert 'unexpected "high";' in err
    assert '""high""' not in err


def test_one_step_is_singular(tmp_path, capsys):
    trace = tmp_path / "t.jsonl"
    trace.write_text('["torch"]\n')
    assert main(["explain", GRID, "--spec", "light_first", "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "after 1 step)" in out
    assert "1 steps" not in out
