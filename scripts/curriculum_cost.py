"""Where a finished run's violations of the final spec come from (issue 14): during the
curriculum (before the final spec; zero for methods that start on it) and on the final spec,
with the environment steps each took, the greedy success rate after training, and the
violations at equal experience: within the
first STEPS environment steps of every run (default: the fewest any run took). With
``--reference``: Welch tests of each method against it on the equal-steps count
(difference [95% CI], Holm-adjusted p over the table (raw p)).

    python scripts/curriculum_cost.py RUN_DIR [--steps STEPS] [--reference METHOD]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from speclang.stats import compare, holm, mean_ci


def _fmt(values: list[float]) -> str:
    m, h = mean_ci(values)
    return f"{m:.1f} ± {h:.1f}" if abs(m) < 1000 else f"{m:,.0f} ± {h:,.0f}"


def _rate(values: list[float]) -> str:
    m, h = mean_ci(values)
    return f"{m:.3f} ± {h:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--reference", default=None)
    args = ap.parse_args(argv)
    results = json.loads((args.run / "results.json").read_text())
    with np.load(args.run / "episodes.npz") as z:
        fviol, spec, length = z["fviol"], z["spec"], z["length"]
    last = len(results["specs"]) - 1
    runs = results["runs"]  # method-major, as the rows of episodes.npz
    steps = args.steps or min(int(r["env_steps"]) for r in runs)
    per: dict[str, dict[str, list[float]]] = {}
    for row, rec in enumerate(runs):
        n = int(rec["episodes"])
        f, s, ln = fviol[row, :n], spec[row, :n], length[row, :n].astype(np.int64)
        within = np.cumsum(ln) <= steps  # episodes ended within the first `steps` steps
        d = per.setdefault(rec["method"], {k: [] for k in (
            "total", "before", "on", "steps_before", "steps", "equal", "success")})
        d["total"].append(float(f.sum()))
        d["before"].append(float((f & (s < last)).sum()))
        d["on"].append(float((f & (s == last)).sum()))
        d["steps_before"].append(float(ln[s < last].sum()))
        d["steps"].append(float(ln.sum()))
        d["equal"].append(float(f[within].sum()))
        d["success"].append(float(rec["eval_success_rate"]))
    print(f"{args.run}: violations of the final spec, mean ± 95% CI over seeds; equal "
          f"experience = the episodes ended within the first {steps:,} environment steps")
    print()
    print("| method | all training | during the curriculum | on the final spec | "
          "env steps of the curriculum | env steps in all | within the first "
          f"{steps:,} steps | greedy success |")
    print("|---|---|---|---|---|---|---|---|")
    for m, d in per.items():
        print(f"| {m} | {_fmt(d['total'])} | {_fmt(d['before'])} | {_fmt(d['on'])} | "
              f"{_fmt(d['steps_before'])} | {_fmt(d['steps'])} | {_fmt(d['equal'])} | "
              f"{_rate(d['success'])} |")
    if args.reference:
        if args.reference not in per:
            print(f"error: no method {args.reference!r}", file=sys.stderr)
            return 1
        ref = per[args.reference]["equal"]
        tests = {m: compare(ref, d["equal"]) for m, d in per.items() if m != args.reference}
        adj = holm({m: t["welch_p"] for m, t in tests.items()})
        print()
        print(f"`{args.reference}` against each method, violations within the first "
              f"{steps:,} steps (method minus reference):")
        print()
        print("| method | difference [95% CI] | Hedges' g | Welch p Holm (raw) |")
        print("|---|---|---|---|")
        for m, t in tests.items():
            print(f"| {m} | {t['diff']:.1f} [{t['diff_ci'][0]:.1f}, {t['diff_ci'][1]:.1f}] | "
                  f"{t['hedges_g']:.2f} | {adj[m]:.3g} ({t['welch_p']:.3g}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
