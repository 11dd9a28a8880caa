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

import operator
from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np


class MissingBindingError(ValueError):
    """A proposition or observable of a spec is not provided by the labeler."""


class LabelingError(RuntimeError):
    """The labeler promised a name but the environment did not deliver it at run time."""


class ComparisonLike(Protocol):
    observable: str

    def evaluate(self, value: Any) -> bool: ...


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class Comparison:
    """``observable op value``: a derived proposition given without a parsed module."""

    def __init__(self, observable: str, op: str, value: Any) -> None:
        if op not in _OPS:
            raise ValueError(f"comparison operator must be one of {sorted(_OPS)}, not {op!r}")
        self.observable, self.op, self.value = observable, op, value
        self._fn = _OPS[op]

    def evaluate(self, value: Any) -> bool:
        return bool(self._fn(value, self.value))

    def __repr__(self) -> str:
        return f"Comparison({self.observable!r}, {self.op!r}, {self.value!r})"

    def __reduce__(self) -> tuple:
        return (Comparison, (self.observable, self.op, self.value))


class Labeler:
    """Base class: ``knows(name)`` for wrap-time checks, ``values(obs, info, env)`` per step."""

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
    binding check at wrap time; without them it happens on the first step."""

    def __init__(
        self,
        fn: Callable[[Any, Mapping[str, Any], Any], Mapping[str, Any]],
        names: Iterable[str] | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"CallableLabeler needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.names = None if names is None else frozenset(names)

    def knows(self, name: str) -> bool | None:
        return None if self.names is None else name in self.names

    def known_names(self) -> list[str]:
        return sorted(self.names or ())

    def values(self, obs: Any, info: Mapping[str, Any], env: Any) -> Mapping[str, Any]:
        return self.fn(obs, info, env)


class CombinedLabeler(Labeler):
    """Several labelers; a name is taken from the first one that knows it."""

    def __init__(self, *parts: Labeler) -> None:
        self.parts = parts

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


# --- MiniGrid --------------------------------------------------------------------------------

MINIGRID_CELLS = ("empty", "wall", "floor", "door", "key", "ball", "box", "goal", "lava")
MINIGRID_CARRIED = ("nothing", "key", "ball", "box")
_UNSET: Any = object()


# MiniGrid's DIR_TO_VEC as plain ints (0 = east, 1 = south, 2 = west, 3 = north): numpy
# scalars would cost more than the rest of the labelling.
DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))
MINIGRID_ACTIONS = ("left", "right", "forward", "pickup", "drop", "toggle", "done")
DOOR_STATES = ("open", "closed", "locked")


class MiniGridLabeler(Labeler):
    """Propositions and observables of a MiniGrid agent's surroundings and action.

    Observables: ``front`` and ``on`` (cell type in front of / under the agent, one of
    ``MINIGRID_CELLS``), ``carrying`` (one of ``MINIGRID_CARRIED``), ``door_state`` (of the
    door in front, else of the grid's first door: ``open``/``closed``/``locked``, or
    ``none`` without doors).
    Propositions: ``front_is_<cell>``, ``on_<cell>``, ``carrying_<thing>``,
    ``front_door_open``, ``front_door_locked``, ``door_open`` / ``door_locked`` (some door of
    the grid is open / locked), ``at_goal`` (= ``on_goal``), and one proposition per action
    (``left``, ``right``, ``forward``, ``pickup``, ``drop``, ``toggle``, ``done``) true for
    the action of this step.

    ``view="after"`` (default) describes the state the step leads to (``on_lava`` after
    walking into lava); ``view="before"`` the state the action was taken in, which is what
    action specs like ``G !(front == lava & forward)`` mean.
    """

    def __init__(self, view: str = "after") -> None:
        if view not in ("before", "after"):
            raise ValueError(f'view must be "before" or "after", not {view!r}')
        self.view = view
        names = {"front", "on", "carrying", "door_state", "door_open", "door_locked", "at_goal"}
        names |= {"front_door_open", "front_door_locked"}
        names |= {f"front_is_{c}" for c in MINIGRID_CELLS} | {f"on_{c}" for c in MINIGRID_CELLS}
        names |= {f"carrying_{c}" for c in MINIGRID_CARRIED} | set(MINIGRID_ACTIONS)
        self._names = frozenset(names)
        assert self._names == frozenset(_MINIGRID_FNS)
        self._grid: Any = None
        self._doors: list[Any] = []
        self._action: int | None = None
        self._before: MiniGridValues | None = None
        self._env: Any = None
        self._base: Any = None

    def knows(self, name: str) -> bool:
        return name in self._names

    def known_names(self) -> list[str]:
        return sorted(self._names)

    def attach(self, env: Any) -> None:
        u = env.unwrapped
        if not hasattr(u, "grid") or not hasattr(u, "agent_pos"):
            raise TypeError(f"MiniGridLabeler needs a MiniGrid environment, got {type(u).__name__}")

    def __getstate__(self) -> dict[str, Any]:
        drop: dict[str, Any] = {
            "_grid": None, "_doors": [], "_before": None, "_env": None, "_base": None
        }
        return {**self.__dict__, **drop}

    def _unwrapped(self, env: Any) -> Any:
        # ``env.unwrapped`` walks the whole wrapper chain; the labeler asks every step.
        if env is not self._env:
            self._env, self._base = env, env.unwrapped
        return self._base

    def _door_list(self, grid: Any) -> list[Any]:
        # Doors never move within an episode and every reset builds a new grid object; the
        # reference to the grid keeps its id from being reused by the next one.
        if grid is not self._grid:
            self._doors = [c for c in grid.grid if c is not None and c.type == "door"]
            self._grid = grid
        return self._doors

    def before_step(self, env: Any, action: Any) -> None:
        self._action = action if type(action) is int else None if action is None else int(action)
        if self.view == "before":
            u = self._unwrapped(env)
            self._before = self.state_values(env, u.agent_pos, u.agent_dir, u.carrying)

    def state_values(
        self,
        env: Any,
        pos: Any,
        direction: int,
        carrying: Any,
        *,
        front_cell: Any = _UNSET,
        door: tuple[Any, bool, bool] | None = None,
        action: int | None = None,
    ) -> MiniGridValues:
        """The labels the agent would see at ``pos`` facing ``direction`` holding
        ``carrying`` after taking ``action``. The one-step predictor passes ``front_cell``
        (what the front cell would hold after a pickup/drop) and ``door`` =
        ``(door, is_open, is_locked)`` (a door's state after a toggle)."""
        grid = self._unwrapped(env).grid
        cells, width = grid.grid, grid.width
        x, y = int(pos[0]), int(pos[1])
        dx, dy = DIRECTIONS[direction]
        fx, fy = x + dx, y + dy
        if front_cell is _UNSET:
            inside = 0 <= fx < width and 0 <= fy < grid.height
            front_cell = cells[fy * width + fx] if inside else None
        on_cell = cells[y * width + x]

        def state(d: Any) -> tuple[bool, bool]:
            if door is not None and d is door[0]:
                return door[1], door[2]
            return bool(d.is_open), bool(d.is_locked)

        front = "empty" if front_cell is None else front_cell.type
        doors = self._door_list(grid)
        return MiniGridValues(
            _Facts(
                front,
                "empty" if on_cell is None else on_cell.type,
                "nothing" if carrying is None else carrying.type,
                state(front_cell) if front == "door" else None,
                tuple(state(d) for d in doors) if doors else (),
                action,
            )
        )

    def values(self, obs: Any, info: Mapping[str, Any], env: Any) -> MiniGridValues:
        if self.view == "before" and self._before is not None:
            return self._before.with_action(self._action)
        u = self._unwrapped(env)
        return self.state_values(env, u.agent_pos, u.agent_dir, u.carrying, action=self._action)

    def bits_function(
        self, plan: Sequence[tuple[str, str, ComparisonLike | None]]
    ) -> Callable[[Any, Mapping[str, Any], Any], int]:
        """Packed bits straight from the environment, computing only the facts the bound
        names need (``on_lava`` and ``forward`` never look at doors); agrees with
        ``values`` (tested in ``tests/runtime/test_runtime_labelers.py``)."""
        needs: set[str] = set()
        eq: list[tuple[int, Any, int]] = []  # (fact index, value, bit): fact == value
        other: list[tuple[Callable[[_Facts], Any], ComparisonLike | None, int]] = []
        for i, (_, src, cmp) in enumerate(plan):
            needs |= _MINIGRID_NEEDS[src]
            simple = _MINIGRID_EQ.get(src)
            if cmp is None and simple is not None:
                eq.append((_Facts._fields.index(simple[0]), simple[1], 1 << i))
            else:
                other.append((_MINIGRID_FNS[src], cmp, 1 << i))
        eq_t, other_t = tuple(eq), tuple(other)
        need_fd = "front_door" in needs
        need_front = need_fd or "front" in needs
        need_on = "on" in needs
        need_held = "held" in needs
        need_doors = "doors" in needs
        before = self.view == "before"
        lab = self
        # (grid, its cell list, width, height): a grid object lives for one episode
        layout: list[Any] = [None, None, 0, 0]

        def bits(obs: Any, info: Mapping[str, Any], env: Any) -> int:
            f: tuple[Any, ...]
            if before and lab._before is not None:
                f = lab._before.facts[:5] + (lab._action,)
            else:
                u = lab._base if env is lab._env else lab._unwrapped(env)
                grid = u.grid
                front = on = held = fd = doors = None
                if need_front or need_on:
                    if grid is layout[0]:
                        cells, width, height = layout[1], layout[2], layout[3]
                    else:
                        cells, width, height = grid.grid, grid.width, grid.height
                        layout[:] = grid, cells, width, height
                    pos = u.agent_pos
                    x, y = int(pos[0]), int(pos[1])
                    if need_on:
                        cell = cells[y * width + x]
                        on = "empty" if cell is None else cell.type
                    if need_front:
                        dx, dy = DIRECTIONS[u.agent_dir]
                        fx, fy = x + dx, y + dy
                        if 0 <= fx < width and 0 <= fy < height:
                            cell = cells[fy * width + fx]
                            front = "empty" if cell is None else cell.type
                            if need_fd and front == "door":
                                fd = (bool(cell.is_open), bool(cell.is_locked))
                        else:
                            front = "empty"
                if need_held:
                    c = u.carrying
                    held = "nothing" if c is None else c.type
                if need_doors:
                    ds = lab._door_list(grid)
                    doors = tuple((bool(d.is_open), bool(d.is_locked)) for d in ds) if ds else ()
                f = (front, on, held, fd, doors, lab._action)
            b = 0
            for i, value, w in eq_t:
                if f[i] == value:
                    b |= w
            if other_t:
                nf = _Facts._make(f)
                for fn, cmp, w in other_t:
                    raw = fn(nf)
                    if cmp.evaluate(raw) if cmp is not None else raw:
                        b |= w
            return b

        return bits


class _Facts(NamedTuple):
    front: str
    on: str
    held: str
    front_door: tuple[bool, bool] | None  # (open, locked) of the door in front
    doors: tuple[tuple[bool, bool], ...]  # (open, locked) of every door of the grid
    action: int | None


def _door_state(d: tuple[bool, bool] | None) -> str:
    return "none" if d is None else "open" if d[0] else "locked" if d[1] else "closed"


def _equals(fact: str, value: Any) -> Callable[[_Facts], bool]:
    get = operator.attrgetter(fact)
    return lambda f: bool(get(f) == value)


_MINIGRID_FNS: dict[str, Callable[[_Facts], Any]] = {
    "front": lambda f: f.front,
    "on": lambda f: f.on,
    "carrying": lambda f: f.held,
    "at_goal": lambda f: f.on == "goal",
    "front_door_open": lambda f: f.front_door is not None and f.front_door[0],
    "front_door_locked": lambda f: f.front_door is not None and f.front_door[1],
    "door_open": lambda f: any(o for o, _ in f.doors),
    "door_locked": lambda f: any(lk for _, lk in f.doors),
    "door_state": lambda f: _door_state(
        f.front_door if f.front_door is not None else (f.doors[0] if f.doors else None)
    ),
    **{f"front_is_{c}": _equals("front", c) for c in MINIGRID_CELLS},
    **{f"on_{c}": _equals("on", c) for c in MINIGRID_CELLS},
    **{f"carrying_{c}": _equals("held", c) for c in MINIGRID_CARRIED},
    **{a: _equals("action", i) for i, a in enumerate(MINIGRID_ACTIONS)},
}


# The facts each name reads, and the names that are ``fact == value`` tests.
_MINIGRID_NEEDS: dict[str, frozenset[str]] = {
    "front": frozenset({"front"}),
    "on": frozenset({"on"}),
    "carrying": frozenset({"held"}),
    "at_goal": frozenset({"on"}),
    "front_door_open": frozenset({"front_door"}),
    "front_door_locked": frozenset({"front_door"}),
    "door_open": frozenset({"doors"}),
    "door_locked": frozenset({"doors"}),
    "door_state": frozenset({"front_door", "doors"}),
    **{f"front_is_{c}": frozenset({"front"}) for c in MINIGRID_CELLS},
    **{f"on_{c}": frozenset({"on"}) for c in MINIGRID_CELLS},
    **{f"carrying_{c}": frozenset({"held"}) for c in MINIGRID_CARRIED},
    **{a: frozenset({"action"}) for a in MINIGRID_ACTIONS},
}
_MINIGRID_EQ: dict[str, tuple[str, Any]] = {
    "at_goal": ("on", "goal"),
    **{f"front_is_{c}": ("front", c) for c in MINIGRID_CELLS},
    **{f"on_{c}": ("on", c) for c in MINIGRID_CELLS},
    **{f"carrying_{c}": ("held", c) for c in MINIGRID_CARRIED},
    **{a: ("action", i) for i, a in enumerate(MINIGRID_ACTIONS)},
}
assert set(_MINIGRID_NEEDS) == set(_MINIGRID_FNS)


class MiniGridValues(dict):
    """Labels computed on first access from a handful of facts, so a spec that reads two
    propositions does not pay for forty (the wrapper's per-step budget is microseconds)."""

    __slots__ = ("facts",)

    def __init__(self, facts: _Facts) -> None:
        super().__init__()
        self.facts = facts

    def __missing__(self, key: str) -> Any:
        fn = _MINIGRID_FNS.get(key)
        if fn is None:
            raise KeyError(key)
        value = self[key] = fn(self.facts)
        return value

    def __contains__(self, key: object) -> bool:
        return key in _MINIGRID_FNS

    def with_action(self, action: int | None) -> MiniGridValues:
        return MiniGridValues(self.facts._replace(action=action))

    def full(self) -> dict[str, Any]:
        """Every label, computed eagerly."""
        return {name: self[name] for name in _MINIGRID_FNS}


# --- VizDoom ---------------------------------------------------------------------------------

VIZDOOM_VARIABLES = {
    "health": "HEALTH",
    "armor": "ARMOR",
    "pos_x": "POSITION_X",
    "pos_y": "POSITION_Y",
    "pos_z": "POSITION_Z",
    "angle": "ANGLE",
    "damage_taken": "DAMAGE_TAKEN",
    "damage_count": "DAMAGECOUNT",
    "kill_count": "KILLCOUNT",
    "hit_count": "HITCOUNT",
    "hits_taken": "HITS_TAKEN",
    "dead": "DEAD",
    "selected_weapon": "SELECTED_WEAPON",
    "selected_weapon_ammo": "SELECTED_WEAPON_AMMO",
    "item_count": "ITEMCOUNT",
    **{f"weapon{i}": f"WEAPON{i}" for i in range(10)},
    **{f"ammo{i}": f"AMMO{i}" for i in range(10)},
}


class VizDoomLabeler(Labeler):
    """Game variables and objects in view of a ViZDoom game.

    Observables bind to game variables by the names in ``VIZDOOM_VARIABLES`` (``health`` ->
    ``HEALTH``, ``pos_x`` -> ``POSITION_X`` ...), by ``variables`` overrides, or by the
    variable's own name in lower case. Propositions ``sees_<object>`` are true when an
    object whose ``object_name`` lower-cases to ``<object>`` is in the labels buffer
    (``sees_medikit``); ``objects`` maps other proposition names to object names.

    ``game`` is a ``vizdoom.DoomGame``; when omitted, ``env.unwrapped.game`` is used.
    Only variables the game makes available (``game.get_available_game_variables()``) are
    bound, so asking for ``armor`` when the scenario does not expose ARMOR fails at wrap time.
    """

    def __init__(
        self,
        game: Any = None,
        *,
        variables: Mapping[str, str] | None = None,
        objects: Mapping[str, str] | None = None,
    ) -> None:
        self.game = game
        self.variables = {**VIZDOOM_VARIABLES, **(variables or {})}
        self.objects = {k: v.lower() for k, v in (objects or {}).items()}
        self._index: dict[str, int] = {}
        self._last: dict[str, Any] = {}
        if game is not None:
            self._index_variables()

    def _index_variables(self) -> None:
        available = [
            getattr(v, "name", str(v)).split(".")[-1]
            for v in self.game.get_available_game_variables()
        ]
        self._index = {}
        for i, var in enumerate(available):
            self._index[var.lower()] = i
        for name, var in self.variables.items():
            if var in available:
                self._index[name] = available.index(var)

    def attach(self, env: Any) -> None:
        if self.game is None:
            game = getattr(env.unwrapped, "game", None)
            if game is None:
                raise TypeError("VizDoomLabeler needs game= or an env with .unwrapped.game")
            self.game = game
        self._index_variables()

    def knows(self, name: str) -> bool:
        if name in self.objects or name.startswith("sees_"):
            return self._labels_enabled()
        return name in self._index

    def _labels_enabled(self) -> bool:
        # Objects in view come from the labels buffer, which scenarios must switch on.
        check = getattr(self.game, "is_labels_buffer_enabled", None)
        return True if check is None else bool(check())

    def known_names(self) -> list[str]:
        objects = sorted(self.objects) + ["sees_<object>"] if self._labels_enabled() else []
        return sorted(self._index) + objects

    def __getstate__(self) -> dict[str, Any]:
        # A DoomGame cannot be pickled; the copy re-attaches to its own env's game.
        return {**self.__dict__, "game": None, "_last": {}}

    def values(self, obs: Any, info: Mapping[str, Any], env: Any) -> Mapping[str, Any]:
        state = self.game.get_state()
        if state is None:  # episode over: the final step keeps the last values seen
            return self._last
        gv = state.game_variables
        out: dict[str, Any] = {name: float(gv[i]) for name, i in self._index.items()}
        seen = {str(lab.object_name).lower() for lab in (state.labels or ())}
        out.update({p: obj in seen for p, obj in self.objects.items()})
        for obj in seen:
            out[f"sees_{obj}"] = True
        self._last = _DefaultFalse(out)
        return self._last


class _DefaultFalse(dict):
    """Values where an unseen ``sees_*`` object reads as false."""

    def __missing__(self, key: str) -> bool:
        if key.startswith("sees_"):
            return False
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (isinstance(key, str) and key.startswith("sees_"))
