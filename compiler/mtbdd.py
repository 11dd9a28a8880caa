"""A small multi-terminal binary decision diagram (MTBDD) package.

Nodes are plain ints indexing flat Python lists (``var``, ``lo``, ``hi``): attribute-free
lists are several times faster than node objects in CPython. Inner nodes test variable
``var[k]`` (a proposition index; smaller indices nearer the root) and are reduced and
hash-consed through a unique table, so equal functions are equal ints. A leaf has
``var == LEAF`` (larger than every variable, which makes the apply recursion uniform) and
``lo`` indexes ``values``: leaves hold arbitrary hashable values (residual formulas, state ids,
tuples), interned by value.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from speclang.compiler.budget import Budget

LEAF = 1 << 30
_CHECK_EVERY = 1 << 12


def _released(a: int, b: int) -> int:  # pragma: no cover - never called
    raise AssertionError("apply_lattice recursion used after its call returned")


class MTBDD:
    __slots__ = (
        "var", "lo", "hi", "values", "_unique", "_leaves", "budget", "_next_check", "max_leaves"
    )

    def __init__(self, budget: Budget | None = None, max_leaves: int | None = None) -> None:
        self.var: list[int] = []
        self.lo: list[int] = []
        self.hi: list[int] = []
        self.values: list[Any] = []
        self._unique: dict[tuple[int, int, int], int] = {}
        self._leaves: dict[Hashable, int] = {}
        self.budget = budget
        self._next_check = _CHECK_EVERY
        # Distinct leaves are candidate successor states: bounding them stops a derivative
        # with 2**20 successors before it is built, not after.
        self.max_leaves = max_leaves

    def __len__(self) -> int:
        return len(self.var)

    def leaf(self, value: Hashable) -> int:
        # Keyed by (type, value) so that e.g. the state id 1 and True stay distinct leaves.
        k = (type(value), value)
        node = self._leaves.get(k)
        if node is None:
            node = len(self.var)
            self.var.append(LEAF)
            self.lo.append(len(self.values))
            self.hi.append(-1)
            self.values.append(value)
            self._leaves[k] = node
            if self.max_leaves is not None and len(self.values) > self.max_leaves:
                assert self.budget is not None
                self.budget.too_many_residuals(len(self.values))
            self._grew()
        return node

    def mk(self, v: int, lo: int, hi: int) -> int:
        if lo == hi:
            return lo
        k = (v, lo, hi)
        node = self._unique.get(k)
        if node is None:
            node = len(self.var)
            self.var.append(v)
            self.lo.append(lo)
            self.hi.append(hi)
            self._unique[k] = node
            self._grew()
        return node

    def _grew(self) -> None:
        if len(self.var) >= self._next_check:
            self._next_check += _CHECK_EVERY
            if self.budget is not None:
                self.budget.check_nodes(len(self.var))

    def is_leaf(self, node: int) -> bool:
        return self.var[node] == LEAF

    def value(self, node: int) -> Any:
        return self.values[self.lo[node]]

    def apply(
        self,
        fn: Callable[[Any, Any], Hashable],
        a: int,
        b: int,
        memo: dict[tuple[int, int], int],
    ) -> int:
        """The diagram of ``fn(value_a, value_b)`` pointwise. ``memo`` is owned by the caller
        and must only ever be shared between calls with the same ``fn``."""
        k = (a, b)
        r = memo.get(k)
        if r is not None:
            return r
        var = self.var
        va, vb = var[a], var[b]
        if va == LEAF and vb == LEAF:
            values, lo = self.values, self.lo
            r = self.leaf(fn(values[lo[a]], values[lo[b]]))
        elif va == vb:
            r = self.mk(
                va,
                self.apply(fn, self.lo[a], self.lo[b], memo),
                self.apply(fn, self.hi[a], self.hi[b], memo),
            )
        elif va < vb:
            lo_r = self.apply(fn, self.lo[a], b, memo)
            r = self.mk(va, lo_r, self.apply(fn, self.hi[a], b, memo))
        else:
            lo_r = self.apply(fn, a, self.lo[b], memo)
            r = self.mk(vb, lo_r, self.apply(fn, a, self.hi[b], memo))
        memo[k] = r
        return r

    def apply_lattice(
        self,
        fn: Callable[[Any, Any], Hashable],
        a: int,
        b: int,
        memo: dict[tuple[int, int], int],
        unit: int,
        zero: int,
    ) -> int:
        """Like :meth:`apply` for a commutative, idempotent ``fn`` with unit leaf ``unit``
        and absorbing leaf ``zero`` (and/or on residuals): sub-diagrams meeting a unit, a
        zero or themselves are answered without descending into them."""
        # The hot loop of exploration. The recursion is a closure over local names (no
        # attribute lookups, no argument passing of the constants) with ``mk`` inlined;
        # nodes are created in exactly the order the plain recursion would create them.
        var, lo, hi, values, unique = self.var, self.lo, self.hi, self.values, self._unique
        memo_get, unique_get, leaf, grew = memo.get, self._unique.get, self.leaf, self._grew

        def rec(a: int, b: int) -> int:
            if a == zero or b == zero:
                return zero
            if a in (unit, b):
                return b
            if b == unit:
                return a
            if a > b:
                a, b = b, a
            k = (a, b)
            r = memo_get(k)
            if r is not None:
                return r
            va = var[a]
            vb = var[b]
            if va == vb:
                if va == LEAF:
                    r = leaf(fn(values[lo[a]], values[lo[b]]))
                    memo[k] = r
                    return r
                lo_r = rec(lo[a], lo[b])
                hi_r = rec(hi[a], hi[b])
            elif va < vb:
                lo_r = rec(lo[a], b)
                hi_r = rec(hi[a], b)
            else:
                va = vb
                lo_r = rec(a, lo[b])
                hi_r = rec(a, hi[b])
            if lo_r == hi_r:
                r = lo_r
            else:
                uk = (va, lo_r, hi_r)
                r = unique_get(uk)
                if r is None:
                    r = len(var)
                    var.append(va)
                    lo.append(lo_r)
                    hi.append(hi_r)
                    unique[uk] = r
                    if r >= self._next_check - 1:  # what _grew tests, without the call
                        grew()
            memo[k] = r
            return r

        try:
            return rec(a, b)
        finally:
            # ``rec`` refers to itself through its closure cell: break that cycle so the
            # closure (and what it holds) is freed by reference counting, not left to the
            # cyclic collector (which build_automaton pauses).
            rec = _released

    def map_leaves(
        self,
        fn: Callable[[Any], Hashable],
        a: int,
        memo: dict[int, int],
        target: MTBDD | None = None,
    ) -> int:
        """The diagram of ``fn(value)``, built in ``target`` (default: this diagram)."""
        r = memo.get(a)
        if r is not None:
            return r
        out = self if target is None else target
        v = self.var[a]
        if v == LEAF:
            r = out.leaf(fn(self.values[self.lo[a]]))
        else:
            r = out.mk(
                v,
                self.map_leaves(fn, self.lo[a], memo, target),
                self.map_leaves(fn, self.hi[a], memo, target),
            )
        memo[a] = r
        return r

    def leaf_values(self, a: int) -> list[Any]:
        """Distinct leaf values reachable from ``a``, false branch first (depth-first)."""
        seen: set[int] = set()
        out: list[Any] = []
        stack = [a]
        var, lo, hi = self.var, self.lo, self.hi
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            if var[n] == LEAF:
                out.append(self.values[lo[n]])
            else:
                stack.append(hi[n])
                stack.append(lo[n])
        return out
