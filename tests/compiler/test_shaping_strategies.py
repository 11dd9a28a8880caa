"""Random small automata for the shaping and artifact property tests (no tests here), built
from explicit tables so that the tests can use the table itself as the oracle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from speclang.compiler.automaton import Automaton


@dataclass
class TableAutomaton:
    props: list[str]
    table: np.ndarray  # int[n, 2**len(props)]
    accepting: np.ndarray  # bool[n]
    aut: Automaton

    def letter_index(self, true_props: set[str]) -> int:
        return sum(1 << i for i, p in enumerate(self.props) if p in true_props)


@st.composite
def table_automata(draw: st.DrawFn, max_states: int = 6, max_props: int = 3) -> TableAutomaton:
    n_props = draw(st.integers(0, max_props))
    props = [f"p{i}" for i in range(n_props)]
    n = draw(st.integers(1, max_states))
    letters = 1 << n_props
    flat = draw(st.lists(st.integers(0, n - 1), min_size=n * letters, max_size=n * letters))
    table = np.array(flat, dtype=np.int64).reshape(n, letters)
    accepting = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    aut = Automaton.from_table(
        props, table, accepting, residuals=[f"r{q}" for q in range(n)], name="random"
    )
    return TableAutomaton(props, table, accepting, aut)


@st.composite
def letter_sequences(draw: st.DrawFn, props: list[str], max_len: int = 12) -> list[set[str]]:
    return draw(
        st.lists(st.sets(st.sampled_from(props)) if props else st.just(set()), max_size=max_len)
    )
