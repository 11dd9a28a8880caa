"""A run directory damaged by a full disk: an empty config.json (the start died) restarts
on --resume; a metrics file shorter than the checkpoint says so instead of padding the
file with NUL bytes."""

from __future__ import annotations

import pytest
from test_tabular import _cfg

from speclang.agents.experiment import ExperimentError, run_experiment

METHODS = [{"name": "p", "kind": "progressive", "transfer": "correspondence",
            "switch_every": 10}]


def test_empty_config_from_a_failed_start_restarts(tmp_path) -> None:
    cfg = _cfg(METHODS, episodes=20, seeds=2)
    full = run_experiment(cfg, tmp_path / "full", progress=False, tensorboard=False)
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_bytes(b"")  # the disk filled while writing it
    resumed = run_experiment(cfg, out, resume=True, progress=False, tensorboard=False)
    assert resumed == full


def test_short_metrics_file_is_refused_not_padded(tmp_path) -> None:
    cfg = _cfg(METHODS, episodes=50, run={"checkpoint_every": 300, "log_every": 100})
    out = tmp_path / "run"
    assert run_experiment(cfg, out, progress=False, tensorboard=False,
                          stop_after_steps=650) is None
    metrics = out / "metrics.jsonl"
    metrics.write_bytes(metrics.read_bytes()[:10])  # records lost on a full disk
    with pytest.raises(ExperimentError, match="damaged"):
        run_experiment(cfg, out, resume=True, progress=False, tensorboard=False)
    assert b"\0" not in metrics.read_bytes()
