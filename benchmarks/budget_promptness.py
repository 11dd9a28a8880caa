"""How promptly the ``timeout`` budget stops a compilation that cannot finish in time
(issue 17: ``timeout=5`` once returned after 285 s), and how much memory it grew meanwhile.

    .venv/bin/python benchmarks/budget_promptness.py [--timeouts 1,2,5] [--rows NAME,...]
        [--cli] [--memory-mib MIB] [--out results.json]

Each cell is a fresh process of this interpreter (no memo table survives from an earlier
compile) that parses the formula and times ``compile_formula(f, timeout=T)`` in wall
seconds, since the budget is a wall-clock deadline. The rows are formulas known to take far
longer than the largest timeout, each in another long loop: residual simplification (random
Declare conjunctions, ``b U X^20000 a``), the compositional products and their
minimisations (gfand 20, Declare 16; ``past 16``, sixteen ``H(p -> O q)`` / ``H(p -> Y q)``
conjuncts, compiles in about 0.5 s since past parts are composed too), bounded operators
(``G[0,1000] F[0,1000] a``). ``late`` is elapsed - timeout;
"after the raise" is the part of it between the budget check that raised (the error's
``reached``) and the return; CPU is the process's CPU time meanwhile (at most the elapsed
time: much less where other work shares the cores). A row that finished, or stopped on
another budget, says so. ``--cli`` also runs ``python -m speclang compile -f FORMULA
--timeout T`` on each row and checks that it exits 1 with the budget's one-line error; its
``late`` includes the interpreter's start-up and the parse (about 0.3 s of CPU, shown with
the process's CPU time: on a loaded machine the wall time is several times that).
``--memory-mib`` then runs every row once more with that ``max_memory`` (and a 120 s
timeout): the memory budget, polled with the deadline, must stop the rows that grow past it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.compile import declare, gfand, past  # noqa: E402
from speclang.compiler.budget import DEFAULT_MAX_MEMORY  # noqa: E402

_NEXT_20000 = "@b U X^20000 a"


def _rows() -> dict[str, str]:
    from speclang.testing import random_declare

    rows = {
        "random declare 50x50 #0": random_declare(0, 50, 50),
        "random declare 50x50 #1": random_declare(1, 50, 50),
        # 20,000 nested X, beyond the syntax's bound limit of 1,000: built in the IR
        "b U X^20000 a": _NEXT_20000,
        "gfand 20": gfand(20)[0],
        "declare 16": declare(16)[0],
        "G[0,1000] F[0,1000] a": "G[0,1000] F[0,1000] a",
        "past 16": past(16)[0],
    }
    return rows


_WORKER = """
import json, resource, sys, time
import speclang
import speclang.compiler.build
from speclang.compiler import BudgetExceeded
text, timeout, max_memory = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
if text == "@b U X^20000 a":
    from speclang.compiler import ir
    formula = ir.Until(ir.Atom("b"), ir.NextN(20_000, ir.Atom("a")))
else:
    formula = speclang.parse_formula(text)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start, cpu0 = time.perf_counter(), time.process_time()
try:
    aut = speclang.compile_formula(formula, timeout=timeout, max_states=10**6,
                                   max_memory=max_memory)
    stop, raised = f"finished: {aut.n_states} states", None
except BudgetExceeded as exc:
    stop, raised = exc.budget, exc.reached if exc.budget == "timeout" else None
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"stop": stop, "elapsed": elapsed, "cpu": cpu, "raised": raised,
                  "peak_mb": peak / 1024, "grown_mb": (peak - rss0) / 1024}))
"""


def run_inproc(text: str, timeout: float, max_memory: int = DEFAULT_MAX_MEMORY
               ) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _WORKER, text, str(timeout), str(max_memory)],
                          env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout * 20 + 120)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-400:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_cli(text: str, timeout: float) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "speclang", "compile", "-f", text, "--timeout", str(timeout),
            "--max-states", "1000000"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout * 20 + 120)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    err = proc.stderr.strip()
    clear = (proc.returncode == 1 and "Traceback" not in err and len(err.splitlines()) == 1
             and f"budget timeout={timeout:g} s exceeded" in err)
    return {"rc": proc.returncode, "elapsed": elapsed, "cpu": cpu, "clear_error": clear,
            "stderr": err[-300:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeouts", default="1,2,5", help="comma list of seconds")
    ap.add_argument("--rows", help="comma list of row names (default: all)")
    ap.add_argument("--cli", action="store_true", help="also time the command line")
    ap.add_argument("--memory-mib", type=int,
                    help="then run each row once with this max_memory and a 120 s timeout")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    timeouts = [float(t) for t in args.timeouts.split(",")]
    rows = _rows()
    if args.rows:
        wanted = [r.strip() for r in args.rows.split(",")]
        unknown = [r for r in wanted if r not in rows]
        if unknown:
            ap.error(f"unknown rows {unknown}; choose from {list(rows)}")
        rows = {r: rows[r] for r in wanted}
    started, load_start = time.time(), os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, "
          f"{platform.node()}, {os.cpu_count()} CPUs, load average "
          f"{load_start[0]:.1f} {load_start[1]:.1f} {load_start[2]:.1f}")
    head = ("| formula | timeout s | stopped by | elapsed s | late s | of it, after the raise s "
            "| CPU s | grown MB | peak MB |")
    if args.cli:
        head += " CLI elapsed s | CLI late s | CLI CPU s | CLI clear error |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    cells = []
    for name, text in rows.items():
        for t in timeouts:
            got = run_inproc(text, t)
            late = got["elapsed"] - t
            after = ("-" if got["raised"] is None
                     else f"{got['elapsed'] - got['raised']:.3f}")
            line = (f"| {name} | {t:g} | {got['stop']} | {got['elapsed']:.3f} | {late:+.3f} | "
                    f"{after} | {got['cpu']:.2f} | {got['grown_mb']:.0f} | {got['peak_mb']:.0f} |")
            cell = {"row": name, "timeout": t, "late": late, **got}
            if args.cli and text != _NEXT_20000:
                cli = run_cli(text, t)
                line += (f" {cli['elapsed']:.3f} | {cli['elapsed'] - t:+.3f} | {cli['cpu']:.2f} | "
                         f"{'yes' if cli['clear_error'] else 'NO: ' + cli['stderr'][:60]} |")
                cell["cli"] = cli
            elif args.cli:
                line += " - | - | - | - |"
            print(line, flush=True)
            cells.append(cell)
    memory_cells = []
    if args.memory_mib:
        print("\n| formula | max_memory MiB | stopped by | elapsed s | grown MB | peak MB |")
        print("|---|---|---|---|---|---|")
        for name, text in rows.items():
            got = run_inproc(text, 120.0, args.memory_mib << 20)
            print(f"| {name} | {args.memory_mib} | {got['stop']} | {got['elapsed']:.3f} | "
                  f"{got['grown_mb']:.0f} | {got['peak_mb']:.0f} |", flush=True)
            memory_cells.append({"row": name, "max_memory_mib": args.memory_mib, **got})
    timed_out = [c for c in cells if c["stop"] == "timeout"]
    load_end = os.getloadavg()
    for t in timeouts:
        lates = [c["late"] for c in timed_out if c["timeout"] == t]
        if lates:
            print(f"\ntimeout {t:g} s: {len(lates)} rows stopped by it, late by median "
                  f"{statistics.median(lates):.3f} s, max {max(lates):.3f} s", end="")
    others = [f"{c['row']} ({c['timeout']:g} s: {c['stop']})" for c in cells
              if c["stop"] != "timeout"]
    print(f"\nnot stopped by the timeout: {', '.join(others) or 'none'}")
    peak = max((c["peak_mb"] for c in cells), default=0.0)
    print(f"largest peak RSS {peak:.0f} MB; load average {load_end[0]:.1f} {load_end[1]:.1f} "
          f"{load_end[2]:.1f} at the end; {time.time() - started:.0f} s")
    if args.out:
        args.out.write_text(json.dumps({
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "load_start": load_start, "load_end": load_end, "cells": cells,
            "memory": memory_cells,
        }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
