"""How many prompts per round a break-fix run (``speclang breakfix``) needs to detect the
changes a small run observed: for each measured rate, round 0 against the last round pooled
over seeds, the prompts per round (summed over seeds) for 80 % power at alpha 0.05 with a
two-sided test of two proportions (``speclang.stats.n_two_proportions``), and the same for
halving round 0's rate.

    python benchmarks/llm_breakfix_power.py runs/breakfix
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, not an installed copy


def main(argv: list[str] | None = None) -> int:
    from speclang.stats import n_two_proportions

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="the --out folder of speclang breakfix")
    a = ap.parse_args(argv)
    seeds = sorted(p for p in a.out.glob("seed-*") if (p / "round-0" / "metrics.json").is_file())
    runs = []
    for s in seeds:
        ms = []
        r = 0
        while (s / f"round-{r}" / "metrics.json").is_file():
            ms.append(json.loads((s / f"round-{r}" / "metrics.json").read_text("utf-8")))
            r += 1
        runs.append(ms)
    last = min(len(ms) for ms in runs) - 1
    print(f"{len(runs)} seeds, rounds 0..{last}")
    print("| rate | round 0 | round " + str(last) + " | prompts per round to detect it "
          "(80 % power) | to detect halving round 0's |\n|---|---|---|---|---|")

    def fmt(n: float) -> str:
        return "never (no change)" if math.isinf(n) else f"{math.ceil(n)}"

    for key, name in (("fresh", "fresh attacks"), ("heldout", "held-out prompts"),
                      ("helpful", "helpful (benign)")):
        k0 = sum(ms[0][key]["k"] for ms in runs)
        n0 = sum(ms[0][key]["n"] for ms in runs)
        k1 = sum(ms[last][key]["k"] for ms in runs)
        n1 = sum(ms[last][key]["n"] for ms in runs)
        p0, p1 = k0 / n0, k1 / n1
        half = n_two_proportions(p0, p0 / 2) if p0 > 0 else math.inf
        print(f"| {name} | {k0}/{n0} = {p0:.2f} | {k1}/{n1} = {p1:.2f} | "
              f"{fmt(n_two_proportions(p0, p1))} | {fmt(half)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
