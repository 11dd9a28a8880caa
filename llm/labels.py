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
from re import _constants as _sre_c  # the parse trees re itself builds (Python >= 3.11)
from re import _parser as _sre_parse
from typing import Any, NamedTuple

from speclang.model import WORD_RE, TextClassifier, TextPattern

UNITS = ("token", "word", "sentence")
# A sentence ends after . ! ? (optionally closing quotes/brackets) followed by whitespace,
# or at a blank line; "e.g. this" is split too, which only makes steps finer.
# Matches are only tried where a run of end punctuation begins (the lookbehind): a long run
# such as "??????" without whitespace after it is then one failed attempt per scan, not
# one per character (which made every scan quadratic in the run's length).
_SENTENCE_END = re.compile(r"(?<![.!?])[.!?]+[\"')\]]*(?=\s)|\n\s*\n")
_END_CHARS = frozenset(".!?\"')]")
_LAST_MARK = re.compile(r"[.!?\n][^.!?\n]*\Z")
_LAST_NOT_RUN = re.compile(r"[^.!?\"')\]\s](?=[.!?\"')\]\s]*\Z)")


def _run_start(text: str, pos: int) -> int:
    """``pos`` moved back to the start of the run of punctuation and whitespace it is in, so
    that a scan from there matches that run as a scan of the whole text would: the
    lookbehind above refuses to start mid-run, and a blank line that grows ("\\n\\n" then
    "\\n") must be matched whole."""
    while pos > 0 and (text[pos - 1] in _END_CHARS or text[pos - 1].isspace()):
        pos -= 1
    return pos


_WS = re.compile(r"\s")

Classifier = Callable[[str], bool]

_CATEGORY_CLASS = {
    _sre_c.CATEGORY_DIGIT: r"\d", _sre_c.CATEGORY_NOT_DIGIT: r"\D",
    _sre_c.CATEGORY_SPACE: r"\s", _sre_c.CATEGORY_NOT_SPACE: r"\S",
    _sre_c.CATEGORY_WORD: r"\w", _sre_c.CATEGORY_NOT_WORD: r"\W",
}
_ZERO_WIDTH = {_sre_c.AT, _sre_c.ASSERT, _sre_c.ASSERT_NOT}
_REPEATS = {_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT, getattr(_sre_c, "POSSESSIVE_REPEAT", None)}


def _first_chars(items: Iterable[tuple[Any, Any]]) -> tuple[list[str] | None, bool]:
    """The character-class items one of which must be the first character any match of
    this parsed sequence consumes, and whether the sequence can match the empty string;
    ``None`` where that is not worked out (any character, negated sets, inline flags...)."""
    out: list[str] = []
    first: list[str] | None
    for op, av in items:
        if op in _ZERO_WIDTH:
            continue  # assertions consume nothing
        if op is _sre_c.LITERAL:
            first, nullable = [re.escape(chr(av))], False
        elif op is _sre_c.IN:
            first, nullable = [], False
            for kind, val in av:
                if kind is _sre_c.LITERAL:
                    first.append(re.escape(chr(val)))
                elif kind is _sre_c.RANGE:
                    first.append(f"{re.escape(chr(val[0]))}-{re.escape(chr(val[1]))}")
                elif kind is _sre_c.CATEGORY and val in _CATEGORY_CLASS:
                    first.append(_CATEGORY_CLASS[val])
                else:
                    return None, False
        elif op is _sre_c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                return None, False
            first, nullable = _first_chars(sub.data)
        elif op is getattr(_sre_c, "ATOMIC_GROUP", None):
            first, nullable = _first_chars(av.data)
        elif op is _sre_c.BRANCH:
            first, nullable = [], False
            for alt in av[1]:
                f, n = _first_chars(alt.data)
                if f is None:
                    return None, False
                first += f
                nullable = nullable or n
        elif op in _REPEATS:
            low, _high, sub = av
            first, nullable = _first_chars(sub.data)
            nullable = nullable or low == 0
        else:
            return None, False
        if first is None:
            return None, False
        out += first
        if not nullable:
            return out, False
    return out, True


def _required_literals(items: Iterable[tuple[Any, Any]]) -> list[str] | None:
    """Strings one of which every match of this parsed sequence contains (None: no such
    set found). Runs of literal characters qualify, and so do mandatory groups, branches
    (the union of their alternatives' sets) and repeats of at least one; among the
    candidates, the set whose shortest string is longest is kept."""
    options: list[list[str]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            options.append(["".join(run)])
            run.clear()

    for op, av in items:
        if op is _sre_c.LITERAL:
            run.append(chr(av))
            continue
        flush()
        sub: list[str] | None = None
        if op is _sre_c.SUBPATTERN and not av[1] and not av[2]:
            sub = _required_literals(av[3].data)
        elif op is getattr(_sre_c, "ATOMIC_GROUP", None):
            sub = _required_literals(av.data)
        elif op is _sre_c.BRANCH:
            alts = [_required_literals(alt.data) for alt in av[1]]
            if all(a is not None for a in alts):
                sub = [x for a in alts for x in a]  # type: ignore[union-attr]
        elif op in _REPEATS and av[0] >= 1:
            sub = _required_literals(av[2].data)
        if sub:
            options.append(sub)
    flush()
    return max(options, key=lambda o: min(map(len, o)), default=None)


class MatchNeed(NamedTuple):
    """What every match of a pattern contains: one of ``literals`` (compared after ASCII
    case folding when ``ignore_case``), or, when ``chars`` is set, a character of that
    class. Both are closed under concatenation in the way the shield relies on (see
    ``speclang.llm.triggers``): text that lacks them can only gain them from the text appended."""

    literals: tuple[str, ...]
    ignore_case: bool
    chars: re.Pattern[str] | None


def match_need(pattern: re.Pattern[str]) -> MatchNeed | None:
    """A quick necessary condition for ``pattern.search(text)`` to find a match, worked out
    from the pattern's parse tree:

    - strings one of which every match contains (keywords: "doctor"...), kept when each has
      3 characters or more; under IGNORECASE only when they are ASCII;
    - otherwise the class of the first character of every match (digits, for a dosage),
      kept only when it has no letter.

    ``None`` when neither is found or selective."""
    flags = pattern.flags & ~re.VERBOSE
    if flags & re.LOCALE:
        return None
    try:
        parsed = _sre_parse.parse(pattern.pattern, flags)
    except Exception:  # noqa: BLE001 - an unusual pattern only loses the shortcut
        return None
    literals = _required_literals(parsed.data)
    if literals and min(map(len, literals)) >= 3:
        if not flags & re.IGNORECASE:
            return MatchNeed(tuple(literals), False, None)
        if all(lit.isascii() for lit in literals):
            return MatchNeed(tuple(sorted({lit.lower() for lit in literals})), True, None)
    first, nullable = _first_chars(parsed.data)
    if first is None or nullable or not first:
        return None
    probe = re.compile("[" + "".join(first) + "]", flags)
    if any(probe.match(c) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        return None
    return MatchNeed((), False, probe)


def match_prefilter(pattern: re.Pattern[str]) -> Callable[[str], bool] | None:
    """:func:`match_need` as a test: false means no match, true means run the pattern.
    Python's ``re`` is slow on patterns that open with ``\\b``, a lookbehind or a
    case-insensitive branch (~2 us on a sentence), and most sentences contain none of what
    a pattern needs. Case-insensitive strings are tested on lower-cased ASCII text only
    (``re``'s case folding is plain ``lower()`` there); other text always passes."""
    need = match_need(pattern)
    if need is None:
        return None
    if need.chars is not None:
        probe = need.chars
        return lambda text: probe.search(text) is not None
    literals = need.literals
    if not need.ignore_case:
        return lambda text: any(lit in text for lit in literals)

    def maybe(text: str) -> bool:
        if not text.isascii():
            return True
        text = text.lower()
        return any(lit in text for lit in literals)

    return maybe


class Unit(NamedTuple):
    """A completed unit: ``text[start:end]`` of the whole text; ``sentence_start`` is where
    the sentence containing the unit's end begins. (A named tuple: several are made per
    generated token on the shield's path, and a frozen dataclass costs ~1 us to build.)"""

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
        # Position of the last character that can begin a sentence end (. ! ? or a newline;
        # -1 if none): every sentence-end match begins at one, so a scan of text after it
        # can be skipped.
        self.last_mark = -1
        # Where the text's trailing run of punctuation and whitespace begins (``len(text)``
        # if it ends otherwise), so that scans starting in that run find its start without
        # walking back over it character by character (long runs such as "??????").
        self.run_end_start = 0
        # Proposition values already computed on units of this text, ``(prop, unit) ->
        # bool``: a unit's value only depends on the text up to its end, which appending
        # never changes, so the shield's check of a pending unit is reused when it completes.
        self.known: dict[tuple[str, Unit], bool] = {}

    def copy(self) -> UnitStream:
        other = UnitStream.__new__(UnitStream)
        other.unit, other.text = self.unit, self.text
        other.unit_start, other.sentence_start = self.unit_start, self.sentence_start
        other.last_mark = self.last_mark
        other.run_end_start = self.run_end_start
        known = self.known
        if len(known) > 8:
            # Only a unit that ends where the text ends now can be asked about again (as
            # the word that whitespace completes next); the others never are.
            n = len(self.text)
            known = self.known = {k: v for k, v in known.items() if k[1].end >= n}
        other.known = dict(known)
        return other

    def append(self, piece: str) -> list[Unit]:
        old = len(self.text)
        self.text = self.text + piece
        mark = _LAST_MARK.search(piece)
        if mark is not None:
            self.last_mark = old + mark.start()
        last = _LAST_NOT_RUN.search(piece)
        if last is not None:  # else the piece only extends the trailing run
            self.run_end_start = old + last.end()
        if self.unit == "word":
            # The per-token path: skip _cut's general bookkeeping.
            units = self._cut_words(old)
            if self.last_mark >= self.sentence_start:  # else no sentence end can be new
                self._advance_sentences(old)
            return units
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
        """The incomplete unit, as if it completed now (None when only whitespace): the same
        unit :meth:`finish` would complete, so that judging a text before it ends agrees
        with judging it once finished."""
        tail = self.text[self.unit_start:]
        if not tail or tail.isspace():
            return None
        start = len(self.text) - len(tail.lstrip())
        sentence = (self.sentence_start if self.last_mark < self.sentence_start
                    else self._sentence_of(start))
        return Unit(start, len(self.text), sentence)

    def _run_start(self, pos: int) -> int:
        """:func:`_run_start` on this text, in one step inside the trailing run."""
        if pos >= self.run_end_start:
            return min(pos, self.run_end_start)
        return _run_start(self.text, pos)

    def _sentence_of(self, pos: int) -> int:
        start = self.sentence_start
        if self.last_mark < start:
            return start
        for m in _SENTENCE_END.finditer(self.text, self._run_start(start), max(pos, start)):
            start = max(start, m.end())
        return start

    def _advance_sentences(self, old: int) -> None:
        scan = self._run_start(max(self.sentence_start, old - 8))
        if self.last_mark < scan:
            return
        for m in _SENTENCE_END.finditer(self.text, scan):
            if m.end() < len(self.text) or self.text[m.end() - 1].isspace():
                self.sentence_start = max(self.sentence_start, m.end())

    def _cut_words(self, old: int) -> list[Unit]:
        """The words completed since the text was ``old`` characters long: a word ends at
        the first whitespace after non-whitespace."""
        units: list[Unit] = []
        text = self.text
        start, n = self.unit_start, len(text)
        pos = max(start, old - 1)
        while True:
            while start < n and text[start].isspace():
                start += 1
            m = _WS.search(text, max(pos, start))
            if m is None:
                break
            end = m.start()
            units.append(Unit(start, end, self._sentence_of(start)))
            start = pos = end
        self.unit_start = start
        return units

    def _cut(self, old: int, final: bool) -> list[Unit]:
        units: list[Unit] = []
        text = self.text
        if self.unit == "word":
            units = self._cut_words(old)
        else:
            scan = self._run_start(max(self.unit_start, old - 8))
            for m in _SENTENCE_END.finditer(text, scan):
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
    classifiers (``{prop: callable(text) -> bool}``, e.g. :mod:`speclang.llm.semantic`) on units.

    Classifiers see the unit's sentence so far, as semantic judgements need context.

    ``observable`` names the text observable that is generated (``reply``); patterns over
    any other text observable (``prompt matches ...``) are *context*: one value for the
    whole trace, judged on the text given by :meth:`set_context`, never on the generated
    units. ``None``: every pattern is judged on the generated text."""

    def __init__(
        self,
        props: Iterable[str],
        patterns: Mapping[str, TextPattern] | None = None,
        classifiers: Mapping[str, Classifier] | None = None,
        *,
        observable: str | None = None,
    ) -> None:
        self.props = tuple(props)
        patterns = dict(patterns or {})
        self.observable = observable
        # Kept out of ``patterns``: the shield's triggers and static masks read a pattern as
        # a condition on generated text, which a context proposition is not.
        self.context_patterns = {p: pat for p, pat in patterns.items()
                                 if observable is not None and pat.observable != observable}
        self.patterns = {p: pat for p, pat in patterns.items()
                         if p not in self.context_patterns}
        self.context: dict[str, str] = {}
        self._context_values: dict[str, bool] = {}
        self.classifiers = dict(classifiers or {})
        # Per span/sentence pattern, the quick test that rules out a match (or None).
        self._prefilters = {p: match_prefilter(pat.compiled)
                            for p, pat in self.patterns.items() if pat.granularity != "word"}
        self._evaluators: dict[str, Callable[[str, Unit], bool]] = {}
        unbound = [p for p in self.props if p not in self.patterns and p not in self.classifiers
                   and p not in self.context_patterns]
        if unbound:
            raise ValueError(
                f"no text pattern or classifier for proposition(s) {', '.join(unbound)}: "
                "declare them in the spec (`prop p = reply matches /.../`) or pass classifiers"
            )

    @classmethod
    def from_module(cls, module, props: Iterable[str] | None = None,  # noqa: ANN001
                    classifiers: Mapping[str, Classifier] | None = None, *,
                    observable: str | None = None) -> TextLabeler:
        """``observable``: the generated text observable; by default the only one the
        propositions read (several are an error naming them: which one is generated cannot
        be guessed)."""
        props = tuple(props if props is not None else module.atoms)
        patterns = {n: d for n, d in module.derived.items() if isinstance(d, TextPattern)}
        classifiers = dict(classifiers or {})
        learned = {n: d for n, d in module.derived.items()
                   if isinstance(d, TextClassifier) and n in props}
        for name, d in learned.items():
            if name not in classifiers:  # a classifier given by the caller replaces the file
                from speclang.llm.learned import load_labeler

                classifiers[name] = load_labeler(d.path, expected_hash=d.sha256)
        read = sorted({patterns[p].observable for p in props if p in patterns}
                      | {learned[p].observable for p in props if p in learned})
        if observable is None:
            if len(read) > 1:
                raise ValueError(
                    f"the propositions read several text observables ({', '.join(read)}): "
                    "name the one that is generated (observable=...); the others are "
                    "context, such as the prompt")
        elif observable not in read and read:
            raise ValueError(f"no proposition reads the text observable {observable!r} "
                             f"(they read {', '.join(read)})")
        return cls(props, patterns, classifiers, observable=observable)

    @property
    def lexical_only(self) -> bool:
        return not any(p in self.classifiers or p in self.context_patterns for p in self.props)

    @property
    def context_observables(self) -> tuple[str, ...]:
        """The text observables besides the generated one that the propositions read."""
        return tuple(sorted({self.context_patterns[p].observable for p in self.props
                             if p in self.context_patterns}))

    def set_context(self, texts: Mapping[str, str]) -> None:
        """The text of each context observable (e.g. ``{"prompt": ...}``), for the traces
        labelled from now on."""
        unknown = sorted(set(texts) - set(self.context_observables))
        if unknown:
            known = ", ".join(self.context_observables) or "none"
            raise ValueError(f"no proposition reads {', '.join(map(repr, unknown))} as context "
                             f"(context observables: {known})")
        self.context = {k: str(v) for k, v in texts.items()}
        self._context_values = {}

    def _context_value(self, prop: str) -> bool:
        value = self._context_values.get(prop)
        if value is None:
            pat = self.context_patterns[prop]
            text = self.context.get(pat.observable)
            if text is None:
                raise ValueError(
                    f"proposition {prop!r} reads the text observable {pat.observable!r}, which "
                    f"is not the generated text ({self.observable!r}): give its text with "
                    f"set_context({{{pat.observable!r}: ...}})")
            # @word: some word of it matches; otherwise it contains a match (as evaluate).
            value = self._context_values[prop] = pat.evaluate(text)
        return value

    def label(self, text: str, unit: Unit) -> dict[str, bool]:
        """The letter of one completed ``unit`` of ``text``."""
        return {p: self.holds(p, text, unit) for p in self.props}

    def holds(self, prop: str, text: str, unit: Unit) -> bool:
        """One proposition of :meth:`label` (the shield evaluates only those it needs)."""
        evaluate = self._evaluators.get(prop)
        if evaluate is None:
            evaluate = self._evaluators[prop] = self._evaluator(prop)
        return evaluate(text, unit)

    def _evaluator(self, prop: str) -> Callable[[str, Unit], bool]:
        """``holds`` for one proposition, with its granularity and quick test bound."""
        if prop in self.context_patterns:
            return lambda text, unit: self._context_value(prop)
        pat = self.patterns.get(prop)
        if pat is None:
            classify = self.classifiers[prop]
            return lambda text, unit: bool(classify(text[unit.sentence_start:unit.end]))
        if pat.granularity == "word":
            evaluate = pat.evaluate
            return lambda text, unit: evaluate(text[unit.start:unit.end])
        # The pattern is the user's: match it only through TextPattern's time-bounded
        # methods (a catastrophic one raises PatternTimeout), never the stdlib ``re``.
        search, ends_after, quick = pat.search, pat.ends_after, self._prefilters[prop]
        if pat.granularity == "sentence":
            def sentence_holds(text: str, unit: Unit) -> bool:
                sentence = text[unit.sentence_start:unit.end]
                if quick is not None and not quick(sentence):
                    return False
                return search(sentence)

            return sentence_holds

        def span_holds(text: str, unit: Unit) -> bool:
            sentence = text[unit.sentence_start:unit.end]
            if quick is not None and not quick(sentence):
                return False
            return ends_after(sentence, unit.start - unit.sentence_start)

        return span_holds

    def words(self, text: str) -> list[str]:
        return WORD_RE.findall(text)
