"""One import name: the top-level folders compiler/, runtime/, agents/ and llm/ are installed
as speclang.compiler, speclang.runtime, ... and must never be imported by their bare names
(a bare import would load every module a second time, with its own global tables)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BARE = ("compiler", "runtime", "agents", "llm")


def _first_party_sources() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def _bare_imports(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] in BARE]
    return found


def test_the_scanner_sees_bare_imports() -> None:
    text = "import compiler\nfrom runtime.wrapper import X\nfrom . import agents\n" \
           "import speclang.llm\nimport llm.shield as s\n"
    assert _bare_imports(text) == [(1, "compiler"), (2, "runtime.wrapper"), (5, "llm.shield")]


def test_no_first_party_file_imports_a_bare_name() -> None:
    sources = _first_party_sources()
    assert len(sources) > 100  # the scan really ran over the repository
    offenders = [f"{path.relative_to(ROOT)}:{line}: {name}"
                 for path in sources
                 for line, name in _bare_imports(path.read_text(encoding="utf-8"))]
    assert offenders == []


@pytest.mark.parametrize("name", BARE)
def test_importing_the_bare_name_fails_clearly(name: str) -> None:
    # run from the repository root, where the folder itself is on sys.path
    result = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "ImportError" in result.stderr
    assert f"speclang.{name}" in result.stderr


def test_the_lint_rule_bans_bare_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from __future__ import annotations\n\nimport agents\nimport speclang\n\n"
                     "print(agents, speclang)\n")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache",
                             "--config", str(ROOT / "pyproject.toml"), "--select", "TID251",
                             "--output-format", "concise", str(probe)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "TID251 `agents` is banned: import speclang.agents" in result.stdout
    assert "speclang`" not in result.stdout.replace("speclang.agents", "")
