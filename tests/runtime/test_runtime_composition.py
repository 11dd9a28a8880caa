"""``SafeguardWrapper`` as the composition of the single-concern wrappers behaves exactly as the
one-class wrapper it replaced, step by step, on random action sequences in every mode
combination.

The oracle, :class:`OldSafeguardWrapper`, is the old class's logic kept here (and only here),
rewritten to step the automaton through the compiler's own ``Automaton.step`` on the
``Binding``'s labels rather than through the runtime's precomputed tables, so a mistake in the
runtime's fast path does not hide in both sides. It knows only the old per-state cost; the new
wrapper is compared with ``cost="state"`` in full, and with the default ``cost="event"`` on
everything but the cost, which must then be 1 exactly on the steps that enter the sink.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, NamedTuple

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid environments)
import numpy as np
import pytest
from runtime_toyenv import Corridor, no_lava, reach_goal

from speclang.compiler.automaton import Verdict
from speclang.runtime.envs.minigrid import MiniGridLabeler, MiniGridPredictor
from speclang.runtime.labelers import Binding, CallableLabeler, InfoLabeler
from speclang.runtime.progression import resolve
from speclang.runtime.wrapper import SafeguardWrapper


class OldExperience(NamedTuple):
    obs: Any
    action: Any
    reward: float
    next_obs: Any
    terminated: bool
    truncated: bool
    state: int
    next_state: int


class _Spec:
    def __init__(self, name, aut, labeler, derived, module):
        self.name, self.aut = name, aut
        self.binding = Binding(aut.props, labeler, derived=derived, spec=name)
        self.violated = [int(v) == Verdict.VIOLATED for v in aut.verdicts]
        self.accepting = [bool(a) for a in aut.accepting]
        self.verdict_labels = [Verdict(int(v)).label for v in aut.verdicts]
        self.module = module
        self.source = module.specs.get(name) if module is not None else None
        self.parts = None
        if hasattr(aut, "part_verdicts") and hasattr(aut, "part_names"):
            self.parts = [
                {n: v.label for n, v in zip(aut.part_names, aut.part_verdicts(q), strict=True)}
                for q in range(aut.n_states)
            ]

    def step(self, q, labels):
        return self.aut.step(q, dict(labels))


class OldSafeguardWrapper(gym.Wrapper):
    """The pre-split ``SafeguardWrapper`` (observation x reward x on-violation flags in one
    class), as the reference."""

    def __init__(self, env, spec, labeler, *, observation="unchanged", reward="env",
                 on_violation="terminate", gamma=0.99, potential="violation_distance",
                 potentials=None, penalty=1.0, safe_reward=1.0, paper_env_reward=False,
                 derived=None, shield=None, crm=False, explain=True):
        super().__init__(env)
        self.observation_mode, self.reward_mode, self.on_violation = (
            observation, reward, on_violation)
        self.gamma, self.penalty, self.safe_reward = float(gamma), float(penalty), safe_reward
        self.paper_env_reward, self.crm, self.explain = paper_env_reward, crm, explain
        specset = resolve(spec, derived)
        labeler.attach(env)
        self.labeler = labeler
        self.specs = {n: _Spec(n, a, labeler, specset.derived, specset.module)
                      for n, a in specset.specs.items()}
        self.n = specset.max_states
        self.stats = {n: dict(episodes=0, steps=0, violations=0, violating_episodes=0,
                              accepted_episodes=0, env_return=0.0) for n in self.specs}
        self.phi = {}
        if reward == "shaping":
            for name, s in self.specs.items():
                if potentials is None:
                    from speclang.compiler.shaping import potentials as compute

                    phi = compute(s.aut, potential)
                elif isinstance(potentials, Mapping):
                    phi = potentials[name]
                else:
                    phi = potentials
                self.phi[name] = np.asarray(phi, dtype=np.float64).tolist()
        self.shield = shield
        self.n_actions = int(env.action_space.n) if shield is not None else 0
        self.observation_space = self._space(env.observation_space)
        self.active = next(iter(self.specs.values()))
        self.pending = None
        self.q = self.active.aut.initial
        self.last_obs = None
        self.trace = []
        self.violated_episode = False
        self.open = False

    def _space(self, inner):
        n, mode = self.n, self.observation_mode
        if mode == "unchanged":
            return inner
        if mode == "dict":
            return gym.spaces.Dict({"obs": inner, "monitor": gym.spaces.Discrete(n)})
        if mode == "index" and isinstance(inner, gym.spaces.Discrete):
            return gym.spaces.Discrete(int(inner.n) * n)
        extra = n if mode == "onehot" else 1
        high_extra = 1.0 if mode == "onehot" else float(n - 1)
        dtype = np.float32 if not np.issubdtype(inner.dtype, np.floating) else inner.dtype
        low = np.concatenate([inner.low.astype(dtype), np.zeros(extra, dtype=dtype)])
        high = np.concatenate([inner.high.astype(dtype), np.full(extra, high_extra, dtype=dtype)])
        return gym.spaces.Box(low=low, high=high, dtype=dtype)

    def encode(self, obs, q):
        mode = self.observation_mode
        if mode == "unchanged":
            return obs
        if mode == "dict":
            return {"obs": obs, "monitor": q}
        if mode == "index" and isinstance(self.env.observation_space, gym.spaces.Discrete):
            return int(obs) * self.n + q
        out = np.zeros(self.observation_space.shape, dtype=self.observation_space.dtype)
        k = len(obs)
        out[:k] = obs
        if mode == "onehot":
            out[k + q] = 1
        else:
            out[k] = q
        return out

    def set_spec(self, name):
        self.pending = name

    def reset(self, *, seed=None, options=None):
        if self.open:
            self._close(self.q)
        if self.pending is not None:
            self.active, self.pending = self.specs[self.pending], None
        obs, info = self.env.reset(seed=seed, options=options)
        s = self.active
        self.q = s.aut.initial
        self.trace, self.violated_episode, self.open, self.last_obs = [], False, True, obs
        info["safeguard"] = {"spec": s.name, "state": self.q, "verdict": s.verdict_labels[self.q],
                             "accepting": s.accepting[self.q], "labels": {},
                             "violated": s.violated[self.q]}
        if self.shield is not None:
            self._add_mask(info)
        return self.encode(obs, self.q), info

    def step(self, action):
        if not self.open:
            raise gym.error.ResetNeeded("reset first")
        self.labeler.before_step(self.env, action)
        obs, env_reward, env_terminated, truncated, info = self.env.step(action)
        s = self.active
        q_prev = self.q
        labels = s.binding.labels(obs, info, self.env)
        q = s.step(q_prev, labels)
        violated = s.violated[q]
        if self.explain:
            self.trace.append(frozenset(p for p, v in labels.items() if v))
        terminated = bool(env_terminated) or (violated and self.on_violation == "terminate")
        truncated = bool(truncated)
        done = terminated or truncated
        env_reward = float(env_reward)
        reward = self._reward(env_reward, q_prev, q, violated, done)
        info["cost"] = 1.0 if violated else 0.0
        info["safeguard"] = sg = {"spec": s.name, "state": q, "verdict": s.verdict_labels[q],
                                  "accepting": s.accepting[q], "labels": labels,
                                  "violated": violated}
        if s.parts is not None:
            sg["parts"] = s.parts[q]
        if violated:
            if self.explain and not s.violated[q_prev]:
                sg["explanation"] = self._explanation(s, q_prev)
            self.violated_episode = True
        if self.crm:
            info["counterfactuals"] = self._counterfactuals(
                self.last_obs, action, obs, env_reward, labels, bool(env_terminated), truncated)
            self.last_obs = obs
        st = self.stats[s.name]
        st["steps"] += 1
        st["violations"] += violated
        st["env_return"] += env_reward
        self.q = s.aut.initial if violated and self.on_violation == "reset_monitor" else q
        if done:
            self._close(q)
        elif self.shield is not None:
            self._add_mask(info)
        return self.encode(obs, self.q), reward, terminated, truncated, info

    def _reward(self, env_reward, q, q_next, violated, done):
        mode = self.reward_mode
        if mode == "env":
            return env_reward
        if mode == "penalty":
            return env_reward - self.penalty if violated else env_reward
        if mode == "paper":
            r = -self.safe_reward if violated else self.safe_reward
            return r + env_reward if self.paper_env_reward else r
        phi = self.phi[self.active.name]
        return env_reward + (0.0 if done else self.gamma * phi[q_next]) - phi[q]

    def _explanation(self, s, q_prev):
        from speclang.compiler.explain import Explainer

        source = s.source if s.source is not None else s.aut
        try:
            text = Explainer(source, automaton=s.aut, module=s.module).explain_violating_prefix(
                self.trace)
        except Exception:  # noqa: BLE001  (the old wrapper fell back the same way)
            text = None
        if text:
            return text
        true_now = sorted(self.trace[-1]) if self.trace else []
        return (f'spec "{s.name}" violated at step {len(self.trace)}: with '
                f"{{{', '.join(true_now)}}} true, the remaining obligation "
                f'"{s.aut.residuals[q_prev]}" can no longer be met')

    def _add_mask(self, info):
        s = self.active
        predictions = self.shield.predict(self.env)
        mask = np.array([0 if s.violated[s.step(self.q, s.binding.evaluate(predictions[a]))]
                         else 1 for a in range(self.n_actions)], dtype=np.int8)
        exhausted = not mask.any()
        if exhausted:
            mask[:] = 1
        info["action_mask"] = mask
        info["safeguard"]["shield_exhausted"] = exhausted

    def _counterfactuals(self, obs, action, next_obs, env_reward, labels, env_term, trunc):
        s = self.active
        out = []
        for q in range(s.aut.n_states):
            if s.violated[q] and self.on_violation != "continue":
                continue
            q2 = s.step(q, labels)
            terminated = env_term or (s.violated[q2] and self.on_violation == "terminate")
            r = self._reward(env_reward, q, q2, s.violated[q2], terminated)
            out.append(OldExperience(self.encode(obs, q), action, r, self.encode(next_obs, q2),
                                     terminated, trunc, q, q2))
        return out

    def _close(self, q):
        st = self.stats[self.active.name]
        st["episodes"] += 1
        st["violating_episodes"] += int(self.violated_episode)
        st["accepted_episodes"] += int(self.active.accepting[q])
        self.open = False


# --- comparison ----------------------------------------------------------------------------


def same(a, b, path="") -> None:
    """Deep equality with numpy arrays compared by value and dtype-insensitive scalars."""
    if isinstance(a, tuple) and hasattr(a, "_fields"):
        assert tuple(a._fields) == tuple(b._fields), path
        for f in a._fields:
            same(getattr(a, f), getattr(b, f), f"{path}.{f}")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: {sorted(a)} != {sorted(b)}"
        for k in a:
            same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=path)
        assert np.asarray(a).dtype == np.asarray(b).dtype, path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


NEW_KEYS = ("safeguard_episode",)


def run_pair(make_env, spec, make_labeler, actions_of, *, seed, n_steps, cost, **kw):
    """Steps the old and new wrapper with the same random actions; returns how many episodes
    ended and how many steps entered the sink."""
    old = OldSafeguardWrapper(make_env(), spec(), make_labeler(), **kw)
    new = SafeguardWrapper(make_env(), spec(), make_labeler(), cost=cost, **kw)
    assert new.observation_space == old.observation_space
    rng = np.random.default_rng(seed)
    episodes = entered_total = 0

    def start(ep_seed):
        o_obs, o_info = old.reset(seed=ep_seed)
        n_obs, n_info = new.reset(seed=ep_seed)
        same(o_obs, n_obs, "reset obs")
        same(o_info, n_info, "reset info")
        assert new.observation_space.contains(n_obs)
        return o_info

    o_info = start(int(rng.integers(1000)))
    ep_return = ep_len = ep_cost = ep_events = 0
    prev_violated = False
    for _ in range(n_steps):
        action = actions_of(rng, o_info)
        o = old.step(action)
        n = new.step(action)
        entered = o[4]["safeguard"]["violated"] and not prev_violated
        same(o[0], n[0], "obs")
        same(o[1:4], n[1:4], "reward/terminated/truncated")
        n_info = dict(n[4])
        episode = n_info.pop("safeguard_episode", None)
        if cost == "event":
            assert n_info["cost"] == (1.0 if entered else 0.0)
            n_info["cost"] = o[4]["cost"]
        same(o[4], n_info, "info")
        assert new.monitor_state == old.q
        entered_total += entered
        ep_len += 1
        ep_cost += n[4]["cost"]
        ep_events += entered
        ep_return += float(new.monitor.last.env_reward)
        prev_violated = old.active.violated[old.q]
        if o[2] or o[3]:
            episodes += 1
            assert episode is not None, "no episode statistics on the last step"
            assert (episode["l"], episode["cost"], episode["violations"]) == (
                ep_len, ep_cost, ep_events)
            assert episode["r"] == pytest.approx(ep_return)
            assert episode["violated"] == old.violated_episode
            ep_return = ep_len = ep_cost = ep_events = 0
            prev_violated = False
            o_info = start(int(rng.integers(1000)))
        else:
            assert episode is None
            o_info = o[4]
    for name in old.specs:
        got = new.stats[name].as_dict()
        got.pop("violation_rate")
        if cost == "event":  # the only stat that follows the cost
            got["violations"] = old.stats[name]["violations"]
        assert got == pytest.approx(old.stats[name]), name
    return episodes, entered_total


RIGHT_OF_START = {"lava": ("pos", ">=", 3)}
CORRIDOR_MODES = list(itertools.product(
    ["unchanged", "dict", "onehot", "index"], ["env", "shaping", "penalty", "paper"],
    ["terminate", "continue", "reset_monitor"], [False, True],
))


@pytest.mark.parametrize("cost", ["state", "event"])
@pytest.mark.parametrize(("observation", "reward", "on_violation", "crm"), CORRIDOR_MODES)
def test_corridor_every_mode_combination(observation, reward, on_violation, crm, cost):
    episodes, entered = run_pair(
        lambda: Corridor(length=7, max_steps=12), no_lava, lambda: InfoLabeler(["pos"]),
        lambda rng, info: int(rng.integers(2)), seed=7, n_steps=150, cost=cost,
        observation=observation, reward=reward, on_violation=on_violation, crm=crm,
        derived=RIGHT_OF_START, gamma=0.9, paper_env_reward=reward == "paper" and crm,
    )
    assert episodes >= 5 and entered >= 3  # the run saw episode ends and violations


@pytest.mark.parametrize("cost", ["state", "event"])
@pytest.mark.parametrize("on_violation", ["terminate", "continue", "reset_monitor"])
def test_progression_and_module_specs(on_violation, cost):
    """A progression switched mid-run, explanations from a module's spec source."""
    import speclang

    module = speclang.loads(
        "props lava, goal\nspec safe { G !lava & F goal }\nspec careful { G(lava -> X goal) }\n"
        "progression p = [safe, careful]\n"
    )
    for switch in (False, True):
        old = OldSafeguardWrapper(Corridor(), (module, "p"), InfoLabeler(["lava", "goal"]),
                                  on_violation=on_violation, observation="onehot",
                                  reward="shaping")
        new = SafeguardWrapper(Corridor(), (module, "p"), InfoLabeler(["lava", "goal"]),
                               on_violation=on_violation, observation="onehot",
                               reward="shaping", cost=cost)
        rng = np.random.default_rng(3)
        for episode in range(6):
            if switch and episode == 3:
                old.set_spec("careful")
                new.set_spec("careful")
            same(old.reset(seed=episode), new.reset(seed=episode))
            prev = False
            for _ in range(15):
                a = int(rng.integers(2))
                o, n = old.step(a), new.step(a)
                info = dict(n[4])
                info.pop("safeguard_episode", None)
                if cost == "event":
                    entered = o[4]["safeguard"]["violated"] and not prev
                    assert info["cost"] == float(entered)
                    info["cost"] = o[4]["cost"]
                prev = o[4]["safeguard"]["violated"] and on_violation != "reset_monitor"
                same(o[:4], n[:4])
                same(o[4], info)
                if o[2] or o[3]:
                    break


def test_product_monitor_and_frozen_lake_index():
    import speclang
    from speclang import compiler

    prod = lambda: compiler.product([  # noqa: E731
        speclang.compile_formula("G !lava", name="no_lava"),
        speclang.compile_formula("F goal", name="goal"),
    ])
    for on_violation in ("terminate", "continue"):
        run_pair(lambda: Corridor(), prod, lambda: InfoLabeler(["lava", "goal"]),
                 lambda rng, info: int(rng.integers(2)), seed=1, n_steps=60, cost="state",
                 on_violation=on_violation, reward="paper", crm=True)
    hole = lambda: CallableLabeler(lambda o, i, e: {"lava": o in (5, 7, 11, 12)}, ["lava"])  # noqa: E731
    for on_violation in ("terminate", "continue", "reset_monitor"):
        for cost in ("state", "event"):
            run_pair(lambda: gym.make("FrozenLake-v1", is_slippery=False), no_lava, hole,
                     lambda rng, info: int(rng.integers(4)), seed=2, n_steps=80, cost=cost,
                     observation="index", reward="shaping", on_violation=on_violation,
                     crm=True)


@pytest.mark.parametrize("observation", ["unchanged", "dict"])
@pytest.mark.parametrize("on_violation", ["terminate", "continue", "reset_monitor"])
@pytest.mark.parametrize("view", ["after", "before"])
def test_minigrid_with_shield(observation, on_violation, view):
    """MiniGrid, the pre-shield's masks, and actions that follow the mask only half the time
    (so violations happen)."""

    def act(rng, info):
        if rng.random() < 0.5:
            return int(rng.integers(3))
        allowed = np.flatnonzero(info["action_mask"][:3])
        return int(rng.choice(allowed)) if len(allowed) else 0

    for cost in ("state", "event"):
        run_pair(lambda: gym.make("MiniGrid-LavaGapS5-v0", max_steps=30), no_lava,
                 lambda: MiniGridLabeler(view), act, seed=5, n_steps=120, cost=cost,
                 observation=observation, reward="penalty", on_violation=on_violation,
                 derived={"lava": ("on", "==", "lava")},
                 shield=MiniGridPredictor(MiniGridLabeler(view)), crm=observation == "dict")


def test_reach_goal_accepting_episodes():
    run_pair(lambda: Corridor(), reach_goal, lambda: InfoLabeler(["goal"]),
             lambda rng, info: int(rng.random() < 0.3), seed=4, n_steps=100, cost="state",
             observation="onehot", reward="shaping", potentials=np.array([0.0, 1.0]))


def test_the_composition_keeps_the_wrapped_env_as_env():
    """Agents read ``wrapper.env`` (its spaces, its renderer) as the env they wrapped, as
    with the one-class wrapper; the layers are in ``wrapper.stack``."""
    base = Corridor()
    env = SafeguardWrapper(base, no_lava(), InfoLabeler(["lava"]), observation="dict",
                           reward="shaping", crm=True)
    assert env.env is base and env.unwrapped is base
    assert env.env.observation_space.shape == (1,) and isinstance(
        env.observation_space, gym.spaces.Dict)
    names = []
    layer = env.stack
    while layer is not base:
        names.append(type(layer).__name__)
        layer = layer.env
    assert names == ["CounterfactualExperience", "MonitorObservation", "SafeguardReward",
                     "ViolationHandler", "SpecMonitor"]
