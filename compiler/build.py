"""From a formula to the :class:`~compiler.automaton.Automaton` every monitor runs on:
explore derivatives, minimise, number canonically, attach verdicts and letter classes."""

from __future__ import annotations

import gc

import numpy as np

from speclang.compiler import ir
from speclang.compiler.automaton import Automaton
from speclang.compiler.budget import Budget
from speclang.compiler.classes import attach_letter_classes
from speclang.compiler.minimise import Diagram, Minimal, minimise
from speclang.compiler.mtbdd import LEAF
from speclang.compiler.translate import explore


def diagram_from_mtbdd(var: list[int], lo: list[int], hi: list[int], value_labels: list[int],
                       roots: list[int]) -> Diagram:
    """The part of an MTBDD reachable from ``roots`` as a :class:`Diagram`; a leaf holding
    value index ``i`` gets the label ``value_labels[i]``."""
    v = np.asarray(var, dtype=np.int64)
    lo_a = np.asarray(lo, dtype=np.int64)
    hi_a = np.asarray(hi, dtype=np.int64)
    root_a = np.asarray(roots, dtype=np.int64)
    is_leaf = v == LEAF
    # Reachability, top-down one level at a time (children test later propositions).
    mark = np.zeros(v.shape[0], dtype=bool)
    mark[root_a] = True
    inner = np.flatnonzero(~is_leaf)
    order = inner[np.argsort(v[inner], kind="stable")]
    if order.size:
        cuts = np.flatnonzero(np.diff(v[order])) + 1
        for idx in np.split(order, cuts):
            live = idx[mark[idx]]
            mark[lo_a[live]] = True
            mark[hi_a[live]] = True
    keep = np.flatnonzero(mark)
    new_index = np.full(v.shape[0], -1, dtype=np.int64)
    new_index[keep] = np.arange(keep.size)
    k_leaf = is_leaf[keep]
    labels = np.zeros(keep.size, dtype=np.int64)
    if k_leaf.any():
        labels[k_leaf] = np.asarray(value_labels, dtype=np.int64)[lo_a[keep[k_leaf]]]
    k_lo = np.where(k_leaf, 0, new_index[np.where(is_leaf[keep], 0, lo_a[keep])])
    k_hi = np.where(k_leaf, 0, new_index[np.where(is_leaf[keep], 0, hi_a[keep])])
    return Diagram(k_leaf, v[keep], k_lo, k_hi, labels, new_index[root_a])


def diagram_of(aut: Automaton) -> Diagram:
    var = np.asarray(aut.dd_var, dtype=np.int64)
    is_leaf = var < 0
    lo = np.asarray(aut.dd_lo, dtype=np.int64)
    return Diagram(is_leaf, var, lo, np.asarray(aut.dd_hi, dtype=np.int64),
                   np.where(is_leaf, lo, 0), np.asarray(aut.roots, dtype=np.int64))


def automaton_from_minimal(m: Minimal, props: tuple[str, ...], residuals: list[str],
                           budget: Budget | None = None, **fields: object) -> Automaton:
    c = m.diagram
    aut = Automaton(
        props=props,
        accepting=m.accepting.astype(bool),
        verdicts=m.verdicts,
        residuals=tuple(residuals),
        dd_var=c.var,
        dd_lo=c.lo,
        dd_hi=c.hi,
        roots=c.roots,
        initial=0,
        **fields,  # type: ignore[arg-type]
    )
    attach_letter_classes(aut, budget)
    return aut


def build_automaton(formula: ir.Formula, budget: Budget, *, name: str | None = None,
                    source_hash: str | None = None) -> Automaton:
    # The construction allocates millions of small tuples that stay alive in memo tables,
    # so the cyclic garbage collector keeps rescanning them (about 15% of a large
    # compilation) while finding almost nothing to free; pause it for the duration.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with ir.deep_recursion():
            return _build(formula, budget, name, source_hash)
    finally:
        if gc_was_enabled:
            gc.enable()


def _build(formula: ir.Formula, budget: Budget, name: str | None,
           source_hash: str | None) -> Automaton:
    ex = explore(formula, budget)
    dd = ex.dd
    m = minimise(diagram_from_mtbdd(dd.var, dd.lo, dd.hi, ex.leaf_states, ex.roots),
                 np.asarray(ex.accepting, dtype=bool))
    budget.check_time()
    original = ir.to_text(formula)
    residuals = [
        original if int(r) == 0 or formula.is_pure_past else ir.to_text(ex.residuals[int(r)])
        for r in m.representative
    ]
    return automaton_from_minimal(
        m, ex.props, residuals, budget, name=name, formula=original, source_hash=source_hash,
        meta={"explored_states": len(ex.roots)},
    )


def reminimise(aut: Automaton) -> Automaton:
    """Minimise and renumber an existing automaton (a no-op on compiler output: the result
    has equal arrays)."""
    m = minimise(diagram_of(aut), np.asarray(aut.accepting, dtype=bool), aut.initial)
    residuals = [aut.residuals[int(r)] for r in m.representative]
    return automaton_from_minimal(
        m, aut.props, residuals, name=aut.name, formula=aut.formula,
        source_hash=aut.source_hash, meta=dict(aut.meta),
    )
