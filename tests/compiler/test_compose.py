"""Compositional conjunctions and disjunctions (compiler.compose): the product of the parts'
DFAs is the automaton the monolithic construction builds (same arrays, verdicts, letter
classes), residual texts mean the same, MONA agrees, and the budgets hold during products."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from languages import View, difference, of_automaton, of_mona
from ltlf_gen import future_formulas, past_formulas, traces
from mona_ref import load_ref

import speclang
from speclang.compiler import compose, ir, memory, reference
from speclang.compiler.automaton import Automaton
from speclang.compiler.budget import Budget, BudgetExceeded
from speclang.compiler.build import build_automaton
from speclang.compiler.ir import Formula

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "ltlf-dev.jsonl"
ARRAYS = ("accepting", "verdicts", "dd_var", "dd_lo", "dd_hi", "roots", "delta",
          "class_dd_var", "class_dd_lo", "class_dd_hi")


def _both(f: Formula, **budget: object) -> tuple[Automaton, Automaton]:
    return (build_automaton(f, Budget(**budget), compose=True),  # type: ignore[arg-type]
            build_automaton(f, Budget(**budget), compose=False))  # type: ignore[arg-type]


def _assert_same(composed: Automaton, whole: Automaton) -> None:
    assert composed.props == whole.props
    for name in ARRAYS:
        x, y = getattr(composed, name), getattr(whole, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert np.array_equal(x, y), name
    assert composed.formula == whole.formula
    assert composed.residuals[0] == whole.residuals[0]


def _non_empty(aut: Automaton) -> View:
    """``aut``'s language less the empty trace: a residual's text is about what the rest of
    a trace owes, and the rest of a trace is not empty (what an ended trace owes is the
    state's acceptance, compared with the arrays)."""
    view = of_automaton(aut)
    return View(None, lambda q, letter: view.step(view.initial if q is None else q, letter),
                lambda q: q is not None and view.accepting(q))


def _assert_same_obligations(composed: Automaton, whole: Automaton) -> None:
    """Each state's text, compiled, has the language of the monolithic state's text (the
    obligations: what past states remember is listed after them, worded per part)."""
    for q, (mine, theirs) in enumerate(zip(composed.residuals, whole.residuals, strict=True)):
        mine = mine.partition(memory.REMEMBERS)[0]
        theirs = theirs.partition(memory.REMEMBERS)[0]
        if mine == theirs:
            continue
        a = speclang.compile_formula(mine)
        b = speclang.compile_formula(theirs)
        props = sorted(set(a.props) | set(b.props))
        assert difference(_non_empty(a), _non_empty(b), props) is None, (q, mine, theirs)


def _obligation_is_exact(aut: Automaton, q: int) -> bool:
    """Whether state ``q``'s obligation (its text less what it remembers), compiled, accepts
    exactly the non-empty continuations that ``q`` accepts."""
    owed = speclang.compile_formula(aut.residuals[q].partition(memory.REMEMBERS)[0])
    here, there = of_automaton(aut), of_automaton(owed)

    def rest(view: View, start: int) -> View:
        return View(None, lambda p, letter: view.step(start if p is None else p, letter),
                    lambda p: p is not None and view.accepting(p))

    props = sorted(set(aut.props) | set(owed.props))
    return difference(rest(here, q), rest(there, owed.initial), props) is None


def _assert_obligations_no_worse(composed: Automaton, whole: Automaton) -> None:
    """Past states' texts: every state whose monolithic obligation is exact has an exact
    composed one. (The monolithic text of some `Y`/`Z` states is not exact: `Y a & !Y b`
    after `{a}` reads `!Y b & Z a | Z a`, forgetting that `b` was false.)"""
    for q in range(1, composed.n_states):
        if composed.residuals[q] != whole.residuals[q] and _obligation_is_exact(whole, q):
            assert _obligation_is_exact(composed, q), (q, composed.residuals[q],
                                                       whole.residuals[q])


conjunctions = st.lists(future_formulas(("a", "b", "c"), max_leaves=4, past=False),
                        min_size=2, max_size=4)


def _nand(*parts: Formula) -> Formula:
    return ir.Not(ir.And(*parts))  # split as a disjunction of the negated parts


joins = st.sampled_from([ir.And, ir.Or, _nand])


def _always_and(*parts: Formula) -> Formula:
    return ir.Always(ir.And(*parts))  # G(a & b) splits as G a & G b


def _not_eventually_or(*parts: Formula) -> Formula:
    return ir.Not(ir.Eventually(ir.Or(*parts)))  # !F(a | b) as !F a & !F b


def _historically_and(*parts: Formula) -> Formula:
    return ir.Historically(ir.And(*parts))


def _once_or(*parts: Formula) -> Formula:
    return ir.Once(ir.Or(*parts))


# joins spread by compose._spread (G, H over a conjunction; F, O over a disjunction)
future_spreads = st.sampled_from([_always_and, _not_eventually_or,
                                  lambda *p: ir.Eventually(ir.Or(*p))])
past_spreads = st.sampled_from([_historically_and, _once_or,
                                lambda *p: ir.Not(ir.Historically(ir.And(*p)))])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conjunctions, st.one_of(joins, future_spreads))
def test_composed_equals_monolithic(parts: list[Formula], join: object) -> None:
    f = join(*parts)  # type: ignore[operator]
    composed, whole = _both(f)
    _assert_same(composed, whole)
    _assert_same_obligations(composed, whole)


def test_the_families_take_the_compositional_path() -> None:
    gfand = speclang.parse_formula(" & ".join(["G p1", *[f"F p{i}" for i in range(2, 9)]]))
    composed, whole = _both(gfand)
    assert composed.meta["parts"] == 8 and "parts" not in whole.meta
    assert composed.n_states == 2 ** 7 + 1
    _assert_same(composed, whole)
    assert composed.residuals == whole.residuals
    declare = speclang.parse_formula(
        "G(a1 -> F b1) & (!b2 W a2) & !(F a3 & F b3) & G(a4 -> X b4)")
    composed, whole = _both(declare)
    assert composed.meta["parts"] == 4
    _assert_same(composed, whole)
    _assert_same_obligations(composed, whole)


past_conjunctions = st.lists(past_formulas(("a", "b", "c"), max_leaves=4), min_size=2,
                             max_size=4)
mixed_conjunctions = st.lists(future_formulas(("a", "b", "c"), max_leaves=4, past=True),
                              min_size=2, max_size=4)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(past_conjunctions, mixed_conjunctions), st.one_of(joins, future_spreads),
       st.one_of(st.none(), past_spreads), st.lists(traces(("a", "b", "c"), 6), max_size=8))
def test_past_composed_equals_monolithic_and_the_reference(parts: list[Formula], join: object,
                                                           past_join: object,
                                                           sample: list) -> None:
    """Pure-past parts of a pure-past formula (read at the last step) and parts of a mixed
    one (read at the first) compose to the monolithic automaton, whose language the
    independent evaluator confirms on sampled traces."""
    if not any(p.has_future for p in parts) and past_join is not None:
        join = past_join  # H/O over the parts: only past operands may stand under them
    f = join(*parts)  # type: ignore[operator]
    composed, whole = _both(f)
    _assert_same(composed, whole)
    _assert_obligations_no_worse(composed, whole)
    assert bool(composed.accepting[0]) == reference.evaluate_empty(f)
    for trace in sample:
        assert composed.accepts(trace) == reference.evaluate(f, trace), (f, trace)


def _chains(kind: str, n: int) -> Formula:
    """``kind(a_i -> O(b_i & O c_i))`` for i = 1..n (kind G: mixed, H: pure past)."""
    return speclang.parse_formula(
        " & ".join(f"{kind}(a{i} -> O(b{i} & O c{i}))" for i in range(1, n + 1)))


def test_past_chains_take_the_compositional_path() -> None:
    for kind in ("G", "H"):
        f = _chains(kind, 4)
        composed = speclang.compile_formula(f)
        assert composed.meta["parts"] == 4 and composed.n_states == 3 ** 4 + 1
        whole = build_automaton(f, Budget(), compose=False)
        _assert_same(composed, whole)
        _assert_same_obligations(composed, whole)
    # below the past threshold the derivatives are cheaper
    assert "parts" not in speclang.compile_formula(_chains("G", 2)).meta


def test_composed_past_states_remember_each_parts_facts() -> None:
    aut = speclang.compile_formula(_chains("G", 4))
    seen = aut.step(aut.step(aut.initial, {"c1", "c2"}), {"c3"})
    assert aut.residuals[seen] == (
        "G (a1 -> O b1) & G (a2 -> O b2) & G (a3 -> O b3) & G (a4 -> O (b4 & O c4))"
        f"{memory.REMEMBERS}O c1, O c2, O c3]")


@pytest.mark.mona
@pytest.mark.parametrize("n", [2, 3, 4])
def test_pure_past_chains_match_mona(n: int) -> None:
    f = _chains("H", n)
    ref = load_ref()
    mona = ref.mona_dfa(ref.to_ppltl(f), past=True)
    aut = build_automaton(f, Budget(), compose=True)
    assert aut.n_states == mona.n_states
    props = sorted(f.atoms)
    assert difference(of_automaton(aut), of_mona(mona), props) is None


def test_what_is_split() -> None:
    a, b, c = ir.Atom("a"), ir.Atom("b"), ir.Atom("c")
    assert compose.split(ir.And(a, ir.Eventually(b))) is None  # one temporal part
    # a mixed formula keeps its pure-past parts with a future one: O b alone would be read
    # at the last step
    assert compose.split(ir.And(ir.Eventually(a), ir.Once(b))) is None
    op, parts = compose.split(ir.And(ir.Once(a), ir.Historically(b), c))  # type: ignore[misc]
    assert op is ir.Op.AND and parts == [ir.And(ir.Once(a), c), ir.Historically(b)]
    op, parts = compose.split(  # type: ignore[misc]
        ir.And(ir.Eventually(a), ir.Once(b), ir.Always(ir.Once(c))))
    assert parts == [ir.And(ir.Eventually(a), ir.Once(b)), ir.Always(ir.Once(c))]
    # G and H spread over a conjunction, F and O over a disjunction, negations dually
    xa, yb = ir.Next(a), ir.Next(b)
    op, parts = compose.split(ir.Always(ir.And(xa, yb)))  # type: ignore[misc]
    assert op is ir.Op.AND and parts == [ir.Always(xa), ir.Always(yb)]
    op, parts = compose.split(ir.Not(ir.Eventually(ir.Or(xa, yb))))  # type: ignore[misc]
    assert op is ir.Op.AND and parts == [ir.Not(ir.Eventually(xa)), ir.Not(ir.Eventually(yb))]
    ya, yc = ir.Yesterday(a), ir.Yesterday(c)
    op, parts = compose.split(ir.Historically(ir.And(ya, yc)))  # type: ignore[misc]
    assert op is ir.Op.AND and parts == [ir.Historically(ya), ir.Historically(yc)]
    op, parts = compose.split(ir.Once(ir.Or(ya, yc)))  # type: ignore[misc]
    assert op is ir.Op.OR and parts == [ir.Once(ya), ir.Once(yc)]
    op, parts = compose.split(ir.Eventually(ir.Or(xa, yb)))  # type: ignore[misc]
    assert op is ir.Op.OR and parts == [ir.Eventually(xa), ir.Eventually(yb)]
    assert compose.split(ir.Always(ir.Or(xa, yb))) is None  # G does not spread over |
    assert compose.split(ir.Always(ir.And(a, b, c))) is None  # one part: nothing temporal
    op, parts = compose.split(ir.Always(ir.And(a, xa, yb)))  # type: ignore[misc]
    assert parts == [ir.Always(ir.And(xa, a)), ir.Always(yb)]
    op, parts = compose.split(ir.And(a, ir.Eventually(b), ir.Always(c)))  # type: ignore[misc]
    assert op is ir.Op.AND and parts == [ir.And(ir.Eventually(b), a), ir.Always(c)]
    op, parts = compose.split(ir.Not(ir.And(ir.Eventually(a), ir.Always(b))))  # type: ignore[misc]
    assert op is ir.Op.OR and parts == [ir.Not(ir.Eventually(a)), ir.Not(ir.Always(b))]


def _corpus() -> list[Formula]:
    if not CORPUS.is_file():
        return []
    out = []
    for line in CORPUS.read_text().splitlines():
        if line.strip():
            f = speclang.parse_formula(json.loads(line)["formula"])
            if compose.split(f) is not None:
                out.append(f)
    return out


@pytest.mark.skipif(not CORPUS.is_file(), reason=f"no corpus at {CORPUS}")
def test_corpus_composed_equals_monolithic() -> None:
    formulas = _corpus()
    assert formulas  # the corpus has conjunctions and disjunctions to split
    for f in formulas:
        composed, whole = _both(f)
        _assert_same(composed, whole)
        _assert_same_obligations(composed, whole)


@pytest.mark.mona
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conjunctions, joins,
       st.lists(traces(("a", "b", "c"), 6), max_size=6))
def test_random_conjunctions_match_mona(parts: list[Formula], join: object,
                                        sample: list) -> None:
    f = join(*parts)  # type: ignore[operator]
    ref = load_ref()
    text = ref.to_ltlf2dfa(f)
    mona = ref.mona_dfa(text)
    aut = build_automaton(f, Budget(), compose=True)
    assert aut.n_states == mona.n_states, text
    assert bool(aut.accepting[aut.initial]) == mona.initial_accepting, text
    for trace in sample:
        letters = [[p for p in step if p in mona.props] for step in trace]
        assert aut.accepts([{p for p in s if p in aut.props} for s in trace]) == mona.accepts(
            letters), f"{text} on {trace}"


def _gfand(n: int) -> Formula:
    return speclang.parse_formula(" & ".join(["G p1", *[f"F p{i}" for i in range(2, n + 1)]]))


def test_state_budget_holds_during_the_product() -> None:
    with pytest.raises(BudgetExceeded) as exc:
        build_automaton(_gfand(12), Budget(max_states=1000), compose=True)
    assert exc.value.budget == "max_states"
    assert "budget max_states=1000 exceeded" in str(exc.value)


def test_node_budget_holds_during_the_product() -> None:
    with pytest.raises(BudgetExceeded) as exc:
        build_automaton(_gfand(12), Budget(max_nodes=5000), compose=True)
    assert exc.value.budget == "max_nodes"


def test_timeout_holds_during_the_product() -> None:
    start = time.monotonic()
    with pytest.raises(BudgetExceeded) as exc:
        build_automaton(_gfand(19), Budget(timeout=0.5, max_states=10**6), compose=True)
    assert exc.value.budget == "timeout"
    # polled every frontier step of the product and every refinement round
    assert time.monotonic() - start < 5


def test_memory_budget_holds_during_the_product() -> None:
    with pytest.raises(BudgetExceeded) as exc:
        build_automaton(_gfand(19), Budget(max_memory=20 << 20, max_states=10**6,
                                           timeout=120), compose=True)
    assert exc.value.budget == "max_memory"


def test_the_default_composes_only_where_it_pays() -> None:
    small = speclang.compile_formula("G p1 & F p2 & F p3")
    assert "parts" not in small.meta  # 2 x 2 x 2 states at most: derivatives are cheaper
    large = speclang.compile_formula(_gfand(12))
    assert large.meta["parts"] == 12 and large.n_states == 2 ** 11 + 1
