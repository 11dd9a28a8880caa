"""SafeguardWrapper on a tiny corridor env and on MiniGrid."""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid environments)
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from runtime_toyenv import Corridor, make_wrapped, no_lava, reach_goal, right_labels

from speclang.runtime.labelers import (
    CallableLabeler,
    InfoLabeler,
    MiniGridLabeler,
    MissingBindingError,
)
from speclang.runtime.wrapper import SafeguardWrapper

# check_env warns that it is given a wrapper: checking the wrapper is the point here.
CHECK_ENV_WARNING = "ignore:.*different from the unwrapped version"

# "lava" as a derived proposition: stepping right of the start counts as the hazard, so the
# wrapper (not the env) decides when the episode ends.
RIGHT_OF_START = {"lava": ("pos", ">=", 3)}


def wrap(**kw):
    kw.setdefault("derived", RIGHT_OF_START)
    return SafeguardWrapper(Corridor(), no_lava(), InfoLabeler(["pos"]), **kw)


@pytest.mark.filterwarnings(CHECK_ENV_WARNING)
@pytest.mark.parametrize("observation", ["unchanged", "dict", "onehot", "index"])
def test_passes_gymnasium_env_checker(observation):
    env = wrap(observation=observation, reward="shaping", potentials=np.array([1.0, 0.0]))
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_observation_encodings():
    env = wrap(observation="onehot")
    assert env.observation_space.shape == (3,)
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [0.5, 1.0, 0.0]
    obs, *_ = env.step(1)
    assert obs.tolist() == [0.75, 0.0, 1.0]  # the violation sink is state 1
    env = wrap(observation="dict")
    obs, _ = env.reset(seed=0)
    assert obs["monitor"] == 0 and env.observation_space["monitor"].n == 2
    env = wrap(observation="index")
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [0.5, 0.0]


def test_index_on_discrete_env_is_the_product_state():
    env = gym.make("FrozenLake-v1", is_slippery=False)
    aut = no_lava()
    lab = CallableLabeler(lambda o, i, e: {"lava": o == 5}, ["lava"])
    w = SafeguardWrapper(env, aut, lab, observation="index")
    assert w.observation_space.n == 16 * 2
    obs, _ = w.reset(seed=0)
    assert obs == 0
    for a in (2, 1):  # right, down -> cell 5 (a hole)
        obs, r, term, trunc, info = w.step(a)
    assert obs == 5 * 2 + 1 and term and info["cost"] == 1.0


def test_violation_terminates_and_reports():
    env = wrap()
    env.reset(seed=0)
    _, r, term, trunc, info = env.step(1)
    assert term and not trunc and info["cost"] == 1.0
    sg = info["safeguard"]
    assert sg["spec"] == "no_lava" and sg["state"] == 1 and sg["verdict"] == "violated"
    assert sg["violated"] and not sg["accepting"] and sg["labels"] == {"lava": True}
    assert "G !lava" in sg["explanation"]
    with pytest.raises(gym.error.ResetNeeded):
        env.step(0)


def test_safe_steps_report_no_cost():
    env = wrap()
    env.reset(seed=0)
    _, r, term, _, info = env.step(0)
    assert not term and info["cost"] == 0.0
    assert info["safeguard"]["verdict"] == "presumably_satisfied"
    assert "explanation" not in info["safeguard"]


def test_continue_charges_every_step_in_the_sink():
    env = wrap(on_violation="continue", reward="penalty", penalty=5.0, cost="state")
    env.reset(seed=0)
    costs, rewards = [], []
    for a in (1, 0, 0):  # right (violates), back left, left again
        _, r, term, _, info = env.step(a)
        costs.append(info["cost"])
        rewards.append(r)
    assert costs == [1.0, 1.0, 1.0] and rewards == [-5.0, -5.0, -5.0]


def test_continue_charges_cost_once_per_violation_event():
    """The default cost is per event: 1 on the step entering the sink, 0 on the steps spent in
    it (the penalty reward still applies to every violating step)."""
    env = wrap(on_violation="continue", reward="penalty", penalty=5.0)
    env.reset(seed=0)
    steps = [env.step(a) for a in (1, 0, 0)]
    assert [s[4]["cost"] for s in steps] == [1.0, 0.0, 0.0]
    assert [s[1] for s in steps] == [-5.0, -5.0, -5.0]
    assert env.stats["no_lava"].violations == 1
    env = wrap(on_violation="reset_monitor")  # every re-entry is an event of its own
    env.reset(seed=0)
    assert [env.step(a)[4]["cost"] for a in (1, 0, 1, 1)] == [1.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="cost must be one of"):
        wrap(cost="sum")


def test_reset_monitor_returns_to_initial_state():
    env = wrap(on_violation="reset_monitor", observation="onehot")
    env.reset(seed=0)
    obs, _, term, _, info = env.step(1)
    assert not term and info["cost"] == 1.0 and info["safeguard"]["state"] == 1
    assert obs.tolist()[1:] == [1.0, 0.0] and env.monitor_state == 0
    _, _, _, _, info = env.step(0)  # pos 2 again: safe, and the monitor forgot the violation
    assert info["cost"] == 0.0


def test_paper_and_shaping_rewards():
    env = wrap(reward="paper", safe_reward=0.5)
    env.reset(seed=0)
    assert env.step(0)[1] == 0.5
    assert env.step(1)[1] == 0.5  # back at pos 2: safe
    assert env.step(1)[1] == -0.5  # pos 3: violation
    env = wrap(reward="shaping", gamma=0.9, potentials=np.array([1.0, 0.0]))
    env.reset(seed=0)
    assert env.step(0)[1] == pytest.approx(0.9 * 1.0 - 1.0)
    _, r, term, _, _ = env.step(0)  # reaches the goal: env reward 1, episode over (phi -> 0)
    assert term and r == pytest.approx(1.0 + 0.0 - 1.0)


def test_shaping_uses_compiler_potentials_by_default():
    env = wrap(reward="shaping", gamma=1.0)
    env.reset(seed=0)
    _, r, *_ = env.step(1)  # into the sink: 0 - phi[safe state] < 0
    assert r < 0


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="observation must be one of"):
        wrap(observation="flat")
    with pytest.raises(ValueError, match="gamma"):
        wrap(gamma=0.0)
    with pytest.raises(ValueError, match='use observation="dict"'):
        SafeguardWrapper(gym.make("MiniGrid-Empty-5x5-v0"), no_lava(),
                         InfoLabeler(["lava"]), observation="onehot")
    with pytest.raises(MissingBindingError, match='proposition "lava" of spec "no_lava"'):
        SafeguardWrapper(Corridor(), no_lava(), InfoLabeler(["goal", "pos"]))
    with pytest.raises(TypeError, match="spec must be"):
        SafeguardWrapper(Corridor(), "G !lava", InfoLabeler(["lava"]))


def test_progression_switches_between_episodes_and_keeps_stats():
    env = SafeguardWrapper(Corridor(), [no_lava(), reach_goal()], InfoLabeler(["lava", "goal"]),
                           observation="onehot")
    assert env.observation_space.shape == (3,)
    env.reset(seed=0)
    env.step(1)
    env.set_spec("reach_goal")
    assert env.spec_name == "no_lava"  # takes effect at the next reset
    _, _, term, _, info = env.step(1)  # lava: violation of no_lava
    assert term and info["safeguard"]["spec"] == "no_lava"
    _, info = env.reset(seed=0)
    assert info["safeguard"]["spec"] == "reach_goal" and env.spec_name == "reach_goal"
    env.step(0)
    _, _, term, _, info = env.step(0)
    assert term and info["safeguard"]["verdict"] == "satisfied"
    a, b = env.stats["no_lava"], env.stats["reach_goal"]
    assert (a.episodes, a.steps, a.violations, a.violating_episodes) == (1, 2, 1, 1)
    assert (b.episodes, b.steps, b.accepted_episodes, b.env_return) == (1, 2, 1, 1.0)
    with pytest.raises(KeyError, match="no spec"):
        env.set_spec("missing")


def test_module_spec_compiled_by_the_wrapper():
    module = speclang_loads("props lava, goal\nspec safe { G !lava }\n")
    env = SafeguardWrapper(Corridor(), (module, "safe"), InfoLabeler(["lava", "goal"]))
    env.reset(seed=0)
    env.step(1)
    assert env.step(1)[4]["cost"] == 1.0


def test_explanation_names_the_violated_conjunct():
    module = speclang_loads("props lava, goal\nspec safe { G !lava & F goal }\n")
    env = SafeguardWrapper(Corridor(), (module, "safe"), InfoLabeler(["lava", "goal"]))
    env.reset(seed=0)
    env.step(1)
    explanation = env.step(1)[4]["safeguard"]["explanation"]
    assert "G !lava" in explanation and "step 2" in explanation


def test_product_monitor_reports_every_part():
    import speclang
    from speclang import compiler

    prod = compiler.product([speclang.compile_formula("G !lava", name="no_lava"),
                             speclang.compile_formula("F goal", name="goal")])
    env = SafeguardWrapper(Corridor(), prod, InfoLabeler(["lava", "goal"]))
    env.reset(seed=0)
    assert env.step(1)[4]["safeguard"]["parts"] == {
        "no_lava": "presumably_satisfied", "goal": "presumably_violated",
    }
    assert env.step(1)[4]["safeguard"]["parts"]["no_lava"] == "violated"


def speclang_loads(text):
    import speclang

    return speclang.loads(text)


def test_compiled_formula_monitor():
    import speclang

    aut = speclang.compile_formula("G (lava -> X goal)", name="recover")
    env = SafeguardWrapper(Corridor(), aut, InfoLabeler(["lava", "goal"]), on_violation="continue")
    env.reset(seed=0)
    _, _, term, _, info = env.step(1)
    assert info["safeguard"]["verdict"] == "presumably_satisfied"


def test_pickle_round_trip_keeps_behaviour():
    env = make_wrapped()
    env.reset(seed=0)
    env.step(1)
    clone = pickle.loads(pickle.dumps(env))
    _, _, term, _, info = clone.step(1)
    assert term and info["cost"] == 1.0 and clone.stats["no_lava"].violations == 1


def test_async_vector_env_of_wrapped_envs():
    venv = gym.vector.AsyncVectorEnv([make_wrapped, make_wrapped])
    try:
        venv.reset(seed=0)
        _, _, term, _, info = venv.step(np.array([1, 0]))
        _, _, term, _, info = venv.step(np.array([1, 1]))
        assert term.tolist() == [True, False]
        assert info["cost"].tolist() == [1.0, 0.0]
    finally:
        venv.close()


def test_callable_labeler_picklable_when_function_is_module_level():
    env = SafeguardWrapper(Corridor(), no_lava(), CallableLabeler(right_labels, ["lava"]))
    clone = pickle.loads(pickle.dumps(env))
    clone.reset(seed=0)
    clone.step(1)
    assert clone.step(1)[4]["cost"] == 1.0


def test_counterfactual_experiences_from_every_state():
    env = SafeguardWrapper(Corridor(), reach_goal(), InfoLabeler(["goal"]), observation="onehot",
                           reward="paper", crm=True)
    env.reset(seed=0)
    env.step(0)
    _, _, _, _, info = env.step(0)  # reaches the goal
    exps = info["counterfactuals"]
    assert [(e.state, e.next_state) for e in exps] == [(0, 1), (1, 1)]
    for e in exps:
        assert e.obs[1 + e.state] == 1.0 and e.next_obs[1 + e.next_state] == 1.0
        assert e.action == 0 and e.terminated and e.reward == 1.0


# --- MiniGrid: labeler through the wrapper, pre-shield --------------------------------------


def lava_env():
    return gym.make("MiniGrid-LavaGapS5-v0")


@pytest.mark.parametrize("view", ["after", "before"])
def test_minigrid_predictor_matches_real_steps(view):
    """The shield's one-step prediction equals what the labeler reports after really taking
    each action in a copy of the env (from several random states)."""
    from speclang.runtime.shield import MiniGridPredictor

    env = gym.make("MiniGrid-DoorKey-5x5-v0")
    env.reset(seed=3)
    pred = MiniGridPredictor(MiniGridLabeler(view))
    rng = np.random.default_rng(0)
    for _ in range(25):
        predicted = pred.predict(env)
        for a in range(7):
            twin = copy.deepcopy(env)
            lab = MiniGridLabeler(view)
            lab.before_step(twin, a)
            twin.step(a)
            actual = lab.values(None, {}, twin).full()
            assert predicted[a].full() == actual, f"action {a}"
        _, _, term, trunc, _ = env.step(int(rng.integers(0, 6)))
        if term or trunc:
            env.reset(seed=int(rng.integers(0, 100)))


def test_shield_masks_the_step_into_lava():
    from speclang.runtime.shield import MiniGridPredictor

    aut = no_lava()
    env = SafeguardWrapper(lava_env(), aut, MiniGridLabeler(),
                           derived={"lava": ("on", "==", "lava")}, shield=MiniGridPredictor())
    _, info = env.reset(seed=1)
    u = env.unwrapped
    seen_masked = False
    for _ in range(40):
        mask = info["action_mask"]
        front = u.grid.get(*u.front_pos)
        forward_into_lava = front is not None and front.type == "lava"
        assert mask[u.actions.forward] == (0 if forward_into_lava else 1)
        seen_masked |= forward_into_lava
        allowed = np.flatnonzero(mask[:3])
        _, _, term, trunc, info = env.step(int(allowed[len(allowed) // 2]))
        assert info["cost"] == 0.0
        if term or trunc:
            _, info = env.reset()
    assert seen_masked and env.stats["no_lava"].violations == 0


@pytest.mark.filterwarnings(CHECK_ENV_WARNING)
def test_minigrid_wrapper_checks_out():
    env = SafeguardWrapper(lava_env(), no_lava(), MiniGridLabeler(),
                           derived={"lava": ("on", "==", "lava")}, observation="dict")
    check_env(env, skip_render_check=True)


def test_predictor_for_pickup_and_unlocking_matches_real_steps():
    """Deterministic DoorKey situations: facing the key (pickup), then facing the locked door
    with the key (toggle opens it)."""
    from speclang.runtime.shield import MiniGridPredictor

    env = gym.make("MiniGrid-DoorKey-5x5-v0")
    env.reset(seed=0)
    u = env.unwrapped
    lab = MiniGridLabeler()
    pred = MiniGridPredictor(lab)

    def face(kind):
        target = next(
            (x, y) for x in range(u.width) for y in range(u.height)
            if u.grid.get(x, y) is not None and u.grid.get(x, y).type == kind
        )
        for d, (dx, dy) in enumerate([(1, 0), (0, 1), (-1, 0), (0, -1)]):
            cell = (target[0] - dx, target[1] - dy)
            inside = 0 < cell[0] < u.width - 1 and 0 < cell[1] < u.height - 1
            if inside and u.grid.get(*cell) is None:
                u.agent_pos, u.agent_dir = cell, d
                return
        raise AssertionError(f"no free cell next to the {kind}")

    def check(action):
        predicted = pred.predict(env)[action].full()
        twin = copy.deepcopy(env)
        real = MiniGridLabeler()
        real.before_step(twin, action)
        twin.step(action)
        assert predicted == real.values(None, {}, twin).full()
        return predicted

    face("key")
    assert check(u.actions.pickup)["carrying"] == "key"
    env.step(u.actions.pickup)
    face("door")
    assert check(u.actions.toggle)["door_state"] == "open"
    assert check(u.actions.forward)["front"] == "door"  # a locked door blocks the way


def test_shielded_minigrid_wrapper_pickles():
    from speclang.runtime.shield import MiniGridPredictor

    env = SafeguardWrapper(lava_env(), no_lava(), MiniGridLabeler(),
                           derived={"lava": ("on", "==", "lava")}, shield=MiniGridPredictor())
    _, info = env.reset(seed=1)
    clone = pickle.loads(pickle.dumps(env))
    np.testing.assert_array_equal(clone.shield.mask(clone._active, 0, clone.env)[0],
                                  info["action_mask"])
    _, _, _, _, info2 = clone.step(0)
    assert "action_mask" in info2
