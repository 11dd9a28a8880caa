"""``SafeguardVectorWrapper``: one batched monitor for a ``gymnasium.vector`` environment.

All ``num_envs`` monitors step together in numpy (:class:`speclang.runtime.batched.BatchedMonitor`).
Labels come from the batched ``info`` (:class:`~runtime.labelers.InfoLabeler`) or from a
:class:`~runtime.labelers.CallableLabeler` called as ``fn(obs_batch, infos, env)`` and
returning ``{name: array[num_envs]}``.

Autoreset modes (``env.metadata["autoreset_mode"]``):

* ``NEXT_STEP`` (gymnasium's default): the step after an episode ended is a reset step for
  that row; it records no transition (no cost, no shaping) and resets the row's monitor.
* ``SAME_STEP``: a row whose episode ends is reset within the same step; its labels come from
  ``info["final_obs"]``/``info["final_info"]`` (or, for a per-env labeler, from the sub-env
  before gymnasium resets it), the returned observation is the new episode's under a fresh
  monitor, and ``info["final_obs"]`` is encoded with the monitor state the episode ended in.
* ``DISABLED``: rows reset with ``reset(options={"reset_mask": mask})`` get fresh monitors.

Labelers: a batched one (``Labeler.vector == "batched"``: :class:`~runtime.labelers.InfoLabeler`,
:class:`~runtime.labelers.CallableLabeler` called as ``fn(obs_batch, infos, env)`` returning
``{name: array[num_envs]}``, with ``action=True`` also given the batch of actions) labels all
rows at once. A per-env one (``"per_env"``: ``MiniGridLabeler``, ``VizDoomLabeler``) reads each
sub-environment's own state; it needs a ``SyncVectorEnv`` (whose sub-envs live in this
process), gets one copy per row, and labels each row right after that row's own step, seeing
its action.

Violations cannot terminate a row here (the inner vector env would not reset it); use
``on_violation="continue"`` or ``"reset_monitor"``, or wrap each sub-environment in a
:class:`~runtime.wrapper.SafeguardWrapper` instead.

Info keys, batched the gymnasium way (``info[key]`` plus a ``info["_" + key]`` row mask):
``cost`` float[N] (per violation event by default, as in the scalar wrapper) and
``safeguard`` = ``{"state", "verdict" (int8 codes), "accepting",
"violated"}`` arrays, valid on the rows that took a transition, and ``safeguard_episode``
(the scalar wrapper's episode record, ``{"r", "l", "t", "cost", "violations", "violated",
"accepted", "spec"}`` arrays) on the rows whose episode ended; gymnasium's ``DictInfoToList``
(RLlib's EnvRunners use it) turns them into the scalar wrapper's per-env dicts.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

from .batched import BatchedMonitor
from .labelers import Binding, Labeler, LabelingError
from .monitor import COST_MODES, _choice
from .progression import SpecStats, resolve
from .reward import REWARD_MODES
from .serialise import kwargs_to_json, labeler_from_json


class _RowLabels(gym.Wrapper):
    """Around one sub-env of a ``SyncVectorEnv``: labels each step as it happens (before a
    ``SAME_STEP`` autoreset replaces the state the labels describe), with the row's action."""

    def __init__(self, env: gym.Env, binding: Binding) -> None:
        super().__init__(env)
        self.binding = binding
        binding.labeler.attach(env)
        self._bits_of = binding.bits_function()
        self.bits = 0

    def step(self, action: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        self.binding.labeler.before_step(self.env, action)
        out = self.env.step(action)
        self.bits = self._bits_of(out[0], out[4], self.env)
        return out


class SafeguardVectorWrapper(VectorWrapper):
    """Monitors every row of a vector env with the same spec.

    ``observation``: ``"unchanged"``, ``"dict"`` (``{"obs", "monitor"}``) or ``"onehot"``
    (for 1-D Box observations). ``reward``, ``gamma``, ``potential``/``potentials``,
    ``penalty``, ``safe_reward``, ``cost``: as for :class:`~runtime.wrapper.SafeguardWrapper`.
    ``stats`` holds one :class:`~runtime.progression.SpecStats` under the spec's name.
    ``spec`` and ``labeler`` may be given in their JSON forms (:mod:`runtime.serialise`), and
    :attr:`constructor_kwargs` holds every argument in that form (``json.dumps`` works when
    the labeler has one), so a run's configuration can be written out and rebuilt."""

    def __init__(
        self,
        env: VectorEnv,
        spec: Any,
        labeler: Labeler,
        *,
        observation: str = "unchanged",
        reward: str = "env",
        on_violation: str = "continue",
        gamma: float = 0.99,
        potential: str = "violation_distance",
        potentials: np.ndarray | None = None,
        penalty: float = 1.0,
        safe_reward: float = 1.0,
        derived: Mapping[str, Any] | None = None,
        cost: str = "event",
    ) -> None:
        super().__init__(env)
        self._saved_kwargs = dict(
            spec=spec, labeler=labeler, observation=observation, reward=reward,
            on_violation=on_violation, gamma=gamma, potential=potential, potentials=potentials,
            penalty=penalty, safe_reward=safe_reward, derived=derived, cost=cost,
        )
        labeler = labeler_from_json(labeler)
        _choice("cost", cost, COST_MODES)
        self.cost_mode = cost
        _choice("observation", observation, ("unchanged", "dict", "onehot"))
        _choice("reward", reward, REWARD_MODES)
        if on_violation == "terminate":
            raise ValueError(
                'on_violation="terminate" is not possible on a vector env (the inner env '
                "would not reset the row); wrap each sub-env in SafeguardWrapper instead, or "
                'use "continue" / "reset_monitor"'
            )
        _choice("on_violation", on_violation, ("continue", "reset_monitor"))
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        mode = AutoresetMode(mode) if isinstance(mode, str) else mode
        self.autoreset_mode = mode
        specset = resolve(spec, derived)
        if len(specset.specs) != 1:
            raise ValueError("SafeguardVectorWrapper monitors one spec, not a progression")
        (self.spec_name, aut), = specset.specs.items()
        self.aut = aut
        self.per_env = labeler.vector == "per_env"
        self._rows: list[_RowLabels] = []
        if self.per_env:
            self._rows = self._wrap_rows(env, aut, labeler, specset.derived)
        else:
            labeler.attach(env)
        self.binding = Binding(aut.props, labeler, derived=specset.derived, spec=self.spec_name)
        self.monitor = BatchedMonitor(aut)
        self.observation_mode = observation
        self.reward_mode = reward
        self.on_violation = on_violation
        self.gamma, self.penalty = float(gamma), float(penalty)
        self.safe_reward = float(safe_reward)
        self.phi: np.ndarray | None = None
        if reward == "shaping":
            if potentials is None:
                from speclang.compiler.shaping import potentials as compute

                potentials = compute(aut, potential)  # type: ignore[arg-type]
            self.phi = np.asarray(potentials, dtype=np.float64)
            if self.phi.shape != (aut.n_states,):
                raise ValueError(f"potentials must have shape ({aut.n_states},)")
        self.stats = {self.spec_name: SpecStats()}
        n = aut.n_states
        single = env.single_observation_space
        if observation == "dict":
            self.single_observation_space = spaces.Dict(
                {"obs": single, "monitor": spaces.Discrete(n)}
            )
        elif observation == "onehot":
            if not (isinstance(single, spaces.Box) and len(single.shape) == 1):
                raise ValueError(f'observation="onehot" needs a 1-D Box, got {single}')
            self.single_observation_space = spaces.Box(
                np.concatenate([single.low.astype(np.float32), np.zeros(n, np.float32)]),
                np.concatenate([single.high.astype(np.float32), np.ones(n, np.float32)]),
                dtype=np.float32,
            )
        if observation != "unchanged":
            self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.states = self.monitor.initial_states(self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._violated_episode = np.zeros(self.num_envs, dtype=bool)
        # each row's open episode: task return, steps, cost, violation events, start time
        self._ep_return = np.zeros(self.num_envs)
        self._ep_length = np.zeros(self.num_envs, dtype=np.int64)
        self._ep_cost = np.zeros(self.num_envs)
        self._ep_events = np.zeros(self.num_envs, dtype=np.int64)
        self._ep_start = np.full(self.num_envs, time.perf_counter())

    def _wrap_rows(
        self, env: VectorEnv, aut: Any, labeler: Labeler, derived: Mapping[str, Any]
    ) -> list[_RowLabels]:
        base = env.unwrapped
        if not isinstance(base, SyncVectorEnv):
            raise ValueError(
                f"{type(labeler).__name__} reads each sub-environment's own state, which only "
                f"a SyncVectorEnv keeps in this process (got {type(base).__name__}); use a "
                "SyncVectorEnv, a batched labeler (InfoLabeler on values the env puts in "
                "info), or a SafeguardWrapper inside each sub-env"
            )
        rows = []
        for i, sub in enumerate(base.envs):
            # One labeler per row: labelers keep per-episode snapshots (the action, the state
            # before it), which rows must not share.
            row = _RowLabels(
                sub, Binding(aut.props, copy.deepcopy(labeler), derived=derived,
                             spec=self.spec_name)
            )
            base.envs[i] = row
            rows.append(row)
        return rows

    @property
    def constructor_kwargs(self) -> dict[str, Any]:
        """The constructor's arguments (all but the env) in their JSON forms."""
        return kwargs_to_json(self._saved_kwargs)

    def _encode_rows(self, obs: Any, states: np.ndarray) -> Any:
        if self.observation_mode == "unchanged":
            return obs
        if self.observation_mode == "dict":
            return {"obs": obs, "monitor": states.astype(np.int64)}
        onehot = np.zeros((len(states), self.aut.n_states), dtype=np.float32)
        onehot[np.arange(len(states)), states] = 1.0
        return np.concatenate([np.asarray(obs, dtype=np.float32), onehot], axis=1)

    def _encode(self, obs: Any) -> Any:
        return self._encode_rows(obs, self.states)

    def _encode_one(self, obs: Any, q: int) -> Any:
        if self.observation_mode == "dict":
            return {"obs": obs, "monitor": q}
        onehot = np.zeros(self.aut.n_states, dtype=np.float32)
        onehot[q] = 1.0
        return np.concatenate([np.asarray(obs, dtype=np.float32), onehot])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        mask = None if options is None else options.get("reset_mask")
        obs, info = self.env.reset(seed=seed, options=options)
        rows = np.ones(self.num_envs, dtype=bool) if mask is None else np.asarray(mask, bool)
        self.states[rows] = self.aut.initial
        self._autoreset[rows] = False
        self._violated_episode[rows] = False
        self._open_episodes(rows)
        return self._encode(obs), info

    def _open_episodes(self, rows: np.ndarray) -> None:
        self._ep_return[rows] = 0.0
        self._ep_length[rows] = 0
        self._ep_cost[rows] = 0.0
        self._ep_events[rows] = 0
        self._ep_start[rows] = time.perf_counter()

    def _bits(self, obs: Any, info: dict[str, Any], live: np.ndarray) -> np.ndarray:
        values = self.binding.labeler.values(obs, info, self.env)
        bits = np.zeros(self.num_envs, dtype=np.int64)
        for i, (prop, src, cmp) in enumerate(self.binding._plan):
            if src not in values:
                raise LabelingError(f'the labeler did not report "{src}" for "{prop}"')
            raw = np.asarray(values[src])
            if cmp is None:
                truth = raw.astype(bool)
            else:
                try:
                    truth = np.asarray(cmp.evaluate(raw), dtype=bool)
                except (TypeError, ValueError):  # a comparison written for scalars
                    truth = np.fromiter((cmp.evaluate(v) for v in raw), bool, count=raw.shape[0])
            if truth.shape != (self.num_envs,):
                raise LabelingError(
                    f'"{src}" has shape {truth.shape}, expected ({self.num_envs},) (one per env)'
                )
            bits |= (truth & live).astype(np.int64) << i
        return bits

    def _final_view(self, obs: Any, info: dict[str, Any], ended: np.ndarray) -> tuple[Any, Any]:
        """``(obs, info)`` as the labels of a ``SAME_STEP`` step must see them: rows whose
        episode ended read the final observation and info, not the next episode's first."""
        rows = np.flatnonzero(ended & np.asarray(info.get("_final_obs", ended), bool))
        final_obs = info.get("final_obs")
        if isinstance(obs, np.ndarray) and final_obs is not None:
            obs = obs.copy()
            for i in rows:
                obs[i] = final_obs[i]
        final = info.get("final_info", {})
        merged = dict(info)
        for key, value in final.items():
            if key.startswith("_"):
                continue
            valid = np.asarray(final.get("_" + key, ended), bool) & ended
            if key in info and not isinstance(value, dict):
                merged[key] = np.where(valid, value, info[key])
            else:
                merged[key] = value
        return obs, merged

    def _episode_records(self, q: np.ndarray) -> dict[str, np.ndarray]:
        """The scalar wrapper's ``info["safeguard_episode"]``, one row per env (valid on the
        rows whose episode ended, as ``info["_safeguard_episode"]`` says)."""
        return {
            "r": self._ep_return.copy(),
            "l": self._ep_length.copy(),
            "t": np.round(time.perf_counter() - self._ep_start, 6),
            "cost": self._ep_cost.copy(),
            "violations": self._ep_events.copy(),
            "violated": self._violated_episode.copy(),
            "accepted": self.monitor.accepting(q),
            "spec": np.full(self.num_envs, self.spec_name, dtype=object),
        }

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        if not self.per_env:
            self.binding.labeler.before_step(self.env, actions)
        obs, env_reward, terminated, truncated, info = self.env.step(actions)
        mode = self.autoreset_mode
        resetting = self._autoreset.copy() if mode == AutoresetMode.NEXT_STEP else (
            np.zeros(self.num_envs, dtype=bool)
        )
        live = ~resetting
        ended_now = np.logical_or(terminated, truncated)
        q_prev = self.states
        q = q_prev.copy()
        if live.any():
            if self.per_env:
                bits = np.fromiter((r.bits for r in self._rows), np.int64, count=self.num_envs)
                bits[~live] = 0
            elif mode == AutoresetMode.SAME_STEP and ended_now.any():
                bits = self._bits(*self._final_view(obs, info, ended_now), live)
            else:
                bits = self._bits(obs, info, live)
            q = self.monitor.step(q_prev, bits)
        q[resetting] = self.aut.initial
        violated = self.monitor.violated(q) & live
        costly = violated
        if self.cost_mode == "event":
            costly = violated & ~self.monitor.violated(q_prev)
        reward = np.asarray(env_reward, dtype=np.float64)
        if self.reward_mode == "penalty":
            reward = reward - self.penalty * violated
        elif self.reward_mode == "paper":
            reward = np.where(violated, -self.safe_reward, self.safe_reward) * live
        elif self.reward_mode == "shaping":
            assert self.phi is not None
            done = np.logical_or(terminated, truncated)
            nxt = np.where(done, 0.0, self.gamma * self.phi[q])
            reward = reward + (nxt - self.phi[q_prev]) * live
        info = dict(info)
        info["cost"] = costly.astype(np.float64)
        info["_cost"] = live.copy()
        info["safeguard"] = {
            "state": q.copy(),
            "verdict": self.monitor.verdicts(q),
            "accepting": self.monitor.accepting(q),
            "violated": violated,
        }
        info["_safeguard"] = live.copy()
        st = self.stats[self.spec_name]
        st.steps += int(live.sum())
        st.violations += int(costly.sum())
        st.env_return += float(np.sum(np.asarray(env_reward) * live))
        self._violated_episode |= violated
        self._open_episodes(resetting)  # a NEXT_STEP reset step starts the row's episode
        entered = violated & ~self.monitor.violated(q_prev)
        self._ep_return += np.where(live, np.asarray(env_reward, dtype=np.float64), 0.0)
        self._ep_length += live
        self._ep_cost += np.where(live, info["cost"], 0.0)
        self._ep_events += entered
        ended = np.logical_or(terminated, truncated) & live
        if ended.any():
            st.episodes += int(ended.sum())
            st.violating_episodes += int((self._violated_episode & ended).sum())
            st.accepted_episodes += int((self.monitor.accepting(q) & ended).sum())
            info["safeguard_episode"] = self._episode_records(q)
            info["_safeguard_episode"] = ended
            self._violated_episode[ended] = False
            self._open_episodes(ended)
        if self.on_violation == "reset_monitor":
            q[violated] = self.aut.initial
        if mode == AutoresetMode.SAME_STEP and ended_now.any():
            if self.observation_mode != "unchanged" and "final_obs" in info:
                final = np.array(info["final_obs"], dtype=object)
                for i in np.flatnonzero(ended_now):
                    final[i] = self._encode_one(final[i], int(q[i]))
                info["final_obs"] = final
            q[ended_now] = self.aut.initial  # the rows already started their next episode
        self.states = q
        self._autoreset = ended_now
        return self._encode(obs), reward, terminated, truncated, info
