"""Building small :class:`~compiler.automaton.Automaton` objects by hand.

The compiler produces automata from formulas; this module exists for the cases where a user
(or a test) already knows the machine: a reward-machine-like monitor written as a Python
transition function. The result is a complete DFA with verdicts derived from reachability;
it is *not* minimised (that is the compiler's job).

>>> aut = automaton_from_function(
...     ["door", "key"], 3,
...     lambda q, v: 2 if q == 2 or (q == 0 and v["door"]) else (1 if v["key"] else q),
...     accepting=[True, True, False])
>>> aut.step(0, {"key"}), aut.step(0, {"door"}), aut.verdict(2).label
(1, 2, 'violated')
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from compiler.automaton import Automaton, Verdict


def verdicts_from_graph(
    successors: Sequence[Sequence[int]], accepting: Sequence[bool]
) -> np.ndarray:
    """Four-valued verdicts: can an accepting / a rejecting state still be reached?"""
    n = len(accepting)

    def reach(targets: set[int]) -> set[int]:
        # backward closure: every state with a path into ``targets``
        preds: list[set[int]] = [set() for _ in range(n)]
        for q, succ in enumerate(successors):
            for t in succ:
                preds[t].add(q)
        seen = set(targets)
        stack = list(targets)
        while stack:
            for p in preds[stack.pop()]:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return seen

    can_accept = reach({q for q in range(n) if accepting[q]})
    can_reject = reach({q for q in range(n) if not accepting[q]})
    out = np.empty(n, dtype=np.int8)
    for q in range(n):
        if accepting[q]:
            out[q] = Verdict.PRESUMABLY_SATISFIED if q in can_reject else Verdict.SATISFIED
        else:
            out[q] = Verdict.PRESUMABLY_VIOLATED if q in can_accept else Verdict.VIOLATED
    return out


def automaton_from_function(
    props: Sequence[str],
    n_states: int,
    transition: Callable[[int, Mapping[str, bool]], int],
    *,
    accepting: Sequence[bool],
    name: str | None = None,
    residuals: Sequence[str] | None = None,
) -> Automaton:
    """An automaton whose state ``q`` moves to ``transition(q, {prop: bool})``.

    Enumerates all ``2**len(props)`` letters, so keep ``props`` small (at most 16).
    ``props`` are sorted, as the :class:`Automaton` contract requires."""
    props = tuple(sorted(props))
    if len(props) > 16:
        raise ValueError("automaton_from_function enumerates letters: at most 16 propositions")
    if len(accepting) != n_states:
        raise ValueError(f"accepting has {len(accepting)} entries for {n_states} states")
    var: list[int] = []
    lo: list[int] = []
    hi: list[int] = []
    unique: dict[tuple[int, int, int], int] = {}

    def node(v: int, a: int, b: int) -> int:
        key = (v, a, b)
        if key not in unique:
            unique[key] = len(var)
            var.append(v)
            lo.append(a)
            hi.append(b)
        return unique[key]

    def build(q: int, i: int, fixed: dict[str, bool]) -> int:
        if i == len(props):
            target = transition(q, dict(fixed))
            if not 0 <= target < n_states:
                raise ValueError(f"transition({q}, {fixed}) = {target} is not a state")
            return node(-1, int(target), 0)
        a = build(q, i + 1, {**fixed, props[i]: False})
        b = build(q, i + 1, {**fixed, props[i]: True})
        return a if a == b else node(i, a, b)

    roots = [build(q, 0, {}) for q in range(n_states)]
    successors = []
    for q in range(n_states):
        succ = {
            transition(q, dict(zip(props, bits, strict=True)))
            for bits in itertools.product((False, True), repeat=len(props))
        }
        successors.append(sorted(succ))
    acc = np.asarray(accepting, dtype=bool)
    return Automaton(
        props=props,
        accepting=acc,
        verdicts=verdicts_from_graph(successors, list(acc)),
        residuals=tuple(residuals or (f"q{q}" for q in range(n_states))),
        dd_var=np.asarray(var, dtype=np.int32),
        dd_lo=np.asarray(lo, dtype=np.int32),
        dd_hi=np.asarray(hi, dtype=np.int32),
        roots=np.asarray(roots, dtype=np.int32),
        name=name,
    )
