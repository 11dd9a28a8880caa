"""Every code block of README.md and docs/*.md runs as written.

A ```python block runs in a fresh interpreter whose working directory is a scratch copy of
the repository's examples/ (so a block may write files); the page's earlier python blocks
run first, because a page is read top to bottom as one session (docs/testing.md builds on
its first block). Tests a block defines (`test_*` functions taking no arguments, such as
Hypothesis `@given` tests, and `unittest.TestCase` classes) are then run too: defining a
test that fails is not a working example.

A ```bash / ```sh / ```console block is run by bash in the same kind of scratch directory,
with `speclang` meaning this checkout's `python -m speclang`. In a console block the lines
starting with `$ ` are the commands and the other lines the output they print: each printed
line must appear in what the commands wrote, a block that shows an `error[...]` must exit
with 1 or 2, and any other must exit 0.

The only way to leave a block out is a visible marker on the line before it,
`<!-- skip-test: reason -->`; `test_skip_markers_are_rare_and_justified` keeps them few and
explained. Bare ``` blocks (grammar, diagrams, diagnostics shown as text) are not code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = re.compile(r"^<!--\s*skip-test:\s*(.*?)\s*-->\s*$")
SHELL = {"bash", "sh", "console", "shell"}
TIMEOUT = 600


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None  # the reason given by a skip-test marker

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def collect(page: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```(\S*)", lines[i])
        if not fence:
            i += 1
            continue
        indent, lang = fence.group(1), fence.group(2).lower()
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        marker = SKIP.match(lines[start - 1].strip()) if start > 0 else None
        blocks.append(Block(page, start + 1, lang, "\n".join(body) + "\n",
                            marker.group(1) if marker else None))
    return blocks


ALL = [b for page in PAGES for b in collect(page)]
CODE = [b for b in ALL if b.lang == "python" or b.lang in SHELL]


@pytest.fixture
def workdir(tmp_path):
    """A scratch directory holding a copy of examples/ and a `speclang` command."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    bindir = tmp_path / ".bin"
    bindir.mkdir()
    shim = bindir / "speclang"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m speclang "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), NO_COLOR="1",
               PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
               SPECLANG_CACHE=str(tmp_path / ".cache"), MPLBACKEND="Agg")
    return tmp_path, env


RUNNER = textwrap.dedent("""
    import inspect, sys, unittest
    blocks = {blocks!r}
    ns = {{"__name__": "__main__"}}
    for where, code in blocks:
        before = set(ns)  # after the loop: the names the last block defined are new
        exec(compile(code, where, "exec"), ns)
    for name, obj in list(ns.items()):
        if name in before or name.startswith("_"):
            continue
        if name.startswith("test") and callable(obj) and not isinstance(obj, type):
            try:
                params = inspect.signature(obj).parameters
            except (TypeError, ValueError):
                params = {{}}
            if not params:
                obj()
        elif isinstance(obj, type) and issubclass(obj, unittest.TestCase):
            result = unittest.TextTestRunner(stream=sys.stderr).run(
                unittest.defaultTestLoader.loadTestsFromTestCase(obj))
            if not result.wasSuccessful():
                sys.exit(f"{{name}} failed")
""")


def run_python(block: Block, cwd: Path, env: dict) -> None:
    earlier = [b for b in CODE if b.page == block.page and b.lang == "python"
               and b.line < block.line and b.skip is None]
    blocks = [(b.where, b.code) for b in earlier] + [(block.where, block.code)]
    proc = subprocess.run([sys.executable, "-c", RUNNER.format(blocks=blocks)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, (
        f"{block.where}: python block failed (exit {proc.returncode})\n"
        f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-6000:]}")


def console_parts(code: str) -> tuple[list[str], list[str]]:
    commands, output = [], []
    for line in code.splitlines():
        if line.startswith("$ "):
            commands.append(line[2:])
        elif line.strip():
            output.append(line.rstrip())
    return commands, output


def run_shell(block: Block, cwd: Path, env: dict) -> None:
    if block.lang == "console":
        commands, shown = console_parts(block.code)
        assert commands, f"{block.where}: console block without `$ ` commands"
        script = "\n".join(commands) + "\n"
    else:
        script, shown = "set -e\n" + block.code, []
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    said = proc.stdout + proc.stderr
    context = f"{block.where}: exit {proc.returncode}\n--- output\n{said[-6000:]}"
    assert "Traceback" not in said, context
    if any("error[" in line for line in shown):
        assert proc.returncode in (1, 2), context
    else:
        assert proc.returncode == 0, context
    for line in shown:
        assert line.strip() in said, f"{block.where}: shows {line!r}, not printed\n{context}"


@pytest.mark.parametrize("block", CODE, ids=[b.where for b in CODE])
def test_docs_block_runs(block, workdir):
    if block.skip is not None:
        pytest.skip(f"{block.where}: {block.skip}")
    cwd, env = workdir
    if block.lang == "python":
        run_python(block, cwd, env)
    else:
        run_shell(block, cwd, env)


def test_blocks_are_collected():
    """The collector sees the pages' code (a broken fence regex would make every test vacuous)."""
    assert any(b.page.name == "README.md" and b.lang == "python" for b in CODE)
    assert sum(b.lang == "python" for b in CODE) >= 12
    assert sum(b.lang in SHELL for b in CODE) >= 5


def test_skip_markers_are_rare_and_justified():
    skipped = [b for b in CODE if b.skip is not None]
    assert len(skipped) <= len(CODE) // 4, [b.where for b in skipped]
    for b in skipped:
        assert len(b.skip.split()) >= 3, f"{b.where}: say why the block is not run"
    # a marker must sit right before a code block, or it silently skips nothing
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            if SKIP.match(line.strip()):
                assert n + 1 < len(lines) and lines[n + 1].lstrip().startswith("```"), (
                    f"{page.relative_to(ROOT)}:{n + 1}: skip-test marker not before a block")


def test_runtime_performance_section_is_written_for_users():
    """docs/runtime.md's performance section says what the runtime costs and how to measure
    it, not who else was using the machine or which issue asked for it."""
    text = (ROOT / "docs" / "runtime.md").read_text(encoding="utf-8")
    section = text[text.index("## Performance"):]
    section = section[:section.find("\n## ", 1)] if "\n## " in section[1:] else section
    assert "benchmarks/monitor.py" in section and "What the numbers mean" in section
    for lab_note in ("engineer", "issue", "this session", "scratch script"):
        assert lab_note not in section.lower(), f"docs/runtime.md performance: {lab_note!r}"
