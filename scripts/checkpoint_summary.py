"""Per-method summary of a `speclang train` run directory's last checkpoint, for runs that
are unfinished (or were stopped): episodes so far, violations of the final spec (all of
training and while on the final spec), those within the first N episodes, and env steps.

    python scripts/checkpoint_summary.py RUN_DIR [N]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    run = Path(argv[0])
    cfg = json.loads((run / "config.json").read_text())
    with np.load(run / "checkpoint.npz") as z:
        n, fviol, length, spec = z["ep_count"], z["fviol"], z["length"], z["ep_spec"]
        step = int(z["_batch_step"])
    seeds = cfg["seeds"]
    last = int(spec.max())  # the final spec's index: the progression's last one reached
    print(f"{run}: checkpoint at lock-step {step}; mean (sd) over {seeds} seeds")
    for i, m in enumerate(cfg["methods"]):
        rows = list(range(i * seeds, (i + 1) * seeds))
        cut = min([int(n[r]) for r in rows] + ([int(argv[1])] if len(argv) > 1 else []))
        total = [int(fviol[r, : n[r]].sum()) for r in rows]
        final = [int((fviol[r, : n[r]] & (spec[r, : n[r]] == last)).sum()) for r in rows]
        first = [int(fviol[r, :cut].sum()) for r in rows]
        steps = [int(length[r, : n[r]].sum()) for r in rows]
        print(f"{m['name']:30s} episodes {np.mean(n[rows]):6.0f}  final-spec violations "
              f"{np.mean(total):6.1f} (on the final spec {np.mean(final):5.1f})  in the first "
              f"{cut}: {np.mean(first):6.1f} ({np.std(first, ddof=1):4.1f})  env steps "
              f"{np.mean(steps):8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
