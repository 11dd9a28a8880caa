"""Seeds per method needed to detect the observed differences of a finished run directory.

For one metric of ``results.json`` (default: training violations of the final spec), the
reference method against each other one: the observed Hedges' g (speclang.stats.compare) and
the seeds per method a two-sided t-test at ``--alpha`` (divided by the number of
comparisons, Bonferroni, the bound Holm's first step uses) needs for 80% power at that
effect (speclang.stats.n_two_means).

    python scripts/power_from_run.py runs/dqn_methods --reference progressive-features-critic
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from speclang.stats import compare, n_two_means


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--metric", default="final_spec_violations")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--power", type=float, default=0.8)
    args = ap.parse_args(argv)
    results = json.loads((args.run_dir / "results.json").read_text())
    by: dict[str, list[float]] = {m: [] for m in results["methods"]}
    for r in results["runs"]:
        by[r["method"]].append(float(r[args.metric]))
    if args.reference not in by:
        raise SystemExit(f"{args.run_dir}: no method {args.reference!r} "
                         f"(methods: {', '.join(by)})")
    others = [m for m in by if m != args.reference]
    alpha = args.alpha / max(1, len(others))
    print(f"{args.metric}, {results['seeds']} seeds per method; alpha {args.alpha} / "
          f"{len(others)} = {alpha:.4g}, power {args.power}")
    print("| method | mean | reference mean | Hedges' g (method minus reference) "
          "| seeds per method needed |")
    print("|---|---|---|---|---|")
    ref = by[args.reference]
    for m in others:
        g = compare(ref, by[m])["hedges_g"]  # method minus reference, as the report
        n = n_two_means(g, power=args.power, alpha=alpha) if math.isfinite(g) else math.inf
        need = "inf" if not math.isfinite(n) else str(math.ceil(n))
        print(f"| {m} | {sum(by[m]) / len(by[m]):.1f} | {sum(ref) / len(ref):.1f} | "
              f"{g:.2f} | {need} |")


if __name__ == "__main__":
    main()
