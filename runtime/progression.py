"""Active-spec bookkeeping for single specs and progressions of specs.

A *progression* is an ordered list of named specs that a training run moves through (the
progressive safeguards of arXiv 2410.24096). The wrapper monitors one of them at a time; the
active one can be switched between episodes with ``set_spec``, and statistics are kept per
spec so that a meta-learner can decide when to move on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from speclang.compiler.automaton import Automaton, Verdict
from speclang.compiler.kernel import Stepper

from .labelers import Binding, ComparisonLike, Labeler


@dataclass
class SpecStats:
    """Counters for one spec, over every episode it was active in."""

    episodes: int = 0
    steps: int = 0
    violations: int = 0  # steps whose monitor state is the violation sink (cost 1.0)
    violating_episodes: int = 0
    accepted_episodes: int = 0  # episodes that ended in an accepting monitor state
    env_return: float = 0.0  # sum of the environment's own reward

    @property
    def violation_rate(self) -> float:
        """Fraction of finished episodes with at least one violation."""
        return self.violating_episodes / self.episodes if self.episodes else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "violation_rate": self.violation_rate}


class ActiveSpec:
    """One automaton bound to a labeler, flattened into Python lists for per-step speed."""

    def __init__(
        self,
        name: str,
        aut: Automaton,
        labeler: Labeler,
        derived: Mapping[str, ComparisonLike | tuple[str, str, Any]] | None,
    ) -> None:
        self.name = name
        self.aut = aut
        self.source: Any = None  # the spec's definition (speclang.SpecDef), for explanations
        self.module: Any = None
        self.binding = Binding(aut.props, labeler, derived=derived, spec=name)
        # A product monitor (compiler.product) reports every part's verdict as well.
        self.part_verdicts: list[dict[str, str]] | None = None
        if hasattr(aut, "part_verdicts") and hasattr(aut, "part_names"):
            names = aut.part_names
            self.part_verdicts = [
                {n: v.label for n, v in zip(names, aut.part_verdicts(q), strict=True)}
                for q in range(aut.n_states)
            ]
        self.violated = [int(v) == Verdict.VIOLATED for v in aut.verdicts]
        self.accepting = [bool(a) for a in aut.accepting]
        self.verdict_labels = [Verdict(int(v)).label for v in aut.verdicts]
        self._weights = [(p, 1 << i) for i, p in enumerate(aut.props)]
        self.stepper = Stepper(aut)
        # The wrapper's per-step path reads ``next[q][bits]`` (class and delta fused) itself.
        self.next = self.stepper.next
        # ``bits_of(obs, info, env)``: the step's letter as packed bits (a closure, rebuilt
        # after unpickling).
        self.bits_of = self.binding.bits_function()
        # ``{bits: labels}`` of the letters seen so far (Binding.labels_of_bits fills it);
        # callers copy before handing a dict out.
        self.label_dicts = self.binding._label_cache

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "bits_of"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

        # Rebuilt on first use: while unpickling, the labeler may not be restored yet.
        def first_bits(obs: Any, info: Mapping[str, Any], env: Any) -> int:
            self.bits_of = self.binding.bits_function()
            return self.bits_of(obs, info, env)

        self.bits_of = first_bits

    def step_bits(self, q: int, bits: int) -> int:
        """The successor of ``q`` on the letter with packed ``bits``."""
        return self.stepper.step_bits(q, bits)

    def bits(self, labels: Mapping[str, bool]) -> int:
        b = 0
        for p, w in self._weights:
            if labels[p]:
                b |= w
        return b

    def advance(self, q: int, values: Mapping[str, Any]) -> tuple[int, dict[str, bool], int]:
        """``(successor, labels, packed bits)`` from a labeler's raw values: the per-step
        hot path."""
        labels, bits = self.binding.evaluate_bits(values)
        return self.stepper.step_bits(q, bits), labels, bits

    def letter_of_bits(self, bits: int) -> frozenset[str]:
        return frozenset(p for p, w in self._weights if bits & w)

    def step(self, q: int, labels: Mapping[str, bool]) -> int:
        return self.stepper.step_bits(q, self.bits(labels))


@dataclass
class SpecSet:
    """The specs a wrapper can switch between, in order, with per-spec statistics."""

    specs: dict[str, Automaton]
    derived: dict[str, Any] = field(default_factory=dict)
    module: Any = None  # the speclang.Module the specs were compiled from, if any

    @property
    def names(self) -> list[str]:
        return list(self.specs)

    @property
    def max_states(self) -> int:
        return max(a.n_states for a in self.specs.values())


def resolve(spec: Any, derived: Mapping[str, Any] | None = None) -> SpecSet:
    """Accepts an ``Automaton``; a list/tuple of automata or a ``{name: Automaton}`` dict (a
    progression); or ``(module, name)`` where ``name`` is a spec or a progression of a
    ``speclang.Module``, compiled here; or the JSON form of
    :func:`speclang.runtime.serialise.spec_to_json`. ``derived`` adds or overrides derived
    propositions."""
    from .serialise import derived_from_json, is_spec_json, spec_from_json

    extra = dict(derived_from_json(derived) or {})
    if is_spec_json(spec):  # the JSON form a wrapper's spec records (runtime.serialise)
        stored = dict(derived_from_json(spec.get("derived")) or {})
        stored.update(extra)
        return SpecSet(spec_from_json(spec), stored)
    if isinstance(spec, Automaton):
        return SpecSet({spec.name or "spec": spec}, extra)
    if isinstance(spec, Mapping):
        specs = dict(spec)
        _check_automata(specs.values())
        return SpecSet(specs, extra)
    if (
        isinstance(spec, tuple)
        and len(spec) == 2
        and isinstance(spec[1], str)
        and hasattr(spec[0], "specs")
    ):
        module, name = spec
        from speclang.compiler import compile_spec

        mod_derived = dict(getattr(module, "derived", {}) or {})
        mod_derived.update(extra)
        if name in module.specs:
            return SpecSet({name: compile_spec(module, name)}, mod_derived, module)
        progressions = getattr(module, "progressions", {}) or {}
        if name in progressions:
            specs = {n: compile_spec(module, n) for n in progressions[name]}
            return SpecSet(specs, mod_derived, module)
        known = sorted(set(module.specs) | set(progressions))
        raise ValueError(
            f'no spec or progression named "{name}" (the module has: {", ".join(known)})'
        )
    if isinstance(spec, Sequence) and not isinstance(spec, str) and spec:
        _check_automata(spec)
        names = [a.name or f"spec{i}" for i, a in enumerate(spec)]
        if len(set(names)) != len(names):
            raise ValueError(f"the automata of a progression need distinct names, got {names}")
        return SpecSet(dict(zip(names, spec, strict=True)), extra)
    raise TypeError(
        "spec must be an Automaton, a list or dict of automata (a progression), or "
        f"(module, spec_or_progression_name); got {type(spec).__name__}"
    )


def _check_automata(items: Any) -> None:
    for a in items:
        if not isinstance(a, Automaton):
            raise TypeError(f"expected compiler.automaton.Automaton, got {type(a).__name__}")
