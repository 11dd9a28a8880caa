"""RLlib: the safeguard's metrics and one batched monitor per vectorised EnvRunner.

``SafeguardMetricsCallback``: RLlib's metrics get the safeguard's episode cost, violations
and violation rate, logged on the EnvRunners at each episode's end and reduced (mean) by
RLlib into ``result["env_runners"]["safeguard/..."]``.

    config = PPOConfig().environment("my-safeguarded-env").callbacks(SafeguardMetricsCallback)

``batched_env_creator``: an env creator for ``register_env`` with which each EnvRunner holds
its ``num_envs_per_env_runner`` env copies in one ``SyncVectorEnv`` under one
:class:`~speclang.runtime.vector.SafeguardVectorWrapper`, so that one
:class:`~speclang.runtime.batched.BatchedMonitor` steps all copies' monitors in one kernel
call per step (instead of one ``SafeguardWrapper`` per copy). RLlib calls it as the vector
entry point (``gym_env_vectorize_mode="vector_entry_point"``):

    register_env("my-env", batched_env_creator(make_env, spec, MiniGridLabeler("before"),
                                               observation="onehot"))
    config = (PPOConfig().environment("my-env")
              .env_runners(num_envs_per_env_runner=4,
                           gym_env_vectorize_mode="vector_entry_point")
              .callbacks(SafeguardMetricsCallback))

The vector wrapper cannot end a row's episode on a violation nor shield actions (the inner
vector env would not reset the row): it monitors, costs and shapes; for a shield and masks
use ``SafeguardWrapper`` in each copy (``examples/rllib_ppo.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium as gym
from gymnasium.vector import SyncVectorEnv
from ray.rllib.callbacks.callbacks import RLlibCallback

from speclang.runtime.labelers import Labeler
from speclang.runtime.vector import SafeguardVectorWrapper

from . import EPISODE_KEY


def batched_env_creator(make_env: Callable[[dict[str, Any]], gym.Env], spec: Any,
                        labeler: Labeler, **wrapper_kwargs: Any
                        ) -> Callable[[dict[str, Any]], SafeguardVectorWrapper]:
    """``make_env(env_config)`` builds one unwrapped copy; ``spec``, ``labeler`` and
    ``wrapper_kwargs`` go to :class:`~speclang.runtime.vector.SafeguardVectorWrapper` (a
    per-env labeler such as ``MiniGridLabeler`` is copied once per row by the wrapper)."""

    def create(env_config: dict[str, Any]) -> SafeguardVectorWrapper:
        n = env_config.get("num_envs") if hasattr(env_config, "get") else None
        if n is None:
            raise ValueError(
                "batched_env_creator builds a vector env: RLlib calls it with "
                'env_config["num_envs"] only under .env_runners('
                'gym_env_vectorize_mode="vector_entry_point")')
        venv = SyncVectorEnv([partial(make_env, env_config) for _ in range(int(n))])
        return SafeguardVectorWrapper(venv, spec, labeler, **wrapper_kwargs)

    return create


class SafeguardMetricsCallback(RLlibCallback):
    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None,
                       **kwargs: Any) -> None:
        if metrics_logger is None:
            return
        info = episode.get_infos(-1)
        record = info.get(EPISODE_KEY) if isinstance(info, dict) else None
        if record is None:  # an episode cut by the sampler before it ended
            return
        length = max(int(record["l"]), 1)
        metrics_logger.log_value("safeguard/episode_cost", float(record["cost"]), reduce="mean")
        metrics_logger.log_value("safeguard/violation_rate", float(bool(record["violated"])),
                                 reduce="mean")
        metrics_logger.log_value("safeguard/violations_per_episode",
                                 float(record["violations"]), reduce="mean")
        metrics_logger.log_value("safeguard/cost_per_step", float(record["cost"]) / length,
                                 reduce="mean")
        metrics_logger.log_value("safeguard/task_return", float(record["r"]), reduce="mean")


__all__ = ["SafeguardMetricsCallback", "batched_env_creator"]
