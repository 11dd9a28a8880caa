"""``SafeguardMetricsCallback``: RLlib's metrics get the safeguard's episode cost, violations
and violation rate, logged on the EnvRunners at each episode's end and reduced (mean) by
RLlib into ``result["env_runners"]["safeguard/..."]``.

    config = PPOConfig().environment("my-safeguarded-env").callbacks(SafeguardMetricsCallback)
"""

from __future__ import annotations

from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

from . import EPISODE_KEY


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


__all__ = ["SafeguardMetricsCallback"]
