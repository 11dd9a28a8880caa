"""Building small :class:`~compiler.automaton.Automaton` objects from Python functions.

The compiler produces automata from formulas; this is for monitors a user (or a test)
already knows as a transition function over named propositions, e.g. a reward-machine-like
monitor. The states are kept as given (not minimised); verdicts follow from the graph.

>>> aut = automaton_from_function(
...     ["door", "key"], 3,
...     lambda q, v: 2 if q == 2 or (q == 0 and v["door"]) else (1 if v["key"] else q),
...     accepting=[True, True, False])
>>> aut.step(0, {"key"}), aut.step(0, {"door"}), aut.verdict(2).label
(1, 2, 'violated')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from speclang.compiler.automaton import Automaton


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

    Enumerates all ``2**len(props)`` letters, so keep ``props`` small (at most 16);
    ``props`` are sorted, as the :class:`Automaton` contract requires."""
    props = tuple(sorted(props))
    if len(props) > 16:
        raise ValueError("automaton_from_function enumerates letters: at most 16 propositions")
    letters = [
        {p: bool(bits >> i & 1) for i, p in enumerate(props)} for bits in range(1 << len(props))
    ]
    table = np.empty((n_states, len(letters)), dtype=np.int64)
    for q in range(n_states):
        for b, letter in enumerate(letters):
            t = transition(q, letter)
            if not 0 <= t < n_states:
                raise ValueError(f"transition({q}, {letter}) = {t} is not a state")
            table[q, b] = t
    return Automaton.from_table(
        props,
        table,
        accepting,
        name=name,
        residuals=list(residuals) if residuals is not None else [f"q{q}" for q in range(n_states)],
    )
