"""``ViolationHandler``: what happens when the monitor below enters its violation sink.

``on_violation="terminate"`` ends the episode (``terminated=True``, and the monitor writes its
``info["safeguard_episode"]`` on that step); ``"reset_monitor"`` puts the monitor back in its
initial state and the episode goes on (the next observation encodes the reset state);
``"continue"`` leaves the monitor in the sink. Adds no ``info`` keys of its own.

>>> import gymnasium as gym
>>> from speclang.runtime.build import automaton_from_function
>>> from speclang.runtime.labelers import CallableLabeler
>>> from speclang.runtime.monitor import SpecMonitor
>>> east = automaton_from_function(["west"], 2, lambda q, v: int(q or v["west"]),
...                                accepting=[True, False], name="stay_east")
>>> west = CallableLabeler(lambda obs, info, env: {"west": obs % 4 == 0}, ["west"])
>>> lake = gym.make("FrozenLake-v1", is_slippery=False)
>>> env = ViolationHandler(SpecMonitor(lake, east, west), "terminate")
>>> _ = env.reset(seed=0)
>>> _, _, terminated, _, info = env.step(1)   # down: into the west column
>>> terminated, info["safeguard_episode"]["violations"]
(True, 1)
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym

from .monitor import _choice, find_monitor

ViolationMode = Literal["terminate", "continue", "reset_monitor"]
VIOLATION_MODES = ("terminate", "continue", "reset_monitor")


class ViolationHandler(gym.Wrapper):
    """Ends the episode or resets the monitor on a violation; ``env`` must have a
    :class:`~speclang.runtime.monitor.SpecMonitor` in its chain."""

    def __init__(self, env: gym.Env, on_violation: ViolationMode = "terminate") -> None:
        super().__init__(env)
        _choice("on_violation", on_violation, VIOLATION_MODES)
        self.on_violation = on_violation
        self.monitor = find_monitor(env, "ViolationHandler")
        self._terminate = on_violation == "terminate"
        self._reset = on_violation == "reset_monitor"

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        mon = self.monitor
        if mon.last.violated:
            if self._terminate and not terminated:
                terminated = True
                mon.end_episode(info)
            elif self._reset:
                mon.reset_state()
        return obs, reward, terminated, truncated, info
