"""Where and when a finished run's violations of the final spec happen (issue 14): per spec
of the progression, per window of environment steps, and (for runs recorded with the
violation sites, ``fviol_cell`` / ``fviol_q`` in episodes.npz) per cell and per monitor
state of the final spec's automaton. Counts are means over the seeds of each method.

    python scripts/violation_sites.py RUN_DIR [--methods M1,M2] [--windows 0,5000,...]
        [--top 6]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from speclang.agents.envs.layouts import PROPS, get_layout

_WINDOWS = "0,5000,10000,25000,50000,100000,150000"


def _label(layout_name: str, cell: int) -> str:
    layout = get_layout(layout_name)
    mask = int(layout.base_masks()[cell])
    props = [p for i, p in enumerate(PROPS) if mask >> i & 1] or ["-"]
    return f"({cell // layout.size},{cell % layout.size}) {'+'.join(props)}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--methods", default=None, help="comma-separated (default: all)")
    ap.add_argument("--windows", default=_WINDOWS, help="step window edges")
    ap.add_argument("--top", type=int, default=6, help="cells and states listed")
    args = ap.parse_args(argv)
    results = json.loads((args.run / "results.json").read_text())
    config = json.loads((args.run / "config.json").read_text())
    layout = config["env"]["layout"]
    with np.load(args.run / "episodes.npz") as z:
        arrays = {k: z[k] for k in z.files}
    sites = "fviol_cell" in arrays
    edges = [int(x) for x in args.windows.split(",")]
    specs = results["specs"]
    wanted = args.methods.split(",") if args.methods else results["methods"]
    print(f"{args.run}: final-spec violations, mean over seeds")
    print()
    heads = [f"on {s}" for s in specs] + [f"steps {a:,}-{b:,}" for a, b in
                                           zip(edges, edges[1:], strict=False)]
    print("| method | " + " | ".join(heads) + " |")
    print("|---|" + "---|" * len(heads))
    where: dict[str, tuple[Counter[int], Counter[int], int]] = {}
    for m in wanted:
        rows = [i for i, r in enumerate(results["runs"]) if r["method"] == m]
        if not rows:
            raise SystemExit(f"error: no method {m!r} in {args.run}")
        per: list[list[float]] = []
        cells: Counter[int] = Counter()
        states: Counter[int] = Counter()
        for i in rows:
            n = int(results["runs"][i]["episodes"])
            f = arrays["fviol"][i, :n]
            spec = arrays["spec"][i, :n]
            ends = np.cumsum(arrays["length"][i, :n].astype(np.int64))
            by_spec = [float((f & (spec == k)).sum()) for k in range(len(specs))]
            by_win = [float(f[(ends > a) & (ends <= b)].sum())
                      for a, b in zip(edges, edges[1:], strict=False)]
            per.append(by_spec + by_win)
            if sites:
                cells.update(arrays["fviol_cell"][i, :n][f].tolist())
                states.update(arrays["fviol_q"][i, :n][f].tolist())
        mean = np.mean(per, axis=0)
        print(f"| {m} | " + " | ".join(f"{v:.1f}" for v in mean) + " |")
        where[m] = (cells, states, len(rows))
    if not sites:
        print()
        print("(no violation sites recorded in this run directory)")
        return 0
    for m, (cells, states, n_seeds) in where.items():
        top = ", ".join(f"{_label(layout, c)}: {k / n_seeds:.1f}"
                        for c, k in cells.most_common(args.top))
        qs = ", ".join(f"q{q}: {k / n_seeds:.1f}" for q, k in states.most_common(args.top))
        print()
        print(f"{m}: by cell {top}; by final-spec state before the step {qs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
