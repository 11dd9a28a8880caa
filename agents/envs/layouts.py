"""Minecraft-inspired gridworld layouts and the dynamics rules shared by both simulators.

Coordinates are ``(row, col)`` from the top-left corner of a 10x10 grid; a cell index is
``row * size + col``. Both the gymnasium environment (``minecraft.py``) and the vectorised
simulator (``minecraft_fast.py``) read their constants from here so that they cannot drift
apart; each implements the *rules* on its own, and a test compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Proposition names in bit order: bit i of a cell's label mask is PROPS[i].
PROPS: tuple[str, ...] = (
    "lava",
    "creeper",
    "wood",
    "iron",
    "work_bench",
    "smith_table",
    "diamond",
)
PROP_BIT: dict[str, int] = {p: 1 << i for i, p in enumerate(PROPS)}

# Actions and their (d_row, d_col); "up" decreases the row.
ACTIONS: tuple[str, ...] = ("right", "up", "left", "down", "stay")
ACTION_DELTAS: tuple[tuple[int, int], ...] = ((0, 1), (-1, 0), (0, -1), (1, 0), (0, 0))
N_ACTIONS = len(ACTIONS)

SIZE = 10
SLIP = 0.05  # probability that the action is replaced by a uniformly random *other* action
JITTER = 0.05  # per movable object and reset: probability of moving one cell
# A jittered object moves by one cell in one of the four directions, chosen uniformly;
# a move that would leave the grid keeps the object in place. Lava is terrain, never moved.
JITTER_DELTAS: tuple[tuple[int, int], ...] = ((0, 1), (-1, 0), (0, -1), (1, 0))

# Rewards (see agents/envs/minecraft.py for the two modes).
REWARD_MODES = ("paper", "task")
SAFE_STEP_REWARD = 0.1
TASK_STEP_COST = -0.01
TASK_SUCCESS_REWARD = 1.0

# Task stages for the "task" reward mode: crafting needs wood first, then a work bench.
STAGE_START, STAGE_WOOD, STAGE_CRAFTED = 0, 1, 2
N_STAGES = 3


@dataclass(frozen=True)
class Layout:
    name: str
    lava: tuple[tuple[int, int], ...]
    objects: tuple[tuple[str, int, int], ...]  # (prop, row, col), movable by jitter
    start: tuple[int, int]
    size: int = SIZE

    def base_masks(self) -> np.ndarray:
        """Label masks per cell without jitter: uint8[size*size]."""
        masks = np.zeros(self.size * self.size, dtype=np.uint8)
        for r, c in self.lava:
            masks[r * self.size + c] |= PROP_BIT["lava"]
        for prop, r, c in self.objects:
            masks[r * self.size + c] |= PROP_BIT[prop]
        return masks

    @property
    def start_cell(self) -> int:
        return self.start[0] * self.size + self.start[1]

    def letters(self) -> list[int]:
        """Label masks that occur in the un-jittered layout, plus the empty letter."""
        return sorted({0, *(int(m) for m in self.base_masks())})


def _objs(**kinds: list[tuple[int, int]]) -> tuple[tuple[str, int, int], ...]:
    return tuple((prop, r, c) for prop, cells in kinds.items() for r, c in cells)


LAYOUTS: dict[str, Layout] = {
    # The paper's layout 1 (arXiv 2410.24096, first experiment), the same cells as the
    # authors' code (layout 1 there).
    "L1": Layout(
        name="L1",
        lava=((0, 5), (1, 5), (2, 5), (2, 8), (2, 9)),
        objects=_objs(
            creeper=[(0, 0), (4, 5)],
            wood=[(2, 2), (7, 3), (5, 7)],
            iron=[(0, 3), (4, 0), (9, 4)],
            work_bench=[(6, 1), (6, 5), (4, 9)],
            smith_table=[(2, 4), (9, 0), (7, 7)],
            diamond=[(0, 7)],
        ),
        start=(5, 2),
    ),
    # Ours (not the paper's): a lava river across row 5 with one dry ford on the right; the
    # diamond is on the far bank.
    "L2": Layout(
        name="L2",
        lava=tuple((5, c) for c in range(7)),
        objects=_objs(
            creeper=[(3, 8), (7, 2)],
            wood=[(1, 1), (8, 8), (4, 4)],
            iron=[(0, 9), (8, 0), (2, 6)],
            work_bench=[(0, 4), (9, 6), (6, 9)],
            smith_table=[(3, 0), (9, 9), (7, 5)],
            diamond=[(9, 1)],
        ),
        start=(1, 5),
    ),
    # Ours (not the paper's): two lava walls (column 3 from below, column 7 from above) force
    # a zig-zag.
    "L3": Layout(
        name="L3",
        lava=tuple((r, 3) for r in range(3, 10)) + tuple((r, 7) for r in range(0, 7)),
        objects=_objs(
            creeper=[(1, 1), (8, 5), (5, 9)],
            wood=[(0, 5), (9, 1), (4, 8)],
            iron=[(2, 2), (6, 5), (9, 9)],
            work_bench=[(3, 5), (8, 0), (0, 9)],
            smith_table=[(5, 1), (2, 8), (9, 6)],
            diamond=[(9, 8)],
        ),
        start=(0, 0),
    ),
    # The paper authors' layouts 2 and 3, reconstructed from their code (minecraft.py of
    # grockious/safeguardedRL, where they are commented out). A cell there holds one label
    # and objects are assigned after lava, so an object on a lava cell replaces the lava:
    # those cells are left out of `lava` here. Their jitter (one shift shared by some of the
    # objects) is not reproduced: every layout here uses the jitter rule above.
    "P2": Layout(
        name="P2",
        lava=tuple((r, 3) for r in (1, 2, 6, 8, 9)),  # (0,3) creeper, (7,3) wood
        objects=_objs(
            iron=[(0, 0), (4, 5)],
            wood=[(2, 2), (7, 3), (5, 7)],
            creeper=[(0, 3), (4, 0), (9, 4)],
            work_bench=[(6, 1), (6, 5), (4, 9)],
            smith_table=[(2, 4), (9, 0), (7, 7)],
            diamond=[(0, 7)],
        ),
        start=(5, 2),
    ),
    "P3": Layout(
        name="P3",
        lava=((0, 2), (1, 2), (3, 2)) + tuple((r, 6) for r in range(6)),  # (2,2) wood
        objects=_objs(
            creeper=[(0, 0), (4, 5)],
            wood=[(2, 2), (7, 3), (5, 7)],
            iron=[(0, 3), (4, 0), (9, 4)],
            work_bench=[(6, 1), (6, 5), (4, 9)],
            smith_table=[(2, 4), (9, 0), (7, 7)],
            diamond=[(0, 7)],
        ),
        start=(5, 2),
    ),
}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown layout {name!r} (known: {', '.join(LAYOUTS)})") from None


def move_table(size: int = SIZE) -> np.ndarray:
    """Deterministic successor cell: int32[size*size, N_ACTIONS]; walking off the grid stays."""
    table = np.zeros((size * size, N_ACTIONS), dtype=np.int32)
    for r in range(size):
        for c in range(size):
            for a, (dr, dc) in enumerate(ACTION_DELTAS):
                nr, nc = r + dr, c + dc
                if not (0 <= nr < size and 0 <= nc < size):
                    nr, nc = r, c
                table[r * size + c, a] = nr * size + nc
    return table


def advance_stage(stage: int, mask: int) -> int:
    """Task progress after entering a cell with label ``mask``."""
    if stage == STAGE_START and mask & PROP_BIT["wood"]:
        return STAGE_WOOD
    if stage == STAGE_WOOD and mask & PROP_BIT["work_bench"]:
        return STAGE_CRAFTED
    return stage
