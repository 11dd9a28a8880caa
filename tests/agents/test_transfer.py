"""Safety-bias transfer between the Q-tables of consecutive specs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from speclang.agents.transfer import transfer_values
from speclang.runtime.build import automaton_from_function


def _safety(props: list[str], bad: str, n_pad: int = 0):
    # 0 safe, 1 sink; optional extra safe states reached on "pad" (to shift indices)
    def step(q: int, L: Mapping[str, bool]) -> int:
        if q == 1 or L[bad]:
            return 1
        if L.get("pad") and q < 1 + n_pad:
            return q + 1 if q else 2
        return q

    accepting = [True, False] + [True] * n_pad
    return automaton_from_function(props, 2 + n_pad, step, accepting=accepting, renumber=True)


def _tables(n_old: int, states: int, fill: list[float]) -> np.ndarray:
    out = np.zeros((n_old, 3, states, 2))
    for i, v in enumerate(fill):
        out[i] = v + np.arange(states)[None, :, None]  # value = fill + state index
    return out


def test_none_starts_from_zero() -> None:
    a = _safety(["x"], "x")
    old = _tables(1, 2, [5.0])
    assert not transfer_values("none", "mean", old, [a, a], [[{0}, {1}]]).any()


def test_paper_averages_the_same_state_index() -> None:
    a = _safety(["x"], "x")
    old = _tables(2, 3, [1.0, 3.0])
    new = transfer_values("paper", "mean", old, [a, a, a], [[], []])
    # state 0: mean of 1+0 and 3+0; the sink (state 1) is left at zero
    assert np.allclose(new[:, 0], 2.0)
    assert np.allclose(new[:, 1], 0.0)


def test_correspondence_uses_paired_states_mean_or_min() -> None:
    old_aut = _safety(["x", "pad"], "x", n_pad=1)  # two safe states and a sink
    new_aut = _safety(["x"], "x")  # one safe state and a sink
    o_sink = old_aut.violation_sink
    o_other = ({0, 1, 2} - {0, o_sink}).pop()
    n_sink = new_aut.violation_sink
    old = _tables(1, 3, [10.0])  # value 10 + old state index
    pairs = [[set(), set()]]
    pairs[0][0] = {0, o_other, o_sink}  # the new initial state co-occurs with all three
    pairs[0][n_sink] = {o_sink}
    mean = transfer_values("correspondence", "mean", old, [old_aut, new_aut], pairs)
    low = transfer_values("correspondence", "min", old, [old_aut, new_aut], pairs)
    # the old sink is never a source (its values are never trained)
    assert np.allclose(mean[:, 0], 10.0 + o_other / 2) and np.allclose(low[:, 0], 10.0)
    assert np.allclose(mean[:, n_sink], 0.0) and np.allclose(low[:, n_sink], 0.0)
