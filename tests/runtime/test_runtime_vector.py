"""SafeguardVectorWrapper: NEXT_STEP autoreset, gymnasium-style info batching, and agreement
with one SafeguardWrapper per row."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from runtime_toyenv import Corridor, no_lava, reach_goal

from speclang.runtime.labelers import CallableLabeler, InfoLabeler
from speclang.runtime.vector import SafeguardVectorWrapper
from speclang.runtime.wrapper import SafeguardWrapper


def vec(n=2, mode=AutoresetMode.NEXT_STEP, **kw):
    env = SyncVectorEnv([Corridor for _ in range(n)], autoreset_mode=mode)
    kw.setdefault("derived", {"lava": ("pos", ">=", 3)})
    return SafeguardVectorWrapper(env, no_lava(), InfoLabeler(["pos"]), **kw)


def test_next_step_reset_records_no_transition():
    env = vec(cost="state")
    env.reset(seed=0)
    # row 0 walks right into the (env's) lava end and terminates; row 1 stays left of start
    _, _, term, _, info = env.step(np.array([1, 0]))
    assert info["cost"].tolist() == [1.0, 0.0] and info["_cost"].tolist() == [True, True]
    _, _, term, _, info = env.step(np.array([1, 1]))
    assert term.tolist() == [True, False]
    assert info["safeguard"]["state"].tolist() == [1, 0]
    # the reset step of row 0: no cost, no transition, fresh monitor
    _, reward, _, _, info = env.step(np.array([1, 1]))
    assert info["_cost"].tolist() == [False, True] and info["_safeguard"].tolist() == [False, True]
    assert info["cost"].tolist() == [0.0, 1.0]  # row 1 just stepped to pos 3
    assert env.states.tolist() == [0, 1]
    # row 0 is back in the episode and its first real step is monitored again
    _, _, _, _, info = env.step(np.array([0, 0]))
    assert info["_cost"].tolist() == [True, True] and info["cost"].tolist() == [0.0, 1.0]
    st = env.stats["no_lava"]
    assert st.episodes == 1 and st.violating_episodes == 1


def test_agrees_with_one_wrapper_per_row():
    rng = np.random.default_rng(0)
    n = 4
    env = vec(n, reward="penalty", penalty=2.0)
    singles = [
        SafeguardWrapper(Corridor(), no_lava(), InfoLabeler(["pos"]), reward="penalty",
                         penalty=2.0, on_violation="continue", derived={"lava": ("pos", ">=", 3)})
        for _ in range(n)
    ]
    env.reset(seed=0)
    for s in singles:
        s.reset(seed=0)
    pending_reset = [False] * n
    for _ in range(40):
        actions = rng.integers(0, 2, size=n)
        _, reward, term, trunc, info = env.step(actions)
        for i, s in enumerate(singles):
            if pending_reset[i]:
                s.reset()
                assert not info["_cost"][i]
                pending_reset[i] = False
                continue
            _, r, t, tr, inf = s.step(int(actions[i]))
            assert (info["cost"][i], reward[i], term[i]) == (inf["cost"], r, t)
            assert info["safeguard"]["state"][i] == inf["safeguard"]["state"]
            pending_reset[i] = t or tr


def test_disabled_autoreset_resets_masked_rows():
    env = vec(mode=AutoresetMode.DISABLED)
    env.reset(seed=0)
    env.step(np.array([1, 1]))
    assert env.states.tolist() == [1, 1]
    env.reset(options={"reset_mask": np.array([True, False])})
    assert env.states.tolist() == [0, 1]


def test_onehot_and_dict_observations():
    env = vec(observation="onehot")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2, 3) and env.observation_space.shape == (2, 3)
    obs, *_ = env.step(np.array([1, 0]))
    assert obs[:, 1:].tolist() == [[0.0, 1.0], [1.0, 0.0]]
    env = vec(observation="dict")
    env.reset(seed=0)
    obs, *_ = env.step(np.array([1, 0]))
    assert obs["monitor"].tolist() == [1, 0]
    assert env.observation_space.contains(obs)


def test_shaping_and_callable_vector_labeler():
    venv = SyncVectorEnv([Corridor, Corridor])
    lab = CallableLabeler(lambda obs, info, env: {"lava": obs[:, 0] >= 0.75}, ["lava"])
    env = SafeguardVectorWrapper(venv, no_lava(), lab, reward="shaping", gamma=0.5,
                                 potentials=np.array([1.0, 0.0]))
    env.reset(seed=0)
    _, reward, *_ = env.step(np.array([1, 0]))
    assert reward.tolist() == pytest.approx([0.0 - 1.0, 0.5 - 1.0])


def test_rejected_configurations():
    with pytest.raises(ValueError, match="SafeguardWrapper instead"):
        vec(on_violation="terminate")
    with pytest.raises(ValueError, match="one spec, not a progression"):
        SafeguardVectorWrapper(gym.vector.SyncVectorEnv([Corridor]), [no_lava(), reach_goal()],
                               InfoLabeler(["lava"]))
