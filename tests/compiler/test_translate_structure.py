"""Structural guarantees of compiled automata: minimality, canonical numbering, letter
classes, symbolic alphabets, budgets, unsupported input, product monitors."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from ltlf_gen import future_formulas, past_formulas, traces

from speclang import compile_formula
from speclang.compiler import BudgetExceeded, UnsupportedFormula, ir, product
from speclang.compiler.automaton import Verdict
from speclang.compiler.build import reminimise
from speclang.compiler.ir import Formula

a, b, c = ir.Atom("a"), ir.Atom("b"), ir.Atom("c")
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# Counts checked by hand against MONA (through LTLf2DFA) under its empty-trace convention.
@pytest.mark.parametrize(
    ("text", "states", "initial_accepting"),
    [
        ("!a", 3, True),
        ("last", 3, True),
        ("WX a", 4, True),
        ("X a", 4, False),
        ("G a", 2, True),
        ("F a", 2, False),
        ("true", 1, True),
        ("false", 1, False),
        ("end", 2, True),
    ],
)
def test_small_automata_match_mona(text: str, states: int, initial_accepting: bool) -> None:
    aut = compile_formula(text)
    assert aut.n_states == states
    assert bool(aut.accepting[0]) is initial_accepting


def _arrays(aut) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    return [aut.accepting, aut.verdicts, aut.dd_var, aut.dd_lo, aut.dd_hi, aut.roots]


@FAST
@given(future_formulas(max_leaves=5))
def test_minimisation_is_idempotent(f: Formula) -> None:
    aut = compile_formula(f)
    again = reminimise(aut)
    for x, y in zip(_arrays(aut), _arrays(again), strict=True):
        assert np.array_equal(x, y)
    assert again.residuals == aut.residuals


def _brute_minimal_count(aut) -> int:  # type: ignore[no-untyped-def]
    """Number of Myhill-Nerode classes by explicit letters (independent of the diagram code)."""
    letters = [
        dict(zip(aut.props, bits, strict=True))
        for bits in itertools.product((False, True), repeat=len(aut.props))
    ]
    succ = [[aut.step(q, letter) for letter in letters] for q in range(aut.n_states)]
    block = [int(x) for x in aut.accepting]
    while True:
        sigs = [(block[q], tuple(block[t] for t in succ[q])) for q in range(aut.n_states)]
        ids = {s: i for i, s in enumerate(dict.fromkeys(sigs))}
        new = [ids[s] for s in sigs]
        if len(set(new)) == len(set(block)):
            return len(set(new))
        block = new


@FAST
@given(future_formulas(("a", "b", "c"), max_leaves=5))
def test_compiled_automata_are_minimal_and_reachable(f: Formula) -> None:
    aut = compile_formula(f)
    assert _brute_minimal_count(aut) == aut.n_states
    # BFS numbering: visiting successors in diagram order reproduces 0, 1, 2, ...
    order, seen = [0], {0}
    for q in order:
        for t in aut.successors(q):
            if t not in seen:
                seen.add(t)
                order.append(t)
    assert order == list(range(aut.n_states))


@FAST
@given(future_formulas(max_leaves=5), traces(max_len=5))
def test_letter_classes_agree_with_the_diagram(f: Formula, trace: list) -> None:
    aut = compile_formula(f)
    assert aut.delta is not None
    vals = np.array([[p in s for p in aut.props] for s in trace], dtype=bool).reshape(
        len(trace), len(aut.props)
    )
    for q in range(aut.n_states):
        states = np.full(len(trace), q)
        dense = aut.step_batch(states, vals)
        walked = np.array([aut.step(q, v) for v in vals])
        assert np.array_equal(dense, walked)


def test_violation_sink_is_unique() -> None:
    aut = compile_formula("G(a -> X b) & G(c -> F b)")
    assert (aut.verdicts == Verdict.VIOLATED).sum() == 1


def test_64_propositions_compile_symbolically() -> None:
    props = [ir.Atom(f"p{i:02d}") for i in range(64)]
    f = ir.And(*[ir.Always(ir.Not(ir.And(props[2 * i], props[2 * i + 1]))) for i in range(32)])
    start = time.monotonic()
    aut = compile_formula(f)
    assert time.monotonic() - start < 10
    assert aut.n_states == 2
    ok = {"p00", "p03", "p05"}
    assert aut.run([ok, ok]) == [0, 0]
    assert aut.run([ok, {"p62", "p63"}]) == [0, 1]
    assert aut.verdict(1) is Verdict.VIOLATED


def _gfand(n: int) -> Formula:
    return ir.And(
        ir.Always(ir.Atom("p1")), *[ir.Eventually(ir.Atom(f"p{i}")) for i in range(2, n + 1)]
    )


def test_state_budget_is_a_clear_error() -> None:
    start = time.monotonic()
    with pytest.raises(BudgetExceeded) as info:
        compile_formula(_gfand(20), name="gf20", max_states=1000)
    assert time.monotonic() - start < 10
    assert info.value.spec == "gf20" and info.value.budget == "max_states"
    assert "gf20" in str(info.value) and "max_states=1000" in str(info.value)


def test_timeout_is_honoured() -> None:
    start = time.monotonic()
    with pytest.raises(BudgetExceeded) as info:
        compile_formula(_gfand(24), name="big", max_states=10**9, timeout=0.5)
    assert info.value.budget == "timeout"
    assert time.monotonic() - start < 5


def test_future_inside_past_is_unsupported() -> None:
    with pytest.raises(UnsupportedFormula, match="F a"):
        compile_formula(ir.Once(ir.Eventually(a)))


def test_pure_past_formula_is_judged_at_each_step() -> None:
    aut = compile_formula(ir.Historically(ir.Implies(b, ir.Yesterday(a))))
    q = aut.initial
    expected = [True, True, False, False]  # b at step 1 has no yesterday; then H fails
    for letter, ok in zip([{"a"}, {"b"}, {"b"}, {"a"}], expected, strict=True):
        q = aut.step(q, letter)
        assert bool(aut.accepting[q]) is ok
    assert aut.verdict(q) is Verdict.VIOLATED


@FAST
@given(
    future_formulas(("a", "b"), max_leaves=4),
    past_formulas(("b", "c"), max_leaves=4),
    traces(("a", "b", "c"), max_len=5),
)
def test_product_agrees_with_its_parts(f: Formula, g: Formula, trace: list) -> None:
    fa, ga = compile_formula(f, name="f"), compile_formula(g, name="g")
    mon = product([fa, ga])
    assert mon.props == tuple(sorted(set(fa.props) | set(ga.props)))
    q, qf, qg = mon.initial, fa.initial, ga.initial
    for letter in trace:
        q = mon.step(q, {p for p in letter if p in mon.props})
        qf = fa.step(qf, {p for p in letter if p in fa.props})
        qg = ga.step(qg, {p for p in letter if p in ga.props})
        assert tuple(mon.part_states[q]) == (qf, qg)
        assert mon.part_verdicts(q) == [fa.verdict(qf), ga.verdict(qg)]
        assert bool(mon.accepting[q]) == bool(fa.accepting[qf] and ga.accepting[qg])


def _seq_f(n: int) -> Formula:
    f = ir.Eventually(ir.Atom(f"p{n}"))
    for i in range(n - 1, 0, -1):
        f = ir.Eventually(ir.And(ir.Atom(f"p{i}"), f))
    return f


def _u_right(n: int) -> Formula:
    f = ir.Atom(f"p{n}")
    for i in range(n - 1, 0, -1):
        f = ir.Until(ir.Atom(f"p{i}"), f)
    return f


# Minimal state counts of the scalable families (as MONA reports them): gfand n has
# 2**(n-1) + 1 states, the nested eventualities and untils n + 1, G(a -> F[0,k] b) k + 2.
@pytest.mark.parametrize(
    ("formula", "states"),
    [
        (_gfand(10), 513),
        (_seq_f(12), 13),
        (_u_right(12), 13),
        (ir.Always(ir.Implies(a, ir.BoundedEventually(0, 24, b))), 26),
    ],
    ids=["gfand10", "seqF12", "uright12", "bounded24"],
)
def test_scalable_families_have_their_minimal_sizes(formula: Formula, states: int) -> None:
    aut = compile_formula(formula)
    assert aut.n_states == states
    # Derivatives with reduced residuals explore (almost) only the minimal states.
    assert aut.meta["explored_states"] <= states + 1


def test_node_budget_bounds_memory() -> None:
    with pytest.raises(BudgetExceeded) as info:
        compile_formula(_gfand(16), name="nodes", max_nodes=20_000)
    assert info.value.budget == "max_nodes" and info.value.limit == 20_000
