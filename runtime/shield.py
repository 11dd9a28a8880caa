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

import numpy as np

from .envs.minigrid import MiniGridPredictor
from .progression import ActiveSpec

__all__ = ["MiniGridPredictor", "OneStepPredictor", "PreShield"]


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
