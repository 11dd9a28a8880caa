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


def picture_name(name: str) -> str:
    """L1..L3 -> minecraft_layout1..3.png; the paper's P2, P3 -> minecraft_paper_layout2.png..."""
    kind = "paper_layout" if name.startswith("P") else "layout"
    return f"minecraft_{kind}{name[1:]}.png"


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/pictures")
    out.mkdir(parents=True, exist_ok=True)
    for name in LAYOUTS:
        path = out / picture_name(name)
        Image.fromarray(layout_frame(name)).save(path)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
