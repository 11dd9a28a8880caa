"""Tiny tabular experiment configs for the tests that run ``speclang train`` end to end
(tests/agents/test_ray_backend.py, test_report_cli.py, test_registry.py,
tests/speclang/test_cli_extras.py): one builder instead of a TOML copy per file, so a config
field that changes changes once. Import as ``from tests.agents.configs import tiny_toml``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ZERO = {"name": "zero", "kind": "zero_shot"}
PROG = {"name": "prog", "kind": "progressive", "transfer": "correspondence"}
ADAPTIVE_PROG = {**PROG, "schedule": "adaptive", "window": 5, "min_episodes": 5}
SHIELD = {"name": "shield", "kind": "pre_shield"}
FEAR = {"name": "fear", "kind": "intrinsic_fear"}
NONE = {"name": "none", "kind": "no_safeguard"}
# every method kind (the pre-shield and the fear model keep extra per-run state)
EVERY_KIND = (ADAPTIVE_PROG, ZERO, SHIELD, FEAR, NONE)
# a few hundred steps per run: long enough for violations, switches and a report's curves
SMALL: dict[str, Any] = {"episodes": 30, "max_steps": 60, "eval_episodes": 5, "safe_window": 10,
                         "violation_penalty": -1.0, "log_every": 50}


def tiny_toml(
    methods: tuple[Mapping[str, Any], ...] = (ZERO,),
    *,
    seeds: int = 1,
    episodes: int = 4,
    max_steps: int = 20,
    eval_episodes: int = 2,
    safe_window: int = 2,
    violation_penalty: float | None = None,
    log_every: int | None = None,
) -> str:
    """The TOML text of a tabular experiment named ``tiny`` on the builtin specs; top-level
    keys come first, so a test may prepend more (``'algorithm = "x"\\n' + tiny_toml()``)."""
    env: dict[str, Any] = {"max_steps": max_steps}
    if violation_penalty is not None:
        env["violation_penalty"] = violation_penalty
    tables: list[tuple[str, Mapping[str, Any]]] = [
        ("[env]", env),
        ("[specs]", {"source": "builtin"}),
        ("[agent]", {"episodes": episodes}),
        ("[eval]", {"episodes": eval_episodes, "safe_window": safe_window}),
    ]
    if log_every is not None:
        tables.append(("[run]", {"log_every": log_every}))
    tables += [("[[methods]]", m) for m in methods]
    lines = ['name = "tiny"', f"seeds = {seeds}"]
    for header, values in tables:
        lines.append(header)
        lines += [f"{key} = {_value(v)}" for key, v in values.items()]
    return "\n".join(lines) + "\n"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


# A DQN experiment small enough for a test (a few seconds per run on a loaded machine):
# parse with speclang.agents.dqn.parse_dqn_config(dict(TINY_DQN, methods=[...])).
TINY_DQN: dict[str, Any] = {
    "algorithm": "dqn", "name": "tiny_dqn", "specs_source": "builtin", "layout": "L1",
    "reward_mode": "paper", "max_steps": 60, "violation_penalty": -0.1, "seeds": 1,
    "total_timesteps": 1_500, "learning_starts": 200, "buffer_size": 2_000, "hidden": 32,
    "eval_episodes": 3, "safe_window": 5, "exploration_fraction": 0.5,
}
