"""``SafeguardReward``: the reward an agent learns from, computed from the monitor below.

Modes (``q`` the monitor state before the step, ``q'`` the state it reached):

``"shaping"``
    env reward ``+ gamma * phi[q'] - phi[q]``, with ``phi = 0`` after the episode's last step
    (potential-based, so optimal policies are unchanged); ``phi`` from
    ``speclang.compiler.shaping.potentials(aut, potential)`` or given as ``potentials``.
``"penalty"``
    env reward ``- penalty`` on every step that ends in the violation sink.
``"paper"``
    ``+safe_reward`` per safe step, ``-safe_reward`` on violating steps (arXiv 2410.24096),
    plus the env reward only with ``paper_env_reward=True``.
``"env"``
    the env reward unchanged.

The environment's own reward stays available unshaped: the monitor reports it in
``info["safeguard_episode"]["r"]`` at the episode's end. Adds no ``info`` keys.

>>> import gymnasium as gym
>>> import numpy as np
>>> from speclang.runtime.build import automaton_from_function
>>> from speclang.runtime.labelers import CallableLabeler
>>> from speclang.runtime.monitor import SpecMonitor
>>> east = automaton_from_function(["west"], 2, lambda q, v: int(q or v["west"]),
...                                accepting=[True, False], name="stay_east")
>>> west = CallableLabeler(lambda obs, info, env: {"west": obs % 4 == 0}, ["west"])
>>> lake = SpecMonitor(gym.make("FrozenLake-v1", is_slippery=False), east, west)
>>> env = SafeguardReward(lake, "shaping", gamma=0.5, potentials=np.array([2.0, 0.0]))
>>> _ = env.reset(seed=0)
>>> env.step(2)[1], env.step(0)[1]   # right (safe: 0.5 * 2 - 2), back left (the sink: 0 - 2)
(-1.0, -2.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from .monitor import SpecMonitor, _choice, find_monitor

RewardMode = Literal["env", "shaping", "penalty", "paper"]
REWARD_MODES = ("env", "shaping", "penalty", "paper")


def check_reward_args(gamma: float, penalty: float, safe_reward: float) -> None:
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")
    if penalty < 0 or safe_reward < 0:
        raise ValueError("penalty and safe_reward are magnitudes and must be >= 0")


class SafeguardReward(gym.Wrapper):
    """Replaces the reward by the ``reward`` mode's; ``env`` must have a
    :class:`~speclang.runtime.monitor.SpecMonitor` in its chain (and the violation handler,
    if any, below this wrapper, so that ``done`` includes the episodes it ends)."""

    def __init__(
        self,
        env: gym.Env,
        reward: RewardMode = "shaping",
        *,
        gamma: float = 0.99,
        potential: str = "violation_distance",
        potentials: Mapping[str, Any] | np.ndarray | None = None,
        penalty: float = 1.0,
        safe_reward: float = 1.0,
        paper_env_reward: bool = False,
    ) -> None:
        super().__init__(env)
        _choice("reward", reward, REWARD_MODES)
        check_reward_args(gamma, penalty, safe_reward)
        self.reward_mode = reward
        self.gamma = float(gamma)
        self.penalty = float(penalty)
        self.safe_reward = float(safe_reward)
        self.paper_env_reward = paper_env_reward
        self.monitor = find_monitor(env, "SafeguardReward")
        self._phi: dict[str, list[float]] = {}
        if reward == "shaping":
            self._phi = _potentials(self.monitor, potential, potentials)
        self._env_only = reward == "env"
        self._shaping = reward == "shaping"

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        last = self.monitor.last
        env_reward = float(env_reward)
        if self._env_only:
            return obs, env_reward, terminated, truncated, info
        done = terminated or truncated
        if self._shaping:
            phi = self._phi[self.monitor.active.name]
            q = last.q
            reward = env_reward + (0.0 if done else self.gamma * phi[q]) - phi[last.q_prev]
        else:
            reward = self.reward(env_reward, last.q_prev, last.q, last.violated, done)
        return obs, reward, terminated, truncated, info

    def reward(self, env_reward: float, q: int, q_next: int, violated: bool, done: bool) -> float:
        """The reward of a step from ``q`` to ``q_next`` (``violated``: ``q_next`` is the
        sink) with env reward ``env_reward``, under the active spec; counterfactual
        experiences use it for steps the agent did not take."""
        mode = self.reward_mode
        if mode == "env":
            return env_reward
        if mode == "penalty":
            return env_reward - self.penalty if violated else env_reward
        if mode == "paper":
            r = -self.safe_reward if violated else self.safe_reward
            return r + env_reward if self.paper_env_reward else r
        phi = self._phi[self.monitor.active.name]
        nxt = 0.0 if done else self.gamma * phi[q_next]
        return env_reward + nxt - phi[q]


def _potentials(monitor: SpecMonitor, kind: str, given: Any) -> dict[str, list[float]]:
    out = {}
    for name, s in monitor.specs.items():
        if given is None:
            from speclang.compiler.shaping import potentials

            phi = potentials(s.aut, kind)  # type: ignore[arg-type]
        elif isinstance(given, Mapping):
            if name not in given:
                raise ValueError(f'potentials has no entry for spec "{name}"')
            phi = given[name]
        else:
            if len(monitor.specs) > 1:
                raise ValueError("a progression needs potentials as {spec name: array}")
            phi = given
        arr = np.asarray(phi, dtype=np.float64)
        if arr.shape != (s.aut.n_states,):
            raise ValueError(
                f'potentials of spec "{name}" must have shape ({s.aut.n_states},), '
                f"got {arr.shape}"
            )
        out[name] = arr.tolist()
    return out
