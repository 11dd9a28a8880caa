"""Many Minecraft gridworlds at once, as numpy arrays: the simulator behind tabular experiments.

It implements exactly the dynamics of :class:`~speclang.agents.envs.minecraft.MinecraftEnv`
(same move
rule, slip rule, jitter rule, labels and task stages; ``tests/agents`` checks this), but for
``n`` environments in lock-step with one numpy call per operation instead of one Python call
per environment and step. Rewards and safeguards are left to the caller, which owns the
monitors.
"""

from __future__ import annotations

import numpy as np

from ..rng import RowRandom
from .layouts import (
    JITTER,
    JITTER_DELTAS,
    N_ACTIONS,
    PROP_BIT,
    SLIP,
    STAGE_CRAFTED,
    STAGE_START,
    STAGE_WOOD,
    Layout,
    move_table,
)

_WOOD, _BENCH, _DIAMOND = PROP_BIT["wood"], PROP_BIT["work_bench"], PROP_BIT["diamond"]


def advance_stages(stage: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Vectorised :func:`speclang.agents.envs.layouts.advance_stage`."""
    out = stage.copy()
    out[(stage == STAGE_START) & ((mask & _WOOD) != 0)] = STAGE_WOOD
    out[(stage == STAGE_WOOD) & ((mask & _BENCH) != 0)] = STAGE_CRAFTED
    return out


class FastMinecraft:
    """State arrays (all length ``n``): ``cell`` (row*size+col), ``stage``, ``steps``; and
    ``masks`` uint8[n, size*size], each environment's jittered label layout."""

    def __init__(
        self,
        layout: Layout,
        n: int,
        rng: np.random.Generator | RowRandom,
        *,
        slip: float = SLIP,
        jitter: float = JITTER,
    ) -> None:
        self.layout, self.n = layout, n
        # A RowRandom gives each environment row its own streams (see speclang.agents.rng).
        self.rng = rng if isinstance(rng, RowRandom) else RowRandom.shared(rng, n)
        self.slip, self.jitter = slip, jitter
        self.size = layout.size
        self.moves = move_table(self.size)
        self.lava_masks = np.zeros(self.size * self.size, dtype=np.uint8)
        for r, c in layout.lava:
            self.lava_masks[r * self.size + c] |= PROP_BIT["lava"]
        self.obj_bit = np.array([PROP_BIT[p] for p, _, _ in layout.objects], dtype=np.uint8)
        self.obj_r = np.array([r for _, r, _ in layout.objects], dtype=np.int64)
        self.obj_c = np.array([c for _, _, c in layout.objects], dtype=np.int64)
        self.jitter_dr = np.array([d[0] for d in JITTER_DELTAS], dtype=np.int64)
        self.jitter_dc = np.array([d[1] for d in JITTER_DELTAS], dtype=np.int64)
        self.cell = np.zeros(n, dtype=np.int64)
        self.stage = np.zeros(n, dtype=np.int64)
        self.steps = np.zeros(n, dtype=np.int64)
        self.masks = np.zeros((n, self.size * self.size), dtype=np.uint8)
        self.rows = np.arange(n)

    # --- state for checkpoints ------------------------------------------------------------

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"cell": self.cell, "stage": self.stage, "steps": self.steps, "masks": self.masks}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for key in ("cell", "stage", "steps", "masks"):
            getattr(self, key)[...] = arrays[key]

    # --- dynamics -------------------------------------------------------------------------

    def jittered_masks(self, rows: np.ndarray) -> np.ndarray:
        """Fresh label layouts for environment ``rows``, uint8[len(rows), size*size], with the
        jitter rule applied (each row's jitter drawn from that row's stream)."""
        k = len(rows)
        n_obj = len(self.obj_bit)
        u = self.rng.jitter_uniforms(rows, n_obj)
        moved = u[..., 0] < self.jitter
        direction = np.minimum(
            (u[..., 1] * len(JITTER_DELTAS)).astype(np.int64), len(JITTER_DELTAS) - 1
        )
        r = self.obj_r + np.where(moved, self.jitter_dr[direction], 0)
        c = self.obj_c + np.where(moved, self.jitter_dc[direction], 0)
        inside = (r >= 0) & (r < self.size) & (c >= 0) & (c < self.size)
        r = np.where(inside, r, self.obj_r)
        c = np.where(inside, c, self.obj_c)
        masks = np.broadcast_to(self.lava_masks, (k, self.size * self.size)).copy()
        cells = r * self.size + c
        rows = np.arange(k)
        for j in range(n_obj):  # within one object no two writes hit the same (env, cell)
            masks[rows, cells[:, j]] |= self.obj_bit[j]
        return masks

    def reset(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Reset the environments ``idx`` (all when ``None``); returns their start labels."""
        idx = self.rows if idx is None else np.asarray(idx)
        self.masks[idx] = self.jittered_masks(idx)
        self.cell[idx] = self.layout.start_cell
        self.steps[idx] = 0
        start_masks = self.masks[idx, self.layout.start_cell]
        self.stage[idx] = advance_stages(np.zeros(len(idx), dtype=np.int64), start_masks)
        return start_masks

    def slipped(self, actions: np.ndarray) -> np.ndarray:
        """Actions after slipping: with probability ``slip``, a uniformly random other one."""
        u = self.rng.slip_uniforms()
        slip = u[:, 0] < self.slip
        other = np.minimum((u[:, 1] * (N_ACTIONS - 1)).astype(np.int64), N_ACTIONS - 2)
        other = other + (other >= actions)
        return np.where(slip, other, actions)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move every environment; returns (label masks of the new cells, task success)."""
        executed = self.slipped(actions)
        self.cell = self.moves[self.cell, executed]
        self.steps += 1
        mask = self.masks[self.rows, self.cell]
        self.stage = advance_stages(self.stage, mask)
        success = (self.stage == STAGE_CRAFTED) & ((mask & _DIAMOND) != 0)
        return mask, success

    def next_masks(self) -> np.ndarray:
        """Slip-free look-ahead: labels of the cell each action leads to, uint8[n, actions]."""
        return self.masks[self.rows[:, None], self.moves[self.cell]]
