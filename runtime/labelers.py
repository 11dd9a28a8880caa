"""Binding the propositions and observables of a spec to what an environment exposes.

A *labeler* turns one environment step ``(obs, info, env)`` into named values: booleans for
propositions, numbers or enum strings for observables. Derived propositions
(``prop low_health = health < 30``) are evaluated by :class:`Binding` from the observable's
value, so a labeler only ever reports raw quantities.

Every labeler says which names it can bind (:meth:`Labeler.knows`), so that a missing
binding is reported when the wrapper is built, naming the proposition, instead of as a
``KeyError`` in the middle of an episode.

>>> lab = InfoLabeler({"on_lava": "lava", "health": "hp"})
>>> b = Binding(("low", "on_lava"), lab, derived={"low": ("health", "<", 30)}, spec="safe")
>>> b.labels(None, {"lava": False, "hp": 12}, None)
{'low': True, 'on_lava': False}
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from speclang.compiler.comparison import Comparison, ComparisonLike


class MissingBindingError(ValueError):
    """A proposition or observable of a spec is not provided by the labeler."""


class LabelingError(RuntimeError):
    """The labeler promised a name but the environment did not deliver it at run time."""


class Labeler:
    """Base class: ``knows(name)`` for wrap-time checks, ``values(obs, info, env)`` per step.

    ``vector`` says how a vector-env wrapper uses the labeler: ``"batched"`` (the default)
    labels all rows in one call from the batched ``obs``/``info``; ``"per_env"`` (labelers
    that read an environment's own state, like MiniGrid's) labels each sub-environment
    separately, right after its own step."""

    vector = "batched"

    def knows(self, name: str) -> bool | None:
        """True/False when decidable before running; None when only the first step tells."""
        raise NotImplementedError

    def known_names(self) -> list[str]:
        """What the labeler can bind, for error messages."""
        return []

    def attach(self, env: Any) -> None:
        """Called once at wrap time with the (unwrapped-reachable) environment."""

    def before_step(self, env: Any, action: Any) -> None:
        """Called by the wrappers just before ``env.step(action)``: labelers describing the
        state an action is taken in, or the action itself, take their snapshot here."""

    def values(self, obs: Any, info: Mapping[str, Any], env: Any) -> Mapping[str, Any]:
        raise NotImplementedError

    def bits_function(
        self, plan: Sequence[tuple[str, str, ComparisonLike | None]]
    ) -> Callable[[Any, Mapping[str, Any], Any], int] | None:
        """Optional fast path for :meth:`Binding.bits_function`: a function
        ``(obs, info, env) -> packed bits`` (bit ``i`` is ``plan[i]``, a ``(prop, source
        name, comparison or None)`` triple) that must agree with evaluating ``values``.
        Built once per spec when the wrapper is made; ``None`` (the default) means
        ``values`` plus :meth:`Binding.bits`."""
        return None

    def describe(self) -> str:
        names = self.known_names()
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        return f"{type(self).__name__} knows: {shown or 'nothing'}"

    def __or__(self, other: Labeler) -> Labeler:
        return CombinedLabeler(self, other)


class InfoLabeler(Labeler):
    """Reads names from the step's ``info`` dict.

    ``mapping`` maps spec names to info keys (``{"on_lava": "lava"}``); a plain list of names
    means each name is its own key. ``defaults`` gives values for keys an ``info`` may lack."""

    def __init__(
        self, mapping: Mapping[str, str] | Iterable[str], defaults: Mapping[str, Any] | None = None
    ) -> None:
        if isinstance(mapping, str):
            raise TypeError("InfoLabeler takes a mapping or a list of names, not a string")
        self.mapping = dict(mapping) if isinstance(mapping, Mapping) else {n: n for n in mapping}
        self.defaults = dict(defaults or {})

    def knows(self, name: str) -> bool:
        return name in self.mapping

    def known_names(self) -> list[str]:
        return sorted(self.mapping)

    def values(self, obs: Any, info: Mapping[str, Any], env: Any) -> dict[str, Any]:
        out = {}
        for name, key in self.mapping.items():
            if key in info:
                out[name] = info[key]
            elif name in self.defaults:
                out[name] = self.defaults[name]
            else:
                raise LabelingError(
                    f'info has no key "{key}" for "{name}" (info keys: {", ".join(map(str, info))})'
                )
        return out


class CallableLabeler(Labeler):
    """Wraps ``fn(obs, info, env) -> {name: value}``. Declare ``names`` to get the missing
    binding check at wrap time; without them it happens on the first step. With
    ``action=True`` the function also sees the step's action: ``fn(obs, info, env, action)``
    (a vector wrapper passes the batch of actions).

    >>> lab = CallableLabeler(lambda o, i, e, a: {"left": a == 0}, ["left"], action=True)
    >>> lab.before_step(None, 0)
    >>> lab.values(None, {}, None)
    {'left': True}
    """

    def __init__(
        self,
        fn: Callable[..., Mapping[str, Any]],
        names: Iterable[str] | None = None,
        *,
        action: bool = False,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"CallableLabeler needs a callable, got {type(fn).__name__}")
        if not isinstance(action, bool):
            raise TypeError(f"action must be a bool, got {type(action).__name__}")
        self.fn = fn
        self.names = None if names is None else frozenset(names)
        self.action = action
        self._action: Any = None

    def before_step(self, env: Any, action: Any) -> None:
        self._action = action

    def knows(self, name: str) -> bool | None:
        return None if self.names is None else name in self.names

    def known_names(self) -> list[str]:
        return sorted(self.names or ())

    def values(self, obs: Any, info: Mapping[str, Any], env: Any) -> Mapping[str, Any]:
        if self.action:
            return self.fn(obs, info, env, self._action)
        return self.fn(obs, info, env)


class CombinedLabeler(Labeler):
    """Several labelers; a name is taken from the first one that knows it."""

    def __init__(self, *parts: Labeler) -> None:
        self.parts = parts
        # One part that reads its own environment makes the combination label per env.
        self.vector = "per_env" if any(p.vector == "per_env" for p in parts) else "batched"

    def knows(self, name: str) -> bool | None:
        answers = [p.knows(name) for p in self.parts]
        if any(a is True for a in answers):
            return True
        return None if any(a is None for a in answers) else False

    def known_names(self) -> list[str]:
        return sorted({n for p in self.parts for n in p.known_names()})

    def attach(self, env: Any) -> None:
        for p in self.parts:
            p.attach(env)

    def before_step(self, env: Any, action: Any) -> None:
        for p in self.parts:
            p.before_step(env, action)

    def values(self, obs: Any, info: Mapping[str, Any], env: Any) -> Mapping[str, Any]:
        # A ChainMap asks each part in turn, so lazily computed values stay lazy.
        return ChainMap(*(p.values(obs, info, env) for p in self.parts))  # type: ignore[arg-type]


class Binding:
    """The propositions of one automaton, bound to a labeler (plus derived comparisons).

    ``letter(obs, info, env)`` returns ``(bool vector over props, {prop: bool})``."""

    def __init__(
        self,
        props: Sequence[str],
        labeler: Labeler,
        *,
        derived: Mapping[str, ComparisonLike | tuple[str, str, Any]] | None = None,
        spec: str | None = None,
    ) -> None:
        if not isinstance(labeler, Labeler):
            raise TypeError(
                f"labeler must be a runtime.labelers.Labeler, got {type(labeler).__name__} "
                "(wrap a function with CallableLabeler)"
            )
        self.props = tuple(props)
        self.labeler = labeler
        self.spec = spec
        self.derived: dict[str, ComparisonLike] = {
            name: Comparison(*c) if isinstance(c, tuple) else c
            for name, c in (derived or {}).items()
        }
        # (prop, source name, comparison or None) per proposition, in props order
        self._plan = [
            (p, self.derived[p].observable if p in self.derived else p, self.derived.get(p))
            for p in self.props
        ]
        self._label_cache: dict[int, dict[str, bool]] = {}
        self._unchecked = [src for _, src, _ in self._plan if labeler.knows(src) is None]
        for prop, src, _ in self._plan:
            if labeler.knows(src) is False:
                raise self._missing(prop, src)

    def _missing(self, prop: str, src: str) -> MissingBindingError:
        what = f'proposition "{prop}"' if src == prop else f'observable "{src}" (for "{prop}")'
        return MissingBindingError(
            f'{what} of spec "{self.spec}" is not bound by the labeler ({self.labeler.describe()})'
        )

    def labels(self, obs: Any, info: Mapping[str, Any], env: Any) -> dict[str, bool]:
        """``{prop: bool}`` for one environment step, in ``props`` order."""
        return self.evaluate(self.labeler.values(obs, info, env))

    def evaluate(self, values: Mapping[str, Any]) -> dict[str, bool]:
        """``{prop: bool}`` from the raw values a labeler (or a predictor) reported."""
        return self.evaluate_bits(values)[0]

    def evaluate_bits(self, values: Mapping[str, Any]) -> tuple[dict[str, bool], int]:
        """``({prop: bool}, packed bits)`` where bit ``i`` is ``props[i]``: the letter in
        both forms, in one pass (this runs on every environment step)."""
        if self._unchecked:
            for prop, src, _ in self._plan:
                if src not in values:
                    raise self._missing(prop, src)
            self._unchecked = []
        labels: dict[str, bool] = {}
        bits = 0
        weight = 1
        for prop, src, cmp in self._plan:
            try:
                raw = values[src]
            except KeyError:
                raise LabelingError(
                    f'the labeler did not report "{src}" for spec "{self.spec}"'
                ) from None
            truth = labels[prop] = cmp.evaluate(raw) if cmp is not None else bool(raw)
            if truth:
                bits |= weight
            weight <<= 1
        return labels, bits

    def bits(self, values: Mapping[str, Any]) -> int:
        """The packed bits of :meth:`evaluate_bits` without building the labels dict."""
        if self._unchecked:
            return self.evaluate_bits(values)[1]
        bits = 0
        weight = 1
        for _, src, cmp in self._plan:
            try:
                raw = values[src]
            except KeyError:
                raise LabelingError(
                    f'the labeler did not report "{src}" for spec "{self.spec}"'
                ) from None
            if (cmp.evaluate(raw) if cmp is not None else raw):
                bits |= weight
            weight <<= 1
        return bits

    def bits_function(self) -> Callable[[Any, Mapping[str, Any], Any], int]:
        """``(obs, info, env) -> packed bits`` for one environment step: the labeler's own
        fast path when it has one (:meth:`Labeler.bits_function`), else ``values`` followed
        by :meth:`bits`. Not picklable (closures): holders rebuild it after unpickling."""
        fast = None if self._unchecked else self.labeler.bits_function(tuple(self._plan))
        if fast is not None:
            return fast
        values, bits = self.labeler.values, self.bits
        return lambda obs, info, env: bits(values(obs, info, env))

    def labels_of_bits(self, bits: int) -> dict[str, bool]:
        """``{prop: bool}`` (a fresh dict, in ``props`` order) of packed ``bits``; equal to
        the labels :meth:`evaluate_bits` returns with those bits. Dicts are built once per
        distinct letter and copied."""
        cache = self._label_cache
        d = cache.get(bits)
        if d is None:
            d = {p: bool(bits >> i & 1) for i, p in enumerate(self.props)}
            if len(cache) < 4096:
                cache[bits] = d
        return d.copy()

    def vector(self, labels: Mapping[str, bool]) -> np.ndarray:
        """The bool vector over ``props`` that automata step on."""
        return np.fromiter((labels[p] for p in self.props), dtype=bool, count=len(self.props))


# The environment adapters live in ``runtime.envs``; these names are still importable from here
# (lazily: the adapters import this module) because code written against the old layout does.
_MOVED = {
    "MiniGridLabeler": "minigrid", "MiniGridValues": "minigrid", "MINIGRID_CELLS": "minigrid",
    "MINIGRID_CARRIED": "minigrid", "MINIGRID_ACTIONS": "minigrid", "DOOR_STATES": "minigrid",
    "DIRECTIONS": "minigrid", "VizDoomLabeler": "vizdoom", "VIZDOOM_VARIABLES": "vizdoom",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"speclang.runtime.envs.{_MOVED[name]}"), name)
    raise AttributeError(f"module 'speclang.runtime.labelers' has no attribute {name!r}")
