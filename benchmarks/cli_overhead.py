"""What ``speclang compile`` costs as a process against the compilation it runs (issue 17: at
most start-up + 1.2x the in-process compile), for one or more checkouts side by side.

    .venv/bin/python benchmarks/cli_overhead.py [--repeat 3] [--rows seqFX:16,gfand:12,...]
        [--checkout DIR [--checkout DIR ...]] [--out results.json] [--breakdown]

Every measurement is a fresh process of this interpreter with ``PYTHONPATH`` set to the
checkout (``--checkout``, default this one; give an older checkout first to get BEFORE
and AFTER in one run), median of ``--repeat``:

    in-process  the first ``compile_formula`` of a fresh process, after import and parsing
    start-up    ``python -m speclang compile -f true`` (and with ``-o``): the whole process,
                run next to each measurement of the row (median over the row's repeats)
    CLI         ``python -m speclang compile -f FORMULA``; CLI -o writes the artifact too

Times are CPU seconds (user + system) of the measured process, not wall time: on a shared
machine wall time mostly measures the other users. ``over`` is (CLI - start-up) / in-process,
the goal is at most 1.2; ``over -o`` the same with ``-o`` on both sides.
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
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.compile import FAMILIES  # noqa: E402

# Issue 17's rows; seqFX is its F(p1 & X[!]F(p2 ..)), "any" a 3-state automaton over 200
# propositions.
DEFAULT_ROWS = ("seqFX:16,seqFX:32,seqF:16,uright:16,uright:20,gfand:12,gfand:14,"
                "declare:8,declare:10,any:200")

_INPROC = """
import json, sys, time
import speclang
import speclang.compiler.build
formula = speclang.parse_formula(sys.argv[1])
start = time.process_time()
aut = speclang.compile_formula(formula, max_states=1_000_000)
print(json.dumps({"cpu": time.process_time() - start, "states": aut.n_states}))
"""


# Where `compile -o` spends its time beyond the compile, part by part (--breakdown): the
# parts of artifact.save, each timed alone in a fresh process after one compile.
_BREAKDOWN = """
import json, sys, time
import speclang
import speclang.compiler.build
from speclang.compiler import artifact, graph, shaping
formula = speclang.parse_formula(sys.argv[1])
T = time.process_time
t = T(); aut = speclang.compile_formula(formula, max_states=1_000_000); out = {"compile": T() - t}
t = T(); graph.successor_lists(aut, artifact.WRITE_GUARDS_UP_TO); out["edge count"] = T() - t
t = T(); pots = shaping.all_potentials(aut); out["potentials"] = T() - t
t = T(); body = artifact._body(aut, potentials=pots); out["fields and guards"] = T() - t
t = T(); pieces = {k: artifact._canonical(v) for k, v in body.items()}; out["JSON"] = T() - t
t = T(); artifact.save(aut, sys.argv[2], potentials=pots); out["save but potentials"] = T() - t
print(json.dumps(out))
"""


def seq_fx(n: int) -> str:
    text = f"F p{n}"
    for i in range(n - 1, 0, -1):
        text = f"F(p{i} & X[!]{text})"
    return text


def any_of(n: int) -> str:
    return f"G(p0 -> X({' | '.join(f'p{i}' for i in range(1, n))}))"


def formula(family: str, n: int) -> str:
    if family == "seqFX":
        return seq_fx(n)
    if family == "any":
        return any_of(n)
    return FAMILIES[family](n)[0]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cpu(argv: list[str], checkout: Path, timeout: float) -> tuple[float, str]:
    """CPU seconds of one process and its stdout; raises on failure."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    before = _cpu()
    proc = subprocess.run(argv, env=env, cwd=checkout, capture_output=True, text=True,
                          timeout=timeout)
    spent = _cpu() - before
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed: {proc.stderr.strip()[-300:]}")
    return spent, proc.stdout


def measure(checkout: Path, text: str, repeat: int, timeout: float,
            out_dir: Path) -> dict[str, Any]:
    py = sys.executable
    cli = [py, "-m", "speclang", "compile", "--max-states", "1000000", "--timeout", "600"]
    artifact = ["-o", str(out_dir / "a.json")]
    cells: dict[str, list[float]] = {"inproc": [], "cli": [], "cli_o": [], "base": [],
                                     "base_o": []}
    states = None
    for _ in range(repeat):
        _, stdout = run_cpu([py, "-c", _INPROC, text], checkout, timeout)
        got = json.loads(stdout.strip().splitlines()[-1])
        cells["inproc"].append(got["cpu"])
        states = got["states"]
        # the start-up, `-f true`, next to every measurement of the row: a process's CPU
        # time drifts by tens of ms with what else the machine runs, and a start-up taken
        # once at the beginning made `over` negative for rows measured minutes later
        cells["base"].append(run_cpu([*cli, "-f", "true"], checkout, timeout)[0])
        cells["cli"].append(run_cpu([*cli, "-f", text], checkout, timeout)[0])
        cells["base_o"].append(run_cpu([*cli, "-f", "true", *artifact], checkout, timeout)[0])
        cells["cli_o"].append(run_cpu([*cli, "-f", text, *artifact], checkout, timeout)[0])
    size = (out_dir / "a.json").stat().st_size
    return {"states": states, "artifact_bytes": size,
            **{k: statistics.median(v) for k, v in cells.items()}, "raw": cells}


def breakdown(args: argparse.Namespace) -> int:
    rows = [(f, int(n)) for f, n in (r.split(":") for r in args.rows.split(","))]
    out_dir = Path(tempfile.mkdtemp(prefix="speclang-cli-breakdown-"))
    load = os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; CPU s, median of {args.repeat}")
    keys: list[str] = []
    for family, n in rows:
        runs = []
        for _ in range(args.repeat):
            _, stdout = run_cpu([sys.executable, "-c", _BREAKDOWN, formula(family, n),
                                 str(out_dir / "a.json")], ROOT, args.timeout)
            runs.append(json.loads(stdout.strip().splitlines()[-1]))
        if not keys:
            keys = list(runs[0])
            print("| row | " + " | ".join(keys) + " |")
            print("|---|" + "---|" * len(keys))
        cells = [statistics.median(r[k] for r in runs) for k in keys]
        print(f"| {family} {n} | " + " | ".join(f"{c:.3f}" for c in cells) + " |", flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default=DEFAULT_ROWS, help="comma list of family:n")
    ap.add_argument("--checkout", type=Path, action="append",
                    help="a checkout to measure (repeatable; default this one)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per process")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--breakdown", action="store_true",
                    help="instead: where compile -o spends its time, part by part (CPU s, "
                    "median of --repeat fresh processes; the parts overlap: 'fields and "
                    "guards' counts the edges again, 'save' is all of it but the potentials)")
    args = ap.parse_args()
    if args.breakdown:
        return breakdown(args)
    checkouts = [c.resolve() for c in (args.checkout or [ROOT])]
    rows = [(f, int(n)) for f, n in (r.split(":") for r in args.rows.split(","))]
    started = time.time()
    load_start = os.getloadavg()
    out_dir = Path(tempfile.mkdtemp(prefix="speclang-cli-overhead-"))
    for c in checkouts:
        # Not counted: the first run of a fresh checkout also writes its bytecode caches,
        # which made the start-up figure, and so every `over`, wrong by tens of ms.
        measure(c, "true", 1, args.timeout, out_dir)
    results = []
    head = ("| row | checkout | states | in-process s | start-up s | CLI s | over | "
            "start-up -o s | CLI -o s | over -o | artifact KB |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for family, n in rows:
        text = formula(family, n)
        for c in checkouts:
            try:
                m = measure(c, text, args.repeat, args.timeout, out_dir)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"| {family} {n} | {c.name} | error: {str(exc)[:80]} |", flush=True)
                results.append({"row": f"{family}:{n}", "checkout": str(c), "error": str(exc)})
                continue
            over = (m["cli"] - m["base"]) / max(m["inproc"], 1e-9)
            over_o = (m["cli_o"] - m["base_o"]) / max(m["inproc"], 1e-9)
            print(f"| {family} {n} | {c.name} | {m['states']} | {m['inproc']:.3f} | "
                  f"{m['base']:.3f} | {m['cli']:.3f} | {over:.2f} | {m['base_o']:.3f} | "
                  f"{m['cli_o']:.3f} | {over_o:.2f} | {m['artifact_bytes'] / 1024:.0f} |",
                  flush=True)
            results.append({"row": f"{family}:{n}", "formula": text, "checkout": str(c),
                            "over": over, "over_o": over_o, **m})
    load_end = os.getloadavg()
    print(f"\nload average (1, 5, 15 min): {load_start[0]:.1f} {load_start[1]:.1f} "
          f"{load_start[2]:.1f} at the start, {load_end[0]:.1f} {load_end[1]:.1f} "
          f"{load_end[2]:.1f} at the end; {time.time() - started:.0f} s")
    if args.out:
        info = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
            "load_start": load_start, "load_end": load_end,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "rows": results,
        }
        args.out.write_text(json.dumps(info, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
