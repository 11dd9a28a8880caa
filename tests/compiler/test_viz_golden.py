"""Golden DOT pictures of every example spec.

A change in layout conventions, guard minimisation or the compiler's state numbering shows up
here as a diff to review. Regenerate after an intended change with
``SPECLANG_UPDATE_GOLDEN=1 pytest tests/compiler/test_viz_golden.py``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

import speclang
from speclang.compiler import compile_spec
from speclang.compiler.viz import to_dot

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "dot"
UPDATE = os.environ.get("SPECLANG_UPDATE_GOLDEN") == "1"


@functools.cache
def _module(path: Path) -> speclang.Module:
    return speclang.load(str(path))


def _cases() -> list[tuple[Path, str]]:
    cases = []
    for path in sorted((ROOT / "examples").glob("*.spec")):
        module = _module(path)
        cases.extend((path, name) for name in module.specs)
    return cases


def _dot(path: Path, spec: str) -> str:
    return to_dot(compile_spec(_module(path), spec))


CASES = _cases()


@pytest.mark.parametrize(("path", "spec"), CASES, ids=[f"{p.stem}_{s}" for p, s in CASES])
def test_example_picture_matches_golden(path: Path, spec: str) -> None:
    golden = GOLDEN / f"{path.stem}_{spec}.dot"
    text = _dot(path, spec)
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"missing {golden}; run with SPECLANG_UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"{golden.name} differs; review, then regenerate"


def test_every_golden_file_has_an_example() -> None:
    expected = {f"{p.stem}_{s}.dot" for p, s in CASES}
    assert {g.name for g in GOLDEN.glob("*.dot")} <= expected
