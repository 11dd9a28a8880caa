"""observation="features": the spec-agnostic monitor-state features in a flat Box (SB3
MlpPolicy / RLlib), read off compiler.state_features' table of the active spec."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from runtime_toyenv import no_lava

from speclang.compiler.state_features import feature_names, state_features
from speclang.runtime.labelers import InfoLabeler
from speclang.runtime.monitor import SpecMonitor
from speclang.runtime.observation import MonitorObservation
from speclang.runtime.wrapper import SafeguardWrapper


class Frames(gym.Env):
    """uint8 frames and a ``hurt`` flag in ``info`` (action 2 hurts)."""

    def __init__(self):
        self.observation_space = spaces.Box(0, 255, (2, 3, 4), dtype=np.uint8)
        self.action_space = spaces.Discrete(3)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.integers(0, 256, (2, 3, 4), dtype=np.uint8), {"hurt": False}

    def step(self, action):
        self.t += 1
        frame = self.np_random.integers(0, 256, (2, 3, 4), dtype=np.uint8)
        return frame, 1.0, False, self.t >= 10, {"hurt": action == 2}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_features_follow_the_monitor_state() -> None:
    spec = no_lava()
    env = SafeguardWrapper(Frames(), spec, InfoLabeler({"lava": "hurt"}),
                           observation="features", on_violation="continue")
    table = state_features(spec, ["lava"]).table
    width = len(feature_names(["lava"]))
    assert env.observation_space.shape == (24 + width,)
    assert env.observation_space.dtype == np.float32
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs[24:], table[spec.initial])
    for action, q in ((0, spec.initial), (2, spec.violation_sink), (0, spec.violation_sink)):
        obs, *_ = env.step(action)
        assert env.observation_space.contains(obs)
        np.testing.assert_array_equal(obs[24:], table[q])


def test_feature_props_fix_the_layout_across_specs() -> None:
    mon = SpecMonitor(Frames(), no_lava(), InfoLabeler({"lava": "hurt"}))
    env = MonitorObservation(mon, "features", feature_props=["wood", "lava"])
    assert env.feature_props == ("wood", "lava")
    assert env.observation_space.shape == (24 + len(feature_names(["wood", "lava"])),)
    obs, _ = env.reset(seed=0)
    names = feature_names(["wood", "lava"])
    assert obs[24 + names.index("lava:sink")] == 1 and obs[24 + names.index("wood:sink")] == 0
