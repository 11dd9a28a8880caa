"""Budgets (time, memory, depth) and deep or exploding formulas (issue 18, "Budgets and
crashes"): a clear BudgetExceeded, never a segfault, an unbounded run or an exhausted heap."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from ltlf_gen import future_formulas

import speclang
from speclang.compiler import BudgetExceeded, compile_formula, ir
from speclang.compiler.build import MAX_DEPTH

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})


def test_deep_formula_through_c_recursion_ends_in_a_budget_error_not_a_segfault() -> None:
    # 30,000 levels of `X(a & (... | b))`: the residual implication test recursed through
    # all()/any() on the C stack and the interpreter died with signal 11.
    code = """
from speclang.compiler import ir, compile_formula, BudgetExceeded
f = ir.Atom('z')
for i in range(10000):
    f = ir.Next(ir.And(ir.Atom('a%d' % (i % 3)), ir.Or(f, ir.Atom('b'))))
try:
    compile_formula(ir.Or(f, ir.Until(ir.Atom('c'), f)), timeout=2)
    print('compiled')
except BudgetExceeded as e:
    print('budget', e.budget)
"""
    r = _run(code)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() in ("compiled", "budget timeout")


def test_eight_nested_x1000_compiles_or_stops_cleanly_through_the_cli(tmp_path: Path) -> None:
    # `X[1000]` eight times passed `check` and then `compile` died with signal 11 in the
    # recursive `has_past`.
    spec = tmp_path / "deep.spec"
    spec.write_text("props a\nspec deep { " + "X[1000] " * 8 + "a }\n")
    r = subprocess.run([sys.executable, "-m", "speclang", "compile", "--timeout", "3",
                        str(spec)], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env={"PYTHONPATH": str(ROOT)})
    assert r.returncode in (0, 1), (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    if r.returncode == 0:
        assert "deep: 8003 states" in r.stdout
    else:
        assert "budget timeout=3 s exceeded" in r.stderr


def test_nesting_beyond_max_depth_is_a_clear_budget_error() -> None:
    f = ir.NextN(MAX_DEPTH + 1, ir.Atom("a"))
    assert f.depth == MAX_DEPTH + 2
    with pytest.raises(BudgetExceeded) as exc:
        compile_formula(f)
    assert exc.value.budget == "max_depth"
    assert "max_depth=100000" in str(exc.value)


def test_structural_queries_do_not_recurse() -> None:
    f = ir.NextN(300_000, ir.And(ir.Atom("a"), ir.Yesterday(ir.Atom("b"))))
    assert f.has_past and f.has_future and not f.is_pure_past
    assert f.atoms == frozenset({"a", "b"})
    assert f.size == 300_004
    assert ir.compare(f, ir.NextN(300_000, ir.Atom("a"))) == 1


def test_timeout_is_enforced_inside_residual_simplification() -> None:
    # `b U X^20000 a` spends its time in residual implication tests and the DNF sort, which
    # polled no budget: `timeout=10` returned after 15-50 s.
    f = ir.Until(ir.Atom("b"), ir.NextN(20_000, ir.Atom("a")))
    start = time.monotonic()
    with pytest.raises(BudgetExceeded) as exc:
        compile_formula(f, timeout=2)
    elapsed = time.monotonic() - start
    assert exc.value.budget == "timeout"
    assert elapsed < 2 * 1.1 + 0.5, elapsed  # ~10%, plus slack for a loaded machine


def test_bounded_in_bounded_lowers_fast_and_times_out_promptly() -> None:
    # Lowering `F[0,1000] F[0,1000] a` took over a minute before any budget existed: the
    # nested sort-key tuples were compared in time quadratic in their depth.
    start = time.monotonic()
    f = speclang.parse_formula("F[0,1000] F[0,1000] a")
    assert time.monotonic() - start < 15
    # Since unrolled chains are compared by their lengths (ir.chain) it compiles within the
    # budget: it means F[0,2000] a, whose minimal DFA counts 2,001 steps (+ accept, sink).
    aut = compile_formula(f, timeout=30)
    assert len(aut.accepting) == 2003
    # `G[0,1000] F[0,1000] a` still needs far more than 2 s: the budget must stop it promptly.
    g = speclang.parse_formula("G[0,1000] F[0,1000] a")
    start = time.monotonic()
    with pytest.raises(BudgetExceeded):
        compile_formula(g, timeout=2)
    # generous slack: the suite runs two workers on two cores; the old code took > 60 s
    assert time.monotonic() - start < 2 * 1.5 + 1.0


def test_exploding_formula_prints_bounded() -> None:
    # A chain of 30 `<->` is a small DAG but a tree of 2^30 nodes: printing it for the
    # artifact ran out of memory.
    f = speclang.parse_formula(" <-> ".join(f"p{i}" for i in range(30)))
    start = time.monotonic()
    aut = compile_formula(f)
    assert time.monotonic() - start < 20
    assert aut.formula is not None
    assert len(aut.formula) <= ir.MAX_TEXT + len(ir.ELIDED)
    assert aut.formula.endswith(ir.ELIDED)
    assert aut.n_states == 3


def test_memory_budget_is_enforced_within_ten_percent() -> None:
    gfand = "G p1 & " + " & ".join(f"F p{i}" for i in range(2, 19))
    limit = 40 << 20
    with pytest.raises(BudgetExceeded) as exc:
        compile_formula(speclang.parse_formula(gfand), max_memory=limit, max_states=10**6,
                        timeout=120)
    assert exc.value.budget == "max_memory"
    assert "max_memory=40 MiB exceeded" in str(exc.value)
    assert exc.value.reached <= limit * 1.1 + (8 << 20)


def _nested_key(f: ir.Formula) -> tuple:
    """The structural order as it was defined before (nested tuples): the oracle."""
    return (int(f.op), f.name or "", tuple(_nested_key(a) for a in f.args))


@settings(max_examples=200, deadline=None)
@given(future_formulas(max_leaves=8), future_formulas(max_leaves=8))
def test_compare_is_the_nested_tuple_order(f: ir.Formula, g: ir.Formula) -> None:
    kf, kg = _nested_key(f), _nested_key(g)
    assert ir.compare(f, g) == (kf > kg) - (kf < kg)


@settings(max_examples=200, deadline=None)
@given(future_formulas(max_leaves=10))
def test_text_parses_back_to_the_same_formula(f: ir.Formula) -> None:
    assert speclang.parse_formula(ir.to_text(f)) is f
