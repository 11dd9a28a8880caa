"""The surface AST: what the user wrote, with a source span on every node.

Spans and nesting depth are excluded from equality (``compare=False``), so two ASTs compare
equal when they denote the same program text modulo layout, comments and redundant
parentheses; the formatter's round-trip property is stated with this equality.

``And``/``Or`` are n-ary: a chain ``a & b & c`` is one node, while an explicitly
parenthesised ``a & (b & c)`` keeps its inner node (the printer restores the parentheses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from speclang.compiler.keywords import KEYWORDS as KEYWORDS  # re-exported
from speclang.diagnostics import Span

_NO_SPAN = Span("<none>", 0, 0, 0, 0)



@dataclass(frozen=True)
class Node:
    span: Span = field(default=_NO_SPAN, compare=False, repr=False, kw_only=True)
    depth: int = field(default=1, compare=False, repr=False, kw_only=True)
    # Written inside parentheses: keeps `a & (b & c)` from being flattened into its parent.
    grouped: bool = field(default=False, compare=False, repr=False, kw_only=True)


# --- formulas ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Const(Node):
    """``true``, ``false``, ``last``, ``end`` or ``first``."""

    value: str


@dataclass(frozen=True)
class Name(Node):
    """A proposition, derived proposition, definition or template parameter reference."""

    name: str
    # Whether it was written in quotes: layout, not meaning ("a" and a are the same name).
    quoted: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Call(Node):
    """A template instantiation ``response(a, !b)``."""

    name: str
    args: tuple[Formula, ...]
    name_span: Span = field(default=_NO_SPAN, compare=False, repr=False)


# Unary operator names (canonical spelling in the formatter's table).
UNARY_OPS = (
    "NOT", "NEXT", "WNEXT", "EVENTUALLY", "ALWAYS", "YESTERDAY", "WYESTERDAY", "ONCE",
    "HISTORICALLY",
)


@dataclass(frozen=True)
class Unary(Node):
    op: str  # one of UNARY_OPS
    operand: Formula


@dataclass(frozen=True)
class Bounded(Node):
    """``X[n]`` / ``WX[n]`` (lo == hi == n) and ``F[lo,hi]`` / ``G[lo,hi]`` (hi None = open)."""

    op: str  # "NEXT" | "WNEXT" | "EVENTUALLY" | "ALWAYS"
    lo: int
    hi: int | None
    operand: Formula
    interval_span: Span = field(default=_NO_SPAN, compare=False, repr=False)


BINARY_OPS = (
    "IFF", "IMPLIES", "XOR", "UNTIL", "RELEASE", "WUNTIL", "SRELEASE", "SINCE", "TRIGGER",
)


@dataclass(frozen=True)
class Binary(Node):
    op: str  # one of BINARY_OPS
    left: Formula
    right: Formula


@dataclass(frozen=True)
class NAry(Node):
    op: str  # "AND" | "OR"
    items: tuple[Formula, ...]


Formula = Const | Name | Call | Unary | Bounded | Binary | NAry


def children(f: Formula) -> tuple[Formula, ...]:
    if isinstance(f, Unary | Bounded):
        return (f.operand,)
    if isinstance(f, Binary):
        return (f.left, f.right)
    if isinstance(f, NAry):
        return f.items
    if isinstance(f, Call):
        return f.args
    return ()


def walk(f: Formula) -> list[Formula]:
    """Every node, parents before children (iterative: depth is bounded but may be large)."""
    out: list[Formula] = []
    stack = [f]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(children(n)))
    return out


# --- declarations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Ident(Node):
    name: str
    quoted: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Import(Node):
    path: str


@dataclass(frozen=True)
class PropsDecl(Node):
    names: tuple[Ident, ...]


@dataclass(frozen=True)
class ObsType(Node):
    """``float``/``int``/``bool`` (``values`` empty) or an enum ``{a, b}`` (kind "enum")."""

    kind: str
    values: tuple[Ident, ...] = ()


@dataclass(frozen=True)
class Observable(Node):
    name: Ident
    type: ObsType


@dataclass(frozen=True)
class ObserveDecl(Node):
    items: tuple[Observable, ...]


@dataclass(frozen=True)
class Literal(Node):
    """Right-hand side of a comparison: a number, an enum value name, or a boolean."""

    kind: str  # "number" | "symbol" | "bool"
    text: str


@dataclass(frozen=True)
class DerivedDecl(Node):
    name: Ident
    observable: Ident
    op: str
    value: Literal


@dataclass(frozen=True)
class TextDecl(DerivedDecl):
    """A lexical proposition over a ``text`` observable: ``op`` is "matches" (``value`` is a
    "regex" literal ``/source/flags``) or "contains" (``value`` is a "keywords" literal, the
    phrases are in ``keywords``) or "classifies" (``value`` is a "labeler" literal, the
    quoted path of a labeler file; the path unquoted is ``keywords[0]``). ``granularity``
    is ``@word``/``@sentence``/``@span``."""

    keywords: tuple[str, ...] = ()
    granularity: Ident | None = None


@dataclass(frozen=True)
class DefDecl(Node):
    name: Ident
    params: tuple[Ident, ...] | None  # None: a plain definition; () cannot be written
    body: Formula


@dataclass(frozen=True)
class SpecDecl(Node):
    name: Ident
    description: str | None
    body: Formula


@dataclass(frozen=True)
class ProgressionDecl(Node):
    name: Ident
    specs: tuple[Ident, ...]


Decl = Import | PropsDecl | ObserveDecl | DerivedDecl | DefDecl | SpecDecl | ProgressionDecl


@dataclass(frozen=True)
class Comment:
    line: int
    col: int
    text: str


@dataclass(frozen=True)
class SourceFile(Node):
    decls: tuple[Decl, ...]
    weak_next: bool = False
    pragma_next: str | None = field(default=None, compare=False)  # "weak"/"strong" if given
    comments: tuple[Comment, ...] = field(default=(), compare=False, repr=False)
