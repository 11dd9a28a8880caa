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
