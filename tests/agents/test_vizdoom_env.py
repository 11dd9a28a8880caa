"""The ViZDoom environment on real, short, headless episodes, with the spec's labelling."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vizdoom")

from speclang.agents.vizdoom.env import ACTIONS, POISON_DAMAGE, VizDoomEnv  # noqa: E402
from speclang.agents.vizdoom.specs import load_specs, safeguard  # noqa: E402


@pytest.fixture(scope="module")
def env():
    e = VizDoomEnv(frame_stack=2, downscale=4)
    yield e
    e.close()


def test_observation_and_info(env):
    obs, info = env.reset(seed=3)
    assert obs.shape == (2, 30, 40) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert env.action_space.n == len(ACTIONS)
    assert 0 < info["health"] <= 100
    assert 0 <= info["pos_x"] <= 1856 and 0 <= info["pos_y"] <= 1856
    obs2, reward, term, trunc, info2 = env.step(0)
    # Frame stack shifts: the newest frame of the reset is now the oldest.
    assert np.array_equal(obs2[0], obs[1])
    assert reward == pytest.approx(env.frame_skip)  # +1 per tic alive
    assert not (term or trunc)
    assert isinstance(info2["medkit"], bool) and isinstance(info2["poison"], bool)


def test_same_seed_same_episode(env):
    def run(seed):
        env.reset(seed=seed)
        return [env.step(i % len(ACTIONS))[4]["pos_x"] for i in range(20)]

    assert run(5) == run(5)


def test_pickups_match_game_variables(env):
    """Every step's medkit/poison flags agree with the raw HEALTH and DAMAGE_TAKEN deltas,
    and the player dies on the acid floor without medkits."""
    rng = np.random.default_rng(0)
    _, prev = env.reset(seed=11)
    seen = {"medkit": 0, "poison": 0}
    for _ in range(600):
        _, _, term, trunc, info = env.step(int(rng.choice([0, 0, 1, 2])))
        if term or trunc:
            assert term  # the acid floor kills well before the 2100-tic timeout
            break
        damage = info["damage_taken"] - prev["damage_taken"]
        assert info["poison"] == (damage > POISON_DAMAGE)
        assert info["medkit"] == (info["health"] - prev["health"] + damage > 0)
        seen["medkit"] += info["medkit"]
        seen["poison"] += info["poison"]
        prev = info
    else:
        pytest.fail("episode did not end")
    assert seen["medkit"] > 0


def test_medkit_task_reward():
    """With task_reward = "medkits" the agent is paid exactly the medkit flag (scaled),
    while ``scenario_reward`` keeps the scenario's +1 per tic alive."""
    e = VizDoomEnv(frame_stack=1, downscale=4, task_reward="medkits", reward_scale=2.0)
    try:
        rng = np.random.default_rng(0)
        e.reset(seed=11)
        paid = 0.0
        for _ in range(300):
            _, reward, term, trunc, info = e.step(int(rng.choice([0, 0, 1, 2])))
            assert reward == 2.0 * info["medkit"]
            if not (term or trunc):
                assert info["scenario_reward"] == e.frame_skip
            paid += reward
            if term or trunc:
                break
        assert paid > 0  # the same seed and actions pick up a medkit (see above)
    finally:
        e.close()
    with pytest.raises(ValueError, match="task_reward"):
        VizDoomEnv(task_reward="health")


def test_cached_game_state_is_this_step(env):
    env.reset(seed=2)
    _, _, _, _, info = env.step(0)
    state = env.game.get_state()
    assert state is env.game.get_state()  # no second fetch
    x = state.game_variables[env._var_index["POSITION_X"]]
    assert x == info["pos_x"]


def test_safeguard_on_real_episode(env):
    """The monitors follow the labels: the S0 verdict is violated exactly from the first
    poison on, and every drunk vial was on screen before (the labels buffer agrees)."""
    module, auts = load_specs(names=["s0", "seen_before_drunk"])
    w = safeguard(env, module, auts, observation="dict", on_violation="continue")
    poisoned_any = False
    # Seeds whose random walk (this policy, this generator) drinks a vial: few do.
    for seed in (10, 25):
        for name in ("s0", "seen_before_drunk"):
            rng = np.random.default_rng(seed)
            w.set_spec(name)
            obs, info = w.reset(seed=seed)
            assert obs["monitor"] == 0
            poisoned = False
            done = False
            while not done:
                obs, _, term, trunc, info = w.step(int(rng.choice([0, 0, 0, 1, 2])))
                done = term or trunc
                sg = info["safeguard"]
                poisoned |= info["poison"]
                if name == "s0":
                    assert sg["violated"] == poisoned
                    if info["poison"] and sg["violated"] and "explanation" in sg:
                        assert "poison" in sg["explanation"]
                else:
                    assert not sg["violated"], "a vial was drunk that was never on screen"
            poisoned_any |= poisoned
    assert poisoned_any, "no poison in the chosen episodes: the pickup detection is off"


def test_info_labels_equal_game_labels(env):
    """The fast labeler (names straight from info) and runtime.VizDoomLabeler (game
    variables and labels buffer read from the game) agree on every step, the last included."""
    from speclang.agents.vizdoom.specs import labeler
    from speclang.runtime.labelers import Binding

    module, auts = load_specs(names=["s2", "seen_before_drunk", "never_low"])
    props = sorted({p for a in auts.values() for p in a.props} | {"sees_custommedikit"})
    fast, game = labeler("info"), labeler("game")
    game.attach(env)
    b_fast = Binding(props, fast, derived=module.derived)
    b_game = Binding(props, game, derived=module.derived)
    rng = np.random.default_rng(10)
    env.reset(seed=10)
    steps = seen = 0
    done = False
    while not done:
        _, _, term, trunc, info = env.step(int(rng.choice([0, 0, 0, 1, 2])))
        done = term or trunc
        a, b = b_fast.labels(None, info, env), b_game.labels(None, info, env)
        assert a == b, (steps, a, b)
        steps += 1
        seen += a["sees_poison"] + a["sees_custommedikit"]
    assert steps > 20 and seen > 0


@pytest.mark.parametrize("observation", ["flat_dict", "flat_box"])
def test_flat_observation_modes_on_the_real_env(env, observation):
    """The flat modes SB3 and RLlib take: frames kept as an image Box next to the monitor
    state (flat_dict), or raveled into one float32 Box with the one-hot state (flat_box)."""
    from gymnasium import spaces

    module, auts = load_specs(names=["s0"])
    w = safeguard(env, module, auts, observation=observation, on_violation="continue")
    space = w.observation_space
    obs, _ = w.reset(seed=3)
    for _ in range(5):
        assert space.contains(obs)
        obs, *_ = w.step(0)
    n = auts["s0"].n_states
    if observation == "flat_dict":
        assert set(space.spaces) == {"obs", "monitor"} and space["monitor"].n == n
        assert space["obs"].shape == (2, 30, 40) and space["obs"].dtype == np.uint8
    else:
        assert isinstance(space, spaces.Box) and space.shape == (2 * 30 * 40 + n,)
        assert obs[-n:].sum() == 1.0
