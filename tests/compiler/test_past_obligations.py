"""States of past and mixed specs show what they remember, not the whole formula again.

Before: every state of minecraft t3/t4 showed the spec's formula as its remaining
obligation (t4's satisfied state 7 too), since a past formula's residual does not change
with what was seen; the memory lives in the state's past bits (compiler.memory)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ltlf_gen import future_formulas, past_formulas, traces

import speclang
from speclang import compile_formula
from speclang.compiler import Verdict, compile_spec, reference
from speclang.compiler.explain import explain_trace
from speclang.compiler.memory import REMEMBERS

ROOT = Path(__file__).resolve().parents[2]
MINECRAFT = ROOT / "examples" / "minecraft.spec"
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")


@pytest.fixture(scope="module")
def minecraft():
    module = speclang.load(str(MINECRAFT))
    return module, {s: compile_spec(module, s) for s in ("t3", "t4")}


def _owed(text: str) -> str:
    return text.partition(REMEMBERS)[0]


@pytest.mark.parametrize("spec", ["t3", "t4"])
def test_states_do_not_all_repeat_the_formula(minecraft, spec):
    _, auts = minecraft
    aut = auts[spec]
    live = [q for q in range(aut.n_states) if aut.verdict(q) is not Verdict.VIOLATED]
    texts = {aut.residuals[q] for q in live}
    assert len(texts) == len(live), aut.residuals  # t3: 3 live states, t4: 7
    for q in live:
        speclang.parse_formula(_owed(aut.residuals[q]))  # the obligation is user syntax


def test_satisfied_state_owes_nothing(minecraft):
    _, auts = minecraft
    aut = auts["t4"]
    done = [q for q in range(aut.n_states) if aut.verdict(q) is Verdict.SATISFIED]
    assert done, "t4 has a satisfied state (both routes done)"
    assert all(aut.residuals[q] == "true" for q in done)
    sink = aut.violation_sink
    assert sink is not None and aut.residuals[sink] == "false"


@pytest.mark.parametrize("spec", ["t3", "t4"])
def test_state_after_wood_remembers_wood(minecraft, spec):
    _, auts = minecraft
    aut = auts[spec]
    q = aut.step(aut.initial, {"wood"})
    text = aut.residuals[q]
    assert q != aut.initial and text != aut.residuals[aut.initial]
    owed, sep, facts = text.partition(REMEMBERS)
    assert sep and "wood" in facts, text
    # wood is behind the state now: the lava clause only waits for the bench
    assert "O work_bench" in owed, text


def test_explain_and_pictures_show_the_memory(minecraft):
    module, auts = minecraft
    e = explain_trace(module.specs["t3"], [{"wood"}, {"work_bench"}], module=module)
    assert e.steps[0].residual == "G !creeper & G (lava -> O work_bench)" + REMEMBERS + "O wood]"
    assert e.steps[1].residual.startswith("G !creeper" + REMEMBERS)
    dot = auts["t4"].to_dot()
    assert "state 7: satisfied\\nremaining obligation: true" in dot
    assert "[remembers: O wood]" in dot


def _check_obligations(f, prefix, rest) -> None:
    """The rest of a trace satisfies a state's shown obligation exactly when the whole
    trace is accepted: the text is the state's language, read from the current step."""
    aut = compile_formula(f)
    q = aut.run(prefix)[-1] if prefix else aut.initial
    owed = speclang.parse_formula(_owed(aut.residuals[q]))
    assert reference.evaluate(owed, rest) == aut.accepts(list(prefix) + list(rest)), (
        aut.residuals[q]
    )


@settings(max_examples=150, deadline=None)
@given(past_formulas(max_leaves=6), traces(max_len=4), traces(max_len=4))
def test_pure_past_obligations_are_exact(f, prefix, rest):
    _check_obligations(f, prefix, rest)


@pytest.mark.parametrize("text", ["X !(O (O a))", "X (a S b)", "X X H a", "a & X (b T a)"])
def test_pure_past_residual_of_a_mixed_spec_is_read_at_the_current_step(text):
    # Hypothesis found `X !(O (O a))`: after one step the owed `!O O a` was shown as such,
    # which on its own is pure past and so read at the *last* step ("never a"); the state
    # owes `!a` at the current step.
    f = speclang.parse_formula(text)
    for prefix in ([], [frozenset()], [frozenset("b")], [frozenset("ab")]):
        for rest in ([frozenset()], [frozenset("a")], [frozenset(), frozenset("a")],
                     [frozenset("b"), frozenset("a"), frozenset()]):
            _check_obligations(f, prefix, rest)


@settings(max_examples=150, deadline=None)
@given(future_formulas(max_leaves=5), st.lists(st.frozensets(st.sampled_from("abcd")),
                                               max_size=4), traces(max_len=4))
def test_mixed_obligations_are_exact(f, prefix, rest):
    _check_obligations(f, prefix, rest)
