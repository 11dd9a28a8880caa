"""What the step-budget gridworld learners (DQN, RANDPOL) share: their flat TOML configs'
reading and checks, their spec progression, and their run records and result files.

Both learners keep a flat config (env, spec and budget keys at the top level, one
``[[methods]]`` table per method) and write the files ``speclang report`` reads, so the two
read and write them through these functions: a key or a record field means the same in both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speclang.compiler.automaton import Automaton

from .config import REWARD_MODES, SpecConfig, _build, _check_choice, read_toml
from .envs.layouts import LAYOUTS
from .errors import ConfigError

__all__ = ["StepRunConfig", "check_env_keys", "load_progression", "read_toml", "run_record",
           "split_methods", "write_results"]


@dataclass
class StepRunConfig:
    """The keys both flat configs have: environment, spec progression, exploration, evaluation.
    A learner's config adds its own, and its algorithm, seeds, step budget and methods."""

    name: str = "run"  # every learner's config sets its own default
    # The base seed: each run's streams derive from it, the method and the seed index (a DQN
    # config without [[methods]] is one run, of this seed).
    seed: int = 0
    layout: str = "L1"
    reward_mode: str = "task"
    max_steps: int = 200
    violation_penalty: float = -1.0
    specs_source: str = "file"
    spec_file: str = "../minecraft.spec"
    progression: str = "minecraft"
    gamma: float = 0.9
    buffer_size: int = 20_000
    start_e: float = 1.0
    end_e: float = 0.05
    exploration_fraction: float = 0.3
    eval_episodes: int = 20
    safe_window: int = 50  # trailing window for "episodes to 95% safe"
    safe_rate: float = 0.95
    base_dir: str = "."


def split_methods(data: dict[str, Any], method_cls: type, where: str, *,
                  required: bool) -> tuple[dict[str, Any], list[Any]]:
    """(the top-level keys, the ``[[methods]]`` built as ``method_cls``) of a flat config."""
    data = dict(data)
    if "base_dir" in data:
        raise ConfigError(f"{where}: unknown key(s) base_dir")
    raw = data.pop("methods", None)
    if raw is None and not required:
        raw = []
    if not isinstance(raw, list) or (required and not raw):
        raise ConfigError(f"{where}: at least one [[methods]] entry is required" if required
                          else f"{where}: methods must be [[methods]] tables")
    methods = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise ConfigError(f"{where}: [[methods]] #{i + 1} must be a table")
        methods.append(_build(method_cls, m, f"{where}: [[methods]] #{i + 1}"))
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: method names must be unique")
    return data, methods


def check_env_keys(cfg: StepRunConfig, where: str) -> None:
    """The environment and spec keys every flat gridworld config has."""
    _check_choice(cfg.layout, tuple(LAYOUTS), f"{where}: layout")
    _check_choice(cfg.reward_mode, REWARD_MODES, f"{where}: reward_mode")
    _check_choice(cfg.specs_source, ("file", "builtin"), f"{where}: specs_source")


def load_progression(cfg: StepRunConfig) -> tuple[list[str], list[Automaton]]:
    """(spec names, automata) of a flat config's progression, read as the tabular runs read it."""
    from .config import ExperimentConfig
    from .experiment import load_automata

    specs = SpecConfig(source=cfg.specs_source, file=cfg.spec_file, progression=cfg.progression)
    return load_automata(ExperimentConfig(name=cfg.name, specs=specs, base_dir=cfg.base_dir))


def run_record(cfg: Any, names: list[str], method_name: str, seed_index: int,
               c: dict[str, np.ndarray], evaluation: dict[str, float],
               visited: int) -> dict[str, Any]:
    """A run's line of results.json, with the keys ``speclang report`` reads; ``c`` holds the
    run's per-episode arrays (``ret``, ``viol``, ``fviol``, ``success``, ``spec``)."""
    from .experiment import episodes_to_safe

    n = len(c["ret"])
    fviol = c["fviol"].astype(bool) if n else np.zeros(0, dtype=bool)
    ets = episodes_to_safe(fviol, cfg.safe_window, cfg.safe_rate)
    rec: dict[str, Any] = {
        "kind": "final",
        "method": method_name,
        "seed": seed_index,
        "episodes": n,
        "env_steps": cfg.total_timesteps,
        "violations": int(c["viol"].sum()) if n else 0,
        "final_spec_violations": int(fviol.sum()),
        "episodes_to_safe": ets if ets is not None else n,
        "reached_safe": ets is not None,
        "train_return": float(c["ret"].mean()) if n else 0.0,
        "train_success_rate": float(c["success"].mean()) if n else 0.0,
        "eval_success_rate": evaluation["success_rate"],
        "eval_violation_rate": evaluation["violation_rate"],
        "eval_return": evaluation["return"],
        "final_states_visited": visited,
    }
    for k, name in enumerate(names):
        on = c["spec"] == k if n else np.zeros(0, dtype=bool)
        rec[f"violations_{name}"] = int(c["viol"][on].sum()) if n else 0
        rec[f"episodes_{name}"] = int(on.sum())
    return rec


def write_results(cfg: Any, algorithm: str, out: Path, names: list[str],
                  records: list[dict[str, Any]],
                  curves: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """results.json and episodes.npz of the runs so far (whole seeds: a stopped experiment
    leaves a report-ready directory of its completed seeds)."""
    # Runs of one step budget end at different episode counts: every curve is cut to the
    # shortest run's (the report's curves are per episode).
    shortest = min(len(c["ret"]) for c in curves)
    results = {
        "name": cfg.name,
        "algorithm": algorithm,
        "specs": names,
        "methods": [m.name for m in cfg.methods],
        "seeds": len(records) // len(cfg.methods),
        "episodes": shortest,
        "steps": cfg.total_timesteps,
        "reward_mode": cfg.reward_mode,
        "max_steps": cfg.max_steps,
        "runs": records,
    }
    arrays: dict[str, Any] = {k: np.stack([c[k][:shortest] for c in curves]) for k in curves[0]}
    np.savez_compressed(out / "episodes.npz", **arrays)
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True))
    return results
