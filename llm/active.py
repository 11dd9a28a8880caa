"""Learning a text proposition with few expert queries (active learning).

A labeler (:class:`speclang.llm.learned.ExemplarLabeler`) starts from a small labelled seed;
each round it picks sentences from a pool of *candidates*, asks an :class:`Oracle` for
their labels and adds them as exemplars, until the query budget is spent.

- Candidates come **on-policy**: :func:`on_policy_candidates` cuts the replies of the model
  being trained (any ``generate(prompts) -> replies``; :func:`hf_generator` wraps a
  transformers causal LM) into sentences, the unit a learned proposition judges, so the
  labeler is taught on the distribution it will later see.
- Queries: ``uncertainty`` (the smallest ``|score - margin|``: nearest to the decision
  boundary), ``committee`` (query by committee: the largest vote split among labelers
  built on bootstrap resamples of the labelled set, ties to uncertainty) or ``random``
  (the baseline they are measured against, ``benchmarks/llm_active.py``).
- Oracles: :class:`LabelledOracle` (a held-out labelled set), :class:`JudgeOracle` (a
  stronger judge, any ``text -> bool``), :class:`TerminalOracle` (a person at the terminal).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

import numpy as np

from speclang.llm.learned import Encoder, ExemplarLabeler

STRATEGIES = ("uncertainty", "committee", "random")


class Oracle(Protocol):
    """Answers label queries: one bool per text, in order."""

    def ask(self, texts: Sequence[str]) -> list[bool]: ...


class LabelledOracle:
    """Answers from a labelled set (the experiments' expert); a text outside it is an error,
    never a guess."""

    def __init__(self, labels: Mapping[str, bool]) -> None:
        self.labels = {t: bool(v) for t, v in labels.items()}
        self.asked = 0

    def ask(self, texts: Sequence[str]) -> list[bool]:
        missing = [t for t in texts if t not in self.labels]
        if missing:
            raise KeyError(f"the labelled set has no label for {missing[0]!r}")
        self.asked += len(texts)
        return [self.labels[t] for t in texts]


class JudgeOracle:
    """Answers with a stronger judge (``text -> bool``: a bigger model, a rule, ...)."""

    def __init__(self, judge: Callable[[str], bool]) -> None:
        self.judge = judge
        self.asked = 0

    def ask(self, texts: Sequence[str]) -> list[bool]:
        self.asked += len(texts)
        return [bool(self.judge(t)) for t in texts]


class TerminalOracle:
    """Asks a person: prints each text and reads ``y``/``n`` (again until it is one of them;
    end of input is an error, not a default answer)."""

    def __init__(self, question: str, *, read: Callable[[str], str] = input,
                 out: TextIO | None = None) -> None:
        self.question, self.read, self.out = question, read, out
        self.asked = 0

    def ask(self, texts: Sequence[str]) -> list[bool]:
        out = self.out or sys.stdout
        answers = []
        for text in texts:
            print(f"\n{text}", file=out)
            while True:
                try:
                    reply = self.read(f"{self.question} [y/n] ").strip().lower()
                except EOFError:
                    raise RuntimeError("the expert's input ended before every query was "
                                       "answered") from None
                if reply in ("y", "yes", "n", "no"):
                    answers.append(reply.startswith("y"))
                    break
                print("answer y or n", file=out)
            self.asked += 1
        return answers


def on_policy_candidates(generate: Callable[[Sequence[str]], Sequence[str]],
                         prompts: Sequence[str], *, samples: int = 1) -> list[str]:
    """The distinct sentences of ``samples`` replies per prompt of the policy ``generate``
    (cut as a ``@sentence`` proposition sees them: :class:`speclang.llm.labels.UnitStream`)."""
    from speclang.llm.labels import UnitStream

    seen: dict[str, None] = {}
    for _ in range(samples):
        for reply in generate(list(prompts)):
            stream = UnitStream("sentence")
            units = stream.append(reply) + stream.finish()
            for u in units:
                text = reply[u.start:u.end].strip()
                if text:
                    seen.setdefault(text, None)
    return list(seen)


def hf_generator(model: Any, tokenizer: Any, *, max_new_tokens: int = 48,
                 do_sample: bool = True, temperature: float = 0.8,
                 batch: int = 8) -> Callable[[Sequence[str]], list[str]]:
    """``generate(prompts) -> replies`` for a transformers causal LM: the chat template when
    the tokenizer has one (SmolLM2-Instruct), sampling by default so that repeated calls
    see more of the policy's distribution."""
    import torch

    def generate(prompts: Sequence[str]) -> list[str]:
        replies: list[str] = []
        for i in range(0, len(prompts), batch):
            part = list(prompts[i:i + batch])
            if getattr(tokenizer, "chat_template", None):
                part = [tokenizer.apply_chat_template([{"role": "user", "content": p}],
                                                      tokenize=False, add_generation_prompt=True)
                        for p in part]
            enc = tokenizer(part, return_tensors="pt", padding=True)
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                     temperature=temperature if do_sample else None,
                                     pad_token_id=tokenizer.pad_token_id)
            n = enc["input_ids"].shape[1]
            replies += [tokenizer.decode(row[n:], skip_special_tokens=True) for row in out]
        return replies

    return generate


def _committee_split(emb: np.ndarray, lab_emb: np.ndarray, labels: np.ndarray, margin: float,
                     members: int, rng: np.random.Generator) -> np.ndarray:
    """Per pool row, the fraction of the minority vote among ``members`` 1-NN labelers on
    bootstrap resamples of the labelled set (0: all agree, 0.5: an even split)."""
    sims = emb @ lab_emb.T
    votes = np.zeros(len(emb))
    n = len(labels)
    for _ in range(members):
        pick = np.zeros(n, dtype=bool)
        pick[rng.integers(0, n, n)] = True
        pos = np.where(pick & labels, sims, -np.inf).max(axis=1, initial=-1.0)
        neg = np.where(pick & ~labels, sims, -np.inf).max(axis=1, initial=-1.0)
        votes += (pos - neg) > margin
    frac = votes / members
    return np.minimum(frac, 1.0 - frac)


def choose(labeler: ExemplarLabeler, emb: np.ndarray, available: np.ndarray, k: int,
           strategy: str, rng: np.random.Generator, *, members: int = 7) -> list[int]:
    """``k`` pool rows (indices into ``emb``) among ``available`` to ask about next."""
    idx = np.flatnonzero(available)
    if len(idx) <= k:
        return idx.tolist()
    if strategy == "random":
        return rng.choice(idx, size=k, replace=False).tolist()
    closeness = np.abs(labeler.scores_of(emb[idx]) - labeler.margin)
    if strategy == "uncertainty":
        order = np.lexsort((idx, closeness))
    elif strategy == "committee":
        split = _committee_split(emb[idx], labeler._emb, np.asarray(labeler.labels),
                                 labeler.margin, members, rng)
        order = np.lexsort((idx, closeness, -split))
    else:
        raise ValueError(f"unknown query strategy {strategy!r}: one of {', '.join(STRATEGIES)}")
    return idx[order[:k]].tolist()


@dataclass
class Round:
    """What one round asked: the texts, the oracle's labels, the queries spent so far."""

    queries: int
    texts: list[str] = field(default_factory=list)
    labels: list[bool] = field(default_factory=list)


def active_learn(pool: Sequence[str], oracle: Oracle, seed: Iterable[tuple[str, bool]], *,
                 encoder: Encoder, budget: int, strategy: str = "uncertainty",
                 batch: int = 1, rng: np.random.Generator | int | None = None,
                 proposition: str = "", margin: float = 0.0,
                 on_round: Callable[[ExemplarLabeler, Round], None] | None = None,
                 ) -> tuple[ExemplarLabeler, list[Round]]:
    """Train a labeler from ``seed`` plus at most ``budget`` oracle queries on ``pool``.

    ``on_round(labeler, round)`` is called after the seed (round with 0 queries) and each
    batch of queries (the learning curves of the benchmark come from it)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown query strategy {strategy!r}: one of {', '.join(STRATEGIES)}")
    if budget < 0 or batch < 1:
        raise ValueError(f"budget must be >= 0 and batch >= 1, not {budget} and {batch}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    seed = list(seed)
    if not seed:
        raise ValueError("active learning needs a labelled seed of at least one text")
    labeler = ExemplarLabeler(encoder, [t for t, _ in seed], [lab for _, lab in seed],
                              margin=margin, proposition=proposition)
    pool = list(dict.fromkeys(t for t in pool if t.strip()))
    emb = encoder.embed(pool) if pool else np.zeros((0, 1))
    known = set(labeler.texts)
    available = np.array([t not in known for t in pool], dtype=bool)
    rounds = [Round(0)]
    if on_round is not None:
        on_round(labeler, rounds[0])
    spent = 0
    while spent < budget and available.any():
        picked = choose(labeler, emb, available, min(batch, budget - spent), strategy, rng)
        texts = [pool[i] for i in picked]
        labels = [bool(v) for v in oracle.ask(texts)]
        available[picked] = False
        labeler.add(texts, labels)
        spent += len(texts)
        rounds.append(Round(spent, texts, labels))
        if on_round is not None:
            on_round(labeler, rounds[-1])
    return labeler, rounds
