"""Explanations: the right conjunct is blamed, reasons are definite, clean traces get none."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ltlf_gen import future_formulas, past_formulas, traces

import speclang
from speclang import compile_formula
from speclang.compiler import artifact, ir, reference
from speclang.compiler.explain import Explainer, _Eval
from speclang.explain import explain_trace

ROOT = Path(__file__).resolve().parents[2]
GRIDWORLD = ROOT / "examples" / "gridworld.spec"
DOOR_KEY = ROOT / "examples" / "door_key.spec"
AB = ("a", "b")
# Hypothesis warns about the size of generated formula reprs; they only matter on failure.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")


@pytest.fixture(scope="module")
def grid():
    return speclang.load(str(GRIDWORLD))


def _explain(module, spec, trace):
    return explain_trace(module.specs[spec], trace, module=module)


def test_lava_without_water_blames_the_second_conjunct(grid):
    e = _explain(grid, "cooled_lava", [set(), {"water"}, {"lava"}, set(), {"lava"}])
    assert e.cause is not None and e.cause.step == 5
    (blame,) = e.cause.blames
    assert blame.index == 1
    assert blame.text == "G(lava -> Y water)"
    span = blame.span
    assert (span.line, span.col, span.end_col) == (14, 18, 36)
    assert "`water` did not hold at step 4" in blame.reason
    # Steps before the violation keep their own verdicts.
    assert [s.verdict for s in e.steps[:4]] == ["presumably_satisfied"] * 4
    assert e.steps[4].verdict == "violated"


def test_creeper_blames_the_first_conjunct(grid):
    e = _explain(grid, "cooled_lava", [{"water"}, {"creeper", "water"}])
    assert [b.index for b in e.cause.blames] == [0]
    assert e.cause.blames[0].reason == "`creeper` held at step 2"


def test_missing_once_obligation_is_named(grid):
    e = _explain(grid, "light_first", [set(), {"dark"}])
    assert e.cause.step == 2
    assert e.cause.blames[0].reason == (
        "at step 2 `dark` held but `O torch` was false: `torch` never held up to step 2"
    )


def test_definition_is_reported_in_the_users_words(grid):
    e = _explain(grid, "no_hazard", [set(), set(), {"creeper"}])
    blame = e.cause.blames[0]
    assert blame.text == "G !hazard"
    assert blame.reason == "`creeper` held at step 3"


def test_strong_until_names_the_hazard_before_the_goal(grid):
    e = _explain(grid, "reach_goal", [set(), {"lava"}])
    assert e.cause.blames[0].reason == "`lava` held at step 2 before `goal` held"


def test_trace_that_never_violates_gets_no_cause(grid):
    e = _explain(grid, "cooled_lava", [{"water"}, {"lava"}, {"water"}, {"lava"}])
    assert e.cause is None
    assert e.to_json()["violation"] is None
    assert "no violation" in e.render()


def test_rendered_cause_underlines_the_conjunct(grid):
    text = _explain(grid, "cooled_lava", [{"lava"}]).render()
    assert "examples/gridworld.spec:14:18: error[violation]: step 1 violates" in text
    assert "   |                  ^^^^^^^^^^^^^^^^^^\n" in text
    assert "= cause: at step 1 `lava` held but `Y water` was false: `Y water` needs a step" in text


def test_future_obligation_failing_later_points_at_its_trigger():
    e = explain_trace("G(a -> X b) & F c", [{"a"}, {"c"}])
    assert e.cause.step == 2
    assert e.cause.blames[0].text == "G (a -> X b)"
    assert e.cause.blames[0].reason == (
        "at step 1 `a` held but `X b` was false: `b` did not hold at step 2"
    )


def test_contradictory_conjuncts_are_blamed_jointly():
    e = explain_trace("F a & G !a", [set()])
    assert e.cause.joint
    assert {b.text for b in e.cause.blames} == {"F a", "G !a"}


def test_runtime_explainer_is_per_episode():
    module = speclang.load(str(DOOR_KEY))
    x = Explainer(module.specs["keep_key"], module=module)
    x.step({"has_key"})
    x.step({"door_open"})
    x.step({"has_key", "drop"})
    assert x.explain_last_violation() is None  # the door was opened first
    x.reset()
    x.step({"has_key": True, "drop": False})
    x.step({"has_key": True, "drop": True})
    line = x.explain_last_violation()
    assert line is not None and line.startswith("keep_key: step 2 violates")
    assert "`door_open` never held up to step 2" in line


def test_explainer_accepts_bool_vectors_over_the_automaton_props():
    aut = compile_formula("G !lava", name="no_lava")
    x = Explainer(aut)
    import numpy as np

    x.step(np.array([False]))
    x.step(np.array([True]))
    assert x.explain_last_violation() == "no_lava: step 2 violates `G !lava`: `lava` held at step 2"


# --- the drill-down evaluator against the reference semantics --------------------------------


def _extensions(props, max_len):
    letters = [
        frozenset(c) for r in range(len(props) + 1) for c in itertools.combinations(props, r)
    ]
    for n in range(max_len + 1):
        yield from (list(ext) for ext in itertools.product(letters, repeat=n))


@settings(max_examples=120, deadline=None)
@given(
    st.one_of(future_formulas(AB, max_leaves=5, past=True), past_formulas(AB, max_leaves=5)),
    traces(AB, max_len=4),
)
def test_definitely_false_and_true_hold_in_every_continuation(f, prefix):
    ev = _Eval(prefix)
    pos = len(prefix) - 1 if f.is_pure_past else 0
    definitely_false = not ev.val(f, pos, True)
    definitely_true = ev.val(f, pos, False)
    if not (definitely_false or definitely_true):
        return
    for ext in _extensions(AB, 2):
        # Past operators at a fixed position cannot see the extension; future ones can.
        value = reference.evaluate(f, list(prefix) + ext, pos)
        if definitely_false:
            assert not value, (str(f), prefix, ext)
        if definitely_true:
            assert value, (str(f), prefix, ext)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(future_formulas(AB, max_leaves=4, past=True), min_size=1, max_size=3),
    traces(AB, max_len=5),
)
def test_blamed_conjuncts_are_hopeless_by_the_reference(parts, trace):
    f = ir.And(*parts)
    aut = compile_formula(f)
    # The reference's bounded search is exact with horizon n - 1 (n = DFA states).
    assume(aut.n_states <= 6)
    horizon = aut.n_states - 1
    e = explain_trace(f, trace, automaton=aut)
    if e.cause is None:
        # No step is violated: the reference finds an accepted extension of every prefix.
        for t in range(1, len(trace) + 1):
            assert reference.verdict(f, trace[:t], AB, horizon=horizon) != "violated"
        return
    prefix = trace[: e.cause.step]
    assert reference.verdict(f, prefix, AB, horizon=horizon) == "violated"
    if not e.cause.joint:
        for blame in e.cause.blames:
            g = speclang.parse_formula(blame.formula)
            h = compile_formula(g).n_states - 1
            assert reference.verdict(g, prefix, AB, horizon=h) == "violated", blame


def test_bounded_eventuality_lists_the_steps_that_missed_it():
    module = speclang.load(str(ROOT / "examples" / "shooter.spec"))
    trace = [set(), {"low_health"}, {"low_health", "medkit"}] + [{"low_health"}] * 10
    e = explain_trace(module.specs["recover"], trace, module=module)
    assert e.cause.step == 13
    assert e.cause.blames[0].reason == (
        "at step 4 `low_health` held but what it required never happened: "
        "`medkit` did not hold at steps 4 to 13; `low_health` held at steps 5 to 13"
    )


def test_two_forbidden_together_read_as_both():
    e = explain_trace("G !(poison & low)", [set(), {"low", "poison"}])
    assert e.cause.blames[0].reason == "`low` and `poison` held at step 2"
    e = explain_trace("G (low -> !poison)", [{"low", "poison"}])
    assert e.cause.blames[0].reason == "at step 1 `low` and `poison` both held"


@settings(max_examples=150, deadline=None)
@given(future_formulas(("a", "b", "c"), max_leaves=6, past=True))
def test_readable_text_parses_back_to_the_same_formula(f):
    text = ir.to_text(f, compact=True)
    assert speclang.parse_formula(text) is f, text


def test_residuals_are_shown_as_implications(grid):
    e = _explain(grid, "cooled_lava", [set()])
    assert e.steps[0].residual == "G !creeper & G (lava -> Y water)"


def test_the_compiler_explains_ir_and_the_front_end_explains_text_and_artifacts(tmp_path):
    from speclang.compiler import explain as analysis

    with pytest.raises(TypeError, match=r"speclang\.explain\.explain_trace"):
        analysis.explain_trace("G !lava", [{"lava"}])
    aut = compile_formula("G !lava & F goal", name="safe")
    assert aut.formula_ir is speclang.parse_formula("G !lava & F goal")
    path = tmp_path / "safe.json"
    artifact.save(aut, path)
    loaded = artifact.load(path)
    assert loaded.formula_ir is None  # artifacts keep the formula's text only
    with pytest.raises(ValueError, match="speclang.explain.explain_trace"):
        Explainer(loaded)
    direct = explain_trace(aut, [set(), {"lava"}])
    again = explain_trace(loaded, [set(), {"lava"}])
    assert again.to_json() == direct.to_json()
    assert again.cause.summary == "step 2 violates `G !lava`: `lava` held at step 2"
    assert again.render() == direct.render()
