"""State counts and languages against LTLf2DFA + MONA (needs both; marked ``mona``).

Every call goes through benchmarks/ltlf2dfa_ref.py, which serialises LTLf2DFA with a lock.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ltlf_gen import future_formulas, past_formulas, traces
from mona_ref import load_ref

from speclang import compile_formula
from speclang.compiler.ir import Formula

pytestmark = pytest.mark.mona



PROPS = ("a", "b", "c")


def _compare(f: Formula, sample_traces: list[list[frozenset[str]]]) -> None:
    ref = load_ref()
    text = ref.to_ltlf2dfa(f)
    mona = ref.mona_dfa(text)
    aut = compile_formula(f)
    assert aut.n_states == mona.n_states, text
    assert bool(aut.accepting[aut.initial]) == mona.initial_accepting, text
    for trace in sample_traces:
        letters = [[p for p in step if p in mona.props] for step in trace]
        assert aut.accepts([{p for p in s if p in aut.props} for s in trace]) == mona.accepts(
            letters
        ), f"{text} on {trace}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(future_formulas(PROPS, max_leaves=5, past=False), st.lists(traces(PROPS, 5), max_size=5))
def test_random_future_formulas_match_mona(f: Formula, sample: list) -> None:
    _compare(f, sample)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(past_formulas(PROPS, max_leaves=5), st.lists(traces(PROPS, 5), max_size=5))
def test_random_pure_past_formulas_match_mona_ppltl(f: Formula, sample: list) -> None:
    if not f.is_pure_past:  # a formula without temporal operators is a future formula
        return
    ref = load_ref()
    text = ref.to_ppltl(f)
    mona = ref.mona_dfa(text, past=True)
    aut = compile_formula(f)
    assert aut.n_states == mona.n_states, text
    assert bool(aut.accepting[aut.initial]) == mona.initial_accepting, text
    for trace in sample:
        letters = [[p for p in step if p in mona.props] for step in trace]
        assert aut.accepts([{p for p in s if p in aut.props} for s in trace]) == mona.accepts(
            letters
        ), f"{text} on {trace}"


FAMILIES = [
    "G(a -> F(b))",
    "F(a & F(b & F(c)))",
    "a U (b U c)",
    "G(a -> X(b | X(c)))",
    "(G(a) & F(b)) | (F(c) & WX(a))",
    "!(X(a)) & (b R c)",
    "G(last -> a)",
]


@pytest.mark.parametrize("text", FAMILIES)
def test_formula_families_match_mona(text: str) -> None:
    ref = load_ref()
    mona = ref.mona_dfa(text)
    aut = compile_formula(text)
    assert aut.n_states == mona.n_states
    assert bool(aut.accepting[0]) == mona.initial_accepting
