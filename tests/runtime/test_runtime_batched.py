"""BatchedMonitor against the automaton's own scalar stepping (a separate code path that
walks the decision diagram one letter at a time)."""

from __future__ import annotations

import numpy as np
import pytest

from speclang.compiler.kernel import letter_classes
from speclang.runtime.batched import BatchedMonitor
from speclang.runtime.build import automaton_from_function


def counter_automaton():
    """Counts `tick` modulo 5 while `ok` holds; `!ok & !tick` is a violation. Three props
    with letter classes that are not just the props themselves."""
    def step(q, v):
        if q == 5 or (not v["ok"] and not v["tick"]):
            return 5
        return (q + 1) % 5 if v["tick"] else q

    return automaton_from_function(["ok", "tick", "zz"], 6, step, accepting=[True] * 5 + [False])


def random_run(aut, batch, steps, rng):
    k = len(aut.props)
    states = np.full(batch, aut.initial)
    history = []
    for _ in range(steps):
        letters = rng.integers(0, 1 << k, size=batch)
        expected = np.array([
            aut.step(int(q), {p for i, p in enumerate(aut.props) if b >> i & 1})
            for q, b in zip(states, letters, strict=True)
        ])
        history.append((states.copy(), letters, expected))
        states = expected
    return history


@pytest.mark.parametrize("fused_budget", [0, 1 << 20])
def test_packed_step_matches_scalar_step(fused_budget):
    aut = counter_automaton()
    mon = BatchedMonitor(aut, fused_budget=fused_budget)
    assert (mon.fused is not None) == (fused_budget > 0)
    for states, letters, expected in random_run(aut, 50, 12, np.random.default_rng(0)):
        np.testing.assert_array_equal(mon.step(states.astype(np.int32), letters), expected)


def test_bool_valuations_and_pack_agree_with_bits():
    aut = counter_automaton()
    mon = BatchedMonitor(aut)
    rng = np.random.default_rng(1)
    vals = rng.random((40, 3)) < 0.5
    bits = mon.pack(vals)
    assert bits.tolist() == [sum(int(v) << i for i, v in enumerate(row)) for row in vals]
    states = rng.integers(0, 6, size=40).astype(np.int32)
    np.testing.assert_array_equal(mon.step(states, vals), mon.step(states, bits))


def test_diagram_walk_used_beyond_packed_limit(monkeypatch):
    import speclang.runtime.batched as batched

    aut = counter_automaton()
    monkeypatch.setattr(batched, "MAX_PACKED_PROPS", 2)
    mon = BatchedMonitor(aut)
    assert not mon.packed
    for states, letters, expected in random_run(aut, 30, 8, np.random.default_rng(2)):
        np.testing.assert_array_equal(mon.step(states, letters), expected)
        vals = ((letters[:, None] >> np.arange(3)) & 1).astype(bool)
        np.testing.assert_array_equal(mon.step(states, vals), expected)


def test_letter_classes_group_letters_that_act_alike():
    cls, delta = letter_classes(counter_automaton())
    # `zz` is irrelevant, so bit patterns differing only in bit 2 share a class
    assert all(cls[b] == cls[b | 4] for b in range(4))
    assert delta.shape == (6, len(set(cls.tolist())))


def test_violated_and_verdicts():
    aut = counter_automaton()
    mon = BatchedMonitor(aut)
    states = mon.step(mon.initial_states(2), np.array([0b001, 0b000]))  # ok only / nothing
    assert mon.violated(states).tolist() == [False, True]
    assert mon.accepting(states).tolist() == [True, False]


def test_shape_mismatch_is_a_clear_error():
    mon = BatchedMonitor(counter_automaton())
    with pytest.raises(ValueError, match="shape"):
        mon.step(mon.initial_states(2), np.zeros((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="3 letters for 2 states"):
        mon.step(mon.initial_states(2), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="backend"):
        BatchedMonitor(counter_automaton(), backend="jax")  # type: ignore[arg-type]


@pytest.mark.parametrize("fused_budget", [0, 1 << 20])
@pytest.mark.parametrize("force_walk", [False, True])
def test_torch_matches_numpy(fused_budget, force_walk, monkeypatch):
    torch = pytest.importorskip("torch")
    import speclang.runtime.batched as batched

    if force_walk:
        monkeypatch.setattr(batched, "MAX_PACKED_PROPS", 2)
    aut = counter_automaton()
    np_mon = BatchedMonitor(aut, fused_budget=fused_budget)
    t_mon = BatchedMonitor(aut, backend="torch", fused_budget=fused_budget)
    rng = np.random.default_rng(3)
    s_np = np_mon.initial_states(64)
    s_t = t_mon.initial_states(64)
    for _ in range(10):
        letters = rng.integers(0, 8, size=64)
        s_np = np_mon.step(s_np, letters)
        s_t = t_mon.step(s_t, torch.from_numpy(letters))
        assert isinstance(s_t, torch.Tensor) and s_t.device.type == "cpu"
        np.testing.assert_array_equal(s_t.numpy(), s_np)
        np.testing.assert_array_equal(t_mon.violated(s_t).numpy(), np_mon.violated(s_np))
    vals = torch.from_numpy(rng.random((64, 3)) < 0.5)
    np.testing.assert_array_equal(t_mon.step(s_t, vals).numpy(), np_mon.step(s_np, vals.numpy()))


@pytest.mark.parametrize("fused_budget", [0, 1 << 20])
def test_chunked_and_in_place_steps_agree(fused_budget, monkeypatch):
    import speclang.compiler.kernel as kernel

    aut = counter_automaton()
    rng = np.random.default_rng(4)
    states = rng.integers(0, 6, size=1000).astype(np.int32)
    letters = rng.integers(0, 8, size=1000).astype(np.uint8)
    whole = BatchedMonitor(aut, fused_budget=fused_budget).step(states, letters)
    monkeypatch.setattr(kernel, "CHUNK", 7)
    mon = BatchedMonitor(aut, fused_budget=fused_budget)
    np.testing.assert_array_equal(mon.step(states, letters), whole)
    in_place = states.copy()
    assert mon.step(in_place, letters, out=in_place) is in_place
    np.testing.assert_array_equal(in_place, whole)
    torch = pytest.importorskip("torch")
    t_mon = BatchedMonitor(aut, backend="torch", fused_budget=fused_budget)
    t_states = torch.from_numpy(states.astype(np.int64))
    got = t_mon.step(t_states, torch.from_numpy(letters))
    np.testing.assert_array_equal(got.numpy(), whole)
    assert t_mon.step(t_states, torch.from_numpy(letters), out=t_states) is t_states
    np.testing.assert_array_equal(t_states.numpy(), whole)


def test_classes_computed_when_the_automaton_has_no_class_table():
    import dataclasses

    aut = counter_automaton()
    bare = dataclasses.replace(aut, class_dd_var=None, class_dd_lo=None, class_dd_hi=None,
                               delta=None)
    cls, delta = letter_classes(bare)
    assert delta.shape[1] == len(set(cls.tolist()))
    mon = BatchedMonitor(bare, fused_budget=0)
    for states, letters, expected in random_run(aut, 40, 8, np.random.default_rng(5)):
        np.testing.assert_array_equal(mon.step(states.astype(np.int32), letters), expected)
