"""Minimisation and canonical numbering of DFAs with symbolic (decision-diagram) transitions.

Every pass here is vectorised over the nodes of one decision-diagram *level* (all nodes that
test the same proposition) with numpy. Children always test a later proposition than their
parent, so processing levels from the last proposition to the first sees children first.

* Moore partition refinement: a state's signature is its own block plus its transition
  diagram with every leaf relabelled by the target's block, hash-consed level by level; the
  partition is refined until the number of blocks stops growing.
* BFS renumbering from the initial state, successors in decision-diagram order (false branch
  before true, propositions in order) -- the order ``Automaton.successors`` reports.
* The output diagram is canonical: leaves ``0..n-1`` are the states, then inner nodes level
  by level (last proposition first), sorted by (false child, true child). Equal automata
  therefore get equal arrays, whatever diagram they were built from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speclang.compiler.automaton import Verdict
from speclang.compiler.budget import Budget


@dataclass
class Diagram:
    """Shared transition diagram of a DFA, in flat arrays. ``leaf_label[k]`` is the target
    state of leaf ``k`` (unused for inner nodes); ``var[k]`` is the tested proposition."""

    is_leaf: np.ndarray  # bool[m]
    var: np.ndarray  # int64[m]
    lo: np.ndarray  # int64[m]
    hi: np.ndarray  # int64[m]
    leaf_label: np.ndarray  # int64[m]
    roots: np.ndarray  # int64[n]

    def levels(self) -> list[tuple[int, np.ndarray]]:
        """The inner nodes level by level, last proposition first (ascending ids within a
        level)."""
        inner = np.flatnonzero(~self.is_leaf)
        if inner.size == 0:
            return []
        return _by_level(inner, self.var[inner])


def _by_level(nodes: np.ndarray, v: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``nodes`` grouped by their propositions ``v``, the last proposition first."""
    top = int(v.max())
    # numpy sorts 16-bit keys stably by radix, in linear time (a large product's diagram
    # has ~10^6 inner nodes; the 64-bit merge sort was a sixth of its minimisation)
    key = (top - v).astype(np.int16) if top < 1 << 15 else -v
    order = np.argsort(key, kind="stable")
    nodes, v = nodes[order], v[order]
    cuts = np.flatnonzero(v[1:] != v[:-1]) + 1
    starts = [0, *cuts.tolist()]
    ends = [*cuts.tolist(), nodes.shape[0]]
    return [(int(v[s]), nodes[s:e]) for s, e in zip(starts, ends, strict=True)]


@dataclass
class Canonical:
    """A canonical diagram: see the module docstring for the node order."""

    var: np.ndarray  # int32, -1 for leaves
    lo: np.ndarray  # int32, the label for leaves
    hi: np.ndarray  # int32, 0 for leaves
    roots: np.ndarray  # int32
    level_bounds: list[tuple[int, int]]  # [start, end) of each inner level, children first


def _signatures(
    d: Diagram,
    levels: list[tuple[int, np.ndarray]],
    labels: np.ndarray,
    n_labels: int,
    keep: bool = False,
    budget: Budget | None = None,
) -> tuple[np.ndarray, int, list[tuple[int, np.ndarray, np.int64]]]:
    """Hash-cons the diagram with leaves relabelled by ``labels[leaf_label]``: returns a
    signature id per node (equal ids = equal functions) and, with ``keep``, the new nodes of
    every level as (var, keys, radix), a key being ``lo id * radix + hi id``."""
    m = d.var.shape[0]
    sig = np.zeros(m, dtype=np.int64)
    leaves = np.flatnonzero(d.is_leaf)
    sig[leaves] = labels[d.leaf_label[leaves]]
    next_id = n_labels
    radix = np.int64(m + n_labels + 1)
    built: list[tuple[int, np.ndarray, np.int64]] = []
    for v, idx in levels:
        if budget is not None:  # a round over a million-node diagram takes a second
            budget.check_time()
        sl = sig[d.lo[idx]]
        sh = sig[d.hi[idx]]
        eq = sl == sh
        sig[idx[eq]] = sl[eq]
        ne = np.flatnonzero(~eq)
        if ne.size:
            uniq, inv = np.unique(sl[ne] * radix + sh[ne], return_inverse=True)
            sig[idx[ne]] = next_id + inv.reshape(-1)
            next_id += int(uniq.size)
            if keep:
                built.append((v, uniq, radix))
    return sig, next_id, built


def refine(d: Diagram, accepting: np.ndarray, budget: Budget | None = None,
           levels: list[tuple[int, np.ndarray]] | None = None) -> np.ndarray:
    """Block id of every state in the coarsest partition compatible with acceptance and
    transitions (Moore's algorithm on the symbolic transitions); ``levels``: ``d.levels()``
    if the caller has them."""
    return _refine(d, accepting, budget, levels)[0]


def _refine(d: Diagram, accepting: np.ndarray, budget: Budget | None,
            levels: list[tuple[int, np.ndarray]] | None = None,
            ) -> tuple[np.ndarray, int, Canonical]:
    """The partition of :func:`refine`, its number of blocks, and the canonical diagram of
    ``d`` with leaves relabelled by block (roots for every input state): the last round,
    which finds the partition stable, hash-conses exactly that diagram. (A product of
    minimal DFAs over disjoint propositions is split apart in one round; the second one,
    which confirms it, is then the canonical pass.)"""
    if levels is None:
        levels = d.levels()
    if budget is not None:
        budget.check_time()
    _, block = np.unique(np.asarray(accepting, dtype=np.int64), return_inverse=True)
    block = block.reshape(-1).astype(np.int64)
    nb = int(block.max()) + 1 if block.size else 0
    while True:
        if budget is not None:  # one round per state on a chain of states
            budget.check_time()
        sig, n_ids, built = _signatures(d, levels, block, nb, keep=True, budget=budget)
        _, new = np.unique(block * n_ids + sig[d.roots], return_inverse=True)
        if budget is not None:
            budget.check_time()
        new = new.reshape(-1).astype(np.int64)
        nb_new = int(new.max()) + 1
        if nb_new == nb:
            # The same partition: ``new`` ranks (block, signature) pairs, so equals ``block``.
            return block, nb, _assemble(sig, n_ids, built, d.roots, nb)
        block = new
        nb = nb_new


def canonical_diagram(d: Diagram, labels: np.ndarray, n_labels: int,
                      levels: list[tuple[int, np.ndarray]] | None = None) -> Canonical:
    """The canonical diagram of ``d`` with leaves relabelled by ``labels`` (``0..n_labels-1``);
    ``levels``: ``d.levels()`` if the caller has them."""
    return _canonical(d, d.levels() if levels is None else levels, labels, n_labels)


def _canonical(d: Diagram, levels: list[tuple[int, np.ndarray]], labels: np.ndarray,
               n_labels: int, budget: Budget | None = None) -> Canonical:
    sig, n_ids, built = _signatures(d, levels, labels, n_labels, keep=True, budget=budget)
    return _assemble(sig, n_ids, built, d.roots, n_labels)


def _assemble(sig: np.ndarray, n_ids: int, built: list[tuple[int, np.ndarray, np.int64]],
              roots: np.ndarray, n_labels: int) -> Canonical:
    var = np.full(n_ids, -1, dtype=np.int32)
    lo = np.zeros(n_ids, dtype=np.int32)
    hi = np.zeros(n_ids, dtype=np.int32)
    lo[:n_labels] = np.arange(n_labels, dtype=np.int32)
    start = n_labels
    bounds = []
    for v, keys, radix in built:
        end = start + keys.shape[0]
        var[start:end] = v
        lo[start:end] = keys // radix
        hi[start:end] = keys % radix
        bounds.append((start, end))
        start = end
    return Canonical(var, lo, hi, sig[roots].astype(np.int32), bounds)


def _as_diagram(c: Canonical) -> tuple[Diagram, list[tuple[int, np.ndarray]]]:
    """``c`` as a :class:`Diagram` (leaf ``k`` labelled ``k``), with its levels."""
    is_leaf = c.var < 0
    levels = [(int(c.var[s]), np.arange(s, e)) for s, e in c.level_bounds]
    return Diagram(is_leaf, c.var, c.lo, c.hi, c.lo, c.roots), levels


# The Python walk hands the rest of a BFS layer to the numpy walk after this many nodes
# per diagram level: about what one numpy pass over a level costs in Python node visits, so
# deep chains of small layers stay in Python and large walks are vectorised.
_PY_NODES_PER_LEVEL = 256


def bfs_order(c: Canonical, initial: int,
              py_nodes_per_level: int = _PY_NODES_PER_LEVEL) -> np.ndarray:
    """``new_id[label]`` for labels reachable from ``initial``, BFS with successors in
    decision-diagram order; -1 for unreachable labels.

    A node already walked (from any state) only leads to labels numbered by then, so it is
    skipped: the walk costs the size of the shared diagram, not the sum of per-state sizes.
    Each BFS layer is walked depth-first in Python until it has visited
    ``py_nodes_per_level`` nodes per diagram level; what is left of it then goes to
    :func:`_walk_numpy`, which reaches the same labels in the same order."""
    n = int(c.roots.shape[0])
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[initial] = 0
    order = [initial]
    done = bytearray(c.var.shape[0])
    done[initial] = 1  # leaf k is label k (canonical_diagram's layout): numbered already
    done_np = np.frombuffer(done, dtype=np.bool_)  # the same marks, for the numpy walk
    # Memoryviews index as fast as lists without copying the diagram into Python ints.
    var, lo, hi, roots = (np.ascontiguousarray(a, dtype=np.int32).data
                          for a in (c.var, c.lo, c.hi, c.roots))
    limit = py_nodes_per_level * max(len(c.level_bounds), 1)
    depth: np.ndarray | None = None
    start = 0
    while start < len(order):
        layer = [roots[q] for q in order[start:]]
        start = len(order)
        found, rest = _walk(var, lo, hi, layer, done, limit)
        if rest:
            if depth is None:
                depth = _level_depths(c)
            found += _walk_numpy(c, depth, np.asarray(rest, dtype=np.int64), done_np)
        if found:
            new_id[np.asarray(found, dtype=np.int64)] = np.arange(
                len(order), len(order) + len(found), dtype=np.int64)
            order.extend(found)
    return new_id


def _walk(var: memoryview, lo: memoryview, hi: memoryview, starts: list[int],
          done: bytearray, limit: int) -> tuple[list[int], list[int]]:
    """Walk depth-first from the nodes ``starts`` (in that order, skipping nodes marked in
    ``done``, false branch first), marking what it walks: the labels of the leaves reached,
    in that order, and after ``limit`` nodes the nodes whose walk, in that order, is what
    remains (the stack from its top, then the starts not begun)."""
    found: list[int] = []
    visited = 0
    for i, root in enumerate(starts):
        stack = [root]
        while stack:
            if visited >= limit:
                return found, stack[::-1] + starts[i + 1:]
            node = stack.pop()
            if done[node]:
                continue
            done[node] = 1
            visited += 1
            if var[node] < 0:
                found.append(lo[node])
            else:
                # A child already done would be skipped when popped: not pushing it keeps
                # the same visit order with far fewer stack operations.
                child = hi[node]
                if not done[child]:
                    stack.append(child)
                child = lo[node]
                if not done[child]:
                    stack.append(child)
    return found, []


def _level_depths(c: Canonical) -> np.ndarray:
    """Depth of every node's level counted from the first proposition (0 = the level nearest
    the roots); leaves get the number of levels."""
    n_levels = len(c.level_bounds)
    depth = np.full(c.var.shape[0], n_levels, dtype=np.int64)
    for j, (s, e) in enumerate(c.level_bounds):  # children first: the last level is depth 0
        depth[s:e] = n_levels - 1 - j
    return depth


def _walk_numpy(c: Canonical, depth: np.ndarray, starts: np.ndarray,
                done: np.ndarray) -> list[int]:
    """What :func:`_walk` without a limit returns first, vectorised: the labels the
    depth-first walk from the nodes ``starts`` (in that order, skipping nodes marked in
    ``done``) reaches, in the order it reaches them; marks what it walks.

    That walk reaches every node first along its lexicographically least path (the position
    of its start in ``starts`` first, then false before true at every node). A path is kept
    as one integer: the start's position, then one bit per level from the first proposition's
    down, 0 where the path takes the false branch or skips the level, so integers compare as
    paths do. Levels are processed from the roots down, each node taking the least path of
    those arriving; when the bits run out, the paths still arriving are renumbered densely
    (their order is all that is needed)."""
    n_levels = len(c.level_bounds)
    pending: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n_levels + 1)]
    keys = np.arange(starts.shape[0], dtype=np.int64)
    # ``shift``: the number of low bits still free for the levels from ``base`` down.
    base = 0
    shift = n_levels
    if int(keys[-1]).bit_length() + shift > 62:
        shift = 62 - int(keys[-1]).bit_length()
    keys <<= shift

    def push(nodes: np.ndarray, k: np.ndarray) -> None:
        keep = ~done[nodes]
        nodes, k = nodes[keep], k[keep]
        if nodes.size == 0:
            return
        d = depth[nodes]
        if d.min() == d.max():
            pending[int(d[0])].append((nodes, k))
            return
        by = np.argsort(d, kind="stable")
        nodes, k, d = nodes[by], k[by], d[by]
        cuts = np.flatnonzero(np.diff(d)) + 1
        for piece_n, piece_k, piece_d in zip(np.split(nodes, cuts), np.split(k, cuts),
                                             np.split(d, cuts), strict=True):
            pending[int(piece_d[0])].append((piece_n, piece_k))

    push(starts, keys)
    for t in range(n_levels + 1):
        if not pending[t]:
            continue
        if t < n_levels and t - base >= shift:
            # No bit left for level t: renumber every path still arriving (all end above t).
            live = [(i, j) for i in range(t, n_levels + 1) for j in range(len(pending[i]))]
            allk = np.concatenate([pending[i][j][1] for i, j in live])
            _, dense = np.unique(allk, return_inverse=True)
            dense = dense.reshape(-1).astype(np.int64)
            top = int(dense.max()).bit_length()
            base, shift = t, min(n_levels - t, 62 - top)
            dense <<= shift
            at = 0
            for i, j in live:
                nodes, k = pending[i][j]
                pending[i][j] = (nodes, dense[at:at + k.shape[0]])
                at += k.shape[0]
        nodes = np.concatenate([p[0] for p in pending[t]])
        k = np.concatenate([p[1] for p in pending[t]])
        pending[t] = []
        by = np.lexsort((k, nodes))
        nodes, k = nodes[by], k[by]
        first = np.ones(nodes.shape[0], dtype=bool)
        first[1:] = nodes[1:] != nodes[:-1]
        nodes, k = nodes[first], k[first]
        done[nodes] = True
        if t == n_levels:  # leaves: the labels, in the order the walk reaches them
            return c.lo[nodes[np.argsort(k)]].astype(np.int64).tolist()
        bit = np.int64(1) << np.int64(shift - 1 - (t - base))
        push(np.concatenate([c.lo[nodes], c.hi[nodes]]).astype(np.int64),
             np.concatenate([k, k | bit]))
    return []


def reach_closure(c: Canonical, seeds: np.ndarray, budget: Budget | None = None) -> np.ndarray:
    """States from which some state in ``seeds`` is reachable (in zero or more steps)."""
    mark = np.asarray(seeds, dtype=bool).copy()
    n_leaves = mark.shape[0]
    node_val = np.zeros(c.var.shape[0], dtype=bool)
    while True:
        if budget is not None:
            budget.check_time()
        node_val[:n_leaves] = mark
        for start, end in c.level_bounds:
            node_val[start:end] = node_val[c.lo[start:end]] | node_val[c.hi[start:end]]
        new = mark | node_val[c.roots]
        if np.array_equal(new, mark):
            return mark
        mark = new


def verdicts(c: Canonical, accepting: np.ndarray, budget: Budget | None = None) -> np.ndarray:
    acc = np.asarray(accepting, dtype=bool)
    can_accept = reach_closure(c, acc, budget)
    can_reject = reach_closure(c, ~acc, budget)
    out = np.where(acc, Verdict.PRESUMABLY_SATISFIED, Verdict.PRESUMABLY_VIOLATED).astype(np.int8)
    out[~can_accept] = Verdict.VIOLATED
    out[acc & ~can_reject] = Verdict.SATISFIED
    return out


@dataclass
class Minimal:
    """A minimal DFA in canonical form; ``representative[q]`` is an input state of new
    state ``q`` (the smallest input id of its class)."""

    diagram: Canonical
    accepting: np.ndarray
    verdicts: np.ndarray
    representative: np.ndarray


def quotient(d: Diagram, accepting: np.ndarray,
             budget: Budget | None = None) -> tuple[Canonical, np.ndarray, np.ndarray]:
    """The minimal DFA without the canonical numbering: its diagram (state ``k`` is block
    ``k`` of the coarsest partition), block of every input state, and smallest input state
    of every block. Cheaper than :func:`minimise` (no BFS, one canonical pass), for
    intermediate results that are minimised again."""
    accepting = np.asarray(accepting, dtype=bool)
    block, _, c = _refine(d, accepting, budget)
    _, first = np.unique(block, return_index=True)  # blocks are 0..nb-1
    c.roots = c.roots[first]
    return c, block, first.astype(np.int64)


def minimise(d: Diagram, accepting: np.ndarray, initial: int = 0,
             budget: Budget | None = None) -> Minimal:
    """Minimal, complete, canonically numbered DFA equivalent to the input (all of whose
    states must be reachable from ``initial``); ``budget``'s deadline is polled."""
    accepting = np.asarray(accepting, dtype=bool)
    block, nb, quotient = _refine(d, accepting, budget)
    # the roots of *every* input state were relabelled; one per block suffices
    _, first = np.unique(block, return_index=True)  # smallest input state of each block
    quotient.roots = quotient.roots[first]
    if budget is not None:  # each step below is one pass over a diagram of up to millions
        budget.check_time()
    new_id = bfs_order(quotient, int(block[initial]))
    if (new_id < 0).any():
        raise ValueError("minimise() needs every state reachable from the initial state")
    if budget is not None:
        budget.check_time()
    # The quotient's diagram with leaves renumbered is reduced already and has the functions
    # of ``d`` relabelled the same way, so its canonical form is ``d``'s, from fewer nodes.
    qd, levels = _as_diagram(quotient)
    final = _canonical(qd, levels, new_id, nb, budget)
    by_new = np.argsort(new_id)  # block of every new state
    final.roots = final.roots[by_new]
    rep = first[by_new].astype(np.int64)
    acc = accepting[rep]
    return Minimal(final, acc, verdicts(final, acc, budget), rep)
