"""Preference pairs from monitor verdicts, and the DPO and SELM losses on them.

No human labels: for each prompt, the completions sampled from the policy are scored by
spec rewards (``speclang.llm.rewards.spec_reward``: the monitor's verdict, or the shaped
potential of its final state), and the best and worst of the group become a pair
(chosen, rejected) when the monitor separates them, i.e. when their rewards differ by
more than ``margin``. Groups the monitor cannot tell apart give no pair: a tie carries no
preference, and a pair made of one would teach noise.

- DPO (Rafailov et al. 2023), per pair, with ``h = (log pi(y_w) - log ref(y_w))
  - (log pi(y_l) - log ref(y_l))`` (sequence log-probabilities):
  ``loss = -log sigmoid(beta * h)``;
- SELM (Zhang et al. 2024, "Self-Exploring Language Models"): DPO plus the optimism term
  of its reward-fitting objective, ``+ alpha * beta * E_{y ~ pi_ref}[log pi(y | x)]``,
  which lowers the likelihood of what the sampling policy already says and so biases the
  policy towards responses of high implicit reward it has not explored. The expectation
  is taken over the pair's two responses: in SELM's online iterations the reference is the
  policy that drew them, as the sampling policy is here.

Pairs export as JSONL rows ``{"prompt", "chosen", "rejected"}``, the preference format
TRL's ``DPOTrainer`` reads: standard (strings; TRL concatenates prompt and completion, so
the prompt is kept exactly as the model saw it, chat template included) or
conversational (a prompt given as a list of messages makes chosen and rejected
one-message assistant lists).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass
class Pair:
    prompt: Any  # a string, or a list of chat messages
    chosen: str
    rejected: str
    chosen_reward: float
    rejected_reward: float
    chosen_index: int  # row of the chosen sample in the sampled batch
    rejected_index: int

    def to_trl(self) -> dict[str, Any]:
        if isinstance(self.prompt, str):
            return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}
        return {"prompt": list(self.prompt),
                "chosen": [{"role": "assistant", "content": self.chosen}],
                "rejected": [{"role": "assistant", "content": self.rejected}]}


def pair_indices(rewards: Sequence[float], k: int, margin: float = 0.0
                 ) -> list[tuple[int, int]]:
    """(chosen, rejected) rows, one pair per group of ``k`` consecutive samples that the
    rewards separate: the highest-rewarded against the lowest (the first of equals), kept
    when the two differ by more than ``margin``."""
    if k < 2 or len(rewards) % k:
        raise ValueError(f"{len(rewards)} rewards do not split into groups of k={k} >= 2")
    out = []
    for g in range(len(rewards) // k):
        rows = range(g * k, (g + 1) * k)
        best = max(rows, key=lambda i: (rewards[i], -i))
        worst = min(rows, key=lambda i: (rewards[i], i))
        if rewards[best] - rewards[worst] > margin:
            out.append((best, worst))
    return out


def monitor_pairs(prompts: Sequence[Any], texts: Sequence[str], rewards: Sequence[float],
                  k: int, margin: float = 0.0) -> list[Pair]:
    """The pairs of ``pair_indices`` for ``prompts`` x ``k`` samples (consecutive in
    ``texts`` and ``rewards``)."""
    if len(texts) != len(prompts) * k or len(rewards) != len(texts):
        raise ValueError(f"{len(prompts)} prompts x k={k} samples need {len(prompts) * k} "
                         f"texts and rewards, not {len(texts)} and {len(rewards)}")
    return [Pair(prompts[b // k], texts[b], texts[w], float(rewards[b]), float(rewards[w]),
                 b, w) for b, w in pair_indices(rewards, k, margin)]


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor,
             ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
             beta: float) -> torch.Tensor:
    """Per-pair DPO loss from sequence log-probabilities."""
    h = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -torch.nn.functional.logsigmoid(beta * h)


def selm_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor,
              ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
              beta: float, alpha: float) -> torch.Tensor:
    """Per-pair SELM loss: DPO plus ``alpha * beta`` times the mean policy log-probability
    of the pair's two (sampled) responses."""
    optimism = alpha * beta * (policy_chosen + policy_rejected) / 2
    return dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta) + optimism


def write_jsonl(pairs: Sequence[Pair], path: str | Path) -> int:
    """Writes the pairs in TRL's preference format; returns the number of rows."""
    with open(path, "w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(p.to_trl(), ensure_ascii=False) + "\n")
    return len(pairs)


def collect(trainer: Any, prompts: Sequence[Any], k: int, margin: float = 0.0,
            chunk: int = 8) -> list[Pair]:
    """Samples ``k`` completions of each prompt from ``trainer``'s policy
    (a ``SpecTrainer``; chat-message prompts go through the tokenizer's chat template)
    and pairs them by ``trainer``'s rewards."""
    pairs: list[Pair] = []
    for i in range(0, len(prompts), chunk):
        part = list(prompts[i:i + chunk])
        inputs = [p if isinstance(p, str) else trainer.tok.apply_chat_template(
            p, add_generation_prompt=True, tokenize=False) for p in part]
        _ids, _attn, _start, texts = trainer.sample(inputs, k)
        reward = trainer.score([p for p in part for _ in range(k)], texts)
        pairs += monitor_pairs(part, texts, reward.tolist(), k, margin)
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(
        prog="python -m speclang.llm.preference",
        description="sample completions, pair them by a spec's monitor and write the pairs "
                    "as JSONL for TRL's DPOTrainer")
    ap.add_argument("spec_file")
    ap.add_argument("--spec", required=True, help="the spec whose monitor ranks samples")
    ap.add_argument("--prompts", required=True,
                    help="a JSON list of prompts, or an object whose --split key holds one")
    ap.add_argument("--split", default="train")
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    ap.add_argument("--reward", choices=["verdict", "potential"], default="verdict")
    ap.add_argument("--unit", default="word")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=40)
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--chat", action="store_true",
                    help="treat prompts as user messages (conversational rows)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    from speclang.diagnostics import SpecErrors
    from speclang.llm.monitor import TextMonitor
    from speclang.llm.rewards import spec_reward
    from speclang.llm.trainer import SpecTrainer, TrainConfig
    from speclang.loader import load

    try:
        module = load(a.spec_file)
        monitor = TextMonitor.from_module(module, a.spec, unit=a.unit)
        data = json.loads(Path(a.prompts).read_text(encoding="utf-8"))
    except (SpecErrors, OSError, ValueError, KeyError) as e:
        # str() of a KeyError quotes its message
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 1
    prompts = data[a.split] if isinstance(data, dict) else data
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        print(f"error: {a.prompts}: expected a list of prompt strings", file=sys.stderr)
        return 1
    if a.model == "tiny":
        from speclang.llm.tiny import tiny_model, tiny_tokenizer

        tok = tiny_tokenizer()
        model = tiny_model(tok, seed=a.seed)
        if a.chat:
            tok.chat_template = CHAT_TEMPLATE
    else:
        from speclang.llm import smollm

        model, tok = smollm.load()
    rows: list[Any] = ([[{"role": "user", "content": p}] for p in prompts] if a.chat
                       else prompts)
    trainer = SpecTrainer(model, tok, [spec_reward(monitor, a.reward)],
                          TrainConfig("dpo", k=a.k, max_new_tokens=a.max_new_tokens,
                                      seed=a.seed))
    pairs = collect(trainer, rows, a.k, a.margin)
    n = write_jsonl(pairs, a.out)
    print(f"{n} pairs from {len(prompts)} prompts x {a.k} samples -> {a.out}")
    return 0


# "role: content" lines, for the tiny tokenizer (it has no chat template of its own).
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


if __name__ == "__main__":
    raise SystemExit(main())
