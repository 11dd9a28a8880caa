"""The training algorithms ``speclang train`` runs, by the name an experiment file gives as
``algorithm = "..."`` (no key: ``tabular``, the gridworld experiment).

The CLI looks an algorithm up here and knows nothing else of the agents: each entry loads its
config file, takes the command line's overrides it supports, and runs. The modules behind the
entries import torch, gymnasium or vizdoom, so they load only when an entry is used (and a
missing optional dependency surfaces as the ``ModuleNotFoundError`` the CLI turns into advice).
Every problem in the user's input is an :class:`~speclang.agents.errors.AgentError`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AgentError, ConfigError, ExperimentError

DEFAULT = "tabular"

# The overrides of ``speclang train``, in the order its messages list them.
OVERRIDES = ("resume", "seed", "seeds", "episodes")


@dataclass(frozen=True)
class Algorithm:
    name: str
    label: str  # how messages name its runs: "DQN runs take no ..."
    loader: Callable[[Path], Any]  # config file -> config object (raises ConfigError)
    runner: Callable[[Any, Path, bool, bool], object]  # (config, out, resume, progress)
    # Each override it takes (besides "resume") -> the config attribute it sets (dotted path).
    settings: Mapping[str, str]
    resumable: bool = False
    # (config, out, resume, progress, ray options) -> None: its runs as Ray tasks, or None
    # when the algorithm runs only in this process.
    ray_runner: Callable[[Any, Path, bool, bool, Mapping[str, Any]], object] | None = None

    def accepts(self, option: str) -> bool:
        return self.resumable if option == "resume" else option in self.settings

    def refused(self) -> list[str]:
        """The overrides this algorithm does not take (its config file says them)."""
        return [o for o in OVERRIDES if not self.accepts(o)]

    def load(self, path: str | Path) -> Any:
        return self.loader(Path(path))

    def override(self, cfg: Any, option: str, value: object) -> None:
        *parents, attr = self.settings[option].split(".")
        for name in parents:
            cfg = getattr(cfg, name)
        setattr(cfg, attr, value)

    def run(self, cfg: Any, out: str | Path, *, resume: bool = False,
            progress: bool = True, backend: str = "local",
            ray_options: Mapping[str, Any] | None = None) -> None:
        """``backend``: "local" (this process) or "ray" (``ray_options``: ``address``,
        ``workers``, ``retries``, as :func:`speclang.agents.ray_backend.run_ray` takes)."""
        if resume and not self.resumable:
            raise ValueError(f"{self.label} runs cannot be resumed")
        if backend == "ray":
            if self.ray_runner is None:
                raise ConfigError(f"{self.label} runs have no Ray backend (use --backend local)")
            self.ray_runner(cfg, Path(out), resume, progress, ray_options or {})
        elif backend == "local":
            self.runner(cfg, Path(out), resume, progress)
        else:
            raise ValueError(f"unknown backend {backend!r}")


def _load_tabular(path: Path) -> Any:
    from .config import load_config

    return load_config(path)


def _run_tabular(cfg: Any, out: Path, resume: bool, progress: bool) -> None:
    from .experiment import run_experiment

    run_experiment(cfg, out, resume=resume, progress=progress)


def _ray_tabular(cfg: Any, out: Path, resume: bool, progress: bool,
                 options: Mapping[str, Any]) -> None:
    from .ray_backend import run_ray

    run_ray(cfg, out, resume=resume, progress=progress, **options)


def _load_dqn(path: Path) -> Any:
    from .dqn import load_dqn_config

    return load_dqn_config(path)


def _run_dqn(cfg: Any, out: Path, resume: bool, progress: bool) -> None:
    from .dqn import run_dqn

    run_dqn(cfg, out, progress=progress)


def _load_randpol(path: Path) -> Any:
    from .randpol import load_randpol_config

    return load_randpol_config(path)


def _run_randpol(cfg: Any, out: Path, resume: bool, progress: bool) -> None:
    from .randpol import run_randpol

    run_randpol(cfg, out, progress=progress)


def _load_vizdoom_randpol(path: Path) -> Any:
    from .vizdoom.randpol import load_randpol_config

    return load_randpol_config(path)


def _run_vizdoom_randpol(cfg: Any, out: Path, resume: bool, progress: bool) -> None:
    from .vizdoom.randpol import run

    run(cfg, out, progress=progress)


def _load_ppo(path: Path) -> Any:
    from .vizdoom.ppo import load_config

    return load_config(path)


def _run_ppo(cfg: Any, out: Path, resume: bool, progress: bool) -> None:
    from .vizdoom.ppo import run

    run(cfg, out, progress=progress)


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("tabular", "tabular", _load_tabular, _run_tabular,
                  {"seed": "seed", "seeds": "seeds", "episodes": "agent.episodes"},
                  resumable=True, ray_runner=_ray_tabular),
        Algorithm("dqn", "DQN", _load_dqn, _run_dqn, {"seed": "seed"}),
        Algorithm("randpol", "RANDPOL", _load_randpol, _run_randpol,
                  {"seed": "seed", "seeds": "seeds"}),
        Algorithm("vizdoom_ppo", "VizDoom PPO", _load_ppo, _run_ppo,
                  {"seed": "seed", "seeds": "seeds"}),
        Algorithm("vizdoom_randpol", "VizDoom RANDPOL", _load_vizdoom_randpol,
                  _run_vizdoom_randpol, {"seed": "seed", "seeds": "seeds"}),
    )
}


def get(name: str, where: str = "algorithm") -> Algorithm:
    """The algorithm called ``name``; ``where`` starts the error message (the config file)."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        known = ", ".join(sorted(ALGORITHMS))
        raise ConfigError(f"{where}: unknown algorithm {name!r} (known: {known})") from None


def name_in(path: str | Path) -> str:
    """The ``algorithm`` an experiment file names. An unreadable file names the default: its
    loader then reports the problem with the file name, as for any other bad file."""
    try:
        with open(path, "rb") as fh:
            value = tomllib.load(fh).get("algorithm", DEFAULT)
    except (OSError, tomllib.TOMLDecodeError):
        return DEFAULT
    if not isinstance(value, str):
        raise ConfigError(f"{path}: algorithm: expected str, got {value!r}")
    return value


def for_config(path: str | Path) -> Algorithm:
    """The algorithm that runs the experiment file at ``path``."""
    return get(name_in(path), str(path))


__all__ = ["ALGORITHMS", "AgentError", "Algorithm", "ConfigError", "ExperimentError",
           "for_config", "get", "name_in"]
