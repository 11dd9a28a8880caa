"""Spec-agnostic features of automaton states, for learners that generalise across specs.

A deep agent that sees the monitor state as a one-hot index learns weights per *index*, and
state indices mean nothing from one spec to the next (T2's "wood collected" state is index 1,
T1's violation sink is index 1). This module describes each state by what it *does* instead,
over a proposition list the caller fixes (the environment's propositions), so that two specs
over the same propositions give vectors of the same length and meaning, and two automata
that differ only in how their states are numbered give the same vector to corresponding
states. The table is computed once per automaton; a step reads one row.

Features of a state ``q`` (all in ``[0, 1]``, ``float32``), in this order:

``verdict=satisfied``, ``verdict=presumably_satisfied``, ``verdict=presumably_violated``,
``verdict=violated``
    the four-valued verdict of ``q``, one-hot.
``accepting``
    1 when a trace ending in ``q`` satisfies the spec.
``sink_proximity``
    ``1 / (1 + d)`` with ``d`` the fewest steps from ``q`` to the violation sink on the
    automaton's transition graph (an edge where *some* letter leads): 1 at the sink, 0.5 one
    step away, 0 where the sink cannot be reached (no violation possible any more).
``accept_proximity``
    ``1 / (1 + d)`` with ``d`` the fewest steps to an accepting state (1 when ``q`` accepts,
    0 where no accepting state is reachable).

Then, for each letter ``L`` of ``none`` (every proposition false) and ``{p}`` for each ``p``
of ``props`` (exactly that proposition true, the others false), three features of the
successor ``t = delta(q, L)``:

``L:sink``
    1 when ``t`` is the violation sink ("making ``p`` true here violates the spec");
``L:sink_proximity``
    ``sink_proximity`` of ``t`` (how close to the sink making ``p`` true leads);
``L:accepting``
    1 when ``t`` accepts.

A proposition of ``props`` that the automaton does not read gives the ``none`` values (the
automaton ignores it); propositions the automaton reads but ``props`` lacks are false in
every letter. Letters with two or more propositions true are not described: the features are
meant for environments whose labels are mostly one proposition at a time (the gridworld's
cells), and stay well defined, if less informative, elsewhere.

>>> from speclang.compiler.automaton import Automaton
>>> never_lava = Automaton.from_table(["lava"], [[0, 1], [1, 1]], [True, False])
>>> f = state_features(never_lava, ["lava", "wood"])
>>> dict(zip(f.names, f.table[0].tolist()))["lava:sink"], float(f.row("wood:sink")[0])
(1.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from speclang.compiler import graph
from speclang.compiler.automaton import Automaton
from speclang.compiler.verdict import Verdict

_STATE = ("accepting", "sink_proximity", "accept_proximity")
_LETTER = ("sink", "sink_proximity", "accepting")


def feature_names(props: Sequence[str]) -> tuple[str, ...]:
    """The names of :func:`state_features`' columns for proposition list ``props``."""
    verdicts = tuple(f"verdict={v.label}" for v in Verdict)
    letters = ("none", *props)
    return verdicts + _STATE + tuple(f"{L}:{k}" for L in letters for k in _LETTER)


@dataclass(frozen=True)
class StateFeatures:
    names: tuple[str, ...]
    table: np.ndarray  # float32[n_states, len(names)]

    def row(self, name: str) -> np.ndarray:
        """One feature over all states."""
        return self.table[:, self.names.index(name)]


def _proximity(successors: Sequence[Sequence[int]], goal: np.ndarray) -> np.ndarray:
    dist = graph.distance_to(successors, goal)
    return np.where(dist >= 0, 1.0 / (1.0 + np.maximum(dist, 0)), 0.0)


def state_features(aut: Automaton, props: Sequence[str]) -> StateFeatures:
    """The feature table of every state of ``aut`` over the proposition list ``props``."""
    if len(set(props)) != len(props):
        raise ValueError(f"state_features: repeated proposition in {list(props)}")
    if "none" in props:
        raise ValueError('state_features: "none" names the all-false letter, not a proposition')
    n = aut.n_states
    succ = graph.successor_lists(aut)
    verdicts = np.asarray(aut.verdicts, dtype=np.int64)
    accepting = np.asarray(aut.accepting, dtype=bool)
    sink_prox = _proximity(succ, verdicts == Verdict.VIOLATED)
    acc_prox = _proximity(succ, accepting)
    columns: list[np.ndarray] = [(verdicts == v).astype(np.float64) for v in Verdict]
    columns += [accepting.astype(np.float64), sink_prox, acc_prox]
    letters: list[frozenset[str]] = [frozenset(), *(frozenset((p,)) for p in props)]
    for letter in letters:
        vec = aut.valuation_vector(letter, strict=False)
        targets = np.array([aut.step(q, vec) for q in range(n)], dtype=np.int64)
        columns += [
            (verdicts[targets] == Verdict.VIOLATED).astype(np.float64),
            sink_prox[targets],
            accepting[targets].astype(np.float64),
        ]
    table = np.stack(columns, axis=1).astype(np.float32) if n else np.zeros((0, len(columns)))
    return StateFeatures(feature_names(props), table.astype(np.float32))
