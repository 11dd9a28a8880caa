"""Seeds per method needed to detect the observed differences of a finished run directory.

For one metric of ``results.json`` (default: training violations of the final spec), the
reference method against each other one: the observed Hedges' g (speclang.stats.compare) and
the seeds per method a two-sided t-test at ``--alpha`` (divided by the number of
comparisons, Bonferroni, the bound Holm's first step uses) needs for 80% power at that
effect (speclang.stats.n_two_means). Reads the gridworld's run directories (``speclang
train`` of the tabular and DQN learners) and the VizDoom ones (``vizdoom_ppo``,
``vizdoom_randpol``: methods and seeds from their ``runs``; pass ``--metric
final_spec_violating_episodes``).

Without a run directory, ``--summary METHOD=MEAN,HALF_WIDTH,SEEDS`` (once per method) takes a
published table's mean ± 95% t-interval instead: the standard deviation is recovered from the
half-width (speclang.stats.sd_from_ci). ``--seeds N`` adds the smallest effect a test with N
seeds per method detects (speclang.stats.detectable_effect), standardised and in the
metric's units (times the pooled standard deviation of the table).

    python scripts/power_from_run.py runs/dqn_methods --reference progressive-features-critic
    python scripts/power_from_run.py --reference progressive \\
        --summary zero_shot=99.6,25.9,5 --summary progressive=109.8,26.7,5 --seeds 10
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from speclang.stats import compare, detectable_effect, n_two_means, sd_from_ci


def _runs(run_dir: Path, metric: str) -> dict[str, list[float]]:
    results = json.loads((run_dir / "results.json").read_text())
    names = results.get("methods") or list(dict.fromkeys(r["method"] for r in results["runs"]))
    by: dict[str, list[float]] = {m: [] for m in names}
    for r in results["runs"]:
        if metric not in r:
            raise SystemExit(f"{run_dir}: no metric {metric!r} in the runs")
        by[r["method"]].append(float(r[metric]))
    return by


def _summary(entries: list[str]) -> dict[str, tuple[float, float, int]]:
    out = {}
    for e in entries:
        name, _, rest = e.partition("=")
        try:
            mean, half, n = rest.split(",")
            out[name] = (float(mean), sd_from_ci(float(half), int(n)), int(n))
        except ValueError:
            raise SystemExit(f"--summary {e!r}: expected METHOD=MEAN,HALF_WIDTH,SEEDS") from None
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, nargs="?")
    ap.add_argument("--reference", required=True)
    ap.add_argument("--metric", default="final_spec_violations")
    ap.add_argument("--summary", action="append", default=[])
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--power", type=float, default=0.8)
    args = ap.parse_args(argv)
    if (args.run_dir is None) == (not args.summary):
        raise SystemExit("give a run directory or --summary entries (not both)")
    if args.run_dir is not None:
        by = _runs(args.run_dir, args.metric)
        stats = {m: (sum(v) / len(v), _sd(v), len(v)) for m, v in by.items()}
    else:
        stats = _summary(args.summary)
    if args.reference not in stats:
        raise SystemExit(f"no method {args.reference!r} (methods: {', '.join(stats)})")
    others = [m for m in stats if m != args.reference]
    alpha = args.alpha / max(1, len(others))
    seeds = sorted({n for _, _, n in stats.values()})
    print(f"{args.metric}, {'/'.join(map(str, seeds))} seeds per method; alpha {args.alpha} / "
          f"{len(others)} = {alpha:.4g}, power {args.power}")
    print("| method | mean | reference mean | Hedges' g (method minus reference) "
          "| seeds per method needed |")
    print("|---|---|---|---|---|")
    ref = stats[args.reference]
    pooled_sds = []
    for m in others:
        if args.run_dir is not None:
            g = compare(by[args.reference], by[m])["hedges_g"]  # method minus reference
        else:
            g = _hedges_g(ref, stats[m])
        pooled_sds.append(_pooled(ref, stats[m]))
        n = n_two_means(g, power=args.power, alpha=alpha) if math.isfinite(g) else math.inf
        need = "inf" if not math.isfinite(n) else str(math.ceil(n))
        print(f"| {m} | {stats[m][0]:.1f} | {ref[0]:.1f} | {g:.2f} | {need} |")
    if args.seeds is not None:
        d = detectable_effect(args.seeds, power=args.power, alpha=alpha)
        sd = sum(pooled_sds) / len(pooled_sds) if pooled_sds else math.nan
        print(f"with {args.seeds} seeds per method: detectable |g| >= {d:.2f}, about "
              f"{d * sd:.1f} in {args.metric} (mean pooled standard deviation {sd:.1f})")


def _sd(v: list[float]) -> float:
    mu = sum(v) / len(v)
    return math.sqrt(sum((x - mu) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else math.nan


def _pooled(a: tuple[float, float, int], b: tuple[float, float, int]) -> float:
    (_, sa, na), (_, sb, nb) = a, b
    return math.sqrt(((na - 1) * sa**2 + (nb - 1) * sb**2) / (na + nb - 2))


def _hedges_g(ref: tuple[float, float, int], other: tuple[float, float, int]) -> float:
    """Method minus reference, as compare's, from means and standard deviations."""
    df = ref[2] + other[2] - 2
    return (other[0] - ref[0]) / _pooled(ref, other) * (1.0 - 3.0 / (4.0 * df - 1.0))


if __name__ == "__main__":
    main()
