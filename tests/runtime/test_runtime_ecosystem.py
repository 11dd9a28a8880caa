"""What RL frameworks look for: ``action_masks()``, the mask in the observation, flat
observation spaces for MiniGrid and frame-stack (VizDoom-like) envs, and episode statistics
that count the episodes the safeguard ended, with the unshaped task return."""

from __future__ import annotations

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid environments)
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from runtime_toyenv import Corridor, no_lava

from speclang.runtime.envs.minigrid import MiniGridLabeler, MiniGridPredictor
from speclang.runtime.labelers import CallableLabeler, InfoLabeler
from speclang.runtime.monitor import SpecMonitor
from speclang.runtime.observation import MonitorObservation
from speclang.runtime.shield import ActionShield
from speclang.runtime.wrapper import SafeguardWrapper

CHECK_ENV_WARNING = "ignore:.*different from the unwrapped version"
LAVA = {"lava": ("on", "==", "lava")}


def lava_grid(**kw):
    return SafeguardWrapper(gym.make("MiniGrid-LavaGapS5-v0"), no_lava(), MiniGridLabeler(),
                            derived=LAVA, **kw)


def no_nesting(space):
    return isinstance(space, spaces.Box) or (
        isinstance(space, spaces.Dict)
        and all(isinstance(s, (spaces.Box, spaces.Discrete)) for s in space.spaces.values())
    )


# --- action masks --------------------------------------------------------------------------


def test_action_masks_follow_the_info_mask_and_reach_through_outer_wrappers():
    env = lava_grid(shield=MiniGridPredictor(), on_violation="continue")
    outer = gym.wrappers.RecordEpisodeStatistics(env)
    _, info = outer.reset(seed=1)
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(60):
        masks = outer.get_wrapper_attr("action_masks")()  # what MaskablePPO's env_method calls
        assert masks.dtype == np.bool_
        assert masks.tolist() == info["action_mask"].astype(bool).tolist()
        assert env.action_masks().tolist() == masks.tolist()
        checked += not masks.all()
        _, _, term, trunc, info = outer.step(int(rng.integers(3)))
        if term or trunc:
            _, info = outer.reset()
    assert checked > 0  # some states forbade an action


def test_action_masks_without_a_shield_is_the_envs_own_or_an_error():
    class Masked(Corridor):
        def action_masks(self):
            return np.array([True, False])

    assert SafeguardWrapper(Masked(), no_lava(), InfoLabeler(["lava"])).action_masks().tolist() \
        == [True, False]
    with pytest.raises(AttributeError):
        SafeguardWrapper(Corridor(), no_lava(), InfoLabeler(["lava"])).action_masks()
    with pytest.raises(ValueError, match="needs a shield"):
        SafeguardWrapper(Corridor(), no_lava(), InfoLabeler(["lava"]), mask_observation=True)


@pytest.mark.filterwarnings(CHECK_ENV_WARNING)
@pytest.mark.parametrize("observation", ["flat_box", "flat_dict", "unchanged"])
def test_mask_in_the_observation(observation):
    env = lava_grid(shield=MiniGridPredictor(), observation=observation, mask_observation=True)
    space = env.observation_space
    assert isinstance(space, spaces.Dict) and space["action_mask"].shape == (7,)
    if observation == "flat_box":  # RLlib's action-masking layout
        assert set(space.spaces) == {"observations", "action_mask"}
        assert isinstance(space["observations"], spaces.Box)
    if observation == "flat_dict":
        assert no_nesting(space) and "monitor" in space.spaces
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=1)
    rng = np.random.default_rng(1)
    for _ in range(40):
        assert space.contains(obs)
        np.testing.assert_array_equal(obs["action_mask"], info["action_mask"].astype(np.float32))
        obs, _, term, trunc, info = env.step(int(rng.integers(3)))
        if term or trunc:
            assert obs["action_mask"].tolist() == [1.0] * 7  # no action is taken from here
            obs, info = env.reset()


def test_action_shield_on_its_own_checks_its_arguments():
    mon = SpecMonitor(gym.make("MiniGrid-LavaGapS5-v0"), no_lava(), MiniGridLabeler(),
                      derived=LAVA)
    with pytest.raises(TypeError, match="observation must be a bool"):
        ActionShield(mon, MiniGridPredictor(), observation="yes")
    with pytest.raises(TypeError, match="SpecMonitor below it"):
        ActionShield(gym.make("MiniGrid-LavaGapS5-v0"), MiniGridPredictor())
    car = gym.make("MountainCarContinuous-v0")
    with pytest.raises(ValueError, match="Discrete action space"):
        ActionShield(SpecMonitor(car, no_lava(), CallableLabeler(lambda o, i, e: {"lava": 0},
                                                                  ["lava"])), MiniGridPredictor())


# --- flat observations ---------------------------------------------------------------------


@pytest.mark.filterwarnings(CHECK_ENV_WARNING)
def test_minigrid_flat_box_is_image_direction_and_state():
    env = lava_grid(observation="flat_box", on_violation="continue")
    n = 2
    assert env.observation_space.shape == (7 * 7 * 3 + 4 + n,)
    assert env.observation_space.dtype == np.float32
    check_env(env, skip_render_check=True)
    raw = env.unwrapped
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(2)
    saw_sink = False
    for _ in range(40):
        inner = raw.gen_obs()
        expected = np.concatenate([  # the Dict space's (sorted) key order
            np.eye(4, dtype=np.float32)[inner["direction"]],
            inner["image"].ravel().astype(np.float32),
            np.eye(n, dtype=np.float32)[env.monitor_state],
        ])
        np.testing.assert_array_equal(obs, expected)
        saw_sink |= env.monitor_state == 1
        if env.monitor_state == 1 or not env.monitor.episode_open:
            obs, _ = env.reset()
            continue
        obs, *_ = env.step(int(rng.integers(3)))
    assert saw_sink


@pytest.mark.filterwarnings(CHECK_ENV_WARNING)
def test_minigrid_flat_dict_lifts_the_envs_entries_and_drops_the_mission():
    env = lava_grid(observation="flat_dict")
    space = env.observation_space
    assert set(space.spaces) == {"image", "direction", "monitor"} and no_nesting(space)
    assert space["image"].shape == (7, 7, 3) and space["monitor"].n == 2
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    inner = env.unwrapped.gen_obs()
    np.testing.assert_array_equal(obs["image"], inner["image"])
    assert obs["direction"] == inner["direction"] and obs["monitor"] == 0
    assert env.observation_wrapper.dropped == ["mission"]


class Frames(gym.Env):
    """A frame-stack env shaped like ``agents.vizdoom.env.VizDoomEnv`` (uint8 ``(stack, h,
    w)``) with a ``hurt`` flag in ``info``."""

    def __init__(self):
        self.observation_space = spaces.Box(0, 255, (2, 6, 8), dtype=np.uint8)
        self.action_space = spaces.Discrete(3)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._frame(), {"hurt": False}

    def _frame(self):
        return self.np_random.integers(0, 256, (2, 6, 8), dtype=np.uint8)

    def step(self, action):
        self.t += 1
        return (self._frame(), 1.0, False, self.t >= 10,
                {"hurt": action == 2})


@pytest.mark.filterwarnings(CHECK_ENV_WARNING)
def test_frame_stack_env_flat_modes():
    box = SafeguardWrapper(Frames(), no_lava(), InfoLabeler({"lava": "hurt"}),
                           observation="flat_box", on_violation="continue")
    assert box.observation_space.shape == (2 * 6 * 8 + 2,)
    check_env(box, skip_render_check=True)
    d = SafeguardWrapper(Frames(), no_lava(), InfoLabeler({"lava": "hurt"}),
                         observation="flat_dict", on_violation="continue")
    assert set(d.observation_space.spaces) == {"obs", "monitor"} and no_nesting(
        d.observation_space)
    assert d.observation_space["obs"].shape == (2, 6, 8)  # a CNN extractor still sees frames
    check_env(d, skip_render_check=True)
    obs, _ = d.reset(seed=0)
    obs, *_ = d.step(2)
    assert obs["monitor"] == 1
    with pytest.raises(ValueError, match='use observation="dict"'):
        SafeguardWrapper(Frames(), no_lava(), InfoLabeler({"lava": "hurt"}), observation="onehot")


def test_flat_modes_refuse_an_env_without_numeric_parts():
    class Words(Corridor):
        def __init__(self):
            super().__init__()
            self.observation_space = spaces.Text(5)

    with pytest.raises(ValueError, match="no numeric part"):
        SafeguardWrapper(Words(), no_lava(), InfoLabeler(["lava"]), observation="flat_box")
    mon = SpecMonitor(Corridor(), no_lava(), InfoLabeler(["lava"]))
    with pytest.raises(ValueError, match="observation must be one of"):
        MonitorObservation(mon, "nested")


# --- episode statistics --------------------------------------------------------------------


def test_episode_statistics_count_safeguard_ended_episodes_with_the_task_return():
    """``RecordEpisodeStatistics`` inside the safeguard never sees the episodes it ends, and
    outside it records the shaped return; ``info["safeguard_episode"]`` has both right."""
    derived = {"lava": ("pos", ">=", 3)}
    inner = gym.wrappers.RecordEpisodeStatistics(Corridor(), stats_key="inner_episode")
    env = SafeguardWrapper(inner, no_lava(), InfoLabeler(["pos"]), derived=derived,
                           reward="shaping", potentials=np.array([1.0, 0.0]), gamma=0.9)
    outer = gym.wrappers.RecordEpisodeStatistics(env)
    rng = np.random.default_rng(4)
    ended = by_safeguard = 0
    outer.reset(seed=0)
    env_return = shaped = 0.0
    length = 0
    while ended < 30:
        seen_inside = inner.episode_count
        obs, r, term, trunc, info = outer.step(int(rng.integers(2)))
        shaped += r
        env_return += env.monitor.last.env_reward
        length += 1
        if term or trunc:
            ep = info["safeguard_episode"]
            assert ep["r"] == pytest.approx(env_return) and ep["l"] == length
            assert info["episode"]["r"] == pytest.approx(shaped)  # the outer one: shaped
            assert ep["cost"] == ep["violations"] == int(ep["violated"])
            assert ep["accepted"] == (not ep["violated"]) and ep["t"] >= 0
            assert ep["spec"] == "no_lava"
            by_safeguard += inner.episode_count == seen_inside  # the inner one missed it
            ended += 1
            env_return = shaped = 0.0
            length = 0
            outer.reset()
    st = env.stats["no_lava"]
    assert st.episodes == 30 and by_safeguard > 0 and inner.episode_count == 30 - by_safeguard


def test_the_pieces_are_exported_by_the_package():
    from speclang import runtime
    from speclang.runtime.crm import CounterfactualExperience
    from speclang.runtime.reward import SafeguardReward
    from speclang.runtime.violation import ViolationHandler

    assert (runtime.SpecMonitor, runtime.ViolationHandler, runtime.SafeguardReward,
            runtime.MonitorObservation, runtime.ActionShield,
            runtime.CounterfactualExperience) == (
        SpecMonitor, ViolationHandler, SafeguardReward, MonitorObservation, ActionShield,
        CounterfactualExperience)
