"""Batched tabular training: reward semantics, schedules, shield, learning, resume."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from speclang.agents.builtin_specs import minecraft_progression
from speclang.agents.config import parse_config
from speclang.agents.experiment import run_experiment
from speclang.agents.tabular import TabularBatch


def _cfg(methods: list[dict[str, Any]], **over: Any):
    data: dict[str, Any] = {
        "name": "t",
        "seeds": over.pop("seeds", 2),
        "env": {"max_steps": 100, "violation_penalty": -1.0, **over.pop("env", {})},
        "specs": {"source": "builtin"},
        "agent": {"episodes": over.pop("episodes", 60)},
        "eval": {"episodes": 10},
        "run": over.pop("run", {}),
        "methods": methods,
    }
    return parse_config(data)


def _train(cfg, seed: int = 0) -> TabularBatch:
    batch = TabularBatch(cfg, minecraft_progression(), seed)
    while not batch.finished:
        batch.train_step()
    return batch


def test_task_rewards_and_safeguard_termination() -> None:
    cfg = _cfg([{"name": "z", "kind": "zero_shot"}, {"name": "n", "kind": "no_safeguard"}])
    b = _train(cfg)
    st = b.st
    for r in range(b.R):
        ret, n, viol, win = st["ret"][r], st["length"][r], st["viol"][r], st["success"][r]
        if b.safeguard[r]:
            # a violation ends the episode with the penalty instead of the step cost
            expect = np.where(viol, -0.01 * (n - 1) - 1.0, -0.01 * n + win)
            assert not (viol & win).any()
        else:
            expect = -0.01 * n + win  # violations are only counted
        assert np.allclose(ret, expect, atol=1e-4)
    nosg = ~b.safeguard
    assert st["viol"][nosg].any(), "a no-safeguard agent should violate at least once"
    # without a safeguard a violation does not end the episode
    assert (st["length"][nosg][st["viol"][nosg]] > 1).any()


def test_fixed_schedule_gives_the_final_spec_the_remainder() -> None:
    cfg = _cfg([{"name": "p", "kind": "progressive", "transfer": "paper", "switch_every": 14}])
    b = _train(cfg)
    expected = np.r_[[0] * 14, [1] * 14, [2] * 14, [3] * 18]
    assert (b.st["ep_spec"] == expected).all()


def test_adaptive_schedule_advances_only_when_safe_enough() -> None:
    method = {
        "name": "a",
        "kind": "progressive",
        "transfer": "correspondence",
        "schedule": "adaptive",
        "window": 10,
        "threshold": 0.3,
        "min_episodes": 10,
        "max_episodes_per_task": 40,
    }
    b = _train(_cfg([method], episodes=150, seeds=3))
    for r in range(b.R):
        spec, viol = b.st["ep_spec"][r], b.st["viol"][r]
        switches = np.flatnonzero(np.diff(spec)) + 1
        assert len(switches) >= 1
        start = 0
        for e in switches:
            assert spec[e] == spec[e - 1] + 1
            forced = e - start >= 40
            assert forced or (e - start >= 10 and viol[e - 10 : e].mean() < 0.3)
            start = e


def test_pre_shield_without_slip_never_violates() -> None:
    cfg = _cfg([{"name": "s", "kind": "pre_shield"}], env={"slip": 0.0})
    b = _train(cfg)
    assert not b.st["viol"].any()
    assert not b.evaluate(10)["violation_rate"].any()


def test_zero_shot_learns_the_task_safely() -> None:
    cfg = _cfg([{"name": "z", "kind": "zero_shot"}], env={"slip": 0.0}, episodes=400, seeds=2)
    b = _train(cfg)
    # epsilon-greedy training episodes mostly finish the task by the end
    assert b.st["success"][:, -100:].mean() >= 0.8
    # the frozen greedy policy can still loop on a stale "stay" value, so ask one seed only
    ev = b.evaluate(10)
    assert ev["success_rate"].max() >= 0.8
    assert ev["violation_rate"].max() <= 0.1
    # learning also shows in training: later episodes violate less than the first ones
    assert b.st["viol"][:, -100:].mean() < b.st["viol"][:, :100].mean()


def test_intrinsic_fear_learns_danger_near_hazards() -> None:
    cfg = _cfg([{"name": "f", "kind": "intrinsic_fear", "fear_horizon": 3}], episodes=60, seeds=1)
    b = _train(cfg)
    pos, tot = b.st["fear_pos"][0], b.st["fear_tot"][0]
    assert tot.sum() > 0 and pos.sum() > 0
    assert (pos <= tot).all()


def _files(out) -> dict[str, bytes]:
    return {p: (out / p).read_bytes() for p in ("results.json", "metrics.jsonl", "episodes.npz")}


def test_resume_after_kill_reproduces_the_uninterrupted_run(tmp_path) -> None:
    methods = [
        {"name": "p", "kind": "progressive", "transfer": "correspondence", "switch_every": 10},
        {"name": "f", "kind": "intrinsic_fear"},
        {"name": "s", "kind": "pre_shield"},
    ]
    cfg = _cfg(methods, episodes=50, run={"checkpoint_every": 300, "log_every": 100})
    full = run_experiment(cfg, tmp_path / "full", progress=False, tensorboard=False)
    assert full is not None
    killed = tmp_path / "killed"
    # stop between two checkpoints, twice: the resumes replay from the last checkpoint
    assert (
        run_experiment(cfg, killed, progress=False, tensorboard=False, stop_after_steps=650) is None
    )
    assert (killed / "checkpoint.npz").exists()
    assert (
        run_experiment(
            cfg, killed, resume=True, progress=False, tensorboard=False, stop_after_steps=1000
        )
        is None
    )
    resumed = run_experiment(cfg, killed, resume=True, progress=False, tensorboard=False)
    assert resumed == full
    assert _files(tmp_path / "full") == _files(killed)
    finals = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    assert sum(rec["kind"] == "final" for rec in finals) == 3 * 2


def test_resume_refuses_a_different_config(tmp_path) -> None:
    from speclang.agents.experiment import ExperimentError

    cfg = _cfg([{"name": "z", "kind": "zero_shot"}], episodes=5)
    run_experiment(cfg, tmp_path / "r", progress=False, tensorboard=False)
    cfg.seeds = 3
    with pytest.raises(ExperimentError, match="differs"):
        run_experiment(cfg, tmp_path / "r", resume=True, progress=False, tensorboard=False)
    with pytest.raises(ExperimentError, match="not empty"):
        run_experiment(cfg, tmp_path / "r", progress=False, tensorboard=False)


def test_resume_of_nothing_starts_and_of_a_finished_run_returns_it(tmp_path) -> None:
    cfg = _cfg([{"name": "z", "kind": "zero_shot"}], episodes=5)
    first = run_experiment(cfg, tmp_path / "r", resume=True, progress=False, tensorboard=False)
    again = run_experiment(cfg, tmp_path / "r", resume=True, progress=False, tensorboard=False)
    assert first is not None and again == first
