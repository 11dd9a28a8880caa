"""The lowered program handed to the compiler: specs as core-IR formulas, progressions,
propositions, observables and derived propositions."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from speclang.compiler.comparison import Comparison as Comparison  # re-exported
from speclang.diagnostics import Diagnostic, Span

if TYPE_CHECKING:  # numpy-free import keeps `speclang check` fast
    from speclang.compiler.ir import Formula

@dataclass(frozen=True)
class ObservableType:
    """``kind`` is "float", "int", "bool" or "enum"; ``values`` lists an enum's values."""

    kind: str
    values: tuple[str, ...] = ()


TEXT_GRANULARITIES = ("span", "word", "sentence")
REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
# A word for `@word` propositions: letters/digits with inner apostrophes or hyphens.
WORD_RE = re.compile(r"\w+(?:['\u2019-]\w+)*")


# Matching one text against a text proposition's pattern may take this long.
REGEX_TIMEOUT_S = 0.5


class PatternTimeout(ValueError):
    """A text proposition's regular expression ran out of its time on one text."""


def risky_regex(source: str, flags: int = 0) -> str | None:
    """Why matching ``source`` may take exponential time, or None: a repeated group that
    itself repeats, or repeats an alternation (``(a+)+``, ``(a|aa)*``)."""
    import re._parser as sre  # type: ignore[import-not-found]  # the pattern's parse tree, as re itself sees it

    try:
        tree = sre.parse(source, flags)
    except (re.error, OverflowError, RecursionError, ValueError):
        return None
    repeats = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None))

    def inner(items: Any) -> bool:  # a repeat or an alternation somewhere below
        for op, av in items:
            if op in repeats and av[1] > 1 or op is sre.BRANCH:
                return True
            for sub in _children(op, av):
                if inner(sub):
                    return True
        return False

    def _children(op: Any, av: Any) -> list[Any]:
        if op in repeats:
            return [av[2]]
        if op is sre.SUBPATTERN:
            return [av[3]]
        if op is sre.BRANCH:
            return list(av[1])
        if op in (sre.ASSERT, sre.ASSERT_NOT):
            return [av[1]]
        return []

    def walk(items: Any) -> str | None:
        for op, av in items:
            if op in repeats and av[1] > 1 and inner(av[2]):
                return "a repeated group contains another repetition or an alternation"
            for sub in _children(op, av):
                why = walk(sub)
                if why:
                    return why
        return None

    return walk(tree)


# A pattern with no repetition and at most this many paths through its alternations does a
# bounded amount of work per start position, so it needs no timeout (see linear_regex).
_MAX_PATHS = 256


def linear_regex(source: str, flags: int = 0) -> bool:
    """Whether matching ``source`` is provably linear in the text: no repetition, no
    backreference, and at most ``_MAX_PATHS`` ways through its alternations (lookarounds
    included), so a backtracking matcher does at most that many fixed-length attempts per
    start position. Unknown constructs count as not linear."""
    import re._parser as sre

    try:
        tree = sre.parse(source, flags)
    except (re.error, OverflowError, RecursionError, ValueError):
        return False
    simple = {sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN, sre.AT, sre.CATEGORY}

    def paths(items: Any) -> int | None:
        n = 1
        for op, av in items:
            if op in simple:
                continue
            if op is sre.SUBPATTERN:
                k = paths(av[3])
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                k = paths(av[1])
            elif op is sre.BRANCH:
                ks = [paths(b) for b in av[1]]
                k = None if None in ks else sum(ks)  # type: ignore[arg-type]
            else:  # repeats, backreferences, conditionals, atomic groups
                return None
            if k is None:
                return None
            n *= k
            if n > _MAX_PATHS:
                return None
        return n

    return paths(tree) is not None


@dataclass(frozen=True)
class TextPattern:
    """A lexical proposition over a ``text`` observable (``prop p = reply matches /re/i``,
    ``prop p = reply contains {"a b", "c"} @sentence``).

    :meth:`evaluate` applies it to one piece of text: with granularity ``word`` the pattern
    must match one whole word (keywords: equal it, ignoring case); otherwise it may occur
    anywhere, keywords only between word boundaries and ignoring case. Which text a step
    sees (the unit just completed, or the sentence so far) is the runtime's choice, made
    from ``granularity`` (see ``speclang.llm.labels``)."""

    observable: str
    op: str  # "matches" | "contains"
    regex: str  # "matches": the source; "contains": built from the keywords
    flags: str = ""
    keywords: tuple[str, ...] = ()
    granularity: str = "span"

    @staticmethod
    def keyword_regex(keywords: tuple[str, ...]) -> str:
        # Longest first so that "not medical advice" wins over "not"; inner whitespace may
        # be any run of spaces or newlines, as generated text breaks lines anywhere.
        alts = sorted({k.strip() for k in keywords if k.strip()}, key=len, reverse=True)
        body = "|".join(r"\s+".join(map(re.escape, k.split())) for k in alts)
        return rf"(?<!\w)(?:{body})(?!\w)"

    @functools.cached_property
    def compiled(self) -> re.Pattern[str]:
        flags = 0
        for f in self.flags:
            flags |= REGEX_FLAGS[f]
        if self.op == "contains":
            flags |= re.IGNORECASE
        return _compile(self.regex, flags)

    @functools.cached_property
    def _bounded(self) -> Any:
        import regex  # backtracking with a timeout: a hostile pattern cannot hang a monitor

        return regex.compile(self.compiled.pattern, self.compiled.flags & ~re.UNICODE)

    @functools.cached_property
    def _linear(self) -> bool:
        # The timeout costs a few microseconds per call (the shield checks tokens by the
        # thousand); a pattern that cannot backtrack beyond a fixed bound does not need it.
        return linear_regex(self.compiled.pattern, self.compiled.flags)

    def evaluate(self, value: object) -> bool:
        """Whether the text satisfies the pattern; :class:`PatternTimeout` when matching
        one text takes over ``REGEX_TIMEOUT_S`` seconds (catastrophic backtracking): the
        truth is then unknown, and a monitor must not guess it."""
        text = str(value)
        pat = self._bounded
        if self._linear:
            if self.granularity == "word":
                return any(pat.fullmatch(m.group()) for m in WORD_RE.finditer(text))
            return pat.search(text) is not None
        try:
            if self.granularity == "word":
                return any(pat.fullmatch(m.group(), timeout=REGEX_TIMEOUT_S)
                           for m in WORD_RE.finditer(text))
            return pat.search(text, timeout=REGEX_TIMEOUT_S) is not None
        except TimeoutError:
            raise self._timeout(text) from None

    def search(self, text: str) -> bool:
        """Whether the pattern occurs anywhere in ``text``, with the same time bound as
        :meth:`evaluate` (the labeller's sentence fast path: never the unbounded ``re``)."""
        if self._linear:
            return self._bounded.search(text) is not None
        try:
            return self._bounded.search(text, timeout=REGEX_TIMEOUT_S) is not None
        except TimeoutError:
            raise self._timeout(text) from None

    def ends_after(self, text: str, offset: int) -> bool:
        """Whether some match in ``text`` (scanned as ``re.finditer`` would) ends after
        ``offset``, bounded as :meth:`evaluate` is (the labeller's span fast path)."""
        try:
            return any(m.end() > offset
                       for m in self._bounded.finditer(text, timeout=REGEX_TIMEOUT_S))
        except TimeoutError:
            raise self._timeout(text) from None

    def _timeout(self, text: str) -> PatternTimeout:
        return PatternTimeout(
            f"matching /{self.regex}/ against a {len(text)}-character text took over "
            f"{REGEX_TIMEOUT_S} s (the pattern backtracks catastrophically; "
            "`speclang check` warns about such patterns, W003)")

    def __str__(self) -> str:
        if self.op == "contains":
            shown = "{" + ", ".join('"' + k.replace('"', '\\"') + '"'
                                    for k in self.keywords) + "}"
        else:
            shown = f"/{self.regex}/{self.flags}"
        return f"{self.observable} {self.op} {shown} @{self.granularity}"


@dataclass(frozen=True)
class TextClassifier:
    """A learned proposition over a ``text`` observable (``prop advice = reply classifies
    "advice.json"``): the labeler file ``path`` (resolved against the spec's folder) with the
    content hash it had when the spec was loaded. The front end only checks the file;
    ``speclang.llm`` judges text with it (:mod:`speclang.llm.learned`), on the sentence so
    far, and refuses a file whose content no longer has ``sha256``."""

    observable: str
    path: str
    sha256: str
    written: str = ""  # the path as the spec wrote it, for messages and the formatter
    op: str = "classifies"
    granularity: str = "sentence"

    def evaluate(self, value: object) -> bool:
        raise ValueError(
            f"{self}: a learned proposition is judged by speclang.llm (TextMonitor, "
            "label_text), which loads its labeler; the plain runtime cannot evaluate it")

    def __str__(self) -> str:
        return f'{self.observable} classifies "{self.written or self.path}" @{self.granularity}'


_PATTERNS: dict[tuple[str, int], re.Pattern[str]] = {}


def _compile(source: str, flags: int) -> re.Pattern[str]:
    pat = _PATTERNS.get((source, flags))
    if pat is None:
        pat = _PATTERNS[(source, flags)] = re.compile(source, flags)
    return pat


@dataclass(frozen=True)
class Conjunct:
    """A top-level ``&``-operand of a spec body, lowered, with where it was written."""

    formula: Formula
    span: Span
    text: str


@dataclass(frozen=True)
class SpecDef:
    name: str
    description: str | None
    formula: Formula
    conjuncts: list[Conjunct]
    span: Span


@dataclass
class Module:
    path: str
    specs: dict[str, SpecDef] = field(default_factory=dict)
    progressions: dict[str, list[str]] = field(default_factory=dict)
    props: list[str] = field(default_factory=list)
    observables: dict[str, ObservableType] = field(default_factory=dict)
    derived: dict[str, Comparison | TextPattern | TextClassifier] = field(default_factory=dict)
    source_hash: str = ""
    weak_next: bool = False
    warnings: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    # Loaded with ``keep_going``: the specs left out for errors of their own (E025), with
    # those errors, and every such error of the program (also in definitions no spec uses).
    rejected: dict[str, list[Diagnostic]] = field(default_factory=dict)
    errors: list[Diagnostic] = field(default_factory=list)
    spec_names: list[str] = field(default_factory=list)  # every spec of the file, in order

    @property
    def atoms(self) -> list[str]:
        """Every proposition a monitor may observe: declared, then derived."""
        return [*self.props, *self.derived]
