"""How long pictures of large monitors take: DOT text, then SVG through Graphviz.

    .venv/bin/python benchmarks/viz_render.py [--repeat 3]

Two 500-state-class automata: the compiled formula ``G(a -> X[9] b)`` (513 states, a
shift register: many edges between far-apart states) and a hand-built 500-state counter
whose every state has a reset edge back to the start (the worst case for the layered
``dot`` layout, which is why large automata switch to ``sfdp``). Prints the median of
``--repeat`` runs per phase.
"""

from __future__ import annotations

import argparse
import statistics
import time

from speclang import compile_formula
from speclang.compiler.automaton import Automaton
from speclang.compiler.viz import run_dot, to_dot


def counter(n: int) -> Automaton:
    table = []
    for q in range(n):
        row = []
        for letter in range(4):
            a, b = letter & 1, letter >> 1
            row.append(n - 1 if q == n - 1 else (0 if b else (q + 1 if a else q)))
        table.append(row)
    return Automaton.from_table(("a", "b"), table, [True] * (n - 1) + [False], name=f"count{n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = {
        "G(a -> X[9] b)": compile_formula("G(a -> X[9] b)"),
        "counter(500)": counter(500),
    }
    for label, aut in cases.items():
        dot_s, svg_s = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            text = to_dot(aut)
            t1 = time.perf_counter()
            run_dot(text, "svg")
            t2 = time.perf_counter()
            dot_s.append(t1 - t0)
            svg_s.append(t2 - t1)
        print(
            f"{label}: {aut.n_states} states, DOT {statistics.median(dot_s):.3f} s, "
            f"SVG {statistics.median(svg_s):.3f} s (median of {args.repeat})"
        )


if __name__ == "__main__":
    main()
