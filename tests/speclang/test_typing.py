"""Type checking sees speclang's real types through the folder links: a first-party import
is never silently ``Any`` (no blanket ``ignore_missing_imports``), and the package is clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("mypy")


def test_mypy_sees_first_party_types_and_the_package_is_clean(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    # Each line is wrong only if the names have their real types; typed as Any, mypy would
    # accept all of them.
    probe.write_text(
        "from speclang.compiler import compile_formula\n"
        "from speclang.runtime.batched import BatchedMonitor\n"
        "from speclang.llm.monitor import TextMonitor\n"
        "a: int = compile_formula\n"
        "b: str = BatchedMonitor\n"
        "c: bytes = TextMonitor\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "cache"), str(ROOT / "speclang"), str(probe)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors if line.startswith(str(probe))] == \
        ["4", "5", "6"], result.stdout
    assert [line for line in errors if not line.startswith(str(probe))] == [], result.stdout
