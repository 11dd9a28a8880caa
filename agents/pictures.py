"""Render the gridworld layouts for the docs:
``python -m speclang.agents.pictures docs/pictures``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .envs.layouts import LAYOUTS
from .envs.minecraft import MinecraftEnv


def layout_frame(name: str, tile_size: int = 32) -> np.ndarray:
    """The un-jittered layout with the agent at its start cell, as an RGB array."""
    env = MinecraftEnv(name, jitter=0.0, render_mode="rgb_array", tile_size=tile_size)
    env.reset(seed=0)
    frame = env.render()
    assert frame is not None
    return np.asarray(frame)


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/pictures")
    out.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(LAYOUTS, start=1):
        path = out / f"minecraft_layout{i}.png"
        Image.fromarray(layout_frame(name)).save(path)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
