"""Tests between the methods of a VizDoom PPO run directory, paired by seed.

First, per method, the mean ± 95% t half-width over seeds of the training violations
(episodes violating the final spec S2, monitor violations of the active spec, those in the
S2 stage), the scenario's return, medkits, episodes, the steps the shield acted on, the
run's wall time and its environment steps. Then, per metric of ``--metrics``, a table of
contrasts ``A:B`` (``--pairs``; default: every contrast of the issue-14 experiment whose
methods are present): the difference B - A paired by seed with its 95% t interval, Hedges'
g_z with a 95% bootstrap interval, the paired t-test and the Wilcoxon signed-rank p-values,
each Holm-adjusted over the table (raw in brackets), and the unpaired Welch p and Hedges' g
for reference (speclang.stats). Only seeds every method of a contrast completed are used.

    .venv/bin/python benchmarks/vizdoom_compare.py runs/vizdoom_cpu_critic [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from speclang.stats import compare, holm, mean_ci, paired  # noqa: E402

DEFAULT_PAIRS = (
    ("zero_shot_critic", "progressive_critic"),
    ("zero_shot", "progressive"),
    ("progressive", "progressive_critic"),
    ("zero_shot", "zero_shot_critic"),
)
COLUMNS = (
    "final_spec_violating_episodes",
    "violations",
    "violations_s2",
    "return",
    "medkits",
    "medkits_last20pct",
    "episodes",
    "shielded_steps",
    "seconds",
    "steps",
)


def _by_method(runs: list[dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for r in runs:
        out.setdefault(r["method"], {})[int(r["seed"])] = r
    return out


def summary_table(by: dict[str, dict[int, dict[str, Any]]]) -> str:
    lines = ["| method | seeds | " + " | ".join(COLUMNS) + " |",
             "|---|---|" + "---|" * len(COLUMNS)]
    for m, rs in by.items():
        cells = []
        for c in COLUMNS:
            vals = [r[c] for r in rs.values() if c in r]
            if not vals:
                cells.append("-")
                continue
            mu, half = mean_ci(vals)
            cells.append(f"{mu:.1f} ± {half:.1f}")
        lines.append(f"| {m} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def contrasts(by: dict[str, dict[int, dict[str, Any]]], pairs: list[tuple[str, str]],
              metric: str) -> list[dict[str, Any]]:
    rows = []
    for a, b in pairs:
        seeds = sorted(set(by[a]) & set(by[b]))
        xa = [float(by[a][s][metric]) for s in seeds]
        xb = [float(by[b][s][metric]) for s in seeds]
        rows.append({"a": a, "b": b, "seeds": len(seeds), "paired": paired(xa, xb),
                     "welch": compare(xa, xb)})
    t_adj = holm({i: r["paired"]["t_p"] for i, r in enumerate(rows)})
    w_adj = holm({i: r["paired"]["wilcoxon_p"] for i, r in enumerate(rows)})
    for i, r in enumerate(rows):
        r["t_p_holm"], r["wilcoxon_p_holm"] = t_adj[i], w_adj[i]
    return rows


def contrast_table(rows: list[dict[str, Any]], metric: str) -> str:
    lines = [f"| {metric}: B - A | seeds | difference [95% CI] | Hedges' g_z [95% CI] "
             "| paired t p, Holm (raw) | Wilcoxon p, Holm (raw) | Welch p (raw), Hedges' g |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        p, w = r["paired"], r["welch"]
        lo, hi = p["diff_ci"]
        glo, ghi = p["g_ci"]
        lines.append(
            f"| {r['b']} - {r['a']} | {r['seeds']} | {p['diff']:.1f} [{lo:.1f}, {hi:.1f}] | "
            f"{p['hedges_g']:.2f} [{glo:.2f}, {ghi:.2f}] | {r['t_p_holm']:.3g} ({p['t_p']:.3g}) | "
            f"{r['wilcoxon_p_holm']:.3g} ({p['wilcoxon_p']:.3g}) | "
            f"{w['welch_p']:.3g}, {w['hedges_g']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--pairs", nargs="*", default=None, help="contrasts A:B (B - A)")
    ap.add_argument("--metrics", nargs="*",
                    default=["final_spec_violating_episodes", "violations_s2", "return",
                             "medkits_last20pct"])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    try:
        results = json.loads((args.run_dir / "results.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"{args.run_dir}/results.json: {exc}") from None
    by = _by_method(results["runs"])
    if args.pairs is None:
        pairs = [(a, b) for a, b in DEFAULT_PAIRS if a in by and b in by]
    else:
        pairs = [tuple(p.split(":", 1)) for p in args.pairs]  # type: ignore[misc]
        bad = [m for ab in pairs for m in ab if m not in by]
        if bad:
            raise SystemExit(f"no method {bad[0]!r} in {args.run_dir} (methods: {', '.join(by)})")
    print(summary_table(by))
    out: dict[str, Any] = {"run_dir": str(args.run_dir), "contrasts": {}}
    for metric in args.metrics:
        rows = contrasts(by, pairs, metric)
        out["contrasts"][metric] = rows
        print()
        print(contrast_table(rows, metric))
    if args.json is not None:
        out["runs"] = [{k: v for k, v in r.items() if not k.startswith("episode_")}
                       for r in results["runs"]]
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
