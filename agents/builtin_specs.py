"""The four Minecraft safety specs written directly as transition tables.

They are an independent reading of ``examples/minecraft.spec`` (hand-coded memory flags, no
formula machinery), used (a) as the oracle the compiled monitors are checked against and
(b) by experiments that set ``specs.source = "builtin"`` so that agent work does not depend
on the compiler. Tables are not minimised; only their languages matter.

Memory flags, updated with the current letter *before* the hazards are checked (``O`` in
the spec includes the present step):
  w  wood seen;  i  iron seen at or after wood;
  A  work bench at or after wood (lava unlocked);  B  smith table at or after i (creepers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from speclang.compiler.automaton import Automaton
from speclang.runtime.build import automaton_from_function

Letter = Mapping[str, bool]

MINECRAFT_PROPS = ("creeper", "iron", "lava", "smith_table", "wood", "work_bench")

Flags = tuple[bool, bool, bool, bool]
_STATES: list[Flags] = [
    (w, i, a, b)
    for w in (False, True)
    for i in (False, True)
    for a in (False, True)
    for b in (False, True)
]
_SINK = len(_STATES)


def _update(f: Flags, L: Letter) -> Flags:
    w = f[0] or L["wood"]
    i = f[1] or (L["iron"] and w)
    a = f[2] or (L["work_bench"] and w)
    b = f[3] or (L["smith_table"] and i)
    return (w, i, a, b)


def _flag_automaton(
    name: str,
    violates: Callable[[Flags, Letter], bool],
    accepts: Callable[[Flags], bool] = lambda f: True,
) -> Automaton:
    def step(q: int, L: Letter) -> int:
        if q == _SINK:
            return _SINK
        f = _update(_STATES[q], L)
        return _SINK if violates(f, L) else _STATES.index(f)

    accepting = [accepts(f) for f in _STATES] + [False]
    return automaton_from_function(
        MINECRAFT_PROPS, len(_STATES) + 1, step, accepting=accepting, name=name, renumber=True
    )


def _hazard(L: Letter) -> bool:
    return L["lava"] or L["creeper"]


def minecraft_progression() -> list[Automaton]:
    return [
        # T1: never lava, never a creeper.
        _flag_automaton("t1", lambda f, L: _hazard(L)),
        # T2: as T1, and (as an obligation that only decides acceptance) wood is collected.
        _flag_automaton("t2", lambda f, L: _hazard(L), accepts=lambda f: f[0]),
        # T3: creepers never; lava only once the bench route is complete.
        _flag_automaton("t3", lambda f, L: L["creeper"] or (L["lava"] and not f[2])),
        # T4: lava needs the bench route, creepers need the smith route.
        _flag_automaton(
            "t4", lambda f, L: (L["lava"] and not f[2]) or (L["creeper"] and not f[3])
        ),
    ]
