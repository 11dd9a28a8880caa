"""Progressive fine-tuning across a progression of text specs, with the baselines of the
RL experiments (agents/config.py ``METHOD_KINDS``), as far as they carry over to text:

- ``progressive``: the training budget is split evenly over the progression; stage ``i``
  rewards the specs ``0..i`` (summed), so earlier safeguards stay in force;
- ``zero_shot``: the whole budget on the final stage's reward (all specs at once);
- ``no_safeguard``: no fine-tuning at all (the reference model), the floor to compare with;
- ``intrinsic_fear``: ``zero_shot`` plus a danger model (``speclang.llm.fear``, Lipton et al. 2016)
  trained online to predict a violation of any spec within ``fear_horizon`` tokens from the
  policy's final hidden state, whose mean prediction over a completion, times
  ``fear_lambda``, is subtracted from its reward. As in the gridworld and VizDoom
  experiments (``agents/tabular.py``, ``agents/vizdoom/ppo.py``) it keeps the zero-shot
  safeguard; the RL catastrophe that ends an episode has no analogue in a completion.

Every method is evaluated on held-out prompts: the violation rate of each spec (with a
95 % Wilson interval), the KL to the reference, and a few samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from speclang.llm.monitor import TextMonitor, label_text
from speclang.llm.rewards import spec_reward
from speclang.llm.trainer import SpecTrainer, TrainConfig
from speclang.stats import wilson

METHODS = ("progressive", "zero_shot", "no_safeguard", "intrinsic_fear")


@dataclass
class StageLog:
    stage: int
    specs: list[str]
    steps: int
    mean_reward: float


@dataclass
class MethodResult:
    method: str
    seed: int
    stages: list[StageLog] = field(default_factory=list)
    violation: dict[str, dict[str, Any]] = field(default_factory=dict)
    kl: float = 0.0
    samples: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    mean_tokens: float = 0.0
    fear: dict[str, Any] = field(default_factory=dict)  # ``FearPenalty.stats`` (fear only)


def schedule(method: str, specs: Sequence[str], steps: int) -> list[tuple[list[str], int]]:
    """(active specs, steps) per stage."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if method == "no_safeguard":
        return []
    if method in ("zero_shot", "intrinsic_fear"):
        return [(list(specs), steps)]
    n = len(specs)
    shares = [steps // n + (1 if i < steps % n else 0) for i in range(n)]
    return [(list(specs[:i + 1]), shares[i]) for i in range(n)]


def run_method(
    method: str,
    model: Any,
    tokenizer: Any,
    module: Any,
    progression: str,
    train_prompts: Sequence[str],
    eval_prompts: Sequence[str],
    *,
    steps: int,
    batch: int = 4,
    config: TrainConfig | None = None,
    eval_k: int = 4,
    unit: str = "word",
    log: Callable[[str], None] | None = None,
    fear_lambda: float = 0.5,
    fear_horizon: int = 8,
) -> MethodResult:
    import torch

    specs = module.progressions[progression]
    monitors = {s: TextMonitor.from_module(module, s, unit=unit) for s in specs}
    cfg = config or TrainConfig()
    trainer = SpecTrainer(model, tokenizer, [], cfg)
    result = MethodResult(method, cfg.seed)
    fear = None
    if method == "intrinsic_fear":
        from speclang.llm.fear import FearPenalty

        fear = FearPenalty(tokenizer, list(monitors.values()), model.config.hidden_size,
                           lam=fear_lambda, horizon=fear_horizon, seed=cfg.seed)
        trainer.penalty = fear
    for i, (active, n) in enumerate(schedule(method, specs, steps)):
        trainer.rewards = [spec_reward(monitors[s]) for s in active]
        before = len(trainer.history)
        trainer.train(train_prompts, n, batch=batch)
        rewards = [h.reward for h in trainer.history[before:]]
        result.stages.append(StageLog(i, active, n, sum(rewards) / max(1, len(rewards))))
        if log is not None:
            log(f"{method} seed {cfg.seed} stage {i} {active}: mean reward "
                f"{result.stages[-1].mean_reward:.3f}")
    if fear is not None:
        result.fear = fear.stats()
        trainer.penalty = None
    torch.manual_seed(10_000 + cfg.seed)
    ev = trainer.evaluate(eval_prompts, lambda t: False, k=eval_k)
    texts = ev["texts"]
    result.kl = ev["kl"]
    for s, mon in monitors.items():
        flags = [label_text(mon, t).violated for t in texts]
        bad = sum(flags)
        result.violation[s] = {"rate": bad / len(texts), "ci95": list(wilson(bad, len(texts))),
                               "n": len(texts), "flags": flags}
    result.samples = texts[:3]
    result.texts = texts
    result.mean_tokens = sum(ev["lengths"]) / len(ev["lengths"])
    return result


TOY_SPEC = '''
observe reply: text
prop a = reply matches /a/i
prop e = reply matches /e/i
prop o = reply matches /o/i
spec no_a { G !a }
spec no_ae { G !(a | e) }
spec no_aeo { G !(a | e | o) }
progression vowels = [no_a, no_ae, no_aeo]
'''


def toy_experiment(seeds: Sequence[int], steps: int = 12,
                   methods: Sequence[str] = METHODS, update: str = "rloo"
                   ) -> list[MethodResult]:
    """Every method on the tiny random model and the toy `vowels` progression: a check of
    the whole pipeline (a random model's text is not language, so it says nothing about
    medical specs)."""
    from speclang.llm.tiny import tiny_model, tiny_tokenizer
    from speclang.loader import loads

    module = loads(TOY_SPEC)
    tok = tiny_tokenizer()
    train = ["Hello", "Take", "Drink water", "Sleep", "Rest", "Call"]
    held = ["How", "Pain", "Fever", "Dose"]
    out = []
    for seed in seeds:
        for method in methods:
            # beta is the KL weight of rloo but the preference temperature of dpo/selm,
            # where 0.01 would make the loss nearly flat.
            cfg = TrainConfig(update, k=4, max_new_tokens=4, lr=5e-2,
                              beta=0.01 if update == "rloo" else 0.5, seed=seed)
            out.append(run_method(method, tiny_model(tok, seed=seed), tok, module, "vowels",
                                  train, held, steps=steps, batch=2, config=cfg, eval_k=16,
                                  unit="token"))
    return out


def smollm_experiment(seeds: Sequence[int], steps: int, *, progression: str = "medical",
                      methods: Sequence[str] = METHODS, batch: int = 4, k: int = 4,
                      tokens: int = 40, lr: float = 2e-3, beta: float = 0.05,
                      lora_layers: int = 8, heldout: int = 20, eval_k: int = 4,
                      update: str = "rloo",
                      log: Callable[[str], None] | None = None) -> list[MethodResult]:
    """Every method on SmolLM2-135M-Instruct (LoRA rank 16 on all projections of the top
    ``lora_layers`` layers, as in ``speclang.llm.smollm_finetune``) and a progression of
    ``examples/llm/medical.spec``, on the prompts of ``examples/llm/prompts.json``; each
    method starts from a freshly loaded model and is evaluated on the first ``heldout``
    held-out prompts x ``eval_k`` samples under the same sampling seed."""
    import json
    from pathlib import Path

    from speclang.llm import smollm
    from speclang.llm.smollm_finetune import TARGETS
    from speclang.loader import load

    root = Path(__file__).resolve().parents[1]
    module = load(str(root / "examples" / "llm" / "medical.spec"))
    prompts = json.loads((root / "examples" / "llm" / "prompts.json").read_text())
    out = []
    for seed in seeds:
        for method in methods:
            model, tok = smollm.load()

            def chat(q: str) -> str:
                return tok.apply_chat_template(  # noqa: B023
                    [{"role": "user", "content": q}], add_generation_prompt=True,
                    tokenize=False)

            cfg = TrainConfig(update, k=k, max_new_tokens=tokens, lr=lr, beta=beta,
                              lora_rank=16, lora_alpha=32, lora_targets=TARGETS["all"],
                              lora_layers=lora_layers, seed=seed, temperature=0.8)
            out.append(run_method(method, model, tok, module, progression,
                                  [chat(q) for q in prompts["train"]],
                                  [chat(q) for q in prompts["heldout"][:heldout]],
                                  steps=steps, batch=batch, config=cfg, eval_k=eval_k,
                                  log=log))
            if log is not None:
                r = out[-1]
                log(f"{method} seed {seed}: " + ", ".join(
                    f"{s} {v['rate']:.3f}" for s, v in r.violation.items())
                    + f", KL {r.kl:.3f}, mean tokens {r.mean_tokens:.1f}"
                    + (f", fear {r.fear}" if r.fear else ""))
    return out


def summarise(results: Sequence[MethodResult]) -> str:
    """A markdown table: mean over seeds with a 95 % t-interval half-width."""
    from speclang.stats import t_interval

    def ci(xs: list[float]) -> str:
        m, lo, hi = t_interval(xs)
        return f"{m:.3f}" if len(xs) < 2 else f"{m:.3f} ± {hi - m:.3f}"

    specs = list(results[0].violation)
    rows = ["| method | seeds | " + " | ".join(f"violation {s}" for s in specs) + " | KL |",
            "|---|---|" + "---|" * (len(specs) + 1)]
    for method in METHODS:
        rs = [r for r in results if r.method == method]
        if not rs:
            continue
        cells = [ci([r.violation[s]["rate"] for r in rs]) for s in specs]
        rows.append(f"| {method} | {len(rs)} | " + " | ".join(cells)
                    + f" | {ci([r.kl for r in rs])} |")
    return "\n".join(rows + paired_tests(results))


def paired_tests(results: Sequence[MethodResult], floor: str = "no_safeguard") -> list[str]:
    """Each method against ``floor``, and progressive against zero-shot, per spec: an
    exact McNemar test pooled over seeds (every method is evaluated under the same
    sampling seed, so sample i of one method pairs with sample i of the other: same
    prompt, same random stream) and the mean per-seed rate difference with a 95 %
    t-interval."""
    from speclang.stats import mcnemar, t_interval

    lines = []
    pairs = [(m, floor) for m in METHODS if m != floor]
    # zero_shot is what intrinsic_fear adds its danger penalty to.
    pairs += [("progressive", "zero_shot"), ("intrinsic_fear", "zero_shot")]
    for method, other in pairs:
        base = {r.seed: r for r in results if r.method == other}
        rs = [r for r in results if r.method == method and r.seed in base]
        if not rs:
            continue
        for s in rs[0].violation:
            if "flags" not in rs[0].violation[s]:
                continue
            b = [f for r in rs for f in base[r.seed].violation[s]["flags"]]
            a = [f for r in rs for f in r.violation[s]["flags"]]
            t = mcnemar(b, a)
            m, lo, hi = t_interval([base[r.seed].violation[s]["rate"] - r.violation[s]["rate"]
                                    for r in rs])
            lines.append(f"- {method} vs {other}, {s}: {sum(b)}/{len(b)} -> {sum(a)}/{len(a)}"
                         f" violate; {t['b']} pairs only under {other}, {t['c']} only under "
                         f"{method}; exact McNemar p = {t['p']:.2g}; per-seed difference "
                         f"{other} - {method} {m:.3f} [{lo:.3f}, {hi:.3f}] (95 % t, "
                         f"{len(rs)} seeds)")
    return [""] + lines if lines else []


if __name__ == "__main__":
    import argparse
    import json
    import sys

    ap = argparse.ArgumentParser(
        description="progressive fine-tuning with baselines: a toy progression on a tiny "
                    "random model (default), or SmolLM2 on examples/llm/medical.spec")
    ap.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    ap.add_argument("--progression", default="medical", help="(smollm2) a progression of "
                    "examples/llm/medical.spec")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--update", choices=["rloo", "apa", "dpo", "selm"], default="rloo",
                    help="the trainer's update rule (speclang.llm.trainer)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--out", default=None, help="(smollm2) JSONL, one line per method/seed")
    ap.add_argument("--summarise", default=None,
                    help="only print the summary of an earlier run's JSONL (--out)")
    a = ap.parse_args()
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    if a.summarise:
        with open(a.summarise) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        print(summarise([MethodResult(**{**r, "stages": [StageLog(**g) for g in r["stages"]]})
                         for r in rows]))
    elif a.model == "tiny":
        print(summarise(toy_experiment(seeds, a.steps, a.methods.split(","), a.update)))
    else:
        import dataclasses
        import os
        import time

        import torch

        def stamp() -> str:
            return (time.strftime("%H:%M:%S UTC", time.gmtime()) + ", load "
                    + "/".join(f"{x:.2f}" for x in os.getloadavg()))

        # One thread: two threads on the two shared cores ran 3-4x slower.
        torch.set_num_threads(1)
        print(f"# start {stamp()}", file=sys.stderr, flush=True)
        res = smollm_experiment(seeds, a.steps, progression=a.progression,
                                methods=a.methods.split(","), update=a.update,
                                log=lambda m: print("# " + m, file=sys.stderr, flush=True))
        if a.out:
            with open(a.out, "a") as f:
                for r in res:
                    f.write(json.dumps(dataclasses.asdict(r), ensure_ascii=False) + "\n")
        print(f"# end {stamp()}", file=sys.stderr, flush=True)
        print(summarise(res))
