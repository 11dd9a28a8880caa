"""Graph algorithms on a compiled automaton's transition graph: successors, distances and
the verdicts the structure alone implies.

An edge ``q -> t`` exists when *some* letter moves ``q`` to ``t``; which letters an
environment can produce is not known here. Every user (shaping potentials, the artifact
loader, the table builder, explanations, the LLM shield) reads the graph through these
functions, so that "how far is the sink" has one answer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, overload

import numpy as np

from speclang.compiler.verdict import Verdict

if TYPE_CHECKING:
    from speclang.compiler.automaton import Automaton

# What :func:`sink_distance` reports for states that cannot reach the sink: larger than any
# path, small enough that adding a few steps to it cannot overflow.
FAR = 1 << 30


@overload
def successor_lists(aut: Automaton) -> list[list[int]]: ...
@overload
def successor_lists(aut: Automaton, limit: int) -> list[list[int]] | None: ...


def successor_lists(aut: Automaton, limit: int | None = None) -> list[list[int]] | None:
    """Distinct successors of every state, sorted, read off the shared decision diagram
    once per node instead of once per path; None as soon as there are more than ``limit``
    edges (a dense graph is then better handled by speclang.compiler.diagram_sweep)."""
    if limit is not None:
        return _successors_upto(aut, limit)
    targets: dict[int, frozenset[int]] = {}
    # Python lists: indexing a numpy array element by element costs several times more,
    # and this walk is most of what writing a large artifact costs.
    var, lo, hi = aut.dd_var.tolist(), aut.dd_lo.tolist(), aut.dd_hi.tolist()

    def reach(root: int) -> frozenset[int]:
        stack = [root]
        while stack:
            k = stack[-1]
            if k in targets:
                stack.pop()
                continue
            if var[k] < 0:
                targets[k] = frozenset((lo[k],))
                stack.pop()
                continue
            a, b = lo[k], hi[k]
            ta, tb = targets.get(a), targets.get(b)
            if ta is None or tb is None:
                if ta is None:
                    stack.append(a)
                if tb is None:
                    stack.append(b)
                continue
            targets[k] = ta if ta is tb or ta == tb else ta | tb
            stack.pop()
        return targets[root]

    if limit is None:
        return [sorted(reach(r)) for r in aut.roots.tolist()]
    out = []
    total = 0
    for r in aut.roots.tolist():
        ts = reach(r)
        total += len(ts)
        if total > limit:
            return None
        out.append(sorted(ts))
    return out


def _successors_upto(aut: Automaton, limit: int) -> list[list[int]] | None:
    """:func:`successor_lists` with a ``limit``, 64 states at a time in numpy: every node
    gets a 64-bit mask of the batch's states whose diagram reaches it, or-ed down level by
    level (variables increase along every path, so a node's mask is complete once the
    levels above it are done), and a leaf's mask lists the states it is a successor of (a
    canonical diagram has one leaf per target). Batches stop as soon as the edges exceed
    ``limit``: G p1 & F p2 .. F p14 (1.6 million edges) after one. A Python walk per root
    repeats shared sub-diagrams, and the per-node sets of targets (the other way) are
    unions of up to ``n_states`` targets per node (Declare 8: 30 ms against 3 here)."""
    var = np.asarray(aut.dd_var, dtype=np.int64)
    lo = np.asarray(aut.dd_lo, dtype=np.int64)
    hi = np.asarray(aut.dd_hi, dtype=np.int64)
    roots = np.asarray(aut.roots, dtype=np.int64)
    inner = np.flatnonzero(var >= 0)
    order = inner[np.argsort(var[inner], kind="stable")]
    cuts = np.flatnonzero(np.diff(var[order])) + 1
    levels = np.split(order, cuts) if order.size else []
    level_kids = [(lo[ids], hi[ids]) for ids in levels]
    leaves = np.flatnonzero(var < 0)
    targets = lo[leaves]
    # A canonical diagram has one leaf per target; then a batch's edges are the set bits
    # of its leaf masks, counted without listing them.
    sorted_targets = np.sort(targets)
    one_leaf_each = not bool((sorted_targets[1:] == sorted_targets[:-1]).any())
    n = len(roots)
    out: list[list[int]] = []
    total = 0
    for start in range(0, n, 64):
        batch = roots[start:start + 64]
        mask = np.zeros(len(var), dtype=np.uint64)
        np.bitwise_or.at(mask, batch, np.left_shift(np.uint64(1),
                                                    np.arange(batch.size, dtype=np.uint64)))
        for ids, (kid_lo, kid_hi) in zip(levels, level_kids, strict=True):
            m = mask[ids]
            live = m != 0
            if live.any():
                m = m[live]
                np.bitwise_or.at(mask, kid_lo[live], m)
                np.bitwise_or.at(mask, kid_hi[live], m)
        if one_leaf_each and total + int(np.bitwise_count(mask[leaves]).sum()) > limit:
            return None
        # bit i of a leaf's mask: state start + i has that leaf's target as a successor
        # (little-endian bytes, little-endian bits: column i is bit i)
        bits = np.unpackbits(mask[leaves].astype("<u8").view(np.uint8).reshape(-1, 8),
                             axis=1, bitorder="little")
        leaf_i, state = np.nonzero(bits[:, :batch.size])
        # sorted and deduplicated without np.unique, whose first call costs 10 ms
        keys = np.sort(state * (n + 1) + targets[leaf_i])
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if keys.size else keys
        total += int(keys.size)
        if total > limit:
            return None
        src, dst = keys // (n + 1), keys % (n + 1)
        bounds = np.searchsorted(src, np.arange(batch.size + 1))
        dst_list = dst.tolist()
        out.extend(dst_list[bounds[i]:bounds[i + 1]] for i in range(batch.size))
    return out


def predecessor_lists(successors: Sequence[Sequence[int]]) -> list[list[int]]:
    preds: list[list[int]] = [[] for _ in range(len(successors))]
    for q, targets in enumerate(successors):
        for t in targets:
            preds[int(t)].append(q)
    return preds


def distance_to(successors: Sequence[Sequence[int]], goal: np.ndarray) -> np.ndarray:
    """Fewest steps from each state to any state where ``goal`` holds; -1 where none is
    reachable (breadth-first search backwards from the goal states)."""
    preds = predecessor_lists(successors)
    dist = np.full(len(successors), -1, dtype=np.int64)
    queue = deque(int(q) for q in np.flatnonzero(goal))
    dist[list(queue)] = 0
    while queue:
        t = queue.popleft()
        for p in preds[t]:
            if dist[p] < 0:
                dist[p] = dist[t] + 1
                queue.append(p)
    return dist


def sink_distance(aut: Automaton, successors: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """Fewest steps from each state to a violated state; :data:`FAR` where none is
    reachable (so ``dist <= k`` reads "can be violated within k steps")."""
    succ = successor_lists(aut) if successors is None else successors
    dist = distance_to(succ, np.asarray(aut.verdicts) == Verdict.VIOLATED)
    dist[dist < 0] = FAR
    return dist


def reachable(successors: Sequence[Sequence[int]], seeds: np.ndarray, *,
              backward: bool = False) -> np.ndarray:
    """States reachable from (``backward``: states that can reach) a ``seeds`` state,
    the seeds included."""
    edges = predecessor_lists(successors) if backward else successors
    mark = np.asarray(seeds, dtype=bool).copy()
    stack = [int(q) for q in np.flatnonzero(mark)]
    while stack:
        t = stack.pop()
        for p in edges[t]:
            if not mark[p]:
                mark[p] = True
                stack.append(int(p))
    return mark


def structural_verdicts(accepting: np.ndarray, successors: Sequence[Sequence[int]]) -> np.ndarray:
    """Verdict codes implied by the graph alone: VIOLATED where no accepting state is
    reachable, SATISFIED where every reachable state (itself included) accepts, otherwise
    PRESUMABLY_SATISFIED / PRESUMABLY_VIOLATED by the state's own acceptance."""
    acc = np.asarray(accepting, dtype=bool)
    can_accept = reachable(successors, acc, backward=True)
    can_reject = reachable(successors, ~acc, backward=True)
    out = np.where(acc, Verdict.PRESUMABLY_SATISFIED, Verdict.PRESUMABLY_VIOLATED).astype(np.int8)
    out[~can_accept] = Verdict.VIOLATED
    out[acc & ~can_reject] = Verdict.SATISFIED
    return out


def bfs_order(successors: Sequence[Sequence[int]], initial: int) -> list[int]:
    """States reachable from ``initial`` in breadth-first order (successors in the order
    given): the numbering every automaton uses, ``initial`` first."""
    order = [initial]
    seen = {initial}
    for q in order:  # the list grows while it is walked: a queue without pops
        for t in successors[q]:
            t = int(t)
            if t not in seen:
                seen.add(t)
                order.append(t)
    return order


def shortest_path(successors: Callable[[int], Iterable[int]], start: int,
                  goal: np.ndarray) -> list[int] | None:
    """States of a shortest path from ``start`` to a ``goal`` state, both ends included
    (``[start]`` when it is a goal), trying ``successors(q)`` in the order it gives them
    (a function, so callers can label edges while the search asks for them); None when no
    goal state is reachable."""
    if goal[start]:
        return [start]
    parent = {start: start}
    queue = deque([start])
    while queue:
        s = queue.popleft()
        for t in successors(s):
            t = int(t)
            if t in parent:
                continue
            parent[t] = s
            if goal[t]:
                path = [t]
                while t != start:
                    t = parent[t]
                    path.append(t)
                return path[::-1]
            queue.append(t)
    return None
