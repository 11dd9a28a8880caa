"""Issue 17's past and bounded families, every compile the first one in a fresh process, for
one or more checkouts side by side.

    .venv/bin/python benchmarks/past_bounded.py [--rows mixed:4,pastchain:6,bounded1:1000]
        [--repeat 3] [--checkout OLD --checkout .] [--timeout 120] [--warm N]
        [--out results.json]

Families (n conjuncts, or k the bound):
    mixed      G(a1 -> O(b1 & O c1)) & ... & G(an -> O(bn & O cn))   (mixed past chains)
    pastchain  H(a1 -> O(b1 & O c1)) & ... & H(an -> O(bn & O cn))   (pure-past chains)
    grouped    mixed with the names x1a, x1b, x1c, x2a, ..: the decision diagrams test
               propositions in name order, and this order keeps each conjunct's together
    past       compile.py's pure-past family: H(p_i -> O q_i) / H(p_i -> Y q_i) alternating
    hconj      the same under one H, H((p1 -> O q1) & (p2 -> Y q2) & ..): not a top-level
               conjunction, so always built by derivatives
    bounded0   G(a -> F[0,k] b)     bounded1  G(a -> F[1,k] b)     eventually  F[0,k] a
    invariance G(a -> G[0,k] b)

Each cell: ``--repeat`` fresh interpreters with ``PYTHONPATH`` set to the checkout import
speclang and the compiler's modules, parse the formula, and time the first
``compile_formula`` (wall and CPU seconds; no memo table survives from an earlier compile,
and no lazy import is charged to it); the median is shown, CPU seconds in brackets
(``--warm N``: then N more compiles in the same process, and their median CPU time, memo
tables warm, as compile.py's in-process column measures). Runs of
the checkouts alternate, so a change in the machine's load hits all of them. Peak MB is the
worker's maximum resident set, import included (about 40 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _chains(kind: str, n: int) -> str:
    return " & ".join(f"{kind}(a{i} -> O(b{i} & O c{i}))" for i in range(1, n + 1))


def _past(n: int) -> str:
    return " & ".join(f"H(p{i} -> O q{i})" if i % 2 else f"H(p{i} -> Y q{i})"
                      for i in range(1, n + 1))


FAMILIES: dict[str, Callable[[int], str]] = {
    "mixed": lambda n: _chains("G", n),
    "pastchain": lambda n: _chains("H", n),
    "grouped": lambda n: " & ".join(f"G(x{i}a -> O(x{i}b & O x{i}c))" for i in range(1, n + 1)),
    "past": _past,
    "hconj": lambda n: "H(" + " & ".join(
        f"(p{i} -> O q{i})" if i % 2 else f"(p{i} -> Y q{i})" for i in range(1, n + 1)) + ")",
    "bounded0": lambda k: f"G(a -> F[0,{k}] b)",
    "bounded1": lambda k: f"G(a -> F[1,{k}] b)",
    "eventually": lambda k: f"F[0,{k}] a",
    "invariance": lambda k: f"G(a -> G[0,{k}] b)",
}
DEFAULT_ROWS = ("mixed:4,mixed:6,mixed:7,mixed:8,pastchain:4,pastchain:6,pastchain:8,"
                "past:4,past:6,past:8,bounded0:64,bounded0:1000,bounded1:1000,eventually:400,"
                "eventually:1000,invariance:1000")

# Issue 17's figures for these rows (measured by the issue's author, Lydia 0.1.3, not by this
# script: Lydia is not installed here): how far behind Lydia speclang was, or Lydia's time.
ISSUE = {("mixed", 4): "3.4x behind Lydia", ("mixed", 6): "50x behind Lydia",
         ("mixed", 8): "Lydia 2.1 s (ours: node budget)", ("bounded1", 1000): "goal <= 1 s",
         ("eventually", 400): "issue: 18 s"}

_WORKER = """
import importlib, json, resource, statistics, sys, time
import speclang
# load what the compiler imports lazily, so that the first compile is not charged for it
# (modules an older checkout lacks are skipped)
for name in ("build", "compose", "minimise", "translate", "memory", "residuals", "classes"):
    try:
        importlib.import_module("speclang.compiler." + name)
    except ImportError:
        pass
try:
    from speclang import compile_formula
except ImportError:  # checkouts before the facade took text and IR (2026-12-03)
    from speclang.compiler import compile_formula
formula = speclang.parse_formula(sys.argv[1])
import inspect
budget = dict(max_states=10**6, timeout=None, max_memory=None)
known = inspect.signature(compile_formula).parameters  # older checkouts have fewer budgets
budget = {k: v for k, v in budget.items() if k in known}
times, cpus = [], []
for _ in range(int(sys.argv[2])):
    start, cpu = time.perf_counter(), time.process_time()
    aut = compile_formula(formula, **budget)
    times.append(time.perf_counter() - start)
    cpus.append(time.process_time() - cpu)
print(json.dumps({"seconds": times[0], "cpu_seconds": cpus[0], "states": aut.n_states,
                  "warm_cpu_seconds": statistics.median(cpus[1:]) if cpus[1:] else None,
                  "nodes": int(len(aut.dd_var)), "parts": aut.meta.get("parts"),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_once(checkout: Path, text: str, timeout: float, compiles: int = 1) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    try:
        r = subprocess.run([sys.executable, "-c", _WORKER, text, str(compiles)],
                           capture_output=True,
                           text=True, timeout=timeout, env=env, cwd=checkout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout:g} s"}
    if r.returncode != 0:
        lines = r.stderr.strip().splitlines()
        return {"error": lines[-1][:160] if lines else "failed"}
    return json.loads(r.stdout)


def _cell(runs: list[dict[str, Any]]) -> str:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]["error"]
    wall = statistics.median(r["seconds"] for r in ok)
    cpu = statistics.median(r["cpu_seconds"] for r in ok)
    text = f"{wall:.3f} ({cpu:.3f})"
    if ok[0].get("warm_cpu_seconds") is not None:
        warm = statistics.median(r["warm_cpu_seconds"] for r in ok)
        text += f" warm {warm * 1e3:.2f} ms"
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=DEFAULT_ROWS)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--checkout", type=Path, action="append",
                    help="a checkout to measure (repeatable; default this one)")
    ap.add_argument("--warm", type=int, default=0,
                    help="also compile N more times in each process and show the median CPU "
                         "time of those (memo tables warm, as compile.py measures)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    checkouts = [c.resolve() for c in (args.checkout or [ROOT])]
    rows = [(fam, int(n)) for fam, n in (r.split(":") for r in args.rows.split(","))]
    load = os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
          f"median of {args.repeat} fresh processes per cell (first compile after import), "
          "wall s (CPU s)")
    for i, c in enumerate(checkouts):
        print(f"# checkout {i}: {c}")
    head = ["row", "formula", "states", "nodes", "parts"]
    head += [f"checkout {i} s (CPU s)" for i in range(len(checkouts))]
    head += [f"peak MB {i}" for i in range(len(checkouts))]
    if len(checkouts) > 1:
        head.append("CPU speed-up 0 -> last")
    head.append("issue 17")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    results: list[dict[str, Any]] = []
    for fam, n in rows:
        text = FAMILIES[fam](n)
        runs: list[list[dict[str, Any]]] = [[] for _ in checkouts]
        for _ in range(args.repeat):
            for i, c in enumerate(checkouts):
                if not (runs[i] and "error" in runs[i][0]):  # a failure is not repeated
                    runs[i].append(run_once(c, text, args.timeout, 1 + args.warm))
        first_ok = next((r for rs in reversed(runs) for r in rs if "error" not in r), {})
        cells = [f"{fam} {n}", f"`{text}`" if len(text) < 60 else f"`{text[:56]} ..`",
                 str(first_ok.get("states", "-")), str(first_ok.get("nodes", "-")),
                 str(first_ok.get("parts") or "-")]
        cells += [_cell(rs) for rs in runs]
        peaks = []
        for rs in runs:
            ok = [r["peak_mb"] for r in rs if "error" not in r]
            peaks.append(f"{max(ok):.0f}" if ok else "-")
        cells += peaks
        if len(checkouts) > 1:
            cpu = [statistics.median(r["cpu_seconds"] for r in rs if "error" not in r)
                   if any("error" not in r for r in rs) else None for rs in runs]
            cells.append(f"{cpu[0] / cpu[-1]:.1f}x" if cpu[0] and cpu[-1] else "-")
        cells.append(ISSUE.get((fam, n), ""))
        print("| " + " | ".join(cells) + " |", flush=True)
        results.append({"row": f"{fam}:{n}", "formula": text,
                        "runs": {str(c): rs for c, rs in zip(checkouts, runs, strict=True)}})
    if args.out:
        args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC"),
                                        "load": load, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
