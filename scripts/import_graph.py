"""Print which speclang layer imports which: the before/after table for the architecture work.

Layers: ``cli`` (speclang/cli), ``frontend`` (the other speclang/*.py modules), ``compiler``,
``runtime``, ``agents``, ``llm``. Every import statement counts, also the ones inside functions
(a lazy import is still a dependency). Run: ``python scripts/import_graph.py [--edges]``.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("cli", "facade", "frontend", "compiler", "runtime", "agents", "llm")
SUB = {"compiler", "runtime", "agents", "llm", "cli"}
FACADE = {"speclang", "speclang.__main__"}


def layer_of_module(mod: str) -> str | None:
    parts = mod.split(".")
    if parts[0] != "speclang":
        return None
    if len(parts) == 1:
        return "facade"
    if parts[1] in SUB:
        return parts[1]
    if parts[1] == "__main__":
        return "facade"
    return "frontend"


def files():
    for sub, layer in (("compiler", "compiler"), ("runtime", "runtime"), ("agents", "agents"),
                       ("llm", "llm"), ("speclang/cli", "cli")):
        for p in sorted((ROOT / sub).rglob("*.py")):
            rel = ".".join(p.relative_to(ROOT).with_suffix("").parts)
            yield p, layer, "speclang." + rel.removeprefix("speclang.")
    for p in sorted((ROOT / "speclang").glob("*.py")):
        layer = "facade" if p.stem in ("__init__", "__main__") else "frontend"
        yield p, layer, f"speclang.{p.stem}"


def _is_module(name: str) -> bool:
    return name in SUB or (ROOT / "speclang" / f"{name}.py").exists()


def resolve(node: ast.ImportFrom, modname: str, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    base = modname.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_edges() -> dict[tuple[str, str], list[str]]:
    """``(importer layer, imported layer) -> ["path:line module", ...]`` over every import
    between two different layers (tests/speclang/test_layer_direction.py asserts on it)."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path, layer, mod in files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = resolve(node, mod, path.name == "__init__.py")
                targets = [base]
                if base == "speclang":
                    targets = [f"speclang.{a.name}" if _is_module(a.name) else "speclang"
                               for a in node.names]
            for t in targets:
                other = layer_of_module(t)
                if other and other != layer:
                    found[(layer, other)].append(f"{path.relative_to(ROOT)}:{node.lineno} {t}")
    return found


def main() -> None:
    edges = import_edges()
    width = max(map(len, LAYERS))
    print("imports".ljust(width), *[name.rjust(width) for name in LAYERS])
    for a in LAYERS:
        cells = [(str(len(edges[(a, b)])) if edges[(a, b)] else ".").rjust(width) for b in LAYERS]
        print(a.ljust(width), *cells)
    if "--edges" in sys.argv:
        for (a, b), where in sorted(edges.items()):
            if not where:
                continue
            print(f"\n{a} -> {b}:")
            for w in where:
                print("  ", w)


if __name__ == "__main__":
    main()
