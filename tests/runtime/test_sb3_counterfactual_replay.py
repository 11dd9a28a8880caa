"""``speclang.integrations.sb3.CounterfactualReplay`` with a tiny SB3 DQN on FrozenLake
(examples/sb3_dqn_crm.py's env: 3 monitor states, 2 of them non-sink): every replay-buffer row
is checked against FrozenLake's own transition table and the automaton's function, and each
environment step shows up once from each non-sink monitor state."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
from stable_baselines3 import DQN, PPO  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

from speclang.integrations.sb3 import CounterfactualReplay  # noqa: E402
from speclang.runtime import SafeguardWrapper  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sb3_dqn_crm.py"


def _example():
    spec = importlib.util.spec_from_file_location("example_sb3_dqn_crm", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


EX = _example()
N_Q = 3


def _delta(q: int, west: bool) -> int:  # the spec, written again: at most one west entry
    return 2 if q == 2 or (q == 1 and west) else q + int(west)


def _dqn(env, **kw) -> DQN:
    return DQN("MlpPolicy", env, learning_starts=60, buffer_size=2_000, train_freq=4,
               seed=0, verbose=0, **kw)


@pytest.mark.parametrize("n_envs", [1, 2])
def test_buffer_holds_every_step_from_every_monitor_state(n_envs: int) -> None:
    steps = 240
    env = make_vec_env(EX.make_env, n_envs=n_envs, seed=0)
    model = _dqn(env)
    crm = CounterfactualReplay()
    model.learn(steps, callback=crm)  # training starts at 60: sampling the added rows works
    buf = model.replay_buffer
    assert crm.added == steps and not crm.pending  # one other non-sink state per step
    rows = buf.size() * n_envs
    assert rows == 2 * steps
    table = gym.make("FrozenLake-v1", is_slippery=False).unwrapped.P
    obs = buf.observations[: buf.size()].reshape(-1)
    nxt = buf.next_observations[: buf.size()].reshape(-1)
    act = buf.actions[: buf.size()].reshape(-1)
    rew = buf.rewards[: buf.size()].reshape(-1)
    done = buf.dones[: buf.size()].reshape(-1)
    timeout = buf.timeouts[: buf.size()].reshape(-1)
    per_state: Counter[tuple[int, int, int]] = Counter()
    for o, o2, a, r, d, t in zip(obs, nxt, act, rew, done, timeout, strict=True):
        (cell, q), (cell2, q2) = divmod(int(o), N_Q), divmod(int(o2), N_Q)
        [(p, want_cell2, env_r, env_term)] = table[cell][int(a)]
        assert p == 1.0 and cell2 == want_cell2
        assert q != 2 and q2 == _delta(q, cell2 % 4 == 0)
        violated = q2 == 2
        assert r == pytest.approx(env_r - 1.0 * violated)  # reward="penalty", penalty=1
        if env_term or violated:
            assert d and not t
        else:  # otherwise an episode ends only at FrozenLake's 100-step limit
            assert bool(d) == bool(t)
        per_state[cell, int(a), q] += 1
    # the step SB3 stores is not added again: each (cell, action) as often from q=0 as q=1
    keys = {(c, a) for c, a, _ in per_state}
    assert all(per_state[c, a, 0] == per_state[c, a, 1] for c, a in keys)
    assert {q for _, _, q in per_state} == {0, 1}


def test_example_runs() -> None:
    model, crm, stats = EX.main(200)
    assert crm.added == 200 and model.replay_buffer.size() == 400
    assert stats.total.episodes > 0


def _lake(**kw) -> gym.Env:
    return SafeguardWrapper(gym.make("FrozenLake-v1", is_slippery=False), EX.WEST_ONCE, EX.WEST,
                            **kw)


@pytest.mark.parametrize(("kw", "message"), [
    ({"observation": "index"}, "wrap it in SafeguardWrapper(..., crm=True)"),
    ({"observation": "unchanged", "crm": True}, "does not show the monitor state"),
])
def test_env_errors(kw, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _dqn(_lake(**kw)).learn(5, callback=CounterfactualReplay())


def test_model_errors() -> None:
    env = _lake(observation="index", crm=True)
    with pytest.raises(ValueError, match="optimize_memory_usage=False"):
        _dqn(env, optimize_memory_usage=True, replay_buffer_kwargs={
            "handle_timeout_termination": False}).learn(5, callback=CounterfactualReplay())
    with pytest.raises(TypeError, match="off-policy model"):
        PPO("MlpPolicy", env, n_steps=8, batch_size=8).learn(8, callback=CounterfactualReplay())


def test_an_outer_observation_wrapper_is_refused() -> None:
    env = gym.wrappers.TransformObservation(
        _lake(observation="index", crm=True), lambda o: (o + 1) % 48,
        gym.spaces.Discrete(48))
    with pytest.raises(ValueError, match="outermost wrapper"):
        _dqn(env).learn(5, callback=CounterfactualReplay())


def test_buffer_rows_match_sb3_own_rows_without_the_callback() -> None:
    # the rows SB3 writes itself are the same with or without the callback's rows between them
    env_a = make_vec_env(EX.make_env, n_envs=1, seed=1)
    env_b = make_vec_env(EX.make_env, n_envs=1, seed=1)
    a = DQN("MlpPolicy", env_a, learning_starts=10_000, buffer_size=500, seed=1)
    b = DQN("MlpPolicy", env_b, learning_starts=10_000, buffer_size=500, seed=1)
    a.learn(50)
    b.learn(50, callback=CounterfactualReplay())
    own = b.replay_buffer.observations[: 100].reshape(-1)
    added_rows = np.zeros(100, dtype=bool)
    added_rows[0::2] = True  # per step: the callback runs before SB3 stores its own row
    assert np.array_equal(own[~added_rows], a.replay_buffer.observations[:50].reshape(-1))
