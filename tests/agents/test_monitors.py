"""Monitors as mask tables, the built-in spec tables, and state correspondence."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from speclang.agents.builtin_specs import minecraft_progression
from speclang.agents.envs.layouts import PROP_BIT, get_layout
from speclang.agents.monitors import N_MASKS, MonitorTables, correspondence, mask_table
from speclang.compiler.automaton import Verdict
from speclang.runtime.build import automaton_from_function

SPEC_FILE = Path(__file__).resolve().parents[2] / "examples" / "minecraft.spec"


def _mask(*props: str) -> int:
    return sum(PROP_BIT[p] for p in props)


def _run(aut, letters) -> int:
    table = mask_table(aut)
    q = aut.initial
    for m in letters:
        q = int(table[q, m])
    return q


def test_builtin_specs_follow_the_issue_text() -> None:
    t1, t2, t3, t4 = minecraft_progression()
    sink = lambda a: a.violation_sink  # noqa: E731
    assert _run(t1, [_mask("wood"), _mask("lava")]) == sink(t1)
    assert _run(t1, [_mask("wood"), _mask("iron")]) != sink(t1)
    # T2 accepts only once wood was collected, and forbids what T1 forbids
    assert not t2.accepting[_run(t2, [_mask("iron")])]
    assert t2.accepting[_run(t2, [_mask("wood"), _mask("iron")])]
    assert _run(t2, [_mask("wood"), _mask("creeper")]) == sink(t2)
    # T3: lava after wood then bench; never before, and never creepers
    assert _run(t3, [_mask("wood"), _mask("work_bench"), _mask("lava")]) != sink(t3)
    assert _run(t3, [_mask("work_bench"), _mask("wood"), _mask("lava")]) == sink(t3)
    assert _run(t3, [_mask("wood"), _mask("work_bench"), _mask("creeper")]) == sink(t3)
    # T4: each route unlocks its own hazard only
    bench = [_mask("wood"), _mask("work_bench")]
    smith = [_mask("wood"), _mask("iron"), _mask("smith_table")]
    assert _run(t4, [*bench, _mask("lava")]) != sink(t4)
    assert _run(t4, [*bench, _mask("creeper")]) == sink(t4)
    assert _run(t4, [*smith, _mask("creeper")]) != sink(t4)
    assert _run(t4, [*smith, _mask("lava")]) == sink(t4)
    assert _run(t4, [_mask("iron"), _mask("wood"), _mask("smith_table"), _mask("creeper")]) == sink(
        t4
    )


def _equivalent(a, b) -> bool:
    """Language equivalence over label masks, by search of the product."""
    ta, tb = mask_table(a), mask_table(b)
    start = (a.initial, b.initial)
    seen, queue = {start}, deque([start])
    while queue:
        qa, qb = queue.popleft()
        if a.accepting[qa] != b.accepting[qb]:
            return False
        for m in range(N_MASKS):
            pair = (int(ta[qa, m]), int(tb[qb, m]))
            if pair not in seen:
                seen.add(pair)
                queue.append(pair)
    return True


def test_compiled_minecraft_spec_matches_builtin_tables() -> None:
    import speclang
    from speclang import compiler

    module = speclang.load(SPEC_FILE)
    names = module.progressions["minecraft"]
    compiled = [compiler.compile_spec(module, n) for n in names]
    for name, got, want in zip(names, compiled, minecraft_progression(), strict=True):
        assert _equivalent(got, want), name


def test_renumbered_table_automaton_is_bfs_numbered_with_verdicts() -> None:
    # "a then b": 0 -a-> 1 -b-> 2 (accepting, absorbing); b before a is fatal
    def step(q: int, L: Mapping[str, bool]) -> int:
        if q == 3 or (q == 0 and L["b"]):
            return 3
        if q == 0:
            return 1 if L["a"] else 0
        if q == 1:
            return 2 if L["b"] else 1
        return 2

    aut = automaton_from_function(
        ["b", "a"], 4, step, accepting=[False, False, True, False], renumber=True
    )
    assert aut.props == ("a", "b")
    states = aut.run([{"a"}, set(), {"b"}])
    assert aut.accepting[states[-1]] and not aut.accepting[states[0]]
    # BFS numbering: the initial state is 0, and a state's number exceeds its discoverer's
    assert aut.initial == 0 and states[0] in (1, 2) and states[-1] == 3
    assert aut.verdict(aut.run([{"a"}, {"b"}])[-1]) == Verdict.SATISFIED
    assert aut.verdict(aut.initial) == Verdict.PRESUMABLY_VIOLATED
    assert aut.violation_sink == aut.run([{"b"}])[-1]
    vals = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=bool)
    batch = aut.step_batch(np.zeros(4, dtype=np.int64), vals)
    assert list(batch) == [aut.step(0, v) for v in vals]


def test_monitor_tables_step_each_automaton_in_its_own_range() -> None:
    auts = minecraft_progression()
    mon = MonitorTables.build(auts)
    for k, aut in enumerate(auts):
        local = mask_table(aut)
        block = mon.next_global[mon.offset[k] : mon.offset[k] + mon.n_states[k]]
        assert np.array_equal(block - mon.offset[k], local)
        assert mon.sink[k] == mon.offset[k] + aut.violation_sink


def test_correspondence_pairs_states_reached_on_the_same_traces() -> None:
    _, _, t3, _ = minecraft_progression()
    t1 = automaton_from_function(
        ["creeper", "lava"],
        2,
        lambda q, L: 1 if q or L["lava"] or L["creeper"] else 0,
        accepting=[True, False],
        renumber=True,
    )
    letters = get_layout("L1").letters()
    pairs = correspondence(t3, t1, letters)
    safe1, sink1 = 0, t1.violation_sink
    crafted = _run(t3, [_mask("wood"), _mask("work_bench")])
    # before crafting, T3 and T1 agree on what is fatal: only T1's safe state co-occurs
    assert pairs[t3.initial] == {safe1}
    # after crafting T3 tolerates lava (and stays put), while T1 is then in its sink
    assert _run(t3, [_mask("wood"), _mask("work_bench"), _mask("lava")]) == crafted
    assert pairs[crafted] == {safe1, sink1}
    # an independent check: enumerate all short traces and collect the pairs directly
    direct: set[tuple[int, int]] = set()
    frontier = [(t3.initial, t1.initial)]
    t3t, t1t = mask_table(t3), mask_table(t1)
    for _ in range(4):
        nxt = []
        for qa, qb in frontier:
            direct.add((qa, qb))
            if qa == t3.violation_sink or qb == t1.violation_sink:
                continue
            nxt += [(int(t3t[qa, m]), int(t1t[qb, m])) for m in letters]
        frontier = nxt
    direct.update(frontier)
    assert direct <= {(qn, qo) for qn, s in enumerate(pairs) for qo in s}
