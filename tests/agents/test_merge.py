"""Joining run directories that trained different methods (agents/merge.py): the joined
directory equals one run of all methods together, and mismatched directories are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from speclang.agents.config import parse_config
from speclang.agents.errors import ExperimentError
from speclang.agents.experiment import run_experiment
from speclang.agents.merge import merge_runs

_METHODS = [
    {"name": "prog", "kind": "progressive", "transfer": "correspondence", "switch_every": 8,
     "critic": "all", "critic_pool": "cell"},
    {"name": "fear", "kind": "intrinsic_fear"},
    {"name": "zero", "kind": "zero_shot", "critic": "explore"},
]


def _cfg(methods: list[dict[str, Any]], name: str, seed: int = 3) -> Any:
    return parse_config({
        "name": name, "seed": seed, "seeds": 2,
        "env": {"max_steps": 60, "violation_penalty": -1.0},
        "specs": {"source": "builtin"},
        "agent": {"episodes": 30},
        "eval": {"episodes": 4},
        "methods": methods,
    })


def _train(tmp: Path, methods: list[dict[str, Any]], name: str, seed: int = 3) -> Path:
    out = tmp / name
    run_experiment(_cfg(methods, name, seed), out, progress=False, tensorboard=False)
    return out


def test_methods_trained_apart_and_joined_equal_one_joint_run(tmp_path: Path) -> None:
    joint = _train(tmp_path, _METHODS, "joint")
    a = _train(tmp_path, _METHODS[:1], "a")
    b = _train(tmp_path, _METHODS[1:], "b")
    merged = merge_runs(tmp_path / "m", [a, b], "joint")
    want = json.loads((joint / "results.json").read_text())
    assert merged["methods"] == want["methods"]
    assert merged["runs"] == want["runs"]
    assert json.loads((tmp_path / "m" / "config.json").read_text()) == json.loads(
        (joint / "config.json").read_text())
    with np.load(joint / "episodes.npz") as w, np.load(tmp_path / "m" / "episodes.npz") as g:
        assert sorted(w.files) == sorted(g.files)
        for key in w.files:
            assert np.array_equal(w[key], g[key]), key


def test_directories_that_differ_beyond_their_methods_are_refused(tmp_path: Path) -> None:
    a = _train(tmp_path, _METHODS[:1], "a")
    b = _train(tmp_path, _METHODS[1:2], "b", seed=4)
    with pytest.raises(ExperimentError, match="differs from .* in seed"):
        merge_runs(tmp_path / "m", [a, b], "m")
    c = _train(tmp_path, _METHODS[:1], "c")
    with pytest.raises(ExperimentError, match="prog in more than one directory"):
        merge_runs(tmp_path / "m2", [a, c], "m2")
    with pytest.raises(ExperimentError, match="not a finished run directory"):
        merge_runs(tmp_path / "m3", [a, tmp_path / "nothing"], "m3")
