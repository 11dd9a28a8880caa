"""Environment steps per second of the VizDoom env with and without the safeguard.

Both variants replay the same episodes (same seeds, same action sequence) on the same game,
interleaved block by block so that load from other processes hits both alike; the report
gives the median over blocks and the safeguard's cost as a fraction of plain throughput.

On a loaded machine the wall-clock blocks vary by more than the safeguard costs, so the
guarded runs also time the inner environment's own step and reset: the share of a guarded
step spent outside them is the safeguard's cost measured on the very same steps.

    nice -n 19 .venv/bin/python benchmarks/vizdoom_throughput.py [--blocks 7] [--steps 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from speclang.agents.vizdoom.env import VizDoomEnv  # noqa: E402
from speclang.agents.vizdoom.specs import load_specs, safeguard  # noqa: E402


class Timed(gym.Wrapper):
    """Accumulates the seconds spent in the wrapped env's ``step`` and ``reset``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.seconds = 0.0

    def step(self, action):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        out = self.env.step(action)
        self.seconds += time.perf_counter() - t
        return out

    def reset(self, **kwargs):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        out = self.env.reset(**kwargs)
        self.seconds += time.perf_counter() - t
        return out


def block(env, actions: np.ndarray, seed: int) -> float:
    """Steps per second over ``len(actions)`` steps (resets included, as in training)."""
    env.reset(seed=seed)
    episode = 0
    start = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(int(a))
        if term or trunc:
            episode += 1
            env.reset(seed=seed + episode)
    return len(actions) / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--spec", default="s2", help="spec of examples/vizdoom.spec to monitor")
    ap.add_argument("--downscale", type=int, default=4)
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args()
    module, auts = load_specs(names=[args.spec])
    # One game for both variants: two DoomGame processes can differ in speed by more than
    # the safeguard costs, so the plain env is the wrapper's own inner env.
    plain = Timed(VizDoomEnv(downscale=args.downscale))
    # As configured for training: shaping reward, monitor state in the observation,
    # no explanation text; violations do not end the episode, so both variants replay
    # exactly the same steps and resets.
    guarded = safeguard(
        plain,
        module,
        auts,
        observation="dict",
        reward="shaping",
        on_violation="continue",
        explain=False,
    )
    actions = np.random.default_rng(0).choice([0, 0, 0, 1, 2], size=args.steps)
    block(plain, actions[:200], 0)  # warm-up: first frames, caches
    block(guarded, actions[:200], 0)
    rates: dict[str, list[float]] = {"plain": [], "safeguard": []}
    insitu: list[float] = []
    for b in range(args.blocks):
        order = [("plain", plain), ("safeguard", guarded)]
        if b % 2:
            order.reverse()
        for name, env in order:
            plain.seconds = 0.0
            rate = block(env, actions, seed=1000 * b)
            rates[name].append(rate)
            if name == "safeguard":
                insitu.append(1.0 - plain.seconds / (len(actions) / rate))
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratios = [s / p for s, p in zip(rates["safeguard"], rates["plain"], strict=True)]
    cost = 1.0 - statistics.median(ratios)
    result = {
        "spec": args.spec,
        "downscale": args.downscale,
        "steps_per_block": args.steps,
        "blocks": args.blocks,
        "median_steps_per_s": med,
        "median_paired_cost": cost,
        "median_in_situ_cost": statistics.median(insitu),
        "all": rates,
    }
    print(f"plain     {med['plain']:8.0f} steps/s (median of {args.blocks})")
    print(f"safeguard {med['safeguard']:8.0f} steps/s (median of {args.blocks})")
    print(f"safeguard cost: {100 * cost:.1f}% (median of per-block paired wall-clock ratios)")
    print(
        f"safeguard cost: {100 * statistics.median(insitu):.2f}% of guarded step time spent "
        "outside the env (median over blocks, same steps)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    guarded.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
