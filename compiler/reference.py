"""An independent, direct evaluator of the speclang semantics, used as a test oracle.

This module deliberately shares nothing with the DFA construction (no derivatives, no NNF,
no decision diagrams): it evaluates the textbook finite-trace semantics by recursion over
positions, memoised per (subformula, position). A trace is a non-empty list of sets of the
propositions true at each step.

``verdict`` searches the extensions of a prefix up to ``horizon`` more steps. That search
is exact whenever ``horizon >= n - 1`` for the number ``n`` of states of the minimal DFA of
the formula: from any state, if some state with a given acceptance is reachable at all, one
is reachable by a simple path, which has at most ``n - 1`` steps.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from speclang.compiler.ir import Formula, Op

Trace = Sequence[frozenset[str] | set[str] | Iterable[str]]


def _normalise(trace: Trace) -> list[frozenset[str]]:
    return [frozenset(step) for step in trace]


def evaluate(formula: Formula, trace: Trace, pos: int | None = None) -> bool:
    """Whether ``trace`` satisfies ``formula`` at ``pos`` (default: the last step for a
    pure-past formula, the first step otherwise). The empty trace uses the LTLf2DFA
    convention (see :func:`evaluate_empty`)."""
    steps = _normalise(trace)
    if not steps:
        return evaluate_empty(formula)
    n = len(steps)
    if pos is None:
        pos = n - 1 if formula.is_pure_past else 0
    if not 0 <= pos < n:
        raise ValueError(f"position {pos} is outside the trace (length {n})")
    memo: dict[tuple[int, int], bool] = {}

    def ev(f: Formula, i: int) -> bool:
        k = (f.uid, i)
        r = memo.get(k)
        if r is not None:
            return r
        op = f.op
        a = f.args
        if op is Op.TRUE:
            r = True
        elif op is Op.FALSE:
            r = False
        elif op is Op.ATOM:
            r = f.name in steps[i]
        elif op is Op.NOT:
            r = not ev(a[0], i)
        elif op is Op.AND:
            r = all(ev(x, i) for x in a)
        elif op is Op.OR:
            r = any(ev(x, i) for x in a)
        elif op is Op.NEXT:
            r = i + 1 < n and ev(a[0], i + 1)
        elif op is Op.WNEXT:
            r = i + 1 >= n or ev(a[0], i + 1)
        elif op is Op.UNTIL:
            r = any(ev(a[1], k2) and all(ev(a[0], j) for j in range(i, k2)) for k2 in range(i, n))
        elif op is Op.RELEASE:
            r = all(ev(a[1], k2) or any(ev(a[0], j) for j in range(i, k2)) for k2 in range(i, n))
        elif op is Op.YESTERDAY:
            r = i > 0 and ev(a[0], i - 1)
        elif op is Op.WYESTERDAY:
            r = i == 0 or ev(a[0], i - 1)
        elif op is Op.SINCE:
            r = any(
                ev(a[1], k2) and all(ev(a[0], j) for j in range(k2 + 1, i + 1))
                for k2 in range(0, i + 1)
            )
        elif op is Op.TRIGGER:
            r = all(
                ev(a[1], k2) or any(ev(a[0], j) for j in range(k2 + 1, i + 1))
                for k2 in range(0, i + 1)
            )
        else:  # pragma: no cover
            raise ValueError(f"unknown operator {op!r}")
        memo[k] = r
        return r

    return ev(formula, pos)


def evaluate_empty(formula: Formula) -> bool:
    """The LTLf2DFA/MONA value on the empty trace: atoms false, negation classical, the
    strong operators X, U, Y, S false (nothing exists), the weak ones WX, R, Z, T true."""
    op = formula.op
    a = formula.args
    if op is Op.TRUE:
        return True
    if op in (Op.FALSE, Op.ATOM, Op.NEXT, Op.UNTIL, Op.YESTERDAY, Op.SINCE):
        return False
    if op in (Op.WNEXT, Op.RELEASE, Op.WYESTERDAY, Op.TRIGGER):
        return True
    if op is Op.NOT:
        return not evaluate_empty(a[0])
    if op is Op.AND:
        return all(evaluate_empty(x) for x in a)
    if op is Op.OR:
        return any(evaluate_empty(x) for x in a)
    raise ValueError(f"unknown operator {op!r}")  # pragma: no cover


def verdict(formula: Formula, trace: Trace, props: Sequence[str], horizon: int) -> str:
    """Four-valued verdict of the prefix ``trace``: ``satisfied`` if it and every extension
    by up to ``horizon`` letters over ``props`` is accepted, ``violated`` if none is,
    else ``presumably_satisfied`` / ``presumably_violated`` by the prefix's own acceptance."""
    prefix = _normalise(trace)
    now = evaluate(formula, prefix)
    letters = [
        frozenset(p for p, bit in zip(props, bits, strict=True) if bit)
        for bits in itertools.product((False, True), repeat=len(props))
    ]
    seen_accept, seen_reject = now, not now
    for length in range(1, horizon + 1):
        for ext in itertools.product(letters, repeat=length):
            if evaluate(formula, prefix + list(ext)):
                seen_accept = True
            else:
                seen_reject = True
            if seen_accept and seen_reject:
                return "presumably_satisfied" if now else "presumably_violated"
    if not seen_accept:
        return "violated"
    if not seen_reject:
        return "satisfied"
    return "presumably_satisfied" if now else "presumably_violated"
