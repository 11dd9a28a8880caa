"""Compiling many automata in one process keeps the compiler's module-level tables bounded
(issue 18: 2 GB after 2,335 compiles), without breaking hash-consing identity."""

from __future__ import annotations

import gc
import random
import sys
from pathlib import Path

from speclang import compile_formula
from speclang.compiler import ir

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from compile_memory import formulas  # noqa: E402  (the benchmark's seeded generator)


def test_tables_stay_bounded_over_many_compiles(monkeypatch) -> None:
    monkeypatch.setattr(ir, "MEMO_LIMIT", 500)
    texts = formulas(300, seed=7)
    gc.collect()
    base = len(ir._table)
    for text in texts:
        compile_formula(text, timeout=30)
        # between compilations no memo is over its bound
        assert all(len(d) <= ir.MEMO_LIMIT for d in ir._memos)
    gc.collect()
    # what is left in the intern table is what the bounded memos still reference (a few
    # nodes per entry), not every formula of 300 compilations (over 5,000 before)
    assert len(ir._table) - base < 2_500, len(ir._table) - base


def test_identity_survives_dropping_nodes() -> None:
    name = f"q{random.randrange(10**9)}"
    kept = ir.Until(ir.Atom(name), ir.Next(ir.Atom(name + "x")))
    uid = kept.uid
    for text in formulas(50, seed=11):
        compile_formula(text, timeout=30)
    gc.collect()
    # a live node is still the one every equal construction returns
    again = ir.Until(ir.Atom(name), ir.Next(ir.Atom(name + "x")))
    assert again is kept and again.uid == uid
    # a node nothing references leaves the table; rebuilding it gives a fresh, equal node
    # with a new uid, so no uid-keyed memo entry of the old node can be reused by mistake
    lone = ir.Next(ir.Atom(name + "y"))
    lone_uid, key = lone.uid, (lone.op, None, (lone.args[0].uid,))
    del lone
    gc.collect()
    assert key not in ir._table
    assert ir.Next(ir.Atom(name + "y")).uid != lone_uid


def test_nodes_built_during_a_compilation_live_until_it_ends() -> None:
    name = f"r{random.randrange(10**9)}"
    with ir.compilation():
        uid = ir.Next(ir.Atom(name)).uid  # dropped at once, but pinned for the compilation
        assert ir.Next(ir.Atom(name)).uid == uid
    gc.collect()
    assert ir.Next(ir.Atom(name)).uid != uid
