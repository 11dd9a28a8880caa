"""The vectorised pre-order numbering of the letter-class diagram (tree fast path in
``speclang.compiler.classes._preorder``) must number exactly like the plain walk."""

from __future__ import annotations

import numpy as np
import pytest

import speclang
from speclang.compiler import classes

FORMULAS = [
    "F(p1 & F(p2 & F(p3 & F p4)))",  # 2**4 classes, the class diagram is a tree
    "G p1 & F p2 & F p3 & F p4",
    "G(a -> F b) & (c U d) & !(F e & F f)",
    "(a U b) | X(c & d) | G(e -> WX f)",
    "true",
    "H(p -> O q) & H(r -> Y s)",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_preorder_matches_walk(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"fast": 0, "walk": 0}
    fast, walk = classes._preorder, classes._preorder_walk

    def counting_walk(*args):  # type: ignore[no-untyped-def]
        calls["walk"] += 1
        return walk(*args)

    def checked(root, g_lo, g_hi, g_level, depth, offset):  # type: ignore[no-untyped-def]
        calls["fast"] += 1
        order, index = fast(root, g_lo, g_hi, g_level, depth, offset)
        ref_order, ref_index = walk(root, g_lo, g_hi, g_level < depth)
        assert np.array_equal(order, ref_order)
        assert np.array_equal(index, ref_index)
        return order, index

    monkeypatch.setattr(classes, "_preorder_walk", counting_walk)
    monkeypatch.setattr(classes, "_preorder", checked)
    aut = speclang.compile_formula(text)
    assert aut.delta is not None
    assert calls["fast"] == 1
    if text.startswith("F(p1"):
        assert calls["walk"] == 0  # the tree path was taken
