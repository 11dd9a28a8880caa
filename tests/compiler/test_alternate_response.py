"""Declare's alternate response over many pairs (benchmarks/compile.py ``altresp``), the
issue-17 family built compositionally: ``2**k + 1`` minimal states for ``k`` pairs (MONA
agrees for small k), the language of the independent evaluator on random traces, and the
same automaton as the derivative construction of the whole formula."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest
from mona_ref import load_ref

import speclang
from speclang.compiler import reference
from speclang.compiler.budget import Budget, BudgetExceeded
from speclang.compiler.build import build_automaton

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from compile import altresp, altresp_ab  # noqa: E402 - the benchmark's family definitions

ARRAYS = ("accepting", "verdicts", "dd_var", "dd_lo", "dd_hi", "roots")


def _pairs(n: int) -> list[tuple[str, str]]:
    w = max(2, len(str(n)))
    return [(f"p{2 * i - 1:0{w}d}", f"p{2 * i:0{w}d}") for i in range(1, n // 2 + 1)]


def _trace(rng: random.Random, pairs: list[tuple[str, str]], length: int) -> list[set[str]]:
    """Random letters that mostly keep the constraints (so that traces are accepted as well
    as rejected): a request (``a``) is answered (``b``) with probability 0.6 a step."""
    out = []
    for _ in range(length):
        letter = set()
        for a, b in pairs:
            if rng.random() < 0.2:
                letter.add(a)
            if rng.random() < 0.3:
                letter.add(b)
        out.append(letter)
    return out


def test_the_family_is_the_declare_template() -> None:
    assert altresp(4)[0] == "G(p01 -> X(!p01 U p02)) & G(p03 -> X(!p03 U p04))"
    assert altresp_ab(4)[0] == "G(a1 -> X(!a1 U b1)) & G(a2 -> X(!a2 U b2))"
    from speclang.testing import DECLARE_TEMPLATES

    assert "G({a} -> X(!{a} U {b}))" in DECLARE_TEMPLATES


@pytest.mark.mona
@pytest.mark.parametrize("n", [2, 4, 6, 8, 10])
def test_state_counts_match_mona(n: int) -> None:
    ref = load_ref()
    for family in (altresp, altresp_ab):
        ours, theirs = family(n)
        mona = ref.mona_dfa(theirs)
        aut = speclang.compile_formula(ours)
        assert aut.n_states == mona.n_states == 2 ** (n // 2) + 1
        rng = random.Random(n)
        pairs = _pairs(n) if family is altresp else [(f"a{i}", f"b{i}")
                                                     for i in range(1, n // 2 + 1)]
        for _ in range(40):
            trace = _trace(rng, pairs, rng.randint(0, 8))
            letters = [[p for p in step if p in mona.props] for step in trace]
            assert aut.accepts(trace) == mona.accepts(letters), (ours, trace)


@pytest.mark.parametrize("n", [6, 12, 20])
def test_language_matches_the_reference_evaluator(n: int) -> None:
    text = altresp(n)[0]
    f = speclang.parse_formula(text)
    aut = speclang.compile_formula(f)
    assert aut.n_states == 2 ** (n // 2) + 1
    rng = random.Random(17 + n)
    seen = set()
    for _ in range(300):
        trace = _trace(rng, _pairs(n), rng.randint(1, 14))
        expected = reference.evaluate(f, trace)
        assert aut.accepts(trace) == expected, (text, trace)
        seen.add(expected)
    assert seen == {True, False}  # both outcomes were exercised


def test_composed_equals_monolithic() -> None:
    f = speclang.parse_formula(altresp(12)[0])
    composed = build_automaton(f, Budget(), compose=True)
    whole = build_automaton(f, Budget(), compose=False)
    assert composed.meta["parts"] == 6 and "parts" not in whole.meta
    for name in ARRAYS:
        assert np.array_equal(getattr(composed, name), getattr(whole, name)), name
    assert composed.n_states == 65


def test_thirty_propositions() -> None:
    """The issue's "beyond every anchor" size: 15 pairs, 32,769 minimal states."""
    aut = speclang.compile_formula(altresp(30)[0], max_states=10**6)
    assert aut.n_states == 2 ** 15 + 1
    assert aut.meta["parts"] == 15
    rng = random.Random(30)
    f = speclang.parse_formula(altresp(30)[0])
    for _ in range(30):
        trace = _trace(rng, _pairs(30), rng.randint(1, 10))
        assert aut.accepts(trace) == reference.evaluate(f, trace)


def test_budgets_hold() -> None:
    f = speclang.parse_formula(altresp(30)[0])
    with pytest.raises(BudgetExceeded) as exc:
        build_automaton(f, Budget(max_states=10_000))
    assert exc.value.budget == "max_states"
    with pytest.raises(BudgetExceeded) as exc:
        build_automaton(f, Budget(max_states=10**6, timeout=0.05))
    assert exc.value.budget == "timeout"
