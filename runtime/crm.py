"""Counterfactual experiences (CRM, Icarte et al. 2018/2022) from one environment step.

The environment's transition does not depend on the monitor, so one step ``s -a-> s'`` with
labels ``L`` is a valid experience from *every* automaton state ``q``: the monitor would have
moved to ``delta(q, L)`` and the reward and termination follow from the same rules. An
off-policy learner on the product (observation encodes ``q``) can learn from all of them.

:class:`CounterfactualExperience` is the wrapper form: it adds ``info["counterfactuals"]``, a
list of :class:`Experience`, every step, replaying the step from every monitor state by the
rules of the safeguard wrappers below it (their reward, their observation encoding, their
violation handling).

>>> import gymnasium as gym
>>> from speclang.runtime.build import automaton_from_function
>>> from speclang.runtime.labelers import CallableLabeler
>>> from speclang.runtime.monitor import SpecMonitor
>>> from speclang.runtime.observation import MonitorObservation
>>> from speclang.runtime.violation import ViolationHandler
>>> east = automaton_from_function(["west"], 2, lambda q, v: int(q or v["west"]),
...                                accepting=[True, False], name="stay_east")
>>> west = CallableLabeler(lambda obs, info, env: {"west": obs % 4 == 0}, ["west"])
>>> lake = SpecMonitor(gym.make("FrozenLake-v1", is_slippery=False), east, west)
>>> env = CounterfactualExperience(MonitorObservation(ViolationHandler(lake), "index"))
>>> _ = env.reset(seed=0)
>>> [(e.state, e.next_state, e.obs, e.next_obs) for e in env.step(2)[4]["counterfactuals"]]
[(0, 0, 0, 2)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import gymnasium as gym

from .progression import ActiveSpec


class Experience(NamedTuple):
    obs: Any  # the observation as the agent would have seen it in ``state``
    action: Any
    reward: float
    next_obs: Any
    terminated: bool
    truncated: bool
    state: int
    next_state: int


def counterfactuals(
    spec: ActiveSpec,
    labels: Mapping[str, bool],
    *,
    obs: Any,
    action: Any,
    next_obs: Any,
    env_reward: float,
    env_terminated: bool,
    env_truncated: bool,
    encode: Callable[[Any, int], Any],
    reward: Callable[[float, int, int, bool], float],
    terminate_on_violation: bool,
    include_sink: bool = False,
) -> list[Experience]:
    """One experience per automaton state (the sink only with ``include_sink``: once there,
    a terminating wrapper never continues from it). ``encode(obs, q)`` builds the agent's
    observation, ``reward(env_reward, q, q_next, terminal)`` the wrapper's reward."""
    out = []
    for q in range(spec.aut.n_states):
        if spec.violated[q] and not include_sink:
            continue
        q2 = spec.step(q, labels)
        violated = spec.violated[q2]
        terminated = env_terminated or (violated and terminate_on_violation)
        r = reward(env_reward, q, q2, terminated)
        out.append(
            Experience(
                encode(obs, q), action, r, encode(next_obs, q2), terminated, env_truncated, q, q2
            )
        )
    return out


class CounterfactualExperience(gym.Wrapper):
    """Adds ``info["counterfactuals"]`` (a list of :class:`Experience`) to every step: this
    transition replayed from every non-sink monitor state (every state when violations do
    not end the episode), with observations encoded by the
    :class:`~speclang.runtime.observation.MonitorObservation` below (raw ones without it),
    rewards by the :class:`~speclang.runtime.reward.SafeguardReward` below (the env reward
    without it) and termination by the
    :class:`~speclang.runtime.violation.ViolationHandler` below (none: episodes go on in the
    sink). ``env`` must have a :class:`~speclang.runtime.monitor.SpecMonitor` in its chain."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        from .monitor import find_monitor, find_wrapper
        from .observation import MonitorObservation
        from .reward import SafeguardReward
        from .violation import ViolationHandler

        self.monitor = mon = find_monitor(env, "CounterfactualExperience")
        obs_wrapper = find_wrapper(env, MonitorObservation, stop=mon)
        reward_wrapper = find_wrapper(env, SafeguardReward, stop=mon)
        handler = find_wrapper(env, ViolationHandler, stop=mon)
        self.encode: Callable[[Any, int], Any] = (
            obs_wrapper.encode if obs_wrapper is not None else _raw
        )
        self.reward_of: Callable[[float, int, int, bool, bool], float] = (
            reward_wrapper.reward if reward_wrapper is not None else _env_reward
        )
        on_violation = handler.on_violation if handler is not None else "continue"
        self.terminate_on_violation = on_violation == "terminate"
        self.include_sink = on_violation == "continue"

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        last = self.monitor.last
        info["counterfactuals"] = self.counterfactuals(
            last.prev_obs, action, last.obs, last.env_reward, last.labels,
            last.env_terminated, last.truncated,
        )
        return obs, reward, terminated, truncated, info

    def counterfactuals(
        self,
        obs: Any,
        action: Any,
        next_obs: Any,
        env_reward: float,
        labels: Mapping[str, bool],
        env_terminated: bool,
        env_truncated: bool,
    ) -> list[Experience]:
        """The step ``obs -action-> next_obs`` with ``labels``, from every monitor state."""
        s = self.monitor.active
        reward_of = self.reward_of
        return counterfactuals(
            s,
            labels,
            obs=obs,
            action=action,
            next_obs=next_obs,
            env_reward=env_reward,
            env_terminated=env_terminated,
            env_truncated=env_truncated,
            encode=self.encode,
            reward=lambda r, q, q2, done: reward_of(r, q, q2, s.violated[q2], done),
            terminate_on_violation=self.terminate_on_violation,
            include_sink=self.include_sink,
        )


def _raw(obs: Any, q: int) -> Any:
    return obs


def _env_reward(env_reward: float, q: int, q_next: int, violated: bool, done: bool) -> float:
    return env_reward
