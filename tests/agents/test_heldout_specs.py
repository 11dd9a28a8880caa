"""The held-out adaptation specs of examples/heldout.spec: they compile for the gridworld,
are not in the training progression, can be satisfied while doing the task on the paper's
layouts, and change what safe behaviour is (a T4-safe route violates each)."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest

from speclang import compiler
from speclang.agents.envs.layouts import STAGE_CRAFTED, advance_stage, get_layout, move_table
from speclang.agents.monitors import mask_table, unknown_props
from speclang.loader import load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HELDOUT = load(str(EXAMPLES / "heldout.spec"))
NAMES = list(HELDOUT.specs)
T4 = compiler.compile_spec(load(str(EXAMPLES / "minecraft.spec")), "t4")


def _search(layout_name: str, auts: list, goal) -> bool:
    """Breadth-first search over (cell, task stage, monitor states) of the un-jittered,
    slip-free layout, the monitors reading the start cell's labels first, for a state
    ``goal`` returns True for; a state it returns None for is not expanded."""
    layout = get_layout(layout_name)
    masks = layout.base_masks()
    moves = move_table(layout.size)
    tables = [mask_table(a) for a in auts]
    m0 = int(masks[layout.start_cell])
    start = (layout.start_cell, advance_stage(0, m0),
             tuple(int(t[a.initial, m0]) for t, a in zip(tables, auts, strict=True)))
    seen = {start}
    queue = deque([start])
    while queue:
        cell, stage, qs = queue.popleft()
        verdict = goal(stage, qs)
        if verdict is True:
            return True
        if verdict is None:  # dead: do not continue from here
            continue
        for nxt in moves[cell]:
            m = int(masks[nxt])
            state = (int(nxt), advance_stage(stage, m),
                     tuple(int(t[q, m]) for t, q in zip(tables, qs, strict=True)))
            if state not in seen:
                seen.add(state)
                queue.append(state)
    return False


@pytest.mark.parametrize("name", NAMES)
def test_heldout_spec_compiles_for_the_gridworld(name: str) -> None:
    aut = compiler.compile_spec(HELDOUT, name)
    assert not unknown_props(aut) and aut.violation_sink is not None
    minecraft = load(str(EXAMPLES / "minecraft.spec"))
    assert name not in minecraft.progressions["minecraft"]
    assert len(NAMES) >= 3


@pytest.mark.parametrize("layout", ["L1", "P2", "P3"])
@pytest.mark.parametrize("name", NAMES)
def test_heldout_spec_is_satisfiable_with_the_task(name: str, layout: str) -> None:
    aut = compiler.compile_spec(HELDOUT, name)

    def goal(stage: int, qs: tuple[int, ...]) -> bool | None:
        if qs[0] == aut.violation_sink:
            return None
        return stage == STAGE_CRAFTED or False

    assert _search(layout, [aut], goal)


@pytest.mark.parametrize("name", NAMES)
def test_heldout_spec_changes_what_is_safe(name: str) -> None:
    # some route of L1 that T4 still allows violates the held-out spec
    aut = compiler.compile_spec(HELDOUT, name)

    def goal(stage: int, qs: tuple[int, ...]) -> bool | None:
        if qs[0] == T4.violation_sink:
            return None
        return qs[1] == aut.violation_sink or False

    assert _search("L1", [T4, aut], goal)
