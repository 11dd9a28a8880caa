"""A small policy-gradient fine-tuner against spec rewards, independent of TRL internals.

Each iteration samples ``k`` completions per prompt from the policy, scores them with
reward functions (TRL signature), and updates with one of:

- ``"rloo"``: REINFORCE with a leave-one-out baseline (Ahmadian et al. 2024). The KL
  penalty to the frozen reference is folded into the reward,
  ``r - beta * (log pi(y|x) - log ref(y|x))``, and the advantage of sample i is its reward
  minus the mean of the other k-1 samples of the same prompt;
- ``"apa"``: advantage-induced policy alignment (Zhu et al. 2023): the squared error between
  the log-probability ratio ``log pi(y|x) - log ref(y|x)`` and the advantage scaled by
  ``1 / lam``, which keeps the policy near the reference without a separate KL term.

LoRA (peft) adapters are used when ``lora_rank > 0`` (for real models); the reference is
then the base model with the adapters disabled, so no second copy is held in memory.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

RewardFunc = Callable[..., list[float]]


@dataclass
class TrainConfig:
    method: str = "rloo"  # "rloo" | "apa"
    k: int = 4  # samples per prompt (RLOO needs >= 2)
    max_new_tokens: int = 24
    lr: float = 1e-4
    beta: float = 0.05  # KL weight (rloo)
    lam: float = 1.0  # advantage scale (apa): target log-ratio = advantage / lam
    temperature: float = 1.0
    top_k: int = 0
    lora_rank: int = 0
    lora_alpha: int = 16
    seed: int = 0
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in ("rloo", "apa"):
            raise ValueError(f"method must be 'rloo' or 'apa', not {self.method!r}")
        if self.k < 2:
            raise ValueError("a leave-one-out baseline needs k >= 2 samples per prompt")


@dataclass
class StepStats:
    step: int
    reward: float  # mean task reward (before the KL term)
    kl: float  # mean per-sequence log pi - log ref of the sampled completions
    loss: float
    samples: list[str] = field(default_factory=list)


def _sequence_logprobs(model: Any, ids: torch.Tensor, attn: torch.Tensor,
                       start: int) -> torch.Tensor:
    """Sum of log-probabilities of tokens ``ids[:, start:]`` (masked by ``attn``)."""
    logits = model(input_ids=ids, attention_mask=attn).logits[:, start - 1:-1].float()
    logp = torch.log_softmax(logits, dim=-1)
    tok = ids[:, start:]
    picked = logp.gather(-1, tok.unsqueeze(-1)).squeeze(-1)
    return (picked * attn[:, start:].to(picked.dtype)).sum(-1)


class SpecTrainer:
    """Fine-tunes ``model`` so that its completions of ``prompts`` earn more reward.

    ``rewards`` are summed. The reference model is a frozen copy of the starting policy
    (or the adapter-free base model under LoRA)."""

    def __init__(self, model: Any, tokenizer: Any, rewards: Sequence[RewardFunc],
                 config: TrainConfig | None = None) -> None:
        self.cfg = config or TrainConfig()
        self.tok = tokenizer
        self.rewards = list(rewards)
        torch.manual_seed(self.cfg.seed)
        if self.cfg.lora_rank > 0:
            from peft import LoraConfig, get_peft_model

            lcfg = LoraConfig(r=self.cfg.lora_rank, lora_alpha=self.cfg.lora_alpha,
                              target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
            self.policy = get_peft_model(model, lcfg)
            self.ref = None
        else:
            self.policy = model
            self.ref = copy.deepcopy(model).eval()
            for p in self.ref.parameters():
                p.requires_grad_(False)
        params = [p for p in self.policy.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(params, lr=self.cfg.lr)
        self.history: list[StepStats] = []

    def _ref_logprobs(self, ids: torch.Tensor, attn: torch.Tensor, start: int) -> torch.Tensor:
        with torch.no_grad():
            if self.ref is not None:
                return _sequence_logprobs(self.ref, ids, attn, start)
            with self.policy.disable_adapter():
                return _sequence_logprobs(self.policy, ids, attn, start)

    def sample(self, prompts: Sequence[str], k: int, *, logits_processor: Any = None,
               do_sample: bool = True) -> tuple[torch.Tensor, torch.Tensor, int, list[str]]:
        enc = self.tok(list(prompts), return_tensors="pt", padding=True)
        ids = enc["input_ids"].repeat_interleave(k, 0)
        attn = enc["attention_mask"].repeat_interleave(k, 0)
        start = ids.shape[1]
        self.policy.eval()
        with torch.no_grad():
            out = self.policy.generate(
                input_ids=ids, attention_mask=attn, max_new_tokens=self.cfg.max_new_tokens,
                do_sample=do_sample, temperature=self.cfg.temperature if do_sample else None,
                top_k=self.cfg.top_k if do_sample else None, logits_processor=logits_processor,
                pad_token_id=self.tok.pad_token_id)
        gen = out[:, start:]
        # Tokens after the first end-of-sequence are padding, not part of the completion.
        eos = self.tok.eos_token_id
        done = torch.cumsum((gen == eos).int(), dim=1)
        keep = (done == 0) | ((done == 1) & (gen == eos))
        full_attn = torch.cat([attn, keep.to(attn.dtype)], dim=1)
        texts = [self.tok.decode(g[m], skip_special_tokens=True)
                 for g, m in zip(gen, keep, strict=True)]
        return out, full_attn, start, texts

    def score(self, prompts: Sequence[str], texts: Sequence[str]) -> torch.Tensor:
        total = torch.zeros(len(texts))
        for f in self.rewards:
            total += torch.tensor(f(prompts=list(prompts), completions=list(texts)),
                                  dtype=torch.float32)
        return total

    def step(self, prompts: Sequence[str]) -> StepStats:
        cfg = self.cfg
        ids, attn, start, texts = self.sample(prompts, cfg.k)
        rep_prompts = [p for p in prompts for _ in range(cfg.k)]
        reward = self.score(rep_prompts, texts)
        loss, kl = self.update(ids, attn, start, reward)
        stats = StepStats(len(self.history), float(reward.mean()), kl, loss, list(texts[:2]))
        self.history.append(stats)
        return stats

    def update(self, ids: torch.Tensor, attn: torch.Tensor, start: int,
               reward: torch.Tensor) -> tuple[float, float]:
        """One gradient step on sampled completions (``k`` consecutive rows per prompt);
        returns the loss before the step and the mean KL estimate."""
        cfg = self.cfg
        ref_lp = self._ref_logprobs(ids, attn, start)
        self.policy.train()
        lp = _sequence_logprobs(self.policy, ids, attn, start)
        log_ratio = lp - ref_lp
        kl = log_ratio.detach()
        shaped = reward - cfg.beta * kl if cfg.method == "rloo" else reward
        grouped = shaped.view(-1, cfg.k)
        baseline = (grouped.sum(1, keepdim=True) - grouped) / (cfg.k - 1)
        adv = (grouped - baseline).view(-1)
        if cfg.method == "rloo":
            loss = -(adv * lp).mean()
        else:
            loss = ((log_ratio - adv / cfg.lam) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            [p for p in self.policy.parameters() if p.requires_grad], cfg.grad_clip)
        self.opt.step()
        return float(loss.detach()), float(kl.mean())

    def train(self, prompts: Sequence[str], steps: int, batch: int = 4,
              log: Callable[[StepStats], None] | None = None) -> list[StepStats]:
        g = torch.Generator().manual_seed(self.cfg.seed)
        for _ in range(steps):
            idx = torch.randperm(len(prompts), generator=g)[:batch].tolist()
            stats = self.step([prompts[i] for i in idx])
            if log is not None:
                log(stats)
        return self.history

    def evaluate(self, prompts: Sequence[str], violated: Callable[[str], bool],
                 k: int = 1, do_sample: bool = True) -> dict[str, Any]:
        """Violation rate (with a 95% Wilson interval) and mean KL to the reference on
        ``prompts``, plus a few samples."""
        ids, attn, start, texts = self.sample(prompts, k, do_sample=do_sample)
        with torch.no_grad():
            self.policy.eval()
            kl = _sequence_logprobs(self.policy, ids, attn, start) - self._ref_logprobs(
                ids, attn, start)
        bad = sum(violated(t) for t in texts)
        lo, hi = wilson(bad, len(texts))
        return {"violation_rate": bad / len(texts), "ci95": [lo, hi], "n": len(texts),
                "kl": float(kl.mean()), "samples": texts[:3]}

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.cfg)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))
