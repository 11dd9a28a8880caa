"""Exact language comparison of two DFAs by breadth-first search of their product (test
helper): every trace of every length, the empty trace included, not a sample."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

Letter = frozenset[str]


@dataclass(frozen=True)
class View:
    """A DFA as the search sees it: a start state, a step on a set of true propositions
    (names outside its alphabet are ignored by ``step``'s caller) and acceptance."""

    initial: Hashable
    step: Callable[[Hashable, Letter], Hashable]
    accepting: Callable[[Hashable], bool]


def of_automaton(aut) -> View:  # noqa: ANN001 - speclang.compiler.automaton.Automaton
    index = aut.prop_index
    return View(aut.initial, lambda q, letter: aut.step(q, [p for p in letter if p in index]),
                lambda q: bool(aut.accepting[q]))


def of_mona(dfa) -> View:  # noqa: ANN001 - benchmarks/ltlf2dfa_ref.MonaDFA
    return View(dfa.initial, lambda q, letter: dfa.step(q, [p for p in letter if p in dfa.props]),
                lambda q: q in dfa.accepting)


def letters(props: Iterable[str]) -> list[Letter]:
    ps = sorted(set(props))
    return [frozenset(p for p, on in zip(ps, bits, strict=True) if on)
            for bits in itertools.product([False, True], repeat=len(ps))]


def difference(a: View, b: View, props: Iterable[str]) -> Sequence[Letter] | None:
    """A shortest trace over ``props`` accepted by exactly one of ``a`` and ``b``, or None
    when their languages are equal."""
    alphabet = letters(props)
    start = (a.initial, b.initial)
    parent: dict[tuple, tuple | None] = {start: None}
    queue = deque([start])
    while queue:
        pair = queue.popleft()
        if a.accepting(pair[0]) != b.accepting(pair[1]):
            trace: list[Letter] = []
            node = pair
            while parent[node] is not None:
                node, letter = parent[node]  # type: ignore[misc]
                trace.append(letter)
            return trace[::-1]
        for letter in alphabet:
            nxt = (a.step(pair[0], letter), b.step(pair[1], letter))
            if nxt not in parent:
                parent[nxt] = (pair, letter)
                queue.append(nxt)
    return None
