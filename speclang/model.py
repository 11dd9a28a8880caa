"""The lowered program handed to the compiler: specs as core-IR formulas, progressions,
propositions, observables and derived propositions."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from compiler.ir import Formula
from speclang.diagnostics import Diagnostic, Span

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

    def evaluate(self, value: object) -> bool:
        return bool(_CMP[self.op](value, self.value))

    def __str__(self) -> str:
        v = self.value
        shown = ("true" if v else "false") if isinstance(v, bool) else v
        return f"{self.observable} {self.op} {shown}"


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
    derived: dict[str, Comparison] = field(default_factory=dict)
    source_hash: str = ""
    weak_next: bool = False
    warnings: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def atoms(self) -> list[str]:
        """Every proposition a monitor may observe: declared, then derived."""
        return [*self.props, *self.derived]
