"""Surface AST -> core IR: definitions and templates expanded, derived propositions turned
into atoms, bounded operators unrolled by ``speclang.compiler.ir``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from speclang import syntax as S
from speclang.analysis import Program, Symbol, Unit, labeler_path, top_conjuncts
from speclang.compiler import ir
from speclang.compiler.nnf import empty_value
from speclang.diagnostics import slice_span
from speclang.model import (
    Comparison,
    Conjunct,
    Module,
    ObservableType,
    SpecDef,
    TextClassifier,
    TextPattern,
)
from speclang.tenses import Tenses

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


class _Argument:
    """A template argument, lowered where its parameter occurs in the template's body: as in
    the textual expansion, a `last` in it is read by the layer of that occurrence."""

    __slots__ = ("formula", "scope", "env", "lowered")

    def __init__(self, formula: S.Formula, scope: dict[str, Symbol] | None,
                 env: dict[str, _Argument]) -> None:
        self.formula, self.scope, self.env = formula, scope, env
        self.lowered: dict[int, ir.Formula] = {}


class Lowerer:
    def __init__(self, unit_of: dict[int, Unit] | None = None):
        self._defs: dict[tuple[int, int], ir.Formula] = {}
        self._unit_of = unit_of or {}

    def formula(self, f: S.Formula, scope: dict[str, Symbol] | None,
                env: dict[str, _Argument], layer: int = _TOP) -> ir.Formula:
        """``scope`` None: a free formula, every name is a proposition.

        ``layer``: ``_TOP`` while ``f`` is reached from the root through Boolean connectives
        only, ``_TOP_IMPLIED`` when one of them is an ``->`` or ``<->``, ``_TEMPORAL`` below
        a temporal operator. In the ``_TOP_IMPLIED`` layer ``last`` lowers to
        ``last & F true``: the same on every non-empty suffix, but false on the empty trace.
        LTLf2DFA rewrites implications into NNF, where ``last`` becomes exactly that, so this
        keeps the initial state's acceptance (and the state count) equal to MONA's.
        Definitions and template arguments are lowered in the layer where they are used, so
        a spec means exactly what its textual expansion means."""
        if isinstance(f, S.Const):
            if f.value == "last" and layer == _TOP_IMPLIED:
                return ir.And(ir.LAST, ir.Eventually(ir.TRUE))
            return _CONST[f.value]
        if isinstance(f, S.Name):
            if f.name in env:
                arg = env[f.name]
                got = arg.lowered.get(layer)
                if got is None:
                    got = arg.lowered[layer] = self.formula(arg.formula, arg.scope, arg.env,
                                                            layer)
                return got
            sym = scope.get(f.name) if scope is not None else None
            if sym is not None and sym.kind == "def":
                return self._definition(sym, (), layer)
            return ir.Atom(f.name)
        if isinstance(f, S.Call):
            assert scope is not None
            args = tuple(_Argument(a, scope, env) for a in f.args)
            return self._definition(scope[f.name], args, layer)
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

    def _definition(self, sym: Symbol, args: tuple[_Argument, ...], layer: int) -> ir.Formula:
        decl = sym.decl
        assert isinstance(decl, S.DefDecl)
        unit = self._unit_of[id(sym)]
        if decl.params is None:
            cached = self._defs.get((id(sym), layer))
            if cached is None:
                cached = self._defs[(id(sym), layer)] = self.formula(decl.body, unit.scope, {},
                                                                     layer)
            return cached
        env = {p.name: a for p, a in zip(decl.params, args, strict=True)}
        return self.formula(decl.body, unit.scope, env, layer)


def read_as_written(f: ir.Formula, pure_past: bool) -> ir.Formula:
    """``f`` read at the step its written form is read at: the last step when the formula as
    written is pure past (``pure_past``), else the first.

    The compiler reads a formula by the IR's own classification (``is_pure_past``), and the
    smart constructors may have removed every past operator (`H true & a` is `a`) or every
    future one (`WX true & O a` is `O a`). The written reading is restored with a part that
    is true at that step and keeps the empty-trace value (``empty_value``, LTLf2DFA's): `O
    true` ("a step exists", false on the empty trace) or `!O true` keep a formula read at
    the last step, `F true` or `end` at the first. The language does not change."""
    if pure_past and not f.is_pure_past:  # no temporal operator is left
        return ir.Or(f, ir.Not(ir.Once(ir.TRUE))) if empty_value(f) else ir.And(
            f, ir.Once(ir.TRUE))
    if not pure_past and f.is_pure_past:
        return ir.Or(f, ir.END) if empty_value(f) else ir.And(f, ir.Eventually(ir.TRUE))
    return f


def build_module(program: Program) -> Module:
    """Lower a checked, error-free program to a :class:`Module`."""
    root = program.root
    assert root is not None and root.ast is not None
    unit_of: dict[int, Unit] = {}
    for unit in program.units.values():
        for sym in unit.own.values():
            unit_of[id(sym)] = unit
    lowerer = Lowerer(unit_of)
    tenses = program.tenses
    digest = hashlib.sha256()
    digest.update(b"weak" if root.ast.weak_next else b"strong")
    for unit in program.units.values():
        digest.update(b"\0" + unit.text.encode("utf-8"))
    module = Module(path=root.path, weak_next=root.ast.weak_next, sources=program.sources,
                    warnings=[d for d in program.diagnostics if not d.is_error])
    for name, sym in root.scope.items():
        if sym.kind == "prop":
            module.props.append(name)
        elif sym.kind == "derived":
            d = sym.decl
            assert isinstance(d, S.DerivedDecl)
            if isinstance(d, S.TextDecl) and d.op == "classifies":
                learned = text_classifier(d, unit_of[id(sym)].path)
                # The labeler is part of what the spec means: a changed file is a changed
                # source, so caches keyed by the source hash (artifacts, masks) follow it.
                digest.update(b"\0" + learned.sha256.encode("ascii"))
                module.derived[name] = learned
            else:
                module.derived[name] = (
                    text_pattern(d) if isinstance(d, S.TextDecl)
                    else Comparison(d.observable.name, d.op, _literal(d.value)))
    module.source_hash = digest.hexdigest()
    for name, sym in root.observables.items():
        obs = sym.decl
        assert isinstance(obs, S.Observable)
        module.observables[name] = ObservableType(
            obs.type.kind, tuple(v.name for v in obs.type.values))
    with ir.deep_recursion():
        for name, sym in root.specs.items():
            module.spec_names.append(name)
            if name in program.unsupported:
                module.rejected[name] = program.unsupported[name]
                continue
            decl = sym.decl
            assert isinstance(decl, S.SpecDecl)
            # Each conjunct is read at the step the whole spec is read at (explanations
            # compile them one by one).
            pure_past = tenses.of(decl.body, root.scope).pure_past
            conjuncts = [
                Conjunct(read_as_written(lowerer.formula(f, u.scope, {}), pure_past), f.span,
                         slice_span(u.text, f.span))
                for f, u in top_conjuncts(decl.body, root)
            ]
            module.specs[name] = SpecDef(
                name, decl.description,
                read_as_written(lowerer.formula(decl.body, root.scope, {}), pure_past),
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


def text_classifier(d: S.TextDecl, spec_path: str) -> TextClassifier:
    from speclang.labeler_file import content_hash

    path = labeler_path(spec_path, d.keywords[0])
    with open(path, "rb") as fh:  # checked readable by the analysis
        sha = content_hash(fh.read())
    return TextClassifier(d.observable.name, os.path.abspath(path), sha, d.keywords[0])


def _literal(lit: S.Literal) -> float | int | bool | str:
    if lit.kind == "bool":
        return lit.text == "true"
    if lit.kind == "number":
        try:
            return int(lit.text)
        except ValueError:
            return float(lit.text)
    return lit.text


def lower_free(f: S.Formula, read_like: S.Formula | None = None) -> ir.Formula:
    """A free formula (every name a proposition), read at the step its written form is read
    at; ``read_like``: read at the step of that formula instead (``f`` is one of its
    conjuncts)."""
    pure_past = Tenses().of(f if read_like is None else read_like, None).pure_past
    with ir.deep_recursion():
        return read_as_written(Lowerer().formula(f, None, {}), pure_past)
