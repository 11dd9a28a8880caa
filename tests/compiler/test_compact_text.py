"""Obligations and titles show bounded operators as written (issue 18): the unrolled chains
the lowering makes of F[lo,hi], G[lo,hi] and X[n] are folded back when printed, and the
folded text parses back to exactly the same formula."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import speclang
from speclang import compile_formula
from speclang.compiler import ir

ATOMS = [ir.Atom(n) for n in ("a", "b", "c")]


def _formulas() -> st.SearchStrategy[ir.Formula]:
    leaves = st.sampled_from(ATOMS + [ir.Not(a) for a in ATOMS])
    bound = st.integers(0, 3)

    def grow(sub: st.SearchStrategy[ir.Formula]) -> st.SearchStrategy[ir.Formula]:
        return st.one_of(
            st.builds(ir.And, sub, sub), st.builds(ir.Or, sub, sub),
            st.builds(ir.Next, sub), st.builds(ir.WeakNext, sub),
            st.builds(ir.Until, sub, sub), st.builds(ir.Always, sub),
            st.builds(ir.Implies, sub, sub),
            st.builds(lambda lo, d, f: ir.BoundedEventually(lo, lo + d, f), bound, bound, sub),
            st.builds(lambda lo, d, f: ir.BoundedAlways(lo, lo + d, f), bound, bound, sub),
            st.builds(lambda n, f: ir.NextN(n, f), st.integers(1, 4), sub),
        )

    return st.recursive(leaves, grow, max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(_formulas())
def test_compact_text_parses_back_to_the_same_formula(f: ir.Formula) -> None:
    text = ir.to_text(f, compact=True)
    assert speclang.parse_formula(text) is f, text


def test_chains_are_folded() -> None:
    a, b = ir.Atom("a"), ir.Atom("b")
    assert ir.to_text(ir.BoundedEventually(0, 3, b), compact=True) == "F[0,3] b"
    assert ir.to_text(ir.BoundedAlways(0, 2, ir.Not(b)), compact=True) == "G[0,2] !b"
    assert ir.to_text(ir.NextN(3, a), compact=True) == "X[3] a"
    folded = ir.to_text(ir.BoundedEventually(2, 4, ir.Or(a, b)), compact=True)
    assert folded == "X[2] F[0,2] (a | b)"
    response = ir.Always(ir.Implies(a, ir.BoundedEventually(0, 3, b)))
    assert ir.to_text(response) == "G (a -> b | X (b | X (b | X b)))"  # the unrolled form
    assert ir.to_text(response, compact=True) == "G (a -> F[0,3] b)"


def test_obligations_of_a_bounded_response_are_short() -> None:
    aut = compile_formula(speclang.parse_formula("G(a -> F[0,200] b)"))
    assert aut.n_states == 202
    assert aut.residuals[0] == aut.formula == "G (a -> F[0,200] b)"
    # before, each state's obligation spelled out up to 200 nested X's
    assert max(len(r) for r in aut.residuals) < 100, max(aut.residuals, key=len)
    assert "X (b | X" not in "".join(aut.residuals)
