"""The stepping kernel, the table builder and the graph algorithms against independent
oracles: random transition tables read as Python dicts (step = one dict lookup), reachability
by transitive closure, distances by Bellman-Ford relaxation, and, for compiled automata, the
cubes of the decision diagram."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from speclang import parse_formula
from speclang.compiler import compile_formula, graph, kernel
from speclang.compiler.automaton import Automaton, Verdict
from speclang.compiler.tables import tabulate


def random_table(seed: int) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(0, 5))
    n = int(rng.integers(1, 8))
    props = tuple(sorted(rng.choice(list("abcdefgh"), size=k, replace=False).tolist()))
    # Few distinct targets per state, so that letter classes actually merge letters.
    table = np.empty((n, 1 << k), dtype=np.int64)
    for q in range(n):
        choices = rng.integers(0, n, size=int(rng.integers(1, 4)))
        table[q] = rng.choice(choices, size=1 << k)
    return props, table, rng.random(n) < 0.5


def oracle(props, table) -> dict[tuple[int, frozenset[str]], int]:
    out = {}
    for q, row in enumerate(table):
        for letter, t in enumerate(row):
            out[q, frozenset(p for i, p in enumerate(props) if letter >> i & 1)] = int(t)
    return out


def closure(table: np.ndarray) -> np.ndarray:
    """reach[q, t]: t reachable from q in zero or more steps (Warshall)."""
    n = table.shape[0]
    reach = np.eye(n, dtype=bool)
    for q, row in enumerate(table):
        reach[q, row] = True
    for m in range(n):
        reach |= reach[:, m : m + 1] & reach[m : m + 1, :]
    return reach


SEEDS = range(40)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_stepping_path_agrees_with_the_dict(seed: int) -> None:
    props, table, acc = random_table(seed)
    aut = Automaton.from_table(props, table, acc)
    want = oracle(props, table)
    n, k = table.shape[0], len(props)
    rng = np.random.default_rng(1000 + seed)
    states = rng.integers(0, n, size=200)
    bits = rng.integers(0, 1 << k, size=200)
    vals = ((bits[:, None] >> np.arange(k)) & 1).astype(bool)
    expected = np.array(
        [want[int(q), frozenset(p for i, p in enumerate(props) if b >> i & 1)]
         for q, b in zip(states, bits, strict=True)]
    )
    assert [kernel.step(aut, int(q), v) for q, v in zip(states, vals, strict=True)] == list(
        expected)
    assert [kernel.step_bits(aut, int(q), int(b)) for q, b in zip(states, bits, strict=True)] == (
        list(expected))
    np.testing.assert_array_equal(kernel.step_batch(aut, states, vals), expected)
    np.testing.assert_array_equal(aut.delta[states, kernel.classify(aut, vals)], expected)
    np.testing.assert_array_equal(
        aut.delta[states, kernel.classify_packed(aut, bits.astype(np.uint64))], expected)
    cls, delta = kernel.letter_classes(aut)
    np.testing.assert_array_equal(delta[states, cls[bits]], expected)
    for stepper in (kernel.Stepper(aut), kernel.Stepper(aut, fused_budget=0),
                    kernel.Stepper(aut, max_props=-1)):  # fused, class + delta, memo + walk
        got = [stepper.step_bits(int(q), int(b)) for q, b in zip(states, bits, strict=True)]
        assert got == list(expected)
    for budget in (0, kernel.FUSED_TABLE_BUDGET):
        tables = kernel.PackedTables(aut, budget)
        out = np.empty(states.shape[0], dtype=np.int32)
        np.testing.assert_array_equal(
            tables.step(states.astype(np.int32), bits, out), expected)
    var, lo, hi = aut.dd_var, aut.dd_lo, aut.dd_hi
    np.testing.assert_array_equal(
        kernel.leaves_bits(var, lo, hi, aut.roots[states], bits, k), expected)


@pytest.mark.parametrize("seed", range(10))
def test_torch_stepping_agrees_with_the_dict(seed: int) -> None:
    torch = pytest.importorskip("torch")
    props, table, acc = random_table(seed)
    aut = Automaton.from_table(props, table, acc)
    want = oracle(props, table)
    k, n = len(props), table.shape[0]
    rng = np.random.default_rng(seed)
    states = rng.integers(0, n, size=50)
    bits = rng.integers(0, 1 << k, size=50)
    expected = [want[int(q), frozenset(p for i, p in enumerate(props) if b >> i & 1)]
                for q, b in zip(states, bits, strict=True)]
    for budget in (0, kernel.FUSED_TABLE_BUDGET):
        tables = kernel.PackedTables(aut, budget)
        tables.to_torch(torch.device("cpu"))
        out = torch.empty(50, dtype=torch.int64)
        got = tables.step_torch(torch.from_numpy(states), torch.from_numpy(bits), out)
        assert got.tolist() == expected
    t = {name: torch.as_tensor(getattr(aut, name), dtype=torch.int64)
         for name in ("dd_var", "dd_lo", "dd_hi", "roots")}
    walked = kernel.leaves_bits_torch(t["dd_var"], t["dd_lo"], t["dd_hi"],
                                      t["roots"][torch.from_numpy(states)],
                                      torch.from_numpy(bits), k)
    assert walked.tolist() == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_letter_table_over_an_environment_alphabet(seed: int) -> None:
    props, table, acc = random_table(seed)
    aut = Automaton.from_table(props, table, acc)
    want = oracle(props, table)
    # The environment labels some of the automaton's names and some others, in its own order.
    rng = np.random.default_rng(seed)
    alphabet = [p for p in props if rng.random() < 0.7] + ["zz", "other"]
    alphabet = [alphabet[i] for i in rng.permutation(len(alphabet))]
    got = kernel.letter_table(aut, alphabet)
    assert got.shape == (table.shape[0], 1 << len(alphabet))
    for q in range(table.shape[0]):
        for m in range(1 << len(alphabet)):
            true = frozenset(p for j, p in enumerate(alphabet) if m >> j & 1 and p in props)
            assert got[q, m] == want[q, true]


@pytest.mark.parametrize("seed", SEEDS)
def test_renumbered_builder_is_bfs_ordered_and_keeps_the_language(seed: int) -> None:
    props, table, acc = random_table(seed)
    aut = Automaton.from_table(props, table, acc, renumber=True)
    want = oracle(props, table)
    reach = closure(table)[0]
    dead = ~closure(table)[:, acc].any(axis=1)  # can never accept
    # Every dead state reachable from 0 is merged into one absorbing sink.
    assert aut.n_states == int((reach & ~dead).sum()) + int((reach & dead).any())
    assert aut.initial == 0
    violated = np.flatnonzero(aut.verdicts == Verdict.VIOLATED)
    assert violated.tolist() == ([] if aut.violation_sink is None else [aut.violation_sink])
    if violated.size:
        assert (aut.delta[violated[0]] == violated[0]).all()
    # BFS order: every state but the initial one is first reached from a smaller number.
    for t in range(1, aut.n_states):
        assert any(t in aut.delta[q] for q in range(t))
    rng = np.random.default_rng(seed)
    letters = [frozenset(c) for r in range(len(props) + 1)
               for c in itertools.combinations(props, r)]
    for _ in range(30):
        trace = [letters[i] for i in rng.integers(0, len(letters), size=int(rng.integers(0, 6)))]
        q = 0
        for letter in trace:
            q = want[q, letter]
        assert aut.accepts([set(x) for x in trace]) == bool(acc[q])


def test_builder_validates_its_table() -> None:
    with pytest.raises(ValueError, match="sorted and distinct"):
        Automaton.from_table(["b", "a"], [[0, 0, 0, 0]], [True])
    with pytest.raises(ValueError, match="shape"):
        Automaton.from_table(["a"], [[0, 0, 0]], [True])
    with pytest.raises(ValueError, match="outside"):
        Automaton.from_table(["a"], [[0, 1]], [True])
    with pytest.raises(ValueError, match="initial"):
        Automaton.from_table(["a"], [[0, 0]], [True], initial=1)
    with pytest.raises(ValueError, match="residuals"):
        Automaton.from_table(["a"], [[0, 0]], [True], residuals=["x", "y"])
    with pytest.raises(ValueError, match="is not a state"):
        tabulate(["a"], 1, lambda q, v: 1)
    with pytest.raises(ValueError, match="at most 16"):
        tabulate([f"p{i:02d}" for i in range(17)], 1, lambda q, v: 0)


@pytest.mark.parametrize("seed", range(6))
def test_successors_with_a_limit_across_batches_of_64_states(seed: int) -> None:
    # more states than one 64-bit mask holds, shared sub-diagrams, a root shared by states
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(65, 200)), int(rng.integers(1, 6))
    table = np.empty((n, 1 << k), dtype=np.int64)
    for q in range(n):
        table[q] = rng.choice(rng.integers(0, n, size=int(rng.integers(1, 5))), size=1 << k)
    table[n - 1] = table[0]
    aut = Automaton.from_table(tuple("abcdef"[:k]), table, rng.random(n) < 0.5)
    succ = graph.successor_lists(aut)
    assert succ == [sorted(set(row.tolist())) for row in table]
    edges = sum(map(len, succ))
    for limit in (edges, edges - 1, edges // 3):
        assert graph.successor_lists(aut, limit) == (succ if limit >= edges else None)


def test_successors_with_a_limit_when_two_leaves_share_a_target() -> None:
    # not canonical (loaded diagrams need not be): edges are (state, target) pairs, not
    # (state, leaf) pairs
    from dataclasses import replace

    aut = Automaton.from_table(["a"], [[0, 1], [1, 1]], [True, False])
    var = np.concatenate([aut.dd_var, [-1, 0]]).astype(aut.dd_var.dtype)
    m = len(aut.dd_var)
    lo = np.concatenate([aut.dd_lo, [1, m]]).astype(aut.dd_lo.dtype)  # leaf m: target 1
    hi = np.concatenate([aut.dd_hi, [0, int(np.flatnonzero((aut.dd_var < 0)
                                                           & (aut.dd_lo == 1))[0])]])
    twin = replace(aut, dd_var=var, dd_lo=lo, dd_hi=hi.astype(aut.dd_hi.dtype),
                   roots=np.asarray([aut.roots[0], m + 1], dtype=aut.roots.dtype))
    assert graph.successor_lists(twin) == [[0, 1], [1]]
    assert graph.successor_lists(twin, 3) == [[0, 1], [1]]
    assert graph.successor_lists(twin, 2) is None


@pytest.mark.parametrize("seed", SEEDS)
def test_graph_algorithms_against_closure_and_relaxation(seed: int) -> None:
    props, table, acc = random_table(seed)
    aut = Automaton.from_table(props, table, acc)
    n = table.shape[0]
    succ = graph.successor_lists(aut)
    assert succ == [sorted(set(row.tolist())) for row in table]
    # with a limit (64 states at a time, by reachability masks): the same lists, or None
    # when there are more edges
    edges = sum(map(len, succ))
    for limit in (edges, edges - 1):
        want = succ if limit >= edges else None
        assert graph.successor_lists(aut, limit) == want
    reach = closure(table)
    # structural verdicts from the closure
    for q in range(n):
        r = np.flatnonzero(reach[q])
        if not acc[r].any():
            v = Verdict.VIOLATED
        elif acc[r].all():
            v = Verdict.SATISFIED
        else:
            v = Verdict.PRESUMABLY_SATISFIED if acc[q] else Verdict.PRESUMABLY_VIOLATED
        assert aut.verdict(q) == v
    # distances by Bellman-Ford relaxation over the edge list
    for goal in (acc, aut.verdicts == Verdict.VIOLATED):
        inf = n + 1
        d = np.where(goal, 0, inf)
        for _ in range(n):
            for q in range(n):
                d[q] = min([d[q]] + [d[t] + 1 for t in succ[q]])
        want = np.where(d >= inf, -1, d)
        np.testing.assert_array_equal(graph.distance_to(succ, goal), want)
        for q in range(n):
            path = graph.shortest_path(lambda s: succ[s], q, goal)
            if want[q] < 0:
                assert path is None
            else:
                assert len(path) == want[q] + 1 and path[0] == q and goal[path[-1]]
                assert all(b in succ[a] for a, b in itertools.pairwise(path))
    sink = graph.sink_distance(aut)
    bad = graph.distance_to(succ, aut.verdicts == Verdict.VIOLATED)
    np.testing.assert_array_equal(sink, np.where(bad < 0, graph.FAR, bad))
    np.testing.assert_array_equal(graph.reachable(succ, np.eye(n, dtype=bool)[0]), reach[0])
    order = graph.bfs_order(succ, 0)
    assert sorted(order) == np.flatnonzero(reach[0]).tolist() and order[0] == 0


@pytest.mark.parametrize(
    "text",
    ["G(a -> F[1,3] b)", "a U (b & X c)", "G !(a & b) & F c", "H(a -> O b)", "G false", "F a"],
)
def test_compiled_automata_step_as_their_cubes_say(text: str) -> None:
    aut = compile_formula(parse_formula(text))
    k = len(aut.props)
    letters = range(1 << k)
    table = kernel.letter_table(aut, aut.props)
    stepper = kernel.Stepper(aut, max_props=-1)
    for q in range(aut.n_states):
        cubes = aut.cubes(q)
        for b in letters:
            true = {p for i, p in enumerate(aut.props) if b >> i & 1}
            (target,) = [t for cube, t in cubes
                         if all((p in true) == v for p, v in cube.items())]
            assert table[q, b] == target
            assert stepper.step_bits(q, b) == target
            assert aut.step(q, true) == target
