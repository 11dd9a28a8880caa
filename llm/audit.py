"""Auditing the judge of text propositions against annotated data (ALLURE-style).

Each round measures how well each evaluator agrees with the annotations (accuracy, Cohen's
kappa, the confusion), then adds back the annotated instances it deviates from most (wrong,
and most confident about it; each instance at most once) as examples, and measures again.
The audit stops when the agreement stops improving (mean kappa over the propositions, on
the held-out set when one is given, else on the audited data), when no instance is left
to add, or after ``max_rounds``; the evaluators kept are those of the best round.

An evaluator is anything with ``predict(texts)``, ``deviation(texts, labels)``,
``add_examples(texts, labels)`` and ``copy()``: :class:`ExemplarEvaluator` over the
embedding labeler (added instances become exemplars), and
:class:`speclang.llm.judge.LLMJudge`, a causal LM answering yes or no (added instances
become in-context examples of its prompt). ``speclang audit`` (``speclang/cli/audit.py``)
runs this on a spec's learned propositions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from speclang.llm.learned import ExemplarLabeler


@dataclass(frozen=True)
class Agreement:
    """An evaluator's predictions against gold labels (true = the proposition holds)."""

    n: int
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.n if self.n else float("nan")

    @property
    def f1(self) -> float:
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if denom else 1.0  # no positive anywhere: nothing missed

    @property
    def kappa(self) -> float:
        """Cohen's kappa: (p_o - p_e) / (1 - p_e). When chance agreement is certain (both
        raters give one label to everything) kappa is undefined; it is 1.0 when they agree
        then, and 0.0 otherwise (sklearn returns nan there, statsmodels divides by zero)."""
        n = self.n
        if not n:
            return float("nan")
        po = (self.tp + self.tn) / n
        pe = ((self.tp + self.fp) * (self.tp + self.fn)
              + (self.fn + self.tn) * (self.fp + self.tn)) / (n * n)
        if pe >= 1.0:
            return 1.0 if po >= 1.0 else 0.0
        return (po - pe) / (1.0 - pe)


def agreement(predicted: Sequence[bool], gold: Sequence[bool]) -> Agreement:
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions but {len(gold)} labels")
    p = np.asarray(predicted, dtype=bool)
    g = np.asarray(gold, dtype=bool)
    return Agreement(len(p), int((p & g).sum()), int((p & ~g).sum()), int((~p & g).sum()),
                     int((~p & ~g).sum()))


class Evaluator(Protocol):
    def predict(self, texts: Sequence[str]) -> list[bool]: ...

    def deviation(self, texts: Sequence[str], labels: Sequence[bool]) -> np.ndarray:
        """How far each prediction is from its label: > 0 for a wrong one (larger: more
        confidently wrong), <= 0 for a right one."""
        ...

    def add_examples(self, texts: Sequence[str], labels: Sequence[bool]) -> None: ...

    def copy(self) -> Evaluator: ...


class ExemplarEvaluator:
    """The embedding labeler as an evaluator: deviation is the score's distance past the
    margin on the wrong side; added instances become exemplars."""

    def __init__(self, labeler: ExemplarLabeler) -> None:
        self.labeler = labeler

    def predict(self, texts: Sequence[str]) -> list[bool]:
        return self.labeler.predict(texts)

    def deviation(self, texts: Sequence[str], labels: Sequence[bool]) -> np.ndarray:
        s = self.labeler.scores(texts) - self.labeler.margin
        # A score exactly at the margin predicts false: wrong for a positive by 0, which
        # must still count as wrong, hence the tiny offset.
        return np.where(np.asarray(labels, dtype=bool), -s + 1e-12, s)

    def add_examples(self, texts: Sequence[str], labels: Sequence[bool]) -> None:
        self.labeler.add(texts, labels)

    def copy(self) -> ExemplarEvaluator:
        return ExemplarEvaluator(self.labeler.copy())


@dataclass
class AuditRound:
    """Round ``index``: the agreement per proposition (on the audited data, and on the
    held-out data when given) before this round's additions, and what was added after."""

    index: int
    audited: dict[str, Agreement]
    heldout: dict[str, Agreement] = field(default_factory=dict)
    added: dict[str, list[tuple[str, bool, float]]] = field(default_factory=dict)

    def tracked(self) -> float:
        per = self.heldout or self.audited
        return float(np.mean([a.kappa for a in per.values()]))


def audit(evaluators: Mapping[str, Evaluator],
          data: Mapping[str, Sequence[tuple[str, bool]]], *,
          heldout: Mapping[str, Sequence[tuple[str, bool]]] | None = None,
          add: int = 2, max_rounds: int = 10,
          on_round: Callable[[AuditRound], None] | None = None,
          ) -> tuple[list[AuditRound], dict[str, Evaluator]]:
    """Audit ``evaluators`` (by proposition) against ``data`` (``{prop: [(text, label)]}``).
    Returns the rounds and the evaluators of the best round (the inputs are not changed).
    ``on_round`` receives each round once it is complete (measured, its additions chosen),
    as it happens: an LLM judge's rounds take minutes."""
    if add < 1 or max_rounds < 1:
        raise ValueError(f"add and max_rounds must be >= 1, not {add} and {max_rounds}")
    missing = sorted(set(evaluators) - set(data))
    if missing:
        raise ValueError(f"no annotated data for {', '.join(missing)}")
    current = {p: e.copy() for p, e in evaluators.items()}

    def measure(index: int) -> AuditRound:
        r = AuditRound(index, {})
        for p, e in current.items():
            texts, gold = [t for t, _ in data[p]], [g for _, g in data[p]]
            r.audited[p] = agreement(e.predict(texts), gold)
            if heldout is not None and p in heldout:
                texts, gold = [t for t, _ in heldout[p]], [g for _, g in heldout[p]]
                r.heldout[p] = agreement(e.predict(texts), gold)
        return r

    rounds = [measure(0)]
    best, best_eval = rounds[0].tracked(), {p: e.copy() for p, e in current.items()}
    added_before: dict[str, set[str]] = {p: set() for p in current}
    while len(rounds) < max_rounds:
        last = rounds[-1]
        for p, e in current.items():
            texts, gold = [t for t, _ in data[p]], [g for _, g in data[p]]
            dev = e.deviation(texts, gold)
            # Most deviant first; equal deviations in the data's order, so runs repeat. An
            # instance goes in once: an LLM judge can still get wrong a sentence that is in
            # its prompt, and adding it again and again would crowd the others out.
            order = [i for i in np.lexsort((np.arange(len(dev)), -dev))
                     if dev[i] > 0 and texts[i] not in added_before[p]][:add]
            added_before[p].update(texts[i] for i in order)
            last.added[p] = [(texts[i], bool(gold[i]), float(dev[i])) for i in order]
            if order:
                e.add_examples([texts[i] for i in order], [gold[i] for i in order])
        if on_round is not None:
            on_round(last)
        if not any(last.added.values()):
            return rounds, best_eval  # each wrong instance was added already (or none is wrong)
        nxt = measure(len(rounds))
        rounds.append(nxt)
        score = nxt.tracked()
        if not score > best:
            break
        best, best_eval = score, {p: e.copy() for p, e in current.items()}
    if on_round is not None:
        on_round(rounds[-1])  # the last round: measured, nothing added after it
    return rounds, best_eval


def split_annotations(data: Mapping[str, Sequence[tuple[str, bool]]], share: float,
                      seed: int, *, keep: Sequence[str] = ()
                      ) -> tuple[dict[str, list[tuple[str, bool]]],
                                 dict[str, list[tuple[str, bool]]]]:
    """``(audited, heldout)``: ``share`` of the distinct texts, drawn with ``seed``, held
    out for every proposition alike (a sentence is on one side for all of them). Texts in
    ``keep`` (what the judges already hold as examples or exemplars) are never held out:
    agreement on them would flatter the judge."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"the held-out share must be between 0 and 1, not {share}")
    kept = set(keep)
    texts = [t for t in dict.fromkeys(t for rows in data.values() for t, _ in rows)
             if t not in kept]
    rng = np.random.default_rng(seed)
    held = {texts[i] for i in rng.permutation(len(texts))[:round(share * len(texts))]}
    audited = {p: [(t, g) for t, g in rows if t not in held] for p, rows in data.items()}
    heldout = {p: [(t, g) for t, g in rows if t in held] for p, rows in data.items()}
    for p in data:
        if not audited[p] or not heldout[p]:
            raise ValueError(f"holding out {share} of the data leaves {p} without "
                             f"{'audited' if not audited[p] else 'held-out'} sentences")
    return audited, heldout
