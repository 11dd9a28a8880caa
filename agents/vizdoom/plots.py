"""Learning curves of a VizDoom run directory.

    python -m agents.vizdoom.plots runs/vizdoom_short docs/pictures/vizdoom_short_curves.png

Scenario return per episode, medkits per episode (when the run recorded them) and share of
episodes violating the final spec, each as a moving average over ``window`` episodes,
averaged over seeds (shaded: min to max), against the episode index.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def _smooth(x: np.ndarray, window: int) -> np.ndarray:
    if len(x) < window:
        return np.full(1, x.mean()) if len(x) else x
    return np.convolve(x, np.ones(window) / window, mode="valid")


def plot(run_dir: str | Path, out: str | Path, window: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = json.loads((Path(run_dir) / "results.json").read_text())["runs"]
    methods = list(dict.fromkeys(r["method"] for r in runs))
    panels = [
        ("episode_returns", f"scenario return (moving avg, {window} ep.)"),
        ("episode_medkits", "medkits per episode"),
        ("episode_final_violations", "episodes violating S2 (share)"),
    ]
    panels = [(k, label) for k, label in panels if all(k in r for r in runs)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
    for m in methods:
        for ax, (key, _) in zip(axes, panels, strict=True):
            curves = [
                _smooth(np.asarray(r[key], dtype=float), window) for r in runs if r["method"] == m
            ]
            n = min(len(c) for c in curves)
            stack = np.stack([c[:n] for c in curves])
            x = np.arange(n) + window
            (line,) = ax.plot(x, stack.mean(0), label=f"{m} ({len(curves)} seeds)")
            ax.fill_between(x, stack.min(0), stack.max(0), alpha=0.15, color=line.get_color())
    for ax, (_, label) in zip(axes, panels, strict=True):
        ax.set_ylabel(label)
        ax.set_xlabel("episode")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(str(out), dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m agents.vizdoom.plots RUN_DIR OUT.png")
    plot(sys.argv[1], sys.argv[2])
