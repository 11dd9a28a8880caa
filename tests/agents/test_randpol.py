"""RANDPOL (agents/randpol.py): the output-layer fits against numpy's least squares, fixed
hidden layers, runs reproducible alone, `speclang train` / `speclang report` end to end and
config errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from speclang.agents import randpol
from speclang.agents.errors import ConfigError
from speclang.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TINY = """
algorithm = "randpol"
name = "tiny_randpol"
seeds = 2
specs_source = "builtin"
reward_mode = "paper"
max_steps = 40
violation_penalty = -0.1
total_timesteps = 600
iteration_steps = 200
evaluation_sweeps = 3
value_hidden = [16, 12]
policy_hidden = [8]
eval_episodes = 3
safe_window = 5
[[methods]]
name = "prog"
kind = "progressive"
[[methods]]
name = "zero"
kind = "zero_shot"
"""


def _tiny() -> randpol.RandpolConfig:
    import tomllib

    return randpol.parse_randpol_config(tomllib.loads(TINY), "tiny.toml")


def _ridge_by_lstsq(phi: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    # ridge regression is least squares on phi stacked over sqrt(ridge) I, targets over 0
    k = phi.shape[1]
    a = np.vstack([phi, np.sqrt(ridge) * np.eye(k)])
    b = np.concatenate([y, np.zeros((k,) + y.shape[1:])])
    return np.linalg.lstsq(a, b, rcond=None)[0]


def test_ridge_fit_is_the_regularised_least_squares_solution() -> None:
    rng = np.random.default_rng(3)
    phi, y = rng.normal(size=(40, 7)), rng.normal(size=(40, 3))
    for ridge in (1e-6, 0.5, 10.0):
        assert np.allclose(randpol.ridge_fit(phi, y, ridge), _ridge_by_lstsq(phi, y, ridge))
    # no regularisation to speak of and more rows than features: ordinary least squares
    assert np.allclose(randpol.ridge_fit(phi, y, 1e-10), np.linalg.lstsq(phi, y, rcond=None)[0],
                       atol=1e-7)


def test_per_action_fit_equals_lstsq_over_the_rows_of_each_action() -> None:
    rng = np.random.default_rng(4)
    table = rng.normal(size=(9, 5))  # features of 9 product states
    keys = rng.integers(0, 9, size=60)  # buffer rows repeat states
    actions = rng.integers(0, 3, size=60)  # action 3 of 4 is never taken
    y = rng.normal(size=60)
    beta = randpol.PerActionRidge(table, keys, actions, 4, 0.3).fit(y)
    assert beta.shape == (5, 4)
    for a in range(3):
        rows = actions == a
        assert np.allclose(beta[:, a], _ridge_by_lstsq(table[keys[rows]], y[rows], 0.3))
    assert np.array_equal(beta[:, 3], np.zeros(5))


def test_features_are_the_hidden_layers_of_the_one_hot_state() -> None:
    rng = np.random.default_rng(5)
    net = randpol.RandomNetwork(6, [4, 3], 2, "relu", 1.0, rng)
    x = np.eye(6)[[0, 3]]
    (w1, b1), (w2, b2) = net.hidden
    h = np.maximum(np.maximum(x @ w1 + b1, 0) @ w2 + b2, 0)
    assert np.allclose(net.features(x), np.hstack([h, np.ones((2, 1))]))
    assert net.out.shape == (4, 2) and net.n_fixed() == 6 * 4 + 4 + 4 * 3 + 3


def test_hidden_layers_stay_fixed_and_only_output_layers_train() -> None:
    from speclang.agents.rng import AGENT_TRAIN, run_generator

    cfg = _tiny()
    names, automata = randpol.load_automata(cfg)
    method = cfg.methods[0]
    rec, _, agent = randpol.run_one(cfg, names, automata, method, 1)
    # the same generator drawn afresh gives the hidden layers the trained agent still has
    fresh = randpol.make_agent(cfg, 100, max(a.n_states for a in automata),
                               run_generator(cfg.seed, AGENT_TRAIN, 1, method.name))
    for trained, drawn in ((agent.value, fresh.value), (agent.policy, fresh.policy)):
        assert len(trained.hidden) == len(drawn.hidden)
        for (w, b), (w0, b0) in zip(trained.hidden, drawn.hidden, strict=True):
            assert np.array_equal(w, w0) and np.array_equal(b, b0)
        assert np.any(trained.out != 0) and not np.any(drawn.out != 0)
    assert np.array_equal(agent.value_table, fresh.value_table)
    # the greedy table is the policy network's argmax everywhere
    assert np.array_equal(agent.greedy, (agent.policy_table @ agent.policy.out).argmax(axis=1))
    assert rec["params_trained"] == (12 + 1) * 5 + (8 + 1) * 5
    assert rec["params_fixed"] == agent.value.n_fixed() + agent.policy.n_fixed()


def test_policy_iteration_with_gamma_zero_fits_rewards_and_the_greedy_policy() -> None:
    cfg = _tiny()
    cfg.gamma = 0.0
    rng = np.random.default_rng(6)
    agent = randpol.make_agent(cfg, 100, 3, rng)
    n = 300
    keys = rng.integers(0, 60, size=n)
    actions = rng.integers(0, 5, size=n)
    rewards = rng.normal(size=n)
    randpol.policy_iteration(agent, keys, actions, rewards, rng.integers(0, 60, size=n),
                             np.zeros(n), cfg)
    for a in range(5):
        rows = actions == a
        assert np.allclose(agent.value.out[:, a],
                           _ridge_by_lstsq(agent.value_table[keys[rows]], rewards[rows], cfg.ridge))


def _strip(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "seconds"}  # wall time is not reproducible


def test_a_run_alone_equals_the_run_inside_an_experiment(tmp_path) -> None:
    cfg = _tiny()
    cfg.base_dir = str(tmp_path)
    results = randpol.run_randpol(cfg, tmp_path / "all", progress=False, tensorboard=False)
    names, automata = randpol.load_automata(cfg)
    with np.load(tmp_path / "all" / "episodes.npz") as data:
        curves = {k: data[k] for k in data.files}
    short = results["episodes"]
    for i, (m, s) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        rec, arrays, _ = randpol.run_one(cfg, names, automata, cfg.methods[m], s)
        assert _strip(rec) == _strip(results["runs"][i])
        for key, values in arrays.items():
            assert np.array_equal(values[:short], curves[key][i]), key
    # a different batch (one method, more seeds) leaves seed 1 of "zero" as it was
    other = _tiny()
    other.methods, other.seeds = other.methods[1:], 3
    again = randpol.run_randpol(other, tmp_path / "other", progress=False, tensorboard=False)
    assert _strip(again["runs"][1]) == _strip(results["runs"][3])
    # the two methods differ (their own agent streams) and seeds differ
    assert _strip(results["runs"][0]) != _strip(results["runs"][1])


def test_train_and_report_end_to_end(tmp_path, capsys) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress", "--seeds", "3"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["methods"] == ["prog", "zero"] and len(results["runs"]) == 6
    episodes = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    finals = [e for e in episodes if e["kind"] == "final"]
    assert len(finals) == 6
    for rec in results["runs"]:
        mine = [e for e in episodes if e["kind"] == "episode" and e["method"] == rec["method"]
                and e["seed"] == rec["seed"]]
        assert len(mine) == rec["episodes"] > 0
        assert sum(e["violation"] for e in mine) == rec["violations"]
        assert sum(rec[f"violations_{s}"] for s in results["specs"]) == rec["violations"]
        if rec["method"] == "zero":  # zero-shot trains on the final spec only
            assert rec["episodes_t4"] == rec["episodes"]
        # paper reward: +0.1 per safe step; a violating step gets the penalty and ends it
        for e in mine:
            expected = 0.1 * (e["length"] - 1) - 0.1 if e["violation"] else 0.1 * e["length"]
            assert e["return"] == pytest.approx(expected, abs=1e-9)
    assert {p.name for p in (out / "tb").iterdir()} == {"prog", "zero"}
    assert main(["report", str(out)]) == 0
    md = (out / "summary.md").read_text()
    assert "| parameters trained ↓ | 110 ± 0 | 110 ± 0 |" in md
    assert "| wall time per run (s) ↓ |" in md and "600 environment steps per run" in md
    assert "`prog` against each other method" in md


def test_the_shipped_experiment_loads_with_the_dqn_budget() -> None:
    from speclang.agents.dqn import load_dqn_config

    cfg = randpol.load_randpol_config(EXAMPLES / "experiments" / "randpol.toml")
    assert cfg.seeds >= 10 and {m.kind for m in cfg.methods} == {"progressive", "zero_shot"}
    dqn = load_dqn_config(EXAMPLES / "experiments" / "dqn.toml")
    for key in ("total_timesteps", "layout", "reward_mode", "max_steps", "violation_penalty",
                "gamma"):
        assert getattr(cfg, key) == getattr(dqn, key), key
    assert (Path(cfg.base_dir) / cfg.spec_file).exists()


@pytest.mark.parametrize(("edit", "message"), [
    ("ridge = 0.0", "ridge must be > 0"),
    ("gamma = 1.0", "gamma must be in [0, 1)"),
    ("value_hidden = []", "value_hidden must be a non-empty list of layer widths"),
    ("policy_hidden = [8, 0]", "policy_hidden must be a non-empty list"),
    ("total_timesteps = 0", "total_timesteps must be >= 1"),
    ("iteration_steps = -3", "iteration_steps must be >= 1"),
    ("end_e = 1.5", "end_e must be in [0, 1]"),
    ('activation = "sigmoid"', "'sigmoid' is not one of tanh, relu"),
    ('layout = "L9"', "layout: 'L9' is not one of"),
    ("seeds = 1.5", "seeds: expected int, got 1.5"),
    ("hiden = 3", "unknown key(s) hiden"),
    ("weight_scale = -1", "weight_scale must be > 0"),
])
def test_bad_config_values_are_named(edit: str, message: str) -> None:
    import tomllib

    lines = TINY.splitlines()
    key = edit.split(" = ")[0]
    lines = [x for x in lines if not x.startswith(key + " = ")]
    text = "\n".join([edit, *lines])
    with pytest.raises(ConfigError) as err:
        randpol.parse_randpol_config(tomllib.loads(text), "tiny.toml")
    assert message in str(err.value) and "tiny.toml" in str(err.value)


def test_bad_methods_and_cli_errors_are_clean(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace('kind = "zero_shot"', 'kind = "telepathy"'))
    assert main(["train", str(bad), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "bad.toml" in err and "method 'zero'.kind: 'telepathy' is not one of" in err
    assert "Traceback" not in err
    none = tmp_path / "none.toml"
    none.write_text(TINY.split("[[methods]]")[0])
    assert main(["train", str(none), "--out", str(tmp_path / "o2")]) == 1
    assert "at least one [[methods]] entry is required" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text(TINY)
    assert main(["train", str(good), "--out", str(tmp_path / "o3"), "--episodes", "3"]) == 2
    assert "RANDPOL runs take no --resume or --episodes" in capsys.readouterr().err
