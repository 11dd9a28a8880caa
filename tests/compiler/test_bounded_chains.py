"""Bounded operators' unrolled chains decided by their lengths (``ir.chain``): the residuals'
implication test (``F[0,n] phi -> F[0,m] phi`` iff n <= m) and the structural order
(``ir.compare``) take a shortcut on chains of one body instead of walking them link by link,
which made ``G(a -> F[1,1000] b)`` take minutes. The shortcuts must change nothing: the
same minimal DFA, array for array (the compiler numbers states canonically), as compiling
with them switched off, and the same order of formulas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from languages import difference, of_automaton
from ltlf_gen import future_formulas
from mona_ref import load_ref

from speclang.compiler import compile_formula, ir
from speclang.compiler.ir import Formula

A, B, C = ir.Atom("a"), ir.Atom("b"), ir.Atom("c")

# Bodies of bounded operators: small random formulas (without past, so that the bodies'
# own cost stays small) and the atoms the response patterns use.
_bodies = st.one_of(st.sampled_from([A, B, C, ir.Not(B), ir.And(B, C), ir.Or(B, C)]),
                    future_formulas(("a", "b", "c"), max_leaves=3, past=False))
_interval = st.tuples(st.integers(0, 12), st.integers(0, 12)).map(lambda t: (min(t), max(t)))


@st.composite
def bounded_formulas(draw: st.DrawFn) -> Formula:
    """One or two bounded operators with bounds <= 12, in the response / precedence /
    invariance shapes or combined freely."""
    def one() -> Formula:
        lo, hi = draw(_interval)
        op = draw(st.sampled_from([ir.BoundedEventually, ir.BoundedAlways]))
        return op(lo, hi, draw(_bodies))

    shape = draw(st.integers(0, 5))
    if shape == 0:
        return one()
    if shape == 1:  # response G(p -> F[lo,hi] q) / G(p -> G[lo,hi] q)
        return ir.Always(ir.Implies(draw(_bodies), one()))
    if shape == 2:  # precedence-like: !q W p with a bounded side
        return ir.WeakUntil(one(), draw(_bodies))
    if shape == 3:
        return ir.And(one(), one())
    if shape == 4:
        return ir.Or(one(), one())
    return ir.Always(ir.Implies(draw(_bodies), ir.And(one(), one())))


def _compile(f: Formula, shortcuts: bool):  # noqa: ANN202
    ir.trim_memos(0)  # nothing decided with (or without) the shortcuts is reused
    with ir.chain_shortcuts(shortcuts):
        return compile_formula(f, max_states=20_000)


def _same_dfa(x, y) -> None:  # noqa: ANN001
    assert x.props == y.props
    for field in ("accepting", "verdicts", "dd_var", "dd_lo", "dd_hi", "roots"):
        assert np.array_equal(getattr(x, field), getattr(y, field)), field
    assert difference(of_automaton(x), of_automaton(y), x.props) is None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bounded_formulas())
def test_shortcuts_give_the_same_minimal_dfa(f: Formula) -> None:
    _same_dfa(_compile(f, True), _compile(f, False))


@pytest.mark.parametrize("text", [
    "G(a -> F[0,12] b)", "G(a -> F[1,12] b)", "G(a -> G[0,12] b)", "G(a -> G[3,12] !b)",
    "F[0,12] a", "G[0,12] a", "(!b W a) & G(a -> F[2,9] b)", "F[0,7] a & F[0,12] a",
])
def test_response_and_precedence_patterns(text: str) -> None:
    import speclang

    f = speclang.parse_formula(text)
    _same_dfa(_compile(f, True), _compile(f, False))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["F", "G"]), st.integers(1, 15), _bodies),
                min_size=2, max_size=6))
def test_chain_order_is_the_structural_order(items: list) -> None:
    chains = [(ir.BoundedEventually if k == "F" else ir.BoundedAlways)(0, n, body)
              for k, n, body in items]
    chains += [ir.Next(c) for c in chains]  # residuals compare chains below a next-link
    with ir.chain_shortcuts(True):
        fast = [[ir.compare(x, y) for y in chains] for x in chains]
    with ir.chain_shortcuts(False):
        slow = [[ir.compare(x, y) for y in chains] for x in chains]
    assert fast == slow


def test_bound_1000_has_its_minimal_states() -> None:
    import speclang

    aut = speclang.compile_formula("G(a -> F[1,1000] b)")
    assert aut.n_states == 1002
    quiet = [set()] * 999
    assert aut.accepts([{"a"}, *quiet, {"b"}])  # b at the last step of the window
    assert not aut.accepts([{"a"}, *quiet, set(), {"b"}])  # one step too late
    assert not aut.accepts([{"a", "b"}])  # F[1,..]: b at the trigger's own step is too early
    assert speclang.compile_formula("F[0,400] a").n_states == 403
    assert speclang.compile_formula("G(a -> G[1,1000] b)").n_states == 1002


@pytest.mark.mona
@pytest.mark.parametrize("text", [
    "G(a -> F[1,6] b)", "G(a -> G[0,5] !b)", "F[2,6] a", "(!b W a) & G(a -> F[0,4] b)",
    "G[1,4] a | F[0,3] b",
])
def test_bounded_patterns_match_mona(text: str) -> None:
    import speclang

    ref = load_ref()
    f = speclang.parse_formula(text)
    mona = ref.mona_dfa(ref.to_ltlf2dfa(f))
    aut = compile_formula(f)
    assert aut.n_states == mona.n_states, text
    assert bool(aut.accepting[aut.initial]) == mona.initial_accepting, text
    # exact language: MONA's DFA against ours over every trace
    from languages import of_mona

    assert difference(of_automaton(aut), of_mona(mona), aut.props) is None, text
