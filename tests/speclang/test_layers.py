"""The compiler is the bottom layer: it takes IR, and imports no speclang module outside
``speclang.compiler`` (not the front end, not the façade ``speclang``). Every import
statement counts, also those inside functions and under ``if TYPE_CHECKING`` (a lazy import
is still a dependency).

Inside the compiler, modules import each other without cycles, lazy imports included. Only
imports under ``if TYPE_CHECKING`` are left out of that graph: they name the class a
function receives, load nothing, and cannot make the import order matter (the kernel and the
graph algorithms step and read automata they are handed).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPILER = ROOT / "compiler"


def _module_name(path: Path) -> str:
    parts = path.relative_to(COMPILER).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(("speclang", "compiler", *parts))


def _type_checking(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree: ast.AST, typing_too: bool) -> list[ast.AST]:
    out, stack = [], [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if typing_too or not _type_checking(child):
                stack.append(child)
    return out


def _imports(path: Path, typing_too: bool = True) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones resolved; for
    ``from package import name`` both the package and ``package.name`` are listed (the
    name may be a submodule). ``typing_too=False`` leaves out ``if TYPE_CHECKING`` blocks."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in _nodes(ast.parse(path.read_text(), str(path)), typing_too):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names]
    return out


def _first_party(target: str) -> bool:
    return target == "speclang" or target.startswith("speclang.")


def _compiler_files() -> list[Path]:
    files = sorted(COMPILER.rglob("*.py"))
    assert len(files) > 10
    return files


def test_the_compiler_imports_nothing_above_it() -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in _compiler_files()
        for line, target in _imports(path)
        if _first_party(target) and not target.startswith("speclang.compiler")
        or target.split(".")[0] in ("runtime", "agents", "llm", "compiler")
    ]
    assert outside == []


def _compiler_graph(typing_too: bool = False) -> dict[str, set[str]]:
    """Which compiler module imports which (a module importing the package itself, as in
    ``from speclang.compiler import ir``, depends on ``ir``: the package edge is dropped,
    and the package's __init__ keeps its own edges)."""
    modules = {_module_name(p): p for p in _compiler_files()}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for _, target in _imports(path, typing_too):
            if target in modules and target not in (mod, "speclang.compiler"):
                graph[mod].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return path[path.index(t):] + [t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_scan_sees_lazy_imports() -> None:
    # compile_formula imports the builder inside the function, and from_table the table
    # builder: a scan of module-level imports only would miss them.
    graph = _compiler_graph()
    assert "speclang.compiler.build" in graph["speclang.compiler"]
    assert "speclang.compiler.tables" in graph["speclang.compiler.automaton"]


def test_compiler_modules_import_each_other_without_cycles() -> None:
    cycle = _cycle(_compiler_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_automaton_sits_below_pictures_explanations_and_graph_algorithms() -> None:
    # Type-only imports included: the automaton does not even name what is drawn from it.
    below = _compiler_graph(typing_too=True)["speclang.compiler.automaton"]
    assert below <= {"speclang.compiler." + m for m in ("ir", "kernel", "tables", "verdict")}
    for above in ("viz", "explain", "graph", "report_spec"):
        assert "speclang.compiler.automaton" in _compiler_graph(True)["speclang.compiler." + above]
