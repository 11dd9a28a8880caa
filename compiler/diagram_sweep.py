"""Per-state reductions over an automaton's transition diagram, computed level by level in
numpy: ``min``/``max``/expectation of a value over a state's successors without listing its
edges.

Where the transition graph is dense (``G p1 & F p2 .. F p14``: 8,193 states, 1.6 million
edges, 69,633 diagram nodes) every edge-by-edge computation in Python costs seconds; here
each node is combined from its two children, all nodes of one height in one numpy step, so
one sweep costs the diagram's size in vectorised work and about as many numpy calls as the
diagram is deep (its number of propositions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from speclang.compiler.automaton import Automaton

Combine = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _add(a: np.ndarray, b: np.ndarray, _: np.ndarray) -> np.ndarray:
    return a + b


class DiagramSweep:
    """The diagram's nodes grouped by height (leaves at 0)."""

    def __init__(self, aut: Automaton) -> None:
        var = np.asarray(aut.dd_var, dtype=np.int64)
        lo = np.asarray(aut.dd_lo, dtype=np.int64)
        hi = np.asarray(aut.dd_hi, dtype=np.int64)
        roots = np.asarray(aut.roots, dtype=np.int64)
        # Heights one level at a time: a node is done once both children are.
        height = np.where(var < 0, 0, -1).astype(np.int64)
        todo = np.flatnonzero(var >= 0)
        while todo.size:
            hl, hh = height[lo[todo]], height[hi[todo]]
            ready = (hl >= 0) & (hh >= 0)
            if not ready.any():
                raise ValueError("the decision diagram has a cycle")
            height[todo[ready]] = 1 + np.maximum(hl[ready], hh[ready])
            todo = todo[~ready]
        by_height = np.argsort(height, kind="stable")
        bounds = np.searchsorted(height[by_height], np.arange(int(height.max()) + 2))
        self.leaves = by_height[bounds[0]:bounds[1]]
        self.leaf_target = lo[self.leaves]
        self.levels = [by_height[bounds[h]:bounds[h + 1]] for h in range(1, len(bounds) - 1)]
        self.lo = [lo[ids] for ids in self.levels]
        self.hi = [hi[ids] for ids in self.levels]
        self.var = [var[ids] for ids in self.levels]
        self.roots = roots
        self.n_nodes = len(var)

    def sweep(self, value: np.ndarray, combine: Combine) -> np.ndarray:
        """For every state, ``value`` of its successors folded by ``combine(low, high,
        var)`` up the diagram (leaves hold ``value[target]``)."""
        val = np.empty(self.n_nodes, dtype=value.dtype)
        val[self.leaves] = value[self.leaf_target]
        for ids, lo, hi, var in zip(self.levels, self.lo, self.hi, self.var, strict=True):
            val[ids] = combine(val[lo], val[hi], var)
        return val[self.roots]

    def paths(self) -> np.ndarray:
        """Root-to-leaf paths of every state (as floats: they can exceed 2**63); never fewer
        than its edges."""
        return self.sweep(np.ones(int(self.leaf_target.max(initial=0)) + 1), _add)

    def minimum(self, value: np.ndarray) -> np.ndarray:
        return self.sweep(value, lambda a, b, _: np.minimum(a, b))

    def maximum(self, value: np.ndarray) -> np.ndarray:
        return self.sweep(value, lambda a, b, _: np.maximum(a, b))

    def expectation(self, value: np.ndarray, p_true: np.ndarray) -> np.ndarray:
        """``E[value(successor)]`` when proposition ``i`` is true with ``p_true[i]``."""
        return self.sweep(value, lambda a, b, v: (1.0 - p_true[v]) * a + p_true[v] * b)

    def distance_to(self, goal: np.ndarray) -> np.ndarray:
        """Fewest steps from each state to a ``goal`` state; -1 where none is reachable
        (as :func:`speclang.compiler.graph.distance_to`). One sweep per distance level."""
        goal = np.asarray(goal, dtype=bool)
        far = np.iinfo(np.int64).max // 2
        dist = np.where(goal, 0, far).astype(np.int64)
        while True:
            nxt = np.where(goal, 0, np.minimum(dist, self.minimum(dist) + 1))
            nxt[nxt > far] = far
            if np.array_equal(nxt, dist):
                break
            dist = nxt
        dist[dist >= far] = -1
        return dist
