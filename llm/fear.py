"""Intrinsic Fear (Lipton et al. 2016) for text: a learned danger model whose prediction is
subtracted from the reward, as in the gridworld and VizDoom ``intrinsic_fear`` baselines.

- The state at completion token ``j`` is the policy's final hidden state at the position
  that chooses token ``j`` (the prefix up to token ``j - 1``), as ``SpecTrainer.sample``
  keeps it from generation: no extra forward pass.
- The catastrophe is the first token after which any monitored spec is violated. The
  monitors step per unit (word, sentence), so a violation is seen when its unit completes:
  the catastrophe token is the one that completes the violating unit, exactly as the
  monitor would report it while streaming the completion.
- A position is labelled dangerous when the catastrophe comes within ``horizon`` tokens
  (``j <= v < j + horizon``), safe otherwise; positions after the catastrophe are not
  training data (in the RL experiments the episode ends there).
- The danger model is a logistic regression on standardised features, refit online: a
  replay buffer of (feature, label) rows and a few Adam steps on minibatches of it after
  each batch of completions.

The reward penalty of a completion is ``lam`` x the mean predicted danger over all its
positions. Text has no analogue of the catastrophe that ends an RL episode (a completion
runs to its end, and the held-out evaluation counts violating texts, not episode ends), so
the violation itself costs nothing beyond what the method's task reward already says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from speclang.llm.monitor import TextMonitor


def first_violation_token(monitors: Sequence[TextMonitor], pieces: Sequence[str]) -> int | None:
    """Index of the token whose text makes any of ``monitors`` reach a violation (fed
    piece by piece; a unit still open at the end is completed by the last token)."""
    first: int | None = None
    for mon in monitors:
        mon.reset(1)
        hit = None
        for j, piece in enumerate(pieces):
            mon.feed(0, piece)
            if mon.violated(0):
                hit = j
                break
        else:
            mon.finish(0)
            if pieces and mon.violated(0):
                hit = len(pieces) - 1
        if hit is not None:
            first = hit if first is None else min(first, hit)
    return first


def token_pieces(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    """The text each token adds to the decoded completion (decoding prefixes, so that
    byte-level tokens that only form a character together come out right)."""
    out, prev = [], ""
    for j in range(len(ids)):
        cur = tokenizer.decode(list(ids[:j + 1]), skip_special_tokens=True)
        out.append(cur[len(prev):] if cur.startswith(prev) else cur)
        prev = cur
    return out


def horizon_labels(n: int, violation: int | None, horizon: int) -> torch.Tensor:
    """Labels of the positions ``0 .. min(n, violation + 1) - 1``: 1 within ``horizon``
    tokens before (and at) the violating token."""
    if violation is None:
        return torch.zeros(n)
    j = torch.arange(violation + 1, dtype=torch.float32)
    return (violation - j < horizon).float()


class DangerModel:
    """Logistic regression over features, trained online from a bounded replay buffer."""

    def __init__(self, dim: int, *, lr: float = 1e-2, steps: int = 20, minibatch: int = 256,
                 capacity: int = 50_000, seed: int = 0) -> None:
        self.head = torch.nn.Linear(dim, 1)
        self.opt = torch.optim.Adam(self.head.parameters(), lr=lr)
        self.steps, self.minibatch, self.capacity = steps, minibatch, capacity
        self.x = torch.empty(0, dim)
        self.y = torch.empty(0)
        self.mean = torch.zeros(dim)
        self.std = torch.ones(dim)
        self.gen = torch.Generator().manual_seed(seed)
        self.fitted = False

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x = torch.cat([self.x, x.detach().float()])[-self.capacity:]
        self.y = torch.cat([self.y, y.float()])[-self.capacity:]

    def fit(self) -> None:
        # Until both classes were seen there is nothing to separate, and a head fit on
        # one class only learns its bias: predict nothing rather than a constant.
        if len(self.y) == 0 or self.y.min() == self.y.max():
            return
        self.mean = self.x.mean(0)
        self.std = self.x.std(0).clamp_min(1e-4)
        xs = (self.x - self.mean) / self.std
        for _ in range(self.steps):
            idx = torch.randint(len(self.y), (min(self.minibatch, len(self.y)),),
                                generator=self.gen)
            logit = self.head(xs[idx]).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, self.y[idx])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        self.fitted = True

    @torch.no_grad()
    def danger(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fitted:
            return torch.zeros(x.shape[0])
        return torch.sigmoid(self.head((x.float() - self.mean) / self.std).squeeze(-1))


def auc(scores: Sequence[float], labels: Sequence[float]) -> float:
    """Area under the ROC curve (the probability that a random positive outscores a random
    negative, ties counting half); 0.5 when a class is missing."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return 0.5
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


class FearPenalty:
    """The ``SpecTrainer.penalty`` hook of ``intrinsic_fear``: labels the sampled
    completions with ``monitors``, returns ``lam`` x mean danger per completion (from the
    danger model as it was before this batch), then adds the batch to the buffer and
    refits."""

    def __init__(self, tokenizer: Any, monitors: Sequence[TextMonitor], dim: int, *,
                 lam: float = 0.5, horizon: int = 8, seed: int = 0) -> None:
        if horizon < 1:
            raise ValueError("fear horizon must be >= 1")
        self.tok, self.monitors, self.lam, self.horizon = tokenizer, list(monitors), lam, horizon
        self.model = DangerModel(dim, seed=seed)
        self.seen = 0  # completions labelled
        self.violating = 0
        # The danger predicted on each batch before training on it: an honest (held-out)
        # check that the model learns something, reported as an AUC.
        self.pred: list[float] = []
        self.true: list[float] = []

    def __call__(self, ids: torch.Tensor, attn: torch.Tensor, start: int,
                 final_hidden: torch.Tensor) -> torch.Tensor:
        penalty = torch.zeros(ids.shape[0])
        xs, ys = [], []
        for i in range(ids.shape[0]):
            keep = attn[i, start:].bool()
            n = int(keep.sum())
            if n == 0:
                continue
            feats = final_hidden[i, start - 1:start - 1 + n]
            d = self.model.danger(feats)
            penalty[i] = self.lam * float(d.mean())
            toks = ids[i, start:][keep].tolist()
            v = first_violation_token(self.monitors, token_pieces(self.tok, toks))
            y = horizon_labels(n, v, self.horizon)
            xs.append(feats[:len(y)])
            ys.append(y)
            if self.model.fitted:
                self.pred += d[:len(y)].tolist()
                self.true += y.tolist()
            self.seen += 1
            self.violating += v is not None
        if xs:
            self.model.add(torch.cat(xs), torch.cat(ys))
            self.model.fit()
        return penalty

    def stats(self) -> dict[str, Any]:
        return {"lambda": self.lam, "horizon": self.horizon, "completions": self.seen,
                "violating": self.violating, "buffer": len(self.model.y),
                "dangerous": int(self.model.y.sum()),
                "online_auc": auc(self.pred, self.true)}
