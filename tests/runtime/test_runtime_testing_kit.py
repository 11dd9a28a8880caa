"""speclang.testing: the strategies generate what they promise and the state machine
catches wrong monitors (checked with deliberately broken automata)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, run_state_machine_as_test

import speclang
from speclang import compile_formula
from speclang.compiler import ir
from speclang.compiler.automaton import Verdict
from speclang.testing import (
    distance_to_violation,
    formulas,
    monitor_state_machine,
    traces,
    valuations,
)

FAST = settings(max_examples=20, stateful_step_count=6, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    "text", ["G (a -> X b)", "a U b", "H (a -> Y b)", "F[1,2] a & G !b", "G (b -> O a)"]
)
def test_state_machine_accepts_correct_monitors(text):
    f = speclang.parse_formula(text)
    run_state_machine_as_test(monitor_state_machine(compile_formula(f), f), settings=FAST)


def test_subclass_adds_a_user_invariant():
    f = speclang.parse_formula("G (door -> O key)")
    base = monitor_state_machine(compile_formula(f), f)
    checked = []

    class NoViolationWithoutDoor(base):  # type: ignore[misc, valid-type]
        @invariant()
        def no_violation_before_the_door(self):
            if not any("door" in letter for letter in self.trace):
                checked.append(self.q)
                assert self.aut.verdict(self.q) != Verdict.VIOLATED

    run_state_machine_as_test(NoViolationWithoutDoor, settings=FAST)
    assert checked


def test_state_machine_catches_wrong_acceptance():
    wrong = compile_formula("G a")
    with pytest.raises(AssertionError, match="reference says"):
        run_state_machine_as_test(
            monitor_state_machine(wrong, speclang.parse_formula("F a")), settings=FAST
        )


def test_state_machine_catches_wrong_verdict():
    aut = compile_formula("G !a")
    verdicts = np.array(aut.verdicts, copy=True)
    verdicts[verdicts == Verdict.VIOLATED] = Verdict.PRESUMABLY_VIOLATED
    mislabelled = dataclasses.replace(aut, verdicts=verdicts)
    with pytest.raises(AssertionError, match="verdict presumably_violated != reference violated"):
        run_state_machine_as_test(
            monitor_state_machine(mislabelled, speclang.parse_formula("G !a")), settings=FAST
        )


@settings(max_examples=50, database=None, deadline=None)
@given(valuations(["x", "y", "z"]))
def test_valuations_stay_within_props(letter):
    assert letter <= {"x", "y", "z"}


def test_formulas_use_every_operator_and_only_given_props():
    seen_ops: set[ir.Op] = set()

    @settings(max_examples=300, database=None, derandomize=True, deadline=None)
    @given(formulas(["p", "q"], max_depth=3))
    def collect(f):
        assert f.atoms <= {"p", "q"}
        seen_ops.update(g.op for g in f.subformulas())

    collect()
    assert seen_ops == set(ir.Op)


def test_every_generated_formula_compiles():
    """formulas() draws only what the compiler accepts (it once drew `Y WX false`: a future
    operator under a past one, which compile_formula rejects with UnsupportedFormula)."""
    @settings(max_examples=300, database=None, derandomize=True, deadline=None)
    @given(formulas(["p", "q"], max_depth=3))
    def compiles(f):
        compile_formula(f)

    compiles()


def violation_rate(aut, biased: bool) -> float:
    hits: list[bool] = []

    @settings(max_examples=100, database=None, derandomize=True, deadline=None)
    @given(traces(aut.props, min_size=4, max_size=4, bias_toward=aut if biased else None))
    def run(trace):
        hits.append(aut.verdict(aut.run(trace)[-1]) == Verdict.VIOLATED)

    run()
    return sum(hits) / len(hits)


def test_bias_makes_violations_common():
    aut = compile_formula("G !(a & !b & !c)")
    rates = {biased: violation_rate(aut, biased) for biased in (False, True)}
    # one specific letter of eight violates, and Hypothesis favours all-true/all-false sets,
    # so unbiased traces rarely violate; with the bias, heads at any step suffices
    assert rates[True] > 0.8 and rates[False] < 0.4


def test_distance_to_violation():
    aut = compile_formula("G (a -> X !b)")
    dist = distance_to_violation(aut)
    sink = aut.violation_sink
    assert dist[sink] == 0 and dist[aut.initial] == 2


def test_traces_validate_sizes():
    with pytest.raises(ValueError, match="min_size"):
        traces(["a"], min_size=3, max_size=1)


@settings(max_examples=30, database=None, deadline=None)
@given(st.data())
def test_biased_traces_respect_sizes_and_props(data):
    aut = compile_formula("G (a -> X b)")
    trace = data.draw(traces(["a", "b", "c"], min_size=2, max_size=5, bias_toward=aut))
    assert 2 <= len(trace) <= 5 and all(letter <= {"a", "b", "c"} for letter in trace)
