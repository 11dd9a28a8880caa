"""The gridworld works with the runtime's SafeguardWrapper, and agrees with our monitors."""

from __future__ import annotations

import numpy as np
import pytest

from speclang.agents.builtin_specs import minecraft_progression
from speclang.agents.envs.layouts import PROP_BIT
from speclang.agents.envs.minecraft import MinecraftEnv, minecraft_labeler
from speclang.agents.monitors import mask_table

wrapper_mod = pytest.importorskip("speclang.runtime.wrapper")

UP, RIGHT = 1, 0


@pytest.mark.parametrize("k", [0, 2, 3])
def test_safeguard_wrapper_sees_the_same_violations(k: int) -> None:
    aut = minecraft_progression()[k]
    env = MinecraftEnv("L1", slip=0.0, jitter=0.0)
    wrapped = wrapper_mod.SafeguardWrapper(env, aut, minecraft_labeler())
    wrapped.reset(seed=0)
    table = mask_table(aut)
    q = aut.initial
    # up x3 reaches wood at (2,2); right x3 walks into the lava at (2,5)
    for a in [UP, UP, UP, RIGHT, RIGHT, RIGHT]:
        _, _, terminated, _, info = wrapped.step(a)
        q = int(table[q, env.masks[env.cell]])
        assert info["safeguard"]["violated"] == (q == aut.violation_sink)
        if terminated:
            break
    assert env.masks[env.cell] & PROP_BIT["lava"]
    # T1 and T3 forbid lava here (no work bench yet); so does T4
    assert info["safeguard"]["violated"] and terminated
    assert np.isclose(info["cost"], 1.0)
