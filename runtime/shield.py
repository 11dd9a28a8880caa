"""Pre-shielding: masking actions whose predicted next labels would violate the spec.

A *one-step predictor* guesses, for every action, the raw label values the environment will
report after taking it. The shield steps the monitor on each prediction and allows an action
unless it enters the violation sink. The mask is only as good as the predictor: MiniGrid's
dynamics are deterministic and simple, so :class:`MiniGridPredictor` is exact for the
labels of :class:`~runtime.labelers.MiniGridLabeler`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from .labelers import MINIGRID_ACTIONS, MiniGridLabeler
from .progression import ActiveSpec


class OneStepPredictor(Protocol):
    def knows(self, name: str) -> bool | None: ...

    def predict(self, env: Any) -> list[Mapping[str, Any]]:
        """Predicted label values after each action ``0..n_actions-1``."""
        ...


class MiniGridPredictor:
    """Exact next-step labels for MiniGrid's seven actions (left, right, forward, pickup,
    drop, toggle, done), computed from the grid without stepping a copy of the env. Follows
    the labeler's ``view``: with ``"before"`` only the action propositions differ."""

    def __init__(self, labeler: MiniGridLabeler | None = None) -> None:
        self.labeler = labeler or MiniGridLabeler()

    def knows(self, name: str) -> bool:
        return self.labeler.knows(name)

    def predict(self, env: Any) -> list[Mapping[str, Any]]:
        from minigrid.core.constants import DIR_TO_VEC

        u = env.unwrapped
        lab = self.labeler
        pos, d, held = u.agent_pos, u.agent_dir, u.carrying
        stay = lab.state_values(env, pos, d, held)
        if lab.view == "before":  # labels describe the state the action is taken in
            return [stay.with_action(a) for a in range(len(MINIGRID_ACTIONS))]
        dx, dy = DIR_TO_VEC[d]
        fpos = (int(pos[0]) + int(dx), int(pos[1]) + int(dy))
        front = u.grid.get(*fpos)
        left = lab.state_values(env, pos, (d - 1) % 4, held)
        right = lab.state_values(env, pos, (d + 1) % 4, held)
        forward = stay
        if front is None or front.can_overlap():
            forward = lab.state_values(env, fpos, d, held)
        pickup = stay
        if held is None and front is not None and front.can_pickup():
            pickup = lab.state_values(env, pos, d, front, front_cell=None)
        drop = stay
        if held is not None and front is None:
            drop = lab.state_values(env, pos, d, None, front_cell=held)
        toggle = stay
        if front is not None and front.type == "door":
            if front.is_locked:
                if held is not None and held.type == "key" and held.color == front.color:
                    toggle = lab.state_values(env, pos, d, held, door=(front, True, False))
            else:
                toggle = lab.state_values(env, pos, d, held, door=(front, not front.is_open, False))
        after = [left, right, forward, pickup, drop, toggle, stay]
        return [v.with_action(a) for a, v in enumerate(after)]


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
