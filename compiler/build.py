"""From a formula to the :class:`~compiler.automaton.Automaton` every monitor runs on:
explore derivatives, minimise, number canonically, attach verdicts and letter classes."""

from __future__ import annotations

import numpy as np

from compiler import ir
from compiler.automaton import Automaton
from compiler.budget import Budget
from compiler.classes import attach_letter_classes
from compiler.minimise import Diagram, Minimal, minimise
from compiler.mtbdd import LEAF
from compiler.translate import explore


def diagram_from_mtbdd(var: list[int], lo: list[int], hi: list[int], values: list,
                       roots: list[int]) -> Diagram:
    v = np.asarray(var, dtype=np.int64)
    lo_a = np.asarray(lo, dtype=np.int64)
    is_leaf = v == LEAF
    labels = np.zeros(v.shape[0], dtype=np.int64)
    leaves = np.flatnonzero(is_leaf)
    if leaves.size:
        labels[leaves] = np.asarray(values, dtype=np.int64)[lo_a[leaves]]
    return Diagram(is_leaf, v, lo_a, np.asarray(hi, dtype=np.int64), labels,
                   np.asarray(roots, dtype=np.int64))


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
    ex = explore(formula, budget)
    dd = ex.dd
    m = minimise(diagram_from_mtbdd(dd.var, dd.lo, dd.hi, dd.values, ex.roots),
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
