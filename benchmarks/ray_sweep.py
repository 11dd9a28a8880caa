"""Wall time of a small tabular sweep on the local backend and on Ray with 1 and 2 local
workers, Ray's start-up cost, and the memory of the driver and of Ray's processes.

    .venv-ray/bin/python benchmarks/ray_sweep.py [--episodes N]   # bash scripts/setup.sh ray

The sweep is examples/experiments/demo.toml cut to --seeds seeds and --episodes episodes.
Memory: resident set sizes (RSS) from psutil, the driver's own and the sum over every process
under the Ray instance's session (raylet, GCS, workers) while the workers are still up."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speclang.agents.config import load_config  # noqa: E402
from speclang.agents.experiment import run_experiment  # noqa: E402
from speclang.agents.ray_backend import run_ray  # noqa: E402

MB = 1 << 20


def _ray_rss() -> float:
    me = psutil.Process()
    total = 0
    for p in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if p.pid != me.pid and ("ray" in cmd and ("raylet" in cmd or "gcs_server" in cmd
                                    or "default_worker" in cmd or "ray::" in cmd
                                    or "dashboard" in cmd or "log_monitor" in cmd)):
                total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / MB


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--episodes", type=int, default=400)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runs-per-task", type=int, default=1,
                    help="runs batched in one task (speclang train --runs-per-task)")
    a = ap.parse_args()
    import ray

    cfg = load_config(ROOT / "examples/experiments/demo.toml")
    cfg.seeds, cfg.agent.episodes = a.seeds, a.episodes
    runs = len(cfg.methods) * cfg.seeds
    print(f"sweep: demo.toml, {len(cfg.methods)} methods x {cfg.seeds} seeds = {runs} runs, "
          f"{cfg.agent.episodes} episodes each; {psutil.cpu_count()} CPUs, "
          f"load {psutil.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        local = run_experiment(cfg, Path(tmp) / "local", progress=False, tensorboard=False)
        print(f"local backend (one process, lock-step batch): {time.perf_counter() - t:.1f} s, "
              f"driver RSS {psutil.Process().memory_info().rss / MB:.0f} MB")
        for workers in a.workers:
            t = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR")
            up = time.perf_counter() - t
            ray.get(ray.remote(lambda: 0).remote())  # a first task: one worker started
            first = time.perf_counter() - t
            t = time.perf_counter()
            out = Path(tmp) / f"ray{workers}"
            res = run_ray(cfg, out, progress=False, tensorboard=False,
                          runs_per_task=a.runs_per_task)
            sweep = time.perf_counter() - t
            rss = _ray_rss()
            ray.shutdown()
            same = json.dumps(res, sort_keys=True) == json.dumps(local, sort_keys=True)
            run_kb = sorted((out / "runs").iterdir())[0].stat().st_size / 1024
            print(f"ray, {workers} worker(s), {a.runs_per_task} run(s) per task: "
                  f"ray.init {up:.1f} s, first task {first:.1f} s, "
                  f"sweep {sweep:.1f} s; driver RSS "
                  f"{psutil.Process().memory_info().rss / MB:.0f} MB, Ray processes RSS "
                  f"{rss:.0f} MB; one run's file {run_kb:.0f} KiB; results == local: {same}")


if __name__ == "__main__":
    main()
