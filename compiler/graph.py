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
        done, walked = _walk_roots(aut, limit)
        if done:
            return walked
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


def _walk_roots(aut: Automaton, limit: int) -> tuple[bool, list[list[int]] | None]:
    """:func:`successor_lists` with a ``limit``, by one walk below each root: the sets of
    leaves under every node (the other way) are unions of up to ``n_states`` targets per
    node, and most of them are built for nothing when the edges exceed the limit after a
    few states (G p1 & F p2 .. F p14: 90 ms against 14). Walks that share sub-diagrams
    repeat them, so past a few times the diagram's size this gives up: ``(False, None)``;
    else ``(True, what successor_lists returns)``."""
    var, lo, hi = aut.dd_var.tolist(), aut.dd_lo.tolist(), aut.dd_hi.tolist()
    budget = 4 * len(var) + 1024
    out = []
    total = 0
    for root in aut.roots.tolist():
        seen: set[int] = set()
        found: set[int] = set()
        stack = [root]
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            if var[k] < 0:
                found.add(lo[k])
            else:
                stack.append(hi[k])
                stack.append(lo[k])
        budget -= len(seen)
        if budget < 0:
            return False, None
        total += len(found)
        if total > limit:
            return True, None
        out.append(sorted(found))
    return True, out


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
