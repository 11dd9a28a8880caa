"""Shaping potentials: the sign convention on hand-checked monitors, and properties on
random automata checked against oracles computed here from the explicit tables."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_shaping_strategies import TableAutomaton, table_automata

import speclang
from speclang.compiler import shaping
from speclang.compiler.automaton import Automaton, Verdict

# Letter index: bit 0 = first prop, bit 1 = second prop.
# "!a U b": 0 waiting (b not seen, a not seen), 1 satisfied for good, 2 violated.
UNTIL = Automaton.from_table(
    ["a", "b"], [[0, 2, 1, 2], [1, 1, 1, 1], [2, 2, 2, 2]], [False, True, False]
)
# "G !(a & X a)": 0 quiet, 1 after an a (one more a is fatal), 2 violated.
NO_DOUBLE_A = Automaton.from_table(["a"], [[0, 1], [0, 2], [2, 2]], [True, True, False])
# "F(a & X F b)"-like chain: 0 needs a, 1 needs b, 2 done (satisfied); no violation possible.
CHAIN = Automaton.from_table(
    ["a", "b"], [[0, 1, 0, 1], [1, 1, 2, 2], [2, 2, 2, 2]], [False, False, True]
)


def test_violation_distance_values_on_hand_checked_monitor() -> None:
    # Distances to the sink are 2, 1, 0, so phi = d / 3.
    phi = shaping.potentials(NO_DOUBLE_A, "violation_distance")
    np.testing.assert_allclose(phi, [2 / 3, 1 / 3, 0.0])


def test_progress_values_on_hand_checked_monitor() -> None:
    # Distances to acceptance are 2, 1, 0, so phi = 1 - d / 3.
    phi = shaping.potentials(CHAIN, "progress")
    np.testing.assert_allclose(phi, [1 / 3, 2 / 3, 1.0])
    # No violation is reachable anywhere: the violation potential is flat at its maximum.
    np.testing.assert_allclose(shaping.potentials(CHAIN, "violation_distance"), [1.0, 1.0, 1.0])


def test_value_iteration_matches_closed_form() -> None:
    # From the waiting state of "!a U b" a uniform letter stays with 1/4, reaches the
    # satisfied state with 1/4 and the sink with 1/2, so V0 = g/4 / (1 - g/4).
    g = 0.9
    phi = shaping.potentials(UNTIL, "value_iteration", gamma=g)
    np.testing.assert_allclose(phi, [(g / 4) / (1 - g / 4), 1.0, 0.0], atol=1e-9)


@pytest.mark.parametrize("kind", shaping.KINDS)
@pytest.mark.parametrize("gamma", [0.9, 0.99, 1.0])
def test_sign_convention(kind: shaping.PotentialKind, gamma: float) -> None:
    phi = shaping.potentials(UNTIL, kind)
    towards_violation = shaping.shaping_reward(phi, 0, 2, gamma)
    towards_acceptance = shaping.shaping_reward(phi, 0, 1, gamma)
    assert towards_violation < 0
    assert towards_acceptance > 0
    for q in range(UNTIL.n_states):
        assert shaping.shaping_reward(phi, q, q, gamma) <= 0  # dwelling is never rewarded
    assert shaping.shaping_reward(phi, 2, 2, gamma) == 0  # the sink is absorbing and flat

    phi2 = shaping.potentials(NO_DOUBLE_A, kind)
    assert shaping.shaping_reward(phi2, 1, 2, gamma) < 0
    if kind != "progress":
        # Only the risk-aware kinds see that state 1 is closer to violation than state 0.
        assert shaping.shaping_reward(phi2, 0, 1, gamma) < 0
        assert shaping.shaping_reward(phi2, 1, 0, gamma) > 0
    else:
        # For "progress" both accept, so moving between them is like dwelling.
        assert shaping.shaping_reward(phi2, 0, 1, gamma) <= 0
        assert shaping.shaping_reward(phi2, 1, 0, gamma) <= 0


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown potential kind"):
        shaping.potentials(UNTIL, "distance")  # type: ignore[arg-type]


def _graph(t: TableAutomaton) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(range(len(t.accepting)))
    for q, row in enumerate(t.table):
        g.add_edges_from((q, int(x)) for x in row)
    return g


def _distances_to(g: nx.DiGraph, goals: list[int]) -> dict[int, int]:
    rev = g.reverse()
    out: dict[int, int] = {}
    for goal in goals:
        for q, d in nx.single_source_shortest_path_length(rev, goal).items():
            out[q] = min(out.get(q, d), d)
    return out


@settings(max_examples=60, deadline=None)
@given(table_automata())
def test_distance_potentials_follow_graph_distances(t: TableAutomaton) -> None:
    g = _graph(t)
    violated = [int(q) for q in np.flatnonzero(t.aut.verdicts == Verdict.VIOLATED)]
    to_violation = _distances_to(g, violated)
    phi_v = shaping.potentials(t.aut, "violation_distance")
    far = max(to_violation.values(), default=0) + 1
    for q in range(len(t.accepting)):
        expected = to_violation[q] / far if q in to_violation else 1.0
        assert phi_v[q] == pytest.approx(expected)

    to_accept = _distances_to(g, [int(q) for q in np.flatnonzero(t.accepting)])
    phi_p = shaping.potentials(t.aut, "progress")
    far = max(to_accept.values(), default=0) + 1
    for q in range(len(t.accepting)):
        expected = 1 - to_accept[q] / far if q in to_accept else 0.0
        assert phi_p[q] == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(table_automata(), st.floats(0.5, 0.95))
def test_value_iteration_solves_the_linear_system(t: TableAutomaton, g: float) -> None:
    # Oracle: solve V = (1-g) acc + g P V exactly, P from the table with uniform letters.
    n, letters = t.table.shape
    p = np.zeros((n, n))
    for q in range(n):
        for x in t.table[q]:
            p[q, x] += 1 / letters
    exact = np.linalg.solve(np.eye(n) - g * p, (1 - g) * t.accepting.astype(float))
    phi = shaping.potentials(t.aut, "value_iteration", gamma=g)
    np.testing.assert_allclose(phi, exact, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(
    table_automata(),
    st.sampled_from(shaping.KINDS),
    st.floats(0.5, 1.0),
    st.lists(st.integers(0, 2**10), min_size=1, max_size=20),
)
def test_telescoping_and_range(
    t: TableAutomaton, kind: shaping.PotentialKind, gamma: float, letters: list[int]
) -> None:
    phi = shaping.potentials(t.aut, kind)
    assert ((phi >= 0) & (phi <= 1)).all()
    assert (phi[t.aut.verdicts == Verdict.VIOLATED] == 0).all()
    if kind != "violation_distance":
        assert (phi[t.aut.verdicts == Verdict.SATISFIED] == 1).all()

    # A trajectory of the automaton, driven by the table.
    qs = [t.aut.initial]
    for x in letters:
        qs.append(int(t.table[qs[-1], x % t.table.shape[1]]))
    total = sum(
        gamma**i * shaping.shaping_reward(phi, qs[i], qs[i + 1], gamma) for i in range(len(letters))
    )
    T = len(letters)
    assert total == pytest.approx(gamma**T * phi[qs[T]] - phi[qs[0]], abs=1e-9)
    # Dwelling never pays, whatever the state.
    assert all(shaping.shaping_reward(phi, q, q, gamma) <= 1e-12 for q in range(len(phi)))


@settings(max_examples=40, deadline=None)
@given(table_automata(), st.sampled_from(shaping.KINDS))
def test_shaping_table_agrees_with_the_transition_table(
    t: TableAutomaton, kind: shaping.PotentialKind
) -> None:
    gamma = 0.97
    table = shaping.ShapingTable.build(t.aut, kind, gamma)
    aut = t.aut
    assert aut.delta is not None and table.by_class is not None
    for q in range(aut.n_states):
        for x in range(t.table.shape[1]):
            bits = np.array([(x >> i) & 1 for i in range(len(t.props))], dtype=bool)
            c = int(aut.classify(bits[None, :])[0])
            target = int(t.table[q, x])
            assert table.by_class[q, c] == pytest.approx(gamma * table.phi[target] - table.phi[q])
    edges = {(int(a), int(b)) for a, b in zip(table.src, table.dst, strict=True)}
    assert edges == {(q, int(x)) for q in range(aut.n_states) for x in t.table[q]}
    np.testing.assert_allclose(table.values, gamma * table.phi[table.dst] - table.phi[table.src])


def test_shaping_table_rejects_bad_gamma() -> None:
    with pytest.raises(ValueError, match="gamma"):
        shaping.ShapingTable.build(UNTIL, "progress", 1.5)


@settings(max_examples=60, deadline=None)
@given(table_automata())
def test_structural_verdicts_match_reachability(t: TableAutomaton) -> None:
    # Shaping relies on the verdicts of hand-built automata; check them against networkx.
    g = _graph(t)
    for q in range(len(t.accepting)):
        reach = nx.descendants(g, q) | {q}
        accepting_reachable = any(t.accepting[r] for r in reach)
        all_accepting = all(t.accepting[r] for r in reach)
        if not accepting_reachable:
            expected = Verdict.VIOLATED
        elif all_accepting:
            expected = Verdict.SATISFIED
        elif t.accepting[q]:
            expected = Verdict.PRESUMABLY_SATISFIED
        else:
            expected = Verdict.PRESUMABLY_VIOLATED
        assert t.aut.verdict(q) is expected


@pytest.mark.parametrize("kind", shaping.KINDS)
def test_signs_on_a_compiled_safeguard(kind: shaping.PotentialKind) -> None:

    aut = speclang.compile_formula("G !lava & F goal")
    table = shaping.ShapingTable.build(aut, kind, gamma=0.99)
    q0 = aut.initial
    into_lava = aut.step(q0, {"lava"})
    reached = aut.step(q0, {"goal"})
    assert aut.verdict(into_lava) is Verdict.VIOLATED
    assert table.reward(q0, into_lava) < 0
    assert table.reward(reached, aut.step(reached, {"lava"})) < 0
    assert table.reward(q0, aut.step(q0, set())) <= 0  # waiting is not rewarded
    if kind != "violation_distance":
        # Reaching the goal makes progress; the violation distance does not change with it.
        assert table.reward(q0, reached) > 0


@settings(max_examples=60, deadline=None)
@given(table_automata(), st.floats(0.5, 0.95))
def test_best_policy_value_iteration_matches_brute_force(t: TableAutomaton, g: float) -> None:
    # Oracle: iterate the Bellman optimality equation on the explicit table to convergence.
    v = t.accepting.astype(float)
    for _ in range(500):  # 0.95**500 < 1e-11
        v = (1 - g) * t.accepting + g * np.array([max(v[x] for x in row) for row in t.table])
    phi = shaping.potentials(t.aut, "value_iteration", gamma=g, policy="best")
    np.testing.assert_allclose(phi, v, atol=1e-7)
    # A perfect agent never does worse than a random one.
    assert (phi >= shaping.potentials(t.aut, "value_iteration", gamma=g) - 1e-9).all()
