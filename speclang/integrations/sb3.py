"""Stable-Baselines3 callbacks.

``SafeguardCallback``: SB3's logger gets the safeguard's cost and violation rates
(``safeguard/episode_cost``, ``safeguard/violation_rate``, ...; see
:meth:`speclang.integrations.EpisodeTally.rates`) at the end of every rollout, averaged over
the episodes that ended in it. ``total`` keeps the whole run's tally.

    model.learn(10_000, callback=SafeguardCallback())

``CounterfactualReplay``: counterfactual experiences (CRM) in an off-policy model's replay
buffer. With ``SafeguardWrapper(..., crm=True)`` every step carries, in
``info["counterfactuals"]``, the same environment transition replayed from every automaton
state (:mod:`speclang.runtime.crm`); SB3 stores only the one the agent took, and this callback
adds the others, so a DQN on the product learns from all of them (Icarte et al.'s CRM).

    model = DQN("MlpPolicy", env, buffer_size=n_states * 50_000)
    model.learn(10_000, callback=CounterfactualReplay())

Conditions, each checked with a clear error:

- an off-policy model with a ``ReplayBuffer``/``DictReplayBuffer`` (DQN, QR-DQN) and a
  ``Discrete`` action space (SAC/TD3 store rescaled Box actions: not supported);
- ``optimize_memory_usage=False`` (the memory-saving buffer reads a row's next observation
  from the next row, which an added row would overwrite);
- the observation shows the monitor state (``observation="onehot"``, ``"index"``,
  ``"flat_box"``, ...) and ``SafeguardWrapper`` is the outermost wrapper that changes
  observations (SB3's ``Monitor`` and ``VecNormalize`` are fine: SB3 stores unnormalised
  observations, as the counterfactuals are): the callback finds the step SB3 stores among the
  counterfactuals by its observation, and refuses a step whose observation matches none or
  several of them.

The buffer fills ``n`` times as fast for ``n`` non-sink automaton states, so size it for
that. With ``n_envs > 1`` the added experiences are written ``n_envs`` rows at a time (a
buffer row holds one transition per env column; which column does not matter to sampling),
so up to ``n_envs - 1`` of them wait for the next step; ``added`` counts those written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback

from . import EPISODE_KEY, EpisodeTally

COUNTERFACTUALS_KEY = "counterfactuals"


class SafeguardCallback(BaseCallback):
    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.window = EpisodeTally()
        self.total = EpisodeTally()

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            episode = info.get(EPISODE_KEY)
            if episode is not None:
                self.window.add(episode)
                self.total.add(episode)
        return True

    def _on_rollout_end(self) -> None:
        for key, value in self.window.rates().items():
            self.logger.record(key, value)
        self.window.clear()


class CounterfactualReplay(BaseCallback):
    """Adds every step's counterfactual experiences but the one taken to the replay buffer
    (see the module docstring for the conditions)."""

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.pending: list[Any] = []  # speclang.runtime.crm.Experience
        self.added = 0

    def _init_callback(self) -> None:
        buf = getattr(self.model, "replay_buffer", None)
        if not isinstance(buf, ReplayBuffer | DictReplayBuffer):
            raise TypeError(
                "CounterfactualReplay needs an off-policy model with a ReplayBuffer or "
                f"DictReplayBuffer (DQN, QR-DQN), not {type(self.model).__name__}"
                + (f" with {type(buf).__name__}" if buf is not None else ""))
        if not isinstance(self.model.action_space, spaces.Discrete):
            raise TypeError("CounterfactualReplay needs a Discrete action space (SB3 stores "
                            "Box actions rescaled)")
        if buf.optimize_memory_usage:
            raise ValueError("CounterfactualReplay needs optimize_memory_usage=False: that "
                             "buffer takes a row's next observation from the row after it")
        self.buffer = buf

    def _on_step(self) -> bool:
        # What SB3 is about to store as this step's observation: the unnormalised one.
        model = self.model
        no_norm = model.get_vec_normalize_env() is None
        stored = model._last_obs if no_norm else model._last_original_obs
        for i, info in enumerate(self.locals["infos"]):
            exps = info.get(COUNTERFACTUALS_KEY)
            if exps is None:
                raise ValueError("CounterfactualReplay: the env's info has no "
                                 "'counterfactuals': wrap it in SafeguardWrapper(..., crm=True)")
            taken = _taken(exps, _row(stored, i))
            self.pending.extend(e for k, e in enumerate(exps) if k != taken)
        n = self.buffer.n_envs
        while len(self.pending) >= n:
            rows, self.pending = self.pending[:n], self.pending[n:]
            self._add(rows)
        return True

    def _add(self, rows: Sequence[Any]) -> None:
        buf = self.buffer
        done = np.array([e.terminated or e.truncated for e in rows])
        # SB3 bootstraps through time-limit ends it is told of; a terminated step is terminal.
        infos = [{"TimeLimit.truncated": e.truncated and not e.terminated} for e in rows]
        buf.add(
            _stack([e.obs for e in rows], buf),
            _stack([e.next_obs for e in rows], buf),
            np.array([e.action for e in rows]),
            np.array([e.reward for e in rows], dtype=np.float32),
            done,
            infos,
        )
        self.added += len(rows)


def _row(obs: Any, i: int) -> Any:
    if isinstance(obs, dict):
        return {k: v[i] for k, v in obs.items()}
    return obs[i]


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    a, b = np.asarray(a), np.asarray(b)
    return a.size == b.size and np.array_equal(a.reshape(b.shape), b)


def _taken(exps: Sequence[Any], obs: Any) -> int:
    """The index of the experience SB3 stores itself: the one from the observation it saw."""
    hits = [k for k, e in enumerate(exps) if _same(e.obs, obs)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ValueError(
            "CounterfactualReplay: no counterfactual starts from the observation SB3 stores: "
            "SafeguardWrapper(crm=True) must be the outermost wrapper that changes observations")
    raise ValueError(
        "CounterfactualReplay: the observation does not show the monitor state (several "
        "automaton states give the same observation, so their counterfactuals would be one "
        "experience with different outcomes): use observation='onehot', 'index' or 'flat_box'")


def _stack(values: list[Any], buf: ReplayBuffer | DictReplayBuffer) -> Any:
    if isinstance(buf, DictReplayBuffer):
        return {k: np.stack([np.asarray(v[k]) for v in values]) for k in buf.observations}
    return np.stack([np.asarray(v) for v in values])


__all__ = ["CounterfactualReplay", "SafeguardCallback"]
