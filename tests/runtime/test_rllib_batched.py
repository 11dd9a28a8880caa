"""One batched monitor per vectorised RLlib EnvRunner (``batched_env_creator``): inside a real
``SingleAgentEnvRunner`` with three env copies, every step's monitor state, violation and
cost, and every episode's record, equal those of a separate per-copy ``SafeguardWrapper``
watching the same copy; and ``SafeguardMetricsCallback`` reports their means."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid environments)
import numpy as np
import pytest
from minigrid.wrappers import ImgObsWrapper

import speclang
from speclang.runtime import MiniGridLabeler, SafeguardWrapper
from tests.ray_needed import import_ray

SPEC = Path(__file__).resolve().parents[2] / "examples" / "door_key.spec"
N_ENVS = 3


class Oracle(gym.Wrapper):
    """A per-copy SafeguardWrapper whose verdicts travel in info under ``oracle_*`` keys (the
    vector wrapper above writes the ``safeguard`` keys)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(SafeguardWrapper(env, (speclang.load(str(SPEC)), "no_bumping"),
                                          MiniGridLabeler("before"), on_violation="continue"))

    @staticmethod
    def _rename(info: dict[str, Any]) -> dict[str, Any]:
        guard = info.pop("safeguard")
        info["oracle_state"] = guard["state"]
        info["oracle_violated"] = guard["violated"]
        info["oracle_cost"] = info.pop("cost", 0.0)
        if "safeguard_episode" in info:
            record = info.pop("safeguard_episode")
            info["oracle_episode"] = {k: v for k, v in record.items() if k != "t"}
        return info

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        return obs, self._rename(info)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, self._rename(info)


def make_copy(config: dict[str, Any]) -> gym.Env:
    env = gym.make("MiniGrid-DoorKey-5x5-v0", max_steps=config.get("max_steps", 40))
    return gym.wrappers.FlattenObservation(ImgObsWrapper(Oracle(env)))


@pytest.mark.ray
def test_one_batched_monitor_per_env_runner_equals_per_copy_monitors() -> None:
    import_ray("ray.rllib")
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
    from ray.tune.registry import register_env

    from speclang.integrations.rllib import SafeguardMetricsCallback, batched_env_creator
    from speclang.runtime.batched import BatchedMonitor
    from speclang.runtime.vector import SafeguardVectorWrapper

    register_env("speclang-test-batched", batched_env_creator(
        make_copy, (speclang.load(str(SPEC)), "no_bumping"), MiniGridLabeler("before"),
        observation="onehot"))
    config = (
        PPOConfig()
        .environment("speclang-test-batched", env_config={"max_steps": 40})
        .env_runners(num_env_runners=0, num_envs_per_env_runner=N_ENVS,
                     gym_env_vectorize_mode="vector_entry_point")
        .callbacks(SafeguardMetricsCallback)
        .debugging(seed=0)
    )
    runner = SingleAgentEnvRunner(config=config)
    try:
        vector = runner.env
        while not isinstance(vector, SafeguardVectorWrapper):
            vector = vector.env
        assert vector.num_envs == N_ENVS and isinstance(vector.monitor, BatchedMonitor)
        episodes = runner.sample(num_timesteps=400, random_actions=True)
        metrics = runner.get_metrics()
    finally:
        runner.stop()

    steps = violations = 0
    records = []
    for episode in episodes:
        infos = episode.get_infos()
        for info in infos[1:]:  # the first is the reset's: no transition
            assert info["safeguard"]["state"] == info["oracle_state"]
            assert info["safeguard"]["violated"] == info["oracle_violated"]
            assert info["cost"] == info["oracle_cost"]
            violations += int(info["cost"])
            steps += 1
        if episode.is_done:
            record = {k: v for k, v in infos[-1]["safeguard_episode"].items() if k != "t"}
            assert record.keys() == infos[-1]["oracle_episode"].keys()
            for key, value in infos[-1]["oracle_episode"].items():
                assert record[key] == value, key
            records.append(record)
    assert steps >= 390 and violations >= 5 and len(records) >= 5  # random actions bump walls
    # RLlib's reduced statistics (float() reads their mean)
    assert float(metrics["safeguard/episode_cost"]) == pytest.approx(
        np.mean([r["cost"] for r in records]))
    assert float(metrics["safeguard/violations_per_episode"]) == pytest.approx(
        np.mean([r["violations"] for r in records]))
    assert float(metrics["safeguard/task_return"]) == pytest.approx(
        np.mean([r["r"] for r in records]))
