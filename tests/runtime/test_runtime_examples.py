"""The ecosystem examples run, with tiny step counts (issue 15): examples/sb3_maskable_ppo.py
(sb3-contrib MaskablePPO through ``action_masks()``), examples/vector_env.py (a gymnasium
vector env under SafeguardVectorWrapper) and examples/rllib_ppo.py (skipped without Ray: the
dev extra cannot hold RLlib, which pins gymnasium below 1.3); and the tallies behind the SB3
and RLlib callbacks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from speclang.integrations import EpisodeTally
from tests.ray_needed import import_ray

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_episode_tally_rates() -> None:
    tally = EpisodeTally()
    assert tally.rates() == {}
    tally.add({"r": 1.0, "l": 10, "cost": 0.0, "violations": 0, "violated": False})
    tally.add({"r": -1.0, "l": 30, "cost": 2.0, "violations": 2, "violated": True})
    assert tally.rates() == {
        "safeguard/episode_cost": 1.0,
        "safeguard/violation_rate": 0.5,
        "safeguard/violations_per_episode": 1.0,
        "safeguard/cost_per_step": 2.0 / 40,
        "safeguard/task_return": 0.0,
    }
    tally.clear()
    assert tally.episodes == 0 and tally.rates() == {}


def test_sb3_maskable_ppo_example_never_violates_under_the_shield() -> None:
    pytest.importorskip("sb3_contrib")
    callback = _example("sb3_maskable_ppo").main(256)
    total = callback.total
    # 2 envs x 128 steps, episodes of at most 100 steps: at least 2 ended
    assert total.episodes >= 2 and total.steps >= 200
    # MaskablePPO takes only actions action_masks() allows: never forward into a wall
    assert total.cost == 0 and total.violating_episodes == 0


def test_vector_env_example_counts_cost_per_violation_event() -> None:
    venv = _example("vector_env").main(150)
    stats = venv.stats[venv.spec_name]
    # a random policy bumps into walls; every cost is one violation event of the stats
    assert stats.violations > 0 and stats.episodes >= 4


@pytest.mark.ray
def test_rllib_ppo_example_reports_cost_metrics() -> None:
    import_ray("ray.rllib")
    runners = _example("rllib_ppo").main(1, 256)
    assert runners["safeguard/episode_cost"] == 0.0  # the action-masking module obeys the mask
    assert runners["safeguard/violation_rate"] == 0.0
