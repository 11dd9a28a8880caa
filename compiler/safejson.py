"""``json.loads`` for untrusted files (artifacts, traces) with every failure a ``ValueError``.

The standard decoder raises other things on hostile input: ``ValueError`` from ``int()``
past Python's 4,300-digit limit (a subclass, but not a ``JSONDecodeError`` with a
position), ``RecursionError`` for arrays nested ~1,000 deep, and it accepts ``NaN`` and
``Infinity``, which are not JSON. :class:`JSONLimitError` names the problem instead.
"""

from __future__ import annotations

import json
from typing import Any

MAX_INT_DIGITS = 4300


class JSONLimitError(ValueError):
    """Input that is JSON-like but outside what speclang reads."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JSONLimitError(f"a number with {len(text.lstrip('-'))} digits (the limit is "
                             f"{MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_INT_DIGITS:
        raise JSONLimitError(f"a number written with {len(text)} characters (the limit is "
                             f"{MAX_INT_DIGITS})")
    return float(text)


def _no_constant(name: str) -> Any:
    raise JSONLimitError(f"{name} is not a JSON number")


def loads(text: str, *, allow_nan: bool = False) -> Any:
    """Decode ``text``; ``json.JSONDecodeError`` for syntax errors (with a position),
    :class:`JSONLimitError` for deep nesting, huge numbers and (unless ``allow_nan``)
    ``NaN``/``Infinity``."""
    kwargs: dict[str, Any] = {"parse_int": _parse_int, "parse_float": _parse_float}
    if not allow_nan:
        kwargs["parse_constant"] = _no_constant
    try:
        return json.loads(text, **kwargs)
    except RecursionError:
        raise JSONLimitError("nested too deeply") from None
