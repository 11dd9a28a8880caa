"""`[agent] budget = "steps"`: each run trains until it has spent the step budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speclang.agents.config import ConfigError, parse_config
from speclang.cli import main

BASE = {"name": "b", "seeds": 2, "env": {"max_steps": 60, "violation_penalty": -1.0},
        "specs": {"source": "builtin"}, "eval": {"episodes": 5, "safe_window": 10},
        "methods": [{"name": "zero", "kind": "zero_shot"},
                    {"name": "fear", "kind": "intrinsic_fear"}]}


@pytest.mark.parametrize(("agent", "message"), [
    ({"budget": "time"}, "agent.budget: 'time' is not one of episodes, steps"),
    ({"budget": "steps"}, "agent.steps must be >= 1"),
    ({"steps": 100}, 'agent.steps needs budget = "steps"'),
])
def test_bad_budgets_are_config_errors(agent: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_config({**BASE, "agent": agent}, "x.toml")


def test_every_run_spends_the_step_budget(tmp_path: Path) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text("""name = "b"
seeds = 2
[env]
max_steps = 60
violation_penalty = -1.0
[specs]
source = "builtin"
[agent]
episodes = 400
budget = "steps"
steps = 1500
[eval]
episodes = 5
safe_window = 10
[[methods]]
name = "zero"
kind = "zero_shot"
[[methods]]
name = "fear"
kind = "intrinsic_fear"
""")
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 0
    import numpy as np

    results = json.loads((out / "results.json").read_text())
    with np.load(out / "episodes.npz") as data:
        length = data["length"]
    for i, run in enumerate(results["runs"]):
        n, steps = run["episodes"], run["env_steps"]
        assert n < 400  # the budget, not the episode cap, ended it
        assert steps == length[i, :n].sum() and not length[i, n:].any()
        # it stopped at the first episode end at or after 1,500 steps
        assert steps >= 1500 > steps - length[i, n - 1]
    assert main(["report", str(out)]) == 0
