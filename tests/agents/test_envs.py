"""The vectorised simulator must reproduce the gymnasium environment's dynamics."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import speclang.agents.envs  # noqa: F401 - registers the ids
from speclang.agents.envs.layouts import ACTIONS, LAYOUTS, PROP_BIT, PROPS, get_layout
from speclang.agents.envs.minecraft import MinecraftEnv
from speclang.agents.envs.minecraft_fast import FastMinecraft


def _place(env: MinecraftEnv, cell: int, stage: int = 0) -> None:
    env.row, env.col = divmod(cell, env.layout.size)
    env.stage = stage


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_deterministic_moves_and_labels_agree(name: str) -> None:
    layout = get_layout(name)
    env = MinecraftEnv(name, slip=0.0, jitter=0.0)
    env.reset(seed=0)
    n = layout.size * layout.size
    fast = FastMinecraft(layout, n * len(ACTIONS), np.random.default_rng(0), slip=0.0, jitter=0.0)
    fast.reset()
    cells = np.repeat(np.arange(n), len(ACTIONS))
    actions = np.tile(np.arange(len(ACTIONS)), n)
    fast.cell[:] = cells
    masks, _ = fast.step(actions)
    for k, (cell, a) in enumerate(zip(cells, actions, strict=True)):
        _place(env, int(cell))
        obs, _, _, _, info = env.step(int(a))
        assert obs["cell"] == fast.cell[k], (name, cell, ACTIONS[a])
        assert info["labels"] == {p for p in PROPS if masks[k] & PROP_BIT[p]}


def test_layout1_matches_the_issue() -> None:
    env = MinecraftEnv("L1", jitter=0.0)
    env.reset(seed=0)
    at = {(r, c): env.masks[r * 10 + c] for r in range(10) for c in range(10)}
    assert all(at[(r, 5)] & PROP_BIT["lava"] for r in range(3))
    assert at[(2, 8)] & PROP_BIT["lava"] and at[(2, 9)] & PROP_BIT["lava"]
    assert at[(0, 7)] == PROP_BIT["diamond"]
    assert at[(0, 0)] == at[(4, 5)] == PROP_BIT["creeper"]
    assert {(r, c) for (r, c), m in at.items() if m & PROP_BIT["smith_table"]} == {
        (2, 4),
        (9, 0),
        (7, 7),
    }
    assert (env.row, env.col) == (5, 2)
    assert sum(bin(int(m)).count("1") for m in at.values()) == 5 + 15


def test_registered_ids_render_rgb() -> None:
    env = gymnasium.make("speclang/Minecraft-L2-v0", render_mode="rgb_array", reward_mode="task")
    obs, info = env.reset(seed=1)
    assert set(obs) == {"cell", "stage"} and "labels" in info
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.shape[0] == frame.shape[1]
    # distinct sprites: the frame contains many colours, not just floor and walls
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10


def _slip_histogram(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    layout = get_layout("L1")
    fast = FastMinecraft(layout, n, np.random.default_rng(seed), jitter=0.0)
    fast.reset()
    fast_moves = fast.cell.copy()
    fast.step(np.zeros(n, dtype=np.int64))  # "right" from the start cell
    fast_hist = np.bincount(fast.cell - fast_moves + 20, minlength=41)
    env = MinecraftEnv("L1", jitter=0.0)
    env.reset(seed=seed)
    gym_hist = np.zeros(41, dtype=np.int64)
    for _ in range(n):
        _place(env, layout.start_cell)
        obs, *_ = env.step(0)
        gym_hist[obs["cell"] - layout.start_cell + 20] += 1
    return fast_hist, gym_hist


def test_slip_distribution_agrees() -> None:
    n = 20_000
    fast_hist, gym_hist = _slip_histogram(n, 3)
    # exact rule: right with 0.95, each other action with 0.05 / 4
    expected = np.zeros(41)
    for delta, p in ((1, 0.95), (-10, 0.0125), (-1, 0.0125), (10, 0.0125), (0, 0.0125)):
        expected[delta + 20] = p * n
    for hist in (fast_hist, gym_hist):
        assert set(np.flatnonzero(hist)) <= set(np.flatnonzero(expected))
        sd = np.sqrt(expected * (1 - expected / n)) + 1
        assert np.all(np.abs(hist - expected) < 5 * sd)


def test_jitter_rule_agrees() -> None:
    layout = get_layout("L1")
    n = 4000
    fast = FastMinecraft(layout, n, np.random.default_rng(5), jitter=0.2)
    fast_masks = fast.jittered_masks(np.arange(n))
    env = MinecraftEnv("L1", jitter=0.2)
    gym_masks = []
    for i in range(n):
        env.reset(seed=10_000 + i)
        gym_masks.append(env.masks.copy())
    base = layout.base_masks()
    for masks in (fast_masks, np.array(gym_masks)):
        # lava never moves; every object stays within one step of its home
        assert np.all((masks & PROP_BIT["lava"]) == (base & PROP_BIT["lava"]))
        diamond_cells = np.argwhere(masks & PROP_BIT["diamond"])[:, 1]
        assert set(diamond_cells) <= {7, 6, 8, 17}  # (0,7) and its in-grid neighbours
        # (0,7) moves with p=0.2, and then 1 in 4 directions leaves the grid: stays w.p. 0.85
        stay = np.mean(diamond_cells == 7)
        assert abs(stay - 0.85) < 0.03
    fast_freq = np.mean(fast_masks != base, axis=0)
    gym_freq = np.mean(np.array(gym_masks) != base, axis=0)
    assert np.abs(fast_freq - gym_freq).max() < 0.05


def _shortest_safe_task(name: str) -> int | None:
    """Breadth-first search over (cell, stage) avoiding lava and creepers: the fewest steps
    from the start to the diamond after wood and then a work bench (None if impossible)."""
    from collections import deque

    from speclang.agents.envs.layouts import advance_stage, move_table

    layout = get_layout(name)
    masks = layout.base_masks()
    hazard = PROP_BIT["lava"] | PROP_BIT["creeper"]
    moves = move_table(layout.size)
    start = (layout.start_cell, advance_stage(0, int(masks[layout.start_cell])))
    dist = {start: 0}
    queue = deque([start])
    while queue:
        cell, stage = queue.popleft()
        if stage == 2 and masks[cell] & PROP_BIT["diamond"]:
            return dist[(cell, stage)]
        for nxt in moves[cell]:
            if masks[nxt] & hazard:
                continue
            state = (int(nxt), advance_stage(stage, int(masks[nxt])))
            if state not in dist:
                dist[state] = dist[(cell, stage)] + 1
                queue.append(state)
    return None


def test_every_layout_can_be_solved_safely_with_similar_effort() -> None:
    lengths = {name: _shortest_safe_task(name) for name in LAYOUTS}
    assert all(n is not None for n in lengths.values()), lengths
    # "similar difficulty": the safe solutions have comparable lengths
    assert max(lengths.values()) <= 2 * min(lengths.values()), lengths


# The authors' layouts as their code builds them (facts from grockious/safeguardedRL,
# minecraft.py): one label per cell, assigned in this order, a later one replacing an earlier
# one; jitter 0.
_PAPER = {
    "L1": [("lava", [(r, 5) for r in range(3)] + [(2, 8), (2, 9)]),
           ("creeper", [(0, 0), (4, 5)]), ("wood", [(2, 2), (7, 3), (5, 7)]),
           ("iron", [(0, 3), (4, 0), (9, 4)]), ("work_bench", [(6, 1), (6, 5), (4, 9)]),
           ("smith_table", [(2, 4), (9, 0), (7, 7)]), ("diamond", [(0, 7)])],
    "P2": [("lava", [(r, 3) for r in range(3)] + [(r, 3) for r in range(6, 10)]),
           ("iron", [(0, 0), (4, 5)]), ("wood", [(2, 2), (7, 3), (5, 7)]),
           ("creeper", [(0, 3), (4, 0), (9, 4)]), ("work_bench", [(6, 1), (6, 5), (4, 9)]),
           ("smith_table", [(2, 4), (9, 0), (7, 7)]), ("diamond", [(0, 7)])],
    "P3": [("lava", [(r, 2) for r in range(4)] + [(r, 6) for r in range(6)]),
           ("creeper", [(0, 0), (4, 5)]), ("wood", [(2, 2), (7, 3), (5, 7)]),
           ("iron", [(0, 3), (4, 0), (9, 4)]), ("work_bench", [(6, 1), (6, 5), (4, 9)]),
           ("smith_table", [(2, 4), (9, 0), (7, 7)]), ("diamond", [(0, 7)])],
}


@pytest.mark.parametrize("name", list(_PAPER))
def test_paper_layouts_match_the_authors_cells(name: str) -> None:
    grid = [["safe"] * 10 for _ in range(10)]
    for label, cells in _PAPER[name]:
        for r, c in cells:
            grid[r][c] = label
    layout = get_layout(name)
    masks = layout.base_masks()
    for r in range(10):
        for c in range(10):
            want = 0 if grid[r][c] == "safe" else PROP_BIT[grid[r][c]]
            assert masks[r * 10 + c] == want, (name, r, c, grid[r][c])
    assert layout.start == (5, 2)
    env = gymnasium.make(f"speclang/Minecraft-{name}-v0")
    assert env.unwrapped.layout.name == name
