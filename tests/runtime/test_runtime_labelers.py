"""Labelers and bindings: values reach the monitor, missing bindings fail at bind time."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from speclang.runtime.labelers import (
    Binding,
    CallableLabeler,
    Comparison,
    InfoLabeler,
    LabelingError,
    MiniGridLabeler,
    MissingBindingError,
    VizDoomLabeler,
)


def test_missing_binding_names_proposition_spec_and_known_names():
    with pytest.raises(MissingBindingError) as err:
        Binding(("goal", "lava"), InfoLabeler({"goal": "g", "pos": "p"}), spec="no_hazard")
    msg = str(err.value)
    assert 'proposition "lava" of spec "no_hazard" is not bound by the labeler' in msg
    assert "InfoLabeler knows: goal, pos" in msg


def test_missing_observable_behind_derived_prop():
    with pytest.raises(MissingBindingError, match='observable "health" \\(for "low"\\)'):
        Binding(("low",), InfoLabeler(["armor"]), derived={"low": ("health", "<", 30)}, spec="s")


def test_derived_comparisons_evaluated_from_observables():
    lab = InfoLabeler({"hp": "health", "door": "door_state"})
    b = Binding(
        ("closed", "low"), lab, derived={"low": ("hp", "<", 30), "closed": ("door", "==", "shut")}
    )
    assert b.labels(None, {"health": 29.5, "door_state": "shut"}, None) == {
        "closed": True, "low": True,
    }
    assert b.labels(None, {"health": 30, "door_state": "open"}, None) == {
        "closed": False, "low": False,
    }
    assert b.vector({"closed": False, "low": True}).tolist() == [False, True]


def test_comparison_rejects_unknown_operator():
    with pytest.raises(ValueError, match="operator"):
        Comparison("x", "=<", 3)


def test_info_labeler_missing_key_at_runtime_is_named():
    b = Binding(("lava",), InfoLabeler(["lava"]))
    with pytest.raises(LabelingError, match='no key "lava"'):
        b.labels(None, {"goal": True}, None)
    b2 = Binding(("lava",), InfoLabeler(["lava"], defaults={"lava": False}))
    assert b2.labels(None, {}, None) == {"lava": False}


def test_callable_labeler_without_names_checks_on_first_step():
    b = Binding(("a", "b"), CallableLabeler(lambda o, i, e: {"a": 1}), spec="ab")
    with pytest.raises(MissingBindingError, match='proposition "b" of spec "ab"'):
        b.labels(None, {}, None)
    with pytest.raises(MissingBindingError, match='"b"'):
        Binding(("a", "b"), CallableLabeler(lambda o, i, e: {}, names=["a"]))


def test_combined_labeler_takes_first_that_knows():
    fallback = CallableLabeler(lambda o, i, e: {"x": False, "y": True}, ["x", "y"])
    lab = InfoLabeler({"x": "k"}) | fallback
    assert Binding(("x", "y"), lab).labels(None, {"k": True}, None) == {"x": True, "y": True}


# --- VizDoom, against a fake game with the vizdoom API shape ----------------------------------


class FakeGame:
    def __init__(self, variables, values, labels):
        self._vars = [SimpleNamespace(name=v) for v in variables]
        self.state = SimpleNamespace(
            game_variables=np.array(values, dtype=float),
            labels=[SimpleNamespace(object_name=n) for n in labels],
        )

    def get_available_game_variables(self):
        return self._vars

    def get_state(self):
        return self.state


def test_vizdoom_variables_and_objects_in_view():
    game = FakeGame(["HEALTH", "POSITION_X", "AMMO2"], [25.0, 3.5, 7.0], ["Medikit", "DoomImp"])
    lab = VizDoomLabeler(game, objects={"imp_visible": "DoomImp"})
    b = Binding(
        ("imp_visible", "low_health", "sees_clip", "sees_medikit"),
        lab,
        derived={"low_health": ("health", "<", 30)},
    )
    assert b.labels(None, {}, None) == {
        "imp_visible": True, "low_health": True, "sees_clip": False, "sees_medikit": True,
    }
    assert lab.values(None, {}, None)["pos_x"] == 3.5
    assert lab.values(None, {}, None)["ammo2"] == 7.0


def test_vizdoom_missing_variable_fails_at_bind_time_and_keeps_last_values():
    game = FakeGame(["HEALTH"], [80.0], [])
    lab = VizDoomLabeler(game)
    with pytest.raises(MissingBindingError, match='observable "armor"'):
        Binding(("hurt",), lab, derived={"hurt": ("armor", "<", 1)})
    b = Binding(("low",), lab, derived={"low": ("health", "<", 30)})
    assert b.labels(None, {}, None) == {"low": False}
    game.is_labels_buffer_enabled = lambda: False
    with pytest.raises(MissingBindingError, match='proposition "sees_medikit"'):
        Binding(("sees_medikit",), lab)
    game.state = None  # the episode is over: vizdoom returns no state
    assert b.labels(None, {}, None) == {"low": False}


# --- MiniGrid ---------------------------------------------------------------------------------


def door_key_env():
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the MiniGrid environments)

    env = gym.make("MiniGrid-DoorKey-5x5-v0")
    env.reset(seed=0)
    return env


def test_minigrid_labels_track_the_agent():
    env = door_key_env()
    u = env.unwrapped
    lab = MiniGridLabeler()
    lab.attach(env)
    v = lab.values(None, {}, env)
    assert v["carrying"] == "nothing" and v["door_locked"] and not v["door_open"]
    # find the key, stand next to it facing it, and pick it up
    key_pos = next(
        (x, y) for x in range(u.width) for y in range(u.height)
        if u.grid.get(x, y) is not None and u.grid.get(x, y).type == "key"
    )
    for d, (dx, dy) in enumerate([(1, 0), (0, 1), (-1, 0), (0, -1)]):
        cell = (key_pos[0] - dx, key_pos[1] - dy)
        if u.grid.get(*cell) is None:
            u.agent_pos, u.agent_dir = cell, d
            break
    v = lab.values(None, {}, env)
    assert v["front"] == "key" and v["front_is_key"] and not v["front_is_wall"]
    env.step(u.actions.pickup)
    v = lab.values(None, {}, env)
    assert v["carrying_key"] and v["carrying"] == "key" and v["front"] == "empty"


def test_minigrid_labeler_rejects_other_envs():
    import gymnasium as gym

    with pytest.raises(TypeError, match="MiniGrid"):
        MiniGridLabeler().attach(gym.make("CartPole-v1"))


# --- the wrapper's fast path: packed bits straight from the labeler -------------------------

MINIGRID_BINDINGS = [
    # (props, derived): subsets exercise computing only the facts the names need
    (("forward", "front_is_wall", "on_lava"), {}),
    (("door_open",), {}),
    (("front_door_locked", "pickup", "toggle"), {}),
    (("held_key", "near_door", "not_locked"), {
        "held_key": ("carrying", "==", "key"),
        "near_door": ("front", "==", "door"),
        "not_locked": ("door_state", "!=", "locked"),
    }),
    (tuple(sorted(MiniGridLabeler().known_names())), {}),
]


@pytest.mark.parametrize("view", ["after", "before"])
def test_minigrid_bits_function_agrees_with_values(view):
    """``Binding.bits_function`` (MiniGrid's fast path) gives the bits and labels that
    evaluating ``values`` gives, along random DoorKey episodes (doors, keys, pickups)."""
    import gymnasium as gym
    import minigrid  # noqa: F401

    env = gym.make("MiniGrid-DoorKey-5x5-v0")
    env.reset(seed=1)
    lab = MiniGridLabeler(view)
    lab.attach(env)
    bindings = [Binding(props, lab, derived=derived, spec="t")
                for props, derived in MINIGRID_BINDINGS]
    fast = [b.bits_function() for b in bindings]
    rng = np.random.default_rng(0)
    seen: set[int] = set()
    for _ in range(300):
        a = int(rng.integers(0, 6))
        lab.before_step(env, a)
        obs, _, term, trunc, info = env.step(a)
        values = lab.values(obs, info, env)
        for b, f in zip(bindings, fast, strict=True):
            labels, bits = b.evaluate_bits(values)
            assert f(obs, info, env) == bits == b.bits(values)
            assert b.labels_of_bits(bits) == labels
            assert list(b.labels_of_bits(bits)) == list(labels)  # props order
        seen.add(bindings[-1].evaluate_bits(values)[1])
        if term or trunc:
            env.reset(seed=int(rng.integers(0, 100)))
    assert len(seen) > 5  # the walk saw several different letters


def test_generic_bits_function_and_label_copies():
    lab = InfoLabeler({"on_lava": "lava", "health": "hp"})
    b = Binding(("low", "on_lava"), lab, derived={"low": ("health", "<", 30)}, spec="safe")
    f = b.bits_function()
    assert f(None, {"lava": True, "hp": 50}, None) == 2
    assert f(None, {"lava": False, "hp": 12}, None) == 1
    first = b.labels_of_bits(3)
    first["low"] = False  # a caller's change does not leak into the next step's labels
    assert b.labels_of_bits(3) == {"low": True, "on_lava": True}
    with pytest.raises(LabelingError, match="hp"):
        f(None, {"lava": True}, None)


def test_active_spec_step_bits_matches_step_on_labels():
    from speclang.compiler.kernel import Stepper
    from speclang.runtime.build import automaton_from_function
    from speclang.runtime.progression import ActiveSpec

    aut = automaton_from_function(
        ["a", "b"], 3, lambda q, v: 2 if q == 2 or (v["a"] and v["b"]) else int(v["a"]),
        accepting=[True, True, False], name="ab",
    )
    s = ActiveSpec("ab", aut, InfoLabeler(["a", "b"]), None)
    assert s.next is not None  # the wrapper's fused lookup
    # the kernel's three scalar paths: fused table, class + delta, memo + diagram walk
    for stepper in (Stepper(aut), Stepper(aut, fused_budget=0), Stepper(aut, max_props=-1)):
        s.stepper = stepper
        for q in range(3):
            for bits in range(4):
                labels = s.binding.labels_of_bits(bits)
                assert s.step_bits(q, bits) == aut.step(q, labels) == s.step(q, labels)
        assert [s.step_bits(1, b) for b in range(4)] == [0, 1, 0, 2]
