"""Safety-bias transfer: initial Q-values for a new spec from the runs' earlier specs.

``paper``           (arXiv 2410.24096) a new product state (cell, q) starts from the mean of
                    the earlier tasks' values at the same automaton-state *index* q.
``correspondence``  (ours) automaton states are paired through the product of the new and
                    each earlier automaton: (q_new, q_old) reachable together on the same
                    trace from the initial states. A new state starts from the mean, or the
                    pessimistic minimum, of the earlier values at its paired states. Index
                    equality means nothing across different automata; co-reachability does.
``none``            start from zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from speclang.compiler.automaton import Automaton


def transfer_values(
    kind: str,
    combine: str,
    old_tables: np.ndarray,
    automata: Sequence[Automaton],
    pairs: Sequence[Sequence[set[int]]],
) -> np.ndarray:
    """Initial table for the newest automaton ``automata[-1]``.

    ``old_tables``: [n_old, env_states, max_states, actions], the run's tables of
    ``automata[:-1]``; ``pairs[i][q_new]``: states of ``automata[i]`` paired with ``q_new``.
    States of the new automaton with nothing to inherit from stay at zero, and so does the
    violation sink (episodes end there, its values are never read).
    """
    n_old = old_tables.shape[0]
    out = np.zeros(old_tables.shape[1:], dtype=old_tables.dtype)
    new = automata[-1]
    if kind == "none" or n_old == 0:
        return out
    for qn in range(new.n_states):
        if qn == new.violation_sink:
            continue
        if kind == "paper":
            sources = [old_tables[i, :, qn] for i in range(n_old) if qn < automata[i].n_states]
        elif kind == "correspondence":
            sources = [
                old_tables[i, :, qo]
                for i in range(n_old)
                for qo in sorted(pairs[i][qn])
                if qo != automata[i].violation_sink
            ]
        else:
            raise ValueError(f"unknown transfer {kind!r}")
        if not sources:
            continue
        stack = np.stack(sources)
        out[:, qn] = stack.min(axis=0) if combine == "min" else stack.mean(axis=0)
    return out
