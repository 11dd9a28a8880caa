"""`Explainer.explain_violating_prefix` (used by the gymnasium wrapper on the step that
enters the violation sink) says exactly what replaying the episode through `step` and
asking `explain_last_violation` says."""

import pytest

import speclang
from speclang.compiler.explain import Explainer

CASES = [
    ("G !lava & G(work_bench -> O wood)", [set(), {"wood"}, {"lava"}]),
    ("G !lava & G(work_bench -> O wood)", [set(), {"work_bench"}]),
    ("G(a -> X b) & F c", [{"a"}, set()]),
    ("H(p -> Y q)", [{"q"}, {"p"}, {"p"}]),
]


@pytest.mark.parametrize(("formula", "trace"), CASES)
def test_prefix_explanation_equals_replayed_explanation(formula: str, trace: list) -> None:
    aut = speclang.compile_formula(formula)
    replayed = Explainer(aut)
    for letter in trace:
        replayed.step(letter)
    assert replayed.violation_step == len(trace), "the case must violate at its last step"
    expected = replayed.explain_last_violation()
    assert expected
    assert Explainer(aut).explain_violating_prefix(trace) == expected
