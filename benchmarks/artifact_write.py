"""Cost of writing (and reading back) a compiled monitor's artifact, with and without the
per-edge guards, side by side in one process on the gfand family G p1 & F p2 .. F pn.

    .venv/bin/python benchmarks/artifact_write.py [--n 8,10,12] [--repeat 3]

Columns: compile = ``compile_formula`` (first call in this process for that formula, after
import); save = ``artifact.save`` with guards listed (``--guards``) and with the default
(guards left out above ``artifact.WRITE_GUARDS_UP_TO`` edges); load = ``artifact.load`` of
each file. Times are medians of ``--repeat`` runs (one run when a cell exceeds 5 s).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import speclang
from speclang import parse_formula
from speclang.compiler import artifact, graph, shaping


def _median_s(repeat: int, fn: Callable[..., object], *args: object, **kw: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args, **kw)
        times.append(time.perf_counter() - start)
        if times[-1] > 5:
            break
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="8,10,12")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(
        "| n | states | edges | compile s | save guards s | save default s | ratio "
        "| size guards MB | size default MB | load guards s | load default s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.n.split(",")):
            text = " & ".join(["G p1", *[f"F p{i}" for i in range(2, n + 1)]])
            formula = parse_formula(text)
            start = time.perf_counter()
            aut = speclang.compile_formula(formula)
            compile_s = time.perf_counter() - start
            # Potentials are computed once and shared, so the columns differ only in guards.
            pots = shaping.all_potentials(aut)
            n_edges = sum(len(t) for t in graph.successor_lists(aut))
            with_g, default = Path(tmp, f"g{n}.json"), Path(tmp, f"d{n}.json")
            r = args.repeat
            save_g = _median_s(r, artifact.save, aut, with_g, potentials=pots, guards=True)
            save_d = _median_s(r, artifact.save, aut, default, potentials=pots)
            load_g = _median_s(r, artifact.load, with_g)
            load_d = _median_s(r, artifact.load, default)
            print(
                f"| {n} | {aut.n_states} | {n_edges} | {compile_s:.3f} | {save_g:.3f} "
                f"| {save_d:.3f} | {save_g / save_d:.1f}x | {with_g.stat().st_size / 1e6:.1f} "
                f"| {default.stat().st_size / 1e6:.1f} | {load_g:.3f} | {load_d:.3f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
