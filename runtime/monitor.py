"""``SpecMonitor``: a compiled spec monitor stepped alongside a gymnasium environment.

The innermost of the single-concern safeguard wrappers (``SafeguardWrapper`` composes them):
it reads one letter per environment *step* (the labels of ``(obs, info, env)`` after the step),
advances the monitor, and reports in ``info``. It changes neither observations, rewards nor
termination; the wrappers stacked on it (violation handling, shaping reward, monitor
observation, action shield, counterfactuals) read its state through :attr:`SpecMonitor.state`
and :attr:`SpecMonitor.last`. The reset observation is not a letter, so right after ``reset``
the monitor is in its initial state and its acceptance is that of the empty trace.

Keys added to ``info``:

``cost`` (every step)
    ``cost="event"`` (default): ``1.0`` on the step that enters the violation sink, else
    ``0.0``, so an episode's cost counts its violation events. ``cost="state"``: ``1.0`` on
    every step that ends in the sink. The two differ only when the episode goes on inside the
    sink (no violation handler, or ``on_violation="continue"``); see docs/runtime.md for how
    this relates to Safety-Gymnasium's per-step cost.
``safeguard`` (reset and every step)
    ``{"spec", "state", "verdict", "accepting", "labels", "violated"}`` plus
    ``"explanation"`` on the step entering the sink and ``"parts"`` for product monitors.
``safeguard_episode`` (the last step of every episode, including one a safeguard ended)
    ``{"r": task return (the environment's own, unshaped reward), "l": steps, "t": seconds
    since reset, "cost": the episode's cost, "violations": violation events, "violated":
    bool, "accepted": whether the episode ended in an accepting state, "spec": name}``; the
    ``r``/``l``/``t`` keys are those of gymnasium's ``RecordEpisodeStatistics``.

>>> import gymnasium as gym
>>> from speclang.runtime.build import automaton_from_function
>>> from speclang.runtime.labelers import CallableLabeler
>>> east = automaton_from_function(["west"], 2, lambda q, v: int(q or v["west"]),
...                                accepting=[True, False], name="stay_east")
>>> west = CallableLabeler(lambda obs, info, env: {"west": obs % 4 == 0}, ["west"])
>>> env = SpecMonitor(gym.make("FrozenLake-v1", is_slippery=False), east, west)
>>> _, info = env.reset(seed=0)
>>> info["safeguard"]["state"], info["safeguard"]["verdict"]
(0, 'presumably_satisfied')
>>> [env.step(a)[4]["cost"] for a in (1, 1)]   # down into the west column, down again
[1.0, 0.0]
>>> for a in (2, 2, 1):
...     _ = env.step(a)
>>> obs, reward, terminated, truncated, info = env.step(2)   # reaches the goal
>>> info["safeguard"]["violated"], terminated, env.state
(True, True, 1)
>>> {k: info["safeguard_episode"][k] for k in ("r", "l", "cost", "violations", "violated")}
{'r': 1.0, 'l': 6, 'cost': 1.0, 'violations': 1, 'violated': True}
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

import gymnasium as gym

from .labelers import Labeler
from .progression import ActiveSpec, SpecStats, resolve
from .serialise import labeler_from_json

CostMode = Literal["event", "state"]
COST_MODES = ("event", "state")


class Transition:
    """The monitor's view of the last step, for the wrappers stacked on a :class:`SpecMonitor`
    (one object, overwritten every step: a handful of attribute stores instead of a tuple
    per step)."""

    __slots__ = ("q_prev", "q", "violated", "entered", "labels", "env_reward",
                 "env_terminated", "truncated", "obs", "prev_obs", "action")

    def __init__(self) -> None:
        self.q_prev = self.q = 0
        self.violated = self.entered = False
        self.labels: dict[str, bool] = {}
        self.env_reward = 0.0
        self.env_terminated = self.truncated = False
        self.obs: Any = None
        self.prev_obs: Any = None
        self.action: Any = None


class SpecMonitor(gym.Wrapper):
    """Monitors ``env`` with a compiled spec (or a progression of specs).

    Args:
        env: the environment.
        spec: an ``Automaton``; a list or ``{name: Automaton}`` dict (a progression); or
            ``(module, name)`` with a ``speclang.Module`` and a spec or progression name.
        labeler: a :class:`speclang.runtime.labelers.Labeler` binding every proposition (and
            every observable behind a derived proposition). Missing bindings raise
            ``MissingBindingError`` here, not mid-episode.
        derived: extra derived propositions ``{prop: (observable, op, value)}``.
        explain: attach an explanation sentence to the step entering the violation sink.
        cost: ``"event"`` (default) or ``"state"``, see the module docstring.
    """

    def __init__(
        self,
        env: gym.Env,
        spec: Any,
        labeler: Labeler,
        *,
        derived: Mapping[str, Any] | None = None,
        explain: bool = True,
        cost: CostMode = "event",
    ) -> None:
        super().__init__(env)
        _choice("cost", cost, COST_MODES)
        if not isinstance(explain, bool):
            raise TypeError(f"explain must be a bool, got {type(explain).__name__}")
        self.explain = explain
        self.cost_mode = cost
        self._cost_events = cost == "event"
        specset = resolve(spec, derived)
        labeler = labeler_from_json(labeler)
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
        self._active = next(iter(self.specs.values()))
        self._pending: str | None = None
        self._q = self._active.aut.initial
        self.last = Transition()
        # The episode's letters as packed bits (small ints), kept for explanations.
        self._trace: list[int] = []
        self._active_stats = self.stats[self._active.name]
        self._violated_episode = False
        self._open_episode = False
        self._episode = [0.0, 0, 0.0, 0, 0.0]  # task return, length, cost, events, start time

    # --- the state the other safeguard wrappers read ----------------------------------------

    @property
    def active(self) -> ActiveSpec:
        """The spec monitored in this episode."""
        return self._active

    @property
    def spec_name(self) -> str:
        return self._active.name

    @property
    def state(self) -> int:
        """The monitor state the next step starts from."""
        return self._q

    monitor_state = state

    def reset_state(self) -> None:
        """Back to the initial state, mid-episode (``on_violation="reset_monitor"``)."""
        self._q = self._active.aut.initial

    def set_spec(self, name: str) -> None:
        """Make ``name`` the active spec from the next ``reset`` on."""
        if name not in self.specs:
            raise KeyError(f'no spec "{name}" in this wrapper (it has: {", ".join(self.specs)})')
        self._pending = name

    @property
    def episode_open(self) -> bool:
        return self._open_episode

    # --- gymnasium API -----------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if self._open_episode:
            self._close_episode(self._q)
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
        self._episode = [0.0, 0, 0.0, 0, time.perf_counter()]
        self.last.obs = obs
        info["safeguard"] = {
            "spec": s.name,
            "state": self._q,
            "verdict": s.verdict_labels[self._q],
            "accepting": s.accepting[self._q],
            "labels": {},
            "violated": s.violated[self._q],
        }
        return obs, info

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
        entered = violated and not s.violated[q_prev]
        if self.explain:
            self._trace.append(bits)
        env_reward = float(env_reward)
        env_terminated = bool(env_terminated)
        truncated = bool(truncated)
        cost = 1.0 if (entered if self._cost_events else violated) else 0.0
        info["cost"] = cost
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
            if self.explain and entered:
                sg["explanation"] = self._explanation(s, q_prev)
            self._violated_episode = True
        last = self.last
        last.q_prev, last.q, last.violated, last.entered = q_prev, q, violated, entered
        last.labels, last.env_reward = labels, env_reward
        last.env_terminated, last.truncated = env_terminated, truncated
        last.prev_obs, last.obs, last.action = last.obs, obs, action
        st = self._active_stats
        st.steps += 1
        st.violations += cost != 0.0
        st.env_return += env_reward
        ep = self._episode
        ep[0] += env_reward
        ep[1] += 1
        ep[2] += cost
        ep[3] += entered
        self._q = q
        if env_terminated or truncated:
            self.end_episode(info)
        return obs, env_reward, env_terminated, truncated, info

    # --- episode ends ------------------------------------------------------------------------

    def end_episode(self, info: dict[str, Any]) -> None:
        """Close the episode at the state the last step reached and write
        ``info["safeguard_episode"]``; a wrapper that ends an episode the environment did not
        (a violation handler) calls this with the step's ``info``. Idempotent."""
        if not self._open_episode:
            return
        q = self.last.q
        self._close_episode(q)
        r, length, cost, events, start = self._episode
        info["safeguard_episode"] = {
            "r": r,
            "l": length,
            "t": round(time.perf_counter() - start, 6),
            "cost": cost,
            "violations": events,
            "violated": self._violated_episode,
            "accepted": self._active.accepting[q],
            "spec": self._active.name,
        }

    def _close_episode(self, q: int) -> None:
        st = self.stats[self._active.name]
        st.episodes += 1
        st.violating_episodes += int(self._violated_episode)
        st.accepted_episodes += int(self._active.accepting[q])
        self._open_episode = False

    # --- explanations ------------------------------------------------------------------------

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


def find_monitor(env: Any, who: str) -> SpecMonitor:
    """The :class:`SpecMonitor` in ``env``'s wrapper chain (the safeguard wrappers stack on
    one); a clear error naming ``who`` when there is none."""
    e = env
    while isinstance(e, gym.Wrapper):
        if isinstance(e, SpecMonitor):
            return e
        e = e.env
    raise TypeError(f"{who} wraps an environment that has a SpecMonitor below it; got {env}")


def find_wrapper(env: Any, cls: type, stop: Any = None) -> Any:
    """The first wrapper of type ``cls`` in ``env``'s chain above ``stop``, or None."""
    e = env
    while isinstance(e, gym.Wrapper) and e is not stop:
        if isinstance(e, cls):
            return e
        e = e.env
    return None


def _choice(arg: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{arg} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
