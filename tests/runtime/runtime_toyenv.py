"""Tiny environments and specs shared by the runtime tests (importable by subprocess workers)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from speclang.compiler.automaton import Automaton
from speclang.runtime.build import automaton_from_function


class Corridor(gym.Env):
    """Positions 0..length-1, start in the middle; 0 = left, 1 = right. The left end is the
    goal (reward 1, terminates); the right end is lava (terminates, no reward). ``info``
    reports ``lava``, ``goal`` and ``pos``."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, length: int = 5, max_steps: int = 20) -> None:
        self.length = length
        self.max_steps = max_steps
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.pos = length // 2
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.pos / (self.length - 1)], dtype=np.float32)

    def _info(self) -> dict[str, Any]:
        return {"lava": self.pos == self.length - 1, "goal": self.pos == 0, "pos": self.pos}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.pos = self.length // 2
        self.t = 0
        return self._obs(), self._info()

    def step(self, action: int):
        self.pos = max(0, min(self.length - 1, self.pos + (1 if action == 1 else -1)))
        self.t += 1
        terminated = self.pos in (0, self.length - 1)
        truncated = not terminated and self.t >= self.max_steps
        reward = 1.0 if self.pos == 0 else 0.0
        return self._obs(), reward, terminated, truncated, self._info()


def no_lava() -> Automaton:
    """G !lava: state 0 safe, state 1 the violation sink."""
    return automaton_from_function(
        ["lava"], 2, lambda q, v: 1 if q == 1 or v["lava"] else 0,
        accepting=[True, False], name="no_lava", residuals=["G !lava", "false"],
    )


def reach_goal() -> Automaton:
    """F goal: state 0 waiting (rejecting), state 1 done (accepting for good)."""
    return automaton_from_function(
        ["goal"], 2, lambda q, v: 1 if q == 1 or v["goal"] else 0,
        accepting=[False, True], name="reach_goal", residuals=["F goal", "true"],
    )


def right_labels(obs: Any, info: dict[str, Any], env: Any) -> dict[str, bool]:
    """A module-level (picklable) labeler function: ``lava`` from the observation."""
    return {"lava": bool(obs[0] >= 1.0)}


def make_wrapped() -> gym.Env:
    from speclang.runtime.labelers import InfoLabeler
    from speclang.runtime.wrapper import SafeguardWrapper

    return SafeguardWrapper(Corridor(), no_lava(), InfoLabeler(["lava"]), observation="onehot")
