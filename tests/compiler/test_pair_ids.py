"""Pair ids of the compositional product (compose._PairIds): the dense table and the hash
table (pairs too many for a dense one) give every pair one id, new ids in order of the
positions reported for them, against a dict kept alongside; the hash table grows."""

from __future__ import annotations

import numpy as np
import pytest

from speclang.compiler import compose
from speclang.compiler.budget import Budget


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_ids_match_a_dict(dense: bool, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    nx, ny = 3000, 2000
    if not dense:
        monkeypatch.setattr(compose, "_DENSE_PAIRS", 0)
    ids = compose._PairIds(nx, ny, Budget())
    assert (ids.dense is None) is not dense
    reference: dict[tuple[int, int], int] = {}
    for size in [1, 7, 500, 20_000, 70_000, 3, 100_000]:  # the hash table grows past 2**16
        # repeats within a batch and across batches
        x = rng.integers(0, 60 if size < 1000 else nx, size)
        y = rng.integers(0, 40 if size < 1000 else ny, size)
        x[size // 2:] = x[: size - size // 2]
        y[size // 2:] = y[: size - size // 2]
        got, pos = ids.ids(x, y)
        before = len(reference)
        new_pairs = [(int(x[p]), int(y[p])) for p in pos]
        assert len(set(new_pairs)) == len(new_pairs)
        for k, pair in enumerate(new_pairs):
            assert pair not in reference
            reference[pair] = before + k
        assert ids.n == len(reference)
        expected = [reference[(int(a), int(b))] for a, b in zip(x, y, strict=True)]
        assert got.tolist() == expected
