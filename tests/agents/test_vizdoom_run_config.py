"""The VizDoom learners' configs share one base (agents/vizdoom/run_config.py): the keys and
defaults each one had before the base existed, and what the base checks."""

from __future__ import annotations

from dataclasses import asdict, fields

import pytest

from speclang.agents.errors import ConfigError
from speclang.agents.vizdoom.ppo import PPOConfig
from speclang.agents.vizdoom.randpol import RandpolConfig
from speclang.agents.vizdoom.run_config import VizDoomRunConfig, read_flat_config

# asdict(...) of each config before the shared base (the commit that introduced it): the
# keys of config.json and their defaults must not change (new keys may be added).
PPO_BEFORE = {
    "name": "vizdoom_ppo",
    "algorithm": "vizdoom_ppo",
    "spec_file": "../vizdoom.spec",
    "progression": "vizdoom",
    "methods": [
        "progressive",
        "zero_shot",
        "no_safeguard",
        "intrinsic_fear",
        "progressive_critic",
        "zero_shot_critic",
    ],
    "seeds": 5,
    "seed": 0,
    "scenario": "health_gathering_supreme",
    "frame_skip": 4,
    "frame_stack": 4,
    "downscale": 2,
    "episode_timeout": 2100,
    "total_timesteps": 20000,
    "num_envs": 4,
    "num_steps": 128,
    "learning_rate": 0.00025,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "num_minibatches": 4,
    "update_epochs": 3,
    "clip_coef": 0.1,
    "ent_coef": 0.01,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "hidden": 256,
    "task_reward": "scenario",
    "reward_scale": 0.01,
    "violation_penalty": 1.0,
    "shaping": True,
    "potential": "violation_distance",
    "fear_lambda": 0.5,
    "fear_horizon": 8,
    "fear_network": "shared",
    "fear_phase_in": 0.0,
    "automaton_input": "index",
    "critic_horizon": 8,
    "critic_threshold": 0.1,
    "critic_learning_rate": 0.001,
    "critic_init": 0.01,
    "critic_buffer": 16,
    "critic_batches": 8,
    "critic_batch_size": 128,
    "critic_sink_share": 0.25,  # added after the base (7792f46)
    "safe_window": 20,
    "safe_rate": 0.9,
    "device": "auto",
    "torch_threads": 1,
    "workers": 1,
    "base_dir": ".",
}
RANDPOL_BEFORE = {
    "name": "vizdoom_randpol",
    "algorithm": "vizdoom_randpol",
    "spec_file": "../vizdoom.spec",
    "progression": "vizdoom",
    "methods": ["progressive", "zero_shot"],
    "seeds": 3,
    "seed": 0,
    "scenario": "health_gathering_supreme",
    "frame_skip": 4,
    "frame_stack": 4,
    "downscale": 4,
    "episode_timeout": 2100,
    "total_timesteps": 8192,
    "num_envs": 4,
    "task_reward": "scenario",
    "reward_scale": 0.01,
    "violation_penalty": 1.0,
    "shaping": True,
    "potential": "violation_distance",
    "automaton_input": "index",
    "gamma": 0.99,
    "hidden": 256,
    "ridge": 1.0,
    "iteration_steps": 1024,
    "evaluation_sweeps": 10,
    "buffer_size": 8192,
    "start_e": 1.0,
    "end_e": 0.05,
    "exploration_fraction": 0.5,
    "safe_window": 20,
    "safe_rate": 0.9,
    "torch_threads": 1,
    "base_dir": ".",
}


@pytest.mark.parametrize("cls, before", [(PPOConfig, PPO_BEFORE), (RandpolConfig, RANDPOL_BEFORE)])
def test_keys_and_defaults_are_those_before_the_base(cls, before) -> None:
    # every earlier key still there with its default (keys added since are new settings)
    now = asdict(cls())
    assert {k: now[k] for k in before if k in now} == before


def test_config_json_lists_the_shared_keys_first() -> None:
    shared = [f.name for f in fields(VizDoomRunConfig)]
    for cls in (PPOConfig, RandpolConfig):
        assert list(asdict(cls()))[: len(shared)] == shared


def test_the_shared_checks_apply_to_both(tmp_path) -> None:
    for cfg in (PPOConfig(task_reward="health"), RandpolConfig(task_reward="health")):
        with pytest.raises(ConfigError, match="task_reward"):
            cfg.validate()
    for cfg in (PPOConfig(automaton_input="raw"), RandpolConfig(automaton_input="raw")):
        with pytest.raises(ConfigError, match="automaton_input"):
            cfg.validate()
    for cfg in (PPOConfig(num_envs=0), RandpolConfig(num_envs=0)):
        with pytest.raises(ConfigError, match="num_envs must be >= 1"):
            cfg.validate()
    with pytest.raises(ConfigError, match="methods must be"):
        RandpolConfig(methods=["intrinsic_fear"]).validate()
    PPOConfig(methods=["intrinsic_fear"]).validate()


def test_a_learners_own_key_is_unknown_to_the_other(tmp_path) -> None:
    p = tmp_path / "x.toml"
    p.write_text("ridge = 2.0\nframe_skip = 2\n")
    assert read_flat_config(p, RandpolConfig) == {"ridge": 2.0, "frame_skip": 2}
    with pytest.raises(ConfigError, match="unknown keys ridge"):
        read_flat_config(p, PPOConfig)
