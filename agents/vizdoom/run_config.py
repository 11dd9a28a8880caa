"""The keys every VizDoom experiment file shares, and the reader of those flat TOML files.

:class:`VizDoomRunConfig` holds what :class:`speclang.agents.vizdoom.ppo.Envs` and
:func:`~speclang.agents.vizdoom.ppo.run_metrics` read: the specs and the progression, the
seeds, the scenario and its frames, the step budget, the task reward, the safeguard, the
monitor input and the "episodes to safe" window. Each learner's config (PPO, RANDPOL)
derives from it, adds its own keys and redeclares the defaults it changes (a redeclared
field keeps its place, so ``config.json`` lists the shared keys first, in this order).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .env import TASK_REWARDS

AUTOMATON_INPUTS = ("index", "features")


@dataclass
class VizDoomRunConfig:
    name: str = "vizdoom"
    algorithm: str = "vizdoom"
    spec_file: str = "../vizdoom.spec"
    progression: str = "vizdoom"
    methods: list[str] = field(default_factory=list)
    seeds: int = 5
    seed: int = 0
    scenario: str = "health_gathering_supreme"
    frame_skip: int = 4
    frame_stack: int = 4
    downscale: int = 2
    episode_timeout: int = 2100
    total_timesteps: int = 20_000
    num_envs: int = 4
    # What the agent is paid (agents.vizdoom.env.TASK_REWARDS); the scenario's own reward
    # (+1 per tic alive, -100 on death) is what the methods are compared on either way.
    task_reward: str = "scenario"
    # Scales the task reward; 0.01 brings the scenario's returns to O(10).
    reward_scale: float = 0.01
    violation_penalty: float = 1.0
    shaping: bool = True
    potential: str = "violation_distance"
    # How the network sees the monitor state: "index" (one-hot state number) or "features"
    # (speclang.compiler.state_features over the specs' propositions: the same vector for
    # states that behave alike, whatever their numbers in each spec's automaton).
    automaton_input: str = "index"
    gamma: float = 0.99
    safe_window: int = 20
    safe_rate: float = 0.9
    torch_threads: int = 1
    base_dir: str = "."

    def validate_run(self, methods: tuple[str, ...]) -> None:
        """The checks of the shared keys; ``methods`` are the learner's method names."""
        bad = [m for m in self.methods if m not in methods]
        if bad or not self.methods:
            raise ConfigError(f"methods must be a non-empty list from {', '.join(methods)}")
        for key in ("seeds", "num_envs", "safe_window"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.task_reward not in TASK_REWARDS:
            raise ConfigError(f"task_reward must be one of {', '.join(TASK_REWARDS)}")
        if self.automaton_input not in AUTOMATON_INPUTS:
            raise ConfigError("automaton_input must be index or features")


def read_flat_config(path: str | Path, cls: type) -> dict[str, Any]:
    """The keys of a flat TOML experiment file for the dataclass ``cls``: every key one of its
    fields, every value of its default's type (an int where a float is expected is taken);
    a ``ConfigError`` naming the file otherwise."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    known = {f.name for f in fields(cls)} - {"base_dir"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {', '.join(unknown)}")
    defaults = cls()
    for key, value in raw.items():
        want = type(getattr(defaults, key))
        ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = raw[key] = float(value)
            ok = True
        if not ok:
            raise ConfigError(f"{path}: {key} must be {want.__name__}, got {value!r}")
    return raw
