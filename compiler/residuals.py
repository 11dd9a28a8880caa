"""Residual formulas in a reduced disjunctive normal form.

Leaves of the derivative diagrams are combined with ``&``/``|`` in DNF over *atoms* (every
node that is not ``&`` or ``|``). Without a normal form, residuals such as those of
``(F c) U (G b)`` nest deeper at every step and the construction never closes; in DNF they
range over sets of sets of finitely many atoms. Clauses are further reduced with a cheap,
sound implication test between atoms (``x -> y``): a weaker atom next to a stronger one in a
conjunction, or a stronger clause next to a weaker one in a disjunction, is dropped. This
keeps the explored automaton close to minimal (``p1 U (p2 U p3)``: ``p2 U p3`` implies the
whole formula; ``F[0,k] b`` obligations: a nearer deadline implies a later one).

Every rewrite must be exact both on an existing step and on the ended trace (where
literals are false, X/U false, WX/R true; see ``speclang.compiler.nnf``): implications are therefore
only used when they also hold on the ended trace. The nodes are built with the raw Formula
constructor on purpose: ``ir.Or`` would rewrite ``l | !l`` to true, which is exact on an
existing step but not on the ended trace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from speclang.compiler import ir
from speclang.compiler.budget import Budget
from speclang.compiler.ir import Formula, Op
from speclang.compiler.nnf import ended_value

Clause = frozenset[Formula]
Clauses = tuple[Clause, ...]

_clause_memo: dict[int, Clauses] = ir.memo()
_and_memo: dict[tuple[int, int], Formula] = ir.memo()
_or_memo: dict[tuple[int, int], Formula] = ir.memo()
_now_memo: dict[tuple[int, int], bool] = ir.memo()
_imp_memo: dict[tuple[int, int], bool] = ir.memo()

# One residual simplification can take minutes (implication tests between deep clauses), so
# its loops poll the compilation's budget every _POLL_EVERY units of work, not only the
# construction around it.
_POLL_EVERY = 2048
_budget: Budget | None = None
_countdown = _POLL_EVERY

# The implication tests only make residuals smaller; they are never needed for correctness
# (the DNF's sets alone keep the residuals finite, and minimisation makes the DFA minimal).
# So one simplification (one conj/disj/dnf) may spend at most WORK_LIMIT units of work on
# them; past that it keeps the exact, unabsorbed clauses. Without the cap a single
# conjunction of deep residuals ran for minutes (issue 17: a 3-state random conjunction).
WORK_LIMIT = 200_000
_work_left = WORK_LIMIT


class _OutOfWork(Exception):
    """The simplification's work budget ran out inside an implication test."""


def _poll() -> None:
    global _countdown, _work_left
    _countdown -= 1
    _work_left -= 1
    if _countdown <= 0:
        _countdown = _POLL_EVERY
        if _budget is not None:
            _budget.check_time()


def _start_work() -> None:
    global _work_left
    _work_left = WORK_LIMIT


@contextlib.contextmanager
def work_limit(limit: int) -> Iterator[None]:
    """Cap each simplification at ``limit`` units of work for the duration (0: no
    implication tests at all); memo tables keep what was simplified before."""
    global WORK_LIMIT
    saved = WORK_LIMIT
    WORK_LIMIT = limit
    try:
        yield
    finally:
        WORK_LIMIT = saved


@contextlib.contextmanager
def budgeted(budget: Budget) -> Iterator[None]:
    """Poll ``budget``'s deadline inside the simplification for the duration."""
    global _budget
    saved = _budget
    _budget = budget
    try:
        yield
    finally:
        _budget = saved


def _now(x: Formula, y: Formula) -> bool:
    """A sufficient test for "x implies y at every existing step of every trace"."""
    if x is y or y is ir.TRUE or x is ir.FALSE:
        return True
    if x is ir.TRUE or y is ir.FALSE:
        return False
    k = (x.uid, y.uid)
    r = _now_memo.get(k)
    if r is not None:
        return r
    _poll()
    if _work_left <= 0:
        raise _OutOfWork
    xo, yo = x.op, y.op
    if ir.CHAIN_SHORTCUTS and xo is yo and xo in (Op.OR, Op.AND):
        chains = _same_chain(x, y)
        if chains is not None:
            _now_memo[k] = chains
            return chains
    r = False
    if xo is Op.OR:
        r = all(_now(d, y) for d in x.args)
    elif yo is Op.AND:
        r = all(_now(x, c) for c in y.args)
    if not r and xo is Op.AND:
        r = any(_now(c, y) for c in x.args)
    if not r and yo is Op.OR:
        r = any(_now(x, d) for d in y.args)
    # (a U b) -> (c U d) when a -> c and b -> (c U d): at the step where b holds, so does
    # c U d, and c holds before it. Dually (a R b) -> (c R d) when a -> c and (a R b) -> d.
    if not r and yo is Op.UNTIL:
        r = _now(x, y.args[1]) or (
            xo is Op.UNTIL and _now(x.args[0], y.args[0]) and _now(x.args[1], y)
        )
    if not r and yo is Op.RELEASE:
        r = (_now(x, y.args[0]) and _now(x, y.args[1])) or (
            xo is Op.RELEASE and _now(x.args[0], y.args[0]) and _now(x, y.args[1])
        )
    if not r and xo is Op.RELEASE:
        r = _now(x.args[1], y)
    if not r and xo is Op.UNTIL:
        r = _now(x.args[0], y) and _now(x.args[1], y)
    if not r and yo is Op.WNEXT and xo in (Op.NEXT, Op.WNEXT):
        r = _now(x.args[0], y.args[0])
    if not r and yo is Op.NEXT and xo is Op.NEXT:
        r = _now(x.args[0], y.args[0])
    _now_memo[k] = r
    return r


def _same_chain(x: Formula, y: Formula) -> bool | None:
    """The implication between two unrolled bounded chains of the same body, decided by
    their lengths; None when ``x`` and ``y`` are not such a pair.

    ``F[0,n] phi`` implies ``F[0,m] phi`` when n <= m (a nearer deadline), ``G[0,n] phi``
    implies ``G[0,m] phi`` when n >= m. The structural rules below find the same answer
    (or give up, which is sound) only after walking both chains link by link, and the
    residuals of ``G(a -> F[1,k] b)`` compare every pair of the k deadlines: quadratic in
    k, minutes at k = 1000. The fold (``ir.bounded_fold``) is memoised per node."""
    cx, cy = ir.chain(x), ir.chain(y)
    if cx is None or cy is None or cx[0] != cy[0] or cx[2] is not cy[2]:
        return None
    return cx[1] <= cy[1] if cx[0] == "F" else cx[1] >= cy[1]


def implies(x: Formula, y: Formula) -> bool:
    """A sufficient test for "x implies y", on existing steps and on the ended trace."""
    if x is y:
        return True
    k = (x.uid, y.uid)
    r = _imp_memo.get(k)
    if r is None:
        try:
            r = (not ended_value(x) or ended_value(y)) and _now(x, y)
        except _OutOfWork:
            return False  # not known: not memoised (what _now finished is)
        _imp_memo[k] = r
    return r


def _merge(c1: Clause, c2: Clause) -> Clause | None:
    """The reduced conjunction of two reduced clauses, or None when it is contradictory."""
    if c1 <= c2:
        merged = c2
    elif c2 <= c1:
        merged = c1
    elif _work_left <= 0:
        merged = c1 | c2
    else:
        only1, only2 = c1 - c2, c2 - c1
        drop: set[Formula] = set()
        # The pair loop is hot (conjunctions of residual leaves): ``implies`` is inlined as
        # a memo lookup. ``a is not b`` always holds here, as the sets are disjoint; once
        # ``a`` is dropped every later pair with it would be skipped, hence the ``break``.
        imp_get = _imp_memo.get
        for a in only1:
            if a in drop:
                continue
            _poll()
            au = a.uid
            for b in only2:
                if b in drop:
                    continue
                r = imp_get((au, b.uid))
                if r is None:
                    r = implies(a, b)
                if r:
                    drop.add(b)
                    continue
                r = imp_get((b.uid, au))
                if r is None:
                    r = implies(b, a)
                if r:
                    drop.add(a)
                    break
        merged = (c1 | c2) - drop if drop else c1 | c2
    for lit in merged:
        if lit.op is Op.NOT and lit.args[0] in merged:
            return None
    return merged


_clause_memo2: dict[tuple[Clause, Clause], bool] = ir.memo()


def _clause_implies(c: Clause, d: Clause) -> bool:
    k = (c, d)
    r = _clause_memo2.get(k)
    if r is None:
        _poll()
        if d <= c:
            r = True
        elif _work_left <= 0:
            return False
        else:
            r = all(any(implies(a, b) for a in c) for b in d)
            if _work_left <= 0 and not r:
                return False  # perhaps only for want of work: not memoised
        _clause_memo2[k] = r
    return r


def _union(xs: Clauses, ys: Clauses) -> Clauses:
    """Reduced disjunction of two reduced clause lists: only cross pairs need checking."""
    drop_x: set[int] = set()
    keep_y: list[Clause] = []
    for d in ys:
        if any(_clause_implies(d, c) for c in xs):
            continue
        keep_y.append(d)
    for i, c in enumerate(xs):
        if any(_clause_implies(c, d) for d in keep_y):
            drop_x.add(i)
    return tuple(c for i, c in enumerate(xs) if i not in drop_x) + tuple(keep_y)


class _PolledKey(ir._Key):
    """``ir.key`` that polls the budget: sorting clauses of deep atoms compares them deeply."""

    __slots__ = ()

    def __lt__(self, other: ir._Key) -> bool:
        return ir.compare(self.f, other.f, _poll) < 0


def _reduce(cs: list[Clause]) -> Clauses:
    """Drop duplicate clauses and every clause that implies another one (it is absorbed)."""
    out: list[Clause] = []
    distinct = set(cs)
    atom_key: Callable[[Formula], Any] = (
        ir.tuple_key
        if all(a.depth <= ir._TUPLE_KEY_DEPTH for c in distinct for a in c)
        else _PolledKey
    )
    for c in sorted(distinct, key=lambda c: (-len(c), sorted(atom_key(a) for a in c))):
        _poll()
        out = [d for d in out if not _clause_implies(d, c)]
        if not any(_clause_implies(c, d) for d in out):
            out.append(c)
    return tuple(out)


def clauses(f: Formula) -> Clauses:
    r = _clause_memo.get(f.uid)
    if r is None:
        op = f.op
        if op is Op.TRUE:
            r = (frozenset(),)
        elif op is Op.FALSE:
            r = ()
        elif op is Op.OR:
            r = _reduce([c for a in f.args for c in clauses(a)])
        elif op is Op.AND:
            acc: Clauses = (frozenset(),)
            for a in f.args:
                acc = _product(acc, clauses(a))
            r = acc
        else:
            r = (frozenset((f,)),)
        _clause_memo[f.uid] = r
    return r


def _product(xs: Clauses, ys: Clauses) -> Clauses:
    merged = []
    for a in xs:
        _poll()
        merged += [m for b in ys if (m := _merge(a, b)) is not None]
    if len(merged) <= 1:
        return tuple(merged)
    return _reduce(merged)


def _node(op: Op, items: list[Formula]) -> Formula:
    if len(items) == 1:
        return items[0]
    # ir.sorted_formulas, polling the budget where the items are deep: each comparison of
    # the clauses of `b U X^20000 a` walks thousands of levels, and sorting them unpolled
    # ran a 60 s timeout 15 s over (benchmarks/budget_promptness.py).
    key = ir.sort_key(items)
    return ir.Formula(op, tuple(sorted(items, key=_PolledKey if key is ir.key else key)))


def from_clauses(cs: Clauses) -> Formula:
    if not cs:
        return ir.FALSE
    if any(not c for c in cs):
        return ir.TRUE
    f = _node(Op.OR, [_node(Op.AND, list(c)) for c in cs])
    _clause_memo.setdefault(f.uid, cs)
    return f


def dnf(f: Formula) -> Formula:
    _start_work()
    return from_clauses(clauses(f))


def conj(x: Formula, y: Formula) -> Formula:
    k = (x.uid, y.uid)
    r = _and_memo.get(k)
    if r is None:
        _start_work()
        r = from_clauses(_product(clauses(x), clauses(y)))
        _and_memo[k] = r
    return r


def disj(x: Formula, y: Formula) -> Formula:
    k = (x.uid, y.uid)
    r = _or_memo.get(k)
    if r is None:
        _start_work()
        cx, cy = clauses(x), clauses(y)
        if not cx:
            r = y
        elif not cy:
            r = x
        else:
            r = from_clauses(_union(cx, cy))
        _or_memo[k] = r
    return r
