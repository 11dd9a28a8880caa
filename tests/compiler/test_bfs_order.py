"""``minimise.bfs_order`` (shared-diagram walk, Python and numpy) against a per-state reference.

The reference enumerates every state's successors on its own (a depth-first walk of that
state's diagram alone, false branch first, each leaf taken at its first visit) and numbers
states breadth-first: the definition of the canonical order, with none of the sharing across
states, path keys or renumbering that ``bfs_order`` uses to be linear.
"""

from __future__ import annotations

import numpy as np
import pytest

from speclang.compiler.minimise import Canonical, bfs_order


def reference_order(c: Canonical, initial: int) -> np.ndarray:
    var, lo, hi, roots = c.var.tolist(), c.lo.tolist(), c.hi.tolist(), c.roots.tolist()

    def successors(q: int) -> list[int]:
        out: list[int] = []
        seen: set[int] = set()

        def visit(node: int) -> None:
            if node in seen:
                return
            seen.add(node)
            if var[node] < 0:
                out.append(lo[node])
            else:
                visit(lo[node])
                visit(hi[node])

        visit(roots[q])
        return out

    new_id = np.full(len(roots), -1, dtype=np.int64)
    new_id[initial] = 0
    queue = [initial]
    for q in queue:
        for t in successors(q):
            if new_id[t] < 0:
                new_id[t] = len(queue)
                queue.append(t)
    return new_id


def random_canonical(rng: np.random.Generator, n_states: int, n_levels: int,
                     width: int) -> Canonical:
    """A reduced, shared diagram laid out as ``canonical_diagram`` lays it out: leaves
    ``0..n-1`` (leaf k is state k), then levels from the last proposition to the first, every
    child on a later level or a leaf. Propositions are spaced out so that level depth and
    proposition index differ."""
    var = [-1] * n_states
    lo = list(range(n_states))
    hi = [0] * n_states
    bounds = []
    for level in range(n_levels - 1, -1, -1):  # children first
        below = len(var)
        start = below
        for _ in range(int(rng.integers(1, width + 1))):
            a, b = rng.choice(below, size=2, replace=False)
            var.append(3 * level + 1)
            lo.append(int(a))
            hi.append(int(b))
        bounds.append((start, len(var)))
    roots = rng.integers(0, len(var), size=n_states)
    return Canonical(np.asarray(var, dtype=np.int32), np.asarray(lo, dtype=np.int32),
                     np.asarray(hi, dtype=np.int32), roots.astype(np.int32), bounds)


# 0: everything walked by numpy; 1, 3: the Python walk hands over mid-layer, mid-stack;
# 10**9: everything in Python.
HANDOVERS = [0, 1, 3, 10**9]


@pytest.mark.parametrize("seed", range(40))
def test_bfs_order_matches_the_per_state_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = random_canonical(rng, int(rng.integers(2, 60)), int(rng.integers(1, 9)),
                         int(rng.integers(1, 12)))
    initial = int(rng.integers(0, c.roots.shape[0]))
    expected = reference_order(c, initial)
    for per_level in HANDOVERS:
        got = bfs_order(c, initial, py_nodes_per_level=per_level)
        assert got.tolist() == expected.tolist(), per_level


@pytest.mark.parametrize("seed", range(6))
def test_bfs_order_when_path_keys_are_renumbered(seed: int) -> None:
    # 70 levels do not fit one int64 path key beside the start positions: the numpy walk
    # renumbers the paths in flight part-way down, which must not change the order.
    rng = np.random.default_rng(1000 + seed)
    c = random_canonical(rng, 300, 70, 6)
    expected = reference_order(c, 0)
    assert (expected >= 0).sum() > 1
    for per_level in (0, 1):
        assert bfs_order(c, 0, py_nodes_per_level=per_level).tolist() == expected.tolist()


def test_gfand_product_order_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    # Real diagrams (those minimise numbers while compiling G p1 & F p2 .. F p9), every walk
    # against the reference.
    import speclang
    from speclang.compiler import minimise

    seen: list[tuple[Canonical, int]] = []
    original = minimise.bfs_order

    def record(c: Canonical, initial: int) -> np.ndarray:
        seen.append((c, initial))
        return original(c, initial)

    monkeypatch.setattr(minimise, "bfs_order", record)
    text = " & ".join(["G p1", *[f"F p{i}" for i in range(2, 10)]])
    assert speclang.compile_formula(speclang.parse_formula(text)).n_states == 257
    assert seen
    for c, initial in seen:
        expected = reference_order(c, initial).tolist()
        for per_level in HANDOVERS:
            assert bfs_order(c, initial, py_nodes_per_level=per_level).tolist() == expected
