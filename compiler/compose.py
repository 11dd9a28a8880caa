"""Compositional construction of top-level conjunctions (and disjunctions), as Lydia does.

``G p1 & F p2 & ... & F pn`` has ``2**(n-1) + 1`` minimal states, and exploring derivatives
of the whole conjunction spends most of its time conjoining residual formulas and their
decision diagrams. Each conjunct alone has a tiny DFA, so the compiler builds the minimal DFA
of every part and folds them together with synchronous products over the shared decision
diagrams, the two smallest first (:func:`fold`), minimising after each step; a pair of states
or of diagram nodes with a part in its rejecting sink is the conjunction's rejecting sink at
once (the accepting sink for a disjunction).

The product of two canonical diagrams (:class:`~speclang.compiler.minimise.Canonical`) is
explored breadth-first with numpy, one frontier of node pairs at a time: a pair ``(a, b)``
tests the earlier of the two propositions, and its children advance the side(s) that test
it. Pairs of leaves are pairs of states. The minimal DFA of a conjunction is unique, and
``minimise`` numbers it canonically, so the result is the automaton the monolithic
construction builds (same arrays, verdicts and letter classes); only a state's residual
text may be written differently (the parts' obligations joined, an equivalent formula).

Formulas with past operators split too, each part read as the whole is: the parts of a
pure-past formula (read at the last step) are pure past, and a mixed formula (read at the
first step) keeps its pure-past conjuncts with a part that has future operators, since alone
they would be read at the last step. A state's text joins the parts' obligations and lists
the facts they remember after the join.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from speclang.compiler import ir, memory
from speclang.compiler.budget import Budget
from speclang.compiler.ir import Formula, Op
from speclang.compiler.minimise import Canonical, Diagram, Minimal, minimise, quotient
from speclang.compiler.verdict import Verdict

# A table of node-pair ids indexed by (a, b) is used while it holds at most this many
# entries (int64: 128 MiB at the limit); larger products intern pairs in a dict.
_DENSE_PAIRS = 1 << 24
PAYS_FROM = 512
# With past operators each explored state costs several times more (its past bits are
# paired into every leaf), so composition pays from smaller products: `H(p -> O q) & ..`
# with 4 parts (bound 81) is 1.5x slower composed, with 6 (729) 1.3x faster; three
# `G(a -> O(b & O c))` (64) even, four (256) 3.6x faster.
PAYS_FROM_PAST = 128
_TEMPORAL_OPS = ir.FUTURE_OPS | ir.PAST_OPS


def split(f: Formula) -> tuple[Op, list[Formula]] | None:
    """The operator (AND or OR) and the parts of a top-level conjunction or disjunction
    worth compiling apart, or None. Parts without temporal operators are kept together with
    the first temporal part (alone they are a few states, not worth a product of their own),
    and the split needs two temporal parts. ``!(a | b)`` splits as ``!a & !b``. In a
    pure-past formula the temporal parts are those with past operators; in any other, those
    with future operators (module docstring)."""
    if not (f.has_future or f.has_past):
        return None
    op, parts = _flat(f)
    if op is None:
        return None

    def temporal_part(p: Formula) -> bool:
        return p.has_past if f.is_pure_past else p.has_future

    temporal = [p for p in parts if temporal_part(p)]
    if len(temporal) < 2:
        return None
    plain = [p for p in parts if not temporal_part(p)]
    join = ir.And if op is Op.AND else ir.Or
    return op, [join(temporal[0], *plain), *temporal[1:]]


def pays_from(f: Formula) -> int:
    """The bound on the product's size above which composing ``f``'s parts pays."""
    return PAYS_FROM_PAST if f.has_past else PAYS_FROM


def may_pay(pieces: list[Formula], limit: int = PAYS_FROM) -> bool:
    """Whether the parts could be large enough for :func:`pays`, judged from the formula
    alone (compiling the parts of a small conjunction costs more than compiling the whole
    monolithically, ~5 ms for three parts): a part with k temporal subformulas is
    guessed at ``2**k + 1`` states, or ``k + 1`` with past operators (their parts are
    mostly chains such as ``H(p -> O(q & O r))``, linear in the nesting; four
    ``H(p -> O q)`` would otherwise be guessed at 625 states for 81 and compile their parts
    for nothing). A guess too low only keeps the derivative construction."""
    bound = 1
    for piece in pieces:
        k = sum(1 for g in piece.subformulas() if g.op in _TEMPORAL_OPS)
        bound *= k + 1 if piece.has_past else 2 ** min(k, 20) + 1
        if bound > limit:
            return True
    return False


def pays(parts: Iterable[Part], limit: int = PAYS_FROM) -> bool:
    """Whether the product of ``parts`` is worth building rather than the whole formula's
    derivatives: when the product of their sizes (an upper bound on the result's) exceeds
    ``limit`` (:func:`pays_from`). Below it the monolithic construction is as fast or
    faster, as numpy's cost per call dominates the product's (benchmarks/compose.py: gfand
    10, bound 1,024, 1.2x faster composed; declare 6, bound 432, even)."""
    bound = 1
    for p in parts:
        bound *= p.n_states
        if bound > limit:
            return True
    return False


# G and H distribute over a conjunction, F and O over a disjunction:
# (operator, its constant left operand, the Boolean operator it distributes over)
_DISTRIBUTES = ((Op.RELEASE, ir.FALSE, Op.AND, ir.Release),
                (Op.TRIGGER, ir.FALSE, Op.AND, ir.Trigger),
                (Op.UNTIL, ir.TRUE, Op.OR, ir.Until), (Op.SINCE, ir.TRUE, Op.OR, ir.Since))


def _spread(g: Formula) -> tuple[Op, list[Formula]] | None:
    """``g`` as a conjunction or disjunction of smaller formulas with the same meaning, or
    None: ``a & b``; ``!(a | b)`` is ``!a & !b``; ``G(a & b)`` is ``G a & G b``, ``H(a & b)``
    ``H a & H b``, ``F(a | b)`` and ``O(a | b)`` disjunctions (pointwise equivalences, the
    empty trace included) when two operands have temporal operators, and their negations
    the duals."""
    negated = g.op is Op.NOT
    h = g.args[0] if negated else g
    op: Op
    if h.op is Op.AND or h.op is Op.OR:
        op, parts = h.op, list(h.args)
    else:
        for temporal, constant, over, make in _DISTRIBUTES:
            if h.op is temporal and h.args[0] is constant and h.args[1].op is over:
                # operands without temporal operators stay together with the first temporal
                # one: G(p1 & .. & p20) is one 2-state part, not twenty to multiply
                args = h.args[1].args
                timed = [a for a in args if a.has_future or a.has_past]
                if len(timed) < 2:
                    return None
                join = ir.And if over is Op.AND else ir.Or
                plain = [a for a in args if not (a.has_future or a.has_past)]
                op = over
                parts = [make(constant, a) for a in (join(timed[0], *plain), *timed[1:])]
                break
        else:
            return None
    if negated:
        return (Op.OR if op is Op.AND else Op.AND), [ir.Not(a) for a in parts]
    return op, parts


def _flat(f: Formula) -> tuple[Op | None, list[Formula]]:
    """The top-level operator and its operands, nested ones of the same operator flattened
    (only those: a formula's DAG may be a tree of exponential size below them), and G, H
    (F, O) over a conjunction (disjunction) spread over its operands (:func:`_spread`)."""
    top = _spread(f)
    if top is None:
        return None, []
    op = top[0]
    out: list[Formula] = []
    stack = list(reversed(top[1]))
    while stack:
        g = stack.pop()
        inner = _spread(g)
        if inner is not None and inner[0] is op:
            stack += reversed(inner[1])
        else:
            out.append(g)
    return op, out


@dataclass
class Part:
    """A minimal DFA over the global proposition indices (state ``k``'s leaf is node ``k``
    of ``diagram``), with every original part's state in each of its states."""

    diagram: Canonical
    accepting: np.ndarray  # bool[n]
    initial: int
    parts: np.ndarray  # int64[n, n_original_parts]
    # Set on the last product only: the canonical result (``minimise``'s).
    minimal: Minimal | None = None

    @property
    def n_states(self) -> int:
        return int(self.accepting.shape[0])


def part_of(m: Minimal, local_to_global: np.ndarray) -> Part:
    """A part's minimal DFA with its proposition indices renamed to the global ones (an
    increasing map, so the diagram's order is kept)."""
    c = m.diagram
    var = np.full(c.var.shape[0], -1, dtype=np.int32)
    inner = c.var >= 0
    var[inner] = local_to_global[c.var[inner]]
    moved = Canonical(var, c.lo, c.hi, c.roots, c.level_bounds)
    n = int(m.accepting.shape[0])
    return Part(moved, m.accepting, 0, np.arange(n, dtype=np.int64).reshape(-1, 1))


class _PairIds:
    """Ids of pairs ``(x, y)`` in ``[0, nx) x [0, ny)``, given in order of sight."""

    def __init__(self, nx: int, ny: int, budget: Budget) -> None:
        self.ny = ny
        self.n = 0
        self.dense: np.ndarray | None = None
        self.table: _HashTable | None = None
        if nx * ny <= _DENSE_PAIRS:
            budget.check_memory(8 * nx * ny)
            self.dense = np.full(nx * ny, -1, dtype=np.int64)
        else:
            self.table = _HashTable(budget)

    def ids(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the pairs, and for each pair never seen before the position (into ``x``)
        of one of its sightings, in increasing id order (ids go in order of those
        positions)."""
        keys = x * self.ny + y
        dense = self.dense
        if dense is None:
            assert self.table is not None
            got, pos = self.table.ids(keys, self.n)
            self.n += int(pos.size)
            return got, pos
        got = dense[keys]
        fresh = np.flatnonzero(got < 0)
        if fresh.size:
            # Each new pair is marked with a sighting's position (as -2 - position), and
            # the sighting whose mark stays names it: linear, where np.unique sorts.
            # (Written in reverse, so in practice the first sighting's mark stays.)
            fk = keys[fresh]
            mark = -2 - fresh
            dense[fk[::-1]] = mark[::-1]
            named = dense[fk] == mark
            pos, new_keys = fresh[named], fk[named]
            dense[new_keys] = np.arange(self.n, self.n + new_keys.size)
            self.n += int(new_keys.size)
            got[fresh] = dense[fk]
            return got, pos
        return got, fresh


class _HashTable:
    """Ids of non-negative int64 keys in an open-addressing hash table with linear probing,
    every probe step vectorised over the keys still looking (a product of two large parts
    has too many possible pairs for a dense table, and a dict costs a Python step a key)."""

    def __init__(self, budget: Budget, bits: int = 16) -> None:
        self.budget = budget
        self.bits = bits
        self.keys = np.full(1 << bits, -1, dtype=np.int64)
        self.vals = np.zeros(1 << bits, dtype=np.int64)
        self.used = 0

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        # Fibonacci hashing: the top bits of key * 2**64 / golden ratio
        h = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        return (h >> np.uint64(64 - self.bits)).astype(np.int64)

    def ids(self, keys: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`_PairIds.ids`, new keys numbered from ``start``."""
        if 2 * (self.used + keys.shape[0]) > self.keys.shape[0]:
            self._grow(self.used + keys.shape[0])
        mask = (1 << self.bits) - 1
        out = np.empty(keys.shape[0], dtype=np.int64)
        todo = np.arange(keys.shape[0])
        slot = self._slots(keys)
        new_pos: list[np.ndarray] = []
        n = start
        while todo.size:
            self.budget.check_time()
            s, k = slot, keys[todo]
            cur = self.keys[s]
            free = cur == -1
            if free.any():
                # claim the free slots; of the keys written to one slot, one stays
                fs, fk = s[free], k[free]
                self.keys[fs] = fk
                claimed = np.flatnonzero(free)[self.keys[fs] == fk]
                # one id per claimed slot, named by the sighting whose mark stays
                cs, cpos = s[claimed], todo[claimed]
                mark = -1 - cpos
                self.vals[cs[::-1]] = mark[::-1]
                named = self.vals[cs] == mark
                first = cpos[named]
                self.vals[cs[named]] = np.arange(n, n + first.size)
                n += int(first.size)
                new_pos.append(first)
                cur = self.keys[s]
            hit = cur == k
            out[todo[hit]] = self.vals[s[hit]]
            todo, slot = todo[~hit], (s[~hit] + 1) & mask
        self.used += n - start
        pos = np.concatenate(new_pos) if new_pos else np.zeros(0, dtype=np.int64)
        return out, pos

    def _grow(self, need: int) -> None:
        held = self.keys >= 0
        keys, vals = self.keys[held], self.vals[held]
        while (1 << self.bits) < 2 * need:
            self.bits += 1
        self.budget.check_memory(16 << self.bits)  # the new keys and values
        self.keys = np.full(1 << self.bits, -1, dtype=np.int64)
        self.vals = np.zeros(1 << self.bits, dtype=np.int64)
        mask = (1 << self.bits) - 1
        slot = self._slots(keys)
        while keys.size:  # distinct keys: each takes the first free slot it finds
            self.budget.check_time()
            free = self.keys[slot] == -1
            fs = slot[free]
            self.keys[fs] = keys[free]
            won = np.zeros(keys.shape[0], dtype=bool)
            won[np.flatnonzero(free)[self.keys[fs] == keys[free]]] = True
            self.vals[slot[won]] = vals[won]
            keys, vals, slot = keys[~won], vals[~won], (slot[~won] + 1) & mask


def product(a: Part, b: Part, op: Op, budget: Budget, *, last: bool) -> tuple[Part, int]:
    """The minimal DFA of ``a op b`` (op AND or OR), canonical when ``last``, and how many
    pairs of states it explored."""
    ca, cb = a.diagram, b.diagram
    big = np.iinfo(np.int32).max
    va = np.where(ca.var < 0, big, ca.var).astype(np.int64)
    vb = np.where(cb.var < 0, big, cb.var).astype(np.int64)
    loa, hia = ca.lo.astype(np.int64), ca.hi.astype(np.int64)
    lob, hib = cb.lo.astype(np.int64), cb.hi.astype(np.int64)
    rta, rtb = ca.roots.astype(np.int64), cb.roots.astype(np.int64)
    # The sink that decides the whole: rejecting for a conjunction, accepting for a
    # disjunction. Every pair with a part there is the one state `sink` (a pair of leaves,
    # so its diagram is itself: the leaf of state k is node k in a canonical diagram).
    sa = _sink(a, op)
    sb = _sink(b, op)
    sink = (max(sa, 0), max(sb, 0)) if sa >= 0 or sb >= 0 else None

    def decided(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pairs with a side at the sink (a state, or its leaf node) made the sink's."""
        if sink is None:
            return x, y
        dead = np.zeros(x.shape[0], dtype=bool)
        if sa >= 0:
            dead |= x == sa
        if sb >= 0:
            dead |= y == sb
        if not dead.any():
            return x, y
        return np.where(dead, sink[0], x), np.where(dead, sink[1], y)

    states = _PairIds(a.n_states, b.n_states, budget)
    nodes = _PairIds(va.shape[0], vb.shape[0], budget)
    # Appended in id order: every state's pair and root node, every node's pair (the nodes
    # not yet expanded are the frontier) and, once expanded, its (var or -1, lo node or leaf
    # state, hi node).
    state_pairs: list[np.ndarray] = []
    state_roots: list[np.ndarray] = []
    frontier: list[tuple[np.ndarray, np.ndarray]] = []
    expanded: list[np.ndarray] = []

    def new_states(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """State ids of the pairs (normalised to ``sink``); new states get their roots."""
        x, y = decided(x, y)
        ids, fresh = states.ids(x, y)
        if fresh.size:
            budget.check_states(states.n)
            fx, fy = x[fresh], y[fresh]
            state_pairs.append(np.stack([fx, fy], axis=1))
            # the sink's root is its own leaf pair (node k is the leaf of state k)
            rx, ry = decided(rta[fx], rtb[fy])
            roots, new_nodes = nodes.ids(rx, ry)
            state_roots.append(roots)
            if new_nodes.size:
                add_nodes(rx[new_nodes], ry[new_nodes])
        return ids

    def add_nodes(x: np.ndarray, y: np.ndarray) -> None:
        frontier.append((x, y))
        budget.check_nodes(nodes.n)

    new_states(np.asarray([a.initial]), np.asarray([b.initial]))
    while frontier:
        budget.check_time()
        x = np.concatenate([f[0] for f in frontier])
        y = np.concatenate([f[1] for f in frontier])
        frontier.clear()
        # this level's temporaries: about twenty int64 arrays of its length
        budget.check_memory(160 * x.shape[0])
        vx, vy = va[x], vb[y]
        v = np.minimum(vx, vy)
        leaf = v == big
        out = np.zeros((x.shape[0], 3), dtype=np.int64)
        li = np.flatnonzero(leaf)
        if li.size:
            out[li, 0] = -1
            out[li, 1] = new_states(loa[x[li]], lob[y[li]])
        ii = np.flatnonzero(~leaf)
        if ii.size:
            xi, yi, vi = x[ii], y[ii], v[ii]
            ta, tb = vx[ii] == vi, vy[ii] == vi
            lx, hx = np.where(ta, loa[xi], xi), np.where(ta, hia[xi], xi)
            ly, hy = np.where(tb, lob[yi], yi), np.where(tb, hib[yi], yi)
            # a child with a side at the sink's leaf is the sink's leaf pair: the rest of
            # the other side's diagram below it decides nothing
            both_x, both_y = decided(np.concatenate([lx, hx]), np.concatenate([ly, hy]))
            kid, fresh = nodes.ids(both_x, both_y)
            if fresh.size:
                add_nodes(both_x[fresh], both_y[fresh])
            out[ii, 0] = vi
            out[ii, 1] = kid[:ii.size]
            out[ii, 2] = kid[ii.size:]
        expanded.append(out)

    # the table, the diagram's five arrays and minimisation's copies of them
    budget.check_memory(8 * 3 * 4 * sum(e.shape[0] for e in expanded))
    table = np.concatenate(expanded)
    is_leaf = table[:, 0] < 0
    d = Diagram(is_leaf, table[:, 0], np.where(is_leaf, 0, table[:, 1]), table[:, 2],
                np.where(is_leaf, table[:, 1], 0), np.concatenate(state_roots))
    pairs = np.concatenate(state_pairs)
    acc_a, acc_b = a.accepting[pairs[:, 0]], b.accepting[pairs[:, 1]]
    accepting = (acc_a & acc_b) if op is Op.AND else (acc_a | acc_b)
    if last:
        m = minimise(d, accepting, 0, budget)
        rep = pairs[m.representative]
        parts = np.concatenate([a.parts[rep[:, 0]], b.parts[rep[:, 1]]], axis=1)
        return Part(m.diagram, m.accepting, 0, parts, m), states.n
    c, block, first = quotient(d, accepting, budget)
    rep = pairs[first]
    parts = np.concatenate([a.parts[rep[:, 0]], b.parts[rep[:, 1]]], axis=1)
    return Part(c, accepting[first], int(block[0]), parts), states.n


def fold(parts: list[Part], op: Op, budget: Budget) -> tuple[Part, int]:
    """The minimal DFA of ``op`` over ``parts`` (its ``parts`` columns in their order), and
    how many pairs of states its last product explored.

    The two smallest parts are multiplied first, as Huffman merges (ties in the parts'
    order, products after the parts): a product costs about its size, and merging a big
    part with each small one in turn builds every prefix of the whole (twice the work of
    the last product for ``G p1 & F p2 .. F pn``), where a balanced tree builds it once."""
    heap = [(p.n_states, k, p, [k]) for k, p in enumerate(parts)]
    heapq.heapify(heap)
    seq = len(parts)
    explored = heap[0][2].n_states
    while len(heap) > 1:
        _, _, a, ia = heapq.heappop(heap)
        _, _, b, ib = heapq.heappop(heap)
        whole, explored = product(a, b, op, budget, last=not heap)
        heapq.heappush(heap, (whole.n_states, seq, whole, ia + ib))
        seq += 1
    _, _, whole, order = heap[0]
    whole.parts = whole.parts[:, np.argsort(order)]
    return whole, explored


def _sink(p: Part, op: Op) -> int:
    """The state that decides ``op`` (a rejecting sink for AND, an accepting one for OR), or
    -1. In a minimal DFA it is the state whose whole diagram is its own leaf."""
    n = p.n_states
    stays = np.flatnonzero((p.diagram.roots == np.arange(n)) & (p.accepting == (op is Op.OR)))
    return int(stays[0]) if stays.size else -1


def state_texts(whole: Part, texts: list[list[str]], op: Op, formula_text: str) -> list[str]:
    """Every state's obligation: the parts' obligations joined by ``&`` (``|``), leaving out
    parts that no longer constrain the whole (satisfied ones in a conjunction)."""
    m = whole.minimal
    assert m is not None, "state texts are written for the last product"
    neutral = "true" if op is Op.AND else "false"
    sep = " & " if op is Op.AND else " | "
    # Per part and state (a part has few states, the whole up to millions): its obligation
    # and what it remembers, both empty for the neutral text (left out of the join).
    split = []
    for column in texts:
        pieces = []
        for t in column:
            obligation, _, remembers = ("", "", "]") if t == neutral else t.partition(
                memory.REMEMBERS)
            pieces.append((obligation, remembers[:-1]))
        split.append(pieces)
    verdicts = m.verdicts.tolist()
    decided = {int(Verdict.SATISFIED): "true", int(Verdict.VIOLATED): "false"}
    columns = whole.parts.T.tolist()
    if not any(r for pieces in split for _, r in pieces):
        # nothing remembered (no past operators): one join per state
        owed_by = [[o for o, _ in pieces] for pieces in split]
        rows = zip(*([owed[s] for s in col] for owed, col in zip(owed_by, columns,
                                                               strict=True)), strict=True)
        out = [decided.get(v) or sep.join(filter(None, row)) or neutral
               for v, row in zip(verdicts, rows, strict=True)]
    else:
        rows = zip(*([pieces[s] for s in col] for pieces, col in zip(split, columns,
                                                                   strict=True)), strict=True)
        out = []
        for verdict, row in zip(verdicts, rows, strict=True):
            text = decided.get(verdict)
            if text is None:
                owed, facts = [], []
                for obligation, remembers in row:
                    if obligation:
                        owed.append(obligation)
                    if remembers and remembers not in facts:
                        facts.append(remembers)
                text = sep.join(owed) or neutral
                if facts:
                    text = f"{text}{memory.REMEMBERS}{', '.join(facts)}]"
            out.append(text)
    if int(m.verdicts[0]) not in (Verdict.SATISFIED, Verdict.VIOLATED):
        out[0] = formula_text  # as the monolithic construction writes the initial state
    return out


def parenthesised(f: Formula, text: str, op: Op) -> str:
    """``text`` (of ``f``) as an operand of ``op`` (AND or OR) at the grammar's precedence."""
    need = ir._AND if op is Op.AND else ir._OR
    return text if ir._level(f, True) > need else f"({text})"
