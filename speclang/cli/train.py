"""``speclang train CONFIG.toml --out RUN_DIR [--resume] [--seeds N]``: run an experiment."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from speclang.cli import SpecError, UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train agents on a gridworld experiment (TOML config)",
        description="Run a configured experiment: progressive safeguards and baselines, "
        "all seeds at once; writes metrics.jsonl, TensorBoard events, checkpoints, results.",
    )
    p.add_argument("config", help="experiment file, e.g. examples/experiments/demo.toml")
    p.add_argument("--out", required=True, help="run directory to create (or resume)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (starts it if the --out directory is new; a finished "
        "run is kept)",
    )
    p.add_argument("--seeds", type=int, default=None, help="override the number of seeds")
    p.add_argument("--seed", type=int, default=None, help="override the master seed")
    p.add_argument("--episodes", type=int, default=None, help="override episodes per run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


MAX_SEEDS = 1000


@contextlib.contextmanager
def _locked_run_dir(out: str) -> Iterator[None]:
    """Hold an exclusive lock on the run directory for the whole run: a second ``train``
    (or ``--resume``) on the same directory is refused instead of interleaving its records
    into ``metrics.jsonl``. The lock is ``flock`` on the directory itself, so it adds no
    file and is released by the kernel if the process dies."""
    import fcntl
    import os

    try:
        Path(out).mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise SpecError(f"{out}: cannot create the run directory: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SpecError(f"{out}: another speclang train is using this run directory; "
                            "wait for it to finish or choose another --out") from None
        try:
            yield
        except OSError as exc:
            raise SpecError(f"{out}: cannot write the run: {exc.strerror or exc}"
                            + (f" ({exc.filename})" if exc.filename else "")) from None
    finally:
        os.close(fd)


def run(args: argparse.Namespace) -> int:
    if args.seeds is not None and args.seeds > MAX_SEEDS:
        raise UsageError(f"--seeds must be at most {MAX_SEEDS} (got {args.seeds})")
    with _locked_run_dir(args.out):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from speclang.agents.config import ConfigError, load_config

    if _algorithm(args.config) == "dqn":
        return _run_dqn(args)
    if _algorithm(args.config) == "vizdoom_ppo":
        return _run_vizdoom(args)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        raise SpecError(str(exc)) from None
    _override_seeds(cfg, args)
    if args.episodes is not None:
        if args.episodes < 1:
            raise UsageError("--episodes must be >= 1")
        cfg.agent.episodes = args.episodes
    from speclang.agents.experiment import ExperimentError, run_experiment

    try:
        run_experiment(cfg, Path(args.out), resume=args.resume, progress=not args.no_progress)
    except ExperimentError as exc:
        raise SpecError(str(exc)) from None
    return 0


def _algorithm(path: str) -> str:
    import tomllib

    try:
        with open(path, "rb") as fh:
            return str(tomllib.load(fh).get("algorithm", "tabular"))
    except (OSError, tomllib.TOMLDecodeError):
        return "tabular"  # load_config reports the problem with its file name


def _override_seeds(cfg: Any, args: argparse.Namespace) -> None:
    """``--seed`` and ``--seeds`` override the config's first seed and seed count."""
    if args.seed is not None:
        cfg.seed = args.seed
    if args.seeds is not None:
        if args.seeds < 1:
            raise UsageError("--seeds must be >= 1")
        cfg.seeds = args.seeds


def _run_dqn(args: argparse.Namespace) -> int:
    from speclang.agents.config import ConfigError
    from speclang.agents.dqn import load_dqn_config, run_dqn
    from speclang.agents.experiment import ExperimentError

    if args.resume or args.seeds is not None or args.episodes is not None:
        raise UsageError("DQN runs take no --resume, --seeds or --episodes (edit the config)")
    try:
        cfg = load_dqn_config(args.config)
        if args.seed is not None:
            cfg.seed = args.seed
        run_dqn(cfg, Path(args.out), progress=not args.no_progress)
    except (ConfigError, ExperimentError) as exc:
        raise SpecError(str(exc)) from None
    return 0


def _run_vizdoom(args: argparse.Namespace) -> int:
    from speclang.agents.vizdoom.ppo import ConfigError, load_config, run

    if args.resume or args.episodes is not None:
        raise UsageError("VizDoom PPO runs take no --resume or --episodes (edit the config)")
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        raise SpecError(str(exc)) from None
    _override_seeds(cfg, args)
    try:
        run(cfg, Path(args.out), progress=not args.no_progress)
    except ConfigError as exc:
        raise SpecError(str(exc)) from None
    return 0
