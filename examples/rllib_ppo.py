"""RLlib PPO on a safeguarded MiniGrid env (pip install 'speclang[rllib]').

- Registration: `register_env` with a creator that builds the SafeguardWrapper, so every
  EnvRunner (local or remote, each vectorised env copy) carries its own monitor and shield.
- The mask in the observation: `observation="flat_box", mask_observation=True` gives
  `{"observations": Box, "action_mask": Box}`, the layout of RLlib's action-masking RL module
  (`ActionMaskingTorchRLModule`), which never samples a masked action.
- Cost metrics: SafeguardMetricsCallback logs the episode cost, violations and violation rate
  on the EnvRunners; they come back in `result["env_runners"]["safeguard/..."]`.

    python examples/rllib_ppo.py [--iterations N] [--batch N]   # default 5 x 2000 steps
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401 - registers MiniGrid-*
import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.examples.rl_modules.classes.action_masking_rlm import (
    ActionMaskingTorchRLModule,
)
from ray.tune.registry import register_env

import speclang
from speclang.integrations.rllib import SafeguardMetricsCallback
from speclang.runtime import MiniGridLabeler, SafeguardWrapper
from speclang.runtime.shield import MiniGridPredictor

SPEC = Path(__file__).resolve().parent / "door_key.spec"
ENV = "speclang-doorkey-no-bumping"


def make_env(config: dict[str, Any]) -> gym.Env:
    return SafeguardWrapper(
        gym.make("MiniGrid-DoorKey-5x5-v0", max_steps=config.get("max_steps", 100)),
        (speclang.load(str(SPEC)), "no_bumping"),
        MiniGridLabeler(view="before"),
        observation="flat_box",
        on_violation="terminate",
        shield=MiniGridPredictor(MiniGridLabeler(view="before")),
        mask_observation=True,
    )


def main(iterations: int, batch: int) -> dict[str, Any]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    register_env(ENV, make_env)
    config = (
        PPOConfig()
        .environment(ENV, env_config={"max_steps": 100})
        .env_runners(num_env_runners=0, num_envs_per_env_runner=2)
        .training(train_batch_size_per_learner=batch, minibatch_size=min(batch, 128),
                  num_epochs=2, lr=3e-4)
        .rl_module(rl_module_spec=RLModuleSpec(
            module_class=ActionMaskingTorchRLModule,
            model_config={"head_fcnet_hiddens": [64, 64]}))
        .callbacks(SafeguardMetricsCallback)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        for i in range(iterations):
            result = algo.train()
            runners = result["env_runners"]
            nan = float("nan")
            print(f"iteration {i + 1}: return {runners.get('episode_return_mean', nan):.3f}, "
                  f"episode cost {runners.get('safeguard/episode_cost', nan):.3f}, "
                  f"violation rate {runners.get('safeguard/violation_rate', nan):.3f}")
    finally:
        algo.stop()
        ray.shutdown()
    return dict(runners)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int,
                    default=int(os.environ.get("SPECLANG_EXAMPLE_ITERATIONS", 5)))
    ap.add_argument("--batch", type=int,
                    default=int(os.environ.get("SPECLANG_EXAMPLE_STEPS", 2000)))
    args = ap.parse_args()
    main(args.iterations, args.batch)
