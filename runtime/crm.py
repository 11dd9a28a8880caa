"""Counterfactual experiences (CRM, Icarte et al. 2018/2022) from one environment step.

The environment's transition does not depend on the monitor, so one step ``s -a-> s'`` with
labels ``L`` is a valid experience from *every* automaton state ``q``: the monitor would have
moved to ``delta(q, L)`` and the reward and termination follow from the same rules. An
off-policy learner on the product (observation encodes ``q``) can learn from all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

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
