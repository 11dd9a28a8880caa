"""A spec monitor over generated text: one automaton step per completed unit, with the
monitor state kept per sequence of a batch, and a post-hoc verdict with an explanation."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from speclang.compiler.automaton import Automaton, Verdict
from speclang.compiler.kernel import Stepper
from speclang.llm.labels import Classifier, TextLabeler, Unit, UnitStream


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
    # What :meth:`TextMonitor.would_violate` found safe, per piece: the stream after the
    # piece, the state and the completed units with their letters (or, for checks not
    # remembered, the shared work up to the last word), so that feeding the chosen piece
    # next costs little. Valid while ``probed_at`` still describes the row.
    probes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    probed_at: tuple[int, int, int] = (-1, -1, -1)
    # For checks that are not remembered: per leading whitespace, the stream after it.
    bases: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def position(self) -> tuple[int, int, int]:
        return (len(self.stream.text), self.stream.unit_start, self.state)


class _Text:
    """A text to judge a unit of, with its own (empty) memory of proposition values."""

    __slots__ = ("text", "known")

    def __init__(self, text: str) -> None:
        self.text = text
        self.known: dict[tuple[str, Unit], bool] = {}


_WHITESPACE = re.compile(r"\s")
_MAX_PROBES = 64  # per row and position; the shield checks at most top_k pieces per step
_MAX_TREE_PROPS = 8  # building a tree tabulates 2^n letters, each node scanning the table


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
        # The kernel steps packed bits over ``aut.props``; units arrive as values over
        # ``labeler.props``: ``_bit_of`` says which value sets which bit.
        self._stepper = Stepper(aut)
        where = {p: i for i, p in enumerate(labeler.props)}
        self._bit_of = [(where[p], 1 << j) for j, p in enumerate(aut.props)]
        self._sink_trees: dict[int, Any] = {}
        self._true_names: dict[tuple[bool, ...], tuple[str, ...]] = {}  # letter -> true props
        self._verdict_labels = [aut.verdict(q).label for q in range(aut.n_states)]
        self.rows: list[_Row] = []
        self.reset(1)

    @classmethod
    def from_module(cls, module, spec: str, *, unit: str = "word",  # noqa: ANN001
                    classifiers: Mapping[str, Classifier] | None = None,
                    observable: str | None = None, **budgets: Any) -> TextMonitor:
        """``observable``: the text observable that is generated, where the spec's
        propositions read several (the others are context: :meth:`set_context`)."""
        from speclang import compiler

        aut = compiler.compile_spec(module, spec, **budgets)
        labeler = TextLabeler.from_module(module, aut.props, classifiers, observable=observable)
        return cls(aut, labeler, unit=unit)

    def set_context(self, texts: Mapping[str, str]) -> None:
        """The text of each context observable (``{"prompt": ...}``: a spec that reads the
        prompt as well as the reply), for the traces fed from the next :meth:`reset` on."""
        self.labeler.set_context(texts)

    def reset(self, batch: int) -> None:
        self.rows = [_Row(UnitStream(self.unit), self.aut.initial) for _ in range(batch)]

    def advance(self, q: int, letter: Mapping[str, bool]) -> int:
        """The successor of ``q`` on ``letter`` (a value for every proposition of the
        automaton), through the kernel's table: this sits on the shield's per-token path."""
        bits = 0
        for j, p in enumerate(self.aut.props):
            if letter[p]:
                bits |= 1 << j
        return self._stepper.step_bits(q, bits)

    def letter(self, row: int | _Row, unit: Unit) -> dict[str, bool]:
        r = self.rows[row] if isinstance(row, int) else row
        return self.labeler.label(r.stream.text, unit)

    def _record(self, r: _Row, done: list[tuple[Unit, tuple[bool, ...], int]]) -> list[Step]:
        if not done:
            return []
        text, labels, names = r.stream.text, self._verdict_labels, self._true_names
        new = []
        for u, values, q in done:
            true = names.get(values)
            if true is None:
                true = names[values] = tuple(
                    [p for p, v in zip(self.labeler.props, values, strict=True) if v])
            new.append(Step(text[u.start:u.end], true, q, labels[q]))
        r.steps.extend(new)
        return new

    def _holds(self, stream: UnitStream | _Text, prop: str, unit: Unit) -> bool:
        key = (prop, unit)
        value = stream.known.get(key)
        if value is None:
            value = stream.known[key] = self.labeler.holds(prop, stream.text, unit)
        return value

    def _values(self, stream: UnitStream | _Text, unit: Unit) -> tuple[bool, ...]:
        """The letter of ``unit`` as values over ``labeler.props`` (reusing ``known``)."""
        known, text, holds = stream.known, stream.text, self.labeler.holds
        out = []
        for p in self.labeler.props:
            key = (p, unit)
            value = known.get(key)
            if value is None:
                value = known[key] = holds(p, text, unit)
            out.append(value)
        return tuple(out)

    def _successor(self, q: int, values: tuple[bool, ...]) -> int:
        """:meth:`advance` on values over ``labeler.props``."""
        bits = 0
        for i, w in self._bit_of:
            if values[i]:
                bits |= w
        return self._stepper.step_bits(q, bits)

    def _step(self, r: _Row, units: Iterable[Unit]) -> list[Step]:
        done = []
        for u in units:
            values = self._values(r.stream, u)
            r.state = self._successor(r.state, values)
            done.append((u, values, r.state))
        return self._record(r, done)

    def feed(self, row: int, piece: str) -> list[Step]:
        """Append generated text to sequence ``row``; returns the steps it completed."""
        r = self.rows[row]
        if r.probes and r.probed_at == r.position():
            probe = r.probes.get(piece)
            if probe is not None:  # would_violate already did this work
                if probe[0] is None:  # ... up to the last word (_last_word_violates)
                    _, (stream, q, _v, _s, _ss, done), rest = probe
                    stream = stream.copy()
                    stream.append(rest)  # completes nothing: no whitespace in it
                    r.stream, r.state = stream, q
                else:
                    r.stream, r.state, done = probe
                return self._record(r, done)  # the probes are dropped at the next check
        return self._step(r, r.stream.append(piece))

    def finish(self, row: int) -> list[Step]:
        r = self.rows[row]
        r.probes = {}
        return self._step(r, r.stream.finish())

    def state(self, row: int) -> int:
        return self.rows[row].state

    def verdict(self, row: int) -> Verdict:
        return self.aut.verdict(self.rows[row].state)

    def violated(self, row: int) -> bool:
        return self.sink is not None and self.rows[row].state == self.sink

    def would_violate(self, row: int, piece: str, *, remember: bool = True) -> bool:
        """Whether appending ``piece`` to ``row`` reaches the violation sink, counting the
        pending unit as if it ended right after ``piece`` (so a match is refused before the
        word that completes it is closed).

        ``remember`` keeps the work for :meth:`feed` if ``piece`` is fed next (the greedy
        shield's one check per token); without it, checks of many pieces at one position
        (sampling) share the part before the last word instead."""
        if self.sink is None:
            return False
        r = self.rows[row]
        q = r.state
        if q == self.sink:
            return True
        if not remember and self.unit == "word":
            rest = piece.lstrip()
            if rest and _WHITESPACE.search(rest) is None:
                return self._last_word_violates(r, piece[:len(piece) - len(rest)], rest)
        stream = r.stream.copy()
        done = []
        for u in stream.append(piece):
            values = self._values(stream, u)
            q = self._successor(q, values)
            if q == self.sink:
                return True
            done.append((u, values, q))
        pending = stream.pending()
        if pending is not None and self._reaches_sink(q, stream, pending):
            return True
        at = r.position()
        if r.probed_at != at:
            r.probes, r.bases, r.probed_at = {}, {}, at
        if len(r.probes) < _MAX_PROBES:
            r.probes[piece] = (stream, q, done)
        return False

    def _last_word_violates(self, r: _Row, lead: str, rest: str) -> bool:
        """:meth:`would_violate` for a piece made of whitespace ``lead`` (maybe empty) and
        one word fragment ``rest``: what ``lead`` does (complete the pending word, move the
        sentence start) is worked out once per position and ``lead``; then ``rest`` only
        extends or starts the pending word, which is judged as if it ended there."""
        at = r.position()
        if r.probed_at != at:
            r.probes, r.bases, r.probed_at = {}, {}, at
        base = r.bases.get(lead)
        if base is None:
            stream = r.stream.copy()
            q, violated, done = r.state, False, []
            for u in stream.append(lead) if lead else ():
                values = self._values(stream, u)
                q = self._successor(q, values)
                if q == self.sink:
                    violated = True
                    break
                done.append((u, values, q))
            # After an append the text from ``unit_start`` holds no whitespace: that is
            # where the pending word starts once ``rest`` (no whitespace) is appended, in
            # the same sentence (a sentence only ends before whitespace).
            start = stream.unit_start
            base = r.bases[lead] = (stream, q, violated, start, stream._sentence_of(start),
                                    done)
        stream, q, violated, start, sentence, _ = base
        if violated:
            return True
        text = stream.text + rest
        if self._reaches_sink(q, _Text(text), Unit(start, len(text), sentence)):
            return True
        if len(r.probes) < _MAX_PROBES:  # feed() finishes the work if this piece is fed
            r.probes[lead + rest] = (None, base, rest)
        return False

    def _reaches_sink(self, q: int, stream: UnitStream | _Text, unit: Unit) -> bool:
        """Whether stepping ``unit`` from ``q`` reaches the sink, evaluating only the
        propositions that decide it (see :meth:`_sink_tree`)."""
        tree = self._sink_trees.get(q)
        if tree is None:
            tree = self._sink_trees[q] = self._sink_tree(q)
        if tree == ():
            return self._successor(q, self._values(stream, unit)) == self.sink
        holds = self._holds
        while tree.__class__ is tuple:
            prop, if_false, if_true = tree
            tree = if_true if holds(stream, prop, unit) else if_false
        return tree

    def _sink_tree(self, q: int) -> Any:
        """A decision tree ``(prop, if_false, if_true)`` with boolean leaves for "one step
        from ``q`` reaches the sink". Each node tests, preferably, a proposition whose being
        false settles the answer, as propositions are false on most units: for
        ``G(dosage -> O disclaimer)`` the check of a word is one search for a dosage.
        ``()`` when there are too many propositions to tabulate."""
        props = list(self.aut.props)
        if len(props) > _MAX_TREE_PROPS:
            return ()
        table: dict[tuple[bool, ...], bool] = {}
        for bits in range(1 << len(props)):
            values = tuple(bool(bits >> i & 1) for i in range(len(props)))
            table[values] = self.advance(q, dict(zip(props, values, strict=True))) == self.sink

        def build(free: list[int], fixed: dict[int, bool]) -> Any:
            outs = {table[full] for full in table
                    if all(full[i] == b for i, b in fixed.items())}
            if len(outs) == 1:
                return outs.pop()

            def settled_when_false(i: int) -> bool:
                sub = {**fixed, i: False}
                return len({table[full] for full in table
                            if all(full[j] == b for j, b in sub.items())}) == 1

            pick = next((i for i in free if settled_when_false(i)), free[0])
            rest = [i for i in free if i != pick]
            return (props[pick], build(rest, {**fixed, pick: False}),
                    build(rest, {**fixed, pick: True}))

        return build(list(range(len(props))), {})

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
