"""``speclang train`` writes TensorBoard events one directory per (method, seed), the same
tags in each (so TensorBoard overlays methods), against each run's environment steps."""

from __future__ import annotations

from pathlib import Path

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
