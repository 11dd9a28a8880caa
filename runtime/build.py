"""Building small :class:`~compiler.automaton.Automaton` objects from Python functions.

The compiler produces automata from formulas; this is for monitors a user (or a test)
already knows as a transition function over named propositions, e.g. a reward-machine-like
monitor. The states are not minimised; verdicts follow from the graph.

>>> aut = automaton_from_function(
...     ["door", "key"], 3,
...     lambda q, v: 2 if q == 2 or (q == 0 and v["door"]) else (1 if v["key"] else q),
...     accepting=[True, True, False])
>>> aut.step(0, {"key"}), aut.step(0, {"door"}), aut.verdict(2).label
(1, 2, 'violated')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from speclang.compiler.automaton import Automaton
from speclang.compiler.tables import tabulate


def automaton_from_function(
    props: Sequence[str],
    n_states: int,
    transition: Callable[[int, Mapping[str, bool]], int],
    *,
    accepting: Sequence[bool],
    name: str | None = None,
    residuals: Sequence[str] | None = None,
    renumber: bool = False,
    formula: str | None = None,
) -> Automaton:
    """An automaton whose state ``q`` moves to ``transition(q, {prop: bool})``.

    Enumerates all ``2**len(props)`` letters, so keep ``props`` small (at most 16);
    ``props`` are sorted, as the :class:`Automaton` contract requires. With ``renumber`` the
    states are put in breadth-first order from state 0 (unreachable ones dropped), as in a
    compiled automaton; otherwise they keep their numbers."""
    props = tuple(sorted(props))
    aut = Automaton.from_table(
        props,
        tabulate(props, n_states, transition),
        accepting,
        renumber=renumber,
        name=name,
        formula=formula,
        residuals=residuals,
    )
    if residuals is None:  # named after the states' final numbers
        aut.residuals = tuple(f"q{q}" for q in range(aut.n_states))
    return aut
