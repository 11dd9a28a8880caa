"""Gridworld environments; importing this package registers the gymnasium ids
``speclang/Minecraft-L1-v0`` (the paper's layout 1), ``-L2-v0``, ``-L3-v0`` (ours), ``-P2-v0``
and ``-P3-v0`` (the paper's layouts 2 and 3)."""

from __future__ import annotations

import gymnasium

from .layouts import LAYOUTS

ENV_IDS = tuple(f"speclang/Minecraft-{name}-v0" for name in LAYOUTS)


def _register() -> None:
    for name, env_id in zip(LAYOUTS, ENV_IDS, strict=True):
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id,
                entry_point="speclang.agents.envs.minecraft:MinecraftEnv",
                kwargs={"layout": name},
            )


_register()
