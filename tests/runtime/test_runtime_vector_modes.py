"""SafeguardVectorWrapper in every autoreset mode (NEXT_STEP, SAME_STEP, DISABLED), with batched,
per-env (MiniGrid) and action-aware labelers, against one SafeguardWrapper per row as the
oracle; and constructor arguments that serialise."""

from __future__ import annotations

import json

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid environments)
import numpy as np
import pytest
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from runtime_toyenv import Corridor, no_lava

from speclang.runtime.build import automaton_from_function
from speclang.runtime.envs.minigrid import MiniGridLabeler
from speclang.runtime.labelers import CallableLabeler, InfoLabeler
from speclang.runtime.vector import SafeguardVectorWrapper
from speclang.runtime.wrapper import SafeguardWrapper

MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]
RIGHT = {"lava": ("pos", ">=", 3)}


def row(x, i):
    if isinstance(x, dict):
        return {k: row(v, i) for k, v in x.items()}
    return x[i]


def same(a, b, what):
    if isinstance(a, dict):
        assert set(a) == set(b), what
        for k in a:
            same(a[k], b[k], f"{what}[{k}]")
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=what)


def compare_with_singles(make_sub, mode, make_spec, make_labeler, act, *, n=3, steps=80,
                         seed=0, **kw):
    venv = SyncVectorEnv([make_sub for _ in range(n)], autoreset_mode=mode)
    vw = SafeguardVectorWrapper(venv, make_spec(), make_labeler(), **kw)
    singles = [SafeguardWrapper(make_sub(), make_spec(), make_labeler(), **kw) for _ in range(n)]
    rng = np.random.default_rng(seed)
    obs, _ = vw.reset(seed=seed)
    for i, s in enumerate(singles):
        same(s.reset(seed=seed + i)[0], row(obs, i), "reset obs")
    pending = [False] * n
    ended = violations = 0
    for t in range(steps):
        actions = act(rng, n)
        obs, reward, term, trunc, info = vw.step(actions)
        done_rows = np.zeros(n, dtype=bool)
        for i, s in enumerate(singles):
            if pending[i]:  # NEXT_STEP: this is row i's reset step
                same(s.reset()[0], row(obs, i), f"step {t} row {i} reset obs")
                assert not info["_cost"][i] and not info["_safeguard"][i]
                pending[i] = False
                continue
            o, r, te, tr, inf = s.step(int(actions[i]))
            what = f"step {t} row {i}"
            assert info["_cost"][i] and info["cost"][i] == inf["cost"], what
            assert reward[i] == pytest.approx(r) and (term[i], trunc[i]) == (te, tr), what
            assert info["safeguard"]["state"][i] == inf["safeguard"]["state"], what
            assert info["safeguard"]["violated"][i] == inf["safeguard"]["violated"], what
            violations += inf["cost"] == 1.0
            episode_row = info.get("_safeguard_episode", np.zeros(n, dtype=bool))[i]
            assert episode_row == (te or tr), what
            if te or tr:  # the episode record, as the scalar wrapper writes it
                record = row(info["safeguard_episode"], i)
                expected = inf["safeguard_episode"]
                assert set(record) == set(expected), what
                for key in set(expected) - {"t"}:
                    assert record[key] == pytest.approx(expected[key]), f"{what} {key}"
                ended += 1
                if mode == AutoresetMode.SAME_STEP:
                    assert info["_final_obs"][i]
                    same(o, info["final_obs"][i], f"{what} final obs")
                    same(s.reset()[0], row(obs, i), f"{what} next episode's obs")
                    continue
                pending[i] = mode == AutoresetMode.NEXT_STEP
                done_rows[i] = mode == AutoresetMode.DISABLED
            same(o, row(obs, i), f"{what} obs")
        if done_rows.any():
            obs, _ = vw.reset(options={"reset_mask": done_rows})
            for i in np.flatnonzero(done_rows):
                same(singles[i].reset()[0], row(obs, i), f"step {t} row {i} manual reset")
    name = vw.spec_name
    for field in ("episodes", "steps", "violations", "violating_episodes", "accepted_episodes"):
        assert getattr(vw.stats[name], field) == sum(
            getattr(s.stats[name], field) for s in singles), field
    return ended, violations


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("observation", "reward", "on_violation", "cost"), [
    ("onehot", "penalty", "continue", "event"),
    ("dict", "shaping", "reset_monitor", "state"),
    ("unchanged", "paper", "continue", "state"),
    ("onehot", "shaping", "reset_monitor", "event"),
])
def test_batched_labeler_every_autoreset_mode(mode, observation, reward, on_violation, cost):
    ended, violations = compare_with_singles(
        lambda: Corridor(length=6, max_steps=9), mode, no_lava, lambda: InfoLabeler(["pos"]),
        lambda rng, n: rng.integers(0, 2, size=n), derived=RIGHT, observation=observation,
        reward=reward, on_violation=on_violation, cost=cost, gamma=0.9,
    )
    assert ended >= 10 and violations >= 5


def forward_into_lava():
    """G !((forward & front_is_lava) | on_lava): with view="before" the first part (the action
    and the state it is taken in) is what fires, with view="after" the second."""
    return automaton_from_function(
        ["forward", "front_is_lava", "on_lava"], 2,
        lambda q, v: int(q or (v["forward"] and v["front_is_lava"]) or v["on_lava"]),
        accepting=[True, False], name="no_step_into_lava")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("view", ["before", "after"])
def test_minigrid_labeler_every_autoreset_mode(mode, view):
    ended, violations = compare_with_singles(
        lambda: gym.make("MiniGrid-LavaGapS5-v0", max_steps=12), mode, forward_into_lava,
        lambda: MiniGridLabeler(view), lambda rng, n: rng.integers(0, 3, size=n),
        observation="dict", reward="penalty", on_violation="reset_monitor", n=2, steps=60,
    )
    assert ended >= 4 and violations >= 1


def left_now(obs, info, env, action):
    """An action-aware batched labeler (module level, so it serialises)."""
    return {"lava": np.asarray(action) == 0}


def single_left_now(obs, info, env, action):
    return {"lava": action == 0}


@pytest.mark.parametrize("mode", MODES)
def test_action_aware_labeler(mode):
    venv = SyncVectorEnv([Corridor, Corridor], autoreset_mode=mode)
    vw = SafeguardVectorWrapper(venv, no_lava(), CallableLabeler(left_now, ["lava"], action=True),
                                on_violation="reset_monitor")
    single = SafeguardWrapper(Corridor(), no_lava(),
                              CallableLabeler(single_left_now, ["lava"], action=True),
                              on_violation="reset_monitor")
    vw.reset(seed=0)
    single.reset(seed=0)
    _, _, _, _, info = vw.step(np.array([0, 1]))
    assert info["cost"].tolist() == [1.0, 0.0]
    assert single.step(0)[4]["cost"] == 1.0 and single.step(1)[4]["cost"] == 0.0


def test_per_env_labeler_needs_a_sync_vector_env():
    venv = AsyncVectorEnv([lambda: gym.make("MiniGrid-LavaGapS5-v0")] * 2, shared_memory=False)
    try:
        with pytest.raises(ValueError, match="only a SyncVectorEnv keeps"):
            SafeguardVectorWrapper(venv, forward_into_lava(), MiniGridLabeler())
    finally:
        venv.close()


def test_constructor_arguments_serialise_and_rebuild_the_same_wrapper():
    kw = dict(reward="shaping", potentials=np.array([1.0, 0.0]), derived=RIGHT,
              observation="onehot", on_violation="reset_monitor")
    a = SafeguardVectorWrapper(SyncVectorEnv([Corridor, Corridor]), no_lava(),
                               InfoLabeler(["pos"]), **kw)
    text = json.dumps(a.constructor_kwargs)
    b = SafeguardVectorWrapper(SyncVectorEnv([Corridor, Corridor]), **json.loads(text))
    rng = np.random.default_rng(0)
    same(a.reset(seed=0)[0], b.reset(seed=0)[0], "reset")
    for _ in range(30):
        actions = rng.integers(0, 2, size=2)
        ra, rb = a.step(actions), b.step(actions)
        for x, y in zip(ra[:4], rb[:4], strict=True):
            same(x, y, "step")
        same(ra[4]["cost"], rb[4]["cost"], "cost")
    c = SafeguardVectorWrapper(gym.make_vec("CartPole-v1", 2, vectorization_mode="sync"),
                               no_lava(), CallableLabeler(left_now, ["lava"], action=True))
    json.loads(c.spec.to_json())
    assert json.loads(json.dumps(c.constructor_kwargs))["labeler"]["fn"].endswith(":left_now")


def test_scalar_wrapper_spec_to_json_and_make_round_trip():
    from speclang.runtime.shield import MiniGridPredictor

    lab = MiniGridLabeler("before")
    env = SafeguardWrapper(gym.make("MiniGrid-LavaGapS5-v0"), forward_into_lava(), lab,
                           observation="flat_dict", reward="shaping", shield=MiniGridPredictor(lab),
                           mask_observation=True, on_violation="reset_monitor")
    doc = json.loads(env.spec.to_json())
    (wrapper,) = doc["additional_wrappers"]
    assert wrapper["kwargs"]["spec"]["speclang_spec"] == "artifacts"
    assert wrapper["kwargs"]["labeler"] == {"speclang_labeler": "minigrid", "view": "before"}
    twin = gym.make(env.spec)
    rng = np.random.default_rng(1)
    same(env.reset(seed=2)[0], twin.reset(seed=2)[0], "reset")
    for _ in range(40):
        a = int(rng.integers(3))
        x, y = env.step(a), twin.step(a)
        same(x[0], y[0], "obs")
        assert x[1:4] == y[1:4] and x[4]["cost"] == y[4]["cost"]
        if x[2] or x[3]:
            same(env.reset()[0], twin.reset()[0], "reset")
