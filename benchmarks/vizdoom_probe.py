"""One VizDoom PPO run with config overrides, summarised by fifths of its episodes.

The quick probe used to choose the CPU defaults (task reward, learning rate): a single
(method, seed) run, no checkpoint, printing the scenario's return and medkits per episode
for each fifth of training and writing the run's metrics to ``--json``.

    nice -n 10 .venv/bin/python benchmarks/vizdoom_probe.py no_safeguard \\
        task_reward=medkits reward_scale=1.0 learning_rate=0.001 total_timesteps=49152
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speclang.agents.vizdoom.ppo import METHODS, PPOConfig, train_run  # noqa: E402


def parse_override(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    defaults = PPOConfig()
    if not hasattr(defaults, key) or not value:
        raise SystemExit(f"not a KEY=VALUE of PPOConfig: {text!r}")
    want = type(getattr(defaults, key))
    if want is bool:
        return key, value.lower() in ("1", "true", "yes")
    return key, want(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("method", choices=METHODS)
    ap.add_argument("overrides", nargs="*", help="KEY=VALUE fields of PPOConfig")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the run's metrics here")
    args = ap.parse_args(argv)
    over = dict(parse_override(o) for o in args.overrides)
    over.setdefault("downscale", 4)
    cfg = PPOConfig(base_dir=str(ROOT / "examples" / "experiments"), **over)
    cfg.validate()
    torch.set_num_threads(cfg.torch_threads)
    started = time.time()
    m = train_run(cfg, args.method, args.seed, None, torch.device("cpu"))
    ret = [float(x.mean()) for x in np.array_split(np.asarray(m["episode_returns"]), 5)]
    med = [float(x.mean()) for x in np.array_split(np.asarray(m["episode_medkits"]), 5)]
    print(
        f"{args.method} seed {args.seed} {over}: {time.time() - started:.0f} s, "
        f"{m['episodes']} episodes, {m['violations']} violations\n"
        f"  return by fifth:  {' '.join(f'{x:.0f}' for x in ret)}\n"
        f"  medkits by fifth: {' '.join(f'{x:.2f}' for x in med)}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"overrides": over, "metrics": m}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
