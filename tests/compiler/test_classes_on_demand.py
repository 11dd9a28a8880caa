"""Letter classes built on first use (issue 17): the compiler leaves them out, reading any of
the four class fields builds them, and what is built is the partition of the letters by
their successors in every state -- checked against every letter of the alphabet -- whatever
the compiler or a loaded artifact did before."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from ltlf_gen import PROPS, future_formulas

import speclang
from speclang.cli.compile import summary
from speclang.compiler import artifact, classes
from speclang.compiler.automaton import Automaton, defer_letter_classes


def seq_f(n: int) -> str:
    text = f"F p{n}"
    for i in range(n - 1, 0, -1):
        text = f"F(p{i} & X[!]{text})"
    return text


def _letters(k: int) -> np.ndarray:
    return np.array(list(itertools.product([False, True], repeat=k)), dtype=bool).reshape(2**k, k)


def _check_classes(aut: Automaton) -> None:
    """delta[q, class(letter)] is the successor of q on every letter, and two letters share
    a class exactly when every state sends them to the same successor."""
    assert aut.delta is not None
    vals = _letters(len(aut.props))
    succ = np.array([[aut.step(q, v) for v in vals] for q in range(aut.n_states)])
    cls = aut.classify(vals)
    assert np.array_equal(aut.delta[:, cls], succ)
    columns = {tuple(succ[:, i]) for i in range(vals.shape[0])}
    assert aut.n_classes == len(columns) == len(set(cls.tolist()))


@settings(max_examples=60, deadline=None)
@given(future_formulas(PROPS, max_leaves=7))
def test_classes_are_built_on_first_read_and_partition_the_letters(formula) -> None:
    aut = speclang.compile_formula(formula)
    assert not aut.letter_classes_built
    eager = dataclasses.replace(aut, class_dd_var=None, class_dd_lo=None, class_dd_hi=None,
                                delta=None)
    assert eager.letter_classes_built  # fields given: nothing deferred
    assert classes.attach_letter_classes(eager)
    _check_classes(aut)  # the first read builds them
    assert aut.letter_classes_built
    for name in ("class_dd_var", "class_dd_lo", "class_dd_hi", "delta"):
        assert np.array_equal(getattr(aut, name), getattr(eager, name)), name


def test_any_class_field_builds_all_four() -> None:
    for name in ("class_dd_var", "class_dd_lo", "class_dd_hi", "delta"):
        aut = speclang.compile_formula("G(a -> F b) & (c U d)")
        assert getattr(aut, name) is not None
        assert aut.letter_classes_built
        assert aut.__dict__.keys() >= {"_class_dd_var", "_class_dd_lo", "_class_dd_hi", "_delta"}


def test_setting_a_field_cancels_the_deferred_build() -> None:
    aut = speclang.compile_formula("F a")
    aut.delta = None
    assert aut.letter_classes_built and aut.delta is None and aut.class_dd_var is None


def test_a_failed_build_leaves_the_fields_empty() -> None:
    aut = speclang.compile_formula("F a & F b")
    defer_letter_classes(aut, lambda a: classes.attach_letter_classes(a, max_dense=1))
    assert aut.delta is None and aut.n_classes is None and aut.letter_classes_built


def test_compiling_builds_no_classes_and_the_summary_does_not_count_many() -> None:
    aut = speclang.compile_formula(seq_f(16))
    line = summary("s", aut)
    assert "17 states, letter classes not counted," in line
    assert not aut.letter_classes_built
    assert aut.n_classes == 2**16  # built on demand, as before
    assert "65536 letter classes" in summary("s", aut)
    small = speclang.compile_formula("F(a & X[!]F b)")
    assert "3 states, 4 letter classes," in summary("s", small)


def test_artifact_leaves_out_a_large_table_and_the_loader_rebuilds_it(tmp_path: Path) -> None:
    aut = speclang.compile_formula(seq_f(16))
    path = artifact.save(aut, tmp_path / "a.json")
    assert artifact.to_json(aut)["letter_classes"] is None  # also once they are built
    loaded = artifact.load(path)
    assert not loaded.letter_classes_built
    assert loaded.n_classes == aut.n_classes == 2**16
    assert np.array_equal(loaded.delta, aut.delta)
    rng = np.random.default_rng(17)
    vals = rng.integers(0, 2, size=(500, 16)).astype(bool)
    states = rng.integers(0, aut.n_states, size=500)
    assert np.array_equal(loaded.step_batch(states, vals), aut.step_batch(states, vals))
    full = artifact.to_json(speclang.compile_formula(seq_f(6)), letter_classes=True)
    assert full["letter_classes"]["count"] == 2**6


def test_small_tables_are_written_whether_or_not_they_were_read(tmp_path: Path) -> None:
    fresh = speclang.compile_formula("G(a -> F b) & !(F c & F d)")
    read = speclang.compile_formula("G(a -> F b) & !(F c & F d)")
    assert read.delta is not None
    a = artifact.dumps(artifact.to_json(fresh))
    b = artifact.dumps(artifact.to_json(read))
    assert a == b and '"letter_classes": {' in a
    assert artifact.to_json(fresh, letter_classes=False)["letter_classes"] is None
