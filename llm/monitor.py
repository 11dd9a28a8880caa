"""A spec monitor over generated text: one automaton step per completed unit, with the
monitor state kept per sequence of a batch, and a post-hoc verdict with an explanation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from compiler.automaton import Automaton, Verdict
from llm.labels import Classifier, TextLabeler, Unit, UnitStream


@dataclass
class Step:
    """One monitor step: the unit's text, its letter (true propositions) and the verdict."""

    text: str
    true: tuple[str, ...]
    state: int
    verdict: str


@dataclass
class TextVerdict:
    verdict: str  # Verdict label of the finished text
    violated: bool
    steps: list[Step]
    first_violation: int | None  # index into steps
    explanation: str

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict, "violated": self.violated,
            "first_violation": self.first_violation, "explanation": self.explanation,
            "steps": [vars(s) for s in self.steps],
        }


@dataclass
class _Row:
    stream: UnitStream
    state: int
    steps: list[Step] = field(default_factory=list)


class TextMonitor:
    """Steps ``aut`` over a batch of growing texts.

    >>> import speclang, compiler
    >>> m = speclang.loads('observe r: text\\nprop bad = r contains "oops"\\nspec s { G !bad }')
    >>> mon = TextMonitor.from_module(m, "s", unit="word")
    >>> mon.reset(1); _ = mon.feed(0, "all fine oops ")
    >>> mon.violated(0)
    True
    """

    def __init__(self, aut: Automaton, labeler: TextLabeler, *, unit: str = "word") -> None:
        missing = [p for p in aut.props if p not in labeler.props]
        if missing:
            raise ValueError(f"the labeler does not provide {', '.join(missing)}")
        self.aut = aut
        self.labeler = labeler
        self.unit = unit
        self.sink = aut.violation_sink
        self._next: dict[tuple[int, tuple[bool, ...]], int] = {}
        self.rows: list[_Row] = []
        self.reset(1)

    @classmethod
    def from_module(cls, module, spec: str, *, unit: str = "word",  # noqa: ANN001
                    classifiers: Mapping[str, Classifier] | None = None,
                    **budgets: Any) -> TextMonitor:
        import compiler

        aut = compiler.compile_spec(module, spec, **budgets)
        labeler = TextLabeler.from_module(module, aut.props, classifiers)
        return cls(aut, labeler, unit=unit)

    def reset(self, batch: int) -> None:
        self.rows = [_Row(UnitStream(self.unit), self.aut.initial) for _ in range(batch)]

    def advance(self, q: int, letter: dict[str, bool]) -> int:
        """``aut.step`` memoised per (state, letter): the labeler yields few distinct letters
        and this sits on the shield's per-token path."""
        key = (q, tuple(letter[p] for p in self.aut.props))
        nxt = self._next.get(key)
        if nxt is None:
            nxt = self._next[key] = self.aut.step(q, letter)
        return nxt

    def letter(self, row: int | _Row, unit: Unit) -> dict[str, bool]:
        r = self.rows[row] if isinstance(row, int) else row
        return self.labeler.label(r.stream.text, unit)

    def _step(self, r: _Row, units: Iterable[Unit]) -> list[Step]:
        new = []
        for u in units:
            letter = self.labeler.label(r.stream.text, u)
            r.state = self.advance(r.state, letter)
            new.append(Step(r.stream.text[u.start:u.end], tuple(p for p, v in letter.items()
                                                              if v),
                            r.state, self.aut.verdict(r.state).label))
        r.steps.extend(new)
        return new

    def feed(self, row: int, piece: str) -> list[Step]:
        """Append generated text to sequence ``row``; returns the steps it completed."""
        r = self.rows[row]
        return self._step(r, r.stream.append(piece))

    def finish(self, row: int) -> list[Step]:
        r = self.rows[row]
        return self._step(r, r.stream.finish())

    def state(self, row: int) -> int:
        return self.rows[row].state

    def verdict(self, row: int) -> Verdict:
        return self.aut.verdict(self.rows[row].state)

    def violated(self, row: int) -> bool:
        return self.sink is not None and self.rows[row].state == self.sink

    def would_violate(self, row: int, piece: str) -> bool:
        """Whether appending ``piece`` to ``row`` reaches the violation sink, counting the
        pending unit as if it ended right after ``piece`` (so a match is refused before the
        word that completes it is closed)."""
        if self.sink is None:
            return False
        r = self.rows[row]
        stream = r.stream.copy()
        q = r.state
        for u in stream.append(piece):
            q = self.advance(q, self.labeler.label(stream.text, u))
            if q == self.sink:
                return True
        pending = stream.pending()
        if pending is not None:
            q = self.advance(q, self.labeler.label(stream.text, pending))
        return q == self.sink

    def texts(self) -> list[str]:
        return [r.stream.text for r in self.rows]


def label_text(monitor: TextMonitor, text: str | Sequence[str]) -> TextVerdict:
    """Post-hoc verdict of a finished text with the steps and a readable explanation (the
    first violating unit and which propositions it made true, or the obligation still open
    at the end). Give the decoded tokens as a list of strings for a ``token`` monitor."""
    monitor.reset(1)
    for piece in [text] if isinstance(text, str) else text:
        monitor.feed(0, piece)
    monitor.finish(0)
    row = monitor.rows[0]
    aut = monitor.aut
    steps = row.steps
    v = aut.verdict(row.state)
    first = next((i for i, s in enumerate(steps) if s.verdict == Verdict.VIOLATED.label), None)
    name = aut.name or "the spec"
    if first is not None:
        s = steps[first]
        true = ", ".join(s.true) or "no proposition"
        explanation = (f"{name} is violated at unit {first + 1} ({s.text!r}): it makes "
                       f"{true} true")
        if first > 0:
            before = sorted({p for st in steps[:first] for p in st.true})
            explanation += ("; earlier units made " + ", ".join(before) + " true"
                            if before else "; no earlier unit made any proposition true")
    elif v in (Verdict.SATISFIED, Verdict.PRESUMABLY_SATISFIED):
        explanation = f"{name} holds ({v.label}) after {len(steps)} units"
    else:
        residual = aut.residuals[row.state] if row.state < len(aut.residuals) else ""
        explanation = (f"{name} is {v.label} after {len(steps)} units: still owed "
                       f"{residual or 'an obligation'}")
    return TextVerdict(v.label, first is not None, steps, first, explanation)


def label_texts(monitor: TextMonitor, texts: Sequence[str]) -> list[TextVerdict]:
    return [label_text(monitor, t) for t in texts]
