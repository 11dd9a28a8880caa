"""Product monitors: several compiled specs stepped as one automaton.

The product runs over the union of the parts' propositions; its states are the reachable
tuples of part states (BFS order, successors in decision-diagram order). It is deliberately
*not* minimised: every product state must map back to one state per part, so each spec
keeps its own verdict (``part_states``, ``part_verdicts``). Its own ``accepting`` and
``verdicts`` are those of the conjunction of the parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from speclang.compiler.automaton import Automaton, Verdict, defer_letter_classes
from speclang.compiler.budget import (
    DEFAULT_MAX_MEMORY,
    DEFAULT_MAX_NODES,
    DEFAULT_MAX_STATES,
    DEFAULT_TIMEOUT,
    Budget,
)
from speclang.compiler.classes import attach_letter_classes
from speclang.compiler.minimise import bfs_order, canonical_diagram, verdicts
from speclang.compiler.mtbdd import MTBDD


@dataclass(eq=False)
class ProductMonitor(Automaton):
    parts: tuple[Automaton, ...] = ()
    part_states: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int32))

    @property
    def part_names(self) -> list[str]:
        return [p.name or p.formula or f"part{i}" for i, p in enumerate(self.parts)]

    def part_verdicts(self, state: int) -> list[Verdict]:
        """The verdict of every part in product state ``state``."""
        return [
            p.verdict(int(s)) for p, s in zip(self.parts, self.part_states[state], strict=True)
        ]

    def part_verdict_table(self) -> np.ndarray:
        """int8[n_states, n_parts] verdict codes, for vectorised lookups."""
        cols = [p.verdicts[self.part_states[:, j]] for j, p in enumerate(self.parts)]
        return np.stack(cols, axis=1).astype(np.int8) if cols else np.zeros((self.n_states, 0))


def build_product(
    automata: list[Automaton],
    *,
    max_states: int = DEFAULT_MAX_STATES,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    name: str | None = None,
) -> ProductMonitor:
    if not automata:
        raise ValueError("product() needs at least one automaton")
    label = name or "product(" + ", ".join(a.name or a.formula or "?" for a in automata) + ")"
    budget = Budget(label, max_states=max_states, max_nodes=max_nodes, timeout=timeout,
                    max_memory=max_memory)
    props = tuple(sorted(set().union(*(a.props for a in automata))))
    pindex = {p: i for i, p in enumerate(props)}
    dd = MTBDD(budget)
    k = len(automata)

    # Each part's diagram, copied with its variables renamed into the union order (both
    # orders are sorted, so the renaming is monotone and the copies stay ordered).
    copies: list[dict[int, int]] = [{} for _ in automata]

    def copy(j: int, node: int) -> int:
        memo = copies[j]
        r = memo.get(node)
        if r is None:
            a = automata[j]
            v = int(a.dd_var[node])
            if v < 0:
                r = dd.leaf(("part", int(a.dd_lo[node])))
            else:
                r = dd.mk(pindex[a.props[v]], copy(j, int(a.dd_lo[node])),
                          copy(j, int(a.dd_hi[node])))
            memo[node] = r
        return r

    def start(x: Any) -> Any:
        return (x[1],)

    def extend(x: Any, y: Any) -> Any:
        return (*x, y[1])

    start_memo: dict[int, int] = {}
    ext_memo: dict[tuple[int, int], int] = {}
    to_state: dict[int, int] = {}
    tuples: list[tuple[int, ...]] = [tuple(a.initial for a in automata)]
    ids: dict[tuple[int, ...], int] = {tuples[0]: 0}

    def state_of(t: Any) -> int:
        q = ids.get(t)
        if q is None:
            q = len(tuples)
            budget.check_states(q + 1)
            ids[t] = q
            tuples.append(t)
        return q

    sdd = MTBDD(budget)
    roots: list[int] = []
    q = 0
    while q < len(tuples):
        t = tuples[q]
        node = dd.map_leaves(start, copy(0, int(automata[0].roots[t[0]])), start_memo)
        for j in range(1, k):
            node = dd.apply(extend, node, copy(j, int(automata[j].roots[t[j]])), ext_memo)
        roots.append(dd.map_leaves(state_of, node, to_state, sdd))
        q += 1
        if q & 63 == 0:
            budget.check_time()

    from speclang.compiler.build import diagram_from_mtbdd

    n = len(tuples)
    d = diagram_from_mtbdd(sdd.var, sdd.lo, sdd.hi, sdd.values, roots)
    first = canonical_diagram(d, np.arange(n, dtype=np.int64), n)
    new_id = bfs_order(first, 0)
    final = canonical_diagram(d, new_id, n)
    old_of = np.empty(n, dtype=np.int64)
    old_of[new_id] = np.arange(n)
    final.roots = final.roots[old_of]
    part_states = np.asarray(tuples, dtype=np.int32)[old_of].reshape(n, k)
    acc = np.ones(n, dtype=bool)
    for j, a in enumerate(automata):
        acc &= a.accepting[part_states[:, j]]
    residuals = tuple(
        " & ".join(
            f"({automata[j].residuals[int(s)]})" for j, s in enumerate(row)
        )
        for row in part_states
    )
    mon = ProductMonitor(
        props=props,
        accepting=acc,
        verdicts=verdicts(final, acc),
        residuals=residuals,
        dd_var=final.var,
        dd_lo=final.lo,
        dd_hi=final.hi,
        roots=final.roots,
        name=label,
        formula=" & ".join(f"({a.formula})" for a in automata if a.formula) or None,
        meta={"parts": [a.name for a in automata]},
        parts=tuple(automata),
        part_states=part_states,
    )
    # built when first read, as for a compiled automaton (compiler.automaton)
    defer_letter_classes(mon, attach_letter_classes)
    return mon
