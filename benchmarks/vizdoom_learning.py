"""Did the VizDoom agents learn? Paired first-fifth vs last-fifth comparison over seeds.

For each method of a ``speclang train`` run directory, and each seed, the mean over the last
20% of the run's episodes minus the mean over its first 20%, for the scenario's return
(tics alive, -100 on death), medkits per episode and the share of episodes violating the
final spec; reported as the mean difference over seeds with its 95% t-interval. Learning is
shown for a metric when the interval excludes 0.

``--random-episodes N`` adds the yardstick of a uniformly random policy: ``N`` episodes per
seed in the run's environment (same scenario, frame skip and episode length).

    .venv/bin/python benchmarks/vizdoom_learning.py runs/vizdoom_cpu [--random-episodes 100]

Several run directories (e.g. one per seed, as the GPU configuration suggests) are pooled.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from speclang.agents.vizdoom.env import VizDoomEnv  # noqa: E402
from speclang.agents.vizdoom.ppo import mean_ci  # noqa: E402

METRICS = (
    ("episode_returns", "return"),
    ("episode_medkits", "medkits"),
    ("episode_final_violations", "S2-violating share"),
)


def fifths(values: list[float]) -> tuple[float, float]:
    """Means of the first and the last 20% of the episodes (as ``run_metrics`` cuts them)."""
    x = np.asarray(values, dtype=np.float64)
    tail = max(1, len(x) // 5)
    return float(x[:tail].mean()), float(x[-tail:].mean())


def learning_table(runs: list[dict]) -> str:
    methods = list(dict.fromkeys(r["method"] for r in runs))
    head = "| method | seeds | " + " | ".join(
        f"{label}: first 20% | last 20% | last - first (95% CI)" for _, label in METRICS
    )
    lines = [head + " |", "|---|---|" + "---|---|---|" * len(METRICS)]
    for m in methods:
        rs = [r for r in runs if r["method"] == m]
        cells = []
        for key, _ in METRICS:
            pairs = [fifths(r[key]) for r in rs]
            first = mean_ci([a for a, _ in pairs])
            last = mean_ci([b for _, b in pairs])
            diff = mean_ci([b - a for a, b in pairs])
            lo, hi = diff[0] - diff[1], diff[0] + diff[1]
            shown = "**" if lo > 0 or hi < 0 else ""
            cells += [
                f"{first[0]:.2f} ± {first[1]:.2f}",
                f"{last[0]:.2f} ± {last[1]:.2f}",
                f"{shown}{diff[0]:+.2f} [{lo:+.2f}, {hi:+.2f}]{shown}",
            ]
        lines.append(f"| {m} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def random_policy(config: dict, episodes: int, seeds: int) -> str:
    """Return and medkits per episode of a uniformly random policy, mean ± 95% CI over
    seeds (each seed's value is its mean over ``episodes`` episodes)."""
    env = VizDoomEnv(
        config["scenario"],
        frame_skip=config["frame_skip"],
        frame_stack=1,
        downscale=4,
        episode_timeout=config["episode_timeout"],
    )
    per_seed_ret, per_seed_med, per_seed_len = [], [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        rets, meds, lens = [], [], []
        for ep in range(episodes):
            env.reset(seed=seed * 100_003 + ep)
            ret, med, n, done = 0.0, 0, 0, False
            while not done:
                _, _, term, trunc, info = env.step(int(rng.integers(env.action_space.n)))
                ret += info["scenario_reward"]
                med += bool(info["medkit"])
                n += 1
                done = term or trunc
            rets.append(ret)
            meds.append(med)
            lens.append(n)
        per_seed_ret.append(float(np.mean(rets)))
        per_seed_med.append(float(np.mean(meds)))
        per_seed_len.append(float(np.mean(lens)))
    env.close()
    r, m, n = mean_ci(per_seed_ret), mean_ci(per_seed_med), mean_ci(per_seed_len)
    return (
        f"random policy, {seeds} seeds x {episodes} episodes: return {r[0]:.1f} ± {r[1]:.1f}, "
        f"medkits {m[0]:.2f} ± {m[1]:.2f}, steps per episode {n[0]:.1f} ± {n[1]:.1f}\n"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dirs", nargs="+", help="one or more run directories, pooled")
    ap.add_argument("--random-episodes", type=int, default=0)
    ap.add_argument("--random-seeds", type=int, default=5)
    args = ap.parse_args(argv)
    results = [json.loads((Path(d) / "results.json").read_text()) for d in args.run_dirs]
    runs = [r for res in results for r in res["runs"]]
    print(learning_table(runs), end="")
    secs = [r["seconds"] for r in runs]
    print(
        f"\nwall time per run: median {np.median(secs):.0f} s, range {min(secs):.0f}-"
        f"{max(secs):.0f} s, total {sum(secs) / 60:.1f} min over {len(secs)} runs"
    )
    if args.random_episodes:
        print(random_policy(results[0]["config"], args.random_episodes, args.random_seeds), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
