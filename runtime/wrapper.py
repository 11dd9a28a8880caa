"""``SafeguardWrapper``: a gymnasium environment in product with a compiled spec monitor.

The monitor reads one letter per environment *step* (the labels of ``(obs, info, env)``
after the step); the reset observation is not a letter, so right after ``reset`` the monitor
is in its initial state and its acceptance is that of the empty trace.

Keys added to ``info`` (every step; ``reset`` adds ``safeguard`` and ``action_mask``):

``cost``
    ``1.0`` when the monitor is in the violation sink after this step, else ``0.0``
    (the Safety-Gymnasium / OmniSafe convention for constrained RL).
``safeguard``
    ``{"spec": active spec name, "state": monitor state, "verdict": one of satisfied /
    presumably_satisfied / presumably_violated / violated, "accepting": bool, "labels":
    {prop: bool} of this step, "violated": bool}`` plus ``"explanation"`` (a sentence) on the
    step that enters the violation sink, ``"parts"`` (``{part name: verdict}``) for a
    ``compiler.product`` monitor, and ``"shield_exhausted"`` when a shield is active.
``action_mask``
    With ``shield=``: int8 array, 1 for actions the predictor says do not enter the
    violation sink from the current state (all ones if none is safe).
``counterfactuals``
    With ``crm=True``: a list of :class:`speclang.runtime.crm.Experience`, this step replayed from
    every non-sink monitor state.

>>> import gymnasium as gym
>>> from speclang.runtime.build import automaton_from_function
>>> from speclang.runtime.labelers import CallableLabeler
>>> never_left = automaton_from_function(["left"], 2, lambda q, v: 1 if q or v["left"] else 0,
...                                      accepting=[True, False], name="never_left")
>>> env = SafeguardWrapper(gym.make("CartPole-v1"), never_left,
...                        CallableLabeler(lambda o, i, e: {"left": o[0] < -0.05}, ["left"]),
...                        observation="onehot", reward="penalty", penalty=10.0)
>>> obs, info = env.reset(seed=0)
>>> obs.shape, info["safeguard"]["state"]
((6,), 0)
>>> obs, r, term, trunc, info = env.step(0)
>>> sorted(info["safeguard"])
['accepting', 'labels', 'spec', 'state', 'verdict', 'violated']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .crm import Experience, counterfactuals
from .labelers import Labeler
from .progression import ActiveSpec, SpecStats, resolve
from .shield import OneStepPredictor, PreShield

ObservationMode = Literal["unchanged", "dict", "onehot", "index"]
RewardMode = Literal["env", "shaping", "penalty", "paper"]
ViolationMode = Literal["terminate", "continue", "reset_monitor"]

OBSERVATION_MODES = ("unchanged", "dict", "onehot", "index")
REWARD_MODES = ("env", "shaping", "penalty", "paper")
VIOLATION_MODES = ("terminate", "continue", "reset_monitor")


class SafeguardWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Monitors ``env`` with a compiled spec (or a progression of specs).

    Args:
        env: the environment.
        spec: an ``Automaton``; a list or ``{name: Automaton}`` dict (a progression); or
            ``(module, name)`` with a ``speclang.Module`` and a spec or progression name.
        labeler: a :class:`speclang.runtime.labelers.Labeler` binding every proposition (and every
            observable behind a derived proposition). Missing bindings raise
            ``MissingBindingError`` here, not mid-episode.
        observation: ``"unchanged"``; ``"dict"`` (``{"obs": ..., "monitor": Discrete}``);
            ``"onehot"`` (one-hot monitor state appended to a 1-D Box); ``"index"`` (product
            index ``obs * n + q`` for a Discrete env, or the state appended to a 1-D Box).
            Sizes use the largest automaton of the progression.
        reward: ``"env"``; ``"shaping"`` (env reward + ``gamma * phi[q'] - phi[q]``, with
            ``phi = 0`` after the episode's last step); ``"penalty"`` (env reward minus
            ``penalty`` on violating steps); ``"paper"`` (``+safe_reward`` per safe step,
            ``-safe_reward`` on violation; env reward added only with
            ``paper_env_reward=True``).
        on_violation: ``"terminate"`` the episode; ``"continue"`` (cost and penalty on every
            step spent in the sink); ``"reset_monitor"`` to the initial state and continue.
        potential, potentials: shaping potential kind for
            ``speclang.compiler.shaping.potentials``, or
            explicit ``{spec name: array}`` / one array for a single spec.
        derived: extra derived propositions ``{prop: (observable, op, value)}``.
        shield: a one-step predictor (``speclang.runtime.shield.MiniGridPredictor()``) enabling
            ``info["action_mask"]``; needs a ``Discrete`` action space.
        crm: add ``info["counterfactuals"]``.
        explain: attach an explanation sentence to violating steps.
    """

    def __init__(
        self,
        env: gym.Env,
        spec: Any,
        labeler: Labeler,
        *,
        observation: ObservationMode = "unchanged",
        reward: RewardMode = "env",
        on_violation: ViolationMode = "terminate",
        gamma: float = 0.99,
        potential: str = "violation_distance",
        potentials: Mapping[str, Any] | np.ndarray | None = None,
        penalty: float = 1.0,
        safe_reward: float = 1.0,
        paper_env_reward: bool = False,
        derived: Mapping[str, Any] | None = None,
        shield: OneStepPredictor | None = None,
        crm: bool = False,
        explain: bool = True,
    ) -> None:
        # Recording the arguments lets gymnasium re-create the wrapper from ``env.spec``.
        gym.utils.RecordConstructorArgs.__init__(
            self, spec=spec, labeler=labeler, observation=observation, reward=reward,
            on_violation=on_violation, gamma=gamma, potential=potential, potentials=potentials,
            penalty=penalty, safe_reward=safe_reward, paper_env_reward=paper_env_reward,
            derived=derived, shield=shield, crm=crm, explain=explain,
        )
        gym.Wrapper.__init__(self, env)
        _choice("observation", observation, OBSERVATION_MODES)
        _choice("reward", reward, REWARD_MODES)
        _choice("on_violation", on_violation, VIOLATION_MODES)
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        if penalty < 0 or safe_reward < 0:
            raise ValueError("penalty and safe_reward are magnitudes and must be >= 0")
        self.observation_mode = observation
        self.reward_mode = reward
        self.on_violation = on_violation
        # Mode checks hoisted out of the per-step path.
        self._terminate_on_violation = on_violation == "terminate"
        self._reset_on_violation = on_violation == "reset_monitor"
        self._env_reward_only = reward == "env"
        self._shaping = reward == "shaping"
        self._obs_unchanged = observation == "unchanged"
        self.gamma = float(gamma)
        self.penalty = float(penalty)
        self.safe_reward = float(safe_reward)
        self.paper_env_reward = paper_env_reward
        self.crm = crm
        self.explain = explain
        specset = resolve(spec, derived)
        labeler.attach(env)
        self.labeler = labeler
        self.specs: dict[str, ActiveSpec] = {
            name: ActiveSpec(name, aut, labeler, specset.derived)
            for name, aut in specset.specs.items()
        }
        if specset.module is not None:
            for name, active in self.specs.items():
                active.module = specset.module
                active.source = specset.module.specs.get(name)
        self._explainers: dict[str, Any] = {}
        self.n_monitor_states = specset.max_states
        self.stats: dict[str, SpecStats] = {name: SpecStats() for name in self.specs}
        self._phi: dict[str, list[float]] = {}
        if reward == "shaping":
            self._phi = self._potentials(potential, potentials)
        self.shield: PreShield | None = None
        if shield is not None:
            if not isinstance(env.action_space, spaces.Discrete):
                raise ValueError("a shield needs a Discrete action space")
            self.shield = PreShield(shield, int(env.action_space.n))
            for s in self.specs.values():
                self.shield.check(s)
        self.observation_space = self._build_observation_space(env.observation_space)
        self._active = next(iter(self.specs.values()))
        self._pending: str | None = None
        self._q = self._active.aut.initial
        self._last_obs: Any = None
        # The episode's letters as packed bits (small ints), kept for explanations.
        self._trace: list[int] = []
        self._active_stats = self.stats[self._active.name]
        self._violated_episode = False
        self._open_episode = False

    # --- configuration -------------------------------------------------------------------

    def _potentials(self, kind: str, given: Any) -> dict[str, list[float]]:
        out = {}
        for name, s in self.specs.items():
            if given is None:
                from speclang.compiler.shaping import potentials

                phi = potentials(s.aut, kind)  # type: ignore[arg-type]
            elif isinstance(given, Mapping):
                if name not in given:
                    raise ValueError(f'potentials has no entry for spec "{name}"')
                phi = given[name]
            else:
                if len(self.specs) > 1:
                    raise ValueError("a progression needs potentials as {spec name: array}")
                phi = given
            arr = np.asarray(phi, dtype=np.float64)
            if arr.shape != (s.aut.n_states,):
                raise ValueError(
                    f'potentials of spec "{name}" must have shape ({s.aut.n_states},), '
                    f"got {arr.shape}"
                )
            out[name] = arr.tolist()
        return out

    def _build_observation_space(self, inner: spaces.Space) -> spaces.Space:
        n = self.n_monitor_states
        mode = self.observation_mode
        if mode == "unchanged":
            return inner
        if mode == "dict":
            return spaces.Dict({"obs": inner, "monitor": spaces.Discrete(n)})
        if mode == "index" and isinstance(inner, spaces.Discrete):
            return spaces.Discrete(int(inner.n) * n)
        if not (isinstance(inner, spaces.Box) and len(inner.shape) == 1):
            raise ValueError(
                f'observation="{mode}" needs a 1-D Box observation space'
                + (" or a Discrete one" if mode == "index" else "")
                + f', got {inner}; use observation="dict" instead'
            )
        extra = n if mode == "onehot" else 1
        high_extra = 1.0 if mode == "onehot" else float(n - 1)
        dtype = np.float32 if not np.issubdtype(inner.dtype, np.floating) else inner.dtype
        low = np.concatenate([inner.low.astype(dtype), np.zeros(extra, dtype=dtype)])
        high = np.concatenate([inner.high.astype(dtype), np.full(extra, high_extra, dtype=dtype)])
        return spaces.Box(low=low, high=high, dtype=dtype)

    def encode(self, obs: Any, q: int) -> Any:
        """The agent's observation for env observation ``obs`` and monitor state ``q``."""
        mode = self.observation_mode
        if mode == "unchanged":
            return obs
        if mode == "dict":
            return {"obs": obs, "monitor": q}
        if mode == "index" and isinstance(self.env.observation_space, spaces.Discrete):
            return int(obs) * self.n_monitor_states + q
        space = self.observation_space
        assert isinstance(space, spaces.Box)
        out = np.zeros(space.shape, dtype=space.dtype)
        k = len(obs)
        out[:k] = obs
        if mode == "onehot":
            out[k + q] = 1
        else:
            out[k] = q
        return out

    # --- progressions --------------------------------------------------------------------

    @property
    def spec_name(self) -> str:
        return self._active.name

    @property
    def monitor_state(self) -> int:
        return self._q

    def set_spec(self, name: str) -> None:
        """Make ``name`` the active spec from the next ``reset`` on."""
        if name not in self.specs:
            raise KeyError(f'no spec "{name}" in this wrapper (it has: {", ".join(self.specs)})')
        self._pending = name

    # --- gymnasium API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if self._open_episode:
            self._close_episode()
        if self._pending is not None:
            self._active = self.specs[self._pending]
            self._pending = None
        obs, info = self.env.reset(seed=seed, options=options)
        s = self._active
        self._q = s.aut.initial
        self._active_stats = self.stats[s.name]
        self._trace = []
        self._violated_episode = False
        self._open_episode = True
        self._last_obs = obs
        info["safeguard"] = {
            "spec": s.name,
            "state": self._q,
            "verdict": s.verdict_labels[self._q],
            "accepting": s.accepting[self._q],
            "labels": {},
            "violated": s.violated[self._q],
        }
        if self.shield is not None:
            self._add_mask(info)
        return self.encode(obs, self._q), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if not self._open_episode:
            raise gym.error.ResetNeeded("call reset() before step() (or after an episode ended)")
        # The per-step hot path (issue 5: a few µs): locals instead of repeated attribute
        # lookups, the letter as packed bits straight from the labeler, one table lookup for
        # the successor, and the labels dict copied from a per-letter cache.
        env = self.env
        self.labeler.before_step(env, action)
        obs, env_reward, env_terminated, truncated, info = env.step(action)
        s = self._active
        q_prev = self._q
        bits = s.bits_of(obs, info, env)
        nxt = s.next
        q = nxt[q_prev][bits] if nxt is not None else s.step_bits(q_prev, bits)
        labels = s.label_dicts.get(bits)
        labels = labels.copy() if labels is not None else s.binding.labels_of_bits(bits)
        violated = s.violated[q]
        if self.explain:
            self._trace.append(bits)
        terminated = bool(env_terminated) or (violated and self._terminate_on_violation)
        truncated = bool(truncated)
        done = terminated or truncated
        env_reward = float(env_reward)
        if self._env_reward_only:
            reward = env_reward
        elif self._shaping:
            phi = self._phi[s.name]
            reward = env_reward + (0.0 if done else self.gamma * phi[q]) - phi[q_prev]
        else:
            reward = self._reward(env_reward, q_prev, q, violated, done)
        info["cost"] = 1.0 if violated else 0.0
        info["safeguard"] = sg = {
            "spec": s.name,
            "state": q,
            "verdict": s.verdict_labels[q],
            "accepting": s.accepting[q],
            "labels": labels,
            "violated": violated,
        }
        if s.part_verdicts is not None:
            sg["parts"] = s.part_verdicts[q]
        if violated:
            if self.explain and not s.violated[q_prev]:
                sg["explanation"] = self._explanation(s, q_prev)
            self._violated_episode = True
        if self.crm:
            info["counterfactuals"] = self.counterfactuals(
                self._last_obs, action, obs, env_reward, labels, bool(env_terminated), truncated
            )
            self._last_obs = obs
        st = self._active_stats
        st.steps += 1
        st.violations += violated
        st.env_return += env_reward
        if violated and self._reset_on_violation:
            self._q = s.aut.initial
        else:
            self._q = q
        if done:
            self._close_episode(q)  # the state reached, before any monitor reset
        elif self.shield is not None:
            self._add_mask(info)
        if self._obs_unchanged:
            return obs, reward, terminated, truncated, info
        return self.encode(obs, self._q), reward, terminated, truncated, info

    # --- pieces of a step ----------------------------------------------------------------

    def _reward(self, env_reward: float, q: int, q_next: int, violated: bool, done: bool) -> float:
        mode = self.reward_mode
        if mode == "env":
            return env_reward
        if mode == "penalty":
            return env_reward - self.penalty if violated else env_reward
        if mode == "paper":
            r = -self.safe_reward if violated else self.safe_reward
            return r + env_reward if self.paper_env_reward else r
        phi = self._phi[self._active.name]
        nxt = 0.0 if done else self.gamma * phi[q_next]
        return env_reward + nxt - phi[q]

    def _explanation(self, s: ActiveSpec, q_prev: int) -> str:
        trace = [s.letter_of_bits(b) for b in self._trace]
        text = self._explain_with_compiler(s, trace)
        if text:
            return text
        true_now = sorted(trace[-1]) if trace else []
        return (
            f'spec "{s.name}" violated at step {len(trace)}: with '
            f"{{{', '.join(true_now)}}} true, the remaining obligation "
            f'"{s.aut.residuals[q_prev]}" can no longer be met'
        )

    def _explain_with_compiler(self, s: ActiveSpec, trace: list[frozenset[str]]) -> str | None:
        """The compiler's blame analysis (names the violated conjunct and why), when the
        installed compiler has it."""
        try:
            from speclang.compiler.explain import Explainer
        except ImportError:
            return None
        try:
            ex = self._explainers.get(s.name)
            if ex is None:
                source = s.source if s.source is not None else s.aut
                ex = self._explainers[s.name] = Explainer(source, automaton=s.aut, module=s.module)
            # This is called on the step that entered the sink: the trace ends there.
            return ex.explain_violating_prefix(trace)
        except Exception:  # noqa: BLE001
            # The explanation is a courtesy on an already-violating step; a failure in the
            # blame analysis must not end a training run, so fall back to the residual.
            return None

    def __getstate__(self) -> dict[str, Any]:
        # Explainers cache compiled per-conjunct monitors; workers rebuild them on demand.
        return {**self.__dict__, "_explainers": {}}

    def _add_mask(self, info: dict[str, Any]) -> None:
        assert self.shield is not None
        mask, exhausted = self.shield.mask(self._active, self._q, self.env)
        info["action_mask"] = mask
        info["safeguard"]["shield_exhausted"] = exhausted

    def _close_episode(self, final_state: int | None = None) -> None:
        st = self.stats[self._active.name]
        q = self._q if final_state is None else final_state
        st.episodes += 1
        st.violating_episodes += int(self._violated_episode)
        st.accepted_episodes += int(self._active.accepting[q])
        self._open_episode = False

    def counterfactuals(
        self,
        obs: Any,
        action: Any,
        next_obs: Any,
        env_reward: float,
        labels: Mapping[str, bool],
        env_terminated: bool,
        env_truncated: bool,
    ) -> list[Experience]:
        """The step ``obs -action-> next_obs`` with ``labels``, from every monitor state."""
        s = self._active
        return counterfactuals(
            s,
            labels,
            obs=obs,
            action=action,
            next_obs=next_obs,
            env_reward=env_reward,
            env_terminated=env_terminated,
            env_truncated=env_truncated,
            encode=self.encode,
            reward=lambda r, q, q2, done: self._reward(r, q, q2, s.violated[q2], done),
            terminate_on_violation=self.on_violation == "terminate",
            include_sink=self.on_violation == "continue",
        )


def _choice(arg: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{arg} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
