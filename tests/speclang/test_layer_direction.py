"""Dependencies point one way: CLI -> ``speclang`` façade -> agents, llm -> runtime ->
compiler, with the front end beside the compiler. Checked on the same AST scan as
``scripts/import_graph.py`` (every import statement, also those inside functions), so the
table that script prints and this test cannot disagree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def edges() -> dict[tuple[str, str], list[str]]:
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" /
                                                  "import_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.import_edges()


def _between(edges, importers, imported) -> list[str]:
    return [f"{a} -> {b}: {w}" for (a, b), where in sorted(edges.items())
            if a in importers and b in imported for w in where]


def test_the_scan_sees_lazy_imports_and_the_cli(edges) -> None:
    # train.py imports the registry inside a function: a scan of module-level imports only
    # would miss it, and could pass every other test here vacuously.
    assert any(w.startswith("speclang/cli/train.py:") and w.endswith(" speclang.agents")
               for w in edges[("cli", "agents")])
    assert any(w.startswith("speclang/__main__.py:") for w in edges[("facade", "cli")])


def test_nothing_below_the_facade_imports_it_or_the_cli(edges) -> None:
    assert _between(edges, {"agents", "llm", "runtime", "frontend"}, {"cli", "facade"}) == []


def test_the_runtime_imports_no_agent(edges) -> None:
    assert _between(edges, {"runtime"}, {"agents", "llm"}) == []


def test_agents_and_llm_are_independent(edges) -> None:
    # Neither needs the other today; a shared piece belongs in the runtime or the compiler.
    assert _between(edges, {"agents"}, {"llm"}) == []
    assert _between(edges, {"llm"}, {"agents"}) == []


def test_only_the_cli_imports_agents_and_llm(edges) -> None:
    layers = {a for a, _ in edges}
    assert _between(edges, layers - {"cli"}, {"agents", "llm"}) == []


def test_the_facade_reaches_the_cli_only_from_main(edges) -> None:
    assert _between(edges, {"facade"}, {"agents", "llm"}) == []
    assert [w for w in edges[("facade", "cli")] if not w.startswith("speclang/__main__.py:")] == []
