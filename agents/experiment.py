"""Run a configured experiment: training with checkpoints, logs, evaluation and results.

Outputs in the run directory:
  config.json        the resolved configuration (a resume must match it)
  checkpoint.npz     the whole batch state + RNG state, written atomically; the last one
                     is the trained agents (what ``speclang adapt`` reads)
  metrics.jsonl      progress records (one per method and log point) and one final record
                     per run; truncated back to the checkpoint's length on resume
  tb/METHOD/seedK/   TensorBoard events of each (method, seed) run, against its environment
                     steps (keys train/..., spec/...)
  results.json       final metrics per run, what ``speclang report`` reads
  episodes.npz       per-episode curves (return, violations, spec) for the plots

Resuming after a kill replays from the last checkpoint; since every random number comes from
the one checkpointed generator, the results are identical to an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from speclang.compiler.automaton import Automaton

from .config import ExperimentConfig
from .errors import ConfigError, ExperimentError
from .monitors import unknown_props
from .tabular import TabularBatch

CHECKPOINT = "checkpoint.npz"
RUNS = "runs"  # the Ray backend's finished runs, one file each (agents/ray_backend.py)


def load_spec_module(path: Path) -> Any:
    """The loaded .spec file at ``path``; its located diagnostics, or an unreadable file, as
    an ExperimentError the CLI prints without a traceback."""
    from speclang.diagnostics import SpecErrors
    from speclang.loader import load

    try:
        return load(str(path))
    except SpecErrors as exc:
        raise ExperimentError(str(exc)) from None
    except OSError as exc:
        raise ExperimentError(f"{path}: cannot read: {exc.strerror}") from None


def load_automata(cfg: ExperimentConfig) -> tuple[list[str], list[Automaton]]:
    """The progression's spec names and compiled monitors, in order."""
    if cfg.specs.source == "builtin":
        from .builtin_specs import minecraft_progression

        auts = minecraft_progression()
        return [a.name or f"t{i + 1}" for i, a in enumerate(auts)], auts
    path = Path(cfg.specs.file)
    if not path.is_absolute():
        path = Path(cfg.base_dir) / path
    from speclang import compiler

    module = load_spec_module(path)
    names = module.progressions.get(cfg.specs.progression)
    if names is None:
        known = ", ".join(module.progressions) or "none"
        raise ExperimentError(
            f"{path}: no progression named {cfg.specs.progression!r} (progressions: {known})"
        )
    auts = [compiler.compile_spec(module, n) for n in names]
    for name, aut in zip(names, auts, strict=True):
        extra = unknown_props(aut)
        if extra:
            raise ExperimentError(
                f"{path}: spec {name!r} uses propositions the gridworld does not label: "
                f"{', '.join(extra)}"
            )
    return list(names), auts


# --- checkpoints ------------------------------------------------------------------------------


def _replace_atomically(path: Path, write: Any) -> None:
    """``write(tmp)`` then rename over ``path``: a full disk leaves the old file whole (and
    no half-written temporary behind) instead of a truncated one."""
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, batch: TabularBatch, metrics_offset: int) -> None:
    state = batch.state_dict()
    _replace_atomically(path, lambda tmp: np.savez(
        tmp,
        **state["arrays"],
        _rng=np.array(json.dumps(state["rng"])),
        _batch_step=np.array(state["batch_step"]),
        _metrics_offset=np.array(metrics_offset),
    ))


def _readable_json(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return True


def load_checkpoint(path: Path, batch: TabularBatch) -> int:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if not k.startswith("_")}
            batch.load_state_dict(
                {
                    "arrays": arrays,
                    "rng": json.loads(str(data["_rng"])),
                    "batch_step": int(data["_batch_step"]),
                }
            )
            return int(data["_metrics_offset"])
    except OSError:
        raise
    except Exception:  # a damaged archive raises anything from BadZipFile to KeyError
        raise ExperimentError(f"{path}: unreadable checkpoint (the run directory is damaged); "
                              "start again in a new --out") from None


# --- metrics ------------------------------------------------------------------------------------


def episodes_to_safe(fviol: np.ndarray, window: int, rate: float) -> int | None:
    """First episode count at which the trailing ``window`` episodes were at least ``rate``
    safe with respect to the final spec; ``None`` if never."""
    safe = (~fviol).astype(np.float64)
    if len(safe) < window:
        return None
    sums = np.convolve(safe, np.ones(window), mode="valid")
    hits = np.flatnonzero(sums >= rate * window - 1e-9)
    return int(hits[0] + window) if hits.size else None


class _Logger:
    """Appends records to metrics.jsonl, one whole line per write.

    A full disk can leave part of a line behind; the file is then cut back to the last whole
    record before the error propagates, so metrics.jsonl stays parseable (no partial line, no
    NUL bytes) and a ``--resume`` continues from its checkpoint."""

    def __init__(self, out: Path, offset: int, tb: bool) -> None:
        path = out / "metrics.jsonl"
        if offset == 0:
            path.write_bytes(b"")
        else:
            have = path.stat().st_size if path.exists() else 0
            if have < offset:
                # truncate() would pad with NUL bytes up to the checkpoint's offset.
                raise ExperimentError(
                    f"{path}: holds {have} bytes but the checkpoint was taken after {offset}; "
                    "the run directory is damaged: start again in a new --out")
            with open(path, "r+b") as fh:
                fh.truncate(offset)
        # unbuffered: every record reaches the file (or fails) in record(), where a failure
        # can still be undone; a buffered tail would fail later, at an unknown line
        self.fh = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the run
        self.size = offset
        self.tb = TensorBoardRuns(out / "tb") if tb else None

    def offset(self) -> int:
        return self.size

    def record(self, rec: dict[str, Any]) -> None:
        line = (json.dumps(rec, sort_keys=True) + "\n").encode()
        data = memoryview(line)
        try:
            while data:
                data = data[self.fh.write(data):]
        except OSError:
            with contextlib.suppress(OSError):  # truncating frees space: it works when full
                self.fh.truncate(self.size)
            raise
        self.size += len(line)

    def close(self) -> None:
        self.fh.close()
        if self.tb is not None:
            self.tb.close()


class TensorBoardRuns:
    """TensorBoard events, one run directory per (method, seed): ``tb/METHOD/seedK``, so that
    TensorBoard overlays the methods (and their seeds) under the same tags, each against the
    environment steps that run has taken. Writers open on first use; without tensorboard a
    warning is printed once and nothing is written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.writers: dict[tuple[str, int], Any] = {}
        self.factory: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.factory = SummaryWriter
        except ImportError:
            print("warning: tensorboard not installed; no TensorBoard events", file=sys.stderr)

    def scalars(self, method: str, seed: int, values: dict[str, float], step: int) -> None:
        if self.factory is None:
            return
        key = (method, seed)
        if key not in self.writers:
            self.writers[key] = self.factory(str(self.root / _path_part(method) / f"seed{seed}"))
        for tag, value in values.items():
            self.writers[key].add_scalar(tag, value, step)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def _path_part(name: str) -> str:
    # Method names are free text; a path separator would nest directories.
    return name.replace("/", "_").replace(os.sep, "_") or "_"


def run_scalars(batch: TabularBatch, spec_names: list[str]) -> list[dict[str, float] | None]:
    """Per run (in ``batch.runs`` order, active runs only, others ``None``): the TensorBoard
    scalars of this log point. Every active run takes one environment step per lock-step, so
    ``batch.batch_step`` is also each active run's environment step count."""
    st = batch.st
    out: list[dict[str, float] | None] = []
    for i in range(batch.R):
        if not st["active"][i]:
            out.append(None)
            continue
        c = int(st["ep_count"][i])
        viol = st["viol"][i, :c]
        values = {
            "train/episodes": float(c),
            "train/violations": float(viol.sum()),
            "train/return_last50": float(st["ret"][i, max(0, c - 50):c].mean()) if c else 0.0,
        }
        for k, name in enumerate(spec_names):
            values[f"spec/{name}/violations"] = float((viol & (st["ep_spec"][i, :c] == k)).sum())
        out.append(values)
    return out


def _progress_records(batch: TabularBatch, spec_names: list[str]) -> list[dict[str, Any]]:
    st = batch.st
    out = []
    for m in batch.cfg.methods:
        rows = [i for i, r in enumerate(batch.runs) if r.method.name == m.name]
        counts = st["ep_count"][rows]
        rec: dict[str, Any] = {
            "kind": "progress",
            "batch_step": batch.batch_step,
            "method": m.name,
            "train/episodes": float(counts.mean()),
        }
        viol = [st["viol"][r, : st["ep_count"][r]] for r in rows]
        rec["train/violations"] = float(np.mean([v.sum() for v in viol]))
        recent = [
            st["ret"][r, max(0, c - 50) : c].mean() if c else 0.0
            for r, c in zip(rows, counts, strict=True)
        ]
        rec["train/return_last50"] = float(np.mean(recent))
        for k, name in enumerate(spec_names):
            per = [
                (
                    st["viol"][r, : st["ep_count"][r]]
                    & (st["ep_spec"][r, : st["ep_count"][r]] == k)
                ).sum()
                for r in rows
            ]
            rec[f"spec/{name}/violations"] = float(np.mean(per))
        out.append(rec)
    return out


def final_metrics(
    batch: TabularBatch, spec_names: list[str], evals: dict[str, np.ndarray]
) -> list[dict[str, Any]]:
    st, cfg = batch.st, batch.cfg
    start_values = batch.start_values()
    out = []
    for i, run in enumerate(batch.runs):
        n = int(st["ep_count"][i])
        ets = episodes_to_safe(st["fviol"][i, :n], cfg.eval.safe_window, cfg.eval.safe_rate)
        rec: dict[str, Any] = {
            "kind": "final",
            "method": run.method.name,
            "method_kind": run.method.kind,
            "seed": run.seed_index,
            "episodes": n,
            "env_steps": int(st["length"][i, :n].sum(dtype=np.int64)),
            "violations": int(st["viol"][i, :n].sum()),
            "final_spec_violations": int(st["fviol"][i, :n].sum()),
            "episodes_to_safe": ets if ets is not None else n,
            "reached_safe": ets is not None,
            "train_return": float(st["ret"][i, :n].mean()),
            "train_success_rate": float(st["success"][i, :n].mean()),
            "eval_success_rate": float(evals["success_rate"][i]),
            "eval_violation_rate": float(evals["violation_rate"][i]),
            "eval_return": float(evals["return"][i]),
            "start_value": float(start_values[i]),
            "final_states_visited": int(st["visited_final"][i].sum()),
        }
        for k, name in enumerate(spec_names):
            rec[f"violations_{name}"] = int((st["viol"][i, :n] & (st["ep_spec"][i, :n] == k)).sum())
            rec[f"episodes_{name}"] = int((st["ep_spec"][i, :n] == k).sum())
        out.append(rec)
    return out


# --- the run ----------------------------------------------------------------------------------


def open_run_dir(cfg: ExperimentConfig, out: Path, resume: bool) -> tuple[bool, Any]:
    """Check ``out`` for a new run or a resume of ``cfg`` and write config.json for a new one.
    Returns (resuming, the results dict of an already finished run or ``None``)."""
    config_path = out / "config.json"
    cfg_json = json.dumps(cfg.to_dict(), sort_keys=True, indent=1)
    if resume and not config_path.exists() and out.exists() and any(out.iterdir()):
        raise ExperimentError(f"{out}: not a run directory (no config.json)")
    resume = resume and config_path.exists()  # resuming nothing starts the run
    if resume and not (out / CHECKPOINT).exists() and not (out / RUNS).exists() \
            and not _readable_json(config_path):
        # A start that died writing config.json (full disk) left nothing to resume.
        resume = False
        for leftover in (config_path, out / "metrics.jsonl"):
            leftover.unlink(missing_ok=True)
    if resume:
        if not _readable_json(config_path):
            raise ExperimentError(f"{config_path}: unreadable (the run directory is damaged); "
                                  "start again in a new --out")
        if json.loads(config_path.read_text()) != json.loads(cfg_json):
            raise ExperimentError(f"{out}: the configuration differs from the run being resumed")
        if _readable_json(out / "results.json"):
            return True, dict(json.loads((out / "results.json").read_text()))
        # no (or a damaged) results.json: the run is continued
    elif out.exists() and any(out.iterdir()):
        raise ExperimentError(f"{out}: run directory is not empty (use --resume to continue it)")
    out.mkdir(parents=True, exist_ok=True)
    if not resume:  # a resume keeps the (equal) file: rewriting it could only damage it
        config_path.write_text(cfg_json)
    return resume, None


# Per-episode curves of episodes.npz: its key -> the batch state array (rows are runs).
EPISODE_ARRAYS = {"ret": "ret", "viol": "viol", "fviol": "fviol", "success": "success",
                  "spec": "ep_spec", "length": "length",
                  # where each episode first violated the final spec (-1: it did not)
                  "fviol_cell": "fviol_cell", "fviol_q": "fviol_q"}


def write_results(cfg: ExperimentConfig, out: Path, spec_names: list[str],
                  finals: list[dict[str, Any]], batch_steps: int,
                  episodes: dict[str, Any]) -> dict[str, Any]:
    """episodes.npz, then results.json (written last and whole: its presence is what marks
    the run finished for --resume)."""
    results = {
        "name": cfg.name,
        "specs": spec_names,
        "methods": [m.name for m in cfg.methods],
        "seeds": cfg.seeds,
        "episodes": cfg.agent.episodes,
        "reward_mode": cfg.env.reward_mode,
        "max_steps": cfg.env.max_steps,
        "batch_steps": batch_steps,
        "runs": finals,
    }
    _replace_atomically(out / "episodes.npz",
                        lambda tmp: np.savez_compressed(tmp, **episodes))
    text = json.dumps(results, indent=1, sort_keys=True)
    _replace_atomically(out / "results.json", lambda tmp: tmp.write_text(text))
    return results


def run_experiment(
    cfg: ExperimentConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    tensorboard: bool = True,
    stop_after_steps: int | None = None,
) -> dict[str, Any] | None:
    """Train, evaluate and write the run directory. Returns the results dict, or ``None``
    when ``stop_after_steps`` interrupted training (tests use it to simulate a kill)."""
    out = Path(out)
    ckpt = out / CHECKPOINT
    resume, done_results = open_run_dir(cfg, out, resume)
    if done_results is not None:
        return dict(done_results)
    if resume and (out / RUNS).exists():
        raise ExperimentError(f"{out}: this run was started with --backend ray; resume it so")

    spec_names, automata = load_automata(cfg)
    batch = TabularBatch(cfg, automata, cfg.seed)
    offset = load_checkpoint(ckpt, batch) if resume and ckpt.exists() else 0
    log = _Logger(out, offset, tensorboard)
    total = batch.R * batch.E
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=total,
            initial=int(batch.st["ep_count"].sum()),
            unit="ep",
            desc=cfg.name,
            file=sys.stderr,
            mininterval=1.0,
        )
    started = time.perf_counter()
    try:
        while not batch.finished:
            done = batch.train_step()
            if bar is not None and done:
                bar.update(done)
            step = batch.batch_step
            if step % cfg.run.log_every == 0:
                for rec in _progress_records(batch, spec_names):
                    log.record(rec)
                if log.tb is not None:
                    for run, values in zip(batch.runs, run_scalars(batch, spec_names),
                                           strict=True):
                        if values is not None:
                            log.tb.scalars(run.method.name, run.seed_index, values, step)
            if step % cfg.run.checkpoint_every == 0:
                save_checkpoint(ckpt, batch, log.offset())
            if stop_after_steps is not None and step >= stop_after_steps:
                return None
        if batch.batch_step % cfg.run.checkpoint_every:
            # The trained agents, for `speclang adapt`: the last periodic checkpoint is
            # usually from before the end of training.
            save_checkpoint(ckpt, batch, log.offset())
        evals = batch.evaluate(cfg.eval.episodes)
        finals = final_metrics(batch, spec_names, evals)
        for rec in finals:
            log.record(rec)
    finally:
        if bar is not None:
            bar.close()
        log.close()
    st = batch.st
    results = write_results(cfg, out, spec_names, finals, batch.batch_step,
                            {k: st[v] for k, v in EPISODE_ARRAYS.items()})
    elapsed = time.perf_counter() - started
    print(
        f"{cfg.name}: {batch.batch_step} lock-step transitions in {elapsed:.1f} s "
        f"({int(st['ep_count'].sum())} episodes); results in {out}",
        file=sys.stderr,
    )
    return results


def run_group(cfg: ExperimentConfig, automata: list[Automaton], spec_names: list[str],
              keys: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """The (method index, seed index) runs ``keys`` of ``cfg`` in one lock-step batch of their
    own, as a distributed backend runs them: the same numbers as inside the whole batch (each
    run has its own random streams). Per run: its final record, its rows of the episode
    curves, its lock-step count and its TensorBoard scalars at each log point, all small
    enough to ship back from a worker."""
    from .tabular import RunSpec

    runs = [RunSpec(cfg.methods[m], s) for m, s in keys]
    batch = TabularBatch(cfg, automata, cfg.seed, runs=runs)
    scalars: list[list[tuple[int, dict[str, float]]]] = [[] for _ in runs]
    steps = [0] * len(runs)
    while not batch.finished:
        active = batch.st["active"].copy()
        batch.train_step()
        for i in np.flatnonzero(active).tolist():
            steps[i] = batch.batch_step  # the run's own lock-step count: it was still going
        if batch.batch_step % cfg.run.log_every == 0:
            for i, values in enumerate(run_scalars(batch, spec_names)):
                if values is not None:
                    scalars[i].append((batch.batch_step, values))
    evals = batch.evaluate(cfg.eval.episodes)
    finals = final_metrics(batch, spec_names, evals)
    return [{
        "final": finals[i],
        "episodes": {k: batch.st[v][i].copy() for k, v in EPISODE_ARRAYS.items()},
        "batch_steps": steps[i],
        "scalars": scalars[i],
    } for i in range(len(runs))]


__all__ = ["ConfigError", "ExperimentError", "run_experiment", "load_automata", "episodes_to_safe"]
