"""Batched stepping walks the symbolic diagram when there is no dense table, and must agree
with scalar stepping either way."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import speclang


@pytest.mark.parametrize(
    "formula",
    [
        "G p1 & F p2 & F p3 & F p4 & F p5",
        "G(a -> X(b U c)) & F[1,3] d",
        "G(work_bench -> O wood) & G !lava",
        "true",
    ],
)
def test_step_batch_matches_scalar_step_with_and_without_dense_table(formula: str) -> None:
    aut = speclang.compile_formula(formula)
    rng = np.random.default_rng(7)
    vals = rng.random((300, len(aut.props))) < 0.5
    states = rng.integers(0, aut.n_states, 300)
    expected = np.array([aut.step(int(q), v) for q, v in zip(states, vals, strict=True)])
    assert np.array_equal(aut.step_batch(states, vals), expected)
    symbolic = dataclasses.replace(aut, delta=None)
    assert np.array_equal(symbolic.step_batch(states, vals), expected)
    if aut.delta is not None:
        classes = aut.classify(vals)
        assert np.array_equal(aut.delta[states, classes], expected)


def test_step_ignores_names_the_automaton_does_not_use() -> None:
    spec_file = Path(__file__).resolve().parents[2] / "examples" / "minecraft.spec"
    aut = speclang.compile_file(str(spec_file), spec="t1")
    assert "wood" not in aut.props  # declared by the file, unused by t1
    q = aut.step(aut.initial, {"wood", "iron"})
    assert aut.verdict(q).label == "presumably_satisfied"
    assert aut.verdict(aut.step(q, {"wood": True, "lava": True})).label == "violated"
