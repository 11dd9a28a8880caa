"""A contributor's editor finds the definitions behind the one import name.

jedi (the engine behind go-to-definition in many editors and language servers) is asked,
as an editor would, where the names the README and docs import are defined. Through the
``speclang/<package>`` links it must land on the real source file in the repository's
top-level folder (``compiler/``, ``runtime/``, ...), also for names a package loads lazily.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

jedi = pytest.importorskip("jedi")

ROOT = Path(__file__).resolve().parents[2]

# (import line, name to jump from, file the definition is in, relative to the root)
CASES = [
    ("from speclang.compiler.kernel import step", "step", "compiler/kernel.py"),
    ("from speclang.compiler import compile_formula", "compile_formula", "compiler/__init__.py"),
    ("from speclang.compiler import Automaton", "Automaton", "compiler/automaton.py"),
    ("from speclang.runtime import SafeguardWrapper", "SafeguardWrapper", "runtime/wrapper.py"),
    ("from speclang.runtime import SafeguardVectorWrapper", "SafeguardVectorWrapper",
     "runtime/vector.py"),
    ("from speclang.runtime import ActionShield", "ActionShield", "runtime/shield.py"),
    ("from speclang.runtime import MiniGridLabeler", "MiniGridLabeler",
     "runtime/envs/minigrid.py"),
    ("from speclang.llm.shield import SpecLogitsProcessor", "SpecLogitsProcessor",
     "llm/shield.py"),
    ("from speclang.llm.monitor import TextMonitor", "TextMonitor", "llm/monitor.py"),
    ("from speclang.agents.registry import DEFAULT", "DEFAULT", "agents/registry.py"),
    ("from speclang import load", "load", "speclang/loader.py"),
]


@pytest.mark.parametrize(("line", "name", "where"), CASES, ids=[c[1] for c in CASES])
def test_go_to_definition_lands_in_the_source_file(line: str, name: str, where: str) -> None:
    script = jedi.Script(line + "\n", path=str(ROOT / "scratch.py"), project=jedi.Project(ROOT))
    found = script.goto(1, line.rindex(name) + 1, follow_imports=True)
    assert found, f"no definition for {name} ({line})"
    paths = {Path(os.path.realpath(d.module_path)) for d in found if d.module_path}
    assert (ROOT / where).resolve() in paths, (name, sorted(map(str, paths)))
    assert all(d.type != "module" or d.name != name for d in found)
