"""``speclang train CONFIG --backend ray``: every (method, seed) run of an experiment as one
Ray task, on a local Ray instance or a cluster.

The driver compiles the specs once and puts the config and the automata in Ray's object
store; each task runs :func:`~speclang.agents.experiment.run_group` on its runs (one by
default, ``runs_per_task`` to batch several in one lock-step task) and returns their final
records and episode curves. As each task finishes, the driver writes it to ``runs/`` (one
``.npz`` per run, atomically), appends its final record to metrics.jsonl and its scalars to
TensorBoard, so a killed driver resumes (``--resume``) without redoing finished runs. When
all are in, results.json and episodes.npz are written exactly as the local backend writes
them: each run has its own random streams, so the numbers are the same run for run.

A task whose worker dies (killed, out of memory, node lost) is retried by Ray up to
``retries`` times; an exception raised by the run itself is not (it would raise again). A
task that still fails stops the driver with an :class:`ExperimentError`; the runs written so
far are kept for ``--resume``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .config import ExperimentConfig
from .errors import ExperimentError
from .experiment import (
    CHECKPOINT,
    EPISODE_ARRAYS,
    RUNS,
    TensorBoardRuns,
    _replace_atomically,
    load_automata,
    open_run_dir,
    run_group,
    write_results,
)

LOCAL_CPUS = 2


def _run_file(out: Path, method_index: int, seed_index: int) -> Path:
    # Indices, not method names: names are free text and the file name must be a safe path.
    return out / RUNS / f"m{method_index:03d}-s{seed_index:04d}.npz"


def _save_run(path: Path, result: dict[str, Any]) -> None:
    meta = {k: result[k] for k in ("final", "batch_steps", "scalars")}
    _replace_atomically(path, lambda tmp: np.savez(
        tmp, _meta=np.array(json.dumps(meta)),
        **{f"ep_{k}": v for k, v in result["episodes"].items()}))


def _load_run(path: Path) -> dict[str, Any] | None:
    """A finished run's file, or ``None`` when it is damaged (the run is then redone)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["_meta"]))
            episodes = {k: np.array(data[f"ep_{k}"]) for k in EPISODE_ARRAYS}
    except Exception:  # a half-written or damaged archive raises anything
        return None
    return {**meta, "episodes": episodes}


def _remote_runs(cfg: ExperimentConfig, automata: Any, spec_names: list[str],
                 keys: list[tuple[int, int]]) -> list[dict[str, Any]]:
    _injected_fault(keys)
    return run_group(cfg, automata, spec_names, keys)


# Fault injection, so that retries can be tested on a real Ray instance: where the workers'
# environment names a folder in SPECLANG_RAY_FAULTS, a task holding run (m, s) whose file
# FOLDER/m{m:03d}-s{s:04d}.fail exists deletes it and kills its own worker process, as an
# out-of-memory kill would; Ray then retries the task, which finds no file and runs.
FAULTS_ENV = "SPECLANG_RAY_FAULTS"


def _injected_fault(keys: list[tuple[int, int]]) -> None:
    import os

    folder = os.environ.get(FAULTS_ENV)
    if not folder:
        return
    for m, s in keys:
        try:
            os.unlink(Path(folder) / f"m{m:03d}-s{s:04d}.fail")
        except FileNotFoundError:
            continue
        os._exit(1)  # no exception, no cleanup: the worker dies


def run_ray(cfg: ExperimentConfig, out: str | Path, *, resume: bool = False,
            progress: bool = True, address: str | None = None, workers: int | None = None,
            retries: int = 3, runs_per_task: int = 1,
            tensorboard: bool = True) -> dict[str, Any]:
    """Run ``cfg`` as Ray tasks and write the run directory (the local backend's files, plus
    ``runs/``). ``address``: a Ray cluster (``ray://...`` or ``HOST:PORT``; ``auto`` for the
    one this machine belongs to); ``None`` starts a local instance of ``workers`` CPUs.
    ``runs_per_task``: runs stepped together in one task (a lock-step batch costs about as
    much Python per step for 8 runs as for 1, so a few runs per task amortise it)."""
    import ray

    out = Path(out)
    resume, done_results = open_run_dir(cfg, out, resume)
    if done_results is not None:
        return dict(done_results)
    if resume and ((out / CHECKPOINT).exists() or not (out / RUNS).exists()):
        raise ExperimentError(f"{out}: this run was started with the local backend; "
                              "resume it without --backend ray")
    (out / RUNS).mkdir(exist_ok=True)  # marks the directory as this backend's
    spec_names, automata = load_automata(cfg)
    runs = [(m, s) for m in range(len(cfg.methods)) for s in range(cfg.seeds)]
    finished: dict[tuple[int, int], dict[str, Any]] = {}
    if resume:
        for key in runs:
            path = _run_file(out, *key)
            if path.exists():
                loaded = _load_run(path)
                if loaded is not None:
                    finished[key] = loaded
    # metrics.jsonl holds one final record per finished run, in the order they finished; a
    # resume rewrites it from runs/ (the files are the truth, a kill may have cut a line).
    metrics = out / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(r["final"], sort_keys=True) + "\n"
                               for r in finished.values()))
    tb = TensorBoardRuns(out / "tb") if tensorboard else None
    todo = [key for key in runs if key not in finished]
    started = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(runs), initial=len(finished), unit="run", desc=cfg.name,
                   file=sys.stderr)
    own_instance = not ray.is_initialized()
    try:
        if todo:
            if own_instance:
                _init(ray, address, workers)
            task = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=False)(
                _remote_runs)
            cfg_ref, aut_ref = ray.put(cfg), ray.put(automata)
            groups = [todo[i:i + runs_per_task] for i in range(0, len(todo), runs_per_task)]
            pending = {task.remote(cfg_ref, aut_ref, spec_names, keys): keys for keys in groups}
            with open(metrics, "a", encoding="utf-8") as log:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    keys = pending.pop(ready[0])
                    try:
                        results = ray.get(ready[0])
                    except ray.exceptions.RayTaskError:
                        raise  # the run itself raised: a bug, which a retry would repeat
                    except ray.exceptions.RayError as exc:
                        raise ExperimentError(
                            f"{out}: the Ray task of runs {_names(cfg, keys)} failed after "
                            f"{retries} retries ({type(exc).__name__}); the "
                            f"{len(finished)} finished runs are kept in {out / RUNS}, and "
                            "--resume runs the rest") from None
                    for key, result in zip(keys, results, strict=True):
                        _save_run(_run_file(out, *key), result)
                        log.write(json.dumps(result["final"], sort_keys=True) + "\n")
                        log.flush()
                        finished[key] = result
                        if tb is not None:
                            for step, values in result["scalars"]:
                                tb.scalars(cfg.methods[key[0]].name, key[1], values, step)
                        if bar is not None:
                            bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if tb is not None:
            tb.close()
        if own_instance and ray.is_initialized():
            ray.shutdown()
    ordered = [finished[key] for key in runs]
    episodes = {k: np.stack([r["episodes"][k] for r in ordered]) for k in EPISODE_ARRAYS}
    results = write_results(cfg, out, spec_names, [r["final"] for r in ordered],
                            max(r["batch_steps"] for r in ordered), episodes)
    print(f"{cfg.name}: {len(todo)} of {len(runs)} runs on Ray in "
          f"{time.perf_counter() - started:.1f} s; results in {out}", file=sys.stderr)
    return results


def _names(cfg: ExperimentConfig, keys: list[tuple[int, int]]) -> str:
    return ", ".join(f"{cfg.methods[m].name}/seed{s}" for m, s in keys)


def _init(ray: Any, address: str | None, workers: int | None) -> None:
    # Local workers import speclang from where the driver does (a source checkout included:
    # the folder above the package goes on their PYTHONPATH); a cluster's nodes need it
    # installed (docs/ray.md).
    import os

    # the package this module was loaded from (looked up, not imported: agents sit below it)
    home = str(Path(sys.modules["speclang"].__file__ or ".").parent.parent)
    path = [home] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(path)}}
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "logging_level": "ERROR", "configure_logging": True}
    if address is None:
        ray.init(num_cpus=workers or LOCAL_CPUS, runtime_env=env, **kwargs)
    else:
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise ExperimentError(f"cannot reach the Ray cluster at {address}: {exc}") from None


__all__ = ["run_ray", "LOCAL_CPUS"]
