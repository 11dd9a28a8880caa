"""The compiler is the bottom layer: it takes IR, and imports no speclang module outside
``speclang.compiler`` (not the front end, not the façade ``speclang``). Every import
statement counts, also those inside functions and under ``if TYPE_CHECKING`` (a lazy import
is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPILER = ROOT / "compiler"


def _module_name(path: Path) -> str:
    parts = path.relative_to(COMPILER).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(("speclang", "compiler", *parts))


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones resolved; for
    ``from package import name`` both the package and ``package.name`` are listed (the
    name may be a submodule)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
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


def _compiler_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in _compiler_files()}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for _, target in _imports(path):
            # `from speclang.compiler import ir` names the module ir; the package itself
            # (its __init__) counts only when nothing more specific matches.
            if target in modules and target != mod:
                graph[mod].add(target)
    # A submodule's import of `speclang.compiler` runs the package's __init__, whose own
    # imports are the package's edges.
    return graph


def test_the_scan_sees_lazy_imports() -> None:
    # compile_formula imports the builder inside the function: a scan of module-level
    # imports only would miss it, and the tests above could pass vacuously.
    graph = _compiler_graph()
    assert "speclang.compiler.build" in graph["speclang.compiler"]
    assert "speclang.compiler.guards" in graph["speclang.compiler.viz"]
