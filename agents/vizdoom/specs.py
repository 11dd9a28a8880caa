"""The glue between examples/vizdoom.spec and the ViZDoom environment."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from speclang.compiler.automaton import Automaton
from speclang.runtime.envs.vizdoom import VizDoomLabeler
from speclang.runtime.labelers import InfoLabeler, Labeler

DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "examples" / "vizdoom.spec"
DEFAULT_PROGRESSION = "vizdoom"
# Pickups are events of one step that the environment derives (see agents.vizdoom.env).
EVENT_PROPS = ("medkit", "poison")
# Game variables the env reports in ``info``, by their runtime.VizDoomLabeler names.
VARIABLES = ("health", "pos_x", "pos_y", "damage_taken")


class StepInfoLabeler(Labeler):
    """Every name straight from the env's ``info`` (a :class:`~agents.vizdoom.env.StepInfo`,
    where the env already put the game variables, pickups and ``sees_<object>``): no second
    read of the game and no copy, which keeps the safeguard's cost per step small."""

    def knows(self, name: str) -> bool:
        return name in VARIABLES or name in EVENT_PROPS or name.startswith("sees_")

    def known_names(self) -> list[str]:
        return [*VARIABLES, *EVENT_PROPS, "sees_<object>"]

    def values(self, obs: Any, info: Mapping[str, Any], env: Any) -> Mapping[str, Any]:
        return info


def labeler(source: str = "info") -> Labeler:
    """The labeler of the VizDoom specs. ``"info"``: everything from the step's ``info``
    (fast); ``"game"``: game variables and objects in view read from the game by
    ``runtime.VizDoomLabeler``, pickups from ``info``. Both give the same labels (tested)."""
    if source == "info":
        return StepInfoLabeler()
    if source == "game":
        return VizDoomLabeler() | InfoLabeler(list(EVENT_PROPS))
    raise ValueError(f"source must be 'info' or 'game'; got {source!r}")


def load_specs(
    path: str | Path = DEFAULT_SPEC,
    names: list[str] | None = None,
    progression: str = DEFAULT_PROGRESSION,
) -> tuple[Any, dict[str, Automaton]]:
    """``(module, {name: automaton})`` for ``names``, by default those of ``progression``."""
    from speclang import compiler
    from speclang.loader import load

    module = load(str(path))
    if names is None:
        if progression not in module.progressions:
            known = ", ".join(module.progressions) or "none"
            raise ValueError(f"{path}: no progression named {progression!r} (has: {known})")
        names = list(module.progressions[progression])
    unknown = [n for n in names if n not in module.specs]
    if unknown:
        raise ValueError(f"{path}: no spec named {', '.join(map(repr, unknown))}")
    return module, {n: compiler.compile_spec(module, n) for n in names}


def safeguard(
    env: Any, module: Any, automata: dict[str, Automaton], *, source: str = "info", **kwargs: Any
) -> Any:
    """``runtime.SafeguardWrapper`` over ``automata`` with the module's derived propositions
    and :func:`labeler` ``(source)``; the module's spec sources let violation explanations
    name the broken conjunct."""
    from speclang.runtime import SafeguardWrapper

    wrapper = SafeguardWrapper(env, automata, labeler(source), derived=module.derived, **kwargs)
    for name, active in wrapper.specs.items():
        active.module = module
        active.source = module.specs.get(name)
    return wrapper
