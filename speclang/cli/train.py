"""``speclang train CONFIG.toml --out RUN_DIR [--resume] [--seeds N] [--backend ray]``: run an
experiment."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

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
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: all runs in this process, in lock-step (default); ray: each "
                   "(method, seed) run as a Ray task (needs the [ray] extra)")
    p.add_argument("--address", default=None,
                   help="with --backend ray: the Ray cluster to run on (default: start a local "
                   "Ray instance)")
    p.add_argument("--workers", type=int, default=None,
                   help="with --backend ray and no --address: CPUs of the local Ray instance "
                   "(default 2)")
    p.add_argument("--retries", type=int, default=3,
                   help="with --backend ray: times a run whose worker died is retried (default 3)")
    p.add_argument("--runs-per-task", type=int, default=1,
                   help="with --backend ray: runs stepped together in one task (default 1)")
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
    if args.backend == "ray":
        _require_ray()  # before the run directory is made
    with _locked_run_dir(args.out):
        return _run(args)


def _require_ray() -> None:
    """Fail before any work when Ray is missing: the CLI names the [ray] extra."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ModuleNotFoundError("No module named 'ray'", name="ray")


def _run(args: argparse.Namespace) -> int:
    from speclang.agents import registry

    try:
        algorithm = registry.for_config(args.config)
        refused = algorithm.refused()
        given = {"resume": args.resume, "seed": args.seed is not None,
                 "seeds": args.seeds is not None, "episodes": args.episodes is not None}
        if any(given[o] for o in refused):
            names = [f"--{o}" for o in refused]
            listed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
            raise UsageError(f"{algorithm.label} runs take no {listed} (edit the config)")
        cfg = algorithm.load(args.config)
        for option in ("seed", "seeds", "episodes"):
            value = getattr(args, option)
            if value is None or not algorithm.accepts(option):
                continue
            if option != "seed" and value < 1:
                raise UsageError(f"--{option} must be >= 1")
            algorithm.override(cfg, option, value)
        ray_options: dict[str, object] = {}
        if args.backend == "ray":
            if args.workers is not None and (args.workers < 1 or args.address is not None):
                raise UsageError("--workers must be >= 1, and applies only without --address")
            if args.retries < 0 or args.runs_per_task < 1:
                raise UsageError("--retries must be >= 0 and --runs-per-task >= 1")
            ray_options = {"address": args.address, "workers": args.workers,
                           "retries": args.retries, "runs_per_task": args.runs_per_task}
        elif args.address is not None or args.workers is not None:
            raise UsageError("--address and --workers need --backend ray")
        algorithm.run(cfg, Path(args.out), resume=args.resume, progress=not args.no_progress,
                      backend=args.backend, ray_options=ray_options)
    except registry.AgentError as exc:
        raise SpecError(str(exc)) from None
    return 0
