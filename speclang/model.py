"""The lowered program handed to the compiler: specs as core-IR formulas, progressions,
propositions, observables and derived propositions."""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from speclang.diagnostics import Diagnostic, Span

if TYPE_CHECKING:  # numpy-free import keeps `speclang check` fast
    from speclang.compiler.ir import Formula

_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class ObservableType:
    """``kind`` is "float", "int", "bool" or "enum"; ``values`` lists an enum's values."""

    kind: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    """A derived proposition ``observable op value``; the runtime evaluates it each step."""

    observable: str
    op: str
    value: float | int | bool | str

    def evaluate(self, value: Any) -> Any:
        """A bool for a scalar; elementwise bools for a numpy array of values (the batched
        runtime labels many environments at once)."""
        result = _CMP[self.op](value, self.value)
        return result if getattr(result, "shape", ()) else bool(result)

    def __str__(self) -> str:
        v = self.value
        shown = ("true" if v else "false") if isinstance(v, bool) else v
        return f"{self.observable} {self.op} {shown}"


TEXT_GRANULARITIES = ("span", "word", "sentence")
REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
# A word for `@word` propositions: letters/digits with inner apostrophes or hyphens.
WORD_RE = re.compile(r"\w+(?:['\u2019-]\w+)*")


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

    def evaluate(self, value: object) -> bool:
        text = str(value)
        pat = self.compiled
        if self.granularity == "word":
            return any(pat.fullmatch(m.group()) for m in WORD_RE.finditer(text))
        return pat.search(text) is not None

    def __str__(self) -> str:
        if self.op == "contains":
            shown = "{" + ", ".join('"' + k.replace('"', '\\"') + '"'
                                    for k in self.keywords) + "}"
        else:
            shown = f"/{self.regex}/{self.flags}"
        return f"{self.observable} {self.op} {shown} @{self.granularity}"


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
    derived: dict[str, Comparison | TextPattern] = field(default_factory=dict)
    source_hash: str = ""
    weak_next: bool = False
    warnings: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def atoms(self) -> list[str]:
        """Every proposition a monitor may observe: declared, then derived."""
        return [*self.props, *self.derived]
