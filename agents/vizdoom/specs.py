"""The glue between examples/vizdoom.spec and the ViZDoom environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compiler.automaton import Automaton
from runtime.labelers import InfoLabeler, Labeler, VizDoomLabeler

DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "examples" / "vizdoom.spec"
DEFAULT_PROGRESSION = "vizdoom"
# Pickups are events of one step that the environment derives (see agents.vizdoom.env).
EVENT_PROPS = ("medkit", "poison")


def labeler() -> Labeler:
    """Game variables and objects in view from the game, pickups from ``info``."""
    return VizDoomLabeler() | InfoLabeler(list(EVENT_PROPS))


def load_specs(
    path: str | Path = DEFAULT_SPEC,
    names: list[str] | None = None,
    progression: str = DEFAULT_PROGRESSION,
) -> tuple[Any, dict[str, Automaton]]:
    """``(module, {name: automaton})`` for ``names``, by default those of ``progression``."""
    import compiler
    import speclang

    module = speclang.load(str(path))
    if names is None:
        if progression not in module.progressions:
            known = ", ".join(module.progressions) or "none"
            raise ValueError(f"{path}: no progression named {progression!r} (has: {known})")
        names = list(module.progressions[progression])
    unknown = [n for n in names if n not in module.specs]
    if unknown:
        raise ValueError(f"{path}: no spec named {', '.join(map(repr, unknown))}")
    return module, {n: compiler.compile_spec(module, n) for n in names}


def safeguard(env: Any, module: Any, automata: dict[str, Automaton], **kwargs: Any) -> Any:
    """``runtime.SafeguardWrapper`` over ``automata`` with the module's derived propositions;
    the module's spec sources let violation explanations name the broken conjunct."""
    from runtime import SafeguardWrapper

    wrapper = SafeguardWrapper(env, automata, labeler(), derived=module.derived, **kwargs)
    for name, active in wrapper.specs.items():
        active.module = module
        active.source = module.specs.get(name)
    return wrapper
