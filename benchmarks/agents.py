"""Speed of the gridworld simulators and of the batched tabular learner.

    .venv/bin/python benchmarks/agents.py [--seconds 3] [--json out.json]

Measures (wall clock, single process):
  gym_env      MinecraftEnv.step + a monitor step, one environment, Python loop
  fast_sim     FastMinecraft.step for a batch of B environments (env-steps per second)
  tabular      TabularBatch.train_step for the full_layout1 batch (all methods x seeds)
The machine is shared, so repeat and compare the ratio rather than absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from speclang.agents.builtin_specs import minecraft_progression  # noqa: E402
from speclang.agents.config import load_config  # noqa: E402
from speclang.agents.envs.layouts import get_layout  # noqa: E402
from speclang.agents.envs.minecraft import MinecraftEnv  # noqa: E402
from speclang.agents.envs.minecraft_fast import FastMinecraft  # noqa: E402
from speclang.agents.experiment import load_automata  # noqa: E402
from speclang.agents.monitors import mask_table  # noqa: E402
from speclang.agents.tabular import TabularBatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn, seconds: float) -> tuple[int, float]:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n, time.perf_counter() - start


def bench_gym(seconds: float) -> float:
    env = MinecraftEnv("L1")
    table = mask_table(minecraft_progression()[-1])
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    state = {"q": 0}

    def step() -> None:
        obs, _, term, trunc, _ = env.step(int(rng.integers(5)))
        state["q"] = int(table[state["q"], env.masks[obs["cell"]]])
        if term or trunc:
            env.reset()

    n, dt = _timed(step, seconds)
    return n / dt


def bench_fast(batch: int, seconds: float) -> float:
    sim = FastMinecraft(get_layout("L1"), batch, np.random.default_rng(0))
    sim.reset()
    actions = np.zeros(batch, dtype=np.int64)
    n, dt = _timed(lambda: sim.step(actions), seconds)
    return n * batch / dt


def bench_tabular(seconds: float) -> tuple[int, float]:
    cfg = load_config(ROOT / "examples" / "experiments" / "full_layout1.toml")
    _, automata = load_automata(cfg)
    batch = TabularBatch(cfg, automata, 0)
    n, dt = _timed(batch.train_step, seconds)
    return batch.R, dt / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    out: dict[str, float] = {"cpus": float(os.cpu_count() or 0)}
    out["gym_env_steps_per_s"] = bench_gym(args.seconds)
    for b in (1, 90, 1000):
        out[f"fast_sim_B{b}_env_steps_per_s"] = bench_fast(b, args.seconds)
    runs, per_step = bench_tabular(args.seconds)
    out["tabular_runs"] = runs
    out["tabular_us_per_lockstep"] = per_step * 1e6
    out["tabular_run_steps_per_s"] = runs / per_step
    for key, value in out.items():
        print(f"{key:36s} {value:14,.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
