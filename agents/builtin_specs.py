"""The four Minecraft safety specs written directly as transition tables.

They are an independent reading of the issue's English text, used (a) as an oracle that the
compiled ``examples/minecraft.spec`` monitors are checked against, and (b) by experiments that
set ``specs = "builtin"`` so that agent work does not depend on the compiler being installed.
"""

from __future__ import annotations

from compiler.automaton import Automaton

from .automaton_tables import table_automaton

MINECRAFT_PROPS = ("creeper", "iron", "lava", "smith_table", "wood", "work_bench")


def _t1() -> Automaton:
    # 0 safe, 1 violated.
    def step(q: int, L: frozenset[str]) -> int:
        return 1 if q == 1 or "creeper" in L or "lava" in L else 0

    return table_automaton(MINECRAFT_PROPS, 2, step, [True, False], name="t1")


def _t2() -> Automaton:
    # As T1, with a remembered "wood collected" bit: 0 no wood, 1 wood, 2 violated. The
    # language equals T1's, so a minimiser would merge 0 and 1; this table keeps them apart
    # on purpose, as the paper's hand-made automaton does.
    def step(q: int, L: frozenset[str]) -> int:
        if q == 2 or "creeper" in L or "lava" in L:
            return 2
        return 1 if q == 1 or "wood" in L else 0

    return table_automaton(MINECRAFT_PROPS, 3, step, [True, True, False], name="t2")


def _t3() -> Automaton:
    # 0 start, 1 wood seen, 2 crafted (lava allowed), 3 violated.
    def step(q: int, L: frozenset[str]) -> int:
        if q == 3 or "creeper" in L:
            return 3
        if q == 2:
            return 2
        if "lava" in L:
            return 3
        if q == 1 and "work_bench" in L:
            return 2
        return 1 if q == 1 or "wood" in L else 0

    return table_automaton(MINECRAFT_PROPS, 4, step, [True, True, True, False], name="t3")


def _t4() -> Automaton:
    # 0 start, 1 wood, 2 wood+iron, 3 route A (bench: lava ok), 4 route B (smith: creepers
    # ok), 5 violated. The first route completed decides which hazard becomes allowed.
    def step(q: int, L: frozenset[str]) -> int:
        if q == 5:
            return 5
        if q == 3:
            return 5 if "creeper" in L else 3
        if q == 4:
            return 5 if "lava" in L else 4
        if "creeper" in L or "lava" in L:
            return 5
        if q == 0:
            return 1 if "wood" in L else 0
        if "work_bench" in L:
            return 3
        if q == 2 and "smith_table" in L:
            return 4
        return 2 if q == 2 or "iron" in L else 1

    return table_automaton(MINECRAFT_PROPS, 6, step, [True] * 5 + [False], name="t4")


def minecraft_progression() -> list[Automaton]:
    return [_t1(), _t2(), _t3(), _t4()]
