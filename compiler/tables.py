"""Automata from explicit transition tables: the one builder for monitors that are not
compiled from a formula (hand-written reference monitors, tests, examples), used through
``Automaton.from_table(props, table, accepting, **options)``.

``table[q, letter]`` is the successor of ``q``, where the letter index has bit ``i`` set
iff ``props[i]`` is true (``2**len(props)`` columns). The table is validated once here; the
result has the same shape as a compiled automaton (shared decision diagram, letter classes,
dense ``delta``, verdicts from the structure), so everything downstream treats both alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from speclang.compiler import graph

# Tabulating a transition function enumerates every letter.
MAX_FUNCTION_PROPS = 16


def table_fields(
    props: Sequence[str],
    table: np.ndarray | Sequence[Sequence[int]],
    accepting: np.ndarray | Sequence[bool],
    *,
    initial: int = 0,
    renumber: bool = False,
    residuals: Sequence[str] | None = None,
    name: str | None = None,
    formula: str | None = None,
    letter_classes: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The fields of the automaton (``Automaton(**fields)``, which is what
    :meth:`Automaton.from_table <speclang.compiler.automaton.Automaton.from_table>` returns)
    of ``table[q, letter]``. (Fields, not the automaton: the automaton's module builds it, so
    that this one stays below it.)

    With ``renumber`` the states are put in breadth-first order from ``initial`` (letters
    in index order; unreachable states dropped), the order compiled automata have, and the
    states that can never accept are merged into one violation sink; otherwise the
    numbering is kept as given. No minimisation either way. ``residuals`` are per state
    of the *given* numbering (default: empty strings)."""
    props = tuple(props)
    if list(props) != sorted(set(props)):
        raise ValueError(f"props must be sorted and distinct, got {props!r}")
    tbl = np.asarray(table, dtype=np.int64)
    acc = np.asarray(accepting, dtype=bool)
    n = acc.shape[0]
    if tbl.shape != (n, 1 << len(props)):
        raise ValueError(f"table must have shape ({n}, {1 << len(props)}), got {tbl.shape}")
    if tbl.size and (tbl.min() < 0 or tbl.max() >= n):
        raise ValueError("table contains a target outside 0..n-1")
    if not 0 <= initial < n:
        raise ValueError(f"initial state {initial} is not in 0..{n - 1}")
    res = list(residuals) if residuals is not None else ["" for _ in range(n)]
    if len(res) != n:
        raise ValueError(f"{len(res)} residuals for {n} states")
    if renumber:
        # States from which no accepting state is reachable all have the empty language: they
        # become one explicit violation sink, as in a minimal automaton, so that
        # ``violation_sink`` names every violated state.
        dead = ~graph.reachable([row.tolist() for row in tbl], acc, backward=True)
        if dead.any():
            tbl = np.where(dead[tbl], int(np.flatnonzero(dead)[0]), tbl)
        order = graph.bfs_order([row.tolist() for row in tbl], initial)
        index = np.full(n, -1, dtype=np.int64)
        index[order] = np.arange(len(order))
        tbl, acc = index[tbl[order]], acc[order]
        res = [res[q] for q in order]
        initial, n = 0, len(order)
    var, lo, hi, roots = _dd_from_columns(list(tbl), len(props))
    kwargs: dict[str, Any] = {}
    if letter_classes:
        _, rep, class_of = np.unique(tbl.T, axis=0, return_index=True, return_inverse=True)
        # Number classes by their first letter so ids do not depend on np.unique's sort.
        order_ = np.argsort(rep)
        renumber_ = np.empty_like(order_)
        renumber_[order_] = np.arange(order_.size)
        class_of = renumber_[np.asarray(class_of).reshape(-1)]
        cvar, clo, chi, _ = _dd_from_columns([class_of], len(props))
        kwargs.update(
            class_dd_var=cvar,
            class_dd_lo=clo,
            class_dd_hi=chi,
            delta=tbl[:, np.sort(rep)].astype(np.int32),
        )
    return dict(
        props=props,
        accepting=acc.copy(),
        verdicts=graph.structural_verdicts(acc, [np.unique(row).tolist() for row in tbl]),
        residuals=tuple(res),
        dd_var=var,
        dd_lo=lo,
        dd_hi=hi,
        roots=roots,
        initial=initial,
        name=name,
        formula=formula,
        meta=dict(meta or {}),
        **kwargs,
    )


def tabulate(
    props: Sequence[str], n_states: int, transition: Callable[[int, Mapping[str, bool]], int]
) -> np.ndarray:
    """``table[q, letter] = transition(q, {prop: bool})`` over every letter of the sorted
    ``props`` (at most :data:`MAX_FUNCTION_PROPS`), each result checked to be a state."""
    props = tuple(props)
    if len(props) > MAX_FUNCTION_PROPS:
        raise ValueError(
            f"tabulating a transition function enumerates letters: at most "
            f"{MAX_FUNCTION_PROPS} propositions, got {len(props)}"
        )
    letters = [
        {p: bool(bits >> i & 1) for i, p in enumerate(props)} for bits in range(1 << len(props))
    ]
    table = np.empty((n_states, len(letters)), dtype=np.int64)
    for q in range(n_states):
        for b, letter in enumerate(letters):
            t = transition(q, letter)
            if not 0 <= t < n_states:
                raise ValueError(f"transition({q}, {letter}) = {t} is not a state")
            table[q, b] = t
    return table


def _dd_from_columns(
    columns: Sequence[np.ndarray], n_vars: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One shared reduced ordered diagram for several functions given as value vectors over
    all ``2**n_vars`` letters (bit ``i`` of the letter index = variable ``i``); returns
    ``(var, lo, hi, roots)``."""
    var: list[int] = []
    lo: list[int] = []
    hi: list[int] = []
    unique: dict[tuple[int, int, int], int] = {}

    def node(key: tuple[int, int, int]) -> int:
        k = unique.get(key)
        if k is None:
            k = unique[key] = len(var)
            var.append(key[0])
            lo.append(key[1])
            hi.append(key[2])
        return k

    def build(values: np.ndarray, i: int) -> int:
        if i == n_vars or (values == values[0]).all():
            return node((-1, int(values[0]), 0))
        # Bit i is the lowest remaining bit of the letter index: even entries have it clear.
        a, b = build(values[0::2], i + 1), build(values[1::2], i + 1)
        return a if a == b else node((i, a, b))

    roots = [build(np.asarray(col), 0) for col in columns]
    # Children are created before parents; reversing the numbering puts the last root at
    # node 0, which is where ``classify`` starts walking a single-function class diagram.
    m = len(var)
    flip = lambda k: m - 1 - k  # noqa: E731
    v = np.asarray(var[::-1], dtype=np.int32)
    lo_a = np.asarray(lo[::-1], dtype=np.int32)
    hi_a = np.asarray(hi[::-1], dtype=np.int32)
    inner = v >= 0
    lo_a[inner] = flip(lo_a[inner])
    hi_a[inner] = flip(hi_a[inner])
    return v, lo_a, hi_a, np.asarray([flip(r) for r in roots], dtype=np.int32)
