"""MiniGrid adapter: a labeler for the agent's surroundings and action, and the exact one-step
predictor the pre-shield uses.

Everything here reads the unwrapped MiniGrid env (grid, agent position and direction, carried
object); nothing imports ``minigrid`` until a prediction needs its direction table.

>>> import gymnasium as gym
>>> import minigrid  # registers MiniGrid-*
>>> env = gym.make("MiniGrid-LavaGapS5-v0")
>>> _ = env.reset(seed=1)
>>> lab = MiniGridLabeler()
>>> lab.attach(env)
>>> lab.values(None, {}, env)["front"], lab.values(None, {}, env)["on_lava"]
('lava', False)
>>> [p["on_lava"] for p in MiniGridPredictor(lab).predict(env)]  # only forward steps in
[False, False, True, False, False, False, False]
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from ..labelers import ComparisonLike, Labeler

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

    vector = "per_env"  # reads the environment's own state

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
