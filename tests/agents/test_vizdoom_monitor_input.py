"""VizDoom PPO's monitor input (agents/vizdoom/ppo.monitor_tables), without VizDoom: one
width for every spec, and with automaton_input = "features" the same input for states that
behave alike in two specs whose automata number them differently."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from speclang.agents.errors import ConfigError  # noqa: E402
from speclang.agents.vizdoom.ppo import PPOConfig, monitor_tables  # noqa: E402
from speclang.compiler.automaton import Automaton  # noqa: E402

# G !hurt over (hurt, medkit): 0 safe, 1 sink; and the same spec with its states swapped
# plus an extra proposition the first does not read.
A = Automaton.from_table(["hurt"], [[0, 1], [1, 1]], [True, False], name="a")
B = Automaton.from_table(["hurt", "medkit"], [[0, 0, 0, 0], [1, 0, 1, 0]], [False, True],
                         initial=1, name="b")


def test_index_input_is_one_hot_and_mismatched_across_specs() -> None:
    t = monitor_tables({"a": A, "b": B}, "index")
    assert t["a"].shape == (2, 2) and t["b"].shape == (2, 2)
    np.testing.assert_array_equal(t["a"], np.eye(2))
    # the safe state is row 0 of a but row 1 of b: different inputs
    assert not np.array_equal(t["a"][A.initial], t["b"][B.initial])


def test_feature_input_matches_corresponding_states() -> None:
    t = monitor_tables({"a": A, "b": B}, "features")
    assert t["a"].shape[1] == t["b"].shape[1]
    np.testing.assert_array_equal(t["a"][A.initial], t["b"][B.initial])
    np.testing.assert_array_equal(t["a"][A.violation_sink], t["b"][B.violation_sink])


def test_bad_automaton_input() -> None:
    with pytest.raises(ConfigError, match="automaton_input must be index or features"):
        PPOConfig(automaton_input="onehot").validate()
