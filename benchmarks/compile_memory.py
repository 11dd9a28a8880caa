"""Memory of many compilations in one process: does the compiler give memory back?

    .venv/bin/python benchmarks/compile_memory.py [-n 2500] [--seed 1] [--every 500]
        [--baseline REF]

Compiles ``n`` distinct seeded random formulas (text, over ten propositions, future and past
operators) one after another in this process, dropping each automaton, and prints the
resident set size after every ``--every`` compiles, the size of the compiler's intern table
and memo tables, and the median compile time. With ``--baseline REF`` the same run is first
made on the code of git revision REF (checked out into a temporary worktree, run in a
subprocess), then on this checkout, so before/after numbers come from one invocation.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROPS = [f"p{i}" for i in range(10)]
FUTURE_UNARY = ["!", "X ", "WX ", "F ", "G "]
FUTURE_BINARY = [" & ", " | ", " -> ", " U ", " R ", " W "]
PAST_UNARY = ["!", "Y ", "O ", "H "]
PAST_BINARY = [" & ", " | ", " S "]


def random_formula(rng: random.Random, depth: int, past: bool = False) -> str:
    """Future operators over pure-past leaves (the compiler rejects future under past)."""
    if depth == 0 or rng.random() < 0.2:
        if not past and rng.random() < 0.15:
            return random_formula(rng, 2, past=True)
        return rng.choice(PROPS)
    unary, binary = (PAST_UNARY, PAST_BINARY) if past else (FUTURE_UNARY, FUTURE_BINARY)
    if rng.random() < 0.4:
        return f"{rng.choice(unary)}({random_formula(rng, depth - 1, past)})"
    left, right = random_formula(rng, depth - 1, past), random_formula(rng, depth - 1, past)
    return f"({left}{rng.choice(binary)}{right})"


def formulas(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        text = random_formula(rng, 4)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def table_sizes() -> tuple[int, int]:
    from speclang.compiler import ir

    memos = sum(len(d) for d in getattr(ir, "_memos", []))
    if not memos:  # code from before the memos were registered: count them by name
        from speclang.compiler import nnf, residuals

        memos = sum(len(v) for m in (nnf, residuals) for k, v in vars(m).items()
                    if k.endswith("_memo") and isinstance(v, dict))
    return len(ir._table), memos


def run(n: int, seed: int, every: int) -> None:
    from speclang import compile_formula
    from speclang.compiler import BudgetExceeded, UnsupportedFormula

    times: list[float] = []
    skipped = 0
    for i, text in enumerate(formulas(n, seed), 1):
        t0 = time.perf_counter()
        try:
            compile_formula(text, timeout=30)
        except (BudgetExceeded, UnsupportedFormula):
            skipped += 1  # future under past, or over a budget: still a compile's garbage
        times.append(time.perf_counter() - t0)
        if i % every == 0 or i == n:
            table, memos = table_sizes()
            print(f"  after {i:6d} compiles: RSS {rss_mib():7.1f} MiB, intern table {table:8d}, "
                  f"memo entries {memos:8d}", flush=True)
    print(f"  median compile {statistics.median(times) * 1e3:.2f} ms, "
          f"total {sum(times):.1f} s ({skipped} rejected)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--baseline", metavar="REF", help="also run git revision REF first")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker or not args.baseline:
        run(args.n, args.seed, args.every)
        return
    argv = [sys.executable, __file__, "--worker", "-n", str(args.n), "--seed", str(args.seed),
            "--every", str(args.every)]
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree),
                        args.baseline], check=True)
        try:
            runs = ((f"before ({args.baseline})", tree), ("after (this checkout)", ROOT))
            for label, root in runs:
                print(label, flush=True)
                env = dict(os.environ, PYTHONPATH=str(root))
                subprocess.run(argv, env=env, cwd=root, check=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False)


if __name__ == "__main__":
    main()
