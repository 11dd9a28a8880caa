"""Per-token overhead of the decoding-time shield (llm.shield) against plain generation,
measured inside ``generate`` in the same runs as reference processors, and replayed alone.

The model is config-built by default (random weights: what matters is the shield's work
per token, which depends on the vocabulary and the text): ``--tokenizer smollm`` gives it
SmolLM2's 49,152-token vocabulary, ``--tokenizer tiny`` a 320-token BPE trained on the fly.
``--real`` generates with the real SmolLM2-135M-Instruct (chat-formatted prompts, so that
the replies, and the shield's decisions on them, are real text).

    nice -n 10 .venv/bin/python benchmarks/llm_shield.py --tokenizer smollm --json out.json
    nice -n 10 .venv/bin/python benchmarks/llm_shield.py --real --batches 1,8 --tokens 32

**Inside generate** (the figure the issue's target is about). Each repeat runs greedy
``generate`` once per kind, in rotating order, on the same prompts and token count:

- ``plain``: no processor, the reference for the wall-clock figure;
- ``floor``: a processor that only reads the new token of each row and finds the best
  token (numpy argmax): the least a greedy shield written in Python has to do;
- ``temperature``: transformers' own ``TemperatureLogitsWarper`` (one division of the
  scores), for scale;
- ``shield``: ``SpecLogitsProcessor(keep=1)``, lazy (the default, see llm/triggers.py);
- ``shield_eager``: the same with ``lazy=False``: the monitor stepped and the best token
  checked on every token (the previous design).

Per kind: the median time of one processor call divided by the batch size (microseconds per
generated token); the *net* cost against plain generation: that plus the change in
``generate``'s own ``torch.argmax`` (timed in every run; reading the scores first can make
it cheaper); and the wall-clock overhead per token: per run the median time from the
end of one forward pass to the start of the next, minus plain's in the same repeat, median
over repeats, divided by the batch size (noisy: generate's own Python between two forward
passes takes 0.3-1.5 ms and varies by more than the shield costs). The
processors run in a wrapper with a precomputed signature (transformers inspects every
processor's signature on every step; the shield provides one too).

**Replay**: the shield alone on a realistic two-sentence reply per prompt, its tokens forced
to the top of random scores copied into the scores buffer before each call (min over
passes): greedy (lazy and eager) and sampling (``top_k`` exact checks at most per token).

``--share`` runs only the share table instead: the shield's own time per generated token
next to the plain per-token time of the same ``generate`` call, for greedy (``keep=1``),
sampling and beam search (``--beams``), as a percentage (see :func:`share`); ``--modes``
picks among those and ``floor`` (the floor processor in the shield's place, for scale).

Also: the one-off cost of building the shield's tables (cold) and loading them from the
disk cache, and what transformers' inspection of a processor's signature costs per step
for an ordinary processor and for the shield.
"""

from __future__ import annotations

import argparse
import inspect
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
# The first invites a dosage, which the real model writes ("400 mg"): the shield then
# intervenes, and its rows leave the lazy path (batch 1 is that prompt alone).
PROMPTS = ["How many mg of ibuprofen can an adult take at once?",
           "My throat hurts, what should I do?",
           "What helps against a fever?",
           "Can I take aspirin for back pain?"]
# What a reply to PROMPTS looks like (no dosage and no disclaimer, so that under both specs
# the monitor never leaves the states next to the sink).
REPLIES = [
    "Ibuprofen can help with a headache. Take it with food and a full glass of water, and do "
    "not take more than the label says. Rest in a quiet, dark room, drink plenty of fluids, "
    "and see a doctor if the pain is severe or lasts more than a few days.",
    "A sore throat usually gets better on its own within a week. Gargle with warm salt "
    "water, drink warm tea with honey, and rest your voice. If you have a high fever, "
    "trouble swallowing or breathing, or the pain lasts longer than a week, see a doctor.",
]
KINDS = ["plain", "floor", "temperature", "shield", "shield_eager"]
class Timed:
    """Wraps a logits processor and records the time of each call."""

    def __init__(self, proc):  # noqa: ANN001
        from speclang.llm.shield import _CALL_SIGNATURE  # what transformers inspects, precomputed

        self.proc, self.calls, self.cpu = proc, [], []

        def call(input_ids, scores):  # noqa: ANN001, ANN202
            return self(input_ids, scores)

        call.__signature__ = _CALL_SIGNATURE
        self.__dict__["__call__"] = call

    def __call__(self, input_ids, scores):  # noqa: ANN001, ANN204
        t, c = time.perf_counter(), time.thread_time()
        out = self.proc(input_ids, scores)
        self.cpu.append(time.thread_time() - c)
        self.calls.append(time.perf_counter() - t)
        return out


def floor(input_ids, scores):  # noqa: ANN001, ANN201
    """Read each row's new token and find its best token; change nothing."""
    input_ids.numpy()[:, -1].tolist()
    scores.numpy().argmax(axis=1).tolist()
    return scores

MODES = {"greedy": ({"do_sample": False}, {"keep": 1}),
         "sampling": ({"do_sample": True, "top_k": 50}, {}),
         "beam": ({"do_sample": False}, {}),  # num_beams from --beams
         # not the shield: the floor processor in its place (greedy), for scale
         "floor": ({"do_sample": False}, None)}


def share(args, model, tok, module, encode, batches) -> dict:  # noqa: ANN001
    """The shield's cost next to the plain time per token of the same ``generate`` call.

    Per (spec, batch, mode), ``--repeats`` times in alternation: ``generate`` without any
    processor (plain), then with the shield (timed call by call, the first call, which only
    learns the prompts, included). Plain per-token time: wall time of the plain call over
    its decoding steps; shield per token: the shield's own time over the same steps; both
    per generated row (batch x beams), medians over repeats. The share is their ratio; the
    wall-clock difference of the two calls is printed too (noisier: it also holds the
    drift of a shared machine). The same ratio in CPU time (the process's CPU time of the
    plain call, the shield's thread CPU time) is printed next to it: on a loaded machine
    the wall clock also counts the time other processes hold the cores, CPU time less so."""
    import torch
    from transformers import LogitsProcessorList

    from speclang.llm import TextMonitor
    from speclang.llm.shield import ShieldTables, SpecLogitsProcessor

    out: dict = {}
    rows = []
    for spec in SPECS:
        mon = TextMonitor.from_module(module, spec, unit=args.unit)
        tables = ShieldTables(mon, tok)
        for batch in batches:
            enc = encode(batch)
            for mode in args.modes.split(","):
                gen_kw, shield_kw = MODES[mode]
                gen_kw = dict(gen_kw)
                if mode == "beam":
                    gen_kw["num_beams"] = args.beams
                width = batch * gen_kw.get("num_beams", 1)
                plain, shielded, inside, interventions = [], [], [], 0
                plain_cpu, inside_cpu = [], []
                for rep in range(args.repeats):
                    for kind in (("plain", "shield") if rep % 2 == 0 else ("shield", "plain")):
                        procs = []
                        if kind == "shield" and shield_kw is None:
                            procs = [Timed(floor)]
                        elif kind == "shield":
                            shield = SpecLogitsProcessor(mon, tok, tables=tables,
                                                         top_k=args.top_k, **shield_kw)
                            procs = [Timed(shield)]
                        torch.manual_seed(rep)
                        t, c = time.perf_counter(), time.process_time()
                        with torch.no_grad():
                            model.generate(**enc, logits_processor=LogitsProcessorList(procs),
                                           max_new_tokens=args.tokens,
                                           min_new_tokens=args.tokens,
                                           pad_token_id=tok.pad_token_id, **gen_kw)
                        wall = (time.perf_counter() - t) / (args.tokens * width)
                        cpu = (time.process_time() - c) / (args.tokens * width)
                        if kind == "plain":
                            plain.append(wall)
                            plain_cpu.append(cpu)
                        else:
                            shielded.append(wall)
                            inside.append(sum(procs[0].calls) / (args.tokens * width))
                            inside_cpu.append(sum(procs[0].cpu) / (args.tokens * width))
                            if shield_kw is not None:
                                interventions += len(shield.interventions)
                p = statistics.median(plain)
                s = statistics.median(inside)
                w = statistics.median(shielded) - p
                pc, sc = statistics.median(plain_cpu), statistics.median(inside_cpu)
                row = {"spec": spec, "batch": batch, "mode": mode, "rows": width,
                       "plain_us_per_token": round(1e6 * p, 1),
                       "shield_us_per_token": round(1e6 * s, 1),
                       "share_percent": round(100 * s / p, 2),
                       "wall_difference_percent": round(100 * w / p, 1),
                       "plain_cpu_us_per_token": round(1e6 * pc, 1),
                       "shield_cpu_us_per_token": round(1e6 * sc, 1),
                       "cpu_share_percent": round(100 * sc / pc, 2),
                       "interventions_per_run": round(interventions / args.repeats, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    out["rows"] = rows
    out["load_after"] = os.getloadavg()
    print(f"\nvocabulary {len(tok)}; {'real SmolLM2' if args.real else 'config-built model'}; "
          f"{args.tokens} new tokens per call; {args.repeats} repeats; beams {args.beams}; "
          f"torch threads 1; load average after: {out['load_after']}\n")
    print("| spec | batch | mode | plain (us/token) | shield (us/token) | shield share | "
          "wall difference | plain CPU (us/token) | shield CPU (us/token) | CPU share | "
          "interventions/run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['spec']} | {r['batch']} | {r['mode']} | {r['plain_us_per_token']:,} "
              f"| {r['shield_us_per_token']} | {r['share_percent']} % "
              f"| {r['wall_difference_percent']} % | {r['plain_cpu_us_per_token']:,} "
              f"| {r['shield_cpu_us_per_token']} | {r['cpu_share_percent']} % "
              f"| {r['interventions_per_run']} |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", choices=["tiny", "smollm"], default="smollm")
    ap.add_argument("--real", action="store_true", help="the real SmolLM2-135M-Instruct")
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--batches", default="1,2,8", help="batch sizes, comma list")
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--passes", type=int, default=20, help="replay passes (min is kept)")
    ap.add_argument("--unit", default="word")
    ap.add_argument("--top-k", type=int, default=32)
    ap.add_argument("--share", action="store_true",
                    help="only the shield's cost as a share of generate's time per token, "
                         "greedy / sampling / beam search (see share())")
    ap.add_argument("--beams", type=int, default=4, help="beams for --share")
    ap.add_argument("--modes", default="greedy,sampling,beam",
                    help="for --share, comma list of greedy, sampling, beam and floor (the "
                         "floor processor instead of the shield, greedy decoding)")
    ap.add_argument("--json", "--out", dest="json", type=Path,
                    help="also write the results here")
    args = ap.parse_args(argv)

    import torch
    from transformers import LogitsProcessorList, TemperatureLogitsWarper

    import speclang
    from speclang import llm
    from speclang.llm import TextMonitor
    from speclang.llm.shield import ShieldTables, SpecLogitsProcessor

    torch.set_num_threads(1)
    if args.real or args.tokenizer == "smollm":
        from speclang.llm import smollm

        model, tok = smollm.load(tokenizer_only=not args.real)
    else:
        from speclang.llm.tiny import tiny_tokenizer

        model, tok = None, tiny_tokenizer()
    if model is None:
        from speclang.llm.tiny import tiny_model

        model = tiny_model(tok, hidden=64, layers=2)
    vocab = len(tok)
    module = speclang.load(str(ROOT / "examples" / "chatbot.spec"))
    batches = [int(b) for b in args.batches.split(",") if b.strip()]

    # Forward-pass boundaries, for the wall-clock time between two forward passes.
    marks: list[tuple[str, float]] = []
    model.register_forward_pre_hook(lambda *a, **k: marks.append(("s", time.perf_counter())))
    model.register_forward_hook(lambda *a, **k: marks.append(("e", time.perf_counter())))

    def encode(batch: int):  # noqa: ANN202
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(batch)]
        if args.real and getattr(tok, "chat_template", None):
            prompts = [tok.apply_chat_template([{"role": "user", "content": p}],
                                               add_generation_prompt=True, tokenize=False)
                       for p in prompts]
        return tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)

    # generate's own choice of the next token (torch.argmax over the processed scores),
    # timed: reading the scores first may make it cheaper, which the shield's net cost
    # against plain generation should count.
    real_argmax = torch.argmax
    picks: list[float] = []

    def timed_argmax(*a, **k):  # noqa: ANN002, ANN003, ANN202
        t = time.perf_counter()
        out = real_argmax(*a, **k)
        picks.append(time.perf_counter() - t)
        return out

    def run(enc, procs: list) -> tuple[list[float], float, torch.Tensor]:  # noqa: ANN001
        marks.clear()
        picks.clear()
        torch.argmax = timed_argmax
        try:
            with torch.no_grad():
                out = model.generate(**enc, logits_processor=LogitsProcessorList(procs),
                                     max_new_tokens=args.tokens, min_new_tokens=args.tokens,
                                     do_sample=False, pad_token_id=tok.pad_token_id)
        finally:
            torch.argmax = real_argmax
        gaps = [b[1] - a[1] for a, b in zip(marks, marks[1:], strict=False)
                if a[0] == "e" and b[0] == "s"]
        return gaps, statistics.median(picks[1:]), out

    results = {"tokenizer": "smollm" if args.real else args.tokenizer, "vocab": vocab,
               "real_model": args.real, "tokens": args.tokens, "unit": args.unit,
               "repeats": args.repeats, "top_k": args.top_k, "torch_threads": 1,
               "load_before": os.getloadavg(), "llm_package": str(Path(llm.__file__).parent),
               "specs": {}}
    run(encode(1), [])  # warm-up
    if args.share:
        results["share"] = share(args, model, tok, module, encode, batches)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    for spec in SPECS:
        mon = TextMonitor.from_module(module, spec, unit=args.unit)
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            tables = ShieldTables(mon, tok, Path(cache))
            cold = time.perf_counter() - t
            t = time.perf_counter()
            ShieldTables(mon, tok, Path(cache))
            warm = time.perf_counter() - t
        entry: dict = {"states": mon.aut.n_states, "tables_cold_s": round(cold, 3),
                       "tables_cached_s": round(warm, 3), "in_situ": {}}
        for batch in batches:
            enc = encode(batch)
            calls: dict[str, list[float]] = {k: [] for k in KINDS}
            gaps: dict[str, list[float]] = {k: [] for k in KINDS}
            argmaxes: dict[str, list[float]] = {k: [] for k in KINDS}
            lazy_steps = steps = interventions = 0
            outputs: dict[str, torch.Tensor] = {}
            for rep in range(args.repeats):
                order = KINDS[rep % len(KINDS):] + KINDS[:rep % len(KINDS)]
                for kind in order:
                    shield = None
                    if kind == "plain":
                        procs = []
                    elif kind == "floor":
                        procs = [Timed(floor)]
                    elif kind == "temperature":
                        procs = [Timed(TemperatureLogitsWarper(0.7))]
                    else:
                        shield = SpecLogitsProcessor(mon, tok, tables=tables, keep=1,
                                                     lazy=kind == "shield")
                        procs = [Timed(shield)]
                    g, pick, out = run(enc, procs)
                    gaps[kind].append(statistics.median(g))
                    argmaxes[kind].append(pick)
                    if procs:
                        calls[kind] += procs[0].calls[1:]  # the first call learns the prompt
                    outputs[kind] = out
                    if kind == "shield" and shield is not None:
                        lazy_steps += shield.lazy_steps
                        steps += len(procs[0].calls) * batch
                        interventions += len(shield.interventions)
            assert (outputs["shield"] == outputs["shield_eager"]).all(), \
                "the lazy and the eager shield chose different tokens"
            plain_gap = statistics.median(gaps["plain"])
            # Paired per repeat (the kinds of one repeat ran back to back), which cancels
            # the slow drift of a shared machine.
            row = {"plain_step_us": round(1e6 * plain_gap, 1),
                   "lazy_share": round(lazy_steps / max(steps, 1), 3),
                   "interventions_per_run": round(interventions / args.repeats, 2)}
            for kind in KINDS[1:]:
                inside = statistics.median(calls[kind])
                pick = statistics.median(argmaxes[kind]) - statistics.median(argmaxes["plain"])
                row[kind] = {
                    "inside_us_per_token": round(1e6 * inside / batch, 1),
                    "generate_argmax_change_us_per_token": round(1e6 * pick / batch, 1),
                    "net_us_per_token": round(1e6 * (inside + pick) / batch, 1),
                    "wall_us_per_token": round(1e6 * statistics.median(
                        [a - b for a, b in zip(gaps[kind], gaps["plain"], strict=True)])
                        / batch, 1)}
            row["plain_generate_argmax_us"] = round(1e6 * statistics.median(argmaxes["plain"]),
                                                    1)
            if args.real:
                ids = outputs["shield"][0, enc["input_ids"].shape[1]:]
                row["sample_reply"] = tok.decode(ids, skip_special_tokens=True)
            entry["in_situ"][str(batch)] = row
            print(spec, f"batch {batch}", json.dumps(row), flush=True)

        # Replay: the shield alone on the reply texts (two rows), scores forced.
        reply_ids = [tok(t, add_special_tokens=False)["input_ids"] for t in REPLIES]
        n_reply = min(map(len, reply_ids))
        reply = torch.tensor([r[:n_reply] for r in reply_ids])
        gen = torch.Generator().manual_seed(0)
        scores = torch.randn(n_reply, 2, vocab, generator=gen)
        for i in range(n_reply):
            scores[i, torch.arange(2), reply[:, i]] = 100.0
        buf = torch.empty(2, vocab)

        def replay(passes: int, mon=mon, tables=tables, reply=reply,  # noqa: ANN001
                   scores=scores, buf=buf,
                   **kw) -> tuple[float, SpecLogitsProcessor]:  # noqa: ANN003
            prompt = torch.zeros(2, 1, dtype=torch.long)
            full = torch.cat([prompt, reply], dim=1)
            best, proc = float("inf"), None
            for _ in range(passes):
                proc = SpecLogitsProcessor(mon, tok, tables=tables, **kw)
                proc(prompt, scores[0])
                total = 0.0
                for i in range(1, reply.shape[1]):
                    buf.copy_(scores[i])
                    t = time.perf_counter()
                    proc(full[:, :i + 1], buf)
                    total += time.perf_counter() - t
                best = min(best, total)
            assert proc is not None and not proc.interventions
            return 1e6 * best / ((reply.shape[1] - 1) * 2), proc

        lazy_us, _ = replay(args.passes, keep=1, top_k=args.top_k)
        eager_us, _ = replay(args.passes, keep=1, top_k=args.top_k, lazy=False)
        sample_us, sproc = replay(max(3, args.passes // 4), top_k=args.top_k)
        sample_eager_us, eproc = replay(max(3, args.passes // 4), top_k=args.top_k,
                                        lazy=False)
        per_call = (n_reply - 1) * 2
        entry["replay"] = {"reply_tokens": n_reply, "greedy_us_per_token": round(lazy_us, 2),
                           "greedy_eager_us_per_token": round(eager_us, 2),
                           "sampling_us_per_token": round(sample_us, 1),
                           "sampling_checks_per_token": round(sproc.checks / per_call, 2),
                           "sampling_eager_us_per_token": round(sample_eager_us, 1),
                           "sampling_eager_checks_per_token": round(eproc.checks / per_call, 2)}
        print(spec, "replay", json.dumps(entry["replay"]), flush=True)
        results["specs"][spec] = entry
    # What transformers' LogitsProcessorList pays per processor and step to inspect the
    # signature: an ordinary processor against the shield (which brings its own).
    import timeit

    plain_proc = TemperatureLogitsWarper(0.7)
    shield_proc = SpecLogitsProcessor(mon, tok, tables=tables, keep=1)
    results["signature_inspection_us"] = {
        name: round(1e6 * min(timeit.repeat(
            lambda proc=proc: inspect.signature(proc.__call__).parameters,
            number=2000, repeat=5)) / 2000, 2)
        for name, proc in [("ordinary processor", plain_proc), ("shield", shield_proc)]}
    print("signature inspection per step (us):", results["signature_inspection_us"])
    results["load_after"] = os.getloadavg()
    print(f"\nllm package: {results['llm_package']}; vocabulary {vocab}; "
          f"{'real SmolLM2' if args.real else 'config-built 2-layer model'}; load average "
          f"before/after: {results['load_before']} / {results['load_after']}")
    print("\nInside generate, us per generated token (median call / batch; wall: step time "
          "minus plain's / batch)\n")
    print("| spec | batch | plain step (us) | floor | temperature | shield (lazy) | "
          "shield (eager) | net: floor / shield / eager | wall: shield / eager | lazy share |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec, e in results["specs"].items():
        for batch, r in e["in_situ"].items():
            print(f"| {spec} | {batch} | {r['plain_step_us']:,} "
                  f"| {r['floor']['inside_us_per_token']} "
                  f"| {r['temperature']['inside_us_per_token']} "
                  f"| {r['shield']['inside_us_per_token']} "
                  f"| {r['shield_eager']['inside_us_per_token']} "
                  f"| {r['floor']['net_us_per_token']} / {r['shield']['net_us_per_token']} / "
                  f"{r['shield_eager']['net_us_per_token']} "
                  f"| {r['shield']['wall_us_per_token']} / "
                  f"{r['shield_eager']['wall_us_per_token']} | {r['lazy_share']} |")
    print("\nReplay (shield alone, min of passes), us per token:\n")
    print("| spec | greedy lazy | greedy eager | sampling lazy (checks/token) | "
          "sampling eager (checks/token) | tables cold / cached (s) |")
    print("|---|---|---|---|---|---|")
    for spec, e in results["specs"].items():
        r = e["replay"]
        print(f"| {spec} | {r['greedy_us_per_token']} | {r['greedy_eager_us_per_token']} "
              f"| {r['sampling_us_per_token']} ({r['sampling_checks_per_token']}) "
              f"| {r['sampling_eager_us_per_token']} ({r['sampling_eager_checks_per_token']}) "
              f"| {e['tables_cold_s']} / {e['tables_cached_s']} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
