"""``MonitorObservation``: the monitor state in the agent's observation (the product MDP).

Modes (``n`` = states of the largest automaton of the progression, so every spec of it shares
one encoding; the state is the one the next step starts from, after any monitor reset):

``"dict"``
    ``{"obs": env obs, "monitor": Discrete(n)}`` (nests the env's own space as it is).
``"onehot"``
    one-hot state appended to a 1-D Box (float32 unless the Box is already floating).
``"index"``
    product index ``obs * n + q`` for a Discrete env (tabular agents), or the state appended
    to a 1-D Box.
``"flat_box"``
    one 1-D float32 Box that SB3 ``MlpPolicy`` and RLlib's default encoders take for any env:
    every numeric part of the env observation flattened (``gymnasium.spaces.flatten``:
    Discrete parts one-hot, Box parts raveled), in the Dict space's key order (MiniGrid:
    ``direction`` then ``image``), followed by the one-hot state.
``"features"``
    as ``"flat_box"``, with the spec-agnostic features of the monitor state
    (:mod:`speclang.compiler.state_features`: verdict, acceptance, distance to the sink, and
    for each proposition whether making it true leads to the sink) in place of the one-hot
    state, so that a network trained under one spec reads the next spec's states by what
    they do, not by their numbers. The propositions are ``feature_props`` (default: every
    proposition of the wrapper's specs, sorted); pass the same list to every env whose
    policy should carry over. The table is computed once per spec.
``"flat_dict"``
    a Dict with no nesting (SB3 ``MultiInputPolicy``, RLlib): the env's own Dict entries at
    top level (a nested Dict or Tuple entry flattened to a Box) or ``"obs"`` for a non-Dict
    env, plus ``"monitor": Discrete(n)``. Image Boxes keep their shape, so CNN extractors
    still see images (MiniGrid ``image``, VizDoom frames).

The flat modes drop parts no numeric policy can read (``Text``, ``Graph``, ``Sequence``:
MiniGrid's ``mission``); :attr:`MonitorObservation.dropped` names them. Adds no ``info`` keys.

>>> import gymnasium as gym
>>> import minigrid  # registers MiniGrid-*
>>> from speclang.runtime.build import automaton_from_function
>>> from speclang.runtime.envs.minigrid import MiniGridLabeler
>>> from speclang.runtime.monitor import SpecMonitor
>>> no_lava = automaton_from_function(["on_lava"], 2, lambda q, v: int(q or v["on_lava"]),
...                                   accepting=[True, False], name="no_lava")
>>> grid = SpecMonitor(gym.make("MiniGrid-LavaGapS5-v0"), no_lava, MiniGridLabeler())
>>> MonitorObservation(grid, "flat_box").observation_space.shape   # 7*7*3 image + 4 + 2
(153,)
>>> env = MonitorObservation(grid, "flat_dict")
>>> sorted(env.observation_space.spaces), env.dropped
(['direction', 'image', 'monitor'], ['mission'])
>>> obs, _ = env.reset(seed=1)
>>> obs["monitor"], obs["image"].shape
(0, (7, 7, 3))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .monitor import _choice, find_monitor

ObservationMode = Literal["unchanged", "dict", "onehot", "index", "flat_box", "flat_dict",
                          "features"]
OBSERVATION_MODES = ("unchanged", "dict", "onehot", "index", "flat_box", "flat_dict", "features")
_NUMERIC = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


class MonitorObservation(gym.Wrapper):
    """Encodes the monitor state into the observation; ``env`` must have a
    :class:`~speclang.runtime.monitor.SpecMonitor` in its chain (and the violation handler,
    if any, below this wrapper)."""

    def __init__(self, env: gym.Env, mode: ObservationMode = "onehot",
                 feature_props: Sequence[str] | None = None) -> None:
        super().__init__(env)
        _choice("observation", mode, OBSERVATION_MODES)
        self.mode = mode
        self.monitor = find_monitor(env, "MonitorObservation")
        self.n = self.monitor.n_monitor_states
        self.features: dict[str, np.ndarray] = {}  # spec name -> state feature table
        if mode == "features":
            from speclang.compiler.state_features import state_features

            specs = self.monitor.specs
            props = (sorted({p for s in specs.values() for p in s.aut.props})
                     if feature_props is None else list(feature_props))
            self.feature_props = tuple(props)
            self.features = {name: state_features(s.aut, props).table
                             for name, s in specs.items()}
            self.n = next(iter(self.features.values())).shape[1]  # the monitor part's width
        self.dropped: list[str] = []
        self._parts: list[tuple[str, spaces.Space, bool]] = []  # (key, space, flatten it)
        inner = env.observation_space
        self._discrete_index = mode == "index" and isinstance(inner, spaces.Discrete)
        self.observation_space = self._space(inner)

    def _space(self, inner: spaces.Space) -> spaces.Space:
        n, mode = self.n, self.mode
        if mode == "unchanged":
            return inner
        if mode == "dict":
            return spaces.Dict({"obs": inner, "monitor": spaces.Discrete(n)})
        if mode in ("flat_box", "flat_dict", "features"):
            return self._flat_space(inner)
        if self._discrete_index:
            return spaces.Discrete(int(inner.n) * n)  # type: ignore[attr-defined]
        if not (isinstance(inner, spaces.Box) and len(inner.shape) == 1):
            raise ValueError(
                f'observation="{mode}" needs a 1-D Box observation space'
                + (" or a Discrete one" if mode == "index" else "")
                + f', got {inner}; use observation="dict" instead (or "flat_box" / "flat_dict" for '
                "a space with no nesting)"
            )
        extra = n if mode == "onehot" else 1
        high_extra = 1.0 if mode == "onehot" else float(n - 1)
        dtype = np.float32 if not np.issubdtype(inner.dtype, np.floating) else inner.dtype
        low = np.concatenate([inner.low.astype(dtype), np.zeros(extra, dtype=dtype)])
        high = np.concatenate([inner.high.astype(dtype), np.full(extra, high_extra, dtype=dtype)])
        return spaces.Box(low=low, high=high, dtype=dtype)

    def _flat_space(self, inner: spaces.Space) -> spaces.Space:
        entries = inner.spaces.items() if isinstance(inner, spaces.Dict) else [("obs", inner)]
        for key, sub in entries:
            if isinstance(sub, _NUMERIC):
                self._parts.append((key, sub, False))
            elif isinstance(sub, (spaces.Dict, spaces.Tuple)) and _all_numeric(sub):
                self._parts.append((key, sub, True))
            else:
                self.dropped.append(key)
        if not self._parts:
            raise ValueError(f"observation={self.mode!r}: no numeric part in {inner}")
        if self.mode == "flat_dict":
            if "monitor" in {k for k, _, _ in self._parts}:
                raise ValueError('observation="flat_dict": the env already has a "monitor" key')
            out = {k: (spaces.flatten_space(s) if f else s) for k, s, f in self._parts}
            return spaces.Dict({**out, "monitor": spaces.Discrete(self.n)})
        size = sum(spaces.flatdim(s) for _, s, _ in self._parts) + self.n
        lows, highs = [], []
        for _, s, _ in self._parts:
            flat = spaces.flatten_space(s)
            assert isinstance(flat, spaces.Box)  # _parts holds only numeric spaces
            lows.append(flat.low.astype(np.float32))
            highs.append(flat.high.astype(np.float32))
        lows.append(np.zeros(self.n, np.float32))
        highs.append(np.ones(self.n, np.float32))
        low, high = np.concatenate(lows), np.concatenate(highs)
        assert low.shape == (size,)
        return spaces.Box(low, high, dtype=np.float32)

    def encode(self, obs: Any, q: int) -> Any:
        """The agent's observation for env observation ``obs`` and monitor state ``q``."""
        mode = self.mode
        if mode == "unchanged":
            return obs
        if mode == "dict":
            return {"obs": obs, "monitor": q}
        if self._discrete_index:
            return int(obs) * self.n + q
        if mode == "flat_dict":
            get = obs.__getitem__ if isinstance(obs, dict) else (lambda _k: obs)
            out = {k: (spaces.flatten(s, get(k)) if f else get(k)) for k, s, f in self._parts}
            out["monitor"] = q
            return out
        space = self.observation_space
        assert isinstance(space, spaces.Box)
        if mode in ("flat_box", "features"):
            get = obs.__getitem__ if isinstance(obs, dict) else (lambda _k: obs)
            pieces = [np.asarray(spaces.flatten(s, get(k)), np.float32) for k, s, _ in self._parts]
            if mode == "features":
                return np.concatenate([*pieces, self.features[self.monitor.spec_name][q]])
            onehot = np.zeros(self.n, np.float32)
            onehot[q] = 1.0
            return np.concatenate([*pieces, onehot])
        vec = np.zeros(space.shape, dtype=space.dtype)
        k = len(obs)
        vec[:k] = obs
        if mode == "onehot":
            vec[k + q] = 1
        else:
            vec[k] = q
        return vec

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        return self.encode(obs, self.monitor.state), info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self.encode(obs, self.monitor.state), reward, terminated, truncated, info


def _all_numeric(space: spaces.Space) -> bool:
    if isinstance(space, _NUMERIC):
        return True
    if isinstance(space, spaces.Dict):
        return all(_all_numeric(s) for s in space.spaces.values())
    if isinstance(space, spaces.Tuple):
        return all(_all_numeric(s) for s in space.spaces)
    return False
