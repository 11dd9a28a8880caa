"""Render the pictures of every example spec into docs/pictures/ (SVG, plus PNG with --png).

    .venv/bin/python docs/pictures/render_examples.py [--png]

Run from the repository root after changing the examples or the picture conventions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import speclang
from speclang.compiler import compile_spec
from speclang.compiler.viz import render

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "pictures"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--png", action="store_true", help="also write PNGs (for viewing)")
    args = parser.parse_args()
    for path in sorted((ROOT / "examples").glob("*.spec")):
        module = speclang.load(str(path))
        for name in module.specs:
            aut = compile_spec(module, name)
            stem = OUT / f"{path.stem}_{name}"
            render(aut, stem.with_suffix(".svg"))
            if args.png:
                render(aut, stem.with_suffix(".png"))
            print(f"{stem.name}: {aut.n_states} states")


if __name__ == "__main__":
    main()
