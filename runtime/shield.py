"""Pre-shielding: masking actions whose predicted next labels would violate the spec.

A *one-step predictor* guesses, for every action, the raw label values the environment will
report after taking it. The shield steps the monitor on each prediction and allows an action
unless it enters the violation sink. The mask is only as good as the predictor: MiniGrid's
dynamics are deterministic and simple, so :class:`MiniGridPredictor` is exact for the
labels of :class:`~speclang.runtime.envs.minigrid.MiniGridLabeler`
(it lives with the MiniGrid adapter; importable from here as well).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .envs.minigrid import MiniGridPredictor
from .progression import ActiveSpec

__all__ = ["ActionShield", "MiniGridPredictor", "OneStepPredictor", "PreShield"]


class OneStepPredictor(Protocol):
    def knows(self, name: str) -> bool | None: ...

    def predict(self, env: Any) -> list[Mapping[str, Any]]:
        """Predicted label values after each action ``0..n_actions-1``."""
        ...


class PreShield:
    """Computes ``info['action_mask']`` for the active spec (1 = allowed, int8)."""

    def __init__(self, predictor: OneStepPredictor, n_actions: int) -> None:
        if not hasattr(predictor, "predict"):
            raise TypeError("shield must be a one-step predictor with .predict(env)")
        self.predictor = predictor
        self.n_actions = n_actions

    def check(self, spec: ActiveSpec) -> None:
        binding = spec.binding
        for prop, src, _ in binding._plan:
            if self.predictor.knows(src) is False:
                raise ValueError(
                    f'the shield\'s predictor cannot predict "{src}" (needed by proposition '
                    f'"{prop}" of spec "{spec.name}")'
                )

    def mask(self, spec: ActiveSpec, q: int, env: Any) -> tuple[np.ndarray, bool]:
        """``(mask, exhausted)``; when every action would violate, all are allowed (an empty
        mask would leave the agent without a legal move) and ``exhausted`` is True."""
        predictions = self.predictor.predict(env)
        if len(predictions) < self.n_actions:
            raise ValueError(
                f"the predictor gave {len(predictions)} predictions for {self.n_actions} actions"
            )
        mask = np.empty(self.n_actions, dtype=np.int8)
        for a in range(self.n_actions):
            nxt = spec.step(q, spec.binding.evaluate(predictions[a]))
            mask[a] = 0 if spec.violated[nxt] else 1
        if not mask.any():
            mask[:] = 1
            return mask, True
        return mask, False


class ActionShield(gym.Wrapper):
    """The pre-shield as a wrapper: the mask of actions the predictor says do not enter the
    violation sink from the monitor's current state, where each framework looks for it.

    * ``info["action_mask"]`` (int8, 1 = allowed) at reset and on every non-final step, and
      ``info["safeguard"]["shield_exhausted"]`` (True when every action was predicted to
      violate: the mask then allows all, so the agent is never left without a move);
    * :meth:`action_masks` (bool array), the method sb3-contrib's ``MaskablePPO`` calls
      (through ``env_method``/``get_wrapper_attr``, so it works under outer wrappers too);
    * with ``observation=True``, the mask in the observation as RLlib's action-masking
      modules expect: a Dict observation gains an ``"action_mask"`` entry, any other becomes
      ``{"observations": obs, "action_mask": mask}``; the mask is a float32 Box of 0/1 (all
      ones on an episode's final observation, which no action is taken from).

    ``env`` needs a ``Discrete`` action space and a
    :class:`~speclang.runtime.monitor.SpecMonitor` (below the violation handler, if any).

    >>> import gymnasium as gym
    >>> import minigrid  # registers MiniGrid-*
    >>> from speclang.runtime.build import automaton_from_function
    >>> from speclang.runtime.envs.minigrid import MiniGridLabeler
    >>> from speclang.runtime.monitor import SpecMonitor
    >>> no_lava = automaton_from_function(["on_lava"], 2, lambda q, v: int(q or v["on_lava"]),
    ...                                   accepting=[True, False], name="no_lava")
    >>> grid = SpecMonitor(gym.make("MiniGrid-LavaGapS5-v0"), no_lava, MiniGridLabeler())
    >>> env = ActionShield(grid, MiniGridPredictor(), observation=True)
    >>> obs, info = env.reset(seed=1)   # lava right in front of the agent
    >>> env.action_masks().tolist()
    [True, True, False, True, True, True, True]
    >>> info["action_mask"].tolist() == obs["action_mask"].tolist()
    True
    """

    def __init__(
        self, env: gym.Env, predictor: OneStepPredictor, *, observation: bool = False
    ) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, spaces.Discrete):
            raise ValueError("a shield needs a Discrete action space")
        if not isinstance(observation, bool):
            raise TypeError(f"observation must be a bool, got {type(observation).__name__}")
        from .monitor import find_monitor
        from .serialise import predictor_from_json

        predictor = predictor_from_json(predictor)
        self.monitor = find_monitor(env, "ActionShield")
        self.shield = PreShield(predictor, int(env.action_space.n))
        for s in self.monitor.specs.values():
            self.shield.check(s)
        self.mask_in_observation = observation
        self._mask = np.ones(self.shield.n_actions, dtype=np.int8)
        if observation:
            mask_space = spaces.Box(0.0, 1.0, (self.shield.n_actions,), dtype=np.float32)
            inner = env.observation_space
            self._into_dict = isinstance(inner, spaces.Dict)
            if isinstance(inner, spaces.Dict):
                if "action_mask" in inner.spaces:
                    raise ValueError('the observation already has an "action_mask" entry')
                self.observation_space = spaces.Dict({**inner.spaces, "action_mask": mask_space})
            else:
                self.observation_space = spaces.Dict(
                    {"observations": inner, "action_mask": mask_space}
                )

    def action_masks(self) -> np.ndarray:
        """Bool array over actions, True = allowed: the mask for the next action."""
        return self._mask.astype(bool)

    def _update(self, info: dict[str, Any]) -> None:
        mon = self.monitor
        mask, exhausted = self.shield.mask(mon.active, mon.state, self.env)
        self._mask = mask
        info["action_mask"] = mask
        info["safeguard"]["shield_exhausted"] = exhausted

    def _observe(self, obs: Any, final: bool) -> Any:
        if not self.mask_in_observation:
            return obs
        mask = np.ones(self.shield.n_actions, np.float32) if final else self._mask.astype(
            np.float32
        )
        if self._into_dict:
            return {**obs, "action_mask": mask}
        return {"observations": obs, "action_mask": mask}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._update(info)
        return self._observe(obs, False), info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        final = terminated or truncated
        if final:
            self._mask = np.ones(self.shield.n_actions, dtype=np.int8)
        else:
            self._update(info)
        return self._observe(obs, final), reward, terminated, truncated, info
