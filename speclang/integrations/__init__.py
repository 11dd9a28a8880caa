"""Logging callbacks for RL frameworks: the safeguard's cost and violation rates in their logs.

``speclang.integrations.sb3.SafeguardCallback`` (Stable-Baselines3 / sb3-contrib, the
``[sb3]`` extra) and ``speclang.integrations.rllib.SafeguardMetricsCallback`` (RLlib, the
``[rllib]`` extra). Both read ``info["safeguard_episode"]``, which
:class:`~speclang.runtime.wrapper.SafeguardWrapper` puts on every episode's last step (also
on episodes the safeguard ended), so they need no access to the wrapper itself: they work on
vectorised envs, in subprocess workers and on RLlib's EnvRunners. They import only
``speclang.runtime``'s conventions, never the agents or the LLM layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EPISODE_KEY = "safeguard_episode"


@dataclass
class EpisodeTally:
    """Safeguard statistics of the episodes seen since the last :meth:`clear`."""

    episodes: int = 0
    steps: int = 0
    cost: float = 0.0
    violations: int = 0
    violating_episodes: int = 0
    task_return: float = 0.0

    def add(self, episode: Mapping[str, Any]) -> None:
        self.episodes += 1
        self.steps += int(episode["l"])
        self.cost += float(episode["cost"])
        self.violations += int(episode["violations"])
        self.violating_episodes += bool(episode["violated"])
        self.task_return += float(episode["r"])

    def rates(self) -> dict[str, float]:
        """``safeguard/...`` means per episode and per step (empty when no episode ended)."""
        if not self.episodes:
            return {}
        return {
            "safeguard/episode_cost": self.cost / self.episodes,
            "safeguard/violation_rate": self.violating_episodes / self.episodes,
            "safeguard/violations_per_episode": self.violations / self.episodes,
            "safeguard/cost_per_step": self.cost / max(self.steps, 1),
            "safeguard/task_return": self.task_return / self.episodes,
        }

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]


__all__ = ["EPISODE_KEY", "EpisodeTally"]
