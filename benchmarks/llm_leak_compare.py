"""Fine-tuned against the spec vs the base model, on the held-out red-team prompts: pairs the
judged replies of ``benchmarks/llm_leak_rate.py`` runs prompt by prompt
(``speclang.llm.redteam.paired_rows``) and prints one markdown table per decoding mode, with
Holm-adjusted p-values over the table.

Files in ``--dir``: ``base-MODE.jsonl`` (the base model) and ``REWARD-seedN-MODE.jsonl``
(one fine-tuned adapter each), as ``benchmarks/llm_leak_finetune.sh`` writes them;
``REWARD-train.jsonl`` (the ``smollm_finetune`` records), where present, adds the training
reward and KL.

    python benchmarks/llm_leak_compare.py --dir benchmarks/results-llm-leak-ft --modes greedy
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, not an installed copy


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def runs(folder: Path, mode: str) -> dict[str, list[Path]]:
    """reward -> its seeds' files, in seed order."""
    found: dict[str, list[tuple[int, Path]]] = {}
    for p in folder.glob(f"*-seed*-{mode}.jsonl"):
        m = re.fullmatch(rf"(.+)-seed(\d+)-{re.escape(mode)}\.jsonl", p.name)
        if m:
            found.setdefault(m.group(1), []).append((int(m.group(2)), p))
    return {r: [p for _, p in sorted(v)] for r, v in sorted(found.items())}


def table(folder: Path, mode: str) -> str:
    from speclang.llm.redteam import paired_rows
    from speclang.stats import holm, wilson

    base = read(folder / f"base-{mode}.jsonl")
    rows = []
    for reward, files in runs(folder, mode).items():
        tuned = [read(f) for f in files]
        for shield in (False, True):
            # lexical violations under the shield are 0 by construction (llm_leak_rate.py
            # fails otherwise): no row, no test
            rows += [{"reward": reward, **r} for r in paired_rows(base, tuned, shield)
                     if not (shield and r["measure"] == "lexical")]
    adjusted = holm({i: r["wilcoxon_p"] for i, r in enumerate(rows)})

    def rate(k: float, n: int) -> str:
        lo, hi = wilson(round(k), n)
        return f"{k:.0f}/{n} ({100 * k / n:.0f} %, {100 * lo:.0f}-{100 * hi:.0f})"

    out = [f"mode {mode}: base model vs fine-tuned seeds, {rows[0]['n'] if rows else 0} "
           "prompts (rates: k/n, Wilson 95 %; change: mean over prompts of the seeds' mean "
           "minus the base, 95 % t-interval; p: Wilcoxon signed-rank over prompts, Holm over "
           "the table)", "",
           "| reward | shield | measure | base | fine-tuned, per seed | change (pp) | "
           "rank-biserial [95 %] | prompts better / worse | McNemar per seed (only base / "
           "only tuned, p) | p | p Holm |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        n = r["n"]
        rb = (f"{r['rank_biserial']:.2f} [{r['rb_ci'][0]:.2f}, {r['rb_ci'][1]:.2f}]"
              if r["rank_biserial"] == r["rank_biserial"] else "-")
        if r["measure"] == "words":
            cells = [f"{r['base'] / n:.1f} words",
                     ", ".join(f"{t / n:.1f}" for t in r["tuned"]),
                     f"{r['diff']:+.1f} [{r['diff_ci'][0]:+.1f}, {r['diff_ci'][1]:+.1f}] words",
                     rb, "-", "-"]
        else:
            cells = [rate(r["base"], n), ", ".join(f"{t:.0f}" for t in r["tuned"]) + f" /{n}",
                     f"{100 * r['diff']:+.1f} [{100 * r['diff_ci'][0]:+.1f}, "
                     f"{100 * r['diff_ci'][1]:+.1f}]", rb, f"{r['better']} / {r['worse']}",
                     "; ".join(f"{m['b']}/{m['c']}, {m['p']:.2g}" for m in r["mcnemar"])]
        out.append(f"| {r['reward']} | {'yes' if r['shield'] else 'no'} | {r['measure']} | "
                   + " | ".join(cells) + f" | {r['wilcoxon_p']:.2g} | {adjusted[i]:.2g} |")
    return "\n".join(out)


def training(folder: Path) -> str:
    out = ["| reward | seed | train reward, first / last update | KL to the reference, last "
           "update (nats per completion) | train min |", "|---|---|---|---|---|"]
    for p in sorted(folder.glob("*-train.jsonl")):
        for r in read(p):
            out.append(f"| {r.get('reward', 'verdict')} | {r['seed']} | "
                       f"{r['train_rewards'][0]:.3f} / {r['train_rewards'][-1]:.3f} | "
                       f"{r['train_kl'][-1]:.2f} | {r['train_minutes']:.1f} |")
    return "\n".join(out) if len(out) > 2 else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "results-llm-leak-ft")
    ap.add_argument("--modes", default="greedy")
    a = ap.parse_args(argv)
    for mode in a.modes.split(","):
        if not (a.dir / f"base-{mode}.jsonl").is_file():
            print(f"{a.dir / f'base-{mode}.jsonl'}: no base run for mode {mode}",
                  file=sys.stderr)
            return 1
        print(table(a.dir, mode) + "\n")
    train = training(a.dir)
    if train:
        print(train)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
