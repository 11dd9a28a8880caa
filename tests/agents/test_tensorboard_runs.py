"""``speclang train`` writes TensorBoard events one directory per (method, seed), the same
tags in each (so TensorBoard overlays methods), against each run's environment steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speclang.cli import main

TINY = """
name = "tiny"
seeds = 2
[env]
max_steps = 40
[specs]
source = "builtin"
[agent]
episodes = 12
[eval]
episodes = 2
safe_window = 4
[run]
log_every = 40
[[methods]]
name = "prog/a"
kind = "progressive"
[[methods]]
name = "zero"
kind = "zero_shot"
"""


def test_one_event_directory_per_method_and_seed(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 0
    dirs = sorted(p.relative_to(out / "tb").as_posix() for p in (out / "tb").glob("*/seed*"))
    assert dirs == ["prog_a/seed0", "prog_a/seed1", "zero/seed0", "zero/seed1"]
    assert not [p for p in (out / "tb").iterdir() if p.is_file()]  # no events at the top
    tags = set()
    for d in dirs:
        acc = EventAccumulator(str(out / "tb" / d))
        acc.Reload()
        run_tags = set(acc.Tags()["scalars"])
        tags.add(frozenset(run_tags))
        assert {"train/episodes", "train/violations", "train/return_last50"} <= run_tags
        steps = [e.step for e in acc.Scalars("train/episodes")]
        episodes = [e.value for e in acc.Scalars("train/episodes")]
        assert steps and steps == sorted(steps) and all(s % 40 == 0 for s in steps)
        # x is the run's environment steps: episodes last 1 to 40 (max_steps) steps each
        assert all(s // 40 <= e <= s for s, e in zip(steps, episodes, strict=True))
    assert len(tags) == 1  # the same tags in every run directory: TensorBoard overlays them


def _scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_dqn_writes_its_own_method_and_seed_directory(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    pytest.importorskip("torch")
    import json

    from speclang.agents.dqn import load_dqn_config, run_dqn

    cfg = load_dqn_config(Path(__file__).parents[2] / "examples" / "experiments" / "dqn.toml")
    cfg.specs_source = "builtin"
    cfg.total_timesteps, cfg.learning_starts, cfg.eval_episodes, cfg.max_steps = 300, 100, 2, 40
    cfg.name, cfg.seed = "dqn/small", 3
    out = tmp_path / "run"
    run_dqn(cfg, out, progress=False)
    dirs = sorted(p.relative_to(out / "tb").as_posix() for p in (out / "tb").glob("*/*"))
    assert dirs == ["dqn_small/seed3"]
    assert not [p for p in (out / "tb").iterdir() if p.is_file()]
    run_dir = out / "tb" / "dqn_small" / "seed3"
    episodes = [
        json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()
        if '"episode"' in x
    ]
    assert episodes
    # x is environment steps: each episode's point sits at the step count metrics.jsonl has
    # for its last step, with its return
    got = _scalars(run_dir, "train/episodic_return")
    assert [s for s, _ in got] == [e["step"] for e in episodes]
    assert [v for _, v in got] == pytest.approx([e["return"] for e in episodes])
    viol = _scalars(run_dir, "train/violations")
    assert [v for _, v in viol] == list(np.cumsum([e["violation"] for e in episodes]))
    assert [s for s, _ in _scalars(run_dir, "eval/success_rate")] == [300]
