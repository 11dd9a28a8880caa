"""The residual simplification's work limit (compiler/residuals.py): the implication tests
only shrink residuals, so a simplification that runs out of work keeps the exact,
unabsorbed clauses and the minimised automaton is the same; and a compilation stops within
its timeout however large the simplifications it asks for."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from languages import difference, of_automaton
from ltlf_gen import future_formulas

import speclang
from speclang.compiler import BudgetExceeded, compile_formula, ir, residuals
from speclang.compiler.ir import Formula
from speclang.testing import random_declare


def _fresh(f: Formula, limit: int | None = None):  # noqa: ANN202
    """Compile with empty memo tables, so nothing simplified earlier is reused."""
    ir.trim_memos(0)
    if limit is None:
        return compile_formula(f)
    with residuals.work_limit(limit):
        return compile_formula(f)


@settings(max_examples=150, deadline=None)
@given(future_formulas(max_leaves=7))
def test_no_simplification_gives_the_same_minimal_dfa(f: Formula) -> None:
    full = _fresh(f)
    bare = _fresh(f, 0)
    assert bare.n_states == full.n_states
    assert sorted(bare.verdicts.tolist()) == sorted(full.verdicts.tolist())
    assert difference(of_automaton(full), of_automaton(bare), full.props) is None


def test_the_limit_really_switches_simplification_off() -> None:
    # `p1 U (p2 U (p3 U p4))`: absorption (`p3 U p4` implies the rest) keeps the explored
    # residuals at the minimal count; without it more are explored, then merged.
    f = speclang.parse_formula("p1 U (p2 U (p3 U p4))")
    full, bare = _fresh(f), _fresh(f, 0)
    assert full.meta["explored_states"] < bare.meta["explored_states"]
    assert full.n_states == bare.n_states == 5


@pytest.mark.parametrize("seed", [0, 1])
def test_timeout_is_prompt_on_a_large_random_conjunction(seed: int) -> None:
    f = speclang.parse_formula(random_declare(seed, 50, 50))
    ir.trim_memos(0)
    start = time.monotonic()
    with pytest.raises(BudgetExceeded) as exc:
        compile_formula(f, timeout=1)
    elapsed = time.monotonic() - start
    assert exc.value.budget == "timeout"
    assert elapsed < 1 * 3 + 2, elapsed  # generous: the suite may share a loaded machine
