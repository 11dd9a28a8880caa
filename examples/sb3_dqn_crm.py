"""Stable-Baselines3 DQN with counterfactual experiences (CRM) in its replay buffer.

FrozenLake (4x4, not slippery) under the spec "enter the west column at most once": three
monitor states (none yet, once, the violation sink). The observation is the product index
(`observation="index"`: cell * 3 + monitor state), so DQN learns on the product. With
`crm=True` the safeguard replays every step from both non-sink monitor states
(`info["counterfactuals"]`); SB3 stores the one the agent took and
`speclang.integrations.sb3.CounterfactualReplay` adds the other, so the replay buffer holds
two experiences per environment step.

    python examples/sb3_dqn_crm.py [--steps N]   # default 20000 (about a minute on CPU)
"""

from __future__ import annotations

import argparse
import os

import gymnasium as gym
from stable_baselines3 import DQN
from stable_baselines3.common.monitor import Monitor

from speclang.integrations.sb3 import CounterfactualReplay, SafeguardCallback
from speclang.runtime import SafeguardWrapper
from speclang.runtime.build import automaton_from_function
from speclang.runtime.labelers import CallableLabeler

# q: 0 = not yet in the west column, 1 = once, 2 = twice (violated, absorbing)
WEST_ONCE = automaton_from_function(
    ["west"], 3, lambda q, v: 2 if q == 2 else q + int(v["west"]),
    accepting=[True, True, False], name="west_at_most_once")
WEST = CallableLabeler(lambda obs, info, env: {"west": obs % 4 == 0}, ["west"])


def make_env() -> gym.Env:
    lake = gym.make("FrozenLake-v1", is_slippery=False)
    env = SafeguardWrapper(lake, WEST_ONCE, WEST, observation="index", reward="penalty",
                           penalty=1.0, crm=True)
    return Monitor(env, info_keywords=("safeguard_episode",))


def main(steps: int) -> tuple[DQN, CounterfactualReplay, SafeguardCallback]:
    model = DQN("MlpPolicy", make_env(), learning_starts=min(1000, steps // 4),
                buffer_size=2 * steps, exploration_fraction=0.5, seed=0, verbose=0)
    crm, stats = CounterfactualReplay(), SafeguardCallback()
    model.learn(steps, callback=[crm, stats])
    t = stats.total
    print(f"{steps} env steps, {crm.added} counterfactual experiences added, replay buffer "
          f"{model.replay_buffer.size()}; {t.episodes} episodes, "
          f"{t.violating_episodes} violating, task return {t.task_return:.0f}")
    return model, crm, stats


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int,
                    default=int(os.environ.get("SPECLANG_EXAMPLE_STEPS", 20_000)))
    main(ap.parse_args().steps)
