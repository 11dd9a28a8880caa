"""Potentials swept over the decision diagram (compiler/diagram_sweep.py) against the
edge-list computations they replace on dense graphs: the same distances exactly, value
iteration equal up to rounding, on random automata and on a dense benchmark family."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from ltlf_gen import future_formulas

import speclang
from speclang.compiler import graph, shaping
from speclang.compiler.automaton import Verdict
from speclang.compiler.diagram_sweep import DiagramSweep
from speclang.compiler.ir import Formula


def _check(aut) -> None:  # noqa: ANN001
    succ = graph.successor_lists(aut)
    sweep = DiagramSweep(aut)
    assert (sweep.paths() >= np.array([len(s) for s in succ])).all()
    for goal in (aut.verdicts == Verdict.VIOLATED, np.asarray(aut.accepting, dtype=bool)):
        assert sweep.distance_to(goal).tolist() == graph.distance_to(succ, goal).tolist()
    for policy in ("random", "best"):
        by_edges = shaping.value_iteration(aut, policy=policy, dense=False)
        by_sweep = shaping.value_iteration(aut, policy=policy, dense=True)
        np.testing.assert_allclose(by_sweep, by_edges, rtol=0, atol=1e-9)
    p = np.linspace(0.1, 0.9, len(aut.props))
    np.testing.assert_allclose(shaping.value_iteration(aut, p_true=p, dense=True),
                               shaping.value_iteration(aut, p_true=p, dense=False), atol=1e-9)


@settings(max_examples=80, deadline=None)
@given(future_formulas(max_leaves=7))
def test_sweep_equals_the_edge_lists(f: Formula) -> None:
    _check(speclang.compile_formula(f))


def test_dense_family_and_all_potentials_take_the_sweep() -> None:
    # G p1 & F p2 .. F p9: 257 states, 3**8 + 1 edges; with the edge limit lowered the
    # artifact's potentials go through the sweep and agree with the edge lists.
    aut = speclang.compile_formula(" & ".join(["G p1", *[f"F p{i}" for i in range(2, 10)]]))
    _check(aut)
    sparse = shaping.all_potentials(aut)
    saved = shaping._edge_limit
    shaping._edge_limit = lambda aut: 10
    try:
        assert shaping._dense(aut) is not None
        dense = shaping.all_potentials(aut)
    finally:
        shaping._edge_limit = saved
    assert shaping._dense(aut) is None
    for kind in shaping.KINDS:
        np.testing.assert_allclose(dense[kind], sparse[kind], rtol=0, atol=1e-9)
