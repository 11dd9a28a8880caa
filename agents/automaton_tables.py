"""Build :class:`~speclang.compiler.automaton.Automaton` objects from an explicit transition
function.

Used for hand-written reference monitors (tests, and specs written directly as tables) so that
agent code only ever consumes the shared ``Automaton`` contract, whatever produced it.
The letter alphabet is enumerated, so this is meant for a handful of propositions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from speclang.compiler.automaton import Automaton, Verdict

MAX_TABLE_PROPS = 12


def _letter_sets(props: Sequence[str]) -> list[frozenset[str]]:
    # Letter index L has props[i] true iff bit i of L is set.
    return [
        frozenset(p for i, p in enumerate(props) if (L >> i) & 1) for L in range(1 << len(props))
    ]


class _Diagram:
    """A reduced, shared decision diagram over letter bits with integer leaves."""

    def __init__(self) -> None:
        self.var: list[int] = []
        self.lo: list[int] = []
        self.hi: list[int] = []
        self._unique: dict[tuple[int, int, int], int] = {}

    def _node(self, var: int, lo: int, hi: int) -> int:
        key = (var, lo, hi)
        found = self._unique.get(key)
        if found is None:
            found = len(self.var)
            self.var.append(var)
            self.lo.append(lo)
            self.hi.append(hi)
            self._unique[key] = found
        return found

    def build(self, values: np.ndarray, var: int = 0) -> int:
        if np.all(values == values[0]):
            return self._node(-1, int(values[0]), 0)
        lo = self.build(values[0::2], var + 1)
        hi = self.build(values[1::2], var + 1)
        return lo if lo == hi else self._node(var, lo, hi)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.asarray(self.var, dtype=np.int32),
            np.asarray(self.lo, dtype=np.int32),
            np.asarray(self.hi, dtype=np.int32),
        )


def table_automaton(
    props: Sequence[str],
    n_states: int,
    step: Callable[[int, frozenset[str]], int],
    accepting: Sequence[bool],
    *,
    initial: int = 0,
    name: str | None = None,
    formula: str | None = None,
) -> Automaton:
    """An ``Automaton`` from ``step(state, set_of_true_props) -> state``.

    States are renumbered in BFS order from ``initial`` (unreachable ones dropped), as the
    contract requires; letter classes and the dense ``delta`` table are always filled in.
    """
    props = tuple(sorted(props))
    if len(props) > MAX_TABLE_PROPS:
        raise ValueError(f"table automata enumerate letters; {len(props)} props is too many")
    letters = _letter_sets(props)
    raw = np.array([[step(q, L) for L in letters] for q in range(n_states)], dtype=np.int64)

    order: list[int] = []
    index: dict[int, int] = {}
    queue = deque([initial])
    index[initial] = 0
    while queue:
        q = queue.popleft()
        order.append(q)
        for t in raw[q]:
            t = int(t)
            if t not in index:
                index[t] = len(index)
                queue.append(t)
    table = np.array([[index[int(t)] for t in raw[q]] for q in order], dtype=np.int64)
    acc = np.array([bool(accepting[q]) for q in order], dtype=bool)
    n = len(order)

    # Letters that every state treats alike form one class.
    columns: dict[tuple[int, ...], int] = {}
    class_of = np.array(
        [columns.setdefault(tuple(table[:, L]), len(columns)) for L in range(len(letters))],
        dtype=np.int64,
    )
    delta = np.zeros((n, len(columns)), dtype=np.int32)
    for L, c in enumerate(class_of):
        delta[:, c] = table[:, L]

    trans = _Diagram()
    roots = np.array([trans.build(table[q]) for q in range(n)], dtype=np.int32)
    classes = _Diagram()
    classes.build(class_of)
    cvar, clo, chi = classes.arrays()
    # The class diagram is walked from node 0, so its root must come first.
    croot = len(cvar) - 1
    perm = np.r_[croot, np.arange(croot)]
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    cvar, clo, chi = cvar[perm], clo[perm], chi[perm]
    inner = cvar >= 0
    clo = np.where(inner, inv[clo], clo).astype(np.int32)
    chi = np.where(inner, inv[chi], chi).astype(np.int32)

    verdicts = _verdicts(table, acc)
    dvar, dlo, dhi = trans.arrays()
    return Automaton(
        props=props,
        accepting=acc,
        verdicts=verdicts,
        residuals=tuple(f"q{q}" for q in range(n)),
        dd_var=dvar,
        dd_lo=dlo,
        dd_hi=dhi,
        roots=roots,
        initial=0,
        class_dd_var=cvar,
        class_dd_lo=clo,
        class_dd_hi=chi,
        delta=delta,
        name=name,
        formula=formula,
        meta={"source": "table"},
    )


def _verdicts(table: np.ndarray, acc: np.ndarray) -> np.ndarray:
    n = len(acc)
    succ = [set(int(t) for t in table[q]) for q in range(n)]
    # reach[q] = states reachable from q (including q), by fixpoint over successor sets.
    reach = [{q} | succ[q] for q in range(n)]
    changed = True
    while changed:
        changed = False
        for q in range(n):
            new = set().union(*(reach[t] for t in reach[q]))
            if len(new) > len(reach[q]):
                reach[q] = new
                changed = True
    out = np.zeros(n, dtype=np.int8)
    for q in range(n):
        if acc[q]:
            all_acc = all(acc[t] for t in reach[q])
            out[q] = Verdict.SATISFIED if all_acc else Verdict.PRESUMABLY_SATISFIED
        else:
            any_acc = any(acc[t] for t in reach[q])
            out[q] = Verdict.PRESUMABLY_VIOLATED if any_acc else Verdict.VIOLATED
    return out
