"""Residual simplification's work limit (compiler/residuals.py WORK_LIMIT): compile time and
explored (pre-minimisation) states with the limit and without it, and how late the
``timeout`` budget fires on conjunctions too large to compile.

    .venv/bin/python benchmarks/residual_work.py [--timeout 1] [--seeds 4]

Each compile starts from empty memo tables (``ir.trim_memos(0)``), so every figure is a
first compile after import. "unlimited" is the simplification before the limit existed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compile as families  # noqa: E402  (benchmarks/compile.py)

import speclang  # noqa: E402
from speclang.compiler import BudgetExceeded, compile_formula, ir, residuals  # noqa: E402
from speclang.testing import random_declare  # noqa: E402

UNLIMITED = 1 << 62


def _random_ltlf(r: random.Random, depth: int, props: list[str]) -> str:
    if depth == 0 or r.random() < 0.2:
        p = r.choice(props)
        return p if r.random() < 0.7 else f"!{p}"
    k = r.randrange(9)
    if k < 5:
        return f"{['X', 'F', 'G', 'WX', '!'][k]}({_random_ltlf(r, depth - 1, props)})"
    left, right = _random_ltlf(r, depth - 1, props), _random_ltlf(r, depth - 1, props)
    return f"({left} {['U', 'R', '&', '|'][k - 5]} {right})"


def random_ltlf(seed: int) -> str:
    """Three random depth-5 conjuncts, each over 3 of 50 propositions."""
    r = random.Random(seed)
    names = [f"p{i}" for i in range(50)]
    return " & ".join(_random_ltlf(r, 5, r.sample(names, 3)) for _ in range(3))


def measure(text: str, limit: int, timeout: float) -> tuple[str, str, float]:
    f = speclang.parse_formula(text)
    ir.trim_memos(0)
    start = time.perf_counter()
    try:
        with residuals.work_limit(limit):
            aut = compile_formula(f, timeout=timeout)
    except BudgetExceeded as exc:
        return exc.budget, "-", time.perf_counter() - start
    return str(aut.n_states), str(aut.meta["explored_states"]), time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=1.0, help="for the too-large rows")
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()
    rows = [("gfand 14", families.gfand(14)[0], 60.0),
            ("declare 10", families.declare(10)[0], 60.0),
            ("seqF 16", families.seq_f(16)[0], 60.0),
            ("uright 16", families.uright(16)[0], 60.0)]
    # the slowest of 300 random 3-conjunct formulas (random_ltlf seeds 0-299)
    rows += [(f"random LTLf #{s}", random_ltlf(s), 60.0) for s in (65, 263)]
    rows += [(f"random declare 10x8 #{s}", random_declare(s, 10, 8), 60.0)
             for s in range(args.seeds)]
    rows += [(f"random declare 50x50 #{s}", random_declare(s, 50, 50), args.timeout)
             for s in range(args.seeds)]
    print("| formula | timeout s | states | explored unlimited | explored limited "
          "| unlimited s | limited s |")
    print("|---|---|---|---|---|---|---|")
    for name, text, timeout in rows:
        s0, e0, t0 = measure(text, UNLIMITED, timeout)
        s1, e1, t1 = measure(text, residuals.WORK_LIMIT, timeout)
        states = s1 if s0 == s1 else f"{s0} / {s1}"
        print(f"| {name} | {timeout:g} | {states} | {e0} | {e1} | {t0:.3f} | {t1:.3f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
