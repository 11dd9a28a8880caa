"""Learning the medical-advice proposition with few expert queries: accuracy and F1 against
the number of queries, uncertainty / committee / random querying (docs/alignment.md).

Per seed, examples/llm/advice.jsonl (hand-written, labelled) is split into a test set and a
pool; the labeler starts from 2 positive and 2 negative pool sentences and queries the
pool, the expert being the pool's labels. With ``--on-policy N``, SmolLM2-135M-Instruct's
sampled replies to N medical prompts (examples/llm/prompts.json) are cut into sentences and
added to the pool; the expert for those is a stronger judge: the labeler built on the whole
labelled pool. The test set is always the hand-labelled sentences.

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python benchmarks/llm_active.py --seeds 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speclang.llm.active import (  # noqa: E402
    LabelledOracle,
    active_learn,
    hf_generator,
    on_policy_candidates,
)
from speclang.llm.audit import agreement  # noqa: E402
from speclang.llm.learned import ExemplarLabeler, HashingEncoder, MiniLMEncoder  # noqa: E402
from speclang.stats import mean_ci  # noqa: E402


class CachedEncoder:
    """Embeds each text once for the whole run (every seed and strategy re-asks)."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.spec, self.cache = inner, inner.spec, {}

    def embed(self, texts):  # noqa: ANN001, ANN201
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            for t, v in zip(todo, self.inner.embed(todo), strict=True):
                self.cache[t] = v
        return np.array([self.cache[t] for t in texts]).reshape(len(texts), -1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--test", type=int, default=60, help="test sentences per seed")
    ap.add_argument("--checkpoints", default="0,5,10,20,30,40")
    ap.add_argument("--encoder", choices=("minilm", "hashing"), default="minilm")
    ap.add_argument("--on-policy", type=int, default=0, metavar="N",
                    help="add SmolLM2's sentences for N prompts to the pool")
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--write", help="write the labeler of seed 0 (uncertainty) here")
    args = ap.parse_args()
    rows = [json.loads(line) for line in
            (ROOT / "examples" / "llm" / "advice.jsonl").read_text().splitlines()]
    enc = CachedEncoder(MiniLMEncoder() if args.encoder == "minilm" else HashingEncoder(512))
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    extra: list[str] = []
    if args.on_policy:
        from speclang.llm import smollm

        model, tok = smollm.load()
        prompts = json.loads((ROOT / "examples" / "llm" / "prompts.json").read_text())["train"]
        t0 = time.perf_counter()
        extra = on_policy_candidates(hf_generator(model, tok, max_new_tokens=48),
                                     prompts[:args.on_policy])
        print(f"on-policy: {len(extra)} SmolLM2 sentences from {args.on_policy} prompts "
              f"in {time.perf_counter() - t0:.0f} s")
    results: dict[str, dict[int, list[tuple[float, float]]]] = {}
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(rows))
        test = [rows[i] for i in order[:args.test]]
        pool_rows = [rows[i] for i in order[args.test:]]
        labels = {r["text"]: r["label"] for r in pool_rows}
        seed_set = ([(r["text"], True) for r in pool_rows if r["label"]][:2]
                    + [(r["text"], False) for r in pool_rows if not r["label"]][:2])
        if extra:
            # the stronger judge's answers (a labeler on every labelled pool sentence)
            judge = ExemplarLabeler(enc, list(labels), list(labels.values()))
            oracle_labels = {**{t: judge(t) for t in extra}, **labels}
        else:
            oracle_labels = labels
        pool = list(labels) + [t for t in extra if t not in labels]
        texts, gold = [r["text"] for r in test], [r["label"] for r in test]
        for strategy in ("uncertainty", "committee", "random"):
            curve = results.setdefault(strategy, {})

            def measure(lab, rnd, curve=curve, texts=texts, gold=gold) -> None:  # noqa: ANN001
                if rnd.queries in checkpoints:
                    a = agreement(lab.predict(texts), gold)
                    curve.setdefault(rnd.queries, []).append((a.accuracy, a.f1))

            lab, _ = active_learn(pool, LabelledOracle(oracle_labels), seed_set, encoder=enc,
                                  budget=args.budget, strategy=strategy, rng=seed,
                                  on_round=measure, proposition="advice")
            if args.write and seed == 0 and strategy == "uncertainty":
                lab.encoder = enc.inner
                print(f"wrote {args.write} ({lab.save(args.write)})")
    full = agreement(ExemplarLabeler(enc, [r["text"] for r in rows[args.test:]],
                                     [r["label"] for r in rows[args.test:]]).predict(
        [r["text"] for r in rows[:args.test]]), [r["label"] for r in rows[:args.test]])
    print(f"encoder {args.encoder}, {args.seeds} seeds, test {args.test}, pool "
          f"{len(rows) - args.test}{f' + {len(extra)} on-policy' if extra else ''}, seed 4 "
          f"labels, {time.perf_counter() - t0:.0f} s")
    print("| strategy | queries | accuracy (95% CI) | F1 (95% CI) |")
    print("|---|---|---|---|")
    for strategy, curve in results.items():
        for q in sorted(curve):
            acc = mean_ci([a for a, _ in curve[q]])
            f1 = mean_ci([f for _, f in curve[q]])
            print(f"| {strategy} | {q} | {acc[0]:.3f} ± {acc[1]:.3f} | "
                  f"{f1[0]:.3f} ± {f1[1]:.3f} |")
    print(f"(reference, split of the file's order: every pool sentence as an exemplar: "
          f"accuracy {full.accuracy:.3f}, F1 {full.f1:.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {s: {str(q): v for q, v in c.items()} for s, c in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
