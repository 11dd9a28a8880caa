"""ViZDoom adapter: game variables and objects in view as labeler values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..labelers import Labeler

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

    vector = "per_env"  # reads the environment's own state

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
