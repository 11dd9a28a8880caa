"""The CLI fuzz driver's fast profile: mutated examples and random formulas through
``speclang.cli.main``, zero internal errors. The long run is documented in
docs/testing.md."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_cli.py"


def _driver():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("fuzz_cli", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fast_profile_has_no_internal_errors(capsys: pytest.CaptureFixture[str]) -> None:
    rc = _driver().main_(["--n", "150", "--seed", "0"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["failures"] == 0, summary["first_failures"]
    assert rc == 0
    codes = summary["exit_codes"]
    assert codes.get("check exit 0", 0) > 0 and codes.get("check exit 1", 0) > 0


def test_driver_detects_an_internal_error(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    mod = _driver()

    def broken(argv: list[str]) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(mod, "main", broken)
    assert mod.main_(["--n", "3"]) == 1
    assert json.loads(capsys.readouterr().out)["failures"] == 3
