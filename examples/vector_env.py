"""A gymnasium vector env under one batched monitor (SafeguardVectorWrapper).

Four MiniGrid DoorKey envs in a SyncVectorEnv, gymnasium's default NEXT_STEP autoreset; the
per-env MiniGridLabeler labels each row after its own step and sees its action, and one
BatchedMonitor steps all rows. A random policy runs for --steps vector steps; the per-row
cost (per violation event) and the spec's statistics are printed.

    python examples/vector_env.py [--steps N]   # default 2000
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import gymnasium as gym
import minigrid  # noqa: F401 - registers MiniGrid-*
import numpy as np

import speclang
from speclang.runtime import MiniGridLabeler, SafeguardVectorWrapper

SPEC = Path(__file__).resolve().parent / "door_key.spec"


def main(steps: int) -> SafeguardVectorWrapper:
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make("MiniGrid-DoorKey-5x5-v0", max_steps=50) for _ in range(4)])
    venv = SafeguardVectorWrapper(envs, (speclang.load(str(SPEC)), "no_bumping"),
                                  MiniGridLabeler(view="before"), on_violation="reset_monitor")
    venv.reset(seed=0)
    venv.action_space.seed(0)
    cost = np.zeros(venv.num_envs)
    for _ in range(steps):
        _, _, _, _, info = venv.step(venv.action_space.sample())
        cost += np.where(info["_cost"], info["cost"], 0.0)
    stats = venv.stats[venv.spec_name]
    print(f"{steps} vector steps: cost per row {cost.astype(int).tolist()}, "
          f"{stats.episodes} episodes, violation rate {stats.violation_rate:.2f}")
    return venv


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int,
                    default=int(os.environ.get("SPECLANG_EXAMPLE_STEPS", 2000)))
    main(ap.parse_args().steps)
