"""A spec means exactly what its hand expansion means.

Random spec files with definitions and templates (plain names, parameters, nested calls,
`last` and `first`, pure past and mixed bodies, `true`/`false` leaves that the IR simplifies
away) are compared with the spec the test expands by hand: every definition use replaced by
its body in parentheses, every parameter by its argument in parentheses. Both are checked
(E025 rules the spec out in both or in neither) and, when they compile, must have the same
state count, the same empty-trace acceptance and the same language (the product search of
languages.py: every trace of every length).

``SPECLANG_EXPANSION_DIFF_SPECS`` sets how many files are drawn (150 in CI),
``SPECLANG_EXPANSION_DIFF_SEED`` the seed.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from languages import difference, of_automaton

import speclang
from speclang.compiler import compile_spec

COUNT = int(os.environ.get("SPECLANG_EXPANSION_DIFF_SPECS", "150"))
SEED = int(os.environ.get("SPECLANG_EXPANSION_DIFF_SEED", "5"))
PROPS = ("a", "b", "c")

_LEAVES = ["true", "false", "last", "first", "end"]
_PAST_UNARY = ["Y", "Z", "O", "H"]
_FUTURE_UNARY = ["X", "WX", "F", "G"]
_BOOL_BINARY = ["&", "|", "->", "<->", "^"]
_PAST_BINARY = ["S", "T"]
_FUTURE_BINARY = ["U", "R", "W", "M"]


@dataclass
class Def:
    name: str
    params: tuple[str, ...] | None
    body: tuple  # a tree: ("leaf", text) | ("use", name, args) | (op, *children)


class Drawer:
    """Random formula trees; ``future`` False draws pure past (with Boolean connectives)."""

    def __init__(self, rng: random.Random, defs: list[Def]) -> None:
        self.rng = rng
        self.defs = defs

    def tree(self, depth: int, params: tuple[str, ...], future: bool) -> tuple:
        rng = self.rng
        if depth == 0 or rng.random() < 0.2:
            r = rng.random()
            if params and r < 0.35:
                return ("leaf", rng.choice(params))
            if r < 0.55:
                leaves = _LEAVES if future else ["true", "false", "first"]
                return ("leaf", rng.choice(leaves))
            return ("leaf", rng.choice(PROPS))
        usable = [d for d in self.defs if future or d.name.startswith("p")]
        if usable and rng.random() < 0.3:
            d = rng.choice(usable)
            args = tuple(self.tree(depth - 1, params, future) for _ in d.params or ())
            return ("use", d.name, args)
        unary = ["!", *_PAST_UNARY] + (_FUTURE_UNARY if future else [])
        binary = _BOOL_BINARY + _PAST_BINARY + (_FUTURE_BINARY if future else [])
        if rng.random() < 0.4:
            return (rng.choice(unary), self.tree(depth - 1, params, future))
        return (rng.choice(binary), self.tree(depth - 1, params, future),
                self.tree(depth - 1, params, future))


def written(t: tuple) -> str:
    if t[0] == "leaf":
        return t[1]
    if t[0] == "use":
        return t[1] + ("(" + ", ".join(written(a) for a in t[2]) + ")" if t[2] else "")
    if len(t) == 2:
        return f"{t[0]}({written(t[1])})"
    return f"({written(t[1])}) {t[0]} ({written(t[2])})"


def expanded(t: tuple, defs: dict[str, Def], env: dict[str, str]) -> str:
    """The textual expansion: uses replaced by bodies, parameters by arguments."""
    if t[0] == "leaf":
        return f"({env[t[1]]})" if t[1] in env else t[1]
    if t[0] == "use":
        d = defs[t[1]]
        inner = {p: expanded(a, defs, env) for p, a in zip(d.params or (), t[2], strict=True)}
        return f"({expanded(d.body, defs, inner)})"
    if len(t) == 2:
        return f"{t[0]}({expanded(t[1], defs, env)})"
    return f"({expanded(t[1], defs, env)}) {t[0]} ({expanded(t[2], defs, env)})"


def draw_file(rng: random.Random) -> tuple[str, str]:
    """(a spec file with definitions, the same spec expanded by hand)."""
    defs: list[Def] = []
    drawer = Drawer(rng, defs)
    for i in range(rng.randint(1, 4)):
        past_only = rng.random() < 0.4
        params = None if rng.random() < 0.4 else tuple(f"x{j}" for j in range(rng.randint(1, 2)))
        body = drawer.tree(rng.randint(1, 3), params or (), not past_only)
        # "p..." definitions are pure past as drawn, so pure-past specs can use them
        defs.append(Def(("p" if past_only else "d") + str(i), params, body))
    spec = drawer.tree(rng.randint(1, 3), (), rng.random() < 0.6)
    lines = ["props a, b, c"]
    for d in defs:
        head = d.name + (f"({', '.join(d.params)})" if d.params else "")
        lines.append(f"def {head} = {written(d.body)}")
    lines.append(f"spec s {{ {written(spec)} }}")
    by_name = {d.name: d for d in defs}
    return "\n".join(lines) + "\n", f"props a, b, c\nspec s {{ {expanded(spec, by_name, {})} }}\n"


def test_specs_with_definitions_mean_their_hand_expansion() -> None:
    rng = random.Random(SEED)
    compiled = rejected = 0
    for _ in range(COUNT):
        with_defs, by_hand = draw_file(rng)
        # keep_going: a definition no spec uses may have an error (E025) of its own
        m1 = speclang.loads(with_defs, "<spec>", keep_going=True)
        m2 = speclang.loads(by_hand, "<spec>", keep_going=True)
        where = f"{with_defs}\nexpanded: {by_hand}"
        assert ("s" in m1.rejected) == ("s" in m2.rejected), where
        if "s" in m1.rejected:
            rejected += 1
            continue
        a1, a2 = compile_spec(m1, "s"), compile_spec(m2, "s")
        assert a1.n_states == a2.n_states, where
        assert bool(a1.accepting[a1.initial]) == bool(a2.accepting[a2.initial]), where
        trace = difference(of_automaton(a1), of_automaton(a2), PROPS)
        assert trace is None, f"{where}\ndiffer on {[sorted(x) for x in trace]}"
        compiled += 1
    print(f"{compiled + rejected} spec files (seed {SEED}): {compiled} compiled and equal to "
          f"their expansion, {rejected} rejected by both (E025)")
    assert compiled > COUNT // 3
