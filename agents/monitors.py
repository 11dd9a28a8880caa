"""Monitors prepared for the gridworld: automata as lookup tables over label masks.

A cell's label is a bitmask over ``speclang.agents.envs.layouts.PROPS``; for each automaton the
kernel (``speclang.compiler.kernel.letter_table``) tabulates ``next[state, mask]`` for all
masks once, so that stepping a batch of monitors is one fancy
index. All automata of an experiment share one *global* state numbering (automaton ``k``'s
local state ``q`` is global ``offset[k] + q``), so runs following different specs step in the
same call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from speclang.compiler.automaton import Automaton
from speclang.compiler.kernel import letter_table

from .envs.layouts import PROPS

N_MASKS = 1 << len(PROPS)


def mask_table(aut: Automaton) -> np.ndarray:
    """int64[n_states, N_MASKS]: successor of every state under every label mask;
    propositions the gridworld does not label are always false."""
    return letter_table(aut, PROPS)


def unknown_props(aut: Automaton) -> list[str]:
    return [p for p in aut.props if p not in PROPS]


@dataclass
class MonitorTables:
    automata: list[Automaton]
    next_global: np.ndarray  # int64[total_states, N_MASKS]
    offset: np.ndarray  # int64[K]
    n_states: np.ndarray  # int64[K]
    sink: np.ndarray  # int64[K], global index of the violation sink, -1 if none
    initial: np.ndarray  # int64[K], global index of the initial state

    @classmethod
    def build(cls, automata: Sequence[Automaton]) -> MonitorTables:
        tables = [mask_table(a) for a in automata]
        sizes = np.array([t.shape[0] for t in tables], dtype=np.int64)
        offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        next_global = np.concatenate([t + o for t, o in zip(tables, offset, strict=True)])
        sink = np.array(
            [
                -1 if a.violation_sink is None else o + a.violation_sink
                for a, o in zip(automata, offset, strict=True)
            ],
            dtype=np.int64,
        )
        initial = np.array([o + a.initial for a, o in zip(automata, offset, strict=True)])
        return cls(list(automata), next_global, offset, sizes, sink, initial.astype(np.int64))

    @property
    def max_states(self) -> int:
        return int(self.n_states.max())


def correspondence(new: Automaton, old: Automaton, letters: Sequence[int]) -> list[set[int]]:
    """For each state of ``new``, the states of ``old`` it is reachable together with.

    Breadth-first search over the synchronous product from the two initial states, reading
    only the label masks in ``letters`` (those the environment can produce). Pairs that
    involve either violation sink are not followed further: a run stops there.
    """
    tn, to = mask_table(new), mask_table(old)
    sink_n, sink_o = new.violation_sink, old.violation_sink
    start = (new.initial, old.initial)
    seen = {start}
    queue = deque([start])
    while queue:
        qn, qo = queue.popleft()
        if qn == sink_n or qo == sink_o:
            continue
        for m in letters:
            pair = (int(tn[qn, m]), int(to[qo, m]))
            if pair not in seen:
                seen.add(pair)
                queue.append(pair)
    out: list[set[int]] = [set() for _ in range(new.n_states)]
    for qn, qo in seen:
        out[qn].add(qo)
    return out
