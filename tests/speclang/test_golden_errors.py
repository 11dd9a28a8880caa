"""Every file in examples/errors/ has its exact `speclang check` output in a golden
``.expected`` file (paths relative to the repository root).

Regenerate after an intentional change with ``SPECLANG_UPDATE_GOLDEN=1 pytest <this file>``
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from speclang.cli import main

ROOT = Path(__file__).resolve().parents[2]
ERRORS = sorted((ROOT / "examples" / "errors").glob("*.spec"))
CODES = ["E001", "E002", "E003", "E010", "E011", "E012", "E013", "E014", "E015", "E016",
         "E017", "E018", "E019", "E020", "E021", "E022", "E023", "E024", "E025", "W001", "W002",
         "W004"]


@pytest.mark.parametrize("path", ERRORS, ids=lambda p: p.name)
def test_check_output_matches_golden(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    rel = path.relative_to(ROOT).as_posix()
    code = main(["check", rel])
    out = capsys.readouterr().err
    golden = path.with_suffix(".expected")
    if os.environ.get("SPECLANG_UPDATE_GOLDEN"):
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8")
    assert code == (1 if "error[" in out else 0)


def test_every_documented_code_is_demonstrated() -> None:
    shown = "".join(p.with_suffix(".expected").read_text(encoding="utf-8") for p in ERRORS)
    missing = [c for c in CODES if f"[{c}]" not in shown]
    assert not missing, f"no golden example shows {missing}"
    doc = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    undocumented = [c for c in CODES + ["E004", "E005"] if f"| {c} " not in doc]
    assert not undocumented


def test_json_format_lists_every_diagnostic(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.chdir(ROOT)
    code = main(["check", "--format", "json", "examples/errors/mixed_types.spec",
                 "examples/errors/unused.spec"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [d["code"] for d in data] == ["E017"] * 4 + ["W001", "W002", "W002"]
    first = data[0]
    assert first == {
        "severity": "error", "code": "E017",
        "message": 'cannot compare float observable "health" with "low"',
        "path": "examples/errors/mixed_types.spec", "line": 4, "col": 22, "end_line": 4,
        "end_col": 25, "hint": "compare a number observable with a number",
    }
