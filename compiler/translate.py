"""LTLf (with past) to DFA by symbolic derivatives.

A state is a *residual*: the NNF future formula that the rest of the trace must satisfy,
plus, when the formula has past operators, the values at the previous step of the temporal
past subformulas it still needs ("past bits"). The derivative ``delta(psi)`` is an MTBDD over
the current letter whose leaves are the successor residuals, so transitions are computed
per decision-diagram path, never per letter: 64 propositions cost what their diagram costs.

Derivative rules (``leaf(x)`` is a constant diagram, ``&``/``|`` are pointwise on leaves):
    delta(a) = ite(a, true, false)          delta(!a) = ite(a, false, true)
    delta(X f)  = leaf(f & NONEMPTY), or leaf(f) when f is false on the ended trace
    delta(WX f) = leaf(f | END),      or leaf(f) when f is true on the ended trace
    delta(f U g) = delta(g) | (delta(f) & leaf(f U g))
    delta(f R g) = delta(g) & (delta(f) | leaf(f R g))
A residual accepts (the trace may end here) iff its ended value holds (``nnf.ended_value``).
The initial state is kept apart: its acceptance is the empty-trace value of the whole
formula, its transitions those of the formula itself.

A maximal pure-past subformula P behaves like a proposition whose value at the current step
is a Boolean function of the letter, computed from the past bits:
    Y f = prev(f) (false at step 0)     Z f = prev(f) (true at step 0)
    f S g = g | (f & prev(f S g))       f T g = g & (f | prev(f T g))   (at step 0: g)
A pure-past formula is evaluated at the last step: it is compiled as ``F(last & P)``, which
accepts exactly the non-empty prefixes whose last step satisfies P (with ``H f`` and ``O f``
in its Boolean top layer read directly as ``G f`` and ``F f``: see ``at_last_step``).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from speclang.compiler import ir, residuals
from speclang.compiler.budget import Budget
from speclang.compiler.ir import Formula, Op
from speclang.compiler.mtbdd import LEAF, MTBDD
from speclang.compiler.nnf import END, NONEMPTY, check_supported, ended_value, is_past_literal, nnf

_INIT = ("<init>",)


@dataclass
class Explored:
    """The reachable, not yet minimal DFA: ``roots[q]`` is state q's diagram in ``dd``;
    a leaf holding value index ``i`` leads to state ``leaf_states[i]`` (-1 for values that
    are not states: ``dd`` may hold intermediate diagrams no root reaches)."""

    props: tuple[str, ...]
    dd: MTBDD
    roots: list[int]
    accepting: list[bool]
    residuals: list[Formula]
    leaf_states: list[int]
    # With past operators: per state, the previous-step values of ``temporal`` (the temporal
    # past subformulas) that it keeps; None for the initial state and past-free formulas.
    past_bits: list[tuple[bool, ...] | None]
    temporal: list[Formula]


_land = residuals.conj
_lor = residuals.disj


def at_last_step(p: Formula) -> Formula:
    """A future formula that holds at the first step exactly when the pure-past ``p`` holds
    at the last step (on non-empty traces).

    ``F(last & p)`` always works, but its residual keeps every past bit alive: once an
    ``H`` conjunct has failed, the states still differ in bits that can no longer matter,
    and exploration grows exponentially before minimisation merges them back. ``H f`` at
    the last step is ``G f`` (f at every step) and ``O f`` is ``F f``, so failures become
    the violation sink at once and the H/O bits disappear."""
    if p.op is Op.AND:
        return ir.And(*(at_last_step(a) for a in p.args))
    if p.op is Op.OR:
        return ir.Or(*(at_last_step(a) for a in p.args))
    if p.op is Op.TRIGGER and p.args[0] is ir.FALSE:  # H f
        return ir.Always(p.args[1])
    if p.op is Op.SINCE and p.args[0] is ir.TRUE:  # O f
        return ir.Eventually(p.args[1])
    return ir.Eventually(ir.And(ir.LAST, p))


class _Explorer:
    def __init__(self, formula: Formula, budget: Budget) -> None:
        check_supported(formula)
        self.budget = budget
        self.original = formula
        self.pure_past = formula.is_pure_past
        target = at_last_step(formula) if self.pure_past else formula
        self.start = nnf(target)
        self.props = tuple(sorted(formula.atoms))
        self.index = {p: i for i, p in enumerate(self.props)}
        self.fdd = MTBDD(budget, max_leaves=budget.residual_limit())
        self.sdd = MTBDD(budget)
        self.T = self.fdd.leaf(ir.TRUE)
        self.F = self.fdd.leaf(ir.FALSE)
        self._and: dict[tuple[int, int], int] = {}
        self._or: dict[tuple[int, int], int] = {}
        self._not: dict[int, int] = {}
        self._delta: dict[Hashable, int] = {}
        self._past: dict[tuple[int, Any], int] = {}
        self._to_state: dict[int, int] = {}
        temporal = {
            g for g in formula.subformulas() if g.op in ir.PAST_OPS
        }
        self.temporal = ir.sorted_formulas(temporal)
        self.tindex = {g.uid: i for i, g in enumerate(self.temporal)}
        self.has_past = bool(self.temporal)
        self._relevant: dict[int, tuple[int, ...]] = {}
        self._pair_memo: list[dict[tuple[int, int], int]] = [{} for _ in self.temporal]

    # --- Boolean operations on diagrams with formula leaves ---------------------------------

    def conj(self, a: int, b: int) -> int:
        return self.fdd.apply_lattice(_land, a, b, self._and, self.T, self.F)

    def disj(self, a: int, b: int) -> int:
        return self.fdd.apply_lattice(_lor, a, b, self._or, self.F, self.T)

    def neg(self, a: int) -> int:
        # Only ever applied to Boolean (true/false-leaved) diagrams of past literals.
        return self.fdd.map_leaves(ir.Not, a, self._not)

    # --- past literals ----------------------------------------------------------------------

    def past(self, f: Formula, prev: tuple[bool, ...] | None) -> int:
        k = (f.uid, prev)
        r = self._past.get(k)
        if r is not None:
            return r
        op = f.op
        if op is Op.TRUE:
            r = self.T
        elif op is Op.FALSE:
            r = self.F
        elif op is Op.ATOM:
            assert f.name is not None
            r = self.fdd.mk(self.index[f.name], self.F, self.T)
        elif op is Op.NOT:
            r = self.neg(self.past(f.args[0], prev))
        elif op is Op.AND or op is Op.OR:
            combine = self.conj if op is Op.AND else self.disj
            r = self.past(f.args[0], prev)
            for a in f.args[1:]:
                r = combine(r, self.past(a, prev))
        elif op is Op.YESTERDAY or op is Op.WYESTERDAY:
            if prev is None:
                r = self.F if op is Op.YESTERDAY else self.T
            else:
                r = self.T if prev[self.tindex[f.uid]] else self.F
        elif op is Op.SINCE or op is Op.TRIGGER:
            left, right = self.past(f.args[0], prev), self.past(f.args[1], prev)
            if prev is None:
                r = right
            else:
                p = self.T if prev[self.tindex[f.uid]] else self.F
                if op is Op.SINCE:
                    r = self.disj(right, self.conj(left, p))
                else:
                    r = self.conj(right, self.disj(left, p))
        else:  # pragma: no cover - check_supported rejects future operators under past ones
            raise AssertionError(f"future operator in past literal {f}")
        self._past[k] = r
        return r

    def relevant(self, f: Formula) -> tuple[int, ...]:
        """Indices of the temporal past subformulas whose bits the residual ``f`` needs."""
        r = self._relevant.get(f.uid)
        if r is None:
            r = tuple(sorted(self.tindex[g.uid] for g in f.subformulas() if g.op in ir.PAST_OPS))
            self._relevant[f.uid] = r
        return r

    # --- derivatives ------------------------------------------------------------------------

    def delta(self, f: Formula, prev: tuple[bool, ...] | None) -> int:
        k: Hashable = (f.uid, prev) if self.has_past else f.uid
        r = self._delta.get(k)
        if r is not None:
            return r
        op = f.op
        if op is Op.TRUE:
            r = self.T
        elif op is Op.FALSE:
            r = self.F
        elif op is Op.ATOM:
            assert f.name is not None
            r = self.fdd.mk(self.index[f.name], self.F, self.T)
        elif self.has_past and is_past_literal(f):
            # (Without past operators in the formula no residual holds a past literal.)
            r = self.past(f, prev)
        elif op is Op.NOT:
            g = f.args[0]
            if g.op is Op.ATOM:
                assert g.name is not None
                r = self.fdd.mk(self.index[g.name], self.T, self.F)
            else:
                # A negated propositional formula, such as !(a & b): NNF keeps pure-past
                # subformulas whole, and splitting one into disjuncts (a residual's DNF) can
                # leave a part without past operators, which is evaluated the same way.
                assert not g.has_future, f"NOT over a future formula after NNF: {f}"
                r = self.past(f, prev)
        elif op is Op.AND or op is Op.OR:
            # Right fold through the interned suffix `args[1:]`: residuals are often such
            # suffixes (G p & F q & F r -> F q & F r), so their derivatives are reused.
            first, rest = f.args[0], f.args[1:]
            tail = rest[0] if len(rest) == 1 else ir.Formula(op, rest)
            combine = self.conj if op is Op.AND else self.disj
            r = combine(self.delta(first, prev), self.delta(tail, prev))
        elif op is Op.NEXT:
            a = f.args[0]
            r = self.fdd.leaf(_land(a, NONEMPTY) if ended_value(a) else residuals.dnf(a))
        elif op is Op.WNEXT:
            a = f.args[0]
            r = self.fdd.leaf(residuals.dnf(a) if ended_value(a) else _lor(a, END))
        elif op is Op.UNTIL:
            a, b = f.args
            stay = self.conj(self.delta(a, prev), self.fdd.leaf(f))
            r = self.disj(self.delta(b, prev), stay)
        elif op is Op.RELEASE:
            a, b = f.args
            stay = self.disj(self.delta(a, prev), self.fdd.leaf(f))
            r = self.conj(self.delta(b, prev), stay)
        else:  # pragma: no cover - NNF leaves no other operator outside past literals
            raise AssertionError(f"unexpected operator {op!r} in NNF residual")
        self._delta[k] = r
        return r

    # --- exploration ------------------------------------------------------------------------

    def explore(self) -> Explored:
        keys: list[Hashable] = [_INIT]
        ids: dict[Hashable, int] = {_INIT: 0}
        residuals: list[Formula] = [self.start]
        past_bits: list[tuple[bool, ...] | None] = [None]
        accepting: list[bool] = []
        roots: list[int] = []
        budget = self.budget
        n_temporal = len(self.temporal)

        def state_of(value: Any) -> int:
            if self.has_past:
                f, assigned = value
                bits = [False] * n_temporal
                rel = self.relevant(f)
                for i, v in assigned:
                    if v and i in rel:
                        bits[i] = True
                key: Hashable = (f, tuple(bits))
            else:
                f = value
                key = f
            q = ids.get(key)
            if q is None:
                q = len(keys)
                budget.check_states(q + 1)
                ids[key] = q
                keys.append(key)
                residuals.append(f)
                past_bits.append(key[1] if self.has_past else None)  # type: ignore[index]
            return q

        walked: set[int] = set()
        fvar, flo, fhi, fvalues = self.fdd.var, self.fdd.lo, self.fdd.hi, self.fdd.values
        q = 0
        while q < len(keys):
            key = keys[q]
            prev: tuple[bool, ...] | None
            if key is _INIT:
                f, prev = self.start, None
                accepting.append(False)  # fixed by the caller: the empty-trace convention
            elif self.has_past:
                f, prev = key  # type: ignore[misc]
                accepting.append(ended_value(f))
            else:
                f, prev = key, ()  # type: ignore[assignment]
                accepting.append(ended_value(f))
            node = self.delta(f, prev)
            if self.has_past:
                node = self.fdd.map_leaves(lambda x: (x, ()), node, {})
                for i in self.relevant(f):
                    g = self.temporal[i]
                    src = g.args[0] if g.op in (Op.YESTERDAY, Op.WYESTERDAY) else g
                    bit = self.past(src, prev)

                    def add(x: Any, b: Any, i: int = i) -> Any:
                        return (x[0], x[1] + ((i, b is ir.TRUE),))

                    node = self.fdd.apply(add, node, bit, self._pair_memo[i])
            if self.has_past:
                roots.append(self.fdd.map_leaves(state_of, node, self._to_state, self.sdd))
            else:
                # Leaves are successor residuals already: register the new ones, walking
                # only diagram nodes no earlier state has walked (their leaves are known).
                # (state_of inlined for the plain-future case: this loop is hot.)
                roots.append(node)
                stack = [node]
                while stack:
                    n = stack.pop()
                    if n in walked:
                        continue
                    walked.add(n)
                    if fvar[n] == LEAF:
                        g = fvalues[flo[n]]
                        if g not in ids:
                            budget.check_states(len(keys) + 1)
                            ids[g] = len(keys)
                            keys.append(g)
                            residuals.append(g)
                            past_bits.append(None)
                    else:
                        # Children already walked would be skipped when popped: do not
                        # push them at all (same visit order, far fewer pops).
                        c = fhi[n]
                        if c not in walked:
                            stack.append(c)
                        c = flo[n]
                        if c not in walked:
                            stack.append(c)
            q += 1
            if q & 63 == 0:
                budget.check_time()
        budget.check_time()
        if self.has_past:
            return Explored(self.props, self.sdd, roots, accepting, residuals, self.sdd.values,
                            past_bits, self.temporal)
        labels = [ids.get(v, -1) if isinstance(v, Formula) else -1 for v in fvalues]
        return Explored(self.props, self.fdd, roots, accepting, residuals, labels, past_bits,
                        self.temporal)


def explore(formula: Formula, budget: Budget) -> Explored:
    """Build the reachable derivative automaton of ``formula`` (not minimal)."""
    from speclang.compiler.nnf import empty_value

    with residuals.budgeted(budget):
        ex = _Explorer(formula, budget).explore()
    ex.accepting[0] = empty_value(formula)
    return ex
