"""RANDPOL on real ViZDoom episodes: a few hundred steps, only the output layer trained, the
safeguard's metrics recorded; and the policy-evaluation fit against a direct solve."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("vizdoom")
torch = pytest.importorskip("torch")

from speclang.agents.vizdoom.randpol import (  # noqa: E402
    ConfigError,
    RandomFeatures,
    RandpolConfig,
    load_randpol_config,
    policy_iteration,
)
from speclang.agents.vizdoom.specs import DEFAULT_SPEC  # noqa: E402
from speclang.cli import main  # noqa: E402

SMOKE = f"""
algorithm = "vizdoom_randpol"
spec_file = "{DEFAULT_SPEC.as_posix()}"
seeds = 1
total_timesteps = 384
num_envs = 2
iteration_steps = 128
evaluation_sweeps = 3
buffer_size = 256
downscale = 4
frame_stack = 2
methods = ["progressive", "zero_shot"]
task_reward = "medkits"
reward_scale = 1.0
"""


def test_smoke_run_trains_only_the_output_layer(tmp_path):
    cfg = tmp_path / "smoke.toml"
    cfg.write_text(SMOKE)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    runs = {r["method"]: r for r in res["runs"]}
    assert set(runs) == {"progressive", "zero_shot"}
    for method, r in runs.items():
        assert r["steps"] == 384 and r["seconds"] > 0
        assert sum(r[f"episodes_{s}"] for s in ("s0", "s1", "s2")) == r["episodes"]
        assert r["violations"] == sum(r[f"violations_{s}"] for s in ("s0", "s1", "s2"))
        assert len(r["episode_final_violations"]) == r["episodes"] >= 1
        assert len(r["bellman_residuals"]) == 3  # 384 steps / 128 per iteration
        saved = torch.load(out / f"{method}_seed0.pt")
        k, h, w, n_mon, n_act, hidden = saved["shape"]
        assert r["params_trained"] == (hidden + n_mon + 1) * n_act == saved["head"].numel()
        # The random layers after training are the ones drawn from the seed at the start.
        torch.manual_seed(saved["rng_seed"])
        fresh = RandomFeatures(k, h, w, n_mon, hidden).state_dict()
        assert fresh.keys() == saved["features"].keys()
        for name, t in fresh.items():
            assert torch.equal(t, saved["features"][name]), name
        assert r["params_fixed"] == sum(t.numel() for t in fresh.values())
        assert saved["head"].abs().sum() > 0  # the output layer was fitted
    assert runs["progressive"]["episodes_s0"] >= 1
    assert runs["zero_shot"]["episodes_s0"] == runs["zero_shot"]["episodes_s1"] == 0
    summary = (out / "summary.md").read_text()
    assert "| progressive | 1 |" in summary and "params_trained" in summary


def test_policy_evaluation_matches_a_direct_ridge_solve():
    """One sweep from a zero head is a ridge fit per action to the rewards; a second uses
    the greedy policy of the first head, fixed, as an independent numpy solve gives."""
    rng = np.random.default_rng(3)
    n, d, n_act = 200, 6, 3
    phi, phi_next = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    act, rew = rng.integers(0, n_act, n), rng.normal(size=n)
    done = rng.random(n) < 0.2
    cfg = RandpolConfig(ridge=0.5, gamma=0.9, evaluation_sweeps=1)
    head = np.zeros((d, n_act))
    policy_iteration(head, phi, act, rew, phi_next, done, cfg)

    def solve(target):
        w = np.zeros((d, n_act))
        for a in range(n_act):
            p, y = phi[act == a], target[act == a]
            w[:, a] = np.linalg.lstsq(
                np.vstack([p, np.sqrt(0.5) * np.eye(d)]), np.concatenate([y, np.zeros(d)]),
                rcond=None)[0]
        return w

    np.testing.assert_allclose(head, solve(rew), atol=1e-10)
    first = head.copy()
    cfg.evaluation_sweeps = 2
    policy_iteration(head, phi, act, rew, phi_next, done, cfg)
    pi = np.argmax(phi_next @ first, axis=1)
    sweep1 = solve(rew + 0.9 * (~done) * (phi_next @ first)[np.arange(n), pi])
    expected = solve(rew + 0.9 * (~done) * (phi_next @ sweep1)[np.arange(n), pi])
    np.testing.assert_allclose(head, expected, atol=1e-10)


def test_bad_configs_are_config_errors(tmp_path):
    p = tmp_path / "bad.toml"
    for text, msg in (
        ('methods = ["intrinsic_fear"]', "methods must be"),
        ("ridge = 0.0", "ridge must be > 0"),
        ("hidden = 0", "hidden must be >= 1"),
        ('algorithm = "vizdoom_ppo"', "not VizDoom RANDPOL's"),
        ("learning_rate = 0.1", "unknown keys learning_rate"),
    ):
        p.write_text(text + "\n")
        with pytest.raises(ConfigError, match=msg):
            load_randpol_config(p)
