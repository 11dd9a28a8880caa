"""What the runtime Explainer costs inside a training loop.

    .venv/bin/python benchmarks/explain_cost.py [--steps 500] [--episodes 200]

Per-step cost of ``Explainer.step`` (one monitor step plus remembering the letter) and the
cost of ``explain_last_violation`` at the end of a ``--steps``-long episode that violates
``keep_key`` of examples/door_key.spec on its last step: the first call (compiles the
per-conjunct monitors) and later calls (cached monitors, new episode).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import speclang
from speclang.compiler.explain import Explainer, _compiled

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--episodes", type=int, default=200)
    args = parser.parse_args()
    module = speclang.load(str(ROOT / "examples" / "door_key.spec"))
    spec = module.specs["keep_key"]
    rng = random.Random(0)
    names = ["has_key", "forward", "pickup", "toggle"]
    episode = [{n for n in names if rng.random() < 0.3} for _ in range(args.steps - 1)] + [
        {"has_key", "drop"}
    ]

    _compiled.cache_clear()
    ex = Explainer(spec, module=module)
    t0 = time.perf_counter()
    for letter in episode:
        ex.step(letter)
    t1 = time.perf_counter()
    first = ex.explain_last_violation()
    t2 = time.perf_counter()
    assert first is not None

    step_s, explain_s = [], []
    for _ in range(args.episodes):
        ex.reset()
        a = time.perf_counter()
        for letter in episode:
            ex.step(letter)
        b = time.perf_counter()
        ex.explain_last_violation()
        c = time.perf_counter()
        step_s.append((b - a) / len(episode))
        explain_s.append(c - b)
    step_s.sort()
    explain_s.sort()
    print(f"episode of {len(episode)} steps; violation: {first}")
    print(
        f"first episode: step {1e6 * (t1 - t0) / len(episode):.1f} us/step, "
        f"explain {1e3 * (t2 - t1):.1f} ms (includes compiling the conjunct monitors)"
    )
    print(
        f"median over {args.episodes} episodes: step {1e6 * step_s[len(step_s) // 2]:.1f} us/step, "
        f"explain {1e3 * explain_s[len(explain_s) // 2]:.2f} ms"
    )


if __name__ == "__main__":
    main()
