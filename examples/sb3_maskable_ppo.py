"""sb3-contrib MaskablePPO on a safeguarded MiniGrid env (pip install 'speclang[sb3]').

The spec `no_bumping` (examples/door_key.spec) is enforced by the safeguard's pre-shield:
MaskablePPO reads `action_masks()` from the wrapper (through SB3's Monitor and vector env), so
the agent never takes an action the predictor says enters the violation sink. The observation
is one flat Box (`observation="flat_box"`: MiniGrid's image and direction, one-hot, plus the
monitor state), which SB3's MlpPolicy takes as it is. SafeguardCallback logs the cost and
violation rates; Monitor's `info_keywords` keeps each episode's unshaped task return.

    python examples/sb3_maskable_ppo.py [--steps N]   # default 20000 (a few minutes on CPU)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import gymnasium as gym
import minigrid  # noqa: F401 - registers MiniGrid-*
from sb3_contrib import MaskablePPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor

import speclang
from speclang.integrations.sb3 import SafeguardCallback
from speclang.runtime import MiniGridLabeler, SafeguardWrapper
from speclang.runtime.shield import MiniGridPredictor

SPEC = Path(__file__).resolve().parent / "door_key.spec"


def make_env() -> gym.Env:
    env = SafeguardWrapper(
        gym.make("MiniGrid-DoorKey-5x5-v0", max_steps=100),
        (speclang.load(str(SPEC)), "no_bumping"),
        MiniGridLabeler(view="before"),
        observation="flat_box",
        on_violation="terminate",
        shield=MiniGridPredictor(MiniGridLabeler(view="before")),
    )
    return Monitor(env, info_keywords=("safeguard_episode",))


def main(steps: int) -> SafeguardCallback:
    venv = make_vec_env(make_env, n_envs=2, seed=0)
    n_steps = 64 if steps < 1024 else 256
    model = MaskablePPO("MlpPolicy", venv, n_steps=n_steps, batch_size=64, seed=0, verbose=0)
    callback = SafeguardCallback()
    model.learn(steps, callback=callback)
    t = callback.total
    print(f"{t.episodes} episodes, {t.steps} steps: cost {t.cost:.0f}, "
          f"violating episodes {t.violating_episodes}")
    return callback


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int,
                    default=int(os.environ.get("SPECLANG_EXAMPLE_STEPS", 20_000)))
    main(ap.parse_args().steps)
