"""Where past and future operators occur in a formula as written, seen through definitions
and template arguments the way their textual expansion sees them.

Two rules of the language are decided here, on what the user wrote, and never on the core
IR, whose smart constructors simplify (`H true & a` becomes `a`, `WX true & O a` becomes
`O a`), nor on a definition's body alone (`hist(true) & a` with `def hist(p) = H p` is the
pure-past `H true & a`):

* the step a spec is read at: a pure-past formula (past operators and no future one) at
  the last step of the trace, every other formula at the first (docs/semantics.md);
* future operators under past ones are not supported (E025): a past operator's operand must
  be decided by the steps seen so far.

Each definition is profiled once (its own operators, which parameters occur in it and which
occur under a past operator), so a chain of templates costs its written size, not the size
of its expansion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from speclang import syntax as S
from speclang.compiler.ir import deep_recursion
from speclang.diagnostics import Span

_PAST_UNARY = {"YESTERDAY": "Y", "WYESTERDAY": "Z", "ONCE": "O", "HISTORICALLY": "H"}
_FUTURE_UNARY = {"NEXT": "X", "WNEXT": "WX", "EVENTUALLY": "F", "ALWAYS": "G"}
_PAST_BINARY = {"SINCE": "S", "TRIGGER": "T"}
_FUTURE_BINARY = {"UNTIL": "U", "RELEASE": "R", "WUNTIL": "W", "SRELEASE": "M"}
# `last` is WX false and `end` is G false: they look forward; `first` (Z false) looks back.
_FUTURE_CONST = {"last", "end"}
_PAST_CONST = {"first"}


@dataclass(frozen=True)
class Misplaced:
    """A future operator that the expansion puts under a past operator."""

    span: Span  # the future operator, or the use of the definition that brings one
    what: str  # 'future operator "F"', 'definition "ev" (it has future operators)'
    past: str  # 'past operator "O"', 'past operator "O" of template "once"'
    declared: Span | None = None  # the definition's or template's declaration, if one is involved


@dataclass
class _Found:
    """What one walk collects besides the operator flags."""

    occurs: set[str] = field(default_factory=set)  # parameters that occur
    under_past: dict[str, str] = field(default_factory=dict)  # ... under a past operator
    misplaced: list[Misplaced] = field(default_factory=list)


@dataclass(frozen=True)
class Profile:
    """A definition's body: its own past/future operators (parameters apart), which
    parameters occur (and which under a past operator, with that operator's phrase), and
    every misplaced future operator in it or in the definitions it uses."""

    past: bool
    future: bool
    occurs: frozenset[str]
    under_past: Mapping[str, str]
    misplaced: tuple[Misplaced, ...]


_EMPTY = Profile(False, False, frozenset(), {}, ())


@dataclass(frozen=True)
class Tense:
    past: bool  # a past operator occurs in the expansion
    future: bool  # a future operator occurs in the expansion
    misplaced: tuple[Misplaced, ...]

    @property
    def pure_past(self) -> bool:
        return self.past and not self.future


class Tenses:
    """Tenses of formulas of one program; ``unit_of`` maps ``id(def symbol)`` to the unit
    that declares it (whose scope its body is resolved in)."""

    def __init__(self, unit_of: Mapping[int, Any] | None = None) -> None:
        self._unit_of = unit_of or {}
        self._profiles: dict[int, Profile] = {}
        self._busy: set[int] = set()

    def of(self, f: S.Formula, scope: Mapping[str, Any] | None) -> Tense:
        """The tense of ``f`` written where ``scope`` is visible (None: a free formula, every
        name a proposition)."""
        found = _Found()
        with deep_recursion():
            past, future = self._walk(f, scope, frozenset(), None, found)
        return Tense(past, future, tuple(found.misplaced))

    def profile(self, sym: Any) -> Profile:
        """The profile of definition ``sym`` (an empty one inside a recursive chain, which
        E014 reports)."""
        key = id(sym)
        got = self._profiles.get(key)
        if got is not None:
            return got
        if key in self._busy or key not in self._unit_of:
            return _EMPTY
        self._busy.add(key)
        decl = sym.decl
        assert isinstance(decl, S.DefDecl)
        params = frozenset(p.name for p in decl.params or ())
        found = _Found()
        with deep_recursion():
            past, future = self._walk(decl.body, self._unit_of[key].scope, params, None, found)
        self._busy.discard(key)
        got = self._profiles[key] = Profile(
            past, future, frozenset(found.occurs), dict(found.under_past),
            tuple(found.misplaced))
        return got

    def _walk(self, f: S.Formula, scope: Mapping[str, Any] | None, params: frozenset[str],
              under: str | None, found: _Found) -> tuple[bool, bool]:
        """(past, future) of ``f``'s expansion, parameters apart. ``under``: the phrase of
        the innermost past operator around ``f``, None outside every past operator. Only the
        outermost misplaced future operator is reported: those inside it add nothing."""

        def misplaced(span: Span, what: str, declared: Span | None = None) -> None:
            assert under is not None
            found.misplaced.append(Misplaced(span, what, under, declared))

        if isinstance(f, S.Const):
            if f.value in _FUTURE_CONST:
                if under is not None:
                    misplaced(f.span, f'future operator "{f.value}"')
                return False, True
            return f.value in _PAST_CONST, False
        if isinstance(f, S.Name):
            if f.name in params:
                found.occurs.add(f.name)
                if under is not None:
                    found.under_past.setdefault(f.name, under)
                return False, False
            sym = scope.get(f.name) if scope is not None else None
            if sym is None or sym.kind != "def" or sym.is_template:
                return False, False
            prof = self.profile(sym)
            found.misplaced.extend(prof.misplaced)
            if under is not None and prof.future:
                misplaced(f.span, f'definition "{f.name}" (it has future operators)', sym.span)
            return prof.past, prof.future
        if isinstance(f, S.Call):
            sym = scope.get(f.name) if scope is not None else None
            if sym is None or not sym.is_template:  # E010/E013 already: look at the arguments
                flags = [self._walk(a, scope, params, under, found) for a in f.args]
                return any(p for p, _ in flags), any(x for _, x in flags)
            prof = self.profile(sym)
            found.misplaced.extend(prof.misplaced)
            past, future = prof.past, prof.future
            if under is not None and prof.future:
                misplaced(f.span, f'template "{f.name}" (it has future operators)', sym.span)
                under = None  # reported: its arguments add nothing
            for arg, param in zip(f.args, sym.decl.params, strict=False):
                if param.name not in prof.occurs:
                    continue  # not in the expansion
                around = under
                if around is None and param.name in prof.under_past:
                    around = f'{prof.under_past[param.name]} of template "{f.name}"'
                p, x = self._walk(arg, scope, params, around, found)
                past, future = past or p, future or x
            return past, future
        if isinstance(f, S.Unary | S.Bounded):
            if isinstance(f, S.Unary) and f.op in _PAST_UNARY:
                _, x = self._walk(f.operand, scope, params,
                                  f'past operator "{_PAST_UNARY[f.op]}"', found)
                return True, x
            if f.op == "NOT":
                return self._walk(f.operand, scope, params, under, found)
            if under is not None:
                misplaced(f.span, f'future operator "{_future_name(f)}"')
                under = None
            p, _ = self._walk(f.operand, scope, params, under, found)
            return p, True
        if isinstance(f, S.Binary):
            if f.op in _PAST_BINARY:
                inner: str | None = f'past operator "{_PAST_BINARY[f.op]}"'
            elif f.op in _FUTURE_BINARY:
                if under is not None:
                    misplaced(f.span, f'future operator "{_FUTURE_BINARY[f.op]}"')
                inner = None
            else:
                inner = under
            lp, lx = self._walk(f.left, scope, params, inner, found)
            rp, rx = self._walk(f.right, scope, params, inner, found)
            return (lp or rp or f.op in _PAST_BINARY), (lx or rx or f.op in _FUTURE_BINARY)
        assert isinstance(f, S.NAry)
        flags = [self._walk(a, scope, params, under, found) for a in f.items]
        return any(p for p, _ in flags), any(x for _, x in flags)


def _future_name(f: S.Unary | S.Bounded) -> str:
    name = _FUTURE_UNARY[f.op]
    if isinstance(f, S.Bounded):
        if f.op in ("NEXT", "WNEXT"):
            return f"{name}[{f.lo}]"
        return f"{name}[{f.lo},{'' if f.hi is None else f.hi}]"
    return name
