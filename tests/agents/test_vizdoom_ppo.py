"""PPO on real ViZDoom episodes: a few hundred steps per method, plus its pure pieces."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

pytest.importorskip("vizdoom")
pytest.importorskip("torch")

from speclang.agents.vizdoom.ppo import (  # noqa: E402
    ConfigError,
    fear_targets,
    load_config,
    mean_ci,
    run,
)
from speclang.agents.vizdoom.specs import DEFAULT_SPEC  # noqa: E402
from speclang.cli import main  # noqa: E402

SMOKE = """
algorithm = "vizdoom_ppo"
spec_file = "{spec}"
seeds = 1
total_timesteps = 256
num_envs = 2
num_steps = 64
num_minibatches = 2
update_epochs = 1
downscale = 4
frame_stack = 2
methods = {methods}
task_reward = "medkits"
reward_scale = 1.0
"""


def _config(tmp_path, methods='["progressive", "no_safeguard", "intrinsic_fear"]'):
    p = tmp_path / "smoke.toml"
    p.write_text(SMOKE.format(spec=DEFAULT_SPEC.as_posix(), methods=methods))
    return p


def test_smoke_run_through_the_cli(tmp_path):
    cfg = _config(tmp_path)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    runs = {r["method"]: r for r in res["runs"]}
    assert set(runs) == {"progressive", "no_safeguard", "intrinsic_fear"}
    for r in runs.values():
        assert r["steps"] == 256
        assert sum(r[f"episodes_{s}"] for s in ("s0", "s1", "s2")) == r["episodes"]
        assert r["violations"] == sum(r[f"violations_{s}"] for s in ("s0", "s1", "s2"))
        assert len(r["episode_medkits"]) == len(r["episode_returns"]) == r["episodes"]
        assert r["medkits"] == pytest.approx(np.mean(r["episode_medkits"]))
    # 4 updates over 3 stages: the progression visits S0 and S2 at least.
    prog = runs["progressive"]
    assert prog["episodes_s0"] >= 1
    assert runs["no_safeguard"]["episodes_s0"] == 0
    assert (out / "progressive_seed0.pt").exists()
    _check_tensorboard(out, runs)
    assert "| progressive | 1 |" in (out / "summary.md").read_text()
    # The trained policy plays a rendered episode (frame stack and size from the checkpoint).
    gif = tmp_path / "ep.gif"
    model = str(out / "progressive_seed0.pt")
    argv = ["render", str(DEFAULT_SPEC), "--spec", "s2", "--max-steps", "5"]
    assert main([*argv, "--model", model, "--out", str(gif)]) == 0
    assert gif.stat().st_size > 0


def _check_tensorboard(out, runs):
    """One event directory per (method, seed), a point per update at the environment steps
    taken so far (2 envs x 64 steps), ending at the run's own episode and violation counts."""
    if importlib.util.find_spec("tensorboard") is None:
        return
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    dirs = sorted(p.relative_to(out / "tb").as_posix() for p in (out / "tb").glob("*/*"))
    assert dirs == sorted(f"{m}/seed0" for m in runs)
    for method, r in runs.items():
        acc = EventAccumulator(str(out / "tb" / method / "seed0"))
        acc.Reload()
        episodes = acc.Scalars("train/episodes")
        assert [e.step for e in episodes] == [128, 256]
        assert episodes[-1].value == r["episodes"]
        assert acc.Scalars("train/violations")[-1].value == r["violations"]


def test_same_seed_same_run(tmp_path):
    cfg = load_config(_config(tmp_path, '["zero_shot"]'))
    a = run(cfg, tmp_path / "a", progress=False)[0]
    b = run(cfg, tmp_path / "b", progress=False)[0]
    assert a["episode_returns"] == b["episode_returns"]


def test_bad_config_is_a_clear_error(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    p.write_text('algorithm = "vizdoom_ppo"\nmethods = ["tabular"]\n')
    with pytest.raises(ConfigError, match="methods"):
        load_config(p)
    p.write_text('algorithm = "vizdoom_ppo"\nnum_envs = "four"\n')
    with pytest.raises(ConfigError, match="num_envs must be int"):
        load_config(p)
    p.write_text('algorithm = "vizdoom_ppo"\ntask_reward = "health"\n')
    with pytest.raises(ConfigError, match="task_reward"):
        load_config(p)
    p.write_text('algorithm = "vizdoom_ppo"\nfear_phase_in = 1.5\n')
    with pytest.raises(ConfigError, match="fear_phase_in"):
        load_config(p)
    p.write_text('algorithm = "vizdoom_ppo"\nlearnig_rate = 0.1\n')
    assert main(["train", str(p), "--out", str(tmp_path / "x")]) == 1
    # A spec file without the progression: an error naming it, before any training.
    spec = tmp_path / "other.spec"
    spec.write_text("props a\nspec only { G !a }\n")
    p.write_text(f'algorithm = "vizdoom_ppo"\nspec_file = "{spec.as_posix()}"\n')
    assert main(["train", str(p), "--out", str(tmp_path / "y")]) == 1
    assert "no progression named 'vizdoom'" in capsys.readouterr().err


def test_fear_targets_against_direct_count():
    """Targets match a direct look-ahead over each episode (the oracle), and steps whose
    future is cut off by the rollout end are marked unknown."""
    rng = np.random.default_rng(0)
    T, N, H = 30, 3, 4
    viol = rng.random((T, N)) < 0.1
    dones = viol | (rng.random((T, N)) < 0.1)  # a violation ends its episode
    target, known = fear_targets(viol, dones, H)
    for i in range(N):
        for t in range(T):
            expect, cut = 0.0, True
            for s in range(t, min(T, t + H)):
                if viol[s, i]:
                    expect, cut = 1.0, False
                    break
                if dones[s, i]:
                    cut = False
                    break
            else:
                cut = t + H > T
            assert target[t, i] == expect, (t, i)
            assert known[t, i] == (not cut), (t, i)


def test_mean_ci():
    mu, ci = mean_ci([1.0, 2.0, 3.0])
    assert mu == 2.0
    assert ci == pytest.approx(4.302653 * 1.0 / np.sqrt(3))  # t(0.975, 2)
    assert mean_ci([5.0]) == (5.0, 0.0)


def test_shipped_configs_load():
    """Every VizDoom experiment file in examples/ is a valid config (the GPU one included,
    although its device cannot be opened here)."""
    experiments = DEFAULT_SPEC.parent / "experiments"
    from speclang.agents.registry import name_in

    # the RANDPOL files (algorithm = "vizdoom_randpol") are test_vizdoom_randpol.py's
    paths = sorted(p for p in experiments.glob("vizdoom_*.toml")
                   if name_in(p) == "vizdoom_ppo")
    assert {p.name for p in paths} >= {"vizdoom_cpu.toml", "vizdoom_gpu.toml"}
    for p in paths:
        cfg = load_config(p)
        assert cfg.total_timesteps >= cfg.num_envs * cfg.num_steps
    assert load_config(experiments / "vizdoom_cpu.toml").task_reward == "medkits"


def test_curves_plot(tmp_path):
    """The curves script draws a panel per recorded series (medkits only when present)."""
    pytest.importorskip("matplotlib")
    from speclang.agents.vizdoom.plots import plot

    rng = np.random.default_rng(0)
    runs = [
        {
            "method": m,
            "seed": s,
            "episode_returns": rng.normal(300, 50, 40).tolist(),
            "episode_medkits": rng.integers(0, 5, 40).tolist(),
            "episode_final_violations": rng.integers(0, 2, 40).tolist(),
        }
        for m in ("progressive", "no_safeguard")
        for s in range(2)
    ]
    (tmp_path / "results.json").write_text(json.dumps({"runs": runs}))
    plot(tmp_path, tmp_path / "a.png", window=5)
    for r in runs:
        del r["episode_medkits"]
    (tmp_path / "results.json").write_text(json.dumps({"runs": runs}))
    plot(tmp_path, tmp_path / "b.png", window=5)
    from PIL import Image

    wide, narrow = Image.open(tmp_path / "a.png").size[0], Image.open(tmp_path / "b.png").size[0]
    assert wide > narrow  # three panels against two


def test_separate_fear_network_leaves_policy_alone():
    """With fear_network = "separate" the danger head's gradient reaches none of the
    policy's parameters; with "shared" it trains the policy's CNN."""
    import torch

    from speclang.agents.vizdoom.ppo import Agent

    x = torch.randint(0, 255, (3, 2, 30, 40), dtype=torch.uint8)
    mon = torch.zeros(3, 5)
    for mode, reaches_cnn in (("separate", False), ("shared", True)):
        agent = Agent(2, 30, 40, 5, 5, 32, fear_network=mode)
        fear_ids = {id(p) for p in agent.fear_parameters()}
        assert bool(fear_ids) == (mode == "separate")
        agent(x, mon)[2].sum().backward()
        assert (agent.cnn[0].weight.grad is not None) == reaches_cnn
        assert agent.actor.weight.grad is None
