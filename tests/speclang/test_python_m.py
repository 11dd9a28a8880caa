"""``python -m speclang`` behaves exactly like the ``speclang`` script: same output on both
streams and the same exit code, for success, spec errors, usage errors and ``--help``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "minecraft.spec"

# What the console script generated from pyproject.toml's [project.scripts] runs; used when the
# script itself is not next to this interpreter (a checkout without an install).
ENTRY_POINT = "import sys; from speclang.cli import main; sys.exit(main())"


def _script() -> list[str]:
    found = shutil.which("speclang", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-c", ENTRY_POINT]


def _run(command: list[str], args: list[str], cwd: Path) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100", "NO_COLOR": "1"}
    done = subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def bad_spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "bad.spec"
    path.write_text("props a\nspec s { G (a && b) }\n")
    return path


CASES = {
    "help": (["--help"], 0),
    "no command": ([], 2),
    "unknown command": (["frobnicate"], 2),
    "subcommand help": (["check", "--help"], 0),
    "check ok": (["check", str(EXAMPLE)], 0),
    "check errors": (["check", "{bad}"], 1),
    "usage error": (["compile"], 2),
}


@pytest.mark.parametrize("case", CASES)
def test_python_m_speclang_is_the_script(case: str, bad_spec: Path, tmp_path: Path) -> None:
    args, code = CASES[case]
    args = [a.replace("{bad}", str(bad_spec)) for a in args]
    as_module = _run([sys.executable, "-m", "speclang"], args, tmp_path)
    as_script = _run(_script(), args, tmp_path)
    assert as_module == as_script
    assert as_module[0] == code, as_module
    if case == "help":
        assert as_module[1].startswith("usage: speclang ")
    if case == "check errors":
        assert "bad.spec:2:" in as_module[2] and "Traceback" not in as_module[2]


def test_importing_the_main_module_runs_nothing() -> None:
    done = subprocess.run([sys.executable, "-c", "import speclang.__main__"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
