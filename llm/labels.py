"""Text -> proposition valuations, one per completed unit (token, word or sentence).

A unit stream cuts growing text into units; a :class:`TextLabeler` turns each completed
unit into a ``{prop: bool}`` letter. What a proposition sees depends on its granularity
(declared in the spec, ``@span`` by default):

- ``@span``: an occurrence of the pattern that *ends* inside this unit; the match may start
  earlier in the same sentence, so "200 mg" is caught when stepping word by word;
- ``@word``: one whole word of this unit matches;
- ``@sentence``: the sentence so far (up to the end of this unit) contains a match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from speclang.model import WORD_RE, TextPattern

UNITS = ("token", "word", "sentence")
# A sentence ends after . ! ? (optionally closing quotes/brackets) followed by whitespace,
# or at a blank line; "e.g. this" is split too, which only makes steps finer.
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)|\n\s*\n")
_WS = re.compile(r"\s")

Classifier = Callable[[str], bool]


@dataclass(frozen=True)
class Unit:
    """A completed unit: ``text[start:end]`` of the whole text; ``sentence_start`` is where
    the sentence containing the unit's end begins."""

    start: int
    end: int
    sentence_start: int


class UnitStream:
    """Cuts text that grows by appends into completed units.

    ``token`` units are exactly the appended pieces; a ``word`` completes when whitespace
    follows it; a ``sentence`` when its end punctuation is followed by whitespace.
    :meth:`finish` completes whatever is pending at the end of the text."""

    def __init__(self, unit: str = "word") -> None:
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, not {unit!r}")
        self.unit = unit
        self.text = ""
        self.unit_start = 0  # start of the pending (incomplete) unit
        self.sentence_start = 0

    def copy(self) -> UnitStream:
        other = UnitStream.__new__(UnitStream)
        other.unit, other.text = self.unit, self.text
        other.unit_start, other.sentence_start = self.unit_start, self.sentence_start
        return other

    def append(self, piece: str) -> list[Unit]:
        old = len(self.text)
        self.text += piece
        if self.unit == "token":
            if not piece.strip():
                return []  # whitespace-only tokens carry no content
            units = [Unit(old, len(self.text), self._sentence_of(old))]
            self.unit_start = len(self.text)
            self._advance_sentences(old)
            return units
        return self._cut(old, final=False)

    def finish(self) -> list[Unit]:
        if self.unit == "token":
            return []
        return self._cut(len(self.text), final=True)

    def pending(self) -> Unit | None:
        """The incomplete unit, as if it completed now (None when only whitespace)."""
        if not self.text[self.unit_start:].strip():
            return None
        return Unit(self.unit_start, len(self.text), self._sentence_of(self.unit_start))

    def _sentence_of(self, pos: int) -> int:
        start = self.sentence_start
        for m in _SENTENCE_END.finditer(self.text, start, max(pos, start)):
            start = m.end()
        return start

    def _advance_sentences(self, old: int) -> None:
        scan = max(self.sentence_start, old - 8)
        for m in _SENTENCE_END.finditer(self.text, scan):
            if m.end() < len(self.text) or self.text[m.end() - 1].isspace():
                self.sentence_start = max(self.sentence_start, m.end())

    def _cut(self, old: int, final: bool) -> list[Unit]:
        units: list[Unit] = []
        text = self.text
        if self.unit == "word":
            # A word ends at the first whitespace after non-whitespace.
            pos = max(self.unit_start, old - 1)
            while True:
                while self.unit_start < len(text) and text[self.unit_start].isspace():
                    self.unit_start += 1
                m = _WS.search(text, max(pos, self.unit_start))
                if m is None:
                    break
                units.append(Unit(self.unit_start, m.start(), self._sentence_of(self.unit_start)))
                self.unit_start = pos = m.start()
        else:
            for m in _SENTENCE_END.finditer(text, max(self.unit_start, old - 8)):
                if m.end() <= self.unit_start:
                    continue
                start = self.unit_start
                while start < m.end() and text[start].isspace():
                    start += 1
                if start < m.end():
                    units.append(Unit(start, m.end(), start))
                self.unit_start = m.end()
        if final and text[self.unit_start:].strip():
            start = len(text) - len(text[self.unit_start:].lstrip())
            units.append(Unit(start, len(text), self._sentence_of(start)))
            self.unit_start = len(text)
        if self.unit == "sentence":
            self.sentence_start = self.unit_start
        else:
            self._advance_sentences(old)
        return units


class TextLabeler:
    """Evaluates lexical patterns (from a spec's ``derived`` text propositions) and any
    classifiers (``{prop: callable(text) -> bool}``, e.g. :mod:`llm.semantic`) on units.

    Classifiers see the unit's sentence so far, as semantic judgements need context."""

    def __init__(
        self,
        props: Iterable[str],
        patterns: Mapping[str, TextPattern] | None = None,
        classifiers: Mapping[str, Classifier] | None = None,
    ) -> None:
        self.props = tuple(props)
        self.patterns = dict(patterns or {})
        self.classifiers = dict(classifiers or {})
        unbound = [p for p in self.props if p not in self.patterns and p not in self.classifiers]
        if unbound:
            raise ValueError(
                f"no text pattern or classifier for proposition(s) {', '.join(unbound)}: "
                "declare them in the spec (`prop p = reply matches /.../`) or pass classifiers"
            )

    @classmethod
    def from_module(cls, module, props: Iterable[str] | None = None,  # noqa: ANN001
                    classifiers: Mapping[str, Classifier] | None = None) -> TextLabeler:
        patterns = {n: d for n, d in module.derived.items() if isinstance(d, TextPattern)}
        return cls(props if props is not None else module.atoms, patterns, classifiers)

    @property
    def lexical_only(self) -> bool:
        return not any(p in self.classifiers for p in self.props)

    def label(self, text: str, unit: Unit) -> dict[str, bool]:
        """The letter of one completed ``unit`` of ``text``."""
        out: dict[str, bool] = {}
        sentence = text[unit.sentence_start:unit.end]
        for p in self.props:
            pat = self.patterns.get(p)
            if pat is None:
                out[p] = bool(self.classifiers[p](sentence))
            elif pat.granularity == "word":
                out[p] = pat.evaluate(text[unit.start:unit.end])
            elif pat.granularity == "sentence":
                out[p] = pat.compiled.search(sentence) is not None
            else:
                offset = unit.start - unit.sentence_start
                out[p] = any(m.end() > offset for m in pat.compiled.finditer(sentence))
        return out

    def words(self, text: str) -> list[str]:
        return WORD_RE.findall(text)
