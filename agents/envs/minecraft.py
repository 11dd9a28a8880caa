"""The Minecraft-inspired gridworld as a gymnasium environment, rendered with MiniGrid.

Observation: ``{"cell": row*10+col, "stage": task stage}``; ``info["labels"]`` is the set of
propositions true in the agent's cell (the letter a safety monitor reads). Actions: right,
up, left, down, stay; with probability ``slip`` a uniformly random other action is executed.
At every reset each movable object is displaced by one cell with probability ``jitter``.

Reward modes:
  ``paper``: +0.1 per step (a safeguard wrapper adds the violation penalty and termination);
  ``task``:  -0.01 per step, +1 and termination on the diamond after crafting (wood, then a
             work bench), so that return and safety can pull in different directions.
Episodes are truncated after ``max_steps`` (1,000, as in the paper).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Lava, WorldObj
from minigrid.minigrid_env import MiniGridEnv
from minigrid.utils.rendering import (
    fill_coords,
    point_in_circle,
    point_in_rect,
    point_in_triangle,
)

from .layouts import (
    ACTION_DELTAS,
    JITTER,
    JITTER_DELTAS,
    N_ACTIONS,
    N_STAGES,
    PROP_BIT,
    PROPS,
    REWARD_MODES,
    SAFE_STEP_REWARD,
    SLIP,
    STAGE_CRAFTED,
    TASK_STEP_COST,
    TASK_SUCCESS_REWARD,
    Layout,
    advance_stage,
    get_layout,
)

# --- sprites -------------------------------------------------------------------------------
# MiniGrid caches tiles by (type, color, state), so every sprite uses its own pair.


class _Sprite(WorldObj):
    kind: tuple[str, str]  # the (type, color) pair MiniGrid encodes and caches this tile by

    def __init__(self) -> None:
        super().__init__(*self.kind)

    def can_overlap(self) -> bool:
        return True


class Creeper(_Sprite):
    kind = ("ball", "green")

    def render(self, img: np.ndarray) -> np.ndarray:
        fill_coords(img, point_in_rect(0.15, 0.85, 0.12, 0.88), (60, 170, 60))
        fill_coords(img, point_in_rect(0.27, 0.42, 0.28, 0.43), (0, 0, 0))
        fill_coords(img, point_in_rect(0.58, 0.73, 0.28, 0.43), (0, 0, 0))
        fill_coords(img, point_in_rect(0.42, 0.58, 0.43, 0.62), (0, 0, 0))
        fill_coords(img, point_in_rect(0.32, 0.42, 0.55, 0.78), (0, 0, 0))
        fill_coords(img, point_in_rect(0.58, 0.68, 0.55, 0.78), (0, 0, 0))
        return img


class Wood(_Sprite):
    kind = ("box", "yellow")

    def render(self, img: np.ndarray) -> np.ndarray:
        fill_coords(img, point_in_rect(0.2, 0.8, 0.1, 0.9), (120, 72, 30))
        for x in (0.32, 0.5, 0.68):
            fill_coords(img, point_in_rect(x - 0.02, x + 0.02, 0.15, 0.85), (80, 45, 15))
        fill_coords(img, point_in_circle(0.5, 0.1, 0.12), (200, 160, 90))
        return img


class Iron(_Sprite):
    kind = ("key", "grey")

    def render(self, img: np.ndarray) -> np.ndarray:
        fill_coords(img, point_in_rect(0.12, 0.88, 0.12, 0.88), (125, 125, 125))
        for cx, cy in ((0.3, 0.3), (0.65, 0.4), (0.4, 0.7), (0.72, 0.75)):
            fill_coords(img, point_in_circle(cx, cy, 0.08), (225, 190, 160))
        return img


class WorkBench(_Sprite):
    kind = ("box", "blue")

    def render(self, img: np.ndarray) -> np.ndarray:
        fill_coords(img, point_in_rect(0.1, 0.9, 0.2, 0.45), (170, 110, 50))
        for x in (0.3, 0.5, 0.7):
            fill_coords(img, point_in_rect(x - 0.015, x + 0.015, 0.2, 0.45), (60, 35, 10))
        fill_coords(img, point_in_rect(0.15, 0.25, 0.45, 0.9), (110, 70, 30))
        fill_coords(img, point_in_rect(0.75, 0.85, 0.45, 0.9), (110, 70, 30))
        return img


class SmithTable(_Sprite):
    kind = ("box", "purple")

    def render(self, img: np.ndarray) -> np.ndarray:
        fill_coords(img, point_in_rect(0.1, 0.9, 0.25, 0.45), (40, 40, 55))
        fill_coords(img, point_in_rect(0.35, 0.65, 0.45, 0.7), (40, 40, 55))
        fill_coords(img, point_in_rect(0.2, 0.8, 0.7, 0.85), (40, 40, 55))
        fill_coords(img, point_in_rect(0.1, 0.9, 0.25, 0.3), (150, 150, 170))
        return img


class Diamond(_Sprite):
    kind = ("goal", "blue")

    def render(self, img: np.ndarray) -> np.ndarray:
        fill_coords(img, point_in_triangle((0.5, 0.1), (0.15, 0.4), (0.85, 0.4)), (120, 240, 250))
        fill_coords(img, point_in_triangle((0.15, 0.4), (0.85, 0.4), (0.5, 0.9)), (40, 200, 220))
        return img


SPRITES: dict[str, type[_Sprite]] = {
    "diamond": Diamond,
    "creeper": Creeper,
    "smith_table": SmithTable,
    "work_bench": WorkBench,
    "iron": Iron,
    "wood": Wood,
}
# MiniGrid draws one object per cell; when jitter stacks two, the first listed is drawn.
_DRAW_ORDER = tuple(SPRITES)

# MiniGrid direction indices (0 right, 1 down, 2 left, 3 up) for our actions.
_ACTION_TO_DIR = {0: 0, 1: 3, 2: 2, 3: 1}


class MinecraftEnv(MiniGridEnv):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        layout: str | Layout = "L1",
        *,
        reward_mode: str = "paper",
        slip: float = SLIP,
        jitter: float = JITTER,
        max_steps: int = 1000,
        render_mode: str | None = None,
        tile_size: int = 32,
    ) -> None:
        if reward_mode not in REWARD_MODES:
            raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
        self.layout = get_layout(layout) if isinstance(layout, str) else layout
        self.reward_mode, self.slip, self.jitter = reward_mode, slip, jitter
        size = self.layout.size
        super().__init__(
            mission_space=MissionSpace(mission_func=lambda: "craft, then reach the diamond safely"),
            width=size + 2,
            height=size + 2,
            max_steps=max_steps,
            see_through_walls=True,
            render_mode=render_mode,
            highlight=False,
            tile_size=tile_size,
        )
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = spaces.Dict(
            {"cell": spaces.Discrete(size * size), "stage": spaces.Discrete(N_STAGES)}
        )
        self.positions: dict[str, list[tuple[int, int]]] = {}
        self.masks = np.zeros(size * size, dtype=np.uint8)
        self.row, self.col, self.stage = self.layout.start[0], self.layout.start[1], 0

    # --- layout --------------------------------------------------------------------------

    def _jittered_objects(self) -> list[tuple[str, int, int]]:
        size = self.layout.size
        out = []
        for prop, r, c in self.layout.objects:
            if self.np_random.random() < self.jitter:
                dr, dc = JITTER_DELTAS[int(self.np_random.integers(len(JITTER_DELTAS)))]
                if 0 <= r + dr < size and 0 <= c + dc < size:
                    r, c = r + dr, c + dc
            out.append((prop, r, c))
        return out

    def _gen_grid(self, width: int, height: int) -> None:
        size = self.layout.size
        self.grid = Grid(width, height)
        self.grid.wall_rect(0, 0, width, height)
        self.masks = np.zeros(size * size, dtype=np.uint8)
        for r, c in self.layout.lava:
            self.masks[r * size + c] |= PROP_BIT["lava"]
            self.grid.set(c + 1, r + 1, Lava())
        objects = self._jittered_objects()
        for prop, r, c in objects:
            self.masks[r * size + c] |= PROP_BIT[prop]
        for prop in reversed(_DRAW_ORDER):
            for p, r, c in objects:
                if p == prop:
                    self.grid.set(c + 1, r + 1, SPRITES[prop]())
        self.row, self.col = self.layout.start
        self.agent_pos = (self.col + 1, self.row + 1)
        self.agent_dir = 3
        self.stage = advance_stage(0, int(self.masks[self.cell]))

    # --- gymnasium API ---------------------------------------------------------------------

    @property
    def cell(self) -> int:
        return self.row * self.layout.size + self.col

    def labels(self) -> set[str]:
        mask = int(self.masks[self.cell])
        return {p for p in PROPS if mask & PROP_BIT[p]}

    def _obs(self) -> dict[str, int]:
        return {"cell": self.cell, "stage": self.stage}

    def reset(  # type: ignore[override]
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, int], dict[str, Any]]:
        super().reset(seed=seed, options=options)
        return self._obs(), {"labels": self.labels()}

    def gen_obs(self) -> dict[str, Any]:  # MiniGrid's reset asks for its own observation
        return {}

    def step(  # type: ignore[override]
        self, action: int
    ) -> tuple[dict[str, int], float, bool, bool, dict[str, Any]]:
        action = int(action)
        if not 0 <= action < N_ACTIONS:
            raise ValueError(f"action must be in 0..{N_ACTIONS - 1}, got {action}")
        if self.np_random.random() < self.slip:
            other = int(self.np_random.integers(N_ACTIONS - 1))
            action = other + (other >= action)
        dr, dc = ACTION_DELTAS[action]
        size = self.layout.size
        if 0 <= self.row + dr < size and 0 <= self.col + dc < size:
            self.row, self.col = self.row + dr, self.col + dc
        if action in _ACTION_TO_DIR:
            self.agent_dir = _ACTION_TO_DIR[action]
        self.agent_pos = (self.col + 1, self.row + 1)
        self.step_count += 1
        mask = int(self.masks[self.cell])
        self.stage = advance_stage(self.stage, mask)
        success = self.stage == STAGE_CRAFTED and bool(mask & PROP_BIT["diamond"])
        if self.reward_mode == "paper":
            reward, terminated = SAFE_STEP_REWARD, False
        else:
            reward = TASK_STEP_COST + (TASK_SUCCESS_REWARD if success else 0.0)
            terminated = success
        truncated = self.step_count >= self.max_steps and not terminated
        info = {"labels": self.labels(), "success": success, "executed_action": action}
        return self._obs(), reward, terminated, truncated, info


def minecraft_labeler() -> Any:
    """A ``runtime`` labeler binding every gridworld proposition to ``info["labels"]``, for
    attaching monitors with :class:`runtime.SafeguardWrapper`."""
    from speclang.runtime.labelers import CallableLabeler

    return CallableLabeler(lambda obs, info, env: {p: p in info["labels"] for p in PROPS}, PROPS)
