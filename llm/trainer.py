"""A small policy-gradient fine-tuner against spec rewards, independent of TRL internals.

Each iteration samples ``k`` completions per prompt from the policy, scores them with
reward functions (TRL signature), and updates with one of:

- ``"rloo"``: REINFORCE with a leave-one-out baseline (Ahmadian et al. 2024). The KL
  penalty to the frozen reference is folded into the reward,
  ``r - beta * (log pi(y|x) - log ref(y|x))``, and the advantage of sample i is its reward
  minus the mean of the other k-1 samples of the same prompt;
- ``"apa"``: advantage-induced policy alignment (Zhu et al. 2023): the squared error between
  the log-probability ratio ``log pi(y|x) - log ref(y|x)`` and the advantage scaled by
  ``1 / lam``, which keeps the policy near the reference without a separate KL term;
- ``"dpo"`` / ``"selm"``: preference updates on pairs the rewards (the monitor) separate
  within each prompt's ``k`` samples, best against worst; DPO's logistic loss on the
  policy-to-reference log-ratio margin, SELM's with its optimism term
  (``speclang.llm.preference``). The pairs trained on are kept in ``pairs``.

LoRA (peft) adapters are used when ``lora_rank > 0`` (for real models); the reference is
then the base model with the adapters disabled, so no second copy is held in memory.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from speclang.stats import wilson

RewardFunc = Callable[..., list[float]]
METHODS = ("rloo", "apa", "dpo", "selm")


@dataclass
class TrainConfig:
    method: str = "rloo"  # "rloo" | "apa" | "dpo" | "selm"
    k: int = 4  # samples per prompt (RLOO needs >= 2)
    max_new_tokens: int = 24
    lr: float = 1e-4
    beta: float = 0.05  # KL weight (rloo); the preference temperature (dpo, selm)
    lam: float = 1.0  # advantage scale (apa): target log-ratio = advantage / lam
    selm_alpha: float = 1e-3  # weight of SELM's optimism term
    # dpo, selm: a prompt's best and worst samples make a pair only when their rewards
    # differ by more than this (``speclang.llm.preference.monitor_pairs``).
    pair_margin: float = 0.0
    temperature: float = 1.0
    top_k: int = 0
    lora_rank: int = 0
    lora_alpha: int = 16
    # q/v is the usual LoRA choice; short SmolLM2 runs with it (at lr 2e-4) barely moved
    # the policy, so the MLP and the other attention projections can be adapted too.
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    # > 0: adapt only the last ``lora_layers`` decoder layers. The layers below are then
    # shared by policy and reference, so their activations are taken from generation
    # (``output_hidden_states``) and only the top layers are recomputed for log-probs,
    # gradients and the KL: on a CPU this is most of the cost of an update.
    lora_layers: int = 0
    seed: int = 0
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, "
                             f"not {self.method!r}")
        if self.k < 2:
            raise ValueError("a leave-one-out baseline or a preference pair needs k >= 2 "
                             "samples per prompt")


@dataclass
class StepStats:
    step: int
    reward: float  # mean task reward (before the KL term)
    kl: float  # mean per-sequence log pi - log ref of the sampled completions
    loss: float
    samples: list[str] = field(default_factory=list)
    pairs: int = 0  # preference pairs the monitor separated (dpo, selm)


# Phi-3 fuses the query/key/value and the gate/up projections into one linear layer each;
# a LoRA target named after a Llama projection adapts the fused layer holding it (whole:
# an adapter on ``qkv_proj`` also moves the keys).
FUSED = {"q_proj": "qkv_proj", "k_proj": "qkv_proj", "v_proj": "qkv_proj",
         "gate_proj": "gate_up_proj", "up_proj": "gate_up_proj"}


def lora_modules(model: Any, targets: Sequence[str]) -> list[str]:
    """``targets`` as module names of ``model``: Llama-style names map onto Phi-3's fused
    projections where the model has no module of that name."""
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    out: list[str] = []
    for t in targets:
        name = t if t in names else FUSED.get(t, t)
        if name not in names:
            raise ValueError(f"LoRA target {t!r} is not a module of "
                             f"{type(model).__name__}")
        if name not in out:
            out.append(name)
    return out


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

            n_layers = model.config.num_hidden_layers
            top = min(self.cfg.lora_layers, n_layers) if self.cfg.lora_layers > 0 else 0
            self.split = n_layers - top if top else None
            lcfg = LoraConfig(r=self.cfg.lora_rank, lora_alpha=self.cfg.lora_alpha,
                              target_modules=lora_modules(model, self.cfg.lora_targets),
                              lora_dropout=0.0,
                              layers_to_transform=list(range(self.split, n_layers))
                              if self.split is not None else None)
            self.policy = get_peft_model(model, lcfg)
            self.ref = None
        else:
            self.split = None
            self.policy = model
            self.ref = copy.deepcopy(model).eval()
            for p in self.ref.parameters():
                p.requires_grad_(False)
        params = [p for p in self.policy.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(params, lr=self.cfg.lr)
        self.history: list[StepStats] = []
        # dpo, selm: every pair trained on, in order (``speclang.llm.preference``).
        self.pairs: list[Any] = []
        self.last_hidden: torch.Tensor | None = None
        # An extra per-completion cost subtracted from the reward before the update (the
        # ``intrinsic_fear`` danger penalty), called as ``penalty(ids, attn, start,
        # final_hidden)`` with the policy's last-layer states from generation (positions
        # 0 .. T-2, ``last_final``); ``StepStats.reward`` stays the task reward.
        self.penalty: Callable[..., torch.Tensor] | None = None
        self.last_final: torch.Tensor | None = None
        # True once adapters are loaded (``load_adapter``): the policy may then differ from
        # the reference before any update of this trainer.
        self.adapted = False

    def _top_logprobs(self, hidden: torch.Tensor, ids: torch.Tensor, attn: torch.Tensor,
                      start: int) -> torch.Tensor:
        """Like ``_sequence_logprobs``, from the inputs ``hidden`` of layer ``self.split``
        at positions ``0 .. T-2`` (all that predict a completion token): only the layers
        from ``self.split`` up run. The base model's layer list is swapped for its top
        slice and ``hidden`` fed as input embeddings (Llama-style models add nothing to
        them). Rotary position codes only enter through position differences, so the
        positions restarting at 0 for the slice change nothing."""
        base: Any = self.policy.get_base_model()
        layers = base.model.layers
        base.model.layers = torch.nn.ModuleList(list(layers)[self.split:])
        try:
            logits = base(inputs_embeds=hidden, attention_mask=attn[:, :-1], use_cache=False,
                          logits_to_keep=ids.shape[1] - start).logits.float()
        finally:
            base.model.layers = layers
        logp = torch.log_softmax(logits, dim=-1)
        picked = logp.gather(-1, ids[:, start:].unsqueeze(-1)).squeeze(-1)
        return (picked * attn[:, start:].to(picked.dtype)).sum(-1)

    def _policy_logprobs(self, ids: torch.Tensor, attn: torch.Tensor, start: int,
                         hidden: torch.Tensor | None = None) -> torch.Tensor:
        if hidden is not None and self.split is not None:
            return self._top_logprobs(hidden, ids, attn, start)
        return _sequence_logprobs(self.policy, ids, attn, start)

    def _ref_logprobs(self, ids: torch.Tensor, attn: torch.Tensor, start: int,
                      hidden: torch.Tensor | None = None) -> torch.Tensor:
        with torch.no_grad():
            if self.ref is not None:
                return _sequence_logprobs(self.ref, ids, attn, start)
            with self.policy.disable_adapter():
                return self._policy_logprobs(ids, attn, start, hidden)

    def sample(self, prompts: Sequence[str], k: int, *, logits_processor: Any = None,
               do_sample: bool = True) -> tuple[torch.Tensor, torch.Tensor, int, list[str]]:
        enc = self.tok(list(prompts), return_tensors="pt", padding=True)
        dev = next(self.policy.parameters()).device
        ids = enc["input_ids"].repeat_interleave(k, 0).to(dev)
        attn = enc["attention_mask"].repeat_interleave(k, 0).to(dev)
        start = ids.shape[1]
        self.policy.eval()
        with torch.no_grad():
            res = self.policy.generate(
                input_ids=ids, attention_mask=attn, max_new_tokens=self.cfg.max_new_tokens,
                do_sample=do_sample, temperature=self.cfg.temperature if do_sample else None,
                top_k=self.cfg.top_k if do_sample else None, logits_processor=logits_processor,
                pad_token_id=self.tok.pad_token_id, return_dict_in_generate=True,
                output_hidden_states=self.split is not None or self.penalty is not None)
        out = res.sequences
        # The activations entering layer ``split`` at every position but the last, kept
        # for ``update``/``evaluate`` (None without a split).
        self.last_hidden = (torch.cat([h[self.split] for h in res.hidden_states], dim=1)
                            if self.split is not None else None)
        self.last_final = (torch.cat([h[-1] for h in res.hidden_states], dim=1)
                           if self.penalty is not None else None)
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
        learn = reward
        if self.penalty is not None:
            learn = reward - self.penalty(ids, attn, start, self.last_final)
        n_pairs = 0
        if cfg.method in ("dpo", "selm"):
            from speclang.llm.preference import monitor_pairs

            found = monitor_pairs(list(prompts), texts, learn.tolist(), cfg.k, cfg.pair_margin)
            self.pairs += found
            n_pairs = len(found)
        loss, kl = self.update(ids, attn, start, learn, hidden=self.last_hidden)
        stats = StepStats(len(self.history), float(reward.mean()), kl, loss, list(texts[:2]),
                          n_pairs)
        self.history.append(stats)
        return stats

    def update(self, ids: torch.Tensor, attn: torch.Tensor, start: int,
               reward: torch.Tensor, hidden: torch.Tensor | None = None
               ) -> tuple[float, float]:
        """One gradient step on sampled completions (``k`` consecutive rows per prompt);
        returns the loss before the step and the mean KL estimate. ``hidden``: the
        activations that ``sample`` kept for these rows (LoRA on the top layers only)."""
        cfg = self.cfg
        ref_lp = self._ref_logprobs(ids, attn, start, hidden)
        reward = reward.to(ref_lp.device)  # rewards are scored on the CPU
        self.policy.train()
        lp = self._policy_logprobs(ids, attn, start, hidden)
        log_ratio = lp - ref_lp
        kl = log_ratio.detach()
        if cfg.method in ("dpo", "selm"):
            return self._preference_update(lp, ref_lp, reward), float(kl.mean())
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

    def _preference_update(self, lp: torch.Tensor, ref_lp: torch.Tensor,
                           reward: torch.Tensor) -> float:
        """DPO / SELM on the pairs the rewards separate within each prompt's ``k``
        samples; a batch without any pair leaves the policy as it is (loss 0)."""
        from speclang.llm.preference import dpo_loss, pair_indices, selm_loss

        cfg = self.cfg
        idx = pair_indices(reward.tolist(), cfg.k, cfg.pair_margin)
        if not idx:
            return 0.0
        w = torch.tensor([b for b, _ in idx], device=lp.device)
        lo = torch.tensor([r for _, r in idx], device=lp.device)
        if cfg.method == "dpo":
            loss = dpo_loss(lp[w], lp[lo], ref_lp[w], ref_lp[lo], cfg.beta).mean()
        else:
            loss = selm_loss(lp[w], lp[lo], ref_lp[w], ref_lp[lo], cfg.beta,
                             cfg.selm_alpha).mean()
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            [p for p in self.policy.parameters() if p.requires_grad], cfg.grad_clip)
        self.opt.step()
        return float(loss.detach())

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
                 k: int = 1, do_sample: bool = True, chunk: int = 0) -> dict[str, Any]:
        """Violation rate (with a 95% Wilson interval) and mean KL to the reference on
        ``k`` samples of each of ``prompts``, with the per-sample verdicts (``flags``, in
        prompt-major order, so that two evaluations under the same torch seed pair up
        sample by sample), completion lengths in tokens, and all texts.

        ``chunk`` > 0 samples that many prompts at a time (bounds memory on long prompt
        lists); the random stream then differs from one unchunked call."""
        step = chunk if chunk > 0 else len(prompts)
        texts: list[str] = []
        kls: list[torch.Tensor] = []
        lengths: list[int] = []
        for i in range(0, len(prompts), step):
            ids, attn, start, part = self.sample(prompts[i:i + step], k, do_sample=do_sample)
            if self.history or self.ref is not None or self.adapted:
                with torch.no_grad():
                    self.policy.eval()
                    kls.append((self._policy_logprobs(ids, attn, start, self.last_hidden)
                            - self._ref_logprobs(ids, attn, start, self.last_hidden)).cpu())
            else:
                # Fresh LoRA adapters (B = 0) leave the policy equal to the reference.
                kls.append(torch.zeros(ids.shape[0]))
            lengths += attn[:, start:].sum(1).tolist()
            texts += part
        flags = [bool(violated(t)) for t in texts]
        bad = sum(flags)
        lo, hi = wilson(bad, len(texts))
        return {"violation_rate": bad / len(texts), "ci95": [lo, hi], "n": len(texts),
                "kl": float(torch.cat(kls).mean()), "flags": flags, "lengths": lengths,
                "texts": texts, "samples": texts[:3]}

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.cfg)

    def save_adapter(self, folder: str | Path) -> None:
        """The LoRA adapters (peft's ``adapter_model.safetensors`` and
        ``adapter_config.json``, loadable by ``PeftModel.from_pretrained``) and the optimiser
        state (``optimizer.pt``), so that training can continue where it stopped."""
        if self.ref is not None:
            raise ValueError("only LoRA adapters are saved (lora_rank > 0)")
        folder = Path(folder)
        self.policy.save_pretrained(str(folder))
        torch.save(self.opt.state_dict(), folder / "optimizer.pt")

    def load_adapter(self, folder: str | Path) -> None:
        """Adapters and optimiser state written by :meth:`save_adapter` into this trainer
        (built with the same LoRA settings on the same base model)."""
        if self.ref is not None:
            raise ValueError("only LoRA adapters are loaded (lora_rank > 0)")
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        folder = Path(folder)
        set_peft_model_state_dict(self.policy, load_file(str(folder / "adapter_model.safetensors")))
        self.opt.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
        self.adapted = True
