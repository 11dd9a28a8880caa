"""The DQN's spec-agnostic automaton input, its safety critic and shield, and per-run
reproducibility of a DQN experiment (agents/dqn.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from speclang.agents import dqn  # noqa: E402
from speclang.agents.errors import ConfigError  # noqa: E402
from tests.agents.configs import TINY_DQN  # noqa: E402


def _cfg(methods: list[dict], **over) -> dqn.DQNConfig:
    return dqn.parse_dqn_config({**TINY_DQN, **over, "methods": methods})


def test_select_action_never_explores_into_a_blocked_action() -> None:
    rng = np.random.default_rng(0)
    danger = np.array([0.0, 0.5, 0.05, 0.0, 0.2])  # threshold 0.1 blocks actions 1 and 4
    q = np.array([0.0, 9.0, 1.0, 0.0, 8.0])
    picks = {dqn.select_action(rng, 1.0, q, lambda x: x, lambda _: danger, 0.1, False)[0]
             for _ in range(300)}
    assert picks == {0, 2, 3}
    unshielded = {dqn.select_action(rng, 1.0, q, lambda x: x, None, 0.1, False)[0]
                  for _ in range(300)}
    assert unshielded == {0, 1, 2, 3, 4}
    # greedy: unshielded by default, shielded with critic_greedy
    assert dqn.select_action(rng, 0.0, q, lambda x: x, lambda _: danger, 0.1, False) == (1, False)
    assert dqn.select_action(rng, 0.0, q, lambda x: x, lambda _: danger, 0.1, True) == (2, True)
    # nothing below the threshold: the safest actions only
    high = np.array([0.9, 0.5, 0.7, 0.5, 0.8])
    assert {dqn.select_action(rng, 1.0, q, lambda x: x, lambda _: high, 0.1, False)[0]
            for _ in range(100)} == {1, 3}


def test_the_critic_loss_is_the_tabular_critics_td_rule() -> None:
    from speclang.agents.critic import critic_targets

    torch.manual_seed(0)
    critic = dqn.SafetyCritic(6, 8, 3, 0.2)
    target = dqn.SafetyCritic(6, 8, 3, 0.2)
    x, x_next = torch.randn(5, 6), torch.randn(5, 6)
    actions = torch.tensor([0, 1, 2, 3, 4])
    sink = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0])
    ended = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])
    loss = dqn.critic_loss(critic, target, x, actions, x_next, sink, ended)
    with torch.no_grad():
        goal = critic_targets(torch.sigmoid(target(x_next)).numpy(), sink.numpy() > 0,
                              ended.numpy() > 0)
        logits = critic(x).numpy()[np.arange(5), :, actions.numpy()]
    p = 1 / (1 + np.exp(-logits))
    bce = -(goal * np.log(p) + (1 - goal) * np.log(1 - p)).mean()
    assert float(loss.detach()) == pytest.approx(bce, rel=1e-5)


def test_an_untrained_critic_blocks_nothing() -> None:
    critic = dqn.SafetyCritic(10, 16, 4, 0.01)
    danger = dqn.NumpyMLP(critic.net, critic.horizon)(np.zeros(10, np.float32))
    assert danger.shape == (5,) and np.all(danger < 0.1)
    with torch.no_grad():
        assert danger == pytest.approx(critic.danger(torch.zeros(1, 10))[0].numpy(), abs=1e-6)


def test_feature_input_has_one_width_for_every_spec() -> None:
    from speclang.agents.builtin_specs import minecraft_progression
    from speclang.agents.envs.minecraft import MinecraftEnv

    auts = minecraft_progression()
    env = MinecraftEnv("L1")
    obs, info = env.reset(seed=0)
    prod = dqn.ProductState(env, auts, "features")
    rows = []
    for k in range(len(auts)):
        prod.spec = k
        prod.start(obs, info)
        rows.append(prod.encode(obs, prod.q))
    assert len({r.shape for r in rows}) == 1
    # the start states of T1..T4 all forbid lava and creepers: the same ":sink" features
    from speclang.agents.envs.layouts import N_STAGES, PROPS
    from speclang.compiler.state_features import feature_names

    names = feature_names(PROPS)
    cols = [prod.n_cells + N_STAGES + i for i, n in enumerate(names) if n.endswith(":sink")]
    for r in rows[1:]:
        np.testing.assert_array_equal(r[cols], rows[0][cols])
    assert rows[0][cols].sum() == 2  # lava and creeper
    index = dqn.ProductState(env, auts, "index")
    assert index.size == prod.n_cells + 3 + max(a.n_states for a in auts) != prod.size


def test_the_critic_learns_and_its_shield_steers_exploration() -> None:
    """Same method name (so the same streams), the critic trained in both runs; only the
    threshold differs: at 1.0 the shield never blocks (a danger is always below 1). Blocked
    steps mean the critic learned dangers above its prior (critic_init = 0.01); with a
    broken or disabled shield the two runs would be the same run."""
    method = {"name": "pfc", "automaton_input": "features", "critic": True}
    # a low threshold, so that the few hundred learning steps of a test run make it bite
    on_cfg = _cfg([method], critic_threshold=0.03)
    on = dqn.run_one(on_cfg, on_cfg.methods[0], 0)
    off_cfg = _cfg([method], critic_threshold=1.0)
    off = dqn.run_one(off_cfg, off_cfg.methods[0], 0)
    assert on.record["shielded_steps"] > 20 and off.record["shielded_steps"] == 0
    n = min(len(on.curves["length"]), len(off.curves["length"]))
    assert not np.array_equal(on.curves["length"][:n], off.curves["length"][:n])


def test_a_run_alone_equals_the_same_run_inside_a_batch(tmp_path: Path) -> None:
    methods = [{"name": "prog-index"},
               {"name": "zero-critic", "progressive": False, "automaton_input": "features",
                "critic": True}]
    cfg = _cfg(methods, seeds=2, workers=2, total_timesteps=800)
    results = dqn.run_dqn(cfg, tmp_path / "run", progress=False)
    assert [(r["method"], r["seed"]) for r in results["runs"]] == [
        ("prog-index", 0), ("zero-critic", 0), ("prog-index", 1), ("zero-critic", 1)]
    alone = dqn.run_one(_cfg(methods[1:], total_timesteps=800), dqn.DQNMethod(**methods[1]), 1)
    inside = results["runs"][3]
    assert {k: v for k, v in alone.record.items() if k != "seconds"} == {
        k: v for k, v in inside.items() if k != "seconds"}
    # common random numbers: the environment's streams depend on the seed index only
    s0 = [dqn.experiment_seeds(cfg, m, 0) for m in cfg.methods]
    assert s0[0].env == s0[1].env and s0[0].torch != s0[1].torch
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["methods"] == ["prog-index", "zero-critic"] and saved["seeds"] == 2
    with np.load(tmp_path / "run" / "episodes.npz") as data:
        assert data["fviol"].shape[0] == 4


@pytest.mark.parametrize(("edit", "message"), [
    ({"automaton_input": "onehot"}, "automaton_input"),
    ({"critic_threshold": 0.0}, "critic_threshold must be in (0, 1]"),
    ({"critic_init": 1.0}, "critic_init must be in (0, 1)"),
    ({"workers": 0}, "workers must be >= 1"),
])
def test_bad_settings_are_config_errors(edit: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=__import__("re").escape(message)):
        _cfg([{"name": "m"}], **edit)
    with pytest.raises(ConfigError, match="method names must be unique"):
        _cfg([{"name": "m"}, {"name": "m"}])
