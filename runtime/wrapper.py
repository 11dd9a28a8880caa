"""``SafeguardWrapper``: a gymnasium environment in product with a compiled spec monitor.

The documented composition of the single-concern safeguard wrappers, innermost first:

1. :class:`~speclang.runtime.monitor.SpecMonitor`: steps the monitor; ``info["cost"]``,
   ``info["safeguard"]``, ``info["safeguard_episode"]``; statistics and progressions.
2. :class:`~speclang.runtime.violation.ViolationHandler` (``on_violation``).
3. :class:`~speclang.runtime.reward.SafeguardReward` (``reward``, unless ``"env"``).
4. :class:`~speclang.runtime.observation.MonitorObservation` (``observation``, unless
   ``"unchanged"``).
5. :class:`~speclang.runtime.shield.ActionShield` (``shield=``): ``info["action_mask"]``,
   :meth:`action_masks`, and the mask in the observation with ``mask_observation=True``.
6. :class:`~speclang.runtime.crm.CounterfactualExperience` (``crm=True``):
   ``info["counterfactuals"]``.

Each can be used on its own (stacked on a ``SpecMonitor``); this class builds the stack from
one set of arguments, validates them together, steps through it (``stack``), and keeps the
attributes agents read (``env`` is still the environment it wraps; ``stats``, ``specs``,
``set_spec``, ``spec_name``, ``monitor_state``, ``encode``).

The monitor reads one letter per environment *step* (the labels of ``(obs, info, env)``
after the step); the reset observation is not a letter, so right after ``reset`` the monitor
is in its initial state and its acceptance is that of the empty trace.

Keys added to ``info`` (every step; ``reset`` adds ``safeguard`` and ``action_mask``):

``cost``
    ``1.0`` on the step that enters the violation sink, else ``0.0`` (``cost="event"``, the
    default); with ``cost="state"`` ``1.0`` on every step that ends in the sink. The two
    differ only under ``on_violation="continue"``.
``safeguard``
    ``{"spec": active spec name, "state": monitor state, "verdict": one of satisfied /
    presumably_satisfied / presumably_violated / violated, "accepting": bool, "labels":
    {prop: bool} of this step, "violated": bool}`` plus ``"explanation"`` (a sentence) on the
    step that enters the violation sink, ``"parts"`` (``{part name: verdict}``) for a
    ``compiler.product`` monitor, and ``"shield_exhausted"`` when a shield is active.
``safeguard_episode``
    On an episode's last step (also one the safeguard ended): ``{"r": unshaped task return,
    "l": length, "t": seconds, "cost", "violations", "violated", "accepted", "spec"}``.
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
from typing import Any

import gymnasium as gym
import numpy as np

from .crm import CounterfactualExperience, Experience
from .labelers import Labeler
from .monitor import COST_MODES, CostMode, SpecMonitor, _choice
from .observation import OBSERVATION_MODES, MonitorObservation, ObservationMode
from .progression import ActiveSpec, SpecStats
from .reward import REWARD_MODES, RewardMode, SafeguardReward, check_reward_args
from .shield import ActionShield, OneStepPredictor, PreShield
from .violation import VIOLATION_MODES, ViolationHandler, ViolationMode

__all__ = [
    "COST_MODES", "OBSERVATION_MODES", "REWARD_MODES", "VIOLATION_MODES", "SafeguardWrapper",
]


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
            index ``obs * n + q`` for a Discrete env, or the state appended to a 1-D Box);
            ``"flat_box"`` (one 1-D float32 Box of every numeric part plus the one-hot state);
            ``"flat_dict"`` (the env's Dict entries at top level plus ``"monitor"``);
            ``"features"`` (as ``"flat_box"`` with the state's spec-agnostic features,
            :mod:`speclang.compiler.state_features`, in place of the one-hot state).
            Sizes use the largest automaton of the progression.
        reward: ``"env"``; ``"shaping"`` (env reward + ``gamma * phi[q'] - phi[q]``, with
            ``phi = 0`` after the episode's last step); ``"penalty"`` (env reward minus
            ``penalty`` on violating steps); ``"paper"`` (``+safe_reward`` per safe step,
            ``-safe_reward`` on violation; env reward added only with
            ``paper_env_reward=True``).
        on_violation: ``"terminate"`` the episode; ``"continue"`` (penalty on every step
            spent in the sink); ``"reset_monitor"`` to the initial state and continue.
        cost: ``"event"`` (cost 1 on the step entering the sink) or ``"state"`` (on every
            step in the sink).
        potential, potentials: shaping potential kind for
            ``speclang.compiler.shaping.potentials``, or
            explicit ``{spec name: array}`` / one array for a single spec.
        derived: extra derived propositions ``{prop: (observable, op, value)}``.
        shield: a one-step predictor (``speclang.runtime.shield.MiniGridPredictor()``) enabling
            ``info["action_mask"]`` and :meth:`action_masks`; needs a ``Discrete`` action space.
        mask_observation: with ``shield``, put the mask in the observation as well
            (``"action_mask"`` entry of a Dict observation, else
            ``{"observations": obs, "action_mask": mask}``).
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
        cost: CostMode = "event",
        mask_observation: bool = False,
    ) -> None:
        # Recording the arguments lets gymnasium re-create the wrapper from ``env.spec``.
        gym.utils.RecordConstructorArgs.__init__(
            self, spec=spec, labeler=labeler, observation=observation, reward=reward,
            on_violation=on_violation, gamma=gamma, potential=potential, potentials=potentials,
            penalty=penalty, safe_reward=safe_reward, paper_env_reward=paper_env_reward,
            derived=derived, shield=shield, crm=crm, explain=explain, cost=cost,
            mask_observation=mask_observation,
        )
        _choice("observation", observation, OBSERVATION_MODES)
        _choice("reward", reward, REWARD_MODES)
        _choice("on_violation", on_violation, VIOLATION_MODES)
        check_reward_args(gamma, penalty, safe_reward)
        if mask_observation and shield is None:
            raise ValueError("mask_observation=True needs a shield (shield=...)")
        self.observation_mode = observation
        self.reward_mode = reward
        self.on_violation = on_violation
        self.gamma = float(gamma)
        self.penalty = float(penalty)
        self.safe_reward = float(safe_reward)
        self.paper_env_reward = paper_env_reward
        self.crm = crm
        self.explain = explain
        self.monitor = SpecMonitor(env, spec, labeler, derived=derived, explain=explain, cost=cost)
        stack: gym.Env = self.monitor
        # Layers whose mode is a no-op are left out: each costs a Python call per step.
        if on_violation != "continue":
            stack = ViolationHandler(stack, on_violation)
        self.reward_wrapper: SafeguardReward | None = None
        if reward != "env":
            stack = self.reward_wrapper = SafeguardReward(
                stack, reward, gamma=gamma, potential=potential, potentials=potentials,
                penalty=penalty, safe_reward=safe_reward, paper_env_reward=paper_env_reward,
            )
        self.observation_wrapper: MonitorObservation | None = None
        if observation != "unchanged":
            stack = self.observation_wrapper = MonitorObservation(stack, observation)
        self.shield_wrapper: ActionShield | None = None
        if shield is not None:
            stack = self.shield_wrapper = ActionShield(stack, shield, observation=mask_observation)
        self.crm_wrapper: CounterfactualExperience | None = None
        if crm:
            stack = self.crm_wrapper = CounterfactualExperience(stack)
        # ``self.env`` stays the environment that was wrapped (agents read its spaces and
        # render it); steps go through the stack.
        gym.Wrapper.__init__(self, env)
        self.stack = stack
        self.observation_space = stack.observation_space

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        return self.stack.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        return self.stack.step(action)

    # --- what agents read ------------------------------------------------------------------

    @property
    def labeler(self) -> Labeler:
        return self.monitor.labeler

    @property
    def specs(self) -> dict[str, ActiveSpec]:
        return self.monitor.specs

    @property
    def stats(self) -> dict[str, SpecStats]:
        return self.monitor.stats

    @property
    def n_monitor_states(self) -> int:
        return self.monitor.n_monitor_states

    @property
    def spec_name(self) -> str:
        return self.monitor.spec_name

    @property
    def monitor_state(self) -> int:
        return self.monitor.state

    @property
    def _active(self) -> ActiveSpec:
        return self.monitor.active

    @property
    def shield(self) -> PreShield | None:
        return None if self.shield_wrapper is None else self.shield_wrapper.shield

    def set_spec(self, name: str) -> None:
        """Make ``name`` the active spec from the next ``reset`` on."""
        self.monitor.set_spec(name)

    def encode(self, obs: Any, q: int) -> Any:
        """The agent's observation for env observation ``obs`` and monitor state ``q``
        (before any action mask is added)."""
        return obs if self.observation_wrapper is None else self.observation_wrapper.encode(obs, q)

    def action_masks(self) -> np.ndarray:
        """Bool array over actions, True = allowed by the shield (sb3-contrib's ``MaskablePPO``
        convention). Without a shield, the wrapped env's own ``action_masks``."""
        if self.shield_wrapper is None:
            return self.env.get_wrapper_attr("action_masks")()
        return self.shield_wrapper.action_masks()

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
        crm = self.crm_wrapper
        if crm is None:  # built on demand: the same rules, without stepping through it
            crm = CounterfactualExperience(self.stack)
        return crm.counterfactuals(
            obs, action, next_obs, env_reward, labels, env_terminated, env_truncated
        )

    @property  # gymnasium's Env declares `spec` an attribute, its Wrapper a property
    def spec(self) -> Any:  # type: ignore[override]
        """The base env's spec plus this wrapper (not the layers it is made of, which it
        builds itself when gymnasium re-creates it from the spec), its arguments in their
        JSON forms (:mod:`speclang.runtime.serialise`) so that ``env.spec.to_json()`` and
        ``gym.make(env.spec)`` work."""
        if self._cached_spec is not None:
            return self._cached_spec
        env_spec = self.env.spec
        if env_spec is not None:
            from copy import deepcopy

            from gymnasium.envs.registration import WrapperSpec

            from .serialise import kwargs_to_json

            kwargs = kwargs_to_json({k: v for k, v in self._saved_kwargs.items() if k != "env"})
            wrapper_spec = WrapperSpec(
                name=self.class_name(),
                entry_point=f"{type(self).__module__}:{type(self).__name__}",
                kwargs=kwargs,
            )
            try:
                env_spec = deepcopy(env_spec)
                env_spec.additional_wrappers += (wrapper_spec,)
            except Exception as e:  # noqa: BLE001  (as gymnasium's own Wrapper.spec does)
                gym.logger.warn(f"An exception occurred ({e}) while copying the spec {env_spec}")
                return None
        self._cached_spec = env_spec
        return env_spec
