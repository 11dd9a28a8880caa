"""compiler.state_features: known values on hand-built automata, the same features for
corresponding states whatever the numbering, and the index mismatch of the Minecraft
progression (T1's sink is index 1, T2's index 1 is "wood collected") gone."""

from __future__ import annotations

import numpy as np
import pytest

from speclang.compiler.automaton import Automaton
from speclang.compiler.state_features import feature_names, state_features

# G(lava -> O wood) over props (lava, wood); letter bit i = props[i]:
# letters 0 none, 1 lava, 2 wood, 3 both. 0: no wood yet, 1: wood seen (safe for good), 2: sink.
LAVA_AFTER_WOOD = [[0, 2, 1, 1], [1, 1, 1, 1], [2, 2, 2, 2]]
ACCEPTING = [True, True, False]
PROPS = ["lava", "wood", "diamond"]  # diamond: a proposition the automaton does not read


def _value(f, q: int, name: str) -> float:
    return float(f.table[q, f.names.index(name)])


def test_known_values_of_a_hand_built_spec() -> None:
    f = state_features(Automaton.from_table(["lava", "wood"], LAVA_AFTER_WOOD, ACCEPTING), PROPS)
    assert f.table.shape == (3, len(feature_names(PROPS))) and f.table.dtype == np.float32
    expected = {
        0: {"verdict=presumably_satisfied": 1, "accepting": 1, "sink_proximity": 0.5,
            "accept_proximity": 1,
            "none:sink": 0, "none:sink_proximity": 0.5, "none:accepting": 1,
            "lava:sink": 1, "lava:sink_proximity": 1, "lava:accepting": 0,
            "wood:sink": 0, "wood:sink_proximity": 0, "wood:accepting": 1,
            "diamond:sink": 0, "diamond:sink_proximity": 0.5, "diamond:accepting": 1},
        1: {"verdict=satisfied": 1, "accepting": 1, "sink_proximity": 0, "accept_proximity": 1,
            "lava:sink": 0, "lava:sink_proximity": 0, "lava:accepting": 1},
        2: {"verdict=violated": 1, "accepting": 0, "sink_proximity": 1, "accept_proximity": 0,
            "none:sink": 1, "lava:sink": 1, "wood:sink": 1, "diamond:sink": 1,
            "wood:accepting": 0},
    }
    for q, values in expected.items():
        for name, v in values.items():
            assert _value(f, q, name) == v, (q, name)
        verdicts = [n for n in f.names if n.startswith("verdict=")]
        assert sum(_value(f, q, n) for n in verdicts) == 1  # one-hot


def test_two_steps_from_the_sink() -> None:
    # G(lava -> X G !lava)... as a table: 0 -lava-> 1 -lava-> 2 (sink); 1 -none-> 0.
    aut = Automaton.from_table(["lava"], [[0, 1], [0, 2], [2, 2]], [True, True, False])
    f = state_features(aut, ["lava"])
    assert f.row("sink_proximity").tolist() == pytest.approx([1 / 3, 1 / 2, 1])
    assert f.row("lava:sink").tolist() == [0, 1, 1]
    assert f.row("lava:sink_proximity").tolist() == pytest.approx([1 / 2, 1, 1])


@pytest.mark.parametrize("perm", [(1, 2, 0), (2, 0, 1), (0, 2, 1)])
def test_renumbered_automata_give_the_same_features_to_corresponding_states(perm) -> None:
    table = np.array(LAVA_AFTER_WOOD)
    new_of = np.array(perm)  # old state q is new state perm[q]
    renumbered = np.zeros_like(table)
    for q in range(3):
        renumbered[new_of[q]] = new_of[table[q]]
    acc = np.zeros(3, dtype=bool)
    acc[new_of] = ACCEPTING
    a = Automaton.from_table(["lava", "wood"], table, ACCEPTING)
    b = Automaton.from_table(["lava", "wood"], renumbered, acc, initial=int(new_of[0]))
    fa, fb = state_features(a, PROPS), state_features(b, PROPS)
    assert fa.names == fb.names
    for q in range(3):
        np.testing.assert_array_equal(fa.table[q], fb.table[new_of[q]])
    assert not np.array_equal(fa.table, fb.table)  # the rows did move


def test_the_progressions_index_mismatch_disappears() -> None:
    from pathlib import Path

    from speclang import compiler
    from speclang.agents.envs.layouts import PROPS as GRID
    from speclang.loader import load

    module = load(str(Path(__file__).parents[2] / "examples" / "minecraft.spec"))
    t1, t2 = (compiler.compile_spec(module, n) for n in ("t1", "t2"))
    f1, f2 = state_features(t1, GRID), state_features(t2, GRID)
    assert t1.violation_sink == 1 and t2.violation_sink == 2  # the indices differ ...
    # ... the features of the sinks do not
    np.testing.assert_array_equal(f1.table[t1.violation_sink], f2.table[t2.violation_sink])
    hazards = [n for n in f1.names if n.endswith(":sink")]
    cols = [f1.names.index(n) for n in hazards]
    # T2's index 1 ("wood collected") matches T1's safe state 0 on what each letter does,
    # not T1's index 1 (the sink)
    np.testing.assert_array_equal(f2.table[1, cols], f1.table[0, cols])
    assert not np.array_equal(f2.table[1, cols], f1.table[1, cols])
    assert f1.table.shape[1] == f2.table.shape[1] == len(feature_names(GRID))


def test_bad_proposition_lists() -> None:
    aut = Automaton.from_table(["lava"], [[0, 1], [1, 1]], [True, False])
    with pytest.raises(ValueError, match="repeated"):
        state_features(aut, ["lava", "lava"])
    with pytest.raises(ValueError, match="all-false letter"):
        state_features(aut, ["none"])
