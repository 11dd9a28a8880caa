"""Compositional against monolithic construction of top-level conjunctions (compiler.compose),
side by side in one run, every compile the first one in a fresh process.

    .venv/bin/python benchmarks/compose.py [--rows gfand:14,gfand:16,declare:10] [--repeat 3]
        [--timeout 300] [--cpu] [--paths monolithic,composed] [--baseline REF]
        [--out results.json]

For each row and path a fresh interpreter imports speclang, parses the formula and times the
first ``build_automaton`` call (no memo table survives from an earlier compile); runs of the
two paths alternate, so a change in the machine's load hits both. Peak memory is the worker's
maximum resident set size (``getrusage``), import included. The two paths must agree on the
state count (the test suite checks that they build equal automata).

With ``--baseline REF`` every path is also run on the code of git revision REF (checked out
into a temporary worktree), alternating with this checkout's runs: before/after figures from
one run, at one load; the speed-up column is then before / after of the last path.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from compile import FAMILIES  # noqa: E402 - the families live in the compile benchmark

# The best anchor's in-process times from issue 17's table (Lydia 0.1.3; Spot's ltlf2dfa for
# the U chain), measured by the issue's author on this machine, not by this script: neither is
# installed here. The issue does not name the alternating-response propositions.
ISSUE_ANCHOR_S = {("gfand", 14): 0.061, ("gfand", 16): 0.33, ("gfand", 18): 1.8,
                  ("declare", 10): 0.056, ("altresp", 20): 1.19, ("altrespab", 20): 1.19,
                  ("uright", 16): 0.93}
PATHS = ("monolithic", "composed", "default")

_WORKER = """
import json, resource, sys, time
import speclang
from speclang.compiler.budget import Budget
from speclang.compiler.build import build_automaton
formula = speclang.parse_formula(sys.argv[1])
start, cpu = time.perf_counter(), time.process_time()
aut = build_automaton(formula, Budget(max_states=10**6, timeout=None, max_memory=None),
                      compose={"composed": True, "monolithic": False, "default": None}[sys.argv[2]])
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "states": aut.n_states,
                  "nodes": len(aut.dd_var),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_once(text: str, path: str, timeout: float, root: Path = ROOT) -> dict[str, Any]:
    """One fresh process's first compile of ``text`` by the code under ``root``; ``path`` is
    composed, monolithic or default (what ``compile_formula`` picks)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    try:
        r = subprocess.run([sys.executable, "-c", _WORKER, text, path], capture_output=True,
                           text=True, timeout=timeout, env=env, cwd=root)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout:g} s"}
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed"}
    return json.loads(r.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="gfand:14,gfand:16,gfand:18,declare:10")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--paths", default="monolithic,composed",
                    help="comma-separated, of monolithic, composed and default (what "
                         "compile_formula picks); a row over 30 propositions is hopeless "
                         "monolithically")
    ap.add_argument("--cpu", action="store_true",
                    help="show CPU seconds of the compile (user + system) instead of wall time: "
                         "on a shared machine wall time mostly measures the other users")
    ap.add_argument("--baseline", metavar="REF",
                    help="also run every path on git revision REF (before/after in one run)")
    args = ap.parse_args(argv)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not paths or any(p not in PATHS for p in paths):
        ap.error(f"--paths: choose from {', '.join(PATHS)}")
    if not args.baseline:
        return _run(args, {p: (ROOT, p) for p in paths}, None)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree),
                        args.baseline], check=True)
        try:
            columns = {f"{p} {args.baseline}": (tree, p) for p in paths}
            columns.update({p: (ROOT, p) for p in paths})
            return _run(args, columns, f"{paths[-1]} {args.baseline}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False)


def _run(args: argparse.Namespace, columns: dict[str, tuple[Path, str]],
         before: str | None) -> int:
    """The table: one column per label of ``columns`` (the code root and path it runs); the
    speed-up is ``before`` / the last column with a baseline, monolithic / composed without."""
    key = "cpu_seconds" if args.cpu else "seconds"
    paths = list(columns)
    rows = [(fam, int(n)) for fam, n in (r.split(":") for r in args.rows.split(","))]
    load = os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
          f"median of {args.repeat} fresh processes per cell (first compile after import), "
          f"{'CPU' if args.cpu else 'wall'} seconds",
          flush=True)
    last = paths[-1]
    print("| formula | states | diagram nodes | " + " | ".join(f"{p} s | peak MB" for p in paths)
          + " | speed-up | issue's anchor s | " + f"{last} / anchor |")
    print("|---|---|---|" + "---|---|" * len(paths) + "---|---|---|", flush=True)
    results = []
    for fam, n in rows:
        text = FAMILIES[fam](n)[0]
        runs: dict[str, list[dict[str, Any]]] = {p: [] for p in paths}
        for _ in range(args.repeat):
            for label, (root, path) in columns.items():
                runs[label].append(run_once(text, path, args.timeout, root))
        cell: dict[str, Any] = {"family": fam, "n": n, "runs": runs}
        shown = []
        for path in paths:
            ok = [r for r in runs[path] if "error" in r] == []
            if ok:
                s = statistics.median(r[key] for r in runs[path])
                mb = max(r["peak_mb"] for r in runs[path])
                cell[path] = {"median_s": s, "peak_mb": mb, "states": runs[path][0]["states"],
                              "nodes": runs[path][0]["nodes"]}
                shown += [f"{s:.3f}", f"{mb:.0f}"]
            else:
                cell[path] = None
                shown += [next(r["error"] for r in runs[path] if "error" in r), "–"]
        states = {c["states"] for p in paths if (c := cell[p])}
        nodes = {c["nodes"] for p in paths if (c := cell[p])}
        if before is None:
            mono, comp = cell.get("monolithic"), cell.get("composed")
        else:
            mono, comp = cell[before], cell[last]
        speed = f"{mono['median_s'] / comp['median_s']:.1f}×" if mono and comp else "–"
        anchor = ISSUE_ANCHOR_S.get((fam, n))
        ratio = f"{cell[last]['median_s'] / anchor:.2g}×" if cell[last] and anchor else "–"
        label = f"{fam} n={n}"
        print(f"| {label} | {'/'.join(map(str, sorted(states))) or '–'} | "
              f"{'/'.join(map(str, sorted(nodes))) or '–'} | "
              + " | ".join(shown) + f" | {speed} | {anchor if anchor else '–'} | {ratio} |",
              flush=True)
        results.append(cell)
        if args.out:
            args.out.write_text(json.dumps({"load": load, "rows": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
