"""Edge guards: equivalent to the letters they label, and short."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ltlf_gen import future_formulas

from speclang import compile_formula
from speclang.compiler.guards import edge_guards, guard_text

PROPS = ("a", "b", "c", "d")
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")


def _holds(expr: str, letter: dict[str, bool]) -> bool:
    """Independent oracle: evaluate the guard as a Python expression."""
    py = expr.replace("!", " not ").replace("&", " and ").replace("|", " or ")
    py = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", py))
    return bool(eval(py, {"__builtins__": {}}, dict(letter)))  # noqa: S307 - test oracle


def _letters(props: tuple[str, ...]):
    for bits in itertools.product([False, True], repeat=len(props)):
        yield dict(zip(props, bits, strict=True))


def _in_cubes(letter: dict[str, bool], cubes: list[dict[str, bool]]) -> bool:
    return any(all(letter[p] == v for p, v in c.items()) for c in cubes)


def test_two_hazards_read_as_a_disjunction_not_as_paths():
    # The shape a decision diagram gives for "lava or creeper": two disjoint paths.
    cubes = [{"lava": True}, {"lava": False, "creeper": True}]
    assert guard_text(("creeper", "lava"), cubes) == "creeper | lava"


def test_complement_is_written_negated_when_shorter():
    cubes = [{"lava": False, "creeper": False, "water": v} for v in (False, True)]
    assert guard_text(("creeper", "lava", "water"), cubes) == "!(creeper | lava)"


def test_constants_and_single_literals():
    assert guard_text(PROPS, [{}]) == "true"
    assert guard_text(PROPS, []) == "false"
    assert guard_text(PROPS, [{"a": False}]) == "!a"
    assert guard_text(PROPS, [{"a": True, "b": False}, {"a": True, "b": True}]) == "a"


def test_irrelevant_proposition_disappears():
    cubes = [{"a": True, "b": v, "c": w} for v in (False, True) for w in (False, True)]
    assert guard_text(PROPS, cubes) == "a"


def test_names_that_need_quotes_are_quoted():
    assert guard_text(("next",), [{"next": True}]) == '"next"'


@settings(max_examples=150, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=15)))
def test_guard_is_equivalent_to_its_letters(minterms):
    letters = list(_letters(PROPS))
    cubes = [letters[m] for m in sorted(minterms)]
    text = guard_text(PROPS, cubes)
    for letter in letters:
        assert _holds(text, letter) == _in_cubes(letter, cubes), (text, letter)
    # Never longer than listing the minterms (each at most 4 literals).
    assert text.count("&") + text.count("|") <= max(1, 4 * len(cubes))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(PROPS), st.booleans(), min_size=1, max_size=3),
        max_size=5,
    )
)
def test_overlapping_partial_cubes(cubes):
    text = guard_text(PROPS, cubes)
    for letter in _letters(PROPS):
        assert _holds(text, letter) == _in_cubes(letter, cubes), (text, letter)


def test_wide_guard_is_minimised_too():
    # 20 propositions: the truth table of old (2**20 bits) fell back to merging cubes; the
    # BDD's ISOP has no such limit.
    props = tuple(f"p{i}" for i in range(20))
    cubes = [{"p0": True, "p19": v} for v in (False, True)] + [{"p0": False, "p5": True}]
    text = guard_text(props, cubes)
    # Correct on a sample of letters over the 3 mentioned props, others irrelevant.
    for bits in itertools.product([False, True], repeat=3):
        letter = {p: False for p in props} | dict(zip(("p0", "p5", "p19"), bits, strict=True))
        assert _holds(text, letter) == _in_cubes(letter, cubes)
    assert "p19" not in text
    assert text == "p0 | p5"


def test_a_guard_over_many_propositions_is_fast_and_minimal():
    # `G(p1 | ... | p60)`: one edge to the sink guarded by 60 negative literals, another by
    # the 60-literal disjunction; the diagram has 60 nodes per state, 2**60 letters.
    import time

    n = 60
    aut = compile_formula("G(" + " | ".join(f"p{i}" for i in range(1, n + 1)) + ")")
    start = time.monotonic()
    guards = [edge_guards(aut, q) for q in range(aut.n_states)]
    assert time.monotonic() - start < 5
    texts = sorted(g for gs in guards for g in gs.values())
    disjunction = " | ".join(sorted((f"p{i}" for i in range(1, n + 1)), key=aut.props.index))
    assert disjunction in texts and f"!({disjunction})" in texts


@settings(max_examples=40, deadline=None)
@given(future_formulas(("a", "b", "c"), max_leaves=5, past=True))
def test_edge_guards_partition_letters_like_the_automaton_steps(f):
    aut = compile_formula(f)
    props = aut.props
    for q in range(aut.n_states):
        guards = edge_guards(aut, q)
        for letter in _letters(props):
            holding = [t for t, g in guards.items() if _holds(g, letter)]
            true_names = [p for p, v in letter.items() if v]
            assert holding == [aut.step(q, true_names)], (str(f), q, guards, letter)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 40), st.integers(0, 40)),
                min_size=1, max_size=25))
def test_ite_is_the_composition_it_replaces(steps: list[tuple[int, int, int]]) -> None:
    # A reduced ordered BDD is canonical, so one function is one node: the one-pass ite
    # must return the node that (!v & lo) | (v & hi) builds, whatever lo and hi are
    # (v above, at or below their top variables).
    from speclang.compiler.guards import _Bdd

    bdd = _Bdd()
    made = [0, 1]
    for v, i, j in steps:
        lo, hi = made[i % len(made)], made[j % len(made)]
        x = bdd.node(v, 0, 1)
        expected = bdd.disj(bdd.conj(bdd.neg(x), lo), bdd.conj(x, hi))
        assert bdd.ite(v, lo, hi) == expected
        made.append(expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 40), st.integers(0, 40)),
                min_size=1, max_size=25))
def test_negative_unate_and_leq_against_truth_tables(steps: list[tuple[int, int, int]]) -> None:
    # _cover_text skips the complement's cover where f is not negative unate: check both
    # BDD tests against every assignment of the five variables.
    from speclang.compiler.guards import _Bdd

    bdd = _Bdd()
    made = [0, 1]
    for v, i, j in steps:
        made.append(bdd.ite(v, made[i % len(made)], made[j % len(made)]))

    def value(u: int, bits: tuple[bool, ...]) -> bool:
        while u > 1:
            u = bdd.hi[u] if bits[bdd.var[u]] else bdd.lo[u]
        return u == 1

    assignments = list(itertools.product([False, True], repeat=5))
    for f in made:
        table = {bits: value(f, bits) for bits in assignments}
        unate = all(table[bits] >= table[bits[:v] + (True,) + bits[v + 1:]]
                    for bits in assignments for v in range(5))
        assert bdd.negative_unate(f) == unate
        for g in made[-5:]:
            assert bdd.leq(f, g) == all(table[b] <= value(g, b) for b in assignments)
