"""Surface AST -> core IR: definitions and templates expanded, derived propositions turned
into atoms, bounded operators unrolled by ``speclang.compiler.ir``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from speclang import syntax as S
from speclang.analysis import Program, Symbol, Unit
from speclang.compiler import ir
from speclang.diagnostics import Span
from speclang.model import Comparison, Conjunct, Module, ObservableType, SpecDef, TextPattern

_UNARY: dict[str, Callable[[ir.Formula], ir.Formula]] = {
    "NOT": ir.Not,
    "NEXT": ir.Next,
    "WNEXT": ir.WeakNext,
    "EVENTUALLY": ir.Eventually,
    "ALWAYS": ir.Always,
    "YESTERDAY": ir.Yesterday,
    "WYESTERDAY": ir.WeakYesterday,
    "ONCE": ir.Once,
    "HISTORICALLY": ir.Historically,
}
_BINARY: dict[str, Callable[[ir.Formula, ir.Formula], ir.Formula]] = {
    "IFF": ir.Iff,
    "IMPLIES": ir.Implies,
    "XOR": ir.Xor,
    "UNTIL": ir.Until,
    "RELEASE": ir.Release,
    "WUNTIL": ir.WeakUntil,
    "SRELEASE": ir.StrongRelease,
    "SINCE": ir.Since,
    "TRIGGER": ir.Trigger,
}
# Where a subformula sits, for the empty-trace reading of `last` (see Lowerer.formula).
_TOP, _TOP_IMPLIED, _TEMPORAL = 0, 1, 2

_CONST = {"true": ir.TRUE, "false": ir.FALSE, "last": ir.LAST, "end": ir.END, "first": ir.FIRST}


Resolver = Callable[[str], Symbol | None]


class Lowerer:
    def __init__(self, unit_of: dict[int, Unit] | None = None):
        self._defs: dict[int, ir.Formula] = {}
        self._unit_of = unit_of or {}

    def formula(self, f: S.Formula, scope: dict[str, Symbol] | None,
                env: dict[str, ir.Formula], layer: int = _TOP) -> ir.Formula:
        """``scope`` None: a free formula, every name is a proposition.

        ``layer``: ``_TOP`` while ``f`` is reached from the root through Boolean connectives
        only, ``_TOP_IMPLIED`` when one of them is an ``->`` or ``<->``, ``_TEMPORAL`` below
        a temporal operator. In the ``_TOP_IMPLIED`` layer ``last`` lowers to
        ``last & F true``: the same on every non-empty suffix, but false on the empty trace.
        LTLf2DFA rewrites implications into NNF, where ``last`` becomes exactly that, so this
        keeps the initial state's acceptance (and the state count) equal to MONA's."""
        if isinstance(f, S.Const):
            if f.value == "last" and layer == _TOP_IMPLIED:
                return ir.And(ir.LAST, ir.Eventually(ir.TRUE))
            return _CONST[f.value]
        if isinstance(f, S.Name):
            if f.name in env:
                return env[f.name]
            sym = scope.get(f.name) if scope is not None else None
            if sym is not None and sym.kind == "def":
                return self._definition(sym, ())
            return ir.Atom(f.name)
        if isinstance(f, S.Call):
            assert scope is not None
            args = tuple(self.formula(a, scope, env) for a in f.args)
            return self._definition(scope[f.name], args)
        if isinstance(f, S.Unary):
            inner = layer if f.op == "NOT" else _TEMPORAL
            return _UNARY[f.op](self.formula(f.operand, scope, env, inner))
        if isinstance(f, S.Bounded):
            body = self.formula(f.operand, scope, env, _TEMPORAL)
            if f.op == "NEXT":
                return ir.NextN(f.lo, body)
            if f.op == "WNEXT":
                return ir.NextN(f.lo, body, weak=True)
            if f.op == "EVENTUALLY":
                return ir.BoundedEventually(f.lo, f.hi, body)
            return ir.BoundedAlways(f.lo, f.hi, body)
        if isinstance(f, S.Binary):
            if f.op in ("IMPLIES", "IFF"):
                inner = _TEMPORAL if layer == _TEMPORAL else _TOP_IMPLIED
            else:
                inner = layer if f.op == "XOR" else _TEMPORAL
            return _BINARY[f.op](self.formula(f.left, scope, env, inner),
                                 self.formula(f.right, scope, env, inner))
        assert isinstance(f, S.NAry)
        items = [self.formula(x, scope, env, layer) for x in f.items]
        return ir.And(*items) if f.op == "AND" else ir.Or(*items)

    def _definition(self, sym: Symbol, args: tuple[ir.Formula, ...]) -> ir.Formula:
        decl = sym.decl
        assert isinstance(decl, S.DefDecl)
        unit = self._unit_of[id(sym)]
        if decl.params is None:
            cached = self._defs.get(id(sym))
            if cached is None:
                cached = self._defs[id(sym)] = self.formula(decl.body, unit.scope, {})
            return cached
        env = {p.name: a for p, a in zip(decl.params, args, strict=True)}
        return self.formula(decl.body, unit.scope, env)


def slice_span(text: str, span: Span) -> str:
    lines = text.split("\n")
    if span.line == span.end_line:
        return lines[span.line - 1][span.col - 1 : span.end_col - 1]
    parts = [lines[span.line - 1][span.col - 1 :]]
    parts += lines[span.line : span.end_line - 1]
    parts.append(lines[span.end_line - 1][: span.end_col - 1])
    return "\n".join(parts)


def _conjuncts(body: S.Formula, unit: Unit) -> list[tuple[S.Formula, Unit]]:
    """Top-level ``&`` operands, looking through plain definitions so that
    ``spec s { safe }`` with ``def safe = a & b`` still yields two conjuncts."""
    out: list[tuple[S.Formula, Unit]] = []
    stack: list[tuple[S.Formula, Unit, frozenset[int]]] = [(body, unit, frozenset())]
    while stack:
        f, u, seen = stack.pop()
        if isinstance(f, S.NAry) and f.op == "AND":
            stack.extend((x, u, seen) for x in reversed(f.items))
            continue
        if isinstance(f, S.Name):
            sym = u.scope.get(f.name)
            if (sym is not None and sym.kind == "def" and not sym.is_template
                    and id(sym) not in seen):
                decl = sym.decl
                assert isinstance(decl, S.DefDecl)
                if isinstance(decl.body, S.NAry) and decl.body.op == "AND":
                    owner = _owner(u, sym)
                    stack.append((decl.body, owner, seen | {id(sym)}))
                    continue
        out.append((f, u))
    return out


def _owner(unit: Unit, sym: Symbol, seen: set[int] | None = None) -> Unit:
    if sym in unit.own.values():
        return unit
    seen = seen or set()
    seen.add(id(unit))
    for imp in unit.imports.values():
        if id(imp) not in seen and sym.name in imp.scope and imp.scope[sym.name] is sym:
            return _owner(imp, sym, seen)
    return unit


def build_module(program: Program) -> Module:
    """Lower a checked, error-free program to a :class:`Module`."""
    root = program.root
    assert root is not None and root.ast is not None
    unit_of: dict[int, Unit] = {}
    for unit in program.units.values():
        for sym in unit.own.values():
            unit_of[id(sym)] = unit
    lowerer = Lowerer(unit_of)
    digest = hashlib.sha256()
    digest.update(b"weak" if root.ast.weak_next else b"strong")
    for unit in program.units.values():
        digest.update(b"\0" + unit.text.encode("utf-8"))
    module = Module(path=root.path, source_hash=digest.hexdigest(),
                    weak_next=root.ast.weak_next, sources=program.sources,
                    warnings=[d for d in program.diagnostics if not d.is_error])
    for name, sym in root.scope.items():
        if sym.kind == "prop":
            module.props.append(name)
        elif sym.kind == "derived":
            d = sym.decl
            assert isinstance(d, S.DerivedDecl)
            module.derived[name] = (
                text_pattern(d) if isinstance(d, S.TextDecl)
                else Comparison(d.observable.name, d.op, _literal(d.value)))
    for name, sym in root.observables.items():
        obs = sym.decl
        assert isinstance(obs, S.Observable)
        module.observables[name] = ObservableType(
            obs.type.kind, tuple(v.name for v in obs.type.values))
    with ir.deep_recursion():
        for name, sym in root.specs.items():
            decl = sym.decl
            assert isinstance(decl, S.SpecDecl)
            conjuncts = [
                Conjunct(lowerer.formula(f, u.scope, {}), f.span, slice_span(u.text, f.span))
                for f, u in _conjuncts(decl.body, root)
            ]
            module.specs[name] = SpecDef(
                name, decl.description, lowerer.formula(decl.body, root.scope, {}),
                conjuncts, decl.span)
    for name, sym in root.progressions.items():
        prog = sym.decl
        assert isinstance(prog, S.ProgressionDecl)
        module.progressions[name] = [i.name for i in prog.specs]
    return module


def text_pattern(d: S.TextDecl) -> TextPattern:
    gran = d.granularity.name if d.granularity is not None else "span"
    if d.op == "contains":
        return TextPattern(d.observable.name, "contains", TextPattern.keyword_regex(d.keywords),
                           "", d.keywords, gran)
    source, _, flags = d.value.text[1:].rpartition("/")
    return TextPattern(d.observable.name, "matches", source, flags, (), gran)


def _literal(lit: S.Literal) -> float | int | bool | str:
    if lit.kind == "bool":
        return lit.text == "true"
    if lit.kind == "number":
        try:
            return int(lit.text)
        except ValueError:
            return float(lit.text)
    return lit.text


def lower_free(f: S.Formula) -> ir.Formula:
    with ir.deep_recursion():
        return Lowerer().formula(f, None, {})
