"""Derived propositions ``observable op value`` (``prop low = health < 30``): lowered by the
front end into a module, evaluated by the runtime at every step. Defined here, below both."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class ComparisonLike(Protocol):
    """What the runtime asks of a derived proposition: a :class:`Comparison`, or a text
    proposition (``speclang.model.TextPattern``) over a ``text`` observable."""

    @property
    def observable(self) -> str: ...  # read-only: Comparison and TextPattern are frozen

    def evaluate(self, value: Any) -> bool: ...


@dataclass(frozen=True)
class Comparison:
    """A derived proposition ``observable op value``; the runtime evaluates it each step."""

    observable: str
    op: str
    value: float | int | bool | str

    def __post_init__(self) -> None:
        if self.op not in _CMP:
            raise ValueError(
                f"comparison operator must be one of {sorted(_CMP)}, not {self.op!r}")

    def evaluate(self, value: Any) -> Any:
        """A bool for a scalar; elementwise bools for a numpy array of values (the batched
        runtime labels many environments at once)."""
        result = _CMP[self.op](value, self.value)
        return result if getattr(result, "shape", ()) else bool(result)

    def __str__(self) -> str:
        v = self.value
        shown = ("true" if v else "false") if isinstance(v, bool) else v
        return f"{self.observable} {self.op} {shown}"
