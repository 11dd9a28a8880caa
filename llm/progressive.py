"""Progressive fine-tuning across a progression of text specs, with the baselines of the
RL experiments (agents/config.py ``METHOD_KINDS``), as far as they carry over to text:

- ``progressive``: the training budget is split evenly over the progression; stage ``i``
  rewards the specs ``0..i`` (summed), so earlier safeguards stay in force;
- ``zero_shot``: the whole budget on the final stage's reward (all specs at once);
- ``no_safeguard``: no fine-tuning at all (the reference model), the floor to compare with.

Every method is evaluated on held-out prompts: the violation rate of each spec (with a
95 % Wilson interval), the KL to the reference, and a few samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llm.monitor import TextMonitor, label_text
from llm.rewards import spec_reward
from llm.trainer import SpecTrainer, TrainConfig, wilson

METHODS = ("progressive", "zero_shot", "no_safeguard")


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


def schedule(method: str, specs: Sequence[str], steps: int) -> list[tuple[list[str], int]]:
    """(active specs, steps) per stage."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if method == "no_safeguard":
        return []
    if method == "zero_shot":
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
) -> MethodResult:
    import torch

    specs = module.progressions[progression]
    monitors = {s: TextMonitor.from_module(module, s, unit=unit) for s in specs}
    cfg = config or TrainConfig()
    trainer = SpecTrainer(model, tokenizer, [], cfg)
    result = MethodResult(method, cfg.seed)
    for i, (active, n) in enumerate(schedule(method, specs, steps)):
        trainer.rewards = [spec_reward(monitors[s]) for s in active]
        before = len(trainer.history)
        trainer.train(train_prompts, n, batch=batch)
        rewards = [h.reward for h in trainer.history[before:]]
        result.stages.append(StageLog(i, active, n, sum(rewards) / max(1, len(rewards))))
        if log is not None:
            log(f"{method} seed {cfg.seed} stage {i} {active}: mean reward "
                f"{result.stages[-1].mean_reward:.3f}")
    torch.manual_seed(10_000 + cfg.seed)
    ids, attn, start, texts = trainer.sample(eval_prompts, eval_k)
    with torch.no_grad():
        from llm.trainer import _sequence_logprobs

        trainer.policy.eval()
        kl = _sequence_logprobs(trainer.policy, ids, attn, start) - trainer._ref_logprobs(
            ids, attn, start)
    result.kl = float(kl.mean())
    for s, mon in monitors.items():
        bad = sum(label_text(mon, t).violated for t in texts)
        result.violation[s] = {"rate": bad / len(texts), "ci95": list(wilson(bad, len(texts))),
                               "n": len(texts)}
    result.samples = texts[:3]
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


def toy_experiment(seeds: Sequence[int], steps: int = 12) -> list[MethodResult]:
    """Every method on the tiny random model and the toy `vowels` progression: a check of
    the whole pipeline (a random model's text is not language, so it says nothing about
    medical specs)."""
    import speclang
    from llm.tiny import tiny_model, tiny_tokenizer

    module = speclang.loads(TOY_SPEC)
    tok = tiny_tokenizer()
    train = ["Hello", "Take", "Drink water", "Sleep", "Rest", "Call"]
    held = ["How", "Pain", "Fever", "Dose"]
    out = []
    for seed in seeds:
        for method in METHODS:
            cfg = TrainConfig("rloo", k=4, max_new_tokens=4, lr=5e-2, beta=0.01, seed=seed)
            out.append(run_method(method, tiny_model(tok, seed=seed), tok, module, "vowels",
                                  train, held, steps=steps, batch=2, config=cfg, eval_k=16,
                                  unit="token"))
    return out


def summarise(results: Sequence[MethodResult]) -> str:
    """A markdown table: mean over seeds with a 95 % t-interval half-width."""
    import statistics

    t95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}

    def ci(xs: list[float]) -> str:
        m = statistics.mean(xs)
        if len(xs) < 2:
            return f"{m:.3f}"
        h = t95.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / len(xs) ** 0.5
        return f"{m:.3f} ± {h:.3f}"

    specs = list(results[0].violation)
    rows = ["| method | seeds | " + " | ".join(f"violation {s}" for s in specs) + " | KL |",
            "|---|---|" + "---|" * (len(specs) + 1)]
    for method in METHODS:
        rs = [r for r in results if r.method == method]
        cells = [ci([r.violation[s]["rate"] for r in rs]) for s in specs]
        rows.append(f"| {method} | {len(rs)} | " + " | ".join(cells)
                    + f" | {ci([r.kl for r in rs])} |")
    return "\n".join(rows)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="toy progressive fine-tuning on a tiny model")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=12)
    a = ap.parse_args()
    print(summarise(toy_experiment(range(a.seeds), a.steps)))
